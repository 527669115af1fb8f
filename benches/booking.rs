//! Booking decisions through the real server (R-BOOK-1, R-BOOK-2): 100
//! concurrent clients ask for visits over HTTPS at once, each request going through the
//! whole path — session check, detainee lookup, the facility's decision lock, the audit
//! append (durable) of the request and of its placement, `schedule::Allocator` over the
//! facility's timetable read from SQLite, the visit and request rows. Not a test: it
//! prints a table.
//!
//! `cargo bench --bench booking` (`CONFER_BENCH_CLIENTS=N` concurrent clients,
//! `CONFER_BENCH_ROUNDS=R` requests per client, `CONFER_BENCH_BOOTHS=B` booths).
//! No per-lawyer quota exists (R-ARRANGE-4), so one lawyer account books for all clients,
//! for `CLIENTS` different detainees.

#[path = "../tests/support/app.rs"]
mod app;

use app::{spawn_app, Identity};
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let clients = env_usize("CONFER_BENCH_CLIENTS", 100);
    let rounds = env_usize("CONFER_BENCH_ROUNDS", 5);
    let booths = env_usize("CONFER_BENCH_BOOTHS", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let app = Arc::new(spawn_app().await);
        let store = &app.running.state.store;
        let facility = confer::ids::FacilityId(confer::app::DEMO_FACILITY.into());
        for b in 0..booths {
            store
                .upsert_booth(
                    &confer::ids::BoothId(format!("bench-room-{b}")),
                    &facility,
                    &format!("Bench room {b}"),
                )
                .await
                .unwrap();
        }
        let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
            .iter()
            .map(|d| json!({ "weekday": d, "opens": "00:00", "closes": "24:00" }))
            .collect();
        let (s, b) = app
            .admin(
                Method::PUT,
                &format!("/admin/api/facilities/{}/hours", confer::app::DEMO_FACILITY),
                Some(json!({ "hours": hours })),
            )
            .await;
        assert_eq!(s, 200, "{b}");
        for c in 0..clients {
            let (s, b) = app
                .admin(
                    Method::POST,
                    "/admin/api/detainees",
                    Some(json!({"facility": confer::app::DEMO_FACILITY, "internal_ref": format!("BK-{c}"), "name": format!("Bench Detainee {c}")})),
                )
                .await;
            assert_eq!(s, 201, "{b}");
        }
        let session = app.demo_lawyer_session().await;
        println!(
            "booking decisions through the server: {clients} concurrent clients x {rounds} requests, {} booths open 24 h, walk-ins of 30-90 min",
            booths + 1
        );
        let started = Instant::now();
        let barrier = Arc::new(tokio::sync::Barrier::new(clients));
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (app, session, barrier) = (app.clone(), session.clone(), barrier.clone());
            tasks.push(tokio::spawn(async move {
                let client = app.client(&Identity::None);
                let mut latencies = Vec::new();
                barrier.wait().await;
                for r in 0..rounds {
                    let t = Instant::now();
                    let resp = client
                        .post(app.url("/api/lawyer/requests"))
                        .bearer_auth(&session)
                        .json(&json!({
                            "facility": confer::app::DEMO_FACILITY,
                            "detainee_ref": format!("BK-{c}"),
                            "expected_minutes": 30 + 30 * ((c + r) % 3),
                        }))
                        .send()
                        .await
                        .expect("request");
                    let status = resp.status();
                    let body: Value = resp.json().await.unwrap_or(Value::Null);
                    assert_eq!(status, 201, "{body}");
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("client task"));
        }
        let wall = started.elapsed().as_secs_f64();
        all.sort_by(f64::total_cmp);
        println!("| measure | p50 ms | p90 ms | p99 ms | max ms | requests/s |");
        println!("|---------|-------:|-------:|-------:|-------:|-----------:|");
        println!(
            "| client latency (HTTPS, lock wait, audit, allocate, store) | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
            pct(&all, 0.5),
            pct(&all, 0.9),
            pct(&all, 0.99),
            all.last().copied().unwrap_or(f64::NAN),
            all.len() as f64 / wall
        );
    });
}
