//! An async Rust client for the signalling protocol, over WSS.
//!
//! Used by integration tests, the load tester and tooling to play a lawyer or a
//! booth. It speaks the protocol in request/answer pairs ([`SignalingClient::hello`],
//! [`join`](SignalingClient::join), [`offer`](SignalingClient::offer)); notices
//! that arrive while it waits for an answer are kept, in order, for
//! [`SignalingClient::next_notice`] / [`SignalingClient::recv`].
//!
//! TLS is entirely the caller's: it passes a fully built `rustls::ClientConfig`
//! (trust roots, and for a booth its client certificate). This module never
//! asks rustls for a process-default crypto provider and never loads system or
//! bundled roots. Only `wss://` URLs are accepted.
//!
//! It does no WebRTC: `offer` takes an SDP string and returns the answer string.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

use crate::{
    decode_server, encode_client, ClientMessage, ErrorCode, Joined, ProtocolError, Roster,
    ServerMessage, VisitNotice, Welcome, MAX_MESSAGE_BYTES, PROTOCOL_VERSION,
};

/// How long `connect` and each request wait by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `client` string sent in `hello`.
pub const CLIENT_NAME: &str = concat!("confer-signaling/", env!("CARGO_PKG_VERSION"));

/// What went wrong talking to the server.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not `wss://…` (or not a URL at all).
    #[error("signalling URL must start with wss:// (got {0:?})")]
    InsecureUrl(String),
    /// TCP, TLS or the WebSocket upgrade failed, or the transport broke later.
    #[error("signalling transport failed: {0}")]
    Transport(#[source] Box<tungstenite::Error>),
    /// The server answered with an `error` message.
    #[error("the server refused ({code}): {message}")]
    Refused { code: ErrorCode, message: String },
    /// The visit is on another node of the deployment (`moved`): connect to `url` and send
    /// the same `hello` and `join` there (the token was not used).
    #[error("the visit is served by another node: reconnect to {url}")]
    Moved { url: String },
    /// The server sent a frame this client cannot read.
    #[error("the server sent an unreadable message: {0}")]
    Protocol(#[from] ProtocolError),
    /// The server sent a binary frame (the protocol is text only).
    #[error("the server sent a binary frame")]
    BinaryFrame,
    /// The server sent a valid message, but not the one expected now.
    #[error("expected {expected} from the server, got {}", got.type_name())]
    Unexpected {
        expected: &'static str,
        got: Box<ServerMessage>,
    },
    /// Nothing (suitable) arrived in time.
    #[error("no answer from the server within {0:?}")]
    Timeout(Duration),
    /// The connection is closed (by the server, or after `close`).
    #[error("the connection was closed (code {code:?}: {reason:?})")]
    Closed { code: Option<u16>, reason: String },
}

impl ClientError {
    /// The node to reconnect to, if the server said the visit is elsewhere (`moved`).
    pub fn moved_to(&self) -> Option<&str> {
        match self {
            ClientError::Moved { url } => Some(url),
            _ => None,
        }
    }

    /// The server's refusal code, if the server refused.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Refused { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn transport(err: tungstenite::Error) -> Self {
        match err {
            tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed => {
                ClientError::Closed {
                    code: None,
                    reason: String::new(),
                }
            }
            other => ClientError::Transport(Box::new(other)),
        }
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A frame to send, and where the outcome goes.
type Outgoing = (Message, oneshot::Sender<Result<(), ClientError>>);

/// One signalling connection. See the module docs.
///
/// The socket is driven by a background task that reads continuously, so WebSocket Pings
/// from the server are answered at once (as a browser does) whether or not the caller is
/// reading: the server's keepalive (R-REMOTE-2, `PROTOCOL.md` "Liveness") never takes a
/// connection whose owner is merely busy for a dead one. Dropping the client aborts the
/// task and drops the socket without a close handshake.
pub struct SignalingClient {
    outgoing: mpsc::UnboundedSender<Outgoing>,
    incoming: mpsc::UnboundedReceiver<Result<ServerMessage, ClientError>>,
    /// Messages that arrived while waiting for an answer (notices, pongs).
    pending: VecDeque<ServerMessage>,
    /// The newest `roster` the server sent (R-VERIFY-4). Rosters are state, not events:
    /// they are kept here as they arrive and never returned by `recv` or `next_notice`.
    roster: Option<Roster>,
    /// How many rosters arrived so far.
    rosters: u64,
    timeout: Duration,
    task: tokio::task::JoinHandle<()>,
    /// The device id sent in `hello` (R-REMOTE-2), if any.
    device: Option<String>,
}

impl Drop for SignalingClient {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for SignalingClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignalingClient")
            .field("pending", &self.pending.len())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

fn closed() -> ClientError {
    ClientError::Closed {
        code: None,
        reason: String::new(),
    }
}

/// The connection's task: reads every frame as it arrives (tungstenite answers Pings while
/// reading) and hands protocol messages to the client; sends what the client asks it to.
/// Ends when the connection closes or breaks, after reporting why.
async fn drive(
    mut ws: Ws,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    incoming: mpsc::UnboundedSender<Result<ServerMessage, ClientError>>,
) {
    loop {
        tokio::select! {
            frame = ws.next() => {
                let (item, last) = match frame {
                    None => (Err(closed()), true),
                    Some(Err(e)) => (Err(ClientError::transport(e)), true),
                    Some(Ok(Message::Text(text))) => {
                        (decode_server(text.as_str()).map_err(ClientError::from), false)
                    }
                    Some(Ok(Message::Binary(_))) => (Err(ClientError::BinaryFrame), false),
                    Some(Ok(Message::Close(frame))) => (
                        Err(ClientError::Closed {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        }),
                        true,
                    ),
                    Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                };
                if incoming.send(item).is_err() {
                    return;
                }
                if last {
                    // Let tungstenite send its reply to a close frame, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(2), ws.flush()).await;
                    return;
                }
            }
            out = outgoing.recv() => match out {
                Some((msg, reply)) => {
                    let _ = reply.send(ws.send(msg).await.map_err(ClientError::transport));
                }
                None => return,
            }
        }
    }
}

impl SignalingClient {
    /// Open a WSS connection to `url` (e.g. `wss://127.0.0.1:8443/ws`) with the
    /// caller's TLS configuration. Waits at most [`DEFAULT_TIMEOUT`].
    pub async fn connect(url: &str, tls: Arc<rustls::ClientConfig>) -> Result<Self, ClientError> {
        Self::connect_with_timeout(url, tls, DEFAULT_TIMEOUT).await
    }

    /// [`connect`](Self::connect), with `timeout` for the connection and for every
    /// request made later.
    pub async fn connect_with_timeout(
        url: &str,
        tls: Arc<rustls::ClientConfig>,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        if !url
            .get(..6)
            .is_some_and(|s| s.eq_ignore_ascii_case("wss://"))
        {
            return Err(ClientError::InsecureUrl(url.chars().take(64).collect()));
        }
        // Accept somewhat more than a protocol message at the WebSocket layer (and
        // let `send_raw` send oversized frames for abuse tests); the codec then
        // refuses anything above MAX_MESSAGE_BYTES with `message_too_large`.
        let config = WebSocketConfig::default()
            .max_message_size(Some(4 * MAX_MESSAGE_BYTES))
            .max_frame_size(Some(4 * MAX_MESSAGE_BYTES));
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            url,
            Some(config),
            true,
            Some(Connector::Rustls(tls)),
        );
        let (ws, _response) = tokio::time::timeout(timeout, connecting)
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
            .map_err(|e| ClientError::Transport(Box::new(e)))?;
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = mpsc::unbounded_channel();
        let task = tokio::spawn(drive(ws, out_rx, in_tx));
        Ok(Self {
            outgoing: out_tx,
            incoming: in_rx,
            pending: VecDeque::new(),
            roster: None,
            rosters: 0,
            timeout,
            task,
            device: None,
        })
    }

    /// How long each request waits for its answer.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Send `hello` with [`PROTOCOL_VERSION`]; returns the server's `welcome`.
    pub async fn hello(&mut self) -> Result<Welcome, ClientError> {
        self.hello_with_version(PROTOCOL_VERSION).await
    }

    /// Send `hello` claiming `version` (to test version refusal).
    pub async fn hello_with_version(&mut self, version: u32) -> Result<Welcome, ClientError> {
        let msg = ClientMessage::Hello {
            version,
            client: CLIENT_NAME.to_owned(),
            device: self.device.clone(),
        };
        self.request(&msg, "welcome", |m| match m {
            ServerMessage::Welcome(w) => Ok(w),
            other => Err(other),
        })
        .await
    }

    /// Send `join` with a join token; returns the server's `joined`.
    pub async fn join(&mut self, token: &str) -> Result<Joined, ClientError> {
        let msg = ClientMessage::Join {
            token: token.into(),
        };
        self.request(&msg, "joined", |m| match m {
            ServerMessage::Joined(j) => Ok(j),
            other => Err(other),
        })
        .await
    }

    /// Name this client's device in the next `hello` (R-REMOTE-2: a resume credential is
    /// bound to it).
    pub fn set_device(&mut self, device: impl Into<String>) {
        self.device = Some(device.into());
    }

    /// Send `resume` with the credential of an earlier `joined` instead of `join`
    /// (R-REMOTE-2); returns the server's `joined` (with the next credential).
    pub async fn resume(&mut self, token: &str) -> Result<Joined, ClientError> {
        let msg = ClientMessage::Resume {
            token: token.into(),
        };
        self.request(&msg, "joined", |m| match m {
            ServerMessage::Joined(j) => Ok(j),
            other => Err(other),
        })
        .await
    }

    /// Send an SDP offer; returns the SDP answer.
    pub async fn offer(&mut self, sdp: &str) -> Result<String, ClientError> {
        let msg = ClientMessage::Offer { sdp: sdp.into() };
        self.request(&msg, "answer", |m| match m {
            ServerMessage::Answer { sdp } => Ok(sdp.into_inner()),
            other => Err(other),
        })
        .await
    }

    /// Send `ping` and wait for `pong`.
    pub async fn ping(&mut self) -> Result<(), ClientError> {
        self.request(&ClientMessage::Ping, "pong", |m| match m {
            ServerMessage::Pong => Ok(()),
            other => Err(other),
        })
        .await
    }

    /// Send `leave`. The server then ends this participant's part of the visit
    /// and closes the connection; call [`close`](Self::close) or read on to see it.
    pub async fn leave(&mut self) -> Result<(), ClientError> {
        self.send(&ClientMessage::Leave).await
    }

    /// Send any message as is.
    pub async fn send(&mut self, msg: &ClientMessage) -> Result<(), ClientError> {
        self.send_raw(&encode_client(msg)).await
    }

    /// Send an arbitrary text frame (for abuse tests: garbage, oversized, out of order).
    pub async fn send_raw(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_frame(Message::text(text)).await
    }

    async fn send_frame(&mut self, frame: Message) -> Result<(), ClientError> {
        let (reply, outcome) = oneshot::channel();
        self.outgoing.send((frame, reply)).map_err(|_| closed())?;
        outcome.await.unwrap_or_else(|_| Err(closed()))
    }

    /// The next message from the server, whatever it is; waits indefinitely.
    pub async fn recv(&mut self) -> Result<ServerMessage, ClientError> {
        match self.pending.pop_front() {
            Some(msg) => Ok(msg),
            None => self.read().await,
        }
    }

    /// [`recv`](Self::recv), giving up after `timeout`.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<ServerMessage, ClientError> {
        tokio::time::timeout(timeout, self.recv())
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// The next notice, skipping `pong`s; an `error` is returned as
    /// [`ClientError::Refused`]. Waits indefinitely.
    pub async fn next_notice(&mut self) -> Result<VisitNotice, ClientError> {
        loop {
            match self.recv().await? {
                ServerMessage::Notice { notice } => return Ok(notice),
                // Key relay of end-to-end encrypting participants (R-PRIV-1): not a notice.
                ServerMessage::Pong
                | ServerMessage::E2eeKey { .. }
                | ServerMessage::E2eeMediaKey { .. } => continue,
                ServerMessage::Error { code, message } => {
                    return Err(ClientError::Refused { code, message })
                }
                other => {
                    return Err(ClientError::Unexpected {
                        expected: "notice",
                        got: Box::new(other),
                    })
                }
            }
        }
    }

    /// [`next_notice`](Self::next_notice), giving up after `timeout`.
    pub async fn next_notice_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<VisitNotice, ClientError> {
        tokio::time::timeout(timeout, self.next_notice())
            .await
            .map_err(|_| ClientError::Timeout(timeout))?
    }

    /// Close the connection (WebSocket close handshake, bounded by the timeout).
    pub async fn close(mut self) -> Result<(), ClientError> {
        let deadline = Instant::now() + self.timeout;
        let sent = tokio::time::timeout_at(deadline, self.send_frame(Message::Close(None)))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?;
        match sent {
            Ok(()) => {}
            Err(ClientError::Closed { .. }) => return Ok(()),
            Err(e) => return Err(e),
        }
        // Read until the server's close frame (or the end of the stream).
        loop {
            match tokio::time::timeout_at(deadline, self.incoming.recv()).await {
                Err(_) => return Err(ClientError::Timeout(self.timeout)),
                Ok(None)
                | Ok(Some(Err(ClientError::Closed { .. } | ClientError::Transport(_)))) => {
                    return Ok(())
                }
                Ok(Some(_)) => continue,
            }
        }
    }

    /// Send `msg` and wait for the answer `accept` recognises. Notices and pongs
    /// that arrive meanwhile are queued; an `error` becomes `Refused`.
    async fn request<T>(
        &mut self,
        msg: &ClientMessage,
        expected: &'static str,
        accept: impl Fn(ServerMessage) -> Result<T, ServerMessage>,
    ) -> Result<T, ClientError> {
        self.send(msg).await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let reply = tokio::time::timeout_at(deadline, self.read())
                .await
                .map_err(|_| ClientError::Timeout(self.timeout))??;
            match reply {
                ServerMessage::Error { code, message } => {
                    return Err(ClientError::Refused { code, message })
                }
                ServerMessage::Moved { url } => return Err(ClientError::Moved { url }),
                reply => match accept(reply) {
                    Ok(answer) => return Ok(answer),
                    Err(
                        m @ (ServerMessage::Notice { .. }
                        | ServerMessage::Pong
                        | ServerMessage::E2eeKey { .. }
                        | ServerMessage::E2eeMediaKey { .. }),
                    ) => self.pending.push_back(m),
                    Err(other) => {
                        return Err(ClientError::Unexpected {
                            expected,
                            got: Box::new(other),
                        })
                    }
                },
            }
        }
    }

    /// The newest roster the server sent, if any (R-VERIFY-4).
    pub fn roster(&self) -> Option<&Roster> {
        self.roster.as_ref()
    }

    /// How many rosters the server sent on this connection so far (each replaced the one
    /// before as [`roster`](Self::roster)).
    pub fn rosters_received(&self) -> u64 {
        self.rosters
    }

    /// Read on (queueing notices for [`next_notice`](Self::next_notice)) until a roster
    /// for which `accept` holds has arrived, or `timeout` passes; returns that roster.
    pub async fn wait_roster(
        &mut self,
        timeout: Duration,
        accept: impl Fn(&Roster) -> bool,
    ) -> Result<Roster, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.roster.as_ref().filter(|r| accept(r)) {
                return Ok(r.clone());
            }
            let msg = tokio::time::timeout_at(deadline, self.incoming.recv())
                .await
                .map_err(|_| ClientError::Timeout(timeout))?
                .unwrap_or_else(|| Err(closed()))?;
            match msg {
                ServerMessage::Roster(r) => {
                    self.rosters += 1;
                    self.roster = Some(r);
                }
                other => self.pending.push_back(other),
            }
        }
    }

    /// The next protocol message the connection's task read (control frames are handled
    /// there); a roster is kept as [`roster`](Self::roster) and reading goes on.
    /// Cancel-safe: used under timeouts.
    async fn read(&mut self) -> Result<ServerMessage, ClientError> {
        loop {
            match self
                .incoming
                .recv()
                .await
                .unwrap_or_else(|| Err(closed()))?
            {
                ServerMessage::Roster(r) => {
                    self.rosters += 1;
                    self.roster = Some(r);
                }
                other => return Ok(other),
            }
        }
    }
}

#[cfg(test)]
mod tests;
