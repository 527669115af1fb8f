//! The admin listener (default `127.0.0.1:9443`, TLS): staff sign in (password and a
//! TOTP second factor, [`login`]) and act within their role ([`roles`]: operator,
//! auditor, sysadmin, investigator, kept separate as MLPS level 3 asks).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone who reaches the listener | 200 `{"status":"ok"}` once ready |
//! | `POST /admin/api/login` | staff | `{username,password,totp}` -> `{token, role}` (rate-limited, [`login`]) |
//! | `GET /admin/api/booths` | operator | booths and their facilities |
//! | `GET /admin/api/lawyers` | operator | lawyer accounts (id, username, name) |
//! | `POST /admin/api/lawyers` | operator | create a lawyer account (lawyers are registered by the staff who run their visits) |
//! | `GET /admin/api/visits` | operator | recent and upcoming visits |
//! | `POST /admin/api/visits` | operator | create a visit: one lawyer, one booth, one slot |
//! | `GET /admin/api/audit` | auditor | audit entries: `?visit=ID`, `?lawyer=ID`, `?from=T&to=T` (RFC 3339), `&after=SEQ&limit=N` (paging, N ≤ 1000) |
//! | `GET/POST /admin/api/staff` | sysadmin | staff accounts ([`staff`]) |
//! | `POST /admin/api/visits/{id}/stop`, `GET /admin/api/violations`, `POST /admin/api/violations/{id}/findings` | operator (auditor may list) | stop a visit for a violation, reports and findings ([`violations`], [`outbox`]) |
//! | `GET /admin/api/complaints`, `POST /admin/api/complaints/{id}/updates` | operator | lawyers' complaints ([`crate::complaints`]) |
//! | `GET /admin/api/reports`, `GET /admin/api/reports.csv` | auditor, operator | facility statistics for a period (R-REPORT-1, [`reports`]) |
//! | `GET /admin/`, `/admin/console/{file}` | anyone who reaches the listener (the page signs in through the API) | the web console ([`console`]) |
//! | `GET /admin/api/live`, `GET /admin/api/live/stream` (SSE) | operator, auditor | live visit health and alerts, content-free ([`crate::health`]) |
//! | `GET /metrics` | `admin.metrics_token` bearer, or auditor / sysadmin | Prometheus text ([`crate::metrics`]) |
//! | `/admin/api/detainees`, `/cases`, `/engagements`, `/documents/{id}[/review]` | staff session | documents (R-ARRANGE-1, R-PRIV-3): see `crate::documents::http` |
//! | `/admin/api/visits/{id}/manual-verification`, `/manual-verifications`, `/alerts[/{id}/acknowledge]`, `/lawyers/{id}/unlock|licence`, `/cases/{id}/permissions|companions` | operator | R-VERIFY-2..4, R-ARRANGE-3: see [`verification`] |
//! | `POST /admin/api/visits/{id}/room-attestation` | operator | borrowed interrogation room attested (R-PRIV-2): see `crate::visit::room` |
//!
//! A staff session ends after `admin.session_idle_secs` (default 30 minutes) idle.
//!
//! Audit: staff sign-ins (success and failure, with the reason: a wrong
//! password, a missing, wrong or replayed TOTP code), lawyer, staff accounts and visits
//! created, every read of the audit log, and every refusal for a wrong role are appended
//! to the audit log before the answer is sent (503 `audit_unavailable` when that fails; a
//! created row then exists without its entry, and the failure is logged). Plain list
//! reads (booths, lawyers, visits, staff) are not recorded.
//!
//! Nothing here carries media or any content of a visit (docs/DESIGN.md invariant 6).

pub mod console;
pub mod login;
pub mod outbox;
pub mod reports;
pub mod roles;
pub mod staff;
pub use crate::auth::totp;
pub mod verification;
pub mod violations;

use crate::app::AppState;
use crate::audit::{Actor, AuditRecord, ConfigChange};
use crate::auth::password;
use crate::http::api::{json_body, rfc3339, VisitView};
use crate::http::ApiError;
use crate::ids::{BoothId, CaseId, LawyerId, VisitId};
use crate::licence::{HolderIdHash, LicenceNumber};
use crate::store::audit::AuditFilter;
use crate::store::verification::MemberKind;
use crate::store::{NewVisit, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use roles::{Auditor, Operator};
use serde::{Deserialize, Serialize};

/// Assistants and interpreters a visit may include besides the lawyer (R-VERIFY-4).
const MAX_COMPANIONS: usize = 2;

/// The longest slot a visit may be given in one record (a day).
const MAX_SLOT: chrono::Duration = chrono::Duration::hours(24);

/// The admin routes not yet moved to their feature's `routes` (legacy shape, state applied).
pub fn legacy_routes(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(crate::http::api::healthz))
        .route("/admin/api/login", post(login::login))
        .route("/admin/api/booths", get(booths))
        .route("/admin/api/lawyers", get(lawyers).post(create_lawyer))
        .route("/admin/api/visits", get(visits).post(create_visit))
        .route("/admin/api/audit", get(audit_entries))
        .merge(verification::routes())
        .merge(crate::documents::http::admin_routes())
        .merge(staff::router())
        .merge(crate::metrics::router())
        .merge(violations::router())
        .merge(crate::complaints::admin_router())
        .merge(crate::visit::room::admin_routes())
        .merge(reports::router())
        .merge(console::router())
        .merge(crate::health::routes())
        .with_state(state)
}

pub use crate::http::extract::StaffSession;

async fn booths(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.booths().await?;
    let list: Vec<_> = rows
        .iter()
        .map(|b| serde_json::json!({ "id": b.id, "facility": b.facility, "facility_name": b.facility_name, "label": b.label }))
        .collect();
    Ok(Json(serde_json::json!({ "booths": list })))
}

async fn lawyers(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.lawyers().await?;
    let list: Vec<_> = rows
        .iter()
        .map(|l| serde_json::json!({ "id": l.id, "username": l.username, "display_name": l.display_name }))
        .collect();
    Ok(Json(serde_json::json!({ "lawyers": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLawyer {
    username: String,
    /// The holder's name as on the licence (compared with the registry's holder name).
    display_name: String,
    password: String,
    /// `lawyer` (default), `assistant` or `interpreter`.
    #[serde(default)]
    kind: Option<String>,
    /// For a lawyer: the 17-digit practising certificate number.
    #[serde(default)]
    licence_number: Option<String>,
    /// For a lawyer: the identity-document number; only its SHA-256 is kept.
    #[serde(default)]
    id_number: Option<String>,
}

async fn create_lawyer(
    State(state): State<AppState>,
    Operator(admin): Operator,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: NewLawyer = json_body(&body)?;
    let valid_name = |s: &str| {
        (3..=64).contains(&s.len())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.@".contains(c))
    };
    if !valid_name(&req.username) {
        return Err(ApiError::bad_request(
            "invalid_username",
            "A username has 3 to 64 letters, digits, or the characters - _ . @",
        ));
    }
    if req.password.chars().count() < 12 || req.password.len() > 1024 {
        return Err(ApiError::bad_request(
            "weak_password",
            "A password needs at least 12 characters.",
        ));
    }
    if req.display_name.trim().is_empty() || req.display_name.len() > 200 {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            "A display name needs 1 to 200 characters.",
        ));
    }
    let kind = MemberKind::parse(req.kind.as_deref().unwrap_or("lawyer")).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_kind",
            "An account is a lawyer, an assistant or an interpreter.",
        )
    })?;
    let (licence, id_hash) = match kind {
        MemberKind::Lawyer => {
            let licence: LicenceNumber = req
                .licence_number
                .as_deref()
                .unwrap_or_default()
                .parse()
                .map_err(|_| {
                    ApiError::bad_request(
                        "invalid_licence_number",
                        "A lawyer account needs the 17-digit practising certificate number.",
                    )
                })?;
            let id_number = req.id_number.as_deref().unwrap_or_default().trim();
            if id_number.is_empty() || id_number.len() > 64 {
                return Err(ApiError::bad_request(
                    "invalid_id_number",
                    "A lawyer account needs the holder's identity-document number (only its hash is kept).",
                ));
            }
            (
                Some(licence.as_str().to_owned()),
                Some(HolderIdHash::of_id_number(id_number).as_str().to_owned()),
            )
        }
        _ => (None, None),
    };
    let hash = password::hash_async(req.password).await;
    let id = match state
        .store
        .insert_lawyer(&req.username, req.display_name.trim(), &hash, Utc::now())
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "That username is already taken.",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    state
        .store
        .set_lawyer_claim(id, kind, licence.as_deref(), id_hash.as_deref())
        .await?;
    tracing::info!(admin = %admin, lawyer = %id, kind = kind.as_str(), "lawyer-side account created");
    let change = ConfigChange::LawyerCreated { lawyer: id };
    state
        .audit
        .append(
            Actor::Staff(admin),
            AuditRecord::ConfigurationChanged { change },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateVisit {
    lawyer_id: LawyerId,
    booth_id: BoothId,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// The case the visit is about (required to admit the lawyer).
    #[serde(default)]
    case_id: Option<CaseId>,
    /// Up to two assistants / interpreters invited (each must be approved for the case).
    #[serde(default)]
    companions: Vec<LawyerId>,
    /// The lawyer consented to a borrowed interrogation room (R-PRIV-2), e.g. by phone.
    #[serde(default)]
    interrogation_room_consent: bool,
    /// A remote police-station booth the lawyer joins from (R-REMOTE-1).
    #[serde(default)]
    lawyer_booth_id: Option<BoothId>,
}

#[derive(Serialize)]
struct StaffVisitView {
    lawyer_id: LawyerId,
    booth_id: BoothId,
    case_id: Option<CaseId>,
    companions: Vec<LawyerId>,
    ended_at: Option<String>,
    end_reason: Option<String>,
    #[serde(flatten)]
    visit: VisitView,
}

async fn visits(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let now = Utc::now();
    let rows = state.store.visits().await?;
    let list: Vec<_> = rows
        .iter()
        .map(|v| StaffVisitView {
            lawyer_id: v.lawyer,
            booth_id: v.booth.clone(),
            case_id: v.case,
            companions: v.companions.clone(),
            ended_at: v.ended_at.map(rfc3339),
            end_reason: v.end_reason.clone(),
            visit: VisitView::new(v, now),
        })
        .collect();
    Ok(Json(serde_json::json!({ "visits": list })))
}

async fn create_visit(
    State(state): State<AppState>,
    Operator(admin): Operator,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: CreateVisit = json_body(&body)?;
    if req.ends_at <= req.starts_at {
        return Err(ApiError::bad_request(
            "invalid_slot",
            "The slot must end after it starts.",
        ));
    }
    if req.ends_at - req.starts_at > MAX_SLOT {
        return Err(ApiError::bad_request(
            "invalid_slot",
            "A single slot may last at most 24 hours.",
        ));
    }
    if state.store.lawyer(req.lawyer_id).await?.is_none() {
        return Err(ApiError::not_found("That lawyer"));
    }
    if state.store.booth(&req.booth_id).await?.is_none() {
        return Err(ApiError::not_found("That booth"));
    }
    if req.companions.len() > MAX_COMPANIONS {
        return Err(ApiError::bad_request(
            "too_many_companions",
            "A visit may include at most two assistants or interpreters.",
        ));
    }
    if let Some(case) = req.case_id {
        if state.store.case(case).await?.is_none() {
            return Err(ApiError::not_found("That case"));
        }
    }
    if let Some(remote) = &req.lawyer_booth_id {
        match state.store.booth_remote_station(remote).await? {
            None => return Err(ApiError::not_found("That remote booth")),
            Some(None) => {
                return Err(ApiError::bad_request(
                    "not_a_remote_booth",
                    "The lawyer's side must be a remote booth registered at a police station \
                     (set its kind with a remote_station first).",
                ))
            }
            Some(Some(_)) => {}
        }
    }
    let visit = NewVisit {
        lawyer: req.lawyer_id,
        booth: req.booth_id,
        starts_at: req.starts_at,
        ends_at: req.ends_at,
        created_by: Some(admin),
        case: req.case_id,
        companions: req.companions,
        room_consent: req.interrogation_room_consent,
        lawyer_booth: req.lawyer_booth_id,
    };
    let id: VisitId = state.store.insert_visit(&visit, Utc::now()).await?;
    tracing::info!(admin = %admin, visit = %id, "visit created");
    let change = ConfigChange::VisitCreated {
        visit: id,
        lawyer: visit.lawyer,
        booth: visit.booth.clone(),
        starts_at_ms: visit.starts_at.timestamp_millis(),
        ends_at_ms: visit.ends_at.timestamp_millis(),
    };
    state
        .audit
        .append(
            Actor::Staff(admin),
            AuditRecord::ConfigurationChanged { change },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    visit: Option<i64>,
    lawyer: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    after: Option<u64>,
    limit: Option<u32>,
}

/// The most entries one audit read returns; page on with `after`.
const MAX_AUDIT_PAGE: u32 = 1000;

async fn audit_entries(
    State(state): State<AppState>,
    Auditor(auditor): Auditor,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let axum::extract::Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!(
                "The query is not valid: {}.",
                e.body_text().trim_end_matches('.')
            ),
        )
    })?;
    if q.visit.is_none() && q.lawyer.is_none() && q.from.is_none() && q.to.is_none() {
        return Err(ApiError::bad_request(
            "missing_filter",
            "Say which audit entries to read: visit=ID, lawyer=ID, or from=...&to=... (RFC 3339).",
        ));
    }
    let filter = AuditFilter {
        visit: q.visit.map(VisitId),
        lawyer: q.lawyer.map(LawyerId),
        from_ms: q.from.map(|t| t.timestamp_millis()),
        to_ms: q.to.map(|t| t.timestamp_millis()),
        after_seq: q.after.unwrap_or(0),
        limit: q.limit.unwrap_or(MAX_AUDIT_PAGE).clamp(1, MAX_AUDIT_PAGE),
    };
    state
        .audit
        .append(
            Actor::Staff(auditor),
            AuditRecord::AuditLogRead { staff: auditor },
        )
        .await?;
    let entries = state.audit.query(&filter).await?;
    Ok(Json(serde_json::json!({ "entries": entries })))
}
