//! ICE-TCP for media (R-REMOTE-2): the one TCP listener behind the SFU's passive TCP host
//! candidates (RFC 6544), with RFC 4571 framing (each packet behind a 2-byte big-endian
//! length).
//!
//! **Owns** the listener, one small task per accepted connection (on the media thread's own
//! runtime), the framing in both directions, and the limits that keep a hostile or slow
//! client from hurting anyone else:
//!
//! - at most `max_connections` open connections (further ones are accepted and closed at
//!   once), so one client cannot exhaust file descriptors;
//! - a frame longer than [`MAX_FRAME`] (or empty) closes that connection only;
//! - the first frame must be a STUN binding request and arrive within [`FIRST_STUN`], and a
//!   connection with no frame for [`IDLE`] is closed (ICE consent checks come every few
//!   seconds, so a live leg is never idle that long);
//! - reads go through a fixed-size buffer and the reader waits (TCP back-pressure) when the
//!   driver is busy, so a connection can only slow itself down;
//! - each connection's outgoing queue is bounded ([`SEND_QUEUE`] frames); the driver never
//!   waits for it: when it is full the connection is dropped, as a congested UDP path would
//!   drop datagrams, and the client's ICE reconnects.
//!
//! Frames go to the driver ([`TcpInput::Frame`]) as received packets with source = the
//! remote address and destination = the passive candidate's advertised address; the driver
//! feeds them to str0m with `Protocol::Tcp`, and closes a connection whose frames no peer
//! accepts. str0m's `Transmit`s with `proto` TCP go back to the connection of their
//! destination (`MediaSockets::send_tcp`): a connection carries only the packets of the peer
//! whose ICE checks arrived on it (docs/DESIGN.md invariant 2).
//!
//! **Does not**: speak STUN/ICE/DTLS itself (str0m does), open outgoing connections (only
//! passive candidates), do TLS or TURN, or read or write files (docs/DESIGN.md invariant 2).

use crate::redact::Redacted;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::{mpsc, oneshot};

/// Largest frame accepted or sent: the largest datagram the UDP path reads (WebRTC keeps
/// packets under the path MTU, also over TCP).
pub(crate) const MAX_FRAME: usize = super::mmsg::RECV_BUF;

/// A new connection must send a STUN binding request this soon.
pub(crate) const FIRST_STUN: Duration = Duration::from_secs(5);

/// A connection with no frame for this long is closed.
pub(crate) const IDLE: Duration = Duration::from_secs(30);

/// Frames queued towards one connection at most (about 0.5 MiB of media).
pub(crate) const SEND_QUEUE: usize = 384;

/// Frames from every connection waiting for the driver.
const INPUT_QUEUE: usize = 1024;

/// Pause after a failed `accept` (e.g. out of file descriptors), so it does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the TCP side hands to the driver.
pub(crate) enum TcpInput {
    /// A connection was accepted; always before its first frame.
    Opened {
        conn: u64,
        remote: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
        close: oneshot::Sender<()>,
    },
    /// One de-framed packet.
    Frame {
        conn: u64,
        source: SocketAddr,
        destination: SocketAddr,
        data: Vec<u8>,
    },
    /// The connection ended on its own (peer closed, timeout, bad frame).
    Closed { conn: u64, remote: SocketAddr },
}

/// The driver's side of one connection: its outgoing queue and its close switch (dropping
/// the entry closes the connection).
struct Conn {
    id: u64,
    writer: mpsc::Sender<Vec<u8>>,
    _close: oneshot::Sender<()>,
}

/// The listener and the open connections, as the driver sees them.
pub(crate) struct TcpMedia {
    local: SocketAddr,
    candidates: Vec<SocketAddr>,
    rx: mpsc::Receiver<TcpInput>,
    conns: std::cell::RefCell<HashMap<SocketAddr, Conn>>,
    accept: tokio::task::AbortHandle,
}

impl Drop for TcpMedia {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// A STUN binding request (RFC 5389: type 0x0001, magic cookie): what ICE sends first.
pub(crate) fn is_stun_binding_request(data: &[u8]) -> bool {
    data.len() >= 20 && data[0..2] == [0x00, 0x01] && data[4..8] == [0x21, 0x12, 0xa4, 0x42]
}

/// Prefix `data` with its RFC 4571 length; `None` when it does not fit in one frame.
pub(crate) fn frame(data: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(data.len()).ok()?;
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Some(out)
}

/// Read one RFC 4571 frame (however the bytes are split across reads).
async fn read_frame<R: AsyncRead + Unpin>(rd: &mut R) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    rd.read_exact(&mut len).await?;
    let len = usize::from(u16::from_be_bytes(len));
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame length {len} outside 1..={MAX_FRAME}"),
        ));
    }
    let mut data = vec![0u8; len];
    rd.read_exact(&mut data).await?;
    Ok(data)
}

impl TcpMedia {
    /// Bind the listener and start accepting. `advertised` are the addresses offered as
    /// passive candidates (with the bound port).
    pub(crate) async fn bind(
        bind: SocketAddr,
        advertised: &[std::net::IpAddr],
        max_connections: usize,
    ) -> io::Result<TcpMedia> {
        // The one and only media TCP bind call site (checked by `tests::media_does_no_file_io`).
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let local = listener.local_addr()?;
        let candidates: Vec<SocketAddr> = advertised
            .iter()
            .map(|ip| SocketAddr::new(*ip, local.port()))
            .collect();
        tracing::info!(local = %Redacted(local), "media TCP listener bound");
        let (tx, rx) = mpsc::channel(INPUT_QUEUE);
        let accept = tokio::spawn(accept_loop(
            listener,
            candidates.clone(),
            max_connections.max(1),
            tx,
        ))
        .abort_handle();
        Ok(TcpMedia {
            local,
            candidates,
            rx,
            conns: Default::default(),
            accept,
        })
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The passive candidates to advertise (advertised IP, listener port).
    pub(crate) fn candidates(&self) -> &[SocketAddr] {
        &self.candidates
    }

    /// Wait for the next input from any connection.
    pub(crate) fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<TcpInput> {
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(input)) => Poll::Ready(input),
            // The accept task holds a sender for as long as it runs.
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }

    /// An input already waiting, without waiting.
    pub(crate) fn try_input(&mut self) -> Option<TcpInput> {
        self.rx.try_recv().ok()
    }

    /// Record a new connection (replacing, and so closing, an older one from the same
    /// remote address).
    pub(crate) fn opened(
        &self,
        conn: u64,
        remote: SocketAddr,
        writer: mpsc::Sender<Vec<u8>>,
        close: oneshot::Sender<()>,
    ) {
        self.conns.borrow_mut().insert(
            remote,
            Conn {
                id: conn,
                writer,
                _close: close,
            },
        );
    }

    /// Forget (and so close) connection `conn` from `remote`, if it is still the current one.
    pub(crate) fn close(&self, conn: u64, remote: SocketAddr) {
        let mut conns = self.conns.borrow_mut();
        if conns.get(&remote).is_some_and(|c| c.id == conn) {
            conns.remove(&remote);
        }
    }

    /// Queue one packet, framed, towards the connection from `destination`. Never waits: a
    /// packet for no connection is dropped; a connection whose queue is full is closed.
    pub(crate) fn send(&self, destination: SocketAddr, contents: &[u8]) {
        let mut conns = self.conns.borrow_mut();
        let Some(conn) = conns.get(&destination) else {
            tracing::trace!("media TCP packet for no connection dropped");
            return;
        };
        let Some(framed) = frame(contents) else {
            tracing::trace!("media TCP packet too large for a frame dropped");
            return;
        };
        match conn.writer.try_send(framed) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(remote = %Redacted(destination), "media TCP connection cannot keep up; closing it");
                conns.remove(&destination);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                conns.remove(&destination);
            }
        }
    }
}

/// Counts open connections; the count drops when the connection's task ends or is dropped.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    candidates: Vec<SocketAddr>,
    max_connections: usize,
    tx: mpsc::Sender<TcpInput>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut next_id = 0u64;
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::debug!(error = %e, "media TCP accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= max_connections {
            tracing::info!(
                max_connections,
                "media TCP connection refused: too many open"
            );
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let guard = OpenGuard(open.clone());
        let _ = stream.set_nodelay(true);
        // The address the client connected to, as advertised (NAT 1:1: the listener's local
        // address is not the advertised one; the first of the same family stands for it).
        let local = stream.local_addr().ok();
        let destination = candidates
            .iter()
            .find(|c| Some(**c) == local)
            .or_else(|| candidates.iter().find(|c| c.is_ipv4() == remote.is_ipv4()))
            .copied()
            .or(local);
        let Some(destination) = destination else {
            continue;
        };
        next_id += 1;
        let conn = next_id;
        let (writer, queue) = mpsc::channel(SEND_QUEUE);
        let (close, closed) = oneshot::channel();
        // Opened goes first, so the driver knows the connection before any of its frames.
        let opened = TcpInput::Opened {
            conn,
            remote,
            writer,
            close,
        };
        if tx.send(opened).await.is_err() {
            return;
        }
        let tx = tx.clone();
        tokio::spawn(async move {
            let _guard = guard;
            let (rd, wr) = stream.into_split();
            let why = tokio::select! {
                e = read_loop(rd, conn, remote, destination, &tx) => e,
                e = write_loop(wr, queue) => e,
                _ = closed => "closed by the driver".into(),
            };
            tracing::debug!(remote = %Redacted(remote), reason = %why, "media TCP connection closed");
            let _ = tx.send(TcpInput::Closed { conn, remote }).await;
        });
    }
}

/// Read frames until the connection ends or breaks a rule; returns why it ended.
pub(super) async fn read_loop<R: AsyncRead + Unpin>(
    rd: R,
    conn: u64,
    source: SocketAddr,
    destination: SocketAddr,
    tx: &mpsc::Sender<TcpInput>,
) -> String {
    // Bounded: one fixed buffer per connection; a frame is at most MAX_FRAME bytes.
    let mut rd = BufReader::with_capacity(4 * 1024, rd);
    let mut first = true;
    loop {
        let limit = if first { FIRST_STUN } else { IDLE };
        let data = match tokio::time::timeout(limit, read_frame(&mut rd)).await {
            Err(_) if first => return "no STUN binding request in time".into(),
            Err(_) => return "idle".into(),
            Ok(Err(e)) => return e.to_string(),
            Ok(Ok(data)) => data,
        };
        if first && !is_stun_binding_request(&data) {
            return "the first frame is not a STUN binding request".into();
        }
        first = false;
        let frame = TcpInput::Frame {
            conn,
            source,
            destination,
            data,
        };
        if tx.send(frame).await.is_err() {
            return "the driver stopped".into();
        }
    }
}

/// Write queued (already framed) packets; flush whenever the queue is momentarily empty.
async fn write_loop<W: AsyncWrite + Unpin>(wr: W, mut queue: mpsc::Receiver<Vec<u8>>) -> String {
    let mut wr = BufWriter::with_capacity(16 * 1024, wr);
    while let Some(framed) = queue.recv().await {
        if let Err(e) = wr.write_all(&framed).await {
            return e.to_string();
        }
        if queue.is_empty() {
            if let Err(e) = wr.flush().await {
                return e.to_string();
            }
        }
    }
    "the driver dropped the connection".into()
}
