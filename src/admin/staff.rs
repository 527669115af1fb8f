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

use crate::admin::roles::{StaffRole, Sysadmin};
use crate::admin::totp::TotpVault;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord, ConfigChange};
use crate::auth::password;
use crate::http::api::json_body;
use crate::http::ApiError;
use crate::ids::AdminId;
use crate::store::{Store, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/api/staff", get(list).post(create))
}

/// What the new account's holder is told once.
#[derive(Debug, Serialize)]
pub struct NewStaff {
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

async fn list(
    State(state): State<AppState>,
    _s: Sysadmin,
) -> Result<Json<serde_json::Value>, ApiError> {
    let staff = state.store.staff_list().await?;
    Ok(Json(serde_json::json!({ "staff": staff })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    username: String,
    role: String,
}

async fn create(
    State(state): State<AppState>,
    Sysadmin(admin): Sysadmin,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<NewStaff>), ApiError> {
    let req: CreateRequest = json_body(&body)?;
    let Some(role) = StaffRole::parse(&req.role) else {
        return Err(ApiError::bad_request(
            "invalid_role",
            "The role must be one of: operator, auditor, sysadmin, investigator.",
        ));
    };
    let created = create_staff(&state.store, &state.totp, &req.username, role, Some(admin))
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
    state
        .audit
        .append(
            Actor::Staff(admin),
            AuditRecord::ConfigurationChanged { change },
        )
        .await?;
    state.store.mark_staff_creation_audited(created.id).await?;
    Ok((StatusCode::CREATED, Json(created)))
}
