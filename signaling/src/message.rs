//! The messages of the wire protocol, as serde types.
//!
//! Every message is one JSON object in one WebSocket text frame, tagged by its
//! `"type"` field (snake_case). Client messages are parsed strictly (unknown
//! fields are refused); server messages are parsed tolerantly (unknown fields
//! are ignored, unknown notice kinds and end reasons fall back to a catch-all),
//! so that an older client keeps working against a newer server.
//!
//! This module owns the *shape* of the messages only. Which message may come
//! when is [`crate::session`]'s business, bytes to messages is [`crate::codec`]'s.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ErrorCode;

/// Which side of a visit a participant is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The defence lawyer, in a browser.
    Lawyer,
    /// The detainee's booth terminal (a kiosk identified by its client certificate).
    Booth,
    /// The lawyer's assistant, approved for the case (R-VERIFY-4).
    Assistant,
    /// An interpreter, approved for the case (R-VERIFY-4).
    Interpreter,
}

impl Role {
    /// The wire spelling: `"lawyer"`, `"booth"`, `"assistant"` or `"interpreter"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Lawyer => "lawyer",
            Role::Booth => "booth",
            Role::Assistant => "assistant",
            Role::Interpreter => "interpreter",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A join token as it travels on the wire. Opaque to this crate.
///
/// Its `Debug` never shows the token, so a `tracing::debug!(?msg)` cannot leak it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JoinToken(String);

impl JoinToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, for the code that verifies it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for JoinToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JoinToken(<{} bytes, redacted>)", self.0.len())
    }
}

impl From<String> for JoinToken {
    fn from(token: String) -> Self {
        Self(token)
    }
}

impl From<&str> for JoinToken {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}

/// An SDP offer or answer. Opaque to this crate (the SFU parses it).
///
/// SDP carries ICE candidates, i.e. IP addresses, so its `Debug` shows only the
/// length; log it, if ever, through the server's redacting wrapper.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sdp(String);

impl Sdp {
    pub fn new(sdp: impl Into<String>) -> Self {
        Self(sdp.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Sdp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sdp(<{} bytes>)", self.0.len())
    }
}

impl From<String> for Sdp {
    fn from(sdp: String) -> Self {
        Self(sdp)
    }
}

impl From<&str> for Sdp {
    fn from(sdp: &str) -> Self {
        Self(sdp.to_owned())
    }
}

/// A message from a participant (browser, booth, Rust client) to the server.
///
/// Parsed strictly: an unknown field is a `malformed_message` (except on `leave`
/// and `ping`, which carry no fields; serde ignores extras on unit variants).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message on every connection: the protocol version the client speaks.
    Hello {
        version: u32,
        /// Free text naming the client software, e.g. `confer-web/1`. Informational.
        client: String,
        /// A random id the client keeps for this device (a browser tab), 1 to 128 characters
        /// of `A-Z a-z 0-9 - _`. Optional; a resume credential issued on this connection is
        /// bound to it (R-REMOTE-2, `PROTOCOL.md` "Resume").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    /// Join a visit with a join token obtained over the REST API.
    Join { token: JoinToken },
    /// The client's SDP offer for its one peer connection with the SFU.
    Offer { sdp: Sdp },
    /// The participant leaves for good; the server ends its part of the visit.
    Leave,
    /// Keepalive; answered with `pong`.
    Ping,
    /// Instead of `join`, after a lost connection: take back the same seat with the resume
    /// credential of the last `joined` (R-REMOTE-2). Answered with `joined`.
    Resume { token: ResumeToken },
    /// End-to-end encryption (R-PRIV-1): this participant's public key for this connection
    /// (ECDH P-256, uncompressed point, 65 bytes, base64url without padding). Sent once, after
    /// `joined`; relayed by the server as `e2ee_key` to everyone in the visit.
    E2eeKey { public_key: String },
    /// End-to-end encryption: this participant's media key of one epoch, wrapped for the
    /// participant `to` (see `PROTOCOL.md`, "End-to-end encryption"). The server relays it to
    /// `to` only, as `e2ee_media_key`.
    E2eeMediaKey { to: u64, kid: u64, wrapped: String },
    /// End-to-end encryption: the people compared the check codes and they differ; the server
    /// ends the visit with `e2ee_check_failed`.
    E2eeCheckFailed,
    /// After `joined`: whether this participant's own microphone and camera are on, as the
    /// person set them on their page (R-REMOTE-1: the other side is told of a mute or a
    /// camera turned off). Display only: the server puts it in everyone's roster
    /// (`audio_muted`, `video_off`) and trusts it for nothing else.
    MediaState { audio: bool, video: bool },
}

impl ClientMessage {
    /// The `"type"` of every client message, in declaration order.
    pub const TYPES: &'static [&'static str] = &[
        "hello",
        "join",
        "offer",
        "leave",
        "ping",
        "resume",
        "e2ee_key",
        "e2ee_media_key",
        "e2ee_check_failed",
        "media_state",
    ];

    /// This message's `"type"` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientMessage::Hello { .. } => "hello",
            ClientMessage::Join { .. } => "join",
            ClientMessage::Offer { .. } => "offer",
            ClientMessage::Leave => "leave",
            ClientMessage::Ping => "ping",
            ClientMessage::Resume { .. } => "resume",
            ClientMessage::E2eeKey { .. } => "e2ee_key",
            ClientMessage::E2eeMediaKey { .. } => "e2ee_media_key",
            ClientMessage::E2eeCheckFailed => "e2ee_check_failed",
            ClientMessage::MediaState { .. } => "media_state",
        }
    }
}

/// The server's answer to `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// The protocol version the server will speak on this connection.
    pub version: u32,
    /// Free text naming the server software, e.g. `confer/0.1.0`. Informational.
    pub server: String,
}

/// The server's answer to a successful `join`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Joined {
    pub visit_id: i64,
    /// The role this connection holds in the visit (taken from the token, not the client).
    pub role: Role,
    /// When the slot ends: RFC 3339, UTC (e.g. `2026-11-27T09:30:00Z`).
    pub slot_ends_at: DateTime<Utc>,
    /// The other participants already connected to the visit.
    pub participants: Vec<Role>,
    /// ICE servers for this participant's peer connection: TURN relays with credentials
    /// that expire at the slot end plus the reconnect grace (R-REMOTE-2). Empty (and
    /// omitted on the wire) when the server offers no TURN relay; older servers never send
    /// it, older clients ignore it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ice_servers: Vec<IceServer>,
    /// A single-use credential to take this seat back after a lost connection (`resume`),
    /// bound to this participant, visit and device. Absent when the connection named no
    /// device and presented no certificate, and from older servers (R-REMOTE-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<ResumeGrant>,
    /// Only in the answer to a `resume`: `true` when the seat is a new one because the
    /// server that held it went away (several nodes, or a restart). The old peer
    /// connection leads nowhere: make a new one and send a fresh `offer`, as after
    /// `join`. Omitted (false) otherwise; older servers never send it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub renegotiate: bool,
}

/// One entry of `joined.ice_servers`, in the shape of the browser's `RTCIceServer`:
/// `new RTCPeerConnection({iceServers})` takes the list as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    /// `turns:host:443?transport=tcp`, `turn:host:3478?transport=udp`, ...
    pub urls: Vec<String>,
    /// TURN REST username: `<expiry unix seconds>:<visit id>:<participant tag>`.
    pub username: String,
    /// base64(HMAC-SHA1(shared secret, username)); valid until the expiry in `username`.
    pub credential: String,
}

/// A resume credential handed out with `joined` (R-REMOTE-2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResumeGrant {
    pub token: ResumeToken,
    /// The latest it can be used: RFC 3339, UTC (the slot end). It dies earlier when the
    /// seat is let go (the grace period ended, `leave`, the visit ended) or once used.
    pub expires_at: DateTime<Utc>,
}

/// A resume credential as it travels on the wire. Opaque; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResumeToken(String);

impl ResumeToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text, for the code that checks it. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ResumeToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResumeToken(<{} bytes, redacted>)", self.0.len())
    }
}

impl From<&str> for ResumeToken {
    fn from(token: &str) -> Self {
        Self(token.to_owned())
    }
}

/// A message from the server to a participant.
///
/// `welcome` and `joined` carry their fields at the top level, next to `"type"`
/// (the Rust side wraps them in [`Welcome`] and [`Joined`] so a client can return
/// them whole). A notice is nested under `"notice"` with its own `"kind"` tag, so
/// notice fields can never collide with the message's `"type"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome(Welcome),
    Joined(Joined),
    /// The SFU's SDP answer to the client's offer.
    Answer {
        sdp: Sdp,
    },
    /// Something happened in the visit.
    Notice {
        notice: VisitNotice,
    },
    /// A request was refused or a message could not be handled. `message` is for
    /// people (a lawyer or a booth operator); `code` is for programs.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// The answer to `ping`.
    Pong,
    /// Who is in the visit now, sent after `joined` and again on every change (a join, a
    /// departure, an interruption, a return, a change of which m-line carries whom).
    /// R-VERIFY-4, docs/DESIGN.md invariant 10: pages show it; they never invent it.
    Roster(Roster),
    /// End-to-end encryption (R-PRIV-1): a participant's public key, relayed as published.
    /// `from` is the participant number the server gave that connection (also the sender part
    /// of its SFrame KIDs); `role` is its role in the visit. Sent to everyone in the visit,
    /// the publisher included (so it learns its own number), and to each later joiner.
    E2eeKey {
        from: u64,
        role: Role,
        public_key: String,
    },
    /// End-to-end encryption: a media key wrapped for this participant by participant `from`.
    E2eeMediaKey {
        from: u64,
        kid: u64,
        wrapped: String,
    },
    /// The answer to `join` when the visit's media lives on another node of the
    /// deployment: connect to `url` (a `wss://…/ws` URL) and send the same `hello` and
    /// `join` there; the join token was not used. The server closes this connection.
    Moved {
        url: String,
    },
}

impl ServerMessage {
    /// The `"type"` of every server message, in declaration order.
    pub const TYPES: &'static [&'static str] = &[
        "welcome",
        "joined",
        "answer",
        "notice",
        "error",
        "pong",
        "roster",
        "e2ee_key",
        "e2ee_media_key",
        "moved",
    ];

    /// An error with the code's default human sentence.
    pub fn error(code: ErrorCode) -> Self {
        ServerMessage::Error {
            code,
            message: code.default_message().to_owned(),
        }
    }

    /// This message's `"type"` on the wire.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerMessage::Welcome(_) => "welcome",
            ServerMessage::Joined(_) => "joined",
            ServerMessage::Answer { .. } => "answer",
            ServerMessage::Notice { .. } => "notice",
            ServerMessage::Error { .. } => "error",
            ServerMessage::Pong => "pong",
            ServerMessage::Roster(_) => "roster",
            ServerMessage::E2eeKey { .. } => "e2ee_key",
            ServerMessage::E2eeMediaKey { .. } => "e2ee_media_key",
            ServerMessage::Moved { .. } => "moved",
        }
    }
}

impl From<VisitNotice> for ServerMessage {
    fn from(notice: VisitNotice) -> Self {
        ServerMessage::Notice { notice }
    }
}

/// Something that happened in a visit, pushed to its participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VisitNotice {
    /// Another participant connected, or came back after `participant_reconnecting`
    /// (R-REMOTE-2: its picture and sound flow again).
    ParticipantJoined { role: Role },
    /// Another participant disconnected; the visit may continue if they come back.
    ParticipantLeft { role: Role },
    /// Another participant's connection was interrupted (its media stopped arriving, or its
    /// signalling connection went silent or broke without `leave`). It keeps its place for
    /// the server's grace period: `participant_joined` follows if it comes back,
    /// `participant_left` if it does not (R-REMOTE-2; see `PROTOCOL.md`, "Liveness").
    /// Until then, its last video frame is stale: show a placeholder instead.
    ParticipantReconnecting { role: Role },
    /// The slot ends in `minutes_left` minutes (sent at 5 and 1).
    TimeWarning { minutes_left: u32 },
    /// The slot was extended; the new end replaces `joined.slot_ends_at`.
    SlotExtended { slot_ends_at: DateTime<Utc> },
    /// The visit is over for everybody; the server closes the connection next.
    VisitEnded { reason: EndReason, message: String },
    /// A notice kind this version does not know (sent by a newer server).
    /// Never sent; clients should ignore it.
    #[serde(other)]
    Unknown,
}

impl VisitNotice {
    /// The `"kind"` of every notice the server sends, in declaration order.
    pub const KINDS: &'static [&'static str] = &[
        "participant_joined",
        "participant_left",
        "participant_reconnecting",
        "time_warning",
        "slot_extended",
        "visit_ended",
    ];

    /// This notice's `"kind"` on the wire (`"unknown"` for [`VisitNotice::Unknown`]).
    pub fn kind(&self) -> &'static str {
        match self {
            VisitNotice::ParticipantJoined { .. } => "participant_joined",
            VisitNotice::ParticipantLeft { .. } => "participant_left",
            VisitNotice::ParticipantReconnecting { .. } => "participant_reconnecting",
            VisitNotice::TimeWarning { .. } => "time_warning",
            VisitNotice::SlotExtended { .. } => "slot_extended",
            VisitNotice::VisitEnded { .. } => "visit_ended",
            VisitNotice::Unknown => "unknown",
        }
    }
}

/// Why a visit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The booked time is over.
    SlotOver,
    /// The other participant left for good.
    ParticipantLeft,
    /// A staff member stopped the visit.
    StoppedByStaff,
    /// The server is shutting down.
    ServerShutdown,
    /// The lawyer registry withdrew the lawyer's licence (suspended, revoked, ...) during the
    /// visit (R-VERIFY-1).
    LicenceWithdrawn,
    /// The lawyer cancelled the visit.
    Cancelled,
    /// The detainee declined the visit in writing; staff recorded it (R-ARRANGE-5).
    Declined,
    /// A participant said the end-to-end encryption check codes differ (R-PRIV-1): someone may
    /// be in the middle, so the visit was ended. (Last but one: `Other` must stay last.)
    E2eeCheckFailed,
    /// The booth's client certificate was revoked during the visit (R-VERIFY-4).
    CertificateRevoked,
    /// Any other reason, including reasons this version does not know; the
    /// notice's `message` says what happened.
    #[serde(other)]
    Other,
}

impl EndReason {
    /// The wire spelling, e.g. `"slot_over"`.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::SlotOver => "slot_over",
            EndReason::ParticipantLeft => "participant_left",
            EndReason::StoppedByStaff => "stopped_by_staff",
            EndReason::ServerShutdown => "server_shutdown",
            EndReason::LicenceWithdrawn => "licence_withdrawn",
            EndReason::Cancelled => "cancelled",
            EndReason::Declined => "declined",
            EndReason::Other => "other",
            EndReason::E2eeCheckFailed => "e2ee_check_failed",
            EndReason::CertificateRevoked => "certificate_revoked",
        }
    }

    /// A plain sentence for the people in the visit.
    pub fn default_message(self) -> &'static str {
        match self {
            EndReason::SlotOver => "The visit has ended because the booked time is over.",
            EndReason::ParticipantLeft => "The visit has ended because the other side left.",
            EndReason::StoppedByStaff => "The visit was stopped by facility staff.",
            EndReason::ServerShutdown => {
                "The visit has ended because the service is restarting. Please join again."
            }
            EndReason::LicenceWithdrawn => {
                "The visit has ended because the lawyer registry no longer shows the lawyer's licence in good standing."
            }
            EndReason::Cancelled => "The visit has ended because the lawyer cancelled it.",
            EndReason::Declined => "The visit has ended because the detainee declined it.",
            EndReason::Other => "The visit has ended.",
            EndReason::E2eeCheckFailed => {
                "The visit has ended because the security check codes on the two screens did not match."
            }
            EndReason::CertificateRevoked => {
                "The visit has ended because the booth terminal's certificate was revoked."
            }
        }
    }
}

/// Everyone the server let into the visit, as one participant's screen must show them
/// (R-VERIFY-4, docs/DESIGN.md invariant 10). The list is per receiver: `you` and the
/// m-line ids are the receiving connection's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// Every participant holding a place in the visit, the receiver included, in the order
    /// they joined.
    pub participants: Vec<RosterEntry>,
}

/// One participant of the visit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// Stable for the life of the participant's connection (a new connection, e.g. a
    /// rejoin, gets a new id). Opaque: compare, never parse.
    pub id: u64,
    pub role: Role,
    /// What the others are shown: the lawyer's, assistant's or interpreter's display name,
    /// or the booth's label. Never a licence or identity number, never an address.
    pub label: String,
    pub state: PresenceState,
    /// This entry is the receiving connection itself.
    #[serde(default)]
    pub you: bool,
    /// The receiver's m-line (`mid`) on which this participant's audio arrives; absent
    /// while none carries it (not yet connected, or the receiver offered too few m-lines).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_mid: Option<String>,
    /// The same for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video_mid: Option<String>,
    /// The participant says its microphone is muted (its last `media_state`; R-REMOTE-1).
    /// For display only; absent (false) until it says so, and from older servers.
    #[serde(default, skip_serializing_if = "is_false")]
    pub audio_muted: bool,
    /// The participant says its camera is off (its last `media_state`). Display only.
    #[serde(default, skip_serializing_if = "is_false")]
    pub video_off: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Whether a participant is connected, or interrupted and keeping its place for the grace
/// period (R-REMOTE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    Present,
    Reconnecting,
    /// A state this version does not know (sent by a newer server).
    #[serde(other)]
    Unknown,
}
