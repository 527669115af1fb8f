//! The SFU. (Interface fixed here; the str0m driver is being written, issue 2.)
//!
//! Owns the UDP socket(s) for every peer, drives one str0m `Rtc` per peer, and forwards
//! RTP only between admitted participants of one visit. Does no file I/O.

use crate::ids::{ParticipantId, Role, VisitId};
use crate::policy::Admitted;
use std::net::{IpAddr, SocketAddr};
use tokio::sync::{mpsc, oneshot};

/// Media configuration, already validated by `config`.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// Where to bind UDP. Port 0 picks a free port (tests).
    pub bind: SocketAddr,
    /// Addresses advertised as host candidates (with the bound port).
    pub public_ips: Vec<IpAddr>,
}

/// Identifies one peer connection inside the media driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerId(pub u64);

/// What the media driver reports to `visit`.
#[derive(Debug, Clone)]
pub enum MediaEvent {
    /// ICE + DTLS are up for this peer.
    PeerConnected { visit: VisitId, peer: PeerId, participant: ParticipantId },
    /// The peer's connection closed or failed (not by our own `remove`).
    PeerDisconnected { visit: VisitId, peer: PeerId, participant: ParticipantId },
}

#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("the offer could not be accepted: {0}")]
    BadOffer(String),
    #[error("the media service is not running")]
    Stopped,
    #[error("media socket error: {0}")]
    Io(#[from] std::io::Error),
}

/// Per-peer counters, for tests and (later) the admin health view. Never content.
#[derive(Debug, Clone, Default)]
pub struct PeerStats {
    pub rtp_packets_in: u64,
    pub rtp_packets_out: u64,
}

/// A snapshot of the media driver's state.
#[derive(Debug, Clone, Default)]
pub struct MediaSnapshot {
    pub peers: Vec<(VisitId, Role, PeerStats)>,
}

#[allow(dead_code)]
enum Command {
    AddPeer {
        admitted: Admitted,
        offer: String,
        reply: oneshot::Sender<Result<(PeerId, String), MediaError>>,
    },
    RemovePeer {
        peer: PeerId,
    },
    EndVisit {
        visit: VisitId,
    },
    Snapshot {
        reply: oneshot::Sender<MediaSnapshot>,
    },
}

/// Cheap, cloneable handle to the media driver. Only `visit` should hold one.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<Command>,
    local_addrs: Vec<SocketAddr>,
}

impl MediaHandle {
    /// Add a peer for an admitted participant: takes the client's SDP offer, returns the answer.
    pub async fn add_peer(&self, admitted: Admitted, offer: String) -> Result<(PeerId, String), MediaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::AddPeer { admitted, offer, reply })
            .await
            .map_err(|_| MediaError::Stopped)?;
        rx.await.map_err(|_| MediaError::Stopped)?
    }

    /// Close one peer's connection and stop forwarding to and from it.
    pub async fn remove_peer(&self, peer: PeerId) {
        let _ = self.tx.send(Command::RemovePeer { peer }).await;
    }

    /// Close every peer of a visit.
    pub async fn end_visit(&self, visit: VisitId) {
        let _ = self.tx.send(Command::EndVisit { visit }).await;
    }

    pub async fn snapshot(&self) -> MediaSnapshot {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Command::Snapshot { reply }).await.is_err() {
            return MediaSnapshot::default();
        }
        rx.await.unwrap_or_default()
    }

    /// The UDP addresses the driver listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }
}

/// Bind the socket(s) and start the driver task. Events go to `events`.
pub async fn start(
    config: MediaConfig,
    events: mpsc::Sender<MediaEvent>,
) -> Result<(MediaHandle, tokio::task::JoinHandle<()>), MediaError> {
    let _ = (config, events);
    let _: Option<MediaHandle> = None;
    Err(MediaError::Stopped)
}
