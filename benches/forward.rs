//! The forwarding hot path in-process (media performance): ns per forwarded packet, SRTP included.
//!
//! The real media driver (`confer::media::bench_support::Sfu`: peers, forward table, str0m
//! in RTP mode with DTLS-SRTP) without a socket or a task. Two str0m clients, a lawyer and a
//! booth of one visit, connect to it through ICE and DTLS over an in-memory "wire". Then the
//! lawyer's client produces SRTP packets (untimed, in chunks) and the timed loop hands each
//! one to the driver exactly as its receive loop does: SRTP decrypt, route, rebase, rewrite,
//! SRTP encrypt for the booth's leg, "send" (captured, counted). Timeouts are handled when the
//! driver asks for them, as in its loop. Not a test: it prints a table.
//!
//! `cargo bench --bench forward` (`CONFER_BENCH_PACKETS=N` packets per row, default 200 000;
//! `CONFER_BENCH_PATH=fast` or `str0m` for one path only). Each row runs once on str0m's path
//! (the media fast path off) and once on the fast path (docs/DESIGN.md "The media fast path").
//!
//! The lawyer sends one packet every `CONFER_BENCH_STEP_US` (default 12 000 µs of virtual
//! time: ~730 kbit/s of video, inside the leg's starting estimate of 1 Mbit/s) and the booth's
//! feedback reaches the SFU every `CONFER_BENCH_CHUNK` packets (default 100, ~1.2 s). Faster,
//! or with rarer feedback, the leg's congestion control takes over as it would on a network:
//! the SFU drops video frames over the leg's budget, or str0m's pacer holds video and it
//! leaves on str0m's path; the table would then not measure the fast path.

#[path = "../tests/support/inproc.rs"]
mod inproc;

use confer::media::bench_support::Sfu;
use inproc::{join_pair, settle, Client, SFU};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const CHUNK: usize = 100;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Row {
    name: &'static str,
    packets: u64,
    ns_per_packet: f64,
    out_per_in: f64,
    bytes_out: u64,
}

/// Feed `total` packets (video: 1100 B payload; audio: 80 B) from the lawyer; time only the
/// driver's work.
#[allow(clippy::too_many_arguments)] // one row of the table: its name, the parts and its knobs
fn run(
    name: &'static str,
    sfu: &mut Sfu,
    lawyer: &mut Client,
    booth: &mut Client,
    now: &mut Instant,
    seq: &mut [u64; 2],
    total: u64,
    video: bool,
) -> Row {
    let sfu_addr: SocketAddr = SFU.parse().expect("addr");
    let size = if video { 1100 } else { 80 };
    let template: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    // The clock is virtual (see the module documentation for both knobs).
    let step = Duration::from_micros(env_u64("CONFER_BENCH_STEP_US", 12_000));
    let chunk = env_u64("CONFER_BENCH_CHUNK", CHUNK as u64) as usize;
    let mut timed = Duration::ZERO;
    let mut fed = 0u64;
    let (out0, bytes0) = sfu.sent_totals();
    while fed < total {
        let n = chunk.min((total - fed) as usize);
        // Untimed: the client makes SRTP datagrams with their own clock stamps.
        let mut batch = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        for _ in 0..n {
            *now += step;
            let k = usize::from(video);
            seq[k] += 1;
            let clock = if video { 90 } else { 48 };
            let ts = (seq[k] as u32).wrapping_mul(clock * 2);
            lawyer.write(video, seq[k], ts, *now, template.clone());
            for d in std::mem::take(&mut lawyer.out) {
                batch.push(d);
                at.push(*now);
            }
        }
        assert!(
            !batch.is_empty(),
            "{name}: the lawyer's client produced no datagrams"
        );
        // Timed: the driver's receive path for every datagram, and its timeouts when a peer's
        // is due on the bench's virtual clock (`next_peer_timeout`, without the driver's
        // wall-clock caps, which a virtual clock running ahead would hit on every packet).
        // The SFU's datagrams are kept (one copy each, inside the timed loop) and delivered
        // to the booth's client afterwards: without the receiver's feedback (TWCC, receiver
        // reports) str0m's pacer throttles the leg and the bench stops forwarding.
        sfu.keep_sent(true);
        let t0 = Instant::now();
        for (d, when) in batch.iter().zip(&at) {
            sfu.receive(*when, lawyer.addr, sfu_addr, d);
            if sfu.next_peer_timeout().is_some_and(|t| t <= *when) {
                sfu.tick(*when);
            }
        }
        timed += t0.elapsed();
        fed += batch.len() as u64;
        settle(sfu, &mut [lawyer, booth], *now);
    }
    let (out1, bytes1) = sfu.sent_totals();
    Row {
        name,
        packets: fed,
        ns_per_packet: timed.as_nanos() as f64 / fed as f64,
        out_per_in: (out1 - out0) as f64 / fed as f64,
        bytes_out: bytes1 - bytes0,
    }
}

/// Both rows (video, audio) on a fresh SFU with the fast path on or off, and how many packets
/// the fast path carried in and out.
fn measure(total: u64, fast: bool) -> (Vec<Row>, (u64, u64)) {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(SFU.parse().expect("addr"));
    sfu.set_fast_path(fast);
    sfu.keep_sent(true);
    let (mut booth, mut lawyer) = join_pair(&mut sfu, &mut now);
    // A short warm-up (str0m's stream state, first keyframe requests) before measuring.
    let mut seq = [0u64; 2];
    let _ = run(
        "warm-up",
        &mut sfu,
        &mut lawyer,
        &mut booth,
        &mut now,
        &mut seq,
        4_000,
        true,
    );
    let (video, audio) = if fast {
        ("fast, video 1100 B", "fast, audio 80 B")
    } else {
        ("str0m, video 1100 B", "str0m, audio 80 B")
    };
    let rows = vec![
        run(
            video,
            &mut sfu,
            &mut lawyer,
            &mut booth,
            &mut now,
            &mut seq,
            total,
            true,
        ),
        run(
            audio,
            &mut sfu,
            &mut lawyer,
            &mut booth,
            &mut now,
            &mut seq,
            total / 4,
            false,
        ),
    ];
    (rows, sfu.fast_totals())
}

fn main() {
    let total = env_u64("CONFER_BENCH_PACKETS", 200_000);
    // CONFER_BENCH_PATH=fast|str0m runs one path only (for a profiler); default both.
    let path = std::env::var("CONFER_BENCH_PATH").unwrap_or_default();
    let mut rows = Vec::new();
    if path != "fast" {
        rows.extend(measure(total, false).0);
    }
    let (mut fast_in, mut fast_out) = (0, 0);
    if path != "str0m" {
        let (fast_rows, totals) = measure(total, true);
        rows.extend(fast_rows);
        (fast_in, fast_out) = totals;
    }
    println!("forwarding hot path, in-process (SRTP decrypt + route + SRTP encrypt + send):");
    println!(
        "{:<20} {:>10} {:>14} {:>12} {:>14}",
        "path, packets", "count", "ns/packet", "out/in", "bytes out"
    );
    for r in &rows {
        println!(
            "{:<20} {:>10} {:>14.0} {:>12.3} {:>14}",
            r.name, r.packets, r.ns_per_packet, r.out_per_in, r.bytes_out
        );
    }
    println!("fast path: {fast_in} packets opened, {fast_out} sealed");
    for r in &rows {
        assert!(
            r.out_per_in >= 0.99,
            "{}: only {:.3} datagrams out per packet in: the bench is not forwarding",
            r.name,
            r.out_per_in
        );
    }
    assert!(
        path == "str0m" || (fast_in > 0 && fast_out > 0),
        "the fast rows did not take the fast path"
    );
}
