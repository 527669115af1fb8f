//! Jobs that must run on one node of the cluster at a time (the violation-report outbox,
//! the re-placing of queued visit requests): each holds a lease in the database
//! (`store::nodes`, the `leases` table), renews it while it works, and another node takes
//! it over once it has expired (its holder died or stopped). With one node (SQLite) the
//! lease is always this node's.
//!
//! Does not: fence a holder that stalls past its lease (a job's single step must stay well
//! inside `ttl`; the outbox's deliveries also carry idempotency keys).

use chrono::Utc;

use crate::store::Store;

/// One job's lease for this node. Cheap to clone.
#[derive(Clone)]
pub struct Lease {
    store: Store,
    name: &'static str,
    holder: String,
    ttl: chrono::Duration,
}

impl Lease {
    /// The lease `name` held for `ttl` at a time by the node `holder`.
    pub fn new(
        store: Store,
        name: &'static str,
        holder: String,
        ttl: std::time::Duration,
    ) -> Lease {
        Lease {
            store,
            name,
            holder,
            ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(15)),
        }
    }

    /// Take or renew the lease; whether this node may run the job now. A database error
    /// counts as not held (fail closed: no two nodes run the job).
    pub async fn held(&self) -> bool {
        match self
            .store
            .lease(self.name, &self.holder, Utc::now(), self.ttl)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(job = self.name, error = %e, "cannot take or renew a job's lease");
                false
            }
        }
    }
}
