//! R-REMOTE-2, congestion control under a bad network: the impairment relay itself
//! (tests/support/impair.rs: what it drops, delays and reorders, checked on counts and order,
//! never on wall-clock speed) and two visits of webrtc-rs peers (tests/support/peer.rs) whose
//! lawyer reaches the SFU only through that relay:
//!
//! - `an_impaired_link_keeps_video_decoding_and_audio_continuous`: 1 Mbit/s, 150 ms round
//!   trip, ±15 ms jitter each way (30 ms range), 3 % loss both ways. Video keeps decoding
//!   (frames whose chain from a key frame is complete, in every window) and audio keeps
//!   arriving in every second.
//! - `a_weak_downlink_lowers_the_cap_and_never_starves_audio`: the lawyer's downlink is
//!   300 kbit/s while the booth sends ~560 kbit/s of video. The SFU's estimate of that leg
//!   falls below the link, the booth is sent that cap (REMB), whole video frames are dropped
//!   for the lawyer and a key frame is asked for, while the lawyer's audio keeps arriving.
//!
//! Runs take `CONFER_IMPAIR_SECS` seconds each (default 20; 60 for the measurement run in
//! docs/DESIGN.md), in parallel. `--nocapture` prints the figures.

#[path = "support/app.rs"]
mod app;
#[path = "support/impair.rs"]
mod impair;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app_with, Identity, TestApp};
use impair::{GilbertElliott, ImpairRelay, Impairment, Link, Profile, Verdict};
use peer::{MediaKind, Received, SendRates, TestPeer};
use side::{Side, NOTICE_WAIT};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const MS: Duration = Duration::from_millis(1);

fn run_secs() -> u64 {
    std::env::var("CONFER_IMPAIR_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20)
}

// ---------------------------------------------------------------------------------------
// The relay's rules (pure, seeded, virtual clock).

#[test]
fn relay_random_loss_drops_about_the_configured_share() {
    let mut link = Link::new(1);
    let i = Impairment::CLEAN.with_loss(0.03);
    let t0 = Instant::now();
    let lost = (0..20_000u32)
        .filter(|n| link.judge(&i, t0 + MS * *n, 100) == Verdict::Lost)
        .count();
    assert!((450..=750).contains(&lost), "{lost} of 20000 lost at 3 %");
}

#[test]
fn relay_gilbert_elliott_loses_in_bursts() {
    let mut link = Link::new(2);
    let i = Impairment {
        burst: Some(GilbertElliott {
            p_good_to_bad: 0.01,
            p_bad_to_good: 0.25,
            loss_good: 0.0,
            loss_bad: 1.0,
        }),
        ..Impairment::CLEAN
    };
    let t0 = Instant::now();
    let lost: Vec<bool> = (0..50_000u32)
        .map(|n| link.judge(&i, t0 + MS * n, 100) == Verdict::Lost)
        .collect();
    let losses = lost.iter().filter(|l| **l).count();
    let bursts = lost.windows(2).filter(|w| !w[0] && w[1]).count();
    let mean_burst = losses as f64 / bursts.max(1) as f64;
    // Mean bad-state stay 1/0.25 = 4 packets; random loss at the same rate would give ~1.
    assert!((3.0..=5.5).contains(&mean_burst), "mean burst {mean_burst}");
    assert!((1_000..=3_500).contains(&losses), "{losses} lost");
}

#[test]
fn relay_rate_limit_carries_the_rate_and_drops_the_excess() {
    let mut link = Link::new(3);
    let i = Impairment::rate(1_000_000);
    let t0 = Instant::now();
    // 1.6 Mbit/s offered (200 bytes every ms) for 10 s.
    let mut delivered = 0u64;
    let mut full = 0u64;
    let mut last = t0;
    for n in 0..10_000u32 {
        match link.judge(&i, t0 + MS * n, 200) {
            Verdict::Deliver(at) => {
                delivered += 200;
                assert!(at >= last, "the bottleneck keeps order");
                assert!(at <= t0 + MS * n + i.queue_limit, "queue bounded");
                last = at;
            }
            Verdict::QueueFull => full += 1,
            Verdict::Lost => panic!("no loss configured"),
        }
    }
    // 10 s at 1 Mbit/s plus the bucket plus what is still queued: ~1.25 MB.
    let expected = 1_250_000u64;
    assert!(
        delivered >= expected - 20_000 && delivered <= expected + 60_000,
        "{delivered} bytes through a 1 Mbit/s bottleneck in 10 s"
    );
    assert!(full > 3_000, "{full} tail drops of 10000");
}

#[test]
fn relay_delay_and_jitter_keep_order_unless_reordering() {
    let t0 = Instant::now();
    let i = Impairment::CLEAN.with_delay(75 * MS, 15 * MS);
    let mut link = Link::new(4);
    let mut last = t0;
    for n in 0..2_000u32 {
        let now = t0 + MS * n * 5;
        let Verdict::Deliver(at) = link.judge(&i, now, 100) else {
            panic!("no loss configured")
        };
        assert!(at >= now + 60 * MS, "delay at least 75 - 15 ms");
        assert!(at >= last, "order kept");
        last = at;
    }
    // Without jitter the delay is exact.
    let mut link = Link::new(5);
    let exact = Impairment::CLEAN.with_delay(75 * MS, Duration::ZERO);
    assert_eq!(link.judge(&exact, t0, 100), Verdict::Deliver(t0 + 75 * MS));
    // With reordering some packets overtake their predecessor.
    let mut link = Link::new(6);
    let r = Impairment {
        reorder: 0.2,
        ..Impairment::CLEAN.with_delay(50 * MS, 20 * MS)
    };
    let times: Vec<Instant> = (0..2_000u32)
        .filter_map(|n| match link.judge(&r, t0 + MS * n, 100) {
            Verdict::Deliver(at) => Some(at),
            _ => None,
        })
        .collect();
    let inversions = times.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(inversions > 50, "{inversions} reordered of 2000");
}

/// An upstream that echoes every datagram.
async fn udp_echo() -> SocketAddr {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    addr
}

#[tokio::test]
async fn relay_udp_carries_in_order_drops_on_loss_and_stops_by_itself() {
    let relay = ImpairRelay::udp(
        Profile::both(Impairment::CLEAN.with_delay(20 * MS, 5 * MS)),
        Duration::from_secs(3),
        7,
    )
    .await;
    relay.set_upstream(udp_echo().await);
    let client = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.connect(relay.addr()).await.unwrap();
    for n in 0..200u32 {
        client.send(&n.to_be_bytes()).await.unwrap();
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    while got.len() < 200 {
        let n = tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf))
            .await
            .expect("echo through the relay")
            .unwrap();
        got.push(u32::from_be_bytes(buf[..n].try_into().unwrap()));
    }
    assert_eq!(got, (0..200).collect::<Vec<_>>(), "all, in order");
    assert_eq!(relay.up().delivered, 200);
    assert_eq!(relay.down().delivered, 200);

    // Half lost each way: what arrives is what the counters say was delivered.
    relay.set_client_profile(
        client.local_addr().unwrap(),
        Profile::both(Impairment::CLEAN.with_loss(0.5)),
    );
    for n in 0..400u32 {
        client.send(&n.to_be_bytes()).await.unwrap();
    }
    let mut echoed = 0u64;
    while tokio::time::timeout(Duration::from_millis(500), client.recv(&mut buf))
        .await
        .is_ok()
    {
        echoed += 1;
    }
    let (up, down) = (relay.up(), relay.down());
    assert_eq!(up.received, 600);
    assert_eq!(up.lost + up.delivered, 600);
    assert!((140..=260).contains(&up.lost), "{up:?}");
    assert_eq!(down.delivered - 200, echoed, "{down:?}");
    assert!(
        echoed > 50 && echoed < 200,
        "{echoed} of 400 echoed at 50 % each way"
    );

    // The relay ends by itself at its deadline.
    tokio::time::sleep(Duration::from_secs(3)).await;
    client.send(b"late").await.unwrap();
    // (An error is fine too: the relay's port is closed.)
    let late = tokio::time::timeout(Duration::from_millis(500), client.recv(&mut buf)).await;
    assert!(
        !matches!(late, Ok(Ok(_))),
        "nothing is carried after the relay's lifetime"
    );
    assert_eq!(relay.up().received, 600);
}

#[tokio::test]
async fn relay_tcp_carries_a_stream_intact_through_rate_delay_and_loss() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let i = Impairment::rate(4_000_000)
        .with_delay(10 * MS, 5 * MS)
        .with_loss(0.05);
    let relay = ImpairRelay::tcp(Profile::both(i), Duration::from_secs(20), 8).await;
    relay.set_upstream(upstream);
    let stream = tokio::net::TcpStream::connect(relay.addr()).await.unwrap();
    let (mut r, mut w) = stream.into_split();
    let data: Vec<u8> = (0..100_000u32).map(|n| (n % 251) as u8).collect();
    let to_send = data.clone();
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        w.write_all(&to_send).await.unwrap();
        w
    });
    let mut back = vec![0u8; data.len()];
    use tokio::io::AsyncReadExt;
    tokio::time::timeout(Duration::from_secs(15), r.read_exact(&mut back))
        .await
        .expect("the stream comes back")
        .unwrap();
    assert!(back == data, "bytes intact and in order");
    let _w = writer.await.unwrap();
    assert!(relay.up().lost > 0, "some chunks were 'lost' (delayed)");
}

// ---------------------------------------------------------------------------------------
// Visits through the relay.

/// A free loopback UDP address for the lawyer's peer (so the relay can single it out).
async fn free_udp_addr() -> SocketAddr {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    s.local_addr().unwrap()
}

/// An app whose media is advertised at the relay's address (`[media] public_port`), and the
/// relay forwarding to the app's media port.
async fn app_behind(relay: &ImpairRelay) -> TestApp {
    let port = relay.addr().port();
    let app = spawn_app_with(|c| {
        c.media.public_ips = vec!["127.0.0.1".parse().unwrap()];
        c.media.public_port = Some(port);
        c.media.tcp_enabled = false;
        // One relay in front of one media port: one worker.
        c.media.workers = Some(1);
    })
    .await;
    relay.set_upstream(app.running.media_addrs[0]);
    app
}

async fn join_at(
    app: &TestApp,
    identity: &Identity,
    token: &str,
    label: &str,
    bind: SocketAddr,
) -> Side {
    let mut sig = app.signaling(identity).await;
    sig.hello().await.expect("hello");
    sig.join(token)
        .await
        .unwrap_or_else(|e| panic!("{label} join: {e}"));
    let peer = TestPeer::try_new(label, bind)
        .await
        .unwrap_or_else(|e| panic!("{label} peer: {e:#}"));
    let answer = sig
        .offer(&peer.create_offer().await)
        .await
        .unwrap_or_else(|e| panic!("{label} offer: {e}"));
    peer.set_answer(&answer).await;
    Side { sig, peer }
}

/// Lawyer (at `lawyer_addr`, impaired by the relay's profile for it) and booth (clean), both
/// sending `rates` for `secs`.
async fn visit(
    app: &TestApp,
    lawyer_addr: SocketAddr,
    lawyer_rates: SendRates,
    booth_rates: SendRates,
    secs: u64,
) -> (Side, Side) {
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let lawyer = join_at(
        app,
        &Identity::None,
        &app.demo_lawyer_token(visit).await,
        "lawyer",
        lawyer_addr,
    )
    .await;
    let booth = join_at(
        app,
        &app.demo_booth(),
        &app.demo_booth_token(visit).await,
        "booth",
        "127.0.0.1:0".parse().unwrap(),
    )
    .await;
    for (s, label, rates) in [
        (&lawyer, "lawyer", lawyer_rates),
        (&booth, "booth", booth_rates),
    ] {
        s.peer
            .wait_connected(NOTICE_WAIT)
            .await
            .unwrap_or_else(|e| panic!("{label} connected: {e}"));
        s.peer
            .start_sending(Duration::from_secs(secs), rates)
            .await
            .unwrap_or_else(|e| panic!("{label} sending: {e}"));
    }
    (lawyer, booth)
}

/// When each video frame became decodable (one packet per synthetic frame): in sequence
/// order (a NACK repair arriving late fills its gap), a key frame starts a chain and a delta
/// frame extends it only if it is the very next packet; a frame is ready once it and all
/// before it in its chain have arrived.
fn decodable(video: &[Received]) -> Vec<Instant> {
    let mut sorted: Vec<(u64, &Received)> = Vec::with_capacity(video.len());
    let mut ext: Option<u64> = None;
    for r in video {
        // Extend the 16-bit numbers around the first one (no rollover within a test run
        // matters beyond ±32768).
        let e = match ext {
            None => 1 << 20,
            Some(base) => {
                let base16 = (base & 0xffff) as u16;
                let d = r.rtp_seq.wrapping_sub(base16) as i16;
                (base as i64 + i64::from(d)) as u64
            }
        };
        if ext.is_none() {
            ext = Some(e);
        }
        sorted.push((e, r));
    }
    sorted.sort_by_key(|(e, r)| (*e, r.at));
    sorted.dedup_by_key(|(e, _)| *e);
    let mut out = Vec::new();
    let mut chain: Option<(u64, Instant)> = None;
    for (e, r) in sorted {
        if r.is_vp8_keyframe() {
            chain = Some((e, r.at));
        } else if let Some((last, ready)) = chain.filter(|(last, _)| e == last + 1) {
            let _ = last;
            chain = Some((e, ready.max(r.at)));
        } else {
            chain = None;
            continue;
        }
        out.push(chain.unwrap().1);
    }
    out.sort();
    out
}

/// Per window of `w` from `start` for `n` windows: how many instants fall in each.
fn per_window(times: &[Instant], start: Instant, w: Duration, n: usize) -> Vec<usize> {
    let mut counts = vec![0; n];
    for t in times {
        if let Some(d) = t.checked_duration_since(start) {
            let i = (d.as_secs_f64() / w.as_secs_f64()) as usize;
            if i < n {
                counts[i] += 1;
            }
        }
    }
    counts
}

async fn peer_stats(app: &TestApp, role: &str) -> confer::media::PeerStats {
    app.running
        .state
        .hub
        .media_snapshot()
        .await
        .peers
        .into_iter()
        .find(|(_, r, _)| r.as_str() == role)
        .map(|(_, _, s)| s)
        .unwrap_or_default()
}

// R-REMOTE-2: a lawyer on a poor network (1 Mbit/s, 150 ms RTT, 30 ms jitter, 3 % loss)
// keeps a decodable picture and continuous sound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impaired_link_keeps_video_decoding_and_audio_continuous() {
    let secs = run_secs();
    let relay = ImpairRelay::udp(Profile::CLEAN, Duration::from_secs(secs + 60), 11).await;
    let app = app_behind(&relay).await;
    let lawyer_addr = free_udp_addr().await;
    let poor = Impairment::rate(1_000_000)
        .with_delay(75 * MS, 15 * MS)
        .with_loss(0.03);
    relay.set_client_profile(lawyer_addr, Profile::both(poor));
    // Browser-like rates: 30 fps, a key frame every second (webrtc-rs, unlike a browser,
    // asks for none itself when it loses one).
    let rates = SendRates {
        keyframe_interval: 30,
        ..SendRates::default()
    };
    let (lawyer, booth) = visit(&app, lawyer_addr, rates, rates, secs).await;
    lawyer
        .peer
        .wait_received(MediaKind::Video, 1, NOTICE_WAIT)
        .await
        .expect("video through the impaired link");
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;

    let video = lawyer.peer.received(MediaKind::Video);
    let audio: Vec<Instant> = lawyer
        .peer
        .received(MediaKind::Audio)
        .iter()
        .map(|r| r.at)
        .collect();
    let windows = (secs / 2) as usize;
    let frames = per_window(&decodable(&video), start, Duration::from_secs(2), windows);
    let audio_per_sec = per_window(&audio, start, Duration::from_secs(1), secs as usize);
    let stats = peer_stats(&app, "lawyer").await;
    let booth_stats = peer_stats(&app, "booth").await;
    println!(
        "impaired 1 Mbit/s, 150 ms RTT, ±15 ms, 3 % loss, {secs} s: lawyer got {} video packets, \
         decodable frames per 2 s {frames:?}; audio packets per s {audio_per_sec:?}; \
         SFU estimate to lawyer {:?} bit/s, video frames dropped for lawyer {}, REMB to booth {:?}; \
         relay down {:?} up {:?}",
        video.len(),
        stats.bwe_estimate_bps,
        stats.video_frames_dropped,
        booth_stats.remb_sent_bps,
        relay.down(),
        relay.up(),
    );
    assert!(
        frames.iter().all(|n| *n > 0),
        "video kept decoding in every 2 s window: {frames:?}"
    );
    let total: usize = frames.iter().sum();
    assert!(
        total as u64 > secs * 30 / 3,
        "at least a third of the frames decodable: {total} in {secs} s"
    );
    assert!(
        audio_per_sec.iter().all(|n| *n >= 25),
        "audio arrived in every second (50 sent): {audio_per_sec:?}"
    );
    assert!(
        stats.bwe_estimate_bps.is_some(),
        "the SFU estimates the leg"
    );
    let _ = booth;
    app.running.shutdown().await;
}

// R-REMOTE-2: a downlink weaker than the sender's rate: the cap reaches the sender (REMB),
// the SFU spares the leg whole video frames and asks for key frames, audio is never starved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weak_downlink_lowers_the_cap_and_never_starves_audio() {
    let secs = run_secs();
    let relay = ImpairRelay::udp(Profile::CLEAN, Duration::from_secs(secs + 60), 12).await;
    let app = app_behind(&relay).await;
    let lawyer_addr = free_udp_addr().await;
    relay.set_client_profile(
        lawyer_addr,
        Profile {
            up: Impairment::CLEAN.with_delay(20 * MS, Duration::ZERO),
            down: Impairment::rate(300_000).with_delay(20 * MS, Duration::ZERO),
        },
    );
    // The booth sends ~560 kbit/s of video that does not listen to REMB (a synthetic source),
    // a key frame every 1.5 s.
    let heavy = SendRates {
        video_fps: 60,
        video_payload_bytes: 1150,
        keyframe_interval: 90,
        ..SendRates::default()
    };
    let (lawyer, booth) = visit(&app, lawyer_addr, SendRates::default(), heavy, secs).await;
    lawyer
        .peer
        .wait_received(MediaKind::Audio, 1, NOTICE_WAIT)
        .await
        .expect("audio through the weak link");
    // The estimator needs a few seconds to find the link; judge audio after that.
    let settle = Duration::from_secs(6.min(secs / 3));
    tokio::time::sleep(settle).await;
    let start = Instant::now();
    let measured = secs - settle.as_secs();
    // The estimate and the cap, each second.
    let (mut estimates, mut rembs) = (Vec::new(), Vec::new());
    for _ in 0..measured {
        tokio::time::sleep(Duration::from_secs(1)).await;
        estimates.push(
            peer_stats(&app, "lawyer")
                .await
                .bwe_estimate_bps
                .unwrap_or(0)
                / 1000,
        );
        rembs.push(peer_stats(&app, "booth").await.remb_sent_bps.unwrap_or(0) / 1000);
    }

    let audio: Vec<Instant> = lawyer
        .peer
        .received(MediaKind::Audio)
        .iter()
        .map(|r| r.at)
        .collect();
    let audio_per_sec = per_window(&audio, start, Duration::from_secs(1), measured as usize);
    let video = lawyer.peer.received(MediaKind::Video);
    let keyframes = video.iter().filter(|r| r.is_vp8_keyframe()).count();
    let stats = peer_stats(&app, "lawyer").await;
    let booth_stats = peer_stats(&app, "booth").await;
    println!(
        "weak downlink 300 kbit/s, booth sending ~560 kbit/s, {secs} s: SFU estimate to lawyer \
         (kbit/s, each s) {estimates:?}, video budget {:?}, frames dropped {}, REMB to booth \
         (kbit/s, each s) {rembs:?}, key frame requests to booth {} (SFU counted {}), \
         lawyer got {} video packets ({keyframes} key frames), audio per s {audio_per_sec:?}; relay down {:?}",
        stats.video_budget_bps,
        stats.video_frames_dropped,
        booth.peer.keyframe_requests(),
        booth_stats.keyframe_requests_sent,
        video.len(),
        relay.down(),
    );
    let low = estimates.iter().filter(|e| **e > 0 && **e < 300).count();
    assert!(
        low > 0,
        "the SFU's estimate of the leg went below the 300 kbit/s link: {estimates:?}"
    );
    let capped = rembs.iter().filter(|r| **r > 0 && **r < 300).count();
    assert!(
        capped > 0,
        "the booth was capped below the link (REMB): {rembs:?}"
    );
    assert!(
        stats.video_frames_dropped > 0,
        "whole frames were spared the lawyer's leg"
    );
    // (The SFU's count: one request at connect, the rest from the congestion gate. webrtc-rs
    // 0.21.1 counts fewer: it passes the SFU's compound RTCP with a REMB in it on to the
    // track only in part.)
    assert!(
        booth_stats.keyframe_requests_sent > 1,
        "the SFU asked the booth for key frames to resume the lawyer's video"
    );
    let resumed = video.iter().filter(|r| r.at >= start).count();
    assert!(
        keyframes >= 2 && resumed > 0,
        "video resumed at key frames: {keyframes} key frames, {resumed} packets after settling"
    );
    // Audio queues behind video in the link's own queue, which holds up to 300 ms: a window
    // in which that queue fills from empty receives up to 15 of its 50 packets in the next
    // one. Starving audio is losing it or holding it longer than that.
    let audio_total = audio_per_sec.iter().sum::<usize>() as u64;
    assert!(
        audio_per_sec.iter().all(|n| *n >= 30) && audio_total * 100 >= 50 * measured * 95,
        "audio was never starved by video (50 a second sent): {audio_per_sec:?}"
    );
    app.running.shutdown().await;
}
