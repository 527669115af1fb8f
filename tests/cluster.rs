//! The cluster's node registry: every node writes its row and a heartbeat every 3 s; the
//! admin view (`GET /admin/api/nodes`) and `confer node list` show each node alive,
//! draining or dead (no heartbeat for 10 s). `confer node drain` stops new visits on a node
//! (a join refused `node_draining` before its token is used), lets the live visit run, and
//! the node exits once it is empty. With the real binary for the command line, and two
//! real nodes on one PostgreSQL for the dead-node case (under `CI=true` a missing
//! PostgreSQL fails).

#[path = "support/app.rs"]
mod app;

use confer_signaling::ErrorCode;
use reqwest::Method;
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

/// Generous: a beat every 3 s, a loaded 2-core CI machine.
const WAIT: Duration = Duration::from_secs(30);

async fn nodes(app: &app::TestApp) -> Vec<Value> {
    let (status, body) = app.admin(Method::GET, "/admin/api/nodes", None).await;
    assert_eq!(status, 200, "{body}");
    body["nodes"].as_array().cloned().unwrap_or_default()
}

async fn wait_nodes(app: &app::TestApp, what: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let n = nodes(app).await;
        if cond(&n) {
            return n;
        }
        assert!(Instant::now() < deadline, "{what}: {n:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn confer(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_confer"))
        .args(args)
        .output()
        .expect("run confer");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_registers_and_a_drained_node_starts_no_visit_and_exits_when_empty() {
    let app = app::spawn_app().await;
    let data_dir = app.data_dir.path().to_str().unwrap().to_owned();
    let n = wait_nodes(&app, "this node is registered and alive", |n| {
        n.len() == 1 && n[0]["state"] == "alive"
    })
    .await;
    let id = n[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("node-"), "{id}");
    assert_eq!(
        std::fs::read_to_string(app.data_dir.path().join("node-id"))
            .unwrap()
            .trim(),
        id,
        "the id is kept in the data dir"
    );
    assert!(n[0]["public_url"].as_str().unwrap().starts_with("https://"));

    // A live visit: the next beats count it.
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut lawyer = app
        .joined(&app::Identity::None, &app.demo_lawyer_token(visit).await)
        .await;
    let mut booth = app
        .joined(&app.demo_booth(), &app.demo_booth_token(visit).await)
        .await;
    wait_nodes(&app, "the live visit is counted", |n| {
        n[0]["live_visits"] == 1
    })
    .await;

    // Drain it from the command line, as an administrator would.
    let (ok, out) = confer(&["node", "drain", "--data-dir", &data_dir]);
    assert!(ok, "{out}");
    assert!(out.contains("draining"), "{out}");
    wait_nodes(&app, "the node is draining", |n| {
        n[0]["state"] == "draining"
    })
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let h: Value = app
            .client(&app::Identity::None)
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if h["draining"] == true {
            assert_eq!(
                h["status"], "ok",
                "a draining node still serves its visits: {h}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "healthz never said draining: {h}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (ok, out) = confer(&["node", "list", "--data-dir", &data_dir]);
    assert!(ok && out.contains(&id) && out.contains("draining"), "{out}");

    // A new visit does not start here; the token is not used up by the refusal.
    let other = app
        .create_visit(chrono::Duration::zero(), chrono::Duration::minutes(30))
        .await;
    let token = app.demo_lawyer_token(other).await;
    let mut sig = app.signaling(&app::Identity::None).await;
    sig.hello().await.unwrap();
    let err = sig
        .join(&token)
        .await
        .expect_err("no new visit on a draining node");
    assert_eq!(err.code(), Some(ErrorCode::Unavailable), "{err}");
    assert!(err.to_string().contains("out of service"), "{err}");
    let (_, audit) = app.audit_read(&format!("?visit={other}")).await;
    assert!(
        audit.to_string().contains("node_draining"),
        "audited: {audit}"
    );

    // The live visit goes on, and the node is not drained while it does.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(10), app.running.drained())
            .await
            .is_err(),
        "drained while a visit is live"
    );
    lawyer.leave().await.unwrap();
    booth.leave().await.unwrap();
    tokio::time::timeout(WAIT, app.running.drained())
        .await
        .expect("the node is drained once its last visit has ended");

    // Undo before it exits: it takes visits again.
    let (ok, out) = confer(&["node", "drain", "--undo", "--data-dir", &data_dir]);
    assert!(ok, "{out}");
    wait_nodes(&app, "the node is alive again", |n| {
        n[0]["state"] == "alive"
    })
    .await;
    let (ok, out) = confer(&[
        "node",
        "drain",
        "--node",
        "no-such-node",
        "--data-dir",
        &data_dir,
    ]);
    assert!(!ok && out.contains("no node"), "{out}");
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_see_each_other_and_a_dead_one_within_ten_seconds() {
    let Some(first) = app::spawn_app_on(app::Backend::Postgres, |_| {}).await else {
        return;
    };
    let url = first.store_url.clone().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = confer::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.http.addr = "127.0.0.1:0".parse().unwrap();
    config.media.addr = "127.0.0.1:0".parse().unwrap();
    config.admin.addr = "127.0.0.1:0".parse().unwrap();
    config.store.url = Some(url);
    config.node.id = Some("second".into());
    config.node.capacity = 150;
    config.audit.append_timeout_ms = 30_000;
    config.validate().unwrap();
    let second = confer::app::start(config)
        .await
        .expect("the second node starts");

    let n = wait_nodes(&first, "both nodes alive", |n| {
        n.len() == 2 && n.iter().all(|x| x["state"] == "alive")
    })
    .await;
    let s = n
        .iter()
        .find(|x| x["id"] == "second")
        .expect("the second node");
    assert_eq!(s["capacity"], 150);
    assert_eq!(
        s["public_url"],
        format!("https://{}", second.http_addr),
        "{s}"
    );

    // The second node stops beating (its process gone): the first sees it dead.
    second.shutdown().await;
    let stopped = Instant::now();
    wait_nodes(&first, "the stopped node is seen dead", |n| {
        n.iter()
            .any(|x| x["id"] == "second" && x["state"] == "dead")
    })
    .await;
    let took = stopped.elapsed();
    println!(
        "a stopped node was seen dead {:.1} s after it stopped",
        took.as_secs_f64()
    );
    // Its last beat was at most 3 s before it stopped; dead means 10 s without one.
    assert!(took <= Duration::from_secs(15), "{took:?}");
    let n = nodes(&first).await;
    assert!(
        n.iter()
            .any(|x| x["state"] == "alive" && x["id"] != "second"),
        "the first node stays alive: {n:?}"
    );
    first.running.shutdown().await;
}
