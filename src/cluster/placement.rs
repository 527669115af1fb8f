//! Where a visit's media lives (a service: it reads the registry and writes placements). A
//! visit is placed on exactly one node when its first participant joins (the least loaded
//! alive node, `super::place`); every later participant is sent to that node. A visit on a
//! dead node is moved to an alive one (its participants resume there: failover); a visit on
//! a draining node that is not live there is moved too. PostgreSQL (or the one node's
//! SQLite) is the source of truth: the first placement written wins, every node reads it.
//!
//! Does not: admit anyone (admission asks this before it uses a join token), or move a
//! visit that is live on a node that is alive.

use chrono::{DateTime, Utc};

use super::{place, state, NodeState};
use crate::ids::VisitId;
use crate::store::{Store, StoreError};

/// Where a participant of a visit must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// On this node.
    Here,
    /// On another node: its signalling URL (`wss://…/ws`).
    Elsewhere { ws_url: String },
    /// Nowhere now: this node is going away and no other node is alive (try again later).
    Nowhere,
}

/// This node's view of placements. Cheap to clone.
#[derive(Clone)]
pub struct Placement {
    store: Store,
    here: String,
    /// This node is shutting down: no visit is placed or kept here any more.
    leaving: super::Draining,
}

impl Placement {
    /// Placement decisions for the node `here` (its registry id).
    pub fn new(store: Store, here: String) -> Placement {
        Placement {
            store,
            here,
            leaving: super::Draining::default(),
        }
    }

    /// This node is shutting down: from now on every visit that is not live here goes to
    /// another node (or nowhere, when none is alive), even one placed here.
    pub fn leave(&self) {
        self.leaving.set(true);
    }

    /// This node's id.
    pub fn here(&self) -> &str {
        &self.here
    }

    /// Where `visit`'s media lives, placing or moving it when needed. `live_here`: whether
    /// the visit is live on this node now (a live visit is never moved away from it).
    pub async fn locate(
        &self,
        visit: VisitId,
        live_here: bool,
        now: DateTime<Utc>,
    ) -> Result<Located, StoreError> {
        if live_here {
            return Ok(Located::Here);
        }
        let nodes = self.store.nodes().await?;
        let placed = self.store.placed_visits(now).await?;
        // No alive node in the registry (this node's first beat not written yet, or a
        // registry that cannot be trusted): this node serves.
        let leaving = self.leaving.get();
        let target = match place(&nodes, &placed, now).map(|n| n.beat.id.clone()) {
            Some(id) if !(leaving && id == self.here) => id,
            _ if leaving => return Ok(Located::Nowhere),
            _ => self.here.clone(),
        };
        let on = match self.store.visit_placement(visit).await? {
            None => self.store.place_visit(visit, &target, now).await?,
            Some(node) => {
                let usable = (node == self.here && !leaving)
                    || nodes
                        .iter()
                        .find(|n| n.beat.id == node)
                        .is_some_and(|n| state(n, now) != NodeState::Dead);
                // This node draining with the visit not live here: move it if another can
                // take it (admission refuses it otherwise).
                let leave_here = node == self.here
                    && nodes
                        .iter()
                        .find(|n| n.beat.id == node)
                        .is_some_and(|n| state(n, now) == NodeState::Draining)
                    && target != self.here;
                if usable && !leave_here {
                    node
                } else {
                    tracing::warn!(%visit, from = %node, to = %target, "moving a visit to another node");
                    self.store
                        .move_visit(visit, &node, &target, now)
                        .await?
                        .unwrap_or(target)
                }
            }
        };
        if on == self.here {
            return Ok(if leaving {
                Located::Nowhere
            } else {
                Located::Here
            });
        }
        match nodes.iter().find(|n| n.beat.id == on) {
            Some(n) => Ok(Located::Elsewhere {
                ws_url: super::ws_url(&n.beat.public_url),
            }),
            // Placed on a node the registry does not know (its row removed by hand): here.
            None if leaving => Ok(Located::Nowhere),
            None => {
                self.store.move_visit(visit, &on, &self.here, now).await?;
                Ok(Located::Here)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::nodes::NodeBeat;
    use crate::store::testing;

    fn beat(id: &str) -> NodeBeat {
        NodeBeat {
            id: id.into(),
            started_at: Utc::now(),
            public_url: format!("https://{id}.example:8443"),
            media_addrs: vec!["192.0.2.1:8443".into()],
            live_visits: 0,
            capacity: 10,
        }
    }

    /// A node that is shutting down keeps no visit that is not live on it, even one placed
    /// on it: the visit goes to a node that is alive, or nowhere when none is (R-REMOTE-2:
    /// the participants' resumes must not land on a node whose media is stopping).
    #[tokio::test]
    async fn a_leaving_node_sends_its_visits_to_an_alive_node_or_nowhere() {
        for (backing, store) in testing::stores().await {
            let name = backing.name();
            let now = Utc::now();
            let visit = testing::a_visit(&store).await;
            store.node_heartbeat(&beat("a"), now).await.unwrap();
            store.node_heartbeat(&beat("b"), now).await.unwrap();
            let a = Placement::new(store.clone(), "a".into());
            assert_eq!(
                a.locate(visit, false, now).await.unwrap(),
                Located::Here,
                "{name}"
            );

            a.leave();
            store.node_gone("a").await.unwrap();
            assert_eq!(
                a.locate(visit, false, now).await.unwrap(),
                Located::Elsewhere {
                    ws_url: "wss://b.example:8443/ws".into()
                },
                "{name}"
            );
            assert_eq!(
                store.visit_placement(visit).await.unwrap().as_deref(),
                Some("b")
            );
            // A live visit stays where its media is until it ends.
            assert_eq!(a.locate(visit, true, now).await.unwrap(), Located::Here);

            // Its new node goes away too and no node is left alive: nowhere, not here.
            store.node_gone("b").await.unwrap();
            assert_eq!(
                a.locate(visit, false, now).await.unwrap(),
                Located::Nowhere,
                "{name}"
            );
        }
    }
}
