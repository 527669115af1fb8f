//! The scheduler's routes on the admin listener (R-ARRANGE-5, R-BOOK-1, R-BOOK-4,
//! R-BOOK-5, R-REMOTE-1), for operators: thin handlers that check the role, read and
//! validate the body and call the [`Scheduler`].
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
//! | `POST /admin/api/requests/{id}/decline` | the detainee declined in writing (R-ARRANGE-5): needs the scan first; a live visit ends at once |
//!
//! Does not: decide, audit or store anything (the [`Scheduler`] does); the lawyers'
//! routes are in `routes_lawyer`.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRef, Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{Duration, NaiveDate, Weekday};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::calendar::weekday_name;
use super::routes_lawyer::ask;
use super::service::{Booker, Scheduler};
use super::views::{
    ApproveBody, BoothKindBody, BoothKindSet, Closed, DeclineBody, FacilitySet, HolidayAdded,
    HolidayBody, HoursBody, HoursSet, NewRequestBody, RequestView, ScanStored, ScheduleView,
    SessionBody, SessionState, SettingsBody, StaffQueue,
};
use super::{Channel, OpeningHours, RequestId};
use crate::audit::Audit;
use crate::auth::Sessions;
use crate::http::extract::{JsonBody, Operator};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::{BoothId, FacilityId};
use crate::store::schedule::FacilitySettings;

/// What the staff scheduling routes use (the role extractors need the sessions and the
/// audit log, where a refusal for a wrong role is recorded).
#[derive(Clone, FromRef)]
pub struct SchedulerAdminRoutes {
    pub scheduler: Scheduler,
    pub sessions: Sessions,
    pub audit: Audit,
}

/// The scheduler's staff routes, documented.
pub fn admin_routes(state: SchedulerAdminRoutes) -> OpenApiRouter {
    let (schemas, paths, upload) = routes!(staff_written_refusal);
    let upload = upload.layer(DefaultBodyLimit::max(
        crate::documents::MAX_DOCUMENT_BYTES + 64 * 1024,
    ));
    OpenApiRouter::new()
        .routes(routes!(staff_schedule))
        .routes(routes!(staff_settings))
        .routes(routes!(staff_hours))
        .routes(routes!(staff_add_holiday))
        .routes(routes!(staff_remove_holiday))
        .routes(routes!(staff_add_session))
        .routes(routes!(staff_approve_session))
        .routes(routes!(staff_booth_kind))
        .routes(routes!(staff_enter_request))
        .routes(routes!(staff_queue))
        .routes(routes!(staff_decline))
        .routes((schemas, paths, upload))
        .with_state(state)
}

/// A facility's calendar, booths and kinds, sessions, rooms per 100 detainees (R-BOOK-5).
#[utoipa::path(get, path = "/admin/api/facilities/{f}/schedule", tag = "scheduling",
    params(("f" = String, Path, description = "The facility's id")),
    responses(
        (status = 200, description = "The facility's schedule", body = ScheduleView),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_schedule(
    State(scheduler): State<Scheduler>,
    _s: Operator,
    Path(f): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    Ok(Json(scheduler.overview(&FacilityId(f)).await?))
}

/// UTC offset, detainee count, default slot lengths.
#[utoipa::path(put, path = "/admin/api/facilities/{f}/settings", tag = "scheduling",
    params(("f" = String, Path, description = "The facility's id")),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "Set", body = FacilitySet),
        (status = 400, description = "Out of range (`invalid_settings`) or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_settings(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    JsonBody(b): JsonBody<SettingsBody>,
) -> Result<Json<FacilitySet>, ApiError> {
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
    let facility = FacilityId(f);
    let settings = FacilitySettings {
        utc_offset_min: b.utc_offset_min,
        detainee_count: b.detainee_count,
        lawyer_slot_min: b.lawyer_slot_min,
        fast_slot_min: b.fast_slot_min,
        interrogation_slot_min: b.interrogation_slot_min,
    };
    scheduler.set_settings(admin, &facility, &settings).await?;
    Ok(Json(FacilitySet { facility }))
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

/// Replace the weekly opening hours, in the facility's local time (R-BOOK-4).
#[utoipa::path(put, path = "/admin/api/facilities/{f}/hours", tag = "scheduling",
    params(("f" = String, Path, description = "The facility's id")),
    request_body = HoursBody,
    responses(
        (status = 200, description = "Set", body = HoursSet),
        (status = 400, description = "A period is not valid (`invalid_hours`) or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_hours(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    JsonBody(b): JsonBody<HoursBody>,
) -> Result<Json<HoursSet>, ApiError> {
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
    let facility = FacilityId(f);
    scheduler.set_hours(admin, &facility, &hours).await?;
    Ok(Json(HoursSet {
        facility,
        periods: hours.len(),
    }))
}

fn parse_day(s: &str) -> Result<NaiveDate, ApiError> {
    s.parse()
        .map_err(|_| ApiError::bad_request("invalid_date", "Give the day as YYYY-MM-DD."))
}

/// Add a holiday: the facility is closed that (local) day.
#[utoipa::path(post, path = "/admin/api/facilities/{f}/holidays", tag = "scheduling",
    params(("f" = String, Path, description = "The facility's id")),
    request_body = HolidayBody,
    responses(
        (status = 201, description = "Added", body = HolidayAdded),
        (status = 400, description = "Not a YYYY-MM-DD day (`invalid_date`) or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_add_holiday(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    JsonBody(b): JsonBody<HolidayBody>,
) -> Result<(StatusCode, Json<HolidayAdded>), ApiError> {
    let day = parse_day(&b.day)?;
    let facility = FacilityId(f);
    scheduler.add_holiday(admin, &facility, day).await?;
    Ok((
        StatusCode::CREATED,
        Json(HolidayAdded {
            facility,
            day: day.to_string(),
        }),
    ))
}

/// Remove a holiday.
#[utoipa::path(delete, path = "/admin/api/facilities/{f}/holidays/{day}", tag = "scheduling",
    params(
        ("f" = String, Path, description = "The facility's id"),
        ("day" = String, Path, description = "The day, YYYY-MM-DD"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "Not a YYYY-MM-DD day (`invalid_date`)", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such holiday", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_remove_holiday(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path((f, day)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let day = parse_day(&day)?;
    scheduler.remove_holiday(admin, &FacilityId(f), day).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Propose an extended (evening or weekend) session; unused until approved (R-BOOK-4).
#[utoipa::path(post, path = "/admin/api/facilities/{f}/sessions", tag = "scheduling",
    params(("f" = String, Path, description = "The facility's id")),
    request_body = SessionBody,
    responses(
        (status = 201, description = "Proposed, not yet approved", body = SessionState),
        (status = 400, description = "Ends before it starts or lasts over 24 hours (`invalid_session`), or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_add_session(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(f): Path<String>,
    JsonBody(b): JsonBody<SessionBody>,
) -> Result<(StatusCode, Json<SessionState>), ApiError> {
    if b.ends_at <= b.starts_at || b.ends_at - b.starts_at > Duration::hours(24) {
        return Err(ApiError::bad_request(
            "invalid_session",
            "An extended session must end after it starts and last at most 24 hours.",
        ));
    }
    let id = scheduler
        .propose_session(admin, &FacilityId(f), b.starts_at, b.ends_at)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(SessionState {
            id,
            approved: false,
        }),
    ))
}

/// Record the facility head's approval of a session; queued requests may be placed in it.
#[utoipa::path(post, path = "/admin/api/facilities/{f}/sessions/{id}/approve", tag = "scheduling",
    params(
        ("f" = String, Path, description = "The facility's id"),
        ("id" = i64, Path, description = "The session's id"),
    ),
    request_body = ApproveBody,
    responses(
        (status = 200, description = "Approved", body = SessionState),
        (status = 400, description = "No approver named (`missing_approver`), or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No unapproved session with this id", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_approve_session(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path((f, id)): Path<(String, i64)>,
    JsonBody(b): JsonBody<ApproveBody>,
) -> Result<Json<SessionState>, ApiError> {
    if b.approver.trim().is_empty() || b.approver.len() > 200 {
        return Err(ApiError::bad_request(
            "missing_approver",
            "Say which facility head approved the session (1 to 200 characters).",
        ));
    }
    scheduler
        .approve_session(admin, &FacilityId(f), id, b.approver.trim())
        .await?;
    Ok(Json(SessionState { id, approved: true }))
}

/// A booth's kind; a remote police-station booth names its station (R-BOOK-5, R-REMOTE-1).
#[utoipa::path(put, path = "/admin/api/booths/{id}/kind", tag = "scheduling",
    params(("id" = String, Path, description = "The booth's id")),
    request_body = BoothKindBody,
    responses(
        (status = 200, description = "Set", body = BoothKindSet),
        (status = 400, description = "Station name empty or too long (`invalid_remote_station`), or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such booth", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_booth_kind(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(id): Path<String>,
    JsonBody(b): JsonBody<BoothKindBody>,
) -> Result<Json<BoothKindSet>, ApiError> {
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
    scheduler
        .set_booth_kind(admin, &booth, b.kind, b.remote_station.as_deref())
        .await?;
    Ok(Json(BoothKindSet {
        id: booth,
        kind: b.kind.as_str(),
    }))
}

/// A booking taken by phone or messaging, entered for a lawyer (R-BOOK-1).
#[utoipa::path(post, path = "/admin/api/requests", tag = "scheduling",
    request_body = NewRequestBody,
    responses(
        (status = 201, description = "Received: placed, or queued with its reason", body = RequestView),
        (status = 400, description = "No lawyer named (`missing_lawyer`), invalid length or reference, booked beyond 48 hours, or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "Unknown lawyer, facility or detainee reference", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_enter_request(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    JsonBody(body): JsonBody<NewRequestBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    let Some(lawyer) = body.lawyer_id else {
        return Err(ApiError::bad_request(
            "missing_lawyer",
            "Say which lawyer the booking is for (lawyer_id).",
        ));
    };
    let channel = body.channel.unwrap_or(Channel::Phone);
    let by = Booker {
        lawyer,
        channel,
        entered_by: Some(admin),
    };
    let view = scheduler.request_visit(ask(body), by).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// A facility's open requests with deadlines and escalations (R-ARRANGE-1).
#[utoipa::path(get, path = "/admin/api/facilities/{f}/queue", tag = "scheduling",
    params(("f" = String, Path, description = "The facility's id")),
    responses(
        (status = 200, description = "Open requests, escalated and breached counts", body = StaffQueue),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such facility", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_queue(
    State(scheduler): State<Scheduler>,
    _s: Operator,
    Path(f): Path<String>,
) -> Result<Json<StaffQueue>, ApiError> {
    Ok(Json(scheduler.staff_queue(&FacilityId(f)).await?))
}

/// The detainee declined in writing (R-ARRANGE-5): needs the uploaded scan; the lawyer
/// receives it. A live visit ends `declined` at once through the visit hub (both sides
/// told, media stopped) before this answers.
#[utoipa::path(post, path = "/admin/api/requests/{id}/decline", tag = "scheduling",
    params(("id" = i64, Path, description = "The request's id")),
    request_body = DeclineBody,
    responses(
        (status = 200, description = "Declined", body = Closed),
        (status = 400, description = "Note or reference too long, or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "No scan uploaded yet (`written_refusal_not_scanned`), or already closed (`request_closed`)", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_decline(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<DeclineBody>,
) -> Result<Json<Closed>, ApiError> {
    let id = scheduler
        .decline(
            admin,
            RequestId(id),
            &body.note,
            body.written_refusal_ref.as_deref(),
        )
        .await?;
    Ok(Json(Closed {
        id,
        status: "declined",
    }))
}

/// Upload the scan of the detainee's written refusal (PDF, JPEG or PNG, at most 10 MiB),
/// before recording the decline; kept encrypted (R-ARRANGE-5).
#[utoipa::path(put, path = "/admin/api/requests/{id}/written-refusal", tag = "scheduling",
    params(("id" = i64, Path, description = "The request's id")),
    request_body(content = Vec<u8>, description = "The scan's bytes", content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Stored", body = ScanStored),
        (status = 400, description = "Empty", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 403, description = "Not an operator (`role_forbidden`, audited)", body = ErrorBody),
        (status = 404, description = "No such request", body = ErrorBody),
        (status = 409, description = "Already cancelled or declined (`request_closed`)", body = ErrorBody),
        (status = 413, description = "Too large", body = ErrorBody),
        (status = 415, description = "Not a PDF, JPEG or PNG", body = ErrorBody),
    ),
    security(("staff_session" = [])))]
async fn staff_written_refusal(
    State(scheduler): State<Scheduler>,
    Operator(admin): Operator,
    Path(id): Path<i64>,
    body: Bytes,
) -> Result<(StatusCode, Json<ScanStored>), ApiError> {
    let record = scheduler
        .put_written_refusal(admin, RequestId(id), &body)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(ScanStored {
            request: record.request,
            media_type: record.media_type,
            size_bytes: record.size_bytes,
            sha256: record.sha256,
        }),
    ))
}
