//! The receipt routes (R-PRIV-1): a participant downloads the signed receipt of a visit
//! they took part in once it has ended; staff fetch any visit's receipt.
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /api/lawyer/visits/{id}/receipt` | lawyer session (the visit's lawyer or invited companion) | the signed receipt |
//! | `GET /api/booth/visits/{id}/receipt` | booth certificate (the visit's booth or remote booth) | the signed receipt |
//! | `GET /admin/api/visits/{id}/receipt` | operator or auditor | the signed receipt |
//!
//! The answer is the receipt file itself (`application/json`, canonical bytes, as an
//! attachment `confer-receipt-visit-{id}.json`); `confer receipt verify FILE --public-key
//! KEY` checks it. Each hand-out is audited first (`receipt_issued`).

use axum::extract::{FromRef, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::service::{ReceiptError, Receipts, Recipient};
use crate::audit::Audit;
use crate::auth::{Booths, Sessions};
use crate::http::extract::{BoothAuth, LawyerSession, OperatorOrAuditor};
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::VisitId;

/// What the public receipt routes use.
#[derive(Clone, FromRef)]
pub struct ReceiptRoutes {
    pub receipts: Receipts,
    pub sessions: Sessions,
    pub booths: Booths,
}

/// What the staff receipt route uses.
#[derive(Clone, FromRef)]
pub struct ReceiptAdminRoutes {
    pub receipts: Receipts,
    pub sessions: Sessions,
    pub audit: Audit,
}

/// The lawyer's and the booth's receipt routes (public listener).
pub fn routes(state: ReceiptRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(lawyer_receipt))
        .routes(routes!(booth_receipt))
        .with_state(state)
}

/// The staff receipt route (admin listener).
pub fn admin_routes(state: ReceiptAdminRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(staff_receipt))
        .with_state(state)
}

impl From<ReceiptError> for ApiError {
    fn from(e: ReceiptError) -> Self {
        match e {
            ReceiptError::NotFound => ApiError::not_found("This visit").with_zh("未找到此会见。"),
            ReceiptError::NotAParticipant => ApiError::new(
                StatusCode::FORBIDDEN,
                "not_a_participant",
                "You did not take part in this visit, so you cannot have its receipt.",
            )
            .with_zh("您不是本次会见的参与方，无法获取其凭据。"),
            ReceiptError::NotEnded => ApiError::new(
                StatusCode::CONFLICT,
                "visit_not_ended",
                "The receipt is available once the visit has ended.",
            )
            .with_zh("会见结束后方可获取会见凭据。"),
            ReceiptError::Audit(e) => e.into(),
            ReceiptError::Store(e) => e.into(),
        }
    }
}

async fn answer(receipts: &Receipts, id: i64, to: Recipient) -> Result<Response, ApiError> {
    let bytes = receipts.issue(VisitId(id), to, Utc::now()).await?;
    let disposition = format!("attachment; filename=\"confer-receipt-visit-{id}.json\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// The signed receipt of an ended visit, for its lawyer or an invited companion.
#[utoipa::path(
    get,
    path = "/api/lawyer/visits/{id}/receipt",
    tag = "receipts",
    params(("id" = i64, Path, description = "The visit")),
    responses(
        (status = 200, description = "The signed receipt file (canonical JSON; see PROTOCOL.md, \"Visit receipts\")", content_type = "application/json"),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`not_a_participant`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`visit_not_ended`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable`", body = ErrorBody)
    ),
    security(("lawyer_session" = []))
)]
async fn lawyer_receipt(
    State(receipts): State<Receipts>,
    session: LawyerSession,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    answer(&receipts, id, Recipient::Lawyer(session.0)).await
}

/// The signed receipt of an ended visit, for its booth (or the remote booth).
#[utoipa::path(
    get,
    path = "/api/booth/visits/{id}/receipt",
    tag = "receipts",
    params(("id" = i64, Path, description = "The visit")),
    responses(
        (status = 200, description = "The signed receipt file (canonical JSON)", content_type = "application/json"),
        (status = 401, description = "`booth_cert_missing`", body = ErrorBody),
        (status = 403, description = "`not_a_participant`, or the certificate is refused", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`visit_not_ended`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable`", body = ErrorBody)
    ),
    security(("booth_certificate" = []))
)]
async fn booth_receipt(
    State(receipts): State<Receipts>,
    BoothAuth(me): BoothAuth,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    answer(&receipts, id, Recipient::Booth(me.booth().clone())).await
}

/// The signed receipt of an ended visit, for staff (operator or auditor).
#[utoipa::path(
    get,
    path = "/admin/api/visits/{id}/receipt",
    tag = "receipts",
    params(("id" = i64, Path, description = "The visit")),
    responses(
        (status = 200, description = "The signed receipt file (canonical JSON)", content_type = "application/json"),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`", body = ErrorBody),
        (status = 404, description = "`not_found`", body = ErrorBody),
        (status = 409, description = "`visit_not_ended`", body = ErrorBody),
        (status = 503, description = "`audit_unavailable`", body = ErrorBody)
    ),
    security(("staff_session" = []))
)]
async fn staff_receipt(
    State(receipts): State<Receipts>,
    OperatorOrAuditor(staff): OperatorOrAuditor,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    answer(&receipts, id, Recipient::Staff(staff)).await
}
