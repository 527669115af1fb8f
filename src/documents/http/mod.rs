//! HTTP routes for engagements and documents (R-ARRANGE-1, R-ARRANGE-2, R-PRIV-3).
//!
//! Public listener, lawyer session ([`routes`]):
//!
//! | route | what |
//! |---|---|
//! | `POST /api/lawyer/engagements` | `{facility, detainee_ref, law_firm, authority}` -> the engagement for the detainee's newest case (404 unknown detainee, 409 exists with its `id`) |
//! | `GET /api/lawyer/engagements` | own engagements, each with its documents' metadata and `missing` |
//! | `PUT /api/lawyer/engagements/{id}/documents/{kind}` | raw body = the file -> 201; 415 `document_type_not_accepted`, 413 `document_too_large`, 400 `document_kind_not_accepted` |
//! | `GET /api/lawyer/documents/{id}` | the content, to the uploading lawyer only |
//!
//! Admin listener, staff session ([`admin_routes`]):
//!
//! | route | what |
//! |---|---|
//! | `POST /admin/api/detainees`, `GET /admin/api/detainees` | `{facility, internal_ref, name}` |
//! | `POST /admin/api/cases`, `GET /admin/api/cases` | `{detainee_id, needs_unit_permission}` |
//! | `GET /admin/api/engagements` | every engagement with its documents' metadata (never contents) |
//! | `GET /admin/api/documents/{id}` | the content, to the facility operator role only (the [`Operator`] extractor refuses auditors, system administrators and the investigating unit, R-PRIV-3) |
//! | `POST /admin/api/documents/{id}/review` | `{accepted, reason?}`; a rejection needs a reason |
//!
//! Files: here the narrow state and the routers; `views` the error mapping, the input
//! checks, the views and the download responses both sides share; `lawyer` the lawyers'
//! handlers, `staff` the staff handlers. The service (checks, encryption,
//! audit) is [`super::Documents`]; this layer decides who may see or change what.
//!
//! Only the engagement's own lawyer sees or uploads its documents; another lawyer gets
//! 404, as for an engagement that does not exist. Document contents are never logged.
//! Every creation, upload and review is appended to the audit log before it takes effect

mod lawyer;
mod staff;
mod views;

use super::content::MAX_DOCUMENT_BYTES;
use super::service::Documents;
use crate::audit::Audit;
use crate::auth::Sessions;
use crate::store::Store;
use axum::extract::DefaultBodyLimit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) use views::download_response;
pub use views::{DocumentView, EngagementView};

/// The upload route's body limit: a document plus room for nothing else. Bodies above
/// [`MAX_DOCUMENT_BYTES`] are still refused by our own check, with our own error.
const UPLOAD_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 64 * 1024;

/// What the document routes of both listeners use: the documents service, the store (rows
/// and views), the audit log and sessions (lawyers' or staff's).
#[derive(Clone, axum::extract::FromRef)]
pub struct DocumentsRoutes {
    pub documents: Documents,
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
}

/// The lawyers' routes (public listener). The upload route has its own body limit.
pub fn routes(state: DocumentsRoutes) -> OpenApiRouter {
    let upload = OpenApiRouter::new()
        .routes(routes!(lawyer::upload))
        .layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT));
    OpenApiRouter::new()
        .routes(routes!(
            lawyer::lawyer_engagements,
            lawyer::create_engagement
        ))
        .routes(routes!(lawyer::lawyer_document))
        .merge(upload)
        .with_state(state)
}

/// The staff routes (admin listener).
pub fn admin_routes(state: DocumentsRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(staff::detainees, staff::create_detainee))
        .routes(routes!(staff::cases, staff::create_case))
        .routes(routes!(staff::staff_engagements))
        .routes(routes!(staff::staff_document))
        .routes(routes!(staff::review))
        .with_state(state)
}
