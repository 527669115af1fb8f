//! One participant of a visit for the tests that drive whole visits (spine, admin,
//! console_browser, cancel_live_visit, staff_stop_is_final): signed in over WSS, joined, its
//! webrtc-rs peer negotiated; both sides of the demo visit connected; the end notice.
//! Needs the `app` and `peer` support modules beside it.

#![allow(dead_code)] // every test binary uses a different subset

use crate::app::{Identity, TestApp};
use crate::peer::TestPeer;
use confer_signaling::{EndReason, ServerMessage, SignalingClient, VisitNotice};
use std::time::Duration;

/// How long a test waits for a connection or a notice before it fails.
pub const NOTICE_WAIT: Duration = Duration::from_secs(20);

/// A participant connected through signalling, with its peer negotiated.
pub struct Side {
    pub sig: SignalingClient,
    pub peer: TestPeer,
}

/// `hello`, `join` with `token`, then offer and answer; panics with `label` on a refusal.
pub async fn join(app: &TestApp, identity: &Identity, token: &str, label: &str) -> Side {
    let mut sig = app.signaling(identity).await;
    sig.hello().await.expect("hello");
    sig.join(token)
        .await
        .unwrap_or_else(|e| panic!("{label} join: {e}"));
    let peer = TestPeer::new(label).await;
    let offer = peer.create_offer().await;
    let answer = sig
        .offer(&offer)
        .await
        .unwrap_or_else(|e| panic!("{label} offer: {e}"));
    peer.set_answer(&answer).await;
    Side { sig, peer }
}

/// Both sides of the visit (the demo lawyer and the demo booth), joined and connected.
pub async fn connected_visit(app: &TestApp, visit: i64) -> (Side, Side) {
    let lawyer = join(
        app,
        &crate::app::Identity::None,
        &app.demo_lawyer_token(visit).await,
        "lawyer",
    )
    .await;
    let booth = join(
        app,
        &app.demo_booth(),
        &app.demo_booth_token(visit).await,
        "booth",
    )
    .await;
    for (side, label) in [(&lawyer, "lawyer"), (&booth, "booth")] {
        side.peer
            .wait_connected(NOTICE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{label} connected: {e}"));
    }
    (lawyer, booth)
}

/// The next `visit_ended` notice on `sig` (other messages are skipped): reason and message.
pub async fn visit_ended(sig: &mut SignalingClient) -> (EndReason, String) {
    loop {
        match sig
            .recv_timeout(NOTICE_WAIT)
            .await
            .expect("a notice before the timeout")
        {
            ServerMessage::Notice {
                notice: VisitNotice::VisitEnded { reason, message },
            } => break (reason, message),
            _ => continue,
        }
    }
}
