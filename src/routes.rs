//! Wiring: the two listeners' routers, assembled in this one place from every feature's
//! `routes`, with the layers every response gets (body size limit, security headers) and
//! the generated API documents (`GET /api/openapi.json` on the public listener,
//! `GET /admin/api/openapi.json` on the admin listener).
//!
//! A feature exposes `routes(its narrow state) -> OpenApiRouter`: every route is added with
//! `utoipa_axum::routes!`, so it is in the document by construction.

use axum::routing::get;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use crate::http::openapi;

/// JSON request bodies larger than this are refused before parsing (413). Uploads
/// (documents, scans) set their own larger limit on their routes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The public listener: browser pages, lawyer and booth API, signalling.
pub fn public(state: AppState) -> Router {
    let documented: OpenApiRouter =
        OpenApiRouter::new().merge(crate::schedule::routes(crate::schedule::SchedulerRoutes {
            scheduler: state.scheduler.clone(),
            sessions: state.sessions.clone(),
        }));
    let (documented, doc) = documented.split_for_parts();
    let doc = openapi::finish(
        doc,
        "confer public API",
        "Lawyer and booth routes of confer's public listener. Every error is an ErrorBody.",
    );
    crate::http::api::legacy_routes(state)
        .merge(documented)
        .merge(crate::http::api::pages())
        .route("/api/openapi.json", get(openapi::serve(&doc)))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::http::security_headers))
}

/// The admin listener: staff API, console, health feed, metrics.
pub fn admin(state: AppState) -> Router {
    let documented: OpenApiRouter = OpenApiRouter::new().merge(crate::schedule::admin_routes(
        crate::schedule::SchedulerAdminRoutes {
            scheduler: state.scheduler.clone(),
            sessions: state.sessions.clone(),
            audit: state.audit.clone(),
        },
    ));
    let (documented, doc) = documented.split_for_parts();
    let doc = openapi::finish(
        doc,
        "confer admin API",
        "Staff routes of confer's admin listener. Every error is an ErrorBody.",
    );
    crate::admin::legacy_routes(state)
        .merge(documented)
        .route("/admin/api/openapi.json", get(openapi::serve(&doc)))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(crate::http::security_headers))
}
