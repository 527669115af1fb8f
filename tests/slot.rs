//! The slot is enforced by the server: warnings before the end reach every
//! participant, the visit ends at the persisted deadline, and a restart does not move it.
//! R-ARRANGE-4 (a slot has an end), docs/DESIGN.md invariant 5.

#[path = "support/app.rs"]
mod app;

use app::{spawn_app_with, Identity};
use confer_signaling::{EndReason, SignalingClient, VisitNotice};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

/// Notices until the visit ends: the warnings seen (minutes left, in order) and the end.
async fn until_end(sig: &mut SignalingClient) -> (Vec<u32>, EndReason) {
    let mut warnings = Vec::new();
    loop {
        match sig.next_notice_timeout(WAIT).await.expect("a notice") {
            VisitNotice::TimeWarning { minutes_left } => warnings.push(minutes_left),
            VisitNotice::VisitEnded { reason, .. } => return (warnings, reason),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_twenty_second_slot_warns_both_sides_twice_then_ends() {
    // Test configuration: warnings 10 s and 5 s before the end of a 20-second slot.
    let app = spawn_app_with(|c| c.visit.warning_secs = vec![10, 5]).await;
    let visit = app
        .create_visit(chrono::Duration::seconds(-1), chrono::Duration::seconds(20))
        .await;
    let mut lawyer = app
        .joined(&Identity::None, &app.demo_lawyer_token(visit).await)
        .await;
    let mut booth = app
        .joined(&app.demo_booth(), &app.demo_booth_token(visit).await)
        .await;
    for (name, sig) in [("lawyer", &mut lawyer), ("booth", &mut booth)] {
        let (warnings, reason) = until_end(sig).await;
        assert_eq!(warnings.len(), 2, "{name}: {warnings:?}");
        assert!(
            warnings.iter().all(|m| *m == 1),
            "{name}: under a minute left: {warnings:?}"
        );
        assert_eq!(reason, EndReason::SlotOver, "{name}");
    }
    // Media stopped: the visit is no longer live, and it is recorded as ended.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.running.state.hub.live_count(), 0);
    let row = app
        .running
        .state
        .store
        .visit(confer::ids::VisitId(visit))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.end_reason.as_deref(), Some("slot_over"));
    let (_, audit) = app.audit_read(&format!("?visit={visit}")).await;
    let warned = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["record"]["kind"] == "visit_warned")
        .count();
    assert_eq!(warned, 2, "every warning is audited");
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_visit_keeps_the_original_deadline() {
    let app = spawn_app_with(|c| c.visit.warning_secs = vec![5]).await;
    let visit = app
        .create_visit(chrono::Duration::seconds(-1), chrono::Duration::seconds(15))
        .await;
    let deadline = app
        .running
        .state
        .store
        .visit(confer::ids::VisitId(visit))
        .await
        .unwrap()
        .unwrap()
        .ends_at;
    let mut lawyer = app
        .joined(&Identity::None, &app.demo_lawyer_token(visit).await)
        .await;
    let app = app.restart().await;
    // The old connection was told the server is restarting.
    let (_, reason) = until_end(&mut lawyer).await;
    assert_eq!(reason, EndReason::ServerShutdown);
    // Rejoin after the restart: the visit ends at the persisted deadline, not later.
    let mut lawyer = app
        .joined(&Identity::None, &app.demo_lawyer_token(visit).await)
        .await;
    let (_, reason) = until_end(&mut lawyer).await;
    let ended = chrono::Utc::now();
    assert_eq!(reason, EndReason::SlotOver);
    let late = (ended - deadline).num_milliseconds();
    assert!(
        (-1000..=1000).contains(&late),
        "ended {late} ms from the original deadline"
    );
    app.running.shutdown().await;
}
