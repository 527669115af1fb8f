//! Audit volume under a flood (docs/DESIGN.md invariant 3, R-VERIFY-4): refused requests
//! from parties nobody identified — sign-ins refused for too many attempts, forged join
//! tokens on `/ws`, booth requests without a certificate — are counted per class, reason
//! and minute, so one client writes a handful of chained entries however fast it sends.
//! Decisions about identified parties stay one entry each. The entries/s figure is printed.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app, Identity, TestApp};
use confer::store::audit::AuditFilter;
use confer_signaling::ErrorCode;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FLOOD_FOR: Duration = Duration::from_secs(4);

async fn entries(app: &TestApp) -> Vec<serde_json::Value> {
    app.running
        .state
        .audit
        .query(&AuditFilter {
            visit: None,
            lawyer: None,
            from_ms: None,
            to_ms: None,
            after_seq: 0,
            limit: 100_000,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.record)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flood_of_unauthenticated_refusals_writes_a_few_counted_entries() {
    let app = Arc::new(spawn_app().await);
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    // Spend the sign-in budget of the demo lawyer's account first (each of these is checked
    // and recorded on its own): from then on every sign-in is refused before any check.
    let client = app.client(&Identity::None);
    loop {
        let resp = client
            .post(app.url("/api/lawyer/login"))
            .json(&json!({"username": app.lawyer_username, "password": "wrong password guess"}))
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            break;
        }
    }
    let before = entries(&app).await.len();
    let sent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for task in 0..6 {
        let (app, sent) = (app.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let client = app.client(&Identity::None);
            let mut sig = None;
            while started.elapsed() < FLOOD_FOR {
                match task % 3 {
                    // Sign-ins against one account: after the budget, each is a 429.
                    0 => {
                        let _ = client
                            .post(app.url("/api/lawyer/login"))
                            .json(&json!({"username": app.lawyer_username, "password": "wrong password guess"}))
                            .send()
                            .await;
                    }
                    // A forged join token on /ws.
                    1 => {
                        if sig.is_none() {
                            let mut s = app.signaling(&Identity::None).await;
                            s.hello().await.unwrap();
                            sig = Some(s);
                        }
                        match sig.as_mut().unwrap().join("v1.eyJqdGkiOiJ4In0.AAAA").await {
                            Ok(_) => panic!("a forged token joined"),
                            // Refused with the socket kept open: send the next one on it.
                            Err(e) if e.code() == Some(ErrorCode::InvalidToken) => {}
                            // The server closed the socket: start again.
                            Err(_) => sig = None,
                        }
                    }
                    // A booth request without a certificate.
                    _ => {
                        let status = client
                            .post(app.url(&format!("/api/booth/visits/{visit}/join-token")))
                            .send()
                            .await
                            .unwrap()
                            .status();
                        assert_ne!(status, 200);
                    }
                }
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    // The counts of the minute(s) the flood touched are written when each minute ends; ask
    // for them now instead of waiting.
    app.running.state.audit.flush_counted().await;
    let after = entries(&app).await;
    let written = after.len() - before;
    let requests = sent.load(Ordering::Relaxed);
    let counted: u64 = after
        .iter()
        .filter(|r| r["kind"] == "unauthenticated_requests")
        .map(|r| r["count"].as_u64().unwrap())
        .sum();
    println!(
        "audit_volume figures: {requests} refused requests in {:.1} s wrote {written} audit entries ({:.1} entries/s; {:.0} requests/s), {counted} requests counted in them",
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64(),
        requests as f64 / elapsed.as_secs_f64(),
    );
    assert!(requests > 50, "the flood ran: {requests}");
    // Three classes, a few reasons, at most two minutes touched; plus the failed sign-ins
    // inside the budget (identified attempts, one entry each) and checkpoints.
    assert!(
        written <= 40,
        "{written} entries for {requests} refused requests"
    );
    for class in [
        "login_failed",
        "join_token_rejected",
        "certificate_rejected",
    ] {
        assert!(
            after
                .iter()
                .any(|r| r["kind"] == "unauthenticated_requests" && r["class"] == class),
            "{class} counted"
        );
    }
    let app = Arc::try_unwrap(app).ok().unwrap();
    app.running.shutdown().await;
}
