//! HTTP routes for engagements and documents (R-ARRANGE-1, R-ARRANGE-2, R-PRIV-3).
//!
//! Public listener, lawyer session ([`lawyer_routes`]):
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
//! Only the engagement's own lawyer sees or uploads its documents; another lawyer gets
//! 404, as for an engagement that does not exist. Document contents are never logged.
//! Every creation, upload and review is appended to the audit log before it takes effect
//! (503 `audit_unavailable`, and nothing stored, when that fails).

use super::{
    Authority, DocumentError, DocumentKind, DocumentStatus, ACCEPTED_UPLOADS, MAX_DOCUMENT_BYTES,
};
use crate::admin::roles::Operator;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::{json_body, rfc3339, LawyerSession};
use crate::http::ApiError;
use crate::ids::{CaseId, DetaineeId, DocumentId, EngagementId, FacilityId, LawyerId};
use crate::store::documents::{DocumentRow, EngagementRow};
use crate::store::StoreError;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::Utc;
use serde::{Deserialize, Serialize};

/// The upload route's body limit: a document plus room for nothing else. Bodies above
/// [`MAX_DOCUMENT_BYTES`] are still refused by our own check, with our own error.
const UPLOAD_BODY_LIMIT: usize = MAX_DOCUMENT_BYTES + 64 * 1024;

/// The sentence listing the kinds a lawyer may upload.
const ACCEPTED_KINDS: &str = "The only documents are the law-firm letter (firm_letter), the power of attorney (power_of_attorney) and the legal-aid letter (legal_aid_letter).";

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/lawyer/engagements",
            get(lawyer_engagements).post(create_engagement),
        )
        .route(
            "/api/lawyer/engagements/{id}/documents/{kind}",
            put(upload).layer(DefaultBodyLimit::max(UPLOAD_BODY_LIMIT)),
        )
        .route("/api/lawyer/documents/{id}", get(lawyer_document))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/api/detainees", get(detainees).post(create_detainee))
        .route("/admin/api/cases", get(cases).post(create_case))
        .route("/admin/api/engagements", get(staff_engagements))
        .route("/admin/api/documents/{id}", get(staff_document))
        .route("/admin/api/documents/{id}/review", post(review))
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

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "document_too_large",
        format!("This file is larger than 10 MiB. {ACCEPTED_UPLOADS}"),
    )
}

fn kind_not_accepted() -> ApiError {
    ApiError::bad_request(
        "document_kind_not_accepted",
        format!("This kind of document is not asked for. {ACCEPTED_KINDS}"),
    )
}

fn parse_kind(s: &str) -> Result<DocumentKind, ApiError> {
    s.parse().map_err(|_| kind_not_accepted())
}

fn parse_authority(s: &str) -> Result<Authority, ApiError> {
    s.parse().map_err(|_| {
        ApiError::bad_request(
            "authority_not_accepted",
            "The authority is either a power of attorney (power_of_attorney) or a legal-aid letter (legal_aid_letter).",
        )
    })
}

/// Text a person typed: trimmed, non-empty, at most `max` characters.
fn text(value: &str, max: usize, code: &'static str, what: &str) -> Result<String, ApiError> {
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

#[derive(Serialize)]
struct DocumentView {
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
    fn new(d: &DocumentRow) -> DocumentView {
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

#[derive(Serialize)]
struct EngagementView {
    id: EngagementId,
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

async fn engagement_view(state: &AppState, e: &EngagementRow) -> Result<EngagementView, ApiError> {
    let docs = state.store.documents_for_engagement(e.id).await?;
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
fn content_response(d: &DocumentRow, bytes: Vec<u8>) -> Response {
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

// --- lawyers ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEngagement {
    facility: FacilityId,
    detainee_ref: String,
    law_firm: String,
    authority: String,
}

async fn create_engagement(
    State(state): State<AppState>,
    session: LawyerSession,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let lawyer = session.0;
    let req: NewEngagement = json_body(&body)?;
    let authority = parse_authority(&req.authority)?;
    let law_firm = text(
        &req.law_firm,
        200,
        "invalid_law_firm",
        "The law firm's name",
    )?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "detainee_not_found",
            "No detainee with that reference is held at that facility. Check the facility and the detainee's reference number with the facility.",
        )
    };
    let detainee = state
        .store
        .detainee_by_ref(&req.facility, req.detainee_ref.trim())
        .await?
        .ok_or_else(not_found)?;
    let case = state
        .store
        .newest_case_for_detainee(detainee.id)
        .await?
        .ok_or_else(not_found)?;
    if let Some(existing) = state.store.engagement_of(lawyer, case.id).await? {
        return Ok(engagement_exists(existing.id));
    }
    let audit = &state.audit;
    let created = state
        .store
        .insert_engagement(
            lawyer,
            case.id,
            &law_firm,
            authority,
            Utc::now(),
            |id| async move {
                audit
                    .append(
                        Actor::Lawyer(lawyer),
                        AuditRecord::EngagementCreated {
                            engagement: id,
                            lawyer,
                        },
                    )
                    .await?;
                Ok::<(), StoreOrApi>(())
            },
        )
        .await;
    let id = match created {
        Ok(id) => id,
        Err(StoreOrApi::Store(StoreError::Conflict(_))) => {
            // A concurrent request created it meanwhile.
            let existing = state.store.engagement_of(lawyer, case.id).await?;
            return match existing {
                Some(e) => Ok(engagement_exists(e.id)),
                None => Err(ApiError::internal("engagement conflict without a row")),
            };
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(lawyer = %lawyer, engagement = %id, "engagement created");
    let row = state
        .store
        .engagement(id)
        .await?
        .ok_or_else(|| ApiError::not_found("The engagement"))?;
    let view = engagement_view(&state, &row).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn engagement_exists(id: EngagementId) -> Response {
    (
        StatusCode::CONFLICT,
        Json(serde_json::json!({
            "code": "engagement_exists",
            "message": "You already act for this detainee in this case; upload its documents there.",
            "id": id,
        })),
    )
        .into_response()
}

async fn lawyer_engagements(
    State(state): State<AppState>,
    session: LawyerSession,
) -> Result<Json<serde_json::Value>, ApiError> {
    let lawyer = session.0;
    let rows = state.store.engagements_for_lawyer(lawyer).await?;
    let mut list = Vec::with_capacity(rows.len());
    for e in &rows {
        list.push(engagement_view(&state, e).await?);
    }
    Ok(Json(serde_json::json!({ "engagements": list })))
}

/// The lawyer's own engagement, or 404 (the same answer as for one that does not exist).
async fn own_engagement(
    state: &AppState,
    lawyer: LawyerId,
    id: EngagementId,
) -> Result<EngagementRow, ApiError> {
    match state.store.engagement(id).await? {
        Some(e) if e.lawyer == lawyer => Ok(e),
        _ => Err(ApiError::not_found("This engagement")),
    }
}

#[derive(Serialize)]
struct Uploaded {
    id: DocumentId,
    kind: DocumentKind,
    sha256: String,
    size: i64,
    media_type: String,
    status: DocumentStatus,
}

async fn upload(
    State(state): State<AppState>,
    session: LawyerSession,
    Path((id, kind)): Path<(i64, String)>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let lawyer = session.0;
    let kind = parse_kind(&kind)?;
    let engagement = own_engagement(&state, lawyer, EngagementId(id)).await?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::bad_request(
                "malformed_request",
                "The upload could not be read. Please try again.",
            )
        }
    })?;
    let doc = state
        .documents
        .put(engagement.id, kind, &body, Utc::now())
        .await?;
    let row = state
        .store
        .document(doc)
        .await?
        .ok_or_else(|| ApiError::internal("a stored document has no row"))?;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            id: row.id,
            kind: row.kind,
            sha256: row.sha256,
            size: row.size_bytes,
            media_type: row.media_type,
            status: row.status,
        }),
    ))
}

async fn lawyer_document(
    State(state): State<AppState>,
    session: LawyerSession,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let lawyer = session.0;
    let not_found = || ApiError::not_found("This document");
    let doc = state
        .store
        .document(DocumentId(id))
        .await?
        .ok_or_else(not_found)?;
    own_engagement(&state, lawyer, doc.engagement)
        .await
        .map_err(|_| not_found())?;
    let bytes = state.documents.read(doc.id).await?;
    Ok(content_response(&doc, bytes))
}

// --- staff ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDetainee {
    facility: FacilityId,
    internal_ref: String,
    name: String,
}

async fn create_detainee(
    State(state): State<AppState>,
    Operator(staff): Operator,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: NewDetainee = json_body(&body)?;
    let internal_ref = text(
        &req.internal_ref,
        64,
        "invalid_internal_ref",
        "The detainee's reference",
    )?;
    let name = text(&req.name, 200, "invalid_name", "The detainee's name")?;
    let audit = &state.audit;
    let created = state
        .store
        .insert_detainee(
            &req.facility,
            &internal_ref,
            &name,
            Utc::now(),
            |id| async move {
                audit
                    .append(
                        Actor::Staff(staff),
                        AuditRecord::DetaineeCreated { detainee: id },
                    )
                    .await?;
                Ok::<(), StoreOrApi>(())
            },
        )
        .await;
    let id = match created {
        Ok(id) => id,
        Err(StoreOrApi::Store(StoreError::Conflict(_))) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "detainee_exists",
                "This facility already has a detainee with that reference.",
            ))
        }
        Err(StoreOrApi::Store(StoreError::NotFound(_))) => {
            return Err(ApiError::not_found("That facility"))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(staff = %staff, detainee = %id, "detainee registered");
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

/// A store error (to tell conflicts apart) or an already-mapped one (the audit's).
enum StoreOrApi {
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

async fn detainees(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.detainees().await?;
    let list: Vec<_> = rows
        .iter()
        .map(|d| {
            serde_json::json!({
                "id": d.id, "facility": d.facility, "internal_ref": d.internal_ref,
                "name": d.name, "created_at": rfc3339(d.created_at),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "detainees": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCase {
    detainee_id: DetaineeId,
    #[serde(default)]
    needs_unit_permission: bool,
}

async fn create_case(
    State(state): State<AppState>,
    Operator(staff): Operator,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: NewCase = json_body(&body)?;
    let flagged = req.needs_unit_permission;
    let audit = &state.audit;
    let created = state
        .store
        .insert_case(req.detainee_id, flagged, Utc::now(), |id| async move {
            audit
                .append(
                    Actor::Staff(staff),
                    AuditRecord::CaseCreated {
                        case: id,
                        needs_unit_permission: flagged,
                    },
                )
                .await?;
            Ok::<(), StoreOrApi>(())
        })
        .await;
    let id: CaseId = match created {
        Ok(id) => id,
        Err(StoreOrApi::Store(StoreError::NotFound(_))) => {
            return Err(ApiError::not_found("That detainee"))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(staff = %staff, case = %id, "case opened");
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

async fn cases(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.cases().await?;
    let list: Vec<_> = rows
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id, "detainee_id": c.detainee,
                "needs_unit_permission": c.needs_unit_permission,
                "created_at": rfc3339(c.created_at),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "cases": list })))
}

#[derive(Serialize)]
struct StaffEngagementView {
    lawyer_id: LawyerId,
    case_id: CaseId,
    detainee_id: DetaineeId,
    #[serde(flatten)]
    engagement: EngagementView,
}

async fn staff_engagements(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.engagements().await?;
    let mut list = Vec::with_capacity(rows.len());
    for e in &rows {
        list.push(StaffEngagementView {
            lawyer_id: e.lawyer,
            case_id: e.case,
            detainee_id: e.detainee,
            engagement: engagement_view(&state, e).await?,
        });
    }
    Ok(Json(serde_json::json!({ "engagements": list })))
}

async fn staff_document(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let doc = state
        .store
        .document(DocumentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This document"))?;
    // Who opened a privileged document is on record before it is shown.
    state
        .audit
        .append(
            Actor::Staff(staff),
            AuditRecord::DocumentRead {
                document: doc.id,
                staff,
            },
        )
        .await?;
    let bytes = state.documents.read(doc.id).await?;
    Ok(content_response(&doc, bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Review {
    accepted: bool,
    reason: Option<String>,
}

async fn review(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<DocumentView>, ApiError> {
    let req: Review = json_body(&body)?;
    if let Some(r) = &req.reason {
        if r.chars().count() > 1000 {
            return Err(ApiError::bad_request(
                "invalid_reason",
                "A reason needs at most 1000 characters.",
            ));
        }
    }
    state
        .documents
        .review(DocumentId(id), staff, req.accepted, req.reason, Utc::now())
        .await?;
    let doc = state
        .store
        .document(DocumentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This document"))?;
    Ok(Json(DocumentView::new(&doc)))
}
