//! Live visit health for the admin console (R-PRIV-1): per live visit, its participants'
//! connection, candidate type, bitrates, loss, jitter, RTT, forwarded video frame rate and
//! size, time left and warnings sent, and health alerts.
//!
//! **Owns** the health feed: one task ([`run`]) that, whenever the media plane publishes its
//! snapshot (at most once a second, `media::MediaHandle::stats_feed`) and at least once a
//! second, joins it with the visit hub's live visits ([`crate::visit::VisitHub::live_view`]),
//! evaluates alerts ([`model::evaluate`], pure), counts them and the forwarded bytes and
//! losses in [`crate::metrics`], and publishes the view as ready-made JSON. Any number of
//! console viewers share that one evaluation and one serialisation: a viewer costs a clone
//! of an `Arc<str>` per second. The task runs whether or not anyone watches, so alerts are
//! counted in `/metrics` all the same.
//!
//! **Does not**: act on a visit (docs/DESIGN.md invariant 8: admin reads health from the
//! snapshot that `media` publishes, it never sends media a command); carry media, frames,
//! thumbnails, audio levels or document contents; show names, licence numbers, account
//! ids, IP addresses or ports: participants appear by role and device kind only (docs/DESIGN.md
//! invariant 6, R-PRIV-1; `tests/admin.rs` walks every admin route for this).
//!
//! The routes that serve the feed are [`http`] (`GET /admin/api/live`, `/live/stream`);
//! readiness (`/healthz`) is [`ready`].
//!
//! Does not own the view's shape or the alert rules: those are [`model`] (pure).
//!
//! The view (snake_case; times RFC 3339, UTC):
//! ```text
//! { "at": RFC3339, "visits": [ {
//!     "visit_id": str, "booth": str (booth label), "state": "waiting"|"live",
//!     "slot_end": RFC3339|null, "time_left_s": int|null, "warnings_sent": [int seconds-before-end...],
//!     "participants": [ {
//!        "role": "lawyer"|"booth"|"assistant"|"interpreter", "device": "browser"|"booth",
//!        "connection": "connecting"|"connected"|"disconnected",
//!        "candidate_type": "host"|"srflx"|"prflx"|"relay"|null, "transport": "udp"|"tcp"|null,
//!        "inbound":  {"audio_kbps": num, "video_kbps": num},   // what the SFU receives from this participant
//!        "outbound": {"audio_kbps": num, "video_kbps": num},   // what the SFU sends to this participant
//!        "loss_pct": num|null, "jitter_ms": num|null, "rtt_ms": num|null,
//!        "video": {"fps": num, "width": int|null, "height": int|null}|null,
//!        "last_media_ms_ago": int|null, "reconnects": int } ],
//!     "alerts": [ {"kind": "loss"|"rtt"|"no_media"|"reconnecting", "role": str, "since": RFC3339} ] } ],
//!   "alerts_active": int, "system_alerts": ["disk_space"] }
//! ```
//! `state` is `live` once two participants are connected. `loss_pct` is the worse of the
//! loss of what the SFU receives from the participant and the loss the participant reports
//! of what the SFU sends it, over the last second. `video` is the participant's own video
//! as the SFU forwards it (`null` before any arrived); `width`/`height` come from the VP8
//! key frame header and are `null` until a key frame was seen.
//!
//! The `alert` event:
//! `{"visit_id": str, "kind": ..., "role": str, "status": "raised"|"cleared", "since": RFC3339, "at": RFC3339}`.
//!
//! Thresholds: `[admin.health]` in the configuration (`loss_pct` 5, `loss_window_secs` 10,
//! `rtt_ms` 400, `no_media_secs` 5).

pub mod http;
pub mod model;
pub mod ready;

use crate::ids::VisitId;
use crate::media::{MediaSnapshot, PeerId};
use crate::store::Store;
use crate::visit::VisitHub;
use chrono::Utc;
use model::{AlertEvent, HealthState, LiveView, Thresholds, VisitInput};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};

/// The longest the feed goes without a new view, even when media publishes nothing.
const MAX_PERIOD: Duration = Duration::from_secs(1);

/// Alert events a slow viewer may fall behind by before it misses some.
const ALERT_BACKLOG: usize = 256;

/// The published health view and alert events. Cheap to clone and to read: the task
/// ([`run`]) publishes, the routes read.
#[derive(Clone)]
pub struct HealthFeed(Arc<Channels>);

struct Channels {
    view: watch::Sender<Arc<str>>,
    alerts: broadcast::Sender<Arc<str>>,
    stopped: watch::Sender<bool>,
}

impl Default for HealthFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl HealthFeed {
    pub fn new() -> HealthFeed {
        let empty = LiveView {
            at: crate::model::time::rfc3339(Utc::now()),
            visits: Vec::new(),
            alerts_active: 0,
            system_alerts: Vec::new(),
        };
        HealthFeed(Arc::new(Channels {
            view: watch::Sender::new(to_json(&empty)),
            alerts: broadcast::Sender::new(ALERT_BACKLOG),
            stopped: watch::Sender::new(false),
        }))
    }

    /// The current view, as JSON.
    pub fn current(&self) -> Arc<str> {
        self.0.view.borrow().clone()
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Arc<str> {
    match serde_json::to_string(v) {
        Ok(s) => Arc::from(s),
        Err(e) => {
            tracing::error!(error = %e, "health view could not be serialised");
            Arc::from("{}")
        }
    }
}

/// Forwarded bytes and loss counters from per-peer totals (a peer counts from where it was
/// at the previous snapshot; a new peer from zero).
#[derive(Default)]
struct MediaCounters {
    last: HashMap<PeerId, (u64, u64, u64)>,
}

impl MediaCounters {
    fn record(&mut self, snap: &MediaSnapshot) {
        let mut now = HashMap::with_capacity(snap.peers.len());
        let (mut bytes, mut lost, mut expected) = (0u64, 0u64, 0u64);
        for (_, _, s) in &snap.peers {
            let Some(peer) = s.peer else { continue };
            let h = &s.health;
            let cur = (h.bytes_out, h.packets_lost_in, h.packets_expected_in);
            let before = self.last.get(&peer).copied().unwrap_or_default();
            bytes += cur.0.saturating_sub(before.0);
            lost += cur.1.saturating_sub(before.1);
            expected += cur.2.saturating_sub(before.2);
            now.insert(peer, cur);
        }
        self.last = now;
        crate::metrics::media_health(bytes, lost, expected);
    }
}

/// The health feed task: evaluate on every media snapshot (and at least every
/// [`MAX_PERIOD`]) until `stop` resolves, publishing into `feed`. Reads the hub's live
/// visits and media snapshot, and the store for booth labels. Spawned once by `app`.
pub async fn run(
    feed: HealthFeed,
    hub: VisitHub,
    store: Store,
    th: Thresholds,
    disk: crate::disk::DiskSpace,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut media = hub.media_stats();
    let mut media_alive = true;
    let mut health = HealthState::default();
    let mut booths: HashMap<VisitId, String> = HashMap::new();
    let mut counters = MediaCounters::default();
    let mut last_snapshot: Option<Arc<MediaSnapshot>> = None;
    loop {
        tokio::select! {
            _ = &mut stop => break,
            changed = media.changed(), if media_alive => {
                if changed.is_err() {
                    media_alive = false;
                }
            }
            _ = tokio::time::sleep(MAX_PERIOD) => {}
        }
        let snap = media.borrow_and_update().clone();
        if last_snapshot
            .as_ref()
            .is_none_or(|l| !Arc::ptr_eq(l, &snap))
        {
            counters.record(&snap);
            last_snapshot = Some(snap.clone());
        }
        let live = hub.live_view();
        booths.retain(|v, _| live.iter().any(|l| l.visit == *v));
        let mut inputs = Vec::with_capacity(live.len());
        for l in live {
            let booth = match booths.get(&l.visit) {
                Some(b) => b.clone(),
                None => match store.visit(l.visit).await {
                    Ok(Some(row)) => {
                        let label = if row.booth_label.is_empty() {
                            row.booth.to_string()
                        } else {
                            row.booth_label
                        };
                        booths.insert(l.visit, label.clone());
                        label
                    }
                    Ok(None) => String::new(),
                    Err(e) => {
                        tracing::warn!(visit = %l.visit, error = %e, "health: booth label not found");
                        String::new()
                    }
                },
            };
            inputs.push(VisitInput { live: l, booth });
        }
        let (mut view, events) = model::evaluate(&mut health, &inputs, &snap, &th, Utc::now());
        if disk.is_low() {
            view.system_alerts.push("disk_space");
        }
        for e in events.iter().filter(|e| e.status == "raised") {
            crate::metrics::health_alert(e.kind.as_str());
        }
        log_alerts(&events);
        feed.0.view.send_replace(to_json(&view));
        for e in &events {
            let _ = feed.0.alerts.send(to_json(e));
        }
    }
    feed.0.stopped.send_replace(true);
}

fn log_alerts(events: &[AlertEvent]) {
    for e in events {
        tracing::info!(visit = %e.visit_id, kind = e.kind.as_str(), role = e.role, status = e.status, "health alert");
    }
}
