//! Times as the API and the pages show them: RFC 3339 in UTC, whole seconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// `2026-12-02T14:05:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}
