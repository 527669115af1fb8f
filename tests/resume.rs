//! R-REMOTE-2, "survives the network": a participant whose signalling connection drops takes
//! its kept seat back with its resume credential (same seat, no new admission round, the
//! others told it is back), and a participant whose network changes restarts ICE on the same
//! signalling connection (new ICE credentials, a new local address) and its media flows again
//! on the new path. A resume credential is single use, bound to its device, and refused after
//! the slot end, after a staff stop and once the grace period is over; every resume and every
//! refusal is in the audit log. Two webrtc-rs peers (tests/support/peer.rs); the lawyer's
//! signalling runs through a relay that can fall silent (tests/support/relay.rs).
//!
//! `cargo test --test resume -- --ignored --nocapture ice_restart_recovery_figures` prints
//! the time from a network change to media again (p50, p99 over 25 ICE restarts).

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/relay.rs"]
mod relay;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app_with, tls_client, Identity, TestApp};
use confer_signaling::{ErrorCode, Role, ServerMessage, SignalingClient, VisitNotice};
use peer::{MediaKind, SendRates, TestPeer};
use relay::Relay;
use reqwest::Method;
use serde_json::json;
use side::{Side, NOTICE_WAIT};
use std::time::{Duration, Instant};

const LAWYER_TAB: &str = "lawyer-tab-1";

/// Short keepalive and grace settings so that a lost connection is found within seconds.
fn quick_liveness(c: &mut confer::config::Config, grace_secs: u64) {
    c.signaling.ping_interval_secs = 1;
    c.signaling.dead_after_secs = 2;
    c.visit.reconnect_grace_secs = grace_secs;
}

/// The lawyer joined at `url` from the device `LAWYER_TAB`, its peer negotiated; returns
/// the side and the resume credential of its `joined`.
async fn lawyer_at(app: &TestApp, url: &str, visit: i64, peer: TestPeer) -> (Side, String) {
    let mut sig = SignalingClient::connect(url, tls_client(&app.ca_pem, &Identity::None))
        .await
        .expect("wss");
    sig.set_device(LAWYER_TAB);
    sig.hello().await.expect("hello");
    let joined = sig
        .join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("lawyer join");
    let grant = joined.resume.expect("a resume credential with joined");
    assert!(grant.expires_at <= joined.slot_ends_at);
    let answer = sig
        .offer(&peer.create_offer().await)
        .await
        .expect("lawyer offer");
    peer.set_answer(&answer).await;
    (Side { sig, peer }, grant.token.expose().to_owned())
}

/// A new connection from `device` that asks to resume with `token`.
async fn resume_from(
    app: &TestApp,
    device: &str,
    token: &str,
) -> (
    SignalingClient,
    Result<confer_signaling::Joined, confer_signaling::ClientError>,
) {
    let mut sig = SignalingClient::connect(&app.ws_url(), tls_client(&app.ca_pem, &Identity::None))
        .await
        .expect("wss");
    sig.set_device(device);
    sig.hello().await.expect("hello");
    let outcome = sig.resume(token).await;
    (sig, outcome)
}

/// Both sides connected and sending; the booth joined directly.
async fn both_sending(app: &TestApp, lawyer: &Side, visit: i64) -> Side {
    let booth = side::join(
        app,
        &app.demo_booth(),
        &app.demo_booth_token(visit).await,
        "booth",
    )
    .await;
    for (s, label) in [(lawyer, "lawyer"), (&booth, "booth")] {
        s.peer
            .wait_connected(NOTICE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{label} connected: {e}"));
        s.peer
            .start_sending(Duration::from_secs(120), SendRates::default())
            .await
            .unwrap_or_else(|e| panic!("{label} sending: {e}"));
    }
    for (s, label) in [(lawyer, "lawyer"), (&booth, "booth")] {
        s.peer
            .wait_received(MediaKind::Video, 30, NOTICE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{label} receives: {e}"));
    }
    booth
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

/// Waits until `peer` has received `more` video packets beyond `since` packets.
async fn video_flows_again(peer: &TestPeer, since: usize, more: usize) {
    peer.wait_received(MediaKind::Video, since + more, NOTICE_WAIT)
        .await
        .unwrap_or_else(|e| panic!("{}: media again: {e}", peer.label()));
}

/// The audit entries of `visit` as `(kind, reason)`.
async fn audit_of(app: &TestApp, visit: i64) -> Vec<(String, Option<String>)> {
    let (status, audit) = app.audit_read(&format!("?visit={visit}")).await;
    assert_eq!(status, 200, "{audit}");
    audit["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            (
                e["record"]["kind"].as_str().unwrap_or_default().to_owned(),
                e["record"]["reason"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn count(audit: &[(String, Option<String>)], kind: &str) -> usize {
    audit.iter().filter(|(k, _)| k == kind).count()
}

fn refused_for(audit: &[(String, Option<String>)], reason: &str) -> bool {
    audit
        .iter()
        .any(|(k, r)| k == "resume_refused" && r.as_deref() == Some(reason))
}

fn refusal_code(
    outcome: Result<confer_signaling::Joined, confer_signaling::ClientError>,
) -> (Option<ErrorCode>, String) {
    let err = outcome.expect_err("the resume is refused");
    (err.code(), err.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_whose_signalling_drops_resumes_the_same_seat_and_its_credential_works_once_and_only_on_its_device(
) {
    let app = spawn_app_with(|c| quick_liveness(c, 30)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let relay = Relay::start(app.running.http_addr).await;
    let (lawyer, first) =
        lawyer_at(&app, &relay.ws_url(), visit, TestPeer::new("lawyer").await).await;
    let mut booth = both_sending(&app, &lawyer, visit).await;

    // The signalling connection vanishes (no FIN); media goes on. The server finds the
    // connection dead and the booth is told the lawyer is reconnecting.
    relay.go_silent();
    notice_where(&mut booth.sig, NOTICE_WAIT, |n| {
        *n == VisitNotice::ParticipantReconnecting { role: Role::Lawyer }
    })
    .await;

    // A new connection from the same tab takes the same seat back: no join token.
    let (mut again, outcome) = resume_from(&app, LAWYER_TAB, &first).await;
    let back = outcome.expect("the resume is accepted");
    assert_eq!(
        (back.visit_id, back.role),
        (visit, confer_signaling::Role::Lawyer)
    );
    assert_eq!(back.participants, vec![Role::Booth]);
    let next = back
        .resume
        .expect("a new credential with the resumed joined");
    assert_ne!(next.token.expose(), first, "rotated");
    notice_where(&mut booth.sig, NOTICE_WAIT, |n| {
        *n == VisitNotice::ParticipantJoined { role: Role::Lawyer }
    })
    .await;
    // Same seat, same media peer: the lawyer's media still reaches the booth, and the
    // booth's the lawyer.
    video_flows_again(&booth.peer, booth.peer.received_count(MediaKind::Video), 30).await;
    video_flows_again(
        &lawyer.peer,
        lawyer.peer.received_count(MediaKind::Video),
        30,
    )
    .await;
    // The resumed connection is a full participant: a ping, and a second offer that is not
    // an ICE restart is refused as before.
    again.ping().await.expect("the resumed connection answers");

    // Single use: the first credential is spent.
    let (_s, replay) = resume_from(&app, LAWYER_TAB, &first).await;
    assert_eq!(refusal_code(replay).0, Some(ErrorCode::ResumeReplayed));
    // Bound to the device: the new credential does not work from another tab.
    let (_s, stolen) = resume_from(&app, "another-tab", next.token.expose()).await;
    let (code, text) = refusal_code(stolen);
    assert_eq!(code, Some(ErrorCode::ResumeWrongDevice), "{text}");
    assert!(text.contains("另一台设备"), "Chinese sentence too: {text}");
    // Garbage is refused as well.
    let (_s, garbage) = resume_from(&app, LAWYER_TAB, "not-a-credential").await;
    assert_eq!(refusal_code(garbage).0, Some(ErrorCode::ResumeInvalid));

    // One resume, not a new admission: the lawyer and the booth were admitted once each.
    let audit = audit_of(&app, visit).await;
    assert_eq!(count(&audit, "participant_resumed"), 1, "{audit:?}");
    assert_eq!(count(&audit, "admission_granted"), 2, "{audit:?}");
    assert_eq!(count(&audit, "join_token_used"), 2, "{audit:?}");
    assert!(refused_for(&audit, "resume_replayed"), "{audit:?}");
    assert!(refused_for(&audit, "resume_wrong_device"), "{audit:?}");
    drop(again);
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_is_refused_after_a_staff_stop_and_once_the_grace_period_is_over() {
    let app = spawn_app_with(|c| quick_liveness(c, 2)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;

    // The grace period: the lawyer's network vanishes for good (signalling and media).
    let relay = Relay::start(app.running.http_addr).await;
    let (lawyer, token) =
        lawyer_at(&app, &relay.ws_url(), visit, TestPeer::new("lawyer").await).await;
    let mut booth = both_sending(&app, &lawyer, visit).await;
    relay.go_silent();
    lawyer.peer.stop_sending();
    notice_where(&mut booth.sig, NOTICE_WAIT, |n| {
        *n == VisitNotice::ParticipantLeft { role: Role::Lawyer }
    })
    .await;
    let (_s, late) = resume_from(&app, LAWYER_TAB, &token).await;
    let (code, text) = refusal_code(late);
    assert_eq!(code, Some(ErrorCode::ResumeExpired), "{text}");
    drop(lawyer);

    // The staff stop: the lawyer is back (new join), then staff stop the visit.
    let (lawyer, token) =
        lawyer_at(&app, &app.ws_url(), visit, TestPeer::new("lawyer-2").await).await;
    lawyer
        .peer
        .wait_connected(NOTICE_WAIT)
        .await
        .expect("lawyer connected again");
    let stop = json!({"category": "communication_device", "reason": "A phone was handed over."});
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/stop"),
            Some(stop),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_s, stopped) = resume_from(&app, LAWYER_TAB, &token).await;
    let (code, text) = refusal_code(stopped);
    assert_eq!(code, Some(ErrorCode::VisitEnded), "{text}");
    assert!(text.contains("工作人员已结束"), "{text}");

    let audit = audit_of(&app, visit).await;
    assert!(refused_for(&audit, "resume_expired"), "{audit:?}");
    assert!(refused_for(&audit, "stopped_by_staff"), "{audit:?}");
    assert_eq!(count(&audit, "participant_resumed"), 0, "{audit:?}");
    drop((lawyer, booth));
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_is_refused_after_the_slot_end() {
    let app = spawn_app_with(|c| quick_liveness(c, 30)).await;
    let visit = app
        .create_visit(chrono::Duration::seconds(-1), chrono::Duration::seconds(8))
        .await;
    let (mut lawyer, token) =
        lawyer_at(&app, &app.ws_url(), visit, TestPeer::new("lawyer").await).await;
    side::visit_ended(&mut lawyer.sig).await;
    let (_s, after) = resume_from(&app, LAWYER_TAB, &token).await;
    let (code, text) = refusal_code(after);
    assert_eq!(code, Some(ErrorCode::SlotOver), "{text}");
    let audit = audit_of(&app, visit).await;
    assert!(refused_for(&audit, "slot_over"), "{audit:?}");
    app.running.shutdown().await;
}

/// One network change of a roaming lawyer: an ICE restart offer (new credentials, a new
/// local socket) on the same signalling connection, and the answer applied. Returns when
/// the new path was ready (the "network restored" moment).
async fn change_network(lawyer: &mut Side) -> Instant {
    let before = lawyer.peer.local_candidates().await;
    let offer = lawyer
        .peer
        .ice_restart_offer()
        .await
        .expect("ICE restart offer");
    let restored = Instant::now();
    assert_ne!(
        peer::candidate_lines(&offer),
        before,
        "the lawyer's local address changed"
    );
    let answer = lawyer
        .sig
        .offer(&offer)
        .await
        .expect("the SFU accepts the ICE restart");
    lawyer.peer.set_answer(&answer).await;
    restored
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_whose_network_changes_restarts_ice_on_the_same_connection_and_media_flows_again()
{
    let app = spawn_app_with(|c| quick_liveness(c, 30)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (mut lawyer, _token) = lawyer_at(
        &app,
        &app.ws_url(),
        visit,
        TestPeer::new_roaming("lawyer").await,
    )
    .await;
    let booth = both_sending(&app, &lawyer, visit).await;

    // The old socket is closed by the restart: whatever arrives afterwards came over the
    // new address.
    let booth_had = booth.peer.received_count(MediaKind::Video);
    let lawyer_had = lawyer.peer.received_count(MediaKind::Video);
    change_network(&mut lawyer).await;
    video_flows_again(&lawyer.peer, lawyer_had, 60).await;
    video_flows_again(&booth.peer, booth_had, 60).await;

    // A second offer that is not an ICE restart is still refused.
    let current = lawyer
        .peer
        .peer_connection()
        .local_description()
        .await
        .expect("local description")
        .sdp;
    let err = lawyer.sig.offer(&current).await.expect_err("not a restart");
    assert_eq!(err.code(), Some(ErrorCode::BadOffer), "{err}");

    // One restart in the audit log, and no new admission.
    let audit = audit_of(&app, visit).await;
    assert_eq!(count(&audit, "ice_restarted"), 1, "{audit:?}");
    assert_eq!(count(&audit, "admission_granted"), 2, "{audit:?}");
    app.running.shutdown().await;
}

/// R-REMOTE-2 figures (printed, never asserted): the time from a network change (the new
/// local address is ready) to the booth's video arriving at the lawyer on the new path,
/// over 25 ICE restarts of one visit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement: run with --ignored --nocapture to print the figures"]
async fn ice_restart_recovery_figures() {
    const TRIALS: usize = 25;
    let app = spawn_app_with(|c| quick_liveness(c, 60)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (mut lawyer, _token) = lawyer_at(
        &app,
        &app.ws_url(),
        visit,
        TestPeer::new_roaming("lawyer").await,
    )
    .await;
    let _booth = both_sending(&app, &lawyer, visit).await;
    let mut times = Vec::new();
    for trial in 0..TRIALS {
        let restored = change_network(&mut lawyer).await;
        let deadline = restored + NOTICE_WAIT;
        let again = loop {
            let first = lawyer
                .peer
                .received(MediaKind::Video)
                .iter()
                .rev()
                .take_while(|r| r.at > restored)
                .last()
                .map(|r| r.at);
            if let Some(at) = first {
                break at;
            }
            assert!(Instant::now() < deadline, "trial {trial}: no media again");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        times.push(again - restored);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    println!(
        "ICE restart, network restored -> remote media again, {} trials: p50 {:?}, p99 {:?}, max {:?}",
        times.len(),
        pct(0.50),
        pct(0.99),
        times.last().unwrap()
    );
    app.running.shutdown().await;
}

/// The server restarts (an upgrade) mid-visit: both participants are told `server_shutdown`
/// (not the end of the visit), then resume on the restarted server with the credentials they
/// hold. Their seats went away with the old process, so they get new ones through the whole
/// gate again (the booth's certificate, the lawyer's licence), with no join token:
/// `joined.renegotiate`, new peer connections, media both ways, the slot end unchanged.
/// Each credential works once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_both_sides_resume_on_new_seats_and_media_flows() {
    let app = spawn_app_with(|c| quick_liveness(c, 30)).await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let booth_id = app.demo_booth();
    let mut lawyer =
        SignalingClient::connect(&app.ws_url(), tls_client(&app.ca_pem, &Identity::None))
            .await
            .expect("wss");
    lawyer.set_device(LAWYER_TAB);
    lawyer.hello().await.expect("hello");
    let joined = lawyer
        .join(&app.demo_lawyer_token(visit).await)
        .await
        .expect("lawyer join");
    let slot_end = joined.slot_ends_at;
    let lawyer_credential = joined.resume.expect("a credential").token;
    let mut booth = app.signaling(&booth_id).await;
    booth.hello().await.expect("hello");
    let joined = booth
        .join(&app.demo_booth_token(visit).await)
        .await
        .expect("booth join");
    let booth_credential = joined.resume.expect("a credential").token;

    let app = app.restart().await;
    let ended = notice_where(&mut lawyer, NOTICE_WAIT, |n| {
        matches!(n, VisitNotice::VisitEnded { .. })
    })
    .await;
    assert!(
        matches!(
            &ended,
            VisitNotice::VisitEnded {
                reason: confer_signaling::EndReason::ServerShutdown,
                ..
            }
        ),
        "{ended:?}"
    );
    drop((lawyer, booth));

    let mut sides = Vec::new();
    for (identity, device, credential, label) in [
        (
            Identity::None,
            Some(LAWYER_TAB),
            &lawyer_credential,
            "lawyer",
        ),
        (app.demo_booth(), None, &booth_credential, "booth"),
    ] {
        let mut sig = SignalingClient::connect(&app.ws_url(), tls_client(&app.ca_pem, &identity))
            .await
            .expect("wss");
        if let Some(device) = device {
            sig.set_device(device);
        }
        sig.hello().await.expect("hello");
        let back = sig
            .resume(credential.expose())
            .await
            .unwrap_or_else(|e| panic!("{label}: resume after the restart: {e}"));
        assert!(
            back.renegotiate,
            "{label}: a new seat, a new peer connection"
        );
        assert_eq!(
            back.slot_ends_at, slot_end,
            "a restart never moves the slot end"
        );
        let peer = TestPeer::new(label).await;
        let answer = sig
            .offer(&peer.create_offer().await)
            .await
            .unwrap_or_else(|e| panic!("{label} offer: {e}"));
        peer.set_answer(&answer).await;
        sides.push(Side { sig, peer });
    }
    for s in &sides {
        s.peer.wait_connected(NOTICE_WAIT).await.expect("connected");
        s.peer
            .start_sending(Duration::from_secs(30), SendRates::default())
            .await
            .expect("sending");
    }
    for s in &sides {
        video_flows_again(&s.peer, 0, 30).await;
    }
    // Single use: the same credential again is a replay.
    let (_sig, outcome) = resume_from(&app, LAWYER_TAB, lawyer_credential.expose()).await;
    let (code, text) = refusal_code(outcome);
    assert_eq!(code, Some(ErrorCode::ResumeReplayed), "{text}");
    let audit = audit_of(&app, visit).await;
    assert_eq!(count(&audit, "participant_resumed"), 2, "{audit:?}");
    assert_eq!(count(&audit, "join_token_used"), 2, "{audit:?}");
    assert!(refused_for(&audit, "resume_replayed"), "{audit:?}");
    for s in sides {
        s.peer.close().await;
    }
    app.running.shutdown().await;
}
