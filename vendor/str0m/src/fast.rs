//! confer patch (CONFER-PATCH.md): the hooks of an application's media fast path.
//!
//! An SFU that forwards RTP between legs can decrypt and re-encrypt the media itself (it has
//! the keys: [`Rtc::srtp_master_keys`](crate::Rtc::srtp_master_keys)) while str0m keeps
//! everything else of each leg: ICE, DTLS, RTCP reports and feedback, NACK answers, keyframe
//! requests and bandwidth estimation. These two calls keep str0m's state exactly as if the
//! packet had gone through [`Rtc::handle_input`](crate::Rtc::handle_input) and
//! [`StreamTx::write_rtp`](crate::rtp::StreamTx::write_rtp) + `poll_output`, without the
//! event, queue, pacer and output round trips:
//!
//! - [`Rtc::fast_rtp_receive`](crate::Rtc::fast_rtp_receive): a received SRTP packet of a
//!   known main (non-RTX) stream is parsed, replay-checked, opened by the caller in place,
//!   and registered (receiver reports, NACK, transport-wide feedback, statistics).
//! - [`Rtc::fast_rtp_send`](crate::Rtc::fast_rtp_send): a regular media packet's header is
//!   written by str0m, the caller seals it, and str0m records it (transport-wide sequence
//!   number and send time for the estimator, pacer debt, sender-report clock, statistics, the
//!   RTX cache for NACK answers).
//!
//! Anything else (RTX, probes, unknown SSRCs, RTCP, DTLS, STUN) keeps the ordinary path; both
//! calls say so before they touch the buffer or any state.

use std::net::SocketAddr;
use std::ops::Range;
use std::time::Instant;

use crate::media::Mid;
use crate::media::Pt;
use crate::rtp::{ExtensionValues, RtpHeader, SeqNo};

/// Bytes a send buffer needs beyond the payload: the largest RTP header str0m writes (12,
/// 15 CSRCs, the extension block) plus an SRTP tag.
pub const FAST_HEADROOM: usize = 12 + 15 * 4 + 4 + 256 + 16;

/// What [`Rtc::fast_rtp_receive`](crate::Rtc::fast_rtp_receive) did with a packet.
#[derive(Debug)]
pub enum FastReceive {
    /// Not for the fast path: the buffer and str0m are untouched; hand the datagram to
    /// `handle_input` as usual.
    NotFast,
    /// Taken and nothing to forward: a replay, a packet that failed to open (the caller's
    /// `open` returned `None`), padding only, or a packet already received.
    Dropped,
    /// Taken, registered, and to be forwarded.
    Media(FastRtpIn),
}

/// A received RTP packet, opened and registered by the fast path.
#[derive(Debug)]
pub struct FastRtpIn {
    /// The m-line it belongs to.
    pub mid: Mid,
    /// Its extended sequence number (the SRTP index).
    pub seq_no: SeqNo,
    /// Its header as received (abs-send-time, if any, made relative to now as str0m does).
    pub header: RtpHeader,
    /// Where its plaintext payload is in the caller's buffer (padding removed).
    pub payload: Range<usize>,
}

/// A regular media packet for [`Rtc::fast_rtp_send`](crate::Rtc::fast_rtp_send): the fields of
/// [`RtpWrite`](crate::rtp::RtpWrite), borrowed.
#[derive(Debug)]
pub struct FastRtpWrite<'a> {
    /// Payload type (this leg's; a RED payload type for RED).
    pub pt: Pt,
    /// Extended sequence number; its upper bits are the SRTP rollover counter.
    pub seq_no: SeqNo,
    /// RTP timestamp.
    pub time: u32,
    /// The wallclock time the RTP timestamp corresponds to (sender reports).
    pub wallclock: Instant,
    /// The marker bit.
    pub marker: bool,
    /// Header extension values, e.g. a forwarded packet's as received: its mid, rid, repaired
    /// rid, abs-send-time, transport-cc and user values are ignored (str0m writes this
    /// stream's own mid/rid and the leg's abs-send-time and transport-cc).
    pub ext_vals: &'a ExtensionValues,
    /// Contributing sources (at most 15).
    pub csrc: &'a [u32],
    /// The RTP payload.
    pub payload: &'a [u8],
    /// Kept for NACK answers (if the m-line negotiated RTX).
    pub nackable: bool,
}

/// A packet [`Rtc::fast_rtp_send`](crate::Rtc::fast_rtp_send) wrote: its protected length in
/// the caller's buffer and the selected pair to send it on (always UDP).
#[derive(Debug, Clone, Copy)]
pub struct FastSent {
    /// Protected length written at the start of the buffer.
    pub len: usize,
    /// Local address of the selected pair.
    pub source: SocketAddr,
    /// Remote address of the selected pair.
    pub destination: SocketAddr,
}
