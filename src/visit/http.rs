//! The public listener's visit routes: a lawyer's visits and a booth's current one, and the
//! join tokens. A token request is one call into the admission service, which explains a
//! refusal before the browser opens its camera; the join itself happens on `/ws`.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/lawyer/visits` | lawyer session | the lawyer's own visits |
//! | `POST /api/lawyer/visits/{id}/join-token` | lawyer session (at the police-station terminal for a remote visit, R-REMOTE-1) | a join token |
//! | `GET /api/booth/visit` | booth certificate | the booth's current or next visit, its room, its queue |
//! | `POST /api/booth/visits/{id}/join-token` | booth certificate of that visit's booth | a join token |
//!
//! Every token issued and every refusal is in the audit log before the answer is sent; if
//! the entry cannot be written the answer is 503 `audit_unavailable` and no token is handed
//! out (docs/DESIGN.md invariant 3).
//!
//! Does not: decide admissions (`visit::admission`), or authenticate (`http::extract`).

use axum::extract::{FromRef, Path, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Admission, GateError, IssuedToken, Refusal};
use crate::auth::{Booths, Sessions};
use crate::http::extract::{BoothAuth, LawyerSession};
use crate::http::openapi::ErrorBody;
use crate::http::serve::PeerCertificates;
use crate::http::ApiError;
use crate::ids::VisitId;
use crate::model::time::rfc3339;
use crate::model::visit::Room;
use crate::store::{Store, VisitRow};

/// What the visit routes use.
#[derive(Clone, FromRef)]
pub struct VisitRoutes {
    pub admission: Admission,
    pub store: Store,
    pub sessions: Sessions,
    pub booths: Booths,
    /// `[facility] time_zone`: the pages show times in it.
    pub time_zone: FacilityTimeZone,
}

/// The facility's IANA time zone (`[facility] time_zone`), sent with the visits so the pages
/// show dates and times on the facility's clock, 24-hour.
#[derive(Clone, Debug)]
pub struct FacilityTimeZone(pub std::sync::Arc<str>);

/// The visit routes of the public listener.
pub fn routes(state: VisitRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(lawyer_visits))
        .routes(routes!(lawyer_join_token))
        .routes(routes!(booth_visit))
        .routes(routes!(booth_join_token))
        .with_state(state)
}

impl From<Refusal> for ApiError {
    /// An admission refusal: the table's status and code, the sentence in both languages.
    fn from(r: Refusal) -> Self {
        ApiError::new(r.status(), r.code(), r.message_en()).with_zh(r.message_zh())
    }
}

impl From<GateError> for ApiError {
    fn from(e: GateError) -> Self {
        match e {
            GateError::Store(e) => e.into(),
            GateError::Audit(e) => e.into(),
        }
    }
}

/// A visit as a lawyer or a booth sees it.
#[derive(Serialize, ToSchema)]
pub struct VisitView {
    #[schema(value_type = i64)]
    pub id: VisitId,
    pub facility: String,
    pub booth: String,
    pub starts_at: String,
    pub ends_at: String,
    /// `scheduled` (slot not started), `open` (joinable now) or `ended`.
    pub state: &'static str,
    /// The remote police-station booth the lawyer joins from (R-REMOTE-1), if any.
    pub remote_booth: Option<String>,
}

impl VisitView {
    pub fn new(v: &VisitRow, now: DateTime<Utc>) -> VisitView {
        let state = if v.ended_at.is_some() || now >= v.ends_at {
            "ended"
        } else if now < v.starts_at {
            "scheduled"
        } else {
            "open"
        };
        VisitView {
            id: v.id,
            facility: v.facility_name.clone(),
            booth: v.booth_label.clone(),
            starts_at: rfc3339(v.starts_at),
            ends_at: rfc3339(v.ends_at),
            state,
            remote_booth: v.lawyer_booth.as_ref().map(|b| b.as_str().to_owned()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LawyerVisits {
    visits: Vec<VisitView>,
    /// The facility's IANA time zone (`Asia/Shanghai`): show the times in it, 24-hour.
    time_zone: String,
}

/// The signed-in lawyer's own visits.
#[utoipa::path(
    get,
    path = "/api/lawyer/visits",
    tag = "visits",
    responses(
        (status = 200, description = "The lawyer's visits", body = LawyerVisits),
        (status = 401, description = "`not_signed_in`", body = ErrorBody)
    ),
    security(("lawyer_session" = []))
)]
async fn lawyer_visits(
    State(store): State<Store>,
    State(tz): State<FacilityTimeZone>,
    session: LawyerSession,
) -> Result<Json<LawyerVisits>, ApiError> {
    let now = Utc::now();
    let visits = store.visits_for_lawyer(session.0, now).await?;
    let visits = visits.iter().map(|v| VisitView::new(v, now)).collect();
    Ok(Json(LawyerVisits {
        visits,
        time_zone: tz.0.to_string(),
    }))
}

/// A join token: short-lived, single use, bound to one visit and one participant.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    token: String,
    expires_at: String,
}

impl From<IssuedToken> for TokenResponse {
    fn from(t: IssuedToken) -> TokenResponse {
        TokenResponse {
            token: t.token,
            expires_at: rfc3339(t.expires_at),
        }
    }
}

/// A join token for the signed-in lawyer, assistant or interpreter, after the same gate
/// the join will pass (licence, documents, permission, slot, room, terminal).
#[utoipa::path(
    post,
    path = "/api/lawyer/visits/{id}/join-token",
    tag = "visits",
    params(("id" = i64, Path, description = "The visit")),
    responses(
        (status = 200, description = "A join token for `/ws`", body = TokenResponse),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`not_a_participant`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "Refused by the admission rules, with the reason: `too_early`, `slot_over`, `visit_ended`, `licence_*`, `documents_incomplete`, `permission_missing`, `join_from_remote_booth`, `room_not_attested`, ...", body = ErrorBody),
        (status = 503, description = "`registry_unavailable` or `audit_unavailable`: nobody is admitted now", body = ErrorBody)
    ),
    security(("lawyer_session" = []))
)]
async fn lawyer_join_token(
    State(admission): State<Admission>,
    session: LawyerSession,
    Path(id): Path<i64>,
    certs: PeerCertificates,
) -> Result<Json<TokenResponse>, ApiError> {
    let issued = admission
        .token_for_lawyer(session.0, VisitId(id), &certs, Utc::now())
        .await?;
    Ok(Json(TokenResponse::from(issued)))
}

#[derive(Serialize, ToSchema)]
struct BoothInfo {
    id: String,
    facility: String,
    label: String,
}

/// The room a visit is held in, as the booth page needs it (R-PRIV-2).
#[derive(Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RoomView {
    Ordinary,
    BorrowedInterrogationRoom {
        lawyer_consent: bool,
        attested: bool,
    },
}

#[derive(Serialize, ToSchema)]
struct BoothQueue {
    /// Visits booked at this booth after this one in the next 12 hours.
    waiting: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BoothVisit {
    booth: BoothInfo,
    visit: Option<VisitView>,
    room: Option<RoomView>,
    /// Set when this terminal is a remote police-station booth (R-REMOTE-1): its page is
    /// then the lawyer page.
    remote_station: Option<String>,
    queue: BoothQueue,
    /// The facility's IANA time zone: show the times in it, 24-hour.
    time_zone: String,
}

/// The booth's current or next visit, the room it is held in and the booth's queue.
#[utoipa::path(
    get,
    path = "/api/booth/visit",
    tag = "visits",
    responses(
        (status = 200, description = "The booth and its current or next visit", body = BoothVisit),
        (status = 401, description = "`booth_cert_missing`", body = ErrorBody),
        (status = 403, description = "The certificate is not a valid booth certificate of a known booth", body = ErrorBody)
    ),
    security(("booth_certificate" = []))
)]
async fn booth_visit(
    State(store): State<Store>,
    State(tz): State<FacilityTimeZone>,
    BoothAuth(me): BoothAuth,
) -> Result<Json<BoothVisit>, ApiError> {
    let now = Utc::now();
    let booth = store
        .booth(me.booth())
        .await?
        .ok_or_else(|| ApiError::not_found("This booth"))?;
    let visit = store.next_visit_for_booth(me.booth(), now).await?;
    let after = visit.as_ref().map_or(now, |v| v.starts_at);
    let waiting = store
        .booth_visits_waiting(me.booth(), after, now + chrono::Duration::hours(12))
        .await?;
    // R-REMOTE-1: a police-station terminal is the lawyer's side; its page is the lawyer page.
    let remote_station = store.booth_remote_station(me.booth()).await?.flatten();
    // R-PRIV-2: in a borrowed interrogation room the booth page asks the officer to attest
    // the recording and monitoring equipment off before the visit can start.
    let room = visit.as_ref().map(|v| match v.room {
        Room::Ordinary => RoomView::Ordinary,
        Room::Borrowed {
            lawyer_consent,
            equipment_off_attested,
        } => RoomView::BorrowedInterrogationRoom {
            lawyer_consent,
            attested: equipment_off_attested,
        },
    });
    Ok(Json(BoothVisit {
        booth: BoothInfo {
            id: booth.id.0,
            facility: booth.facility.0,
            label: booth.label,
        },
        visit: visit.map(|v| VisitView::new(&v, now)),
        room,
        remote_station,
        queue: BoothQueue {
            waiting: waiting as i64,
        },
        time_zone: tz.0.to_string(),
    }))
}

/// A join token for the booth of this visit (proven by its certificate).
#[utoipa::path(
    post,
    path = "/api/booth/visits/{id}/join-token",
    tag = "visits",
    params(("id" = i64, Path, description = "The visit")),
    responses(
        (status = 200, description = "A join token for `/ws`", body = TokenResponse),
        (status = 401, description = "`booth_cert_missing`", body = ErrorBody),
        (status = 403, description = "`booth_mismatch`: the visit is booked for another booth; or the certificate is refused", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "Refused by the admission rules, with the reason", body = ErrorBody),
        (status = 503, description = "`audit_unavailable`", body = ErrorBody)
    ),
    security(("booth_certificate" = []))
)]
async fn booth_join_token(
    State(admission): State<Admission>,
    BoothAuth(me): BoothAuth,
    Path(id): Path<i64>,
) -> Result<Json<TokenResponse>, ApiError> {
    let issued = admission
        .token_for_booth(&me, VisitId(id), Utc::now())
        .await?;
    Ok(Json(TokenResponse::from(issued)))
}
