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

use crate::admin::roles::Operator;
use crate::admin::violations::text_field;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::{json_body, LawyerSession};
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::store::oversight::ComplaintRow;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

const ABOUT: [&str; 5] = ["refusal", "delay", "stop", "conduct", "other"];

/// Routes on the public listener (lawyers).
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/api/lawyer/complaint-contact", get(contact))
        .route("/api/lawyer/complaints", get(mine).post(file))
}

/// Routes on the admin listener (operators).
pub fn admin_router() -> Router<AppState> {
    Router::new()
        .route("/admin/api/complaints", get(all))
        .route("/admin/api/complaints/{id}/updates", post(update))
}

async fn contact(State(state): State<AppState>) -> Json<serde_json::Value> {
    let f = &state.config.facility;
    let configured = !f.complaint_department.trim().is_empty();
    Json(serde_json::json!({
        "configured": configured,
        "department": f.complaint_department,
        "address": f.complaint_address,
        "phone": f.complaint_phone,
        "message": if configured {
            "You may also complain in writing to this department; every complaint is registered and answered."
        } else {
            "The facility has not published a complaint contact yet; you can still file a complaint here."
        },
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRequest {
    #[serde(default)]
    visit: Option<i64>,
    about: String,
    text: String,
}

async fn file(
    State(state): State<AppState>,
    session: LawyerSession,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let lawyer = session.0;
    let req: FileRequest = json_body(&body)?;
    if !ABOUT.contains(&req.about.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_about",
            "Say what the complaint is about: refusal, delay, stop, conduct or other.",
        ));
    }
    let text = text_field(&req.text, "missing_text", "The complaint")?;
    let visit = match req.visit.map(VisitId) {
        Some(v) => match state.store.visit(v).await? {
            Some(row) if row.lawyer == lawyer => Some(v),
            _ => return Err(ApiError::not_found("That visit of yours")),
        },
        None => None,
    };
    let id = state
        .store
        .insert_complaint(lawyer, visit, &req.about, &text, Utc::now())
        .await?;
    let record = AuditRecord::ComplaintFiled {
        complaint: id,
        lawyer,
        visit,
    };
    if let Err(e) = state.audit.append(Actor::Lawyer(lawyer), record).await {
        if let Err(e) = state.store.discard_complaint(id).await {
            tracing::error!(complaint = id, error = %e, "cannot remove a complaint whose audit entry failed");
        }
        return Err(e.into());
    }
    tracing::info!(complaint = id, lawyer = %lawyer, "complaint filed");
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

async fn with_updates(
    state: &AppState,
    rows: Vec<ComplaintRow>,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let updates = state.store.complaint_updates(c.id).await?;
        let mut v = serde_json::to_value(&c).map_err(ApiError::internal)?;
        v["updates"] = serde_json::to_value(updates).map_err(ApiError::internal)?;
        out.push(v);
    }
    Ok(out)
}

async fn mine(
    State(state): State<AppState>,
    session: LawyerSession,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.complaints(Some(session.0)).await?;
    Ok(Json(
        serde_json::json!({ "complaints": with_updates(&state, rows).await? }),
    ))
}

async fn all(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.complaints(None).await?;
    Ok(Json(
        serde_json::json!({ "complaints": with_updates(&state, rows).await? }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    kind: String,
    text: String,
}

async fn update(
    State(state): State<AppState>,
    Operator(staff): Operator,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let Ok(Path(complaint)) = id else {
        return Err(ApiError::bad_request(
            "malformed_request",
            "The id in the address must be a number.",
        ));
    };
    let req: UpdateRequest = json_body(&body)?;
    if req.kind != "progress" && req.kind != "outcome" {
        return Err(ApiError::bad_request(
            "invalid_kind",
            "`kind` must be progress or outcome.",
        ));
    }
    let text = text_field(&req.text, "missing_text", "The update")?;
    match state.store.complaint(complaint).await? {
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
    state
        .audit
        .append(
            Actor::Staff(staff),
            AuditRecord::ComplaintUpdated {
                complaint,
                staff,
                update: req.kind.clone(),
            },
        )
        .await?;
    let id = state
        .store
        .insert_complaint_update(complaint, &req.kind, &text, staff, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}
