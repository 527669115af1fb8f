//! The second part of the [`Scheduler`]: a facility's calendar and booths (R-BOOK-4,
//! R-BOOK-5, R-REMOTE-1): settings, weekly opening hours, holidays, extended sessions and
//! their approval by the facility head, booth kinds; and the facility overview staff see.
//!
//! Every change is appended to the audit log before it is written (docs/DESIGN.md
//! invariant 3). An approved session may fit queued requests, so they are re-placed.
//!
//! Does not: parse or validate the wire format (`routes_admin`), or place requests itself
//! (the placement is the service's, under the facility's decision lock).

use chrono::{DateTime, NaiveDate, Utc, Weekday};

use super::service::{ScheduleError, Scheduler};
use super::views::{rfc3339, BoothView, Period, ScheduleView, SessionView, SlotMinutes};
use super::{rooms_per_100, BoothKind, OpeningHours, ROOMS_PER_100_NORM};
use crate::audit::{Actor, AuditRecord};
use crate::ids::{AdminId, BoothId, FacilityId};
use crate::store::schedule::{FacilityCalendar, FacilitySettings};
use crate::store::StoreError;

/// `mon` .. `sun`.
pub fn weekday_name(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "mon",
        Weekday::Tue => "tue",
        Weekday::Wed => "wed",
        Weekday::Thu => "thu",
        Weekday::Fri => "fri",
        Weekday::Sat => "sat",
        Weekday::Sun => "sun",
    }
}

impl Scheduler {
    async fn calendar(&self, f: &FacilityId) -> Result<FacilityCalendar, ScheduleError> {
        self.store()
            .facility_calendar(f)
            .await?
            .ok_or(ScheduleError::NotFound("That facility"))
    }

    async fn audit_calendar(
        &self,
        admin: AdminId,
        event: &str,
        booth: Option<BoothId>,
        detail: String,
    ) -> Result<(), ScheduleError> {
        self.inner
            .audit
            .append(
                Actor::Staff(admin),
                AuditRecord::ScheduleEvent {
                    event: event.into(),
                    request: None,
                    lawyer: None,
                    visit: None,
                    booth,
                    detail,
                },
            )
            .await?;
        Ok(())
    }

    /// The facility's calendar, booths and kinds, sessions, rooms per 100 detainees.
    pub async fn overview(&self, f: &FacilityId) -> Result<ScheduleView, ScheduleError> {
        let cal = self.calendar(f).await?;
        let booths = self.store().schedule_booths(f).await?;
        let sessions = self.store().extended_sessions(f).await?;
        let lawyer_rooms = booths
            .iter()
            .filter(|b| b.booth.kind == BoothKind::LawyerRoom && b.remote_station.is_none())
            .count();
        let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        let c = &cal.calendar;
        Ok(ScheduleView {
            facility: f.clone(),
            name: cal.name.clone(),
            utc_offset_min: c.utc_offset_min,
            detainee_count: cal.detainee_count,
            rooms_per_100_detainees: rooms_per_100(lawyer_rooms, cal.detainee_count),
            rooms_per_100_norm: ROOMS_PER_100_NORM,
            slot_minutes: SlotMinutes {
                lawyer_room: c.slot_lengths.lawyer_room.num_minutes(),
                fast_room: c.slot_lengths.fast_room.num_minutes(),
                interrogation_room: c.slot_lengths.interrogation_room.num_minutes(),
            },
            hours: c
                .hours
                .iter()
                .map(|h| Period {
                    weekday: weekday_name(h.weekday).into(),
                    opens: hhmm(h.opens_min),
                    closes: hhmm(h.closes_min),
                })
                .collect(),
            holidays: c.holidays.iter().map(|d| d.to_string()).collect(),
            extended_sessions: sessions
                .into_iter()
                .map(|s| SessionView {
                    id: s.id,
                    starts_at: rfc3339(s.starts_at),
                    ends_at: rfc3339(s.ends_at),
                    proposed_by: s.proposed_by,
                    approved_by: s.approved_by,
                    approver: s.approver,
                    approved_at: s.approved_at.map(rfc3339),
                })
                .collect(),
            booths: booths
                .into_iter()
                .map(|b| BoothView {
                    kind: b.booth.kind.as_str(),
                    id: b.booth.id,
                    label: b.label,
                    remote_station: b.remote_station,
                })
                .collect(),
        })
    }

    /// UTC offset, detainee count, default slot lengths (already validated).
    pub async fn set_settings(
        &self,
        admin: AdminId,
        f: &FacilityId,
        s: &FacilitySettings,
    ) -> Result<(), ScheduleError> {
        self.audit_calendar(
            admin,
            "facility_settings_set",
            None,
            format!(
                "facility={f} utc_offset_min={} detainee_count={} slots={}/{}/{}",
                s.utc_offset_min,
                s.detainee_count,
                s.lawyer_slot_min,
                s.fast_slot_min,
                s.interrogation_slot_min
            ),
        )
        .await?;
        match self.store().set_facility_settings(f, s).await {
            Ok(()) => Ok(()),
            Err(StoreError::NotFound(_)) => Err(ScheduleError::NotFound("That facility")),
            Err(e) => Err(e.into()),
        }
    }

    /// Replace the weekly opening hours (local time).
    pub async fn set_hours(
        &self,
        admin: AdminId,
        f: &FacilityId,
        hours: &[OpeningHours],
    ) -> Result<(), ScheduleError> {
        self.calendar(f).await?;
        self.audit_calendar(
            admin,
            "hours_set",
            None,
            format!("facility={f} periods={}", hours.len()),
        )
        .await?;
        match self.store().set_facility_hours(f, hours).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict(_)) => Err(ScheduleError::Invalid(
                "invalid_hours",
                "Two periods of the same weekday start at the same time; merge them.",
            )),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn add_holiday(
        &self,
        admin: AdminId,
        f: &FacilityId,
        day: NaiveDate,
    ) -> Result<(), ScheduleError> {
        self.calendar(f).await?;
        self.audit_calendar(
            admin,
            "holiday_added",
            None,
            format!("facility={f} day={day}"),
        )
        .await?;
        self.store().add_facility_holiday(f, day).await?;
        Ok(())
    }

    pub async fn remove_holiday(
        &self,
        admin: AdminId,
        f: &FacilityId,
        day: NaiveDate,
    ) -> Result<(), ScheduleError> {
        self.audit_calendar(
            admin,
            "holiday_removed",
            None,
            format!("facility={f} day={day}"),
        )
        .await?;
        if self.store().remove_facility_holiday(f, day).await? {
            Ok(())
        } else {
            Err(ScheduleError::NotFound("That holiday"))
        }
    }

    /// Propose an extended session; unused until the facility head approves it.
    pub async fn propose_session(
        &self,
        admin: AdminId,
        f: &FacilityId,
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    ) -> Result<i64, ScheduleError> {
        self.calendar(f).await?;
        self.audit_calendar(
            admin,
            "session_proposed",
            None,
            format!(
                "facility={f} starts_at_ms={} ends_at_ms={}",
                starts_at.timestamp_millis(),
                ends_at.timestamp_millis()
            ),
        )
        .await?;
        Ok(self
            .store()
            .insert_extended_session(f, starts_at, ends_at, admin, Utc::now())
            .await?)
    }

    /// The facility head's approval (recorded); queued requests may fit now.
    pub async fn approve_session(
        &self,
        admin: AdminId,
        f: &FacilityId,
        id: i64,
        approver: &str,
    ) -> Result<(), ScheduleError> {
        self.audit_calendar(
            admin,
            "session_approved",
            None,
            format!("facility={f} session={id}"),
        )
        .await?;
        if !self
            .store()
            .approve_extended_session(f, id, admin, approver, Utc::now())
            .await?
        {
            return Err(ScheduleError::NotFound(
                "An unapproved session with this id",
            ));
        }
        self.replace_queued(f, Actor::Staff(admin), Utc::now())
            .await
    }

    /// A booth's kind, and the police station of a remote booth (R-REMOTE-1).
    pub async fn set_booth_kind(
        &self,
        admin: AdminId,
        booth: &BoothId,
        kind: BoothKind,
        remote_station: Option<&str>,
    ) -> Result<(), ScheduleError> {
        if self.store().booth(booth).await?.is_none() {
            return Err(ScheduleError::NotFound("That booth"));
        }
        self.audit_calendar(
            admin,
            "booth_kind_set",
            Some(booth.clone()),
            format!("kind={} remote={}", kind.as_str(), remote_station.is_some()),
        )
        .await?;
        self.store()
            .set_booth_kind(booth, kind, remote_station)
            .await?;
        Ok(())
    }
}
