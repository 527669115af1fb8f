//! The forwarding hot path in-process (media performance): ns per forwarded packet, SRTP included.
//!
//! The real media driver (`confer::media::bench_support::Sfu`: peers, forward table, str0m
//! in RTP mode with DTLS-SRTP) without a socket or a task. Two str0m clients, a lawyer and a
//! booth of one visit, connect to it through ICE and DTLS over an in-memory "wire". Then both
//! clients produce SRTP packets (untimed), as both sides of a visit do, and the timed part
//! hands each one to the driver exactly as its receive loop does: SRTP decrypt,
//! route, rebase, rewrite, SRTP encrypt for the other side's leg, "send" (captured, counted).
//! Timeouts are handled when the driver asks for them, as in its loop. Not a test: it prints a
//! table.
//!
//! `cargo bench --bench forward` (`CONFER_BENCH_PACKETS=N` packets per row, default 200 000;
//! `CONFER_BENCH_PATH=fast` or `str0m` for one path only). Each row runs once on str0m's path
//! (the media fast path off) and once on the fast path (docs/DESIGN.md "The media fast path").
//!
//! Each side sends one packet every `CONFER_BENCH_STEP_US` (default 12 000 µs of virtual
//! time: ~730 kbit/s of video, inside the leg's starting estimate of 1 Mbit/s), the booth's
//! half a step after the lawyer's. The wire has no delay: after each packet, the SFU's
//! datagrams reach the clients and their answers (transport-wide feedback, receiver reports)
//! reach the SFU at the same instant, as on a LAN. (Until 2026-12-04 the wire ran in chunks
//! of 100 packets; feedback that comes in bursts looks like a queue to the estimator, and in
//! two-way traffic the SFU then began dropping video frames.) Faster, the leg's congestion
//! control takes over as it would on a network: the SFU drops video frames over the leg's
//! budget, or str0m's pacer holds video and it leaves on str0m's path; the table would then
//! not measure the fast path.
//!
//! Timed, per forwarded packet: `ns/packet`, the driver's work on the packet and on the
//! timeouts it is due; `feedback ns`, its work on the clients' RTCP (transport-wide feedback
//! and the bandwidth estimate it updates, receiver and sender reports). A server pays both
//! for every packet it forwards. (Until 2026-12-04 the first column also held whatever RTCP
//! a client sent in the same instant, and the second was not timed.)
//!
//! `CONFER_BENCH_VISITS=N` (default 1) joins N visits and sends their packets in turn, each
//! side of each visit still one packet per step: the driver then works among the state of
//! 2N legs, as a server does, instead of one visit's that stays in the caches.
//!
//! `CONFER_BENCH_ONE_WAY=1` has only the lawyer send (the traffic before 2026-12-04). The
//! booth's leg then carries no media, and str0m keeps it alive with padding (its 50 kbit/s
//! target when a leg sends nothing else): about one padding packet out per packet in, which
//! a visit whose two sides both send does not have.

#[path = "../tests/support/inproc.rs"]
mod inproc;

use confer::media::bench_support::Sfu;
use inproc::{client_of, join_pair_of, Client, SFU};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// RTCP rather than RTP (RFC 5761: RTCP packet types 192-223 in the second byte).
fn is_rtcp(datagram: &[u8]) -> bool {
    datagram.len() > 1 && (192..=223).contains(&datagram[1])
}

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
    feedback_ns_per_packet: f64,
    out_per_in: f64,
    bytes_out: u64,
    /// Payload bytes in (each packet's payload is forwarded once).
    payload_in: u64,
}

/// One visit's two clients and the sequence numbers each has sent (`[side][kind]`).
struct Visit {
    booth: Client,
    lawyer: Client,
    seq: [[u64; 2]; 2],
}

/// Feed `total` packets (video: 1100 B payload; audio: 80 B), half from each side as in a
/// visit (the lawyer's and the booth's alternate, half a step apart), the visits in turn;
/// time only the driver's work. Figures are per media packet written; a client's other
/// datagrams of the moment (its RTCP, its bandwidth probes) reach the SFU with it and are
/// timed with it.
fn run(
    name: &'static str,
    sfu: &mut Sfu,
    visits: &mut [Visit],
    now: &mut Instant,
    total: u64,
    video: bool,
) -> Row {
    let sfu_addr: SocketAddr = SFU.parse().expect("addr");
    let size = if video { 1100 } else { 80 };
    let template: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    // The clock is virtual (see the module documentation for the knobs). Each side of each
    // visit sends one packet per step, so the clock moves a step per packet of every visit.
    let step = Duration::from_micros(env_u64("CONFER_BENCH_STEP_US", 12_000));
    let one_way = std::env::var("CONFER_BENCH_ONE_WAY").is_ok_and(|v| v == "1");
    let n = visits.len() as u64;
    let tick = if one_way { step } else { step / 2 } / n as u32;
    let (k, clock) = if video { (1, 90) } else { (0, 48) };
    let mut forward = Duration::ZERO;
    let mut feedback = Duration::ZERO;
    let mut fed = 0u64;
    let (out0, bytes0) = sfu.sent_totals();
    sfu.keep_sent(true);
    for i in 0..total {
        // Untimed: a client makes the SRTP datagram with its own clock stamp. Even packets
        // (of each visit) from the lawyer, odd ones from the booth half a step later (all
        // from the lawyer with CONFER_BENCH_ONE_WAY=1).
        let visit = &mut visits[(i % n) as usize];
        let from_booth = !one_way && (i / n) % 2 == 1;
        *now += tick;
        let side = usize::from(from_booth);
        visit.seq[side][k] += 1;
        let seq = visit.seq[side][k];
        let ts = (seq as u32).wrapping_mul(clock * 2);
        let client: &mut Client = if from_booth {
            &mut visit.booth
        } else {
            &mut visit.lawyer
        };
        client.write(video, seq, ts, *now, template.clone());
        // The client's RTP (the packet, and any padding or probe of the moment) is timed as
        // forwarding; RTCP it sends at the same time (reports, transport-wide feedback) is
        // timed as feedback, with the answers below.
        let (mut rtp, mut rtcp): (Vec<Vec<u8>>, Vec<Vec<u8>>) = std::mem::take(&mut client.out)
            .into_iter()
            .partition(|d| !is_rtcp(d));
        let from = client.addr;
        assert!(!rtp.is_empty(), "{name}: the client produced no RTP");
        // Timed: the driver's receive path for the datagram, and its timeouts when a peer's
        // is due on the bench's virtual clock (`next_peer_timeout`, without the driver's
        // wall-clock caps, which a virtual clock running ahead would hit on every packet).
        // The SFU's datagrams are kept (one copy each, inside the timed part) for the wire.
        let t0 = Instant::now();
        for d in &mut rtp {
            sfu.receive(*now, from, sfu_addr, d);
        }
        if sfu.next_peer_timeout().is_some_and(|t| t <= *now) {
            sfu.tick(*now);
        }
        forward += t0.elapsed();
        fed += 1;
        let t0 = Instant::now();
        for mut d in rtcp.drain(..) {
            sfu.receive(*now, from, sfu_addr, &mut d);
        }
        feedback += t0.elapsed();
        // The wire: the SFU's datagrams to the clients, their answers back (timed as
        // feedback), until nothing is in flight. The sending visit's clients are ticked
        // now; another visit's, when it sends or receives (at most half a step later).
        for c in [&mut visit.lawyer, &mut visit.booth] {
            c.tick(*now);
        }
        for _ in 0..10 {
            let mut answers: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
            for (_, to, d) in sfu.take_sent() {
                let Some((v, lawyer)) = client_of(to) else {
                    continue;
                };
                let Some(v) = usize::try_from(v - 1).ok().and_then(|i| visits.get_mut(i)) else {
                    continue;
                };
                let c = if lawyer { &mut v.lawyer } else { &mut v.booth };
                c.receive(*now, sfu_addr, &d);
            }
            for v in visits.iter_mut() {
                for c in [&mut v.lawyer, &mut v.booth] {
                    let addr = c.addr;
                    answers.extend(std::mem::take(&mut c.out).into_iter().map(|d| (addr, d)));
                }
            }
            if answers.is_empty() {
                break;
            }
            let t0 = Instant::now();
            for (from, d) in &mut answers {
                sfu.receive(*now, *from, sfu_addr, d);
            }
            feedback += t0.elapsed();
        }
    }
    let (out1, bytes1) = sfu.sent_totals();
    Row {
        name,
        packets: fed,
        ns_per_packet: forward.as_nanos() as f64 / fed as f64,
        feedback_ns_per_packet: feedback.as_nanos() as f64 / fed as f64,
        out_per_in: (out1 - out0) as f64 / fed as f64,
        bytes_out: bytes1 - bytes0,
        payload_in: fed * size as u64,
    }
}

/// Both rows (video, audio) on a fresh SFU with `visits` visits and the fast path on or off,
/// and how many packets the fast path carried in and out.
fn measure(total: u64, fast: bool, visits: u64) -> (Vec<Row>, (u64, u64)) {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(SFU.parse().expect("addr"));
    sfu.set_fast_path(fast);
    sfu.keep_sent(true);
    let mut joined: Vec<Visit> = (1..=visits)
        .map(|v| {
            let (booth, lawyer) = join_pair_of(&mut sfu, &mut now, v);
            Visit {
                booth,
                lawyer,
                seq: [[0; 2]; 2],
            }
        })
        .collect();
    // A short warm-up (str0m's stream state, first keyframe requests) before measuring:
    // `CONFER_BENCH_WARMUP` packets per visit (default 4 000; fewer under valgrind).
    let warm_up = env_u64("CONFER_BENCH_WARMUP", 4_000) * visits;
    let _ = run("warm-up", &mut sfu, &mut joined, &mut now, warm_up, true);
    let (video, audio) = if fast {
        ("fast, video 1100 B", "fast, audio 80 B")
    } else {
        ("str0m, video 1100 B", "str0m, audio 80 B")
    };
    let rows = vec![
        run(video, &mut sfu, &mut joined, &mut now, total, true),
        run(audio, &mut sfu, &mut joined, &mut now, total / 4, false),
    ];
    (rows, sfu.fast_totals())
}

fn main() {
    let total = env_u64("CONFER_BENCH_PACKETS", 200_000);
    // CONFER_BENCH_VISITS=N: N visits on the SFU, their packets in turn (the state of many
    // legs, as in a server, rather than one visit's in the caches).
    let visits = env_u64("CONFER_BENCH_VISITS", 1).max(1);
    // CONFER_BENCH_PATH=fast|str0m runs one path only (for a profiler); default both.
    let path = std::env::var("CONFER_BENCH_PATH").unwrap_or_default();
    let mut rows = Vec::new();
    if path != "fast" {
        rows.extend(measure(total, false, visits).0);
    }
    let (mut fast_in, mut fast_out) = (0, 0);
    if path != "str0m" {
        let (fast_rows, totals) = measure(total, true, visits);
        rows.extend(fast_rows);
        (fast_in, fast_out) = totals;
    }
    println!(
        "forwarding hot path, in-process (SRTP decrypt + route + SRTP encrypt + send), \
         {visits} visit(s):"
    );
    println!(
        "{:<20} {:>10} {:>14} {:>14} {:>12} {:>14}",
        "path, packets", "count", "ns/packet", "feedback ns", "out/in", "bytes out"
    );
    for r in &rows {
        println!(
            "{:<20} {:>10} {:>14.0} {:>14.0} {:>12.3} {:>14}",
            r.name, r.packets, r.ns_per_packet, r.feedback_ns_per_packet, r.out_per_in, r.bytes_out
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
        assert!(
            r.bytes_out >= r.payload_in,
            "{}: {} bytes out for {} bytes of payload in: the SFU dropped packets, and the \
             bench is not measuring forwarding",
            r.name,
            r.bytes_out,
            r.payload_in
        );
    }
    assert!(
        path == "str0m" || (fast_in > 0 && fast_out > 0),
        "the fast rows did not take the fast path"
    );
}
