//! Timers and jobs fire exactly once across the cluster: the violation-report outbox
//! (R-CONDUCT-2) runs on every node but delivers from one at a time (its lease), and a
//! visit's slot warnings and end fire on the one node its media lives on. Real nodes on one
//! real PostgreSQL (an in-process node and real `confer serve` processes that can be
//! killed outright); the recipients' webhook is a real HTTP server on loopback, which
//! counts what it accepted by `Idempotency-Key`. Under `CI=true` a missing PostgreSQL fails.

#[path = "support/app.rs"]
mod app;
#[path = "support/cluster.rs"]
mod cluster;

use confer_signaling::{EndReason, SignalingClient, VisitNotice};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Generous: a beat every 3 s, a loaded 2-core CI machine.
const WAIT: Duration = Duration::from_secs(30);
/// A lease taken over: the holder's 15 s, the others look every 5 s, plus a loaded machine.
const TAKEOVER: Duration = Duration::from_secs(45);

async fn nodes(app: &app::TestApp) -> Vec<Value> {
    let (status, body) = app.admin(Method::GET, "/admin/api/nodes", None).await;
    assert_eq!(status, 200, "{body}");
    body["nodes"].as_array().cloned().unwrap_or_default()
}

async fn wait_nodes(app: &app::TestApp, what: &str, cond: impl Fn(&[Value]) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = nodes(app).await;
        if cond(&n) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {n:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The recipients' webhooks on loopback. Reports of a visit in `refused` are answered 503
/// (a recipient that is down); every other one 202. Counts what was accepted per key.
#[derive(Clone, Default)]
struct Receiver {
    refused: Arc<Mutex<HashSet<i64>>>,
    /// Idempotency-Key of every report answered 202, in order of arrival.
    accepted: Arc<Mutex<Vec<String>>>,
    /// Reports answered 503.
    refusals: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start() -> (Receiver, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Receiver::default();
        let sink = r.clone();
        let app = axum::Router::new().route(
            "/{recipient}",
            axum::routing::post(
                move |axum::extract::Path(recipient): axum::extract::Path<String>,
                      headers: axum::http::HeaderMap,
                      axum::Json(body): axum::Json<Value>| {
                    let sink = sink.clone();
                    async move {
                        let key = headers
                            .get("idempotency-key")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        assert_eq!(body["recipient"], recipient.as_str());
                        let visit = body["visit_id"].as_i64().unwrap_or(-1);
                        if sink.refused.lock().unwrap().contains(&visit) {
                            *sink.refusals.lock().unwrap() += 1;
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                        }
                        // A recipient takes a moment to answer: a second worker
                        // that delivered too would overlap with this one.
                        tokio::time::sleep(Duration::from_millis(150)).await;
                        sink.accepted.lock().unwrap().push(key);
                        axum::http::StatusCode::ACCEPTED
                    }
                },
            ),
        );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (r, port)
    }

    /// How often each key was accepted.
    fn counts(&self) -> BTreeMap<String, usize> {
        let mut c = BTreeMap::new();
        for k in self.accepted.lock().unwrap().iter() {
            *c.entry(k.clone()).or_insert(0) += 1;
        }
        c
    }
}

fn oversight_urls(c: &mut confer::config::Config, port: u16) {
    c.oversight.law_firm_url = Some(format!("http://127.0.0.1:{port}/law_firm"));
    c.oversight.justice_bureau_url = Some(format!("http://127.0.0.1:{port}/justice_bureau"));
    c.oversight.bar_association_url = Some(format!("http://127.0.0.1:{port}/bar_association"));
    c.oversight.retry_base_ms = 200;
    c.oversight.retry_max_ms = 800;
}

fn oversight_toml(port: u16) -> String {
    format!(
        "[oversight]\nlaw_firm_url = \"http://127.0.0.1:{port}/law_firm\"\n\
         justice_bureau_url = \"http://127.0.0.1:{port}/justice_bureau\"\n\
         bar_association_url = \"http://127.0.0.1:{port}/bar_association\"\n\
         retry_base_ms = 200\nretry_max_ms = 800\n"
    )
}

const RECIPIENTS: [&str; 3] = ["law_firm", "justice_bureau", "bar_association"];

fn keys_of(violations: &[i64]) -> Vec<String> {
    violations
        .iter()
        .flat_map(|v| RECIPIENTS.iter().map(move |r| format!("violation-{v}-{r}")))
        .collect()
}

/// Rows of a query on the cluster's PostgreSQL (read as the store holds them).
async fn pg_rows(url: &str, sql: &str) -> Vec<sqlx::postgres::PgRow> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .expect("connect to the test PostgreSQL");
    let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect(sql);
    conn.close().await.expect("close");
    rows
}

async fn outbox_holder(url: &str) -> Option<String> {
    use sqlx::Row;
    pg_rows(url, "SELECT holder FROM leases WHERE name = 'outbox'")
        .await
        .first()
        .map(|r| r.get::<String, _>(0))
}

/// Number of the violations' deliveries marked delivered in the outbox table.
async fn delivered_rows(url: &str, violations: &[i64]) -> usize {
    use sqlx::Row;
    let ids: Vec<String> = violations.iter().map(i64::to_string).collect();
    let rows = pg_rows(
        url,
        &format!(
            "SELECT count(*) FROM violation_deliveries WHERE delivered_at IS NOT NULL \
             AND violation_id IN ({})",
            ids.join(",")
        ),
    )
    .await;
    rows[0].get::<i64, _>(0) as usize
}

/// Wait until each of `violations`' reports is accepted by the receiver and marked
/// delivered in the database.
async fn wait_delivered(r: &Receiver, url: &str, violations: &[i64], within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    let want = keys_of(violations);
    loop {
        let counts = r.counts();
        let arrived = want.iter().all(|k| counts.contains_key(k));
        if arrived && delivered_rows(url, violations).await == want.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not all delivered within {within:?}: accepted {counts:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Stop each (live) visit for a violation through the first node's staff API; the
/// violation ids.
async fn stop_all(first: &app::TestApp, visits: &[i64]) -> Vec<i64> {
    let mut out = Vec::new();
    for v in visits {
        let (status, body) = first
            .admin(
                Method::POST,
                &format!("/admin/api/visits/{v}/stop"),
                Some(json!({"category": "communication_device", "reason": "A phone was handed over."})),
            )
            .await;
        assert_eq!(status, 200, "stop visit {v}: {body}");
        out.push(body["violation"].as_i64().unwrap());
    }
    out
}

/// A node of the test: the in-process first one or a real process.
enum Holder {
    First,
    Process(usize),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn violation_reports_are_delivered_once_by_three_nodes_and_again_once_after_their_holders_die(
) {
    let (receiver, port) = Receiver::start().await;
    let Some(first) = app::spawn_app_on(app::Backend::Postgres, |c| {
        c.node.id = Some("n1".into());
        oversight_urls(c, port);
    })
    .await
    else {
        return;
    };
    let url = first.store_url.clone().unwrap();
    wait_nodes(&first, "the first node is registered", |n| n.len() == 1).await;

    // Twelve live visits on the first node (the only one yet, so placed there); their
    // lawyers stay connected until staff stop them.
    let mut visits = Vec::new();
    let mut lawyers = Vec::new();
    for _ in 0..12 {
        let visit = first
            .create_visit(chrono::Duration::zero(), chrono::Duration::minutes(30))
            .await;
        let token = first.demo_lawyer_token(visit).await;
        lawyers.push(first.joined(&app::Identity::None, &token).await);
        assert!(first.running.state.hub.is_live(confer::ids::VisitId(visit)));
        visits.push(visit);
    }

    // Two more nodes, real processes, each with its own outbox worker and the same webhooks.
    let extra = oversight_toml(port);
    let mut procs = [
        cluster::ProcessNode::start_with(&first, "n2", &extra),
        cluster::ProcessNode::start_with(&first, "n3", &extra),
    ];
    wait_nodes(&first, "three nodes alive", |n| {
        n.len() == 3 && n.iter().all(|x| x["state"] == "alive")
    })
    .await;

    // Three batches of four violations (twelve reports each); their recipients are down at
    // first, so every report stays pending and is retried every 0.8 s by whichever
    // workers look at the outbox.
    receiver
        .refused
        .lock()
        .unwrap()
        .extend(visits.iter().copied());
    let a = stop_all(&first, &visits[..4]).await;
    let b = stop_all(&first, &visits[4..8]).await;
    let c = stop_all(&first, &visits[8..]).await;
    drop(lawyers);
    let deadline = Instant::now() + WAIT;
    while *receiver.refusals.lock().unwrap() < 36 {
        assert!(
            Instant::now() < deadline,
            "the reports were never attempted"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Longer than every worker's 5 s look at the outbox: all three have had their chance.
    tokio::time::sleep(Duration::from_secs(6)).await;

    // Batch A's recipients come back with all three nodes running: each report arrives once.
    receiver
        .refused
        .lock()
        .unwrap()
        .retain(|v| !visits[..4].contains(v));
    wait_delivered(&receiver, &url, &a, WAIT, "batch A").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let once: BTreeMap<String, usize> = keys_of(&a).into_iter().map(|k| (k, 1)).collect();
    assert_eq!(receiver.counts(), once, "batch A: each report exactly once");

    // Kill the lease holder (a process: SIGKILL; the in-process first node: shut down), then
    // let B's recipients answer: another node takes the lease over and delivers B.
    let ids = ["n1", "n2", "n3"];
    let mut alive: Vec<&str> = ids.to_vec();
    let mut first = Some(first);
    let mut killed = Vec::new();
    for (batch, name) in [(&b, "B"), (&c, "C")] {
        let holder = outbox_holder(&url).await.expect("the outbox lease is held");
        assert!(alive.contains(&holder.as_str()), "{holder} holds it");
        let which = match holder.as_str() {
            "n1" => Holder::First,
            "n2" => Holder::Process(0),
            _ => Holder::Process(1),
        };
        match which {
            Holder::First => first.take().unwrap().running.shutdown().await,
            Holder::Process(i) => procs[i].kill(),
        }
        let at = Instant::now();
        alive.retain(|n| *n != holder);
        killed.push(holder.clone());
        receiver
            .refused
            .lock()
            .unwrap()
            .retain(|v| !batch_visits(&visits, name).contains(v));
        wait_delivered(&receiver, &url, batch, TAKEOVER, name).await;
        let now_held = outbox_holder(&url).await.unwrap();
        assert!(
            alive.contains(&now_held.as_str()),
            "batch {name} delivered by a node that is alive, {now_held} (killed {killed:?})"
        );
        println!(
            "outbox: holder {holder} gone -> batch {name} delivered by {now_held} {:.1} s later",
            at.elapsed().as_secs_f64()
        );
    }
    assert_eq!(killed.len(), 2);

    // Nothing more arrives: each report of the twelve violations was accepted exactly once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all: Vec<i64> = a.iter().chain(&b).chain(&c).copied().collect();
    let want: BTreeMap<String, usize> = keys_of(&all).into_iter().map(|k| (k, 1)).collect();
    assert_eq!(receiver.counts(), want, "each report exactly once");
    assert_eq!(delivered_rows(&url, &all).await, 36);
    // ... and recorded once in the shared audit chain.
    use sqlx::Row;
    let rows = pg_rows(
        &url,
        "SELECT count(*) FROM confer_audit.audit_entries WHERE kind = 'violation_report_delivered'",
    )
    .await;
    assert_eq!(rows[0].get::<i64, _>(0), 36, "one audit entry per delivery");
    if let Some(first) = first {
        first.running.shutdown().await;
    }
}

fn batch_visits(visits: &[i64], name: &str) -> Vec<i64> {
    match name {
        "B" => visits[4..8].to_vec(),
        _ => visits[8..].to_vec(),
    }
}

/// Join `token` at `url`, following one `moved`; the client and the URL it joined at.
async fn join_at(
    app: &app::TestApp,
    identity: &app::Identity,
    url: &str,
    token: &str,
) -> (SignalingClient, String) {
    let mut url = url.to_owned();
    for _ in 0..2 {
        let mut sig = SignalingClient::connect(&url, app::tls_client(&app.ca_pem, identity))
            .await
            .expect("wss connect");
        sig.hello().await.unwrap();
        match sig.join(token).await {
            Ok(_) => return (sig, url),
            Err(e) => match e.moved_to() {
                Some(next) => url = next.to_owned(),
                None => panic!("join at {url}: {e}"),
            },
        }
    }
    panic!("moved twice")
}

/// Notices until the visit ends: the warnings seen and the end's reason.
async fn until_end(sig: &mut SignalingClient) -> (usize, EndReason) {
    let mut warnings = 0;
    loop {
        match sig.next_notice_timeout(WAIT).await.expect("a notice") {
            VisitNotice::TimeWarning { .. } => warnings += 1,
            VisitNotice::VisitEnded { reason, .. } => return (warnings, reason),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slot_warnings_and_ends_fire_once_in_the_cluster_on_the_node_of_each_visit() {
    let Some(first) = app::spawn_app_on(app::Backend::Postgres, |c| {
        c.node.id = Some("n1".into());
        c.visit.warning_secs = vec![10, 5];
    })
    .await
    else {
        return;
    };
    let (second, _dir2) = cluster::second_node_with(&first, "n2", |c| {
        c.visit.warning_secs = vec![10, 5];
    })
    .await;
    wait_nodes(&first, "both nodes alive", |n| {
        n.len() == 2 && n.iter().all(|x| x["state"] == "alive")
    })
    .await;
    let n1 = first.ws_url();
    let n2 = format!("wss://{}/ws", second.http_addr);

    // Two 20-second slots, both joined at the first node: one is placed on each node.
    let mut sides = Vec::new();
    let mut on = BTreeMap::new();
    for _ in 0..2 {
        let visit = first
            .create_visit(chrono::Duration::seconds(-1), chrono::Duration::seconds(20))
            .await;
        let (lawyer, at) = join_at(
            &first,
            &app::Identity::None,
            &n1,
            &first.demo_lawyer_token(visit).await,
        )
        .await;
        let (booth, at_b) = join_at(
            &first,
            &first.demo_booth(),
            &n1,
            &first.demo_booth_token(visit).await,
        )
        .await;
        assert_eq!(at, at_b, "both sides on the visit's node");
        on.insert(visit, at);
        sides.push(lawyer);
        sides.push(booth);
    }
    let mut placed: Vec<&String> = on.values().collect();
    placed.sort();
    let mut both = vec![&n1, &n2];
    both.sort();
    assert_eq!(placed, both, "one visit on each node: {on:?}");

    // Each side hears two warnings and the end, once each.
    for sig in &mut sides {
        let (warnings, reason) = until_end(sig).await;
        assert_eq!(warnings, 2);
        assert_eq!(reason, EndReason::SlotOver);
    }
    // Past the end, nothing fires again on either node.
    tokio::time::sleep(Duration::from_secs(3)).await;
    for (visit, at) in &on {
        let (status, audit) = first.audit_read(&format!("?visit={visit}")).await;
        assert_eq!(status, 200, "{audit}");
        let kinds: Vec<String> = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["record"]["kind"].as_str().unwrap_or_default().to_owned())
            .collect();
        let count = |k: &str| kinds.iter().filter(|x| *x == k).count();
        assert_eq!(
            count("visit_started"),
            1,
            "visit {visit} on {at}: {kinds:?}"
        );
        assert_eq!(count("visit_warned"), 2, "visit {visit} on {at}: {kinds:?}");
        assert_eq!(count("visit_ended"), 1, "visit {visit} on {at}: {kinds:?}");
        let ended = audit["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["record"]["kind"] == "visit_ended")
            .unwrap();
        assert_eq!(ended["record"]["reason"], "slot_over", "{ended}");
    }
    second.shutdown().await;
    first.running.shutdown().await;
}
