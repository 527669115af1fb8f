//! The cluster's decisions, without I/O or clock (pure core): whether a node is alive,
//! draining or dead from its registry row and `now`, and which node a new visit's media is
//! placed on. PostgreSQL is the source of truth (the `nodes` table, `store::nodes`); there
//! is no consensus of our own: every node reads the same rows and decides the same way.
//!
//! Does not: write the heartbeat or read the table (`beat`, the service, and `store` do).

pub mod beat;
pub mod lease;
pub mod placement;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::store::nodes::NodeRow;

/// A node whose last heartbeat is older than this is dead.
pub const DEAD_AFTER: chrono::Duration = chrono::Duration::seconds(10);

/// How often a node writes its heartbeat: three beats fit in [`DEAD_AFTER`].
pub const HEARTBEAT_EVERY: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether this node is draining (`confer node drain`): it takes no new visit, its live
/// visits run to their end, and it exits when none is left. Set by the heartbeat from the
/// node's own registry row; read by admission and readiness. Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct Draining(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Draining {
    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn set(&self, draining: bool) {
        self.0.store(draining, std::sync::atomic::Ordering::Release);
    }
}

/// The origins of the deployment's other nodes (`https://host:port wss://host:port`), which
/// the pages' Content-Security-Policy must let them connect to when a `join` is `moved`
/// there (a `/healthz` request, then the signalling WebSocket). Set by the heartbeat from the registry; read by the public listener's headers.
/// Cheap to clone.
#[derive(Clone, Default, Debug)]
pub struct PeerOrigins(std::sync::Arc<std::sync::RwLock<Vec<String>>>);

impl PeerOrigins {
    pub fn get(&self) -> Vec<String> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, origins: Vec<String>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = origins;
    }
}

/// The `https://host:port wss://host:port` sources of a node's public URL, if it is an
/// `https://` URL whose host part holds only characters a CSP source may (nothing that
/// could add a directive).
pub fn csp_sources(public_url: &str) -> Option<String> {
    let rest = public_url.strip_prefix("https://")?;
    let host = rest.split('/').next()?;
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    ok.then(|| format!("https://{host} wss://{host}"))
}

/// What the registry says of a node at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Heartbeat fresh, takes new visits.
    Alive,
    /// Heartbeat fresh, takes no new visit; its live visits run to their end.
    Draining,
    /// No heartbeat for [`DEAD_AFTER`]: its visits must be placed again.
    Dead,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Draining => "draining",
            NodeState::Dead => "dead",
        }
    }
}

/// The state of `node` at `now`. A heartbeat from the future (clocks a little apart) counts
/// as fresh.
pub fn state(node: &NodeRow, now: DateTime<Utc>) -> NodeState {
    if now - node.heartbeat_at > DEAD_AFTER {
        NodeState::Dead
    } else if node.draining {
        NodeState::Draining
    } else {
        NodeState::Alive
    }
}

/// Where a new visit's media goes: the alive node with the lowest load, ties by id so every
/// node picks the same. A node's load is its visits (the placed ones not yet over, or the
/// live ones its heartbeat counted, whichever is more) over its capacity; a node that
/// states no capacity counts by visits alone. `None` when no node is alive or all are full.
pub fn place<'a>(
    nodes: &'a [NodeRow],
    placed: &HashMap<String, i64>,
    now: DateTime<Utc>,
) -> Option<&'a NodeRow> {
    let visits = |n: &NodeRow| {
        n.beat
            .live_visits
            .max(placed.get(&n.beat.id).copied().unwrap_or(0))
    };
    let load = |n: &NodeRow| {
        if n.beat.capacity > 0 {
            visits(n) as f64 / n.beat.capacity as f64
        } else {
            visits(n) as f64
        }
    };
    nodes
        .iter()
        .filter(|n| state(n, now) == NodeState::Alive)
        .filter(|n| n.beat.capacity <= 0 || visits(n) < n.beat.capacity)
        .min_by(|a, b| {
            load(a)
                .total_cmp(&load(b))
                .then_with(|| a.beat.id.cmp(&b.beat.id))
        })
}

/// The signalling URL of a node, from its public URL (`https://host:port` →
/// `wss://host:port/ws`).
pub fn ws_url(public_url: &str) -> String {
    let base = public_url.trim_end_matches('/');
    match base.strip_prefix("https://") {
        Some(rest) => format!("wss://{rest}/ws"),
        None => format!("{base}/ws"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::nodes::NodeBeat;

    fn node(id: &str, live: i64, capacity: i64, beat_ago_s: i64, draining: bool) -> NodeRow {
        let now = Utc::now();
        NodeRow {
            beat: NodeBeat {
                id: id.into(),
                started_at: now - chrono::Duration::hours(1),
                public_url: format!("https://{id}:8443"),
                media_addrs: vec![],
                live_visits: live,
                capacity,
            },
            heartbeat_at: now - chrono::Duration::seconds(beat_ago_s),
            draining,
        }
    }

    #[test]
    fn a_node_silent_for_more_than_ten_seconds_is_dead() {
        let now = Utc::now();
        assert_eq!(state(&node("a", 0, 0, 0, false), now), NodeState::Alive);
        assert_eq!(state(&node("a", 0, 0, 9, false), now), NodeState::Alive);
        assert_eq!(state(&node("a", 0, 0, 11, false), now), NodeState::Dead);
        assert_eq!(state(&node("a", 0, 0, 2, true), now), NodeState::Draining);
        assert_eq!(state(&node("a", 0, 0, 60, true), now), NodeState::Dead);
        assert_eq!(
            state(&node("a", 0, 0, -5, false), now),
            NodeState::Alive,
            "a heartbeat a little in the future is fresh"
        );
    }

    #[test]
    fn a_visit_goes_to_the_least_loaded_alive_node_never_a_draining_dead_or_full_one() {
        let now = Utc::now();
        let nodes = vec![
            node("a", 50, 100, 1, false), // half full
            node("b", 10, 100, 1, true),  // draining
            node("c", 5, 100, 30, false), // dead
            node("d", 20, 100, 1, false), // least loaded alive
            node("e", 10, 10, 1, false),  // full
        ];
        let none = HashMap::new();
        assert_eq!(
            place(&nodes, &none, now).map(|n| n.beat.id.as_str()),
            Some("d")
        );
        // Visits placed but not yet live count too: 60 placed on d makes a the lighter.
        let placed = HashMap::from([("d".to_owned(), 60)]);
        assert_eq!(
            place(&nodes, &placed, now).map(|n| n.beat.id.as_str()),
            Some("a")
        );
        let ties = vec![node("y", 1, 10, 1, false), node("x", 1, 10, 1, false)];
        assert_eq!(
            place(&ties, &HashMap::new(), now).map(|n| n.beat.id.as_str()),
            Some("x"),
            "ties by id: every node decides the same"
        );
        let gone = vec![node("b", 0, 10, 1, true), node("c", 0, 10, 60, false)];
        assert!(place(&gone, &HashMap::new(), now).is_none());
    }

    #[test]
    fn only_a_plain_https_host_becomes_a_csp_origin() {
        assert_eq!(
            csp_sources("https://n2.example:8443").as_deref(),
            Some("https://n2.example:8443 wss://n2.example:8443")
        );
        assert_eq!(
            csp_sources("https://[2001:db8::2]:8443/").as_deref(),
            Some("https://[2001:db8::2]:8443 wss://[2001:db8::2]:8443")
        );
        assert_eq!(csp_sources("http://n2.example"), None);
        assert_eq!(csp_sources("https://n2.example; script-src *"), None);
        assert_eq!(csp_sources("https://"), None);
    }

    #[test]
    fn a_nodes_signalling_url_comes_from_its_public_url() {
        assert_eq!(
            ws_url("https://n1.example:8443"),
            "wss://n1.example:8443/ws"
        );
        assert_eq!(ws_url("https://n1.example/"), "wss://n1.example/ws");
    }
}
