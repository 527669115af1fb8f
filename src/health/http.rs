//! The health feed's routes on the admin listener (R-PRIV-1: health, never content).
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /admin/api/live` | operator, auditor | the current view (JSON: see `crate::health`) |
//! | `GET /admin/api/live/stream` | operator, auditor | server-sent events: `health` (the same JSON) at once and then at least every second; `alert` when an alert is raised or cleared; keep-alive comments |
//! | `GET /admin/api/nodes` | operator, auditor | the cluster's nodes: id, `alive` / `draining` / `dead`, seconds since the last heartbeat, live visits, capacity, public URL, media addresses |
//!
//! Does not: evaluate anything (the feed task in `crate::health` does, once for all viewers).

use super::HealthFeed;
use crate::audit::Audit;
use crate::auth::Sessions;
use crate::http::extract::OperatorOrAuditor;
use crate::http::openapi::ErrorBody;
use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::sync::{broadcast, watch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// What the health routes use: the published feed, staff sessions and the audit log
/// (a refusal for a wrong role is audited).
#[derive(Clone, axum::extract::FromRef)]
pub struct HealthRoutes {
    pub health: HealthFeed,
    pub sessions: Sessions,
    pub audit: Audit,
    pub store: crate::store::Store,
}

/// `GET /admin/api/live`, `GET /admin/api/live/stream` (admin listener).
pub fn admin_routes(state: HealthRoutes) -> OpenApiRouter {
    OpenApiRouter::new()
        .routes(routes!(live))
        .routes(routes!(stream))
        .routes(routes!(nodes))
        .with_state(state)
}

/// The cluster's nodes as the registry holds them, with their state now.
#[utoipa::path(
    get,
    path = "/admin/api/nodes",
    tag = "health",
    responses(
        (status = 200, description = "`{nodes: [{id, state, heartbeat_age_secs, live_visits, capacity, public_url, media_addrs, started_at}]}`, by id; `state` is `alive`, `draining` or `dead` (no heartbeat for 10 s)", body = serde_json::Value),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators and auditors only", body = ErrorBody),
        (status = 500, description = "`internal`: the registry could not be read", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn nodes(
    State(store): State<crate::store::Store>,
    _r: OperatorOrAuditor,
) -> Result<axum::Json<serde_json::Value>, crate::http::ApiError> {
    let now = chrono::Utc::now();
    let rows = store.nodes().await?;
    let nodes: Vec<serde_json::Value> = rows
        .iter()
        .map(|n| {
            serde_json::json!({
                "id": n.beat.id,
                "state": crate::cluster::state(n, now).as_str(),
                "heartbeat_age_secs": (now - n.heartbeat_at).num_milliseconds() as f64 / 1000.0,
                "live_visits": n.beat.live_visits,
                "capacity": n.beat.capacity,
                "public_url": n.beat.public_url,
                "media_addrs": n.beat.media_addrs,
                "started_at": n.beat.started_at.to_rfc3339(),
            })
        })
        .collect();
    Ok(axum::Json(serde_json::json!({ "nodes": nodes })))
}

#[utoipa::path(
    get,
    path = "/admin/api/live",
    tag = "health",
    responses(
        (status = 200, description = "The current live view (the JSON shape in this module's documentation; R-PRIV-1: health, never content)", body = serde_json::Value),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators and auditors only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn live(State(health): State<HealthFeed>, _r: OperatorOrAuditor) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        health.current().to_string(),
    )
}

/// What the SSE stream waits for next.
struct Viewer {
    view: watch::Receiver<Arc<str>>,
    alerts: broadcast::Receiver<Arc<str>>,
    stopped: watch::Receiver<bool>,
    first: bool,
}

impl Viewer {
    async fn next(&mut self) -> Option<Event> {
        if self.first {
            self.first = false;
            let json = self.view.borrow_and_update().clone();
            return Some(Event::default().event("health").data(&*json));
        }
        loop {
            tokio::select! {
                changed = self.view.changed() => {
                    changed.ok()?;
                    let json = self.view.borrow_and_update().clone();
                    return Some(Event::default().event("health").data(&*json));
                }
                alert = self.alerts.recv() => match alert {
                    Ok(json) => return Some(Event::default().event("alert").data(&*json)),
                    // Missed some (a very slow viewer): the next health event has the state.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = self.stopped.wait_for(|s| *s) => return None,
            }
        }
    }
}

#[utoipa::path(
    get,
    path = "/admin/api/live/stream",
    tag = "health",
    responses(
        (status = 200, description = "Server-sent events: `health` (the live view) at once and at least every second, `alert` when an alert is raised or cleared, keep-alive comments", body = String, content_type = "text/event-stream"),
        (status = 401, description = "`not_signed_in`", body = ErrorBody),
        (status = 403, description = "`role_forbidden`: operators and auditors only", body = ErrorBody),
        (status = 503, description = "`store_unavailable` or `audit_unavailable`", body = ErrorBody),
    ),
    security(("staff_session" = []))
)]
async fn stream(
    State(health): State<HealthFeed>,
    _r: OperatorOrAuditor,
) -> Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>> {
    let viewer = Viewer {
        view: health.0.view.subscribe(),
        alerts: health.0.alerts.subscribe(),
        stopped: health.0.stopped.subscribe(),
        first: true,
    };
    let events = futures_util::stream::unfold(viewer, |mut v| async move {
        let e = v.next().await?;
        Some((Ok(e), v))
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}
