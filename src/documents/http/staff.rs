//! The staff document routes (admin listener, facility operator; R-ARRANGE-1, R-PRIV-3):
//! detainees, cases, every engagement's metadata, reading a document (audited before it
//! is shown) and reviewing it. The [`Operator`] extractor refuses auditors, system
//! administrators and the investigating unit (R-PRIV-3). Does not upload (lawyers,
//! [`super::lawyer`]).

use super::views::{
    content_response, engagement_view, text, DocumentView, EngagementView, StoreOrApi,
};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::documents::Documents;
use crate::http::extract::{JsonBody, Operator};
use crate::http::openapi::{Created, ErrorBody};
use crate::http::ApiError;
use crate::ids::{CaseId, DetaineeId, DocumentId, FacilityId, LawyerId};
use crate::model::time::rfc3339;
use crate::store::{Store, StoreError};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDetainee {
    #[schema(value_type = String)]
    facility: FacilityId,
    /// The facility-internal reference (R-PRIV-4: the only thing a lawyer knows).
    internal_ref: String,
    name: String,
}

#[utoipa::path(
    post,
    path = "/admin/api/detainees",
    tag = "documents",
    request_body = NewDetainee,
    responses(
        (status = 201, description = "Registered (audited first)", body = Created),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request`, `invalid_internal_ref` or `invalid_name`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such facility", body = ErrorBody),
        (status = 409, description = "`detainee_exists`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn create_detainee(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    JsonBody(req): JsonBody<NewDetainee>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let internal_ref = text(
        &req.internal_ref,
        64,
        "invalid_internal_ref",
        "The detainee's reference",
    )?;
    let name = text(&req.name, 200, "invalid_name", "The detainee's name")?;
    let audit = &audit;
    let created = store
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
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}

/// A detainee as staff see them.
#[derive(Serialize, ToSchema)]
pub struct DetaineeView {
    id: i64,
    facility: String,
    internal_ref: String,
    name: String,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct DetaineeList {
    detainees: Vec<DetaineeView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/detainees",
    tag = "documents",
    responses(
        (status = 200, description = "Detainees", body = DetaineeList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn detainees(
    State(store): State<Store>,
    _s: Operator,
) -> Result<Json<DetaineeList>, ApiError> {
    let rows = store.detainees().await?;
    let detainees = rows
        .into_iter()
        .map(|d| DetaineeView {
            id: d.id.0,
            facility: d.facility.0,
            internal_ref: d.internal_ref,
            name: d.name,
            created_at: rfc3339(d.created_at),
        })
        .collect();
    Ok(Json(DetaineeList { detainees }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    #[schema(value_type = i64)]
    detainee_id: DetaineeId,
    /// Whether visits need the investigating unit's permission (R-ARRANGE-3).
    #[serde(default)]
    needs_unit_permission: bool,
}

#[utoipa::path(
    post,
    path = "/admin/api/cases",
    tag = "documents",
    request_body = NewCase,
    responses(
        (status = 201, description = "Opened (audited first)", body = Created),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such detainee", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn create_case(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    JsonBody(req): JsonBody<NewCase>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let flagged = req.needs_unit_permission;
    let audit = &audit;
    let created = store
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
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}

/// A case as staff see it.
#[derive(Serialize, ToSchema)]
pub struct CaseView {
    id: i64,
    detainee_id: i64,
    needs_unit_permission: bool,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    cases: Vec<CaseView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/cases",
    tag = "documents",
    responses(
        (status = 200, description = "Cases", body = CaseList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn cases(
    State(store): State<Store>,
    _s: Operator,
) -> Result<Json<CaseList>, ApiError> {
    let rows = store.cases().await?;
    let cases = rows
        .iter()
        .map(|c| CaseView {
            id: c.id.0,
            detainee_id: c.detainee.0,
            needs_unit_permission: c.needs_unit_permission,
            created_at: rfc3339(c.created_at),
        })
        .collect();
    Ok(Json(CaseList { cases }))
}

/// An engagement as staff see it: the lawyer's view plus who and which case.
#[derive(Serialize, ToSchema)]
pub struct StaffEngagementView {
    #[schema(value_type = i64)]
    lawyer_id: LawyerId,
    #[schema(value_type = i64)]
    case_id: CaseId,
    #[schema(value_type = i64)]
    detainee_id: DetaineeId,
    #[serde(flatten)]
    engagement: EngagementView,
}

#[derive(Serialize, ToSchema)]
pub struct StaffEngagementList {
    engagements: Vec<StaffEngagementView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/engagements",
    tag = "documents",
    responses(
        (status = 200, description = "Every engagement with its documents' metadata (never contents)", body = StaffEngagementList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn staff_engagements(
    State(store): State<Store>,
    _s: Operator,
) -> Result<Json<StaffEngagementList>, ApiError> {
    let rows = store.engagements().await?;
    let mut engagements = Vec::with_capacity(rows.len());
    for e in &rows {
        engagements.push(StaffEngagementView {
            lawyer_id: e.lawyer,
            case_id: e.case,
            detainee_id: e.detainee,
            engagement: engagement_view(&store, e).await?,
        });
    }
    Ok(Json(StaffEngagementList { engagements }))
}

#[utoipa::path(
    get,
    path = "/admin/api/documents/{id}",
    tag = "documents",
    params(("id" = i64, Path, description = "The document")),
    responses(
        (status = 200, description = "The document's content, an attachment no cache keeps; the read is audited first (R-PRIV-3)", content(
            (String = "application/pdf"),
            (String = "image/jpeg"),
            (String = "image/png"),
        )),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such document", body = ErrorBody),
        (status = 500, description = "`internal`: the stored file fails its integrity check", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn staff_document(
    State(store): State<Store>,
    State(audit): State<Audit>,
    State(documents): State<Documents>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let doc = store
        .document(DocumentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This document"))?;
    // Who opened a privileged document is on record before it is shown.
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::DocumentRead {
                document: doc.id,
                staff,
            },
        )
        .await?;
    let bytes = documents.read(doc.id).await?;
    Ok(content_response(&doc, bytes))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    accepted: bool,
    /// Required for a rejection: what the lawyer must fix (at most 1000 characters).
    reason: Option<String>,
}

#[utoipa::path(
    post,
    path = "/admin/api/documents/{id}/review",
    tag = "documents",
    params(("id" = i64, Path, description = "The document")),
    request_body = Review,
    responses(
        (status = 200, description = "Reviewed (audited first); the document as it stands now", body = DocumentView),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request`, `invalid_reason` or `reason_required`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such document", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
pub(super) async fn review(
    State(store): State<Store>,
    State(documents): State<Documents>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<Review>,
) -> Result<Json<DocumentView>, ApiError> {
    if let Some(r) = &req.reason {
        if r.chars().count() > 1000 {
            return Err(ApiError::bad_request(
                "invalid_reason",
                "A reason needs at most 1000 characters.",
            ));
        }
    }
    documents
        .review(DocumentId(id), staff, req.accepted, req.reason, Utc::now())
        .await?;
    let doc = store
        .document(DocumentId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This document"))?;
    Ok(Json(DocumentView::new(&doc)))
}
