//! The SQL behind the cluster's node registry (migration 0014): each node's row, written on
//! start and refreshed by its heartbeat.
//!
//! Does not: decide whether a node is alive or where a visit goes (the pure `cluster` core
//! does, from these rows and the time), or send the heartbeat (wiring does).

use chrono::{DateTime, Utc};
use sqlx::Row;

use std::collections::HashMap;

use super::{from_ms, ms, Result, Store};
use crate::ids::VisitId;

/// What a node says of itself in each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeBeat {
    /// The node's id (`[node] id`), stable across restarts.
    pub id: String,
    pub started_at: DateTime<Utc>,
    /// Where participants reach this node's public listener (`https://host:port`).
    pub public_url: String,
    /// The node's advertised media addresses (`ip:port`).
    pub media_addrs: Vec<String>,
    /// Visits whose media lives on this node now.
    pub live_visits: i64,
    /// Visits this node takes at most (0: not said).
    pub capacity: i64,
}

/// A node as the registry holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub beat: NodeBeat,
    pub heartbeat_at: DateTime<Utc>,
    pub draining: bool,
}

impl Store {
    /// Write this node's row (first beat) or refresh it; `draining` is left as it is.
    pub async fn node_heartbeat(&self, beat: &NodeBeat, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "INSERT INTO nodes (id, started_at, heartbeat_at, public_url, media_addrs, live_visits, capacity) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, \
             heartbeat_at = excluded.heartbeat_at, public_url = excluded.public_url, \
             media_addrs = excluded.media_addrs, live_visits = excluded.live_visits, \
             capacity = excluded.capacity",
        )
        .bind(&beat.id)
        .bind(ms(beat.started_at))
        .bind(ms(now))
        .bind(&beat.public_url)
        .bind(beat.media_addrs.join(","))
        .bind(beat.live_visits)
        .bind(beat.capacity)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every node the registry knows, by id.
    pub async fn nodes(&self) -> Result<Vec<NodeRow>> {
        let rows = sqlx::query(
            "SELECT id, started_at, heartbeat_at, public_url, media_addrs, live_visits, capacity, draining \
             FROM nodes ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let addrs: String = r.get(4);
                NodeRow {
                    beat: NodeBeat {
                        id: r.get(0),
                        started_at: from_ms(r.get(1)),
                        public_url: r.get(3),
                        media_addrs: addrs
                            .split(',')
                            .filter(|a| !a.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        live_visits: r.get(5),
                        capacity: r.get(6),
                    },
                    heartbeat_at: from_ms(r.get(2)),
                    draining: r.get::<i64, _>(7) != 0,
                }
            })
            .collect())
    }

    /// Mark a node draining (no new placements) or not; whether the node is known.
    pub async fn set_node_draining(&self, id: &str, draining: bool) -> Result<bool> {
        let done = sqlx::query("UPDATE nodes SET draining = $1 WHERE id = $2")
            .bind(i64::from(draining))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

impl Store {
    /// The node a visit's media is placed on, if it is placed.
    pub async fn visit_placement(&self, visit: VisitId) -> Result<Option<String>> {
        let row = sqlx::query("SELECT node_id FROM visit_placements WHERE visit_id = $1")
            .bind(visit.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    /// Place a visit on `node` unless it is placed already; returns the node it is on (the
    /// first writer wins, every node reads the same).
    pub async fn place_visit(
        &self,
        visit: VisitId,
        node: &str,
        now: DateTime<Utc>,
    ) -> Result<String> {
        sqlx::query(
            "INSERT INTO visit_placements (visit_id, node_id, placed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (visit_id) DO NOTHING",
        )
        .bind(visit.0)
        .bind(node)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(self
            .visit_placement(visit)
            .await?
            .unwrap_or_else(|| node.to_owned()))
    }

    /// Move a visit from `from` (dead or draining) to `to`, only if it is still on `from`;
    /// returns the node it is on afterwards.
    pub async fn move_visit(
        &self,
        visit: VisitId,
        from: &str,
        to: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<String>> {
        sqlx::query(
            "UPDATE visit_placements SET node_id = $1, placed_at = $2 \
             WHERE visit_id = $3 AND node_id = $4",
        )
        .bind(to)
        .bind(ms(now))
        .bind(visit.0)
        .bind(from)
        .execute(&self.pool)
        .await?;
        self.visit_placement(visit).await
    }

    /// How many visits not yet over are placed on each node (for placement by load).
    pub async fn placed_visits(&self, now: DateTime<Utc>) -> Result<HashMap<String, i64>> {
        let rows = sqlx::query(
            "SELECT p.node_id, COUNT(*) FROM visit_placements p JOIN visits v ON v.id = p.visit_id \
             WHERE v.ended_at IS NULL AND v.ends_at > $1 GROUP BY p.node_id",
        )
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Mark a node gone at once (a clean shutdown): the others treat it as dead without
    /// waiting for its heartbeat to age.
    pub async fn node_gone(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE nodes SET heartbeat_at = 0 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// Take or renew the lease `name` for `holder` until `now + ttl`; whether `holder` holds
    /// it now. One statement: of two nodes asking at once, one wins.
    pub async fn lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Result<bool> {
        sqlx::query(
            "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE leases.holder = excluded.holder OR leases.expires_at < $4",
        )
        .bind(name)
        .bind(holder)
        .bind(ms(now + ttl))
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        let row = sqlx::query("SELECT holder FROM leases WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some_and(|r| r.get::<String, _>(0) == holder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing;

    fn beat(id: &str, live: i64) -> NodeBeat {
        NodeBeat {
            id: id.into(),
            started_at: Utc::now(),
            public_url: format!("https://{id}.example:8443"),
            media_addrs: vec!["192.0.2.1:8443".into(), "[2001:db8::1]:8443".into()],
            live_visits: live,
            capacity: 200,
        }
    }

    #[tokio::test]
    async fn a_heartbeat_writes_then_refreshes_the_nodes_row_and_keeps_draining() {
        for (backing, s) in testing::stores().await {
            let t0 = Utc::now();
            s.node_heartbeat(&beat("n1", 0), t0).await.unwrap();
            s.node_heartbeat(&beat("n2", 3), t0).await.unwrap();
            assert!(s.set_node_draining("n1", true).await.unwrap());
            assert!(!s.set_node_draining("nobody", true).await.unwrap());
            let t1 = t0 + chrono::Duration::seconds(3);
            s.node_heartbeat(&beat("n1", 5), t1).await.unwrap();
            let nodes = s.nodes().await.unwrap();
            assert_eq!(nodes.len(), 2, "{}", backing.name());
            let n1 = &nodes[0];
            assert_eq!(n1.beat.id, "n1");
            assert_eq!(n1.beat.live_visits, 5);
            assert_eq!(n1.beat.media_addrs.len(), 2);
            assert_eq!(n1.heartbeat_at.timestamp_millis(), t1.timestamp_millis());
            assert!(n1.draining, "a heartbeat leaves draining as it was");
            assert!(!nodes[1].draining);
            s.node_gone("n2").await.unwrap();
            assert_eq!(
                s.nodes().await.unwrap()[1].heartbeat_at.timestamp_millis(),
                0
            );
        }
    }

    #[tokio::test]
    async fn a_cluster_lock_is_held_by_one_node_at_a_time() {
        for b in testing::backings().await {
            let Some(url) = b.url.clone() else {
                // SQLite: one node, no cluster lock to take.
                assert!(b.open().await.cluster_lock("x").await.unwrap().is_none());
                continue;
            };
            // Two stores on one database stand for two nodes.
            let a = Store::connect(&url).await.unwrap();
            let c = Store::connect(&url).await.unwrap();
            let held = a
                .cluster_lock("schedule:f1")
                .await
                .unwrap()
                .expect("a lock");
            let other = c.cluster_lock("schedule:f2").await.unwrap();
            assert!(other.is_some(), "another name is free");
            let waiting = tokio::spawn(async move {
                let l = c.cluster_lock("schedule:f1").await.unwrap();
                (l, std::time::Instant::now())
            });
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            assert!(
                !waiting.is_finished(),
                "the second node waits while the first holds it"
            );
            let released = std::time::Instant::now();
            drop(held);
            let (l, got) = tokio::time::timeout(std::time::Duration::from_secs(10), waiting)
                .await
                .expect("taken once released")
                .unwrap();
            assert!(l.is_some() && got >= released);
        }
    }

    #[tokio::test]
    async fn a_lease_is_held_by_one_node_until_it_expires() {
        for (backing, s) in testing::stores().await {
            let t0 = Utc::now();
            let ttl = chrono::Duration::seconds(15);
            assert!(s.lease("outbox", "a", t0, ttl).await.unwrap());
            assert!(
                !s.lease("outbox", "b", t0, ttl).await.unwrap(),
                "b does not take a's lease ({})",
                backing.name()
            );
            assert!(s.lease("other-job", "b", t0, ttl).await.unwrap());
            let t1 = t0 + chrono::Duration::seconds(10);
            assert!(s.lease("outbox", "a", t1, ttl).await.unwrap(), "a renews");
            assert!(
                !s.lease("outbox", "b", t1 + chrono::Duration::seconds(10), ttl)
                    .await
                    .unwrap(),
                "renewed: still a's"
            );
            let t2 = t1 + ttl + chrono::Duration::seconds(1);
            assert!(
                s.lease("outbox", "b", t2, ttl).await.unwrap(),
                "expired: b takes it"
            );
            assert!(!s.lease("outbox", "a", t2, ttl).await.unwrap());
        }
    }

    #[tokio::test]
    async fn a_visit_is_placed_once_and_moves_only_from_the_node_it_is_on() {
        for (backing, s) in testing::stores().await {
            let visit = testing::a_visit(&s).await;
            let now = Utc::now();
            assert_eq!(s.visit_placement(visit).await.unwrap(), None);
            assert_eq!(s.place_visit(visit, "a", now).await.unwrap(), "a");
            assert_eq!(
                s.place_visit(visit, "b", now).await.unwrap(),
                "a",
                "the first placement wins ({})",
                backing.name()
            );
            assert_eq!(s.placed_visits(now).await.unwrap().get("a"), Some(&1));
            assert_eq!(
                s.move_visit(visit, "b", "c", now).await.unwrap().as_deref(),
                Some("a"),
                "not on b: not moved"
            );
            assert_eq!(
                s.move_visit(visit, "a", "c", now).await.unwrap().as_deref(),
                Some("c")
            );
            let later = now + chrono::Duration::days(1);
            assert!(
                s.placed_visits(later).await.unwrap().is_empty(),
                "a visit that is over counts for nobody"
            );
        }
    }
}
