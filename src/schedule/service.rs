//! The scheduler handle ([`Scheduler`]): the operations the scheduling routes and the
//! escalation driver call, over the pure core (`schedule::{Allocator, timing}`), the store,
//! the audit log and the visit hub (R-ARRANGE-1..5, R-BOOK-1..5).
//!
//! It owns the per-facility decision locks and the set of requests being received (until
//! their receipt is in the audit log); one handle is created by the wiring and cloned into
//! every route state and the driver, so no request state lives in a process-wide static.
//!
//! Every decision (a placement, a queueing, an escalation, a cancel, a decline, an
//! extension, a calendar change) is appended to the audit log before it takes effect
//! (docs/DESIGN.md invariant 3). A live visit that a cancel or a decline ends is ended
//! through the hub, after the request is closed and before the caller answers
//! (docs/DESIGN.md invariant 8). Nothing here refuses a visit: a request without a slot
//! stays queued and staff are escalated to (R-ARRANGE-2).
//!
//! Does not: parse HTTP or shape answers (`routes_lawyer`, `routes_admin`, `views`), read
//! a clock inside a decision (the core takes `now`), or write SQL (`crate::store`).
//! The handle's other operations are in `calendar.rs` (staff calendar edits),
//! `refusal.rs` (the written refusal's scan) and `queues.rs` (read-only queue views).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::timing::{self, Extension, Running};
use super::to_request;
use super::views::{queue_order, request_view, RequestView};
use super::{
    Allocator, Channel, Decision, Escalation, Existing, Outcome, Request, RequestId, WaitReason,
    DEADLINE,
};
use crate::audit::{Actor, Audit, AuditError, AuditRecord};
use crate::documents::{DocumentError, Documents};
use crate::ids::{AdminId, BoothId, FacilityId, LawyerId, VisitId};
use crate::store::schedule::{NewRequest, RequestRow};
use crate::store::{NewVisit, Store, StoreError};
use crate::visit::{EndReason, VisitHub};

/// Requests a lawyer sees: those made in the last 14 days.
pub const LIST_WINDOW: Duration = Duration::days(14);
/// The longest visit one request may ask for (a day).
pub const MAX_MINUTES: u32 = 24 * 60;

/// Why an operation did not happen. The edges map it to their answer.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    /// The input is not acceptable (400): a stable code and a sentence for people.
    #[error("{1}")]
    Invalid(&'static str, &'static str),
    /// Nothing of this (`what`, e.g. "That facility") exists, or it is not the caller's.
    #[error("{0} was not found")]
    NotFound(&'static str),
    /// No detainee with this reference is held at the facility, or the lawyer does not
    /// represent them (one answer for both, R-PRIV-4).
    #[error("unknown detainee reference")]
    UnknownDetainee,
    /// The operation conflicts with the current state (409): code and sentence.
    #[error("{1}")]
    Conflict(&'static str, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Something that cannot happen did (a row vanished under the lock).
    #[error("{0}")]
    Internal(&'static str),
}

/// The answer of [`Scheduler::close`] and friends when the request is no longer open.
const CLOSED: ScheduleError = ScheduleError::Conflict(
    "request_closed",
    "This request is already cancelled or declined.",
);

/// A request for a visit: a booking when `booked_at` is set, otherwise a walk-in.
#[derive(Debug, Clone)]
pub struct Ask {
    pub facility: FacilityId,
    pub detainee_ref: String,
    pub expected_minutes: Option<u32>,
    pub booked_at: Option<DateTime<Utc>>,
    pub interrogation_room_consent: bool,
}

/// Who a request is for and how it arrived (R-BOOK-1: staff enter phone and messaging
/// bookings for a lawyer).
#[derive(Debug, Clone, Copy)]
pub struct Booker {
    pub lawyer: LawyerId,
    pub channel: Channel,
    pub entered_by: Option<AdminId>,
}

impl Booker {
    fn actor(&self) -> Actor {
        self.entered_by
            .map_or(Actor::Lawyer(self.lawyer), Actor::Staff)
    }
}

/// How a request is closed: the lawyer cancels, or staff record the detainee's decline.
enum Closing<'a> {
    Cancel {
        lawyer: LawyerId,
    },
    Decline {
        admin: AdminId,
        note: &'a str,
        paper_ref: &'a str,
    },
}

/// The answer to a lawyer's request for more time (R-ARRANGE-4).
#[derive(Debug, Clone)]
pub enum Extended {
    Granted {
        new_end: DateTime<Utc>,
    },
    /// The booth or the client is booked right after: the next slot, when there is one.
    NextSlotOffered(Option<(BoothId, DateTime<Utc>, DateTime<Utc>)>),
}

/// Cheap to clone; one per server, created by the wiring.
#[derive(Clone)]
pub struct Scheduler {
    pub(super) inner: Arc<Inner>,
}

/// A facility's decision lock, held on this node and (PostgreSQL) across the cluster.
/// The cluster lock is released first, then this node's.
pub(super) struct DecisionGuard {
    _cluster: Option<crate::store::ClusterLock>,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

pub(super) struct Inner {
    pub(super) store: Store,
    pub(super) audit: Audit,
    hub: VisitHub,
    pub(super) documents: Documents,
    /// One lock per facility for its scheduling decisions (mutations of its timetable).
    /// A tokio mutex: it is held across the store's awaits on purpose, so that reading
    /// the timetable, deciding and writing the visit are one step for every other request
    /// of that facility. Facilities never share a booth or a detainee, so their decisions
    /// run in parallel.
    decisions: Mutex<HashMap<FacilityId, Arc<tokio::sync::Mutex<()>>>>,
    /// Requests inserted whose `request_received` audit entry is not yet durable: a batch
    /// placement skips them, so a placement is never in the audit log before the receipt.
    receiving: Mutex<HashSet<RequestId>>,
}

/// Marks one request as being received until dropped.
struct Receiving<'a> {
    set: &'a Mutex<HashSet<RequestId>>,
    id: RequestId,
}

impl<'a> Receiving<'a> {
    fn start(set: &'a Mutex<HashSet<RequestId>>, id: RequestId) -> Receiving<'a> {
        set.lock().unwrap_or_else(|p| p.into_inner()).insert(id);
        Receiving { set, id }
    }
}

impl Drop for Receiving<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

pub(super) fn schedule_event(
    event: &str,
    r: &RequestRow,
    visit: Option<VisitId>,
    booth: Option<BoothId>,
    detail: String,
) -> AuditRecord {
    AuditRecord::ScheduleEvent {
        event: event.into(),
        request: Some(r.id.0),
        lawyer: Some(r.lawyer),
        visit,
        booth,
        detail,
    }
}

impl Scheduler {
    pub fn new(store: Store, audit: Audit, hub: VisitHub, documents: Documents) -> Scheduler {
        Scheduler {
            inner: Arc::new(Inner {
                store,
                audit,
                hub,
                documents,
                decisions: Mutex::new(HashMap::new()),
                receiving: Mutex::new(HashSet::new()),
            }),
        }
    }

    pub(super) fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Take the decision lock of `facility` (see [`Inner::decisions`]): this node's, then,
    /// on PostgreSQL, the cluster's (another node deciding for the same facility waits).
    /// Fails closed: without the cluster lock there is no decision.
    pub(super) async fn decisions(
        &self,
        facility: &FacilityId,
    ) -> Result<DecisionGuard, ScheduleError> {
        let lock = {
            let mut all = self
                .inner
                .decisions
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            all.entry(facility.clone()).or_default().clone()
        };
        let local = lock.lock_owned().await;
        let cluster = self
            .inner
            .store
            .cluster_lock(&format!("schedule:{}", facility.as_str()))
            .await?;
        Ok(DecisionGuard {
            _cluster: cluster,
            _local: local,
        })
    }

    fn is_receiving(&self, id: RequestId) -> bool {
        self.inner
            .receiving
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    async fn request(&self, id: RequestId) -> Result<RequestRow, ScheduleError> {
        self.inner
            .store
            .visit_request(id)
            .await?
            .ok_or(ScheduleError::Internal("request vanished"))
    }

    /// The open requests of `facility` still waiting for a slot (and not being received).
    async fn queued(
        &self,
        facility: &FacilityId,
        now: DateTime<Utc>,
    ) -> Result<Vec<RequestRow>, ScheduleError> {
        Ok(self
            .inner
            .store
            .open_requests(facility, now)
            .await?
            .into_iter()
            .filter(|r| r.status == "queued" && !self.is_receiving(r.id))
            .collect())
    }

    // --- placing ---

    /// Place (or re-try) the queued requests `rows` of one facility, in allocation order,
    /// auditing each decision before it takes effect. The caller holds the facility's
    /// decision lock ([`Scheduler::decisions`]).
    pub(super) async fn place_queued(
        &self,
        facility: &FacilityId,
        rows: Vec<RequestRow>,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<Vec<Decision>, ScheduleError> {
        let store = &self.inner.store;
        let cal = store
            .facility_calendar(facility)
            .await?
            .ok_or(ScheduleError::NotFound("That facility"))?;
        // Remote police-station booths are the lawyer's side of a visit, never the detainee's.
        let booths: Vec<_> = store
            .schedule_booths(facility)
            .await?
            .into_iter()
            .filter(|b| b.remote_station.is_none())
            .map(|b| b.booth)
            .collect();
        let existing = store.facility_timetable(facility, now).await?;
        let mut requests: Vec<(Request, RequestRow)> =
            rows.into_iter().map(|r| (to_request(&r), r)).collect();
        requests.sort_by_key(|(r, _)| r.order_key());
        let until = requests
            .iter()
            .map(|(r, _)| r.deadline() + r.length)
            .max()
            .unwrap_or(now);
        let mut alloc = Allocator::new(&cal.calendar, &booths, &existing, now, until.max(now));
        // Decide every request first (pure), then append every decision to the audit log at
        // once (one group commit for the batch), and only then let them take effect.
        let mut planned = Vec::with_capacity(requests.len());
        for (req, row) in requests {
            let decision = alloc.place(&req);
            let record = match &decision.outcome {
                Outcome::Placed(slot) => {
                    let breached = slot.wait == Some(WaitReason::DeadlineMissed);
                    let detail = format!(
                        "booth_kind={} starts_at_ms={} ends_at_ms={} session={:?} wait={}",
                        slot.booth_kind.as_str(),
                        slot.starts_at.timestamp_millis(),
                        slot.ends_at.timestamp_millis(),
                        slot.session,
                        slot.wait.map_or("none", WaitReason::code)
                    );
                    let event = if breached {
                        "request_placed_after_breach"
                    } else {
                        "request_placed"
                    };
                    Some(schedule_event(
                        event,
                        &row,
                        None,
                        Some(slot.booth.clone()),
                        detail,
                    ))
                }
                Outcome::Unplaced { escalation, .. } => {
                    let level = escalation.as_str();
                    (row.escalation.as_deref() != Some(level)).then(|| {
                        let event = if *escalation == Escalation::Breached {
                            "deadline_breached"
                        } else {
                            "request_escalated"
                        };
                        schedule_event(event, &row, None, None, format!("escalation={level}"))
                    })
                }
            };
            planned.push((row, decision, record));
        }
        let appends = planned
            .iter()
            .filter_map(|(_, _, record)| record.clone())
            .map(|record| self.inner.audit.append(actor.clone(), record));
        for appended in futures_util::future::join_all(appends).await {
            appended?;
        }
        let mut out = Vec::with_capacity(planned.len());
        for (row, decision, _) in planned {
            match &decision.outcome {
                Outcome::Placed(slot) => {
                    let breached = slot.wait == Some(WaitReason::DeadlineMissed);
                    if breached {
                        tracing::warn!(request = %row.id, facility = %facility, "visit request placed after its 48-hour deadline: breach counted");
                    }
                    // The visit is about the detainee's current case: the one the lawyer's
                    // engagement (and its documents) must be for, checked again at the join.
                    let case = store
                        .newest_case_for_detainee(row.detainee)
                        .await?
                        .map(|c| c.id);
                    let visit = NewVisit {
                        lawyer: row.lawyer,
                        booth: slot.booth.clone(),
                        starts_at: slot.starts_at,
                        ends_at: slot.ends_at,
                        created_by: row.entered_by,
                        case,
                        // R-PRIV-2: the consent given with the request travels with the visit.
                        room_consent: row.interrogation_consent,
                        lawyer_booth: None,
                    };
                    let id = store.insert_visit(&visit, now).await?;
                    store
                        .mark_request_placed(row.id, id, slot.wait.map(WaitReason::code), breached)
                        .await?;
                }
                Outcome::Unplaced { escalation, .. } => {
                    let level = escalation.as_str();
                    if row.escalation.as_deref() != Some(level) {
                        tracing::warn!(request = %row.id, facility = %facility, level, "visit request has no slot before its deadline; staff escalated");
                        store
                            .mark_request_queued(
                                row.id,
                                WaitReason::NoSlotBeforeDeadline.code(),
                                level,
                            )
                            .await?;
                    }
                }
            }
            out.push(decision);
        }
        Ok(out)
    }

    /// Re-place the queued requests of `facility` under its decision lock (a freed booth,
    /// an approved session) on behalf of `actor`.
    pub(super) async fn replace_queued(
        &self,
        facility: &FacilityId,
        actor: Actor,
        now: DateTime<Utc>,
    ) -> Result<(), ScheduleError> {
        let _guard = self.decisions(facility).await?;
        let queued = self.queued(facility, now).await?;
        self.place_queued(facility, queued, actor, now).await?;
        Ok(())
    }

    /// One tick of the escalation driver: re-try every queued request (a cancellation may
    /// have freed a booth) and raise escalations as deadlines approach (R-ARRANGE-1).
    /// Public so that tests can drive it with their own `now`.
    pub async fn escalation_tick(&self, now: DateTime<Utc>) -> Result<(), ScheduleError> {
        for f in self.inner.store.facilities_with_queued_requests().await? {
            self.replace_queued(&f, Actor::System, now).await?;
        }
        Ok(())
    }

    // --- requests ---

    /// A lawyer's request (or one staff enter for a lawyer, R-BOOK-1): a booking when
    /// `ask.booked_at` is set, otherwise a walk-in with a ticket (R-BOOK-2). Never refused
    /// for want of a slot: it is placed, or queued and escalated (R-ARRANGE-1, R-ARRANGE-2).
    pub async fn request_visit(&self, ask: Ask, by: Booker) -> Result<RequestView, ScheduleError> {
        let store = &self.inner.store;
        let now = Utc::now();
        if by.entered_by.is_some() && store.lawyer(by.lawyer).await?.is_none() {
            return Err(ScheduleError::NotFound("That lawyer"));
        }
        let cal = store
            .facility_calendar(&ask.facility)
            .await?
            .ok_or(ScheduleError::NotFound("That facility"))?;
        let minutes = match ask.expected_minutes {
            Some(m) => m,
            None => {
                u32::try_from(cal.calendar.slot_lengths.lawyer_room.num_minutes()).unwrap_or(60)
            }
        };
        if minutes == 0 || minutes > MAX_MINUTES {
            return Err(ScheduleError::Invalid(
                "invalid_length",
                "Give the expected length of the visit in minutes, from 1 to 1440.",
            ));
        }
        if ask.detainee_ref.is_empty() || ask.detainee_ref.len() > 100 {
            return Err(ScheduleError::Invalid(
                "invalid_detainee_ref",
                "Give your client's facility reference number (1 to 100 characters).",
            ));
        }
        let deadline = now + DEADLINE;
        if ask.booked_at.is_some_and(|at| at >= deadline) {
            return Err(ScheduleError::Invalid(
                "booked_time_beyond_deadline",
                "Book a time within the next 48 hours (R-ARRANGE-1), or send a walk-in request to be given the earliest slot.",
            ));
        }
        // R-PRIV-4: a lawyer books only the detainees they represent (an engagement in one
        // of the detainee's cases). An unknown reference and someone else's client get the
        // same answer, so requests cannot probe who is held here or book a stranger's time.
        let detainee = match store
            .detainee_by_ref(&ask.facility, &ask.detainee_ref)
            .await?
        {
            Some(d) if store.represents(by.lawyer, d.id).await? => d.id,
            _ => return Err(ScheduleError::UnknownDetainee),
        };
        let guard = self.decisions(&ask.facility).await?;
        let ticket = match ask.booked_at {
            Some(_) => None,
            None => {
                let offset = Duration::minutes(i64::from(cal.calendar.utc_offset_min));
                let local_midnight = (now + offset)
                    .date_naive()
                    .and_hms_opt(0, 0, 0)
                    .map(|t| t.and_utc() - offset)
                    .unwrap_or(now);
                Some(store.next_ticket(&ask.facility, local_midnight).await?)
            }
        };
        let new = NewRequest {
            facility: ask.facility.clone(),
            lawyer: by.lawyer,
            detainee,
            expected_min: minutes,
            booked_at: ask.booked_at,
            ticket,
            channel: by.channel,
            entered_by: by.entered_by,
            interrogation_consent: ask.interrogation_room_consent,
            requested_at: now,
            deadline_at: deadline,
        };
        let id = match store.insert_request(&new).await {
            Ok(id) => id,
            Err(StoreError::NotFound(_)) => return Err(ScheduleError::NotFound("That lawyer")),
            Err(e) => return Err(e.into()),
        };
        // Until its receipt is in the audit log, no batch places this request.
        let receiving = Receiving::start(&self.inner.receiving, id);
        drop(guard);
        let row = self.request(id).await?;
        self.inner
            .audit
            .append(
                by.actor(),
                schedule_event(
                    "request_received",
                    &row,
                    None,
                    None,
                    format!(
                        "channel={} kind={} minutes={minutes} deadline_ms={}",
                        by.channel.as_str(),
                        if ticket.is_some() {
                            "walk_in"
                        } else {
                            "booked"
                        },
                        deadline.timestamp_millis()
                    ),
                ),
            )
            .await?;
        drop(receiving);
        // Placement: whoever holds the facility's lock places every received request waiting
        // for a slot, in allocation order (booked first, then tickets), so concurrent requests
        // are decided in batches; this request may already have been placed by another's batch.
        let _guard = self.decisions(&ask.facility).await?;
        if self.request(id).await?.status == "queued" {
            let queued = self.queued(&ask.facility, now).await?;
            self.place_queued(&ask.facility, queued, Actor::System, now)
                .await?;
        }
        let row = self.request(id).await?;
        let open = store.open_requests(&ask.facility, now).await?;
        Ok(request_view(&row, &queue_order(&open, now), now))
    }

    /// The lawyer cancels an own request; a placed visit ends `cancelled`, a live one
    /// through the hub (docs/DESIGN.md invariant 8).
    pub async fn cancel(
        &self,
        lawyer: LawyerId,
        id: RequestId,
    ) -> Result<RequestId, ScheduleError> {
        self.close(id, Closing::Cancel { lawyer }).await
    }

    /// Staff record that the detainee declined in writing (R-ARRANGE-5): the scan of the
    /// written refusal must be uploaded first; the lawyer receives it. A live visit ends
    /// `declined` through the hub (docs/DESIGN.md invariant 8).
    pub async fn decline(
        &self,
        admin: AdminId,
        id: RequestId,
        note: &str,
        written_refusal_ref: Option<&str>,
    ) -> Result<RequestId, ScheduleError> {
        let paper_ref = written_refusal_ref.map(str::trim).unwrap_or_default();
        if paper_ref.len() > 200 {
            return Err(ScheduleError::Invalid(
                "invalid_written_refusal_ref",
                "Keep the written refusal's reference under 200 characters.",
            ));
        }
        // R-ARRANGE-5: the refusal is the detainee's own, in writing; the lawyer receives the scan.
        if self.inner.store.written_refusal(id).await?.is_none() {
            return Err(ScheduleError::Conflict(
                "written_refusal_not_scanned",
                "Scan the detainee's written refusal and upload it to this request first \
                 (PUT .../written-refusal); the lawyer receives the scan.",
            ));
        }
        if note.len() > 2000 {
            return Err(ScheduleError::Invalid(
                "note_too_long",
                "Keep the note under 2000 characters.",
            ));
        }
        self.close(
            id,
            Closing::Decline {
                admin,
                note: note.trim(),
                paper_ref,
            },
        )
        .await
    }

    /// The one way a request is closed: load it (a lawyer only their own), take the
    /// facility's decision lock, re-read it, audit the close (audit first), close it
    /// durably (ending its visit in the store), release the lock, and end a live visit
    /// through the hub before returning (docs/DESIGN.md invariant 8).
    async fn close(&self, id: RequestId, how: Closing<'_>) -> Result<RequestId, ScheduleError> {
        let store = &self.inner.store;
        let owner = match how {
            Closing::Cancel { lawyer } => Some(lawyer),
            Closing::Decline { .. } => None,
        };
        let open = |r: &RequestRow| r.status == "queued" || r.status == "placed";
        let row = store
            .visit_request(id)
            .await?
            .filter(|r| owner.is_none_or(|l| r.lawyer == l))
            .ok_or(ScheduleError::NotFound("This request"))?;
        if !open(&row) {
            return Err(CLOSED);
        }
        let guard = self.decisions(&row.facility).await?;
        // Re-read under the lock: a batch may have placed it in the meantime.
        let row = self.request(id).await?;
        if !open(&row) {
            return Err(CLOSED);
        }
        let (actor, event, status, visit_reason, decline, end) = match how {
            Closing::Cancel { lawyer } => (
                Actor::Lawyer(lawyer),
                "request_cancelled",
                "cancelled",
                "cancelled",
                None,
                EndReason::CancelledByLawyer,
            ),
            Closing::Decline {
                admin,
                note,
                paper_ref,
            } => (
                Actor::Staff(admin),
                "request_declined",
                "declined",
                "declined_by_detainee",
                Some((note, paper_ref, admin)),
                EndReason::DeclinedByDetainee,
            ),
        };
        self.inner
            .audit
            .append(
                actor,
                schedule_event(event, &row, row.visit, row.booth.clone(), String::new()),
            )
            .await?;
        let closed = store
            .close_request(row.id, status, visit_reason, decline, Utc::now())
            .await?;
        drop(guard);
        if !closed {
            return Err(CLOSED);
        }
        if let Some(visit) = row.visit {
            // Ends a live visit: audited, durable, both sides told, media stopped; only
            // records the end (already durable) when nobody is in it.
            self.inner.hub.end(visit, end).await;
        }
        Ok(row.id)
    }

    /// A lawyer asks for `minutes` more in an own running visit (R-ARRANGE-4): granted when
    /// the booth and the client are free, otherwise the next slot is offered.
    pub async fn extend(
        &self,
        lawyer: LawyerId,
        visit: VisitId,
        minutes: u32,
    ) -> Result<Extended, ScheduleError> {
        let store = &self.inner.store;
        let now = Utc::now();
        let visit = store
            .visit(visit)
            .await?
            .filter(|v| v.lawyer == lawyer)
            .ok_or(ScheduleError::NotFound("This visit"))?;
        if visit.ended_at.is_some() || now >= visit.ends_at {
            return Err(ScheduleError::Conflict(
                "visit_over",
                "This visit has already ended; request a new visit instead.",
            ));
        }
        let _guard = self.decisions(&visit.facility).await?;
        let cal = store
            .facility_calendar(&visit.facility)
            .await?
            .ok_or(ScheduleError::NotFound("That facility"))?;
        let booths: Vec<_> = store
            .schedule_booths(&visit.facility)
            .await?
            .into_iter()
            .filter(|b| b.remote_station.is_none())
            .map(|b| b.booth)
            .collect();
        let timetable = store.facility_timetable(&visit.facility, now).await?;
        let detainee = store
            .requests_for_lawyer(lawyer, now - LIST_WINDOW)
            .await?
            .into_iter()
            .find(|r| r.visit == Some(visit.id))
            .map(|r| r.detainee);
        let running = Running {
            visit: Existing {
                booth: visit.booth.clone(),
                detainee,
                starts_at: visit.starts_at,
                ends_at: visit.ends_at,
            },
            lawyer,
            // A visit staff created without a request has no detainee known to the scheduler.
            detainee: detainee.unwrap_or(crate::ids::DetaineeId(-1)),
        };
        let extra = Duration::minutes(i64::from(minutes));
        let answer = timing::extension(
            &cal.calendar,
            &booths,
            &timetable,
            &running,
            extra,
            now,
            RequestId(0),
        );
        let record = |event: &str, detail: String| AuditRecord::ScheduleEvent {
            event: event.into(),
            request: None,
            lawyer: Some(lawyer),
            visit: Some(visit.id),
            booth: Some(visit.booth.clone()),
            detail,
        };
        match answer {
            Extension::Granted { new_end } => {
                self.inner
                    .audit
                    .append(
                        Actor::Lawyer(lawyer),
                        record(
                            "visit_extended",
                            format!(
                                "minutes={minutes} new_end_ms={}",
                                new_end.timestamp_millis()
                            ),
                        ),
                    )
                    .await?;
                store.extend_visit(visit.id, new_end).await?;
                // A live visit's timer moves with it, and both sides see the new end.
                self.inner.hub.slot_extended(visit.id, new_end);
                Ok(Extended::Granted { new_end })
            }
            Extension::OfferNextSlot(d) => {
                let offer = match d.outcome {
                    Outcome::Placed(s) => Some((s.booth, s.starts_at, s.ends_at)),
                    Outcome::Unplaced { .. } => None,
                };
                self.inner
                    .audit
                    .append(
                        Actor::Lawyer(lawyer),
                        record("extension_offered_next_slot", format!("minutes={minutes}")),
                    )
                    .await?;
                Ok(Extended::NextSlotOffered(offer))
            }
        }
    }
}
