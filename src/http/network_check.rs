//! The lawyers' network check before joining (R-REMOTE-1, R-REMOTE-2): does this network
//! reach the server's media transports, over UDP or only over TCP, and how long is a round
//! trip? The page offers one WebRTC data channel; the media plane answers with a
//! connection that echoes short messages and carries no media (`media::NetworkCheck`).
//!
//! | route | who | what |
//! |---|---|---|
//! | `POST /api/network-check` | lawyer session | `{sdp}` (an offer with only `m=application`) -> `{sdp, relay}` |
//!
//! A signed-in account may open one check every [`MIN_INTERVAL`]; a node runs at most 16 at
//! once (503 `busy`). Nothing is audited: a check admits nobody to anything.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::extract::{JsonBody, LawyerSession};
use super::openapi::ErrorBody;
use super::ApiError;
use crate::auth::Sessions;
use crate::ids::LawyerId;
use crate::media::{MediaError, NetworkCheck};

/// One check per signed-in account at most this often.
pub const MIN_INTERVAL: Duration = Duration::from_secs(3);

/// Accounts remembered by the throttle before old entries are dropped.
const THROTTLE_ENTRIES: usize = 4096;

/// What the network-check route uses.
#[derive(Clone, FromRef)]
pub struct NetworkCheckRoutes {
    pub check: NetworkCheck,
    pub sessions: Sessions,
    pub throttle: Throttle,
    /// Whether a TURN relay is configured (a visit can then also connect over TLS 443).
    pub relay: RelayConfigured,
}

/// Whether a TURN relay is configured for visits (R-REMOTE-2).
#[derive(Clone, Copy)]
pub struct RelayConfigured(pub bool);

/// The per-account interval between checks.
#[derive(Clone, Default)]
pub struct Throttle(Arc<Mutex<HashMap<LawyerId, Instant>>>);

impl Throttle {
    /// Whether `who` may start a check now (and note it); otherwise the seconds to wait.
    fn admit(&self, who: LawyerId, now: Instant) -> Result<(), u64> {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(at) = last.get(&who) {
            let since = now.saturating_duration_since(*at);
            if since < MIN_INTERVAL {
                return Err((MIN_INTERVAL - since).as_secs().max(1));
            }
        }
        if last.len() >= THROTTLE_ENTRIES {
            last.retain(|_, at| now.saturating_duration_since(*at) < MIN_INTERVAL);
        }
        last.insert(who, now);
        Ok(())
    }
}

/// The network-check route of the public listener.
pub fn routes(state: NetworkCheckRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(network_check))
        .with_state(state)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    /// The page's SDP offer: one data channel (`m=application`), no audio or video.
    pub sdp: String,
}

#[derive(Serialize, ToSchema)]
pub struct CheckResponse {
    /// The server's SDP answer: its UDP and ICE-TCP host candidates. The connection echoes
    /// each data-channel message of up to 256 bytes (64 at most) and ends within 20 s.
    sdp: String,
    /// Whether visits may also use the facility's TURN relay (TLS on port 443) when neither
    /// UDP nor TCP reaches the media ports directly.
    relay: bool,
}

/// Open a network check: a data channel to this server's media transports, no media.
#[utoipa::path(
    post,
    path = "/api/network-check",
    tag = "visits",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "The answer; connect and send short messages, each is echoed", body = CheckResponse),
        (status = 400, description = "`bad_offer`: not an offer of one data channel alone", body = ErrorBody),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 429, description = "`too_many_checks` (with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "`busy` (with `Retry-After`): the server runs as many checks as it takes", body = ErrorBody)
    ),
    security(("lawyer_session" = []))
)]
async fn network_check(
    State(check): State<NetworkCheck>,
    State(throttle): State<Throttle>,
    State(relay): State<RelayConfigured>,
    session: LawyerSession,
    JsonBody(req): JsonBody<CheckRequest>,
) -> Result<Json<CheckResponse>, ApiError> {
    if let Err(wait) = throttle.admit(session.0, Instant::now()) {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_checks",
            "A network check was started a moment ago; please wait a few seconds.",
        )
        .with_zh("刚刚已开始一次网络检查，请稍等几秒。");
        e.retry_after = Some(wait);
        return Err(e);
    }
    match check.open(req.sdp).await {
        Ok(sdp) => Ok(Json(CheckResponse {
            sdp,
            relay: relay.0,
        })),
        Err(MediaError::BadOffer(why)) => Err(ApiError::bad_request(
            "bad_offer",
            format!("The network check needs an offer of one data channel and no media: {why}"),
        )
        .with_zh("网络检查只接受一个数据通道的提议，不含音视频。")),
        Err(MediaError::Busy) => {
            let mut e = ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The server is running many network checks; please try again in a few seconds.",
            )
            .with_zh("服务器正在进行较多网络检查，请几秒后重试。");
            e.retry_after = Some(5);
            Err(e)
        }
        Err(e) => Err(ApiError::internal(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_check_per_account_every_few_seconds() {
        let t = Throttle::default();
        let now = Instant::now();
        assert_eq!(t.admit(LawyerId(1), now), Ok(()));
        assert!(t.admit(LawyerId(1), now + Duration::from_secs(1)).is_err());
        assert_eq!(t.admit(LawyerId(2), now), Ok(()), "another account");
        assert_eq!(t.admit(LawyerId(1), now + MIN_INTERVAL), Ok(()));
    }
}
