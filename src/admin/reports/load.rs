//! The rows a report is computed from (R-REPORT-1): the facility's calendar, booths,
//! visits, requests, manual verifications, violations and complaints from the store, and
//! refusals and visit starts from the audit log (paged). Owns the query ([`ReportQuery`],
//! at most [`MAX_DAYS`] days), checks it (facility, period) and hands the rows to
//! [`super::figures::build`]; does no arithmetic itself.

use super::figures::{build, period_bounds, Report, ReportInput};
use crate::audit::Audit;
use crate::http::ApiError;
use crate::ids::{BoothId, FacilityId, VisitId};
use crate::schedule::BoothKind;
use crate::store::audit::AuditFilter;
use crate::store::Store;
use axum::extract::Query;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use utoipa::IntoParams;

/// The longest period one report covers.
pub const MAX_DAYS: i64 = 366;

/// Which report: the facility and the period in its local dates.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The facility's id.
    facility: Option<String>,
    /// The first day, `YYYY-MM-DD` (the facility's local date).
    from: Option<String>,
    /// The last day, inclusive, `YYYY-MM-DD`; at most 366 days after `from`.
    to: Option<String>,
}

/// The query as the handlers receive it (a malformed one is refused by [`load`]).
pub(super) type QueryResult = Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>;

/// Audit entries read per page while counting refusals and starts.
const AUDIT_PAGE: u32 = 1000;

fn bad_period() -> ApiError {
    ApiError::bad_request(
        "invalid_period",
        format!(
            "Give the period as from=YYYY-MM-DD&to=YYYY-MM-DD (from not after to, at most {MAX_DAYS} days)."
        ),
    )
}

pub(super) async fn load(
    store: &Store,
    audit: &Audit,
    query: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Report, ApiError> {
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!(
                "The query is not valid: {}.",
                e.body_text().trim_end_matches('.')
            ),
        )
    })?;
    let facility = q.facility.filter(|f| !f.trim().is_empty()).ok_or_else(|| {
        ApiError::bad_request(
            "missing_facility",
            "Say which facility the report is for: facility=ID.",
        )
    })?;
    let date = |s: Option<String>| {
        s.and_then(|s| NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok())
            .ok_or_else(bad_period)
    };
    let (from, to) = (date(q.from)?, date(q.to)?);
    if to < from || (to - from).num_days() >= MAX_DAYS {
        return Err(bad_period());
    }
    let facility = FacilityId(facility);
    let cal = store
        .facility_calendar(&facility)
        .await?
        .ok_or_else(|| ApiError::not_found("That facility"))?;
    let (start, end) =
        period_bounds(from, to, cal.calendar.utc_offset_min).ok_or_else(bad_period)?;
    let now = Utc::now();
    let booths: Vec<(BoothId, BoothKind, bool)> = store
        .schedule_booths(&facility)
        .await?
        .into_iter()
        .map(|b| (b.booth.id, b.booth.kind, b.remote_station.is_some()))
        .collect();
    let visits = store.report_visits(&facility, start, end).await?;
    let requests = store.report_requests(&facility, start, end).await?;
    let manual_verifications = store
        .report_manual_verifications(&facility, start, end)
        .await?;
    let violations = store.report_violations(&facility, start, end).await?;
    let complaints = store.report_complaints(&facility, start, end).await?;
    // Refusals and starts come from the audit log: the gate records every refusal there
    // with its reason code, and the hub records each start.
    let visit_ids: HashSet<VisitId> = visits.iter().map(|v| v.id).collect();
    let booth_ids: HashSet<&BoothId> = booths.iter().map(|b| &b.0).collect();
    let mut refusals = Vec::new();
    let mut started = HashMap::new();
    let mut after = 0u64;
    loop {
        let filter = AuditFilter {
            from_ms: Some(start.timestamp_millis()),
            to_ms: Some(end.timestamp_millis() - 1),
            after_seq: after,
            limit: AUDIT_PAGE,
            ..AuditFilter::default()
        };
        let page = audit.query(&filter).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            let kind = e.record.get("kind").and_then(|k| k.as_str());
            let ours = e.subjects.visit.is_some_and(|v| visit_ids.contains(&v))
                || e.subjects
                    .booth
                    .as_ref()
                    .is_some_and(|b| booth_ids.contains(b));
            if !ours {
                continue;
            }
            match kind {
                Some("admission_refused") => {
                    let reason = e.record.get("reason").and_then(|r| r.as_str());
                    refusals.push(reason.unwrap_or("unknown").to_owned());
                }
                Some("visit_started") => {
                    if let (Some(v), Ok(t)) =
                        (e.subjects.visit, DateTime::parse_from_rfc3339(&e.time))
                    {
                        started.entry(v).or_insert(t.with_timezone(&Utc));
                    }
                }
                _ => {}
            }
        }
        if page.len() < AUDIT_PAGE as usize {
            break;
        }
    }
    let input = ReportInput {
        facility,
        from,
        to,
        start,
        end,
        detainees: cal.detainee_count,
        calendar: cal.calendar,
        booths,
        visits,
        requests,
        manual_verifications,
        violations,
        complaints,
        refusals,
        started,
    };
    Ok(build(&input, now))
}
