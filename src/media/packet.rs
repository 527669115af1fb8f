//! A received RTP packet as forwarding sees it, whichever path it came by: str0m's (an
//! `RtpPacket` from `Event::RtpPacket`) or the fast path's (a header str0m parsed and a
//! plaintext payload in the driver's receive buffer, docs/DESIGN.md "The media fast path").
//! Borrowed, so the fast path forwards without a copy or an allocation per packet.

use std::sync::Arc;
use std::time::Instant;
use str0m::format::PayloadParams;
use str0m::media::{MediaKind, Mid};
use str0m::rtp::RtpHeader;

/// One received RTP packet of a source, placed on its m-line and codec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InPacket<'a> {
    pub mid: Mid,
    pub kind: MediaKind,
    /// The sending leg's parameters for the packet's payload type.
    pub params: PayloadParams,
    /// The packet is RFC 2198 RED around `params`' codec.
    pub is_red: bool,
    pub header: &'a RtpHeader,
    /// Extended (rollover-free) sequence number.
    pub seq: u64,
    /// When it arrived (the driver's clock).
    pub arrival: Instant,
    pub payload: &'a [u8],
    /// str0m's path: the payload as str0m shares it, so its slow-path writes need no copy.
    pub shared: Option<&'a Arc<[u8]>>,
}
