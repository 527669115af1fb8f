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
//!
//! Audit: every join is recorded. A refusal (bad, expired or replayed token,
//! booth certificate, policy denial) is appended before it is answered; an admission
//! (`join_token_used` + `admission_granted`) is durably appended before the seat is taken,
//! and if it cannot be, the join is refused with `unavailable` and no media is possible.

use crate::app::AppState;
use crate::audit::{Actor, AuditRecord};
use crate::auth::{BoothRefusal, JoinTokenError};
use crate::http::serve::PeerCertificates;
use crate::ids::{ParticipantId, Role};
use crate::policy::{Deny, LicenceBasis};
use crate::visit::{EndReason, HubError, Notice, Seat};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::Extension;
use chrono::Utc;
use confer_signaling::{
    self as wire, decode_client, encode_server, AbuseVerdict, ErrorCode, ServerMessage,
    ServerSession, Step, VisitNotice,
};
use std::time::Duration;
use tokio::sync::mpsc;

/// Frames larger than this are dropped by the WebSocket layer itself (connection
/// closed); messages up to it but over 64 KiB get a `message_too_large` error.
const MAX_FRAME_BYTES: usize = 256 * 1024;
/// What a participant is told when an admission cannot be recorded (fail closed).
const AUDIT_DOWN: &str =
    "The visit cannot start because the audit log cannot be written; staff have been alerted. Please try again later.";
/// A connection must have joined a visit within this time.
const JOIN_DEADLINE: Duration = Duration::from_secs(30);

/// WebSocket read and write buffer per signalling connection.
const WS_BUFFER_BYTES: usize = 8 * 1024;

pub async fn ws_handler(
    State(state): State<AppState>,
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

fn deny_code(d: Deny) -> ErrorCode {
    match d {
        Deny::NotAParticipant | Deny::CompanionNotApproved => ErrorCode::NotAParticipant,
        Deny::TooEarly => ErrorCode::TooEarly,
        Deny::SlotOver => ErrorCode::SlotOver,
        Deny::VisitEnded => ErrorCode::VisitEnded,
        Deny::AccountLocked => ErrorCode::AccountLocked,
        Deny::Licence(_) => ErrorCode::LicenceNotVerified,
        Deny::NoCase | Deny::NoEngagement | Deny::Documents(_) => ErrorCode::DocumentsIncomplete,
        Deny::PermissionMissing | Deny::PermissionRefused => ErrorCode::PermissionRequired,
        Deny::RoomConsentMissing | Deny::RoomNotAttested => ErrorCode::RoomNotReady,
        Deny::RemoteBoothRequired => ErrorCode::NotAParticipant,
    }
}

/// The wire carries one sentence: English, then Chinese.
fn deny_message(d: Deny) -> String {
    format!("{}\n{}", d.message_en(), d.message_zh())
}

/// Record a refused join in the audit log, then hand back the refusal. A refusal is the
/// safe direction: it stands even when the record cannot be written (logged loudly).
async fn refused(
    state: &AppState,
    actor: Actor,
    records: Vec<AuditRecord>,
    refusal: Refusal,
) -> Refusal {
    if let Err(e) = state.audit.append_all(actor, records).await {
        tracing::error!(error = %e, code = refusal.0.as_str(), "AUDIT: a refused join could not be recorded");
    }
    refusal
}

async fn next_notice(rx: &mut Option<mpsc::UnboundedReceiver<Notice>>) -> Option<Notice> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl Connection {
    fn new(state: AppState, certs: PeerCertificates, socket: WebSocket) -> Self {
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

    /// Check a join token and take a seat in its visit. Every outcome is recorded in the
    /// audit log; an admission is recorded before the seat is taken (audit first),
    /// and if it cannot be recorded nobody is admitted.
    async fn join(&mut self, token: &str) -> Result<wire::Joined, Refusal> {
        let state = self.state.clone();
        let now = Utc::now();
        let claims = match state.tokens.verify(token, now) {
            Ok(c) => c,
            Err(e) => {
                let code = match e {
                    JoinTokenError::Invalid => ErrorCode::InvalidToken,
                    JoinTokenError::Expired => ErrorCode::TokenExpired,
                };
                let records = vec![
                    AuditRecord::JoinTokenRejected {
                        visit: None,
                        reason: code.as_str().into(),
                    },
                    AuditRecord::AdmissionRefused {
                        visit: None,
                        participant: None,
                        reason: code.as_str().into(),
                    },
                ];
                return Err(refused(&state, Actor::Anonymous, records, Refusal::code(code)).await);
            }
        };
        let visit = claims.visit;
        let participant = claims.participant.clone();
        let refusal_record = |code: &str| AuditRecord::AdmissionRefused {
            visit: Some(visit),
            participant: Some(participant.clone()),
            reason: code.to_owned(),
        };
        let actor = match &claims.participant {
            ParticipantId::Lawyer(id)
            | ParticipantId::Assistant(id)
            | ParticipantId::Interpreter(id) => Actor::Lawyer(*id),
            ParticipantId::Booth(booth) => {
                // The booth's identity comes from this connection's certificate, never
                // from the token or the message alone. (`verify_booth` records a refused
                // certificate itself.)
                let me = match state.booths.verify(&self.certs).await {
                    Ok(me) => me,
                    Err(BoothRefusal::Audit(_)) => {
                        return Err(Refusal(ErrorCode::Unavailable, AUDIT_DOWN.into()));
                    }
                    Err(e) => {
                        let records = vec![refusal_record(e.code())];
                        let refusal = Refusal(ErrorCode::BoothCertificateRequired, e.to_string());
                        return Err(refused(&state, Actor::Anonymous, records, refusal).await);
                    }
                };
                if me.booth() != booth {
                    let code = ErrorCode::BoothMismatch;
                    let records = vec![refusal_record(code.as_str())];
                    return Err(refused(
                        &state,
                        Actor::Booth(me.booth().clone()),
                        records,
                        Refusal::code(code),
                    )
                    .await);
                }
                Actor::Booth(booth.clone())
            }
        };
        let first_use = state
            .store
            .consume_join_token(&claims.jti, now, claims.expires_at())
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "cannot record a join token's use");
                Refusal::code(ErrorCode::Unavailable)
            })?;
        if !first_use {
            tracing::warn!(visit = %claims.visit, role = claims.participant.role().as_str(), "join token replayed");
            let code = ErrorCode::TokenReplayed;
            let records = vec![
                AuditRecord::JoinTokenRejected {
                    visit: Some(visit),
                    reason: code.as_str().into(),
                },
                refusal_record(code.as_str()),
            ];
            return Err(refused(&state, actor, records, Refusal::code(code)).await);
        }
        let row = match state.store.visit(claims.visit).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                let code = ErrorCode::VisitEnded;
                return Err(refused(
                    &state,
                    actor,
                    vec![refusal_record(code.as_str())],
                    Refusal::code(code),
                )
                .await);
            }
            Err(_) => return Err(Refusal::code(ErrorCode::Unavailable)),
        };
        let terminal = match participant {
            ParticipantId::Booth(_) => None,
            _ => {
                state
                    .booths
                    .terminal(&self.certs, row.lawyer_booth.is_some())
                    .await
            }
        };
        let decision = match state
            .gate
            .decide(&row, &participant, terminal.as_ref(), now)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(visit = %visit, error = %e, "admission gate failed; admitting nobody");
                return Err(Refusal::code(ErrorCode::Unavailable));
            }
        };
        let admitted = match decision {
            Ok(a) => a,
            Err(d) => {
                let records = vec![refusal_record(d.code())];
                return Err(refused(
                    &state,
                    actor,
                    records,
                    Refusal(deny_code(d), deny_message(d)),
                )
                .await);
            }
        };
        let licence = match admitted.licence() {
            LicenceBasis::NotApplicable => None,
            LicenceBasis::Registry => Some("registry".to_owned()),
            LicenceBasis::Manual => Some("manual".to_owned()),
        };
        // Audit first: the admission is durable before the seat (and so media) exists.
        let granted = vec![
            AuditRecord::JoinTokenUsed {
                visit,
                participant: participant.clone(),
                token_id: claims.jti.clone(),
            },
            AuditRecord::AdmissionGranted {
                visit,
                participant: participant.clone(),
                licence,
            },
        ];
        if let Err(e) = state.audit.append_all(actor.clone(), granted).await {
            tracing::error!(visit = %visit, error = %e, "admission refused: the audit log cannot be written");
            return Err(Refusal(ErrorCode::Unavailable, AUDIT_DOWN.into()));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let seat = match state.hub.enter(admitted, tx, now) {
            Ok(seat) => seat,
            Err(e) => {
                let refusal = match e {
                    HubError::Ended(EndReason::SlotOver) => Refusal::code(ErrorCode::SlotOver),
                    HubError::AlreadyConnected => Refusal::code(ErrorCode::AlreadyConnected),
                    _ => Refusal::code(ErrorCode::VisitEnded),
                };
                let records = vec![refusal_record(refusal.0.as_str())];
                return Err(refused(&state, actor, records, refusal).await);
            }
        };
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
