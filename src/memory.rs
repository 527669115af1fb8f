//! Memory given back to the system after visits end. A visit's media peers, buffers and
//! tasks are freed when it ends, but glibc's allocator keeps freed memory in its per-thread
//! arenas instead of returning it, so the process stays as large as at its busiest hour:
//! measured with `loadtest/churn.sh 500 3`, 26 MiB idle, 350 MiB while 500 visits ran and
//! still 350 MiB after they had all ended. Every `every`, when fewer visits are live than at
//! the busiest moment since the last look, the free memory of every arena is handed back
//! (`malloc_trim(0)`, on a blocking thread: it walks the heaps).
//!
//! Does not: free anything itself (nothing is leaked; the memory was already free inside
//! the allocator), or run on a C library other than glibc (a no-op there).

use std::time::Duration;

use crate::visit::VisitHub;

/// Watch the hub's live visits and trim the allocator after they drop, until `stop`.
pub async fn run(hub: VisitHub, every: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut busiest = 0usize;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let live = hub.live_count();
        if live < busiest {
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            tracing::debug!(
                live,
                busiest,
                released,
                "returned free memory to the system"
            );
            busiest = live;
        } else {
            busiest = live;
        }
    }
}

/// Hand the allocator's free memory back to the system; whether any was.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: malloc_trim only releases memory glibc holds free; it takes its own locks.
    unsafe { libc::malloc_trim(0) == 1 }
}

/// Not glibc: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

#[cfg(test)]
mod tests {
    /// Memory freed on another thread (in its own arena, as a visit's tasks do) is handed
    /// back by `trim`.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_of_another_threads_arena_is_given_back() {
        std::thread::spawn(|| {
            // Many mid-sized blocks (below the mmap threshold, so they live in the arena).
            let blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 16 * 1024]).collect();
            std::hint::black_box(&blocks);
        })
        .join()
        .unwrap();
        assert!(
            super::trim(),
            "64 MiB freed in an arena, and nothing given back"
        );
    }
}
