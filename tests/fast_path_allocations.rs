//! The media fast path forwards a packet without a heap allocation of its own once a visit is
//! under way (docs/DESIGN.md "The media fast path"; the RTX cache's slots in
//! vendor/str0m/CONFER-PATCH.md): a media server allocates per packet only at its peril, as
//! the allocator's cost and its fragmentation grow with the traffic.
//!
//! The real media driver runs in process (`tests/support/inproc.rs`): a lawyer and a booth of
//! one visit, both sending audio and video, on a virtual clock. After five seconds (longer
//! than the three seconds the SFU keeps sent video for NACK answers, so that its RTX cache
//! evicts a packet for each one it caches), the allocations made while the driver handles
//! each RTP datagram are counted by this test binary's global allocator. The harness's own
//! are taken off: the driver sends into a capture (`bench_support`), which keeps each sent
//! datagram and so makes the driver take a new buffer for the next one, one allocation per
//! datagram sent; the capture's list itself keeps its capacity.

#[path = "support/inproc.rs"]
mod inproc;

use confer::media::bench_support::Sfu;
use inproc::{exchange, join_pair, sfu_addr, Client};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The system allocator, counting allocations (and reallocations) while `COUNTING` is set.
/// The count is the whole process's: keep this binary to one test, or another test's
/// threads would be counted with it.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed on to the system allocator unchanged; the counter is an
// atomic and allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `realloc`, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One packet of `client` (video 1100 B, audio 80 B) through the driver, with whatever else
/// the client sends at that moment. Returns (packets, allocations, datagrams sent) counted
/// over the datagrams the driver opened on the fast path; the others (the client's RTCP, and
/// its padding and probes, which str0m carries) are handled but not counted.
fn forward_one(
    sfu: &mut Sfu,
    client: &mut Client,
    video: bool,
    seq: u64,
    now: Instant,
) -> (u64, u64, u64) {
    let (size, clock) = if video { (1100, 90) } else { (80, 48) };
    let payload: Vec<u8> = (0..size).map(|i| (i * 7 + seq as usize) as u8).collect();
    client.write(
        video,
        seq,
        (seq as u32).wrapping_mul(clock * 20),
        now,
        payload,
    );
    let from = client.addr;
    let (mut packets, mut allocations, mut sent) = (0, 0, 0);
    for mut d in std::mem::take(&mut client.out) {
        let (sent0, _) = sfu.sent_totals();
        let (opened0, _) = sfu.fast_totals();
        ALLOCATIONS.store(0, Ordering::SeqCst);
        COUNTING.store(true, Ordering::SeqCst);
        sfu.receive(now, from, sfu_addr(), &mut d);
        COUNTING.store(false, Ordering::SeqCst);
        if sfu.fast_totals().0 > opened0 {
            packets += 1;
            allocations += ALLOCATIONS.load(Ordering::SeqCst);
            sent += sfu.sent_totals().0 - sent0;
        }
    }
    (packets, allocations, sent)
}

#[test]
fn the_fast_path_forwards_without_allocating() {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(sfu_addr());
    sfu.set_fast_path(true);
    let (mut booth, mut lawyer) = join_pair(&mut sfu, &mut now);

    // Both sides send video every 10 ms and audio every 20 ms (about 0.9 Mbit/s each, under
    // the leg's starting estimate); everyone's timers run, every datagram is delivered.
    let step = Duration::from_millis(10);
    let mut seq = [[0u64; 2]; 2];
    let (mut packets, mut allocations, mut sent) = (0u64, 0u64, 0u64);
    let warm = 500; // five seconds
    for i in 0..warm + 400u64 {
        now += step;
        for (side, client) in [&mut lawyer, &mut booth].into_iter().enumerate() {
            for video in [true, false] {
                if !video && i % 2 == 1 {
                    continue;
                }
                let n = &mut seq[side][usize::from(video)];
                *n += 1;
                let (p, a, s) = forward_one(&mut sfu, client, video, *n, now);
                if i >= warm {
                    packets += p;
                    allocations += a;
                    sent += s;
                }
            }
        }
        for c in [&mut lawyer, &mut booth] {
            c.tick(now);
        }
        if sfu.next_timeout() <= now {
            sfu.tick(now);
        }
        exchange(&mut sfu, &mut [&mut lawyer, &mut booth], now);
    }
    // 400 steps of video both ways and audio every other step: 1 200 media packets, all of
    // which must have been opened on the fast path.
    assert_eq!(packets, 1_200, "media packets opened on the fast path");
    assert!(
        sent >= packets,
        "{sent} datagrams sent for {packets} packets"
    );
    // What the driver allocated beyond the capture's one buffer per datagram sent. (Before
    // the RTX cache kept its buffers, each forwarded video packet allocated one: 800 here.)
    let own = allocations.saturating_sub(sent);
    eprintln!(
        "{packets} packets: {allocations} allocations, {sent} datagrams sent, {own} the \
         driver's own"
    );
    assert!(
        own * 200 <= packets,
        "the fast path allocated {own} times for {packets} packets forwarded (more than one \
         in two hundred)"
    );
}
