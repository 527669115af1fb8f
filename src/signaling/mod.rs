//! The `/ws` endpoint: speaks `confer-signaling`'s protocol with one participant. A join
//! is one call into the admission service ([`Admission::join`]); offers and leaving go to
//! the [`VisitHub`]; notices from the hub go out as they come.
//!
//! The path of a message: text frame -> [`decode_client`] (size-checked before parsing)
//! -> [`ServerSession`] (is this message allowed now?) -> one call (join, offer, leave)
//! -> a reply. Any error is answered with a stable code and a sentence, and counted; the
//! fifth error on one connection closes it. Network input never panics.
//!
//! Does not: decide or audit admissions (`visit::admission` does, audit first), or read
//! certificates (the connection's chain is handed to admission as the TLS loop found it).

use crate::http::serve::PeerCertificates;
use crate::ids::Role;
use crate::visit::{Admission, EndReason, HubError, Notice, Refusal as Denied, Seat, VisitHub};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRef, State};
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use confer_signaling::{
    self as wire, decode_client, encode_server, AbuseVerdict, ErrorCode, ServerMessage,
    ServerSession, Step, VisitNotice,
};
use std::time::Duration;
use tokio::sync::mpsc;

/// What the signalling endpoint needs: the admission service and the hub.
#[derive(Clone, FromRef)]
pub struct Signalling {
    pub admission: Admission,
    pub hub: VisitHub,
}

/// Frames larger than this are dropped by the WebSocket layer itself (connection
/// closed); messages up to it but over 64 KiB get a `message_too_large` error.
const MAX_FRAME_BYTES: usize = 256 * 1024;
/// A connection must have joined a visit within this time.
const JOIN_DEADLINE: Duration = Duration::from_secs(30);

/// WebSocket read and write buffer per signalling connection.
const WS_BUFFER_BYTES: usize = 8 * 1024;

/// `GET /ws`, on the public listener.
pub fn routes(state: Signalling) -> utoipa_axum::router::OpenApiRouter {
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(ws_handler))
        .with_state(state)
}

/// The signalling WebSocket. Upgrade, then speak the protocol of `signaling/PROTOCOL.md`:
/// `hello`, `join` with a join token, `offer`; notices come as they happen.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "signalling",
    responses(
        (status = 101, description = "Switching to the WebSocket signalling protocol (JSON text frames)"),
        (status = 400, description = "Not a WebSocket upgrade request")
    )
)]
pub async fn ws_handler(
    State(state): State<Signalling>,
    certs: Option<Extension<PeerCertificates>>,
    ws: WebSocketUpgrade,
) -> Response {
    let certs = certs.map(|Extension(c)| c).unwrap_or_default();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        // Signalling messages are small: tungstenite's 128 KiB default read buffer is zero-filled
        // up front and stayed resident for every connected participant (load test: RSS per visit).
        // Larger frames are still read, in several reads.
        .read_buffer_size(WS_BUFFER_BYTES)
        .write_buffer_size(WS_BUFFER_BYTES)
        .on_upgrade(move |socket| Connection::new(state, certs, socket).run())
}

/// A refusal to send: a stable code and a sentence.
struct Refusal(ErrorCode, String);

impl Refusal {
    fn code(code: ErrorCode) -> Self {
        Refusal(code, code.default_message().to_owned())
    }
}

/// The wire carries one sentence: English, then Chinese.
impl From<Denied> for Refusal {
    fn from(d: Denied) -> Refusal {
        Refusal(d.wire(), format!("{}\n{}", d.message_en(), d.message_zh()))
    }
}

struct Connection {
    state: Signalling,
    certs: PeerCertificates,
    socket: WebSocket,
    session: ServerSession,
    seat: Option<Seat>,
    notices: Option<mpsc::UnboundedReceiver<Notice>>,
}

fn wire_role(r: Role) -> wire::Role {
    match r {
        Role::Lawyer => wire::Role::Lawyer,
        Role::Booth => wire::Role::Booth,
        Role::Assistant => wire::Role::Assistant,
        Role::Interpreter => wire::Role::Interpreter,
    }
}

fn wire_notice(n: Notice) -> VisitNotice {
    match n {
        Notice::ParticipantJoined(r) => VisitNotice::ParticipantJoined { role: wire_role(r) },
        Notice::ParticipantLeft(r) => VisitNotice::ParticipantLeft { role: wire_role(r) },
        Notice::Replaced => VisitNotice::VisitEnded {
            reason: wire::EndReason::Other,
            message: "This visit was opened again on another screen, so this screen has been disconnected.".into(),
        },
        Notice::TimeWarning(minutes_left) => VisitNotice::TimeWarning { minutes_left },
        Notice::SlotExtended(slot_ends_at) => VisitNotice::SlotExtended { slot_ends_at },
        Notice::Ended(r) => VisitNotice::VisitEnded {
            reason: match r {
                EndReason::SlotOver => wire::EndReason::SlotOver,
                EndReason::StoppedByStaff => wire::EndReason::StoppedByStaff,
                EndReason::ServerShutdown => wire::EndReason::ServerShutdown,
                EndReason::LicenceWithdrawn(_) => wire::EndReason::LicenceWithdrawn,
                EndReason::CancelledByLawyer => wire::EndReason::Cancelled,
                EndReason::DeclinedByDetainee => wire::EndReason::Declined,
            },
            message: r.message().into(),
        },
    }
}

async fn next_notice(rx: &mut Option<mpsc::UnboundedReceiver<Notice>>) -> Option<Notice> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    fn new(state: Signalling, certs: PeerCertificates, socket: WebSocket) -> Self {
        Connection {
            state,
            certs,
            socket,
            session: ServerSession::new(),
            seat: None,
            notices: None,
        }
    }

    async fn send(&mut self, msg: &ServerMessage) -> bool {
        self.socket
            .send(Message::Text(encode_server(msg).into()))
            .await
            .is_ok()
    }

    async fn run(mut self) {
        let join_deadline = tokio::time::sleep(JOIN_DEADLINE);
        tokio::pin!(join_deadline);
        loop {
            tokio::select! {
                frame = self.socket.recv() => {
                    let keep_going = match frame {
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => self.on_error(Refusal(
                            ErrorCode::MalformedMessage,
                            "Messages must be JSON text frames.".into(),
                        )).await,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
                        Some(Ok(Message::Close(_))) | Some(Err(_)) | None => false,
                    };
                    if !keep_going || self.session.is_closed() {
                        break;
                    }
                }
                notice = next_notice(&mut self.notices) => {
                    match notice {
                        Some(n) => {
                            let last = matches!(n, Notice::Ended(_) | Notice::Replaced);
                            if !self.send(&ServerMessage::from(wire_notice(n))).await || last {
                                break;
                            }
                        }
                        // The hub let this seat go (visit ended or seat replaced).
                        None => break,
                    }
                }
                _ = &mut join_deadline, if self.seat.is_none() => {
                    let _ = self.send(&ServerMessage::Error {
                        code: ErrorCode::OutOfOrder,
                        message: "No visit was joined in time; the connection is closed.".into(),
                    }).await;
                    break;
                }
            }
        }
        if let Some(seat) = self.seat.take() {
            self.state.hub.leave(&seat);
        }
        let _ = self.socket.send(Message::Close(None)).await;
    }

    /// Send an error and count it; returns whether the connection stays open.
    async fn on_error(&mut self, refusal: Refusal) -> bool {
        let closing = refusal.0 == ErrorCode::UnsupportedVersion;
        if !self
            .send(&ServerMessage::Error {
                code: refusal.0,
                message: refusal.1,
            })
            .await
        {
            return false;
        }
        if self.session.record_error() == AbuseVerdict::Close {
            let _ = self
                .send(&ServerMessage::error(ErrorCode::TooManyErrors))
                .await;
            return false;
        }
        !closing
    }

    async fn on_text(&mut self, text: &str) -> bool {
        let started = std::time::Instant::now();
        let msg = match decode_client(text) {
            Ok(m) => m,
            Err(e) => return self.on_error(Refusal(e.code(), e.reply_message())).await,
        };
        let step = match self.session.on_message(&msg) {
            Ok(step) => step,
            Err(code) => return self.on_error(Refusal::code(code)).await,
        };
        match step {
            Step::Welcome { version } => {
                let server = format!("confer/{}", env!("CARGO_PKG_VERSION"));
                self.send(&ServerMessage::Welcome(wire::Welcome { version, server }))
                    .await
            }
            Step::Pong => self.send(&ServerMessage::Pong).await,
            Step::Leave => false,
            Step::Join(token) => match self.join(token.expose()).await {
                Ok(joined) => {
                    crate::metrics::admission("admitted", "none", started.elapsed());
                    let _ = self.session.join_succeeded();
                    self.send(&ServerMessage::Joined(joined)).await
                }
                Err(refusal) => {
                    crate::metrics::admission("refused", refusal.0.as_str(), started.elapsed());
                    let _ = self.session.join_failed();
                    self.on_error(refusal).await
                }
            },
            Step::Offer(sdp) => {
                let Some(seat) = self.seat.as_mut() else {
                    let _ = self.session.offer_failed();
                    return self.on_error(Refusal::code(ErrorCode::OutOfOrder)).await;
                };
                match self.state.hub.negotiate(seat, sdp.into_inner()).await {
                    Ok(answer) => {
                        let _ = self.session.offer_answered();
                        self.send(&ServerMessage::Answer {
                            sdp: wire::Sdp::new(answer),
                        })
                        .await
                    }
                    Err(e) => {
                        let _ = self.session.offer_failed();
                        let refusal = match e {
                            HubError::Ended(EndReason::SlotOver) => {
                                Refusal::code(ErrorCode::SlotOver)
                            }
                            HubError::Ended(_)
                            | HubError::NotPresent
                            | HubError::AlreadyConnected => Refusal::code(ErrorCode::VisitEnded),
                            HubError::AlreadyNegotiated => Refusal(
                                ErrorCode::BadOffer,
                                "This connection already has media; reconnect to negotiate again."
                                    .into(),
                            ),
                            HubError::Media(m) => {
                                tracing::info!(error = %m, "offer refused by the media plane");
                                Refusal(ErrorCode::BadOffer, m.to_string())
                            }
                        };
                        self.on_error(refusal).await
                    }
                }
            }
        }
    }

    /// Join through the admission service (token, certificate, evidence, policy, audit
    /// first, seat) and keep the seat and its notices on this connection.
    async fn join(&mut self, token: &str) -> Result<wire::Joined, Refusal> {
        let joined = self
            .state
            .admission
            .join(token, &self.certs, Utc::now())
            .await?;
        let seat = joined.seat;
        let reply = wire::Joined {
            visit_id: seat.visit.0,
            role: wire_role(seat.role),
            slot_ends_at: seat.slot_end,
            participants: seat.others.iter().copied().map(wire_role).collect(),
        };
        self.seat = Some(seat);
        self.notices = Some(joined.notices);
        Ok(reply)
    }
}
