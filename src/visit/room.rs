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

use crate::admin::roles::Operator;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::{json_body, rfc3339, BoothAuth};
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::policy::Room;
use crate::store::room::AttestedVia;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

/// How long before its slot a room may be attested (the officer prepares the room).
pub const EARLIEST: Duration = Duration::minutes(15);

pub fn booth_routes() -> Router<AppState> {
    Router::new().route(
        "/api/booth/visits/{id}/room-attestation",
        post(booth_attests),
    )
}

pub fn admin_routes() -> Router<AppState> {
    Router::new().route(
        "/admin/api/visits/{id}/room-attestation",
        post(operator_attests),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationBody {
    officer: String,
    recording_off: bool,
    monitoring_off: bool,
}

async fn booth_attests(
    State(state): State<AppState>,
    BoothAuth(me): BoothAuth,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: AttestationBody = json_body(&body)?;
    let visit = VisitId(id);
    let row = state
        .store
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
    attest(&state, visit, AttestedVia::Booth, actor, body, Utc::now()).await
}

async fn operator_attests(
    State(state): State<AppState>,
    Operator(admin): Operator,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: AttestationBody = json_body(&body)?;
    let via = AttestedVia::Staff(admin);
    attest(
        &state,
        VisitId(id),
        via,
        Actor::Staff(admin),
        body,
        Utc::now(),
    )
    .await
}

async fn attest(
    state: &AppState,
    visit: VisitId,
    via: AttestedVia,
    actor: Actor,
    body: AttestationBody,
    now: DateTime<Utc>,
) -> Result<Json<Value>, ApiError> {
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
    let row = state
        .store
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
    if let Some(done) = state.store.room_attestation(visit).await? {
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
    state
        .audit
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
    state
        .store
        .attest_room(visit, &row.booth, via, officer, now)
        .await?;
    tracing::info!(visit = %visit, via = via.as_str(), "borrowed room attested: recording and monitoring off");
    Ok(Json(view(visit, via.as_str(), now)))
}

fn view(visit: VisitId, via: &str, at: DateTime<Utc>) -> Value {
    json!({ "visit": visit, "attested": true, "via": via, "attested_at": rfc3339(at) })
}
