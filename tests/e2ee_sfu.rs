//! What the SFU forwards under end-to-end encryption (R-PRIV-1), seen from a test peer's own
//! receive path (never from the server): the lawyer's webrtc-rs peer SFrame-protects every
//! frame with a media key the server never sees; the booth's peer receives RTP payloads that
//! are not the plaintext, opens them with the agreed key to exactly what was sent, and a
//! receiver holding another key opens no frame at all.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use confer_signaling::e2ee::{key_id, E2eeError, FrameDecryptor, MEDIA_KEY_BYTES};
use peer::{open_payload, parse_marker, MediaKind, SendRates, MAGIC};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sfu_forwards_ciphertext_that_only_the_agreed_key_opens() {
    let app = app::spawn_app().await;
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (lawyer, booth) = side::connected_visit(&app, visit).await;

    // The media key the two ends agreed (in the pages: wrapped pairwise, PROTOCOL.md); the
    // server is never given it.
    let media_key: [u8; MEDIA_KEY_BYTES] = rand::random();
    let kid = key_id(1, 1);
    lawyer.peer.encrypt_with(kid, &media_key);
    lawyer
        .peer
        .start_sending(Duration::from_secs(3), SendRates::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;

    let mut agreed = FrameDecryptor::new();
    agreed.add_key(kid, &media_key).unwrap();
    let mut other = FrameDecryptor::new();
    let wrong: [u8; MEDIA_KEY_BYTES] = rand::random();
    other.add_key(kid, &wrong).unwrap();

    for kind in [MediaKind::Audio, MediaKind::Video] {
        let sent = lawyer.peer.sent(kind);
        let received = booth.peer.received(kind);
        assert!(
            received.len() >= sent.len() / 2 && !received.is_empty(),
            "{kind:?}: {} of {} frames arrived",
            received.len(),
            sent.len()
        );
        let mut opened = 0;
        for r in &received {
            // The forwarded payload is not the plaintext: no marker, no filler in clear.
            assert!(
                r.marker.is_none(),
                "{kind:?}: a plaintext frame was forwarded"
            );
            assert!(!r.payload.windows(MAGIC.len()).any(|w| w == MAGIC));
            let plain = open_payload(&agreed, kind, &r.payload).expect("the agreed key opens it");
            let m = parse_marker(&plain).expect("a sent frame");
            let original = sent
                .iter()
                .find(|p| parse_marker(p).is_some_and(|s| s.seq == m.seq))
                .expect("a frame that was sent");
            assert_eq!(&plain, original, "{kind:?}: exactly what was sent");
            opened += 1;
            // Another key opens nothing: the receiver drops the frame.
            assert!(matches!(
                open_payload(&other, kind, &r.payload),
                Err(E2eeError::Decrypt)
            ));
        }
        println!(
            "{kind:?}: {opened} forwarded frames opened with the agreed key, none with another"
        );
    }
    app.running.shutdown().await;
}
