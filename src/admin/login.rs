//! Staff sign-in: password (argon2id) plus a TOTP code, both required, rate-limited
//! together, every outcome audited before it is answered.
//!
//! `POST /admin/api/login {"username", "password", "totp"}` -> `{"token", "role"}`.
//! Refusals (all 401 unless rate-limited, 429 `too_many_attempts`):
//! - `bad_credentials`: unknown user or wrong password (the TOTP is then not looked at);
//! - `totp_required`: the code is missing;
//! - `bad_totp`: the code is wrong, malformed, or more than one 30-second step away;
//! - `totp_replayed`: the code (or a later one) was already used to sign in;
//! - `totp_not_enrolled`: the account has no second factor (an account from before
//!   staff TOTP sign-in existed): `confer admin reset-totp` enrols it.
//!
//! Each refusal counts as a failure for the account and the client address in the
//! admin limiter; only a sign-in with both factors right clears the account's count.

use crate::admin::roles::StaffRole;
use crate::auth::SignIn;
use crate::http::extract::JsonBody;
use crate::http::serve::RemoteAddr;
use crate::http::ApiError;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaffLogin {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

pub async fn login(
    State(sign_in): State<SignIn>,
    client: RemoteAddr,
    JsonBody(req): JsonBody<StaffLogin>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let done = sign_in
        .staff(
            &req.username,
            &req.password,
            req.totp.as_deref(),
            client.0.ip(),
        )
        .await?;
    let role: StaffRole = done.staff.role;
    tracing::info!(admin = done.staff.id.0, role = ?role, "staff signed in");
    Ok(Json(serde_json::json!({
        "token": done.token.as_str(),
        "role": role,
    })))
}
