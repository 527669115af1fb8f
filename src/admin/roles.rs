//! Staff roles, kept apart as China's MLPS level 3 asks ("separation of duties": the one
//! who runs the system, the one who audits it, and the one who operates it are different
//! accounts). One role per account.
//!
//! | role | may | may not |
//! |---|---|---|
//! | `operator` | booths, visits, lawyer accounts (lawyers are registered by the staff who run their visits), stopping a visit, violations and their findings, complaints, visit receipts | read the audit log, create staff accounts |
//! | `auditor` | read the audit log, reports, violations, metrics, visit receipts | change anything |
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

pub use crate::model::staff::StaffRole;

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
