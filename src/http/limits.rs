//! Connection limits of the HTTPS listeners (R-REMOTE-1: one client must not take the
//! service away from everyone else).
//!
//! Owns: the per-listener cap on open connections, in total and per client address
//! ([`ConnLimiter`], its [`ConnPermit`] travels with the connection's I/O, so an upgraded
//! WebSocket keeps counting), the request-body deadline ([`DeadlineBody`]), the
//! per-connection activity record the idle watchdog reads ([`Activity`]), rate-limited
//! warnings ([`WarnEvery`]) and the process file limit ([`raise_file_limit`]).
//!
//! Does not: speak HTTP. hyper (through hyper-util) parses requests and enforces the header
//! timeout and HTTP/2 keepalive; `serve` wires these pieces around it.
//!
//! Privacy: client addresses are only ever logged through [`Redacted`] (and the refusal
//! lines name no address at all); metric labels are fixed codes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

use crate::config::ConnectionSection;

/// At most one warning line per kind and listener this often; the lines in between are
/// counted and the count is printed with the next line.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// File descriptors kept out of the listeners' budgets for everything else (the database,
/// the audit log, media sockets, TLS to the registry, logs).
pub const RESERVED_FILES: u64 = 256;

/// A warning that is printed at most once per [`WARN_EVERY`].
#[derive(Debug, Default)]
pub struct WarnEvery {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl WarnEvery {
    /// `Some(n)` when a line should be printed now (`n` events were not printed since the
    /// previous line), `None` when this event is only counted.
    pub fn due(&self) -> Option<u64> {
        let now = Instant::now();
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if now.duration_since(at) < WARN_EVERY => {
                self.suppressed.fetch_add(1, Ordering::Relaxed);
                None
            }
            _ => {
                *last = Some(now);
                Some(self.suppressed.swap(0, Ordering::Relaxed))
            }
        }
    }
}

/// Why a connection was refused at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener's `max_connections` are open.
    Total,
    /// The client address's `max_per_ip` are open.
    PerIp,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerIp => "per_ip",
        }
    }
}

/// The unit a per-address cap counts: an IPv4 address, or an IPv6 /64 (one subscriber
/// usually holds a whole /64). IPv4-mapped IPv6 addresses count as IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpKey {
    V4([u8; 4]),
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for IpKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(v4.octets()),
                None => {
                    let o = v6.octets();
                    let mut p = [0u8; 8];
                    p.copy_from_slice(&o[..8]);
                    IpKey::V6Prefix(p)
                }
            },
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpKey, usize>,
}

/// The open-connection budget of one listener.
#[derive(Debug)]
pub struct ConnLimiter {
    listener: &'static str,
    max_total: usize,
    max_per_ip: usize,
    counts: Mutex<Counts>,
    refused_warn: WarnEvery,
}

impl ConnLimiter {
    /// `listener` is the metric label: `public` or `admin`.
    pub fn new(listener: &'static str, max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(ConnLimiter {
            listener,
            max_total: max_total.max(1),
            max_per_ip: max_per_ip.max(1),
            counts: Mutex::new(Counts::default()),
            refused_warn: WarnEvery::default(),
        })
    }

    pub fn listener(&self) -> &'static str {
        self.listener
    }

    /// Open connections now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A permit for one more connection from `ip`, or why not. A refusal is counted in the
    /// metrics and warned about (rate-limited, without the address).
    pub fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnPermit, Refusal> {
        let key = IpKey::from(ip);
        let result = {
            let mut c = self.lock();
            let from_ip = c.per_ip.get(&key).copied().unwrap_or(0);
            if c.total >= self.max_total {
                Err(Refusal::Total)
            } else if from_ip >= self.max_per_ip {
                Err(Refusal::PerIp)
            } else {
                c.total += 1;
                c.per_ip.insert(key, from_ip + 1);
                Ok(c.total)
            }
        };
        match result {
            Ok(open) => {
                crate::metrics::connections_open(self.listener, open);
                Ok(ConnPermit {
                    limiter: self.clone(),
                    key,
                })
            }
            Err(why) => {
                crate::metrics::connection_refused(self.listener, why.code());
                if let Some(more) = self.refused_warn.due() {
                    tracing::warn!(
                        listener = self.listener,
                        reason = why.code(),
                        max_connections = self.max_total,
                        max_per_ip = self.max_per_ip,
                        refused_since_last_line = more,
                        "connection refused: the listener's connection cap is reached"
                    );
                }
                Err(why)
            }
        }
    }

    fn release(&self, key: IpKey) {
        let open = {
            let mut c = self.lock();
            c.total = c.total.saturating_sub(1);
            if let Some(n) = c.per_ip.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    c.per_ip.remove(&key);
                }
            }
            c.total
        };
        crate::metrics::connections_open(self.listener, open);
    }
}

/// One open connection's place in its listener's budget; released when dropped.
#[derive(Debug)]
pub struct ConnPermit {
    limiter: Arc<ConnLimiter>,
    key: IpKey,
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        self.limiter.release(self.key);
    }
}

/// A connection's I/O with its [`ConnPermit`]: the permit lives exactly as long as the
/// socket, also after an upgrade hands the socket to a WebSocket.
pub struct Permitted<T> {
    io: T,
    _permit: ConnPermit,
}

impl<T> Permitted<T> {
    pub fn new(io: T, permit: ConnPermit) -> Self {
        Permitted {
            io,
            _permit: permit,
        }
    }

    pub fn get_ref(&self) -> &T {
        &self.io
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Permitted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Permitted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// What the idle watchdog of one connection knows: requests in progress, when the last
/// one started or finished, and whether a request body ran out of time.
#[derive(Debug)]
pub struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds since `born` of the last request start or end.
    last_ms: AtomicU64,
    /// Notified when a request body ran out of time: the connection is closed.
    pub doomed: Notify,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            last_ms: AtomicU64::new(0),
            doomed: Notify::new(),
        }
    }
}

impl Activity {
    fn touch(&self) {
        let ms = self.born.elapsed().as_millis() as u64;
        self.last_ms.fetch_max(ms, Ordering::Relaxed);
    }

    /// A request started; the returned guard ends it when dropped.
    pub fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.touch();
        InFlight(self.clone())
    }

    /// How long the connection has been without a request in progress, or `None` while one
    /// is.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        Some(self.born.elapsed().saturating_sub(last))
    }
}

/// A request in progress (see [`Activity::begin`]).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request [`InFlight`] until it is sent (or dropped): a
/// long response (a download, an event stream) is not idleness.
pub struct InFlightBody {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl InFlightBody {
    pub fn new(inner: axum::body::Body, in_flight: InFlight) -> Self {
        InFlightBody {
            inner,
            _in_flight: in_flight,
        }
    }
}

impl HttpBody for InFlightBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The error a request body gives when it ran out of time.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
pub struct BodyTimedOut;

/// A request body that must arrive by a deadline: `base` after the request head, extended by
/// one second per `min_rate` bytes received. Past it the body fails, the connection's
/// [`Activity::doomed`] is notified (the connection is closed) and the timeout is counted.
pub struct DeadlineBody<B> {
    inner: B,
    sleep: Pin<Box<tokio::time::Sleep>>,
    deadline: tokio::time::Instant,
    min_rate: u64,
    activity: Arc<Activity>,
    listener: &'static str,
    expired: bool,
}

impl<B> DeadlineBody<B> {
    pub fn new(
        inner: B,
        limits: &ConnectionSection,
        activity: Arc<Activity>,
        listener: &'static str,
    ) -> Self {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(limits.body_timeout_secs);
        DeadlineBody {
            inner,
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            deadline,
            min_rate: limits.body_min_bytes_per_sec.max(1),
            activity,
            listener,
            expired: false,
        }
    }
}

impl<B> HttpBody for DeadlineBody<B>
where
    B: HttpBody<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        if this.expired {
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    let earned = Duration::from_secs_f64(data.len() as f64 / this.min_rate as f64);
                    this.deadline += earned;
                    this.sleep.as_mut().reset(this.deadline);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.expired = true;
                    crate::metrics::connection_timed_out(this.listener, "body");
                    this.activity.doomed.notify_one();
                    Poll::Ready(Some(Err(Box::new(BodyTimedOut))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        !self.expired && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The process's open-file limit after raising the soft limit to the hard limit (so that
/// the listeners' caps, not the kernel, decide who is refused). Returns the limit now in
/// force, `None` when it cannot be read (or is unlimited).
pub fn raise_file_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let now = getrlimit(Resource::Nofile);
    if now.maximum.is_some() && now.current != now.maximum {
        let raised = rustix::process::Rlimit {
            current: now.maximum,
            maximum: now.maximum,
        };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open-file limit to its hard limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// The public listener's connection cap so that both listeners, the ICE-TCP media listener
/// and [`RESERVED_FILES`] fit in `file_limit`: the admin listener's and media's budgets
/// are kept whole, the public one is lowered if need be (never below 1).
pub fn public_cap_within(
    file_limit: Option<u64>,
    public_max: usize,
    admin_max: usize,
    media_tcp_max: usize,
) -> usize {
    let Some(limit) = file_limit else {
        return public_max;
    };
    let others = admin_max as u64 + media_tcp_max as u64 + RESERVED_FILES;
    let room = limit.saturating_sub(others).max(1);
    (public_max as u64).min(room) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_total_and_release_on_drop() {
        let l = ConnLimiter::new("public", 3, 2);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let p1 = l.try_admit(a).unwrap();
        let _p2 = l.try_admit(a).unwrap();
        assert_eq!(l.try_admit(a).unwrap_err(), Refusal::PerIp);
        let _p3 = l.try_admit(b).unwrap();
        assert_eq!(l.try_admit(b).unwrap_err(), Refusal::Total);
        drop(p1);
        assert_eq!(l.open(), 2);
        let _p4 = l.try_admit(a).unwrap();
    }

    #[test]
    fn an_ipv6_client_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(IpKey::from(a), IpKey::from(b));
        assert_ne!(IpKey::from(a), IpKey::from(c));
        let m: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        let v4: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(IpKey::from(m), IpKey::from(v4));
    }

    #[test]
    fn warnings_are_rate_limited_and_count_what_they_skipped() {
        let w = WarnEvery::default();
        assert_eq!(w.due(), Some(0));
        assert_eq!(w.due(), None);
        assert_eq!(w.due(), None);
        *w.last.lock().unwrap() = Some(Instant::now() - WARN_EVERY);
        assert_eq!(w.due(), Some(2));
    }

    #[test]
    fn the_public_cap_yields_to_the_admin_listener_media_and_the_reserve() {
        assert_eq!(public_cap_within(None, 4096, 256, 256), 4096);
        assert_eq!(public_cap_within(Some(1_048_576), 4096, 256, 256), 4096);
        assert_eq!(public_cap_within(Some(1024), 4096, 256, 256), 256);
        assert_eq!(public_cap_within(Some(100), 4096, 256, 256), 1);
    }
}

/// Everything the accept loop of one listener needs to bound its connections.
#[derive(Debug, Clone)]
pub struct ListenerLimits {
    pub limiter: Arc<ConnLimiter>,
    pub conn: ConnectionSection,
    /// Rate-limited warnings for accept errors and timeouts.
    pub warn: Arc<ListenerWarnings>,
}

/// The rate-limited warning lines of one listener, one per kind.
#[derive(Debug, Default)]
pub struct ListenerWarnings {
    pub accept_error: WarnEvery,
    pub handshake_timeout: WarnEvery,
    pub body_timeout: WarnEvery,
}

impl ListenerLimits {
    /// `listener`: `public` or `admin` (log field and metric label); `max_connections` may
    /// be lower than the configured one (see [`public_cap_within`]).
    pub fn new(listener: &'static str, conn: &ConnectionSection, max_connections: usize) -> Self {
        ListenerLimits {
            limiter: ConnLimiter::new(listener, max_connections, conn.max_per_ip),
            conn: conn.clone(),
            warn: Arc::new(ListenerWarnings::default()),
        }
    }

    pub fn listener(&self) -> &'static str {
        self.limiter.listener()
    }
}
