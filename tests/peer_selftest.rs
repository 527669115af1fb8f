//! Self-test of the webrtc-rs test peer (`tests/support/peer.rs`): two peers connected directly
//! on loopback exchange synthetic audio and video, and each checks what it got. This proves the
//! peer before it is pointed at confer's SFU.

#[path = "support/peer.rs"]
mod peer;

use std::time::{Duration, Instant};

use peer::{assert_payloads_match, sender_tag, MediaKind, SendRates, TestPeer};

const CONNECT: Duration = Duration::from_secs(15);
const SEND_FOR: Duration = Duration::from_secs(3);

async fn run() {
    let t0 = Instant::now();
    let a = TestPeer::new("lawyer-a").await;
    let b = TestPeer::new("booth-b").await;
    assert_ne!(a.tag(), b.tag(), "labels must give distinct sender tags");

    let offer = a.create_offer().await;
    assert!(
        offer.contains("a=candidate:") && offer.contains("127.0.0.1"),
        "offer must carry a loopback host candidate:\n{offer}"
    );
    assert!(
        !offer.contains(".local"),
        "mDNS candidate in offer:\n{offer}"
    );
    assert!(offer.contains("VP8/90000") && offer.contains("opus/48000"));
    let answer = b.answer(&offer).await;
    assert!(answer.contains("127.0.0.1"), "answer:\n{answer}");
    a.set_answer(&answer).await;

    a.wait_connected(CONNECT).await.expect("A connects");
    b.wait_connected(CONNECT).await.expect("B connects");
    let connected = Instant::now();

    let rates = SendRates::default();
    a.start_sending(SEND_FOR, rates).await.expect("A sends");
    b.start_sending(SEND_FOR, rates).await.expect("B sends");

    // Mid-stream, B's "decoder" asks for a key frame; A must see the PLI and send one.
    b.wait_received(MediaKind::Video, 20, CONNECT)
        .await
        .expect("B gets video");
    b.request_keyframe().await.expect("PLI from B");

    // ~3 s at 30 fps / 50 pps: wait for most of it, bounded.
    let wait = SEND_FOR + Duration::from_secs(5);
    for (peer, name) in [(&a, "A"), (&b, "B")] {
        peer.wait_received(MediaKind::Video, 80, wait)
            .await
            .unwrap_or_else(|e| panic!("{name} video: {e:#}"));
        peer.wait_received(MediaKind::Audio, 135, wait)
            .await
            .unwrap_or_else(|e| panic!("{name} audio: {e:#}"));
    }
    // Let the tail of the sending window drain.
    tokio::time::sleep(SEND_FOR.saturating_sub(connected.elapsed()) + Duration::from_millis(500))
        .await;

    for (rx, tx, name) in [(&a, &b, "A<-B"), (&b, &a, "B<-A")] {
        assert_eq!(
            tx.send_errors().0,
            0,
            "{name}: send errors {:?}",
            tx.send_errors()
        );
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let sent = tx.sent(kind);
            let received = rx.received(kind);
            println!(
                "{name} {kind:?}: sent {} received {}, first after {:?} from start",
                sent.len(),
                received.len(),
                rx.time_to_first_media(kind, t0)
            );
            assert!(
                sent.len() >= if kind == MediaKind::Video { 80 } else { 135 },
                "{name} {kind:?}: only {} sent",
                sent.len()
            );
            assert_payloads_match(&sent, &received);
            assert!(received.iter().all(|r| r
                .marker
                .is_some_and(|m| m.sender_tag == sender_tag(tx.label()))));
            let max_latency = received.iter().filter_map(|r| r.latency()).max().unwrap();
            assert!(
                max_latency < Duration::from_secs(2),
                "{name} {kind:?}: latency {max_latency:?} on loopback"
            );
        }
        let video = rx.received(MediaKind::Video);
        assert!(
            video.first().is_some_and(|r| r.is_vp8_keyframe()),
            "{name}: the first video frame is a key frame"
        );
        assert!(video.iter().all(|r| r.rtp_marker));
    }

    assert!(
        a.keyframe_requests() > 0,
        "A never saw B's PLI ({} RTCP packets about its tracks)",
        a.rtcp_received()
    );
    let keyframes = b
        .received(MediaKind::Video)
        .iter()
        .filter(|r| r.is_vp8_keyframe())
        .count();
    assert!(
        keyframes >= 2,
        "B got {keyframes} key frames: none after its PLI"
    );
    assert!(b.rtcp_received() > 0, "A sends B no receiver reports");

    // A leaves; B must notice (DTLS close or ICE consent, whose timeouts peer.rs shortens).
    a.close().await;
    b.wait_disconnected(Duration::from_secs(15))
        .await
        .expect("B notices A left");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_test_peers_exchange_media_on_loopback() {
    tokio::time::timeout(Duration::from_secs(60), run())
        .await
        .expect("self-test finished within 60 s");
}
