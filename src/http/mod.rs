//! Shared HTTP plumbing for every edge: TLS configuration ([`tls`]), the TLS accept loop
//! ([`serve`]), the extractors ([`extract`]), the one error type mapped to JSON responses
//! ([`ApiError`]), the API document's shared parts ([`openapi`]); and the public
//! listener's account routes ([`accounts`]) and browser pages ([`pages`]).
//!
//! Imports only what lies below the edges (base, store, audit, auth), so that every
//! feature's routes can use it without a loop (docs/DESIGN.md invariant 9).
//!
//! Errors never leak internals: a refusal carries a stable `code` and a sentence for
//! people; an internal failure is logged and answered with a generic sentence.

pub mod accounts;
pub mod extract;
pub mod limits;
pub mod network_check;
pub mod openapi;
pub mod pages;
pub mod serve;
pub mod tls;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

/// An error answered as `{"code": "...", "message": "..."}` with an HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// The same sentence in Chinese, where one exists (refusals of admission).
    pub message_zh: Option<String>,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_zh: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            message_zh: None,
            retry_after: None,
        }
    }

    /// Add the Chinese sentence.
    pub fn with_zh(mut self, zh: impl Into<String>) -> Self {
        self.message_zh = Some(zh.into());
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "not_signed_in",
            "Please sign in again: your session is missing or has expired.",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} was not found."),
        )
    }

    /// Log the cause; tell the client only that something went wrong on our side.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Something went wrong on the server. Please try again; if it persists, contact facility staff.",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = (
            self.status,
            Json(ErrorBody {
                code: self.code,
                message: &self.message,
                message_zh: self.message_zh.as_deref(),
            }),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::auth::BoothRefusal> for ApiError {
    fn from(e: crate::auth::BoothRefusal) -> Self {
        use crate::auth::BoothRefusal;
        match e {
            BoothRefusal::Store(e) => e.into(),
            BoothRefusal::Audit(e) => e.into(),
            BoothRefusal::Certificate(crate::auth::BoothCertError::NoCertificate) => {
                ApiError::new(StatusCode::UNAUTHORIZED, e.code(), e.to_string())
            }
            other => ApiError::new(StatusCode::FORBIDDEN, other.code(), other.to_string()),
        }
    }
}

impl From<crate::auth::SignInError> for ApiError {
    fn from(e: crate::auth::SignInError) -> Self {
        use crate::auth::SignInError;
        match e {
            SignInError::Store(e) => e.into(),
            SignInError::Audit(e) => e.into(),
            SignInError::TooManyAttempts(wait) => {
                let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, e.code(), e.to_string());
                r.retry_after = Some(wait.as_secs());
                r
            }
            SignInError::Busy => {
                let mut r = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.code(), e.to_string());
                r.retry_after = Some(1);
                r
            }
            other => ApiError::new(StatusCode::UNAUTHORIZED, other.code(), other.to_string()),
        }
    }
}

impl From<crate::audit::AuditError> for ApiError {
    /// Fail closed: an action whose audit entry cannot be written does not happen.
    fn from(e: crate::audit::AuditError) -> Self {
        tracing::error!(error = %e, "refusing an action: its audit entry cannot be written");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "audit_unavailable",
            "This cannot be done right now because the audit log cannot be written; staff have been alerted.",
        )
    }
}

/// [`security_headers`] for the public listener of a node in a cluster: the pages may also
/// reach the deployment's other nodes (a `join` answered with `moved`), so their `https://`
/// and `wss://` origins join `connect-src`.
pub async fn security_headers_for_cluster(
    axum::extract::State(peers): axum::extract::State<crate::cluster::PeerOrigins>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut resp = security_headers(req, next).await;
    let peers = peers.get();
    if !peers.is_empty() {
        let csp = confer_signaling::web::CONTENT_SECURITY_POLICY.replacen(
            "connect-src 'self'",
            &format!("connect-src 'self' {}", peers.join(" ")),
            1,
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}

/// Security headers for every response of both listeners.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(confer_signaling::web::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static(confer_signaling::web::PERMISSIONS_POLICY),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    resp
}
