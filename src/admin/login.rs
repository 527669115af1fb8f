//! Staff sign-in: password (argon2id) plus a TOTP code, both required, rate-limited
//! together, every outcome audited before it is answered.
//!
//! `POST /admin/api/login {"username", "password", "totp"}` -> `{"token", "role"}`.
//! Refusals (all 401 unless rate-limited, 429 `too_many_attempts`, or 503 `busy`): one
//! `bad_credentials` for an unknown user, a wrong password, a missing, wrong, replayed or
//! not enrolled code alike, so that the second factor never tells whether the password
//! was right (R-VERIFY-4). The audit entry keeps the precise reason; an account with no
//! second factor yet (from before staff TOTP sign-in existed) is enrolled with
//! `confer admin reset-totp`.
//!
//! Each refusal counts as a failure for the account and the client address in the
//! admin limiter; only a sign-in with both factors right clears the account's count.
//!
//! The checks, the limiter, the audit entries and the session are `crate::auth::SignIn`'s;
//! this file is only the route (state [`LoginRoutes`]).

use crate::admin::roles::StaffRole;
use crate::auth::SignIn;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::http::serve::RemoteAddr;
use crate::http::ApiError;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What staff sign-in uses.
#[derive(Clone, axum::extract::FromRef)]
pub struct LoginRoutes {
    pub sign_in: SignIn,
}

/// `POST /admin/api/login` (admin listener).
pub fn admin_routes(state: LoginRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(login))
        .with_state(state)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffLogin {
    username: String,
    password: String,
    /// The current 6-digit TOTP code.
    #[serde(default)]
    totp: Option<String>,
}

/// A staff session.
#[derive(Serialize, ToSchema)]
pub struct StaffSignedIn {
    /// The session token (`Authorization: Bearer ...`).
    token: String,
    role: StaffRole,
}

#[utoipa::path(
    post,
    path = "/admin/api/login",
    tag = "admin",
    request_body = StaffLogin,
    responses(
        (status = 200, description = "Signed in (audited)", body = StaffSignedIn),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, description = "`bad_credentials`: the user, the password or the code (missing, wrong, replayed, not enrolled) is not right; which one is not said", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts`", body = ErrorBody),
        (status = 503, description = "`busy` (with `Retry-After`), `audit_unavailable` or `store_unavailable`", body = ErrorBody),
    )
)]
pub async fn login(
    State(sign_in): State<SignIn>,
    client: RemoteAddr,
    JsonBody(req): JsonBody<StaffLogin>,
) -> Result<Json<StaffSignedIn>, ApiError> {
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
    Ok(Json(StaffSignedIn {
        token: done.token.as_str().to_owned(),
        role,
    }))
}
