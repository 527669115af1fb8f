//! Live health feed benchmark (the admin console's live view, R-PRIV-1): the CPU cost of the health
//! feed with 100 live visits (two participants each) and 5 console viewers.
//!
//! Per tick (the feed runs once a second) it does what `confer::health::run` does after the
//! media plane has published its snapshot: the hub's live view (cloned), the media snapshot
//! (cloned from the published one: 200 peers), `health::model::evaluate`, one JSON
//! serialisation, and for each of 5 viewers the SSE frame (`event: health` + data) built
//! from the shared `Arc<str>`. Figures change every tick (loss and RTT crossing thresholds
//! on some visits) so alerts are raised and cleared as well.
//!
//! Not a test: it prints a table. Run with `cargo bench --bench health`
//! (`CONFER_BENCH_VISITS=N`, `CONFER_BENCH_VIEWERS=N`, `CONFER_BENCH_TICKS=N`).
//! Not included: the media driver's per-packet counting (a few integer updates per packet,
//! no allocation) and its once-a-second sampling of each peer (measured end to end with
//! `confer-loadtest`, see the report).

use chrono::{Duration, TimeZone, Utc};
use confer::health::model::{evaluate, HealthState, Thresholds, VisitInput};
use confer::ids::{BoothId, LawyerId, ParticipantId, Role, VisitId};
use confer::media::{CandidateType, KindRates, MediaSnapshot, PeerHealth, PeerId, PeerStats};
use confer::visit::hub::{LiveSeatView, LiveVisitView};
use std::sync::Arc;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn health(tick: usize, i: usize) -> PeerHealth {
    // Every 10th visit is lossy on some ticks, every 25th slow: alerts come and go.
    let lossy = i.is_multiple_of(10) && (tick / 7).is_multiple_of(2);
    let slow = i.is_multiple_of(25) && (tick / 5).is_multiple_of(2);
    PeerHealth {
        inbound: KindRates {
            audio_kbps: 52.0 + (tick % 3) as f64,
            video_kbps: 1450.0 + (i % 50) as f64,
        },
        outbound: KindRates {
            audio_kbps: 52.0,
            video_kbps: 1460.0,
        },
        bytes_in: 1_000_000 * tick as u64,
        bytes_out: 1_000_000 * tick as u64,
        packets_lost_in: if lossy { 20 * tick as u64 } else { 0 },
        packets_expected_in: 213 * tick as u64,
        inbound_loss: Some(if lossy { 0.08 } else { 0.0 }),
        outbound_loss: Some(0.0),
        jitter_ms: Some(3.2),
        rtt_ms: Some(if slow { 450.0 } else { 12.0 }),
        candidate_type: Some(CandidateType::Host),
        transport: Some("udp"),
        video_fps: 30.0,
        video_seen: true,
        video_size: Some((1280, 720)),
        last_media_age: Some(std::time::Duration::from_millis(3)),
        ice_restarts: 0,
    }
}

fn main() {
    let visits = env_usize("CONFER_BENCH_VISITS", 100);
    let viewers = env_usize("CONFER_BENCH_VIEWERS", 5);
    let ticks = env_usize("CONFER_BENCH_TICKS", 300);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap();
    let live: Vec<LiveVisitView> = (0..visits)
        .map(|i| LiveVisitView {
            visit: VisitId(i as i64 + 1),
            slot_end: t0 + Duration::minutes(60),
            warnings_sent: vec![300],
            seats: vec![
                LiveSeatView {
                    participant: ParticipantId::Lawyer(LawyerId(i as i64 + 1)),
                    peer: Some(PeerId(2 * i as u64 + 1)),
                    dropped: false,
                },
                LiveSeatView {
                    participant: ParticipantId::Booth(BoothId(format!("booth-{i}"))),
                    peer: Some(PeerId(2 * i as u64 + 2)),
                    dropped: false,
                },
            ],
        })
        .collect();
    let mut state = HealthState::default();
    let th = Thresholds::default();
    let mut per_tick = Vec::with_capacity(ticks);
    let mut alerts = 0usize;
    let mut bytes = 0usize;
    for tick in 0..ticks {
        let now = t0 + Duration::seconds(tick as i64);
        // What the driver published this second.
        let published = Arc::new(MediaSnapshot {
            peers: (0..visits)
                .flat_map(|i| {
                    [(Role::Lawyer, 2 * i + 1), (Role::Booth, 2 * i + 2)].map(|(role, id)| {
                        let stats = PeerStats {
                            connected: true,
                            peer: Some(PeerId(id as u64)),
                            health: health(tick, i),
                            ..PeerStats::default()
                        };
                        (VisitId(i as i64 + 1), role, stats)
                    })
                })
                .collect(),
            taken_at: Some(now),
        });
        let started = Instant::now();
        let snap = published.clone();
        let inputs: Vec<VisitInput> = live
            .iter()
            .map(|l| VisitInput {
                live: l.clone(),
                booth: format!("Booth {}", l.visit.0),
            })
            .collect();
        let (view, events) = evaluate(&mut state, &inputs, &snap, &th, now);
        let json: Arc<str> = Arc::from(serde_json::to_string(&view).unwrap());
        let event_json: Vec<Arc<str>> = events
            .iter()
            .map(|e| Arc::from(serde_json::to_string(e).unwrap()))
            .collect();
        for _ in 0..viewers {
            let shared = json.clone();
            let frame = format!("event: health\ndata: {shared}\n\n");
            bytes += frame.len();
            for e in &event_json {
                bytes += format!("event: alert\ndata: {e}\n\n").len();
            }
        }
        alerts += events.len();
        per_tick.push(started.elapsed());
    }
    per_tick.sort();
    let us = |d: std::time::Duration| d.as_secs_f64() * 1e6;
    let mean = per_tick.iter().map(|d| us(*d)).sum::<f64>() / per_tick.len() as f64;
    let p99 = us(per_tick[(per_tick.len() * 99 / 100).min(per_tick.len() - 1)]);
    println!("health feed: {visits} visits x 2 participants, {viewers} viewers, {ticks} ticks (1 tick = 1 s of feed)");
    println!("  alert changes: {alerts}; bytes framed for viewers: {bytes}");
    println!(
        "  per tick: mean {mean:.0} us, p50 {:.0} us, p99 {p99:.0} us",
        us(per_tick[per_tick.len() / 2])
    );
    println!(
        "  share of one core at 1 tick/s: {:.3} % (mean), {:.3} % (p99)",
        mean / 1e6 * 100.0,
        p99 / 1e6 * 100.0
    );
}
