//! Readiness: `GET /healthz` on both listeners, for load balancers and the administrator
//! at 2 a.m. 200 `{"status":"ok"}` once confer is ready (200 `{"status":"degraded",
//! "degraded":["disk_space"]}` while it works but the data dir is low on space); 503 `{"status":"unavailable",
//! "unhealthy":[...]}` naming the part that is not (`database`, `audit`) or while starting
//! and stopping; `"draining":true` while the node is draining. Counts live visits, nothing
//! about who is in them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::Audit;
use crate::store::Store;
use crate::visit::VisitHub;

/// What readiness looks at. Cheap to clone; `ready` is set by wiring when the listeners
/// are up and cleared when shutdown begins.
#[derive(Clone)]
pub struct Readiness {
    pub store: Store,
    pub audit: Audit,
    pub hub: VisitHub,
    pub ready: Arc<AtomicBool>,
    /// The data dir's free space: below the watermark the answer is `degraded`.
    pub disk: crate::disk::DiskSpace,
    /// This node is draining (`confer node drain`): said in the answer, still 200 (its live
    /// visits' participants must still reach it).
    pub draining: crate::cluster::Draining,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// `GET /healthz` (both listeners).
pub fn routes(state: Readiness) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .with_state(state)
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    status: &'static str,
    version: &'static str,
    live_visits: usize,
    /// The parts that are not healthy: `database`, `audit`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unhealthy: Vec<&'static str>,
    /// Working, but staff must act before it stops: `disk_space` (the data dir's free
    /// space is below `[storage] free_space_watermark_mib`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    degraded: Vec<&'static str>,
    /// `true` while this node is draining: it starts no new visit, its live ones run to
    /// their end, then it exits. A load balancer should send new visits elsewhere.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    draining: bool,
}

/// Whether this confer can serve visits now.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses(
        (status = 200, description = "Ready (`ok`, or `degraded` naming what staff must see to)", body = Health),
        (status = 503, description = "Starting, stopping, or a part is unhealthy", body = Health)
    )
)]
pub async fn healthz(State(r): State<Readiness>) -> Response {
    let mut unhealthy = Vec::new();
    if r.store.ping().await.is_err() {
        unhealthy.push("database");
    }
    if !r.audit.is_healthy() {
        unhealthy.push("audit");
    }
    let ready = r.is_ready() && unhealthy.is_empty();
    let mut degraded = Vec::new();
    if r.disk.is_low() {
        degraded.push("disk_space");
    }
    let status = match (ready, degraded.is_empty()) {
        (false, _) => "unavailable",
        (true, true) => "ok",
        (true, false) => "degraded",
    };
    let body = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        live_visits: r.hub.live_count(),
        unhealthy,
        degraded,
        draining: r.draining.get(),
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}
