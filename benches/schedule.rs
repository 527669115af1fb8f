//! Scheduler benchmarks (R-ARRANGE-1, R-BOOK-1..5):
//! 1. the time `schedule::allocate` takes to place 10,000 queued requests over 50 booths
//!    and 7 days (mixed bookings and walk-ins, fast and long visits, 2,000 detainees);
//! 2. the p99 latency of single booking decisions when 100 concurrent clients book at
//!    once against that filled week: each decision is one `allocate` call over the
//!    facility's whole timetable, made under one lock (as the server serialises the
//!    decisions of one facility so that no booth is double-booked). Reported both as
//!    pure decision time and as latency seen by a client (lock wait included).
//!
//! Not a test: it prints a table. Run with `cargo bench --bench schedule`
//! (`CONFER_BENCH_REQUESTS=N`, `CONFER_BENCH_BOOTHS=N` change the sizes).

use chrono::{DateTime, Duration, TimeZone, Utc, Weekday};
use confer::ids::{BoothId, DetaineeId, FacilityId, LawyerId};
use confer::schedule::{
    allocate, Allocator, Arrival, Booth, BoothKind, Calendar, Channel, Existing, OpeningHours,
    Outcome, Request, RequestId, SlotLengths,
};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn calendar() -> Calendar {
    use Weekday::*;
    Calendar {
        facility: FacilityId("bench".into()),
        utc_offset_min: 420,
        hours: [Mon, Tue, Wed, Thu, Fri, Sat, Sun]
            .into_iter()
            .map(|weekday| OpeningHours {
                weekday,
                opens_min: 7 * 60,
                closes_min: 21 * 60,
            })
            .collect(),
        holidays: BTreeSet::new(),
        extended: Vec::new(),
        slot_lengths: SlotLengths::default(),
    }
}

fn booths(n: usize) -> Vec<Booth> {
    (0..n)
        .map(|i| Booth {
            id: BoothId(format!("booth-{i}")),
            kind: match i % 10 {
                0..=5 => BoothKind::LawyerRoom,
                6..=8 => BoothKind::FastRoom,
                _ => BoothKind::InterrogationRoom,
            },
        })
        .collect()
}

fn request(rng: &mut StdRng, id: i64, now: DateTime<Utc>, span_min: i64) -> Request {
    let requested_at = now + Duration::minutes(rng.gen_range(0..span_min));
    let length = Duration::minutes(
        *[15, 20, 30, 45, 60, 90, 120]
            .get(rng.gen_range(0..7))
            .unwrap_or(&60),
    );
    let arrival = if rng.gen_bool(0.6) {
        Arrival::Booked {
            at: requested_at + Duration::minutes(rng.gen_range(0..40 * 60) / 5 * 5),
        }
    } else {
        Arrival::WalkIn {
            ticket: u32::try_from(id).unwrap_or(u32::MAX),
        }
    };
    Request {
        id: RequestId(id),
        lawyer: LawyerId(rng.gen_range(0..500)),
        detainee: DetaineeId(rng.gen_range(0..2000)),
        length,
        arrival,
        channel: Channel::Web,
        requested_at,
        interrogation_room_consent: rng.gen_bool(0.3),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).copied().unwrap_or(0.0)
}

fn main() {
    let n = env_usize("CONFER_BENCH_REQUESTS", 10_000);
    let nb = env_usize("CONFER_BENCH_BOOTHS", 50);
    let cal = calendar();
    let booths = booths(nb);
    let now = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let week = 7 * 24 * 60;
    let requests: Vec<Request> = (0..n as i64)
        .map(|i| request(&mut rng, i, now, week))
        .collect();

    let mut runs = Vec::new();
    let mut decisions = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        decisions = allocate(&cal, &booths, &[], &requests, now);
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    runs.sort_by(f64::total_cmp);
    let placed: Vec<Existing> = decisions
        .iter()
        .filter_map(|d| match &d.outcome {
            Outcome::Placed(s) => Some(Existing {
                booth: s.booth.clone(),
                detainee: requests
                    .iter()
                    .find(|r| r.id == d.request)
                    .map(|r| r.detainee),
                starts_at: s.starts_at,
                ends_at: s.ends_at,
            }),
            Outcome::Unplaced { .. } => None,
        })
        .collect();
    println!("schedule::allocate: {n} queued requests, {nb} booths, 7 days (5 runs)");
    println!("| requests | booths | placed | unplaced | median ms | max ms |");
    println!("|---------:|-------:|-------:|---------:|----------:|-------:|");
    println!(
        "| {n} | {nb} | {} | {} | {:.1} | {:.1} |",
        placed.len(),
        n - placed.len(),
        percentile(&runs, 0.5),
        runs.last().copied().unwrap_or(0.0)
    );

    // 100 concurrent clients, each booking 20 times against the filled week.
    let clients = 100;
    let per_client = 20;
    let timetable = Arc::new(Mutex::new(placed));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let (timetable, cal, booths) = (timetable.clone(), cal.clone(), booths.clone());
            std::thread::spawn(move || {
                let mut rng = StdRng::seed_from_u64(1000 + c as u64);
                let mut seen = Vec::with_capacity(per_client);
                for k in 0..per_client {
                    let r = request(&mut rng, (1_000_000 + c * 1000 + k) as i64, now, week);
                    let asked = Instant::now();
                    // The facility's decisions are serialised: no booth is double-booked.
                    let mut table = timetable.lock().unwrap_or_else(|p| p.into_inner());
                    let decided = Instant::now();
                    let d = allocate(&cal, &booths, &table, std::slice::from_ref(&r), now);
                    let compute = decided.elapsed().as_secs_f64() * 1000.0;
                    if let Some(Outcome::Placed(s)) = d.first().map(|d| &d.outcome) {
                        table.push(Existing {
                            booth: s.booth.clone(),
                            detainee: Some(r.detainee),
                            starts_at: s.starts_at,
                            ends_at: s.ends_at,
                        });
                    }
                    drop(table);
                    seen.push((compute, asked.elapsed().as_secs_f64() * 1000.0));
                }
                seen
            })
        })
        .collect();
    let mut compute = Vec::new();
    let mut latency = Vec::new();
    for h in handles {
        for (c, l) in h.join().unwrap_or_default() {
            compute.push(c);
            latency.push(l);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    compute.sort_by(f64::total_cmp);
    latency.sort_by(f64::total_cmp);
    println!();
    println!(
        "single booking decisions: {clients} concurrent clients x {per_client}, timetable of ~{} visits",
        timetable.lock().map(|t| t.len()).unwrap_or(0)
    );
    println!("| measure | p50 ms | p99 ms | max ms |");
    println!("|---------|-------:|-------:|-------:|");
    for (name, v) in [
        ("decision (allocate)", &compute),
        ("client latency (lock wait + decision)", &latency),
    ] {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} |",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "({} decisions in {:.2} s: {:.0} decisions/s)",
        compute.len(),
        wall,
        compute.len() as f64 / wall
    );

    // The same load against a timetable kept in memory (`Allocator` built once, each
    // decision one `place`): what the decision itself costs without rebuilding the
    // busy-interval index from the whole week every time.
    let table = timetable.lock().map(|t| t.clone()).unwrap_or_default();
    let alloc = Mutex::new(Allocator::new(
        &cal,
        &booths,
        &table,
        now,
        now + Duration::days(9),
    ));
    let started = Instant::now();
    let mut compute = Vec::new();
    let mut latency = Vec::new();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let alloc = &alloc;
                scope.spawn(move || {
                    let mut rng = StdRng::seed_from_u64(5000 + c as u64);
                    let mut seen = Vec::with_capacity(per_client);
                    for k in 0..per_client {
                        let r = request(&mut rng, (2_000_000 + c * 1000 + k) as i64, now, week);
                        let asked = Instant::now();
                        let mut a = alloc.lock().unwrap_or_else(|p| p.into_inner());
                        let decided = Instant::now();
                        let _ = a.place(&r);
                        let took = decided.elapsed().as_secs_f64() * 1000.0;
                        drop(a);
                        seen.push((took, asked.elapsed().as_secs_f64() * 1000.0));
                    }
                    seen
                })
            })
            .collect();
        for h in handles {
            for (c, l) in h.join().unwrap_or_default() {
                compute.push(c);
                latency.push(l);
            }
        }
    });
    let wall = started.elapsed().as_secs_f64();
    compute.sort_by(f64::total_cmp);
    latency.sort_by(f64::total_cmp);
    println!();
    println!("single booking decisions on a kept timetable (Allocator::place), {clients} concurrent clients x {per_client}");
    println!("| measure | p50 ms | p99 ms | max ms |");
    println!("|---------|-------:|-------:|-------:|");
    for (name, v) in [
        ("decision (place)", &compute),
        ("client latency (lock wait + decision)", &latency),
    ] {
        println!(
            "| {name} | {:.3} | {:.3} | {:.3} |",
            percentile(v, 0.5),
            percentile(v, 0.99),
            v.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "({} decisions in {:.2} s: {:.0} decisions/s)",
        compute.len(),
        wall,
        compute.len() as f64 / wall
    );
}
