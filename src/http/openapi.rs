//! The API document, generated from the code: every route is registered through
//! `utoipa_axum::routes!`, which adds the route and its `#[utoipa::path]` description in
//! one call, so the document cannot drift from the routers. The public listener serves the
//! public routes' document at `GET /api/openapi.json`; the admin listener serves the admin
//! routes' at `GET /admin/api/openapi.json`.
//!
//! Every error has one shape, [`ErrorBody`]: a stable `code`, a sentence for people, and
//! the same sentence in Chinese where one exists.

use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::ToSchema;

/// The one error shape of both listeners.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code, e.g. `not_signed_in`, `licence_not_verified`.
    pub code: String,
    /// What happened, for people (English).
    pub message: String,
    /// The same sentence in Simplified Chinese, where one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_zh: Option<String>,
}

/// `{"id": N}`: the id of what was created, the one shape of a creation's answer on both
/// listeners' edges (staff accounts, detainees, cases, complaints, violations).
#[derive(Serialize, ToSchema)]
pub struct Created {
    pub id: i64,
}

/// Security scheme names used in `#[utoipa::path(security(...))]`.
pub const LAWYER_SESSION: &str = "lawyer_session";
pub const STAFF_SESSION: &str = "staff_session";
pub const BOOTH_CERTIFICATE: &str = "booth_certificate";

/// Finish a generated document: title, version, security schemes, the error schema.
pub fn finish(mut doc: OpenApi, title: &str, description: &str) -> OpenApi {
    doc.info.title = title.to_owned();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc.info.description = Some(description.to_owned());
    let components = doc.components.get_or_insert_with(Default::default);
    let bearer = || {
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("A session token from the sign-in route"))
                .build(),
        )
    };
    components.add_security_scheme(LAWYER_SESSION, bearer());
    components.add_security_scheme(STAFF_SESSION, bearer());
    components.add_security_scheme(
        BOOTH_CERTIFICATE,
        SecurityScheme::MutualTls {
            description: Some(
                "The booth terminal's client certificate, issued by the facility CA".into(),
            ),
            extensions: None,
            deprecated: None,
        },
    );
    components.schemas.insert(
        "ErrorBody".into(),
        <ErrorBody as utoipa::PartialSchema>::schema(),
    );
    doc
}

/// Serve a finished document as JSON.
pub fn serve(doc: &OpenApi) -> impl Fn() -> std::future::Ready<axum::response::Response> + Clone {
    let body = doc.to_json().unwrap_or_else(|_| "{}".into());
    move || {
        std::future::ready(
            ([(header::CONTENT_TYPE, "application/json")], body.clone()).into_response(),
        )
    }
}
