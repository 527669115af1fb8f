//! The figures of a facility report (R-REPORT-1, R-BOOK-5) and the pure arithmetic that
//! computes them from rows ([`build`]): medians, percentiles, shares, 48-hour compliance,
//! utilisation. No I/O and no clock: the rows and `now` come in as arguments (the
//! queries are in [`super::load`], the CSV rendering in [`super::table`]).

use crate::ids::{BoothId, FacilityId, VisitId};
use crate::model::time::rfc3339;
use crate::schedule::{rooms_per_100, BoothKind, Calendar, Window, ROOMS_PER_100_NORM};
use crate::store::reports::{ReportComplaint, ReportRequest, ReportVisit};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;

/// A facility report (see the module doc for what each figure means).
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct Report {
    pub facility: String,
    pub from: String,
    pub to: String,
    pub period_start: String,
    pub period_end: String,
    pub generated_at: String,
    pub visits: VisitFigures,
    pub waiting: Waiting,
    pub deadline: DeadlineFigures,
    pub refusals: Breakdown,
    pub manual_verifications: u64,
    pub violations: Breakdown,
    pub complaints: ComplaintFigures,
    pub utilisation: Utilisation,
    pub rooms: Rooms,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct VisitFigures {
    pub booked: u64,
    pub held: u64,
    pub stopped: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct Waiting {
    pub requests: u64,
    pub placed: u64,
    pub median_min: Option<f64>,
    pub p90_min: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct DeadlineFigures {
    pub eligible: u64,
    pub within_48h: u64,
    pub share_within_48h: Option<f64>,
    pub breaches: u64,
}

/// A total and its split by code (sorted by code).
#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct Breakdown {
    pub total: u64,
    pub by_code: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct ComplaintFigures {
    pub filed: u64,
    pub answered: u64,
    pub with_outcome: u64,
    pub open: u64,
    pub by_about: BTreeMap<String, u64>,
    pub first_answer_hours_median: Option<f64>,
    pub first_answer_hours_p90: Option<f64>,
    pub outcome_hours_median: Option<f64>,
    pub outcome_hours_p90: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct BoothUse {
    pub booth: String,
    pub kind: String,
    pub open_min: f64,
    pub booked_min: f64,
    pub held_min: f64,
    pub booked_share: Option<f64>,
    pub held_share: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct Utilisation {
    pub open_min: f64,
    pub booked_min: f64,
    pub held_min: f64,
    pub booked_share: Option<f64>,
    pub held_share: Option<f64>,
    pub booths: Vec<BoothUse>,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq, ToSchema)]
pub struct Rooms {
    pub lawyer_rooms: u64,
    pub detainees: u32,
    pub per_100_detainees: Option<f64>,
    pub norm_per_100: f64,
}

/// The median of `values` (mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// The `p`-th percentile (0 < p ≤ 100) by the nearest-rank method.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    Some(v[rank.clamp(1, v.len()) - 1])
}

/// `part / whole`, `None` for an empty whole.
pub fn share(part: f64, whole: f64) -> Option<f64> {
    (whole > 0.0).then(|| part / whole)
}

fn minutes(d: Duration) -> f64 {
    d.num_milliseconds() as f64 / 60_000.0
}

/// Waiting times (request to slot start) of the placed requests.
pub fn waiting(requests: &[ReportRequest]) -> Waiting {
    let waits: Vec<f64> = requests
        .iter()
        .filter(|r| r.status == "placed")
        .filter_map(|r| {
            r.visit_starts_at
                .map(|s| minutes(s - r.requested_at).max(0.0))
        })
        .collect();
    Waiting {
        requests: requests.len() as u64,
        placed: waits.len() as u64,
        median_min: median(&waits),
        p90_min: percentile(&waits, 90.0),
    }
}

/// 48-hour compliance of the requests at `now`.
pub fn deadline(requests: &[ReportRequest], now: DateTime<Utc>) -> DeadlineFigures {
    let mut f = DeadlineFigures::default();
    for r in requests {
        if r.status == "cancelled" || r.status == "declined" {
            continue;
        }
        f.eligible += 1;
        let placed_start = (r.status == "placed")
            .then_some(r.visit_starts_at)
            .flatten();
        let within = placed_start.is_some_and(|s| s <= r.deadline_at);
        if within {
            f.within_48h += 1;
        }
        let breached = r.escalation.as_deref() == Some("breached")
            || placed_start.is_some_and(|s| s > r.deadline_at)
            || (r.status == "queued" && now > r.deadline_at);
        if breached {
            f.breaches += 1;
        }
    }
    f.share_within_48h = share(f.within_48h as f64, f.eligible as f64);
    f
}

/// Count codes into a breakdown.
pub fn breakdown<'a>(codes: impl IntoIterator<Item = &'a str>) -> Breakdown {
    let mut b = Breakdown::default();
    for c in codes {
        b.total += 1;
        *b.by_code.entry(c.to_owned()).or_default() += 1;
    }
    b
}

/// Complaint counts and answer times.
pub fn complaints(rows: &[ReportComplaint]) -> ComplaintFigures {
    let hours = |d: Duration| d.num_milliseconds() as f64 / 3_600_000.0;
    let first: Vec<f64> = rows
        .iter()
        .filter_map(|c| c.first_update_at.map(|t| hours(t - c.filed_at).max(0.0)))
        .collect();
    let outcome: Vec<f64> = rows
        .iter()
        .filter_map(|c| c.outcome_at.map(|t| hours(t - c.filed_at).max(0.0)))
        .collect();
    let mut by_about = BTreeMap::new();
    for c in rows {
        *by_about.entry(c.about.clone()).or_default() += 1;
    }
    ComplaintFigures {
        filed: rows.len() as u64,
        answered: first.len() as u64,
        with_outcome: outcome.len() as u64,
        open: rows.iter().filter(|c| c.status != "closed").count() as u64,
        by_about,
        first_answer_hours_median: median(&first),
        first_answer_hours_p90: percentile(&first, 90.0),
        outcome_hours_median: median(&outcome),
        outcome_hours_p90: percentile(&outcome, 90.0),
    }
}

/// Minutes of `[s, e)` inside the windows (sorted, non-overlapping).
pub fn overlap_min(windows: &[Window], s: DateTime<Utc>, e: DateTime<Utc>) -> f64 {
    windows
        .iter()
        .map(|w| {
            let a = w.0.max(s);
            let b = w.1.min(e);
            if b > a {
                minutes(b - a)
            } else {
                0.0
            }
        })
        .sum()
}

/// Whether a visit counts as booked (not called off before it could take place).
fn is_booked(v: &ReportVisit) -> bool {
    !matches!(v.end_reason.as_deref(), Some("cancelled" | "declined"))
}

/// Booth utilisation: booked minutes (the slots of booked visits) and held minutes (from
/// the start to the end, or the slot end, or `now`) inside the open windows of the period,
/// over the open minutes, per booth and overall.
pub fn utilisation(
    booths: &[(BoothId, BoothKind)],
    open: &[Window],
    visits: &[ReportVisit],
    started: &HashMap<VisitId, DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Utilisation {
    let open_per_booth: f64 = open.iter().map(|w| minutes(w.1 - w.0)).sum();
    let mut u = Utilisation::default();
    for (id, kind) in booths {
        let mut b = BoothUse {
            booth: id.as_str().to_owned(),
            kind: kind.as_str().to_owned(),
            open_min: open_per_booth,
            ..BoothUse::default()
        };
        for v in visits.iter().filter(|v| &v.booth == id && is_booked(v)) {
            b.booked_min += overlap_min(open, v.starts_at, v.ends_at);
            if let Some(start) = started.get(&v.id) {
                let end = v.ended_at.unwrap_or_else(|| v.ends_at.min(now));
                b.held_min += overlap_min(open, *start, end);
            }
        }
        b.booked_share = share(b.booked_min, b.open_min);
        b.held_share = share(b.held_min, b.open_min);
        u.open_min += b.open_min;
        u.booked_min += b.booked_min;
        u.held_min += b.held_min;
        u.booths.push(b);
    }
    u.booked_share = share(u.booked_min, u.open_min);
    u.held_share = share(u.held_min, u.open_min);
    u
}

/// The UTC bounds `[start, end)` of local dates `from..=to` at a fixed offset.
pub fn period_bounds(
    from: NaiveDate,
    to: NaiveDate,
    utc_offset_min: i32,
) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let offset = Duration::minutes(utc_offset_min as i64);
    let start = from.and_hms_opt(0, 0, 0)?.and_utc() - offset;
    let end = to.succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc() - offset;
    Some((start, end))
}

/// Everything a report is computed from (rows of the store and the audit log).
pub struct ReportInput {
    pub facility: FacilityId,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub calendar: Calendar,
    pub detainees: u32,
    /// Booths with kind and whether they are a remote (police-station) booth.
    pub booths: Vec<(BoothId, BoothKind, bool)>,
    pub visits: Vec<ReportVisit>,
    pub requests: Vec<ReportRequest>,
    pub manual_verifications: u64,
    pub violations: Vec<String>,
    pub complaints: Vec<ReportComplaint>,
    /// Refusal reason codes of the facility's visits and booths in the period.
    pub refusals: Vec<String>,
    /// Visits of the facility that started in the period, with their start.
    pub started: HashMap<VisitId, DateTime<Utc>>,
}

/// The report of `input` at `now`.
pub fn build(input: &ReportInput, now: DateTime<Utc>) -> Report {
    let open = input.calendar.extended_windows(input.start, input.end);
    let booth_kinds: Vec<(BoothId, BoothKind)> = input
        .booths
        .iter()
        .map(|(id, kind, _)| (id.clone(), *kind))
        .collect();
    let booked: Vec<&ReportVisit> = input.visits.iter().filter(|v| is_booked(v)).collect();
    let visits = VisitFigures {
        booked: booked.len() as u64,
        held: input
            .visits
            .iter()
            .filter(|v| input.started.contains_key(&v.id))
            .count() as u64,
        stopped: input
            .visits
            .iter()
            .filter(|v| v.end_reason.as_deref() == Some("stopped_by_staff"))
            .count() as u64,
    };
    let lawyer_rooms = input
        .booths
        .iter()
        .filter(|(_, kind, remote)| *kind == BoothKind::LawyerRoom && !remote)
        .count();
    Report {
        facility: input.facility.as_str().to_owned(),
        from: input.from.to_string(),
        to: input.to.to_string(),
        period_start: rfc3339(input.start),
        period_end: rfc3339(input.end),
        generated_at: rfc3339(now),
        visits,
        waiting: waiting(&input.requests),
        deadline: deadline(&input.requests, now),
        refusals: breakdown(input.refusals.iter().map(String::as_str)),
        manual_verifications: input.manual_verifications,
        violations: breakdown(input.violations.iter().map(String::as_str)),
        complaints: complaints(&input.complaints),
        utilisation: utilisation(&booth_kinds, &open, &input.visits, &input.started, now),
        rooms: Rooms {
            lawyer_rooms: lawyer_rooms as u64,
            detainees: input.detainees,
            per_100_detainees: rooms_per_100(lawyer_rooms, input.detainees),
            norm_per_100: ROOMS_PER_100_NORM,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() + Duration::hours(h)
    }

    fn req(at: i64, status: &str, start: Option<i64>, esc: Option<&str>) -> ReportRequest {
        ReportRequest {
            requested_at: t(at),
            deadline_at: t(at + 48),
            status: status.into(),
            escalation: esc.map(str::to_owned),
            visit_starts_at: start.map(t),
        }
    }

    #[test]
    fn median_and_p90_by_nearest_rank() {
        // R-REPORT-1: waiting-time median and p90.
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        let v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&v, 90.0), Some(9.0));
        assert_eq!(percentile(&v, 100.0), Some(10.0));
        assert_eq!(percentile(&[5.0], 90.0), Some(5.0));
        assert_eq!(percentile(&[1.0, 2.0], 90.0), Some(2.0));
        assert_eq!(percentile(&[], 90.0), None);
        assert_eq!(percentile(&v, 0.0), None);
    }

    #[test]
    fn waiting_counts_placed_requests_only() {
        let rows = [
            req(0, "placed", Some(2), None),
            req(0, "placed", Some(10), None),
            req(0, "placed", Some(60), Some("breached")),
            req(1, "queued", None, None),
            req(1, "cancelled", None, None),
        ];
        let w = waiting(&rows);
        assert_eq!((w.requests, w.placed), (5, 3));
        assert_eq!(w.median_min, Some(600.0));
        assert_eq!(w.p90_min, Some(3600.0));
    }

    #[test]
    fn deadline_share_and_breaches() {
        // R-ARRANGE 48-hour rule as a report figure: placed by the deadline counts as served.
        let now = t(100);
        let rows = [
            req(0, "placed", Some(47), None),             // within
            req(0, "placed", Some(49), None),             // placed late: breach
            req(0, "placed", Some(70), Some("breached")), // late and escalated: one breach
            req(10, "queued", None, None),                // deadline t(58) passed: breach
            req(90, "queued", None, None),                // still in time
            req(0, "cancelled", None, None),              // not eligible
            req(0, "declined", None, Some("breached")),   // not eligible
        ];
        let d = deadline(&rows, now);
        assert_eq!(d.eligible, 5);
        assert_eq!(d.within_48h, 1);
        assert_eq!(d.breaches, 3);
        assert_eq!(d.share_within_48h, Some(0.2));
        assert_eq!(deadline(&[], now).share_within_48h, None);
    }

    #[test]
    fn complaint_answer_times_in_hours() {
        let c =
            |filed: i64, first: Option<i64>, outcome: Option<i64>, status: &str| ReportComplaint {
                about: "delay".into(),
                status: status.into(),
                filed_at: t(filed),
                first_update_at: first.map(t),
                outcome_at: outcome.map(t),
            };
        let f = complaints(&[
            c(0, Some(2), Some(24), "closed"),
            c(0, Some(4), None, "in_progress"),
            c(0, None, None, "open"),
        ]);
        assert_eq!((f.filed, f.answered, f.with_outcome, f.open), (3, 2, 1, 2));
        assert_eq!(f.first_answer_hours_median, Some(3.0));
        assert_eq!(f.first_answer_hours_p90, Some(4.0));
        assert_eq!(f.outcome_hours_median, Some(24.0));
        assert_eq!(f.by_about.get("delay"), Some(&3));
    }

    #[test]
    fn utilisation_is_booked_minutes_over_open_minutes() {
        let open = vec![(t(8), t(12)), (t(13), t(17))]; // 8 open hours per booth
        let booths = vec![
            (BoothId("b1".into()), BoothKind::LawyerRoom),
            (BoothId("b2".into()), BoothKind::FastRoom),
        ];
        let v = |id: i64, booth: &str, s: i64, e: i64, reason: Option<&str>| ReportVisit {
            id: VisitId(id),
            booth: BoothId(booth.into()),
            starts_at: t(s),
            ends_at: t(e),
            ended_at: None,
            end_reason: reason.map(str::to_owned),
        };
        let visits = vec![
            v(1, "b1", 9, 11, None),               // 120 min
            v(2, "b1", 11, 14, None),              // 60 + 60 inside (lunch excluded)
            v(3, "b2", 9, 10, Some("cancelled")),  // not booked
            v(4, "b2", 16, 18, Some("slot_over")), // 60 inside
        ];
        let mut started = HashMap::new();
        started.insert(VisitId(1), t(9) + Duration::minutes(30));
        let u = utilisation(&booths, &open, &visits, &started, t(20));
        assert_eq!(u.booths[0].open_min, 480.0);
        assert_eq!(u.booths[0].booked_min, 240.0);
        assert_eq!(u.booths[0].booked_share, Some(0.5));
        assert_eq!(u.booths[0].held_min, 90.0);
        assert_eq!(u.booths[1].booked_min, 60.0);
        assert_eq!(u.open_min, 960.0);
        assert_eq!(u.booked_share, Some(300.0 / 960.0));
        assert_eq!(
            utilisation(&[], &open, &visits, &started, t(20)).booked_share,
            None
        );
    }

    #[test]
    fn period_is_local_dates_inclusive() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let (s, e) = period_bounds(d("2026-03-02"), d("2026-03-03"), 480).unwrap();
        assert_eq!(s, t(-8));
        assert_eq!(e, t(40));
    }
}
