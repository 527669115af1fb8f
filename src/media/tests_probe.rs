//! Spec tests of the network check (R-REMOTE-1, R-REMOTE-2): the real driver on 127.0.0.1, a
//! str0m client with one data channel. A check echoes short messages, carries no media, is
//! nobody's peer, and at most `MAX_CHECKS` run at once.

use super::probe::MAX_CHECKS;
use super::{start, MediaConfig, MediaError, MediaEvent, MediaHandle};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, MediaKind};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

async fn start_media() -> (MediaHandle, mpsc::Receiver<MediaEvent>, super::MediaTask) {
    let (tx, rx) = mpsc::channel(64);
    let config = MediaConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_ips: vec!["127.0.0.1".parse().unwrap()],
        public_port: None,
        workers: 1,
        fast_path: true,
    };
    let (handle, task) = start(config, tx).await.expect("media starts");
    (handle, rx, task)
}

/// A client with one data channel (and, when `media`, an audio m-line too): its offer.
fn client(local: SocketAddr, media: bool) -> (Rtc, String, str0m::change::SdpPendingOffer) {
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let mut change = rtc.sdp_api();
    if media {
        change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    }
    change.add_channel("check".into());
    let (offer, pending) = change.apply().expect("an offer");
    (rtc, offer.to_sdp_string(), pending)
}

// R-REMOTE-1: the lawyer's page learns, before joining, that its network reaches the media
// port: the check's data channel opens and echoes what it is sent, unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_check_opens_a_data_channel_that_echoes_and_belongs_to_no_visit() {
    let (media, mut events, _task) = start_media().await;
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let local = socket.local_addr().unwrap();
    let (mut rtc, offer, pending) = client(local, false);
    let answer = media.network_check().open(offer).await.expect("a check");
    assert!(answer.contains("a=ice-lite"), "{answer}");
    assert!(!answer.contains("m=audio") && !answer.contains("m=video"));
    rtc.sdp_api()
        .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).unwrap())
        .expect("the answer is accepted");

    let mut buf = vec![0u8; 2048];
    let mut channel = None;
    let mut sent = false;
    let mut echoed = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while echoed.is_empty() {
        assert!(
            Instant::now() < deadline,
            "no echo within 15 s (channel open: {})",
            channel.is_some()
        );
        let timeout = loop {
            match rtc.poll_output().expect("client output") {
                Output::Timeout(t) => break t,
                Output::Transmit(t) => {
                    let _ = socket.try_send_to(&t.contents, t.destination);
                }
                Output::Event(Event::ChannelOpen(id, _)) => channel = Some(id),
                Output::Event(Event::ChannelData(d)) => echoed.push(d.data),
                Output::Event(Event::MediaAdded(_)) | Output::Event(Event::MediaData(_)) => {
                    panic!("a network check carries no media")
                }
                Output::Event(_) => {}
            }
        };
        if let (Some(id), false) = (channel, sent) {
            let mut ch = rtc.channel(id).expect("the channel");
            ch.write(false, b"ping 1").expect("written");
            sent = true;
            continue;
        }
        let wait = timeout.saturating_duration_since(Instant::now());
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let (n, source) = r.unwrap();
                let Ok(contents) = buf[..n].try_into() else { continue };
                rtc.handle_input(Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents })).unwrap();
            }
            _ = tokio::time::sleep(wait.min(Duration::from_millis(50))) => {
                rtc.handle_input(Input::Timeout(Instant::now())).unwrap();
            }
        }
    }
    assert_eq!(echoed, vec![b"ping 1".to_vec()]);
    // Nobody's peer: the health view holds no peer, no visit heard of it.
    assert!(media.snapshot().await.peers.is_empty());
    assert!(
        events.try_recv().is_err(),
        "a check produces no media event"
    );
}

// R-PRIV-1: a check can never carry media: an offer with an audio m-line is refused.
#[tokio::test]
async fn an_offer_with_media_is_refused_as_a_network_check() {
    let (media, _events, _task) = start_media().await;
    let (_rtc, offer, _pending) = client("127.0.0.1:9".parse().unwrap(), true);
    match media.network_check().open(offer).await {
        Err(MediaError::BadOffer(why)) => assert!(why.contains("no media"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    match media.network_check().open("not sdp".into()).await {
        Err(MediaError::BadOffer(_)) => {}
        other => panic!("expected a refusal, got {other:?}"),
    }
}

// At most MAX_CHECKS run at once on a node; one more is told to come back later.
#[tokio::test]
async fn a_node_runs_a_bounded_number_of_checks() {
    let (media, _events, _task) = start_media().await;
    let check = media.network_check();
    for _ in 0..MAX_CHECKS {
        let (_rtc, offer, _pending) = client("127.0.0.1:9".parse().unwrap(), false);
        check.open(offer).await.expect("a check within the bound");
    }
    let (_rtc, offer, _pending) = client("127.0.0.1:9".parse().unwrap(), false);
    assert!(matches!(check.open(offer).await, Err(MediaError::Busy)));
}
