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
//! Sessions: a staff session ends after `admin.session_idle_secs` (default 1800 s, 30
//! minutes) without use, whatever `auth.session_idle_secs` says for lawyers.

use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::bearer;
use crate::http::ApiError;
use crate::ids::AdminId;
use crate::store::SessionKind;
use axum::extract::FromRequestParts;
use axum::http::{request::Parts, StatusCode};
use chrono::Utc;

pub use crate::model::staff::StaffRole;

/// A signed-in staff member and their role.
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    pub id: AdminId,
    pub role: StaffRole,
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let now = Utc::now();
        let idle = chrono::Duration::seconds(
            i64::try_from(state.config.admin.session_idle_secs).unwrap_or(i64::MAX / 1000),
        );
        let id = state
            .store
            .touch_session(&token.digest(), SessionKind::Admin, now, now - idle)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let id = AdminId(id);
        let role = state
            .store
            .staff_role(id)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(Staff { id, role })
    }
}

impl Staff {
    /// `Ok` when the member has one of `allowed`; otherwise the refusal is audited and
    /// answered with 403 `role_forbidden`.
    pub async fn require(
        self,
        state: &AppState,
        route: &str,
        allowed: &[StaffRole],
    ) -> Result<AdminId, ApiError> {
        if allowed.contains(&self.role) {
            return Ok(self.id);
        }
        let needed: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        state
            .audit
            .append(
                Actor::Staff(self.id),
                AuditRecord::StaffAccessRefused {
                    staff: self.id,
                    role: self.role.as_str().into(),
                    needed: needed.join("|"),
                    route: route.into(),
                },
            )
            .await?;
        tracing::info!(staff = %self.id, role = self.role.as_str(), route, "staff action refused: wrong role");
        let names: Vec<&str> = allowed.iter().map(|r| r.describe()).collect();
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "role_forbidden",
            format!(
                "This needs the {} role; your account is {}. Roles are kept separate: ask a colleague who has that role.",
                names.join(" or the "),
                self.role.describe()
            ),
        ))
    }
}

/// The route as the audit log names it: method and path (ids only, never a query).
fn route_of(parts: &Parts) -> String {
    format!("{} {}", parts.method, parts.uri.path())
}

macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident, $($role:expr),+) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name(pub AdminId);

        impl FromRequestParts<AppState> for $name {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, ApiError> {
                let staff = Staff::from_request_parts(parts, state).await?;
                let route = route_of(parts);
                staff.require(state, &route, &[$($role),+]).await.map($name)
            }
        }
    };
}

role_extractor!(
    /// A facility operator: runs booths, visits and lawyer accounts; stops visits.
    Operator,
    StaffRole::Operator
);
role_extractor!(
    /// An auditor: reads the audit log and reports; changes nothing.
    Auditor,
    StaffRole::Auditor
);
role_extractor!(
    /// A system administrator: staff accounts and configuration.
    Sysadmin,
    StaffRole::Sysadmin
);
role_extractor!(
    /// Someone who may read violation reports: an operator (who files them) or an auditor.
    OperatorOrAuditor,
    StaffRole::Operator,
    StaffRole::Auditor
);

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
