//! The `/ws` endpoint: speaks `confer-signaling`'s protocol with one participant and
//! turns its requests into calls on the [`VisitHub`](crate::visit::VisitHub).
//!
//! The path of a message: text frame -> [`decode_client`] (size-checked before parsing)
//! -> [`ServerSession`] (is this message allowed now?) -> the action (join, offer,
//! leave) -> a reply. Any error is answered with a stable code and a sentence, and
//! counted; the fifth error on one connection closes it. Network input never panics.
//!
//! Who a participant is comes from the join token (issued by the REST API to an
//! authenticated lawyer session or booth certificate) and, for booths, again from the
//! connection's own client certificate: a booth token on a connection without the
//! matching certificate is refused.

use crate::app::AppState;
use crate::auth::JoinTokenError;
use crate::http::serve::PeerCertificates;
use crate::ids::{ParticipantId, Role};
use crate::policy::{self, Deny, Principal};
use crate::visit::{EndReason, HubError, Notice, Seat};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use confer_signaling::{
    self as wire, decode_client, encode_server, AbuseVerdict, ErrorCode, ServerMessage, ServerSession, Step,
    VisitNotice,
};
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames larger than this are dropped by the WebSocket layer itself (connection
/// closed); messages up to it but over 64 KiB get a `message_too_large` error.
const MAX_FRAME_BYTES: usize = 256 * 1024;
/// A connection must have joined a visit within this time.
const JOIN_DEADLINE: Duration = Duration::from_secs(30);

pub async fn ws_handler(
    State(state): State<AppState>,
    certs: Option<Extension<PeerCertificates>>,
    ws: WebSocketUpgrade,
) -> Response {
    let certs = certs.map(|Extension(c)| c).unwrap_or_default();
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| Connection::new(state, certs, socket).run())
}

/// A refusal to send: a stable code and a sentence.
struct Refusal(ErrorCode, String);

impl Refusal {
    fn code(code: ErrorCode) -> Self {
        Refusal(code, code.default_message().to_owned())
    }
}

struct Connection {
    state: AppState,
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
        Notice::Ended(r) => VisitNotice::VisitEnded {
            reason: match r {
                EndReason::SlotOver => wire::EndReason::SlotOver,
                EndReason::StoppedByStaff => wire::EndReason::StoppedByStaff,
                EndReason::ServerShutdown => wire::EndReason::ServerShutdown,
            },
            message: r.message().into(),
        },
    }
}

fn deny_code(d: Deny) -> ErrorCode {
    match d {
        Deny::NotAParticipant => ErrorCode::NotAParticipant,
        Deny::TooEarly => ErrorCode::TooEarly,
        Deny::SlotOver => ErrorCode::SlotOver,
        Deny::VisitEnded => ErrorCode::VisitEnded,
    }
}

async fn next_notice(rx: &mut Option<mpsc::UnboundedReceiver<Notice>>) -> Option<Notice> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    fn new(state: AppState, certs: PeerCertificates, socket: WebSocket) -> Self {
        Connection { state, certs, socket, session: ServerSession::new(), seat: None, notices: None }
    }

    async fn send(&mut self, msg: &ServerMessage) -> bool {
        self.socket.send(Message::Text(encode_server(msg).into())).await.is_ok()
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
        if !self.send(&ServerMessage::Error { code: refusal.0, message: refusal.1 }).await {
            return false;
        }
        if self.session.record_error() == AbuseVerdict::Close {
            let _ = self.send(&ServerMessage::error(ErrorCode::TooManyErrors)).await;
            return false;
        }
        !closing
    }

    async fn on_text(&mut self, text: &str) -> bool {
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
                self.send(&ServerMessage::Welcome(wire::Welcome { version, server })).await
            }
            Step::Pong => self.send(&ServerMessage::Pong).await,
            Step::Leave => false,
            Step::Join(token) => match self.join(token.expose()).await {
                Ok(joined) => {
                    let _ = self.session.join_succeeded();
                    self.send(&ServerMessage::Joined(joined)).await
                }
                Err(refusal) => {
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
                        self.send(&ServerMessage::Answer { sdp: wire::Sdp::new(answer) }).await
                    }
                    Err(e) => {
                        let _ = self.session.offer_failed();
                        let refusal = match e {
                            HubError::Ended(EndReason::SlotOver) => Refusal::code(ErrorCode::SlotOver),
                            HubError::Ended(_) | HubError::NotPresent => Refusal::code(ErrorCode::VisitEnded),
                            HubError::AlreadyNegotiated => Refusal(
                                ErrorCode::BadOffer,
                                "This connection already has media; reconnect to negotiate again.".into(),
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

    /// Check a join token and take a seat in its visit.
    async fn join(&mut self, token: &str) -> Result<wire::Joined, Refusal> {
        let state = self.state.clone();
        let now = Utc::now();
        let claims = state.tokens.verify(token, now).map_err(|e| match e {
            JoinTokenError::Invalid => Refusal::code(ErrorCode::InvalidToken),
            JoinTokenError::Expired => Refusal::code(ErrorCode::TokenExpired),
        })?;
        let principal = match &claims.participant {
            ParticipantId::Lawyer(id) => Principal::Lawyer(*id),
            ParticipantId::Booth(booth) => {
                // The booth's identity comes from this connection's certificate, never
                // from the token or the message alone.
                let me = state
                    .verify_booth(&self.certs)
                    .await
                    .map_err(|e| Refusal(ErrorCode::BoothCertificateRequired, e.message))?;
                if me.booth() != booth {
                    return Err(Refusal::code(ErrorCode::BoothMismatch));
                }
                Principal::Booth(booth.clone())
            }
        };
        let first_use = state.store.consume_join_token(&claims.jti, now, claims.expires_at()).await.map_err(|e| {
            tracing::error!(error = %e, "cannot record a join token's use");
            Refusal::code(ErrorCode::Unavailable)
        })?;
        if !first_use {
            tracing::warn!(visit = %claims.visit, role = claims.participant.role().as_str(), "join token replayed");
            return Err(Refusal::code(ErrorCode::TokenReplayed));
        }
        let row = state
            .store
            .visit(claims.visit)
            .await
            .map_err(|_| Refusal::code(ErrorCode::Unavailable))?
            .ok_or_else(|| Refusal::code(ErrorCode::VisitEnded))?;
        let admitted = policy::admit(&row.terms(), &principal, now).map_err(|d| Refusal(deny_code(d), d.message().into()))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let seat = state.hub.enter(admitted, tx, now).map_err(|e| match e {
            HubError::Ended(EndReason::SlotOver) => Refusal::code(ErrorCode::SlotOver),
            _ => Refusal::code(ErrorCode::VisitEnded),
        })?;
        tracing::info!(visit = %seat.visit, role = seat.role.as_str(), "participant joined");
        let joined = wire::Joined {
            visit_id: seat.visit.0,
            role: wire_role(seat.role),
            slot_ends_at: seat.slot_end,
            participants: seat.others.iter().copied().map(wire_role).collect(),
        };
        self.seat = Some(seat);
        self.notices = Some(rx);
        Ok(joined)
    }
}
