//! Connection caps and timeouts of the HTTPS listeners (R-REMOTE-1: one client cannot take
//! the service away from everyone else; R-REMOTE-2: a visit's media keeps flowing).
//!
//! An attacker on 127.0.0.2 holds as many connections as the per-address caps allow (and
//! keeps trying for more) on both listeners, with the four kinds that used to exhaust the
//! server: silent TCP, silent TLS, request bodies trickling one byte a second, and idle
//! HTTP/2 connections that answer every PING. Meanwhile a lawyer and a booth on 127.0.0.1
//! sign in, join and hold a visit, staff sign in, and `/healthz` answers on both
//! listeners. The caps are small so that the test is quick; the figures are printed.

#[path = "support/app.rs"]
mod app;
#[path = "support/peer.rs"]
mod peer;
#[path = "support/side.rs"]
mod side;

use app::{spawn_app_with, TestApp};
use confer::config::{Config, ConnectionSection};
use peer::{check_payloads, MediaKind, SendRates};
use rustls::pki_types::ServerName;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const PUBLIC_PER_IP: usize = 12;
const ADMIN_PER_IP: usize = 6;
const ATTACKER: [u8; 4] = [127, 0, 0, 2];
/// Generous: a timeout of a few seconds must have closed the connection by then, even on a
/// loaded machine (no speed is asserted, only that the connection does not stay open).
const CLOSED_WITHIN: Duration = Duration::from_secs(30);

fn small_limits(c: &mut ConnectionSection, max: usize, per_ip: usize) {
    c.max_connections = max;
    c.max_per_ip = per_ip;
    c.handshake_timeout_secs = 2;
    c.header_timeout_secs = 2;
    c.body_timeout_secs = 3;
    c.body_min_bytes_per_sec = 1024;
    c.idle_timeout_secs = 3;
    c.keepalive_interval_secs = 1;
    c.keepalive_timeout_secs = 2;
}

fn tweak(config: &mut Config) {
    small_limits(&mut config.http.connections, 48, PUBLIC_PER_IP);
    small_limits(&mut config.admin.connections, 16, ADMIN_PER_IP);
}

async fn connect_from(src: [u8; 4], dst: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(IpAddr::from(src), 0))?;
    socket.connect(dst).await
}

fn tls_connector(app: &TestApp, alpn: &[u8]) -> tokio_rustls::TlsConnector {
    let mut config = (*app::tls_client(&app.ca_pem, &app::Identity::None)).clone();
    config.alpn_protocols = vec![alpn.to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

/// Reads until the server closes (EOF or error).
async fn until_closed<R: AsyncRead + Unpin>(r: &mut R) {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => continue,
        }
    }
}

/// What one attacking connection does once connected.
#[derive(Debug, Clone, Copy)]
enum Kind {
    SilentTcp,
    SilentTls,
    SlowBody,
    IdleH2,
}

const KINDS: [Kind; 4] = [
    Kind::SilentTcp,
    Kind::SilentTls,
    Kind::SlowBody,
    Kind::IdleH2,
];

/// HTTP/2: the client preface and an empty SETTINGS frame.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// An idle but live HTTP/2 client: acknowledges SETTINGS, answers every PING, sends no
/// request. Returns when the server closes the connection; `goaway` is set if it said
/// GOAWAY first.
async fn idle_h2<S: AsyncRead + AsyncWrite + Unpin>(mut tls: S, goaway: &AtomicBool) {
    if tls.write_all(H2_PREFACE).await.is_err() {
        return;
    }
    loop {
        let mut head = [0u8; 9];
        if tls.read_exact(&mut head).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let (kind, flags) = (head[3], head[4]);
        let mut payload = vec![0u8; len];
        if tls.read_exact(&mut payload).await.is_err() {
            return;
        }
        let reply: Option<Vec<u8>> = match (kind, flags & 1) {
            (4, 0) => Some(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00".to_vec()), // SETTINGS ack
            (6, 0) => {
                let mut f = b"\x00\x00\x08\x06\x01\x00\x00\x00\x00".to_vec(); // PING ack
                f.extend_from_slice(&payload);
                Some(f)
            }
            (7, _) => {
                goaway.store(true, Ordering::Relaxed);
                None
            }
            _ => None,
        };
        if let Some(frame) = reply {
            if tls.write_all(&frame).await.is_err() {
                return;
            }
        }
    }
}

/// A request whose body trickles in one byte a second; returns when the server closes.
async fn slow_body<S: AsyncRead + AsyncWrite + Unpin>(tls: S, path: &str) {
    let (mut r, mut w) = tokio::io::split(tls);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n"
    );
    if w.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let writer = async move {
        loop {
            if w.write_all(b" ").await.is_err() || w.flush().await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    tokio::select! {
        () = until_closed(&mut r) => {}
        () = writer => {}
    }
}

/// One attacking connection of `kind` to `dst` from the attacker's address, until the
/// server closes it. `open` is set while it is established.
async fn attack_once(app: &TestApp, dst: SocketAddr, kind: Kind, path: &str, goaway: &AtomicBool) {
    let Ok(mut tcp) = connect_from(ATTACKER, dst).await else {
        return;
    };
    let name = ServerName::IpAddress(dst.ip().into());
    match kind {
        Kind::SilentTcp => until_closed(&mut tcp).await,
        Kind::SilentTls => {
            if let Ok(mut tls) = tls_connector(app, b"http/1.1").connect(name, tcp).await {
                until_closed(&mut tls).await;
            }
        }
        Kind::SlowBody => {
            if let Ok(tls) = tls_connector(app, b"http/1.1").connect(name, tcp).await {
                slow_body(tls, path).await;
            }
        }
        Kind::IdleH2 => {
            if let Ok(tls) = tls_connector(app, b"h2").connect(name, tcp).await {
                idle_h2(tls, goaway).await;
            }
        }
    }
}

/// What the attacker saw on one listener.
#[derive(Default)]
struct Held {
    /// Per slot: since when its current connection has been open (`None`: none).
    since: Mutex<Vec<Option<Instant>>>,
    /// The most connections that were open (for at least a second) at the same time.
    max_held: AtomicU64,
    attempts: AtomicU64,
}

impl Held {
    fn sample(&self) {
        let now = Instant::now();
        let held = self
            .since
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.is_some_and(|t| now.duration_since(t) >= Duration::from_secs(1)))
            .count() as u64;
        self.max_held.fetch_max(held, Ordering::Relaxed);
    }
}

/// `slots` attacking loops against `dst` (more than the cap allows) until `stop`.
fn attack(
    app: Arc<TestApp>,
    dst: SocketAddr,
    path: &'static str,
    slots: usize,
    stop: Arc<AtomicBool>,
) -> (Arc<Held>, Vec<tokio::task::JoinHandle<()>>) {
    let held = Arc::new(Held {
        since: Mutex::new(vec![None; slots]),
        ..Held::default()
    });
    let mut tasks = Vec::new();
    for slot in 0..slots {
        let (app, held, stop) = (app.clone(), held.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let goaway = AtomicBool::new(false);
            while !stop.load(Ordering::Relaxed) {
                held.attempts.fetch_add(1, Ordering::Relaxed);
                held.since.lock().unwrap()[slot] = Some(Instant::now());
                let kind = KINDS[slot % KINDS.len()];
                tokio::select! {
                    () = attack_once(&app, dst, kind, path, &goaway) => {}
                    () = async { while !stop.load(Ordering::Relaxed) { tokio::time::sleep(Duration::from_millis(100)).await } } => {}
                }
                held.since.lock().unwrap()[slot] = None;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }));
    }
    let sampler = {
        let (held, stop) = (held.clone(), stop.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                held.sample();
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    tasks.push(sampler);
    (held, tasks)
}

async fn healthz(app: &TestApp, url: String) -> u16 {
    app.client(&app::Identity::None)
        .get(url)
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

fn metric(name_and_labels: &str) -> f64 {
    confer::metrics::render()
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_client_at_its_caps_leaves_sign_in_join_healthz_and_media_to_the_others() {
    // R-REMOTE-1: one address holding its caps on both listeners takes nothing from anyone
    // else: sign-in, join, staff sign-in and /healthz on both listeners answer, and a visit
    // held during the attack loses (almost) nothing.
    let app = Arc::new(spawn_app_with(tweak).await);
    let stop = Arc::new(AtomicBool::new(false));
    let (public_held, mut tasks) = attack(
        app.clone(),
        app.running.http_addr,
        "/api/lawyer/login",
        PUBLIC_PER_IP + 6,
        stop.clone(),
    );
    let (admin_held, admin_tasks) = attack(
        app.clone(),
        app.running.admin_addr,
        "/admin/api/login",
        ADMIN_PER_IP + 4,
        stop.clone(),
    );
    tasks.extend(admin_tasks);
    // Let the attacker reach its caps.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let public_health = healthz(&app, app.url("/healthz")).await;
    let admin_health = healthz(&app, app.admin_url("/healthz")).await;
    assert_eq!(public_health, 200, "public /healthz during the attack");
    assert_eq!(admin_health, 200, "admin /healthz during the attack");

    // Staff sign-in on the admin listener (password and authenticator code).
    let staff = app.staff_session("night-operator", "operator").await;
    assert!(!staff.is_empty());

    // Sign in, join both sides, and hold the visit with media while the attack goes on.
    let session = app.demo_lawyer_session().await;
    let visit = app.demo_visit_id(&session).await;
    let (lawyer, booth) = side::connected_visit(&app, visit).await;
    let rates = SendRates::default();
    let send_for = Duration::from_secs(8);
    lawyer.peer.start_sending(send_for, rates).await.unwrap();
    booth.peer.start_sending(send_for, rates).await.unwrap();
    // Health checks keep answering in the middle of it.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(healthz(&app, app.url("/healthz")).await, 200);
    assert_eq!(healthz(&app, app.admin_url("/healthz")).await, 200);
    tokio::time::sleep(send_for - Duration::from_secs(4) + Duration::from_secs(2)).await;

    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }

    let mut worst_loss = 0.0f64;
    let mut losses = Vec::new();
    for (name, from, to) in [
        ("lawyer->booth", &lawyer, &booth),
        ("booth->lawyer", &booth, &lawyer),
    ] {
        for kind in [MediaKind::Audio, MediaKind::Video] {
            let sent = from.peer.sent(kind);
            let m = check_payloads(&sent, &to.peer.received(kind), 0.0).expect("payloads intact");
            losses.push(format!(
                "{name} {kind:?}: {:.3} % of {} lost",
                (1.0 - m.ratio()) * 100.0,
                sent.len()
            ));
            worst_loss = worst_loss.max(1.0 - m.ratio());
        }
    }
    // What the SFU saw and chose (congestion control may drop whole video frames for a
    // receiver whose leg looks congested): the evidence if the loss bound is ever missed.
    let sfu: Vec<String> = app
        .running
        .state
        .hub
        .media_snapshot()
        .await
        .peers
        .iter()
        .map(|(_, role, s)| {
            format!(
                "{role:?}: rtp in {} out {}, video frames dropped {}, estimate {:?}",
                s.rtp_packets_in, s.rtp_packets_out, s.video_frames_dropped, s.bwe_estimate_bps
            )
        })
        .collect();
    println!(
        "conn_limits media: {}; SFU: {}",
        losses.join(", "),
        sfu.join("; ")
    );
    let public_max = public_held.max_held.load(Ordering::Relaxed);
    let admin_max = admin_held.max_held.load(Ordering::Relaxed);
    println!(
        "conn_limits figures: attacker held at most {public_max} public connections (cap {PUBLIC_PER_IP}, {} attempts) and {admin_max} admin connections (cap {ADMIN_PER_IP}, {} attempts); /healthz public {public_health} admin {admin_health}; worst media loss {:.3} %",
        public_held.attempts.load(Ordering::Relaxed),
        admin_held.attempts.load(Ordering::Relaxed),
        worst_loss * 100.0
    );
    assert!(
        public_max <= PUBLIC_PER_IP as u64,
        "public: {public_max} held"
    );
    assert!(admin_max <= ADMIN_PER_IP as u64, "admin: {admin_max} held");
    assert!(
        public_max >= (PUBLIC_PER_IP / 2) as u64,
        "the attack reached the public cap"
    );
    assert!(
        worst_loss < 0.005,
        "media loss during the attack: {:.3} %",
        worst_loss * 100.0
    );
    assert!(
        metric("confer_connections_refused_total{listener=\"public\",reason=\"per_ip\"}") > 0.0,
        "refusals are counted"
    );
    let app = Arc::try_unwrap(app).ok().expect("attack tasks ended");
    app.running.shutdown().await;
}

/// Whether the server closes `stream` within [`CLOSED_WITHIN`] (while `keep_busy` runs).
async fn closed_within<R: AsyncRead + Unpin>(r: &mut R) -> Option<Duration> {
    let started = Instant::now();
    tokio::time::timeout(CLOSED_WITHIN, until_closed(r))
        .await
        .ok()
        .map(|()| started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_tls_slow_bodies_and_idle_connections_are_closed_by_their_timeouts() {
    // R-REMOTE-1: each phase of a connection is bounded in time.
    let app = spawn_app_with(tweak).await;
    let dst = app.running.http_addr;
    let name = || ServerName::IpAddress(dst.ip().into());

    // A TCP connection that never starts TLS: the handshake timeout closes it.
    let mut silent = connect_from(ATTACKER, dst).await.unwrap();
    let took = closed_within(&mut silent).await;
    assert!(took.is_some(), "silent connection still open");
    println!("silent TCP closed after {took:?} (handshake timeout 2 s)");

    // A request body trickling in: the body timeout closes the connection while the client
    // is still sending.
    let tcp = connect_from(ATTACKER, dst).await.unwrap();
    let tls = tls_connector(&app, b"http/1.1")
        .connect(name(), tcp)
        .await
        .unwrap();
    let started = Instant::now();
    let done = tokio::time::timeout(CLOSED_WITHIN, slow_body(tls, "/api/lawyer/login")).await;
    assert!(done.is_ok(), "slow body still open");
    println!(
        "slow body closed after {:?} (body timeout 3 s)",
        started.elapsed()
    );

    // An HTTP/1 connection that sends nothing after the handshake (keep-alive idle).
    let tcp = connect_from(ATTACKER, dst).await.unwrap();
    let mut tls = tls_connector(&app, b"http/1.1")
        .connect(name(), tcp)
        .await
        .unwrap();
    let took = closed_within(&mut tls).await;
    assert!(took.is_some(), "idle HTTP/1 connection still open");
    println!("idle HTTP/1 closed after {took:?} (idle timeout 3 s)");

    // An HTTP/2 connection that answers every PING but asks nothing: GOAWAY, then closed.
    let tcp = connect_from(ATTACKER, dst).await.unwrap();
    let tls = tls_connector(&app, b"h2")
        .connect(name(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let goaway = AtomicBool::new(false);
    let started = Instant::now();
    let done = tokio::time::timeout(CLOSED_WITHIN, idle_h2(tls, &goaway)).await;
    assert!(done.is_ok(), "idle HTTP/2 connection still open");
    assert!(goaway.load(Ordering::Relaxed), "closed with a GOAWAY");
    println!(
        "idle HTTP/2 (PINGs answered) closed after {:?} (idle timeout 3 s)",
        started.elapsed()
    );

    // Over the per-address cap, a connection is closed at once; another address is served.
    let mut held = Vec::new();
    for _ in 0..PUBLIC_PER_IP {
        held.push(connect_from(ATTACKER, dst).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut over = connect_from(ATTACKER, dst).await.unwrap();
    let took = closed_within(&mut over).await;
    assert!(took.is_some(), "a connection over the cap was kept");
    assert_eq!(healthz(&app, app.url("/healthz")).await, 200);
    drop(held);

    for phase in ["handshake", "body", "idle"] {
        let name =
            format!("confer_connections_timed_out_total{{listener=\"public\",phase=\"{phase}\"}}");
        assert!(metric(&name) > 0.0, "{phase} timeouts are counted");
    }
    app.running.shutdown().await;
}
