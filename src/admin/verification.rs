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
//! | `POST /admin/api/cases/{id}/companions` | `{account_id, approved_by}`: an assistant / interpreter approved for the case |
//!
//! Every action is appended to the audit log before it takes effect (503
//! `audit_unavailable` otherwise).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{NaiveDate, Utc};
use serde::Deserialize;

use super::roles::Operator;
use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::http::api::{json_body, rfc3339};
use crate::http::ApiError;
use crate::ids::{CaseId, LawyerId, VisitId};
use crate::licence::verify::{verify_lookup, LawyerClaim};
use crate::licence::LicenceRegistry;
use crate::store::verification::{MemberKind, NewPermission};
use crate::store::StoreError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/api/visits/{id}/manual-verification",
            post(manual_verification),
        )
        .route("/admin/api/manual-verifications", get(manual_verifications))
        .route("/admin/api/alerts", get(alerts))
        .route("/admin/api/alerts/{id}/acknowledge", post(acknowledge))
        .route("/admin/api/lawyers/{id}/unlock", post(unlock))
        .route("/admin/api/lawyers/{id}/licence", get(licence_status))
        .route("/admin/api/cases/{id}/permissions", post(permission))
        .route("/admin/api/cases/{id}/companions", post(companion))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManualVerification {
    /// Where the justice bureau's certificate is filed (e.g. its number).
    evidence_ref: String,
    #[serde(default)]
    note: String,
}

async fn manual_verification(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(visit): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: ManualVerification = json_body(&body)?;
    let evidence_ref = reference("evidence_ref", &req.evidence_ref)?;
    if req.note.chars().count() > 1000 {
        return Err(ApiError::bad_request(
            "invalid_note",
            "A note has at most 1000 characters.",
        ));
    }
    let row = state
        .store
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
    state
        .audit
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
    let id = match state
        .store
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
        Json(serde_json::json!({ "id": id, "visit_id": row.id, "lawyer_id": row.lawyer })),
    ))
}

async fn manual_verifications(
    State(state): State<AppState>,
    _s: Operator,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state.store.manual_verifications().await?;
    let list: Vec<_> = rows
        .iter()
        .map(|m| {
            serde_json::json!({
                "id": m.id, "lawyer_id": m.lawyer, "visit_id": m.visit,
                "evidence_ref": m.evidence_ref, "verified_by": m.verified_by,
                "verified_at": rfc3339(m.verified_at),
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "manual_verifications": list })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertQuery {
    #[serde(default)]
    open: Option<bool>,
}

async fn alerts(
    State(state): State<AppState>,
    _s: Operator,
    Query(q): Query<AlertQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rows = state
        .store
        .impersonation_alerts(q.open.unwrap_or(false))
        .await?;
    let list: Vec<_> = rows
        .iter()
        .map(|a| {
            serde_json::json!({
                "id": a.id, "lawyer_id": a.lawyer, "visit_id": a.visit, "reason": a.reason,
                "raised_at": rfc3339(a.raised_at), "acknowledged_by": a.acknowledged_by,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({ "alerts": list })))
}

async fn acknowledge(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state
        .audit
        .append(
            Actor::Staff(staff),
            AuditRecord::AlertAcknowledged { alert: id, staff },
        )
        .await?;
    if state.store.acknowledge_alert(id, staff, Utc::now()).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("An open alert with this id"))
    }
}

async fn unlock(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let lawyer = LawyerId(id);
    let account = state
        .store
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
    state
        .audit
        .append(
            Actor::Staff(staff),
            AuditRecord::AccountUnlocked { lawyer, staff },
        )
        .await?;
    state.store.unlock_lawyer(lawyer).await?;
    tracing::info!(staff = %staff, lawyer = %lawyer, "account unlocked");
    Ok(StatusCode::NO_CONTENT)
}

/// What the registry says now about an account's licence, for staff deciding on a manual
/// verification. Asks the registry (through the cache); shows the verdict and status, not
/// the registry's personal fields.
async fn licence_status(
    State(state): State<AppState>,
    _s: Operator,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let account = state
        .store
        .lawyer_account(LawyerId(id))
        .await?
        .ok_or_else(|| ApiError::not_found("This account"))?;
    let Some(licence) = account
        .licence_number
        .as_deref()
        .and_then(|l| l.parse().ok())
    else {
        return Ok(Json(
            serde_json::json!({ "lawyer_id": id, "verdict": "no_licence_on_account" }),
        ));
    };
    let lookup = state.gate.registry().lookup(&licence).await;
    let status = match &lookup {
        Ok(Some(r)) => serde_json::json!({
            "status": r.status.as_str(),
            "valid_until": r.valid_until.to_string(),
            "data_as_of": rfc3339(r.data_as_of),
        }),
        Ok(None) => serde_json::json!({ "status": "unknown_licence" }),
        Err(e) => serde_json::json!({ "status": e.code() }),
    };
    // The firm is the one on an engagement; without one, the holder alone is compared.
    let claim = LawyerClaim {
        licence,
        holder_name: account.display_name.clone(),
        holder_id_hash: match account.holder_id_hash.as_deref().map(str::parse) {
            Some(Ok(h)) => h,
            _ => {
                return Ok(Json(
                    serde_json::json!({ "lawyer_id": id, "verdict": "no_licence_on_account" }),
                ))
            }
        },
        law_firm: match &lookup {
            Ok(Some(r)) => r.law_firm.clone(),
            _ => String::new(),
        },
    };
    let verdict = verify_lookup(&lookup, &claim, Utc::now().date_naive());
    Ok(Json(serde_json::json!({
        "lawyer_id": id,
        "verdict": verdict.reason().map(|r| r.code()).unwrap_or("licence_verified"),
        "registry": status,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PermissionRequest {
    lawyer_id: LawyerId,
    /// The investigating unit that decided.
    unit: String,
    /// `YYYY-MM-DD`.
    decided_on: NaiveDate,
    granted: bool,
    /// The reference of the unit's written decision.
    document_ref: String,
}

async fn permission(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(case): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: PermissionRequest = json_body(&body)?;
    let unit = reference("unit", &req.unit)?;
    let document_ref = reference("document_ref", &req.document_ref)?;
    let case_row = state
        .store
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
    state
        .audit
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
    let id = match state.store.insert_case_permission(&p, Utc::now()).await {
        Ok(id) => id,
        Err(StoreError::NotFound(what)) => {
            return Err(ApiError::not_found(&format!("The lawyer or {what}")))
        }
        Err(e) => return Err(e.into()),
    };
    Ok((StatusCode::CREATED, Json(serde_json::json!({ "id": id }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CompanionRequest {
    account_id: LawyerId,
    /// Who approved (the investigating unit, and the decision's reference).
    approved_by: String,
}

async fn companion(
    State(state): State<AppState>,
    Operator(staff): Operator,
    Path(case): Path<i64>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let req: CompanionRequest = json_body(&body)?;
    let approved_by = reference("approved_by", &req.approved_by)?;
    let case = CaseId(case);
    if state.store.case(case).await?.is_none() {
        return Err(ApiError::not_found("This case"));
    }
    let account = state
        .store
        .lawyer_account(req.account_id)
        .await?
        .ok_or_else(|| ApiError::not_found("This account"))?;
    if account.kind == MemberKind::Lawyer {
        return Err(ApiError::bad_request(
            "not_a_companion",
            "Only assistant and interpreter accounts are approved for a case; a lawyer joins through an engagement.",
        ));
    }
    state
        .audit
        .append(
            Actor::Staff(staff),
            AuditRecord::CompanionApproved {
                case,
                account: req.account_id,
                staff,
            },
        )
        .await?;
    match state
        .store
        .approve_companion(case, req.account_id, &approved_by, staff, Utc::now())
        .await
    {
        Ok(()) => Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "case_id": case, "account_id": req.account_id })),
        )),
        Err(StoreError::Conflict(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_approved",
            "This account is already approved for this case.",
        )),
        Err(e) => Err(e.into()),
    }
}
