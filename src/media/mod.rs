//! The SFU: peer connections, forwarding between admitted participants, stats.
//!
//! **Owns** the media UDP socket(s) for every peer (one port per worker), one str0m `Rtc` per
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
//! only `unsafe` code), `shard` (which worker owns a visit and a peer, and its ports),
//! `driver` (one task per worker thread: one loop over its datagrams, the
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
mod packet;
mod peer;
mod probe;
mod shard;
mod socket;
mod stats;
mod tcp;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_probe;
#[cfg(test)]
mod tests_tcp;
#[cfg(test)]
mod tests_workers;
mod types;

use crate::ids::VisitId;
use crate::policy::Admitted;
use driver::Command;
use std::net::SocketAddr;
use tokio::sync::{mpsc, oneshot};

pub use stats::{CandidateType, KindRates, MediaSnapshot, PeerHealth, PeerStats};
pub use types::{MediaConfig, MediaError, MediaEvent, MediaTcpConfig, PeerId, SlotBinding};

/// Cheap, cloneable handle to the media plane (its worker threads). Only `visit` should hold
/// one.
#[derive(Clone)]
pub struct MediaHandle {
    /// One command channel per worker; a visit's commands go to its worker (`shard`).
    workers: std::sync::Arc<[mpsc::Sender<Command>]>,
    shards: shard::Shards,
    local_addrs: Vec<SocketAddr>,
    tcp_addrs: Vec<SocketAddr>,
    stats: tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>>,
}

impl MediaHandle {
    fn worker(&self, index: usize) -> &mpsc::Sender<Command> {
        &self.workers[index]
    }

    fn visit_worker(&self, visit: VisitId) -> &mpsc::Sender<Command> {
        self.worker(self.shards.worker_of_visit(visit))
    }

    fn peer_worker(&self, peer: PeerId) -> &mpsc::Sender<Command> {
        self.worker(self.shards.worker_of_peer(peer))
    }

    /// Add a peer for an admitted participant: takes the client's SDP offer, returns the answer.
    /// The peer lives on its visit's worker, with every other peer of the visit.
    pub async fn add_peer(
        &self,
        admitted: Admitted,
        offer: String,
    ) -> Result<(PeerId, String), MediaError> {
        let (reply, rx) = oneshot::channel();
        self.visit_worker(admitted.visit())
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
        self.peer_worker(peer)
            .send(Command::RestartIce { peer, offer, reply })
            .await
            .map_err(|_| MediaError::Stopped)?;
        rx.await.map_err(|_| MediaError::Stopped)?
    }

    /// Close one peer's connection and stop forwarding to and from it.
    pub async fn remove_peer(&self, peer: PeerId) {
        let _ = self
            .peer_worker(peer)
            .send(Command::RemovePeer { peer })
            .await;
    }

    /// Close every peer of a visit.
    pub async fn end_visit(&self, visit: VisitId) {
        let _ = self
            .visit_worker(visit)
            .send(Command::EndVisit { visit })
            .await;
    }

    /// Every peer of every worker, asked now (see [`MediaHandle::stats_feed`] for the cheap
    /// way).
    pub async fn snapshot(&self) -> MediaSnapshot {
        let asks = self.workers.iter().map(|tx| async move {
            let (reply, rx) = oneshot::channel();
            if tx.send(Command::Snapshot { reply }).await.is_err() {
                return MediaSnapshot::default();
            }
            rx.await.unwrap_or_default()
        });
        let parts = futures_util::future::join_all(asks).await;
        stats::merge(parts.iter())
    }

    /// The snapshot the workers publish, each at most once a second, with health figures,
    /// merged over every worker: the cheap way to read media stats (no command to the
    /// driver per reader).
    pub fn stats_feed(&self) -> tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>> {
        self.stats.clone()
    }

    /// The UDP addresses the workers' sockets are bound to, worker 0's first.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The address worker 0's ICE-TCP listener is bound to (R-REMOTE-2), if it runs.
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addrs.first().copied()
    }

    /// Every worker's ICE-TCP listener address (R-REMOTE-2), worker 0's first.
    pub fn local_tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp_addrs
    }

    /// How many worker threads carry media.
    pub fn workers(&self) -> usize {
        self.shards.len()
    }

    /// The narrow handle for the lawyers' network check (R-REMOTE-1): it can open a check
    /// and nothing else (no peer, no visit, no stats). Checks run on worker 0, so the limit
    /// of open checks holds for the whole node.
    pub fn network_check(&self) -> NetworkCheck {
        NetworkCheck {
            tx: self.worker(0).clone(),
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

/// The media workers' threads. [`MediaTask::stop`] closes every peer cleanly and ends them;
/// dropping every [`MediaHandle`] does too.
pub struct MediaTask {
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
}

impl MediaTask {
    /// Ask every worker to close its peers and stop; does not wait for them (the threads
    /// are detached and end on their own).
    pub fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
    }
}

/// Bind the socket(s) and start the workers. Events go to `events`.
pub async fn start(
    config: MediaConfig,
    events: mpsc::Sender<MediaEvent>,
) -> Result<(MediaHandle, MediaTask), MediaError> {
    start_with_tcp(config, None, events).await
}

/// What a worker reports once its sockets are bound.
struct Started {
    addrs: Vec<SocketAddr>,
    tcp_addr: Option<SocketAddr>,
    stats: tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>>,
}

/// [`start`], plus the ICE-TCP listener when `tcp` is given (R-REMOTE-2): the SFU then also
/// offers passive TCP host candidates on every advertised address.
///
/// `config.workers` threads carry the media, each with a single-threaded runtime of its own
/// and its own UDP socket(s) on the configured port plus its index (and ICE-TCP listener
/// likewise): a visit's peers all live on one worker (`shard`), so a forwarded packet is
/// received, rewritten and sent by one thread without a hand-over, its allocations and
/// caches stay on one core, and the kernel delivers each packet straight to the socket of the
/// thread that owns it (no dispatcher). The media path never waits behind HTTP, signalling or
/// database work. The workers run until [`MediaTask::stop`] or until every [`MediaHandle`]
/// clone is dropped; they then close all peers.
pub async fn start_with_tcp(
    config: MediaConfig,
    tcp: Option<MediaTcpConfig>,
    events: mpsc::Sender<MediaEvent>,
) -> Result<(MediaHandle, MediaTask), MediaError> {
    let shards = shard::Shards::new(config.workers);
    let mut workers = Vec::with_capacity(shards.len());
    let mut stops = Vec::with_capacity(shards.len());
    let mut started = Vec::with_capacity(shards.len());
    for index in 0..shards.len() {
        // Worker `index`'s port for a configured one (`config` refuses ranges past 65535).
        let port = |p: u16| {
            shards.port(p, index).ok_or_else(|| {
                MediaError::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "media: the workers' ports run past 65535",
                ))
            })
        };
        let mut worker_config = config.clone();
        worker_config.bind.set_port(port(config.bind.port())?);
        worker_config.public_port = config.public_port.map(port).transpose()?;
        let worker_tcp = match &tcp {
            Some(t) => Some(MediaTcpConfig {
                bind: SocketAddr::new(t.bind.ip(), port(t.bind.port())?),
                max_connections: t.max_connections,
            }),
            None => None,
        };
        let (tx, rx) = mpsc::channel(64);
        let (stop_tx, stop_rx) = oneshot::channel();
        let ready = spawn_worker(
            index,
            shards.ids(index),
            worker_config,
            worker_tcp,
            events.clone(),
            rx,
            stop_rx,
        )?;
        workers.push(tx);
        stops.push(stop_tx);
        // A worker that cannot bind stops the start; the ones already running end when
        // their command channels and stop senders drop.
        started.push(ready.await.map_err(|_| MediaError::Stopped)??);
    }
    let local_addrs = started.iter().flat_map(|s| s.addrs.clone()).collect();
    let tcp_addrs = started.iter().filter_map(|s| s.tcp_addr).collect();
    let feeds: Vec<_> = started.into_iter().map(|s| s.stats).collect();
    let stats = stats::merged_feed(feeds);
    Ok((
        MediaHandle {
            workers: workers.into(),
            shards,
            local_addrs,
            tcp_addrs,
            stats,
        },
        MediaTask { stops },
    ))
}

/// One worker's thread: bind, report, then drive until stopped.
fn spawn_worker(
    index: usize,
    ids: shard::PeerIds,
    config: MediaConfig,
    tcp: Option<MediaTcpConfig>,
    events: mpsc::Sender<MediaEvent>,
    commands: mpsc::Receiver<Command>,
    stop: oneshot::Receiver<()>,
) -> Result<oneshot::Receiver<Result<Started, MediaError>>, MediaError> {
    let (ready_tx, ready_rx) = oneshot::channel::<Result<Started, MediaError>>();
    std::thread::Builder::new()
        .name(format!("confer-media-{index}"))
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
                        let mut driver = driver::Driver::worker(net, events, ids);
                        driver.set_fast_path(config.fast_path);
                        let _ = ready_tx.send(Ok(Started {
                            addrs,
                            tcp_addr,
                            stats: driver.stats_feed(),
                        }));
                        driver
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                driver.run(commands, stop).await;
            });
        })?;
    Ok(ready_rx)
}

/// The SDP offer path into the media plane without sockets, for the fuzz targets
/// (`fuzzing` feature only; see `crate::fuzzing`).
#[cfg(feature = "fuzzing")]
pub fn answer_offer_for_fuzzing(offer_sdp: &str) -> Result<String, MediaError> {
    peer::answer_offer(offer_sdp)
}
