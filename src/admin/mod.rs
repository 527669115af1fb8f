//! The admin listener (default `127.0.0.1:9443`, TLS): staff sign in (password and a
//! TOTP second factor, [`login`]) and act within their role ([`roles`]: operator,
//! auditor, sysadmin, investigator, kept separate as MLPS level 3 asks).
//!
//! **Owns** the staff routes for booths, lawyer accounts, visits and the audit log
//! ([`admin_routes`], state [`AdminRoutes`]); each other admin feature has its own
//! `admin_routes` and narrow state in its file, and `crate::routes::admin` assembles
//! them. **Does not** run visits (that is `visit`), decide admission (`policy`) or
//! assemble the listener (`crate::routes`).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone who reaches the listener | 200 `{"status":"ok"}` once ready (`crate::health::ready`) |
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
//! | `GET /admin/api/visits/{id}/receipt` | operator or auditor | the visit's signed receipt (R-PRIV-1): see `crate::receipt::http` |
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
pub mod metrics;
pub mod outbox;
pub mod reports;
pub mod revocation;
pub mod roles;
pub mod staff;
pub use crate::auth::totp;
pub mod verification;
pub mod violations;

use crate::audit::{Actor, Audit, AuditRecord, ConfigChange};
use crate::auth::{password, Sessions};
use crate::http::extract::{Auditor, JsonBody, Operator};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::{BoothId, CaseId, FacilityId, LawyerId, VisitId};
use crate::licence::{HolderIdHash, LicenceNumber};
use crate::model::time::rfc3339;
use crate::store::audit::AuditFilter;
use crate::store::verification::MemberKind;
use crate::store::{NewVisit, Store, StoreError};
use crate::visit::http::VisitView;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The longest slot a visit may be given in one record (a day).
const MAX_SLOT: chrono::Duration = chrono::Duration::hours(24);

pub use crate::http::extract::StaffSession;
/// The one shape of a creation's answer, defined with the other shared response shapes so
/// that every edge takes it from there (`documents::http` does); kept here for the admin
/// handlers and `complaints`.
pub use crate::http::openapi::Created;

/// What the booth, lawyer, visit and audit routes use.
#[derive(Clone, axum::extract::FromRef)]
pub struct AdminRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
}

/// Booths, lawyer accounts, visits and the audit log (admin listener).
pub fn admin_routes(state: AdminRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(booths))
        .routes(routes!(lawyers, create_lawyer))
        .routes(routes!(visits, create_visit))
        .routes(routes!(audit_entries))
        .with_state(state)
}

/// A booth as the operator's list shows it.
#[derive(Serialize, ToSchema)]
pub struct BoothView {
    #[schema(value_type = String)]
    id: BoothId,
    #[schema(value_type = String)]
    facility: FacilityId,
    facility_name: String,
    label: String,
}

#[derive(Serialize, ToSchema)]
pub struct BoothList {
    booths: Vec<BoothView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/booths",
    tag = "admin",
    responses(
        (status = 200, description = "Booths and their facilities", body = BoothList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn booths(State(store): State<Store>, _s: Operator) -> Result<Json<BoothList>, ApiError> {
    let rows = store.booths().await?;
    let booths = rows
        .into_iter()
        .map(|b| BoothView {
            id: b.id,
            facility: b.facility,
            facility_name: b.facility_name,
            label: b.label,
        })
        .collect();
    Ok(Json(BoothList { booths }))
}

/// A lawyer-side account as the operator's list shows it.
#[derive(Serialize, ToSchema)]
pub struct LawyerView {
    id: i64,
    username: String,
    display_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct LawyerList {
    lawyers: Vec<LawyerView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/lawyers",
    tag = "admin",
    responses(
        (status = 200, description = "Lawyer-side accounts (id, username, name)", body = LawyerList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn lawyers(State(store): State<Store>, _s: Operator) -> Result<Json<LawyerList>, ApiError> {
    let rows = store.lawyers().await?;
    let lawyers = rows
        .into_iter()
        .map(|l| LawyerView {
            id: l.id,
            username: l.username,
            display_name: l.display_name,
        })
        .collect();
    Ok(Json(LawyerList { lawyers }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLawyer {
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
    /// For an assistant: the lawyer it works for, who may invite it to visits (R-VERIFY-4).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    principal_id: Option<LawyerId>,
}

#[utoipa::path(
    post,
    path = "/admin/api/lawyers",
    tag = "admin",
    request_body = NewLawyer,
    responses(
        (status = 201, description = "The account was created (audited, R-VERIFY-1)", body = Created),
        (status = 400, description = "`malformed_request`, `invalid_username`, `weak_password`, `invalid_display_name`, `invalid_kind`, `invalid_licence_number`, `invalid_id_number` or `invalid_principal`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 409, description = "`username_taken`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn create_lawyer(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(admin): Operator,
    JsonBody(req): JsonBody<NewLawyer>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
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
    let principal = match (kind, req.principal_id) {
        (MemberKind::Assistant, Some(p)) => match store.lawyer_account(p).await? {
            Some(a) if a.kind == MemberKind::Lawyer => Some(p),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_principal",
                    "An assistant's principal must be an existing lawyer account.",
                ))
            }
        },
        (_, Some(_)) => {
            return Err(ApiError::bad_request(
                "invalid_principal",
                "Only an assistant account works for a principal lawyer.",
            ))
        }
        (_, None) => None,
    };
    let hash = password::hash_async(req.password).await;
    let id = match store
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
    store
        .set_lawyer_claim(id, kind, licence.as_deref(), id_hash.as_deref())
        .await?;
    if let Some(p) = principal {
        store.set_principal(id, p).await?;
    }
    tracing::info!(admin = %admin, lawyer = %id, kind = kind.as_str(), "lawyer-side account created");
    let change = ConfigChange::LawyerCreated { lawyer: id };
    audit
        .append(
            Actor::Staff(admin),
            AuditRecord::ConfigurationChanged { change },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVisit {
    #[schema(value_type = i64)]
    lawyer_id: LawyerId,
    #[schema(value_type = String)]
    booth_id: BoothId,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    /// The case the visit is about (required to admit the lawyer).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    case_id: Option<CaseId>,
    /// Must be empty or absent: assistants and interpreters are invited by the visit's
    /// lawyer (`POST /api/lawyer/visits/{id}/companions`), never by staff (R-VERIFY-4).
    #[serde(default)]
    #[schema(value_type = Vec<i64>)]
    companions: Vec<LawyerId>,
    /// The lawyer consented to a borrowed interrogation room (R-PRIV-2), e.g. by phone.
    #[serde(default)]
    interrogation_room_consent: bool,
    /// A remote police-station booth the lawyer joins from (R-REMOTE-1).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    lawyer_booth_id: Option<BoothId>,
}

/// A visit as staff see it: who, where, which case, and how it ended (the fields of the
/// lawyer's view, `crate::visit::http::VisitView`, plus these).
#[derive(Serialize, ToSchema)]
pub struct StaffVisitView {
    #[schema(value_type = i64)]
    lawyer_id: LawyerId,
    #[schema(value_type = String)]
    booth_id: BoothId,
    #[schema(value_type = Option<i64>)]
    case_id: Option<CaseId>,
    #[schema(value_type = Vec<i64>)]
    companions: Vec<LawyerId>,
    ended_at: Option<String>,
    end_reason: Option<String>,
    #[schema(value_type = i64)]
    id: VisitId,
    facility: String,
    booth: String,
    starts_at: String,
    ends_at: String,
    /// `scheduled` (slot not started), `open` (joinable now) or `ended`.
    state: &'static str,
    /// The remote police-station booth the lawyer joins from (R-REMOTE-1), if any.
    remote_booth: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct VisitList {
    visits: Vec<StaffVisitView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/visits",
    tag = "admin",
    responses(
        (status = 200, description = "Recent and upcoming visits", body = VisitList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn visits(State(store): State<Store>, _s: Operator) -> Result<Json<VisitList>, ApiError> {
    let now = Utc::now();
    let rows = store.visits().await?;
    let visits = rows
        .iter()
        .map(|v| {
            let view = VisitView::new(v, now);
            StaffVisitView {
                lawyer_id: v.lawyer,
                booth_id: v.booth.clone(),
                case_id: v.case,
                companions: v.companions.clone(),
                ended_at: v.ended_at.map(rfc3339),
                end_reason: v.end_reason.clone(),
                id: view.id,
                facility: view.facility,
                booth: view.booth,
                starts_at: view.starts_at,
                ends_at: view.ends_at,
                state: view.state,
                remote_booth: view.remote_booth,
            }
        })
        .collect();
    Ok(Json(VisitList { visits }))
}

#[utoipa::path(
    post,
    path = "/admin/api/visits",
    tag = "admin",
    request_body = CreateVisit,
    responses(
        (status = 201, description = "The visit was created (audited)", body = Created),
        (status = 400, description = "`malformed_request`, `invalid_slot`, `companions_invited_by_lawyer` (staff never add companions, R-VERIFY-4) or `not_a_remote_booth`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: the lawyer, booth, case or remote booth", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn create_visit(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(admin): Operator,
    JsonBody(req): JsonBody<CreateVisit>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
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
    if store.lawyer(req.lawyer_id).await?.is_none() {
        return Err(ApiError::not_found("That lawyer"));
    }
    if store.booth(&req.booth_id).await?.is_none() {
        return Err(ApiError::not_found("That booth"));
    }
    if !req.companions.is_empty() {
        return Err(ApiError::bad_request(
            "companions_invited_by_lawyer",
            "Staff cannot add assistants or interpreters to a visit: only the visit's lawyer invites them, \
             from the lawyer's visit page (R-VERIFY-4).",
        )
        .with_zh("工作人员不能为会见添加助理或翻译人员：只能由本次会见的律师在会见页面邀请。"));
    }
    if let Some(case) = req.case_id {
        if store.case(case).await?.is_none() {
            return Err(ApiError::not_found("That case"));
        }
    }
    if let Some(remote) = &req.lawyer_booth_id {
        match store.booth_remote_station(remote).await? {
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
        room_consent: req.interrogation_room_consent,
        lawyer_booth: req.lawyer_booth_id,
    };
    let id: VisitId = store.insert_visit(&visit, Utc::now()).await?;
    tracing::info!(admin = %admin, visit = %id, "visit created");
    let change = ConfigChange::VisitCreated {
        visit: id,
        lawyer: visit.lawyer,
        booth: visit.booth.clone(),
        starts_at_ms: visit.starts_at.timestamp_millis(),
        ends_at_ms: visit.ends_at.timestamp_millis(),
    };
    audit
        .append(
            Actor::Staff(admin),
            AuditRecord::ConfigurationChanged { change },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(Created { id: id.0 })))
}

/// Which audit entries: at least one of `visit`, `lawyer`, or the period `from`/`to`.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries about this visit.
    visit: Option<i64>,
    /// Entries about this lawyer-side account.
    lawyer: Option<i64>,
    /// From this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Until this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Entries after this sequence number (paging).
    after: Option<u64>,
    /// At most this many entries (1 to 1000, default 1000).
    limit: Option<u32>,
}

/// The most entries one audit read returns; page on with `after`.
const MAX_AUDIT_PAGE: u32 = 1000;

#[derive(Serialize, ToSchema)]
pub struct AuditEntries {
    /// The entries in order (`seq`, `time`, `actor`, `subjects`, `record`, `hash`).
    #[schema(value_type = Vec<Object>)]
    entries: Vec<crate::audit::EntryView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/audit",
    tag = "admin",
    params(AuditQuery),
    responses(
        (status = 200, description = "Audit entries; the read itself is audited first", body = AuditEntries),
        (status = 400, description = "`malformed_request` or `missing_filter`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: auditors only", body = ErrorBody),
        (status = 503, description = "`audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn audit_entries(
    State(audit): State<Audit>,
    Auditor(auditor): Auditor,
    query: Result<axum::extract::Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditEntries>, ApiError> {
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
    audit
        .append(
            Actor::Staff(auditor),
            AuditRecord::AuditLogRead { staff: auditor },
        )
        .await?;
    let entries = audit.query(&filter).await?;
    Ok(Json(AuditEntries { entries }))
}
