//! The SQL behind the cluster's node registry (migration 0014): each node's row, written on
//! start and refreshed by its heartbeat.
//!
//! Does not: decide whether a node is alive or where a visit goes (the pure `cluster` core
//! does, from these rows and the time), or send the heartbeat (wiring does).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_ms, ms, Result, Store};

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
        }
    }
}
