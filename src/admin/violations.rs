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
//!
//! Does not: deliver the reports (the outbox worker, [`super::outbox`]) or end the visit
//! itself (the hub does, docs/DESIGN.md invariant 8).

use super::outbox::Outbox;
use super::Created;
use crate::admin::roles::{Operator, OperatorOrAuditor};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::Sessions;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::store::oversight::{DeliveryRow, FindingRow, ViolationRow};
use crate::store::Store;
use crate::visit::{EndReason, VisitHub};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use crate::model::violation::Category;

/// The recipients of every violation report (R-CONDUCT-2).
pub const RECIPIENTS: [&str; 3] = ["law_firm", "justice_bureau", "bar_association"];

/// Longest free text accepted (reasons, findings).
pub const MAX_TEXT: usize = 4000;

/// What the violation routes use: the hub (to end the visit), the outbox (to wake its
/// worker), the store, the audit log and staff sessions.
#[derive(Clone, axum::extract::FromRef)]
pub struct ViolationsRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
    pub hub: VisitHub,
    pub outbox: Outbox,
}

/// The routes of the table above (admin listener).
pub fn admin_routes(state: ViolationsRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(stop))
        .routes(routes!(list))
        .routes(routes!(findings))
        .with_state(state)
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StopRequest {
    /// `unapproved_person`, `communication_device`, `relaying_to_outsiders`,
    /// `prohibited_items` or `other`.
    category: String,
    /// What happened (stays in the violation record and the reports, not in the audit log).
    reason: String,
}

/// A stopped visit and its violation.
#[derive(Serialize, ToSchema)]
pub struct Stopped {
    visit: i64,
    violation: i64,
    category: &'static str,
    /// Always `true`: the visit has ended.
    ended: bool,
}

#[utoipa::path(
    post,
    path = "/admin/api/visits/{id}/stop",
    tag = "admin",
    params(("id" = i64, Path, description = "The live visit")),
    request_body = StopRequest,
    responses(
        (status = 200, description = "The visit ended for a violation (audited first, R-CONDUCT-1); the reports are queued (R-CONDUCT-2)", body = Stopped),
        (status = 400, description = "`malformed_request`, `invalid_category` or `missing_reason`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "`visit_not_live`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` (the visit goes on) or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn stop(
    State(store): State<Store>,
    State(audit): State<Audit>,
    State(hub): State<VisitHub>,
    State(outbox): State<Outbox>,
    Operator(staff): Operator,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<JsonBody<StopRequest>, ApiError>,
) -> Result<Json<Stopped>, ApiError> {
    let visit = VisitId(path_id(id)?);
    let JsonBody(req) = body?;
    let Some(category) = Category::parse(&req.category) else {
        return Err(ApiError::bad_request(
            "invalid_category",
            "The category must be one of: unapproved_person, communication_device, relaying_to_outsiders, prohibited_items, other.",
        ));
    };
    let reason = text_field(&req.reason, "missing_reason", "The reason")?;
    let row = store
        .visit(visit)
        .await?
        .ok_or_else(|| ApiError::not_found("That visit"))?;
    if !hub.is_live(visit) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "visit_not_live",
            "Nobody is in this visit now, so there is nothing to stop.",
        ));
    }
    let now = Utc::now();
    let violation = store
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
    if let Err(e) = audit.append_all(Actor::Staff(staff), records).await {
        if let Err(e) = store.discard_violation(violation).await {
            tracing::error!(violation, error = %e, "cannot remove a violation whose audit entry failed");
        }
        return Err(e.into());
    }
    hub.end(visit, EndReason::StoppedByStaff).await;
    crate::metrics::visit_stopped(category.code());
    tracing::info!(staff = %staff, visit = %visit, violation, category = category.code(), "visit stopped by staff");
    store
        .enqueue_deliveries(violation, &RECIPIENTS, now)
        .await?;
    outbox.wake();
    Ok(Json(Stopped {
        visit: visit.0,
        violation,
        category: category.code(),
        ended: true,
    }))
}

/// A violation with its report deliveries and the findings recorded back.
#[derive(Serialize, ToSchema)]
pub struct ViolationView {
    /// `id`, `visit`, `lawyer`, `category`, `reason`, `stopped_by`, `stopped_at`.
    #[schema(value_type = Object)]
    violation: ViolationRow,
    /// Per recipient: `recipient`, `attempts`, `next_attempt_at`, `last_error`, `delivered_at`.
    #[schema(value_type = Vec<Object>)]
    deliveries: Vec<DeliveryRow>,
    /// `id`, `source`, `text`, `recorded_by`, `recorded_at`.
    #[schema(value_type = Vec<Object>)]
    findings: Vec<FindingRow>,
}

#[derive(Serialize, ToSchema)]
pub struct ViolationList {
    violations: Vec<ViolationView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/violations",
    tag = "admin",
    responses(
        (status = 200, description = "Violations with their deliveries and findings", body = ViolationList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators and auditors only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn list(
    State(store): State<Store>,
    _s: OperatorOrAuditor,
) -> Result<Json<ViolationList>, ApiError> {
    let mut violations = Vec::new();
    for v in store.violations().await? {
        let deliveries = store.deliveries_of(v.id).await?;
        let findings = store.findings_of(v.id).await?;
        violations.push(ViolationView {
            violation: v,
            deliveries,
            findings,
        });
    }
    Ok(Json(ViolationList { violations }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FindingsRequest {
    /// `law_firm`, `justice_bureau` or `bar_association`.
    from: String,
    text: String,
}

#[utoipa::path(
    post,
    path = "/admin/api/violations/{id}/findings",
    tag = "admin",
    params(("id" = i64, Path, description = "The violation")),
    request_body = FindingsRequest,
    responses(
        (status = 201, description = "The findings recorded (audited first, R-CONDUCT-2)", body = Created),
        (status = 400, description = "`malformed_request`, `invalid_source` or `missing_text`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such violation", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn findings(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
    body: Result<JsonBody<FindingsRequest>, ApiError>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let violation = path_id(id)?;
    let JsonBody(req) = body?;
    if !RECIPIENTS.contains(&req.from.as_str()) {
        return Err(ApiError::bad_request(
            "invalid_source",
            "`from` must be one of: law_firm, justice_bureau, bar_association.",
        ));
    }
    let text = text_field(&req.text, "missing_text", "The findings")?;
    if store.violation(violation).await?.is_none() {
        return Err(ApiError::not_found("That violation"));
    }
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::ViolationFindingsRecorded {
                violation,
                from: req.from.clone(),
            },
        )
        .await?;
    let id = store
        .insert_finding(violation, &req.from, &text, staff, Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}
