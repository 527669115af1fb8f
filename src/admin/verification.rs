//! Staff routes of the gate on the admin listener: manual licence verification (R-VERIFY-2),
//! impersonation alerts and account locks (R-VERIFY-3), the investigating unit's
//! permission for flagged cases (R-ARRANGE-3) and its approval of assistants and
//! interpreters (R-VERIFY-4).
//!
//! | route | what |
//! |---|---|
//! | `POST /admin/api/visits/{id}/manual-verification` | `{evidence_ref, note?}`: staff checked the lawyer's licence against a justice-bureau certificate; admits the lawyer to this visit whatever the registry says |
//! | `GET /admin/api/manual-verifications` | the most recent manual verifications |
//! | `GET /admin/api/alerts?open=true` | impersonation alerts (who, when, why; never the licence number) |
//! | `POST /admin/api/alerts/{id}/acknowledge` | mark an alert as seen |
//! | `POST /admin/api/lawyers/{id}/unlock` | unlock an account locked after repeated alerts |
//! | `GET /admin/api/lawyers/{id}/licence` | what the registry says now about the account's licence (verdict code, status, data time) |
//! | `POST /admin/api/cases/{id}/permissions` | `{lawyer_id, unit, decided_on, granted, document_ref}`: the unit's decision |
//! | `POST /admin/api/cases/{id}/companions` | `{account_id, unit, decided_on, document_ref}`: the investigating unit approved an assistant / interpreter for the case (R-VERIFY-4; the lawyer then invites, staff never do) |
//! | `GET /admin/api/cases/{id}/companions` | the approvals recorded for the case: account, unit, date, document, who recorded it and when |
//!
//! Every action is appended to the audit log before it takes effect (503
//! `audit_unavailable` otherwise).
//!
//! Does not: admit anyone itself (the gate, `visit::admission`, reads the records made
//! here), or show the registry's personal fields (only verdict codes and status).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::roles::Operator;
use super::Created;
use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::Sessions;
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::{CaseId, LawyerId, VisitId};
use crate::licence::cache::CachedRegistry;
use crate::licence::verify::{verify_lookup, LawyerClaim};
use crate::licence::{AnyRegistry, LicenceRegistry};
use crate::model::time::rfc3339;
use crate::store::verification::{MemberKind, NewPermission};
use crate::store::{Store, StoreError};

/// What the verification routes use: the store, the audit log, staff sessions and the
/// licence registry (through its cache) for the licence status.
#[derive(Clone, axum::extract::FromRef)]
pub struct VerificationRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
    pub registry: CachedRegistry<AnyRegistry>,
}

/// The routes of the table above (admin listener).
pub fn admin_routes(state: VerificationRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(manual_verification))
        .routes(routes!(manual_verifications))
        .routes(routes!(alerts))
        .routes(routes!(acknowledge))
        .routes(routes!(unlock))
        .routes(routes!(licence_status))
        .routes(routes!(permission))
        .routes(routes!(companion, companion_approvals))
        .with_state(state)
}

/// A free-text reference (evidence file, document number): 1..=200 characters.
fn reference(field: &'static str, text: &str) -> Result<String, ApiError> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 200 {
        return Err(ApiError::bad_request(
            "invalid_reference",
            format!("{field} needs 1 to 200 characters."),
        ));
    }
    Ok(t.to_owned())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ManualVerification {
    /// Where the justice bureau's certificate is filed (e.g. its number).
    evidence_ref: String,
    #[serde(default)]
    note: String,
}

/// A manual verification recorded.
#[derive(Serialize, ToSchema)]
pub struct ManualVerificationCreated {
    id: i64,
    visit_id: i64,
    lawyer_id: i64,
}

#[utoipa::path(
    post,
    path = "/admin/api/visits/{id}/manual-verification",
    tag = "admin",
    params(("id" = i64, Path, description = "The visit")),
    request_body = ManualVerification,
    responses(
        (status = 201, description = "Recorded (audited first, R-VERIFY-2): the lawyer is admitted to this visit whatever the registry says", body = ManualVerificationCreated),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request`, `invalid_reference` or `invalid_note`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "`visit_ended` or `already_verified`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn manual_verification(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    Path(visit): Path<i64>,
    JsonBody(req): JsonBody<ManualVerification>,
) -> Result<(StatusCode, Json<ManualVerificationCreated>), ApiError> {
    let evidence_ref = reference("evidence_ref", &req.evidence_ref)?;
    if req.note.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "invalid_note",
            "A note has at most 1000 characters.",
        ));
    }
    let row = store
        .visit(VisitId(visit))
        .await?
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    if row.ended_at.is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "visit_ended",
            "This visit has already ended; record the verification for the lawyer's next visit.",
        ));
    }
    // Audit first: the verification is durable in the log before it can admit anyone.
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::ManualLicenceVerification {
                lawyer: row.lawyer,
                staff,
                evidence_ref: evidence_ref.clone(),
                visit: Some(row.id),
            },
        )
        .await?;
    let id = match store
        .insert_manual_verification(
            row.lawyer,
            row.id,
            &evidence_ref,
            req.note.trim(),
            staff,
            Utc::now(),
        )
        .await
    {
        Ok(id) => id,
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "already_verified",
                "The lawyer's licence is already verified by hand for this visit.",
            ))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(staff = %staff, visit = %row.id, "licence verified by hand");
    Ok((
        StatusCode::CREATED,
        Json(ManualVerificationCreated {
            id,
            visit_id: row.id.0,
            lawyer_id: row.lawyer.0,
        }),
    ))
}

/// A manual verification as staff see it.
#[derive(Serialize, ToSchema)]
pub struct ManualVerificationView {
    id: i64,
    lawyer_id: i64,
    visit_id: i64,
    evidence_ref: String,
    /// The staff member who verified.
    verified_by: i64,
    verified_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ManualVerificationList {
    manual_verifications: Vec<ManualVerificationView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/manual-verifications",
    tag = "admin",
    responses(
        (status = 200, description = "The most recent manual verifications", body = ManualVerificationList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn manual_verifications(
    State(store): State<Store>,
    _s: Operator,
) -> Result<Json<ManualVerificationList>, ApiError> {
    let rows = store.manual_verifications().await?;
    let manual_verifications = rows
        .iter()
        .map(|m| ManualVerificationView {
            id: m.id,
            lawyer_id: m.lawyer.0,
            visit_id: m.visit.0,
            evidence_ref: m.evidence_ref.clone(),
            verified_by: m.verified_by.0,
            verified_at: rfc3339(m.verified_at),
        })
        .collect();
    Ok(Json(ManualVerificationList {
        manual_verifications,
    }))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only alerts nobody has acknowledged yet.
    #[serde(default)]
    open: Option<bool>,
}

/// An impersonation alert (R-VERIFY-3): who, when, why; never the licence number.
#[derive(Serialize, ToSchema)]
pub struct AlertView {
    id: i64,
    lawyer_id: i64,
    visit_id: Option<i64>,
    reason: String,
    raised_at: String,
    acknowledged_by: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AlertList {
    alerts: Vec<AlertView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/alerts",
    tag = "admin",
    params(AlertQuery),
    responses(
        (status = 200, description = "Impersonation alerts", body = AlertList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn alerts(
    State(store): State<Store>,
    _s: Operator,
    query: Result<Query<AlertQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AlertList>, ApiError> {
    // Our error shape for a malformed query, like every other route.
    let Query(q) = query.map_err(|e| {
        ApiError::bad_request(
            "malformed_request",
            format!(
                "The query is not valid: {}.",
                e.body_text().trim_end_matches('.')
            ),
        )
    })?;
    let rows = store.impersonation_alerts(q.open.unwrap_or(false)).await?;
    let alerts = rows
        .iter()
        .map(|a| AlertView {
            id: a.id,
            lawyer_id: a.lawyer.0,
            visit_id: a.visit.map(|v| v.0),
            reason: a.reason.clone(),
            raised_at: rfc3339(a.raised_at),
            acknowledged_by: a.acknowledged_by.map(|s| s.0),
        })
        .collect();
    Ok(Json(AlertList { alerts }))
}

#[utoipa::path(
    post,
    path = "/admin/api/alerts/{id}/acknowledge",
    tag = "admin",
    params(("id" = i64, Path, description = "The alert")),
    responses(
        (status = 204, description = "Acknowledged (audited)"),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no open alert with this id", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn acknowledge(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::AlertAcknowledged { alert: id, staff },
        )
        .await?;
    if store.acknowledge_alert(id, staff, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("An open alert with this id"))
    }
}

#[utoipa::path(
    post,
    path = "/admin/api/lawyers/{id}/unlock",
    tag = "admin",
    params(("id" = i64, Path, description = "The lawyer-side account")),
    responses(
        (status = 204, description = "Unlocked (audited, R-VERIFY-3)"),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account", body = ErrorBody),
        (status = 409, description = "`not_locked`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn unlock(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let lawyer = LawyerId(id);
    let account = store
        .lawyer_account(lawyer)
        .await?
        .ok_or_else(|| ApiError::not_found("This account"))?;
    if !account.locked {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_locked",
            "This account is not locked.",
        ));
    }
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::AccountUnlocked { lawyer, staff },
        )
        .await?;
    store.unlock_lawyer(lawyer).await?;
    tracing::info!(staff = %staff, lawyer = %lawyer, "account unlocked");
    Ok(StatusCode::NO_CONTENT)
}

/// What the registry says now about an account's licence, for staff deciding on a manual
/// verification. Asks the registry (through the cache); shows the verdict and status, not
/// the registry's personal fields.
/// What the registry says now about an account's licence.
#[derive(Serialize, ToSchema)]
pub struct LicenceStatus {
    lawyer_id: i64,
    /// `licence_verified`, `no_licence_on_account`, or the refusal code the gate would give.
    verdict: &'static str,
    /// The registry's answer; absent when the account has no licence to look up.
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: Option<RegistryStatus>,
}

/// The registry's answer: the licence's status (or `unknown_licence`, or the lookup's
/// error code), and when it is valid and the data's time when there is a record.
#[derive(Serialize, ToSchema)]
pub struct RegistryStatus {
    status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data_as_of: Option<String>,
}

impl LicenceStatus {
    fn no_licence(id: i64) -> LicenceStatus {
        LicenceStatus {
            lawyer_id: id,
            verdict: "no_licence_on_account",
            registry: None,
        }
    }
}

#[utoipa::path(
    get,
    path = "/admin/api/lawyers/{id}/licence",
    tag = "admin",
    params(("id" = i64, Path, description = "The lawyer-side account")),
    responses(
        (status = 200, description = "The verdict code, the licence status and the data time (never the registry's personal fields)", body = LicenceStatus),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such account", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn licence_status(
    State(store): State<Store>,
    State(registry): State<CachedRegistry<AnyRegistry>>,
    _s: Operator,
    Path(id): Path<i64>,
) -> Result<Json<LicenceStatus>, ApiError> {
    let account = store
        .lawyer_account(LawyerId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This account"))?;
    let Some(licence) = account
        .licence_number
        .as_deref()
        .and_then(|l| l.parse().ok())
    else {
        return Ok(Json(LicenceStatus::no_licence(id)));
    };
    let lookup = registry.lookup(&licence).await;
    let status = match &lookup {
        Ok(Some(r)) => RegistryStatus {
            status: r.status.as_str().to_owned(),
            valid_until: Some(r.valid_until.to_string()),
            data_as_of: Some(rfc3339(r.data_as_of)),
        },
        Ok(None) => RegistryStatus {
            status: "unknown_licence".to_owned(),
            valid_until: None,
            data_as_of: None,
        },
        Err(e) => RegistryStatus {
            status: e.code().to_owned(),
            valid_until: None,
            data_as_of: None,
        },
    };
    // The firm is the one on an engagement; without one, the holder alone is compared.
    let claim = LawyerClaim {
        licence,
        holder_name: account.display_name.clone(),
        holder_id_hash: match account.holder_id_hash.as_deref().map(str::parse) {
            Some(Ok(h)) => h,
            _ => return Ok(Json(LicenceStatus::no_licence(id))),
        },
        law_firm: match &lookup {
            Ok(Some(r)) => r.law_firm.clone(),
            _ => String::new(),
        },
    };
    let verdict = verify_lookup(&lookup, &claim, Utc::now().date_naive());
    Ok(Json(LicenceStatus {
        lawyer_id: id,
        verdict: verdict
            .reason()
            .map(|r| r.code())
            .unwrap_or("licence_verified"),
        registry: Some(status),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PermissionRequest {
    #[schema(value_type = i64)]
    lawyer_id: LawyerId,
    /// The investigating unit that decided.
    unit: String,
    /// `YYYY-MM-DD`.
    decided_on: NaiveDate,
    granted: bool,
    /// The reference of the unit's written decision.
    document_ref: String,
}

#[utoipa::path(
    post,
    path = "/admin/api/cases/{id}/permissions",
    tag = "admin",
    params(("id" = i64, Path, description = "The case")),
    request_body = PermissionRequest,
    responses(
        (status = 201, description = "The unit's decision recorded (audited first, R-ARRANGE-3)", body = Created),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request` or `invalid_reference`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case or lawyer", body = ErrorBody),
        (status = 409, description = "`permission_not_applicable`: the case is not flagged", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn permission(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    Path(case): Path<i64>,
    JsonBody(req): JsonBody<PermissionRequest>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let unit = reference("unit", &req.unit)?;
    let document_ref = reference("document_ref", &req.document_ref)?;
    let case_row = store
        .case(CaseId(case))
        .await?
        .ok_or_else(|| ApiError::not_found("This case"))?;
    if !case_row.needs_unit_permission {
        // R-ARRANGE-3: no other case ever needs one, so none can be recorded against it.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "permission_not_applicable",
            "This case is not flagged as needing the investigating unit's permission; lawyers visit it without one.",
        ));
    }
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::CasePermissionRecorded {
                case: case_row.id,
                lawyer: req.lawyer_id,
                staff,
                granted: req.granted,
                document_ref: document_ref.clone(),
            },
        )
        .await?;
    let p = NewPermission {
        case: case_row.id,
        lawyer: req.lawyer_id,
        unit,
        decided_on: req.decided_on.to_string(),
        granted: req.granted,
        document_ref,
        recorded_by: staff,
    };
    let id = match store.insert_case_permission(&p, Utc::now()).await {
        Ok(id) => id,
        Err(StoreError::NotFound(what)) => {
            return Err(ApiError::not_found(&format!("The lawyer or {what}")))
        }
        Err(e) => return Err(e.into()),
    };
    Ok((StatusCode::CREATED, Json(Created { id })))
}

/// The investigating unit's approval of an assistant or interpreter for a case, from its
/// document (R-VERIFY-4). The staff member recording it is the session's.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompanionRequest {
    #[schema(value_type = i64)]
    account_id: LawyerId,
    /// The investigating unit that approved.
    unit: String,
    /// The date of the unit's decision.
    #[schema(value_type = String, format = Date)]
    decided_on: NaiveDate,
    /// The unit's document (its number or reference).
    document_ref: String,
}

/// An assistant or interpreter approved for a case.
#[derive(Serialize, ToSchema)]
pub struct CompanionApproved {
    case_id: i64,
    account_id: i64,
}

#[utoipa::path(
    post,
    path = "/admin/api/cases/{id}/companions",
    tag = "admin",
    params(("id" = i64, Path, description = "The case")),
    request_body = CompanionRequest,
    responses(
        (status = 201, description = "Approved for the case (audited first, R-VERIFY-4)", body = CompanionApproved),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 400, description = "`malformed_request`, `invalid_reference` or `not_a_companion`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case or account", body = ErrorBody),
        (status = 409, description = "`already_approved`", body = ErrorBody),
        (status = 413, description = "`too_large`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn companion(
    State(store): State<Store>,
    State(audit): State<Audit>,
    Operator(staff): Operator,
    Path(case): Path<i64>,
    JsonBody(req): JsonBody<CompanionRequest>,
) -> Result<(StatusCode, Json<CompanionApproved>), ApiError> {
    let unit = reference("unit", &req.unit)?;
    let document_ref = reference("document_ref", &req.document_ref)?;
    let case = CaseId(case);
    if store.case(case).await?.is_none() {
        return Err(ApiError::not_found("This case"));
    }
    let account = store
        .lawyer_account(req.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("This account"))?;
    if account.kind == MemberKind::Lawyer {
        return Err(ApiError::bad_request(
            "not_a_companion",
            "Only assistant and interpreter accounts are approved for a case; a lawyer joins through an engagement.",
        ));
    }
    audit
        .append(
            Actor::Staff(staff),
            AuditRecord::CompanionApproved {
                case,
                account: req.account_id,
                staff,
            },
        )
        .await?;
    let approval = crate::store::companions::NewApproval {
        case,
        account: req.account_id,
        unit,
        decided_on: req.decided_on.to_string(),
        document_ref,
        recorded_by: staff,
    };
    match store.record_companion_approval(&approval, Utc::now()).await {
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(CompanionApproved {
                case_id: case.0,
                account_id: req.account_id.0,
            }),
        )),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_approved",
            "This account is already approved for this case.",
        )),
        Err(e) => Err(e.into()),
    }
}

/// One recorded approval of an assistant or interpreter for a case (R-VERIFY-4).
#[derive(Serialize, ToSchema)]
pub struct ApprovalView {
    account_id: i64,
    /// `assistant` or `interpreter`.
    kind: String,
    display_name: String,
    /// The investigating unit; `null` for a free-text approval recorded before structured
    /// approvals (then `approved_by` holds its text).
    unit: Option<String>,
    decided_on: Option<String>,
    document_ref: Option<String>,
    approved_by: String,
    /// The staff account that recorded it.
    recorded_by: i64,
    recorded_by_username: Option<String>,
    /// RFC 3339.
    recorded_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    case_id: i64,
    approvals: Vec<ApprovalView>,
}

#[utoipa::path(
    get,
    path = "/admin/api/cases/{id}/companions",
    tag = "admin",
    params(("id" = i64, Path, description = "The case")),
    responses(
        (status = 200, description = "The approvals recorded for the case, oldest first (R-VERIFY-4)", body = ApprovalList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such case", body = ErrorBody),
        (status = 503, description = "`store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn companion_approvals(
    State(store): State<Store>,
    Operator(_staff): Operator,
    Path(case): Path<i64>,
) -> Result<Json<ApprovalList>, ApiError> {
    let case = CaseId(case);
    if store.case(case).await?.is_none() {
        return Err(ApiError::not_found("This case"));
    }
    let approvals = store
        .companion_approvals(case)
        .await?
        .into_iter()
        .map(|a| ApprovalView {
            account_id: a.account.0,
            kind: a.kind,
            display_name: a.display_name,
            unit: a.unit,
            decided_on: a.decided_on,
            document_ref: a.document_ref,
            approved_by: a.approved_by,
            recorded_by: a.recorded_by.0,
            recorded_by_username: a.recorded_by_username,
            recorded_at: chrono::DateTime::from_timestamp_millis(a.recorded_at_ms)
                .unwrap_or_default()
                .to_rfc3339(),
        })
        .collect();
    Ok(Json(ApprovalList {
        case_id: case.0,
        approvals,
    }))
}
