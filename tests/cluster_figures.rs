//! Figures for the closing note, not tests: admissions per second through one node and
//! through three nodes on the same PostgreSQL. An admission is what a lawyer's page does:
//! a join token over REST, then signalling `hello` and `join` answered `joined` (placement
//! included; a `moved` is followed to the visit's node, as clients do).
//! `cargo test --test cluster_figures -- --ignored --nocapture`

#[path = "support/app.rs"]
mod app;
#[path = "support/cluster.rs"]
mod cluster;

use confer_signaling::SignalingClient;
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Admissions per configuration.
const ADMISSIONS: usize = 300;
/// Joins in flight at once.
const IN_FLIGHT: usize = 32;
/// Every admitted lawyer stays connected, all from 127.0.0.1: the per-address cap of the
/// public listener (64 by default, a law firm behind one address) is raised on every node.
const MAX_PER_IP: usize = 2048;
const MAX_PER_IP_TOML: &str = "[http.connections]\nmax_per_ip = 2048\n";

async fn wait_alive(app: &app::TestApp, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.admin(Method::GET, "/admin/api/nodes", None).await;
        assert_eq!(status, 200, "{body}");
        let nodes = body["nodes"].as_array().cloned().unwrap_or_default();
        if nodes.len() == n && nodes.iter().all(|x| x["state"] == "alive") {
            return nodes;
        }
        assert!(Instant::now() < deadline, "{n} nodes alive: {nodes:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// One admission: a join token from `http_base` (REST, the lawyer's session), then `hello`
/// and `join` at `ws`, following `moved`. The open connection (the lawyer stays) and
/// whether it was moved.
async fn admit(
    http: &reqwest::Client,
    tls: Arc<rustls::ClientConfig>,
    http_base: &str,
    ws: &str,
    session: &str,
    visit: i64,
) -> anyhow::Result<(SignalingClient, bool)> {
    let body: Value = http
        .post(format!("{http_base}/api/lawyer/visits/{visit}/join-token"))
        .bearer_auth(session)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = body["token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no token: {body}"))?
        .to_owned();
    let mut url = ws.to_owned();
    let mut moved = false;
    for _ in 0..3 {
        let mut sig = SignalingClient::connect(&url, tls.clone()).await?;
        sig.hello().await?;
        match sig.join(&token).await {
            Ok(joined) => {
                anyhow::ensure!(joined.visit_id == visit, "joined another visit");
                return Ok((sig, moved));
            }
            Err(e) => match e.moved_to() {
                Some(next) => {
                    url = next.to_owned();
                    moved = true;
                }
                None => return Err(e.into()),
            },
        }
    }
    anyhow::bail!("moved too often")
}

/// `ADMISSIONS` admissions of fresh visits, `IN_FLIGHT` at a time, spread round-robin over
/// `entries` (each `(https base, wss url)`); prints and returns admissions/s.
async fn run(first: &app::TestApp, label: &str, entries: &[(String, String)]) -> f64 {
    let mut visits = Vec::with_capacity(ADMISSIONS);
    for _ in 0..ADMISSIONS {
        visits.push(
            first
                .create_visit(chrono::Duration::zero(), chrono::Duration::minutes(60))
                .await,
        );
    }
    let session = first.demo_lawyer_session().await;
    let http = first.client(&app::Identity::None);
    let tls = app::tls_client(&first.ca_pem, &app::Identity::None);
    let queue = Arc::new(std::sync::Mutex::new(
        visits.into_iter().enumerate().collect::<Vec<_>>(),
    ));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..IN_FLIGHT {
        let queue = queue.clone();
        let http = http.clone();
        let tls = tls.clone();
        let session = session.clone();
        let entries = entries.to_vec();
        workers.push(tokio::spawn(async move {
            let mut kept = Vec::new();
            let mut latencies = Vec::new();
            let mut moved = 0usize;
            loop {
                let Some((i, visit)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let (base, ws) = &entries[i % entries.len()];
                let t = Instant::now();
                let (sig, was_moved) = admit(&http, tls.clone(), base, ws, &session, visit)
                    .await
                    .unwrap_or_else(|e| panic!("admission to visit {visit} at {ws}: {e:#}"));
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                moved += usize::from(was_moved);
                kept.push(sig);
            }
            (latencies, moved, kept)
        }));
    }
    let mut latencies = Vec::new();
    let mut moved = 0;
    let mut open = Vec::new();
    for w in workers {
        let (l, m, k) = w.await.expect("a joiner panicked");
        latencies.extend(l);
        moved += m;
        open.extend(k);
    }
    let took = started.elapsed().as_secs_f64();
    assert_eq!(latencies.len(), ADMISSIONS);
    latencies.sort_by(f64::total_cmp);
    let rate = ADMISSIONS as f64 / took;
    println!(
        "{label}: {ADMISSIONS} admissions, {IN_FLIGHT} in flight, in {took:.2} s: {rate:.1} admissions/s; \
         join latency p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {moved} followed a `moved`",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[latencies.len() - 1],
    );
    for mut sig in open {
        let _ = tokio::time::timeout(Duration::from_millis(500), sig.leave()).await;
    }
    rate
}

/// Figure: admissions/s through one node on PostgreSQL and through three nodes on the same
/// PostgreSQL (joins spread round-robin over their entry URLs). On a 2-core machine the
/// three nodes share the same two cores and the one PostgreSQL with the load generator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "figures for the closing note, not a test: run with --ignored --nocapture"]
async fn admission_figures() {
    println!(
        "machine: {} cores shared by the nodes, PostgreSQL and this load generator",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // One node.
    let Some(one) = app::spawn_app_on(app::Backend::Postgres, |c| {
        c.node.id = Some("solo".into());
        c.http.connections.max_per_ip = MAX_PER_IP;
    })
    .await
    else {
        return;
    };
    wait_alive(&one, 1).await;
    let entry = vec![(one.url(""), one.ws_url())];
    let r1 = run(&one, "1 node on PostgreSQL", &entry).await;
    one.running.shutdown().await;

    // Three nodes on one fresh PostgreSQL database: the in-process first and two processes.
    let Some(first) = app::spawn_app_on(app::Backend::Postgres, |c| {
        c.node.id = Some("n1".into());
        c.http.connections.max_per_ip = MAX_PER_IP;
    })
    .await
    else {
        return;
    };
    let _n2 = cluster::ProcessNode::start_with(&first, "n2", MAX_PER_IP_TOML);
    let _n3 = cluster::ProcessNode::start_with(&first, "n3", MAX_PER_IP_TOML);
    let nodes = wait_alive(&first, 3).await;
    let entries: Vec<(String, String)> = nodes
        .iter()
        .map(|n| {
            let public = n["public_url"].as_str().unwrap().to_owned();
            (public.clone(), confer::cluster::ws_url(&public))
        })
        .collect();
    let r3 = run(&first, "3 nodes on one PostgreSQL", &entries).await;
    println!("three nodes / one node: {:.2}x", r3 / r1);
    first.running.shutdown().await;
}
