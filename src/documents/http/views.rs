//! What the lawyers' and the staff document handlers share (R-ARRANGE-1, R-PRIV-3): the
//! mapping of [`DocumentError`] to HTTP, the checks of typed text, kinds and authorities,
//! the views of engagements and documents (metadata, never contents), and the download
//! response that no cache keeps.
//!
//! Owns no route and no state; does not decide who may see what (the handlers in `lawyer`
//! and `staff` do) or check content (the service).

use crate::documents::content::{MediaType, ACCEPTED_UPLOADS};
use crate::documents::error::DocumentError;
use crate::http::ApiError;
use crate::ids::{DocumentId, EngagementId, FacilityId};
use crate::model::documents::{summarize, Authority, DocumentKind, DocumentStatus};
use crate::model::time::rfc3339;
use crate::store::documents::{DocumentRow, EngagementRow};
use crate::store::{Store, StoreError};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The sentence listing the kinds a lawyer may upload.
const ACCEPTED_KINDS: &str = "The only documents are the law-firm letter (firm_letter), the power of attorney (power_of_attorney) and the legal-aid letter (legal_aid_letter).";

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

pub(super) async fn engagement_view(
    store: &Store,
    e: &EngagementRow,
) -> Result<EngagementView, ApiError> {
    let docs = store.documents_for_engagement(e.id).await?;
    let summary = summarize(e.authority, docs.iter().map(|d| (d.id, d.kind, d.status)));
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
        .parse::<MediaType>()
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
