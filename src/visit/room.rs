//! A borrowed interrogation room (R-PRIV-2): before any media flows in a visit placed in
//! one, the officer at the booth (or an operator) attests that the room's recording and
//! monitoring equipment is off. `policy` refuses every participant until the attestation
//! is recorded ([`crate::policy::Room`]); this module records it, audit first.
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /api/booth/visits/{id}/room-attestation` | the visit's booth (certificate) | the officer at the booth attests |
//! | `POST /admin/api/visits/{id}/room-attestation` | operator | an operator attests for the officer |
//!
//! Body: `{"officer": "<badge or staff number>", "recording_off": true, "monitoring_off": true}`.
//! Both statements must be `true`: there is no partial attestation. An attestation is
//! accepted from [`EARLIEST`] before the slot until its end, once per visit (a repeat
//! answers with the one already recorded).

//!
//! Does not: let media flow (that is `policy` and the hub, which read the record), or
//! check the room's equipment itself: the attestation is the officer's statement.

use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::{Booths, Sessions};
use crate::http::extract::{BoothAuth, JsonBody, Operator};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::model::time::rfc3339;
use crate::policy::Room;
use crate::store::room::AttestedVia;
use crate::store::Store;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// How long before its slot a room may be attested (the officer prepares the room).
pub const EARLIEST: Duration = Duration::minutes(15);

/// What the booth's attestation route uses (public listener).
#[derive(Clone, axum::extract::FromRef)]
pub struct RoomRoutes {
    pub store: Store,
    pub audit: Audit,
    pub booths: Booths,
}

/// What the operator's attestation route uses (admin listener).
#[derive(Clone, axum::extract::FromRef)]
pub struct RoomAdminRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
}

/// `POST /api/booth/visits/{id}/room-attestation` (public listener, booth certificate).
pub fn routes(state: RoomRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(booth_attests))
        .with_state(state)
}

/// `POST /admin/api/visits/{id}/room-attestation` (admin listener, operator).
pub fn admin_routes(state: RoomAdminRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(operator_attests))
        .with_state(state)
}

/// The officer's statement: both must be `true`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttestationBody {
    /// The attesting officer's badge or staff number (1 to 64 characters).
    officer: String,
    recording_off: bool,
    monitoring_off: bool,
}

/// The attestation on record.
#[derive(Serialize, ToSchema)]
pub struct Attested {
    visit: i64,
    /// Always `true`.
    attested: bool,
    /// `booth` or `staff`: who attested.
    via: String,
    attested_at: String,
}

#[utoipa::path(
    post,
    path = "/api/booth/visits/{id}/room-attestation",
    tag = "room",
    params(("id" = i64, Path, description = "The visit, booked for this booth")),
    request_body = AttestationBody,
    responses(
        (status = 200, description = "Attested (audited first, R-PRIV-2), or the attestation already recorded", body = Attested),
        (status = 400, description = "`malformed_request`, `invalid_officer` or `attestation_incomplete`", body = ErrorBody),
        (status = 401, description = "The booth certificate is missing or not valid", body = ErrorBody),
        (status = 403, description = "`booth_mismatch`, or the certificate is refused", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "`not_a_borrowed_room`, `visit_ended` or `attestation_too_early`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("booth_certificate" = []))
)]
async fn booth_attests(
    State(store): State<Store>,
    State(audit): State<Audit>,
    BoothAuth(me): BoothAuth,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<AttestationBody>,
) -> Result<Json<Attested>, ApiError> {
    let visit = VisitId(id);
    let row = store
        .visit(visit)
        .await?
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    if &row.booth != me.booth() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "booth_mismatch",
            "This visit is booked for another booth; attest the room at its own booth.",
        ));
    }
    let actor = Actor::Booth(me.booth().clone());
    let via = AttestedVia::Booth;
    attest(&store, &audit, visit, via, actor, body, Utc::now()).await
}

#[utoipa::path(
    post,
    path = "/admin/api/visits/{id}/room-attestation",
    tag = "room",
    params(("id" = i64, Path, description = "The visit")),
    request_body = AttestationBody,
    responses(
        (status = 200, description = "Attested for the officer (audited first, R-PRIV-2), or the attestation already recorded", body = Attested),
        (status = 400, description = "`malformed_request`, `invalid_officer` or `attestation_incomplete`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "`not_a_borrowed_room`, `visit_ended` or `attestation_too_early`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn operator_attests(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(admin): Operator,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<AttestationBody>,
) -> Result<Json<Attested>, ApiError> {
    let via = AttestedVia::Staff(admin);
    attest(
        &store,
        &audit,
        VisitId(id),
        via,
        Actor::Staff(admin),
        body,
        Utc::now(),
    )
    .await
}

async fn attest(
    store: &Store,
    audit: &Audit,
    visit: VisitId,
    via: AttestedVia,
    actor: Actor,
    body: AttestationBody,
    now: DateTime<Utc>,
) -> Result<Json<Attested>, ApiError> {
    let officer = body.officer.trim();
    if officer.is_empty() || officer.chars().count() > 64 {
        return Err(ApiError::bad_request(
            "invalid_officer",
            "Write the attesting officer's badge or staff number (1 to 64 characters).",
        ));
    }
    if !(body.recording_off && body.monitoring_off) {
        return Err(ApiError::bad_request(
            "attestation_incomplete",
            "Media may flow only once both the recording and the monitoring equipment of the room \
             are off. Switch them off, then confirm both.",
        ));
    }
    let row = store
        .visit(visit)
        .await?
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    if !matches!(row.room, Room::Borrowed { .. }) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_a_borrowed_room",
            "This visit is in a lawyer room or a fast-visit room: nothing needs to be attested.",
        ));
    }
    if let Some(done) = store.room_attestation(visit).await? {
        return Ok(Json(view(visit, &done.via, done.attested_at)));
    }
    if row.ended_at.is_some() || now >= row.ends_at {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "visit_ended",
            "This visit is over; there is nothing to attest.",
        ));
    }
    if now < row.starts_at - EARLIEST {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "attestation_too_early",
            "Attest the room when it is prepared for this visit: at most 15 minutes before the slot starts.",
        ));
    }
    audit
        .append(
            actor,
            AuditRecord::RoomAttested {
                visit,
                booth: row.booth.clone(),
                via: via.as_str().into(),
                officer: officer.into(),
            },
        )
        .await?;
    store
        .attest_room(visit, &row.booth, via, officer, now)
        .await?;
    tracing::info!(visit = %visit, via = via.as_str(), "borrowed room attested: recording and monitoring off");
    Ok(Json(view(visit, via.as_str(), now)))
}

fn view(visit: VisitId, via: &str, at: DateTime<Utc>) -> Attested {
    Attested {
        visit: visit.0,
        attested: true,
        via: via.to_owned(),
        attested_at: rfc3339(at),
    }
}
