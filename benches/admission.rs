//! Admission throughput (R-VERIFY-1..4, R-ARRANGE-1..3): 32 concurrent lawyers go through
//! the whole path — sign-in (argon2id), the licence check against the real test registry
//! server over HTTPS, evidence (engagement, documents, permission), policy, the audit append,
//! and the join token — against a real confer on loopback. Not a test: it prints a table.
//!
//! `cargo bench --bench admission` (`CONFER_BENCH_SECS=S` changes the duration of each run,
//! `CONFER_BENCH_LAWYERS=N` the number of concurrent lawyers).
//!
//! Three runs:
//! - `sign-in + token, registry cached`: the default 10-minute positive cache is warm;
//! - `sign-in + token, registry asked`: the cache entry is dropped before every request, so
//!   every admission asks the registry over HTTPS;
//! - `token only, registry asked`: a signed-in lawyer asks for a token (no argon2id).

#[path = "../tests/support/app.rs"]
mod app;
#[path = "../tests/support/registry.rs"]
mod registry;

use app::{spawn_app_with, Identity, TestApp};
use confer::licence::{HolderIdHash, LicenceNumber};
use registry::TestRegistry;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIRM: &str = "Bench Law Firm";
const PASSWORD: &str = "a long enough bench password";

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn licence(i: usize) -> String {
    format!("{:017}", 31_101_202_030_000_000u64 + i as u64)
}

struct Lawyer {
    username: String,
    licence: LicenceNumber,
    visit: i64,
}

/// Accounts, engagements with accepted documents and an open visit for `n` lawyers,
/// all made through the APIs.
async fn prepare(app: &TestApp, n: usize) -> Vec<Lawyer> {
    let (status, body) = app
        .admin(
            Method::POST,
            "/admin/api/detainees",
            Some(json!({"facility": confer::app::DEMO_FACILITY, "internal_ref": "B-1", "name": "Bench Detainee"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let detainee = body["id"].as_i64().unwrap();
    let mut out = Vec::new();
    for i in 0..n {
        let username = format!("bench-lawyer-{i}");
        let (status, body) = app
            .admin(
                Method::POST,
                "/admin/api/lawyers",
                Some(json!({
                    "username": username, "display_name": format!("Bench Lawyer {i}"),
                    "password": PASSWORD, "licence_number": licence(i), "id_number": format!("BENCH-ID-{i}"),
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let lawyer = body["id"].as_i64().unwrap();
        let session = app.lawyer_login(&username, PASSWORD).await;
        let (status, body) = app
            .admin(
                Method::POST,
                "/admin/api/cases",
                Some(json!({"detainee_id": detainee, "needs_unit_permission": false})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let case = body["id"].as_i64().unwrap();
        let (status, body) = app
            .lawyer_api(
                &session,
                Method::POST,
                "/api/lawyer/engagements",
                Some(json!({"facility": confer::app::DEMO_FACILITY, "detainee_ref": "B-1", "law_firm": FIRM, "authority": "power_of_attorney"})),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let engagement = body["id"].as_i64().unwrap();
        for kind in ["firm_letter", "power_of_attorney"] {
            let pdf = format!("%PDF-1.4\n% {kind} {i}\n%%EOF\n").into_bytes();
            let (status, doc) = app
                .upload_document(&session, engagement, kind, pdf, "application/pdf")
                .await;
            assert_eq!(status, 201, "{doc}");
            let (status, body) = app
                .admin(
                    Method::POST,
                    &format!("/admin/api/documents/{}/review", doc["id"]),
                    Some(json!({"accepted": true})),
                )
                .await;
            assert!(status < 300, "{body}");
        }
        let start = chrono::Utc::now() - chrono::Duration::seconds(5);
        let (status, body) = app
            .admin(
                Method::POST,
                "/admin/api/visits",
                Some(json!({
                    "lawyer_id": lawyer, "booth_id": confer::app::DEMO_BOOTH, "case_id": case,
                    "starts_at": start.to_rfc3339(),
                    "ends_at": (start + chrono::Duration::hours(2)).to_rfc3339(),
                })),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        out.push(Lawyer {
            username,
            licence: licence(i).parse().unwrap(),
            visit: body["id"].as_i64().unwrap(),
        });
    }
    out
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    SignInCached,
    SignInAsked,
    TokenAsked,
}

async fn run(app: Arc<TestApp>, lawyers: &[Lawyer], mode: Mode, secs: u64) -> (f64, Vec<f64>) {
    let stop = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for l in lawyers {
        let app = app.clone();
        let (username, licence, visit) = (l.username.clone(), l.licence.clone(), l.visit);
        tasks.push(tokio::spawn(async move {
            let client = app.client(&Identity::None);
            let mut session = app.lawyer_login(&username, PASSWORD).await;
            let mut latencies = Vec::new();
            while Instant::now() < stop {
                if mode != Mode::SignInCached {
                    app.running.state.gate.registry().invalidate(&licence);
                }
                let t = Instant::now();
                if mode != Mode::TokenAsked {
                    let resp = client
                        .post(app.url("/api/lawyer/login"))
                        .json(&json!({"username": username, "password": PASSWORD}))
                        .send()
                        .await
                        .expect("sign-in");
                    assert_eq!(resp.status(), 200);
                    session = resp.json::<Value>().await.unwrap()["token"]
                        .as_str()
                        .unwrap()
                        .to_owned();
                }
                let resp = client
                    .post(app.url(&format!("/api/lawyer/visits/{visit}/join-token")))
                    .bearer_auth(&session)
                    .send()
                    .await
                    .expect("join token");
                let status = resp.status();
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                assert_eq!(status, 200, "{body}");
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("lawyer task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    (all.len() as f64 / elapsed, all)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let secs = env_u64("CONFER_BENCH_SECS", 10);
    let n = env_u64("CONFER_BENCH_LAWYERS", 32) as usize;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("registry.jsonl");
        let lines: Vec<String> = (0..n)
            .map(|i| {
                json!({
                    "licence_number": licence(i),
                    "holder_name": format!("Bench Lawyer {i}"),
                    "holder_id_hash": HolderIdHash::of_id_number(&format!("BENCH-ID-{i}")).as_str(),
                    "law_firm": FIRM, "status": "practising", "valid_until": "2030-12-31",
                    "data_as_of": "2026-11-27T00:00:00Z",
                })
                .to_string()
            })
            .collect();
        std::fs::write(&data, lines.join("\n")).unwrap();
        let registry = TestRegistry::start(&data).await;
        let ca = dir.path().join("registry-ca.pem");
        std::fs::write(&ca, registry.ca_pem.as_ref().unwrap()).unwrap();
        let url = registry.base_url.clone();
        let app = spawn_app_with(move |c| {
            c.licence.registry = confer::config::RegistrySource::Http;
            c.licence.registry_url = Some(url);
            c.licence.registry_ca = Some(ca);
            // Sign-ins are many and all succeed; the limiter counts failures only.
        })
        .await;
        let lawyers = prepare(&app, n).await;
        let app = Arc::new(app);
        println!(
            "admissions through the whole path, {n} concurrent lawyers, {secs} s per run, registry over HTTPS on loopback"
        );
        println!(
            "{:<40} {:>12} {:>10} {:>10} {:>10}",
            "run", "admissions/s", "p50 ms", "p99 ms", "registry"
        );
        for (name, mode) in [
            ("sign-in + token, registry cached", Mode::SignInCached),
            ("sign-in + token, registry asked", Mode::SignInAsked),
            ("token only, registry asked", Mode::TokenAsked),
        ] {
            let before = registry.requests();
            let (rate, lat) = run(app.clone(), &lawyers, mode, secs).await;
            println!(
                "{:<40} {:>12.1} {:>10.1} {:>10.1} {:>10}",
                name,
                rate,
                pct(&lat, 0.5),
                pct(&lat, 0.99),
                registry.requests() - before
            );
        }
    });
}
