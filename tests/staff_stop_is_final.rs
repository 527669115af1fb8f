//! A staff stop is final at once (docs/DESIGN.md invariant 8, R-CONDUCT-1): when the stop
//! request is answered, the end is already durable, so neither a new join token nor a
//! token fetched before the stop lets anyone back in, however quickly they try.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app, Identity};
use confer_signaling::ErrorCode;
use reqwest::Method;
use serde_json::json;
use side::{connected_visit, visit_ended};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immediate_rejoin_after_a_staff_stop_is_refused() {
    let app = spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (mut lawyer, _booth) = connected_visit(&app, visit).await;
    // Fetched while the visit runs, kept for a quick return after the stop.
    let kept_lawyer_token = app.demo_lawyer_token(visit).await;
    let kept_booth_token = app.demo_booth_token(visit).await;

    let stop = json!({"category": "communication_device", "reason": "A phone was handed over."});
    let (status, body) = app
        .admin(
            Method::POST,
            &format!("/admin/api/visits/{visit}/stop"),
            Some(stop),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Right after the answer: no new token ...
    let (status, body) = app.lawyer_join_token(&session, visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("visit_ended")),
        "{body}"
    );
    let (status, body) = app.booth_join_token(&app.demo_booth(), visit).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("visit_ended")),
        "{body}"
    );
    // ... and a token from before the stop does not reopen the visit.
    for (identity, token) in [
        (Identity::None, kept_lawyer_token),
        (app.demo_booth(), kept_booth_token),
    ] {
        let mut sig = app.signaling(&identity).await;
        sig.hello().await.expect("hello");
        let err = sig.join(&token).await.expect_err("a join after the stop");
        assert_eq!(err.code(), Some(ErrorCode::VisitEnded), "{err}");
    }
    assert_eq!(app.running.state.hub.live_count(), 0);

    // The participant who was in the visit was told why.
    let (told, _) = visit_ended(&mut lawyer.sig).await;
    assert_eq!(told, confer_signaling::EndReason::StoppedByStaff);
    app.running.shutdown().await;
}
