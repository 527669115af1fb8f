//! The metrics edge of the admin listener: `GET /metrics` (the Prometheus text format) and
//! the sampler task that keeps the gauges and the forwarded-packet counter current from
//! the hub's media snapshot. The recorder and the recording functions are `crate::metrics`.
//!
//! Who may scrape: a scraper presenting `Authorization: Bearer <admin.metrics_token>`, or a
//! signed-in auditor or system administrator (a refusal for a wrong role is audited).

use crate::audit::Audit;
use crate::auth::Sessions;
use crate::http::extract::Staff;
use crate::http::openapi::ErrorBody;
use crate::http::ApiError;
use crate::model::staff::StaffRole;
use crate::visit::VisitHub;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::{header, request::Parts, StatusCode};
use axum::response::IntoResponse;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Sample the live visits and the media plane every `every` until `stop` resolves:
/// gauges, the forwarded-packet counter (from per-peer counts; a peer that went away
/// between samples loses at most one interval of its count), and the exporter's upkeep.
pub async fn run_sampler(
    hub: crate::visit::VisitHub,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut last: HashMap<(crate::ids::VisitId, crate::ids::Role), u64> = HashMap::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let snapshot = hub.media_snapshot().await;
        metrics::gauge!("confer_live_visits").set(hub.live_count() as f64);
        metrics::gauge!("confer_participants").set(snapshot.peers.len() as f64);
        let mut now = HashMap::new();
        let mut forwarded = 0u64;
        for (visit, role, stats) in &snapshot.peers {
            let before = last.get(&(*visit, *role)).copied().unwrap_or(0);
            // A lower count means a new peer in that seat (a reconnect): count it afresh.
            forwarded += if stats.rtp_packets_out >= before {
                stats.rtp_packets_out - before
            } else {
                stats.rtp_packets_out
            };
            now.insert((*visit, *role), stats.rtp_packets_out);
        }
        last = now;
        metrics::counter!("confer_forwarded_packets_total").increment(forwarded);
        crate::metrics::upkeep();
    }
}

// --- GET /metrics ---

/// The scrape token (`admin.metrics_token`), if one is configured.
#[derive(Clone, Default)]
pub struct MetricsToken(Option<Arc<str>>);

impl MetricsToken {
    pub fn new(token: Option<&str>) -> MetricsToken {
        MetricsToken(token.map(Arc::from))
    }
}

/// What the scrape route uses: the hub (for the gauges at scrape time), the token, staff
/// sessions and the audit log (a refusal for a wrong role is audited).
#[derive(Clone, axum::extract::FromRef)]
pub struct MetricsRoutes {
    pub hub: VisitHub,
    pub token: MetricsToken,
    pub sessions: Sessions,
    pub audit: Audit,
}

/// `GET /metrics` (admin listener).
pub fn admin_routes(state: MetricsRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(scrape))
        .with_state(state)
}

/// Who may scrape: the configured bearer token, or an auditor / sysadmin session.
pub struct MetricsReader;

impl<S> FromRequestParts<S> for MetricsReader
where
    MetricsToken: FromRef<S>,
    Sessions: FromRef<S>,
    Audit: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(expected) = MetricsToken::from_ref(state).0.as_deref() {
            let presented = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "));
            if let Some(p) = presented {
                // Compare digests, so the comparison's time says nothing about the token.
                let d = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
                if d(p).as_ref() == d(expected).as_ref() {
                    return Ok(MetricsReader);
                }
            }
        }
        let staff = Staff::from_request_parts(parts, state).await?;
        staff
            .require(
                &Audit::from_ref(state),
                "GET /metrics",
                &[StaffRole::Auditor, StaffRole::Sysadmin],
            )
            .await?;
        Ok(MetricsReader)
    }
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "metrics",
    responses(
        (status = 200, description = "Every metric in the Prometheus text format. A scraper may present `Authorization: Bearer <admin.metrics_token>` instead of a staff session", body = String, content_type = "text/plain; version=0.0.4; charset=utf-8"),
        (status = 401, description = "`not_signed_in`: neither the scrape token nor a staff session", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: auditors and system administrators only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn scrape(State(hub): State<VisitHub>, _r: MetricsReader) -> impl IntoResponse {
    // The gauges as of this scrape, not of the last sampler tick.
    let peers = hub.media_snapshot().await.peers.len();
    metrics::gauge!("confer_live_visits").set(hub.live_count() as f64);
    metrics::gauge!("confer_participants").set(peers as f64);
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}
