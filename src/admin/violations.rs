//! Stopping a visit for a serious violation (R-CONDUCT-1) and the violation report to
//! the lawyer's law firm, the justice bureau and the bar association, with their findings
//! recorded back (R-CONDUCT-2).
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /admin/api/visits/{id}/stop` | operator | `{category, reason}`: ends the live visit now, files the violation, queues the reports |
//! | `GET /admin/api/violations` | operator, auditor | violations with their deliveries and findings |
//! | `POST /admin/api/violations/{id}/findings` | operator | `{from, text}`: a recipient's findings (`from`: `law_firm`, `justice_bureau`, `bar_association`) |
//!
//! Categories (exactly the conduct R-CONDUCT-1 names): `unapproved_person`,
//! `communication_device`, `relaying_to_outsiders`, `prohibited_items`, `other`.
//!
//! Order of a stop (docs/DESIGN.md invariant 3, audit first): the violation row is written,
//! then `staff_stop` and `violation_reported` are appended to the audit log together; only
//! then is the visit ended through the [`VisitHub`](crate::visit::VisitHub) (both sides
//! are told `stopped_by_staff`, media stops) and the reports queued in the outbox
//! ([`super::outbox`]). If the audit append fails, the violation row is removed, the
//! visit goes on, and the answer is 503 `audit_unavailable`. The audit entries carry the
//! category code and ids only; the free-text reason stays in the violation record and the
//! reports.

use crate::admin::roles::{Operator, OperatorOrAuditor};
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::json_body;
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::visit::EndReason;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde::Deserialize;

/// The recipients of every violation report (R-CONDUCT-2).
pub const RECIPIENTS: [&str; 3] = ["law_firm", "justice_bureau", "bar_association"];

/// A violation category: exactly the conduct R-CONDUCT-1 names, plus `other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    UnapprovedPerson,
    CommunicationDevice,
    RelayingToOutsiders,
    ProhibitedItems,
    Other,
}

impl Category {
    pub const ALL: [Category; 5] = [
        Category::UnapprovedPerson,
        Category::CommunicationDevice,
        Category::RelayingToOutsiders,
        Category::ProhibitedItems,
        Category::Other,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Category::UnapprovedPerson => "unapproved_person",
            Category::CommunicationDevice => "communication_device",
            Category::RelayingToOutsiders => "relaying_to_outsiders",
            Category::ProhibitedItems => "prohibited_items",
            Category::Other => "other",
        }
    }

    /// The category in words, as the reports state it.
    pub fn describe(self) -> &'static str {
        match self {
            Category::UnapprovedPerson => "an unapproved person was present",
            Category::CommunicationDevice => "a communication device was given to the detainee",
            Category::RelayingToOutsiders => "the visit was relayed to outsiders",
            Category::ProhibitedItems => "prohibited items were passed",
            Category::Other => "another serious violation",
        }
    }

    pub fn parse(s: &str) -> Option<Category> {
        Category::ALL.into_iter().find(|c| c.code() == s)
    }
}

/// Longest free text accepted (reasons, findings).
pub const MAX_TEXT: usize = 4000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/api/visits/{id}/stop", post(stop))
        .route("/admin/api/violations", get(list))
        .route("/admin/api/violations/{id}/findings", post(findings))
}

/// Free text: trimmed, 1 to [`MAX_TEXT`] characters.
pub fn text_field(text: &str, code: &'static str, what: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > MAX_TEXT {
        return Err(ApiError::bad_request(
            code,
            format!("{what} needs 1 to {MAX_TEXT} characters."),
        ));
    }
    Ok(t.to_owned())
}

fn path_id(
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<i64, ApiError> {
    id.map(|Path(id)| id).map_err(|_| {
        ApiError::bad_request(
            "malformed_request",
            "The id in the address must be a number.",
        )
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StopRequest {
    category: String,
    reason: String,
}

async fn stop(
    State(state): State<AppState>,
    Operator(staff): Operator,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let visit = VisitId(path_id(id)?);
    let req: StopRequest = json_body(&body)?;
    let Some(category) = Category::parse(&req.category) else {
        return Err(ApiError::bad_request(
            "invalid_category",
            "The category must be one of: unapproved_person, communication_device, relaying_to_outsiders, prohibited_items, other.",
        ));
    };
    let reason = text_field(&req.reason, "missing_reason", "The reason")?;
    let row = state
        .store
        .visit(visit)
        .await?
        .ok_or_else(|| ApiError::not_found("That visit"))?;
    if !state.hub.is_live(visit) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "visit_not_live",
            "Nobody is in this visit now, so there is nothing to stop.",
        ));
    }
    let now = Utc::now();
    let violation = state
        .store
        .insert_violation(visit, row.lawyer, category.code(), &reason, staff, now)
        .await?;
    let records = vec![
        AuditRecord::StaffStop {
            visit,
            staff,
            reason: category.code().into(),
        },
        AuditRecord::ViolationReported {
            visit,
            violation,
            category: category.code().into(),
        },
    ];
    if let Err(e) = state.audit.append_all(Actor::Staff(staff), records).await {
        if let Err(e) = state.store.discard_violation(violation).await {
            tracing::error!(violation, error = %e, "cannot remove a violation whose audit entry failed");
        }
        return Err(e.into());
    }
    state.hub.end(visit, EndReason::StoppedByStaff).await;
    crate::metrics::visit_stopped(category.code());
    tracing::info!(staff = %staff, visit = %visit, violation, category = category.code(), "visit stopped by staff");
    state
        .store
        .enqueue_deliveries(violation, &RECIPIENTS, now)
        .await?;
    state.outbox.wake();
    Ok(Json(serde_json::json!({
        "visit": visit,
        "violation": violation,
        "category": category.code(),
        "ended": true,
    })))
}

async fn list(
    State(state): State<AppState>,
    _s: OperatorOrAuditor,
) -> Result<Json<serde_json::Value>, ApiError> {
    let mut out = Vec::new();
    for v in state.store.violations().await? {
        let deliveries = state.store.deliveries_of(v.id).await?;
        let findings = state.store.findings_of(v.id).await?;
        out.push(serde_json::json!({
            "violation": v,
            "deliveries": deliveries,
            "findings": findings,
        }));
    }
    Ok(Json(serde_json::json!({ "violations": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingsRequest {
    from: String,
    text: String,
}

async fn findings(
    State(state): State<AppState>,
    Operator(staff): Operator,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let violation = path_id(id)?;
    let req: FindingsRequest = json_body(&body)?;
    if !RECIPIENTS.contains(&req.from.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_source",
            "`from` must be one of: law_firm, justice_bureau, bar_association.",
        ));
    }
    let text = text_field(&req.text, "missing_text", "The findings")?;
    if state.store.violation(violation).await?.is_none() {
        return Err(ApiError::not_found("That violation"));
    }
    state
        .audit
        .append(
            Actor::Staff(staff),
            AuditRecord::ViolationFindingsRecorded {
                violation,
                from: req.from.clone(),
            },
        )
        .await?;
    let id = state
        .store
        .insert_finding(violation, &req.from, &text, staff, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}
