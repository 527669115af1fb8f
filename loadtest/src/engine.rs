//! The media engine: one OS thread drives every synthetic peer's str0m [`Rtc`].
//!
//! **Owns**: one UDP socket per peer (the SFU tells peers apart by address), or with
//! `--transport tcp` one ICE-TCP connection per peer (RFC 4571 framing), a `mio` poll over
//! all of them, str0m's driving contract (every input is followed by draining `poll_output`
//! until `Timeout`), the send schedule of the traffic model, and every receive-side counter.
//! Nothing is shared with other threads except a few atomics for the progress line; counters
//! leave the thread only as [`Window`] snapshots and the final [`Totals`].
//!
//! **Does not**: sign in, fetch tokens or speak signalling (the async side in `api` does, then
//! hands over a negotiated [`PeerSetup`]); encode media (payloads are replayed templates, see
//! `traffic`).
//!
//! Isolation: str0m panics on broken internal invariants. Every call into one peer runs under
//! `catch_unwind`; a peer that panics is dropped and counted, the run goes on.
//!
//! Join time (the join-latency measure): from the moment the lawyer's join request started (the
//! join-token request, before signalling) to the first media packet the booth of the same
//! visit receives from the lawyer.

use crate::fast::{Fast, Generator};
use crate::traffic::{self, Arrival, Kind, Probe, RxStream, Templates};
use anyhow::Context;
use hdrhistogram::Histogram;
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::fast::FastReceive;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};

const WAKE: Token = Token(usize::MAX);
/// Longest poll wait, so commands and the progress counters never lag far behind.
const MAX_WAIT: Duration = Duration::from_millis(50);
const RECV_BUF: usize = 2048;
/// `--generator fast` registers received media with str0m without driving it; str0m is
/// driven this soon after such a packet at the latest, so that its transport-wide feedback
/// (due 50 ms after the last) and NACKs leave about when they would (as the server does).
const FAST_FEEDBACK_TICK: Duration = Duration::from_millis(20);
/// One-way delays are recorded in microseconds, up to 60 s.
const DELAY_MAX_US: u64 = 60_000_000;

/// Which participant a peer plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Lawyer,
    Booth,
}

/// Where a peer binds, and whether it reaches the SFU over ICE-TCP (R-REMOTE-2): then it
/// connects to this address, offers one active TCP candidate and speaks RFC 4571 framing.
#[derive(Debug, Clone, Copy)]
pub struct PeerNet {
    pub ip: std::net::IpAddr,
    pub tcp: Option<SocketAddr>,
}

/// A peer's media socket: one UDP socket, or one TCP connection to the SFU's listener.
enum Socket {
    Udp(std::net::UdpSocket),
    Tcp(std::net::TcpStream, SocketAddr),
}

impl Socket {
    /// Bind (UDP) or connect (TCP) and give the local candidate to offer.
    fn open(net: PeerNet) -> anyhow::Result<(Socket, Candidate)> {
        let ip = net.ip;
        match net.tcp {
            None => {
                let socket = std::net::UdpSocket::bind(SocketAddr::new(ip, 0))
                    .with_context(|| format!("cannot bind a UDP socket on {ip}"))?;
                socket.set_nonblocking(true)?;
                let local = socket.local_addr()?;
                Ok((Socket::Udp(socket), Candidate::host(local, "udp")?))
            }
            Some(server) => {
                let stream = std::net::TcpStream::connect_timeout(&server, Duration::from_secs(5))
                    .with_context(|| format!("cannot connect to the ICE-TCP listener {server}"))?;
                stream.set_nodelay(true)?;
                stream.set_nonblocking(true)?;
                let local = stream.local_addr()?;
                let candidate = Candidate::builder()
                    .tcp()
                    .host(local)
                    .tcptype(str0m::net::TcpType::Active)
                    .build()?;
                Ok((Socket::Tcp(stream, server), candidate))
            }
        }
    }
}

/// A peer between offer and answer: its `Rtc`, its socket, and what it offered.
pub struct PendingPeer {
    rtc: Rtc,
    socket: Socket,
    pending: SdpPendingOffer,
    audio_mid: Mid,
    video_mid: Mid,
}

/// The codecs the synthetic peers offer: exactly what confer negotiates (Opus, VP8).
fn rtc_config() -> str0m::RtcConfig {
    Rtc::builder()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
}

impl PendingPeer {
    /// Bind a UDP socket on `net.ip` (or connect over TCP) and build an offer (audio +
    /// video, sendrecv), as a browser would.
    pub fn offer(net: PeerNet) -> anyhow::Result<(PendingPeer, String)> {
        let (socket, candidate) = Socket::open(net)?;
        let mut rtc = rtc_config().build(Instant::now());
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let audio_mid = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let video_mid = api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().context("str0m produced no offer")?;
        let sdp = offer.to_sdp_string();
        Ok((
            PendingPeer {
                rtc,
                socket,
                pending,
                audio_mid,
                video_mid,
            },
            sdp,
        ))
    }

    /// Answer an offer made by the SFU (Janus's VideoCall offers to the callee); the peer is then
    /// ready for the engine. Returns it and the answer SDP.
    pub fn answer(
        ip: std::net::IpAddr,
        offer: &str,
        visit: u32,
        side: Side,
    ) -> anyhow::Result<(PeerSetup, String)> {
        let (audio_mid, video_mid) =
            offered_mids(offer).context("the offer lacks audio or video")?;
        let offer = SdpOffer::from_sdp_string(&one_mid_per_media(offer))
            .context("the SFU's offer is not SDP")?;
        let (socket, candidate) = Socket::open(PeerNet { ip, tcp: None })?;
        let mut rtc = rtc_config().build(Instant::now());
        rtc.add_local_candidate(candidate);
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .context("the SFU's offer was refused by str0m")?;
        Ok((
            PeerSetup {
                visit,
                side,
                rtc,
                socket,
                audio_mid,
                video_mid,
                join_started: None,
            },
            answer.to_sdp_string(),
        ))
    }

    /// Apply the SFU's answer; the peer is then ready for the engine.
    pub fn accept(
        mut self,
        answer: &str,
        visit: u32,
        side: Side,
        join_started: Option<Instant>,
    ) -> anyhow::Result<PeerSetup> {
        let answer = SdpAnswer::from_sdp_string(&one_mid_per_media(answer))
            .context("the SFU's answer is not SDP")?;
        self.rtc
            .sdp_api()
            .accept_answer(self.pending, answer)
            .context("the SFU's answer was refused by str0m")?;
        Ok(PeerSetup {
            visit,
            side,
            rtc: self.rtc,
            socket: self.socket,
            audio_mid: self.audio_mid,
            video_mid: self.video_mid,
            join_started,
        })
    }
}

/// Drop repeated `a=mid` lines inside one media section. Janus (1.1.2) relays the callee's
/// answer with its own `a=mid` added next to the callee's; browsers accept that, str0m's
/// parser does not. confer never sends such SDP, so this changes nothing for confer.
fn one_mid_per_media(sdp: &str) -> String {
    let mut out = String::with_capacity(sdp.len());
    let mut seen_mid = false;
    for line in sdp.split_inclusive('\n') {
        if line.starts_with("m=") {
            seen_mid = false;
        } else if line.starts_with("a=mid:") {
            if seen_mid {
                continue;
            }
            seen_mid = true;
        }
        out.push_str(line);
    }
    out
}

/// The first audio and the first video `a=mid` of an SDP (text scan; never panics).
fn offered_mids(sdp: &str) -> Option<(Mid, Mid)> {
    let (mut kind, mut audio, mut video) = (None, None, None);
    for line in sdp.lines() {
        let line = line.trim_end();
        if let Some(m) = line.strip_prefix("m=") {
            kind = m.split_whitespace().next().map(str::to_owned);
        } else if let Some(mid) = line.strip_prefix("a=mid:") {
            match kind.as_deref() {
                Some("audio") if audio.is_none() => audio = Some(Mid::from(mid)),
                Some("video") if video.is_none() => video = Some(Mid::from(mid)),
                _ => {}
            }
        }
    }
    Some((audio?, video?))
}

/// A negotiated peer, handed to the engine.
pub struct PeerSetup {
    visit: u32,
    side: Side,
    rtc: Rtc,
    socket: Socket,
    audio_mid: Mid,
    video_mid: Mid,
    join_started: Option<Instant>,
}

/// Counters for the progress line, readable from any thread.
#[derive(Debug, Default)]
pub struct Live {
    pub connected: AtomicU64,
    pub failed: AtomicU64,
    pub received: AtomicU64,
    pub joins: AtomicU64,
}

/// What the peers saw in one measurement window.
#[derive(Debug, Clone)]
pub struct Window {
    pub elapsed: Duration,
    pub sent: u64,
    /// Unique packets received (what the SFU delivered).
    pub received: u64,
    /// Packets the receivers expected by sequence number (see `traffic::RxStream`).
    pub expected: u64,
    pub duplicates: u64,
    pub reordered: u64,
    /// Packets that arrived at a peer of another visit (must stay 0: the gate).
    pub foreign: u64,
    pub delay_us: Histogram<u64>,
    /// The longest the engine thread was late for its own schedule (a generator stall shows
    /// here, so it is not mistaken for the SFU's).
    pub max_lateness: Duration,
    /// `--e2ee`: received payloads that opened with the sender's SFrame key, and that did not
    /// (must stay 0: the SFU forwards frames untouched; R-PRIV-1).
    pub sframe_opened: u64,
    pub sframe_failed: u64,
    /// `--generator fast-tx|fast`: packets sent on the fast path (the rest went through
    /// str0m), received packets opened on it, and received ones that did not authenticate.
    pub fast_sent: u64,
    pub fast_opened: u64,
    pub fast_open_failures: u64,
}

impl Window {
    fn new() -> Window {
        Window {
            elapsed: Duration::ZERO,
            sent: 0,
            received: 0,
            expected: 0,
            duplicates: 0,
            reordered: 0,
            foreign: 0,
            delay_us: Histogram::new_with_bounds(1, DELAY_MAX_US, 3).expect("static bounds"),
            max_lateness: Duration::ZERO,
            sframe_opened: 0,
            sframe_failed: 0,
            fast_sent: 0,
            fast_opened: 0,
            fast_open_failures: 0,
        }
    }

    /// Loss in percent of expected packets.
    pub fn loss_pct(&self) -> f64 {
        if self.expected == 0 {
            return 0.0;
        }
        self.expected.saturating_sub(self.received) as f64 * 100.0 / self.expected as f64
    }

    /// Add another window's counts to this one.
    pub fn add(&mut self, other: &Window) {
        self.elapsed += other.elapsed;
        self.sent += other.sent;
        self.received += other.received;
        self.expected += other.expected;
        self.duplicates += other.duplicates;
        self.reordered += other.reordered;
        self.foreign += other.foreign;
        self.sframe_opened += other.sframe_opened;
        self.sframe_failed += other.sframe_failed;
        self.fast_sent += other.fast_sent;
        self.fast_opened += other.fast_opened;
        self.fast_open_failures += other.fast_open_failures;
        self.max_lateness = self.max_lateness.max(other.max_lateness);
        // Same bounds on both sides: cannot fail.
        let _ = self.delay_us.add(&other.delay_us);
    }
}

/// Everything the engine measured over the whole run.
#[derive(Debug, Clone)]
pub struct Totals {
    pub all: Window,
    /// Join times in milliseconds (see the module docs).
    pub join_ms: Histogram<u64>,
    /// Peers added over the run.
    pub peers_added: u64,
}

enum Cmd {
    Add(Box<PeerSetup>),
    Window(tokio::sync::oneshot::Sender<Window>),
    SetSending(bool),
    Shutdown,
}

/// Handle to the engine thread.
pub struct Engine {
    tx: mpsc::Sender<Cmd>,
    waker: Arc<Waker>,
    thread: std::sync::Mutex<Option<JoinHandle<Totals>>>,
    pub live: Arc<Live>,
}

impl Engine {
    pub fn start() -> anyhow::Result<Engine> {
        Self::start_with(None, Generator::default(), None)
    }

    /// As [`Engine::start`]; with `sframe_key`, every payload is SFrame-protected under it
    /// (`--e2ee`, see [`traffic::Sframe`]); `generator` picks how media is sent and received
    /// (`--generator`, see [`fast`]). With `tick`, the thread wakes at most once per tick
    /// (then reads every socket that has data and sends what is due), instead of on every
    /// arriving packet: on loopback the sender pays the receiver's wake-up, so a generator
    /// woken per packet inflates the server's kernel time too. Arrival times are then up to
    /// one tick late (`--tick-us`).
    pub fn start_with(
        sframe_key: Option<[u8; 16]>,
        generator: Generator,
        tick: Option<Duration>,
    ) -> anyhow::Result<Engine> {
        let poll = Poll::new().context("cannot create the poller")?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = mpsc::channel();
        let live = Arc::new(Live::default());
        let live2 = Arc::clone(&live);
        let thread = std::thread::Builder::new()
            .name("loadtest-media".into())
            .spawn(move || Driver::new(poll, rx, live2, sframe_key, generator, tick).run())?;
        Ok(Engine {
            tx,
            waker,
            thread: std::sync::Mutex::new(Some(thread)),
            live,
        })
    }

    fn send(&self, cmd: Cmd) {
        if self.tx.send(cmd).is_ok() {
            let _ = self.waker.wake();
        }
    }

    pub fn add(&self, peer: PeerSetup) {
        self.send(Cmd::Add(Box::new(peer)));
    }

    /// Start or stop sending media (receiving goes on).
    pub fn set_sending(&self, on: bool) {
        self.send(Cmd::SetSending(on));
    }

    /// The counters since the previous call (or the start), and start a new window.
    pub async fn window(&self) -> anyhow::Result<Window> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.send(Cmd::Window(reply));
        rx.await.context("the media engine stopped")
    }

    /// Stop the thread and return the totals.
    pub async fn finish(&self) -> anyhow::Result<Totals> {
        self.send(Cmd::Shutdown);
        let thread = self
            .thread
            .lock()
            .ok()
            .and_then(|mut t| t.take())
            .context("engine already finished")?;
        tokio::task::spawn_blocking(move || thread.join())
            .await?
            .map_err(|_| anyhow::anyhow!("the media engine thread panicked"))
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        if self.thread.lock().is_ok_and(|t| t.is_some()) {
            let _ = self.tx.send(Cmd::Shutdown);
            let _ = self.waker.wake();
        }
    }
}

/// Shared state of the engine thread, passed to each peer.
struct Ctx {
    epoch: Instant,
    templates: Templates,
    sending: bool,
    window: Window,
    total: Window,
    window_started: Instant,
    join_ms: Histogram<u64>,
    /// When each visit's lawyer started joining, by visit index.
    join_started: Vec<Option<Instant>>,
    live: Arc<Live>,
    /// `--e2ee`: SFrame on every payload.
    sframe: Option<traffic::Sframe>,
    /// `--generator`: str0m's path or the fast path (`fast`).
    generator: Generator,
    /// `--tick-us`: wake at most once per tick (see [`Engine::start_with`]).
    tick: Option<Duration>,
}

impl Ctx {
    /// The payload as sent: SFrame-protected under `--e2ee`.
    fn protect(&mut self, visit: u32, side: Side, payload: Vec<u8>) -> Vec<u8> {
        match self.sframe.as_mut() {
            Some(s) => s.protect(traffic::Sframe::kid(visit, side == Side::Booth), &payload),
            None => payload,
        }
    }

    fn on_sent(&mut self) {
        self.window.sent += 1;
        self.total.sent += 1;
    }
}

/// One video packet waiting for the pacer.
#[derive(Debug, Clone, Copy)]
struct Paced {
    due: Instant,
    keyframe: bool,
    first: bool,
    last: bool,
    ts: u32,
}

/// A registered peer socket.
enum Conn {
    Udp(UdpSocket),
    Tcp(TcpConn),
}

/// One ICE-TCP connection (R-REMOTE-2): RFC 4571 frames (2-byte length, then the packet)
/// both ways, with what could not be written yet kept in order.
struct TcpConn {
    stream: mio::net::TcpStream,
    server: SocketAddr,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
}

/// Bytes an ICE-TCP peer may have waiting to be written before it is given up (the SFU
/// reads its connections at once; a backlog this large means it stopped).
const TCP_BACKLOG: usize = 4 << 20;

impl TcpConn {
    /// Frame one packet and write what the socket takes; false: the connection is broken.
    fn send(&mut self, packet: &[u8]) -> bool {
        let Ok(len) = u16::try_from(packet.len()) else {
            return true; // cannot be framed; dropped as an oversized datagram would be
        };
        self.outbuf.extend_from_slice(&len.to_be_bytes());
        self.outbuf.extend_from_slice(packet);
        self.flush() && self.outbuf.len() <= TCP_BACKLOG
    }

    fn flush(&mut self) -> bool {
        use std::io::Write;
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        true
    }

    /// Read all that is waiting (edge-triggered poll); false on EOF or error.
    fn fill(&mut self) -> bool {
        use std::io::Read;
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
    }

    /// The next whole frame in the read buffer, if any.
    fn next_frame(&mut self) -> Option<Vec<u8>> {
        let len = usize::from(u16::from_be_bytes([
            *self.inbuf.first()?,
            *self.inbuf.get(1)?,
        ]));
        if self.inbuf.len() < 2 + len {
            return None;
        }
        let frame = self.inbuf[2..2 + len].to_vec();
        self.inbuf.drain(..2 + len);
        Some(frame)
    }
}

struct Peer {
    visit: u32,
    side: Side,
    rtc: Rtc,
    socket: Conn,
    local: SocketAddr,
    audio_mid: Mid,
    video_mid: Mid,
    audio_pt: Option<Pt>,
    video_pt: Option<Pt>,
    rtc_timeout: Instant,
    connected: bool,
    dead: bool,
    next_audio: Instant,
    next_video: Instant,
    frame: u64,
    audio_seq: u64,
    video_seq: u64,
    audio_rtp_seq: u64,
    video_rtp_seq: u64,
    audio_ts: u32,
    video_ts: u32,
    force_keyframe: bool,
    last_keyframe: Option<Instant>,
    video_queue: std::collections::VecDeque<Paced>,
    rx: [RxStream; 2],
    first_rx: bool,
    /// The fast path (`--generator fast-tx|fast`, UDP only), once DTLS is up.
    fast: Option<Fast>,
}

impl Peer {
    fn next_wake(&self, sending: bool) -> Instant {
        if self.connected && sending {
            let paced = self.video_queue.front().map_or(self.next_video, |p| p.due);
            self.rtc_timeout
                .min(self.next_audio)
                .min(self.next_video)
                .min(paced)
        } else {
            self.rtc_timeout
        }
    }

    fn input(&mut self, input: Input<'_>, ctx: &mut Ctx) {
        if self.rtc.handle_input(input).is_err() {
            self.die(ctx);
            return;
        }
        self.drain(ctx);
    }

    fn die(&mut self, ctx: &Ctx) {
        if !self.dead {
            self.dead = true;
            ctx.live.failed.fetch_add(1, Ordering::Relaxed);
            if self.connected {
                ctx.live.connected.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    fn drain(&mut self, ctx: &mut Ctx) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) => match &mut self.socket {
                    // A full socket buffer drops the datagram, as a network would.
                    Conn::Udp(s) => {
                        if let Some(f) = &mut self.fast {
                            f.observe(&t.contents, t.destination, [self.audio_pt, self.video_pt]);
                        }
                        let _ = s.send_to(&t.contents, t.destination);
                    }
                    Conn::Tcp(c) => {
                        if !c.send(&t.contents) {
                            self.die(ctx);
                            break;
                        }
                    }
                },
                Ok(Output::Event(e)) => self.on_event(e, ctx),
                Err(_) => {
                    self.die(ctx);
                    break;
                }
            }
        }
        if !self.rtc.is_alive() {
            self.die(ctx);
        }
    }

    fn on_event(&mut self, event: Event, ctx: &mut Ctx) {
        match event {
            Event::Connected => {
                self.connected = true;
                ctx.live.connected.fetch_add(1, Ordering::Relaxed);
                let pt_of = |rtc: &Rtc, codec: Codec| {
                    rtc.codec_config()
                        .iter()
                        .find(|p| p.spec().codec == codec)
                        .map(|p| p.pt())
                };
                self.audio_pt = pt_of(&self.rtc, Codec::Opus);
                self.video_pt = pt_of(&self.rtc, Codec::Vp8);
                if matches!(self.socket, Conn::Udp(_)) {
                    self.fast = Fast::arm(&self.rtc, ctx.generator, self.video_mid);
                }
                // Spread the visits' frame clocks so they do not all send at the same instant.
                let now = Instant::now();
                let phase_us = u64::from(self.visit) * 7919 % 33_333;
                self.next_video = now + Duration::from_micros(phase_us);
                self.next_audio = now + Duration::from_micros(phase_us % 20_000);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) | Event::Closed => {
                self.die(ctx)
            }
            Event::KeyframeRequest(req) if req.mid == self.video_mid => {
                self.force_keyframe = true;
            }
            Event::RtpPacket(packet) => self.on_rtp(packet.timestamp, &packet.payload, ctx),
            _ => {}
        }
    }

    fn on_rtp(&mut self, at: Instant, payload: &[u8], ctx: &mut Ctx) {
        let Some(probe) = traffic::parse_probe(payload) else {
            return;
        };
        if probe.visit != self.visit {
            ctx.window.foreign += 1;
            ctx.total.foreign += 1;
            return;
        }
        if let Some(s) = ctx.sframe.as_ref() {
            let opened = s.open(payload);
            for w in [&mut ctx.window, &mut ctx.total] {
                if opened {
                    w.sframe_opened += 1;
                } else {
                    w.sframe_failed += 1;
                }
            }
        }
        let arrival = self.rx[probe.kind.index()].on_packet(probe.seq);
        let now_ns = at.saturating_duration_since(ctx.epoch).as_nanos() as u64;
        let delay_us = (now_ns.saturating_sub(probe.sent_ns) / 1000).clamp(1, DELAY_MAX_US);
        for w in [&mut ctx.window, &mut ctx.total] {
            match arrival {
                Arrival::New { advance } => {
                    w.received += 1;
                    w.expected += advance;
                    let _ = w.delay_us.record(delay_us);
                }
                Arrival::Reordered => {
                    w.received += 1;
                    w.reordered += 1;
                    let _ = w.delay_us.record(delay_us);
                }
                Arrival::Duplicate => w.duplicates += 1,
                Arrival::TooOld => w.reordered += 1,
            }
        }
        if matches!(arrival, Arrival::New { .. } | Arrival::Reordered) {
            ctx.live.received.fetch_add(1, Ordering::Relaxed);
        }
        if self.side == Side::Booth && !self.first_rx {
            self.first_rx = true;
            let started = ctx.join_started.get(self.visit as usize).copied().flatten();
            if let Some(t0) = started {
                let ms = at.saturating_duration_since(t0).as_millis() as u64;
                let _ = ctx.join_ms.record(ms.max(1));
                ctx.live.joins.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Read every waiting datagram (the poll is edge-triggered).
    fn read_all(&mut self, buf: &mut [u8], ctx: &mut Ctx) {
        if let Conn::Tcp(_) = self.socket {
            return self.read_tcp(ctx);
        }
        loop {
            let Conn::Udp(socket) = &self.socket else {
                return;
            };
            let (n, source) = match socket.recv_from(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // ICMP errors (port unreachable) and the like: not fatal for UDP.
                Err(_) => continue,
            };
            let now = Instant::now();
            // `--generator fast`: media is opened here and registered with str0m (see
            // `fast`); everything else, and the first packets of each stream, go to str0m.
            if let Some(fast) = &self.fast {
                let Some(datagram) = buf.get_mut(..n) else {
                    return;
                };
                let received = fast.receive(&mut self.rtc, now, datagram);
                if !matches!(received, FastReceive::NotFast) {
                    // str0m was not driven: make sure it is soon, for its feedback.
                    self.rtc_timeout = self.rtc_timeout.min(now + FAST_FEEDBACK_TICK);
                    let opened = matches!(received, FastReceive::Media(_));
                    if let FastReceive::Media(m) = received {
                        if let Some(payload) = buf.get(m.payload) {
                            self.on_rtp(now, payload, ctx);
                        }
                    }
                    for w in [&mut ctx.window, &mut ctx.total] {
                        w.fast_opened += u64::from(opened);
                        w.fast_open_failures += u64::from(!opened);
                    }
                    continue;
                }
            }
            let Some(data) = buf.get(..n) else { return };
            let Ok(contents) = DatagramRecv::try_from(data) else {
                continue;
            };
            let input = Input::Receive(
                now,
                Receive {
                    proto: Protocol::Udp,
                    source,
                    destination: self.local,
                    contents,
                },
            );
            self.input(input, ctx);
            if self.dead {
                return;
            }
        }
    }

    /// ICE-TCP: flush what waits to be written, read what arrived, hand over every whole
    /// RFC 4571 frame.
    fn read_tcp(&mut self, ctx: &mut Ctx) {
        let Conn::Tcp(c) = &mut self.socket else {
            return;
        };
        if !c.flush() || !c.fill() {
            self.die(ctx);
            return;
        }
        let server = c.server;
        loop {
            let Conn::Tcp(c) = &mut self.socket else {
                return;
            };
            let Some(frame) = c.next_frame() else {
                return;
            };
            let now = Instant::now();
            let Ok(contents) = DatagramRecv::try_from(frame.as_slice()) else {
                continue;
            };
            let input = Input::Receive(
                now,
                Receive {
                    proto: Protocol::Tcp,
                    source: server,
                    destination: self.local,
                    contents,
                },
            );
            self.input(input, ctx);
            if self.dead {
                return;
            }
        }
    }

    /// Timers and the send schedule.
    fn tick(&mut self, now: Instant, ctx: &mut Ctx) {
        if now >= self.rtc_timeout {
            self.input(Input::Timeout(now), ctx);
        }
        if self.dead || !self.connected || !ctx.sending {
            return;
        }
        let mut wrote = false;
        if now >= self.next_audio {
            wrote |= self.send_audio(now, ctx);
            self.next_audio = advance_clock(self.next_audio, now, traffic::AUDIO_FRAME_INTERVAL);
        }
        if now >= self.next_video {
            self.queue_video_frame(now);
            self.next_video = advance_clock(self.next_video, now, traffic::VIDEO_FRAME_INTERVAL);
        }
        wrote |= self.send_paced(now, ctx);
        if wrote {
            // str0m releases written packets only after a timeout has stamped them: one
            // timeout for everything this tick wrote through str0m, so they leave now and
            // cost one drive (packets on the fast path have left already).
            self.input(Input::Timeout(now), ctx);
        }
    }

    /// Send one media packet: on the fast path when it is ready, else through str0m.
    /// Returns whether str0m has it (and so needs a drive to send it).
    fn write(
        &mut self,
        kind: Kind,
        payload: Vec<u8>,
        marker: bool,
        ts: u32,
        now: Instant,
        ctx: &mut Ctx,
    ) -> bool {
        let (mid, pt, seq, media) = match kind {
            Kind::Audio => (
                self.audio_mid,
                self.audio_pt,
                &mut self.audio_rtp_seq,
                MediaKind::Audio,
            ),
            Kind::Video => (
                self.video_mid,
                self.video_pt,
                &mut self.video_rtp_seq,
                MediaKind::Video,
            ),
        };
        let Some(pt) = pt else { return false };
        let rtp_seq = *seq;
        *seq += 1;
        if let (Some(f), Conn::Udp(socket)) = (&mut self.fast, &self.socket) {
            if f.ready(media) {
                if let Some((datagram, to)) = f.packet(media, pt, rtp_seq, ts, marker, &payload) {
                    // A full socket buffer drops the datagram, as a network would.
                    let _ = socket.send_to(datagram, to);
                    ctx.on_sent();
                    ctx.window.fast_sent += 1;
                    ctx.total.fast_sent += 1;
                }
                return false;
            }
        }
        let mut api = self.rtc.direct_api();
        let Some(tx) = api.stream_tx_by_mid(mid, None) else {
            return false;
        };
        tx.write_rtp(
            RtpWrite::new(pt, rtp_seq.into(), ts, now, payload)
                .marker(marker)
                .nackable(kind == Kind::Video),
        );
        ctx.on_sent();
        true
    }

    fn probe(&self, kind: Kind, keyframe: bool, seq: u64, now: Instant, ctx: &Ctx) -> Probe {
        Probe {
            kind,
            keyframe,
            visit: self.visit,
            seq,
            sent_ns: now.saturating_duration_since(ctx.epoch).as_nanos() as u64,
        }
    }

    fn send_audio(&mut self, now: Instant, ctx: &mut Ctx) -> bool {
        let probe = self.probe(Kind::Audio, false, self.audio_seq, now, ctx);
        self.audio_seq += 1;
        let payload = ctx.templates.payload(&probe, true);
        let payload = ctx.protect(self.visit, self.side, payload);
        let via_str0m = self.write(Kind::Audio, payload, true, self.audio_ts, now, ctx);
        self.audio_ts = self.audio_ts.wrapping_add(traffic::AUDIO_TS_STEP);
        via_str0m
    }

    /// Queue the next video frame's packets for the pacer (see [`traffic::PACING_INTERVAL`]).
    fn queue_video_frame(&mut self, now: Instant) {
        let forced = self.force_keyframe
            && self.last_keyframe.is_none_or(|t| {
                now.saturating_duration_since(t) >= traffic::MIN_FORCED_KEYFRAME_INTERVAL
            });
        let (packets, keyframe) = traffic::video_frame_shape(self.frame, forced);
        if keyframe {
            self.force_keyframe = false;
            self.last_keyframe = Some(now);
        }
        let mut due = self.video_queue.back().map_or(now, |p| p.due.max(now));
        for i in 0..packets {
            if i > 0 || !self.video_queue.is_empty() {
                due += traffic::PACING_INTERVAL;
            }
            self.video_queue.push_back(Paced {
                due,
                keyframe,
                first: i == 0,
                last: i + 1 == packets,
                ts: self.video_ts,
            });
        }
        self.frame += 1;
        self.video_ts = self.video_ts.wrapping_add(traffic::VIDEO_TS_STEP);
    }

    /// Send the queued video packets that are due.
    fn send_paced(&mut self, now: Instant, ctx: &mut Ctx) -> bool {
        let mut wrote = false;
        while let Some(p) = self.video_queue.front().copied().filter(|p| p.due <= now) {
            self.video_queue.pop_front();
            let probe = self.probe(Kind::Video, p.keyframe, self.video_seq, now, ctx);
            self.video_seq += 1;
            let payload = ctx.templates.payload(&probe, p.first);
            let payload = ctx.protect(self.visit, self.side, payload);
            wrote |= self.write(Kind::Video, payload, p.last, p.ts, now, ctx);
        }
        wrote
    }
}

/// The next frame time: one interval on, or restart from now after a stall (no burst).
fn advance_clock(at: Instant, now: Instant, interval: Duration) -> Instant {
    let next = at + interval;
    if next + 5 * interval < now {
        now + interval
    } else {
        next
    }
}

struct Driver {
    poll: Poll,
    rx: mpsc::Receiver<Cmd>,
    peers: Vec<Option<Peer>>,
    ctx: Ctx,
    peers_added: u64,
    stop: AtomicBool,
}

impl Driver {
    fn new(
        poll: Poll,
        rx: mpsc::Receiver<Cmd>,
        live: Arc<Live>,
        sframe_key: Option<[u8; 16]>,
        generator: Generator,
        tick: Option<Duration>,
    ) -> Driver {
        let now = Instant::now();
        Driver {
            poll,
            rx,
            peers: Vec::new(),
            ctx: Ctx {
                epoch: now,
                templates: Templates::default(),
                sending: true,
                window: Window::new(),
                total: Window::new(),
                window_started: now,
                join_ms: Histogram::new_with_bounds(1, 3_600_000, 3).expect("static bounds"),
                join_started: Vec::new(),
                live,
                sframe: sframe_key.map(traffic::Sframe::new),
                generator,
                tick,
            },
            peers_added: 0,
            stop: AtomicBool::new(false),
        }
    }

    fn run(mut self) -> Totals {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; RECV_BUF];
        let mut last_wake = Instant::now();
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let sending = self.ctx.sending;
            let mut next = self
                .peers
                .iter()
                .flatten()
                .map(|p| p.next_wake(sending))
                .min()
                .map_or(now + MAX_WAIT, |t| t.min(now + MAX_WAIT));
            let mut wait = next.saturating_duration_since(now);
            if let Some(tick) = self.ctx.tick {
                // Sleep (not in the poller, so arriving packets wake nobody) until the next
                // tick, then take whatever is ready without waiting.
                next = next.max(last_wake + tick);
                std::thread::sleep(next.saturating_duration_since(now));
                wait = Duration::ZERO;
            }
            last_wake = Instant::now();
            if let Err(e) = self.poll.poll(&mut events, Some(wait)) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    break;
                }
            }
            for event in events.iter() {
                if event.token() == WAKE {
                    self.commands();
                    continue;
                }
                let idx = event.token().0;
                let ctx = &mut self.ctx;
                if let Some(Some(peer)) = self.peers.get_mut(idx) {
                    let ok =
                        catch_unwind(AssertUnwindSafe(|| peer.read_all(&mut buf, ctx))).is_ok();
                    if !ok {
                        peer.die(ctx);
                    }
                }
            }
            let now = Instant::now();
            let late = now.saturating_duration_since(next);
            for w in [&mut self.ctx.window, &mut self.ctx.total] {
                w.max_lateness = w.max_lateness.max(late);
            }
            for slot in self.peers.iter_mut() {
                let Some(peer) = slot else { continue };
                let ctx = &mut self.ctx;
                if !peer.dead {
                    let ok = catch_unwind(AssertUnwindSafe(|| peer.tick(now, ctx))).is_ok();
                    if !ok {
                        peer.die(ctx);
                    }
                }
                if peer.dead {
                    let _ = match &mut peer.socket {
                        Conn::Udp(s) => self.poll.registry().deregister(s),
                        Conn::Tcp(c) => self.poll.registry().deregister(&mut c.stream),
                    };
                    *slot = None;
                }
            }
        }
        for peer in self.peers.iter_mut().flatten() {
            let _ = catch_unwind(AssertUnwindSafe(|| {
                peer.rtc.disconnect();
            }));
        }
        Totals {
            all: self.ctx.total,
            join_ms: self.ctx.join_ms,
            peers_added: self.peers_added,
        }
    }

    fn commands(&mut self) {
        while let Ok(cmd) = self.rx.try_recv() {
            match cmd {
                Cmd::Add(setup) => self.add(*setup),
                Cmd::Window(reply) => {
                    let now = Instant::now();
                    let mut w = std::mem::replace(&mut self.ctx.window, Window::new());
                    w.elapsed = now.saturating_duration_since(self.ctx.window_started);
                    self.ctx.window_started = now;
                    let _ = reply.send(w);
                }
                Cmd::SetSending(on) => self.ctx.sending = on,
                Cmd::Shutdown => self.stop.store(true, Ordering::Relaxed),
            }
        }
    }

    fn add(&mut self, setup: PeerSetup) {
        self.peers_added += 1;
        let PeerSetup {
            visit,
            side,
            rtc,
            socket,
            audio_mid,
            video_mid,
            join_started,
        } = setup;
        if let Some(t0) = join_started {
            let i = visit as usize;
            if self.ctx.join_started.len() <= i {
                self.ctx.join_started.resize(i + 1, None);
            }
            self.ctx.join_started[i] = Some(t0);
        }
        let local = match &socket {
            Socket::Udp(s) => s.local_addr(),
            Socket::Tcp(s, _) => s.local_addr(),
        };
        let Ok(local) = local else {
            self.ctx.live.failed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut socket = match socket {
            Socket::Udp(s) => Conn::Udp(UdpSocket::from_std(s)),
            Socket::Tcp(s, server) => Conn::Tcp(TcpConn {
                stream: mio::net::TcpStream::from_std(s),
                server,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
            }),
        };
        let idx = self
            .peers
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.peers.len());
        if self
            .poll
            .registry()
            .register(
                match &mut socket {
                    Conn::Udp(s) => s as &mut dyn mio::event::Source,
                    Conn::Tcp(c) => &mut c.stream,
                },
                Token(idx),
                Interest::READABLE | Interest::WRITABLE,
            )
            .is_err()
        {
            self.ctx.live.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let now = Instant::now();
        // Per-stream starting numbers below 2^15, as a browser's (the SRTP rollover counter
        // starts at 0 on both ends).
        let start = u64::from(visit).wrapping_mul(2654435761) % 0x7000;
        let mut peer = Peer {
            visit,
            side,
            rtc,
            socket,
            local,
            audio_mid,
            video_mid,
            audio_pt: None,
            video_pt: None,
            rtc_timeout: now,
            connected: false,
            dead: false,
            next_audio: now,
            next_video: now,
            frame: 0,
            audio_seq: 0,
            video_seq: 0,
            audio_rtp_seq: start,
            video_rtp_seq: start + 1000,
            audio_ts: start as u32 * 7,
            video_ts: start as u32 * 11,
            force_keyframe: false,
            last_keyframe: None,
            video_queue: std::collections::VecDeque::new(),
            rx: [RxStream::default(), RxStream::default()],
            fast: None,
            first_rx: false,
        };
        let ctx = &mut self.ctx;
        let ok = catch_unwind(AssertUnwindSafe(|| peer.input(Input::Timeout(now), ctx))).is_ok();
        if !ok {
            peer.die(ctx);
        }
        if idx == self.peers.len() {
            self.peers.push(Some(peer));
        } else {
            self.peers[idx] = Some(peer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stalled_frame_clock_restarts_instead_of_bursting() {
        let t0 = Instant::now();
        let i = Duration::from_millis(20);
        assert_eq!(advance_clock(t0, t0, i), t0 + i);
        let late = t0 + Duration::from_secs(1);
        assert_eq!(advance_clock(t0, late, i), late + i);
    }

    #[test]
    fn mids_are_read_per_media_kind() {
        let sdp = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:a0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:v1\r\n";
        let (a, v) = offered_mids(sdp).unwrap();
        assert_eq!(
            (a.to_string(), v.to_string()),
            ("a0".to_owned(), "v1".to_owned())
        );
        assert!(offered_mids("m=audio 9 x 1\r\na=mid:0\r\n").is_none());
    }

    #[test]
    fn a_repeated_mid_is_dropped_per_media_section_only() {
        let sdp = "v=0\r\nm=audio 9 x 111\r\na=mid:a\r\na=mid:a\r\nm=video 9 x 96\r\na=mid:v\r\n";
        assert_eq!(
            one_mid_per_media(sdp),
            "v=0\r\nm=audio 9 x 111\r\na=mid:a\r\nm=video 9 x 96\r\na=mid:v\r\n"
        );
    }

    #[test]
    fn windows_add_up() {
        let mut a = Window::new();
        a.expected = 100;
        a.received = 99;
        let mut b = Window::new();
        b.add(&a);
        b.add(&a);
        assert_eq!(b.expected, 200);
        assert!((b.loss_pct() - 1.0).abs() < 1e-9);
    }
}
