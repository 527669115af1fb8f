//! This node's heartbeat into the registry: its row written at start and refreshed every
//! [`HEARTBEAT_EVERY`](super::HEARTBEAT_EVERY) with the number of visits live on it, so every
//! node (and the admin view) sees who is alive, draining or dead (`super::state`).
//!
//! Does not: place visits or act on a dead node (not built yet: placement, redirect and
//! failover come next); decide liveness (the pure core does).

use std::future::Future;
use std::path::Path;

use chrono::Utc;

use super::{Draining, PeerOrigins};
use crate::store::nodes::NodeBeat;
use crate::store::Store;

/// This node's id: `[node] id`, or the one kept in `<data_dir>/node-id` (made on first start:
/// `node-` and 12 hex digits).
pub fn node_id(configured: Option<&str>, data_dir: &Path) -> std::io::Result<String> {
    if let Some(id) = configured {
        return Ok(id.to_owned());
    }
    let bytes = crate::keyfile::read_or_create(&data_dir.join("node-id"), || {
        let random = crate::keyfile::random::<6>()?;
        Ok(format!("node-{}", crate::audit::hex(&random)).into_bytes())
    })?;
    let id = String::from_utf8_lossy(&bytes).trim().to_owned();
    if crate::config::valid_node_id(&id) {
        Ok(id)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{} must hold a node id (letters, digits, '-', '_', '.')",
                data_dir.join("node-id").display()
            ),
        ))
    }
}

/// What the heartbeat task drives besides the row.
pub struct Beat<L> {
    pub store: Store,
    /// How many visits are live on this node now (the visit hub's count).
    pub live_count: L,
    pub beat: NodeBeat,
    pub every: std::time::Duration,
    /// Follows this node's `draining` in the registry.
    pub draining: Draining,
    /// Set to `true` once the node is draining and no visit is left on it: the process
    /// then exits (`confer serve` waits for it beside the signals).
    pub drained: tokio::sync::watch::Sender<bool>,
    /// The other nodes' signalling origins, for the pages' Content-Security-Policy.
    pub peers: PeerOrigins,
}

/// Write the heartbeat now and every `every` until `stop`; a failed write is logged and
/// tried again at the next beat (the node is then seen dead by the others after 10 s).
/// After each write, read back whether the node is draining.
pub async fn run<L: Fn() -> usize>(b: Beat<L>, stop: impl Future<Output = ()>) {
    let Beat {
        store,
        live_count,
        mut beat,
        every,
        draining,
        drained,
        peers,
    } = b;
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                beat.live_visits = live_count() as i64;
                if let Err(e) = store.node_heartbeat(&beat, Utc::now()).await {
                    tracing::warn!(node = %beat.id, error = %e, "cannot write this node's heartbeat");
                    continue;
                }
                match store.nodes().await {
                    Ok(rows) => {
                        let at = Utc::now();
                        let mut origins: Vec<String> = rows
                            .iter()
                            .filter(|r| r.beat.id != beat.id && super::state(r, at) != super::NodeState::Dead)
                            .filter_map(|r| super::csp_sources(&r.beat.public_url))
                            .collect();
                        origins.sort();
                        origins.dedup();
                        peers.set(origins);
                        let now = rows.iter().any(|r| r.beat.id == beat.id && r.draining);
                        if now != draining.get() {
                            tracing::warn!(node = %beat.id, draining = now, "this node's draining changed");
                            draining.set(now);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot read the node registry"),
                }
                if draining.get() && live_count() == 0 && !*drained.borrow() {
                    tracing::warn!(node = %beat.id, "drained: no visit is left on this node");
                    let _ = drained.send(true);
                }
            }
            () = &mut stop => break,
        }
    }
}
