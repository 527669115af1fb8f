//! Staff accounts (staff roles and TOTP sign-in): created by a system administrator through
//! `POST /admin/api/staff`, or from the command line (`confer admin create`), each with
//! one role and a TOTP second factor. The initial password and the TOTP secret are shown
//! once, in the answer, and never again (the store keeps an argon2id hash and the sealed
//! secret).
//!
//! Audit: an account created through the API is recorded (`configuration_changed`,
//! `staff_created`, actor the sysadmin) before the answer. The command line must not write
//! the server's audit chain (the running server holds its head), so accounts it creates,
//! and the first-start account, are recorded by the server at its next start (actor
//! `system`, [`record_unaudited`]); until then their sign-ins are already recorded.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /admin/api/staff` | sysadmin | staff accounts: id, username, role, whether a second factor is enrolled |
//! | `POST /admin/api/staff` | sysadmin | `{username, role}` -> 201 `{id, username, role, password, totp_secret, otpauth_uri}` (once) |

//!
//! Does not: sign staff in (`login`, `crate::auth::SignIn`) or decide what a role may do
//! (`roles`, `crate::http::extract`).

use crate::admin::roles::{StaffRole, Sysadmin};
use crate::admin::totp::TotpVault;
use crate::audit::{Actor, Audit, AuditRecord, ConfigChange};
use crate::auth::{password, Sessions};
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::AdminId;
use crate::store::staff::StaffSummary;
use crate::store::{Store, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the staff-account routes use.
#[derive(Clone, axum::extract::FromRef)]
pub struct StaffRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
    pub totp: TotpVault,
}

/// `GET`/`POST /admin/api/staff` (admin listener).
pub fn admin_routes(state: StaffRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .with_state(state)
}

/// What the new account's holder is told once.
#[derive(Debug, Serialize, ToSchema)]
pub struct NewStaff {
    #[schema(value_type = i64)]
    pub id: AdminId,
    pub username: String,
    pub role: StaffRole,
    pub password: String,
    pub totp_secret: String,
    pub otpauth_uri: String,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateStaffError {
    #[error("a username has 3 to 64 letters, digits, or the characters - _ . @")]
    InvalidUsername,
    #[error("that username is already taken")]
    Taken,
    #[error(transparent)]
    Store(StoreError),
}

/// A username as staff and lawyer accounts allow it.
pub fn valid_username(s: &str) -> bool {
    (3..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
}

/// Create a staff account with a generated password and a fresh TOTP secret. Used by
/// the API, the command line and the first-start bootstrap.
pub async fn create_staff(
    store: &Store,
    vault: &TotpVault,
    username: &str,
    role: StaffRole,
    created_by: Option<AdminId>,
) -> Result<NewStaff, CreateStaffError> {
    if !valid_username(username) {
        return Err(CreateStaffError::InvalidUsername);
    }
    let pw = password::generate();
    let hash = password::hash_async(pw.clone()).await;
    let enrolment = vault.enrol(username);
    let id = store
        .insert_staff(
            username,
            &hash,
            role,
            &enrolment.sealed,
            created_by,
            Utc::now(),
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => CreateStaffError::Taken,
            e => CreateStaffError::Store(e),
        })?;
    Ok(NewStaff {
        id,
        username: username.to_owned(),
        role,
        password: pw,
        totp_secret: enrolment.secret_base32,
        otpauth_uri: enrolment.uri,
    })
}

/// Append `staff_created` for every account whose creation is not in the audit log yet
/// (made from the command line, at first start, or by an older confer). Called at start.
pub async fn record_unaudited(
    store: &Store,
    audit: &crate::audit::Audit,
) -> Result<usize, anyhow::Error> {
    let pending = store.staff_creation_unaudited().await?;
    for (id, role) in &pending {
        let change = ConfigChange::StaffCreated {
            staff: *id,
            role: role.as_str().into(),
        };
        audit
            .append(Actor::System, AuditRecord::ConfigurationChanged { change })
            .await?;
        store.mark_staff_creation_audited(*id).await?;
    }
    Ok(pending.len())
}

/// Staff accounts.
#[derive(Serialize, ToSchema)]
pub struct StaffList {
    /// Each account: `id`, `username`, `role`, `second_factor` (whether TOTP is enrolled).
    #[schema(value_type = Vec<Object>)]
    staff: Vec<StaffSummary>,
}

#[utoipa::path(
    get,
    path = "/admin/api/staff",
    tag = "admin",
    responses(
        (status = 200, description = "Staff accounts (no hashes, no secrets)", body = StaffList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: system administrators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn list(State(store): State<Store>, _s: Sysadmin) -> Result<Json<StaffList>, ApiError> {
    let staff = store.staff_list().await?;
    Ok(Json(StaffList { staff }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    username: String,
    /// `operator`, `auditor`, `sysadmin` or `investigator`.
    role: String,
}

#[utoipa::path(
    post,
    path = "/admin/api/staff",
    tag = "admin",
    request_body = CreateRequest,
    responses(
        (status = 201, description = "The account, with its password and TOTP secret shown this once (audited)", body = NewStaff),
        (status = 400, description = "`malformed_request`, `invalid_role` or `invalid_username`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: system administrators only", body = ErrorBody),
        (status = 409, description = "`username_taken`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn create(
    State(store): State<Store>,
    State(audit): State<Audit>,
    State(totp): State<TotpVault>,
    Sysadmin(admin): Sysadmin,
    JsonBody(req): JsonBody<CreateRequest>,
) -> Result<(StatusCode, Json<NewStaff>), ApiError> {
    let Some(role) = StaffRole::parse(&req.role) else {
        return Err(ApiError::bad_request(
            "invalid_role",
            "The role must be one of: operator, auditor, sysadmin, investigator.",
        ));
    };
    let created = create_staff(&store, &totp, &req.username, role, Some(admin))
        .await
        .map_err(|e| match e {
            CreateStaffError::InvalidUsername => ApiError::bad_request(
                "invalid_username",
                "A username has 3 to 64 letters, digits, or the characters - _ . @",
            ),
            CreateStaffError::Taken => ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "That username is already taken.",
            ),
            CreateStaffError::Store(e) => e.into(),
        })?;
    tracing::info!(admin = %admin, staff = %created.id, role = role.as_str(), "staff account created");
    let change = ConfigChange::StaffCreated {
        staff: created.id,
        role: role.as_str().into(),
    };
    audit
        .append(
            Actor::Staff(admin),
            AuditRecord::ConfigurationChanged { change },
        )
        .await?;
    store.mark_staff_creation_audited(created.id).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
