//! The extractors every edge uses, generic over the edge's own state: each asks only for
//! the handle it needs through axum's `FromRef` (a [`Sessions`], a [`Booths`], an
//! [`Audit`]), so no edge sees a bag of every service.
//!
//! | extractor | proves | refusal |
//! |---|---|---|
//! | [`LawyerSession`] | a signed-in lawyer-side account (`Authorization: Bearer`) | 401 `not_signed_in` |
//! | [`BoothAuth`] | a booth terminal by its client certificate, known to the store | 401/403 with the certificate's code (audited) |
//! | [`StaffSession`] | a signed-in staff member of any role (staff idle timeout) | 401 `not_signed_in` |
//! | [`Operator`], [`Auditor`], [`Sysadmin`], [`OperatorOrAuditor`] | a staff member with that role | 403 `role_forbidden`, audited (`staff_access_refused`) |
//! | [`JsonBody`] | a JSON body of the expected type, within the listener's size limit | 400 `malformed_request`, 413 `too_large` |
//!
//! Roles are kept apart as China's MLPS level 3 asks ("separation of duties"); see
//! `admin::roles` for what each may do.

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, StatusCode};
use chrono::Utc;
use serde::de::DeserializeOwned;

use super::ApiError;
use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::{BoothIdentity, Booths, SessionToken, Sessions};
use crate::ids::{AdminId, LawyerId};
use crate::model::staff::StaffRole;

/// The session token from `Authorization: Bearer ...`, if well-formed.
pub fn bearer(parts: &Parts) -> Option<SessionToken> {
    let v = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    SessionToken::from_client(v.strip_prefix("Bearer ")?)
}

/// A signed-in lawyer, assistant or interpreter, and the session's token.
pub struct LawyerSession(pub LawyerId, pub SessionToken);

impl<S> FromRequestParts<S> for LawyerSession
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let id = Sessions::from_ref(state)
            .lawyer(&token, Utc::now())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        Ok(LawyerSession(id, token))
    }
}

/// A booth terminal proven by its client certificate (verified against the facility CA)
/// and known to the store.
pub struct BoothAuth(pub BoothIdentity);

impl<S> FromRequestParts<S> for BoothAuth
where
    Booths: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let certs = parts
            .extensions
            .get::<super::serve::PeerCertificates>()
            .cloned()
            .unwrap_or_default();
        let identity = Booths::from_ref(state).verify(&certs).await?;
        Ok(BoothAuth(identity))
    }
}

/// A signed-in staff member and their role.
#[derive(Debug, Clone, Copy)]
pub struct Staff {
    pub id: AdminId,
    pub role: StaffRole,
}

impl<S> FromRequestParts<S> for Staff
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let (id, role) = Sessions::from_ref(state)
            .staff(&token, Utc::now())
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
        audit: &Audit,
        route: &str,
        allowed: &[StaffRole],
    ) -> Result<AdminId, ApiError> {
        if allowed.contains(&self.role) {
            return Ok(self.id);
        }
        let needed: Vec<&str> = allowed.iter().map(|r| r.as_str()).collect();
        audit
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

/// A signed-in staff member of any role. Prefer the role extractors; this one is for
/// routes every role may use.
pub struct StaffSession(pub AdminId);

impl<S> FromRequestParts<S> for StaffSession
where
    Sessions: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(StaffSession(
            Staff::from_request_parts(parts, state).await?.id,
        ))
    }
}

/// The route as the audit log names it: method and path (ids only, never a query).
pub fn route_of(parts: &Parts) -> String {
    format!("{} {}", parts.method, parts.uri.path())
}

macro_rules! role_extractor {
    ($(#[$m:meta])* $name:ident, $($role:expr),+) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name(pub AdminId);

        impl<S> FromRequestParts<S> for $name
        where
            Sessions: FromRef<S>,
            Audit: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let staff = Staff::from_request_parts(parts, state).await?;
                let route = route_of(parts);
                staff
                    .require(&Audit::from_ref(state), &route, &[$($role),+])
                    .await
                    .map($name)
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

/// Parse a JSON body so that a malformed one gets our error shape.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!(
                "The request body is not valid: {}.",
                e.to_string().trim_end_matches('.')
            ),
        )
    })
}

/// A typed JSON body. The size limit is the listener's (`DefaultBodyLimit`, 16 KiB for
/// JSON routes); a larger body is 413 `too_large`, a malformed one 400
/// `malformed_request` naming what is wrong. The content type is not required: clients
/// written from the protocol document alone often forget it, and the body decides.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    "The request body is too large.",
                )
            } else {
                ApiError::bad_request("malformed_request", "The request body could not be read.")
            }
        })?;
        json_body(&bytes).map(JsonBody)
    }
}
