//! Memory given back to the system after visits end. A visit's media peers, buffers and
//! tasks are freed when it ends, but glibc's allocator keeps freed memory in its per-thread
//! arenas instead of returning it, so the process stays as large as at its busiest hour:
//! measured with `loadtest/churn.sh 500 3`, 26 MiB idle, 350 MiB while 500 visits ran and
//! still 350 MiB after they had all ended. After visits end or participants leave (the hub's
//! departure count grows), the free memory of every arena is handed back (`malloc_trim(0)`,
//! on a blocking thread: it walks the heaps) once the leaving has paused for a look, so a
//! burst of endings, and what their connections free after them, goes back together, and at
//! the next looks for a minute (what is let go later, after idle timeouts); while leaving
//! goes on without a pause, once every [`TRIM_AT_MOST_EVERY`].
//!
//! Does not: free anything itself (nothing is leaked; the memory was already free inside
//! the allocator), or run on a C library other than glibc (a no-op there).

use std::time::Duration;

use tokio::time::Instant;

use crate::visit::VisitHub;

/// While visits keep ending without a pause, the allocator is trimmed this often (each trim
/// walks every arena under that arena's lock, so the media worker may wait on it).
pub const TRIM_AT_MOST_EVERY: Duration = Duration::from_secs(60);

/// Look at the hub's departures every `every` and trim the allocator after they stop
/// growing, until `stop`.
pub async fn run(hub: VisitHub, every: Duration, stop: impl std::future::Future<Output = ()>) {
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut policy = TrimPolicy::new(hub.departures());
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {}
        }
        let departures = hub.departures();
        if policy.look(departures, Instant::now()) {
            let released = tokio::task::spawn_blocking(trim).await.unwrap_or(false);
            tracing::debug!(
                departures,
                live = hub.live_count(),
                released,
                "returned free memory to the system"
            );
        }
    }
}

/// When to trim, from successive looks at the departure count (pure, so it is tested
/// without a clock). A count seen once is not missed however short the visits were: the
/// count only grows, where a look at how many visits are live can fall between a visit's
/// start and its end.
#[derive(Debug)]
pub struct TrimPolicy {
    seen: u64,
    /// Since when departures have kept growing without a trim.
    growing_since: Option<Instant>,
    /// Quiet looks left that trim.
    quiet_trims_left: u32,
}

/// After departures stop, this many quiet looks trim (a minute at confer's 10 s looks): the
/// first takes what the visits freed, the later ones what is let go after an idle timeout of
/// its own (the database pool's idle connections, their threads and page caches).
pub const QUIET_TRIMS: u32 = 6;

impl TrimPolicy {
    pub fn new(departures: u64) -> TrimPolicy {
        TrimPolicy {
            seen: departures,
            growing_since: None,
            quiet_trims_left: 0,
        }
    }

    /// A look at `departures` at `now`: whether to trim now. The first [`QUIET_TRIMS`]
    /// looks that find no new departure after some trim; while departures keep growing, a
    /// trim every [`TRIM_AT_MOST_EVERY`].
    pub fn look(&mut self, departures: u64, now: Instant) -> bool {
        let grew = departures != self.seen;
        self.seen = departures;
        if grew {
            self.quiet_trims_left = QUIET_TRIMS;
            match self.growing_since {
                Some(since) if now.duration_since(since) >= TRIM_AT_MOST_EVERY => {
                    self.growing_since = Some(now);
                    true
                }
                Some(_) => false,
                None => {
                    self.growing_since = Some(now);
                    false
                }
            }
        } else {
            self.growing_since = None;
            if self.quiet_trims_left > 0 {
                self.quiet_trims_left -= 1;
                true
            } else {
                false
            }
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

/// How many freed blocks of each size a thread keeps in its own cache (glibc's "tcache"; its
/// default is 7). `malloc_trim` never empties these caches, and after a busy hour their
/// blocks, scattered over the heap, each keep a page resident. `loadtest/churn.sh 500 2`, 500
/// visits joined and left, read 31 s after: the server kept 1.17-1.25× its warm idle memory
/// with 7, 1.08-1.14× with 1 and 1.06-1.10× with none; read 91 s after (the trims done):
/// 1.15-1.16× with 7, 1.06-1.10× with 1. One costs the media path
/// nothing measurable (`benches/forward.rs`, medians of ten alternating runs: 4504 ns per
/// video packet with 7, 4462 with 1, 4841 with none), because the blocks that come and go
/// per packet are mostly freed and taken again one at a time.
pub const TCACHE_COUNT: u32 = 1;

/// glibc's name for that setting, in the `GLIBC_TUNABLES` environment variable.
pub const TCACHE_TUNABLE: &str = "glibc.malloc.tcache_count";

/// The `GLIBC_TUNABLES` value the server runs with: `present` with [`TCACHE_COUNT`] added, or
/// `None` when `present` already sizes the thread caches (an operator's choice stands; glibc's
/// default is `glibc.malloc.tcache_count=7`). Tunables are `name=value` pairs joined by `:`.
pub fn tunables_with_small_tcaches(present: Option<&str>) -> Option<String> {
    let ours = format!("{TCACHE_TUNABLE}={TCACHE_COUNT}");
    match present.map(str::trim) {
        None | Some("") => Some(ours),
        Some(p) => {
            let sized = p
                .split(':')
                .any(|t| t.split_once('=').map(|(name, _)| name.trim()) == Some(TCACHE_TUNABLE));
            (!sized).then(|| format!("{p}:{ours}"))
        }
    }
}

/// Set in the environment of the restarted process: it restarts at most once. (Not
/// `CONFER_…`: those are configuration, and an unknown one is refused.)
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const RESTARTED: &str = "ALLOCATOR_RESTARTED_BY_CONFER";

/// glibc reads `GLIBC_TUNABLES` once, when a process starts, and has no call that sets the
/// thread caches' size later; so `confer serve` restarts itself in place (`execve` of its own
/// binary: the same process id, arguments and standard streams) with the variable
/// set, before any thread exists. Returns `Ok(())` without restarting when the variable
/// already sizes the caches or is not text, when the process runs in secure-execution mode,
/// or when it is itself the restarted one; `Err` when the restart failed (the caller runs on
/// with glibc's default: memory after a busy hour stays higher, nothing else changes).
/// Under valgrind, set the variable yourself so that no restart leaves the tool.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn restart_with_small_tcaches() -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    // In secure-execution mode (a binary given capabilities with `setcap` and started by
    // another user than root, or set-user-ID) glibc ignores this tunable and erases it from
    // the environment it hands the program: a restart would change nothing and find the
    // variable missing again, restarting for ever.
    // SAFETY: getauxval only reads the auxiliary vector the kernel gave this process.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return Ok(());
    }
    // And never more than once, whatever else might drop the variable on the way.
    if std::env::var_os(RESTARTED).is_some() {
        return Ok(());
    }
    let present = match std::env::var("GLIBC_TUNABLES") {
        Ok(s) => Some(s),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(_)) => return Ok(()),
    };
    let Some(value) = tunables_with_small_tcaches(present.as_deref()) else {
        return Ok(());
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "confer".into());
    // The binary by its own path: the kernel names a process after the file it runs, and
    // `/proc/self/exe` would show the server as `exe` in ps, top and pgrep. That path names
    // this very binary while it runs (a binary replaced on disk reads as "… (deleted)",
    // which does not exist: then `/proc/self/exe`, still this binary).
    let exe = std::env::current_exe().ok().filter(|p| p.exists());
    let program = exe
        .as_deref()
        .unwrap_or(std::path::Path::new("/proc/self/exe"));
    let err = std::process::Command::new(program)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", value)
        .env(RESTARTED, "1")
        .exec();
    Err(err)
}

/// Not glibc: nothing to do.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn restart_with_small_tcaches() -> std::io::Result<()> {
    Ok(())
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
    use std::time::Duration;

    use tokio::time::Instant;

    use super::{
        tunables_with_small_tcaches, TrimPolicy, QUIET_TRIMS, TCACHE_COUNT, TRIM_AT_MOST_EVERY,
    };

    const LOOK: Duration = Duration::from_secs(10);

    /// The looks at which `policy` trims, for a departure count per look.
    fn trims_at(counts: &[u64]) -> Vec<usize> {
        let start = Instant::now();
        let mut policy = TrimPolicy::new(0);
        counts
            .iter()
            .enumerate()
            .filter(|(i, &c)| policy.look(c, start + LOOK * (*i as u32 + 1)))
            .map(|(i, _)| i)
            .collect()
    }

    /// Visits that start and end between two looks are still followed by trims (the former
    /// rule compared live counts at the looks and missed them, leaving 244 MiB of free memory
    /// held after 500 visits), once the leaving has paused: one per quiet look for a minute.
    #[test]
    fn departures_between_looks_are_followed_by_trims_when_they_pause() {
        let mut counts = vec![0, 0, 500];
        counts.extend([500; 10]);
        assert_eq!(
            trims_at(&counts),
            (3..3 + QUIET_TRIMS as usize).collect::<Vec<_>>()
        );
        // A new departure during the quiet minute starts it again.
        assert_eq!(
            trims_at(&[0, 3, 9, 9, 9, 12, 12, 12, 12, 12, 12, 12, 12]),
            vec![3, 4, 6, 7, 8, 9, 10, 11]
        );
    }

    #[test]
    fn no_departures_no_trim() {
        assert_eq!(trims_at(&[0; 20]), Vec::<usize>::new());
    }

    /// Visits ending at every look: a trim every minute, never at every look.
    #[test]
    fn endless_departures_trim_once_a_minute() {
        let counts: Vec<u64> = (1..=30).collect();
        let every = (TRIM_AT_MOST_EVERY.as_secs() / LOOK.as_secs()) as usize;
        assert_eq!(
            trims_at(&counts),
            vec![every, 2 * every, 3 * every, 4 * every]
        );
    }

    /// Resident memory of this process, in KiB, counted page by page (`smaps_rollup` walks
    /// the page tables; `VmRSS` in `status` comes from counters the kernel keeps per CPU).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn rss_kib() -> u64 {
        let rollup = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap();
        rollup
            .lines()
            .find_map(|l| l.strip_prefix("Rss:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    /// With the threshold fixed, a large block freed on another thread goes back to the
    /// system at once, however many came before it (without it, glibc raises the threshold
    /// after the first and keeps the next ones in the thread's arena). What a password
    /// check does with its 19 MiB.
    ///
    /// Measured in a process of its own (this test binary again, running only this test):
    /// in the shared test process an arena may already hold a free chunk of 19 MiB (other
    /// tests' blocks, coalesced), and glibc serves a large request from its free chunks
    /// before it maps a new one, so the block neither raised RSS nor gave it back there.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn a_large_block_freed_on_another_thread_is_returned_at_once() {
        const CHILD: &str = "CONFER_LARGE_BLOCK_TEST_CHILD";
        if std::env::var_os(CHILD).is_none() {
            let out = std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "memory::tests::a_large_block_freed_on_another_thread_is_returned_at_once",
                    "--test-threads=1",
                ])
                .env(CHILD, "1")
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success() && stdout.contains("1 passed"),
                "the measuring process failed:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        super::fix_mmap_threshold();
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
            .filter(|(held, after)| *held >= after + 16 * 1024)
            .count();
        assert_eq!(returned, 6, "19 MiB freed six times, RSS (KiB) {drops:?}");
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

    #[test]
    fn the_thread_caches_are_sized_unless_the_operator_already_did() {
        let ours = format!("glibc.malloc.tcache_count={TCACHE_COUNT}");
        assert_eq!(tunables_with_small_tcaches(None), Some(ours.clone()));
        assert_eq!(tunables_with_small_tcaches(Some("")), Some(ours.clone()));
        assert_eq!(
            tunables_with_small_tcaches(Some("glibc.malloc.arena_max=4")),
            Some(format!("glibc.malloc.arena_max=4:{ours}"))
        );
        // The operator's own size stands, glibc's default included, wherever it is listed.
        for present in [
            "glibc.malloc.tcache_count=7",
            "glibc.malloc.arena_max=4:glibc.malloc.tcache_count=0",
        ] {
            assert_eq!(
                tunables_with_small_tcaches(Some(present)),
                None,
                "{present}"
            );
        }
        // A different tunable whose name merely contains ours does not count.
        assert_eq!(
            tunables_with_small_tcaches(Some("glibc.malloc.tcache_count_max=9")),
            Some(format!("glibc.malloc.tcache_count_max=9:{ours}"))
        );
    }
}
