//! A test WebRTC peer built on webrtc-rs (`webrtc` =0.21.1 over the sans-IO `rtc` core), an
//! implementation independent of the server's str0m stack (docs/DESIGN.md, "WebRTC stacks,
//! pinned exactly").
//!
//! Include it from an integration test with
//!
//! ```ignore
//! #[path = "support/peer.rs"]
//! mod peer;
//! use peer::{assert_payloads_match, MediaKind, SendRates, TestPeer};
//! ```
//!
//! A [`TestPeer`] has one Opus audio and one VP8 video transceiver, both sendrecv, binds one UDP
//! socket on 127.0.0.1 (a loopback host candidate, no mDNS, no ICE servers) and is meant to be
//! the ICE-controlling offerer: [`TestPeer::create_offer`] waits for gathering so the candidate
//! is in the SDP, [`TestPeer::set_answer`] applies the server's answer.
//!
//! Media is synthetic RTP. Every payload is `codec header | MAGIC | sender tag (1) | sequence
//! (8, BE) | send time (8, BE, µs since the UNIX epoch) | filler`, so a receiver can tell what it
//! got and from whom ([`parse_marker`]). Both directions are recorded: [`TestPeer::sent`] and
//! [`TestPeer::received`].
//!
//! webrtc-rs 0.21.1 behaviours a server under test must allow for:
//! - inbound RTP is delivered only if its SSRC is declared in the remote SDP (`a=ssrc:`), or it
//!   carries mid + rid header extensions, or the session has a single m-section; anything else is
//!   dropped silently (debug log "drop rtp packet ssrc"). With our two m-sections, the server's
//!   answer must declare the SSRCs it forwards on.
//! - inbound RTCP stops inside the interceptor chain unless an interceptor marks it for the
//!   application (done here by `RtcpToApplication`, so PLI/FIR and reports are counted).
//! - a remote track appears (`on_track`) only when its first RTP packet arrives.
#![allow(dead_code)] // every test binary that includes this uses a different subset

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context as _};
use rtc::ice::mdns::MulticastDnsMode;
use rtc::ice::network_type::NetworkType;
use rtc::interceptor::{Attribute, Interceptor, Packet, Slot, StreamInfo, TaggedPacket};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::peer_connection::configuration::RTCOfferOptions;
use rtc::rtcp::compound_packet::CompoundPacket;
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCSessionDescription, Registry, SettingEngineBuilder,
};
use webrtc::rtp_transceiver::RtpSender;

pub use webrtc::peer_connection::RTCPeerConnectionState;

/// First bytes after the codec header of every synthetic payload.
pub const MAGIC: [u8; 4] = *b"CNFR";
/// Bytes of marker after the codec header: magic, sender tag, sequence, send time.
pub const MARKER_LEN: usize = 4 + 1 + 8 + 8;

/// Payload types this peer offers (the answer decides what is used on the wire).
const OPUS_PT: u8 = 111;
const VP8_PT: u8 = 96;
/// VP8 payload descriptor (RFC 7741 §4.2): S=1 (start of partition), PID=0, no extensions.
const VP8_DESCRIPTOR: u8 = 0x10;
/// Opus TOC byte (RFC 6716 §3.1): config 31 (CELT fullband 20 ms), mono, one frame.
const OPUS_TOC: u8 = 0xF8;
/// Upper bound on waiting for ICE gathering inside `create_offer` / `answer`.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Audio,
    Video,
}

impl MediaKind {
    fn from_rtc(kind: RtpCodecKind) -> Option<Self> {
        match kind {
            RtpCodecKind::Audio => Some(MediaKind::Audio),
            RtpCodecKind::Video => Some(MediaKind::Video),
            _ => None,
        }
    }
}

/// How much synthetic media [`TestPeer::start_sending`] produces. A rate of 0 sends nothing of
/// that kind.
#[derive(Debug, Clone, Copy)]
pub struct SendRates {
    /// Video frames per second; every frame is one RTP packet (marker bit set).
    pub video_fps: u32,
    /// Total VP8 RTP payload size in bytes (codec header included).
    pub video_payload_bytes: usize,
    /// Audio packets per second (50 = 20 ms Opus frames).
    pub audio_pps: u32,
    /// Total Opus RTP payload size in bytes (TOC byte included).
    pub audio_payload_bytes: usize,
    /// Send a VP8 key frame every this many frames; 0 = only the first frame and on request
    /// (PLI/FIR from the remote), which is how a browser behaves.
    pub keyframe_interval: u32,
}

impl Default for SendRates {
    fn default() -> Self {
        SendRates {
            video_fps: 30,
            video_payload_bytes: 1000,
            audio_pps: 50,
            audio_payload_bytes: 80,
            keyframe_interval: 0,
        }
    }
}

/// What a synthetic payload says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    /// [`sender_tag`] of the sending peer's label.
    pub sender_tag: u8,
    /// Per-kind sequence number, from 0.
    pub seq: u64,
    /// Send time, microseconds since the UNIX epoch.
    pub sent_unix_micros: u64,
}

/// One RTP packet received on a remote track.
#[derive(Debug, Clone)]
pub struct Received {
    pub kind: MediaKind,
    /// The RTP payload, exactly as delivered.
    pub payload: Vec<u8>,
    /// Arrival (monotonic).
    pub at: Instant,
    /// Arrival, microseconds since the UNIX epoch (to compare with [`Marker::sent_unix_micros`]).
    pub unix_micros: u64,
    pub ssrc: u32,
    pub payload_type: u8,
    pub rtp_seq: u16,
    pub rtp_timestamp: u32,
    pub rtp_marker: bool,
    /// The marker inside the payload, if it carries one.
    pub marker: Option<Marker>,
}

impl Received {
    /// One-way delay from the marker's send time (same host clock, so meaningful on loopback).
    pub fn latency(&self) -> Option<Duration> {
        let sent = self.marker?.sent_unix_micros;
        Some(Duration::from_micros(self.unix_micros.saturating_sub(sent)))
    }

    /// True for a VP8 payload whose frame header says "key frame".
    pub fn is_vp8_keyframe(&self) -> bool {
        self.kind == MediaKind::Video && is_vp8_keyframe(&self.payload)
    }
}

/// The `a=candidate:` lines of an SDP, in order.
pub fn candidate_lines(sdp: &str) -> Vec<String> {
    sdp.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("a=candidate:"))
        .map(str::to_owned)
        .collect()
}

/// The one-byte sender tag derived from a peer label (FNV-1a, folded to 8 bits).
pub fn sender_tag(label: &str) -> u8 {
    let mut h: u32 = 0x811c_9dc5;
    for b in label.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h ^ (h >> 8) ^ (h >> 16) ^ (h >> 24)) as u8
}

/// Finds the marker in a synthetic payload (it follows a codec header of at most 11 bytes).
pub fn parse_marker(payload: &[u8]) -> Option<Marker> {
    let search = payload.len().min(16);
    let pos = payload[..search].windows(4).position(|w| w == MAGIC)?;
    let rest = payload.get(pos + 4..pos + MARKER_LEN)?;
    Some(Marker {
        sender_tag: rest[0],
        seq: u64::from_be_bytes(rest[1..9].try_into().ok()?),
        sent_unix_micros: u64::from_be_bytes(rest[9..17].try_into().ok()?),
    })
}

/// VP8 key frame test on an RTP payload: descriptor with S=1 and PID=0, then a frame tag with
/// P=0 (RFC 7741 §4.3, RFC 6386 §9.1).
pub fn is_vp8_keyframe(payload: &[u8]) -> bool {
    let Some(&desc) = payload.first() else {
        return false;
    };
    let mut off = 1;
    if desc & 0x80 != 0 {
        // X: extension byte, then optional PictureID / TL0PICIDX / TID+KEYIDX.
        let Some(&x) = payload.get(1) else {
            return false;
        };
        off += 1;
        if x & 0x80 != 0 {
            off += if payload.get(off).is_some_and(|b| b & 0x80 != 0) {
                2
            } else {
                1
            };
        }
        if x & 0x40 != 0 {
            off += 1;
        }
        if x & 0x30 != 0 {
            off += 1;
        }
    }
    desc & 0x10 != 0 && desc & 0x07 == 0 && payload.get(off).is_some_and(|b| b & 0x01 == 0)
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Builds one synthetic payload of (at least) `size` bytes.
fn build_payload(kind: MediaKind, tag: u8, seq: u64, keyframe: bool, size: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(size.max(32));
    match kind {
        MediaKind::Audio => p.push(OPUS_TOC),
        MediaKind::Video => {
            p.push(VP8_DESCRIPTOR);
            // VP8 frame tag, 3 bytes little endian: P (0 = key frame), version 0, show_frame 1,
            // first partition size (19 bits; nominal, the frame is not decodable anyway).
            let first_part: u32 = 16;
            let tag_bits: u32 = u32::from(!keyframe) | (1 << 4) | (first_part << 5);
            p.extend_from_slice(&tag_bits.to_le_bytes()[..3]);
            if keyframe {
                // Start code and 320x240 (scale 0), as in a real key frame header.
                p.extend_from_slice(&[0x9d, 0x01, 0x2a]);
                p.extend_from_slice(&320u16.to_le_bytes());
                p.extend_from_slice(&240u16.to_le_bytes());
            }
        }
    }
    p.extend_from_slice(&MAGIC);
    p.push(tag);
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&unix_micros().to_be_bytes());
    let kind_salt: u8 = if kind == MediaKind::Audio { 0xA5 } else { 0x5A };
    let mut i: u64 = 0;
    while p.len() < size {
        p.push((seq.wrapping_add(i) as u8) ^ kind_salt ^ tag);
        i += 1;
    }
    p
}

/// The frame inside an RTP payload of `kind`: after the 1-byte VP8 descriptor (RFC 7741; our
/// payloads never carry its extensions), the whole payload for Opus.
fn frame_offset(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// An RTP payload with its frame SFrame-protected (R-PRIV-1): descriptor | protected frame.
pub fn protect_payload(
    enc: &mut confer_signaling::e2ee::FrameEncryptor,
    kind: MediaKind,
    payload: &[u8],
) -> Vec<u8> {
    let (descriptor, frame) = payload.split_at(frame_offset(kind));
    let mut out = descriptor.to_vec();
    out.extend(enc.protect(kind.into(), frame).expect("protect a frame"));
    out
}

/// The plain RTP payload of a protected one, or why it does not open.
pub fn open_payload(
    dec: &confer_signaling::e2ee::FrameDecryptor,
    kind: MediaKind,
    payload: &[u8],
) -> Result<Vec<u8>, confer_signaling::e2ee::E2eeError> {
    let at = frame_offset(kind).min(payload.len());
    let (descriptor, frame) = payload.split_at(at);
    let mut out = descriptor.to_vec();
    out.extend(dec.open(kind.into(), frame)?);
    Ok(out)
}

impl From<MediaKind> for confer_signaling::e2ee::FrameKind {
    fn from(kind: MediaKind) -> Self {
        match kind {
            MediaKind::Audio => confer_signaling::e2ee::FrameKind::Audio,
            MediaKind::Video => confer_signaling::e2ee::FrameKind::Video,
        }
    }
}

/// Result of [`check_payloads`].
#[derive(Debug, Clone)]
pub struct PayloadMatch {
    /// Distinct sent payloads (by marker sequence) that were received intact.
    pub matched: usize,
    /// Payloads that were sent.
    pub sent: usize,
    /// Received packets whose payload duplicated one already counted (retransmissions).
    pub duplicates: usize,
}

impl PayloadMatch {
    pub fn ratio(&self) -> f64 {
        if self.sent == 0 {
            1.0
        } else {
            self.matched as f64 / self.sent as f64
        }
    }
}

/// Checks `received` against what one other peer `sent` (of one kind): every received payload
/// equals a sent one byte for byte (nothing rewritten on the way), every one carries the
/// sender's tag (nothing from a third party), and at least `min_ratio` of the sent payloads
/// arrived.
pub fn check_payloads(
    sent: &[Vec<u8>],
    received: &[Received],
    min_ratio: f64,
) -> Result<PayloadMatch, String> {
    use std::collections::{HashMap, HashSet};
    if sent.is_empty() {
        return Err("nothing was sent".into());
    }
    let mut by_seq: HashMap<u64, &[u8]> = HashMap::with_capacity(sent.len());
    let mut tags = HashSet::new();
    for p in sent {
        let m = parse_marker(p).ok_or("a sent payload carries no marker")?;
        tags.insert(m.sender_tag);
        by_seq.insert(m.seq, p);
    }
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    for (i, r) in received.iter().enumerate() {
        let m = r.marker.ok_or_else(|| {
            format!(
                "received packet #{i} ({:?}, {} bytes) carries no marker: not ours",
                r.kind,
                r.payload.len()
            )
        })?;
        if !tags.contains(&m.sender_tag) {
            return Err(format!(
                "received packet #{i} ({:?}) is from sender tag {:#04x}, expected {tags:x?}: a third party's media",
                r.kind, m.sender_tag
            ));
        }
        let Some(expected) = by_seq.get(&m.seq) else {
            return Err(format!(
                "received packet #{i} ({:?}) has marker seq {} that was never sent",
                r.kind, m.seq
            ));
        };
        if *expected != r.payload.as_slice() {
            return Err(format!(
                "received packet #{i} ({:?}, marker seq {}) differs from the payload sent ({} vs {} bytes)",
                r.kind,
                m.seq,
                r.payload.len(),
                expected.len()
            ));
        }
        if !seen.insert(m.seq) {
            duplicates += 1;
        }
    }
    let result = PayloadMatch {
        matched: seen.len(),
        sent: sent.len(),
        duplicates,
    };
    if result.ratio() < min_ratio {
        return Err(format!(
            "only {} of {} sent payloads were received ({:.1}% < {:.1}%)",
            result.matched,
            result.sent,
            result.ratio() * 100.0,
            min_ratio * 100.0
        ));
    }
    Ok(result)
}

/// Panics unless every received payload is an untouched payload that the other peer sent, none
/// comes from a third party, and at least 90% of what was sent arrived.
#[track_caller]
pub fn assert_payloads_match(sent: &[Vec<u8>], received: &[Received]) {
    if let Err(e) = check_payloads(sent, received, 0.9) {
        panic!("payload check failed: {e}");
    }
}

/// Marks every inbound RTCP packet for delivery to the application. Without it, webrtc-rs
/// 0.21 ends inbound RTCP inside its interceptor chain (the terminus drops what no interceptor
/// marked), so PLI/FIR and receiver reports never reach `TrackLocal::poll`.
#[derive(Default)]
struct RtcpToApplication {
    reads: std::collections::VecDeque<TaggedPacket>,
    writes: std::collections::VecDeque<TaggedPacket>,
}

impl rtc::sansio::Protocol<TaggedPacket, TaggedPacket, ()> for RtcpToApplication {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, mut msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(_) = msg.message.packet {
            msg.message.add(Attribute::DeliverToApplication);
        }
        self.reads.push_back(msg);
        Ok(())
    }
    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.reads.pop_front()
    }
    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.writes.push_back(msg);
        Ok(())
    }
    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.writes.pop_front()
    }
}

impl Interceptor for RtcpToApplication {
    fn bind_local_stream(&mut self, _: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _: &StreamInfo) {}
}

/// Chain position of [`RtcpToApplication`]: after every built-in slot, before the terminus.
const RTCP_TO_APPLICATION_SLOT: usize = 20_000;

/// State shared between the peer, its event handler and its tasks.
struct Shared {
    state: watch::Sender<RTCPeerConnectionState>,
    gathering: watch::Sender<RTCIceGatheringState>,
    received_audio: Mutex<Vec<Received>>,
    received_video: Mutex<Vec<Received>>,
    sent_audio: Mutex<Vec<Vec<u8>>>,
    sent_video: Mutex<Vec<Vec<u8>>>,
    send_errors: AtomicU64,
    last_send_error: Mutex<Option<String>>,
    first_audio: Mutex<Option<Instant>>,
    first_video: Mutex<Option<Instant>>,
    remote_tracks: Mutex<Vec<(MediaKind, Arc<dyn TrackRemote>)>>,
    keyframe_requests: AtomicU64,
    rtcp_received: AtomicU64,
    keyframe_pending: AtomicBool,
    stop_sending: AtomicBool,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Loss knob: when n > 0, every n-th packet is skipped (its sequence number is used).
    drop_every: AtomicU64,
    /// Where each kind's RTP numbering stopped (next sequence number, next timestamp, when),
    /// so that sending again continues the stream as a browser does after a pause. A fresh
    /// random start on the same SSRC falls behind the receiver's window about half the time,
    /// and str0m then rightly drops the packets as old (the no_media health test flaked so).
    numbering: Mutex<[Option<(u16, u32, Instant)>; 2]>,
    /// End-to-end encryption (R-PRIV-1): when set, every frame is SFrame-protected before it
    /// is sent (the RTP-level VP8 descriptor stays outside, as a browser's packetizer puts it);
    /// `sent` keeps the plain payloads.
    sframe: Mutex<Option<confer_signaling::e2ee::FrameEncryptor>>,
}

impl Shared {
    fn received(&self, kind: MediaKind) -> &Mutex<Vec<Received>> {
        match kind {
            MediaKind::Audio => &self.received_audio,
            MediaKind::Video => &self.received_video,
        }
    }
    fn sent(&self, kind: MediaKind) -> &Mutex<Vec<Vec<u8>>> {
        match kind {
            MediaKind::Audio => &self.sent_audio,
            MediaKind::Video => &self.sent_video,
        }
    }
    fn first(&self, kind: MediaKind) -> &Mutex<Option<Instant>> {
        match kind {
            MediaKind::Audio => &self.first_audio,
            MediaKind::Video => &self.first_video,
        }
    }
    fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        let handle = tokio::spawn(fut);
        self.tasks.lock().unwrap().push(handle);
    }

    /// Reads a remote track until it ends, recording every RTP packet.
    async fn read_remote(self: Arc<Self>, track: Arc<dyn TrackRemote>) {
        let Some(kind) = MediaKind::from_rtc(track.kind().await) else {
            return;
        };
        self.remote_tracks
            .lock()
            .unwrap()
            .push((kind, Arc::clone(&track)));
        while let Some(event) = track.poll().await {
            match event {
                TrackRemoteEvent::OnRtpPacket(pkt) => {
                    let at = Instant::now();
                    let payload = pkt.payload.to_vec();
                    let marker = parse_marker(&payload);
                    let r = Received {
                        kind,
                        payload,
                        at,
                        unix_micros: unix_micros(),
                        ssrc: pkt.header.ssrc,
                        payload_type: pkt.header.payload_type,
                        rtp_seq: pkt.header.sequence_number,
                        rtp_timestamp: pkt.header.timestamp,
                        rtp_marker: pkt.header.marker,
                        marker,
                    };
                    self.first(kind).lock().unwrap().get_or_insert(at);
                    self.received(kind).lock().unwrap().push(r);
                }
                TrackRemoteEvent::OnEnded => break,
                _ => {}
            }
        }
    }

    /// Reads RTCP about one of our sent tracks; counts key frame requests (PLI/FIR).
    async fn read_local_rtcp(self: Arc<Self>, track: Arc<TrackLocalStaticRTP>) {
        fn is_keyframe_request(p: &dyn rtc::rtcp::Packet) -> bool {
            let any = p.as_any();
            if any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>() {
                return true;
            }
            if let Some(compound) = any.downcast_ref::<CompoundPacket>() {
                return compound.0.iter().any(|p| is_keyframe_request(p.as_ref()));
            }
            false
        }
        // `poll` returns None at once while the track is not bound to a sender yet (binding
        // happens during negotiation, after `add_track`), and again after close; this task is
        // aborted by `close`.
        loop {
            match track.poll().await {
                Some(TrackLocalEvent::OnRtcpPacket(packets)) => {
                    self.rtcp_received
                        .fetch_add(packets.len() as u64, Ordering::SeqCst);
                    if packets.iter().any(|p| is_keyframe_request(p.as_ref())) {
                        self.keyframe_requests.fetch_add(1, Ordering::SeqCst);
                        self.keyframe_pending.store(true, Ordering::SeqCst);
                    }
                }
                Some(_) => {}
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Paces synthetic RTP of one kind onto `track` until `deadline` or `stop_sending`.
    #[allow(clippy::too_many_arguments)]
    async fn send_loop(
        self: Arc<Self>,
        kind: MediaKind,
        track: Arc<TrackLocalStaticRTP>,
        ssrc: u32,
        payload_type: u8,
        tag: u8,
        rates: SendRates,
        deadline: Instant,
    ) {
        let (per_second, size, clock_rate) = match kind {
            MediaKind::Audio => (rates.audio_pps, rates.audio_payload_bytes, 48_000u32),
            MediaKind::Video => (rates.video_fps, rates.video_payload_bytes, 90_000u32),
        };
        if per_second == 0 {
            return;
        }
        let ts_step = clock_rate / per_second;
        let mut ticker = tokio::time::interval(Duration::from_secs(1) / per_second);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let slot = match kind {
            MediaKind::Audio => 0,
            MediaKind::Video => 1,
        };
        let resumed = self.numbering.lock().unwrap()[slot];
        let (mut rtp_seq, mut rtp_ts) = match resumed {
            // The media clock ran on during the pause.
            Some((seq, ts, at)) => {
                let paused = at.elapsed().as_secs_f64() * f64::from(clock_rate);
                (seq, ts.wrapping_add(paused as u32))
            }
            None => (rand::random(), rand::random()),
        };
        let mut n: u64 = 0;
        loop {
            ticker.tick().await;
            if Instant::now() >= deadline || self.stop_sending.load(Ordering::SeqCst) {
                self.numbering.lock().unwrap()[slot] = Some((rtp_seq, rtp_ts, Instant::now()));
                break;
            }
            let keyframe = kind == MediaKind::Video
                && (n == 0
                    || n.checked_rem(u64::from(rates.keyframe_interval)) == Some(0)
                    || self.keyframe_pending.swap(false, Ordering::SeqCst));
            let drop_every = self.drop_every.load(Ordering::Relaxed);
            if drop_every > 0 && !keyframe && (n + 1).is_multiple_of(drop_every) {
                // Lost on the way: the sequence number and timestamp move on.
                n += 1;
                rtp_seq = rtp_seq.wrapping_add(1);
                rtp_ts = rtp_ts.wrapping_add(ts_step);
                continue;
            }
            let payload = build_payload(kind, tag, n, keyframe, size);
            let wire = match self.sframe.lock().unwrap().as_mut() {
                Some(enc) => protect_payload(enc, kind, &payload),
                None => payload.clone(),
            };
            let packet = rtc::rtp::packet::Packet {
                header: rtc::rtp::header::Header {
                    version: 2,
                    marker: kind == MediaKind::Video,
                    payload_type,
                    sequence_number: rtp_seq,
                    timestamp: rtp_ts,
                    ssrc,
                    ..Default::default()
                },
                payload: wire.into(),
            };
            match track.write_rtp(packet).await {
                Ok(()) => self.sent(kind).lock().unwrap().push(payload),
                Err(e) => {
                    self.send_errors.fetch_add(1, Ordering::SeqCst);
                    *self.last_send_error.lock().unwrap() = Some(e.to_string());
                }
            }
            n += 1;
            rtp_seq = rtp_seq.wrapping_add(1);
            rtp_ts = rtp_ts.wrapping_add(ts_step);
        }
    }
}

/// Receives webrtc-rs events. The trait is declared with `#[async_trait]`; these are the
/// methods written out as that macro expands them, so this crate needs no `async-trait`
/// dependency of its own.
struct Handler {
    shared: Arc<Shared>,
}

type BoxFut<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

impl PeerConnectionEventHandler for Handler {
    fn on_ice_gathering_state_change<'life0, 'async_trait>(
        &'life0 self,
        state: RTCIceGatheringState,
    ) -> BoxFut<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.shared.gathering.send_replace(state);
        Box::pin(std::future::ready(()))
    }

    fn on_connection_state_change<'life0, 'async_trait>(
        &'life0 self,
        state: RTCPeerConnectionState,
    ) -> BoxFut<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.shared.state.send_replace(state);
        Box::pin(std::future::ready(()))
    }

    fn on_track<'life0, 'async_trait>(
        &'life0 self,
        track: Arc<dyn TrackRemote>,
    ) -> BoxFut<'async_trait>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        // Runs on the connection's driver: hand the track to a task of its own at once.
        let shared = Arc::clone(&self.shared);
        self.shared.spawn(shared.read_remote(track));
        Box::pin(std::future::ready(()))
    }
}

/// One local stream: the track we write to and the sender it is attached to.
struct Outgoing {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
    mime_type: &'static str,
}

/// A WebRTC endpoint for tests: one Opus and one VP8 track, sendrecv, on loopback.
pub struct TestPeer {
    label: String,
    tag: u8,
    pc: Arc<dyn PeerConnection>,
    shared: Arc<Shared>,
    audio: Outgoing,
    video: Outgoing,
    created_at: Instant,
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_owned(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
        rtcp_feedback: vec![],
    }
}

fn vp8_codec() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_owned(),
        parameter: parameter.to_owned(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![fb("ccm", "fir"), fb("nack", ""), fb("nack", "pli")],
    }
}

impl TestPeer {
    /// A peer bound to 127.0.0.1 (ephemeral port). Panics if webrtc-rs cannot build it.
    pub async fn new(label: &str) -> TestPeer {
        Self::try_new(label, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap_or_else(|e| panic!("TestPeer {label}: {e:#}"))
    }

    /// A peer whose single UDP socket binds `bind` (give a concrete address: a wildcard is
    /// expanded by webrtc-rs to every non-loopback interface).
    pub async fn try_new(label: &str, bind: SocketAddr) -> anyhow::Result<TestPeer> {
        Self::build(label, bind, false).await
    }

    /// A peer that moves to a new local address on every ICE restart (R-REMOTE-2: a laptop
    /// that changed networks): webrtc-rs drops its UDP socket and binds a new one (a new
    /// ephemeral port on 127.0.0.1) when the restart gathers. See [`Self::ice_restart_offer`].
    pub async fn new_roaming(label: &str) -> TestPeer {
        Self::build(label, "127.0.0.1:0".parse().unwrap(), true)
            .await
            .unwrap_or_else(|e| panic!("TestPeer {label}: {e:#}"))
    }

    async fn build(label: &str, bind: SocketAddr, roaming: bool) -> anyhow::Result<TestPeer> {
        let (state, _) = watch::channel(RTCPeerConnectionState::New);
        let (gathering, _) = watch::channel(RTCIceGatheringState::New);
        let shared = Arc::new(Shared {
            state,
            gathering,
            received_audio: Mutex::default(),
            received_video: Mutex::default(),
            sent_audio: Mutex::default(),
            sent_video: Mutex::default(),
            send_errors: AtomicU64::new(0),
            last_send_error: Mutex::default(),
            first_audio: Mutex::default(),
            first_video: Mutex::default(),
            remote_tracks: Mutex::default(),
            keyframe_requests: AtomicU64::new(0),
            rtcp_received: AtomicU64::new(0),
            keyframe_pending: AtomicBool::new(false),
            stop_sending: AtomicBool::new(false),
            tasks: Mutex::default(),
            drop_every: AtomicU64::new(0),
            numbering: Mutex::new([None, None]),
            sframe: Mutex::new(None),
        });

        let mut media_engine = MediaEngine::default();
        media_engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: opus_codec(),
                payload_type: OPUS_PT,
            },
            RtpCodecKind::Audio,
        )?;
        media_engine.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: vp8_codec(),
                payload_type: VP8_PT,
            },
            RtpCodecKind::Video,
        )?;
        // NACK generator/responder, RTCP sender/receiver reports, TWCC feedback, mid/rid
        // header extensions: what a browser negotiates.
        let registry = register_default_interceptors(Registry::new(), &mut media_engine)?.with(
            Slot::from(RTCP_TO_APPLICATION_SLOT),
            RtcpToApplication::default(),
        );

        let setting_engine = SettingEngineBuilder::new()
            .with_multicast_dns_mode(MulticastDnsMode::Disabled)
            .with_include_loopback_candidate(true)
            .with_network_types(vec![if bind.is_ipv4() {
                NetworkType::Udp4
            } else {
                NetworkType::Udp6
            }])
            // Notice a vanished remote within seconds (a visit that the server ends).
            .with_ice_timeouts(
                Some(Duration::from_secs(3)),
                Some(Duration::from_secs(6)),
                Some(Duration::from_millis(500)),
            )
            .with_discard_local_candidates_during_ice_restart(roaming)
            .build();

        let pc = PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().build())
            .with_media_engine(media_engine)
            .with_interceptor_registry(registry)
            .with_setting_engine(setting_engine)
            .with_handler(Arc::new(Handler {
                shared: Arc::clone(&shared),
            }))
            .with_udp_addrs(vec![bind])
            .build()
            .await
            .context("building the peer connection")?;
        let pc: Arc<dyn PeerConnection> = Arc::new(pc);

        let mut outgoing = Vec::new();
        for (kind, codec, mime_type) in [
            (RtpCodecKind::Audio, opus_codec(), MIME_TYPE_OPUS),
            (RtpCodecKind::Video, vp8_codec(), MIME_TYPE_VP8),
        ] {
            let ssrc: u32 = rand::random();
            let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
                format!("{label}-stream"),
                format!("{label}-{kind}"),
                format!("{label} {kind}"),
                kind,
                vec![RTCRtpEncodingParameters {
                    rtp_coding_parameters: RTCRtpCodingParameters {
                        ssrc: Some(ssrc),
                        ..Default::default()
                    },
                    codec,
                    ..Default::default()
                }],
            )));
            // add_track creates a sendrecv transceiver for the kind.
            let sender = pc
                .add_track(Arc::clone(&track) as Arc<dyn TrackLocal>)
                .await
                .with_context(|| format!("adding the {kind} track"))?;
            shared.spawn(Arc::clone(&shared).read_local_rtcp(Arc::clone(&track)));
            outgoing.push(Outgoing {
                track,
                sender,
                ssrc,
                mime_type,
            });
        }
        let video = outgoing.pop().expect("video");
        let audio = outgoing.pop().expect("audio");

        Ok(TestPeer {
            label: label.to_owned(),
            tag: sender_tag(label),
            pc,
            shared,
            audio,
            video,
            created_at: Instant::now(),
        })
    }

    /// Offer `pairs` more receive-only audio and video m-lines, one pair per further remote
    /// participant, as the pages do (R-VERIFY-4: three-way visits). Call before
    /// [`Self::create_offer`].
    pub async fn add_receive_only_pairs(&self, pairs: usize) -> anyhow::Result<()> {
        use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
        for _ in 0..pairs {
            for kind in [RtpCodecKind::Audio, RtpCodecKind::Video] {
                let init = RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    streams: Vec::new(),
                    send_encodings: Vec::new(),
                };
                self.pc
                    .add_transceiver_from_kind(kind, Some(init))
                    .await
                    .with_context(|| format!("adding a receive-only {kind} m-line"))?;
            }
        }
        Ok(())
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    /// The sender tag this peer writes into its payloads.
    pub fn tag(&self) -> u8 {
        self.tag
    }

    /// When the peer was built (a start for time-to-first-media).
    pub fn created_at(&self) -> Instant {
        self.created_at
    }

    /// The underlying webrtc-rs connection, for anything this wrapper does not cover.
    pub fn peer_connection(&self) -> &Arc<dyn PeerConnection> {
        &self.pc
    }

    /// Waits (bounded) until ICE gathering is complete, then returns the local SDP.
    async fn local_sdp_after_gathering(&self) -> anyhow::Result<String> {
        let mut rx = self.shared.gathering.subscribe();
        // Ignore a timeout here: the SDP check below reports the consequence.
        let _ = tokio::time::timeout(
            GATHER_TIMEOUT,
            rx.wait_for(|s| *s == RTCIceGatheringState::Complete),
        )
        .await;
        let desc = self
            .pc
            .local_description()
            .await
            .ok_or_else(|| anyhow!("no local description"))?;
        if !desc.sdp.contains("a=candidate:") {
            bail!(
                "{}: no ICE candidate in the local SDP after {GATHER_TIMEOUT:?}:\n{}",
                self.label,
                desc.sdp
            );
        }
        Ok(desc.sdp)
    }

    /// Creates and applies an offer; returns its SDP with the gathered candidates.
    pub async fn try_create_offer(&self) -> anyhow::Result<String> {
        let offer = self.pc.create_offer(None).await.context("create_offer")?;
        self.pc
            .set_local_description(offer)
            .await
            .context("set_local_description(offer)")?;
        self.local_sdp_after_gathering().await
    }

    /// R-REMOTE-2: an ICE restart offer (new ICE credentials; for a [`Self::new_roaming`]
    /// peer also a new local socket, the old one closed), applied locally, with the newly
    /// gathered candidates. Send it on the same signalling connection and apply the answer.
    pub async fn ice_restart_offer(&self) -> anyhow::Result<String> {
        let before = self.local_candidates().await;
        let mut gathering = self.shared.gathering.subscribe();
        gathering.mark_unchanged();
        let offer = self
            .pc
            .create_offer(Some(RTCOfferOptions { ice_restart: true }))
            .await
            .context("create_offer(ice_restart)")?;
        self.pc
            .set_local_description(offer)
            .await
            .context("set_local_description(ice restart offer)")?;
        // Wait for the restart's own gathering (the state left `complete` and came back).
        let deadline = tokio::time::Instant::now() + GATHER_TIMEOUT;
        loop {
            let sdp = self
                .pc
                .local_description()
                .await
                .map(|d| d.sdp)
                .unwrap_or_default();
            let complete = *gathering.borrow() == RTCIceGatheringState::Complete;
            let candidates = candidate_lines(&sdp);
            if complete && !candidates.is_empty() && candidates != before {
                return Ok(sdp);
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{}: no new candidates after the ICE restart:\n{sdp}",
                    self.label
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(20), gathering.changed()).await;
        }
    }

    /// The `a=candidate:` lines of the current local description.
    pub async fn local_candidates(&self) -> Vec<String> {
        let sdp = self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default();
        candidate_lines(&sdp)
    }

    /// [`Self::try_create_offer`], panicking on error.
    pub async fn create_offer(&self) -> String {
        self.try_create_offer()
            .await
            .unwrap_or_else(|e| panic!("{}: create_offer: {e:#}", self.label))
    }

    /// Applies the remote answer to our offer.
    pub async fn try_set_answer(&self, sdp: &str) -> anyhow::Result<()> {
        let desc = RTCSessionDescription::answer(sdp.to_owned()).context("parsing the answer")?;
        self.pc
            .set_remote_description(desc)
            .await
            .context("set_remote_description(answer)")
    }

    /// [`Self::try_set_answer`], panicking on error.
    pub async fn set_answer(&self, sdp: &str) {
        self.try_set_answer(sdp)
            .await
            .unwrap_or_else(|e| panic!("{}: set_answer: {e:#}", self.label))
    }

    /// Answers a remote offer (peer-to-peer use); returns the answer SDP with candidates.
    pub async fn try_answer(&self, offer_sdp: &str) -> anyhow::Result<String> {
        let desc =
            RTCSessionDescription::offer(offer_sdp.to_owned()).context("parsing the offer")?;
        self.pc
            .set_remote_description(desc)
            .await
            .context("set_remote_description(offer)")?;
        let answer = self.pc.create_answer(None).await.context("create_answer")?;
        self.pc
            .set_local_description(answer)
            .await
            .context("set_local_description(answer)")?;
        self.local_sdp_after_gathering().await
    }

    /// [`Self::try_answer`], panicking on error.
    pub async fn answer(&self, offer_sdp: &str) -> String {
        self.try_answer(offer_sdp)
            .await
            .unwrap_or_else(|e| panic!("{}: answer: {e:#}", self.label))
    }

    /// The current peer connection state.
    pub fn state(&self) -> RTCPeerConnectionState {
        *self.shared.state.borrow()
    }

    /// Waits until the peer connection (ICE and DTLS) is connected; fails early on
    /// failed/closed.
    pub async fn wait_connected(&self, timeout: Duration) -> anyhow::Result<()> {
        let mut rx = self.shared.state.subscribe();
        let waited = tokio::time::timeout(
            timeout,
            rx.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await
        .map(|r| r.map(|s| *s));
        match waited {
            Ok(Ok(RTCPeerConnectionState::Connected)) => Ok(()),
            Ok(Ok(s)) => bail!("{}: connection {s} instead of connected", self.label),
            Ok(Err(_)) => bail!("{}: state channel closed", self.label),
            Err(_) => bail!(
                "{}: not connected after {timeout:?} (state {})",
                self.label,
                self.state()
            ),
        }
    }

    /// Waits until the connection is disconnected, failed or closed (the remote went away).
    pub async fn wait_disconnected(&self, timeout: Duration) -> anyhow::Result<()> {
        let mut rx = self.shared.state.subscribe();
        let waited = tokio::time::timeout(
            timeout,
            rx.wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Disconnected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            }),
        )
        .await
        .map(|r| r.map(|_| ()));
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => bail!("{}: state channel closed", self.label),
            Err(_) => bail!("{}: still {} after {timeout:?}", self.label, self.state()),
        }
    }

    /// The payload type the negotiation assigned to our codec on this sender.
    async fn negotiated_pt(&self, out: &Outgoing) -> anyhow::Result<u8> {
        let params = out.sender.get_parameters().await?;
        params
            .rtp_parameters
            .codecs
            .iter()
            .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(out.mime_type))
            .map(|c| c.payload_type)
            .ok_or_else(|| {
                anyhow!(
                    "{}: {} not negotiated (sender codecs: {:?})",
                    self.label,
                    out.mime_type,
                    params
                        .rtp_parameters
                        .codecs
                        .iter()
                        .map(|c| (&c.rtp_codec.mime_type, c.payload_type))
                        .collect::<Vec<_>>()
                )
            })
    }

    /// Starts sending synthetic audio and video for `duration` in background tasks and returns
    /// at once. Requires a connected peer (packets written earlier would be dropped by the stack
    /// yet recorded as sent).
    pub async fn start_sending(&self, duration: Duration, rates: SendRates) -> anyhow::Result<()> {
        if self.state() != RTCPeerConnectionState::Connected {
            bail!("{}: start_sending while {}", self.label, self.state());
        }
        self.shared.stop_sending.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + duration;
        for (kind, out) in [
            (MediaKind::Audio, &self.audio),
            (MediaKind::Video, &self.video),
        ] {
            let pt = self.negotiated_pt(out).await?;
            let fut = Arc::clone(&self.shared).send_loop(
                kind,
                Arc::clone(&out.track),
                out.ssrc,
                pt,
                self.tag,
                rates,
                deadline,
            );
            self.shared.spawn(fut);
        }
        Ok(())
    }

    /// End-to-end encryption (R-PRIV-1): from now on SFrame-protect every frame sent, under
    /// media key `base_key` with SFrame KID `kid`.
    pub fn encrypt_with(&self, kid: u64, base_key: &[u8]) {
        let enc = confer_signaling::e2ee::FrameEncryptor::new(kid, base_key).expect("media key");
        *self.shared.sframe.lock().unwrap() = Some(enc);
    }

    /// Loss knob for health tests: from now on skip every `n`-th packet of each kind (as if
    /// lost on the network: its sequence number is used up); 0 sends everything again.
    pub fn set_drop_every(&self, n: u64) {
        self.shared.drop_every.store(n, Ordering::Relaxed);
    }

    /// Stops the sending tasks (at their next tick).
    pub fn stop_sending(&self) {
        self.shared.stop_sending.store(true, Ordering::SeqCst);
    }

    /// Payloads sent so far, of one kind, in order.
    pub fn sent(&self, kind: MediaKind) -> Vec<Vec<u8>> {
        self.shared.sent(kind).lock().unwrap().clone()
    }

    /// Number of `write_rtp` calls that failed, and the last error.
    pub fn send_errors(&self) -> (u64, Option<String>) {
        (
            self.shared.send_errors.load(Ordering::SeqCst),
            self.shared.last_send_error.lock().unwrap().clone(),
        )
    }

    /// RTP packets received on remote tracks of one kind, in arrival order.
    pub fn received(&self, kind: MediaKind) -> Vec<Received> {
        self.shared.received(kind).lock().unwrap().clone()
    }

    pub fn received_count(&self, kind: MediaKind) -> usize {
        self.shared.received(kind).lock().unwrap().len()
    }

    /// Waits until at least `min_count` packets of `kind` have arrived.
    pub async fn wait_received(
        &self,
        kind: MediaKind,
        min_count: usize,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let n = self.received_count(kind);
            if n >= min_count {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "{}: {n} {kind:?} packets after {timeout:?}, wanted {min_count} (state {})",
                    self.label,
                    self.state()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Arrival of the first packet of `kind`.
    pub fn first_received_at(&self, kind: MediaKind) -> Option<Instant> {
        *self.shared.first(kind).lock().unwrap()
    }

    /// Time from `since` (e.g. when the join was requested) to the first packet of `kind`.
    pub fn time_to_first_media(&self, kind: MediaKind, since: Instant) -> Option<Duration> {
        self.first_received_at(kind)
            .map(|t| t.saturating_duration_since(since))
    }

    /// PLI/FIR packets received about our tracks (each one makes the next video frame a key
    /// frame).
    pub fn keyframe_requests(&self) -> u64 {
        self.shared.keyframe_requests.load(Ordering::SeqCst)
    }

    /// RTCP packets received about our sent tracks (reports, NACK, PLI, ...).
    pub fn rtcp_received(&self) -> u64 {
        self.shared.rtcp_received.load(Ordering::SeqCst)
    }

    /// Sends a PLI for the remote video track(s) (as a decoder that lost the picture would).
    pub async fn request_keyframe(&self) -> anyhow::Result<()> {
        let tracks: Vec<_> = self
            .shared
            .remote_tracks
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| *k == MediaKind::Video)
            .map(|(_, t)| Arc::clone(t))
            .collect();
        if tracks.is_empty() {
            bail!("{}: no remote video track yet", self.label);
        }
        // The SSRCs actually seen on the wire (the track's own list may still be empty).
        let mut ssrcs: Vec<u32> = self
            .received(MediaKind::Video)
            .iter()
            .map(|r| r.ssrc)
            .collect();
        ssrcs.sort_unstable();
        ssrcs.dedup();
        if ssrcs.is_empty() {
            bail!("{}: no video received yet, no SSRC to ask", self.label);
        }
        for track in tracks {
            for &media_ssrc in &ssrcs {
                track
                    .write_rtcp(vec![Box::new(PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc,
                    })])
                    .await?;
            }
        }
        Ok(())
    }

    /// Closes the connection and stops every task of this peer.
    pub async fn close(&self) {
        self.stop_sending();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.pc.close()).await;
        for task in self.shared.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}
