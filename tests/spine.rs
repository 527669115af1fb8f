//! The spine: a real lawyer–booth visit through confer's SFU, with two webrtc-rs peers
//! (a WebRTC stack independent of the server's str0m) over real TLS, WSS and UDP.
//! R-REMOTE-1 (the visit itself), R-VERIFY-4 (nobody else's device connects),
//! R-PRIV-1 (media reaches only the visit's own participants).

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app, spawn_app_on, Backend, Identity};
use confer_signaling::{EndReason, ErrorCode, ServerMessage, VisitNotice};
use peer::{assert_payloads_match, MediaKind, SendRates};
use side::connected_visit;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lawyer_and_booth_exchange_audio_and_video_through_the_sfu() {
    lawyer_and_booth_exchange_audio_and_video_through_the_sfu_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lawyer_and_booth_exchange_audio_and_video_through_the_sfu_on_postgres() {
    lawyer_and_booth_exchange_audio_and_video_through_the_sfu_on(Backend::Postgres).await
}

async fn lawyer_and_booth_exchange_audio_and_video_through_the_sfu_on(backend: Backend) {
    // R-REMOTE-1, R-PRIV-1: each side receives exactly what the other sent, untouched.
    let Some(app) = spawn_app_on(backend, |_| {}).await else {
        return;
    };
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (lawyer, booth) = connected_visit(&app, visit).await;

    let rates = SendRates {
        keyframe_interval: 30,
        ..SendRates::default()
    };
    lawyer
        .peer
        .start_sending(Duration::from_secs(3), rates)
        .await
        .unwrap();
    booth
        .peer
        .start_sending(Duration::from_secs(3), rates)
        .await
        .unwrap();
    for (side, name) in [(&lawyer, "lawyer"), (&booth, "booth")] {
        side.peer
            .wait_received(MediaKind::Video, 60, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        side.peer
            .wait_received(MediaKind::Audio, 100, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    tokio::time::sleep(Duration::from_millis(3500)).await; // let the senders finish
    for kind in [MediaKind::Audio, MediaKind::Video] {
        assert_payloads_match(&lawyer.peer.sent(kind), &booth.peer.received(kind));
        assert_payloads_match(&booth.peer.sent(kind), &lawyer.peer.received(kind));
    }
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lawyer_not_assigned_to_the_visit_is_refused() {
    // R-VERIFY-4: a valid lawyer account that is not the visit's lawyer gets no token,
    // and cannot use the assigned lawyer's token id trick either.
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (status, body) = app
        .admin(
            reqwest::Method::POST,
            "/admin/api/lawyers",
            Some(serde_json::json!({"username": "other-lawyer", "display_name": "Other Lawyer", "password": "another long password", "licence_number": "11111202600000001", "id_number": "ID-OTHER"})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let other = app
        .lawyer_login("other-lawyer", "another long password")
        .await;
    let (status, body) = app.lawyer_join_token(&other, visit).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "not_a_participant");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains("not a participant"));

    // The other lawyer does not see the visit either.
    let list: serde_json::Value = app
        .client(&Identity::None)
        .get(app.url("/api/lawyer/visits"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["visits"].as_array().unwrap().len(), 0);

    // A forged token is refused at the signalling layer.
    let mut sig = app.signaling(&Identity::None).await;
    sig.hello().await.unwrap();
    let err = sig.join("v1.eyJqdGkiOiJ4In0.AAAA").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::InvalidToken));
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booths_are_identified_by_their_certificate_only() {
    // R-VERIFY-4: no certificate, an unknown CA, or another booth's certificate is refused.
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;

    // No certificate.
    let (status, body) = app.booth_join_token(&Identity::None, visit).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["code"], "booth_cert_missing");

    // A certificate from a CA this server does not trust.
    let foreign = tempfile::tempdir().unwrap();
    confer_certs::init(foreign.path(), &[]).unwrap();
    let foreign_booth = confer_certs::issue_booth(
        foreign.path(),
        confer::app::DEMO_FACILITY,
        confer::app::DEMO_BOOTH,
        confer_certs::Validity::days_from_now(1),
    )
    .unwrap();
    let stranger = Identity::Booth {
        cert: foreign_booth.files.cert.clone(),
        key: foreign_booth.files.key.clone(),
    };
    let (status, body) = app.booth_join_token(&stranger, visit).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "booth_cert_unknown_issuer");

    // A genuine certificate, but for another booth of the facility.
    let other = confer_certs::issue_booth(
        app.data_dir.path(),
        confer::app::DEMO_FACILITY,
        "demo-booth-2",
        confer_certs::Validity::days_from_now(1),
    )
    .unwrap();
    app.running
        .state
        .store
        .upsert_booth(
            &confer::ids::BoothId("demo-booth-2".into()),
            &confer::ids::FacilityId(confer::app::DEMO_FACILITY.into()),
            "Booth 2",
        )
        .await
        .unwrap();
    let booth2 = Identity::Booth {
        cert: other.files.cert.clone(),
        key: other.files.key.clone(),
    };
    let (status, body) = app.booth_join_token(&booth2, visit).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "booth_mismatch");

    // Booth 1's token presented on booth 2's connection: the certificate decides.
    let token = app.demo_booth_token(visit).await;
    let mut sig = app.signaling(&booth2).await;
    sig.hello().await.unwrap();
    assert_eq!(
        sig.join(&token).await.unwrap_err().code(),
        Some(ErrorCode::BoothMismatch)
    );
    // ... and on a connection without any certificate.
    let mut sig = app.signaling(&Identity::None).await;
    sig.hello().await.unwrap();
    assert_eq!(
        sig.join(&token).await.unwrap_err().code(),
        Some(ErrorCode::BoothCertificateRequired)
    );
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_join_token_is_refused() {
    a_replayed_join_token_is_refused_on(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_join_token_is_refused_on_postgres() {
    a_replayed_join_token_is_refused_on(Backend::Postgres).await
}

async fn a_replayed_join_token_is_refused_on(backend: Backend) {
    let Some(app) = spawn_app_on(backend, |_| {}).await else {
        return;
    };
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let token = app.demo_lawyer_token(visit).await;
    let mut first = app.signaling(&Identity::None).await;
    first.hello().await.unwrap();
    first.join(&token).await.expect("first use");
    let mut second = app.signaling(&Identity::None).await;
    second.hello().await.unwrap();
    let err = second.join(&token).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TokenReplayed));
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_stops_when_the_slot_ends_and_both_sides_are_told_why() {
    let app = spawn_app().await;
    let visit = app
        .create_visit(chrono::Duration::seconds(-1), chrono::Duration::seconds(8))
        .await;
    let (mut lawyer, mut booth) = connected_visit(&app, visit).await;
    let rates = SendRates::default();
    lawyer
        .peer
        .start_sending(Duration::from_secs(20), rates)
        .await
        .unwrap();
    booth
        .peer
        .start_sending(Duration::from_secs(20), rates)
        .await
        .unwrap();
    booth
        .peer
        .wait_received(MediaKind::Video, 10, WAIT)
        .await
        .expect("media flows before the end");

    for sig in [&mut lawyer.sig, &mut booth.sig] {
        let ended = loop {
            match sig
                .recv_timeout(WAIT)
                .await
                .expect("a notice before the timeout")
            {
                ServerMessage::Notice {
                    notice: VisitNotice::VisitEnded { reason, message },
                } => break (reason, message),
                _ => continue,
            }
        };
        assert_eq!(ended.0, EndReason::SlotOver);
        assert!(ended.1.contains("time slot is over"), "{}", ended.1);
    }
    // Media stops: nothing more arrives once the SFU has closed the visit's peers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before =
        booth.peer.received_count(MediaKind::Video) + lawyer.peer.received_count(MediaKind::Video);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after =
        booth.peer.received_count(MediaKind::Video) + lawyer.peer.received_count(MediaKind::Video);
    assert_eq!(before, after, "media kept flowing after the slot ended");
    let snapshot = app.running.state.hub.live_count();
    assert_eq!(snapshot, 0);

    // And the visit cannot be rejoined.
    let session = app.demo_lawyer_session().await;
    let (status, body) = app.lawyer_join_token(&session, visit).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["code"] == "slot_over" || body["code"] == "visit_ended",
        "{body}"
    );
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_departure_is_told_to_the_other_side() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (mut lawyer, mut booth) = connected_visit(&app, visit).await;
    let hub = app.running.state.hub.clone();
    assert_eq!(hub.departures(), 0);
    lawyer.sig.leave().await.unwrap();
    let notice = loop {
        match booth.sig.next_notice_timeout(WAIT).await.expect("notice") {
            VisitNotice::ParticipantJoined { .. } => continue,
            n => break n,
        }
    };
    assert_eq!(
        notice,
        VisitNotice::ParticipantLeft {
            role: confer_signaling::Role::Lawyer
        }
    );
    // The departure is counted, so the memory it freed is handed back to the system
    // (R-REMOTE-2 capacity: memory returned after visits end).
    let deadline = tokio::time::Instant::now() + WAIT;
    while hub.departures() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        hub.departures(),
        1,
        "the lawyer's departure was not counted"
    );
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signalling_input_gets_errors_and_repeated_abuse_closes_the_connection() {
    let app = spawn_app().await;
    let mut sig = app.signaling(&Identity::None).await;
    let cases: [(String, ErrorCode); 4] = [
        (
            "{\"type\":\"offer\",\"sdp\":\"v=0\"}".into(),
            ErrorCode::OutOfOrder,
        ),
        ("{\"type\":\"teleport\"}".into(), ErrorCode::UnknownMessage),
        ("not json".into(), ErrorCode::MalformedMessage),
        (
            format!(
                "{{\"type\":\"hello\",\"version\":1,\"client\":\"{}\"}}",
                "x".repeat(70 * 1024)
            ),
            ErrorCode::MessageTooLarge,
        ),
    ];
    for (text, code) in &cases {
        sig.send_raw(text).await.unwrap();
        match sig.recv_timeout(WAIT).await.unwrap() {
            ServerMessage::Error { code: got, message } => {
                assert_eq!(got, *code, "{message}");
                assert!(!message.is_empty());
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }
    // The fifth error closes the connection with too_many_errors.
    sig.send_raw("[]").await.unwrap();
    let mut saw_close = false;
    for _ in 0..3 {
        match sig.recv_timeout(WAIT).await {
            Ok(ServerMessage::Error {
                code: ErrorCode::TooManyErrors,
                ..
            }) => saw_close = true,
            Ok(ServerMessage::Error { .. }) => continue,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(_) => break,
        }
    }
    assert!(saw_close, "the server did not close after repeated errors");
    assert!(
        sig.recv_timeout(Duration::from_secs(5)).await.is_err(),
        "connection still open"
    );
    // The server is unharmed.
    let resp = app
        .client(&Identity::None)
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_reported_on_both_listeners() {
    let app = spawn_app().await;
    for url in [app.url("/healthz"), app.admin_url("/healthz")] {
        let resp = app.client(&Identity::None).get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
    app.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_live_visits() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let mut sig = app.signaling(&Identity::None).await;
    sig.hello().await.unwrap();
    sig.join(&app.demo_lawyer_token(visit).await).await.unwrap();
    let app_running = app.running;
    let shutdown = tokio::spawn(app_running.shutdown());
    let notice = sig
        .next_notice_timeout(WAIT)
        .await
        .expect("shutdown notice");
    assert!(
        matches!(
            notice,
            VisitNotice::VisitEnded {
                reason: EndReason::ServerShutdown,
                ..
            }
        ),
        "{notice:?}"
    );
    shutdown.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_rate_limited_and_staff_routes_need_a_staff_session() {
    let app = spawn_app().await;
    let client = app.client(&Identity::None);
    for attempt in 1..=5 {
        let resp = client
            .post(app.url("/api/lawyer/login"))
            .json(
                &serde_json::json!({"username": app.lawyer_username, "password": "wrong password"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "attempt {attempt}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["code"], "bad_credentials");
    }
    // The sixth attempt is refused even with the right password, with a time to wait.
    let resp = client
        .post(app.url("/api/lawyer/login"))
        .json(
            &serde_json::json!({"username": app.lawyer_username, "password": app.lawyer_password}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], "too_many_attempts");

    // Malformed bodies get a clear error, not a panic or an empty reply.
    let resp = client
        .post(app.url("/api/lawyer/login"))
        .body("{\"username\":")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["code"],
        "malformed_request"
    );

    // Staff routes: no session, or a lawyer's session, is not enough.
    let admin = app.admin_client();
    let resp = admin
        .get(app.admin_url("/admin/api/visits"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let other_session = {
        let (status, _) = app
            .admin(
                reqwest::Method::POST,
                "/admin/api/lawyers",
                Some(serde_json::json!({"username": "second", "display_name": "Second", "password": "a long enough password", "licence_number": "11111202600000002", "id_number": "ID-SECOND"})),
            )
            .await;
        assert_eq!(status, 201);
        app.lawyer_login("second", "a long enough password").await
    };
    let resp = admin
        .get(app.admin_url("/admin/api/visits"))
        .bearer_auth(&other_session)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        401,
        "a lawyer session must not open the staff API"
    );
    // And the staff API is not served on the public listener.
    let resp = client
        .get(app.url("/admin/api/visits"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.running.shutdown().await;
}
