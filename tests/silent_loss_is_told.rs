//! R-REMOTE-2, liveness: a lawyer whose network vanishes without a FIN or RST (media stops,
//! the signalling socket stays open but carries nothing) is told to the booth as
//! `participant_reconnecting` within 10 s, keeps its seat for the grace period, and is then
//! told as `participant_left`, or, when it rejoins with a new join token in time, as
//! `participant_joined`, with media flowing to the booth again. Every change goes through
//! the visit hub (docs/DESIGN.md invariant 8). Two webrtc-rs peers (tests/support/peer.rs);
//! the lawyer's signalling runs through a relay that can fall silent (tests/support/relay.rs).
//!
//! Run with `--nocapture` to see the time from silence to each notice.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/relay.rs"]
mod relay;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app_with, Identity, TestApp};
use confer_signaling::{Role, ServerMessage, SignalingClient, VisitNotice};
use peer::{sender_tag, MediaKind, SendRates, TestPeer};
use relay::Relay;
use side::{Side, NOTICE_WAIT};
use std::time::{Duration, Instant};

/// The protocol's promise (R-REMOTE-2, signaling/PROTOCOL.md "Liveness"): the others hear
/// of a silent loss within 10 s.
const TOLD_WITHIN: Duration = Duration::from_secs(10);

/// The lawyer's side, with its signalling through `relay`.
async fn lawyer_through(app: &TestApp, relay: &Relay, visit: i64) -> Side {
    let mut sig = SignalingClient::connect(
        &relay.ws_url(),
        app::tls_client(&app.ca_pem, &Identity::None),
    )
    .await
    .expect("wss through the relay");
    sig.hello().await.expect("hello");
    sig.join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("lawyer join");
    let peer = TestPeer::new("lawyer").await;
    let answer = sig
        .offer(&peer.create_offer().await)
        .await
        .expect("lawyer offer");
    peer.set_answer(&answer).await;
    Side { sig, peer }
}

/// Both sides joined, connected and sending to each other; the lawyer through `relay`.
async fn both_sending(app: &TestApp, relay: &Relay, visit: i64) -> (Side, Side) {
    let lawyer = lawyer_through(app, relay, visit).await;
    let booth = side::join(
        app,
        &app.demo_booth(),
        &app.demo_booth_token(visit).await,
        "booth",
    )
    .await;
    for (s, label) in [(&lawyer, "lawyer"), (&booth, "booth")] {
        s.peer
            .wait_connected(NOTICE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{label} connected: {e}"));
        s.peer
            .start_sending(Duration::from_secs(120), SendRates::default())
            .await
            .unwrap_or_else(|e| panic!("{label} sending: {e}"));
    }
    for (s, label) in [(&lawyer, "lawyer"), (&booth, "booth")] {
        s.peer
            .wait_received(MediaKind::Video, 30, NOTICE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{label} receives: {e}"));
    }
    (lawyer, booth)
}

/// The lawyer falls silent: its peer stops sending and its signalling relay carries nothing
/// more, while every socket stays open.
fn go_silent(lawyer: &Side, relay: &Relay) -> Instant {
    relay.go_silent();
    lawyer.peer.stop_sending();
    Instant::now()
}

/// The next notice on `sig` for which `wanted` holds, skipping others; fails after `wait`.
async fn notice_where(
    sig: &mut SignalingClient,
    wait: Duration,
    wanted: impl Fn(&VisitNotice) -> bool,
) -> VisitNotice {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sig.recv_timeout(left).await {
            Ok(ServerMessage::Notice { notice }) if wanted(&notice) => return notice,
            Ok(_) => continue,
            Err(e) => panic!("no such notice within {wait:?}: {e}"),
        }
    }
}

fn reconnecting_lawyer(n: &VisitNotice) -> bool {
    *n == VisitNotice::ParticipantReconnecting { role: Role::Lawyer }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_who_goes_silent_is_told_as_reconnecting_within_10_s_then_as_left_after_the_grace_period(
) {
    // A short grace period for the test (default 60 s).
    let app = spawn_app_with(|c| c.visit.reconnect_grace_secs = 3).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let relay = Relay::start(app.running.http_addr).await;
    let (lawyer, mut booth) = both_sending(&app, &relay, visit).await;

    let silent_since = go_silent(&lawyer, &relay);
    let notice = notice_where(&mut booth.sig, NOTICE_WAIT, |n| {
        reconnecting_lawyer(n) || matches!(n, VisitNotice::ParticipantLeft { .. })
    })
    .await;
    let told_after = silent_since.elapsed();
    println!("silence to participant_reconnecting: {told_after:?}");
    assert_eq!(
        notice,
        VisitNotice::ParticipantReconnecting { role: Role::Lawyer }
    );
    assert!(
        told_after < TOLD_WITHIN,
        "the booth heard of the silent lawyer after {told_after:?}"
    );
    assert!(app
        .running
        .state
        .hub
        .role_interrupted(confer::ids::VisitId(visit), confer::ids::Role::Lawyer));

    // No return: at the end of the grace period the booth is told that the lawyer left.
    let left = notice_where(&mut booth.sig, NOTICE_WAIT, |n| {
        matches!(n, VisitNotice::ParticipantLeft { .. })
    })
    .await;
    println!(
        "silence to participant_left (grace 3 s): {:?}",
        silent_since.elapsed()
    );
    assert_eq!(left, VisitNotice::ParticipantLeft { role: Role::Lawyer });
    assert!(
        silent_since.elapsed() >= Duration::from_secs(3),
        "not before the grace period is over"
    );
    // The hub recorded the departure (docs/DESIGN.md invariant 3), and the visit goes on for
    // the booth.
    let (status, audit) = app.audit_read(&format!("?visit={visit}")).await;
    assert_eq!(status, 200, "{audit}");
    assert!(
        audit.to_string().contains("participant_left"),
        "participant_left is audited: {audit}"
    );
    booth
        .sig
        .ping()
        .await
        .expect("the booth is still in the visit");
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_who_rejoins_within_the_grace_period_is_told_as_back_and_media_flows_again() {
    // A grace period that the rejoin fits in, yet ends during the test: its end must then
    // change nothing.
    let grace = Duration::from_secs(10);
    let app = spawn_app_with(|c| c.visit.reconnect_grace_secs = grace.as_secs()).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let relay = Relay::start(app.running.http_addr).await;
    let (lawyer, mut booth) = both_sending(&app, &relay, visit).await;

    let silent_since = go_silent(&lawyer, &relay);
    notice_where(&mut booth.sig, NOTICE_WAIT, reconnecting_lawyer).await;
    let told_after = silent_since.elapsed();
    println!("silence to participant_reconnecting: {told_after:?}");
    assert!(told_after < TOLD_WITHIN, "{told_after:?}");
    let told_at = Instant::now();

    // The lawyer's browser comes back on a working network: a new join token, a new
    // connection and peer; its silent old connection is replaced (R-VERIFY-4: one device).
    let again_label = "lawyer-again";
    assert_ne!(sender_tag(again_label), sender_tag("lawyer"));
    let again = side::join(
        &app,
        &Identity::None,
        &app.demo_lawyer_token(visit).await,
        again_label,
    )
    .await;
    let back = notice_where(&mut booth.sig, NOTICE_WAIT, |n| {
        matches!(
            n,
            VisitNotice::ParticipantJoined { .. } | VisitNotice::ParticipantLeft { .. }
        )
    })
    .await;
    println!(
        "silence to participant_joined after the rejoin: {:?}",
        silent_since.elapsed()
    );
    assert_eq!(back, VisitNotice::ParticipantJoined { role: Role::Lawyer });
    assert!(
        told_at.elapsed() < grace,
        "the rejoin took longer than the grace period"
    );

    again
        .peer
        .wait_connected(NOTICE_WAIT)
        .await
        .expect("the new lawyer peer connects");
    let from_new = |booth: &Side| {
        booth
            .peer
            .received(MediaKind::Video)
            .iter()
            .filter(|r| {
                r.marker
                    .is_some_and(|m| m.sender_tag == sender_tag(again_label))
            })
            .count()
    };
    assert_eq!(from_new(&booth), 0);
    let before = booth.peer.received_count(MediaKind::Video);
    again
        .peer
        .start_sending(Duration::from_secs(60), SendRates::default())
        .await
        .expect("the new lawyer peer sends");
    booth
        .peer
        .wait_received(MediaKind::Video, before + 30, NOTICE_WAIT)
        .await
        .expect("media flows to the booth again");
    assert!(from_new(&booth) > 0, "the booth sees the returned lawyer");

    // Past the end of the old grace period: nobody is told that the lawyer left, and the
    // returned lawyer holds the seat.
    let until_grace_over = grace.saturating_sub(told_at.elapsed()) + Duration::from_secs(2);
    let deadline = tokio::time::Instant::now() + until_grace_over;
    while let Ok(msg) = tokio::time::timeout_at(deadline, booth.sig.recv()).await {
        match msg.expect("booth signalling") {
            ServerMessage::Notice { notice } => assert!(
                !matches!(
                    notice,
                    VisitNotice::ParticipantLeft { .. }
                        | VisitNotice::ParticipantReconnecting { .. }
                ),
                "after the return: {notice:?}"
            ),
            _ => continue,
        }
    }
    assert!(!app
        .running
        .state
        .hub
        .role_interrupted(confer::ids::VisitId(visit), confer::ids::Role::Lawyer));
    let grown = booth.peer.received_count(MediaKind::Video);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        booth.peer.received_count(MediaKind::Video) > grown,
        "media still flows to the booth"
    );
    drop(lawyer);
    app.running.shutdown().await;
}
