//! One participant of a visit for the tests that drive whole visits (spine, admin,
//! console_browser): signed in over WSS, joined, its webrtc-rs peer negotiated. Needs the
//! `app` and `peer` support modules beside it.

use crate::app::{Identity, TestApp};
use crate::peer::TestPeer;
use confer_signaling::SignalingClient;

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
