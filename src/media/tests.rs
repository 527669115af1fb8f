//! Spec tests of the media driver: real UDP on 127.0.0.1 port 0, the real driver task, and
//! str0m peers in ordinary (frame) mode playing browser-like clients that offer audio + video
//! sendrecv. Every wait is bounded; nothing asserts on wall-clock speed.

use super::{start, MediaConfig, MediaError, MediaEvent, MediaHandle, PeerId};
use crate::ids::{BoothId, LawyerId, Role, VisitId};
use crate::licence::verify::{Reason, Verdict};
use crate::policy::{
    admit, Admitted, Applicant, Documents, EngagementEvidence, LawyerEvidence, Permission,
    VisitTerms,
};
use chrono::Utc;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, KeyframeRequestKind, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

// ---------------------------------------------------------------------------------------------
// docs/DESIGN.md invariant 2 / R-PRIV-1: media does no file I/O and opens no socket but its UDP
// one(s).
// ---------------------------------------------------------------------------------------------

#[test]
fn media_does_no_file_io() {
    // Built by concatenation so this file does not trip its own check.
    let forbidden = [
        concat!("std::", "fs"),
        concat!("tokio::", "fs"),
        concat!("File", "::"),
        concat!("Open", "Options"),
        concat!("Tcp", "Stream"),
        concat!("Unix", "Stream"),
        concat!("Unix", "Listener"),
        concat!("Unix", "Datagram"),
    ];
    let bind = concat!("UdpSocket", "::", "bind");
    // R-REMOTE-2: the ICE-TCP listener is the one TCP socket media opens, in `tcp.rs` only;
    // media never connects out (no stream type is named anywhere in it).
    let listener = concat!("Tcp", "Listener");
    let tcp_bind = concat!("Tcp", "Listener", "::", "bind");
    let mut tcp_binds = 0;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join("media");
    let mut files = Vec::new();
    collect_rs(&dir, &mut files);
    assert!(
        files.len() >= 5,
        "expected the media sources under {}",
        dir.display()
    );
    let mut binds = 0;
    for file in &files {
        if file
            .file_name()
            .is_some_and(|n| n == "tests.rs" || n == "tests_tcp.rs" || n == "tests_probe.rs")
        {
            continue; // these files read files and bind client sockets on purpose
        }
        let text = std::fs::read_to_string(file).expect("read a media source file");
        for f in forbidden {
            assert!(
                !text.contains(f),
                "{} uses `{f}`: media must do no file I/O (R-PRIV-1)",
                file.display()
            );
        }
        binds += text.matches(bind).count();
        if file.file_name().is_some_and(|n| n == "tcp.rs") {
            tcp_binds += text.matches(tcp_bind).count();
        } else {
            assert!(
                !text.contains(listener),
                "{} uses `{listener}`: only media/tcp.rs listens on TCP",
                file.display()
            );
        }
    }
    assert_eq!(
        tcp_binds, 1,
        "exactly one TCP listener bind call site (tcp.rs)"
    );
    assert_eq!(
        binds, 1,
        "exactly one UDP bind call site (socket.rs) is expected in media"
    );
}

fn collect_rs(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("list src/media") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

pub(super) const FRAME_INTERVAL: Duration = Duration::from_millis(10);

fn admitted(visit: i64, who: Applicant) -> Admitted {
    let now = Utc::now();
    let terms = VisitTerms {
        id: VisitId(visit),
        lawyer: LawyerId(visit * 10),
        booth: BoothId(format!("booth-{visit}")),
        case: Some(crate::ids::CaseId(visit)),
        companions: Vec::new(),
        starts_at: now - chrono::Duration::hours(1),
        ends_at: now + chrono::Duration::hours(1),
        ended: false,
        room: crate::policy::Room::Ordinary,
        lawyer_booth: None,
    };
    admit(&terms, &who, now).expect("test participant is admitted")
}

pub(super) fn lawyer(visit: i64) -> Admitted {
    // Verified by hand (R-VERIFY-2) with accepted documents: the media tests need an
    // admitted lawyer, not a registry.
    let evidence = LawyerEvidence {
        account_locked: false,
        engagement: Some(EngagementEvidence {
            documents: Documents::ACCEPTED,
            permission: Permission::NotNeeded,
        }),
        licence: Verdict::Refused(Reason::RegistryUnavailable),
        manually_verified: true,
        terminal: None,
    };
    admitted(visit, Applicant::Lawyer(LawyerId(visit * 10), evidence))
}

pub(super) fn booth(visit: i64) -> Admitted {
    admitted(visit, Applicant::Booth(BoothId(format!("booth-{visit}"))))
}

async fn start_media() -> (MediaHandle, mpsc::Receiver<MediaEvent>) {
    // `RUST_LOG=confer::media=debug` shows the driver's logs when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (tx, rx) = mpsc::channel(64);
    let config = MediaConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        public_ips: vec!["127.0.0.1".parse().unwrap()],
        public_port: None,
        workers: 1,
        fast_path: true,
    };
    let (handle, _task) = start(config, tx).await.expect("media starts");
    (handle, rx)
}

/// Payload bytes that name the sender, the media kind and the frame index.
pub(super) fn payload(kind: u8, tag: u8, index: u32) -> Vec<u8> {
    let len = if kind == b'V' { 400 } else { 80 };
    // VP8 payload header first byte: P bit set (inter frame); the rest is ours.
    let mut p = vec![0x01, kind, tag];
    p.extend(index.to_be_bytes());
    while p.len() < len {
        p.push((index as u8).wrapping_mul(31).wrapping_add(p.len() as u8));
    }
    p
}

pub(super) fn parse_payload(data: &[u8]) -> Option<(u8, u8, u32)> {
    let index = u32::from_be_bytes(data.get(3..7)?.try_into().ok()?);
    Some((*data.get(1)?, *data.get(2)?, index))
}

#[derive(Default, Debug)]
pub(super) struct Observed {
    pub(super) connected: bool,
    /// (sender tag, index) of every intact frame received.
    pub(super) audio: BTreeSet<(u8, u32)>,
    pub(super) video: BTreeSet<(u8, u32)>,
    pub(super) media_events: usize,
    pub(super) corrupt: usize,
    pub(super) keyframe_requests: usize,
    pub(super) sent: u32,
}

pub(super) enum ClientCmd {
    /// Start sending frames (sent once every peer is connected, so none is lost to joining).
    Start,
    RequestKeyframe,
    Close,
}

pub(super) struct Client {
    pub(super) obs: Arc<Mutex<Observed>>,
    pub(super) cmds: mpsc::Sender<ClientCmd>,
    pub(super) task: tokio::task::JoinHandle<()>,
}

impl Client {
    pub(super) fn obs(&self) -> std::sync::MutexGuard<'_, Observed> {
        self.obs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) async fn start(&self) {
        self.cmds
            .send(ClientCmd::Start)
            .await
            .expect("client running");
    }

    pub(super) fn frames_from(&self, tag: u8) -> (usize, usize) {
        let o = self.obs();
        (
            o.audio.iter().filter(|(t, _)| *t == tag).count(),
            o.video.iter().filter(|(t, _)| *t == tag).count(),
        )
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(super) struct ClientOptions {
    pub(super) tag: u8,
    pub(super) frames: u32,
    /// Drop every n-th incoming RTP datagram (simulated loss towards this client).
    pub(super) drop_incoming_rtp_every: Option<usize>,
}

/// A browser-like client: offers audio + video sendrecv with str0m's default (many) codecs,
/// gets the answer from the driver, then sends `frames` Opus and VP8 frames.
pub(super) async fn connect(
    media: &MediaHandle,
    who: Admitted,
    opts: ClientOptions,
) -> Result<(PeerId, Client), MediaError> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("client socket");
    let local = socket.local_addr().unwrap();
    let mut rtc = Rtc::builder().build(Instant::now());
    rtc.add_local_candidate(Candidate::host(local, "udp").unwrap());
    let mut change = rtc.sdp_api();
    let audio = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
    let video = change.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
    let (offer, pending) = change.apply().expect("an offer");
    let (peer, answer) = media.add_peer(who, offer.to_sdp_string()).await?;
    let answer = SdpAnswer::from_sdp_string(&answer).expect("the answer parses");
    rtc.sdp_api()
        .accept_answer(pending, answer)
        .expect("the answer is accepted");
    let obs = Arc::new(Mutex::new(Observed::default()));
    let (cmds, rx) = mpsc::channel(8);
    let task = tokio::spawn(run_client(
        rtc,
        socket,
        local,
        audio,
        video,
        opts,
        obs.clone(),
        rx,
    ));
    Ok((peer, Client { obs, cmds, task }))
}

fn drain(rtc: &mut Rtc, socket: &UdpSocket, obs: &Mutex<Observed>) -> Option<Instant> {
    drain_to(rtc, obs, |t| {
        let _ = socket.try_send_to(&t.contents, t.destination);
    })
}

/// Drain `rtc` until its timeout: transmits go to `send`, events are recorded in `obs`.
pub(super) fn drain_to(
    rtc: &mut Rtc,
    obs: &Mutex<Observed>,
    mut send: impl FnMut(str0m::net::Transmit),
) -> Option<Instant> {
    loop {
        match rtc.poll_output() {
            Ok(Output::Timeout(t)) => return Some(t),
            Ok(Output::Transmit(t)) => send(t),
            Ok(Output::Event(e)) => {
                let mut o = obs.lock().unwrap_or_else(|e| e.into_inner());
                match e {
                    Event::Connected => o.connected = true,
                    Event::MediaData(data) => {
                        o.media_events += 1;
                        let ok = parse_payload(&data.data).filter(|(kind, tag, index)| {
                            *data.data == *payload(*kind, *tag, *index)
                        });
                        match ok {
                            Some((b'A', tag, i)) if data.params.spec().codec == Codec::Opus => {
                                o.audio.insert((tag, i));
                            }
                            Some((b'V', tag, i)) if data.params.spec().codec == Codec::Vp8 => {
                                o.video.insert((tag, i));
                            }
                            _ => o.corrupt += 1,
                        }
                    }
                    Event::KeyframeRequest(_) => o.keyframe_requests += 1,
                    _ => {}
                }
            }
            Err(_) => return None,
        }
    }
}

pub(super) fn write_frame(rtc: &mut Rtc, mid: Mid, codec: Codec, time: MediaTime, data: Vec<u8>) {
    let Some(writer) = rtc.writer(mid) else {
        return;
    };
    let Some(pt) = writer
        .payload_params()
        .find(|p| p.spec().codec == codec)
        .map(|p| p.pt())
    else {
        return;
    };
    let _ = writer.write(pt, Instant::now(), time, data);
}

pub(super) fn is_rtp(data: &[u8]) -> bool {
    data.len() >= 12 && data[0] >> 6 == 2 && !(64..=95).contains(&(data[1] & 0x7f))
}

#[allow(clippy::too_many_arguments)]
async fn run_client(
    mut rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    audio: Mid,
    video: Mid,
    opts: ClientOptions,
    obs: Arc<Mutex<Observed>>,
    mut cmds: mpsc::Receiver<ClientCmd>,
) {
    let mut buf = vec![0u8; 2048];
    let mut next_send = Instant::now();
    let mut sent = 0u32;
    let mut rtp_seen = 0usize;
    let mut started = false;
    loop {
        let Some(timeout) = drain(&mut rtc, &socket, &obs) else {
            return;
        };
        if !rtc.is_alive() {
            return;
        }
        let sending = started && rtc.is_connected() && sent < opts.frames;
        let wake = if sending {
            timeout.min(next_send)
        } else {
            timeout
        };
        tokio::select! {
            r = socket.recv_from(&mut buf) => {
                let Ok((n, source)) = r else { continue };
                let data = &buf[..n];
                if is_rtp(data) {
                    rtp_seen += 1;
                    if opts.drop_incoming_rtp_every.is_some_and(|k| rtp_seen.is_multiple_of(k)) {
                        continue;
                    }
                }
                let Ok(contents) = data.try_into() else { continue };
                let input = Input::Receive(Instant::now(), Receive { proto: Protocol::Udp, source, destination: local, contents });
                if rtc.handle_input(input).is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {
                let now = Instant::now();
                if sending && now >= next_send {
                    let a = MediaTime::new(u64::from(sent) * 960, str0m::media::Frequency::FORTY_EIGHT_KHZ);
                    write_frame(&mut rtc, audio, Codec::Opus, a, payload(b'A', opts.tag, sent));
                    if drain(&mut rtc, &socket, &obs).is_none() { return; }
                    let v = MediaTime::new(u64::from(sent) * 900, str0m::media::Frequency::NINETY_KHZ);
                    write_frame(&mut rtc, video, Codec::Vp8, v, payload(b'V', opts.tag, sent));
                    if drain(&mut rtc, &socket, &obs).is_none() { return; }
                    sent += 1;
                    obs.lock().unwrap_or_else(|e| e.into_inner()).sent = sent;
                    next_send += FRAME_INTERVAL;
                }
                if rtc.handle_input(Input::Timeout(now)).is_err() {
                    return;
                }
            }
            cmd = cmds.recv() => match cmd {
                Some(ClientCmd::Start) => {
                    started = true;
                    next_send = Instant::now();
                }
                Some(ClientCmd::RequestKeyframe) => {
                    if let Some(mut w) = rtc.writer(video) {
                        let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
                    }
                }
                Some(ClientCmd::Close) => {
                    let _ = rtc.close();
                }
                None => return,
            },
        }
    }
}

/// Wait (bounded) until `cond` holds.
pub(super) async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn next_event(
    events: &mut mpsc::Receiver<MediaEvent>,
    limit: Duration,
) -> MediaEvent {
    // Slot bindings (for the roster) are reported as they change; these tests watch
    // connections only.
    tokio::time::timeout(limit, async {
        loop {
            match events.recv().await.expect("the driver is running") {
                MediaEvent::Slots { .. } => continue,
                other => return other,
            }
        }
    })
    .await
    .expect("a media event in time")
}

pub(super) async fn expect_connected(events: &mut mpsc::Receiver<MediaEvent>, peers: &[PeerId]) {
    let mut want: BTreeSet<PeerId> = peers.iter().copied().collect();
    while !want.is_empty() {
        match next_event(events, Duration::from_secs(10)).await {
            MediaEvent::PeerConnected { peer, .. } => {
                want.remove(&peer);
            }
            other => panic!("unexpected event before connect: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Spec
// ---------------------------------------------------------------------------------------------

pub(super) const LAWYER: u8 = b'L';
pub(super) const BOOTH: u8 = b'B';
const STRANGER: u8 = b'S';

// docs/DESIGN.md invariant 1 (the gate): a visit's lawyer and booth receive each other's audio
// and video byte for byte; a participant of another visit receives nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lawyer_and_booth_receive_each_others_media_and_another_visit_receives_nothing() {
    let (media, mut events) = start_media().await;
    let frames = 300;
    let (l, lawyer_c) = connect(
        &media,
        lawyer(1),
        ClientOptions {
            tag: LAWYER,
            frames,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    let (b, booth_c) = connect(
        &media,
        booth(1),
        ClientOptions {
            tag: BOOTH,
            frames,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    let (s, stranger_c) = connect(
        &media,
        lawyer(2),
        ClientOptions {
            tag: STRANGER,
            frames,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    expect_connected(&mut events, &[l, b, s]).await;
    for c in [&lawyer_c, &booth_c, &stranger_c] {
        c.start().await;
    }

    // "Most": loopback UDP still drops datagrams when the machine is saturated (shared CI).
    let most = (frames * 2 / 3) as usize;
    wait_for(
        "everyone to finish sending",
        Duration::from_secs(15),
        || {
            [&lawyer_c, &booth_c, &stranger_c]
                .iter()
                .all(|c| c.obs().sent == frames)
        },
    )
    .await;
    let arrived = || {
        let (la, lv) = lawyer_c.frames_from(BOOTH);
        let (ba, bv) = booth_c.frames_from(LAWYER);
        [la, lv, ba, bv]
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while arrived().iter().any(|n| *n <= most) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let got = arrived();
    let snap = media.snapshot().await;
    assert!(
        got.iter().all(|n| *n > most),
        "frames received [lawyer a/v, booth a/v] {got:?} of {frames}; driver: {snap:?}; lawyer saw {} media events",
        lawyer_c.obs().media_events
    );

    for (c, other) in [(&lawyer_c, BOOTH), (&booth_c, LAWYER)] {
        let o = c.obs();
        assert_eq!(o.corrupt, 0, "every received payload equals what was sent");
        assert!(
            o.audio
                .iter()
                .chain(o.video.iter())
                .all(|(tag, _)| *tag == other),
            "only the visit's other side"
        );
    }
    {
        let o = stranger_c.obs();
        assert_eq!(
            o.media_events, 0,
            "a participant of another visit receives nothing"
        );
    }

    let snap = media.snapshot().await;
    assert_eq!(snap.peers.len(), 3);
    for (visit, _role, stats) in &snap.peers {
        assert!(stats.connected);
        assert!(
            stats.rtp_packets_in >= u64::from(frames),
            "every peer sent to the SFU"
        );
        // Once str0m knows a stream (its first packets), the media fast path takes it both
        // ways: opened with the leg's keys, sealed with the receiver's.
        assert!(
            stats.fast_packets_in * 10 >= stats.rtp_packets_in * 9,
            "the fast path opened most packets: {stats:?}"
        );
        if *visit == VisitId(2) {
            assert_eq!(
                stats.rtp_packets_out, 0,
                "nothing is forwarded to the other visit"
            );
        } else {
            assert!(stats.rtp_packets_out as usize > 2 * most);
            assert!(
                stats.fast_packets_out * 10 >= stats.rtp_packets_out * 9,
                "the fast path sealed most packets: {stats:?}"
            );
        }
    }
}

// A receiver's keyframe request reaches the sender (PLI relay), else a late joiner sees no picture.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receivers_keyframe_request_reaches_the_sender() {
    let (media, mut events) = start_media().await;
    let frames = 200;
    let (l, lawyer_c) = connect(
        &media,
        lawyer(3),
        ClientOptions {
            tag: LAWYER,
            frames,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    let (b, booth_c) = connect(
        &media,
        booth(3),
        ClientOptions {
            tag: BOOTH,
            frames,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    expect_connected(&mut events, &[l, b]).await;
    lawyer_c.start().await;
    booth_c.start().await;
    wait_for(
        "video to flow to the booth",
        Duration::from_secs(10),
        || booth_c.frames_from(LAWYER).1 > 10,
    )
    .await;

    let before = lawyer_c.obs().keyframe_requests;
    booth_c.cmds.send(ClientCmd::RequestKeyframe).await.unwrap();
    wait_for(
        "the lawyer to be asked for a keyframe",
        Duration::from_secs(5),
        || lawyer_c.obs().keyframe_requests > before,
    )
    .await;
}

// NACK: lost packets towards a receiver are repaired from that leg's retransmission buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_video_packets_towards_a_receiver_are_retransmitted() {
    let (media, mut events) = start_media().await;
    let frames = 200;
    let (l, lawyer_c) = connect(
        &media,
        lawyer(4),
        ClientOptions {
            tag: LAWYER,
            frames,
            drop_incoming_rtp_every: Some(10),
        },
    )
    .await
    .unwrap();
    let (b, booth_c) = connect(
        &media,
        booth(4),
        ClientOptions {
            tag: BOOTH,
            frames,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    expect_connected(&mut events, &[l, b]).await;
    lawyer_c.start().await;
    booth_c.start().await;
    wait_for(
        "the booth to finish sending",
        Duration::from_secs(10),
        || booth_c.obs().sent == frames,
    )
    .await;
    // Video is repaired by NACK/RTX despite 10% loss (without repair ~10% of frames would
    // be missing); audio is not NACKed.
    wait_for(
        "almost all booth video at the lawyer",
        Duration::from_secs(5),
        || lawyer_c.frames_from(BOOTH).1 >= frames as usize * 97 / 100,
    )
    .await;
    assert_eq!(lawyer_c.obs().corrupt, 0);
    // The repairs came from a retransmission buffer that the media fast path filled: the
    // booth's video to the lawyer left on the fast path, not through str0m's queue.
    let snap = media.snapshot().await;
    let to_lawyer = snap
        .peers
        .iter()
        .find(|(_, role, _)| *role == Role::Lawyer)
        .map(|(_, _, s)| s.clone())
        .expect("the lawyer's peer");
    assert!(
        to_lawyer.fast_packets_out * 10 >= to_lawyer.rtp_packets_out * 9,
        "the fast path sealed most packets to the lawyer: {to_lawyer:?}"
    );
}

// remove_peer stops forwarding at once; a client closing on its own is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_peer_stops_receiving_and_a_closing_peer_is_reported() {
    let (media, mut events) = start_media().await;
    let endless = 100_000;
    let (l, lawyer_c) = connect(
        &media,
        lawyer(5),
        ClientOptions {
            tag: LAWYER,
            frames: endless,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    let (b, booth_c) = connect(
        &media,
        booth(5),
        ClientOptions {
            tag: BOOTH,
            frames: endless,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    expect_connected(&mut events, &[l, b]).await;
    lawyer_c.start().await;
    booth_c.start().await;
    wait_for("media both ways", Duration::from_secs(10), || {
        booth_c.frames_from(LAWYER).1 > 20 && lawyer_c.frames_from(BOOTH).1 > 20
    })
    .await;

    media.remove_peer(b).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // packets already in flight
    let booth_had = booth_c.obs().media_events;
    let lawyer_had = lawyer_c.obs().media_events;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(lawyer_c.obs().sent > 100, "the lawyer kept sending");
    assert_eq!(
        booth_c.obs().media_events,
        booth_had,
        "a removed peer receives nothing more"
    );
    assert_eq!(
        lawyer_c.obs().media_events,
        lawyer_had,
        "nothing from a removed peer is forwarded"
    );
    let snap = media.snapshot().await;
    assert_eq!(
        snap.peers.len(),
        1,
        "the removed peer is gone from the driver"
    );

    lawyer_c.cmds.send(ClientCmd::Close).await.unwrap();
    match next_event(&mut events, Duration::from_secs(5)).await {
        MediaEvent::PeerDisconnected { peer, visit, .. } => {
            assert_eq!(peer, l);
            assert_eq!(visit, VisitId(5));
        }
        other => panic!("expected the lawyer's disconnect, got {other:?}"),
    }
    assert!(media.snapshot().await.peers.is_empty());
}

#[tokio::test]
async fn end_visit_closes_every_peer_of_that_visit_only() {
    let (media, _events) = start_media().await;
    let (_, _a) = connect(
        &media,
        lawyer(6),
        ClientOptions {
            tag: LAWYER,
            frames: 0,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    let (_, _b) = connect(
        &media,
        booth(6),
        ClientOptions {
            tag: BOOTH,
            frames: 0,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    let (_, _c) = connect(
        &media,
        lawyer(7),
        ClientOptions {
            tag: STRANGER,
            frames: 0,
            drop_incoming_rtp_every: None,
        },
    )
    .await
    .unwrap();
    media.end_visit(VisitId(6)).await;
    let snap = media.snapshot().await;
    assert_eq!(snap.peers.len(), 1);
    assert_eq!(snap.peers[0].0, VisitId(7));
}

#[tokio::test]
async fn a_broken_offer_is_refused_with_a_reason() {
    let (media, _events) = start_media().await;
    let err = media
        .add_peer(lawyer(8), "this is not sdp".into())
        .await
        .unwrap_err();
    assert!(matches!(err, MediaError::BadOffer(_)), "{err:?}");
    assert!(media.snapshot().await.peers.is_empty());
}

/// A Chromium offer as it arrives: BUNDLE, rtcp-mux, many codecs, RED, ULPFEC, RTX, extensions.
const CHROMIUM_OFFER: &str = "v=0\r
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r
s=-\r
t=0 0\r
a=group:BUNDLE 0 1\r
a=extmap-allow-mixed\r
a=msid-semantic: WMS 6b1a5c3e\r
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:Kq3h\r
a=ice-pwd:w4HXHGZ5P8hGAxXnNQ0V3o7U\r
a=ice-options:trickle\r
a=fingerprint:sha-256 5B:7A:1F:E4:43:19:F0:DA:9D:6C:0C:2B:5A:2E:91:8C:63:2D:B8:4C:36:58:0A:94:E3:8B:7E:58:0C:1E:6F:AA\r
a=setup:actpass\r
a=mid:0\r
a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level\r
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
a=sendrecv\r
a=msid:6b1a5c3e 0f6d7c2b\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:111 opus/48000/2\r
a=rtcp-fb:111 transport-cc\r
a=fmtp:111 minptime=10;useinbandfec=1\r
a=rtpmap:63 red/48000/2\r
a=fmtp:63 111/111\r
a=rtpmap:9 G722/8000\r
a=rtpmap:0 PCMU/8000\r
a=rtpmap:8 PCMA/8000\r
a=rtpmap:13 CN/8000\r
a=rtpmap:110 telephone-event/48000\r
a=rtpmap:126 telephone-event/8000\r
a=ssrc:3830426621 cname:0c6Zy2rTFa1dNfTq\r
a=ssrc:3830426621 msid:6b1a5c3e 0f6d7c2b\r
m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 106 107 108 109 127 125 39 40 45 46 98 99 100 101 112 113 116 117 118\r
c=IN IP4 0.0.0.0\r
a=rtcp:9 IN IP4 0.0.0.0\r
a=ice-ufrag:Kq3h\r
a=ice-pwd:w4HXHGZ5P8hGAxXnNQ0V3o7U\r
a=ice-options:trickle\r
a=fingerprint:sha-256 5B:7A:1F:E4:43:19:F0:DA:9D:6C:0C:2B:5A:2E:91:8C:63:2D:B8:4C:36:58:0A:94:E3:8B:7E:58:0C:1E:6F:AA\r
a=setup:actpass\r
a=mid:1\r
a=extmap:14 urn:ietf:params:rtp-hdrext:toffset\r
a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r
a=extmap:13 urn:3gpp:video-orientation\r
a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r
a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r
a=extmap:6 http://www.webrtc.org/experiments/rtp-hdrext/video-content-type\r
a=extmap:7 http://www.webrtc.org/experiments/rtp-hdrext/video-timing\r
a=extmap:8 http://www.webrtc.org/experiments/rtp-hdrext/color-space\r
a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid\r
a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id\r
a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id\r
a=sendrecv\r
a=msid:6b1a5c3e 9a0e3c3d\r
a=rtcp-mux\r
a=rtcp-rsize\r
a=rtpmap:96 VP8/90000\r
a=rtcp-fb:96 goog-remb\r
a=rtcp-fb:96 transport-cc\r
a=rtcp-fb:96 ccm fir\r
a=rtcp-fb:96 nack\r
a=rtcp-fb:96 nack pli\r
a=rtpmap:97 rtx/90000\r
a=fmtp:97 apt=96\r
a=rtpmap:102 H264/90000\r
a=rtcp-fb:102 goog-remb\r
a=rtcp-fb:102 transport-cc\r
a=rtcp-fb:102 ccm fir\r
a=rtcp-fb:102 nack\r
a=rtcp-fb:102 nack pli\r
a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f\r
a=rtpmap:103 rtx/90000\r
a=fmtp:103 apt=102\r
a=rtpmap:104 H264/90000\r
a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f\r
a=rtpmap:105 rtx/90000\r
a=fmtp:105 apt=104\r
a=rtpmap:106 H264/90000\r
a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r
a=rtpmap:107 rtx/90000\r
a=fmtp:107 apt=106\r
a=rtpmap:108 H264/90000\r
a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f\r
a=rtpmap:109 rtx/90000\r
a=fmtp:109 apt=108\r
a=rtpmap:127 H264/90000\r
a=fmtp:127 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f\r
a=rtpmap:125 rtx/90000\r
a=fmtp:125 apt=127\r
a=rtpmap:39 H264/90000\r
a=fmtp:39 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=4d001f\r
a=rtpmap:40 rtx/90000\r
a=fmtp:40 apt=39\r
a=rtpmap:45 AV1/90000\r
a=fmtp:45 level-idx=5;profile=0;tier=0\r
a=rtpmap:46 rtx/90000\r
a=fmtp:46 apt=45\r
a=rtpmap:98 VP9/90000\r
a=fmtp:98 profile-id=0\r
a=rtpmap:99 rtx/90000\r
a=fmtp:99 apt=98\r
a=rtpmap:100 VP9/90000\r
a=fmtp:100 profile-id=2\r
a=rtpmap:101 rtx/90000\r
a=fmtp:101 apt=100\r
a=rtpmap:112 H264/90000\r
a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f\r
a=rtpmap:113 rtx/90000\r
a=fmtp:113 apt=112\r
a=rtpmap:116 red/90000\r
a=rtpmap:117 rtx/90000\r
a=fmtp:117 apt=116\r
a=rtpmap:118 ulpfec/90000\r
a=ssrc-group:FID 2146405254 1491318153\r
a=ssrc:2146405254 cname:0c6Zy2rTFa1dNfTq\r
a=ssrc:2146405254 msid:6b1a5c3e 9a0e3c3d\r
a=ssrc:1491318153 cname:0c6Zy2rTFa1dNfTq\r
a=ssrc:1491318153 msid:6b1a5c3e 9a0e3c3d\r
";

// A standard browser offer gets a valid ICE-lite answer with only Opus and VP8 (+RTX) in it.
#[tokio::test]
async fn a_chromium_offer_gets_an_ice_lite_answer_with_opus_and_vp8() {
    let (media, _events) = start_media().await;
    let port = media.local_addrs()[0].port();
    let (_, answer) = media
        .add_peer(booth(9), CHROMIUM_OFFER.into())
        .await
        .expect("Chromium's offer is accepted");
    SdpAnswer::from_sdp_string(&answer).expect("the answer is valid SDP");
    for needed in [
        "a=ice-lite",
        "a=group:BUNDLE 0 1",
        "a=mid:0",
        "a=mid:1",
        "a=rtcp-mux",
        "a=setup:passive",
        "a=sendrecv",
        "opus/48000/2",
        "VP8/90000",
        "a=fmtp:97 apt=96",
        "a=rtcp-fb:96 nack pli",
        &format!("127.0.0.1 {port} typ host"),
    ] {
        assert!(
            answer.contains(needed),
            "answer lacks {needed:?}:\n{answer}"
        );
    }
    for absent in ["H264", "VP9", "AV1", "ulpfec", "red/", "G722", "PCMU"] {
        assert!(
            !answer.contains(absent),
            "answer offers {absent:?}:\n{answer}"
        );
    }
    // Header extensions (R-REMOTE-2): the transport sequence number that congestion control
    // estimates from, the mid that BUNDLE needs; not the absolute send time, which only a
    // receiver-side estimate would use (Chromium offers it).
    for needed in [
        "transport-wide-cc-extensions-01",
        "urn:ietf:params:rtp-hdrext:sdes:mid",
    ] {
        assert!(
            answer.contains(needed),
            "answer lacks {needed:?}:\n{answer}"
        );
    }
    assert!(
        !answer.contains("abs-send-time"),
        "answer negotiates the absolute send time:\n{answer}"
    );
}

/// A forwarded packet's payload type on a leg (`Peer::send_pt`) is this leg's negotiation:
/// the source's codec maps to this leg's payload type for it, on an m-line that negotiated it,
/// and to nothing for a codec or an m-line that did not. Each decision is made once per kind
/// of packet and found again; a renegotiation (an ICE restart's offer) starts afresh.
#[test]
fn a_legs_payload_type_for_forwarded_media_is_its_own_negotiation_decided_once() {
    use str0m::format::{CodecSpec, FormatParams, PayloadParams};
    use str0m::media::{Frequency, Pt};
    let now = Instant::now();
    let candidate: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let net = super::socket::MediaSockets::capture(candidate);
    let mut notices = Vec::new();
    let (mut peer, _answer) = super::peer::Peer::accept(
        PeerId(1),
        &booth(9),
        CHROMIUM_OFFER,
        &[candidate],
        &[],
        true,
        &net,
        now,
        &mut notices,
    )
    .expect("Chromium's offer is accepted");
    let ours = peer.codecs();
    let find = |codec: Codec| *ours.iter().find(|p| p.spec().codec == codec).unwrap();
    let (vp8, opus) = (find(Codec::Vp8), find(Codec::Opus));
    // The source leg numbered the same codecs otherwise.
    let theirs_vp8 = PayloadParams::new(Pt::new_with_value(120), None, vp8.spec());
    let theirs_opus = PayloadParams::new(Pt::new_with_value(121), None, opus.spec());
    let h264 = PayloadParams::new(
        Pt::new_with_value(122),
        None,
        CodecSpec {
            codec: Codec::H264,
            clock_rate: Frequency::NINETY_KHZ,
            channels: None,
            format: FormatParams::default(),
        },
    );
    let (audio, video) = (Mid::from("0"), Mid::from("1"));
    for round in 0..3 {
        assert_eq!(peer.send_pt(video, &theirs_vp8, false), Some(vp8.pt()));
        assert_eq!(peer.send_pt(audio, &theirs_opus, false), Some(opus.pt()));
        assert_eq!(
            peer.send_pt(video, &theirs_opus, false),
            None,
            "opus on the video m-line"
        );
        assert_eq!(
            peer.send_pt(audio, &theirs_vp8, false),
            None,
            "VP8 on the audio m-line"
        );
        assert_eq!(
            peer.send_pt(video, &h264, false),
            None,
            "H.264 is not negotiated"
        );
        assert_eq!(
            peer.send_pt(video, &theirs_vp8, true),
            None,
            "no RED negotiated"
        );
        assert_eq!(
            peer.send_pts_kept(),
            6,
            "one decision per kind (round {round})"
        );
    }
    // Bounded: more kinds than are kept are still decided right.
    for i in 0..40u8 {
        let other = PayloadParams::new(
            Pt::new_with_value(96),
            None,
            CodecSpec {
                codec: Codec::Vp8,
                clock_rate: Frequency::NINETY_KHZ,
                channels: Some(i),
                format: FormatParams::default(),
            },
        );
        let _ = peer.send_pt(video, &other, false);
    }
    assert!(peer.send_pts_kept() <= 16);
    assert_eq!(peer.send_pt(video, &theirs_vp8, false), Some(vp8.pt()));
    // An ICE restart accepts a new offer: every decision is made again.
    let restart = CHROMIUM_OFFER
        .replace("a=ice-ufrag:Kq3h", "a=ice-ufrag:Zz9x")
        .replace("a=ice-pwd:", "a=ice-pwd:x");
    peer.restart_ice(&restart, now, &net, &mut notices)
        .expect("an ICE restart is accepted");
    assert_eq!(peer.send_pts_kept(), 0);
    assert_eq!(peer.send_pt(video, &theirs_vp8, false), Some(vp8.pt()));
}

// ---------------------------------------------------------------------------------------------
// Batched socket I/O (`mmsg`, performance): what goes in one `sendmmsg` comes out of `recvmmsg`
// whole, in order, from the right source, and one refused datagram does not sink the batch.
// ---------------------------------------------------------------------------------------------

/// Read from a non-blocking std socket with `recv_batch` until `want` datagrams came (bounded).
fn recv_all(socket: &std::net::UdpSocket, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    use std::os::fd::AsRawFd;
    let mut batch = super::mmsg::RecvBatch::default();
    let mut got = Vec::new();
    let until = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < until {
        match super::mmsg::recv_batch(socket.as_raw_fd(), &mut batch) {
            Ok(n) => {
                assert!(n > 0 && n <= super::mmsg::BATCH);
                got.extend(batch.datagrams().map(|(s, d)| (s, d.to_vec())));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("recvmmsg failed: {e}"),
        }
    }
    got
}

#[test]
fn batched_send_and_receive_keep_every_datagram_in_order() {
    use std::os::fd::AsRawFd;
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        s.set_nonblocking(true).unwrap();
    }
    let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    // 70 datagrams (more than two batches), alternating destinations, sizes 1..=1400.
    let out: Vec<(SocketAddr, Vec<u8>)> = (0..70u32)
        .map(|i| {
            let to = if i % 2 == 0 { to_a } else { to_b };
            let len = 1 + (i as usize * 97) % 1400;
            (to, vec![i as u8; len])
        })
        .collect();
    let dropped = super::mmsg::send_batch(
        sender.as_raw_fd(),
        out.iter().map(|(to, d)| (*to, d.as_slice())),
    );
    assert_eq!(dropped, 0);
    let from = sender.local_addr().unwrap();
    for (socket, to) in [(&a, to_a), (&b, to_b)] {
        let want: Vec<(SocketAddr, Vec<u8>)> = out
            .iter()
            .filter(|(t, _)| *t == to)
            .map(|(_, d)| (from, d.clone()))
            .collect();
        assert_eq!(recv_all(socket, want.len()), want);
    }
}

#[test]
fn a_refused_datagram_is_dropped_alone_and_an_oversized_one_is_left_out() {
    use std::os::fd::AsRawFd;
    let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    a.set_nonblocking(true).unwrap();
    let to_a = a.local_addr().unwrap();
    // An IPv6 destination cannot be reached from an IPv4 socket: the kernel refuses that one.
    let v6: SocketAddr = "[::1]:9".parse().unwrap();
    let too_big = vec![7u8; super::mmsg::RECV_BUF + 100];
    let out: Vec<(SocketAddr, &[u8])> = vec![
        (to_a, b"first"),
        (v6, b"refused"),
        (to_a, &too_big),
        (to_a, b"last"),
    ];
    let dropped = super::mmsg::send_batch(sender.as_raw_fd(), out.into_iter());
    assert_eq!(dropped, 1, "only the IPv6 datagram is refused");
    let got: Vec<Vec<u8>> = recv_all(&a, 2).into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, vec![b"first".to_vec(), b"last".to_vec()]);
}

// ---------------------------------------------------------------------------------------------
// The send path's buffers: a forwarded datagram is written into one already sent.
// ---------------------------------------------------------------------------------------------

/// Media's sockets bound on 127.0.0.1 and a client socket to send to: the sockets, the
/// address they send from, the client (reads time out after 5 s) and its address.
async fn media_sockets_and_a_client() -> (
    super::socket::MediaSockets,
    SocketAddr,
    std::net::UdpSocket,
    SocketAddr,
) {
    let net = super::socket::MediaSockets::bind("127.0.0.1:0".parse().unwrap(), &[], None)
        .await
        .unwrap();
    let source = net.candidates()[0];
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let to = client.local_addr().unwrap();
    (net, source, client, to)
}

#[tokio::test]
async fn a_sent_datagrams_buffer_is_written_into_again_and_only_its_length_leaves() {
    let (net, source, peer, to) = media_sockets_and_a_client().await;

    let mut first = net.buffer(1400);
    assert_eq!(first.len(), 1400);
    first[..4].copy_from_slice(b"one!");
    first.truncate(100);
    let first_at = first.as_ptr();
    net.send(source, to, first);
    net.flush();
    assert_eq!(net.spare_buffers(), 1, "kept for the next datagram");

    // The next datagram is written into the same block, at the length asked for.
    let mut second = net.buffer(1400);
    assert_eq!(second.as_ptr(), first_at, "the sent buffer is reused");
    assert_eq!(second.len(), 1400);
    second[..3].copy_from_slice(b"two");
    second.truncate(10);
    net.send(source, to, second);
    net.flush();

    let mut got = [0u8; 2048];
    let n = peer.recv(&mut got).unwrap();
    assert_eq!(n, 100);
    assert_eq!(&got[..4], b"one!");
    let n = peer.recv(&mut got).unwrap();
    assert_eq!(n, 10, "only the second datagram's own length is sent");
    assert_eq!(
        &got[..4],
        b"two!",
        "written over the first datagram's bytes"
    );
}

/// An IPv4 media socket sends with DF and without the kernel's per-datagram IP
/// identification draw (`IP_PMTUDISC_PROBE`, see `mmsg::set_df_without_pmtu`).
#[tokio::test]
async fn ipv4_media_sockets_ignore_path_mtu_and_send_with_df() {
    let (net, source, peer, to) = media_sockets_and_a_client().await;
    for fd in net.raw_fds() {
        assert_eq!(
            super::mmsg::df_mode(fd).unwrap(),
            libc::IP_PMTUDISC_PROBE,
            "set on every bound IPv4 media socket"
        );
    }
    // Datagrams of WebRTC's size still leave and arrive whole.
    let mut b = net.buffer(1200);
    b.fill(7);
    net.send(source, to, b);
    net.flush();
    let mut got = [0u8; 2048];
    assert_eq!(peer.recv(&mut got).unwrap(), 1200);
    assert!(got[..1200].iter().all(|&x| x == 7));
}

#[tokio::test]
async fn no_more_buffers_are_kept_than_one_batch() {
    let (net, source, _peer, to) = media_sockets_and_a_client().await;
    for _ in 0..3 * super::mmsg::BATCH {
        net.send(source, to, net.buffer(20));
    }
    net.flush();
    assert_eq!(net.spare_buffers(), super::socket::SPARE_BUFFERS);
}
