//! Counting unauthenticated noise (pure): refused requests from parties nobody identified
//! (a sign-in already refused for too many attempts, a malformed or expired join token, a
//! booth request without a valid certificate) are counted per class, reason and minute, and
//! become one `unauthenticated_requests` entry per class, reason and minute. So one client
//! cannot write more than [`MAX_KEYS_PER_MINUTE`] entries a minute into the chain, whatever
//! it sends, while the counts stay in the chain (docs/DESIGN.md invariant 3).
//!
//! Decisions about identified parties are never counted here: they stay one entry each.
//! No clock, no I/O: the caller passes the time; `audit::Audit` owns the tally and flushes it.

use super::record::AuditRecord;
use std::collections::BTreeMap;

/// One minute, in milliseconds.
pub const MINUTE_MS: i64 = 60_000;
/// Distinct (class, reason) pairs counted per minute at most; further pairs are counted
/// under reason [`OTHER`]. The reasons are fixed codes, so this is a safety net.
pub const MAX_KEYS_PER_MINUTE: usize = 32;
/// The reason that collects pairs beyond [`MAX_KEYS_PER_MINUTE`].
pub const OTHER: &str = "other";

/// Counts per (minute start, class, reason).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    counts: BTreeMap<(i64, &'static str, String), u64>,
}

impl Tally {
    /// Count one refused request of `class` (a record kind) for `reason` at `at_ms`.
    pub fn count(&mut self, class: &'static str, reason: &str, at_ms: i64) {
        let minute = at_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        let key = (minute, class, reason.to_owned());
        if let Some(n) = self.counts.get_mut(&key) {
            *n += 1;
            return;
        }
        let in_minute = self.counts.keys().filter(|k| k.0 == minute).count();
        let key = if in_minute >= MAX_KEYS_PER_MINUTE - 1 {
            (minute, class, OTHER.to_owned())
        } else {
            key
        };
        *self.counts.entry(key).or_insert(0) += 1;
    }

    /// Whether anything is counted.
    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// The records of every minute that ended by `now_ms`, oldest first; they leave the tally.
    pub fn take_ended(&mut self, now_ms: i64) -> Vec<AuditRecord> {
        let current = now_ms.div_euclid(MINUTE_MS) * MINUTE_MS;
        let keep = self.counts.split_off(&(current, "", String::new()));
        let ended = std::mem::replace(&mut self.counts, keep);
        to_records(ended)
    }

    /// Every record, the current minute's included (shutdown); the tally is left empty.
    pub fn take_all(&mut self) -> Vec<AuditRecord> {
        to_records(std::mem::take(&mut self.counts))
    }

    /// Put back records that could not be written (they are counted again).
    pub fn restore(&mut self, records: &[AuditRecord]) {
        for r in records {
            if let AuditRecord::UnauthenticatedRequests {
                class,
                reason,
                minute_start_ms,
                count,
            } = r
            {
                let class = class_static(class);
                *self
                    .counts
                    .entry((*minute_start_ms, class, reason.clone()))
                    .or_insert(0) += count;
            }
        }
    }
}

/// The classes counted (record kinds of refused unauthenticated requests).
pub const CLASSES: [&str; 3] = [
    "login_failed",
    "join_token_rejected",
    "certificate_rejected",
];

fn class_static(class: &str) -> &'static str {
    CLASSES
        .iter()
        .find(|c| **c == class)
        .copied()
        .unwrap_or(OTHER)
}

fn to_records(counts: BTreeMap<(i64, &'static str, String), u64>) -> Vec<AuditRecord> {
    counts
        .into_iter()
        .map(
            |((minute_start_ms, class, reason), count)| AuditRecord::UnauthenticatedRequests {
                class: class.to_owned(),
                reason,
                minute_start_ms,
                count,
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(records: &[AuditRecord]) -> Vec<(String, String, i64, u64)> {
        records
            .iter()
            .map(|r| match r {
                AuditRecord::UnauthenticatedRequests {
                    class,
                    reason,
                    minute_start_ms,
                    count,
                } => (class.clone(), reason.clone(), *minute_start_ms, *count),
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_flood_becomes_one_record_per_class_reason_and_minute() {
        let mut t = Tally::default();
        for i in 0..10_000 {
            t.count("join_token_rejected", "invalid_token", 120_000 + i % 60_000);
        }
        t.count("login_failed", "too_many_attempts", 125_000);
        t.count("join_token_rejected", "invalid_token", 180_001);
        assert!(t.take_ended(179_999).is_empty(), "the minute is not over");
        let ended = counts(&t.take_ended(180_000));
        assert_eq!(
            ended,
            vec![
                (
                    "join_token_rejected".into(),
                    "invalid_token".into(),
                    120_000,
                    10_000
                ),
                (
                    "login_failed".into(),
                    "too_many_attempts".into(),
                    120_000,
                    1
                ),
            ]
        );
        let rest = counts(&t.take_all());
        assert_eq!(
            rest,
            vec![(
                "join_token_rejected".into(),
                "invalid_token".into(),
                180_000,
                1
            )]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn reasons_beyond_the_cap_are_counted_as_other() {
        let mut t = Tally::default();
        for i in 0..100 {
            t.count("certificate_rejected", &format!("code-{i}"), 0);
        }
        let records = counts(&t.take_all());
        assert!(records.len() <= MAX_KEYS_PER_MINUTE);
        assert_eq!(records.iter().map(|r| r.3).sum::<u64>(), 100);
        assert!(records.iter().any(|r| r.1 == OTHER));
    }

    #[test]
    fn records_that_could_not_be_written_are_counted_again() {
        let mut t = Tally::default();
        t.count("login_failed", "too_many_attempts", 1_000);
        let failed = t.take_all();
        t.count("login_failed", "too_many_attempts", 2_000);
        t.restore(&failed);
        assert_eq!(
            counts(&t.take_all()),
            vec![("login_failed".into(), "too_many_attempts".into(), 0, 2)]
        );
    }
}
