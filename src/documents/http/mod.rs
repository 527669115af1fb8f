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
//! Files: here the narrow state, the routers, the error mapping and the views; [`lawyer`]
//! the lawyers' handlers, [`staff`] the staff handlers. The service (checks, encryption,
//! audit) is [`super::Documents`]; this layer decides who may see or change what.
//!
//! Only the engagement's own lawyer sees or uploads its documents; another lawyer gets
//! 404, as for an engagement that does not exist. Document contents are never logged.
//! Every creation, upload and review is appended to the audit log before it takes effect

mod lawyer;
mod staff;

use super::{
    Authority, DocumentError, DocumentKind, DocumentStatus, Documents, ACCEPTED_UPLOADS,
    MAX_DOCUMENT_BYTES,
};
use crate::audit::Audit;
use crate::auth::Sessions;
use crate::http::ApiError;
use crate::ids::{DocumentId, EngagementId, FacilityId};
use crate::model::time::rfc3339;
use crate::store::documents::{DocumentRow, EngagementRow};
use crate::store::{Store, StoreError};
use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The upload route's body limit: a document plus room for nothing else. Bodies above
/// [`MAX_DOCUMENT_BYTES`] are still refused by our own check, with our own error.
const UPLOAD_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 64 * 1024;

/// The sentence listing the kinds a lawyer may upload.
const ACCEPTED_KINDS: &str = "The only documents are the law-firm letter (firm_letter), the power of attorney (power_of_attorney) and the legal-aid letter (legal_aid_letter).";

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

impl From<DocumentError> for ApiError {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::Empty => ApiError::new(
                StatusCode::BAD_REQUEST,
                "document_empty",
                format!("The upload is empty. {ACCEPTED_UPLOADS}"),
            ),
            DocumentError::TooLarge => too_large(),
            DocumentError::TypeNotAccepted => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "document_type_not_accepted",
                format!("This file is not a PDF, JPEG or PNG document. {ACCEPTED_UPLOADS}"),
            ),
            DocumentError::NotThisEngagementsAuthority { given, expected } => ApiError::bad_request(
                "document_not_for_this_engagement",
                format!(
                    "This engagement rests on a {}, not a {}. Upload the law-firm letter and the {}.",
                    expected.label(),
                    given.label(),
                    expected.label()
                ),
            ),
            DocumentError::ReasonRequired => ApiError::bad_request(
                "reason_required",
                "A rejection needs a reason that tells the lawyer what to fix.",
            ),
            DocumentError::NotFound(what) => ApiError::not_found(&capitalise(what)),
            DocumentError::Audit(a) => a.into(),
            DocumentError::Store(StoreError::NotFound(what)) => {
                ApiError::not_found(&capitalise(what))
            }
            e @ (DocumentError::Integrity(_)
            | DocumentError::FileIntegrity
            | DocumentError::Io(_)
            | DocumentError::Crypto
            | DocumentError::Store(_)) => ApiError::internal(e),
        }
    }
}

pub(super) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

pub(super) fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "document_too_large",
        format!("This file is larger than 10 MiB. {ACCEPTED_UPLOADS}"),
    )
}

pub(super) fn kind_not_accepted() -> ApiError {
    ApiError::bad_request(
        "document_kind_not_accepted",
        format!("This kind of document is not asked for. {ACCEPTED_KINDS}"),
    )
}

pub(super) fn parse_kind(s: &str) -> Result<DocumentKind, ApiError> {
    s.parse().map_err(|_| kind_not_accepted())
}

pub(super) fn parse_authority(s: &str) -> Result<Authority, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(
            "authority_not_accepted",
            "The authority is either a power of attorney (power_of_attorney) or a legal-aid letter (legal_aid_letter).",
        )
    })
}

/// Text a person typed: trimmed, non-empty, at most `max` characters.
pub(super) fn text(
    value: &str,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<String, ApiError> {
    let t = value.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::bad_request(
            code,
            format!("{what} needs 1 to {max} characters."),
        ));
    }
    Ok(t.to_owned())
}

// --- views ---

/// A document's metadata (never its content).
#[derive(Serialize, ToSchema)]
pub struct DocumentView {
    #[schema(value_type = i64)]
    id: DocumentId,
    kind: DocumentKind,
    status: DocumentStatus,
    media_type: String,
    size: i64,
    sha256: String,
    uploaded_at: String,
    reviewed_at: Option<String>,
    reject_reason: Option<String>,
}

impl DocumentView {
    pub(super) fn new(d: &DocumentRow) -> DocumentView {
        DocumentView {
            id: d.id,
            kind: d.kind,
            status: d.status,
            media_type: d.media_type.clone(),
            size: d.size_bytes,
            sha256: d.sha256.clone(),
            uploaded_at: rfc3339(d.uploaded_at),
            reviewed_at: d.reviewed_at.map(rfc3339),
            reject_reason: d.reject_reason.clone(),
        }
    }
}

/// An engagement with its documents' metadata and what is still missing.
#[derive(Serialize, ToSchema)]
pub struct EngagementView {
    #[schema(value_type = i64)]
    id: EngagementId,
    #[schema(value_type = String)]
    facility: FacilityId,
    detainee_ref: String,
    law_firm: String,
    authority: Authority,
    /// The two kinds this engagement requires, firm letter first.
    required: [DocumentKind; 2],
    /// Every upload, newest first.
    documents: Vec<DocumentView>,
    /// The required kinds that still need an upload or a re-upload.
    missing: Vec<DocumentKind>,
    complete: bool,
    created_at: String,
}

async fn engagement_view(store: &Store, e: &EngagementRow) -> Result<EngagementView, ApiError> {
    let docs = store.documents_for_engagement(e.id).await?;
    let summary = super::summarize(e.authority, docs.iter().map(|d| (d.id, d.kind, d.status)));
    Ok(EngagementView {
        id: e.id,
        facility: e.facility.clone(),
        detainee_ref: e.detainee_ref.clone(),
        law_firm: e.law_firm.clone(),
        authority: e.authority,
        required: e.authority.required(),
        documents: docs.iter().map(DocumentView::new).collect(),
        missing: summary.missing(e.authority),
        complete: summary.complete(),
        created_at: rfc3339(e.created_at),
    })
}

/// The document's content as a download that no cache keeps.
pub(super) fn content_response(d: &DocumentRow, bytes: Vec<u8>) -> Response {
    download_response(
        bytes,
        &d.media_type,
        &format!("{}-{}", d.kind.as_str(), d.id),
    )
}

/// Stored content (a document, a scanned written refusal) as a download named
/// `<stem>.<ext>` that no cache keeps.
pub(crate) fn download_response(bytes: Vec<u8>, media_type: &str, stem: &str) -> Response {
    let ext = media_type
        .parse::<super::MediaType>()
        .map(|m| m.extension())
        .unwrap_or("bin");
    let disposition = format!("attachment; filename=\"{stem}.{ext}\"");
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(media_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A store error (to tell conflicts apart) or an already-mapped one (the audit's).
pub(super) enum StoreOrApi {
    Store(StoreError),
    Api(ApiError),
}

impl From<StoreError> for StoreOrApi {
    fn from(e: StoreError) -> Self {
        StoreOrApi::Store(e)
    }
}

impl From<crate::audit::AuditError> for StoreOrApi {
    fn from(e: crate::audit::AuditError) -> Self {
        StoreOrApi::Api(e.into())
    }
}

impl From<StoreOrApi> for ApiError {
    fn from(e: StoreOrApi) -> Self {
        match e {
            StoreOrApi::Store(s) => s.into(),
            StoreOrApi::Api(a) => a,
        }
    }
}
