//! The `/ws` endpoint: speaks `confer-signaling`'s protocol with one participant. A join
//! is one call into the admission service ([`Admission::join`]); offers and leaving go to
//! the [`VisitHub`]; notices from the hub go out as they come.
//!
//! The path of a message: text frame -> [`decode_client`] (size-checked before parsing)
//! -> [`ServerSession`] (is this message allowed now?) -> one call (join, offer, leave)
//! -> a reply. Any error is answered with a stable code and a sentence, and counted; the
//! fifth error on one connection closes it. Network input never panics.
//!
//! Liveness (R-REMOTE-2; `signaling/PROTOCOL.md`, "Liveness"): the server sends a WebSocket
//! Ping every [`Keepalive::ping_every`] (5 s) and closes a connection from which no frame at
//! all (text, Pong, Ping) arrived for [`Keepalive::dead_after`] (15 s). A seat whose
//! connection ends that way, or breaks without a close frame, is reported to the hub as lost
//! ([`VisitHub::lost`]: the others hear `participant_reconnecting`, the seat is kept for the
//! grace period); `leave` or a close frame is a departure ([`VisitHub::leave`]).
//!
//! Does not: decide or audit admissions (`visit::admission` does, audit first), or read
//! certificates (the connection's chain is handed to admission as the TLS loop found it).

pub mod e2ee;

pub use e2ee::E2eeRelay;

use crate::http::serve::PeerCertificates;
use crate::ids::Role;
use crate::visit::resume::valid_device_id;
use crate::visit::{
    Admission, DeviceBinding, EndReason, HubError, MediaState, Notice, Refusal as Denied,
    ResumeRefusal, Resumes, RosterView, Seat, VisitHub,
};
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
use tokio::sync::{mpsc, watch};

/// What the signalling endpoint needs: the admission service, the hub, the keepalive and
/// the end-to-end encryption key relay (R-PRIV-1).
#[derive(Clone, FromRef)]
pub struct Signalling {
    pub admission: Admission,
    pub hub: VisitHub,
    pub keepalive: Keepalive,
    /// TURN credentials handed with `joined`, when a relay is configured (R-REMOTE-2).
    pub turn: Option<crate::turn::Turn>,
    /// Resume credentials (R-REMOTE-2): issued with `joined`, redeemed by `resume`.
    pub resumes: Resumes,
    pub e2ee: E2eeRelay,
}

/// The signalling keepalive (R-REMOTE-2), from `[signaling]` in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// How often the server sends a WebSocket Ping (default 5 s).
    pub ping_every: Duration,
    /// A connection silent for this long (no frame, no Pong) is dead (default 15 s).
    pub dead_after: Duration,
}

/// How a connection's loop ended: said goodbye, or went silent or broke (R-REMOTE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// `leave`, a close frame, a visit that ended, a replaced seat, a protocol error: the
    /// seat (if any) is given up at once.
    Left,
    /// Nothing arrived within the keepalive's deadline, the socket broke, or a send could
    /// not complete: the seat is kept for the grace period.
    Lost,
}

/// Frames larger than this are dropped by the WebSocket layer itself (connection
/// closed); messages up to it but over 64 KiB get a `message_too_large` error.
const MAX_FRAME_BYTES: usize = 256 * 1024;
/// A connection must have joined a visit within this time.
const JOIN_DEADLINE: Duration = Duration::from_secs(30);

/// WebSocket read and write buffer per signalling connection.
const WS_BUFFER_BYTES: usize = 8 * 1024;

/// A participant's `media_state` changes everyone's roster at most this often; changes that
/// come faster are merged and the latest is applied when the interval has passed (nothing
/// is lost, a client cannot make the server flood the others with rosters).
const MEDIA_STATE_INTERVAL: Duration = Duration::from_millis(250);

/// Payload of the server's keepalive Pings (echoed in the Pongs; informational).
const PING_PAYLOAD: &[u8] = b"confer";

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
impl From<ResumeRefusal> for Refusal {
    fn from(r: ResumeRefusal) -> Refusal {
        Refusal(r.wire(), format!("{}\n{}", r.message_en(), r.message_zh()))
    }
}

/// The wire carries one sentence: English, then Chinese.
impl From<Denied> for Refusal {
    fn from(d: Denied) -> Refusal {
        Refusal(d.wire(), format!("{}\n{}", d.message_en(), d.message_zh()))
    }
}

/// Why a `join` did not take a seat here.
enum JoinFailed {
    Refused(Refusal),
    /// The visit's media lives on another node: its signalling URL (the cluster).
    Moved(String),
}

struct Connection {
    state: Signalling,
    certs: PeerCertificates,
    socket: WebSocket,
    session: ServerSession,
    seat: Option<Seat>,
    notices: Option<mpsc::UnboundedReceiver<Notice>>,
    /// The seat's roster (R-VERIFY-4): sent after `joined` and on every change.
    roster: Option<watch::Receiver<RosterView>>,
    /// Set when a send failed or timed out: the peer is not taking what we write.
    send_failed: bool,
    /// The device id from `hello` (R-REMOTE-2: resume credentials are bound to it).
    device: Option<String>,
    /// This connection's place in the visit's key relay (R-PRIV-1), once joined.
    e2ee: Option<e2ee::E2eeMember>,
    /// R-REMOTE-1: a `media_state` that came within [`MEDIA_STATE_INTERVAL`] of the last one
    /// applied, waiting for its turn, and when that turn comes.
    media_pending: Option<MediaState>,
    media_next: tokio::time::Instant,
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
        Notice::ParticipantReconnecting(r) => {
            VisitNotice::ParticipantReconnecting { role: wire_role(r) }
        }
        Notice::Removed(why) => VisitNotice::VisitEnded {
            reason: wire::EndReason::ParticipantLeft,
            message: why.message().into(),
        },
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
                EndReason::E2eeCheckFailed => wire::EndReason::E2eeCheckFailed,
                EndReason::CertificateRevoked => wire::EndReason::CertificateRevoked,
            },
            message: r.message().into(),
        },
    }
}

fn wire_roster(r: &RosterView) -> wire::Roster {
    wire::Roster {
        participants: r
            .entries
            .iter()
            .map(|e| wire::RosterEntry {
                id: e.id,
                role: wire_role(e.role),
                label: e.label.clone(),
                state: if e.reconnecting {
                    wire::PresenceState::Reconnecting
                } else {
                    wire::PresenceState::Present
                },
                you: e.you,
                audio_mid: e.audio_mid.clone(),
                video_mid: e.video_mid.clone(),
                audio_muted: e.audio_muted,
                video_off: e.video_off,
            })
            .collect(),
    }
}

/// The next roster to send: the current one at first, then each change (never ready once
/// the hub let the seat go).
async fn next_roster(rx: &mut Option<watch::Receiver<RosterView>>) -> wire::Roster {
    if let Some(r) = rx {
        if r.changed().await.is_ok() {
            return wire_roster(&r.borrow_and_update());
        }
    }
    *rx = None;
    std::future::pending().await
}

async fn next_key_message(member: &mut Option<e2ee::E2eeMember>) -> Option<ServerMessage> {
    match member {
        Some(m) => m.inbox.recv().await,
        None => std::future::pending().await,
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
            roster: None,
            send_failed: false,
            device: None,
            e2ee: None,
            media_pending: None,
            media_next: tokio::time::Instant::now(),
        }
    }

    /// Apply this participant's microphone / camera state to the rosters now, or when the
    /// interval since the last one has passed (R-REMOTE-1).
    fn media_state(&mut self, media: MediaState) {
        let now = tokio::time::Instant::now();
        if now < self.media_next {
            self.media_pending = Some(media);
            return;
        }
        self.media_pending = None;
        self.media_next = now + MEDIA_STATE_INTERVAL;
        if let Some(seat) = &self.seat {
            self.state.hub.set_media_state(seat, media);
        }
    }

    async fn send(&mut self, msg: &ServerMessage) -> bool {
        self.send_frame(Message::Text(encode_server(msg).into()))
            .await
    }

    /// Send one frame, waiting at most the keepalive's deadline: a peer that stopped reading
    /// (its TCP window full) must not hold the loop, and with it the dead-connection check.
    async fn send_frame(&mut self, frame: Message) -> bool {
        let wait = self.state.keepalive.dead_after;
        let ok = matches!(
            tokio::time::timeout(wait, self.socket.send(frame)).await,
            Ok(Ok(()))
        );
        if !ok {
            self.send_failed = true;
        }
        ok
    }

    async fn run(mut self) {
        let join_deadline = tokio::time::sleep(JOIN_DEADLINE);
        tokio::pin!(join_deadline);
        let keepalive = self.state.keepalive;
        let mut ping = tokio::time::interval_at(
            tokio::time::Instant::now() + keepalive.ping_every,
            keepalive.ping_every,
        );
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // R-REMOTE-2: moved on by every frame that arrives; when it passes, the connection
        // is dead.
        let dead = tokio::time::sleep(keepalive.dead_after);
        tokio::pin!(dead);
        let ending = loop {
            tokio::select! {
                frame = self.socket.recv() => {
                    if matches!(frame, Some(Ok(_))) {
                        dead.as_mut().reset(tokio::time::Instant::now() + keepalive.dead_after);
                    }
                    let step = match frame {
                        Some(Ok(Message::Text(text))) => self.on_text(text.as_str()).await,
                        Some(Ok(Message::Binary(_))) => self.on_error(Refusal(
                            ErrorCode::MalformedMessage,
                            "Messages must be JSON text frames.".into(),
                        )).await,
                        // Pings are answered by the WebSocket layer; a Pong is proof of life.
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => true,
                        // The page closed, or the client said goodbye at the WebSocket level.
                        Some(Ok(Message::Close(_))) => break Ending::Left,
                        // Broken without a goodbye: the network, not the person.
                        Some(Err(_)) | None => break Ending::Lost,
                    };
                    if self.send_failed {
                        break Ending::Lost;
                    }
                    // Time spent answering (a join asks the registry) is ours, not silence.
                    dead.as_mut().reset(tokio::time::Instant::now() + keepalive.dead_after);
                    if !step || self.session.is_closed() {
                        break Ending::Left;
                    }
                }
                roster = next_roster(&mut self.roster) => {
                    if !self.send(&ServerMessage::Roster(roster)).await {
                        break Ending::Lost;
                    }
                }
                notice = next_notice(&mut self.notices) => {
                    match notice {
                        Some(n) => {
                            let last =
                                matches!(n, Notice::Ended(_) | Notice::Replaced | Notice::Removed(_));
                            if !self.send(&ServerMessage::from(wire_notice(n))).await {
                                break Ending::Lost;
                            }
                            if last {
                                break Ending::Left;
                            }
                        }
                        // The hub let this seat go (visit ended, seat replaced, grace over).
                        None => break Ending::Left,
                    }
                }
                Some(msg) = next_key_message(&mut self.e2ee) => {
                    if !self.send(&msg).await {
                        break Ending::Lost;
                    }
                }
                _ = tokio::time::sleep_until(self.media_next), if self.media_pending.is_some() => {
                    if let Some(media) = self.media_pending.take() {
                        self.media_state(media);
                    }
                }
                _ = ping.tick() => {
                    if !self.send_frame(Message::Ping(PING_PAYLOAD.into())).await {
                        break Ending::Lost;
                    }
                }
                _ = &mut dead => {
                    tracing::info!(
                        joined = self.seat.is_some(),
                        silent_for = ?keepalive.dead_after,
                        "signalling connection silent; closing it as dead"
                    );
                    break Ending::Lost;
                }
                _ = &mut join_deadline, if self.seat.is_none() => {
                    let _ = self.send(&ServerMessage::Error {
                        code: ErrorCode::OutOfOrder,
                        message: "No visit was joined in time; the connection is closed.".into(),
                    }).await;
                    break Ending::Left;
                }
            }
        };
        if let Some(seat) = self.seat.take() {
            match ending {
                Ending::Left => self.state.hub.leave(&seat),
                Ending::Lost => self.state.hub.lost(&seat),
            }
        }
        if ending == Ending::Left {
            let _ =
                tokio::time::timeout(keepalive.dead_after, self.socket.send(Message::Close(None)))
                    .await;
        }
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
        if let wire::ClientMessage::Hello {
            device: Some(device),
            ..
        } = &msg
        {
            if !valid_device_id(device) {
                return self
                    .on_error(Refusal(
                        ErrorCode::MalformedMessage,
                        "The device id must be 1 to 128 letters, digits, '-' or '_'.".into(),
                    ))
                    .await;
            }
            self.device = Some(device.clone());
        }
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
            Step::E2eeKey { public_key } => {
                let outcome = match &self.e2ee {
                    Some(m) => m.publish(&public_key).await,
                    None => Err("This connection is not in a visit."),
                };
                self.e2ee_outcome(outcome).await
            }
            Step::E2eeMediaKey { to, kid, wrapped } => {
                let outcome = match &self.e2ee {
                    Some(m) => m.send_media_key(to, kid, &wrapped),
                    None => Err("This connection is not in a visit."),
                };
                self.e2ee_outcome(outcome).await
            }
            Step::E2eeCheckFailed => {
                // R-PRIV-1: the people saw different check codes; the one way to end a visit
                // (audited, durable, everyone told `e2ee_check_failed`).
                if let Some(seat) = &self.seat {
                    tracing::warn!(visit = %seat.visit, role = seat.role.as_str(), "end-to-end encryption check codes differ; ending the visit");
                    self.state
                        .hub
                        .end(seat.visit, EndReason::E2eeCheckFailed)
                        .await;
                }
                true
            }
            Step::MediaState { audio, video } => {
                // R-REMOTE-1: the others see a mute or a camera turned off in the roster.
                // Two booleans (the codec refused anything else), for display only; at most
                // one roster change per MEDIA_STATE_INTERVAL, the latest state always wins.
                self.media_state(MediaState {
                    audio_muted: !audio,
                    video_off: !video,
                });
                true
            }
            Step::Leave => false,
            Step::Join(token) => match self.join(token.expose()).await {
                Ok(joined) => {
                    crate::metrics::admission("admitted", "none", started.elapsed());
                    let _ = self.session.join_succeeded();
                    if !self.send(&ServerMessage::Joined(joined)).await {
                        return false;
                    }
                    // The roster right after `joined` (R-VERIFY-4), then on every change.
                    match self.roster.as_mut() {
                        Some(r) => {
                            let now = wire_roster(&r.borrow_and_update());
                            self.send(&ServerMessage::Roster(now)).await
                        }
                        None => true,
                    }
                }
                Err(JoinFailed::Refused(refusal)) => {
                    crate::metrics::admission("refused", refusal.0.as_str(), started.elapsed());
                    let _ = self.session.join_failed();
                    self.on_error(refusal).await
                }
                // The cluster: tell the client where the visit is, then close; it joins
                // there with the same token (not used here).
                Err(JoinFailed::Moved(url)) => {
                    crate::metrics::admission("moved", "none", started.elapsed());
                    let _ = self.session.join_failed();
                    let _ = self.send(&ServerMessage::Moved { url }).await;
                    false
                }
            },
            // R-REMOTE-2: the same seat back, without an admission round.
            Step::Resume(token) => match self.resume(token.expose()).await {
                Ok(joined) => {
                    let _ = self.session.join_succeeded();
                    self.send(&ServerMessage::Joined(joined)).await
                }
                Err(JoinFailed::Refused(refusal)) => {
                    let _ = self.session.join_failed();
                    self.on_error(refusal).await
                }
                // The cluster: the seat's visit lives on another node; resume there (the
                // credential is not spent here).
                Err(JoinFailed::Moved(url)) => {
                    let _ = self.session.join_failed();
                    let _ = self.send(&ServerMessage::Moved { url }).await;
                    false
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
                            | HubError::AlreadyConnected
                            | HubError::LawyerAbsent => Refusal::code(ErrorCode::VisitEnded),
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

    /// Answer a key message that could not be relayed (R-PRIV-1); a relayed one needs no answer.
    async fn e2ee_outcome(&mut self, outcome: Result<(), e2ee::RelayRefusal>) -> bool {
        match outcome {
            Ok(()) => true,
            Err(sentence) => {
                self.on_error(Refusal(ErrorCode::MalformedMessage, sentence.into()))
                    .await
            }
        }
    }

    /// Join through the admission service (token, certificate, evidence, policy, audit
    /// first, seat) and keep the seat and its notices on this connection.
    async fn join(&mut self, token: &str) -> Result<wire::Joined, JoinFailed> {
        let joined = match self
            .state
            .admission
            .join(token, &self.certs, Utc::now())
            .await
        {
            Ok(joined) => joined,
            Err(Denied::Moved(ws_url)) => return Err(JoinFailed::Moved(ws_url)),
            Err(d) => return Err(JoinFailed::Refused(d.into())),
        };
        let seat = joined.seat;
        self.e2ee = Some(self.state.e2ee.enter(
            seat.visit,
            seat.seat.0,
            seat.participant.clone(),
            seat.role,
        ));
        let ice_servers = ice_servers(self.state.turn.clone(), &seat, &joined.participant).await;
        let resume = match self.device_binding() {
            Some(device) => Some(wire_grant(
                self.state.resumes.issue(&seat, device, Utc::now()).await,
            )),
            None => None,
        };
        let reply = joined_reply(&seat, ice_servers, resume, false);
        self.roster = Some(seat.roster.clone());
        self.seat = Some(seat);
        self.notices = Some(joined.notices);
        Ok(reply)
    }

    /// The device this connection is (R-REMOTE-2): its client certificate, if it presented
    /// one, and the device id from `hello`.
    fn device_binding(&self) -> Option<DeviceBinding> {
        let leaf = self
            .certs
            .0
            .as_ref()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref());
        DeviceBinding::new(leaf, self.device.as_deref())
    }

    /// Take a kept seat back with a resume credential (R-REMOTE-2; checked and audited by
    /// [`Resumes::resume`]) and keep it and its notices on this connection.
    async fn resume(&mut self, token: &str) -> Result<wire::Joined, JoinFailed> {
        let resumed = match self
            .state
            .resumes
            .resume(token, self.device_binding(), &self.certs, Utc::now())
            .await
        {
            Ok(resumed) => resumed,
            Err(ResumeRefusal::Moved(url)) => return Err(JoinFailed::Moved(url)),
            Err(refusal) => return Err(JoinFailed::Refused(refusal.into())),
        };
        // Fresh TURN credentials too: the page may build a new peer connection.
        let participant = resumed.seat.participant.clone();
        let ice_servers = ice_servers(self.state.turn.clone(), &resumed.seat, &participant).await;
        let reply = joined_reply(
            &resumed.seat,
            ice_servers,
            Some(wire_grant(resumed.grant)),
            resumed.renegotiate,
        );
        self.roster = Some(resumed.seat.roster.clone());
        self.e2ee = Some(self.state.e2ee.enter(
            resumed.seat.visit,
            resumed.seat.seat.0,
            resumed.seat.participant.clone(),
            resumed.seat.role,
        ));
        self.seat = Some(resumed.seat);
        self.notices = Some(resumed.notices);
        Ok(reply)
    }
}

fn wire_grant(grant: crate::visit::resume::Grant) -> wire::ResumeGrant {
    wire::ResumeGrant {
        token: wire::ResumeToken::new(grant.token),
        expires_at: grant.expires_at,
    }
}

fn joined_reply(
    seat: &Seat,
    ice_servers: Vec<wire::IceServer>,
    resume: Option<wire::ResumeGrant>,
    renegotiate: bool,
) -> wire::Joined {
    wire::Joined {
        visit_id: seat.visit.0,
        role: wire_role(seat.role),
        slot_ends_at: seat.slot_end,
        participants: seat.others.iter().copied().map(wire_role).collect(),
        ice_servers,
        resume,
        renegotiate,
    }
}

/// The TURN relay and this participant's credential for it (R-REMOTE-2); none when no
/// relay is configured or the credential could not be recorded (the join stands: UDP
/// and ICE-TCP still work).
async fn ice_servers(
    turn: Option<crate::turn::Turn>,
    seat: &Seat,
    participant: &crate::ids::ParticipantId,
) -> Vec<wire::IceServer> {
    let Some(turn) = turn else {
        return Vec::new();
    };
    match turn
        .issue(seat.visit, participant, seat.slot_end, Utc::now())
        .await
    {
        Ok(c) => vec![wire::IceServer {
            urls: c.urls,
            username: c.username,
            credential: c.password,
        }],
        Err(e) => {
            tracing::warn!(visit = %seat.visit, error = %e, "no TURN credentials for this join");
            Vec::new()
        }
    }
}
