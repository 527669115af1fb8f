//! The lawyer's invitations of assistants and interpreters (R-VERIFY-4): only the visit's
//! own lawyer invites, from the visit page, and only companions eligible for the visit's
//! case (interpreters the investigating unit approved, as staff recorded it; the lawyer's
//! own assistants, approved too where the case is flagged). Staff cannot invite anyone.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/lawyer/visits/{id}/companions` | the visit's lawyer | the companions the lawyer may invite, and which are invited |
//! | `POST /api/lawyer/visits/{id}/companions` | the visit's lawyer | `{account_id}`: invite one (at most two per visit) |
//! | `DELETE /api/lawyer/visits/{id}/companions/{account_id}` | the visit's lawyer | withdraw an invitation; a companion in the visit is removed at once |
//!
//! The invitation is in the audit log (`companion_invited`) before it is stored. An
//! invitation alone admits nobody: the companion still passes the whole gate at its join,
//! and joins only while the lawyer is present (`visit::admission`, `visit::hub`). A
//! withdrawal is audited (`companion_withdrawn`) before the invitation is deleted; a
//! companion then in the visit is let go at once, told why (`invitation_withdrawn`), and the
//! others are told it left; without the invitation it cannot join or resume again.

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::Sessions;
use crate::http::extract::{JsonBody, LawyerSession};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::{LawyerId, ParticipantId, VisitId};
use crate::store::companions::EligibleCompanion;
use crate::store::{Store, VisitRow};
use crate::visit::hub::VisitHub;
use crate::visit::lifecycle::Removal;

/// At most this many assistants and interpreters per visit.
pub const MAX_COMPANIONS: usize = 2;

/// What the invitation routes use.
#[derive(Clone, FromRef)]
pub struct CompanionRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
    /// To let a withdrawn companion go from a live visit.
    pub hub: VisitHub,
}

/// The routes of the table above (public listener).
pub fn routes(state: CompanionRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(companions, invite))
        .routes(routes!(withdraw))
        .with_state(state)
}

/// One companion the lawyer may invite.
#[derive(Serialize, ToSchema)]
pub struct CompanionView {
    #[schema(value_type = i64)]
    id: LawyerId,
    /// `assistant` or `interpreter`.
    kind: &'static str,
    display_name: String,
    /// The investigating unit's approval for the case is recorded.
    approved: bool,
    /// Invited to this visit.
    invited: bool,
}

#[derive(Serialize, ToSchema)]
pub struct CompanionList {
    companions: Vec<CompanionView>,
    /// How many may be invited to one visit.
    max: usize,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invite {
    #[schema(value_type = i64)]
    account_id: LawyerId,
}

#[derive(Serialize, ToSchema)]
pub struct Invited {
    visit_id: i64,
    account_id: i64,
}

/// The visit, if the caller is its lawyer; the eligible companions for its case.
async fn own_visit(
    store: &Store,
    lawyer: LawyerId,
    visit: i64,
) -> Result<(VisitRow, Vec<EligibleCompanion>), ApiError> {
    let row = store
        .visit(VisitId(visit))
        .await?
        .ok_or_else(|| ApiError::not_found("This visit"))?;
    if row.lawyer != lawyer {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "not_the_visits_lawyer",
            "Only the visit's lawyer invites assistants and interpreters.",
        )
        .with_zh("只有本次会见的律师可以邀请助理或翻译人员。"));
    }
    let Some(case) = row.case else {
        return Ok((row, Vec::new()));
    };
    let flagged = store
        .case(case)
        .await?
        .is_none_or(|c| c.needs_unit_permission);
    let eligible = store.eligible_companions(lawyer, case, flagged).await?;
    Ok((row, eligible))
}

/// The assistants and interpreters the signed-in lawyer may invite to this visit.
#[utoipa::path(
    get,
    path = "/api/lawyer/visits/{id}/companions",
    tag = "visits",
    params(("id" = i64, Path, description = "The visit")),
    responses(
        (status = 200, description = "The eligible companions, and which are invited (R-VERIFY-4)", body = CompanionList),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`not_the_visits_lawyer`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
async fn companions(
    State(store): State<Store>,
    session: LawyerSession,
    Path(id): Path<i64>,
) -> Result<Json<CompanionList>, ApiError> {
    let (row, eligible) = own_visit(&store, session.0, id).await?;
    let companions = eligible
        .into_iter()
        .map(|c| CompanionView {
            id: c.id,
            kind: c.kind.as_str(),
            display_name: c.display_name,
            approved: c.approved,
            invited: row.companions.contains(&c.id),
        })
        .collect();
    Ok(Json(CompanionList {
        companions,
        max: MAX_COMPANIONS,
    }))
}

/// Invite an eligible assistant or interpreter to this visit (audited first).
#[utoipa::path(
    post,
    path = "/api/lawyer/visits/{id}/companions",
    tag = "visits",
    params(("id" = i64, Path, description = "The visit")),
    request_body = Invite,
    responses(
        (status = 201, description = "Invited (audited first, R-VERIFY-4); the companion still passes the gate and joins only while the lawyer is present", body = Invited),
        (status = 200, description = "Already invited", body = Invited),
        (status = 400, description = "`malformed_request`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`not_the_visits_lawyer`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit", body = ErrorBody),
        (status = 409, description = "`visit_ended`, `companion_not_eligible` (not approved for the case, or not the lawyer's assistant) or `too_many_companions`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
async fn invite(
    State(store): State<Store>,
    State(audit): State<Audit>,
    session: LawyerSession,
    Path(id): Path<i64>,
    JsonBody(req): JsonBody<Invite>,
) -> Result<(StatusCode, Json<Invited>), ApiError> {
    let lawyer = session.0;
    let (row, eligible) = own_visit(&store, lawyer, id).await?;
    let answer = Json(Invited {
        visit_id: row.id.0,
        account_id: req.account_id.0,
    });
    let now = Utc::now();
    if row.ended_at.is_some() || now >= row.ends_at {
        return Err(
            ApiError::new(StatusCode::CONFLICT, "visit_ended", "This visit has ended.")
                .with_zh("本次会见已结束。"),
        );
    }
    if row.companions.contains(&req.account_id) {
        return Ok((StatusCode::OK, answer));
    }
    if !eligible.iter().any(|c| c.id == req.account_id) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "companion_not_eligible",
            "This account cannot be invited to this visit: an interpreter needs the investigating unit's \
             approval for the case, recorded by staff; an assistant must be yours (and approved too where \
             the case requires it).",
        )
        .with_zh("无法邀请该账户参加本次会见：翻译人员须经侦查机关批准并由工作人员登记；助理须为您本人的助理（案件要求时也须经批准）。"));
    }
    if row.companions.len() >= MAX_COMPANIONS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_companions",
            "A visit may include at most two assistants or interpreters.",
        )
        .with_zh("每次会见最多可邀请两名助理或翻译人员。"));
    }
    audit
        .append(
            Actor::Lawyer(lawyer),
            AuditRecord::CompanionInvited {
                visit: row.id,
                lawyer,
                account: req.account_id,
            },
        )
        .await?;
    store
        .invite_companion(row.id, req.account_id, lawyer, now)
        .await?;
    tracing::info!(visit = %row.id, "companion invited by the lawyer");
    Ok((StatusCode::CREATED, answer))
}

#[derive(Serialize, ToSchema)]
pub struct Withdrawn {
    visit_id: i64,
    account_id: i64,
    /// The companion was in the visit and has been removed from it.
    removed_from_visit: bool,
}

/// Withdraw an invitation (audited first); a companion in the visit is removed at once.
#[utoipa::path(
    delete,
    path = "/api/lawyer/visits/{id}/companions/{account_id}",
    tag = "visits",
    params(
        ("id" = i64, Path, description = "The visit"),
        ("account_id" = i64, Path, description = "The invited assistant or interpreter"),
    ),
    responses(
        (status = 200, description = "Withdrawn (audited first, R-VERIFY-4); a companion in the visit was removed, told why (`invitation_withdrawn`), and the others told it left", body = Withdrawn),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`not_the_visits_lawyer`", body = ErrorBody),
        (status = 404, description = "`not_found`: no such visit, or `not_invited`: this account is not invited to it", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("lawyer_session" = []))
)]
async fn withdraw(
    State(store): State<Store>,
    State(audit): State<Audit>,
    State(hub): State<VisitHub>,
    session: LawyerSession,
    Path((id, account)): Path<(i64, i64)>,
) -> Result<Json<Withdrawn>, ApiError> {
    let lawyer = session.0;
    let (row, _) = own_visit(&store, lawyer, id).await?;
    let account = LawyerId(account);
    if !row.companions.contains(&account) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_invited",
            "This account is not invited to this visit.",
        )
        .with_zh("该账户未被邀请参加本次会见。"));
    }
    audit
        .append(
            Actor::Lawyer(lawyer),
            AuditRecord::CompanionWithdrawn {
                visit: row.id,
                lawyer,
                account,
            },
        )
        .await?;
    store.withdraw_companion(row.id, account).await?;
    // An account is an assistant or an interpreter, never both: at most one matches.
    let mut removed = false;
    for who in [
        ParticipantId::Assistant(account),
        ParticipantId::Interpreter(account),
    ] {
        removed |= hub.remove_companion(row.id, &who, Removal::InvitationWithdrawn);
    }
    tracing::info!(visit = %row.id, removed, "companion invitation withdrawn by the lawyer");
    Ok(Json(Withdrawn {
        visit_id: row.id.0,
        account_id: account.0,
        removed_from_visit: removed,
    }))
}
