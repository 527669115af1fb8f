//! Oversight statistics of one facility over a period (R-REPORT-1; rooms per 100
//! detainees: R-BOOK-5).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /admin/api/reports?facility=F&from=YYYY-MM-DD&to=YYYY-MM-DD` | auditor, operator | the report as JSON |
//! | `GET /admin/api/reports.csv?facility=F&from=...&to=...` | auditor, operator | the same figures as CSV (`text/csv; charset=utf-8`, an attachment) |
//!
//! The period is `from` to `to` inclusive, in the facility's local dates (its UTC
//! offset), at most [`MAX_DAYS`] days. The CSV is one tidy long table with the header
//! `metric,key,value`: `metric` names a figure (`visits.held`, `waiting.median_min`,
//! `refusals.by_reason`, ...), `key` is empty or the code the figure is broken down by (a
//! refusal reason, a violation category, a booth id), `value` a number (empty when not
//! defined, e.g. the median of no requests). One table loads into any spreadsheet or
//! `pandas`/`R` without per-section parsing.
//!
//! Files: [`figures`] (the figures and their arithmetic, plain functions with unit tests),
//! [`load`] (the query, and the rows from the store and the audit log; the SQL is in
//! `crate::store::reports`), [`table`] (the CSV rendering), here the routes.
//!
//! What each figure is:
//! - **visits**: `booked` visits overlapping the period (not cancelled or declined),
//!   `held` = those that started in the period (audit `visit_started`), `stopped` by staff.
//! - **waiting** (requests made in the period): from the request to the start of the slot
//!   it was placed in; median (the middle value, the mean of the two middle values for an
//!   even count) and p90 (nearest rank) in minutes, over placed requests.
//! - **deadline**: requests made in the period that are still owed a visit or got one
//!   (not cancelled, not declined); `within_48h` = placed with a slot starting by the
//!   48-hour deadline; `share_within_48h` = `within_48h / eligible`; `breaches` =
//!   requests escalated as `breached`, placed after their deadline, or still queued
//!   after it.
//! - **refusals**: the audit log's `admission_refused` entries in the period for the
//!   facility's visits or booths, counted by reason code.
//! - **manual_verifications** (R-VERIFY-2) and **violations** by category (R-CONDUCT-1).
//! - **complaints** about the facility's visits (R-COMPLAIN-1): filed, answered (any
//!   update), with an outcome, still open; hours to the first answer and to the outcome
//!   (median, p90) over those that have one.
//! - **utilisation**: booked (and held) minutes ÷ open minutes of the period, per booth and
//!   overall; open minutes are the facility's opening hours plus approved extended
//!   sessions, per booth.
//! - **rooms**: lawyer rooms (on site) per 100 detainees, beside the norm of 4 (R-BOOK-5).
//!
//! Does not: change anything, or show names, licence numbers, free text or IP addresses.

pub mod figures;
mod load;
pub mod table;

pub use figures::*;
pub use load::{ReportQuery, MAX_DAYS};
pub use table::{csv_rows, to_csv};

use load::QueryResult;

use crate::audit::Audit;
use crate::auth::Sessions;
use crate::http::extract::OperatorOrAuditor;
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::store::Store;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the report routes use.
#[derive(Clone, axum::extract::FromRef)]
pub struct ReportsRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
}

/// `GET /admin/api/reports`, `GET /admin/api/reports.csv` (admin listener).
pub fn admin_routes(state: ReportsRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(report_json))
        .routes(routes!(report_csv))
        .with_state(state)
}

/// The facility report as JSON.
#[utoipa::path(
    get,
    path = "/admin/api/reports",
    tag = "reports",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report (R-REPORT-1)", body = Report),
        (status = 400, description = "`malformed_request`, `missing_facility` or `invalid_period`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators and auditors only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such facility", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn report_json(
    State(store): State<Store>,
    State(audit): State<Audit>,
    _s: OperatorOrAuditor,
    query: QueryResult,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(load::load(&store, &audit, query).await?))
}

/// The same figures as a CSV attachment (`metric,key,value`).
#[utoipa::path(
    get,
    path = "/admin/api/reports.csv",
    tag = "reports",
    params(ReportQuery),
    responses(
        (status = 200, description = "The report as one long CSV table, an attachment", body = String, content_type = "text/csv; charset=utf-8"),
        (status = 400, description = "`malformed_request`, `missing_facility` or `invalid_period`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators and auditors only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such facility", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn report_csv(
    State(store): State<Store>,
    State(audit): State<Audit>,
    _s: OperatorOrAuditor,
    query: QueryResult,
) -> Result<Response, ApiError> {
    let report = load::load(&store, &audit, query).await?;
    let body = to_csv(&report).map_err(ApiError::internal)?;
    let name = format!(
        "attachment; filename=\"confer-report-{}-{}-{}.csv\"",
        report
            .facility
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect::<String>(),
        report.from,
        report.to
    );
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
