//! `POST /admin/api/booths/{booth}/revoke` (R-VERIFY-4): an operator puts a booth's
//! certificate on the deny list. The certificate is named by `serial` and/or
//! `certificate_sha256` in the body; with neither, the certificate the booth last proved
//! itself with on this server, or else the one `confer certs booth` issued to it in the data
//! dir. Audited (`booth_certificate_revoked`, the staff member as actor) before the answer;
//! then the revocation sweep runs at once, so a live visit at that booth ends now with
//! `certificate_revoked` (both sides told).

use std::path::PathBuf;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::revocation::{certificate_file, normalise_serial};
use crate::auth::{Booths, Sessions};
use crate::http::extract::JsonBody;
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::ids::BoothId;
use crate::store::revocation::NewRevocation;
use crate::store::Store;
use crate::visit::revocation::RevocationSweep;

use super::Operator;

/// What the revocation route uses.
#[derive(Clone, axum::extract::FromRef)]
pub struct RevocationRoutes {
    pub store: Store,
    pub audit: Audit,
    pub sessions: Sessions,
    pub booths: Booths,
    pub sweep: RevocationSweep,
    /// The server's data dir (where `confer certs booth` keeps booth certificates).
    pub data_dir: PathBuf,
}

pub fn admin_routes(state: RevocationRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(revoke_booth))
        .with_state(state)
}

/// Which certificate to revoke. Both fields optional (see the route).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// The certificate's serial number, hex (colons allowed).
    #[serde(default)]
    serial: Option<String>,
    /// The SHA-256 of the certificate (DER), hex.
    #[serde(default)]
    certificate_sha256: Option<String>,
}

/// What was put on the deny list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    booth: String,
    serial: Option<String>,
    certificate_sha256: Option<String>,
    /// Live visits at that booth ended now (`certificate_revoked`).
    visits_ended: usize,
}

#[utoipa::path(
    post,
    path = "/admin/api/booths/{booth}/revoke",
    tag = "admin",
    params(("booth" = String, Path, description = "The booth id")),
    request_body = RevokeRequest,
    responses(
        (status = 201, description = "On the deny list (audited); live visits at the booth ended", body = Revoked),
        (status = 400, description = "`malformed_request`, `invalid_serial` or `invalid_sha256`", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators only", body = ErrorBody),
        (status = 404, description = "`not_found`: no such booth", body = ErrorBody),
        (status = 422, description = "`certificate_unknown`: no serial given and none known for the booth", body = ErrorBody),
        (status = 503, description = "`audit_unavailable` or `store_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn revoke_booth(
    State(state): State<RevocationRoutes>,
    Operator(admin): Operator,
    Path(booth): Path<String>,
    JsonBody(req): JsonBody<RevokeRequest>,
) -> Result<(StatusCode, Json<Revoked>), ApiError> {
    let booth = BoothId(booth);
    if state.store.booth(&booth).await?.is_none() {
        return Err(ApiError::not_found("The booth"));
    }
    let serial = match req.serial.as_deref() {
        None => None,
        Some(s) => Some(normalise_serial(s).ok_or_else(|| {
            ApiError::bad_request("invalid_serial", "A serial number is written in hex.")
                .with_zh("证书序列号应为十六进制。")
        })?),
    };
    let sha256 = match req.certificate_sha256.as_deref() {
        None => None,
        Some(s) => {
            let s = s.replace(':', "").to_ascii_lowercase();
            if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ApiError::bad_request(
                    "invalid_sha256",
                    "A certificate SHA-256 is 64 hex digits.",
                )
                .with_zh("证书 SHA-256 应为 64 位十六进制。"));
            }
            Some(s)
        }
    };
    let (serial, sha256) = match (serial, sha256) {
        (None, None) => {
            if let Some(me) = state.booths.last_proved(&booth) {
                (
                    Some(me.serial().to_owned()),
                    Some(me.certificate_sha256().to_owned()),
                )
            } else {
                let path = confer_certs::booth_cert_path(&state.data_dir, &booth.0);
                let (s, h) = certificate_file(&path).map_err(|_| {
                    ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "certificate_unknown",
                        "This booth's certificate is not known here: give its serial number.",
                    )
                    .with_zh("本服务器不知道该会见终端的证书，请提供证书序列号。")
                })?;
                (Some(s), Some(h))
            }
        }
        other => other,
    };
    // Audit first: the revocation is on the record before it takes effect.
    state
        .audit
        .append(
            Actor::Staff(admin),
            AuditRecord::BoothCertificateRevoked {
                booth: booth.clone(),
                serial: serial.clone(),
                certificate_sha256: sha256.clone(),
                via: "staff".into(),
            },
        )
        .await?;
    state
        .store
        .revoke_booth_certificate(
            &NewRevocation {
                booth: booth.clone(),
                serial: serial.clone(),
                certificate_sha256: sha256.clone(),
                revoked_by: "staff",
                admin: Some(admin),
                audited: true,
            },
            Utc::now(),
        )
        .await?;
    let visits_ended = state.sweep.once().await;
    Ok((
        StatusCode::CREATED,
        Json(Revoked {
            booth: booth.0,
            serial,
            certificate_sha256: sha256,
            visits_ended,
        }),
    ))
}
