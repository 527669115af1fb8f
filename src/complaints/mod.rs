//! Complaints (R-COMPLAIN-1): a lawyer complains that a visit right was infringed (a
//! refusal, a delay, a stop, conduct); staff record progress and the outcome; the lawyer
//! sees every update. The facility's complaint contact is configured
//! (`[facility] complaint_department`, `complaint_address`, `complaint_phone`) and shown to
//! lawyers.
//!
//! | listener | route | who | what |
//! |---|---|---|---|
//! | public | `GET /api/lawyer/complaint-contact` | anyone | where complaints go |
//! | public | `POST /api/lawyer/complaints` | lawyer session | `{visit?, about, text}` -> 201 `{id}` |
//! | public | `GET /api/lawyer/complaints` | lawyer session | the lawyer's own complaints, each with every update |
//! | admin | `GET /admin/api/complaints` | operator | every complaint with its updates |
//! | admin | `POST /admin/api/complaints/{id}/updates` | operator | `{kind: progress\|outcome, text}`; an outcome closes the complaint |
//!
//! `about`: `refusal`, `delay`, `stop`, `conduct`, `other`. A complaint about a visit must
//! name one of the lawyer's own visits. Filing and every update are appended to the audit
//! log (ids and codes only; the text stays in the complaint) before the answer; if that
//! fails the complaint or update is not kept and the answer is 503 `audit_unavailable`.

//!
//! Does not: decide anything about a visit (a complaint changes no booking or admission),
//! or send complaints anywhere (staff answer them here).

use crate::admin::roles::Operator;
use crate::admin::violations::text_field;
use crate::admin::Created;
use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::Sessions;
use crate::config::FacilitySection;
use crate::http::extract::{JsonBody, LawyerSession};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::store::oversight::{ComplaintRow, ComplaintUpdateRow};
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

const ABOUT: [&str; 5] = ["refusal", "delay", "stop", "conduct", "other"];

/// What the lawyers' complaint routes use (public listener).
#[derive(Clone, axum::extract::FromRef)]
pub struct ComplaintsRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
    /// The published complaint contact.
    pub facility: FacilitySection,
}

/// What the operators' complaint routes use (admin listener).
#[derive(Clone, axum::extract::FromRef)]
pub struct ComplaintsAdminRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
}

/// Routes on the public listener (lawyers).
pub fn routes(state: ComplaintsRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(contact))
        .routes(routes!(mine, file))
        .with_state(state)
}

/// Routes on the admin listener (operators).
pub fn admin_routes(state: ComplaintsAdminRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(all))
        .routes(routes!(update))
        .with_state(state)
}

/// Where complaints go besides this API (R-COMPLAIN-1).
#[derive(Serialize, ToSchema)]
pub struct ComplaintContact {
    /// Whether the facility has published a contact.
    configured: bool,
    department: String,
    address: String,
    phone: String,
    /// A sentence for the lawyer.
    message: &'static str,
}

#[utoipa::path(
    get,
    path = "/api/lawyer/complaint-contact",
    tag = "complaints",
    responses((status = 200, description = "The facility's complaint contact", body = ComplaintContact))
)]
async fn contact(State(f): State<FacilitySection>) -> Json<ComplaintContact> {
    let configured = !f.complaint_department.trim().is_empty();
    Json(ComplaintContact {
        configured,
        department: f.complaint_department,
        address: f.complaint_address,
        phone: f.complaint_phone,
        message: if configured {
            "You may also complain in writing to this department; every complaint is registered and answered."
        } else {
            "The facility has not published a complaint contact yet; you can still file a complaint here."
        },
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// One of the lawyer's own visits, when the complaint is about one.
    #[serde(default)]
    visit: Option<i64>,
    /// `refusal`, `delay`, `stop`, `conduct` or `other`.
    about: String,
    text: String,
}

#[utoipa::path(
    post,
    path = "/api/lawyer/complaints",
    tag = "complaints",
    request_body = FileRequest,
    responses(
        (status = 201, description = "Filed (audited first)", body = Created),
        (status = 400, description = "`malformed_request`, `invalid_about` or `missing_text`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 404, description = "`not_found`: not a visit of yours", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` (nothing kept) or `store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
async fn file(
    State(store): State<Store>,
    State(audit): State<Audit>,
    session: LawyerSession,
    JsonBody(req): JsonBody<FileRequest>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let lawyer = session.0;
    if !ABOUT.contains(&req.about.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_about",
            "Say what the complaint is about: refusal, delay, stop, conduct or other.",
        ));
    }
    let text = text_field(&req.text, "missing_text", "The complaint")?;
    let visit = match req.visit.map(VisitId) {
        Some(v) => match store.visit(v).await? {
            Some(row) if row.lawyer == lawyer => Some(v),
            _ => return Err(ApiError::not_found("That visit of yours")),
        },
        None => None,
    };
    let id = store
        .insert_complaint(lawyer, visit, &req.about, &text, Utc::now())
        .await?;
    let record = AuditRecord::ComplaintFiled {
        complaint: id,
        lawyer,
        visit,
    };
    if let Err(e) = audit.append(Actor::Lawyer(lawyer), record).await {
        if let Err(e) = store.discard_complaint(id).await {
            tracing::error!(complaint = id, error = %e, "cannot remove a complaint whose audit entry failed");
        }
        return Err(e.into());
    }
    tracing::info!(complaint = id, lawyer = %lawyer, "complaint filed");
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// A complaint with every update, oldest first.
#[derive(Serialize)]
pub struct ComplaintView {
    #[serde(flatten)]
    complaint: ComplaintRow,
    updates: Vec<ComplaintUpdateRow>,
}

/// Complaints, newest first.
#[derive(Serialize, ToSchema)]
pub struct ComplaintList {
    /// Each: `id`, `lawyer`, `visit`, `about`, `text`, `status` (`open`, `in_progress`,
    /// `closed`), `filed_at`, and `updates` (`id`, `complaint`, `kind`, `text`,
    /// `recorded_at`).
    #[schema(value_type = Vec<Object>)]
    complaints: Vec<ComplaintView>,
}

async fn with_updates(store: &Store, rows: Vec<ComplaintRow>) -> Result<ComplaintList, ApiError> {
    let mut complaints = Vec::with_capacity(rows.len());
    for c in rows {
        let updates = store.complaint_updates(c.id).await?;
        complaints.push(ComplaintView {
            complaint: c,
            updates,
        });
    }
    Ok(ComplaintList { complaints })
}

#[utoipa::path(
    get,
    path = "/api/lawyer/complaints",
    tag = "complaints",
    responses(
        (status = 200, description = "Your complaints, each with every update", body = ComplaintList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
async fn mine(
    State(store): State<Store>,
    session: LawyerSession,
) -> Result<Json<ComplaintList>, ApiError> {
    let rows = store.complaints(Some(session.0)).await?;
    Ok(Json(with_updates(&store, rows).await?))
}

#[utoipa::path(
    get,
    path = "/admin/api/complaints",
    tag = "complaints",
    responses(
        (status = 200, description = "Every complaint with its updates", body = ComplaintList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn all(State(store): State<Store>, _s: Operator) -> Result<Json<ComplaintList>, ApiError> {
    let rows = store.complaints(None).await?;
    Ok(Json(with_updates(&store, rows).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateRequest {
    /// `progress` or `outcome` (an outcome closes the complaint).
    kind: String,
    text: String,
}

#[utoipa::path(
    post,
    path = "/admin/api/complaints/{id}/updates",
    tag = "complaints",
    params(("id" = i64, Path, description = "The complaint")),
    request_body = UpdateRequest,
    responses(
        (status = 201, description = "The update recorded (audited first)", body = Created),
        (status = 400, description = "`malformed_request`, `invalid_kind` or `missing_text`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such complaint", body = ErrorBody),
        (status = 409, description = "`complaint_closed`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn update(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<JsonBody<UpdateRequest>, ApiError>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let Ok(Path(complaint)) = id else {
        return Err(ApiError::bad_request(
            "malformed_request",
            "The id in the address must be a number.",
        ));
    };
    let JsonBody(req) = body?;
    if req.kind != "progress" && req.kind != "outcome" {
        return Err(ApiError::bad_request(
            "invalid_kind",
            "`kind` must be progress or outcome.",
        ));
    }
    let text = text_field(&req.text, "missing_text", "The update")?;
    match store.complaint(complaint).await? {
        None => return Err(ApiError::not_found("That complaint")),
        Some(c) if c.status == "closed" => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "complaint_closed",
                "This complaint already has its outcome; it cannot be updated.",
            ))
        }
        Some(_) => {}
    }
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::ComplaintUpdated {
                complaint,
                staff,
                update: req.kind.clone(),
            },
        )
        .await?;
    let id = store
        .insert_complaint_update(complaint, &req.kind, &text, staff, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}
