//! R-REMOTE-2, the signalling keepalive: the server pings every `/ws` connection every 5 s
//! and closes one from which nothing (no frame, no Pong) arrived for 15 s, so a dead
//! connection is found within 15 s, while one that keeps answering stays open however long
//! nobody says anything. A seat lost that way goes through the visit hub like every other
//! change of a live visit (docs/DESIGN.md invariant 8): the others hear
//! `participant_reconnecting`.
//!
//! "Never answers" is made with a relay that falls silent (tests/support/relay.rs): the
//! Rust client, like a browser, answers Pings by itself, even while its owner is not
//! reading. No media flows in these tests, so only the keepalive can find the loss.

#[path = "support/app.rs"]
mod app;
#[path = "support/relay.rs"]
mod relay;

use app::{spawn_app, Identity};
use confer_signaling::{Role, ServerMessage, SignalingClient, VisitNotice};
use relay::Relay;
use std::time::{Duration, Instant};

/// The protocol's deadline for a dead connection (signaling/PROTOCOL.md "Liveness").
const DEAD_WITHIN: Duration = Duration::from_secs(15);
/// Slack for scheduling on a busy test machine, on top of the protocol's deadline.
const MARGIN: Duration = Duration::from_secs(3);

fn lawyer_interrupted(app: &app::TestApp, visit: i64) -> bool {
    app.running
        .state
        .hub
        .role_interrupted(confer::ids::VisitId(visit), confer::ids::Role::Lawyer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joined_connection_that_answers_nothing_is_closed_as_dead_within_15_s() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let relay = Relay::start(app.running.http_addr).await;
    let mut lawyer = SignalingClient::connect(
        &relay.ws_url(),
        app::tls_client(&app.ca_pem, &Identity::None),
    )
    .await
    .expect("wss through the relay");
    lawyer.hello().await.unwrap();
    lawyer
        .join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("lawyer joins");
    let mut booth = app
        .joined(&app.demo_booth(), &app.demo_booth_token(visit).await)
        .await;

    relay.go_silent();
    let silent_since = Instant::now();
    let notice = loop {
        match booth
            .recv_timeout(DEAD_WITHIN + MARGIN)
            .await
            .expect("the booth is told before the deadline")
        {
            ServerMessage::Notice { notice } => break notice,
            _ => continue,
        }
    };
    let found_after = silent_since.elapsed();
    println!("silence to participant_reconnecting (keepalive only): {found_after:?}");
    assert_eq!(
        notice,
        VisitNotice::ParticipantReconnecting { role: Role::Lawyer }
    );
    assert!(
        found_after <= DEAD_WITHIN + MARGIN,
        "found after {found_after:?}"
    );
    // The server let the connection go; the seat is held for the grace period.
    assert!(lawyer_interrupted(&app, visit));
    assert!(app.running.state.hub.is_live(confer::ids::VisitId(visit)));
    drop(lawyer);
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_answers_pings_stays_open_for_20_s_of_quiet() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut lawyer = app
        .joined(&Identity::None, &app.demo_lawyer_token(visit).await)
        .await;
    let mut booth = app
        .joined(&app.demo_booth(), &app.demo_booth_token(visit).await)
        .await;

    // Nobody sends a message for 20 s; the clients' own tasks answer the server's Pings.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert!(!lawyer_interrupted(&app, visit));
    lawyer
        .ping()
        .await
        .expect("the lawyer's connection is open");
    booth.ping().await.expect("the booth's connection is open");
    for (name, sig) in [("lawyer", &mut lawyer), ("booth", &mut booth)] {
        while let Ok(msg) = sig.recv_timeout(Duration::from_millis(200)).await {
            if let ServerMessage::Notice { notice } = msg {
                assert!(
                    matches!(notice, VisitNotice::ParticipantJoined { .. }),
                    "{name}: {notice:?}"
                );
            }
        }
    }
    app.running.shutdown().await;
}
