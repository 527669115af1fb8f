//! The media driver: the async shell around the sans-I/O core.
//!
//! One task, alone on its own thread and single-threaded runtime (`media::start`), owns the
//! socket(s), every peer's `Rtc` and the forwarding table; nothing is shared, so there are no
//! locks. The task waits for one of: a datagram, a command from a
//! [`MediaHandle`](super::MediaHandle), or the earliest peer timeout; it then performs the
//! mutation(s) that follow and drains every touched `Rtc` (see `peer`).
//!
//! Isolation: str0m panics on broken internal invariants. Every call into one peer runs under
//! `catch_unwind`; a peer that panics is dropped (and reported as disconnected) without
//! touching any other peer or visit.
//!
//! Events go to `visit` with `try_send`: a slow consumer delays its events (kept in order and
//! retried), never the media of other visits.
//!
//! The task ends when every `MediaHandle` is dropped; it then closes all peers.
//!
//! Timers: a heap of (deadline, peer) with lazy deletion (`scheduled` holds each peer's one
//! live entry), so a wake-up costs O(log n) in the number of peers instead of a scan over all
//! of them (three scans of every peer per wake-up before; load test). Notice buffers are reused:
//! the driver allocates no vector per packet on str0m's path but the boxed `Incoming` and
//! str0m's own buffers.
//!
//! The media fast path (docs/DESIGN.md "The media fast path"): an SRTP packet of a connected
//! UDP leg on a stream str0m already knows is copied into the driver's receive buffer, opened
//! there with the leg's keys (`Peer::fast_receive`), routed and sealed for each receiving leg
//! (`Peer::write_forwarded`) with no str0m event, queue or timeout per packet; str0m is told
//! about every packet it did not see so its reports, NACK answers and estimates stay whole.

use super::congestion;
use super::forward::{Binding, ForwardTable, Routed, RtpMeta, SourceKey};
use super::mmsg::{RecvBatch, BATCH};
use super::packet::InPacket;
use super::peer::{FastIn, Notice, Outgoing, Peer};
use super::probe::Checks;
use super::socket::MediaSockets;
use super::stats::MediaSnapshot;
use super::tcp::TcpInput;
use super::types::{MediaError, MediaEvent, PeerId, SlotBinding};
use crate::ids::VisitId;
use crate::policy::Admitted;
use foldhash::HashMap;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};
use str0m::media::{KeyframeRequestKind, MediaKind};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::Input;
use tokio::sync::{mpsc, oneshot};

/// What a [`MediaHandle`](super::MediaHandle) asks of the driver.
pub(super) enum Command {
    AddPeer {
        admitted: Admitted,
        offer: String,
        reply: oneshot::Sender<Result<(PeerId, String), MediaError>>,
    },
    RemovePeer {
        peer: PeerId,
    },
    /// R-REMOTE-2: an ICE restart on an existing peer.
    RestartIce {
        peer: PeerId,
        offer: String,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
    EndVisit {
        visit: VisitId,
    },
    Snapshot {
        reply: oneshot::Sender<MediaSnapshot>,
    },
    /// R-REMOTE-1: a network check (a data channel, no media) from a client's offer.
    OpenCheck {
        offer: String,
        reply: oneshot::Sender<Result<String, MediaError>>,
    },
}

/// Upper bound on one wait, so a quiet driver still notices time passing.
const MAX_WAIT: Duration = Duration::from_millis(500);

/// Batches read without waiting after a wake-up, before timeouts are handled.
const RECV_BATCHES: usize = 4;

/// TCP inputs handled without waiting after a wake-up (R-REMOTE-2).
const TCP_INPUTS: usize = 64;

/// Retry interval for events that did not fit in `visit`'s channel.
const EVENT_RETRY: Duration = Duration::from_millis(20);

/// How often the bitrate caps (REMB) towards senders are reconsidered (R-REMOTE-2); a fall
/// in a receiver's estimate is acted on at once, see `on_estimate`.
const REMB_CHECK: Duration = Duration::from_millis(500);

/// How often the defensive scan for peers that died without a notice runs.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

pub(crate) struct Driver {
    net: MediaSockets,
    candidates: Vec<SocketAddr>,
    /// Passive TCP host candidates (R-REMOTE-2); empty when ICE-TCP is off.
    tcp_candidates: Vec<SocketAddr>,
    /// Boxed: a `Peer` holds its str0m `Rtc` inline (10.8 KB in all); a table of boxes
    /// stays small (16 bytes a peer) and growing it moves no peer. A hash map: a forwarded
    /// packet looks peers up about six times (the sender, its receivers, their timers), a
    /// tree walk of some four nodes each at a few hundred peers (loadtest/README.md, "Timer
    /// slack and the peer table"). Nothing depends on its order: the health rows are sorted
    /// by peer before they are published.
    peers: HashMap<PeerId, Box<Peer>>,
    table: ForwardTable,
    /// Last source address seen per peer: a fast path for routing, never a filter.
    by_source: HashMap<SocketAddr, PeerId>,
    events: mpsc::Sender<MediaEvent>,
    pending_events: VecDeque<MediaEvent>,
    /// The next peer id this worker hands out, then every `id_stride`-th: each worker's ids
    /// are its own (`shard::Shards::worker_of_peer`), with no shared counter.
    next_id: u64,
    id_stride: u64,
    /// Work queue of notices still to act on (forwarding can produce more).
    work: VecDeque<(PeerId, Notice)>,
    routed: Vec<Routed>,
    stats: super::stats::Publisher,
    /// Reused notice buffer (one drive of one peer at a time).
    scratch: Vec<Notice>,
    /// Peer timeouts, earliest first; an entry is live only if `scheduled` agrees.
    timers: BinaryHeap<Reverse<(Instant, PeerId)>>,
    scheduled: HashMap<PeerId, Instant>,
    /// Reused list of peers whose timeout is due.
    due: Vec<PeerId>,
    next_reap: Instant,
    next_remb: Instant,
    /// The clock of the current drive: set by each entry point (a datagram, the timeouts, a
    /// command), so every `Rtc` sees time move forward only, also under the benchmark's clock.
    now: Instant,
    /// The slot bindings last reported per receiver (`MediaEvent::Slots`, for the roster).
    slots_reported: HashMap<PeerId, Vec<SlotBinding>>,
    /// Open network checks (R-REMOTE-1): no media, never in the forwarding table.
    checks: Checks,
    /// The media fast path is on (`[media] fast_path`, default on).
    fast_path: bool,
    /// The first outgoing sequence number of every new slot, instead of a random one (the
    /// tests' rollover cases, through `bench_support`).
    first_seq: Option<u16>,
}

/// An RTP (not RTCP) packet by RFC 7983's first byte and RFC 5761's payload type rule: the
/// only datagrams the media fast path looks at.
fn is_rtp(data: &[u8]) -> bool {
    matches!(data, [first, second, ..] if (128..=191).contains(first) && !(192..=223).contains(second))
}

/// First outgoing sequence number of a new leg: random, and below 2^15 so the first
/// rollover is far away (the SRTP rollover counter starts at 0 on both ends).
fn initial_seq() -> u16 {
    rand::random::<u16>() & 0x7fff
}

/// What the network had ready: a UDP batch (in the caller's buffer) or one TCP input.
enum Ready {
    Udp(std::io::Result<SocketAddr>),
    Tcp(TcpInput),
}

/// Wait for UDP datagrams or a TCP input (R-REMOTE-2), asking the two in turns so that a busy
/// one cannot starve the other.
fn poll_net(
    net: &mut MediaSockets,
    cx: &mut std::task::Context<'_>,
    batch: &mut RecvBatch,
    tcp_first: &mut bool,
) -> std::task::Poll<Ready> {
    use std::task::Poll;
    *tcp_first = !*tcp_first;
    if *tcp_first {
        if let Poll::Ready(input) = net.poll_tcp(cx) {
            return Poll::Ready(Ready::Tcp(input));
        }
    }
    if let Poll::Ready(r) = net.poll_recv_batch(cx, batch) {
        return Poll::Ready(Ready::Udp(r));
    }
    if !*tcp_first {
        if let Poll::Ready(input) = net.poll_tcp(cx) {
            return Poll::Ready(Ready::Tcp(input));
        }
    }
    Poll::Pending
}

/// `data` as str0m's network input, or `None` if it is not STUN, DTLS, RTP or RTCP.
fn receive_input(
    now: Instant,
    proto: Protocol,
    source: SocketAddr,
    destination: SocketAddr,
    data: &[u8],
) -> Option<Input<'_>> {
    let contents = DatagramRecv::try_from(data).ok()?;
    Some(Input::Receive(
        now,
        Receive {
            proto,
            source,
            destination,
            contents,
        },
    ))
}

/// Run `f` on one peer, isolating a panic inside it.
fn isolated<T>(peer: &mut Peer, f: impl FnOnce(&mut Peer) -> T) -> Option<T> {
    catch_unwind(AssertUnwindSafe(|| f(peer))).ok()
}

impl Driver {
    pub(crate) fn new(net: MediaSockets, events: mpsc::Sender<MediaEvent>) -> Driver {
        Driver::worker(net, events, super::shard::Shards::single().ids(0))
    }

    /// Worker `ids.first` of a media plane with `ids.stride` workers: its peer ids are
    /// `first, first + stride, ...`.
    pub(crate) fn worker(
        net: MediaSockets,
        events: mpsc::Sender<MediaEvent>,
        ids: super::shard::PeerIds,
    ) -> Driver {
        let candidates = net.candidates();
        let tcp_candidates = net.tcp_candidates();
        Driver {
            net,
            candidates,
            tcp_candidates,
            peers: HashMap::default(),
            table: ForwardTable::default(),
            by_source: HashMap::default(),
            events,
            pending_events: VecDeque::new(),
            next_id: ids.first,
            id_stride: ids.stride,
            work: VecDeque::new(),
            routed: Vec::new(),
            stats: super::stats::Publisher::new(),
            scratch: Vec::new(),
            timers: BinaryHeap::new(),
            scheduled: HashMap::default(),
            due: Vec::new(),
            next_reap: Instant::now() + REAP_INTERVAL,
            next_remb: Instant::now() + REMB_CHECK,
            now: Instant::now(),
            slots_reported: HashMap::default(),
            checks: Checks::default(),
            fast_path: true,
            first_seq: None,
        }
    }

    /// Packets the fast path opened and sealed, over the peers still here.
    pub(crate) fn fast_totals(&self) -> (u64, u64) {
        self.peers.values().fold((0, 0), |(i, o), p| {
            (i + p.stats.fast_packets_in, o + p.stats.fast_packets_out)
        })
    }

    /// Start every new slot's outgoing numbering at `seq` (tests: a rollover soon).
    pub(crate) fn set_first_seq(&mut self, seq: u16) {
        self.first_seq = Some(seq);
    }

    /// Turn the media fast path on or off for peers added from now on.
    pub(crate) fn set_fast_path(&mut self, on: bool) {
        self.fast_path = on;
    }

    pub(crate) fn stats_feed(&self) -> tokio::sync::watch::Receiver<std::sync::Arc<MediaSnapshot>> {
        self.stats.subscribe()
    }

    pub(crate) async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        let mut batch = RecvBatch::default();
        let mut stop_open = true;
        let mut tcp_first = false;
        loop {
            let deadline = self.next_deadline();
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline));
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                // A dropped `MediaTask` is not a stop: the handles still decide.
                stopped = &mut stop, if stop_open => match stopped {
                    Ok(()) => break,
                    Err(_) => stop_open = false,
                },
                received = std::future::poll_fn(|cx| poll_net(&mut self.net, cx, &mut batch, &mut tcp_first)) => match received {
                    Ready::Udp(Ok(destination)) => {
                        self.on_batch(destination, &mut batch);
                        // Drain what else is already queued before the per-wake-up work (a
                        // batch that was not full means the socket had nothing more).
                        for _ in 0..RECV_BATCHES {
                            if batch.len() < BATCH {
                                break;
                            }
                            let Some(destination) = self.net.try_recv_batch(&mut batch) else { break };
                            self.on_batch(destination, &mut batch);
                        }
                    }
                    Ready::Udp(Err(e)) => tracing::debug!(error = %e, "media socket receive error"),
                    Ready::Tcp(input) => {
                        self.on_tcp(input);
                        for _ in 0..TCP_INPUTS {
                            let Some(input) = self.net.try_tcp() else { break };
                            self.on_tcp(input);
                        }
                    }
                },
                () = sleep => {}
            }
            let now = Instant::now();
            self.on_timeouts(now);
            if now >= self.next_reap {
                self.reap();
                self.next_reap = now + REAP_INTERVAL;
            }
            if now >= self.next_remb {
                self.update_rembs(None);
                self.next_remb = now + REMB_CHECK;
            }
            // Everything this turn produced leaves in as few system calls as possible.
            self.net.flush();
            self.flush_events();
            let now = Instant::now();
            let peers = &mut self.peers;
            let table = &self.table;
            self.stats.tick(now, || {
                let mut rows: Vec<_> = peers
                    .values_mut()
                    .map(|p| {
                        let mut row = p.health_row(now);
                        row.2.video_frames_dropped = table.video_frames_dropped(p.id);
                        row.2.video_budget_bps = table.video_budget(p.id);
                        row
                    })
                    .collect();
                // In the order the peers joined (each row names its peer), as the health
                // view has always had them.
                rows.sort_unstable_by_key(|(_, _, stats)| stats.peer);
                rows
            });
        }
        tracing::info!("media driver stopping: closing every peer");
        let ids: Vec<PeerId> = self.peers.keys().copied().collect();
        for id in ids {
            self.close_peer(id);
        }
        self.checks.close_all(&self.net);
        self.net.flush();
    }

    /// Every datagram of one received batch, in arrival order.
    fn on_batch(&mut self, destination: SocketAddr, batch: &mut RecvBatch) {
        for (source, data) in batch.datagrams_mut() {
            self.on_datagram(Instant::now(), source, destination, data);
        }
    }

    pub(super) fn next_deadline(&mut self) -> Instant {
        let wait = if self.pending_events.is_empty() {
            MAX_WAIT
        } else {
            EVENT_RETRY
        };
        let mut cap = (Instant::now() + wait).min(self.stats.due());
        if let Some(at) = self.checks.next_deadline() {
            cap = cap.min(at);
        }
        self.next_peer_timeout().map_or(cap, |at| at.min(cap))
    }

    /// The earliest timeout any peer asked for, on the peers' own clock (no wall-clock cap:
    /// [`Self::next_deadline`] adds those).
    pub(super) fn next_peer_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if self.scheduled.get(&id) == Some(&at) {
                return Some(at);
            }
            self.timers.pop(); // stale: the peer was driven since, or is gone
        }
        None
    }

    /// Keep the heap entry of a peer that was just driven in step with its next timeout.
    fn schedule(&mut self, id: PeerId) {
        let Some(at) = self.peers.get(&id).map(|p| p.next_timeout()) else {
            return;
        };
        if self.scheduled.insert(id, at) != Some(at) {
            self.timers.push(Reverse((at, id)));
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::AddPeer {
                admitted,
                offer,
                reply,
            } => {
                let result = self.add_peer(&admitted, &offer, Instant::now());
                let _ = reply.send(result);
            }
            Command::RemovePeer { peer } => self.close_peer(peer),
            Command::RestartIce { peer, offer, reply } => {
                let _ = reply.send(self.restart_ice(peer, &offer));
            }
            Command::EndVisit { visit } => {
                for id in self.table.visit_members(visit) {
                    self.close_peer(id);
                }
                // Peers that never made it into the table (defensive; should not exist).
                let stray: Vec<PeerId> = self
                    .peers
                    .values()
                    .filter(|p| p.visit == visit)
                    .map(|p| p.id)
                    .collect();
                for id in stray {
                    self.close_peer(id);
                }
            }
            Command::OpenCheck { offer, reply } => {
                let id = self.new_id();
                let now = Instant::now();
                self.now = now;
                let result = self.checks.open(
                    id,
                    &offer,
                    &self.candidates,
                    &self.tcp_candidates,
                    now,
                    &self.net,
                );
                let _ = reply.send(result);
            }
            Command::Snapshot { reply } => {
                let peers = self
                    .peers
                    .values()
                    .map(|p| {
                        let mut stats = p.stats.clone();
                        stats.connected = p.is_connected();
                        stats.slot_end = Some(p.slot_end);
                        stats.video_frames_dropped = self.table.video_frames_dropped(p.id);
                        stats.video_budget_bps = self.table.video_budget(p.id);
                        (p.visit, p.role, stats)
                    })
                    .collect();
                let _ = reply.send(MediaSnapshot {
                    peers,
                    ..Default::default()
                });
            }
        }
    }

    fn new_id(&mut self) -> PeerId {
        let id = PeerId(self.next_id);
        self.next_id += self.id_stride;
        id
    }

    /// The gate: a peer exists only with an `Admitted` proof (docs/DESIGN.md invariant 1).
    /// A new peer for `admitted` from its offer, its `Rtc` started at `now`.
    pub(super) fn add_peer(
        &mut self,
        admitted: &Admitted,
        offer: &str,
        now: Instant,
    ) -> Result<(PeerId, String), MediaError> {
        let id = self.new_id();
        let mut notices = std::mem::take(&mut self.scratch);
        notices.clear();
        let accepted = catch_unwind(AssertUnwindSafe(|| {
            Peer::accept(
                id,
                admitted,
                offer,
                &self.candidates,
                &self.tcp_candidates,
                self.fast_path,
                &self.net,
                now,
                &mut notices,
            )
        }));
        let (peer, answer) = match accepted {
            Ok(result) => result?,
            Err(_) => {
                return Err(MediaError::BadOffer(
                    "the offer could not be processed".into(),
                ))
            }
        };
        tracing::info!(peer = id.0, visit = %peer.visit, role = peer.role.as_str(), "peer added");
        self.table.add_member(id, peer.visit);
        self.peers.insert(id, Box::new(peer));
        self.enqueue(id, notices);
        self.process_work();
        Ok((id, answer))
    }

    /// R-REMOTE-2: hand a peer's ICE restart offer to its `Rtc` (isolated like every call
    /// into a peer); the peer keeps its id, tracks and forwarding.
    fn restart_ice(&mut self, id: PeerId, offer: &str) -> Result<String, MediaError> {
        let Some(peer) = self.peers.get_mut(&id) else {
            return Err(MediaError::PeerGone);
        };
        let mut notices = std::mem::take(&mut self.scratch);
        notices.clear();
        let net = &self.net;
        let now = Instant::now();
        let Some(result) = isolated(peer, |p| p.restart_ice(offer, now, net, &mut notices)) else {
            self.panicked(id);
            return Err(MediaError::PeerGone);
        };
        self.enqueue(id, notices);
        self.process_work();
        result
    }

    pub(super) fn on_datagram(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &mut [u8],
    ) {
        self.on_packet(now, Protocol::Udp, source, destination, data);
    }

    /// One input from the ICE-TCP side (R-REMOTE-2).
    fn on_tcp(&mut self, input: TcpInput) {
        let Some(tcp) = self.net.tcp() else {
            return;
        };
        match input {
            TcpInput::Opened {
                conn,
                remote,
                writer,
                close,
            } => tcp.opened(conn, remote, writer, close),
            TcpInput::Closed { conn, remote } => tcp.close(conn, remote),
            TcpInput::Frame {
                conn,
                source,
                destination,
                mut data,
            } => {
                // A connection whose packets no peer takes (wrong credentials, a departed
                // peer, garbage) is closed: it carries nobody's media.
                if !self.on_packet(
                    Instant::now(),
                    Protocol::Tcp,
                    source,
                    destination,
                    &mut data,
                ) {
                    if let Some(tcp) = self.net.tcp() {
                        tcp.close(conn, source);
                    }
                }
            }
        }
    }

    /// One received packet, UDP or de-framed TCP. Returns whether some peer took it.
    /// `data` is the receive buffer itself: an RTP packet taken by the media fast path is
    /// opened in place there (no copy); anything else is read as is.
    fn on_packet(
        &mut self,
        now: Instant,
        proto: Protocol,
        source: SocketAddr,
        destination: SocketAddr,
        data: &mut [u8],
    ) -> bool {
        self.now = now;
        let id = {
            let Some(input) = receive_input(now, proto, source, destination, data) else {
                return false; // not STUN/DTLS/RTP/RTCP
            };
            let known = self
                .by_source
                .get(&source)
                .copied()
                .filter(|id| self.peers.get(id).is_some_and(|p| p.accepts(&input)));
            let id = known.or_else(|| {
                self.peers
                    .values()
                    .find(|p| p.accepts(&input))
                    .map(|p| p.id)
            });
            let Some(id) = id else {
                // R-REMOTE-1: a network check's packets (no media); otherwise nobody's.
                if self.checks.on_packet(input, &self.net) {
                    return true;
                }
                tracing::trace!("datagram for no peer");
                return false;
            };
            if known.is_none() {
                self.by_source.insert(source, id);
            }
            id
        };
        if proto == Protocol::Udp && is_rtp(data) {
            let Some(peer) = self.peers.get_mut(&id) else {
                return false;
            };
            // Opened in place; on `NotFast` the bytes are untouched and str0m reads them below.
            match isolated(peer, |p| p.fast_receive(now, data)) {
                None => {
                    self.panicked(id);
                    return true;
                }
                Some(FastIn::NotFast) => {}
                Some(FastIn::Dropped) => {
                    self.schedule(id);
                    return true;
                }
                Some(FastIn::Media(media)) => {
                    self.schedule(id);
                    self.forward(id, &media.view(data, now));
                    self.process_work();
                    return true;
                }
            }
        }
        // Read again: the first reading's borrow ended before the fast path took `data`.
        let Some(input) = receive_input(now, proto, source, destination, data) else {
            return false;
        };
        let Some(peer) = self.peers.get_mut(&id) else {
            return false;
        };
        let mut notices = std::mem::take(&mut self.scratch);
        let net = &self.net;
        if isolated(peer, |p| p.handle_input(input, net, &mut notices)).is_none() {
            self.panicked(id);
            return true;
        }
        self.enqueue(id, notices);
        self.process_work();
        true
    }

    pub(super) fn on_timeouts(&mut self, now: Instant) {
        self.now = now;
        let mut due = std::mem::take(&mut self.due);
        due.clear();
        while let Some(&Reverse((at, id))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.scheduled.get(&id) == Some(&at) {
                self.scheduled.remove(&id);
                due.push(id);
            }
        }
        for &id in &due {
            let Some(peer) = self.peers.get_mut(&id) else {
                continue;
            };
            let mut notices = std::mem::take(&mut self.scratch);
            let net = &self.net;
            if isolated(peer, |p| p.handle_timeout(now, net, &mut notices)).is_none() {
                self.panicked(id);
                continue;
            }
            self.enqueue(id, notices);
        }
        self.due = due;
        self.process_work();
        if self.checks.len() > 0 {
            self.checks.on_timeouts(now, &self.net);
        }
    }

    /// Queue what driving peer `id` produced, hand the buffer back for reuse, and re-arm the
    /// peer's timer (every drive of a peer ends here).
    fn enqueue(&mut self, id: PeerId, mut notices: Vec<Notice>) {
        self.work.extend(notices.drain(..).map(|n| (id, n)));
        self.scratch = notices;
        self.schedule(id);
    }

    fn process_work(&mut self) {
        while let Some((id, notice)) = self.work.pop_front() {
            match notice {
                Notice::Connected => self.on_connected(id),
                Notice::Gone => self.on_gone(id),
                Notice::Rtp(incoming) => self.forward(id, &incoming.view()),
                Notice::TrackAdded(track) => {
                    let first = self.first_seq;
                    let bindings = self
                        .table
                        .add_tracks(id, &[track], || first.unwrap_or_else(initial_seq));
                    if let Some(visit) = self.peers.get(&id).map(|p| p.visit) {
                        self.report_slots(visit);
                    }
                    self.request_keyframes(&bindings);
                }
                Notice::Estimate => self.on_estimate(id),
                Notice::KeyframeRequest { mid, kind } => {
                    tracing::debug!(peer = id.0, %mid, ?kind, "keyframe request from a receiver");
                    if let Some(source) = self.table.source_for(id, mid) {
                        self.request_keyframe(source, kind);
                    }
                }
            }
        }
    }

    /// A receiving leg's bandwidth estimate changed (R-REMOTE-2): its video budget follows,
    /// and the caps towards its visit's senders are reconsidered (a fall is told at once).
    fn on_estimate(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        let visit = peer.visit;
        self.table.set_estimate(id, peer.estimate_bps());
        self.update_rembs(Some(visit));
    }

    /// Send each sender (of one visit, or of all) the REMB its receivers' estimates call for:
    /// the minimum over the receivers of its video of their share (`congestion::remb_share`),
    /// as often as `congestion::RembThrottle` allows.
    fn update_rembs(&mut self, visit: Option<VisitId>) {
        let now = self.now;
        let candidates: Vec<PeerId> = match visit {
            Some(v) => self.table.visit_members(v),
            None => self.peers.keys().copied().collect(),
        };
        let sources: Vec<(PeerId, VisitId)> = candidates
            .into_iter()
            .filter_map(|id| self.peers.get(&id))
            .filter(|p| p.is_connected())
            .map(|p| (p.id, p.visit))
            .collect();
        for (source, visit) in sources {
            let cap = self
                .table
                .visit_members(visit)
                .into_iter()
                .filter(|r| *r != source)
                .filter(|r| {
                    self.table
                        .bindings_to(*r)
                        .iter()
                        .any(|b| b.source.peer == source && b.kind == MediaKind::Video)
                })
                .filter_map(|r| {
                    let estimate = self.peers.get(&r)?.estimate_bps()?;
                    Some(congestion::remb_share(
                        estimate,
                        self.table.video_sources_to(r),
                    ))
                })
                .min();
            let Some(cap) = cap else { continue };
            let Some(peer) = self.peers.get_mut(&source) else {
                continue;
            };
            if !peer.remb_out.should_send(now, cap) {
                continue;
            }
            let mut notices = std::mem::take(&mut self.scratch);
            let net = &self.net;
            if isolated(peer, |p| p.send_remb(cap, net, &mut notices)).is_none() {
                self.panicked(source);
                continue;
            }
            self.enqueue(source, notices);
        }
    }

    fn on_connected(&mut self, id: PeerId) {
        let Some(peer) = self.peers.get(&id) else {
            return;
        };
        tracing::info!(peer = id.0, visit = %peer.visit, role = peer.role.as_str(), "peer connected");
        self.pending_events.push_back(MediaEvent::PeerConnected {
            visit: peer.visit,
            peer: id,
            participant: peer.participant.clone(),
        });
        // A receiver that just connected needs a keyframe from each video source it gets,
        // and a source that just connected can now be asked for one for its receivers.
        let mut bindings = self.table.bindings_to(id);
        for other in self.table.visit_members(peer.visit) {
            bindings.extend(
                self.table
                    .bindings_to(other)
                    .into_iter()
                    .filter(|b| b.source.peer == id),
            );
        }
        self.request_keyframes(&bindings);
    }

    fn on_gone(&mut self, id: PeerId) {
        let Some(peer) = self.peers.remove(&id) else {
            return;
        };
        tracing::info!(
            peer = id.0,
            visit = %peer.visit,
            role = peer.role.as_str(),
            rtp_in = peer.stats.rtp_packets_in,
            rtp_out = peer.stats.rtp_packets_out,
            fast_in = peer.stats.fast_packets_in,
            fast_out = peer.stats.fast_packets_out,
            "peer disconnected"
        );
        self.pending_events.push_back(MediaEvent::PeerDisconnected {
            visit: peer.visit,
            peer: id,
            participant: peer.participant,
        });
        self.forget(id, peer.visit);
    }

    /// Peers whose ICE and DTLS are up (the in-process benchmark waits for them).
    pub(super) fn connected_peers(&self) -> usize {
        self.peers.values().filter(|p| p.is_connected()).count()
    }

    pub(super) fn net(&self) -> &MediaSockets {
        &self.net
    }

    fn panicked(&mut self, id: PeerId) {
        tracing::error!(
            peer = id.0,
            "peer connection panicked inside str0m; dropping it alone"
        );
        self.on_gone(id);
    }

    /// Drop a peer because we were told to (no event: the caller knows).
    fn close_peer(&mut self, id: PeerId) {
        let Some(mut peer) = self.peers.remove(&id) else {
            return;
        };
        let net = &self.net;
        // A clean close tells the client at once; a panic here changes nothing: it is dropped.
        let _ = isolated(&mut peer, |p| p.close(net));
        tracing::info!(
            peer = id.0,
            visit = %peer.visit,
            rtp_in = peer.stats.rtp_packets_in,
            rtp_out = peer.stats.rtp_packets_out,
            fast_in = peer.stats.fast_packets_in,
            fast_out = peer.stats.fast_packets_out,
            "peer removed"
        );
        self.forget(id, peer.visit);
    }

    /// Remove a departed peer from routing and hand its slots to waiting sources.
    fn forget(&mut self, id: PeerId, visit: VisitId) {
        self.scheduled.remove(&id);
        self.by_source.retain(|_, p| *p != id);
        self.work.retain(|(p, _)| *p != id);
        self.slots_reported.remove(&id);
        let bindings = self.table.remove_member(id);
        self.report_slots(visit);
        self.request_keyframes(&bindings);
        if self.peers.is_empty() {
            self.compact();
        }
    }

    /// No peer is left: give back what the tables grew to while visits ran (memory after
    /// visits end). The timer heap's entries are all stale then (a peer's entry is live only
    /// while `scheduled` holds it), and at a few hundred visits it holds tens of thousands of
    /// them; the maps keep their largest capacity until told.
    fn compact(&mut self) {
        let scheduled = &self.scheduled;
        self.timers
            .retain(|Reverse((at, id))| scheduled.get(id) == Some(at));
        self.timers.shrink_to_fit();
        self.peers.shrink_to_fit();
        self.scheduled.shrink_to_fit();
        self.by_source.shrink_to_fit();
        self.work.shrink_to_fit();
        self.pending_events.shrink_to_fit();
        self.slots_reported.shrink_to_fit();
        self.routed.shrink_to_fit();
        self.due.shrink_to_fit();
        self.table.shrink_to_fit();
    }

    /// Tell `visit` which of each member's m-lines now carry whose media, for every member
    /// whose bindings changed since the last report (the roster labels tiles with it).
    fn report_slots(&mut self, visit: VisitId) {
        for receiver in self.table.visit_members(visit) {
            let mut slots: Vec<SlotBinding> = self
                .table
                .bindings_to(receiver)
                .into_iter()
                .map(|b| SlotBinding {
                    mid: b.slot.to_string(),
                    video: b.kind == MediaKind::Video,
                    source: b.source.peer,
                })
                .collect();
            slots.sort_by(|a, b| a.mid.cmp(&b.mid));
            if self.slots_reported.get(&receiver) == Some(&slots) {
                continue;
            }
            self.slots_reported.insert(receiver, slots.clone());
            self.pending_events.push_back(MediaEvent::Slots {
                visit,
                receiver,
                slots,
            });
        }
    }

    /// Peers whose `Rtc` died without a notice (defensive).
    pub(super) fn reap(&mut self) {
        let dead: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.is_gone())
            .map(|p| p.id)
            .collect();
        for id in dead {
            self.on_gone(id);
        }
    }

    fn forward(&mut self, from: PeerId, incoming: &InPacket<'_>) {
        let source = SourceKey {
            peer: from,
            mid: incoming.mid,
        };
        let meta = RtpMeta {
            ssrc: *incoming.header.ssrc,
            seq: incoming.seq,
            timestamp: incoming.header.timestamp,
            arrival: incoming.arrival,
            clock_rate: incoming.params.spec().clock_rate.get(),
            bytes: incoming.header.header_len + incoming.payload.len(),
            // Only video passes a congestion gate, which resumes at a key frame.
            keyframe: incoming.kind == MediaKind::Video
                && super::stats::vp8_keyframe_size(incoming.payload).is_some(),
        };
        let mut routed = std::mem::take(&mut self.routed);
        routed.clear();
        let peers = &self.peers;
        let want_keyframe = self.table.route(
            source,
            &meta,
            |r| peers.get(&r).is_some_and(|p| p.is_connected()),
            &mut routed,
        );
        if want_keyframe {
            // A leg that dropped frames for congestion can take video again (R-REMOTE-2).
            self.request_keyframe(source, KeyframeRequestKind::Pli);
        }
        for r in &routed {
            let Some(peer) = self.peers.get_mut(&r.receiver) else {
                continue;
            };
            let out = Outgoing {
                now: self.now,
                slot: r.slot,
                seq: r.seq,
                timestamp: r.timestamp,
                incoming,
            };
            let mut notices = std::mem::take(&mut self.scratch);
            let net = &self.net;
            if isolated(peer, |p| p.write_forwarded(&out, net, &mut notices)).is_none() {
                self.panicked(r.receiver);
                continue;
            }
            self.enqueue(r.receiver, notices);
        }
        self.routed = routed;
    }

    fn request_keyframes(&mut self, bindings: &[Binding]) {
        for b in bindings.iter().filter(|b| b.kind == MediaKind::Video) {
            self.request_keyframe(b.source, KeyframeRequestKind::Pli);
        }
        self.process_work();
    }

    fn request_keyframe(&mut self, source: SourceKey, kind: KeyframeRequestKind) {
        let Some(peer) = self.peers.get_mut(&source.peer) else {
            return;
        };
        let mut notices = std::mem::take(&mut self.scratch);
        let net = &self.net;
        let now = self.now;
        if isolated(peer, |p| {
            p.request_keyframe(source.mid, kind, now, net, &mut notices)
        })
        .is_none()
        {
            self.panicked(source.peer);
            return;
        }
        self.enqueue(source.peer, notices);
    }

    /// Hand events to `visit` without ever blocking media: if its channel is full, the rest
    /// wait for the next turn of the loop (at most [`EVENT_RETRY`] later); order is kept.
    pub(super) fn flush_events(&mut self) {
        while let Some(event) = self.pending_events.front() {
            match self.events.try_send(event.clone()) {
                Ok(()) => {
                    self.pending_events.pop_front();
                }
                Err(mpsc::error::TrySendError::Full(_)) => break,
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    tracing::debug!("media event receiver dropped");
                    self.pending_events.clear();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory after visits end: when the last peer goes, the driver's tables are given back
    /// (a timer heap of stale entries, the source map at its largest).
    #[test]
    fn the_last_peer_leaving_gives_back_the_grown_tables() {
        let (tx, _rx) = mpsc::channel(8);
        let candidate: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut driver = Driver::new(MediaSockets::capture(candidate), tx);
        let now = Instant::now();
        for i in 0..20_000u64 {
            let at = now + Duration::from_millis(i);
            driver.timers.push(Reverse((at, PeerId(i))));
            let port = 1 + (i % 60_000) as u16;
            driver
                .by_source
                .insert(SocketAddr::from(([127, 0, 0, 1], port)), PeerId(i));
        }
        driver.scheduled.insert(PeerId(7), now);
        assert!(driver.timers.capacity() >= 20_000);

        driver.forget(PeerId(7), VisitId(1));

        assert!(driver.timers.is_empty(), "stale timer entries are dropped");
        assert_eq!(driver.timers.capacity(), 0);
        assert!(driver.scheduled.is_empty());
        // `forget` takes the departed peer's addresses out; the others' entries stay (they
        // are only a routing hint), in a table no larger than they need.
        assert!(driver.by_source.capacity() < 40_000);
    }
}
