//! A live visit ended by its request (R-ARRANGE-5, docs/DESIGN.md invariant 8): when the
//! lawyer cancels the request of a visit that is running, or staff record that the
//! detainee declined it in writing, the visit ends through the visit hub before the
//! answer is sent: both sides receive `visit_ended` (`cancelled` / `declined`) and media
//! stops within a second.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app, Identity, TestApp};
use chrono::Utc;
use confer_signaling::EndReason;
use peer::{MediaKind, SendRates};
use reqwest::Method;
use serde_json::{json, Value};
use side::{connected_visit, visit_ended, Side};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);
const FACILITY: &str = "demo-facility";

/// `(status, body)` of a lawyer API call.
async fn lawyer(
    app: &TestApp,
    session: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .client(&Identity::None)
        .request(method, app.url(path))
        .bearer_auth(session);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request");
    (
        resp.status().as_u16(),
        resp.json().await.unwrap_or(Value::Null),
    )
}

/// The demo lawyer asks for a walk-in visit with the demo detainee, placed at once on the
/// demo booth (the seeded demo visit is ended first, the facility opened around the
/// clock); both sides join it and media flows both ways. Returns the request, its visit
/// and the two sides.
async fn live_visit_from_a_request(app: &TestApp) -> (i64, i64, Side, Side) {
    let now_ms = Utc::now().timestamp_millis();
    app.sql(&[&format!(
        "UPDATE visits SET ended_at = {now_ms}, end_reason = 'test_fixture' WHERE ended_at IS NULL"
    )])
    .await;
    let hours: Vec<Value> = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .iter()
        .map(|d| json!({ "weekday": d, "opens": "00:00", "closes": "24:00" }))
        .collect();
    let (s, b) = app
        .admin(
            Method::PUT,
            &format!("/admin/api/facilities/{FACILITY}/hours"),
            Some(json!({ "hours": hours })),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let me = app.demo_lawyer_session().await;
    let (s, r) = lawyer(
        app,
        &me,
        Method::POST,
        "/api/lawyer/requests",
        Some(
            json!({ "facility": FACILITY, "detainee_ref": confer::demo::DEMO_DETAINEE_REF,
            "expected_minutes": 60 }),
        ),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["status"], "placed", "{r}");
    assert_eq!(r["slot"]["booth"], confer::app::DEMO_BOOTH, "{r}");
    let request = r["id"].as_i64().unwrap();
    let visit = r["visit_id"].as_i64().unwrap();

    let (lawyer_side, booth_side) = connected_visit(app, visit).await;
    for side in [&lawyer_side, &booth_side] {
        side.peer
            .start_sending(Duration::from_secs(30), SendRates::default())
            .await
            .unwrap();
    }
    for side in [&lawyer_side, &booth_side] {
        side.peer
            .wait_received(MediaKind::Video, 10, WAIT)
            .await
            .expect("media flows before the end");
    }
    (request, visit, lawyer_side, booth_side)
}

/// Both sides are told `reason`, and no media reaches either of them once a second has
/// passed since `asked`.
async fn both_told_and_media_stopped(
    lawyer: &mut Side,
    booth: &mut Side,
    reason: EndReason,
    asked: Instant,
) {
    for sig in [&mut lawyer.sig, &mut booth.sig] {
        let (got, message) = visit_ended(sig).await;
        assert_eq!(got, reason, "{message}");
        assert!(!message.is_empty());
    }
    tokio::time::sleep(Duration::from_secs(1).saturating_sub(asked.elapsed())).await;
    let count = || {
        booth.peer.received_count(MediaKind::Video)
            + lawyer.peer.received_count(MediaKind::Video)
            + booth.peer.received_count(MediaKind::Audio)
            + lawyer.peer.received_count(MediaKind::Audio)
    };
    let before = count();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(before, count(), "media kept flowing a second after the end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_who_cancels_a_live_visit_ends_it_for_both_sides_and_media_stops() {
    // docs/DESIGN.md invariant 8: the cancel ends the live visit through the hub.
    let app = spawn_app().await;
    let (request, visit, mut lawyer_side, mut booth_side) = live_visit_from_a_request(&app).await;
    assert!(app.running.state.hub.is_live(confer::ids::VisitId(visit)));
    let me = app.demo_lawyer_session().await;
    let asked = Instant::now();
    let (s, c) = lawyer(
        &app,
        &me,
        Method::POST,
        &format!("/api/lawyer/requests/{request}/cancel"),
        None,
    )
    .await;
    assert_eq!((s, c["status"].clone()), (200, json!("cancelled")), "{c}");
    // The end is done before the answer: nobody is left in the visit.
    assert!(!app.running.state.hub.is_live(confer::ids::VisitId(visit)));
    both_told_and_media_stopped(
        &mut lawyer_side,
        &mut booth_side,
        EndReason::Cancelled,
        asked,
    )
    .await;
    // The visit's end is recorded as the cancel, and nobody can join it again.
    let (_, visits) = app.admin(Method::GET, "/admin/api/visits", None).await;
    let v = visits["visits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == visit)
        .expect("the visit");
    assert_eq!(v["end_reason"], "cancelled", "{v}");
    let (status, _) = app.lawyer_join_token(&me, visit).await;
    assert_ne!(status, 200, "no join token for a cancelled visit");
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staff_recorded_decline_of_a_live_visit_ends_it_for_both_sides_and_media_stops() {
    // R-ARRANGE-5 and docs/DESIGN.md invariant 8: the decline ends the live visit through
    // the hub.
    let app = spawn_app().await;
    let (request, visit, mut lawyer_side, mut booth_side) = live_visit_from_a_request(&app).await;
    let resp = app
        .admin_client()
        .put(app.admin_url(&format!("/admin/api/requests/{request}/written-refusal")))
        .bearer_auth(&app.admin_token)
        .body(&b"%PDF-1.4\n% written refusal, signed by the detainee\n%%EOF\n"[..])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let asked = Instant::now();
    let (s, d) = app
        .admin(
            Method::POST,
            &format!("/admin/api/requests/{request}/decline"),
            Some(json!({ "note": "Declined the visit in writing" })),
        )
        .await;
    assert_eq!((s, d["status"].clone()), (200, json!("declined")), "{d}");
    assert!(!app.running.state.hub.is_live(confer::ids::VisitId(visit)));
    both_told_and_media_stopped(
        &mut lawyer_side,
        &mut booth_side,
        EndReason::Declined,
        asked,
    )
    .await;
    let (_, visits) = app.admin(Method::GET, "/admin/api/visits", None).await;
    let v = visits["visits"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == visit)
        .expect("the visit");
    assert_eq!(v["end_reason"], "declined_by_detainee", "{v}");
    app.running.shutdown().await;
}
