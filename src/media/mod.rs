//! The SFU: peer connections, forwarding between admitted participants, stats.
//!
//! **Owns** the media UDP socket(s) for every peer (one port per node), one str0m `Rtc` per
//! peer connection (ICE-lite, DTLS-SRTP, RTP mode) and the forwarding table. A peer exists only
//! together with a [`crate::policy::Admitted`] proof, and RTP goes only to the other admitted
//! peers of the same visit (docs/DESIGN.md invariant 1).
//!
//! **Does not**: decide who may join or when a visit ends (`visit`/`policy` do, through
//! [`MediaHandle`]); look inside payloads (RTP mode: payloads are copied untouched, never
//! depacketized, so end-to-end-encrypted frames pass unchanged; the one exception is the
//! width and height in a VP8 key frame's header, frame metadata for the health view, see
//! `stats`); record, write files or open
//! any socket other than the media UDP socket(s) and the ICE-TCP listener (docs/DESIGN.md
//! invariant 2, checked by `tests::media_does_no_file_io`); transcode (every leg negotiates
//! Opus + VP8 only); speak TURN or TLS; open an outgoing connection.
//!
//! Layout: `types` (the configuration, peer id, events and errors), `socket` (binding
//! rules, the OS-facing part), `tcp` (the ICE-TCP listener with RFC 4571 framing for
//! clients whose network blocks UDP, R-REMOTE-2), `mmsg` (batched `recvmmsg` and `sendmmsg`, the media path's
//! only `unsafe` code), `driver` (one task on the media thread: one loop over datagrams, the
//! [`MediaHandle`]'s commands and timeouts, each peer isolated by `catch_unwind`), `peer`
//! (one `Rtc` and its per-leg packet rewriting), `forward` (the pure forwarding table with
//! per-leg sequence-number rebasing), `stats` (content-free per-peer accounting for the
//! admin health view, published at most once a second through [`MediaHandle::stats_feed`]),
//! `probe` (the lawyers' pre-join network check: a data channel to the media transports,
//! never media, never in a visit; R-REMOTE-1).
//! This file holds only the handle and the start; the children never depend on it.
//!
//! Feedback: a receiver's PLI/FIR is relayed to the source of that m-line; a receiver that
//! connects (and a source that connects) triggers a PLI so a late joiner gets a picture at
//! once. NACKs: str0m NACKs lost packets towards each sender, unwraps its RTX, and answers a
//! receiver's NACKs from that receiving leg's own retransmission buffer (video only).

#[doc(hidden)]
pub mod bench_support;
mod congestion;
mod driver;
mod forward;
mod mmsg;
mod peer;
mod probe;
mod socket;
mod stats;
mod tcp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_probe;
#[cfg(test)]
mod tests_tcp;
mod types;

use crate::ids::VisitId;
use crate::policy::Admitted;
use driver::Command;
use std::net::SocketAddr;
use tokio::sync::{mpsc, oneshot};

pub use stats::{CandidateType, KindRates, MediaSnapshot, PeerHealth, PeerStats};
pub use types::{MediaConfig, MediaError, MediaEvent, MediaTcpConfig, PeerId, SlotBinding};

/// Cheap, cloneable handle to the media driver. Only `visit` should hold one.
#[derive(Clone)]
pub struct MediaHandle {
    tx: mpsc::Sender<Command>,
    local_addrs: Vec<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    stats: tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>>,
}

impl MediaHandle {
    /// Add a peer for an admitted participant: takes the client's SDP offer, returns the answer.
    pub async fn add_peer(
        &self,
        admitted: Admitted,
        offer: String,
    ) -> Result<(PeerId, String), MediaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::AddPeer {
                admitted,
                offer,
                reply,
            })
            .await
            .map_err(|_| MediaError::Stopped)?;
        rx.await.map_err(|_| MediaError::Stopped)?
    }

    /// R-REMOTE-2: restart ICE on an existing peer with the client's new offer (new ICE
    /// credentials: its network changed); returns the answer. Media, DTLS and forwarding
    /// stay as they are; only the path changes. An offer with the old credentials is
    /// refused ([`MediaError::NotAnIceRestart`]).
    pub async fn restart_ice(&self, peer: PeerId, offer: String) -> Result<String, MediaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::RestartIce { peer, offer, reply })
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

    /// The snapshot the driver publishes at most once a second, with health figures: the
    /// cheap way to read media stats (no command to the driver per reader).
    pub fn stats_feed(&self) -> tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>> {
        self.stats.clone()
    }

    /// The UDP addresses the driver's socket(s) are bound to.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The address the ICE-TCP listener is bound to (R-REMOTE-2), if it runs.
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The narrow handle for the lawyers' network check (R-REMOTE-1): it can open a check
    /// and nothing else (no peer, no visit, no stats).
    pub fn network_check(&self) -> NetworkCheck {
        NetworkCheck {
            tx: self.tx.clone(),
        }
    }
}

/// Opens network checks (R-REMOTE-1, R-REMOTE-2): a data-channel-only connection to this
/// node's media transports (UDP and ICE-TCP) that echoes short messages and carries no
/// media (`probe`: an offer with an audio or video m-line is refused). It ends by itself
/// within 20 s; at most 16 are open on a node at once ([`MediaError::Busy`]).
#[derive(Clone)]
pub struct NetworkCheck {
    tx: mpsc::Sender<Command>,
}

impl NetworkCheck {
    /// Open a check from the client's SDP offer; returns the answer.
    pub async fn open(&self, offer: String) -> Result<String, MediaError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::OpenCheck { offer, reply })
            .await
            .map_err(|_| MediaError::Stopped)?;
        rx.await.map_err(|_| MediaError::Stopped)?
    }
}

/// The media driver's own thread. [`MediaTask::stop`] closes every peer cleanly and ends it;
/// dropping every [`MediaHandle`] does too.
pub struct MediaTask {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MediaTask {
    /// Ask the driver to close every peer and stop; does not wait for it.
    pub fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // Detached: the driver closes its peers and ends on its own.
        self.thread.take();
    }
}

/// Bind the socket(s) and start the driver. Events go to `events`.
///
/// The driver runs on a thread of its own with a single-threaded runtime: the media path
/// never waits behind HTTP, signalling or database work for a worker, never migrates between
/// threads (so its allocations and caches stay on one core), and costs no cross-thread
/// wake-ups (media performance). It runs until [`MediaTask::stop`] or until every [`MediaHandle`]
/// clone is dropped; it then closes all peers.
pub async fn start(
    config: MediaConfig,
    events: mpsc::Sender<MediaEvent>,
) -> Result<(MediaHandle, MediaTask), MediaError> {
    start_with_tcp(config, None, events).await
}

/// [`start`], plus the ICE-TCP listener when `tcp` is given (R-REMOTE-2): the SFU then also
/// offers passive TCP host candidates on every advertised address.
pub async fn start_with_tcp(
    config: MediaConfig,
    tcp: Option<MediaTcpConfig>,
    events: mpsc::Sender<MediaEvent>,
) -> Result<(MediaHandle, MediaTask), MediaError> {
    type Ready = Result<
        (
            Vec<SocketAddr>,
            Option<SocketAddr>,
            tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>>,
        ),
        MediaError,
    >;
    let (ready_tx, ready_rx) = oneshot::channel::<Ready>();
    let (stop_tx, stop_rx) = oneshot::channel();
    let (tx, rx) = mpsc::channel(64);
    let thread = std::thread::Builder::new()
        .name("confer-media".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.into()));
                    return;
                }
            };
            runtime.block_on(async move {
                let mut bound =
                    socket::MediaSockets::bind(config.bind, &config.public_ips, config.public_port)
                        .await;
                if let (Ok(net), Some(tcp)) = (&mut bound, &tcp) {
                    if let Err(e) = net.bind_tcp(tcp.bind, tcp.max_connections).await {
                        bound = Err(e);
                    }
                }
                let driver = match bound.and_then(|n| n.local_addrs().map(|a| (n, a))) {
                    Ok((net, addrs)) => {
                        let tcp_addr = net.local_tcp_addr();
                        let driver = driver::Driver::new(net, events);
                        let _ = ready_tx.send(Ok((addrs, tcp_addr, driver.stats_feed())));
                        driver
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                driver.run(rx, stop_rx).await;
            });
        })?;
    let (local_addrs, tcp_addr, stats) = ready_rx.await.map_err(|_| MediaError::Stopped)??;
    Ok((
        MediaHandle {
            tx,
            local_addrs,
            tcp_addr,
            stats,
        },
        MediaTask {
            stop: Some(stop_tx),
            thread: Some(thread),
        },
    ))
}

/// The SDP offer path into the media plane without sockets, for the fuzz targets
/// (`fuzzing` feature only; see `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub fn answer_offer_for_fuzzing(offer_sdp: &str) -> Result<String, MediaError> {
    peer::answer_offer(offer_sdp)
}
