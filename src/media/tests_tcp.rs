//! Spec tests of ICE-TCP in the media driver (R-REMOTE-2): a str0m client whose only
//! candidate is an active TCP one speaks ICE, DTLS and RTP over a real loopback TCP
//! connection with RFC 4571 framing to the driver, and exchanges media with a UDP peer of
//! the same visit through the SFU; plus the framing and connection rules of `tcp` (split and
//! coalesced frames, oversized lengths, garbage, silence) with a live visit alongside.
//!
//! Does not test Chromium (tests/browser_tcp.rs does). Every wait is bounded; the join →
//! first frame figures are printed (`--nocapture`), never asserted.

use super::tcp::{read_loop, TcpInput, FIRST_STUN, MAX_FRAME};
use super::tests::{
    booth, connect, drain_to, expect_connected, lawyer, payload, wait_for, write_frame, Client,
    ClientCmd, ClientOptions, Observed, BOOTH, FRAME_INTERVAL, LAWYER,
};
use super::{start_with_tcp, MediaConfig, MediaEvent, MediaHandle, MediaTcpConfig, PeerId};
use crate::policy::Admitted;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive, TcpType};
use str0m::{Candidate, Input, Rtc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

async fn start_media_tcp() -> (MediaHandle, mpsc::Receiver<MediaEvent>) {
    start_media_tcp_workers(1).await
}

/// The media plane with `workers` workers, UDP and ICE-TCP on loopback port 0.
pub(super) async fn start_media_tcp_workers(
    workers: usize,
) -> (MediaHandle, mpsc::Receiver<MediaEvent>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (tx, rx) = mpsc::channel(64);
    let config = MediaConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_ips: vec!["127.0.0.1".parse().unwrap()],
        public_port: None,
        workers,
        fast_path: true,
    };
    let tcp = MediaTcpConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        max_connections: 16,
    };
    let (handle, _task) = start_with_tcp(config, Some(tcp), tx)
        .await
        .expect("media starts");
    (handle, rx)
}

/// Read one RFC 4571 frame from the client side.
async fn read_client_frame(rd: &mut (impl AsyncReadExt + Unpin)) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    rd.read_exact(&mut len).await?;
    let mut data = vec![0u8; usize::from(u16::from_be_bytes(len))];
    rd.read_exact(&mut data).await?;
    Ok(data)
}

/// Like `tests::connect`, but the client's only candidate is an active TCP one on a real
/// loopback connection to the SFU's TCP listener. Its first writes are split mid-frame (a
/// frame across reads); later writes carry every frame one drain produced (several frames
/// in one read).
async fn connect_tcp(media: &MediaHandle, who: Admitted, opts: ClientOptions) -> (PeerId, Client) {
    let server = media.local_tcp_addr().expect("the TCP listener runs");
    let stream = TcpStream::connect(server).await.expect("connect over TCP");
    stream.set_nodelay(true).unwrap();
    let local = stream.local_addr().unwrap();
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(
        Candidate::builder()
            .tcp()
            .host(local)
            .tcptype(TcpType::Active)
            .build()
            .unwrap(),
    );
    let mut change = rtc.sdp_api();
    let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let video = change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().expect("an offer");
    let (peer, answer) = media
        .add_peer(who, offer.to_sdp_string())
        .await
        .expect("the SFU answers");
    assert!(
        answer.contains("tcptype passive"),
        "the answer offers a passive TCP candidate: {answer}"
    );
    let answer = SdpAnswer::from_sdp_string(&answer).expect("the answer parses");
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .expect("the answer is accepted");
    let obs = Arc::new(Mutex::new(Observed::default()));
    let (cmds, rx) = mpsc::channel(8);
    let task = tokio::spawn(run_tcp_client(
        rtc,
        stream,
        local,
        server,
        [audio, video],
        opts,
        obs.clone(),
        rx,
    ));
    (peer, Client { obs, cmds, task })
}

#[allow(clippy::too_many_arguments)]
async fn run_tcp_client(
    mut rtc: Rtc,
    stream: TcpStream,
    local: SocketAddr,
    server: SocketAddr,
    [audio, video]: [Mid; 2],
    opts: ClientOptions,
    obs: Arc<Mutex<Observed>>,
    mut cmds: mpsc::Receiver<ClientCmd>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let (frames_tx, mut frames) = mpsc::channel::<Vec<u8>>(256);
    let reader = tokio::spawn(async move {
        while let Ok(f) = read_client_frame(&mut rd).await {
            if frames_tx.send(f).await.is_err() {
                break;
            }
        }
    });
    let mut out: Vec<u8> = Vec::new();
    let mut writes = 0usize;
    let mut next_send = Instant::now();
    let mut sent = 0u32;
    let mut started = false;
    while let Some(timeout) = drain_to(&mut rtc, &obs, |t| {
        assert_eq!(t.proto, Protocol::Tcp, "the client's only pair is TCP");
        out.extend_from_slice(&(t.contents.len() as u16).to_be_bytes());
        out.extend_from_slice(&t.contents);
    }) {
        if !out.is_empty() {
            writes += 1;
            // The handshake's writes are split one byte in: a frame across two reads.
            let split = if writes <= 8 { 1 } else { 0 };
            if split > 0 {
                if wr.write_all(&out[..split]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if wr.write_all(&out[split..]).await.is_err() {
                break;
            }
            out.clear();
        }
        if !rtc.is_alive() {
            break;
        }
        let sending = started && rtc.is_connected() && sent < opts.frames;
        let wake = if sending {
            timeout.min(next_send)
        } else {
            timeout
        };
        tokio::select! {
            f = frames.recv() => {
                let Some(data) = f else { break };
                let Ok(contents) = data.as_slice().try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Tcp, source: server, destination: local, contents });
                if rtc.handle_input(input).is_err() {
                    break;
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                if sending && now >= next_send {
                    let a = MediaTime::new(u64::from(sent) * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ);
                    write_frame(&mut rtc, audio, Codec::Opus, a, payload(b'A', opts.tag, sent));
                    let v = MediaTime::new(u64::from(sent) * 900, str0m::media::Frequency::NINETY_KHZ);
                    write_frame(&mut rtc, video, Codec::Vp8, v, payload(b'V', opts.tag, sent));
                    sent += 1;
                    obs.lock().unwrap_or_else(|e| e.into_inner()).sent = sent;
                    next_send += FRAME_INTERVAL;
                }
                if rtc.handle_input(Input::Timeout(now)).is_err() {
                    break;
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(ClientCmd::Start) => {
                    started = true;
                    next_send = Instant::now();
                }
                Some(ClientCmd::RequestKeyframe) => {}
                Some(ClientCmd::Close) => {
                    let _ = rtc.close();
                }
                None => break,
            },
        }
    }
    reader.abort();
}

fn opts(tag: u8, frames: u32) -> ClientOptions {
    ClientOptions {
        tag,
        frames,
        drop_incoming_rtp_every: None,
    }
}

/// The transport the health feed names for `peer`, once it names one.
async fn transport_of(media: &MediaHandle, peer: PeerId) -> Option<&'static str> {
    let mut feed = media.stats_feed();
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let found = feed
            .borrow()
            .peers
            .iter()
            .find(|(_, _, s)| s.peer == Some(peer))
            .and_then(|(_, _, s)| s.health.transport);
        if found.is_some() {
            return found;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), feed.changed()).await;
    }
    None
}

// R-REMOTE-2: a lawyer whose network allows only TCP exchanges media with a booth on UDP,
// byte for byte, through the SFU; the health view says `tcp` for that leg and `udp` for the
// other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_ice_tcp_exchanges_media_with_a_udp_peer_of_its_visit() {
    let (media, mut events) = start_media_tcp().await;
    let frames = 200;
    let (l, lawyer_c) = connect_tcp(&media, lawyer(1), opts(LAWYER, frames)).await;
    let (b, booth_c) = connect(&media, booth(1), opts(BOOTH, frames))
        .await
        .unwrap();
    expect_connected(&mut events, &[l, b]).await;
    lawyer_c.start().await;
    booth_c.start().await;
    let most = (frames * 2 / 3) as usize;
    wait_for("media both ways", Duration::from_secs(20), || {
        let (la, lv) = lawyer_c.frames_from(BOOTH);
        let (ba, bv) = booth_c.frames_from(LAWYER);
        [la, lv, ba, bv].iter().all(|n| *n > most)
    })
    .await;
    for (c, other) in [(&lawyer_c, BOOTH), (&booth_c, LAWYER)] {
        let o = c.obs();
        assert_eq!(o.corrupt, 0, "every received payload equals what was sent");
        assert!(o.video.iter().all(|(tag, _)| *tag == other));
    }
    assert_eq!(transport_of(&media, l).await, Some("tcp"));
    assert_eq!(transport_of(&media, b).await, Some("udp"));
}

/// Join → first remote video frame, for a client on `tcp` or UDP, with the booth already
/// sending.
async fn join_to_first_frame(tcp: bool, visit: i64) -> Duration {
    let (media, mut events) = start_media_tcp().await;
    let (b, booth_c) = connect(&media, booth(visit), opts(BOOTH, 3000))
        .await
        .unwrap();
    expect_connected(&mut events, &[b]).await;
    booth_c.start().await;
    let t0 = Instant::now();
    let (_l, lawyer_c) = if tcp {
        connect_tcp(&media, lawyer(visit), opts(LAWYER, 0)).await
    } else {
        connect(&media, lawyer(visit), opts(LAWYER, 0))
            .await
            .unwrap()
    };
    wait_for("the first remote frame", Duration::from_secs(15), || {
        lawyer_c.frames_from(BOOTH).1 > 0
    })
    .await;
    t0.elapsed()
}

// R-REMOTE-2, measured, not asserted: join → first remote frame over TCP and over UDP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_to_first_remote_frame_over_tcp_and_udp_is_printed() {
    let mut rows = Vec::new();
    for run in 0..3 {
        let tcp = join_to_first_frame(true, 10 + run).await;
        let udp = join_to_first_frame(false, 20 + run).await;
        rows.push((tcp, udp));
    }
    for (i, (tcp, udp)) in rows.iter().enumerate() {
        println!(
            "join -> first remote frame, run {}: tcp {:.1} ms, udp {:.1} ms",
            i + 1,
            tcp.as_secs_f64() * 1e3,
            udp.as_secs_f64() * 1e3
        );
    }
}

/// Wait (bounded) until the server closes `stream`: a read returns end-of-file or an error.
async fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 64];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

// R-REMOTE-2: bad TCP connections are closed one by one (an oversized length, garbage, a
// first frame that is not STUN, a STUN request no peer accepts, silence) while a live visit
// with a TCP leg goes on undisturbed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tcp_connections_close_alone_and_a_live_visit_goes_on() {
    let (media, mut events) = start_media_tcp().await;
    let server = media.local_tcp_addr().unwrap();
    // Enough for the whole test (10 ms apart): the silent connection alone takes ~6 s.
    let frames = 3000;
    let (l, lawyer_c) = connect_tcp(&media, lawyer(1), opts(LAWYER, frames)).await;
    let (b, booth_c) = connect(&media, booth(1), opts(BOOTH, frames))
        .await
        .unwrap();
    expect_connected(&mut events, &[l, b]).await;
    lawyer_c.start().await;
    booth_c.start().await;
    wait_for("media flows", Duration::from_secs(10), || {
        lawyer_c.frames_from(BOOTH).1 > 20 && booth_c.frames_from(LAWYER).1 > 20
    })
    .await;

    let mut silent = TcpStream::connect(server).await.unwrap();
    let mut oversized = TcpStream::connect(server).await.unwrap();
    let too_long = u16::try_from(MAX_FRAME + 1).unwrap().to_be_bytes();
    oversized.write_all(&too_long).await.unwrap();
    let mut garbage = TcpStream::connect(server).await.unwrap();
    garbage
        .write_all(&[
            0x00, 0x10, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ])
        .await
        .unwrap();
    // A well-formed binding request with a username no peer has.
    let mut stranger = TcpStream::connect(server).await.unwrap();
    let mut stun = vec![0x00, 0x01, 0x00, 0x0c, 0x21, 0x12, 0xa4, 0x42];
    stun.extend([7u8; 12]); // transaction id
    stun.extend([0x00, 0x06, 0x00, 0x08]); // USERNAME, 8 bytes
    stun.extend(b"nobo:dy!");
    let mut framed = (stun.len() as u16).to_be_bytes().to_vec();
    framed.extend(&stun);
    stranger.write_all(&framed).await.unwrap();

    for (what, s, limit) in [
        ("oversized length", &mut oversized, Duration::from_secs(2)),
        ("garbage", &mut garbage, Duration::from_secs(2)),
        (
            "a STUN request for no peer",
            &mut stranger,
            Duration::from_secs(2),
        ),
        ("silence", &mut silent, FIRST_STUN + Duration::from_secs(2)),
    ] {
        assert!(
            closed_by_server(s, limit).await,
            "a connection with {what} is closed"
        );
    }

    // The visit's TCP leg is still forwarded to, and still forwards.
    let (before_l, before_b) = (lawyer_c.frames_from(BOOTH).1, booth_c.frames_from(LAWYER).1);
    wait_for("media keeps flowing", Duration::from_secs(10), || {
        lawyer_c.frames_from(BOOTH).1 > before_l + 20
            && booth_c.frames_from(LAWYER).1 > before_b + 20
    })
    .await;
    assert_eq!(lawyer_c.obs().corrupt, 0);
    assert!(media
        .snapshot()
        .await
        .peers
        .iter()
        .all(|(_, _, s)| s.connected));
}

// RFC 4571 framing in the reader itself: a frame split across reads, two frames in one read,
// then an oversized length ends that connection's reader.
#[tokio::test]
async fn the_reader_reassembles_split_and_coalesced_frames_and_stops_at_an_oversized_one() {
    let (mut client, server) = tokio::io::duplex(4096);
    let (tx, mut rx) = mpsc::channel(8);
    let source: SocketAddr = "192.0.2.1:5000".parse().unwrap();
    let destination: SocketAddr = "192.0.2.2:8445".parse().unwrap();
    let reader = tokio::spawn(async move { read_loop(server, 1, source, destination, &tx).await });
    let mut stun = vec![0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42];
    stun.extend([1u8; 12]);
    let second = b"second frame".to_vec();
    let third = vec![0x80; 300];
    let mut bytes = Vec::new();
    for f in [&stun, &second, &third] {
        bytes.extend((f.len() as u16).to_be_bytes());
        bytes.extend(f.iter());
    }
    // Split inside the first length, then inside the first frame, then the rest at once.
    for part in [&bytes[..1], &bytes[1..7], &bytes[7..]] {
        client.write_all(part).await.unwrap();
        client.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for want in [&stun, &second, &third] {
        match tokio::time::timeout(Duration::from_secs(2), rx.recv()).await {
            Ok(Some(TcpInput::Frame {
                conn,
                source: s,
                destination: d,
                data,
            })) => {
                assert_eq!((conn, s, d), (1, source, destination));
                assert_eq!(&data, want);
            }
            _ => panic!("a frame"),
        }
    }
    client
        .write_all(&u16::try_from(MAX_FRAME + 1).unwrap().to_be_bytes())
        .await
        .unwrap();
    let why = tokio::time::timeout(Duration::from_secs(2), reader)
        .await
        .expect("the reader stops")
        .unwrap();
    assert!(why.contains("frame length"), "{why}");
}
