//! The staff roles as values (MLPS level 3 separation of duties): their names as stored
//! and shown, and what each is for.
//!
//! Owns only the value. It does not decide what a role may do or check anyone's role:
//! that is `admin::roles` (its extractors and the table in its module doc).

use serde::{Deserialize, Serialize};

/// What a staff account may do: the table is in the module doc of `admin::roles`.
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
