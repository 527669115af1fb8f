//! One peer connection: a str0m [`Rtc`] in RTP mode plus what the driver needs to know about
//! it. Sans I/O apart from handing finished datagrams to [`MediaSockets::send`].
//!
//! Every method that mutates the `Rtc` (accepting the offer, network input, a timeout, writing
//! a forwarded packet, requesting a keyframe, closing) drains `poll_output` until
//! `Output::Timeout` before returning: str0m's driving contract.
//!
//! Per-leg rewriting of forwarded packets happens here, because it depends on what *this* leg
//! negotiated: the payload type is mapped through this leg's codec config; the mid, rid,
//! repaired-rid, transport-wide sequence number and abs-send-time header extensions are
//! dropped from the incoming values (str0m writes this leg's own); the payload is copied as is.

use super::congestion::RembThrottle;
use super::forward::TrackSpec;
use super::packet::InPacket;
use super::socket::MediaSockets;
use super::stats::PeerStats;
use super::stats::{Accounting, STATS_INTERVAL};
use super::types::{MediaError, PeerId};
use crate::ids::{ParticipantId, Role, VisitId};
use crate::policy::Admitted;
use chrono::{DateTime, Utc};
use confer_srtp::{MasterKey, Profile, Srtp};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::SdpOffer;
use str0m::fast::{FastReceive, FastRtpWrite, FAST_HEADROOM};
use str0m::format::{CodecSpec, PayloadParams};
use str0m::media::Pt;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, TcpType};
use str0m::rtp::{Extension, ExtensionValues, RtpHeader, RtpPacket, RtpWrite};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

/// Keyframe requests relayed to one source at most this often (browsers throttle too).
const KEYFRAME_REQUEST_INTERVAL: Duration = Duration::from_millis(250);

/// Video packets each leg keeps for answering NACKs (str0m's default is 1000, capped at 3 s).
/// 128 is about 0.8 s of 720p video at 1.5 Mbit/s: several NACK rounds even at a 200 ms
/// round trip, and a repair later than that arrives after the receiver's jitter buffer gave
/// up on the frame anyway. Each cached packet costs ~1.6 KiB: going from 256 to 128 cut the
/// server's RSS by ~400 KiB per visit (load test, 50 visits steady).
const RTX_VIDEO_PACKETS: usize = 128;

/// Sent packets each leg keeps records of for transport-wide congestion control (str0m's
/// default is 1000). Feedback comes every 50-100 ms and the egress loss is taken over the
/// last second; 500 is 1.6 s of packets at the leg's desired rate (`BWE_DESIRED` with audio,
/// ~310 packets a second of 1200 bytes), a second at 4.8 Mbit/s. str0m appends before it
/// drops the oldest, so the ring holds one more than this: 500 stays within a 512-record
/// allocation where 1000 took 1024 (about 80 bytes each: ~40 KiB per leg less).
const TWCC_SEND_HISTORY: usize = 500;

/// R-REMOTE-2: how long a peer whose ICE connection was lost (no consent from the client for
/// str0m's 15 s) waits for the client's ICE restart before it is given up. The client's
/// signalling keeps the seat meanwhile; media silence has already told the others.
const ICE_RESTART_WINDOW: Duration = Duration::from_secs(45);
/// Congestion control (R-REMOTE-2, docs/DESIGN.md "Congestion control"): each leg's `Rtc`
/// estimates what it can send to its client from the client's transport-wide congestion
/// control feedback, starting from this ...
const BWE_INITIAL: Bitrate = Bitrate::kbps(1_000);
/// ... and probing up towards this (a 720p camera at a browser's usual maximum).
const BWE_DESIRED: Bitrate = Bitrate::kbps(2_500);
/// The media fast path registers received packets with str0m without driving it; this is
/// how soon after such a packet the leg's `Rtc` is driven at the latest, so that its
/// transport-wide feedback (due 50 ms after the last report) leaves about when it would on
/// str0m's own path, without a timeout per packet. No shorter than [`TIMER_SLACK`]'s grid
/// steps (40 ms for most timers): the leg's own timers then drive it first, on the grid.
const FAST_FEEDBACK_TICK: Duration = Duration::from_millis(50);
/// Timer slack (vendored str0m, "Timer slack" in `vendor/str0m/CONFER-PATCH.md`): a leg's
/// periodic timers (NACK scans every 33 ms, transport-wide feedback every 50, the delay-based
/// estimator every 25, the pacer's upkeep every 40) wait for the next 20 ms step of a grid
/// of the leg's own, so that most fall due together: about 40 % fewer timeouts per leg
/// (loadtest/README.md, "Timer slack and the peer table"). Media is never held: paced
/// packets, padding, probes and DTLS/ICE keep their times. What it costs: a NACK leaves up to
/// 20 ms later, feedback comes every 60 ms instead of 50, the estimate updates every 40 ms
/// instead of 25.
const TIMER_SLACK: Duration = Duration::from_millis(20);

/// Something the driver must act on after a peer was driven.
#[derive(Debug)]
pub(crate) enum Notice {
    /// ICE and DTLS are up.
    Connected,
    /// The peer is gone on its own (ICE consent lost, DTLS closed, or a fatal str0m error).
    Gone,
    /// An RTP packet arrived on `mid` (boxed: it is much larger than the other notices).
    Rtp(Box<Incoming>),
    /// The remote asked for a keyframe on one of our outgoing m-lines.
    KeyframeRequest { mid: Mid, kind: KeyframeRequestKind },
    /// A negotiated m-line became usable (str0m reports them once the connection is up).
    TrackAdded(TrackSpec),
    /// The bandwidth estimate of this leg changed (see [`Peer::estimate_bps`]).
    Estimate,
}

/// An incoming RTP packet with what forwarding needs to know about it.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub mid: Mid,
    pub kind: MediaKind,
    /// The sending leg's parameters for the packet's payload type.
    pub params: PayloadParams,
    /// The packet is RFC 2198 RED around `params`' codec.
    pub is_red: bool,
    pub packet: RtpPacket,
}

impl Incoming {
    /// The packet as forwarding sees it.
    pub(crate) fn view(&self) -> InPacket<'_> {
        InPacket {
            mid: self.mid,
            kind: self.kind,
            params: self.params,
            is_red: self.is_red,
            header: &self.packet.header,
            seq: *self.packet.seq_no,
            arrival: self.packet.timestamp,
            payload: &self.packet.payload,
            shared: Some(&self.packet.payload),
        }
    }
}

/// What [`Peer::fast_receive`] did with a datagram.
// Returned once per packet and consumed at once: boxing the large variant would allocate per
// packet, which is what the fast path is for avoiding.
#[allow(clippy::large_enum_variant)]
pub(crate) enum FastIn {
    /// Not for the fast path (the buffer is untouched): str0m's path takes it.
    NotFast,
    /// Taken; nothing to forward (a replay, a packet that did not authenticate, padding).
    Dropped,
    /// Taken, opened in place and registered with str0m: forward it.
    Media(FastMedia),
}

/// A packet the fast path opened: where it belongs, and where its payload is in the buffer.
pub(crate) struct FastMedia {
    mid: Mid,
    kind: MediaKind,
    params: PayloadParams,
    is_red: bool,
    seq: u64,
    header: RtpHeader,
    payload: Range<usize>,
}

impl FastMedia {
    /// The packet as forwarding sees it; `buf` is the buffer [`Peer::fast_receive`] opened.
    pub(crate) fn view<'a>(&'a self, buf: &'a [u8], arrival: Instant) -> InPacket<'a> {
        InPacket {
            mid: self.mid,
            kind: self.kind,
            params: self.params,
            is_red: self.is_red,
            header: &self.header,
            seq: self.seq,
            arrival,
            payload: &buf[self.payload.clone()],
            shared: None,
        }
    }
}

/// The fast path's state on one leg (docs/DESIGN.md "The media fast path").
enum Fast {
    /// Off for this media plane (`[media] fast_path = false`), or the leg negotiated an SRTP
    /// profile `confer-srtp` does not implement: every packet takes str0m's path.
    Off,
    /// On, waiting for DTLS to deliver the keys.
    Wanted,
    /// This leg's SRTP sessions, derived from the keys str0m exported.
    Ready(Box<FastSrtp>),
}

struct FastSrtp {
    /// Opens what the client sends.
    rx: Srtp,
    /// Seals what we send to the client.
    tx: Srtp,
}

impl FastSrtp {
    /// The leg's sessions from the master keys DTLS-SRTP negotiated. `None`: no keys yet.
    /// `Some(None)`: a profile other than AES-GCM (str0m keeps every packet).
    fn from_rtc(rtc: &Rtc) -> Option<Option<FastSrtp>> {
        let keys = rtc.srtp_master_keys()?;
        let profile = match keys.profile() {
            str0m::crypto::dtls::SrtpProfile::AEAD_AES_128_GCM => Profile::AeadAes128Gcm,
            str0m::crypto::dtls::SrtpProfile::AEAD_AES_256_GCM => Profile::AeadAes256Gcm,
            _ => return Some(None),
        };
        let session = |k: &str0m::crypto::SrtpMasterKey| {
            MasterKey::new(profile, k.key(), k.salt())
                .ok()
                .and_then(|m| Srtp::new(&m).ok())
        };
        Some(
            session(keys.rx())
                .zip(session(keys.tx()))
                .map(|(rx, tx)| FastSrtp { rx, tx }),
        )
    }
}

/// Where a forwarded packet goes on this leg and with which numbers (from the forward table).
pub(crate) struct Outgoing<'a> {
    /// The driver's clock when the packet is written.
    pub now: Instant,
    pub slot: Mid,
    pub seq: u64,
    pub timestamp: u32,
    pub incoming: &'a InPacket<'a>,
}

pub(crate) struct Peer {
    pub id: PeerId,
    pub visit: VisitId,
    pub participant: ParticipantId,
    pub role: Role,
    /// The admitted slot end, kept for the health view. `visit` ends the visit; media does not.
    pub slot_end: DateTime<Utc>,
    pub tracks: Vec<TrackSpec>,
    pub stats: PeerStats,
    pub(crate) acct: Accounting,
    rtc: Rtc,
    /// What every packet of this leg reads of it, in one cache line.
    hot: Hot,
    keyframe_gates: Vec<KeyframeGate>,
    /// The client's current ICE username fragment: an offer with another one is an ICE
    /// restart (R-REMOTE-2).
    remote_ufrag: Option<String>,
    /// When the ICE connection was lost (R-REMOTE-2): the peer waits
    /// [`ICE_RESTART_WINDOW`] from then for an ICE restart.
    ice_lost_at: Option<Instant>,
    /// Congestion control (R-REMOTE-2): this leg's send-side estimate (str0m BWE from the
    /// client's TWCC feedback) while str0m can probe, and the client's own REMB, if any.
    twcc_estimate: Option<u64>,
    remb_in: Option<u64>,
    /// When the REMB towards this peer (as a source) is due.
    pub(crate) remb_out: RembThrottle,
    /// The media fast path on this leg.
    fast: Fast,
    /// What [`Self::write_forwarded`] decided for each kind of packet it was given, so that
    /// a packet does not search this leg's codecs and m-lines again (see [`SendPt`]).
    send_pts: Vec<SendPt>,
}

/// The part of a [`Peer`] that every packet received or forwarded on the leg reads (whether
/// it is up, and its next deadline for the driver's timer heap), kept together in one cache
/// line: among a hundred legs, a field of the large `Peer` read per packet is a cache miss of
/// its own.
#[derive(Debug)]
#[repr(align(64))]
struct Hot {
    /// The `Rtc`'s own next timeout (see [`Peer::next_timeout`]).
    rtc_timeout: Instant,
    /// The earliest of the leg's own deadlines: a held keyframe request, the end of the ICE
    /// restart window. Kept up to date where those change, so that [`Peer::next_timeout`]
    /// does not walk the keyframe gates for every packet.
    own_due: Option<Instant>,
    /// The latest time this peer was driven with.
    last_now: Instant,
    connected: bool,
    gone: bool,
}

/// One decision of [`Peer::write_forwarded`]: packets of the source codec `spec` (its RED
/// wrapping or not) written on this leg's m-line `slot` go out with payload type `pt`, or not
/// at all (`None`: the codec is not negotiated on that m-line). The decision depends only on
/// these three and on this leg's negotiation, so the list is emptied whenever this leg
/// accepts an offer; it is bounded by [`SEND_PTS`].
struct SendPt {
    slot: Mid,
    spec: CodecSpec,
    is_red: bool,
    pt: Option<Pt>,
}

/// At most this many [`SendPt`] per leg (a visit forwards two or three codecs onto two or
/// three m-lines); more are not kept, only decided each time.
const SEND_PTS: usize = 16;

/// Keyframe request throttling for one incoming m-line.
struct KeyframeGate {
    mid: Mid,
    last: Option<Instant>,
    pending: Option<KeyframeRequestKind>,
}

/// The codecs confer negotiates. One video and one audio codec that every browser and the
/// booth kiosk have, so every two legs of a visit negotiate the same codec and forwarding
/// never needs transcoding. No RED/ULPFEC/FlexFEC (NACK/RTX instead).
///
/// The header extensions are str0m's standard set without the absolute send time: that one
/// serves a receiver that estimates bandwidth itself (REMB from arrival times), and confer's
/// legs estimate on the sending side from transport-wide feedback (the transport sequence
/// number). Not negotiated, it costs neither its 4 header bytes on every packet of every leg
/// nor the clock conversions str0m does for it on every packet received and sent.
pub(crate) fn rtc_config() -> str0m::RtcConfig {
    Rtc::builder()
        .set_ice_lite(true)
        .set_rtp_mode(true)
        .clear_extension_map()
        .set_extension(1, Extension::AudioLevel)
        .set_extension(3, Extension::TransportSequenceNumber)
        .set_extension(4, Extension::RtpMid)
        .set_extension(10, Extension::RtpStreamId)
        .set_extension(11, Extension::RepairedRtpStreamId)
        .set_extension(13, Extension::VideoOrientation)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
        .set_stats_interval(Some(STATS_INTERVAL))
        .set_send_buffer_video(RTX_VIDEO_PACKETS)
        .set_twcc_send_history(TWCC_SEND_HISTORY)
        .enable_bwe(Some(BWE_INITIAL))
        .set_timer_slack(TIMER_SLACK)
}

/// The SFU's host candidates on `rtc`: UDP, and (R-REMOTE-2) passive TCP ones (RFC 6544).
/// str0m gives a non-UDP host candidate a lower type preference (90 against 126), so a
/// client that can reach UDP keeps it. Used by every peer and by the network check.
pub(crate) fn add_host_candidates(
    rtc: &mut Rtc,
    candidates: &[SocketAddr],
    tcp_candidates: &[SocketAddr],
) -> Result<(), MediaError> {
    for addr in candidates {
        let candidate =
            Candidate::host(*addr, "udp").map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.add_local_candidate(candidate);
    }
    for addr in tcp_candidates {
        let candidate = Candidate::builder()
            .tcp()
            .host(*addr)
            .tcptype(TcpType::Passive)
            .build()
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.add_local_candidate(candidate);
    }
    Ok(())
}

impl Peer {
    /// Build a peer from the client's offer; returns it and the SDP answer.
    // The UDP and the TCP candidates (R-REMOTE-2) come in separately, as the driver holds them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn accept(
        id: PeerId,
        admitted: &Admitted,
        offer_sdp: &str,
        candidates: &[SocketAddr],
        tcp_candidates: &[SocketAddr],
        fast_path: bool,
        net: &MediaSockets,
        now: Instant,
        notices: &mut Vec<Notice>,
    ) -> Result<(Peer, String), MediaError> {
        let offer = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let mut rtc = rtc_config().build(now);
        add_host_candidates(&mut rtc, candidates, tcp_candidates)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        rtc.bwe().set_bitrate(Bitrate::ZERO, BWE_DESIRED);
        let mut peer = Peer {
            id,
            visit: admitted.visit(),
            participant: admitted.participant().clone(),
            role: admitted.role(),
            slot_end: admitted.slot_end(),
            tracks: Vec::new(),
            stats: PeerStats::default(),
            acct: Accounting::new(offer_sdp),
            rtc,
            hot: Hot {
                rtc_timeout: now,
                own_due: None,
                last_now: now,
                connected: false,
                gone: false,
            },
            keyframe_gates: Vec::new(),
            send_pts: Vec::new(),
            remote_ufrag: ice_ufrag(offer_sdp),
            ice_lost_at: None,
            twcc_estimate: None,
            remb_in: None,
            remb_out: RembThrottle::default(),
            fast: if fast_path { Fast::Wanted } else { Fast::Off },
        };
        peer.drain(net, notices);
        Ok((peer, answer.to_sdp_string()))
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.hot.connected && !self.hot.gone
    }

    /// This peer's row of the published health snapshot, its health sampled at `now`.
    pub(crate) fn health_row(&mut self, now: Instant) -> (VisitId, Role, PeerStats) {
        let mut stats = self.stats.clone();
        stats.connected = self.is_connected();
        stats.slot_end = Some(self.slot_end);
        stats.peer = Some(self.id);
        stats.health = self.acct.sample(now);
        (self.visit, self.role, stats)
    }

    pub(crate) fn is_gone(&self) -> bool {
        self.hot.gone || !self.rtc.is_alive()
    }

    pub(crate) fn accepts(&self, input: &Input<'_>) -> bool {
        !self.hot.gone && self.rtc.accepts(input)
    }

    /// R-REMOTE-2: the client's new offer on the same peer. Only an ICE restart (new ICE
    /// credentials) is accepted: str0m answers with new local credentials, keeps its
    /// candidates, DTLS and streams, and the client's checks pick the new path.
    pub(crate) fn restart_ice(
        &mut self,
        offer_sdp: &str,
        now: Instant,
        net: &MediaSockets,
        notices: &mut Vec<Notice>,
    ) -> Result<String, MediaError> {
        if self.is_gone() {
            return Err(MediaError::PeerGone);
        }
        let ufrag = ice_ufrag(offer_sdp)
            .ok_or_else(|| MediaError::BadOffer("the offer has no a=ice-ufrag".into()))?;
        if self.remote_ufrag.as_deref() == Some(ufrag.as_str()) {
            return Err(MediaError::NotAnIceRestart);
        }
        let offer = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        self.handle_input(Input::Timeout(now.max(self.hot.last_now)), net, notices);
        let answer = self
            .rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        // A new negotiation: decide every payload type again.
        self.send_pts.clear();
        self.remote_ufrag = Some(ufrag);
        self.ice_lost_at = None;
        self.update_own_due();
        tracing::info!(peer = self.id.0, "ICE restart accepted");
        self.drain(net, notices);
        Ok(answer.to_sdp_string())
    }

    /// Feed network input or a timeout, then drain.
    ///
    /// A client's RTCP report is read without the timeout sweep str0m runs after every
    /// receive: what it changes (NACK resends, keyframe requests, the estimate) is done as it
    /// is read, and anything already due comes back as a timeout at or before `now`, which
    /// the driver runs in the same turn (vendored str0m, "RTCP without the timeout sweep").
    pub(crate) fn handle_input(
        &mut self,
        input: Input<'_>,
        net: &MediaSockets,
        notices: &mut Vec<Notice>,
    ) {
        match &input {
            Input::Timeout(t) | Input::Receive(t, _) => {
                self.hot.last_now = self.hot.last_now.max(*t)
            }
        }
        let handled = match input {
            Input::Receive(t, r) => self.rtc.handle_receive_deferring_timers(t, r),
            timeout => self.rtc.handle_input(timeout),
        };
        if let Err(e) = handled {
            tracing::info!(peer = self.id.0, error = %e, "peer input failed; disconnecting");
            self.fail(notices);
            return;
        }
        self.drain(net, notices);
    }

    /// Whether the fast path can take this leg's packets: its SRTP sessions are derived
    /// (once, when DTLS has delivered the keys) and ready in `self.fast`.
    fn fast_ready(&mut self) -> bool {
        if matches!(self.fast, Fast::Wanted) && self.is_connected() {
            match FastSrtp::from_rtc(&self.rtc) {
                None => {}
                Some(None) => {
                    tracing::info!(peer = self.id.0, "SRTP profile without a fast path");
                    self.fast = Fast::Off;
                }
                Some(Some(srtp)) => self.fast = Fast::Ready(Box::new(srtp)),
            }
        }
        matches!(self.fast, Fast::Ready(_))
    }

    /// The media fast path for one received datagram (`buf`, opened in place if taken): an
    /// SRTP packet of a stream str0m already knows is authenticated and decrypted with this
    /// leg's keys and registered with str0m (its reports, NACKs and transport-wide feedback
    /// then count it), without str0m's event round trip. Anything else is
    /// [`FastIn::NotFast`] and `buf` is untouched.
    pub(crate) fn fast_receive(&mut self, now: Instant, buf: &mut [u8]) -> FastIn {
        if self.hot.gone {
            return FastIn::NotFast;
        }
        if !self.fast_ready() {
            return FastIn::NotFast;
        }
        let Fast::Ready(srtp) = &self.fast else {
            return FastIn::NotFast;
        };
        let open = |b: &mut [u8], index: u64| srtp.rx.open(b, (index >> 16) as u32).ok();
        let received = match self.rtc.fast_rtp_receive(now, buf, open) {
            FastReceive::NotFast => return FastIn::NotFast,
            FastReceive::Dropped => None,
            FastReceive::Media(m) => Some(m),
        };
        self.hot.last_now = self.hot.last_now.max(now);
        // str0m was not driven: make sure it is soon, for its feedback (see the constant).
        self.hot.rtc_timeout = self.hot.rtc_timeout.min(now + FAST_FEEDBACK_TICK);
        let Some(m) = received else {
            return FastIn::Dropped;
        };
        self.stats.rtp_packets_in += 1;
        self.stats.fast_packets_in += 1;
        let Some(kind) = kind_of(&self.tracks, m.mid) else {
            return FastIn::Dropped;
        };
        let pt = m.header.payload_type;
        let Some(params) = self
            .rtc
            .codec_config()
            .find(|p| p.pt() == pt || p.red() == Some(pt))
            .copied()
        else {
            return FastIn::Dropped;
        };
        let media = FastMedia {
            mid: m.mid,
            kind,
            params,
            is_red: params.pt() != pt,
            seq: *m.seq_no,
            header: m.header,
            payload: m.payload,
        };
        self.acct.on_incoming(kind, &media.view(buf, now));
        FastIn::Media(media)
    }

    /// Write one forwarded packet on this leg and send it. Returns false if it was not sent
    /// (codec not negotiated on this leg, m-line not sending, not connected).
    ///
    /// On the fast path (this leg's keys known, a UDP pair selected) str0m writes the header
    /// and records the packet and `confer-srtp` seals it, straight to the socket; otherwise
    /// str0m's own send path takes it.
    pub(crate) fn write_forwarded(
        &mut self,
        out: &Outgoing<'_>,
        net: &MediaSockets,
        notices: &mut Vec<Notice>,
    ) -> bool {
        if !self.is_connected() {
            return false;
        }
        let inc = out.incoming;
        let Some(pt) = self.send_pt(out.slot, &inc.params, inc.is_red) else {
            return false;
        };
        let header = inc.header;
        let csrc_count = header.csrc_count.min(header.csrc.len());
        // Video is answered from this leg's retransmission buffer on NACK; str0m makes it
        // non-nackable by itself when the leg negotiated no RTX.
        let nackable = inc.kind == MediaKind::Video;
        let len = header.header_len + inc.payload.len();
        let fast = self.fast_ready();
        if let (true, Fast::Ready(srtp)) = (fast, &self.fast) {
            let write = FastRtpWrite {
                pt,
                seq_no: out.seq.into(),
                time: out.timestamp,
                wallclock: inc.arrival,
                marker: header.marker,
                // As received: str0m's fast send replaces the per-leg values itself.
                ext_vals: &header.ext_vals,
                csrc: &header.csrc[..csrc_count],
                payload: inc.payload,
                nackable,
            };
            let mut buf = net.buffer(inc.payload.len() + FAST_HEADROOM);
            let seal = |b: &mut [u8], plain: usize, index: u64| {
                srtp.tx.seal(b, plain, (index >> 16) as u32).ok()
            };
            if let Some(sent) = self
                .rtc
                .fast_rtp_send(out.now, out.slot, &write, &mut buf, seal)
            {
                buf.truncate(sent.len);
                net.send(sent.source, sent.destination, buf);
                self.hot.last_now = self.hot.last_now.max(out.now);
                self.stats.rtp_packets_out += 1;
                self.stats.fast_packets_out += 1;
                self.acct.on_forwarded(inc.kind, len);
                return true;
            }
        }
        let ext_vals = ExtensionValues {
            // mid/rid/rid_repair/transport_cc/abs_send_time are per leg: str0m writes ours.
            mid: None,
            rid: None,
            rid_repair: None,
            transport_cc: None,
            abs_send_time: None,
            user_values: Default::default(),
            ..header.ext_vals.clone()
        };
        let payload = match inc.shared {
            Some(shared) => Arc::clone(shared),
            None => Arc::from(inc.payload),
        };
        let write = RtpWrite::new(pt, out.seq.into(), out.timestamp, inc.arrival, payload)
            .marker(header.marker)
            .ext_vals(ext_vals)
            .csrc(&header.csrc[..csrc_count])
            .nackable(nackable);
        let written = {
            let mut api = self.rtc.direct_api();
            match api.stream_tx_by_mid(out.slot, None) {
                Some(tx) => {
                    tx.write_rtp(write);
                    true
                }
                None => false,
            }
        };
        if written {
            self.stats.rtp_packets_out += 1;
            self.acct.on_forwarded(inc.kind, len);
            // str0m releases a written packet only after a timeout has stamped it (its send
            // queue's contract): hand it that timeout now rather than waiting for the driver's
            // timer turn, so the packet leaves at once and the `Rtc` is polled once, not twice.
            self.handle_input(Input::Timeout(out.now), net, notices);
        }
        written
    }

    /// The payload type that a packet of the source's codec `params` (RED-wrapped or not)
    /// leaves with on this leg's m-line `slot`, or `None` if this leg cannot carry it: the
    /// payload type is mapped through this leg's codec config, and only onto a payload type
    /// negotiated on the slot's m-line, so media is forwarded only between legs with the same
    /// codec. Decided once per kind of packet ([`SendPt`]).
    pub(crate) fn send_pt(
        &mut self,
        slot: Mid,
        params: &PayloadParams,
        is_red: bool,
    ) -> Option<Pt> {
        let spec = params.spec();
        if let Some(d) = self
            .send_pts
            .iter()
            .find(|d| d.slot == slot && d.is_red == is_red && d.spec == spec)
        {
            return d.pt;
        }
        let pt = self.decide_send_pt(slot, params, is_red);
        if self.send_pts.len() < SEND_PTS {
            self.send_pts.push(SendPt {
                slot,
                spec,
                is_red,
                pt,
            });
        }
        pt
    }

    /// How many decisions [`Self::send_pt`] keeps (tests).
    #[cfg(test)]
    pub(crate) fn send_pts_kept(&self) -> usize {
        self.send_pts.len()
    }

    /// This leg's codecs as negotiated (tests).
    #[cfg(test)]
    pub(crate) fn codecs(&self) -> Vec<PayloadParams> {
        self.rtc.codec_config().params().to_vec()
    }

    /// [`Self::send_pt`] without the list: searched in this leg's negotiation.
    fn decide_send_pt(&self, slot: Mid, params: &PayloadParams, is_red: bool) -> Option<Pt> {
        let ours = self.rtc.codec_config().match_params(*params)?;
        let pt = if is_red { ours.red() } else { Some(ours.pt()) }?;
        let negotiated = self
            .rtc
            .media(slot)
            .is_some_and(|m| m.remote_pts().contains(&ours.pt()));
        negotiated.then_some(pt)
    }

    /// Ask this peer (a source) for a keyframe on its incoming m-line `mid`, then drain.
    ///
    /// At most one request per m-line per [`KEYFRAME_REQUEST_INTERVAL`]: a request inside the
    /// interval is kept (FIR wins over PLI) and sent when the interval is over, never lost.
    pub(crate) fn request_keyframe(
        &mut self,
        mid: Mid,
        kind: KeyframeRequestKind,
        now: Instant,
        net: &MediaSockets,
        notices: &mut Vec<Notice>,
    ) {
        if !self.is_connected() {
            return;
        }
        let gate = match self.keyframe_gates.iter_mut().position(|g| g.mid == mid) {
            Some(i) => &mut self.keyframe_gates[i],
            None => {
                self.keyframe_gates.push(KeyframeGate {
                    mid,
                    last: None,
                    pending: None,
                });
                let last = self.keyframe_gates.len() - 1;
                &mut self.keyframe_gates[last]
            }
        };
        let kind = match (gate.pending, kind) {
            (Some(KeyframeRequestKind::Fir), _) => KeyframeRequestKind::Fir,
            (_, k) => k,
        };
        if gate
            .last
            .is_some_and(|at| now.saturating_duration_since(at) < KEYFRAME_REQUEST_INTERVAL)
        {
            gate.pending = Some(kind);
            self.update_own_due();
            return;
        }
        gate.pending = None;
        gate.last = Some(now);
        self.update_own_due();
        let requested = {
            let mut api = self.rtc.direct_api();
            match api.stream_rx_by_mid(mid, None) {
                Some(rx) => {
                    rx.request_keyframe(kind);
                    true
                }
                // Nothing received on this m-line yet: its first frame is a keyframe anyway.
                None => false,
            }
        };
        tracing::debug!(peer = self.id.0, %mid, requested, "keyframe request to a source");
        if requested {
            self.stats.keyframe_requests_sent += 1;
            self.drain(net, notices);
        }
    }

    /// What this leg can carry to its client, bit/s (R-REMOTE-2): the lower of str0m's
    /// send-side estimate and the client's own REMB. `None`: no estimate (yet).
    pub(crate) fn estimate_bps(&self) -> Option<u64> {
        match (self.twcc_estimate, self.remb_in) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Tell this peer (a source) the highest bitrate its receivers can take (R-REMOTE-2): a
    /// REMB on each of its incoming video m-lines, then drain.
    pub(crate) fn send_remb(&mut self, bps: u64, net: &MediaSockets, notices: &mut Vec<Notice>) {
        if !self.is_connected() {
            return;
        }
        let mut sent = false;
        {
            let mut api = self.rtc.direct_api();
            for t in self
                .tracks
                .iter()
                .filter(|t| t.recv && t.kind == MediaKind::Video)
            {
                if let Some(rx) = api.stream_rx_by_mid(t.mid, None) {
                    rx.request_remb(Bitrate::bps(bps));
                    sent = true;
                }
            }
        }
        if sent {
            self.stats.remb_sent_bps = Some(bps);
            self.drain(net, notices);
        }
    }

    /// When this peer next needs [`Self::handle_timeout`].
    pub(crate) fn next_timeout(&self) -> Instant {
        self.hot
            .own_due
            .map_or(self.hot.rtc_timeout, |at| at.min(self.hot.rtc_timeout))
    }

    /// Recompute [`Hot::own_due`] after a keyframe gate or the ICE restart window changed.
    fn update_own_due(&mut self) {
        self.hot.own_due = self
            .keyframe_gates
            .iter()
            .filter(|g| g.pending.is_some())
            .filter_map(|g| g.last.map(|at| at + KEYFRAME_REQUEST_INTERVAL))
            .chain(self.ice_lost_at.map(|at| at + ICE_RESTART_WINDOW))
            .min();
    }

    /// Drive time forward: str0m's timers and deferred keyframe requests.
    pub(crate) fn handle_timeout(
        &mut self,
        now: Instant,
        net: &MediaSockets,
        notices: &mut Vec<Notice>,
    ) {
        self.handle_input(Input::Timeout(now), net, notices);
        if self
            .ice_lost_at
            .is_some_and(|at| now.saturating_duration_since(at) >= ICE_RESTART_WINDOW)
        {
            tracing::info!(
                peer = self.id.0,
                "no ICE restart after the ICE connection was lost; disconnecting"
            );
            self.fail(notices);
            return;
        }
        let due: Vec<(Mid, KeyframeRequestKind)> = self
            .keyframe_gates
            .iter()
            .filter(|g| {
                g.last
                    .is_none_or(|at| now.saturating_duration_since(at) >= KEYFRAME_REQUEST_INTERVAL)
            })
            .filter_map(|g| g.pending.map(|k| (g.mid, k)))
            .collect();
        // Each request that changes a gate brings `own_due` up to date itself.
        for (mid, kind) in due {
            self.request_keyframe(mid, kind, now, net, notices);
        }
    }

    /// Start a clean shutdown (RTCP BYE, DTLS close_notify) and send what it produces.
    pub(crate) fn close(&mut self, net: &MediaSockets) {
        if self.rtc.close().is_ok() {
            let mut ignored = Vec::new();
            self.drain(net, &mut ignored);
        }
        self.hot.gone = true;
    }

    fn fail(&mut self, notices: &mut Vec<Notice>) {
        self.rtc.disconnect();
        if !self.hot.gone {
            self.hot.gone = true;
            notices.push(Notice::Gone);
        }
    }

    /// Drain `poll_output` until `Timeout`, sending datagrams and collecting notices.
    fn drain(&mut self, net: &MediaSockets, notices: &mut Vec<Notice>) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.hot.rtc_timeout = t;
                    break;
                }
                // R-REMOTE-2: a pair selected over ICE-TCP answers on its own connection.
                Ok(Output::Transmit(t)) if t.proto == Protocol::Tcp => {
                    net.send_tcp(t.destination, &t.contents);
                }
                Ok(Output::Transmit(t)) => {
                    net.send(t.source, t.destination, t.contents.into());
                }
                Ok(Output::Event(e)) => self.on_event(e, notices),
                Err(e) => {
                    tracing::info!(peer = self.id.0, error = %e, "peer output failed; disconnecting");
                    self.fail(notices);
                    break;
                }
            }
        }
        if !self.rtc.is_alive() && !self.hot.gone {
            self.hot.gone = true;
            notices.push(Notice::Gone);
        }
    }

    fn on_event(&mut self, event: Event, notices: &mut Vec<Notice>) {
        match event {
            Event::Connected => {
                self.hot.connected = true;
                notices.push(Notice::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                // ICE-lite: consent expired. R-REMOTE-2: the client may restart ICE on this
                // peer (a new offer, `restart_ice`) within ICE_RESTART_WINDOW.
                tracing::info!(
                    peer = self.id.0,
                    "ICE disconnected; waiting for an ICE restart"
                );
                self.ice_lost_at.get_or_insert(self.hot.last_now);
                self.update_own_due();
            }
            Event::IceConnectionStateChange(_) => {
                self.ice_lost_at = None;
                self.update_own_due();
            }
            Event::Closed => {
                tracing::info!(peer = self.id.0, "peer closed the connection");
                if !self.hot.gone {
                    self.hot.gone = true;
                    notices.push(Notice::Gone);
                }
            }
            Event::MediaAdded(m) => {
                let track = TrackSpec {
                    mid: m.mid,
                    kind: m.kind,
                    send: m.direction.is_sending(),
                    recv: m.direction.is_receiving(),
                };
                self.tracks.push(track);
                notices.push(Notice::TrackAdded(track));
            }
            Event::RtpPacket(packet) => {
                self.stats.rtp_packets_in += 1;
                if let Some(incoming) = self.classify(packet) {
                    self.acct.on_incoming(incoming.kind, &incoming.view());
                    notices.push(Notice::Rtp(Box::new(incoming)));
                }
            }
            Event::KeyframeRequest(req) => {
                notices.push(Notice::KeyframeRequest {
                    mid: req.mid,
                    kind: req.kind,
                });
            }
            Event::EgressBitrateEstimate(BweKind::Twcc {
                estimate,
                can_probe,
            }) => {
                // Without probing (no video sent on this leg) the figure is stale.
                self.twcc_estimate = can_probe.then(|| estimate.as_u64());
                self.stats.bwe_estimate_bps = self.twcc_estimate;
                notices.push(Notice::Estimate);
            }
            Event::EgressBitrateEstimate(BweKind::Remb { estimate, .. }) => {
                self.remb_in = Some(estimate.as_u64());
                notices.push(Notice::Estimate);
            }
            Event::PeerStats(s) => self.acct.on_peer_stats(&s),
            Event::MediaIngressStats(s) => self.acct.on_ingress(&s, kind_of(&self.tracks, s.mid)),
            Event::MediaEgressStats(s) => self.acct.on_egress(&s, kind_of(&self.tracks, s.mid)),
            _ => {}
        }
    }

    /// Find the packet's m-line (through its receive stream) and codec (through this leg's
    /// codec config). Packets we cannot place are dropped.
    fn classify(&mut self, packet: RtpPacket) -> Option<Incoming> {
        let ssrc = packet.header.ssrc;
        let mid = self.rtc.direct_api().stream_rx(&ssrc).map(|rx| rx.mid())?;
        let kind = self.tracks.iter().find(|t| t.mid == mid)?.kind;
        let pt = packet.header.payload_type;
        let params = *self
            .rtc
            .codec_config()
            .find(|p| p.pt() == pt || p.red() == Some(pt))?;
        let is_red = params.pt() != pt;
        Some(Incoming {
            mid,
            kind,
            params,
            is_red,
            packet,
        })
    }
}

/// The first `a=ice-ufrag:` of an SDP (bundled: one for the whole session).
fn ice_ufrag(sdp: &str) -> Option<String> {
    sdp.lines()
        .find_map(|l| l.trim_end().strip_prefix("a=ice-ufrag:"))
        .map(str::to_owned)
}

/// The kind of the m-line `mid` among a peer's tracks.
fn kind_of(tracks: &[TrackSpec], mid: Mid) -> Option<MediaKind> {
    tracks.iter().find(|t| t.mid == mid).map(|t| t.kind)
}

/// The offer path of [`Peer::accept`] without sockets (the `fuzzing` feature): str0m's SDP
/// parse, our answer with one host candidate, the candidate accounting and the ICE
/// credentials read from the offer, then the peer's first output drained. Returns the answer.
#[cfg(feature = "fuzzing")]
pub(crate) fn answer_offer(offer_sdp: &str) -> Result<String, MediaError> {
    let now = Instant::now();
    let offer =
        SdpOffer::from_sdp_string(offer_sdp).map_err(|e| MediaError::BadOffer(e.to_string()))?;
    let mut rtc = rtc_config().build(now);
    let host = SocketAddr::from(([127, 0, 0, 1], 9));
    let candidate =
        Candidate::host(host, "udp").map_err(|e| MediaError::BadOffer(e.to_string()))?;
    rtc.add_local_candidate(candidate);
    let answer = rtc
        .sdp_api()
        .accept_offer(offer)
        .map_err(|e| MediaError::BadOffer(e.to_string()))?;
    let _ = Accounting::new(offer_sdp);
    let _ = ice_ufrag(offer_sdp);
    // At most a bounded number of outputs: the events of the accepted offer, then a timeout.
    for _ in 0..64 {
        match rtc.poll_output() {
            Ok(Output::Timeout(_)) | Err(_) => break,
            Ok(_) => {}
        }
    }
    Ok(answer.to_sdp_string())
}
