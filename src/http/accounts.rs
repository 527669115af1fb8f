//! The public listener's account routes: a lawyer-side account (lawyer, assistant,
//! interpreter) signs in and out. Signing in itself (password, limiter, audit, session) is
//! `auth::SignIn`; this file only maps it.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /api/lawyer/login` | anyone | `{username, password}` -> `{token, lawyer}` (rate-limited, audited) |
//! | `POST /api/lawyer/logout` | lawyer session | ends the session |
//!
//! Audit: every sign-in (success or failure) is appended to the audit log before the
//! answer is sent; if the entry cannot be written the answer is 503 `audit_unavailable`
//! and no session is handed out.

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{JsonBody, LawyerSession};
use super::openapi::ErrorBody;
use super::serve::RemoteAddr;
use super::ApiError;
use crate::auth::{Sessions, SignIn};
use crate::ids::LawyerId;

/// What the account routes use.
#[derive(Clone, FromRef)]
pub struct AccountRoutes {
    pub sign_in: SignIn,
    pub sessions: Sessions,
}

/// Sign-in and sign-out of the public listener.
pub fn routes(state: AccountRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(lawyer_login))
        .routes(routes!(lawyer_logout))
        .with_state(state)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize, ToSchema)]
struct LawyerInfo {
    #[schema(value_type = i64)]
    id: LawyerId,
    display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    /// The session token, sent back as `Authorization: Bearer <token>`.
    token: String,
    lawyer: LawyerInfo,
}

/// Sign a lawyer, assistant or interpreter in.
#[utoipa::path(
    post,
    path = "/api/lawyer/login",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = LoginResponse),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, description = "`bad_credentials`", body = ErrorBody),
        (status = 429, description = "`too_many_attempts` (with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`busy` (with `Retry-After`: too many password checks at once) or `audit_unavailable`: nobody is signed in", body = ErrorBody)
    )
)]
async fn lawyer_login(
    State(sign_in): State<SignIn>,
    client: RemoteAddr,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    let done = sign_in
        .lawyer(&req.username, &req.password, client.0.ip())
        .await?;
    tracing::info!(lawyer = done.account.id, "lawyer signed in");
    Ok(Json(LoginResponse {
        token: done.token.as_str().to_owned(),
        lawyer: LawyerInfo {
            id: LawyerId(done.account.id),
            display_name: done.account.display_name,
        },
    }))
}

/// End the lawyer's session.
#[utoipa::path(
    post,
    path = "/api/lawyer/logout",
    tag = "accounts",
    responses(
        (status = 204, description = "Signed out"),
        (status = 401, description = "`not_signed_in`", body = ErrorBody)
    ),
    security(("lawyer_session" = []))
)]
async fn lawyer_logout(
    State(sessions): State<Sessions>,
    session: LawyerSession,
) -> Result<StatusCode, ApiError> {
    sessions.end(&session.1).await?;
    Ok(StatusCode::NO_CONTENT)
}
