//! Rows of the scheduler (R-BOOK-1..5, `migrations/0006_schedule.sql`): facility calendars,
//! booth kinds, extended sessions, visit requests and the walk-in queue. It stores and
//! returns rows; every decision is `crate::schedule`'s.

use super::{from_ms, ms, Result, Store, StoreError};
use crate::ids::{AdminId, BoothId, DetaineeId, FacilityId, LawyerId, VisitId};
use crate::model::schedule::{
    Booth, BoothKind, Calendar, Channel, Existing, ExtendedSession, OpeningHours, RequestId,
    SlotLengths,
};
use chrono::{DateTime, Duration, NaiveDate, Utc, Weekday};
use sqlx::Row;
use std::collections::BTreeSet;

/// A facility with its calendar and what reports show about it.
#[derive(Debug, Clone)]
pub struct FacilityCalendar {
    pub name: String,
    pub detainee_count: u32,
    pub calendar: Calendar,
}

/// Facility settings staff can change.
#[derive(Debug, Clone)]
pub struct FacilitySettings {
    pub utc_offset_min: i32,
    pub detainee_count: u32,
    pub lawyer_slot_min: u32,
    pub fast_slot_min: u32,
    pub interrogation_slot_min: u32,
}

#[derive(Debug, Clone)]
pub struct ScheduleBooth {
    pub booth: Booth,
    pub label: String,
    pub remote_station: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExtendedSessionRow {
    pub id: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub proposed_by: AdminId,
    pub approved_by: Option<AdminId>,
    pub approver: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewRequest {
    pub facility: FacilityId,
    pub lawyer: LawyerId,
    pub detainee: DetaineeId,
    pub expected_min: u32,
    pub booked_at: Option<DateTime<Utc>>,
    pub ticket: Option<u32>,
    pub channel: Channel,
    pub entered_by: Option<AdminId>,
    pub interrogation_consent: bool,
    pub requested_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
}

/// A request with its slot (when placed).
#[derive(Debug, Clone)]
pub struct RequestRow {
    pub id: RequestId,
    pub facility: FacilityId,
    pub lawyer: LawyerId,
    pub detainee: DetaineeId,
    pub detainee_ref: String,
    pub expected_min: u32,
    pub booked_at: Option<DateTime<Utc>>,
    pub ticket: Option<u32>,
    pub channel: String,
    pub entered_by: Option<AdminId>,
    pub interrogation_consent: bool,
    pub requested_at: DateTime<Utc>,
    pub deadline_at: DateTime<Utc>,
    pub status: String,
    pub visit: Option<VisitId>,
    pub booth: Option<BoothId>,
    pub booth_label: Option<String>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub visit_ended_at: Option<DateTime<Utc>>,
    pub wait_reason: Option<String>,
    pub escalation: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub decline_note: Option<String>,
    pub decline_scan_ref: Option<String>,
}

const REQUEST_SELECT: &str = "SELECT r.id, r.facility_id, r.lawyer_id, r.detainee_id, d.internal_ref, \
     r.expected_min, r.booked_at, r.ticket, r.channel, r.entered_by, r.interrogation_consent, \
     r.requested_at, r.deadline_at, r.status, r.visit_id, v.booth_id, b.label, v.starts_at, v.ends_at, \
     v.ended_at, r.wait_reason, r.escalation, r.closed_at, r.decline_note, r.decline_scan_ref \
     FROM visit_requests r JOIN detainees d ON d.id = r.detainee_id \
     LEFT JOIN visits v ON v.id = r.visit_id LEFT JOIN booths b ON b.id = v.booth_id";

fn request_from_row(r: &sqlx::any::AnyRow) -> RequestRow {
    let u32_of = |v: i64| u32::try_from(v).unwrap_or(0);
    RequestRow {
        id: RequestId(r.get(0)),
        facility: FacilityId(r.get(1)),
        lawyer: LawyerId(r.get(2)),
        detainee: DetaineeId(r.get(3)),
        detainee_ref: r.get(4),
        expected_min: u32_of(r.get(5)),
        booked_at: r.get::<Option<i64>, _>(6).map(from_ms),
        ticket: r.get::<Option<i64>, _>(7).map(u32_of),
        channel: r.get(8),
        entered_by: r.get::<Option<i64>, _>(9).map(AdminId),
        interrogation_consent: r.get::<i64, _>(10) != 0,
        requested_at: from_ms(r.get(11)),
        deadline_at: from_ms(r.get(12)),
        status: r.get(13),
        visit: r.get::<Option<i64>, _>(14).map(VisitId),
        booth: r.get::<Option<String>, _>(15).map(BoothId),
        booth_label: r.get(16),
        starts_at: r.get::<Option<i64>, _>(17).map(from_ms),
        ends_at: r.get::<Option<i64>, _>(18).map(from_ms),
        visit_ended_at: r.get::<Option<i64>, _>(19).map(from_ms),
        wait_reason: r.get(20),
        escalation: r.get(21),
        closed_at: r.get::<Option<i64>, _>(22).map(from_ms),
        decline_note: r.get(23),
        decline_scan_ref: r.get(24),
    }
}

fn weekday_of(n: i64) -> Weekday {
    match n {
        0 => Weekday::Mon,
        1 => Weekday::Tue,
        2 => Weekday::Wed,
        3 => Weekday::Thu,
        4 => Weekday::Fri,
        5 => Weekday::Sat,
        _ => Weekday::Sun,
    }
}

impl Store {
    /// The facility's calendar (hours, holidays, extended sessions), `None` if unknown.
    pub async fn facility_calendar(&self, f: &FacilityId) -> Result<Option<FacilityCalendar>> {
        let Some(row) = sqlx::query(
            "SELECT name, utc_offset_min, detainee_count, lawyer_slot_min, fast_slot_min, interrogation_slot_min \
             FROM facilities WHERE id = $1",
        )
        .bind(f.as_str())
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let hours = sqlx::query(
            "SELECT weekday, opens_min, closes_min FROM facility_hours WHERE facility_id = $1 ORDER BY weekday, opens_min",
        )
        .bind(f.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| OpeningHours {
            weekday: weekday_of(r.get(0)),
            opens_min: u16::try_from(r.get::<i64, _>(1)).unwrap_or(0),
            closes_min: u16::try_from(r.get::<i64, _>(2)).unwrap_or(0),
        })
        .collect();
        let holidays: BTreeSet<NaiveDate> =
            sqlx::query("SELECT day FROM facility_holidays WHERE facility_id = $1")
                .bind(f.as_str())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .filter_map(|r| r.get::<String, _>(0).parse().ok())
                .collect();
        let extended = self
            .extended_sessions(f)
            .await?
            .into_iter()
            .map(|s| ExtendedSession {
                starts_at: s.starts_at,
                ends_at: s.ends_at,
                approved_by: s.approved_by,
            })
            .collect();
        let minutes = |i: usize| Duration::minutes(row.get::<i64, _>(i));
        Ok(Some(FacilityCalendar {
            name: row.get(0),
            detainee_count: u32::try_from(row.get::<i64, _>(2)).unwrap_or(0),
            calendar: Calendar {
                facility: f.clone(),
                utc_offset_min: i32::try_from(row.get::<i64, _>(1)).unwrap_or(0),
                hours,
                holidays,
                extended,
                slot_lengths: SlotLengths {
                    lawyer_room: minutes(3),
                    fast_room: minutes(4),
                    interrogation_room: minutes(5),
                },
            },
        }))
    }

    pub async fn set_facility_settings(&self, f: &FacilityId, s: &FacilitySettings) -> Result<()> {
        let done = sqlx::query(
            "UPDATE facilities SET utc_offset_min = $1, detainee_count = $2, lawyer_slot_min = $3, \
             fast_slot_min = $4, interrogation_slot_min = $5 WHERE id = $6",
        )
        .bind(i64::from(s.utc_offset_min))
        .bind(i64::from(s.detainee_count))
        .bind(i64::from(s.lawyer_slot_min))
        .bind(i64::from(s.fast_slot_min))
        .bind(i64::from(s.interrogation_slot_min))
        .bind(f.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("the facility"));
        }
        Ok(())
    }

    /// Replace the facility's weekly opening hours.
    pub async fn set_facility_hours(&self, f: &FacilityId, hours: &[OpeningHours]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM facility_hours WHERE facility_id = $1")
            .bind(f.as_str())
            .execute(&mut *tx)
            .await?;
        for h in hours {
            sqlx::query(
                "INSERT INTO facility_hours (facility_id, weekday, opens_min, closes_min) VALUES ($1, $2, $3, $4)",
            )
            .bind(f.as_str())
            .bind(i64::from(h.weekday.num_days_from_monday()))
            .bind(i64::from(h.opens_min))
            .bind(i64::from(h.closes_min))
            .execute(&mut *tx)
            .await
            .map_err(|e| match &e {
                sqlx::Error::Database(d) if d.is_unique_violation() => {
                    StoreError::Conflict("an opening period starting at the same time")
                }
                _ => e.into(),
            })?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_facility_holiday(&self, f: &FacilityId, day: NaiveDate) -> Result<()> {
        sqlx::query("INSERT INTO facility_holidays (facility_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(f.as_str())
            .bind(day.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn remove_facility_holiday(&self, f: &FacilityId, day: NaiveDate) -> Result<bool> {
        let done = sqlx::query("DELETE FROM facility_holidays WHERE facility_id = $1 AND day = $2")
            .bind(f.as_str())
            .bind(day.to_string())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn insert_extended_session(
        &self,
        f: &FacilityId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
        proposed_by: AdminId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let done = sqlx::query(
            "INSERT INTO extended_sessions (facility_id, starts_at, ends_at, proposed_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(f.as_str())
        .bind(ms(starts_at))
        .bind(ms(ends_at))
        .bind(proposed_by.0)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(done.get::<i64, _>(0))
    }

    /// Record the facility head's approval. Returns false when the session is unknown
    /// (for this facility) or was approved before.
    pub async fn approve_extended_session(
        &self,
        f: &FacilityId,
        id: i64,
        by: AdminId,
        approver: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE extended_sessions SET approved_by = $1, approver = $2, approved_at = $3 \
             WHERE id = $4 AND facility_id = $5 AND approved_by IS NULL",
        )
        .bind(by.0)
        .bind(approver)
        .bind(ms(now))
        .bind(id)
        .bind(f.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn extended_sessions(&self, f: &FacilityId) -> Result<Vec<ExtendedSessionRow>> {
        let rows = sqlx::query(
            "SELECT id, starts_at, ends_at, proposed_by, approved_by, approver, approved_at \
             FROM extended_sessions WHERE facility_id = $1 ORDER BY starts_at, id",
        )
        .bind(f.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ExtendedSessionRow {
                id: r.get(0),
                starts_at: from_ms(r.get(1)),
                ends_at: from_ms(r.get(2)),
                proposed_by: AdminId(r.get(3)),
                approved_by: r.get::<Option<i64>, _>(4).map(AdminId),
                approver: r.get(5),
                approved_at: r.get::<Option<i64>, _>(6).map(from_ms),
            })
            .collect())
    }

    pub async fn set_booth_kind(
        &self,
        booth: &BoothId,
        kind: BoothKind,
        remote_station: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query("UPDATE booths SET kind = $1, remote_station = $2 WHERE id = $3")
            .bind(kind.as_str())
            .bind(remote_station)
            .bind(booth.as_str())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("the booth"));
        }
        Ok(())
    }

    /// The facility's booths with their kinds (remote police-station booths included).
    pub async fn schedule_booths(&self, f: &FacilityId) -> Result<Vec<ScheduleBooth>> {
        let rows = sqlx::query(
            "SELECT id, kind, label, remote_station FROM booths WHERE facility_id = $1 ORDER BY id",
        )
        .bind(f.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ScheduleBooth {
                booth: Booth {
                    id: BoothId(r.get(0)),
                    kind: BoothKind::parse(&r.get::<String, _>(1)).unwrap_or(BoothKind::LawyerRoom),
                },
                label: r.get(2),
                remote_station: r.get(3),
            })
            .collect())
    }

    /// Every visit of the facility that has not ended and ends after `now`, with its
    /// detainee when known (from its request, or its case).
    pub async fn facility_timetable(
        &self,
        f: &FacilityId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Existing>> {
        let rows = sqlx::query(
            "SELECT v.booth_id, COALESCE(r.detainee_id, c.detainee_id), v.starts_at, v.ends_at \
             FROM visits v JOIN booths b ON b.id = v.booth_id \
             LEFT JOIN visit_requests r ON r.visit_id = v.id \
             LEFT JOIN cases c ON c.id = v.case_id \
             WHERE b.facility_id = $1 AND v.ended_at IS NULL AND v.ends_at > $2 ORDER BY v.starts_at",
        )
        .bind(f.as_str())
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Existing {
                booth: BoothId(r.get(0)),
                detainee: r.get::<Option<i64>, _>(1).map(DetaineeId),
                starts_at: from_ms(r.get(2)),
                ends_at: from_ms(r.get(3)),
            })
            .collect())
    }

    /// The next walk-in ticket of the facility since `day_start` (tickets restart daily).
    pub async fn next_ticket(&self, f: &FacilityId, day_start: DateTime<Utc>) -> Result<u32> {
        let n: i64 = sqlx::query(
            "SELECT COALESCE(MAX(ticket), 0) FROM visit_requests WHERE facility_id = $1 AND requested_at >= $2",
        )
        .bind(f.as_str())
        .bind(ms(day_start))
        .fetch_one(&self.pool)
        .await?
        .get(0);
        Ok(u32::try_from(n + 1).unwrap_or(u32::MAX))
    }

    pub async fn insert_request(&self, r: &NewRequest) -> Result<RequestId> {
        let done = sqlx::query(
            "INSERT INTO visit_requests (facility_id, lawyer_id, detainee_id, expected_min, booked_at, ticket, \
             channel, entered_by, interrogation_consent, requested_at, deadline_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(r.facility.as_str())
        .bind(r.lawyer.0)
        .bind(r.detainee.0)
        .bind(i64::from(r.expected_min))
        .bind(r.booked_at.map(ms))
        .bind(r.ticket.map(i64::from))
        .bind(r.channel.as_str())
        .bind(r.entered_by.map(|a| a.0))
        .bind(i64::from(r.interrogation_consent))
        .bind(ms(r.requested_at))
        .bind(ms(r.deadline_at))
        .fetch_one(&self.pool)
        .await;
        match done {
            Ok(d) => Ok(RequestId(d.get::<i64, _>(0))),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("the lawyer, detainee or facility"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The request got a slot: its visit row exists. `breached`: placed after its
    /// deadline passed (the breach stays counted); otherwise the escalation is cleared.
    pub async fn mark_request_placed(
        &self,
        id: RequestId,
        visit: VisitId,
        wait_reason: Option<&str>,
        breached: bool,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE visit_requests SET status = 'placed', visit_id = $1, wait_reason = $2, \
             escalation = CASE WHEN $3 OR escalation = 'breached' THEN 'breached' ELSE NULL END WHERE id = $4",
        )
        .bind(visit.0)
        .bind(wait_reason)
        .bind(breached)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The request stays queued with this escalation level.
    pub async fn mark_request_queued(
        &self,
        id: RequestId,
        wait_reason: &str,
        escalation: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE visit_requests SET status = 'queued', wait_reason = $1, escalation = $2 WHERE id = $3 AND status = 'queued'",
        )
        .bind(wait_reason)
        .bind(escalation)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn visit_request(&self, id: RequestId) -> Result<Option<RequestRow>> {
        let row = sqlx::query(&format!("{REQUEST_SELECT} WHERE r.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(request_from_row))
    }

    /// A lawyer's requests made in the last `since`, newest first.
    pub async fn requests_for_lawyer(
        &self,
        lawyer: LawyerId,
        since: DateTime<Utc>,
    ) -> Result<Vec<RequestRow>> {
        let rows = sqlx::query(&format!(
            "{REQUEST_SELECT} WHERE r.lawyer_id = $1 AND r.requested_at >= $2 ORDER BY r.requested_at DESC, r.id DESC LIMIT 500"
        ))
        .bind(lawyer.0)
        .bind(ms(since))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(request_from_row).collect())
    }

    /// The facility's open requests: queued, or placed with a visit not yet over.
    pub async fn open_requests(
        &self,
        f: &FacilityId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestRow>> {
        let rows = sqlx::query(&format!(
            "{REQUEST_SELECT} WHERE r.facility_id = $1 AND (r.status = 'queued' OR \
             (r.status = 'placed' AND v.ended_at IS NULL AND v.ends_at > $2)) ORDER BY r.requested_at, r.id"
        ))
        .bind(f.as_str())
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(request_from_row).collect())
    }

    /// Every facility with queued requests (for the escalation driver).
    pub async fn facilities_with_queued_requests(&self) -> Result<Vec<FacilityId>> {
        let rows = sqlx::query(
            "SELECT DISTINCT facility_id FROM visit_requests WHERE status = 'queued' ORDER BY facility_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| FacilityId(r.get(0))).collect())
    }

    /// Close an open request (`cancelled` or `declined`); its visit, if any and not yet
    /// ended, ends with `visit_reason`. Returns false when the request was not open.
    pub async fn close_request(
        &self,
        id: RequestId,
        status: &str,
        visit_reason: &str,
        decline: Option<(&str, &str, AdminId)>,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE visit_requests SET status = $1, closed_at = $2, decline_note = $3, decline_scan_ref = $4, declined_by = $5 \
             WHERE id = $6 AND status IN ('queued', 'placed')",
        )
        .bind(status)
        .bind(ms(now))
        .bind(decline.map(|d| d.0))
        .bind(decline.map(|d| d.1))
        .bind(decline.map(|d| d.2 .0))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE visits SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL AND \
             id = (SELECT visit_id FROM visit_requests WHERE id = $3)",
        )
        .bind(ms(now))
        .bind(visit_reason)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Move a visit's persisted slot end (a granted extension). False if it had ended.
    pub async fn extend_visit(&self, id: VisitId, new_end: DateTime<Utc>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE visits SET ends_at = $1 WHERE id = $2 AND ended_at IS NULL AND ends_at < $3",
        )
        .bind(ms(new_end))
        .bind(id.0)
        .bind(ms(new_end))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
