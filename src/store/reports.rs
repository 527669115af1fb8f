//! The rows behind a facility report (R-REPORT-1): visits, requests, manual
//! verifications, violations and complaints of one facility and period. Codes, counts
//! and times only: no names, licence numbers, free text or addresses leave this module.
//! Every figure is computed by `crate::admin::reports` from these rows.

use super::{from_ms, ms, Result, Store};
use crate::ids::FacilityId;
use crate::ids::{BoothId, VisitId};
use chrono::{DateTime, Utc};
use sqlx::Row;

/// A visit of the facility's booths whose slot overlaps the period.
#[derive(Debug, Clone)]
pub struct ReportVisit {
    pub id: VisitId,
    pub booth: BoothId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
}

/// A visit request made in the period, with its visit's slot start when placed.
#[derive(Debug, Clone)]
pub struct ReportRequest {
    pub requested_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub status: String,
    pub escalation: Option<String>,
    pub visit_starts_at: Option<DateTime<Utc>>,
}

/// A complaint about a visit of the facility filed in the period, with its first answer
/// (any update) and its outcome.
#[derive(Debug, Clone)]
pub struct ReportComplaint {
    pub about: String,
    pub status: String,
    pub filed_at: DateTime<Utc>,
    pub first_update_at: Option<DateTime<Utc>>,
    pub outcome_at: Option<DateTime<Utc>>,
}

impl Store {
    /// Visits on the facility's booths whose slot overlaps `[from, until)`.
    pub async fn report_visits(
        &self,
        f: &FacilityId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ReportVisit>> {
        let rows = sqlx::query(
            "SELECT v.id, v.booth_id, v.starts_at, v.ends_at, v.ended_at, v.end_reason \
             FROM visits v JOIN booths b ON b.id = v.booth_id \
             WHERE b.facility_id = $1 AND v.starts_at < $2 AND v.ends_at > $3 ORDER BY v.starts_at, v.id",
        )
        .bind(f.as_str())
        .bind(ms(until))
        .bind(ms(from))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ReportVisit {
                id: VisitId(r.get(0)),
                booth: BoothId(r.get(1)),
                starts_at: from_ms(r.get(2)),
                ends_at: from_ms(r.get(3)),
                ended_at: r.get::<Option<i64>, _>(4).map(from_ms),
                end_reason: r.get(5),
            })
            .collect())
    }

    /// Requests to the facility made in `[from, until)`.
    pub async fn report_requests(
        &self,
        f: &FacilityId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ReportRequest>> {
        let rows = sqlx::query(
            "SELECT r.requested_at, r.deadline_at, r.status, r.escalation, v.starts_at \
             FROM visit_requests r LEFT JOIN visits v ON v.id = r.visit_id \
             WHERE r.facility_id = $1 AND r.requested_at >= $2 AND r.requested_at < $3 \
             ORDER BY r.requested_at, r.id",
        )
        .bind(f.as_str())
        .bind(ms(from))
        .bind(ms(until))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ReportRequest {
                requested_at: from_ms(r.get(0)),
                deadline_at: from_ms(r.get(1)),
                status: r.get(2),
                escalation: r.get(3),
                visit_starts_at: r.get::<Option<i64>, _>(4).map(from_ms),
            })
            .collect())
    }

    /// Manual licence verifications (R-VERIFY-2) recorded in `[from, until)` for visits
    /// of the facility.
    pub async fn report_manual_verifications(
        &self,
        f: &FacilityId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM manual_verifications m JOIN visits v ON v.id = m.visit_id \
             JOIN booths b ON b.id = v.booth_id \
             WHERE b.facility_id = $1 AND m.verified_at >= $2 AND m.verified_at < $3",
        )
        .bind(f.as_str())
        .bind(ms(from))
        .bind(ms(until))
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The category codes of violations filed in `[from, until)` on the facility's visits.
    pub async fn report_violations(
        &self,
        f: &FacilityId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query(
            "SELECT x.category FROM violations x JOIN visits v ON v.id = x.visit_id \
             JOIN booths b ON b.id = v.booth_id \
             WHERE b.facility_id = $1 AND x.stopped_at >= $2 AND x.stopped_at < $3 ORDER BY x.id",
        )
        .bind(f.as_str())
        .bind(ms(from))
        .bind(ms(until))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Complaints filed in `[from, until)` about a visit of the facility.
    pub async fn report_complaints(
        &self,
        f: &FacilityId,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Vec<ReportComplaint>> {
        let rows = sqlx::query(
            "SELECT c.about, c.status, c.filed_at, \
             (SELECT MIN(u.recorded_at) FROM complaint_updates u WHERE u.complaint_id = c.id), \
             (SELECT MIN(u.recorded_at) FROM complaint_updates u WHERE u.complaint_id = c.id AND u.kind = 'outcome') \
             FROM complaints c JOIN visits v ON v.id = c.visit_id JOIN booths b ON b.id = v.booth_id \
             WHERE b.facility_id = $1 AND c.filed_at >= $2 AND c.filed_at < $3 ORDER BY c.id",
        )
        .bind(f.as_str())
        .bind(ms(from))
        .bind(ms(until))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ReportComplaint {
                about: r.get(0),
                status: r.get(1),
                filed_at: from_ms(r.get(2)),
                first_update_at: r.get::<Option<i64>, _>(3).map(from_ms),
                outcome_at: r.get::<Option<i64>, _>(4).map(from_ms),
            })
            .collect())
    }
}
