//! What the scheduler shows and is asked: the views of requests, queues and calendars, the
//! small typed answers and the request bodies, built by pure functions from the store's
//! rows and `now`. Every type here derives `utoipa::ToSchema`, so the API document shows
//! exactly what is sent. The HTTP mapping (errors, the queue page, downloads) is
//! [`super::http`].
//!
//! A lawyer knows a detainee only by the facility's internal reference, and the queue
//! display shows tickets and times, never names (R-PRIV-4).
//!
//! Does not: decide or store anything (the [`super::service::Scheduler`] does), or read a clock
//! (callers pass `now`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::to_request;
use super::{BoothKind, Channel, RequestId, WaitReason};
use crate::ids::{FacilityId, LawyerId, VisitId};
use crate::store::schedule::RequestRow;

pub use crate::model::time::rfc3339;

// --- request bodies ---

/// A request for a visit: booked for a time, or a walk-in (no `booked_at`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequestBody {
    #[schema(value_type = String)]
    pub facility: FacilityId,
    /// The client's facility reference number (never a name, R-PRIV-4).
    pub detainee_ref: String,
    /// Expected length in minutes (1 to 1440); default: the facility's lawyer-room slot.
    pub expected_minutes: Option<u32>,
    /// Absent: a walk-in (queued with a ticket). Must be within the 48-hour deadline.
    pub booked_at: Option<DateTime<Utc>>,
    /// The lawyer agrees in writing to a borrowed interrogation room (R-PRIV-2).
    #[serde(default)]
    pub interrogation_room_consent: bool,
    /// Staff only: who the booking is for.
    #[schema(value_type = Option<i64>)]
    pub lawyer_id: Option<LawyerId>,
    /// Staff only: how the booking arrived (default `phone`).
    pub channel: Option<Channel>,
}

/// More time for a running visit.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendBody {
    /// 1 to 240 minutes.
    pub minutes: u32,
}

/// The detainee declined the visit in writing (R-ARRANGE-5).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    /// What staff note about the refusal (at most 2000 characters).
    pub note: String,
    /// The paper file's reference, if the facility keeps one.
    #[serde(default)]
    pub written_refusal_ref: Option<String>,
}

// --- requests ---

/// A placed request's slot.
#[derive(Serialize, ToSchema)]
pub struct SlotView {
    pub booth: String,
    pub booth_label: String,
    pub starts_at: String,
    pub ends_at: String,
}

/// Why the slot is later than asked (or why there is none yet).
#[derive(Serialize, ToSchema)]
pub struct WaitView {
    /// `outside_opening_hours`, `booths_busy`, `detainee_busy`, `no_slot_before_deadline`, `deadline_missed`.
    pub code: String,
    pub message: &'static str,
}

/// The detainee's written refusal, delivered to the lawyer (R-ARRANGE-5).
#[derive(Serialize, ToSchema)]
pub struct DeclinedView {
    pub note: Option<String>,
    pub written_refusal_ref: Option<String>,
    /// Where the lawyer fetches the scan.
    pub written_refusal_scan: String,
    pub declined_at: Option<String>,
}

/// One visit request, as its lawyer (and staff) see it.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    #[schema(value_type = i64)]
    pub id: RequestId,
    #[schema(value_type = String)]
    pub facility: FacilityId,
    /// The facility-internal reference only (R-PRIV-4).
    pub detainee_ref: String,
    pub expected_minutes: u32,
    /// `booked` or `walk_in`.
    pub kind: &'static str,
    pub booked_at: Option<String>,
    pub ticket: Option<u32>,
    pub channel: String,
    pub entered_by_staff: bool,
    pub requested_at: String,
    /// The slot must start before this (R-ARRANGE-1).
    pub deadline: String,
    /// `placed`, `queued`, `cancelled`, `declined`.
    pub status: String,
    #[schema(value_type = Option<i64>)]
    pub visit_id: Option<VisitId>,
    pub slot: Option<SlotView>,
    /// 1 = next; only for requests still waiting for their visit.
    pub queue_position: Option<usize>,
    /// Why the slot is later than asked (or why there is none yet): code and sentence.
    pub wait: Option<WaitView>,
    pub escalation: Option<String>,
    /// R-ARRANGE-5: the detainee's written refusal, delivered to the lawyer.
    pub declined: Option<DeclinedView>,
}

/// A lawyer's requests of the last 14 days.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    pub requests: Vec<RequestView>,
}

/// A request as staff see it in the facility queue: with the lawyer's account id.
#[derive(Serialize, ToSchema)]
pub struct StaffRequestView {
    #[serde(flatten)]
    pub request: RequestView,
    #[schema(value_type = i64)]
    pub lawyer_id: LawyerId,
}

/// The open requests of a facility, with how many are escalated or breached.
#[derive(Serialize, ToSchema)]
pub struct StaffQueue {
    #[schema(value_type = String)]
    pub facility: FacilityId,
    pub requests: Vec<StaffRequestView>,
    pub escalated: usize,
    pub breached: usize,
}

/// A request closed by its lawyer or by staff.
#[derive(Serialize, ToSchema)]
pub struct Closed {
    #[schema(value_type = i64)]
    pub id: RequestId,
    /// `cancelled` or `declined`.
    pub status: &'static str,
}

/// The next free slot offered instead of an extension.
#[derive(Serialize, ToSchema)]
pub struct OfferedSlot {
    pub booth: String,
    pub starts_at: String,
    pub ends_at: String,
}

/// The answer to a request for more time (R-ARRANGE-4).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ExtendAnswer {
    /// Granted: the slot now ends at `ends_at`.
    Granted { granted: bool, ends_at: String },
    /// Not granted (`code` `booth_booked_next`): the next slot is offered (null while none
    /// is free before the deadline).
    Offered {
        granted: bool,
        code: &'static str,
        message: &'static str,
        next_slot: Option<OfferedSlot>,
    },
}

/// The stored scan of a written refusal.
#[derive(Serialize, ToSchema)]
pub struct ScanStored {
    #[schema(value_type = i64)]
    pub request: RequestId,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
}

fn wait_view(code: &str) -> WaitView {
    let reason = [
        WaitReason::OutsideOpeningHours,
        WaitReason::BoothsBusy,
        WaitReason::DetaineeBusy,
        WaitReason::NoSlotBeforeDeadline,
        WaitReason::DeadlineMissed,
    ]
    .into_iter()
    .find(|w| w.code() == code);
    WaitView {
        code: code.to_owned(),
        message: reason.map_or("", WaitReason::message),
    }
}

/// Still waiting for its visit: queued, or placed with a start in the future.
pub fn waiting(r: &RequestRow, now: DateTime<Utc>) -> bool {
    r.status == "queued" || (r.status == "placed" && r.starts_at.is_some_and(|s| s > now))
}

/// Queue order of a facility's waiting requests: placed ones by start, then queued ones
/// by their allocation order.
pub fn queue_order(open: &[RequestRow], now: DateTime<Utc>) -> Vec<RequestId> {
    let mut w: Vec<&RequestRow> = open.iter().filter(|r| waiting(r, now)).collect();
    w.sort_by_key(|r| {
        (
            r.status != "placed",
            r.starts_at
                .map(|t| t.timestamp_millis())
                .unwrap_or(i64::MAX),
            to_request(r).order_key(),
        )
    });
    w.into_iter().map(|r| r.id).collect()
}

pub fn request_view(r: &RequestRow, order: &[RequestId], now: DateTime<Utc>) -> RequestView {
    let slot = match (&r.booth, r.starts_at, r.ends_at) {
        (Some(b), Some(s), Some(e)) => Some(SlotView {
            booth: b.0.clone(),
            booth_label: r.booth_label.clone().unwrap_or_default(),
            starts_at: rfc3339(s),
            ends_at: rfc3339(e),
        }),
        _ => None,
    };
    RequestView {
        id: r.id,
        facility: r.facility.clone(),
        detainee_ref: r.detainee_ref.clone(),
        expected_minutes: r.expected_min,
        kind: if r.booked_at.is_some() {
            "booked"
        } else {
            "walk_in"
        },
        booked_at: r.booked_at.map(rfc3339),
        ticket: r.ticket,
        channel: r.channel.clone(),
        entered_by_staff: r.entered_by.is_some(),
        requested_at: rfc3339(r.requested_at),
        deadline: rfc3339(r.deadline_at),
        status: r.status.clone(),
        visit_id: r.visit,
        slot,
        queue_position: waiting(r, now)
            .then(|| order.iter().position(|id| *id == r.id).map(|p| p + 1))
            .flatten(),
        wait: r.wait_reason.as_deref().map(wait_view),
        escalation: r.escalation.clone(),
        declined: (r.status == "declined").then(|| DeclinedView {
            note: r.decline_note.clone(),
            written_refusal_ref: r
                .decline_scan_ref
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
            written_refusal_scan: format!("/api/lawyer/requests/{}/written-refusal", r.id),
            declined_at: r.closed_at.map(rfc3339),
        }),
    }
}

// --- the queue display (R-BOOK-4) ---

/// A ticket waiting for its visit.
#[derive(Serialize, ToSchema)]
pub struct WaitingTicket {
    pub ticket: u32,
    pub estimated_start: Option<String>,
    pub estimated_wait_minutes: Option<i64>,
}

/// What the waiting-area screen shows: tickets and times, never names (R-PRIV-4).
#[derive(Serialize, ToSchema)]
pub struct QueueDisplay {
    #[schema(value_type = String)]
    pub facility: FacilityId,
    pub facility_name: String,
    pub now: String,
    /// Tickets whose visit has started.
    pub serving: Vec<u32>,
    pub waiting: Vec<WaitingTicket>,
}

/// The queue display of a facility's open requests at `now`.
pub fn queue_display(
    facility: &FacilityId,
    name: String,
    open: &[RequestRow],
    now: DateTime<Utc>,
) -> QueueDisplay {
    let mut serving: Vec<u32> = Vec::new();
    let mut waiting_list: Vec<(u32, Option<DateTime<Utc>>)> = Vec::new();
    for r in open {
        let Some(ticket) = r.ticket else { continue };
        match (r.status.as_str(), r.starts_at) {
            ("placed", Some(s)) if s <= now => serving.push(ticket),
            ("placed", s) => waiting_list.push((ticket, s)),
            _ => waiting_list.push((ticket, None)),
        }
    }
    serving.sort_unstable();
    waiting_list.sort_by_key(|(t, _)| *t);
    QueueDisplay {
        facility: facility.clone(),
        facility_name: name,
        now: rfc3339(now),
        serving,
        waiting: waiting_list
            .into_iter()
            .map(|(ticket, s)| WaitingTicket {
                ticket,
                estimated_start: s.map(rfc3339),
                estimated_wait_minutes: s.map(|s| (s - now).num_minutes().max(0)),
            })
            .collect(),
    }
}

// --- staff: calendar and booths ---

/// Default slot lengths of a facility, in minutes.
#[derive(Serialize, ToSchema)]
pub struct SlotMinutes {
    pub lawyer_room: i64,
    pub fast_room: i64,
    pub interrogation_room: i64,
}

/// One weekly opening period, in the facility's local time.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// `mon` .. `sun`.
    pub weekday: String,
    /// `HH:MM`.
    pub opens: String,
    /// `HH:MM` after the opening (`24:00` allowed).
    pub closes: String,
}

/// An extended (evening or weekend) session and its approval (R-BOOK-4).
#[derive(Serialize, ToSchema)]
pub struct SessionView {
    pub id: i64,
    pub starts_at: String,
    pub ends_at: String,
    #[schema(value_type = i64)]
    pub proposed_by: crate::ids::AdminId,
    #[schema(value_type = Option<i64>)]
    pub approved_by: Option<crate::ids::AdminId>,
    pub approver: Option<String>,
    pub approved_at: Option<String>,
}

/// A booth and its kind (R-BOOK-5, R-REMOTE-1).
#[derive(Serialize, ToSchema)]
pub struct BoothView {
    #[schema(value_type = String)]
    pub id: crate::ids::BoothId,
    pub label: String,
    pub kind: &'static str,
    pub remote_station: Option<String>,
}

/// A facility's calendar, booths, sessions and rooms per 100 detainees.
#[derive(Serialize, ToSchema)]
pub struct ScheduleView {
    #[schema(value_type = String)]
    pub facility: FacilityId,
    pub name: String,
    pub utc_offset_min: i32,
    pub detainee_count: u32,
    pub rooms_per_100_detainees: Option<f64>,
    pub rooms_per_100_norm: f64,
    pub slot_minutes: SlotMinutes,
    pub hours: Vec<Period>,
    pub holidays: Vec<String>,
    pub extended_sessions: Vec<SessionView>,
    pub booths: Vec<BoothView>,
}

/// A facility whose settings were set.
#[derive(Serialize, ToSchema)]
pub struct FacilitySet {
    #[schema(value_type = String)]
    pub facility: FacilityId,
}

/// A facility whose weekly hours were set.
#[derive(Serialize, ToSchema)]
pub struct HoursSet {
    #[schema(value_type = String)]
    pub facility: FacilityId,
    pub periods: usize,
}

/// A holiday added.
#[derive(Serialize, ToSchema)]
pub struct HolidayAdded {
    #[schema(value_type = String)]
    pub facility: FacilityId,
    /// `YYYY-MM-DD`.
    pub day: String,
}

/// An extended session proposed or approved.
#[derive(Serialize, ToSchema)]
pub struct SessionState {
    pub id: i64,
    pub approved: bool,
}

/// A booth's kind set.
#[derive(Serialize, ToSchema)]
pub struct BoothKindSet {
    #[schema(value_type = String)]
    pub id: crate::ids::BoothId,
    pub kind: &'static str,
}

/// Facility settings (R-BOOK-4, R-BOOK-5).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    /// -720 to 840.
    pub utc_offset_min: i32,
    /// Up to 1,000,000 (for rooms per 100 detainees).
    pub detainee_count: u32,
    /// 5 to 1440.
    pub lawyer_slot_min: u32,
    /// 5 to 30.
    pub fast_slot_min: u32,
    /// 5 to 1440.
    pub interrogation_slot_min: u32,
}

/// The weekly opening hours (replacing the old ones).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HoursBody {
    pub hours: Vec<Period>,
}

/// A holiday.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolidayBody {
    /// `YYYY-MM-DD`.
    pub day: String,
}

/// A proposed extended session (at most 24 hours).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
}

/// The facility head's approval of a session.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// The facility head who approved (name or staff reference, as on the approval).
    pub approver: String,
}

/// A booth's kind; a remote police-station booth names its station (R-REMOTE-1).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BoothKindBody {
    pub kind: BoothKind,
    pub remote_station: Option<String>,
}
