//! The media service's vocabulary: its configuration ([`MediaConfig`]), the identity of a
//! peer connection inside the driver ([`PeerId`]), what the driver reports to `visit`
//! ([`MediaEvent`]) and its errors ([`MediaError`]). Re-exported by `media`.
//!
//! Owns only these value types; does not hold state, open sockets or decide anything (the
//! driver does, see `driver`). Defined apart from `media/mod.rs` so that the driver, the
//! peers and the forwarding table use them without depending on the handle that starts the
//! driver (the layering test forbids cycles between files).

use crate::ids::{ParticipantId, VisitId};
use std::net::{IpAddr, SocketAddr};

/// Media configuration, already validated by `config`.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Where to bind UDP. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Addresses advertised as host candidates (with the bound port).
    pub public_ips: Vec<IpAddr>,
    /// Advertise this port instead of the bound one (a port-mapping NAT in front; then
    /// exactly one address is advertised).
    pub public_port: Option<u16>,
    /// Media worker threads (at least 1, at most `config::MAX_MEDIA_WORKERS`). Worker `i`
    /// binds `bind`'s port plus `i` (and advertises `public_port` plus `i`; ICE-TCP likewise);
    /// with port 0 each picks a free port.
    pub workers: usize,
    /// The media fast path (docs/DESIGN.md "The media fast path"): confer opens and seals
    /// forwarded SRTP itself on connected UDP legs. Off: str0m carries every packet.
    pub fast_path: bool,
}

/// The ICE-TCP listener (R-REMOTE-2), already validated by `config`.
#[derive(Debug, Clone)]
pub struct MediaTcpConfig {
    /// Where to listen for ICE-TCP (RFC 6544 passive candidates). Port 0 picks a free port.
    pub bind: SocketAddr,
    /// Open TCP media connections at most; further ones are closed at once.
    pub max_connections: usize,
}

/// Identifies one peer connection inside the media driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u64);

/// What the media driver reports to `visit`.
#[derive(Debug, Clone)]
pub enum MediaEvent {
    /// ICE + DTLS are up for this peer.
    PeerConnected {
        visit: VisitId,
        peer: PeerId,
        participant: ParticipantId,
    },
    /// The peer's connection closed or failed (not by our own `remove`).
    PeerDisconnected {
        visit: VisitId,
        peer: PeerId,
        participant: ParticipantId,
    },
    /// Which of `receiver`'s outgoing m-lines carry whose media changed (a source was bound
    /// to a free slot or unbound): `slots` is the full current list. The roster names them
    /// so a page can label one tile per remote participant (R-VERIFY-4).
    Slots {
        visit: VisitId,
        receiver: PeerId,
        slots: Vec<SlotBinding>,
    },
}

/// One of a receiver's outgoing m-lines and the peer whose media it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotBinding {
    /// The m-line's `mid`, as in the receiver's own SDP.
    pub mid: String,
    /// A video m-line (otherwise audio).
    pub video: bool,
    /// The peer whose track it forwards.
    pub source: PeerId,
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the offer could not be accepted: {0}")]
    BadOffer(String),
    #[error("the media service is not running")]
    Stopped,
    #[error("media socket error: {0}")]
    Io(#[from] std::io::Error),
    /// A second offer that does not restart ICE (same ICE credentials): confer renegotiates
    /// only to restart ICE (R-REMOTE-2).
    #[error("only an ICE restart may renegotiate a peer connection")]
    NotAnIceRestart,
    /// The peer connection is gone (closed, failed, or removed).
    #[error("the peer connection is gone")]
    PeerGone,
    /// As many network checks as a node runs at once are open (R-REMOTE-1).
    #[error("too many network checks are running; try again in a few seconds")]
    Busy,
}
