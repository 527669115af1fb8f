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
use crate::admin::totp;
use crate::app::AppState;
use crate::audit::AccountKind;
use crate::auth::password;
use crate::http::api::{audit_sign_in, json_body, LoginRequest};
use crate::http::serve::RemoteAddr;
use crate::http::ApiError;
use crate::redact::Redacted;
use crate::store::staff::StaffRow;
use crate::store::{AccountRow, SessionKind};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use std::time::Instant;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StaffLogin {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

fn refusal(code: &'static str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, code, message)
}

/// Check both factors. The limiter sees every failure; nothing here is audited (the
/// caller audits the outcome).
async fn check(
    state: &AppState,
    req: &StaffLogin,
    client: &RemoteAddr,
) -> Result<StaffRow, ApiError> {
    let user_key = format!("user:{}", req.username.to_lowercase());
    let ip_key = format!("ip:{}", client.0.ip());
    let keys = [user_key.as_str(), ip_key.as_str()];
    let limiter = &state.admin_limiter;
    if let Err(wait) = limiter.check(&keys, Instant::now()) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!(
                "Too many failed sign-ins. Please wait {} minutes and try again.",
                wait.as_secs().div_ceil(60)
            ),
        );
        e.retry_after = Some(wait.as_secs());
        return Err(e);
    }
    let fail = |e: ApiError| {
        limiter.record_failure(&keys, Instant::now());
        tracing::info!(user = %Redacted(&req.username), client = %Redacted(client.0.ip()), code = e.code, "failed staff sign-in");
        Err(e)
    };
    let account = state.store.staff_by_username(&req.username).await?;
    let hash = account
        .as_ref()
        .map(|a| a.password_hash.clone())
        .unwrap_or_else(|| password::dummy_hash().to_owned());
    let password_ok = password::verify_async(req.password.clone(), hash).await;
    let account = match account {
        Some(a) if password_ok => a,
        _ => {
            return fail(refusal(
                "bad_credentials",
                "The username or password is wrong.",
            ))
        }
    };
    let Some(code) = req.totp.as_deref().map(str::trim).filter(|c| !c.is_empty()) else {
        return fail(refusal(
            "totp_required",
            "Enter the 6-digit code from your authenticator app as well as your password.",
        ));
    };
    let Some(secret) = account
        .totp_sealed
        .as_deref()
        .and_then(|s| state.totp.unseal(s))
    else {
        return fail(refusal(
            "totp_not_enrolled",
            "This account has no second factor yet. Ask the system administrator to enrol one (confer admin reset-totp).",
        ));
    };
    let now_unix = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let Some(step) = totp::matching_step(&secret, code, now_unix) else {
        return fail(refusal(
            "bad_totp",
            "The authenticator code is wrong. Check that your device's clock is right and enter the current 6-digit code.",
        ));
    };
    if !state.store.accept_totp_step(account.id, step).await? {
        return fail(refusal(
            "totp_replayed",
            "That authenticator code was already used. Wait for the next code (at most 30 seconds) and sign in with it.",
        ));
    }
    limiter.record_success(&keys[..1]);
    Ok(account)
}

pub async fn login(
    State(state): State<AppState>,
    client: RemoteAddr,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let req: StaffLogin = json_body(&body)?;
    let outcome = check(&state, &req, &client).await;
    let role: Option<StaffRole> = outcome.as_ref().ok().map(|a| a.role);
    let as_account = outcome.map(|a| AccountRow {
        id: a.id.0,
        username: a.username.clone(),
        display_name: a.username,
        password_hash: String::new(),
    });
    let audit_req = LoginRequest {
        username: req.username,
        password: String::new(),
    };
    let account = audit_sign_in(&state, AccountKind::Staff, &audit_req, as_account).await?;
    let token = state.new_session(SessionKind::Admin, account.id).await?;
    tracing::info!(admin = account.id, role = ?role, "staff signed in");
    Ok(Json(serde_json::json!({
        "token": token.as_str(),
        "role": role,
    })))
}
