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

/// glibc's malloc raises its mmap threshold after the first large block is freed, so from
/// then on every large block (the 19 MiB that each Argon2 password check uses, on whichever
/// blocking thread ran it) comes from a thread arena and stays resident for good. A fixed
/// threshold keeps blocks of 1 MiB and more in their own mappings, returned to the system
/// when freed: the server's resident memory stays what the live visits need. Called first
/// thing by the binary and again by `app::start` (for a server started in process, such as
/// a test's); setting it twice is harmless.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn fix_mmap_threshold() {
    // SAFETY: mallopt only sets an allocator parameter (under glibc's own arena lock).
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, LARGE_BLOCK as libc::c_int);
    }
}

/// Not glibc: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn fix_mmap_threshold() {}

/// Blocks at least this large get mappings of their own (`fix_mmap_threshold`).
pub const LARGE_BLOCK: usize = 1 << 20;

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
    /// VmRSS of this process, in KiB.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// With the threshold fixed, a large block freed on another thread goes back to the
    /// system at once, however many came before it (without it, glibc raises the threshold
    /// after the first and keeps the next ones in the thread's arena). What a password
    /// check does with its 19 MiB.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_large_block_freed_on_another_thread_is_returned_at_once() {
        super::fix_mmap_threshold();
        // Other tests run alongside and move RSS too: most of six must show the drop (without
        // the fixed threshold only the first does).
        let drops: Vec<(u64, u64)> = (0..6)
            .map(|_| {
                std::thread::spawn(|| {
                    let block = vec![1u8; 19 << 20];
                    std::hint::black_box(&block);
                    let held = rss_kib();
                    drop(block);
                    (held, rss_kib())
                })
                .join()
                .unwrap()
            })
            .collect();
        let returned = drops
            .iter()
            .filter(|(held, after)| *held >= after + 18 * 1024)
            .count();
        assert!(returned >= 4, "19 MiB freed six times, RSS (KiB) {drops:?}");
    }

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
