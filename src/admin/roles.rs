//! Staff roles, kept apart as China's MLPS level 3 asks ("separation of duties": the one
//! who runs the system, the one who audits it, and the one who operates it are different
//! accounts). One role per account.
//!
//! | role | may | may not |
//! |---|---|---|
//! | `operator` | booths, visits, lawyer accounts (lawyers are registered by the staff who run their visits), stopping a visit, violations and their findings, complaints | read the audit log, create staff accounts |
//! | `auditor` | read the audit log, reports, violations, metrics | change anything |
//! | `sysadmin` | staff accounts, configuration, metrics | run visits, read documents or the audit log |
//! | `investigator` | (the investigating unit's account) nothing on this listener yet: it exists so that tests prove it never reaches document contents or a visit | everything listed above |
//!
//! Extractors: [`Staff`] (any signed-in staff member, with the role) and [`Operator`],
//! [`Auditor`], [`Sysadmin`] that answer 403 `role_forbidden`, naming the role needed, to
//! anyone else. A refusal is recorded in the audit log (`staff_access_refused`).
//!
//! This file names the roles; it has no routes and checks nothing itself (the extractors
//! live in `crate::http::extract` and are re-exported here).
//!
//! Sessions: a staff session ends after `admin.session_idle_secs` (default 1800 s, 30
//! minutes) without use, whatever `auth.session_idle_secs` says for lawyers.

use serde::{Deserialize, Serialize};

/// What a staff account may do; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Operator,
    Auditor,
    Sysadmin,
    Investigator,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] = [
        StaffRole::Operator,
        StaffRole::Auditor,
        StaffRole::Sysadmin,
        StaffRole::Investigator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Operator => "operator",
            StaffRole::Auditor => "auditor",
            StaffRole::Sysadmin => "sysadmin",
            StaffRole::Investigator => "investigator",
        }
    }

    pub fn parse(s: &str) -> Option<StaffRole> {
        StaffRole::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What the role is for, in words a person understands.
    pub fn describe(self) -> &'static str {
        match self {
            StaffRole::Operator => "facility operator (runs booths and visits)",
            StaffRole::Auditor => "auditor (reads the audit log and reports)",
            StaffRole::Sysadmin => "system administrator (staff accounts and configuration)",
            StaffRole::Investigator => "investigating unit",
        }
    }
}

impl std::fmt::Display for StaffRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

pub use crate::http::extract::{Auditor, Operator, OperatorOrAuditor, Staff, Sysadmin};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        assert_eq!(StaffRole::parse("root"), None);
        assert_eq!(StaffRole::parse("Operator"), None);
    }
}
