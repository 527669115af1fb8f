//! The lawyers' document routes (public listener, lawyer session; R-ARRANGE-1, R-PRIV-3):
//! engagements, uploads, and reading back one's own documents. Another lawyer's
//! engagement or document answers 404, as one that does not exist. Does not review
//! documents (staff, [`super::staff`]) or check content (the service).

use super::views::{
    content_response, engagement_view, parse_authority, parse_kind, text, too_large,
    EngagementView, StoreOrApi,
};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::documents::{DocumentKind, DocumentStatus, Documents};
use crate::http::extract::{JsonBody, LawyerSession};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::{DocumentId, EngagementId, FacilityId, LawyerId};
use crate::store::documents::EngagementRow;
use crate::store::{Store, StoreError};
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEngagement {
    #[schema(value_type = String)]
    facility: FacilityId,
    /// The detainee's reference number at the facility.
    detainee_ref: String,
    law_firm: String,
    /// `power_of_attorney` or `legal_aid_letter`.
    authority: String,
}

#[utoipa::path(
    post,
    path = "/api/lawyer/engagements",
    tag = "documents",
    request_body = NewEngagement,
    responses(
        (status = 201, description = "The engagement for the detainee's newest case (audited first, R-ARRANGE-1)", body = EngagementView),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 400, description = "`malformed_request`, `authority_not_accepted` or `invalid_law_firm`", body = ErrorBody),
        (status = 404, description = "`detainee_not_found`", body = ErrorBody),
        (status = 409, description = "`engagement_exists`: an ErrorBody with the existing engagement's `id` besides", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
pub(super) async fn create_engagement(
    State(store): State<Store>,
    State(audit): State<Audit>,
    session: LawyerSession,
    JsonBody(req): JsonBody<NewEngagement>,
) -> Result<Response, ApiError> {
    let lawyer = session.0;
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
    let detainee = store
        .detainee_by_ref(&req.facility, req.detainee_ref.trim())
        .await?
        .ok_or_else(not_found)?;
    let case = store
        .newest_case_for_detainee(detainee.id)
        .await?
        .ok_or_else(not_found)?;
    if let Some(existing) = store.engagement_of(lawyer, case.id).await? {
        return Ok(engagement_exists(existing.id));
    }
    let audit = &audit;
    let created = store
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
            let existing = store.engagement_of(lawyer, case.id).await?;
            return match existing {
                Some(e) => Ok(engagement_exists(e.id)),
                None => Err(ApiError::internal("engagement conflict without a row")),
            };
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(lawyer = %lawyer, engagement = %id, "engagement created");
    let row = store
        .engagement(id)
        .await?
        .ok_or_else(|| ApiError::not_found("The engagement"))?;
    let view = engagement_view(&store, &row).await?;
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

/// The lawyer's own engagements.
#[derive(Serialize, ToSchema)]
pub struct EngagementList {
    engagements: Vec<EngagementView>,
}

#[utoipa::path(
    get,
    path = "/api/lawyer/engagements",
    tag = "documents",
    responses(
        (status = 200, description = "Your engagements, each with its documents' metadata and what is `missing`", body = EngagementList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
pub(super) async fn lawyer_engagements(
    State(store): State<Store>,
    session: LawyerSession,
) -> Result<Json<EngagementList>, ApiError> {
    let lawyer = session.0;
    let rows = store.engagements_for_lawyer(lawyer).await?;
    let mut engagements = Vec::with_capacity(rows.len());
    for e in &rows {
        engagements.push(engagement_view(&store, e).await?);
    }
    Ok(Json(EngagementList { engagements }))
}

/// The lawyer's own engagement, or 404 (the same answer as for one that does not exist).
async fn own_engagement(
    store: &Store,
    lawyer: LawyerId,
    id: EngagementId,
) -> Result<EngagementRow, ApiError> {
    match store.engagement(id).await? {
        Some(e) if e.lawyer == lawyer => Ok(e),
        _ => Err(ApiError::not_found("This engagement")),
    }
}

/// The stored upload.
#[derive(Serialize, ToSchema)]
pub struct Uploaded {
    #[schema(value_type = i64)]
    id: DocumentId,
    kind: DocumentKind,
    sha256: String,
    size: i64,
    media_type: String,
    status: DocumentStatus,
}

#[utoipa::path(
    put,
    path = "/api/lawyer/engagements/{id}/documents/{kind}",
    tag = "documents",
    params(("id" = i64, Path, description = "Your engagement"), ("kind" = String, Path, description = "`firm_letter`, `power_of_attorney` or `legal_aid_letter`")),
    request_body(description = "The file itself (PDF, JPEG or PNG, at most 10 MiB), recognised by its content", content(
        (String = "application/pdf"),
        (String = "image/jpeg"),
        (String = "image/png"),
    )),
    responses(
        (status = 201, description = "Stored, encrypted at rest (audited first, R-PRIV-3)", body = Uploaded),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 400, description = "`document_kind_not_accepted`, `document_not_for_this_engagement`, `document_empty` or `malformed_request`", body = ErrorBody),
        (status = 404, description = "`not_found`: not an engagement of yours", body = ErrorBody),
        (status = 413, description = "`document_too_large`: more than 10 MiB", body = ErrorBody),
        (status = 415, description = "`document_type_not_accepted`: not a PDF, JPEG or PNG file", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
pub(super) async fn upload(
    State(store): State<Store>,
    State(documents): State<Documents>,
    session: LawyerSession,
    Path((id, kind)): Path<(i64, String)>,
    body: Result<axum::body::Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Uploaded>), ApiError> {
    let lawyer = session.0;
    let kind = parse_kind(&kind)?;
    let engagement = own_engagement(&store, lawyer, EngagementId(id)).await?;
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
    let doc = documents
        .put(engagement.id, kind, &body, Utc::now())
        .await?;
    let row = store
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

#[utoipa::path(
    get,
    path = "/api/lawyer/documents/{id}",
    tag = "documents",
    params(("id" = i64, Path, description = "The document")),
    responses(
        (status = 200, description = "The document's content, an attachment no cache keeps", content(
            (String = "application/pdf"),
            (String = "image/jpeg"),
            (String = "image/png"),
        )),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 404, description = "`not_found`: not a document of yours", body = ErrorBody),
        (status = 500, description = "`internal`: the stored file fails its integrity check", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
pub(super) async fn lawyer_document(
    State(store): State<Store>,
    State(documents): State<Documents>,
    session: LawyerSession,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let lawyer = session.0;
    let not_found = || ApiError::not_found("This document");
    let doc = store
        .document(DocumentId(id))
        .await?
        .ok_or_else(not_found)?;
    own_engagement(&store, lawyer, doc.engagement)
        .await
        .map_err(|_| not_found())?;
    let bytes = documents.read(doc.id).await?;
    Ok(content_response(&doc, bytes))
}
