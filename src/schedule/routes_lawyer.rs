//! The scheduler's routes on the public listener (R-ARRANGE-1, R-ARRANGE-4, R-ARRANGE-5,
//! R-BOOK-1..4): thin handlers that check the caller, read the body and call the
//! [`Scheduler`].
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /api/lawyer/requests` | lawyer session | ask for a visit: booked for a time or a walk-in |
//! | `GET /api/lawyer/requests` | lawyer session | own requests: slot, queue position, deadline, why it waits, declines |
//! | `POST /api/lawyer/requests/{id}/cancel` | lawyer session, own request | cancel; a placed visit ends `cancelled`, a live one at once |
//! | `GET /api/lawyer/requests/{id}/written-refusal` | lawyer session, own declined request | the client's scanned written refusal (R-ARRANGE-5) |
//! | `POST /api/lawyer/visits/{id}/extend` | lawyer session, own visit | more time, or the next slot offered |
//! | `GET /queue/{facility}`, `GET /api/queue/{facility}` | anyone (waiting-area screen) | ticket numbers served and waiting, estimated wait; no names |
//!
//! Does not: decide, audit or store anything (the [`Scheduler`] does); the staff routes
//! are in `routes_admin`.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{Ask, Booker, Extended, Scheduler};
use super::views::{
    rfc3339, Closed, ExtendAnswer, ExtendBody, NewRequestBody, OfferedSlot, QueueDisplay,
    RequestList, RequestView,
};
use super::{Channel, RequestId};
use crate::auth::Sessions;
use crate::http::extract::{JsonBody, LawyerSession};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::{FacilityId, VisitId};

/// What the public scheduling routes use.
#[derive(Clone, FromRef)]
pub struct SchedulerRoutes {
    pub scheduler: Scheduler,
    pub sessions: Sessions,
}

/// The scheduler's public routes, documented.
pub fn routes(state: SchedulerRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(lawyer_request, lawyer_requests))
        .routes(routes!(lawyer_cancel))
        .routes(routes!(lawyer_written_refusal))
        .routes(routes!(lawyer_extend))
        .routes(routes!(queue_json))
        .routes(routes!(queue_page))
        .with_state(state)
}

/// Ask for a visit: a booking (`booked_at`) or a walk-in with a ticket (R-BOOK-1,
/// R-BOOK-2). Never refused for want of a slot: placed, or queued and escalated
/// (R-ARRANGE-1, R-ARRANGE-2).
#[utoipa::path(post, path = "/api/lawyer/requests", tag = "scheduling",
    request_body = NewRequestBody,
    responses(
        (status = 201, description = "Received: placed, or queued with its reason", body = RequestView),
        (status = 400, description = "Malformed, invalid length or reference, booked beyond 48 hours, or a staff-only field", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "Unknown facility or detainee reference", body = ErrorBody),
    ),
    security(("lawyer_session" = [])))]
async fn lawyer_request(
    State(scheduler): State<Scheduler>,
    LawyerSession(lawyer, _): LawyerSession,
    JsonBody(body): JsonBody<NewRequestBody>,
) -> Result<(StatusCode, Json<RequestView>), ApiError> {
    if body.lawyer_id.is_some() || body.channel.is_some() {
        return Err(ApiError::bad_request(
            "staff_only_field",
            "lawyer_id and channel are set by staff entering a phone or messaging booking; leave them out.",
        ));
    }
    let view = scheduler
        .request_visit(
            ask(body),
            Booker {
                lawyer,
                channel: Channel::Web,
                entered_by: None,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// The request part of a body (lawyer or staff).
pub(super) fn ask(body: NewRequestBody) -> Ask {
    Ask {
        facility: body.facility,
        detainee_ref: body.detainee_ref,
        expected_minutes: body.expected_minutes,
        booked_at: body.booked_at,
        interrogation_room_consent: body.interrogation_room_consent,
    }
}

/// The lawyer's own requests of the last 14 days.
#[utoipa::path(get, path = "/api/lawyer/requests", tag = "scheduling",
    responses(
        (status = 200, description = "Own requests: slot, queue position, deadline, why it waits, declines", body = RequestList),
        (status = 401, description = "Not signed in", body = ErrorBody),
    ),
    security(("lawyer_session" = [])))]
async fn lawyer_requests(
    State(scheduler): State<Scheduler>,
    LawyerSession(lawyer, _): LawyerSession,
) -> Result<Json<RequestList>, ApiError> {
    let requests = scheduler.lawyer_requests(lawyer).await?;
    Ok(Json(RequestList { requests }))
}

/// Cancel an own request; a placed visit ends `cancelled`, a live one at once through
/// the visit hub (both sides told, media stopped) before this answers.
#[utoipa::path(post, path = "/api/lawyer/requests/{id}/cancel", tag = "scheduling",
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "Cancelled", body = Closed),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such request of this lawyer", body = ErrorBody),
        (status = 409, description = "Already cancelled or declined (`request_closed`)", body = ErrorBody),
    ),
    security(("lawyer_session" = [])))]
async fn lawyer_cancel(
    State(scheduler): State<Scheduler>,
    LawyerSession(lawyer, _): LawyerSession,
    Path(id): Path<i64>,
) -> Result<Json<Closed>, ApiError> {
    let id = scheduler.cancel(lawyer, RequestId(id)).await?;
    Ok(Json(Closed {
        id,
        status: "cancelled",
    }))
}

/// The scan of the client's written refusal of a declined request (R-ARRANGE-5).
#[utoipa::path(get, path = "/api/lawyer/requests/{id}/written-refusal", tag = "scheduling",
    params(("id" = i64, Path, description = "The request's id")),
    responses(
        (status = 200, description = "The scan, exactly as uploaded (PDF, JPEG or PNG)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such declined request of this lawyer, or no scan", body = ErrorBody),
    ),
    security(("lawyer_session" = [])))]
async fn lawyer_written_refusal(
    State(scheduler): State<Scheduler>,
    LawyerSession(lawyer, _): LawyerSession,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let scan = scheduler.written_refusal_for(lawyer, RequestId(id)).await?;
    Ok(super::http::download(
        scan.bytes,
        &scan.media_type,
        &format!("written-refusal-{}", scan.request),
    ))
}

/// More time for an own running visit (R-ARRANGE-4): granted when the booth and the
/// client are free, otherwise the next slot is offered.
#[utoipa::path(post, path = "/api/lawyer/visits/{id}/extend", tag = "scheduling",
    params(("id" = i64, Path, description = "The visit's id")),
    request_body = ExtendBody,
    responses(
        (status = 200, description = "Granted (`granted: true`), or the next slot offered (`granted: false`, `code: booth_booked_next`)", body = ExtendAnswer),
        (status = 400, description = "Not 1 to 240 minutes, or malformed", body = ErrorBody),
        (status = 401, description = "Not signed in", body = ErrorBody),
        (status = 404, description = "No such visit of this lawyer", body = ErrorBody),
        (status = 409, description = "The visit is over (`visit_over`)", body = ErrorBody),
    ),
    security(("lawyer_session" = [])))]
async fn lawyer_extend(
    State(scheduler): State<Scheduler>,
    LawyerSession(lawyer, _): LawyerSession,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<ExtendBody>,
) -> Result<Json<ExtendAnswer>, ApiError> {
    if body.minutes == 0 || body.minutes > 240 {
        return Err(ApiError::bad_request(
            "invalid_length",
            "Ask for 1 to 240 more minutes.",
        ));
    }
    let answer = match scheduler.extend(lawyer, VisitId(id), body.minutes).await? {
        Extended::Granted { new_end } => ExtendAnswer::Granted {
            granted: true,
            ends_at: rfc3339(new_end),
        },
        Extended::NextSlotOffered(offer) => ExtendAnswer::Offered {
            granted: false,
            code: "booth_booked_next",
            message: "The booth or your client is booked right after this slot, so the time cannot be added. The next free slot is offered: book it to continue.",
            next_slot: offer.map(|(booth, s, e)| OfferedSlot {
                booth: booth.0,
                starts_at: rfc3339(s),
                ends_at: rfc3339(e),
            }),
        },
    };
    Ok(Json(answer))
}

/// The queue of a facility for a waiting-area screen: tickets served and waiting,
/// estimated waits; never names (R-BOOK-4, R-PRIV-4).
#[utoipa::path(get, path = "/api/queue/{facility}", tag = "scheduling",
    params(("facility" = String, Path, description = "The facility's id")),
    responses(
        (status = 200, description = "Tickets and times", body = QueueDisplay),
        (status = 404, description = "No such facility", body = ErrorBody),
    ))]
async fn queue_json(
    State(scheduler): State<Scheduler>,
    Path(facility): Path<String>,
) -> Result<Json<QueueDisplay>, ApiError> {
    Ok(Json(scheduler.queue_display(&FacilityId(facility)).await?))
}

/// The same queue as a static page that refreshes itself every 15 seconds (no scripts).
#[utoipa::path(get, path = "/queue/{facility}", tag = "scheduling",
    params(("facility" = String, Path, description = "The facility's id")),
    responses(
        (status = 200, description = "The waiting-area page", content_type = "text/html", body = String),
        (status = 404, description = "No such facility", body = ErrorBody),
    ))]
async fn queue_page(State(scheduler): State<Scheduler>, Path(facility): Path<String>) -> Response {
    match scheduler.queue_display(&FacilityId(facility)).await {
        Ok(data) => super::http::queue_page(&data),
        Err(e) => ApiError::from(e).into_response(),
    }
}
