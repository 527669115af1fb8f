//! Per-peer media accounting for the live health view (R-PRIV-1), content-free.
//!
//! What is counted, per peer and per kind (audio / video), both directions as the SFU sees
//! them: RTP packets and bytes (header + payload; bitrates are deltas over the last publish
//! interval), first-arrival sequence gaps of what we receive (network loss before any
//! retransmission repairs it; a late or retransmitted packet is not counted again), the
//! frames of the video we receive and forward (distinct RTP timestamps), and the time of the
//! last packet. From str0m's own stats events (`RtcConfig::set_stats_interval`, once per
//! [`STATS_INTERVAL`]): the loss the peer reports for what we send (RTCP receiver reports),
//! the interarrival jitter of what we receive, the round-trip time, and the selected
//! candidate pair (whose remote address is only matched against the offer's candidates to
//! name its *type*; the address itself never leaves this module).
//!
//! The one look at a payload: a VP8 key frame's uncompressed header (RFC 6386 §9.1) carries
//! the frame's width and height in the clear; that is frame metadata, not content, and it is
//! read only from the first packet of a key frame. Nothing else of a payload is read, and
//! no audio level is computed (it could reveal speech).
//!
//! Cost: the per-packet hooks ([`Accounting::on_incoming`], [`Accounting::on_forwarded`])
//! add a few integer updates: no allocation, no lock, no clock read (the packet's own
//! arrival time is used). The driver publishes a snapshot at most once per
//! [`PUBLISH_EVERY`] into a `watch` channel ([`Publisher`]); readers (the admin health feed,
//! any number of console viewers behind it) never send the driver a command.

use super::packet::InPacket;
use super::types::PeerId;
use crate::ids::{Role, VisitId};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::media::MediaKind;
use str0m::net::Protocol;
use str0m::stats::{MediaEgressStats, MediaIngressStats, PeerStats as RtcPeerStats};
use tokio::sync::watch;

/// How often str0m reports its per-peer stats.
pub(crate) const STATS_INTERVAL: Duration = Duration::from_secs(1);

/// How often the driver publishes a snapshot for readers.
pub(crate) const PUBLISH_EVERY: Duration = Duration::from_secs(1);

/// Per-peer counters, for tests and (later) the admin health view. Never content.
#[derive(Debug, Clone, Default)]
pub struct PeerStats {
    /// RTP packets received from this peer (after SRTP, duplicates dropped).
    pub rtp_packets_in: u64,
    /// RTP packets forwarded to this peer.
    pub rtp_packets_out: u64,
    /// Of `rtp_packets_in`, those the media fast path opened (docs/DESIGN.md "The media
    /// fast path"); the rest went through str0m.
    pub fast_packets_in: u64,
    /// Of `rtp_packets_out`, those the media fast path sealed.
    pub fast_packets_out: u64,
    /// Keyframe requests (PLI/FIR) sent to this peer on behalf of its receivers.
    pub keyframe_requests_sent: u64,
    /// ICE and DTLS are up.
    pub connected: bool,
    /// The end of the admitted slot (for "time left"); `visit` ends visits, not `media`.
    pub slot_end: Option<chrono::DateTime<chrono::Utc>>,
    /// Which peer these are (to join with `visit`'s seats). Set in published snapshots.
    pub peer: Option<PeerId>,
    /// Health figures (R-PRIV-1), in published snapshots ([`MediaHandle::stats_feed`](super::MediaHandle::stats_feed));
    /// default in [`MediaHandle::snapshot`](super::MediaHandle::snapshot).
    pub health: PeerHealth,
    /// Congestion control (R-REMOTE-2): what the SFU estimates it can send to this peer
    /// (bit/s, from the peer's transport-wide congestion control feedback).
    pub bwe_estimate_bps: Option<u64>,
    /// The last bitrate cap (REMB) sent to this peer as a sender: the weakest of its
    /// receivers' estimates.
    pub remb_sent_bps: Option<u64>,
    /// Video frames not forwarded to this peer because its estimate was below the rate.
    pub video_frames_dropped: u64,
    /// The video budget of this peer's leg (bit/s), when congestion control limits it.
    pub video_budget_bps: Option<u64>,
}

/// A snapshot of the media driver's state.
#[derive(Debug, Clone, Default)]
pub struct MediaSnapshot {
    pub peers: Vec<(VisitId, Role, PeerStats)>,
    /// When a published snapshot was taken (`None` for [`MediaHandle::snapshot`](super::MediaHandle::snapshot)).
    pub taken_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A peer-reported figure older than this is no longer shown.
const REPORT_STALE: Duration = Duration::from_secs(5);

/// A sequence jump larger than this is a stream restart, not loss.
const MAX_GAP: u64 = 1000;

/// At most this many candidates of an offer are remembered (for naming the selected type).
const MAX_OFFER_CANDIDATES: usize = 32;

/// The type of the remote ICE candidate of the selected pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CandidateType {
    Host,
    Srflx,
    Prflx,
    Relay,
}

impl CandidateType {
    pub fn as_str(self) -> &'static str {
        match self {
            CandidateType::Host => "host",
            CandidateType::Srflx => "srflx",
            CandidateType::Prflx => "prflx",
            CandidateType::Relay => "relay",
        }
    }
}

/// A rate per media kind.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct KindRates {
    pub audio_kbps: f64,
    pub video_kbps: f64,
}

/// One peer's health figures as of the snapshot that carries them. Counts, rates and
/// states only: never content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PeerHealth {
    /// What the SFU received from this peer over the last interval.
    pub inbound: KindRates,
    /// What the SFU sent to this peer over the last interval.
    pub outbound: KindRates,
    /// RTP bytes received from / forwarded to this peer, since it was added.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Packets missing from what this peer sent (first-arrival sequence gaps), since added,
    /// and the packets that were expected.
    pub packets_lost_in: u64,
    pub packets_expected_in: u64,
    /// Loss of what we receive from this peer over the last interval (0..=1).
    pub inbound_loss: Option<f64>,
    /// Loss of what we send, as the peer reports it in its receiver reports (0..=1).
    pub outbound_loss: Option<f64>,
    /// Interarrival jitter of what we receive (the worse of audio and video), in ms.
    pub jitter_ms: Option<f64>,
    /// Round-trip time to this peer, in ms.
    pub rtt_ms: Option<f64>,
    pub candidate_type: Option<CandidateType>,
    /// `udp`, or `tcp` for a leg over ICE-TCP (R-REMOTE-2).
    pub transport: Option<&'static str>,
    /// Frames per second of the video we receive from this peer (and forward).
    pub video_fps: f64,
    /// Whether any video was received from this peer.
    pub video_seen: bool,
    /// Width and height from the last VP8 key frame header, if one was seen.
    pub video_size: Option<(u32, u32)>,
    /// Age of the last RTP packet from this peer at the snapshot; `None`: nothing yet.
    pub last_media_age: Option<Duration>,
    /// ICE restarts within this peer connection (confer's clients reconnect with a new
    /// peer instead, which the health model counts; this stays 0 until renegotiation).
    pub ice_restarts: u32,
}

fn idx(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Flow {
    packets: u64,
    bytes: u64,
}

/// First-arrival sequence tracking of one incoming stream.
#[derive(Debug, Clone, Copy, Default)]
struct SeqTrack {
    ssrc: u32,
    max: Option<u64>,
    expected: u64,
    lost: u64,
}

impl SeqTrack {
    fn on_packet(&mut self, ssrc: u32, seq: u64) {
        match self.max {
            Some(max) if ssrc == self.ssrc => {
                if seq > max {
                    let gap = seq - max - 1;
                    if gap <= MAX_GAP {
                        self.lost += gap;
                        self.expected += gap + 1;
                    } else {
                        self.expected += 1;
                    }
                    self.max = Some(seq);
                }
                // seq <= max: late or retransmitted; already accounted for.
            }
            _ => {
                self.ssrc = ssrc;
                self.max = Some(seq);
                self.expected += 1;
            }
        }
    }
}

/// Totals at the previous sample, for rates.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    bytes_in: [u64; 2],
    bytes_out: [u64; 2],
    expected: u64,
    lost: u64,
    frames: u64,
}

/// The accounting of one peer. Owned by the peer; touched only by the media driver.
#[derive(Debug)]
pub(crate) struct Accounting {
    inbound: [Flow; 2],
    outbound: [Flow; 2],
    seq: [SeqTrack; 2],
    last_video_ts: Option<u32>,
    frames: u64,
    video_size: Option<(u32, u32)>,
    last_media: Option<Instant>,
    egress_loss: [Option<(f64, Instant)>; 2],
    jitter_ms: [Option<f64>; 2],
    rtt: Option<(Duration, Instant)>,
    selected: Option<(CandidateType, &'static str)>,
    offered: Vec<(SocketAddr, CandidateType)>,
    prev: Option<Sample>,
}

impl Accounting {
    /// Start accounting for a peer; remembers the type of each candidate in its offer.
    pub(crate) fn new(offer_sdp: &str) -> Accounting {
        Accounting {
            inbound: Default::default(),
            outbound: Default::default(),
            seq: Default::default(),
            last_video_ts: None,
            frames: 0,
            video_size: None,
            last_media: None,
            egress_loss: [None; 2],
            jitter_ms: [None; 2],
            rtt: None,
            selected: None,
            offered: offer_candidates(offer_sdp),
            prev: None,
        }
    }

    /// An RTP packet arrived from this peer (after SRTP), on an m-line of `kind`.
    pub(crate) fn on_incoming(&mut self, kind: MediaKind, packet: &InPacket<'_>) {
        let i = idx(kind);
        let flow = &mut self.inbound[i];
        flow.packets += 1;
        flow.bytes += (packet.header.header_len + packet.payload.len()) as u64;
        self.seq[i].on_packet(*packet.header.ssrc, packet.seq);
        self.last_media = Some(packet.arrival);
        if kind == MediaKind::Video {
            if self.last_video_ts != Some(packet.header.timestamp) {
                self.last_video_ts = Some(packet.header.timestamp);
                self.frames += 1;
            }
            if let Some(size) = vp8_keyframe_size(packet.payload) {
                self.video_size = Some(size);
            }
        }
    }

    /// A forwarded packet of `kind` (`bytes` of header and payload) was written to this peer.
    pub(crate) fn on_forwarded(&mut self, kind: MediaKind, bytes: usize) {
        let flow = &mut self.outbound[idx(kind)];
        flow.packets += 1;
        flow.bytes += bytes as u64;
    }

    /// str0m's per-peer stats (once per [`STATS_INTERVAL`]).
    pub(crate) fn on_peer_stats(&mut self, s: &RtcPeerStats) {
        if let Some(pair) = &s.selected_candidate_pair {
            let remote = pair.remote.addr;
            let kind = self
                .offered
                .iter()
                .find(|(a, _)| *a == remote)
                .map(|(_, k)| *k)
                // Learnt from the peer's own checks and not in its offer (mDNS, NAT).
                .unwrap_or(CandidateType::Prflx);
            let transport = match pair.protocol {
                Protocol::Udp => "udp",
                _ => "tcp",
            };
            self.selected = Some((kind, transport));
            if let Some(rtt) = pair.current_round_trip_time {
                self.rtt = Some((rtt, s.timestamp));
            }
        }
        if let Some(rtt) = s.rtt {
            self.rtt = Some((rtt, s.timestamp));
        }
    }

    /// str0m's stats of one incoming m-line.
    pub(crate) fn on_ingress(&mut self, s: &MediaIngressStats, kind: Option<MediaKind>) {
        let Some(kind) = kind else { return };
        let clock = match kind {
            MediaKind::Audio => 48_000.0,
            MediaKind::Video => 90_000.0,
        };
        if s.packets > 0 {
            self.jitter_ms[idx(kind)] = Some(f64::from(s.jitter) * 1000.0 / clock);
        }
        if let Some(rtt) = s.rtt {
            self.rtt = Some((rtt, s.timestamp));
        }
    }

    /// str0m's stats of one outgoing m-line (the peer's receiver reports).
    pub(crate) fn on_egress(&mut self, s: &MediaEgressStats, kind: Option<MediaKind>) {
        let Some(kind) = kind else { return };
        if let Some(loss) = s.loss {
            self.egress_loss[idx(kind)] = Some((f64::from(loss).clamp(0.0, 1.0), s.timestamp));
        }
        if let Some(rtt) = s.rtt {
            self.rtt = Some((rtt, s.timestamp));
        }
    }

    /// The figures as of `now`; rates are over the time since the previous call.
    pub(crate) fn sample(&mut self, now: Instant) -> PeerHealth {
        let bytes_in = [self.inbound[0].bytes, self.inbound[1].bytes];
        let bytes_out = [self.outbound[0].bytes, self.outbound[1].bytes];
        let expected = self.seq[0].expected + self.seq[1].expected;
        let lost = self.seq[0].lost + self.seq[1].lost;
        let cur = Sample {
            at: now,
            bytes_in,
            bytes_out,
            expected,
            lost,
            frames: self.frames,
        };
        let mut h = PeerHealth {
            bytes_in: bytes_in[0] + bytes_in[1],
            bytes_out: bytes_out[0] + bytes_out[1],
            packets_lost_in: lost,
            packets_expected_in: expected,
            candidate_type: self.selected.map(|s| s.0),
            transport: self.selected.map(|s| s.1),
            video_seen: self.frames > 0,
            video_size: self.video_size,
            last_media_age: self.last_media.map(|t| now.saturating_duration_since(t)),
            ..PeerHealth::default()
        };
        if let Some(prev) = self.prev {
            let secs = now.saturating_duration_since(prev.at).as_secs_f64();
            if secs > 0.0 {
                let kbps =
                    |now: u64, before: u64| now.saturating_sub(before) as f64 * 8.0 / secs / 1000.0;
                h.inbound = KindRates {
                    audio_kbps: kbps(bytes_in[0], prev.bytes_in[0]),
                    video_kbps: kbps(bytes_in[1], prev.bytes_in[1]),
                };
                h.outbound = KindRates {
                    audio_kbps: kbps(bytes_out[0], prev.bytes_out[0]),
                    video_kbps: kbps(bytes_out[1], prev.bytes_out[1]),
                };
                h.video_fps = self.frames.saturating_sub(prev.frames) as f64 / secs;
            }
            let exp = expected.saturating_sub(prev.expected);
            if exp > 0 {
                h.inbound_loss = Some(lost.saturating_sub(prev.lost) as f64 / exp as f64);
            }
        }
        let fresh = |at: Instant| now.saturating_duration_since(at) <= REPORT_STALE;
        h.outbound_loss = self
            .egress_loss
            .iter()
            .flatten()
            .filter(|(_, at)| fresh(*at))
            .map(|(l, _)| *l)
            .reduce(f64::max);
        h.jitter_ms = self.jitter_ms.iter().flatten().copied().reduce(f64::max);
        h.rtt_ms = self
            .rtt
            .filter(|(_, at)| fresh(*at))
            .map(|(r, _)| r.as_secs_f64() * 1000.0);
        self.prev = Some(cur);
        h
    }
}

/// The candidates of an SDP offer (`a=candidate:` lines), by address, with their type.
fn offer_candidates(sdp: &str) -> Vec<(SocketAddr, CandidateType)> {
    sdp.lines()
        .filter_map(|l| l.trim().strip_prefix("a=candidate:"))
        .filter_map(|c| {
            // foundation component transport priority address port "typ" type ...
            let f: Vec<&str> = c.split_whitespace().take(8).collect();
            let (addr, port, typ) = (f.get(4)?, f.get(5)?, f.get(7)?);
            let addr = SocketAddr::new(addr.parse().ok()?, port.parse().ok()?);
            let kind = match *typ {
                "host" => CandidateType::Host,
                "srflx" => CandidateType::Srflx,
                "prflx" => CandidateType::Prflx,
                "relay" => CandidateType::Relay,
                _ => return None,
            };
            Some((addr, kind))
        })
        .take(MAX_OFFER_CANDIDATES)
        .collect()
}

/// Width and height from a VP8 key frame's uncompressed header (RFC 7741 §4.2 payload
/// descriptor, then RFC 6386 §9.1: frame tag with P=0, start code 9d 01 2a, 14-bit width
/// and height). `None` for anything else.
pub(crate) fn vp8_keyframe_size(payload: &[u8]) -> Option<(u32, u32)> {
    let desc = *payload.first()?;
    // S=1 (start of a partition) and PID=0 (the first partition).
    if desc & 0x10 == 0 || desc & 0x07 != 0 {
        return None;
    }
    let mut off = 1;
    if desc & 0x80 != 0 {
        let x = *payload.get(1)?;
        off = 2;
        if x & 0x80 != 0 {
            off += if payload.get(off)? & 0x80 != 0 { 2 } else { 1 };
        }
        if x & 0x40 != 0 {
            off += 1;
        }
        if x & 0x30 != 0 {
            off += 1;
        }
    }
    let h = payload.get(off..off + 10)?;
    if h[0] & 0x01 != 0 || h[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    let w = u32::from(u16::from_le_bytes([h[6], h[7]]) & 0x3fff);
    let ht = u32::from(u16::from_le_bytes([h[8], h[9]]) & 0x3fff);
    (w > 0 && ht > 0).then_some((w, ht))
}

/// Publishes the driver's snapshot to readers, at most once per [`PUBLISH_EVERY`].
pub(crate) struct Publisher {
    tx: watch::Sender<Arc<MediaSnapshot>>,
    next: Instant,
}

impl Publisher {
    pub(crate) fn new() -> Publisher {
        Publisher {
            tx: watch::Sender::new(Arc::new(MediaSnapshot::default())),
            next: Instant::now() + PUBLISH_EVERY,
        }
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Arc<MediaSnapshot>> {
        self.tx.subscribe()
    }

    /// When the next snapshot is due (the driver wakes up for it).
    pub(crate) fn due(&self) -> Instant {
        self.next
    }

    /// Publish if due: `rows` (one pass over the peers, each sampled at `now`) is called
    /// only then; one allocation per snapshot. The rows come from the driver, so this module
    /// needs nothing of a peer but its numbers.
    pub(crate) fn tick(
        &mut self,
        now: Instant,
        rows: impl FnOnce() -> Vec<(VisitId, Role, PeerStats)>,
    ) {
        if now < self.next {
            return;
        }
        self.next = now + PUBLISH_EVERY;
        let peers = rows();
        self.tx.send_replace(Arc::new(MediaSnapshot {
            peers,
            taken_at: Some(chrono::Utc::now()),
        }));
    }
}

/// One snapshot of every worker's peers: the peers side by side, taken when the newest of
/// the parts was.
pub(crate) fn merge<'a>(parts: impl Iterator<Item = &'a MediaSnapshot>) -> MediaSnapshot {
    let mut merged = MediaSnapshot::default();
    for part in parts {
        merged.peers.extend(part.peers.iter().cloned());
        merged.taken_at = merged.taken_at.max(part.taken_at);
    }
    merged
}

/// One feed over the workers' feeds: republished, merged, whenever any worker publishes
/// (so at most once a second per worker). A single worker's feed is passed through as it
/// is. The merging task ends when a worker stops or nobody reads any more.
pub(crate) fn merged_feed(
    mut feeds: Vec<watch::Receiver<Arc<MediaSnapshot>>>,
) -> watch::Receiver<Arc<MediaSnapshot>> {
    if feeds.len() == 1 {
        return feeds.remove(0);
    }
    let (tx, rx) = watch::channel(Arc::new(MediaSnapshot::default()));
    tokio::spawn(async move {
        loop {
            let changes = feeds.iter_mut().map(|f| Box::pin(f.changed()));
            let (changed, _, _) = futures_util::future::select_all(changes).await;
            if changed.is_err() {
                return;
            }
            let latest: Vec<Arc<MediaSnapshot>> = feeds
                .iter_mut()
                .map(|f| f.borrow_and_update().clone())
                .collect();
            if tx
                .send(Arc::new(merge(latest.iter().map(|s| s.as_ref()))))
                .is_err()
            {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_count_first_arrival_loss_only() {
        let mut s = SeqTrack::default();
        for seq in [100, 101, 103, 104, 102, 110] {
            s.on_packet(7, seq);
        }
        // 102 came late (not counted again); 105..=109 missing.
        assert_eq!(s.expected, 11);
        assert_eq!(s.lost, 6);
        // A new SSRC restarts the tracking; a huge jump is a restart, not loss.
        s.on_packet(8, 5000);
        s.on_packet(8, 5000 + MAX_GAP + 10);
        assert_eq!(s.lost, 6);
        assert_eq!(s.expected, 13);
    }

    #[test]
    fn vp8_keyframe_header_gives_width_and_height() {
        // Descriptor S=1 PID=0, frame tag P=0, start code, 320x240.
        let mut kf = vec![0x10, 0x00, 0x02, 0x00, 0x9d, 0x01, 0x2a];
        kf.extend_from_slice(&320u16.to_le_bytes());
        kf.extend_from_slice(&240u16.to_le_bytes());
        assert_eq!(vp8_keyframe_size(&kf), Some((320, 240)));
        // With the extended descriptor (X, I with a 15-bit picture id).
        let mut ext = vec![0x90, 0x80, 0x81, 0x02];
        ext.extend_from_slice(&kf[1..]);
        assert_eq!(vp8_keyframe_size(&ext), Some((320, 240)));
        // An interframe (P=1), a continuation packet (S=0), and a truncated one.
        let mut inter = kf.clone();
        inter[1] = 0x01;
        assert_eq!(vp8_keyframe_size(&inter), None);
        let mut cont = kf.clone();
        cont[0] = 0x00;
        assert_eq!(vp8_keyframe_size(&cont), None);
        assert_eq!(vp8_keyframe_size(&kf[..8]), None);
        assert_eq!(vp8_keyframe_size(&[]), None);
    }

    #[test]
    fn offer_candidates_are_typed_and_bad_lines_skipped() {
        let sdp = "v=0\r\na=candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host\r\n\
                   a=candidate:2 1 udp 1694498815 203.0.113.9 6000 typ srflx raddr 0.0.0.0 rport 0\r\n\
                   a=candidate:3 1 udp 1 abc.local 7000 typ host\r\n\
                   a=candidate:4 1 udp 1 10.0.0.1 8000 typ relay\r\n";
        let c = offer_candidates(sdp);
        assert_eq!(
            c,
            vec![
                ("127.0.0.1:5000".parse().unwrap(), CandidateType::Host),
                ("203.0.113.9:6000".parse().unwrap(), CandidateType::Srflx),
                ("10.0.0.1:8000".parse().unwrap(), CandidateType::Relay),
            ]
        );
    }

    #[test]
    fn rates_are_deltas_over_the_sample_interval() {
        let mut a = Accounting::new("");
        let t0 = Instant::now();
        assert_eq!(a.sample(t0).inbound, KindRates::default());
        a.on_forwarded(MediaKind::Video, 1000);
        a.on_forwarded(MediaKind::Audio, 250);
        let h = a.sample(t0 + Duration::from_secs(2));
        assert!((h.outbound.video_kbps - 4.0).abs() < 1e-9);
        assert!((h.outbound.audio_kbps - 1.0).abs() < 1e-9);
        assert_eq!(h.bytes_out, 1250);
        assert_eq!(h.inbound_loss, None);
        assert_eq!(h.last_media_age, None);
    }
}
