//! confer's signalling wire protocol: versioned JSON over WSS at `/ws`.
//!
//! This crate is the only place where the wire types are derived (docs/DESIGN.md
//! invariant 7). It owns:
//!
//! - [`message`]: the messages, as serde types ([`ClientMessage`], [`ServerMessage`],
//!   [`VisitNotice`], [`Role`], [`EndReason`]);
//! - [`error_code`]: the closed set of refusal codes ([`ErrorCode`]), each with a
//!   sentence for people;
//! - [`codec`]: text frames to messages and back, size-checked before parsing;
//! - [`session`]: the server side of one connection as a pure state machine
//!   ([`ServerSession`]), with the per-connection abuse counter;
//! - [`client`]: an async Rust client over WSS (tests, load tests, tooling);
//! - [`web`]: the browser pages (lawyer, booth) as static assets.
//!
//! It deliberately does not know about visits, tokens, policy or media: the
//! server (`confer::signaling`) maps its decisions onto these messages.
//!
//! # The conversation
//!
//! ```text
//! client                                   server
//!   hello {version: 1, client}        ──▶
//!                                     ◀──  welcome {version: 1, server}
//!   join {token}                      ──▶
//!                                     ◀──  joined {visit_id, role, slot_ends_at, participants}
//!   offer {sdp}                       ──▶
//!                                     ◀──  answer {sdp}
//!                                     ◀──  notice {notice: {kind: participant_joined, role}} ...
//!   leave                             ──▶       (or)  ◀── notice {notice: {kind: visit_ended, ...}}
//! ```
//!
//! Any request may instead be answered with `error {code, message}`. `ping` ⇄
//! `pong` is allowed at any time. Every message is at most [`MAX_MESSAGE_BYTES`].
//!
//! Liveness (R-REMOTE-2): the server sends a WebSocket Ping every 5 s and closes a
//! connection from which nothing arrived for 15 s; when a participant's connection is
//! interrupted, the others receive `participant_reconnecting`, then `participant_joined`
//! if it comes back within the grace period or `participant_left` if not. See "Liveness"
//! in `signaling/PROTOCOL.md`, the protocol as outside client authors need it.

pub mod client;
pub mod codec;
#[cfg(feature = "e2ee")]
pub mod e2ee;
pub mod error_code;
pub mod message;
pub mod session;
pub mod web;
pub mod web_marker;

pub use client::{ClientError, SignalingClient};
pub use codec::{decode_client, decode_server, encode_client, encode_server, ProtocolError};
pub use error_code::ErrorCode;
pub use message::{
    ClientMessage, EndReason, IceServer, JoinToken, Joined, PresenceState, ResumeGrant,
    ResumeToken, Role, Roster, RosterEntry, Sdp, ServerMessage, VisitNotice, Welcome,
};
pub use session::{
    AbuseVerdict, InvalidTransition, ServerSession, SessionState, Step, MAX_ERRORS_PER_CONNECTION,
};

/// The protocol version this crate speaks. A `hello` with any other version is
/// refused with `unsupported_version`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest message, in bytes, either side accepts. Larger text frames are
/// refused with `message_too_large` before they are parsed.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The path of the WebSocket endpoint.
pub const WS_PATH: &str = "/ws";
