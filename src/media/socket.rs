//! The media UDP socket(s): the only place in confer that binds a socket for media.
//!
//! Owns the OS-facing rules, so the driver and the str0m instances never see them:
//!
//! - str0m (ICE) drops a STUN request whose *destination* is not one of its local host
//!   candidates. A socket bound to `0.0.0.0` does not say which address a datagram was sent
//!   to, so when several addresses are advertised we bind **one socket per advertised
//!   address**, all on the same port (port 0: the first bind picks the port, the others reuse
//!   it), and report each socket's advertised address as the destination.
//! - Behind a 1:1 NAT the advertised (public) address is not local and cannot be bound: then
//!   one socket is bound to the configured address and exactly one advertised address is
//!   allowed, which is reported as the destination of everything that socket receives.
//!   Several NAT-mapped addresses on one socket would need `IP_PKTINFO`, which we do not do
//!   (yet); such a configuration is refused at start rather than failing ICE at run time.
//! - A NAT or port forward may also map another external port onto the bound one
//!   (`[media] public_port`): then that port is advertised, with one address, on one socket.
//!
//! Peers are never filtered by source address (browsers on loopback arrive from a LAN
//! address). Sending never waits: a datagram that does not fit in the socket buffer is
//! dropped (and logged at trace level), as the network would drop it.
//!
//! Datagrams move in batches (`mmsg`): one `recvmmsg` reads what is waiting, and sends are
//! queued and go out in one `sendmmsg` per batch; the driver flushes before every wait.
//!
//! The ICE-TCP listener (R-REMOTE-2, `tcp`) hangs off this type too, so that the peers send
//! through one object whatever the transport of their selected pair.
//!
//! docs/DESIGN.md invariant 2 / R-PRIV-1: no other socket, no file I/O.

use super::mmsg::{self, RecvBatch};
use super::tcp::{TcpInput, TcpMedia};
use crate::redact::Redacted;
use std::cell::RefCell;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// One bound socket and the candidate address that datagrams arriving on it were sent to.
struct Bound {
    socket: UdpSocket,
    advertised: SocketAddr,
}

/// The bound media socket(s).
pub(crate) struct MediaSockets {
    bound: Vec<Bound>,
    /// Rotates which socket is polled first, so one busy socket cannot starve another.
    next_poll: usize,
    /// In-process benchmark only (`bench_support`): no socket, sent datagrams go here.
    capture: Option<std::cell::RefCell<Capture>>,
    /// Datagrams waiting for the next `sendmmsg` (see [`Self::send`]).
    out: RefCell<Vec<Outbound>>,
    /// Buffers of datagrams already sent, for the next ones to be written into
    /// ([`Self::buffer`]): a forwarded packet then costs no allocation, no free and no
    /// zeroing of a fresh block on the media thread.
    spare: RefCell<Vec<Vec<u8>>>,
    /// The ICE-TCP listener and its connections (R-REMOTE-2), when enabled.
    tcp: Option<TcpMedia>,
}

/// One queued datagram: the index of the socket it leaves from, where it goes, its bytes.
struct Outbound {
    socket: usize,
    destination: SocketAddr,
    contents: Vec<u8>,
}

/// Datagrams "sent" without a socket (the forwarding benchmark). Never used by `start`.
#[derive(Debug, Default)]
pub(crate) struct Capture {
    /// Keep copies of what is sent (the handshake needs them); else only count.
    pub keep: bool,
    pub kept: Vec<(SocketAddr, SocketAddr, Vec<u8>)>,
    pub datagrams: u64,
    pub bytes: u64,
    candidate: Option<SocketAddr>,
}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg.to_string())
}

/// Kernel buffer asked for on every media socket. The default (~208 KiB) holds only a
/// few milliseconds of traffic at a few dozen visits; anything the driver cannot read
/// during a short scheduling pause is then dropped by the kernel (the load test's profile).
pub(crate) const SOCKET_BUFFER_BYTES: usize = 4 << 20;

async fn bind_one(addr: SocketAddr) -> io::Result<UdpSocket> {
    // The one and only media bind call site (checked by `tests::media_does_no_file_io`).
    let socket = UdpSocket::bind(addr).await?;
    let sock = socket2::SockRef::from(&socket);
    // Best effort: the kernel caps the sizes at net.core.{r,w}mem_max.
    if let Err(e) = sock.set_recv_buffer_size(SOCKET_BUFFER_BYTES) {
        tracing::warn!(error = %e, "media: cannot enlarge the socket receive buffer");
    }
    if let Err(e) = sock.set_send_buffer_size(SOCKET_BUFFER_BYTES) {
        tracing::warn!(error = %e, "media: cannot enlarge the socket send buffer");
    }
    if addr.is_ipv4() {
        if let Err(e) = mmsg::set_df_without_pmtu(socket.as_raw_fd()) {
            tracing::warn!(error = %e, "media: cannot set IP_PMTUDISC_PROBE");
        }
    }
    Ok(socket)
}

impl MediaSockets {
    /// Bind according to the rules in the module docs.
    /// `public_port`: advertise this port rather than the bound one (a port-mapping NAT).
    pub(crate) async fn bind(
        bind: SocketAddr,
        public_ips: &[IpAddr],
        public_port: Option<u16>,
    ) -> io::Result<MediaSockets> {
        let mut advertised: Vec<IpAddr> = Vec::new();
        for ip in public_ips {
            if !advertised.contains(ip) {
                advertised.push(*ip);
            }
        }
        if advertised.is_empty() {
            if bind.ip().is_unspecified() {
                return Err(invalid(
                    "media: no address to advertise (set public_ips or bind a specific address)",
                ));
            }
            advertised.push(bind.ip());
        }

        if bind.ip().is_unspecified() && public_port.is_none() {
            if let Some(bound) = Self::bind_each(bind.port(), &advertised).await? {
                return Ok(MediaSockets {
                    bound,
                    next_poll: 0,
                    capture: None,
                    out: RefCell::default(),
                    spare: RefCell::default(),
                    tcp: None,
                });
            }
        }

        // One socket on the configured address.
        if advertised.len() != 1 {
            return Err(invalid(
                "media: several advertised addresses need one locally bindable address each \
                 (bind 0.0.0.0 / [::] with local public_ips); NAT-mapped addresses: advertise one",
            ));
        }
        let socket = bind_one(bind).await?;
        let port = public_port.unwrap_or(socket.local_addr()?.port());
        let advertised = SocketAddr::new(advertised[0], port);
        tracing::info!(local = %Redacted(socket.local_addr()?), advertised = %Redacted(advertised), "media socket bound");
        Ok(MediaSockets {
            bound: vec![Bound { socket, advertised }],
            next_poll: 0,
            capture: None,
            out: RefCell::default(),
            spare: RefCell::default(),
            tcp: None,
        })
    }

    /// No socket at all: `advertised` is the one candidate, sent datagrams are captured (the
    /// in-process forwarding benchmark, `bench_support`).
    pub(crate) fn capture(advertised: SocketAddr) -> MediaSockets {
        MediaSockets {
            bound: Vec::new(),
            next_poll: 0,
            capture: Some(std::cell::RefCell::new(Capture {
                candidate: Some(advertised),
                ..Capture::default()
            })),
            out: RefCell::default(),
            spare: RefCell::default(),
            tcp: None,
        }
    }

    /// The capture of a socket-less instance (see [`Self::capture`]).
    pub(crate) fn captured(&self) -> Option<std::cell::RefMut<'_, Capture>> {
        self.capture.as_ref().map(|c| c.borrow_mut())
    }

    /// Bind one socket per advertised address on one port. `Ok(None)` when some address is not
    /// local (NAT 1:1), so the caller falls back to the single configured socket.
    async fn bind_each(port: u16, ips: &[IpAddr]) -> io::Result<Option<Vec<Bound>>> {
        let mut port = port;
        let mut bound = Vec::with_capacity(ips.len());
        for ip in ips {
            match bind_one(SocketAddr::new(*ip, port)).await {
                Ok(socket) => {
                    let local = socket.local_addr()?;
                    port = local.port();
                    tracing::info!(advertised = %Redacted(local), "media socket bound");
                    bound.push(Bound {
                        socket,
                        advertised: local,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => {
                    tracing::info!(
                        advertised = %Redacted(ip),
                        "advertised address is not local (NAT 1:1?): using one socket on the bind address"
                    );
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Some(bound))
    }

    /// Add the ICE-TCP listener (R-REMOTE-2), advertised on the same addresses as UDP.
    pub(crate) async fn bind_tcp(
        &mut self,
        bind: SocketAddr,
        max_connections: usize,
    ) -> io::Result<()> {
        let mut ips: Vec<IpAddr> = Vec::new();
        for c in self.candidates() {
            if !ips.contains(&c.ip()) {
                ips.push(c.ip());
            }
        }
        self.tcp = Some(TcpMedia::bind(bind, &ips, max_connections).await?);
        Ok(())
    }

    /// The address the TCP listener is bound to, if there is one.
    pub(crate) fn local_tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().map(TcpMedia::local_addr)
    }

    /// The passive TCP host candidates to advertise (none without the listener).
    pub(crate) fn tcp_candidates(&self) -> Vec<SocketAddr> {
        self.tcp
            .as_ref()
            .map(|t| t.candidates().to_vec())
            .unwrap_or_default()
    }

    /// Wait for the next input from the TCP side (never ready without the listener).
    pub(crate) fn poll_tcp(&mut self, cx: &mut Context<'_>) -> Poll<TcpInput> {
        match &mut self.tcp {
            Some(t) => t.poll_input(cx),
            None => Poll::Pending,
        }
    }

    /// A TCP input already waiting, without waiting.
    pub(crate) fn try_tcp(&mut self) -> Option<TcpInput> {
        self.tcp.as_mut().and_then(TcpMedia::try_input)
    }

    /// The TCP connections, for the driver's bookkeeping.
    pub(crate) fn tcp(&self) -> Option<&TcpMedia> {
        self.tcp.as_ref()
    }

    /// Send one packet over the TCP connection from `destination` (framed, never waiting).
    pub(crate) fn send_tcp(&self, destination: SocketAddr, contents: &[u8]) {
        if let Some(c) = &self.capture {
            let mut c = c.borrow_mut();
            c.datagrams += 1;
            c.bytes += contents.len() as u64;
            return;
        }
        if let Some(t) = &self.tcp {
            t.send(destination, contents);
        }
    }

    /// The addresses the sockets are bound to.
    pub(crate) fn local_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        self.bound.iter().map(|b| b.socket.local_addr()).collect()
    }

    /// The host candidates to advertise (advertised IP, bound port).
    pub(crate) fn candidates(&self) -> Vec<SocketAddr> {
        if let Some(c) = &self.capture {
            return c.borrow().candidate.into_iter().collect();
        }
        self.bound.iter().map(|b| b.advertised).collect()
    }

    /// Wait until some socket has datagrams and read a batch of them (one `recvmmsg`).
    /// Returns the candidate address the batch was sent to.
    pub(crate) fn poll_recv_batch(
        &mut self,
        cx: &mut Context<'_>,
        batch: &mut RecvBatch,
    ) -> Poll<io::Result<SocketAddr>> {
        let n = self.bound.len();
        for i in 0..n {
            let idx = (self.next_poll + i) % n;
            let b = &self.bound[idx];
            loop {
                match b.socket.poll_recv_ready(cx) {
                    Poll::Pending => break,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {}
                }
                let fd = b.socket.as_raw_fd();
                let mut drained = false;
                // A batch that is not full means the socket's queue was empty when the call
                // returned: tell tokio so (as WouldBlock) and it clears the readiness now,
                // instead of one more `recvmmsg` at the next turn finding nothing (one system
                // call per wake-up saved). A datagram arriving after that raises a new event.
                let result = b.socket.try_io(Interest::READABLE, || {
                    let got = mmsg::recv_batch(fd, batch)?;
                    if got < mmsg::BATCH {
                        drained = true;
                        return Err(io::ErrorKind::WouldBlock.into());
                    }
                    Ok(got)
                });
                match result {
                    Ok(_) => {
                        self.next_poll = (idx + 1) % n;
                        return Poll::Ready(Ok(b.advertised));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock && drained => {
                        self.next_poll = (idx + 1) % n;
                        return Poll::Ready(Ok(b.advertised));
                    }
                    // Readiness was stale and is now cleared: poll again to register.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    // ICMP-induced errors (e.g. port unreachable from a departed peer) are
                    // not fatal for a UDP server socket: report so the caller logs and goes on.
                    Err(e) => {
                        self.next_poll = (idx + 1) % n;
                        return Poll::Ready(Err(e));
                    }
                }
            }
        }
        Poll::Pending
    }

    /// A batch of datagrams already waiting on some socket, without waiting; `None` when
    /// every socket would block (or reported an error, which the next poll surfaces).
    pub(crate) fn try_recv_batch(&mut self, batch: &mut RecvBatch) -> Option<SocketAddr> {
        let n = self.bound.len();
        for i in 0..n {
            let idx = (self.next_poll + i) % n;
            let b = &self.bound[idx];
            let fd = b.socket.as_raw_fd();
            if b.socket
                .try_io(Interest::READABLE, || mmsg::recv_batch(fd, batch))
                .is_ok()
            {
                self.next_poll = (idx + 1) % n;
                return Some(b.advertised);
            }
        }
        None
    }

    /// Queue one datagram for the socket whose candidate is `source`. Never waits: the queue
    /// goes to the kernel in one `sendmmsg` when it holds [`mmsg::BATCH`] datagrams or when
    /// the driver calls [`Self::flush`] (before every wait). A datagram that does not fit in
    /// the socket buffer is dropped (logged at trace level), as the network would drop it.
    pub(crate) fn send(&self, source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) {
        if let Some(c) = &self.capture {
            let mut c = c.borrow_mut();
            c.datagrams += 1;
            c.bytes += contents.len() as u64;
            if c.keep {
                c.kept.push((source, destination, contents));
            }
            return;
        }
        let Some(socket) = self
            .bound
            .iter()
            .position(|b| b.advertised == source)
            .or_else(|| {
                self.bound
                    .iter()
                    .position(|b| b.advertised.is_ipv4() == destination.is_ipv4())
            })
        else {
            tracing::trace!("media datagram dropped: no socket for its address family");
            return;
        };
        let full = {
            let mut out = self.out.borrow_mut();
            out.push(Outbound {
                socket,
                destination,
                contents,
            });
            out.len() >= mmsg::BATCH
        };
        if full {
            self.flush();
        }
    }

    /// Hand every queued datagram to the kernel (runs of one socket per `sendmmsg`).
    pub(crate) fn flush(&self) {
        let mut out = self.out.borrow_mut();
        let mut start = 0;
        while let Some(first) = out.get(start) {
            let socket = first.socket;
            let end = out[start..]
                .iter()
                .position(|o| o.socket != socket)
                .map_or(out.len(), |p| start + p);
            if let Some(b) = self.bound.get(socket) {
                let run = out[start..end]
                    .iter()
                    .map(|o| (o.destination, o.contents.as_slice()));
                let dropped = mmsg::send_batch(b.socket.as_raw_fd(), run);
                if dropped > 0 {
                    tracing::trace!(dropped, "media datagrams dropped on send");
                }
            }
            start = end;
        }
        let mut spare = self.spare.borrow_mut();
        for o in out.drain(..) {
            if spare.len() < SPARE_BUFFERS {
                spare.push(o.contents);
            }
        }
    }

    /// A buffer of `len` bytes to write a datagram into and hand to [`Self::send`]: one of
    /// the buffers already sent when there is one (its old bytes are not cleared, only what
    /// it lacks is added as zeros), else a new one.
    pub(crate) fn buffer(&self, len: usize) -> Vec<u8> {
        let mut b = self.spare.borrow_mut().pop().unwrap_or_default();
        b.resize(len, 0);
        b
    }

    /// How many sent buffers are kept for reuse.
    #[cfg(test)]
    pub(crate) fn spare_buffers(&self) -> usize {
        self.spare.borrow().len()
    }

    /// The bound sockets' descriptors, in candidate order.
    #[cfg(test)]
    pub(crate) fn raw_fds(&self) -> Vec<std::os::fd::RawFd> {
        self.bound.iter().map(|b| b.socket.as_raw_fd()).collect()
    }
}

/// Sent datagrams' buffers kept for reuse: one batch's worth, what the media thread writes
/// between two flushes.
pub(crate) const SPARE_BUFFERS: usize = mmsg::BATCH;
