//! The media fast path (docs/DESIGN.md "The media fast path") delivers what str0m's own path
//! delivers: a property test over random packet sequences with loss, reordering, sequence
//! number rollover on both legs and NACK/RTX repair.
//!
//! The real media driver runs in process (`tests/support/inproc.rs`): a lawyer's and a
//! booth's str0m client join one visit over an in-memory wire on a virtual clock. The lawyer
//! sends a random sequence of audio and video packets; the wire loses or swaps some of them on
//! the way in, and loses some forwarded video on the way out to the booth. The same sequence
//! runs twice, on an SFU with the fast path off (str0m carries every packet) and on one with
//! it on, and in both runs the booth must receive exactly the packets that path could deliver,
//! each once, with its payload and marker, on a constant sequence number and timestamp offset:
//! - audio: every packet that reached the SFU;
//! - video: every packet, the lost ones repaired by NACK/RTX (R-REMOTE-2), from the sender on
//!   the way in and from the SFU's retransmission buffer, which the fast path fills, on the
//!   way out;
//! - except what came before the first packet the SFU saw of that stream, which the SFU
//!   drops on both paths (a straggler would collide with the numbering already sent).
//!
//! and the fast run must have carried the packets on the fast path, the other run none.

#[path = "support/inproc.rs"]
mod inproc;

use confer::media::bench_support::Sfu;
use inproc::{exchange_with, join_pair, sfu_addr, Client, Got};
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

/// What the wire does with one original packet from the lawyer to the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Lose,
    /// Delivered after the next packet.
    Swap,
}

#[derive(Debug, Clone)]
struct Op {
    video: bool,
    size: usize,
    marker: bool,
    fate: Fate,
}

fn op() -> impl Strategy<Value = Op> {
    (
        any::<bool>(),
        1usize..1_100,
        any::<bool>(),
        prop_oneof![8 => Just(Fate::Deliver), 1 => Just(Fate::Lose), 1 => Just(Fate::Swap)],
    )
        .prop_map(|(video, size, marker, fate)| Op {
            video,
            // Video 700-1099 bytes: with at most one in 12 lost on the way out, the SFU's
            // resends stay under str0m's cap of 15 % of the bytes it sent (see `lose_out`).
            size: if video {
                700 + size % 400
            } else {
                1 + size % 160
            },
            marker,
            fate,
        })
}

/// A payload that names its op (the first two bytes) and is otherwise pseudo-random.
fn payload(i: usize, size: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..size.max(2))
        .map(|k| {
            (k as u32)
                .wrapping_mul(2_654_435_761)
                .wrapping_add(i as u32) as u8
        })
        .collect();
    p[..2].copy_from_slice(&(i as u16).to_be_bytes());
    p
}

/// RTP header fields of a datagram, if it is RTP: (payload type, sequence number, SSRC).
fn rtp_fields(d: &[u8]) -> Option<(u8, u16, u32)> {
    if d.len() < 12 || !(128..=191).contains(&d[0]) || (192..=223).contains(&d[1]) {
        return None;
    }
    Some((
        d[1] & 0x7f,
        u16::from_be_bytes([d[2], d[3]]),
        u32::from_be_bytes([d[8], d[9], d[10], d[11]]),
    ))
}

struct Run {
    got: Vec<Got>,
    fast: (u64, u64),
    /// Per kind (audio, video): the ops whose packet reached the SFU, in arrival order.
    arrived: [Vec<usize>; 2],
}

/// The whole exchange on one SFU.
fn run(
    ops: &[Op],
    fast: bool,
    starts: (u64, u64),
    first_seq: u16,
    lose_out_every: Option<u16>,
    tail: usize,
) -> Run {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(sfu_addr());
    sfu.set_fast_path(fast);
    sfu.set_first_seq(first_seq);
    sfu.keep_sent(true);
    let (mut booth, mut lawyer) = join_pair(&mut sfu, &mut now);
    booth.record = true;
    // The sender answers every NACK: str0m's default stops resending above 15 % of the bytes
    // sent, which a short random sequence with 10 % loss can reach; this test is about the
    // SFU, not that cap.
    lawyer
        .rtc
        .direct_api()
        .stream_tx_by_mid(lawyer.video, None)
        .expect("video send stream")
        .set_rtx_cache(1024, Duration::from_secs(3), None);

    let mut seq = [starts.0, starts.1];
    let mut wire = Wire::default();
    let mut arrived: [Vec<usize>; 2] = [Vec::new(), Vec::new()];
    let mut held: Option<(usize, Vec<u8>)> = None;
    for (i, op) in ops.iter().enumerate() {
        now += Duration::from_millis(10);
        wire.clean = i >= tail;
        let k = usize::from(op.video);
        let ts = (seq[k] as u32).wrapping_mul(if op.video { 3_000 } else { 960 });
        let written = seq[k];
        seq[k] += 1;
        lawyer.write_marked(op.video, written, ts, op.marker, now, payload(i, op.size));
        // The original packet is the one on this stream's main SSRC with this number; RTX
        // and RTCP in the same batch pass untouched.
        let main_ssrc = {
            let mid = if op.video { lawyer.video } else { lawyer.audio };
            let mut api = lawyer.rtc.direct_api();
            *api.stream_tx_by_mid(mid, None).expect("send stream").ssrc()
        };
        let mut deliver = Vec::new();
        for d in std::mem::take(&mut lawyer.out) {
            let original =
                rtp_fields(&d).is_some_and(|(_, s, ssrc)| ssrc == main_ssrc && s == written as u16);
            if !original {
                deliver.push(d);
                continue;
            }
            match op.fate {
                Fate::Deliver => {
                    arrived[k].push(i);
                    deliver.push(d);
                }
                Fate::Lose => {}
                Fate::Swap => {
                    if let Some((j, h)) = held.take() {
                        arrived[usize::from(ops[j].video)].push(j);
                        deliver.push(h);
                    }
                    held = Some((i, d));
                    continue;
                }
            }
            if let Some((j, h)) = held.take() {
                arrived[usize::from(ops[j].video)].push(j);
                deliver.push(h);
            }
        }
        lawyer.out = deliver;
        step(
            &mut sfu,
            &mut lawyer,
            &mut booth,
            now,
            &mut wire,
            lose_out_every,
        );
    }
    if let Some((j, h)) = held.take() {
        arrived[usize::from(ops[j].video)].push(j);
        lawyer.out.push(h);
    }
    // Time for NACKs, retransmissions and reports to settle.
    wire.clean = true;
    for _ in 0..300 {
        now += Duration::from_millis(10);
        step(
            &mut sfu,
            &mut lawyer,
            &mut booth,
            now,
            &mut wire,
            lose_out_every,
        );
    }
    Run {
        got: booth.got,
        fast: sfu.fast_totals(),
        arrived,
    }
}

/// The SFU-to-booth wire: which forwarded video packets it lost once already.
#[derive(Default)]
struct Wire {
    /// Loses nothing (the tail).
    clean: bool,
    first: Option<u16>,
    lost: HashSet<u16>,
}

/// Timers, then datagrams both ways until none is in flight; forwarded video to the booth
/// whose number is a multiple of `lose_out_every` is lost the first time it passes.
fn step(
    sfu: &mut Sfu,
    lawyer: &mut Client,
    booth: &mut Client,
    now: Instant,
    wire: &mut Wire,
    lose_out_every: Option<u16>,
) {
    lawyer.tick(now);
    booth.tick(now);
    if sfu.next_timeout() <= now {
        sfu.tick(now);
    }
    let video_pt = booth.video_pt.map(|p| *p);
    let booth_addr = booth.addr;
    exchange_with(sfu, &mut [lawyer, booth], now, |to, d| {
        let Some(every) = lose_out_every else {
            return true;
        };
        // Never the stream's first packet: the booth cannot miss what it has no number
        // before.
        let lose = to == booth_addr
            && rtp_fields(d).is_some_and(|(pt, s, _)| {
                Some(pt) == video_pt
                    && !wire.clean
                    && *wire.first.get_or_insert(s) != s
                    && s % every == 0
                    && wire.lost.insert(s)
            });
        !lose
    });
}

/// What the booth must have received of one kind, by op: those that reached the SFU from the
/// first one on, and (video) the lost ones between, repaired.
fn expected(ops: &[Op], arrived: &[Vec<usize>; 2], video: bool) -> Vec<usize> {
    let k = usize::from(video);
    let Some(&first) = arrived[k].first() else {
        return Vec::new();
    };
    let last = arrived[k].iter().copied().max().unwrap_or(first);
    let reached: HashSet<usize> = arrived[k].iter().copied().collect();
    // Stream order is op order within one kind. What precedes the first arrival is dropped
    // by the SFU on both paths; a loss is noticed (and NACKed) only before a later arrival.
    ops.iter()
        .enumerate()
        .filter(|(i, o)| {
            o.video == video && *i >= first && (reached.contains(i) || (video && *i < last))
        })
        .map(|(i, _)| i)
        .collect()
}

/// What the booth received, by (video, op): its sequence number and timestamp.
type Received = BTreeMap<(bool, usize), (u64, u32)>;

/// Check one run against the ops; returns what was received for the comparison across runs.
fn check(ops: &[Op], r: &Run, label: &str) -> Result<Received, TestCaseError> {
    let mut by_op = Received::new();
    for g in &r.got {
        let i = usize::from(u16::from_be_bytes([g.payload[0], g.payload[1]]));
        prop_assert!(i < ops.len(), "{label}: a payload names no op");
        let op = &ops[i];
        prop_assert_eq!(g.video, op.video, "{}: op {} on the wrong m-line", label, i);
        prop_assert_eq!(
            &g.payload,
            &payload(i, op.size),
            "{}: op {} payload",
            label,
            i
        );
        prop_assert_eq!(g.marker, op.marker, "{}: op {} marker", label, i);
        prop_assert!(
            by_op.insert((g.video, i), (g.seq, g.timestamp)).is_none(),
            "{}: op {} delivered twice",
            label,
            i
        );
    }
    for video in [false, true] {
        let want = expected(ops, &r.arrived, video);
        let got: Vec<usize> = by_op
            .keys()
            .filter(|(v, _)| *v == video)
            .map(|(_, i)| *i)
            .collect();
        prop_assert_eq!(&got, &want, "{}: video {} packets received", label, video);
        // One constant offset per stream: sequence numbers and timestamps as sent, shifted.
        let mut offsets = want.iter().map(|i| {
            let k = ops[..*i].iter().filter(|o| o.video == video).count() as u64;
            let (seq, ts) = by_op[&(video, *i)];
            (
                seq.wrapping_sub(k),
                ts.wrapping_sub((k as u32).wrapping_mul(if video { 3_000 } else { 960 })),
            )
        });
        if let Some(first) = offsets.next() {
            for o in offsets {
                prop_assert_eq!(o.0, first.0, "{}: video {} sequence offset", label, video);
            }
        }
    }
    Ok(by_op)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn the_fast_path_delivers_what_str0ms_path_delivers(
        ops in prop::collection::vec(op(), 20..90),
        near_rollover_in in any::<bool>(),
        near_rollover_out in any::<bool>(),
        lose_out in prop_oneof![Just(None), (12u16..17).prop_map(Some)],
    ) {
        // The lawyer's streams start a few packets before 2^16 (the SFU's receive-side
        // rollover counter), or anywhere; the SFU's numbering towards the booth likewise.
        let starts = if near_rollover_in { (65_530, 65_520) } else { (1_000, 20_000) };
        let first_seq = if near_rollover_out { 65_525 } else { 7_000 };
        // A clean tail: every loss is followed by packets that reveal it, so the receivers'
        // NACKs (str0m's, on both paths) have something to go on.
        let mut ops = ops;
        ops.extend((0..12).map(|i| Op { video: i % 3 != 2, size: 300 + i, marker: i % 3 == 1, fate: Fate::Deliver }));
        let tail = ops.len() - 12;
        let ops = &ops[..];
        let slow = run(ops, false, starts, first_seq, lose_out, tail);
        let fast = run(ops, true, starts, first_seq, lose_out, tail);
        prop_assert_eq!(slow.fast, (0, 0), "the str0m run took no fast path");
        prop_assert!(fast.fast.0 > 0 && fast.fast.1 > 0, "the fast run took the fast path: {:?}", fast.fast);
        let a = check(ops, &slow, "str0m")?;
        let b = check(ops, &fast, "fast")?;
        prop_assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "both paths delivered the same packets"
        );
    }
}
