//! The public listener's routes: browser pages, `/healthz`, the lawyer and booth REST
//! endpoints, and `/ws` (signalling, in `crate::signaling`).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /`, `/lawyer`, `/booth`, `/web/*` | anyone | the browser pages (no inline code) |
//! | `GET /healthz` | anyone | 200 `{"status":"ok"}` once ready, 503 otherwise (`unhealthy` names the part: `database`, `audit`) |
//! | `POST /api/lawyer/login` | lawyer | `{username,password}` -> session token (rate-limited) |
//! | `POST /api/lawyer/logout` | lawyer session | ends the session |
//! | `GET /api/lawyer/visits` | lawyer session | the lawyer's own visits |
//! | `POST /api/lawyer/visits/{id}/join-token` | lawyer session, assigned lawyer only | a join token |
//! | `GET /api/booth/visit` | booth certificate | the booth's current or next visit |
//! | `POST /api/booth/visits/{id}/join-token` | booth certificate of that visit's booth | a join token |
//! | `POST /api/booth/visits/{id}/room-attestation` | booth certificate of that visit's booth | borrowed room's equipment attested off (`visit::room`, R-PRIV-2) |
//! | `GET /ws` | token holders | WebSocket signalling |
//! | `/api/lawyer/engagements[/{id}/documents/{kind}]`, `/api/lawyer/documents/{id}` | lawyer session | documents (R-ARRANGE-1, R-PRIV-3): see `crate::documents::http` |
//! | `/api/lawyer/complaint-contact`, `/api/lawyer/complaints` | anyone / lawyer session | complaints (`crate::complaints`) |
//!
//! Audit: every sign-in (success or failure) and every join token issued is
//! appended to the audit log before the answer is sent; if the entry cannot be written
//! the answer is 503 `audit_unavailable` and no session or token is handed out.

pub use super::extract::{bearer, json_body, BoothAuth, JsonBody, LawyerSession};
use super::serve::{PeerCertificates, RemoteAddr};
use super::ApiError;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::auth::{Sessions, SignIn};
use crate::ids::{LawyerId, ParticipantId, VisitId};
use crate::policy;
use crate::store::VisitRow;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// The routes of this file not yet moved to their feature (legacy shape, state applied).
pub fn legacy_routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/lawyer/login", post(lawyer_login))
        .route("/api/lawyer/logout", post(lawyer_logout))
        .route("/api/lawyer/visits", get(lawyer_visits))
        .route(
            "/api/lawyer/visits/{id}/join-token",
            post(lawyer_join_token),
        )
        .route("/api/booth/visit", get(booth_visit))
        .route("/api/booth/visits/{id}/join-token", post(booth_join_token))
        .route("/ws", get(crate::signaling::ws_handler))
        .merge(crate::documents::http::lawyer_routes())
        .merge(crate::complaints::public_router())
        .merge(crate::visit::room::booth_routes())
        .with_state(state)
}

/// The browser pages and their scripts (`confer-signaling`'s web assets).
pub fn pages() -> Router {
    let mut r = Router::new();
    for asset in confer_signaling::web::ASSETS {
        let (ct, body) = (asset.content_type, asset.body);
        r = r.route(
            asset.path,
            get(move || async move { ([(header::CONTENT_TYPE, ct)], body) }),
        );
    }
    r
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    live_visits: usize,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unhealthy: Vec<&'static str>,
}

pub async fn healthz(State(state): State<AppState>) -> Response {
    let mut unhealthy = Vec::new();
    if state.store.ping().await.is_err() {
        unhealthy.push("database");
    }
    if !state.audit.is_healthy() {
        unhealthy.push("audit");
    }
    let ready = state.is_ready() && unhealthy.is_empty();
    let body = Health {
        status: if ready { "ok" } else { "unavailable" },
        version: env!("CARGO_PKG_VERSION"),
        live_visits: state.hub.live_count(),
        unhealthy,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

// --- lawyers ---

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Serialize)]
struct LawyerInfo {
    id: LawyerId,
    display_name: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    lawyer: LawyerInfo,
}

async fn lawyer_login(
    State(sign_in): State<SignIn>,
    client: RemoteAddr,
    JsonBody(req): JsonBody<LoginRequest>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let done = sign_in
        .lawyer(&req.username, &req.password, client.0.ip())
        .await?;
    tracing::info!(lawyer = done.account.id, "lawyer signed in");
    Ok(Json(serde_json::json!(LoginResponse {
        token: done.token.as_str().to_owned(),
        lawyer: LawyerInfo {
            id: LawyerId(done.account.id),
            display_name: done.account.display_name
        },
    })))
}

async fn lawyer_logout(
    State(sessions): State<Sessions>,
    session: LawyerSession,
) -> Result<StatusCode, ApiError> {
    sessions.end(&session.1).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize)]
pub struct VisitView {
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

pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
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

async fn lawyer_visits(
    State(state): State<AppState>,
    session: LawyerSession,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let visits = state.store.visits_for_lawyer(session.0, now).await?;
    let views: Vec<VisitView> = visits.iter().map(|v| VisitView::new(v, now)).collect();
    Ok(Json(serde_json::json!({ "visits": views })))
}

#[derive(Serialize)]
struct TokenResponse {
    token: String,
    expires_at: String,
}

/// A refusal as the API answers it: the stable code, the sentence in English and in Chinese.
pub fn policy_refusal(d: policy::Deny) -> ApiError {
    let status = match d {
        policy::Deny::NotAParticipant => StatusCode::FORBIDDEN,
        policy::Deny::Licence(r) if r.is_registry_outage() => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::CONFLICT,
    };
    ApiError::new(status, d.code(), d.message_en()).with_zh(d.message_zh())
}

/// Issue a join token after the same gate (evidence + policy) that the join itself will
/// pass, so that a refusal is explained before the browser opens its camera. A refusal is
/// recorded in the audit log like a refused join.
async fn issue_token(
    state: &AppState,
    visit: VisitId,
    participant: ParticipantId,
    actor: Actor,
    certs: &PeerCertificates,
) -> Result<Json<TokenResponse>, ApiError> {
    let now = Utc::now();
    let row = state
        .store
        .visit(visit)
        .await?
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    let terminal = match participant {
        ParticipantId::Booth(_) => None,
        _ => {
            state
                .booths
                .terminal(certs, row.lawyer_booth.is_some())
                .await
        }
    };
    if let Err(d) = state
        .gate
        .decide(&row, &participant, terminal.as_ref(), now)
        .await?
    {
        let record = AuditRecord::AdmissionRefused {
            visit: Some(visit),
            participant: Some(participant),
            reason: d.code().into(),
        };
        state.audit.append(actor, record).await?;
        return Err(policy_refusal(d));
    }
    let (token, claims) = state.tokens.issue(visit, participant.clone(), now);
    let record = AuditRecord::JoinTokenIssued {
        visit,
        participant,
        token_id: claims.jti.clone(),
    };
    state.audit.append(actor, record).await?;
    Ok(Json(TokenResponse {
        token,
        expires_at: rfc3339(claims.expires_at()),
    }))
}

async fn lawyer_join_token(
    State(state): State<AppState>,
    session: LawyerSession,
    Path(id): Path<i64>,
    certs: Option<axum::Extension<PeerCertificates>>,
) -> Result<Json<TokenResponse>, ApiError> {
    // Lawyer, assistant or interpreter: as the account says, never as the request says.
    let participant = state
        .gate
        .lawyer_side_participant(session.0)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    // R-REMOTE-1: the booth terminal this request came through, if the visit needs one.
    let certs = certs.map(|c| c.0).unwrap_or_default();
    issue_token(
        &state,
        VisitId(id),
        participant,
        Actor::Lawyer(session.0),
        &certs,
    )
    .await
}

// --- booths ---

#[derive(Serialize)]
struct BoothInfo {
    id: String,
    facility: String,
    label: String,
}

async fn booth_visit(
    State(state): State<AppState>,
    BoothAuth(me): BoothAuth,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let booth = state
        .store
        .booth(me.booth())
        .await?
        .ok_or_else(|| ApiError::not_found("This booth"))?;
    let visit = state.store.next_visit_for_booth(me.booth(), now).await?;
    let after = visit.as_ref().map_or(now, |v| v.starts_at);
    let waiting = state
        .store
        .booth_visits_waiting(me.booth(), after, now + chrono::Duration::hours(12))
        .await?;
    // R-REMOTE-1: a police-station terminal is the lawyer's side; its page is the lawyer page.
    let remote_station = state
        .store
        .booth_remote_station(me.booth())
        .await?
        .flatten();
    // R-PRIV-2: in a borrowed interrogation room the booth page asks the officer to attest
    // the recording and monitoring equipment off before the visit can start.
    let room = visit.as_ref().map(|v| match v.room {
        policy::Room::Ordinary => serde_json::json!({ "kind": "ordinary" }),
        policy::Room::Borrowed {
            lawyer_consent,
            equipment_off_attested,
        } => serde_json::json!({
            "kind": "borrowed_interrogation_room",
            "lawyer_consent": lawyer_consent,
            "attested": equipment_off_attested,
        }),
    });
    Ok(Json(serde_json::json!({
        "booth": BoothInfo { id: booth.id.0, facility: booth.facility.0, label: booth.label },
        "visit": visit.map(|v| VisitView::new(&v, now)),
        "room": room,
        "remote_station": remote_station,
        // The booth's queue: visits booked after this one in the next 12 hours.
        "queue": { "waiting": waiting },
    })))
}

async fn booth_join_token(
    State(state): State<AppState>,
    BoothAuth(me): BoothAuth,
    Path(id): Path<i64>,
) -> Result<Json<TokenResponse>, ApiError> {
    let row = state
        .store
        .visit(VisitId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    if &row.booth != me.booth() {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "booth_mismatch",
            "This visit is booked for another booth; this terminal cannot join it.",
        ));
    }
    let booth = me.booth().clone();
    issue_token(
        &state,
        VisitId(id),
        ParticipantId::Booth(booth.clone()),
        Actor::Booth(booth),
        &PeerCertificates::default(),
    )
    .await
}

/// The participant a token was issued to, as the wire shows it.
pub fn participant_role(p: &ParticipantId) -> &'static str {
    p.role().as_str()
}
