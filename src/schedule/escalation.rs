//! The escalation driver (R-ARRANGE-1): a task that, every `every`, re-places queued
//! requests (a cancellation may have freed a booth) and raises escalations by the clock
//! as deadlines approach, until `stop` completes. It is the only reader of the clock for
//! escalations (docs/DESIGN.md invariant 5); the decisions are the pure core's, carried
//! out by [`Scheduler::escalation_tick`].
//!
//! Does not: decide anything itself, or stop on a failed tick (it logs and retries).

use chrono::Utc;

use super::service::Scheduler;

/// Spawn the driver with the scheduler handle; it ends when `stop` completes.
pub fn spawn_escalation_driver(
    scheduler: Scheduler,
    every: std::time::Duration,
    lease: crate::cluster::lease::Lease,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let run = async {
            loop {
                tick.tick().await;
                // One node of the cluster re-places queued requests at a time.
                if !lease.held().await {
                    continue;
                }
                if let Err(e) = scheduler.escalation_tick(Utc::now()).await {
                    tracing::warn!(
                        error = %e,
                        "re-placing queued visit requests failed; will retry"
                    );
                }
            }
        };
        tokio::select! {
            _ = run => {}
            _ = stop => {}
        }
    })
}
