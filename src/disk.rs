//! Free space on the data dir (docs/DESIGN.md invariant 3, "audit first"): the audit log
//! and the database live there, and a full disk stops every admission (they fail closed).
//! So staff are told first: below `[storage] free_space_watermark_mib` the data dir is
//! "low", `/healthz` says `degraded` naming `disk_space` (both listeners), the metrics show
//! it (`confer_data_dir_free_bytes`, `confer_disk_space_low`) and an error line is logged
//! when it goes low (a warning when it recovers).
//!
//! Owns: the periodic `statvfs` of the data dir ([`run`]) and its last result
//! ([`DiskSpace`]). Does not: refuse anything itself (writes that fail on a full disk fail
//! the action through the audit log, closed), or delete anything to make room.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The data dir's free space as last measured. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct DiskSpace(Arc<State>);

#[derive(Debug, Default)]
struct State {
    free_bytes: AtomicU64,
    low: AtomicBool,
}

impl DiskSpace {
    /// Whether the free space is below the watermark.
    pub fn is_low(&self) -> bool {
        self.0.low.load(Ordering::Acquire)
    }

    /// Bytes available to confer at the last measurement.
    pub fn free_bytes(&self) -> u64 {
        self.0.free_bytes.load(Ordering::Relaxed)
    }

    /// Record a measurement; returns whether the low state changed.
    pub fn record(&self, free_bytes: u64, watermark_bytes: u64) -> bool {
        self.0.free_bytes.store(free_bytes, Ordering::Relaxed);
        let low = free_bytes < watermark_bytes;
        self.0.low.swap(low, Ordering::AcqRel) != low
    }
}

/// Bytes an unprivileged writer may still use on the file system holding `path`
/// (`statvfs`: available blocks times fragment size).
pub fn free_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    let st = rustix::fs::statvfs(path)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// Measure `data_dir` now and every `every` until `stop` resolves.
pub async fn run(
    space: DiskSpace,
    data_dir: PathBuf,
    watermark_bytes: u64,
    every: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        check(&space, &data_dir, watermark_bytes);
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// One measurement (also called once at start, before the listeners open).
pub fn check(space: &DiskSpace, data_dir: &std::path::Path, watermark_bytes: u64) {
    match free_bytes(data_dir) {
        Ok(free) => {
            let changed = space.record(free, watermark_bytes);
            crate::metrics::data_dir_space(free, space.is_low());
            let (free_mib, watermark_mib) = (free >> 20, watermark_bytes >> 20);
            if changed && space.is_low() {
                tracing::error!(
                    free_mib,
                    watermark_mib,
                    "the data dir is low on free space: admissions stop when it is full; make room now"
                );
            } else if changed {
                tracing::warn!(free_mib, watermark_mib, "the data dir has free space again");
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot measure the data dir's free space"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_below_the_watermark_and_changes_reported_once() {
        let s = DiskSpace::default();
        assert!(!s.record(10 << 20, 5 << 20));
        assert!(!s.is_low());
        assert!(s.record(4 << 20, 5 << 20));
        assert!(s.is_low());
        assert!(!s.record(3 << 20, 5 << 20));
        assert!(s.record(6 << 20, 5 << 20));
        assert!(!s.is_low());
        assert_eq!(s.free_bytes(), 6 << 20);
    }

    #[test]
    fn the_temp_dir_has_some_free_space() {
        let dir = std::env::temp_dir();
        assert!(free_bytes(&dir).unwrap() > 0);
    }
}
