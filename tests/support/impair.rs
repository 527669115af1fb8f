//! A userspace network impairment relay for media tests (R-REMOTE-2): rate limit (token
//! bucket with a bounded queue), delay, jitter, random loss, Gilbert-Elliott burst loss and
//! reordering, per direction, for UDP datagrams and for TCP byte streams (ICE-TCP's RFC 4571
//! framing passes as plain bytes).
//!
//! Loopback only: it listens on 127.0.0.1 and forwards to one upstream address (the SFU's
//! media port); every client address gets its own upstream socket, so the SFU (ICE-lite)
//! sees one distinct source per client and takes it after STUN. It is bounded in time: every
//! task ends at the relay's deadline, or when it is dropped.
//!
//! The rules are a pure, seeded [`Link`] (one direction of one flow: packet in, verdict out),
//! unit-tested in `tests/impairment.rs` on a virtual clock; the I/O part only applies them.
//! Profiles can be changed while the relay runs ([`ImpairRelay::set_profile`]), per client
//! address or for every client.

#![allow(dead_code)] // every test binary uses a different subset

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

/// Gilbert-Elliott burst loss: a good and a bad state, each with its own loss probability.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GilbertElliott {
    /// Per packet: probability of moving from good to bad.
    pub p_good_to_bad: f64,
    /// Per packet: probability of moving from bad back to good (mean burst 1/this packets).
    pub p_bad_to_good: f64,
    pub loss_good: f64,
    pub loss_bad: f64,
}

/// One direction's impairment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impairment {
    /// Bottleneck rate (bit/s); `None`: unlimited.
    pub rate_bps: Option<u64>,
    /// Token bucket size (bytes): a burst this large passes at once.
    pub bucket_bytes: u64,
    /// A packet that would wait longer than this behind the rate limit is dropped (tail drop).
    pub queue_limit: Duration,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Each packet's delay varies uniformly within ±jitter (order kept unless reordered).
    pub jitter: Duration,
    /// Independent random loss probability.
    pub loss: f64,
    /// Burst loss on top of `loss`.
    pub burst: Option<GilbertElliott>,
    /// Probability that a packet does not wait for the one before it (it may overtake it).
    pub reorder: f64,
}

impl Impairment {
    /// Carries everything, at once.
    pub const CLEAN: Impairment = Impairment {
        rate_bps: None,
        bucket_bytes: 0,
        queue_limit: Duration::from_millis(500),
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        loss: 0.0,
        burst: None,
        reorder: 0.0,
    };

    /// A limited link: `rate_bps`, a bucket of one full-size packet (a bottleneck link
    /// serialises: a burst does not pass faster than the rate), at most 300 ms of queue.
    pub fn rate(rate_bps: u64) -> Impairment {
        Impairment {
            rate_bps: Some(rate_bps),
            bucket_bytes: 1_500,
            queue_limit: Duration::from_millis(300),
            ..Impairment::CLEAN
        }
    }

    pub fn with_delay(mut self, delay: Duration, jitter: Duration) -> Impairment {
        self.delay = delay;
        self.jitter = jitter;
        self
    }

    pub fn with_loss(mut self, loss: f64) -> Impairment {
        self.loss = loss;
        self
    }
}

/// Both directions of a flow: `up` client → upstream, `down` upstream → client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    pub up: Impairment,
    pub down: Impairment,
}

impl Profile {
    pub const CLEAN: Profile = Profile {
        up: Impairment::CLEAN,
        down: Impairment::CLEAN,
    };

    /// The same impairment both ways.
    pub fn both(i: Impairment) -> Profile {
        Profile { up: i, down: i }
    }
}

/// What a [`Link`] does with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver at this instant.
    Deliver(Instant),
    /// Lost (random or burst loss).
    Lost,
    /// Dropped at the bottleneck: the queue was full.
    QueueFull,
}

/// One direction of one flow: the pure rules, seeded, on the caller's clock.
#[derive(Debug)]
pub struct Link {
    rng: StdRng,
    /// Token bucket: bytes available (negative: bytes queued), as of `refilled_at`.
    tokens: f64,
    refilled_at: Option<Instant>,
    bad_state: bool,
    /// The latest delivery time handed out (in-order delivery unless reordered).
    last_delivery: Option<Instant>,
}

impl Link {
    pub fn new(seed: u64) -> Link {
        Link {
            rng: StdRng::seed_from_u64(seed),
            tokens: f64::NAN,
            refilled_at: None,
            bad_state: false,
            last_delivery: None,
        }
    }

    /// Decide on one packet of `len` bytes arriving at `now` under impairment `i`.
    pub fn judge(&mut self, i: &Impairment, now: Instant, len: usize) -> Verdict {
        // Loss first (a lost packet takes no room at the bottleneck).
        let mut p_loss = i.loss;
        if let Some(ge) = &i.burst {
            let flip = if self.bad_state {
                ge.p_bad_to_good
            } else {
                ge.p_good_to_bad
            };
            if self.rng.gen::<f64>() < flip {
                self.bad_state = !self.bad_state;
            }
            let in_state = if self.bad_state {
                ge.loss_bad
            } else {
                ge.loss_good
            };
            p_loss = 1.0 - (1.0 - p_loss) * (1.0 - in_state);
        }
        if p_loss > 0.0 && self.rng.gen::<f64>() < p_loss {
            return Verdict::Lost;
        }
        // The bottleneck: a token bucket whose deficit is the queue.
        let mut depart = now;
        if let Some(rate) = i.rate_bps {
            let bytes_per_sec = rate as f64 / 8.0;
            let bucket = i.bucket_bytes as f64;
            if self.tokens.is_nan() {
                self.tokens = bucket;
            }
            if let Some(at) = self.refilled_at {
                let dt = now.saturating_duration_since(at).as_secs_f64();
                self.tokens = (self.tokens + dt * bytes_per_sec).min(bucket);
            }
            self.refilled_at = Some(now);
            let after = self.tokens - len as f64;
            if after < 0.0 {
                let wait = Duration::from_secs_f64(-after / bytes_per_sec);
                if wait > i.queue_limit {
                    return Verdict::QueueFull;
                }
                depart = now + wait;
            }
            self.tokens = after;
        }
        // Propagation delay and jitter.
        let mut at = depart + i.delay;
        if !i.jitter.is_zero() {
            let j = i.jitter.as_secs_f64();
            let offset = self.rng.gen_range(-j..=j);
            at = if offset >= 0.0 {
                at + Duration::from_secs_f64(offset)
            } else {
                at.checked_sub(Duration::from_secs_f64(-offset))
                    .unwrap_or(at)
                    .max(depart)
            };
        }
        let reordered = i.reorder > 0.0 && self.rng.gen::<f64>() < i.reorder;
        if !reordered {
            if let Some(last) = self.last_delivery {
                at = at.max(last);
            }
        }
        self.last_delivery = Some(self.last_delivery.map_or(at, |l| l.max(at)));
        Verdict::Deliver(at)
    }
}

/// Counters of one direction (all flows), for the test's report.
#[derive(Debug, Default)]
pub struct Counters {
    pub received: AtomicU64,
    pub delivered: AtomicU64,
    pub delivered_bytes: AtomicU64,
    pub lost: AtomicU64,
    pub queue_full: AtomicU64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CountersSnapshot {
    pub received: u64,
    pub delivered: u64,
    pub delivered_bytes: u64,
    pub lost: u64,
    pub queue_full: u64,
}

impl Counters {
    fn count(&self, v: &Verdict, len: usize) {
        self.received.fetch_add(1, Ordering::Relaxed);
        match v {
            Verdict::Deliver(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
                self.delivered_bytes
                    .fetch_add(len as u64, Ordering::Relaxed);
            }
            Verdict::Lost => {
                self.lost.fetch_add(1, Ordering::Relaxed);
            }
            Verdict::QueueFull => {
                self.queue_full.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn snapshot(&self) -> CountersSnapshot {
        CountersSnapshot {
            received: self.received.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            delivered_bytes: self.delivered_bytes.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
        }
    }
}

/// Profiles by client address, with a default for every other client.
#[derive(Debug)]
struct Profiles {
    default: Profile,
    per_client: HashMap<SocketAddr, Profile>,
}

struct Shared {
    profiles: Mutex<Profiles>,
    upstream: Mutex<Option<SocketAddr>>,
    up: Counters,
    down: Counters,
    seed: AtomicU64,
}

impl Shared {
    fn profile(&self, client: SocketAddr) -> Profile {
        let p = self.profiles.lock().unwrap();
        p.per_client.get(&client).copied().unwrap_or(p.default)
    }

    fn next_seed(&self) -> u64 {
        self.seed.fetch_add(0x9e37_79b9, Ordering::Relaxed)
    }
}

/// The relay: one listening address on loopback (UDP or TCP), forwarding to `upstream`.
pub struct ImpairRelay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl Drop for ImpairRelay {
    fn drop(&mut self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

/// Packets waiting for their delivery time, delivered in time order (ties in arrival order).
type Pending = BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>;

impl ImpairRelay {
    fn new_shared(default: Profile, seed: u64) -> Arc<Shared> {
        Arc::new(Shared {
            profiles: Mutex::new(Profiles {
                default,
                per_client: HashMap::new(),
            }),
            upstream: Mutex::new(None),
            up: Counters::default(),
            down: Counters::default(),
            seed: AtomicU64::new(seed),
        })
    }

    /// A UDP relay on 127.0.0.1 (a free port) that runs for `lifetime`. Set the upstream with
    /// [`Self::set_upstream`] before traffic arrives (the SFU may need the relay's port first,
    /// to advertise it); datagrams before that are dropped.
    pub async fn udp(default: Profile, lifetime: Duration, seed: u64) -> ImpairRelay {
        let socket = Arc::new(UdpSocket::bind("127.0.0.1:0").await.expect("relay bind"));
        let addr = socket.local_addr().expect("relay address");
        let shared = Self::new_shared(default, seed);
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let deadline = tokio::time::Instant::now() + lifetime;
        let main = tokio::spawn(udp_main(
            socket,
            Arc::clone(&shared),
            Arc::clone(&tasks),
            deadline,
        ));
        tasks.lock().unwrap().push(main);
        ImpairRelay {
            addr,
            shared,
            tasks,
        }
    }

    /// A TCP relay on 127.0.0.1 (a free port) for `lifetime`: a byte stream, so loss becomes
    /// delay (each "lost" chunk waits one more 200 ms retransmission timeout, as TCP would),
    /// and order is always kept.
    pub async fn tcp(default: Profile, lifetime: Duration, seed: u64) -> ImpairRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
        let addr = listener.local_addr().expect("relay address");
        let shared = Self::new_shared(default, seed);
        let tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let deadline = tokio::time::Instant::now() + lifetime;
        let main = tokio::spawn(tcp_main(
            listener,
            Arc::clone(&shared),
            Arc::clone(&tasks),
            deadline,
        ));
        tasks.lock().unwrap().push(main);
        ImpairRelay {
            addr,
            shared,
            tasks,
        }
    }

    /// Where clients send (advertise this instead of the server's address).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_upstream(&self, upstream: SocketAddr) {
        *self.shared.upstream.lock().unwrap() = Some(upstream);
    }

    /// Change the profile of every client without a profile of its own.
    pub fn set_profile(&self, profile: Profile) {
        self.shared.profiles.lock().unwrap().default = profile;
    }

    /// Give one client address its own profile.
    pub fn set_client_profile(&self, client: SocketAddr, profile: Profile) {
        self.shared
            .profiles
            .lock()
            .unwrap()
            .per_client
            .insert(client, profile);
    }

    /// Counters client → upstream.
    pub fn up(&self) -> CountersSnapshot {
        self.shared.up.snapshot()
    }

    /// Counters upstream → client.
    pub fn down(&self) -> CountersSnapshot {
        self.shared.down.snapshot()
    }
}

/// Send what is due from `pending`, then wait for the next due time or for new packets.
/// `send` gets each packet in delivery order. Ends at `deadline` or when `rx` closes.
async fn deliver_loop<F, Fut>(
    mut rx: mpsc::UnboundedReceiver<(Instant, Vec<u8>)>,
    deadline: tokio::time::Instant,
    mut send: F,
) where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut pending: Pending = BinaryHeap::new();
    let mut n = 0u64;
    loop {
        let now = Instant::now();
        while let Some(Reverse((at, _, _))) = pending.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, bytes))) = pending.pop() else {
                break;
            };
            if !send(bytes).await {
                return;
            }
        }
        let wake = pending
            .peek()
            .map(|Reverse((at, _, _))| tokio::time::Instant::from_std(*at))
            .unwrap_or(deadline)
            .min(deadline);
        tokio::select! {
            got = rx.recv() => match got {
                Some((at, bytes)) => {
                    n += 1;
                    pending.push(Reverse((at, n, bytes)));
                }
                None => return,
            },
            () = tokio::time::sleep_until(wake) => {
                if tokio::time::Instant::now() >= deadline {
                    return;
                }
            }
        }
    }
}

async fn udp_main(
    socket: Arc<UdpSocket>,
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    deadline: tokio::time::Instant,
) {
    // Per client: its link upstream and the queue towards its own upstream socket.
    struct Flow {
        link: Link,
        to_upstream: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    }
    let mut flows: HashMap<SocketAddr, Flow> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    loop {
        let got = tokio::select! {
            got = socket.recv_from(&mut buf) => got,
            () = tokio::time::sleep_until(deadline) => break,
        };
        let Ok((n, client)) = got else { continue };
        let Some(upstream) = *shared.upstream.lock().unwrap() else {
            continue;
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = flows.entry(client) {
            let Ok(up_sock) = UdpSocket::bind("127.0.0.1:0").await else {
                continue;
            };
            if up_sock.connect(upstream).await.is_err() {
                continue;
            }
            let up_sock = Arc::new(up_sock);
            let (to_upstream, rx) = mpsc::unbounded_channel();
            let sender = Arc::clone(&up_sock);
            let t1 = tokio::spawn(deliver_loop(rx, deadline, move |bytes| {
                let s = Arc::clone(&sender);
                async move {
                    let _ = s.send(&bytes).await;
                    true
                }
            }));
            // Upstream → client: judged on this flow's down link.
            let (to_client, rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
            let listen = Arc::clone(&socket);
            let t2 = tokio::spawn(deliver_loop(rx, deadline, move |bytes| {
                let s = Arc::clone(&listen);
                async move {
                    let _ = s.send_to(&bytes, client).await;
                    true
                }
            }));
            let sh = Arc::clone(&shared);
            let t3 = tokio::spawn(async move {
                let mut link = Link::new(sh.next_seed());
                let mut buf = vec![0u8; 2048];
                loop {
                    let got = tokio::select! {
                        got = up_sock.recv(&mut buf) => got,
                        () = tokio::time::sleep_until(deadline) => return,
                    };
                    let Ok(n) = got else { continue };
                    let profile = sh.profile(client);
                    let v = link.judge(&profile.down, Instant::now(), n);
                    sh.down.count(&v, n);
                    if let Verdict::Deliver(at) = v {
                        if to_client.send((at, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                }
            });
            tasks.lock().unwrap().extend([t1, t2, t3]);
            slot.insert(Flow {
                link: Link::new(shared.next_seed()),
                to_upstream,
            });
        }
        let Some(flow) = flows.get_mut(&client) else {
            continue;
        };
        let profile = shared.profile(client);
        let v = flow.link.judge(&profile.up, Instant::now(), n);
        shared.up.count(&v, n);
        if let Verdict::Deliver(at) = v {
            let _ = flow.to_upstream.send((at, buf[..n].to_vec()));
        }
    }
}

async fn tcp_main(
    listener: TcpListener,
    shared: Arc<Shared>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    deadline: tokio::time::Instant,
) {
    loop {
        let got = tokio::select! {
            got = listener.accept() => got,
            () = tokio::time::sleep_until(deadline) => return,
        };
        let Ok((client, client_addr)) = got else {
            continue;
        };
        let Some(upstream) = *shared.upstream.lock().unwrap() else {
            continue;
        };
        let Ok(server) = TcpStream::connect(upstream).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (cr, cw) = client.into_split();
        let (sr, sw) = server.into_split();
        let mut spawned = Vec::new();
        for (from, to, up) in [(cr, sw, true), (sr, cw, false)] {
            let (tx, rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
            let to = Arc::new(tokio::sync::Mutex::new(to));
            spawned.push(tokio::spawn(deliver_loop(rx, deadline, move |bytes| {
                let to = Arc::clone(&to);
                async move { to.lock().await.write_all(&bytes).await.is_ok() }
            })));
            let sh = Arc::clone(&shared);
            spawned.push(tokio::spawn(tcp_pump(
                from,
                tx,
                sh,
                client_addr,
                up,
                deadline,
            )));
        }
        tasks.lock().unwrap().extend(spawned);
    }
}

/// TCP timeout a "lost" chunk waits for (the stream recovers it; the bytes arrive late).
const TCP_RETRANSMIT: Duration = Duration::from_millis(200);

async fn tcp_pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    tx: mpsc::UnboundedSender<(Instant, Vec<u8>)>,
    shared: Arc<Shared>,
    client: SocketAddr,
    up: bool,
    deadline: tokio::time::Instant,
) {
    let mut link = Link::new(shared.next_seed());
    let mut buf = vec![0u8; 1400];
    let mut last = Instant::now();
    loop {
        let got = tokio::select! {
            got = from.read(&mut buf) => got,
            () = tokio::time::sleep_until(deadline) => return,
        };
        let n = match got {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let profile = shared.profile(client);
        let mut i = if up { profile.up } else { profile.down };
        i.reorder = 0.0;
        // A stream has no tail drop: the sender's window waits instead.
        i.queue_limit = Duration::from_secs(3600);
        let now = Instant::now();
        let v = link.judge(&i, now, n);
        let at = match v {
            Verdict::Deliver(at) => at,
            Verdict::Lost | Verdict::QueueFull => now + i.delay + TCP_RETRANSMIT,
        };
        let counters = if up { &shared.up } else { &shared.down };
        counters.count(&v, n);
        // A byte stream never overtakes itself.
        last = last.max(at);
        if tx.send((last, buf[..n].to_vec())).is_err() {
            return;
        }
    }
}
