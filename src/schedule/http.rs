//! The scheduler's REST API (R-ARRANGE-1, R-BOOK-1..5) and its escalation driver.
//!
//! Public listener ([`lawyer_routes`], merged into `crate::http::api::router`):
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /api/lawyer/requests` | lawyer session | ask for a visit: booked for a time or a walk-in |
//! | `GET /api/lawyer/requests` | lawyer session | own requests: slot, queue position, deadline, why it waits, declines |
//! | `POST /api/lawyer/requests/{id}/cancel` | lawyer session, own request | cancel; a placed visit ends `cancelled` |
//! | `GET /api/lawyer/requests/{id}/written-refusal` | lawyer session, own declined request | the client's scanned written refusal (R-ARRANGE-5) |
//! | `POST /api/lawyer/visits/{id}/extend` | lawyer session, own visit | more time, or the next slot offered |
//! | `GET /queue/{facility}`, `GET /api/queue/{facility}` | anyone (waiting-area screen) | ticket numbers served and waiting, estimated wait; no names |
//! | `GET /api/openapi.json` | anyone | the OpenAPI 3 document of these routes |
//!
//! Admin listener ([`admin_routes`], merged into `crate::admin::router`), staff session:
//!
//! | route | what |
//! |---|---|
//! | `GET /admin/api/facilities/{f}/schedule` | calendar, booths and kinds, sessions, rooms per 100 detainees |
//! | `PUT /admin/api/facilities/{f}/settings` | UTC offset, detainee count, default slot lengths |
//! | `PUT /admin/api/facilities/{f}/hours` | weekly opening hours (local time) |
//! | `POST /admin/api/facilities/{f}/holidays`, `DELETE .../holidays/{day}` | holidays |
//! | `POST /admin/api/facilities/{f}/sessions` | propose an extended session |
//! | `POST /admin/api/facilities/{f}/sessions/{id}/approve` | the facility head's approval (recorded) |
//! | `PUT /admin/api/booths/{id}/kind` | booth kind; remote police-station booth (R-REMOTE-1) |
//! | `POST /admin/api/requests` | a booking made by phone or messaging, entered for a lawyer (R-BOOK-1) |
//! | `GET /admin/api/facilities/{f}/queue` | open requests with deadlines and escalations |
//! | `PUT /admin/api/requests/{id}/written-refusal` | the scan of the detainee's written refusal (PDF, JPEG or PNG, at most 10 MiB; kept encrypted) |
//! | `POST /admin/api/requests/{id}/decline` | the detainee declined in writing (R-ARRANGE-5): needs the scan first |
//!
//! Every decision (a placement, a queueing, an escalation, a cancel, a decline, an
//! extension, a calendar change) is appended to the audit log before it takes effect.
//! Decisions of all facilities are serialised by one lock, so two concurrent requests
//! never take the same booth or detainee. Nothing here ever answers a request with a
//! refusal: a request without a slot stays queued and staff are escalated to.

use super::timing::{self, Extension, Running};
use super::{
    rooms_per_100, Allocator, Arrival, BoothKind, Channel, Decision, Escalation, Existing,
    OpeningHours, Outcome, Request, RequestId, WaitReason, DEADLINE,
};
use crate::admin::roles::Operator;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::{json_body, rfc3339, LawyerSession};
use crate::http::ApiError;
use crate::ids::{AdminId, BoothId, FacilityId, LawyerId, VisitId};
use crate::store::schedule::{FacilitySettings, NewRequest, RequestRow};
use crate::store::{NewVisit, StoreError};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use chrono::{DateTime, Duration, NaiveDate, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One lock per facility for its scheduling decisions (mutations of its timetable). A
/// tokio mutex: it is held across the store's awaits on purpose, so that reading the
/// timetable, deciding and writing the visit are one step for every other request of
/// that facility. Facilities never share a booth or a detainee, so their decisions run in
/// parallel.
static DECISIONS: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<FacilityId, std::sync::Arc<tokio::sync::Mutex<()>>>>,
> = std::sync::LazyLock::new(Default::default);

/// Requests inserted whose `request_received` audit entry is not yet durable: a batch
/// placement skips them, so a placement is never in the audit log before the receipt.
/// Keyed by database (`Store::instance`) and request: request ids of two servers in one
/// process (the tests) are not the same request.
type ReceivingKey = (u64, RequestId);
static RECEIVING: std::sync::LazyLock<std::sync::Mutex<std::collections::HashSet<ReceivingKey>>> =
    std::sync::LazyLock::new(Default::default);

/// Marks one request as being received until dropped.
struct Receiving(ReceivingKey);

impl Receiving {
    fn start(store: &crate::store::Store, id: RequestId) -> Receiving {
        let key = (store.instance(), id);
        RECEIVING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        Receiving(key)
    }

    fn pending(store: &crate::store::Store, id: RequestId) -> bool {
        RECEIVING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&(store.instance(), id))
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        RECEIVING
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

/// Take the decision lock of `facility` (see [`DECISIONS`]).
async fn decisions(facility: &FacilityId) -> tokio::sync::OwnedMutexGuard<()> {
    let lock = {
        let mut all = DECISIONS.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(facility.clone()).or_default().clone()
    };
    lock.lock_owned().await
}

/// Requests a lawyer sees: those made in the last 14 days.
const LIST_WINDOW: Duration = Duration::days(14);
/// The longest visit one request may ask for (a day).
const MAX_MINUTES: u32 = 24 * 60;

pub fn lawyer_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/lawyer/requests",
            get(lawyer_requests).post(lawyer_request),
        )
        .route("/api/lawyer/requests/{id}/cancel", post(lawyer_cancel))
        .route(
            "/api/lawyer/requests/{id}/written-refusal",
            get(lawyer_written_refusal),
        )
        .route("/api/lawyer/visits/{id}/extend", post(lawyer_extend))
        .route("/api/queue/{facility}", get(queue_json))
        .route("/queue/{facility}", get(queue_page))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/admin/api/facilities/{f}/schedule", get(staff_schedule))
        .route("/admin/api/facilities/{f}/settings", put(staff_settings))
        .route("/admin/api/facilities/{f}/hours", put(staff_hours))
        .route(
            "/admin/api/facilities/{f}/holidays",
            post(staff_add_holiday),
        )
        .route(
            "/admin/api/facilities/{f}/holidays/{day}",
            delete(staff_remove_holiday),
        )
        .route(
            "/admin/api/facilities/{f}/sessions",
            post(staff_add_session),
        )
        .route(
            "/admin/api/facilities/{f}/sessions/{id}/approve",
            post(staff_approve_session),
        )
        .route("/admin/api/booths/{id}/kind", put(staff_booth_kind))
        .route("/admin/api/requests", post(staff_enter_request))
        .route("/admin/api/facilities/{f}/queue", get(staff_queue))
        .route("/admin/api/requests/{id}/decline", post(staff_decline))
        .route(
            "/admin/api/requests/{id}/written-refusal",
            put(staff_written_refusal).layer(axum::extract::DefaultBodyLimit::max(
                crate::documents::MAX_DOCUMENT_BYTES + 64 * 1024,
            )),
        )
}

// --- placing ---

fn to_request(r: &RequestRow) -> Request {
    Request {
        id: r.id,
        lawyer: r.lawyer,
        detainee: r.detainee,
        length: Duration::minutes(i64::from(r.expected_min)),
        arrival: match (r.booked_at, r.ticket) {
            (Some(at), _) => Arrival::Booked { at },
            (None, t) => Arrival::WalkIn {
                ticket: t.unwrap_or(0),
            },
        },
        channel: Channel::parse(&r.channel).unwrap_or(Channel::Web),
        requested_at: r.requested_at,
        interrogation_room_consent: r.interrogation_consent,
    }
}

fn schedule_event(
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

/// Place (or re-try) the queued requests `ids` of one facility, in allocation order,
/// auditing each decision before it takes effect. The caller holds the facility's
/// decision lock ([`decisions`]).
async fn place_queued(
    state: &AppState,
    facility: &FacilityId,
    rows: Vec<RequestRow>,
    actor: Actor,
    now: DateTime<Utc>,
) -> Result<Vec<Decision>, ApiError> {
    let cal = state
        .store
        .facility_calendar(facility)
        .await?
        .ok_or_else(|| ApiError::not_found("That facility"))?;
    // Remote police-station booths are the lawyer's side of a visit, never the detainee's.
    let booths: Vec<_> = state
        .store
        .schedule_booths(facility)
        .await?
        .into_iter()
        .filter(|b| b.remote_station.is_none())
        .map(|b| b.booth)
        .collect();
    let existing = state.store.facility_timetable(facility, now).await?;
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
        .map(|record| state.audit.append(actor.clone(), record));
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
                let case = state
                    .store
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
                    companions: Vec::new(),
                    // R-PRIV-2: the consent given with the request travels with the visit.
                    room_consent: row.interrogation_consent,
                    lawyer_booth: None,
                };
                let id = state.store.insert_visit(&visit, now).await?;
                state
                    .store
                    .mark_request_placed(row.id, id, slot.wait.map(WaitReason::code), breached)
                    .await?;
            }
            Outcome::Unplaced { escalation, .. } => {
                let level = escalation.as_str();
                if row.escalation.as_deref() != Some(level) {
                    tracing::warn!(request = %row.id, facility = %facility, level, "visit request has no slot before its deadline; staff escalated");
                    state
                        .store
                        .mark_request_queued(row.id, WaitReason::NoSlotBeforeDeadline.code(), level)
                        .await?;
                }
            }
        }
        out.push(decision);
    }
    Ok(out)
}

/// Re-try every queued request and raise escalations as deadlines approach. Run by
/// [`spawn_escalation_driver`]; public so that tests can drive it with their own `now`.
pub async fn requeue_all(state: &AppState, now: DateTime<Utc>) -> Result<(), ApiError> {
    for f in state.store.facilities_with_queued_requests().await? {
        let _guard = decisions(&f).await;
        let queued: Vec<RequestRow> = state
            .store
            .open_requests(&f, now)
            .await?
            .into_iter()
            .filter(|r| r.status == "queued")
            .collect();
        place_queued(state, &f, queued, Actor::System, now).await?;
    }
    Ok(())
}

/// The driver: every `every`, re-place queued requests (a cancellation may have freed a
/// booth) and escalate by the clock, until `stop` completes. The decisions themselves
/// are pure ([`Allocator`]).
pub fn spawn_escalation_driver(
    state: AppState,
    every: std::time::Duration,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let run = async {
            loop {
                tick.tick().await;
                if let Err(e) = requeue_all(&state, Utc::now()).await {
                    tracing::warn!(
                        code = e.code,
                        "re-placing queued visit requests failed; will retry"
                    );
                }
            }
        };
        tokio::select! {
            _ = run => {}
            _ = stop => {}
        }
    })
}

// --- views ---

#[derive(Serialize)]
struct SlotView {
    booth: String,
    booth_label: String,
    starts_at: String,
    ends_at: String,
}

#[derive(Serialize)]
struct RequestView {
    id: RequestId,
    facility: FacilityId,
    /// The facility-internal reference only (R-PRIV-4).
    detainee_ref: String,
    expected_minutes: u32,
    kind: &'static str,
    booked_at: Option<String>,
    ticket: Option<u32>,
    channel: String,
    entered_by_staff: bool,
    requested_at: String,
    /// The slot must start before this (R-ARRANGE-1).
    deadline: String,
    /// `placed`, `queued`, `cancelled`, `declined`.
    status: String,
    visit_id: Option<VisitId>,
    slot: Option<SlotView>,
    /// 1 = next; only for requests still waiting for their visit.
    queue_position: Option<usize>,
    /// Why the slot is later than asked (or why there is none yet): code and sentence.
    wait: Option<Value>,
    escalation: Option<String>,
    /// R-ARRANGE-5: the detainee's written refusal, delivered to the lawyer.
    declined: Option<Value>,
}

fn wait_view(code: &str) -> Value {
    let reason = [
        WaitReason::OutsideOpeningHours,
        WaitReason::BoothsBusy,
        WaitReason::DetaineeBusy,
        WaitReason::NoSlotBeforeDeadline,
        WaitReason::DeadlineMissed,
    ]
    .into_iter()
    .find(|w| w.code() == code);
    json!({ "code": code, "message": reason.map_or("", WaitReason::message) })
}

fn waiting(r: &RequestRow, now: DateTime<Utc>) -> bool {
    r.status == "queued" || (r.status == "placed" && r.starts_at.is_some_and(|s| s > now))
}

/// Queue order of a facility's waiting requests: placed ones by start, then queued ones
/// by their allocation order.
fn queue_order(open: &[RequestRow], now: DateTime<Utc>) -> Vec<RequestId> {
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

fn request_view(r: &RequestRow, order: &[RequestId], now: DateTime<Utc>) -> RequestView {
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
        declined: (r.status == "declined").then(|| {
            json!({
                "note": r.decline_note,
                "written_refusal_ref": r.decline_scan_ref.as_deref().filter(|s| !s.is_empty()),
                "written_refusal_scan": format!("/api/lawyer/requests/{}/written-refusal", r.id),
                "declined_at": r.closed_at.map(rfc3339),
            })
        }),
    }
}

// --- requests (lawyers and staff) ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRequestBody {
    facility: FacilityId,
    detainee_ref: String,
    expected_minutes: Option<u32>,
    /// Absent: a walk-in (queued with a ticket).
    booked_at: Option<DateTime<Utc>>,
    #[serde(default)]
    interrogation_room_consent: bool,
    /// Staff only: who the booking is for, and how it arrived.
    lawyer_id: Option<LawyerId>,
    channel: Option<Channel>,
}

async fn create_request(
    state: &AppState,
    body: NewRequestBody,
    lawyer: LawyerId,
    channel: Channel,
    entered_by: Option<AdminId>,
    actor: Actor,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = Utc::now();
    let cal = state
        .store
        .facility_calendar(&body.facility)
        .await?
        .ok_or_else(|| ApiError::not_found("That facility"))?;
    let minutes = match body.expected_minutes {
        Some(m) => m,
        None => u32::try_from(cal.calendar.slot_lengths.lawyer_room.num_minutes()).unwrap_or(60),
    };
    if minutes == 0 || minutes > MAX_MINUTES {
        return Err(ApiError::bad_request(
            "invalid_length",
            "Give the expected length of the visit in minutes, from 1 to 1440.",
        ));
    }
    if body.detainee_ref.is_empty() || body.detainee_ref.len() > 100 {
        return Err(ApiError::bad_request(
            "invalid_detainee_ref",
            "Give your client's facility reference number (1 to 100 characters).",
        ));
    }
    let deadline = now + DEADLINE;
    if let Some(at) = body.booked_at {
        if at >= deadline {
            return Err(ApiError::bad_request(
                "booked_time_beyond_deadline",
                "Book a time within the next 48 hours (R-ARRANGE-1), or send a walk-in request to be given the earliest slot.",
            ));
        }
    }
    let detainee = state
        .store
        .detainee_by_ref(&body.facility, &body.detainee_ref)
        .await?
        .map(|d| d.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_detainee_ref",
                "No detainee with this reference is held at this facility. Check the reference with the facility.",
            )
        })?;
    let guard = decisions(&body.facility).await;
    let ticket = match body.booked_at {
        Some(_) => None,
        None => {
            let offset = Duration::minutes(i64::from(cal.calendar.utc_offset_min));
            let local_midnight = (now + offset)
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc() - offset)
                .unwrap_or(now);
            Some(
                state
                    .store
                    .next_ticket(&body.facility, local_midnight)
                    .await?,
            )
        }
    };
    let new = NewRequest {
        facility: body.facility.clone(),
        lawyer,
        detainee,
        expected_min: minutes,
        booked_at: body.booked_at,
        ticket,
        channel,
        entered_by,
        interrogation_consent: body.interrogation_room_consent,
        requested_at: now,
        deadline_at: deadline,
    };
    let id = match state.store.insert_request(&new).await {
        Ok(id) => id,
        Err(StoreError::NotFound(_)) => return Err(ApiError::not_found("That lawyer")),
        Err(e) => return Err(e.into()),
    };
    // Until its receipt is in the audit log, no batch places this request.
    let receiving = Receiving::start(&state.store, id);
    drop(guard);
    let row = state
        .store
        .visit_request(id)
        .await?
        .ok_or_else(|| ApiError::internal("request vanished"))?;
    state
        .audit
        .append(
            actor.clone(),
            schedule_event(
                "request_received",
                &row,
                None,
                None,
                format!(
                    "channel={} kind={} minutes={minutes} deadline_ms={}",
                    channel.as_str(),
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
    let _guard = decisions(&body.facility).await;
    let mine = state
        .store
        .visit_request(id)
        .await?
        .ok_or_else(|| ApiError::internal("request vanished"))?;
    if mine.status == "queued" {
        let queued: Vec<RequestRow> = state
            .store
            .open_requests(&body.facility, now)
            .await?
            .into_iter()
            .filter(|r| r.status == "queued" && !Receiving::pending(&state.store, r.id))
            .collect();
        place_queued(state, &body.facility, queued, Actor::System, now).await?;
    }
    let row = state
        .store
        .visit_request(id)
        .await?
        .ok_or_else(|| ApiError::internal("request vanished"))?;
    let open = state.store.open_requests(&body.facility, now).await?;
    drop(_guard);
    let view = request_view(&row, &queue_order(&open, now), now);
    Ok((StatusCode::CREATED, Json(json!(view))))
}

async fn lawyer_request(
    State(state): State<AppState>,
    session: LawyerSession,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let lawyer = session.0;
    let body: NewRequestBody = json_body(&body)?;
    if body.lawyer_id.is_some() || body.channel.is_some() {
        return Err(ApiError::bad_request(
            "staff_only_field",
            "lawyer_id and channel are set by staff entering a phone or messaging booking; leave them out.",
        ));
    }
    create_request(
        &state,
        body,
        lawyer,
        Channel::Web,
        None,
        Actor::Lawyer(lawyer),
    )
    .await
}

async fn staff_enter_request(
    State(state): State<AppState>,
    Operator(admin): Operator,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body: NewRequestBody = json_body(&body)?;
    let Some(lawyer) = body.lawyer_id else {
        return Err(ApiError::bad_request(
            "missing_lawyer",
            "Say which lawyer the booking is for (lawyer_id).",
        ));
    };
    let channel = body.channel.unwrap_or(Channel::Phone);
    if state.store.lawyer(lawyer).await?.is_none() {
        return Err(ApiError::not_found("That lawyer"));
    }
    create_request(
        &state,
        body,
        lawyer,
        channel,
        Some(admin),
        Actor::Staff(admin),
    )
    .await
}

async fn lawyer_requests(
    State(state): State<AppState>,
    session: LawyerSession,
) -> Result<Json<Value>, ApiError> {
    let lawyer = session.0;
    let now = Utc::now();
    let rows = state
        .store
        .requests_for_lawyer(lawyer, now - LIST_WINDOW)
        .await?;
    let mut orders: std::collections::HashMap<FacilityId, Vec<RequestId>> = Default::default();
    let mut views = Vec::new();
    for r in &rows {
        if !orders.contains_key(&r.facility) && waiting(r, now) {
            let open = state.store.open_requests(&r.facility, now).await?;
            orders.insert(r.facility.clone(), queue_order(&open, now));
        }
        let order = orders.get(&r.facility).map(Vec::as_slice).unwrap_or(&[]);
        views.push(request_view(r, order, now));
    }
    Ok(Json(json!({ "requests": views })))
}

async fn lawyer_cancel(
    State(state): State<AppState>,
    session: LawyerSession,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let lawyer = session.0;
    let now = Utc::now();
    let row = state
        .store
        .visit_request(RequestId(id))
        .await?
        .filter(|r| r.lawyer == lawyer)
        .ok_or_else(|| ApiError::not_found("This request"))?;
    if !(row.status == "queued" || row.status == "placed") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_closed",
            "This request is already cancelled or declined.",
        ));
    }
    let _guard = decisions(&row.facility).await;
    state
        .audit
        .append(
            Actor::Lawyer(lawyer),
            schedule_event(
                "request_cancelled",
                &row,
                row.visit,
                row.booth.clone(),
                String::new(),
            ),
        )
        .await?;
    state
        .store
        .close_request(row.id, "cancelled", "cancelled", None, now)
        .await?;
    Ok(Json(json!({ "id": row.id, "status": "cancelled" })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExtendBody {
    minutes: u32,
}

async fn lawyer_extend(
    State(state): State<AppState>,
    session: LawyerSession,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let lawyer = session.0;
    let body: ExtendBody = json_body(&body)?;
    if body.minutes == 0 || body.minutes > 240 {
        return Err(ApiError::bad_request(
            "invalid_length",
            "Ask for 1 to 240 more minutes.",
        ));
    }
    let now = Utc::now();
    let visit = state
        .store
        .visit(VisitId(id))
        .await?
        .filter(|v| v.lawyer == lawyer)
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    if visit.ended_at.is_some() || now >= visit.ends_at {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "visit_over",
            "This visit has already ended; request a new visit instead.",
        ));
    }
    let _guard = decisions(&visit.facility).await;
    let cal = state
        .store
        .facility_calendar(&visit.facility)
        .await?
        .ok_or_else(|| ApiError::not_found("That facility"))?;
    let booths: Vec<_> = state
        .store
        .schedule_booths(&visit.facility)
        .await?
        .into_iter()
        .filter(|b| b.remote_station.is_none())
        .map(|b| b.booth)
        .collect();
    let timetable = state.store.facility_timetable(&visit.facility, now).await?;
    let detainee = state
        .store
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
    let extra = Duration::minutes(i64::from(body.minutes));
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
            state
                .audit
                .append(
                    Actor::Lawyer(lawyer),
                    record(
                        "visit_extended",
                        format!(
                            "minutes={} new_end_ms={}",
                            body.minutes,
                            new_end.timestamp_millis()
                        ),
                    ),
                )
                .await?;
            state.store.extend_visit(visit.id, new_end).await?;
            // A live visit's timer moves with it, and both sides see the new end.
            state.hub.slot_extended(visit.id, new_end);
            Ok(Json(
                json!({ "granted": true, "ends_at": rfc3339(new_end) }),
            ))
        }
        Extension::OfferNextSlot(d) => {
            let offer = match &d.outcome {
                Outcome::Placed(s) => json!({
                    "booth": s.booth, "starts_at": rfc3339(s.starts_at), "ends_at": rfc3339(s.ends_at),
                }),
                Outcome::Unplaced { .. } => Value::Null,
            };
            state
                .audit
                .append(
                    Actor::Lawyer(lawyer),
                    record(
                        "extension_offered_next_slot",
                        format!("minutes={}", body.minutes),
                    ),
                )
                .await?;
            Ok(Json(json!({
                "granted": false,
                "code": "booth_booked_next",
                "message": "The booth or your client is booked right after this slot, so the time cannot be added. The next free slot is offered: book it to continue.",
                "next_slot": offer,
            })))
        }
    }
}

async fn staff_decline(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct DeclineBody {
        note: String,
        /// The paper file's reference, if the facility keeps one.
        #[serde(default)]
        written_refusal_ref: Option<String>,
    }
    let body: DeclineBody = json_body(&body)?;
    let paper_ref = body
        .written_refusal_ref
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    if paper_ref.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_written_refusal_ref",
            "Keep the written refusal's reference under 200 characters.",
        ));
    }
    // R-ARRANGE-5: the refusal is the detainee's own, in writing; the lawyer receives the scan.
    if state.store.written_refusal(RequestId(id)).await?.is_none() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "written_refusal_not_scanned",
            "Scan the detainee's written refusal and upload it to this request first \
             (PUT .../written-refusal); the lawyer receives the scan.",
        ));
    }
    if body.note.len() > 2000 {
        return Err(ApiError::bad_request(
            "note_too_long",
            "Keep the note under 2000 characters.",
        ));
    }
    let now = Utc::now();
    let row = state
        .store
        .visit_request(RequestId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This request"))?;
    let _guard = decisions(&row.facility).await;
    state
        .audit
        .append(
            Actor::Staff(admin),
            schedule_event(
                "request_declined",
                &row,
                row.visit,
                row.booth.clone(),
                String::new(),
            ),
        )
        .await?;
    let closed = state
        .store
        .close_request(
            row.id,
            "declined",
            "declined_by_detainee",
            Some((body.note.trim(), paper_ref.as_str(), admin)),
            now,
        )
        .await?;
    if !closed {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_closed",
            "This request is already cancelled or declined.",
        ));
    }
    Ok(Json(json!({ "id": row.id, "status": "declined" })))
}

/// Staff upload the scan of the detainee's written refusal (R-ARRANGE-5), before
/// recording the decline. Kept encrypted like the documents; audited before it is recorded.
async fn staff_written_refusal(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = Utc::now();
    let row = state
        .store
        .visit_request(RequestId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This request"))?;
    if !(row.status == "queued" || row.status == "placed") {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "request_closed",
            "This request is already cancelled or declined; its written refusal cannot change.",
        ));
    }
    let sealed = state.documents.seal_file(&body).await?;
    let record = crate::store::refusal::WrittenRefusalRow {
        request: row.id,
        stored_name: sealed.stored_name.clone(),
        media_type: sealed.media_type.as_str().into(),
        sha256: sealed.sha256.clone(),
        size_bytes: sealed.size_bytes,
        uploaded_by: admin,
        uploaded_at: now,
    };
    let recorded = async {
        state
            .audit
            .append(
                Actor::Staff(admin),
                schedule_event(
                    "written_refusal_scanned",
                    &row,
                    row.visit,
                    row.booth.clone(),
                    format!("sha256={} bytes={}", sealed.sha256, sealed.size_bytes),
                ),
            )
            .await?;
        Ok::<_, ApiError>(state.store.put_written_refusal(&record).await?)
    }
    .await;
    match recorded {
        Ok(replaced) => {
            if let Some(old) = replaced {
                state.documents.discard_file(&old).await;
            }
            Ok((
                StatusCode::CREATED,
                Json(json!({
                    "request": row.id, "media_type": record.media_type,
                    "size_bytes": record.size_bytes, "sha256": record.sha256,
                })),
            ))
        }
        Err(e) => {
            state.documents.discard_file(&sealed.stored_name).await;
            Err(e)
        }
    }
}

/// The lawyer receives the scan of the client's written refusal (R-ARRANGE-5).
async fn lawyer_written_refusal(
    State(state): State<AppState>,
    session: LawyerSession,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let row = state
        .store
        .visit_request(RequestId(id))
        .await?
        .filter(|r| r.lawyer == session.0)
        .ok_or_else(|| ApiError::not_found("This request"))?;
    let scan = state
        .store
        .written_refusal(row.id)
        .await?
        .filter(|_| row.status == "declined")
        .ok_or_else(|| ApiError::not_found("A written refusal for this request"))?;
    let bytes = state
        .documents
        .open_file(&scan.stored_name, &scan.sha256)
        .await?;
    Ok(crate::documents::http::download_response(
        bytes,
        &scan.media_type,
        &format!("written-refusal-{}", row.id),
    ))
}

// --- the queue display (R-BOOK-4) ---

async fn queue_data(state: &AppState, facility: &FacilityId) -> Result<Value, ApiError> {
    let now = Utc::now();
    let cal = state
        .store
        .facility_calendar(facility)
        .await?
        .ok_or_else(|| ApiError::not_found("That facility"))?;
    let open = state.store.open_requests(facility, now).await?;
    let mut serving: Vec<u32> = Vec::new();
    let mut waiting_list: Vec<(u32, Option<DateTime<Utc>>)> = Vec::new();
    for r in open.iter() {
        let Some(ticket) = r.ticket else { continue };
        match (r.status.as_str(), r.starts_at) {
            ("placed", Some(s)) if s <= now => serving.push(ticket),
            ("placed", s) => waiting_list.push((ticket, s)),
            _ => waiting_list.push((ticket, None)),
        }
    }
    serving.sort_unstable();
    waiting_list.sort_by_key(|(t, _)| *t);
    let waiting: Vec<Value> = waiting_list
        .iter()
        .map(|(t, s)| {
            json!({
                "ticket": t,
                "estimated_start": s.map(rfc3339),
                "estimated_wait_minutes": s.map(|s| (s - now).num_minutes().max(0)),
            })
        })
        .collect();
    // Names never appear: tickets and times only (R-PRIV-4).
    Ok(json!({
        "facility": facility,
        "facility_name": cal.name,
        "now": rfc3339(now),
        "serving": serving,
        "waiting": waiting,
    }))
}

async fn queue_json(
    State(state): State<AppState>,
    Path(facility): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(queue_data(&state, &FacilityId(facility)).await?))
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A static page for the waiting-area screen (no scripts: the CSP allows none inline;
/// it refreshes itself every 15 seconds).
async fn queue_page(State(state): State<AppState>, Path(facility): Path<String>) -> Response {
    let data = match queue_data(&state, &FacilityId(facility)).await {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let serving: Vec<String> = data["serving"]
        .as_array()
        .map(|a| a.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default();
    let mut rows = String::new();
    for w in data["waiting"].as_array().into_iter().flatten() {
        let wait = match w["estimated_wait_minutes"].as_i64() {
            Some(m) => format!("about {m} min"),
            None => "being arranged".into(),
        };
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td></tr>",
            w["ticket"],
            html_escape(&wait)
        ));
    }
    let name = html_escape(data["facility_name"].as_str().unwrap_or(""));
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"15\"><title>Queue - {name}</title></head>\
         <body><h1>{name}: visit queue</h1>\
         <h2>Now serving</h2><p class=\"serving\">{}</p>\
         <h2>Waiting</h2><table><thead><tr><th>Ticket</th><th>Estimated wait</th></tr></thead><tbody>{rows}</tbody></table>\
         </body></html>",
        if serving.is_empty() { "-".to_owned() } else { serving.join(" ") }
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

// --- staff: calendar and booths ---

fn facility_id(f: String) -> FacilityId {
    FacilityId(f)
}

async fn staff_schedule(
    State(state): State<AppState>,
    _s: Operator,
    Path(f): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = facility_id(f);
    let cal = state
        .store
        .facility_calendar(&f)
        .await?
        .ok_or_else(|| ApiError::not_found("That facility"))?;
    let booths = state.store.schedule_booths(&f).await?;
    let sessions = state.store.extended_sessions(&f).await?;
    let lawyer_rooms = booths
        .iter()
        .filter(|b| b.booth.kind == BoothKind::LawyerRoom && b.remote_station.is_none())
        .count();
    let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
    let c = &cal.calendar;
    Ok(Json(json!({
        "facility": f,
        "name": cal.name,
        "utc_offset_min": c.utc_offset_min,
        "detainee_count": cal.detainee_count,
        "rooms_per_100_detainees": rooms_per_100(lawyer_rooms, cal.detainee_count),
        "rooms_per_100_norm": super::ROOMS_PER_100_NORM,
        "slot_minutes": {
            "lawyer_room": c.slot_lengths.lawyer_room.num_minutes(),
            "fast_room": c.slot_lengths.fast_room.num_minutes(),
            "interrogation_room": c.slot_lengths.interrogation_room.num_minutes(),
        },
        "hours": c.hours.iter().map(|h| json!({
            "weekday": weekday_name(h.weekday), "opens": hhmm(h.opens_min), "closes": hhmm(h.closes_min),
        })).collect::<Vec<_>>(),
        "holidays": c.holidays.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        "extended_sessions": sessions.iter().map(|s| json!({
            "id": s.id, "starts_at": rfc3339(s.starts_at), "ends_at": rfc3339(s.ends_at),
            "proposed_by": s.proposed_by, "approved_by": s.approved_by, "approver": s.approver,
            "approved_at": s.approved_at.map(rfc3339),
        })).collect::<Vec<_>>(),
        "booths": booths.iter().map(|b| json!({
            "id": b.booth.id, "label": b.label, "kind": b.booth.kind.as_str(), "remote_station": b.remote_station,
        })).collect::<Vec<_>>(),
    })))
}

fn weekday_name(w: Weekday) -> &'static str {
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

fn parse_weekday(s: &str) -> Option<Weekday> {
    [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .find(|w| weekday_name(*w) == s)
}

/// `HH:MM` (`24:00` allowed as a closing time) -> minutes after midnight.
fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    let total = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && total <= 1440).then_some(total)
}

async fn audit_calendar(
    state: &AppState,
    admin: AdminId,
    event: &str,
    booth: Option<BoothId>,
    detail: String,
) -> Result<(), ApiError> {
    state
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

async fn staff_settings(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        utc_offset_min: i32,
        detainee_count: u32,
        lawyer_slot_min: u32,
        fast_slot_min: u32,
        interrogation_slot_min: u32,
    }
    let b: Body = json_body(&body)?;
    let ok = (-720..=840).contains(&b.utc_offset_min)
        && (5..=1440).contains(&b.lawyer_slot_min)
        && (5..=30).contains(&b.fast_slot_min)
        && (5..=1440).contains(&b.interrogation_slot_min)
        && b.detainee_count <= 1_000_000;
    if !ok {
        return Err(ApiError::bad_request(
            "invalid_settings",
            "Use a UTC offset from -720 to 840 minutes, slot lengths from 5 to 1440 minutes (fast visits at most 30), and a detainee count up to 1,000,000.",
        ));
    }
    let f = facility_id(f);
    audit_calendar(
        &state,
        admin,
        "facility_settings_set",
        None,
        format!(
            "facility={f} utc_offset_min={} detainee_count={} slots={}/{}/{}",
            b.utc_offset_min,
            b.detainee_count,
            b.lawyer_slot_min,
            b.fast_slot_min,
            b.interrogation_slot_min
        ),
    )
    .await?;
    let settings = FacilitySettings {
        utc_offset_min: b.utc_offset_min,
        detainee_count: b.detainee_count,
        lawyer_slot_min: b.lawyer_slot_min,
        fast_slot_min: b.fast_slot_min,
        interrogation_slot_min: b.interrogation_slot_min,
    };
    match state.store.set_facility_settings(&f, &settings).await {
        Ok(()) => Ok(Json(json!({ "facility": f }))),
        Err(StoreError::NotFound(_)) => Err(ApiError::not_found("That facility")),
        Err(e) => Err(e.into()),
    }
}

async fn staff_hours(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Period {
        weekday: String,
        opens: String,
        closes: String,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        hours: Vec<Period>,
    }
    let b: Body = json_body(&body)?;
    let bad = || {
        ApiError::bad_request(
            "invalid_hours",
            "Give each period as {\"weekday\": \"mon\"..\"sun\", \"opens\": \"HH:MM\", \"closes\": \"HH:MM\"} with the closing after the opening (24:00 allowed).",
        )
    };
    let mut hours = Vec::new();
    for p in &b.hours {
        let weekday = parse_weekday(&p.weekday).ok_or_else(bad)?;
        let opens_min = parse_hhmm(&p.opens).ok_or_else(bad)?;
        let closes_min = parse_hhmm(&p.closes).ok_or_else(bad)?;
        if closes_min <= opens_min || opens_min >= 1440 {
            return Err(bad());
        }
        hours.push(OpeningHours {
            weekday,
            opens_min,
            closes_min,
        });
    }
    if hours.len() > 7 * 4 {
        return Err(bad());
    }
    let f = facility_id(f);
    if state.store.facility_calendar(&f).await?.is_none() {
        return Err(ApiError::not_found("That facility"));
    }
    audit_calendar(
        &state,
        admin,
        "hours_set",
        None,
        format!("facility={f} periods={}", hours.len()),
    )
    .await?;
    match state.store.set_facility_hours(&f, &hours).await {
        Ok(()) => Ok(Json(json!({ "facility": f, "periods": hours.len() }))),
        Err(StoreError::Conflict(_)) => Err(ApiError::bad_request(
            "invalid_hours",
            "Two periods of the same weekday start at the same time; merge them.",
        )),
        Err(e) => Err(e.into()),
    }
}

fn parse_day(s: &str) -> Result<NaiveDate, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request("invalid_date", "Give the day as YYYY-MM-DD."))
}

async fn staff_add_holiday(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        day: String,
    }
    let b: Body = json_body(&body)?;
    let day = parse_day(&b.day)?;
    let f = facility_id(f);
    if state.store.facility_calendar(&f).await?.is_none() {
        return Err(ApiError::not_found("That facility"));
    }
    audit_calendar(
        &state,
        admin,
        "holiday_added",
        None,
        format!("facility={f} day={day}"),
    )
    .await?;
    state.store.add_facility_holiday(&f, day).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "facility": f, "day": day.to_string() })),
    ))
}

async fn staff_remove_holiday(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path((f, day)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let day = parse_day(&day)?;
    let f = facility_id(f);
    audit_calendar(
        &state,
        admin,
        "holiday_removed",
        None,
        format!("facility={f} day={day}"),
    )
    .await?;
    if state.store.remove_facility_holiday(&f, day).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("That holiday"))
    }
}

async fn staff_add_session(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        starts_at: DateTime<Utc>,
        ends_at: DateTime<Utc>,
    }
    let b: Body = json_body(&body)?;
    if b.ends_at <= b.starts_at || b.ends_at - b.starts_at > Duration::hours(24) {
        return Err(ApiError::bad_request(
            "invalid_session",
            "An extended session must end after it starts and last at most 24 hours.",
        ));
    }
    let f = facility_id(f);
    if state.store.facility_calendar(&f).await?.is_none() {
        return Err(ApiError::not_found("That facility"));
    }
    audit_calendar(
        &state,
        admin,
        "session_proposed",
        None,
        format!(
            "facility={f} starts_at_ms={} ends_at_ms={}",
            b.starts_at.timestamp_millis(),
            b.ends_at.timestamp_millis()
        ),
    )
    .await?;
    let id = state
        .store
        .insert_extended_session(&f, b.starts_at, b.ends_at, admin, Utc::now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": id, "approved": false })),
    ))
}

async fn staff_approve_session(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path((f, id)): Path<(String, i64)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        /// The facility head who approved (name or staff reference, as on the approval).
        approver: String,
    }
    let b: Body = json_body(&body)?;
    if b.approver.trim().is_empty() || b.approver.len() > 200 {
        return Err(ApiError::bad_request(
            "missing_approver",
            "Say which facility head approved the session (1 to 200 characters).",
        ));
    }
    let f = facility_id(f);
    audit_calendar(
        &state,
        admin,
        "session_approved",
        None,
        format!("facility={f} session={id}"),
    )
    .await?;
    if !state
        .store
        .approve_extended_session(&f, id, admin, b.approver.trim(), Utc::now())
        .await?
    {
        return Err(ApiError::not_found("An unapproved session with this id"));
    }
    // Queued requests may fit now.
    let _guard = decisions(&f).await;
    let now = Utc::now();
    let queued: Vec<RequestRow> = state
        .store
        .open_requests(&f, now)
        .await?
        .into_iter()
        .filter(|r| r.status == "queued")
        .collect();
    place_queued(&state, &f, queued, Actor::Staff(admin), now).await?;
    Ok(Json(json!({ "id": id, "approved": true })))
}

async fn staff_booth_kind(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        kind: BoothKind,
        remote_station: Option<String>,
    }
    let b: Body = json_body(&body)?;
    if b.remote_station
        .as_ref()
        .is_some_and(|s| s.trim().is_empty() || s.len() > 200)
    {
        return Err(ApiError::bad_request(
            "invalid_remote_station",
            "Name the police station of a remote booth in 1 to 200 characters, or leave it out.",
        ));
    }
    let booth = BoothId(id);
    if state.store.booth(&booth).await?.is_none() {
        return Err(ApiError::not_found("That booth"));
    }
    audit_calendar(
        &state,
        admin,
        "booth_kind_set",
        Some(booth.clone()),
        format!(
            "kind={} remote={}",
            b.kind.as_str(),
            b.remote_station.is_some()
        ),
    )
    .await?;
    state
        .store
        .set_booth_kind(&booth, b.kind, b.remote_station.as_deref())
        .await?;
    Ok(Json(json!({ "id": booth, "kind": b.kind.as_str() })))
}

async fn staff_queue(
    State(state): State<AppState>,
    _s: Operator,
    Path(f): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = facility_id(f);
    let now = Utc::now();
    if state.store.facility_calendar(&f).await?.is_none() {
        return Err(ApiError::not_found("That facility"));
    }
    let open = state.store.open_requests(&f, now).await?;
    let order = queue_order(&open, now);
    let list: Vec<Value> = open
        .iter()
        .map(|r| {
            let mut v = json!(request_view(r, &order, now));
            v["lawyer_id"] = json!(r.lawyer);
            v
        })
        .collect();
    let escalated = open.iter().filter(|r| r.escalation.is_some()).count();
    let breached = open
        .iter()
        .filter(|r| r.escalation.as_deref() == Some(Escalation::Breached.as_str()))
        .count();
    Ok(Json(json!({
        "facility": f,
        "requests": list,
        "escalated": escalated,
        "breached": breached,
    })))
}
