//! The server side of one signalling connection, as a pure state machine.
//!
//! [`ServerSession`] knows which message may come when, and nothing else: no
//! sockets, no clock, no tokens, no visits. The server's WebSocket handler
//! drives it like this:
//!
//! 1. decode a frame with [`crate::decode_client`]; on error send the error and
//!    call [`ServerSession::record_error`];
//! 2. pass the message to [`ServerSession::on_message`]; on `Err(code)` send
//!    that error and call `record_error`; on `Ok(step)` carry the step out;
//! 3. report the outcome of a step that needs the rest of the server:
//!    [`join_succeeded`](ServerSession::join_succeeded) /
//!    [`join_failed`](ServerSession::join_failed) after `Step::Join`,
//!    [`offer_answered`](ServerSession::offer_answered) /
//!    [`offer_failed`](ServerSession::offer_failed) after `Step::Offer`
//!    (a failed join or offer is also an error: call `record_error`);
//! 4. close the socket when [`ServerSession::is_closed`] (after `leave`, an
//!    unsupported version, [`AbuseVerdict::Close`], or [`ServerSession::close`]
//!    when the visit ends).
//!
//! ```text
//!               hello(v1)              join                 ok
//! AwaitingHello ────────▶ AwaitingJoin ─────▶ Joining ──────────▶ Joined
//!       │ hello(v≠1)           ▲                 │ failed            │ offer
//!       ▼                      └─────────────────┘                   ▼
//!     Closed ◀── leave / close() / 5 errors (from any state)    Negotiating
//!                                                     answered │      ▲ offer
//!                                                              ▼      │ (renegotiation)
//!                                                            Negotiated
//! ```
//!
//! Renegotiation is allowed: an `offer` in `Negotiated` starts a new round
//! (browsers renegotiate for ICE restarts and track changes). Only one offer is
//! in flight at a time; an offer while `Negotiating` is `out_of_order`. A failed
//! offer returns to where it came from (`Joined`, or `Negotiated` when the
//! earlier negotiation still stands). A failed join returns to `AwaitingJoin`,
//! so a participant can retry with a fresh token (the abuse counter bounds retries).
//! `ping` is answered in every state but `Closed`.

use crate::{ClientMessage, ErrorCode, JoinToken, ResumeToken, Sdp, PROTOCOL_VERSION};

/// Errors (of any kind) tolerated on one connection; the last one closes it.
pub const MAX_ERRORS_PER_CONNECTION: u32 = 5;

/// Where a connection is in the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Connected; the first message must be `hello`.
    AwaitingHello,
    /// Welcomed; waiting for `join`.
    AwaitingJoin,
    /// A `join` is being checked by the server.
    Joining,
    /// In the visit; waiting for the first `offer`.
    Joined,
    /// An `offer` is being answered by the SFU.
    Negotiating,
    /// The peer connection is negotiated; only `offer` (renegotiation), `leave` and `ping` remain.
    Negotiated,
    /// Done; the server closes the socket.
    Closed,
}

/// What the server should do for a message that is allowed now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send `welcome` with this version.
    Welcome { version: u32 },
    /// Check the token and admit the participant (then `join_succeeded`/`join_failed`).
    Join(JoinToken),
    /// Hand the offer to the SFU and send its answer (then `offer_answered`/`offer_failed`).
    Offer(Sdp),
    /// The participant leaves for good: remove it from the visit and close the socket.
    Leave,
    /// Send `pong`.
    Pong,
    /// Take back a seat with a resume credential, instead of joining (R-REMOTE-2); then
    /// `join_succeeded`/`join_failed`, as for a join.
    Resume(ResumeToken),
    /// End-to-end encryption (R-PRIV-1): relay this participant's public key to the visit.
    E2eeKey { public_key: String },
    /// End-to-end encryption: relay a wrapped media key to participant `to` of the visit.
    E2eeMediaKey { to: u64, kid: u64, wrapped: String },
    /// End-to-end encryption: the check codes differ; end the visit (`e2ee_check_failed`).
    E2eeCheckFailed,
    /// The participant's own microphone / camera are on or off (R-REMOTE-1): shown to the
    /// others in the roster, trusted for nothing else.
    MediaState { audio: bool, video: bool },
}

/// What to do after an error on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbuseVerdict {
    /// Keep the connection open.
    Continue,
    /// Send `too_many_errors` and close the connection.
    Close,
}

/// The server reported an outcome that does not fit the current state (a bug
/// in the caller, or a race with `leave`/`close`). The state is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not possible in state {state:?}")]
pub struct InvalidTransition {
    pub state: SessionState,
    pub event: &'static str,
}

/// The protocol state of one server-side connection. See the module docs.
#[derive(Debug, Clone)]
pub struct ServerSession {
    state: SessionState,
    /// Whether a negotiation has completed (where a failed renegotiation returns to).
    negotiated_once: bool,
    errors: u32,
}

impl Default for ServerSession {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerSession {
    pub fn new() -> Self {
        Self {
            state: SessionState::AwaitingHello,
            negotiated_once: false,
            errors: 0,
        }
    }

    pub fn state(&self) -> SessionState {
        self.state
    }

    pub fn is_closed(&self) -> bool {
        self.state == SessionState::Closed
    }

    /// Errors recorded so far on this connection.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// Decide what a message means now. `Err(code)` is the error to send back;
    /// the state is then unchanged, except for `unsupported_version`, which closes.
    pub fn on_message(&mut self, msg: &ClientMessage) -> Result<Step, ErrorCode> {
        use ClientMessage as M;
        use SessionState as S;
        match (self.state, msg) {
            (S::Closed, _) => Err(ErrorCode::OutOfOrder),
            (_, M::Ping) => Ok(Step::Pong),
            (_, M::Leave) => {
                self.state = S::Closed;
                Ok(Step::Leave)
            }
            (S::AwaitingHello, M::Hello { version, .. }) => {
                if *version == PROTOCOL_VERSION {
                    self.state = S::AwaitingJoin;
                    Ok(Step::Welcome {
                        version: PROTOCOL_VERSION,
                    })
                } else {
                    self.state = S::Closed;
                    Err(ErrorCode::UnsupportedVersion)
                }
            }
            (S::AwaitingJoin, M::Join { token }) => {
                self.state = S::Joining;
                Ok(Step::Join(token.clone()))
            }
            (S::AwaitingJoin, M::Resume { token }) => {
                self.state = S::Joining;
                Ok(Step::Resume(token.clone()))
            }
            (S::Joined | S::Negotiated, M::Offer { sdp }) => {
                self.state = S::Negotiating;
                Ok(Step::Offer(sdp.clone()))
            }
            // End-to-end encryption (R-PRIV-1): once in a visit, at any time.
            (S::Joined | S::Negotiating | S::Negotiated, M::E2eeKey { public_key }) => {
                Ok(Step::E2eeKey {
                    public_key: public_key.clone(),
                })
            }
            (S::Joined | S::Negotiating | S::Negotiated, M::E2eeMediaKey { to, kid, wrapped }) => {
                Ok(Step::E2eeMediaKey {
                    to: *to,
                    kid: *kid,
                    wrapped: wrapped.clone(),
                })
            }
            (S::Joined | S::Negotiating | S::Negotiated, M::E2eeCheckFailed) => {
                Ok(Step::E2eeCheckFailed)
            }
            (S::Joined | S::Negotiating | S::Negotiated, M::MediaState { audio, video }) => {
                Ok(Step::MediaState {
                    audio: *audio,
                    video: *video,
                })
            }
            (
                S::AwaitingHello | S::AwaitingJoin | S::Joining,
                M::E2eeKey { .. }
                | M::E2eeMediaKey { .. }
                | M::E2eeCheckFailed
                | M::MediaState { .. },
            ) => Err(ErrorCode::OutOfOrder),
            (
                S::AwaitingHello
                | S::AwaitingJoin
                | S::Joining
                | S::Joined
                | S::Negotiating
                | S::Negotiated,
                M::Hello { .. } | M::Join { .. } | M::Offer { .. } | M::Resume { .. },
            ) => Err(ErrorCode::OutOfOrder),
        }
    }

    /// Count one error (of any kind) on this connection. The
    /// [`MAX_ERRORS_PER_CONNECTION`]th error closes the session.
    pub fn record_error(&mut self) -> AbuseVerdict {
        self.errors = self.errors.saturating_add(1);
        if self.errors >= MAX_ERRORS_PER_CONNECTION {
            self.state = SessionState::Closed;
            AbuseVerdict::Close
        } else {
            AbuseVerdict::Continue
        }
    }

    /// The join was admitted; the server has sent `joined`.
    pub fn join_succeeded(&mut self) -> Result<(), InvalidTransition> {
        self.transition(
            "join_succeeded",
            SessionState::Joining,
            SessionState::Joined,
        )
    }

    /// The join was refused; the participant may try again with another token.
    pub fn join_failed(&mut self) -> Result<(), InvalidTransition> {
        self.transition(
            "join_failed",
            SessionState::Joining,
            SessionState::AwaitingJoin,
        )
    }

    /// The SFU answered the offer; the server has sent `answer`.
    pub fn offer_answered(&mut self) -> Result<(), InvalidTransition> {
        self.transition(
            "offer_answered",
            SessionState::Negotiating,
            SessionState::Negotiated,
        )?;
        self.negotiated_once = true;
        Ok(())
    }

    /// The offer could not be used; back to where the offer came from.
    pub fn offer_failed(&mut self) -> Result<(), InvalidTransition> {
        let back = if self.negotiated_once {
            SessionState::Negotiated
        } else {
            SessionState::Joined
        };
        self.transition("offer_failed", SessionState::Negotiating, back)
    }

    /// The server ends the conversation (visit ended, shutdown, transport error).
    pub fn close(&mut self) {
        self.state = SessionState::Closed;
    }

    fn transition(
        &mut self,
        event: &'static str,
        from: SessionState,
        to: SessionState,
    ) -> Result<(), InvalidTransition> {
        if self.state == from {
            self.state = to;
            Ok(())
        } else {
            Err(InvalidTransition {
                state: self.state,
                event,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SessionState as S;

    const ALL_STATES: [SessionState; 7] = [
        S::AwaitingHello,
        S::AwaitingJoin,
        S::Joining,
        S::Joined,
        S::Negotiating,
        S::Negotiated,
        S::Closed,
    ];

    fn hello() -> ClientMessage {
        ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            client: "test".into(),
            device: None,
        }
    }
    fn join() -> ClientMessage {
        ClientMessage::Join { token: "t".into() }
    }
    fn offer() -> ClientMessage {
        ClientMessage::Offer { sdp: "v=0".into() }
    }
    fn resume() -> ClientMessage {
        ClientMessage::Resume { token: "r".into() }
    }

    /// A session brought to `state` through the public API only.
    fn session_in(state: SessionState) -> ServerSession {
        let mut s = ServerSession::new();
        let path: &[fn(&mut ServerSession)] = match state {
            S::AwaitingHello => &[],
            S::AwaitingJoin => &[|s| {
                let _ = s.on_message(&hello());
            }],
            S::Joining => &[
                |s| {
                    let _ = s.on_message(&hello());
                },
                |s| {
                    let _ = s.on_message(&join());
                },
            ],
            S::Joined => &[
                |s| {
                    let _ = s.on_message(&hello());
                },
                |s| {
                    let _ = s.on_message(&join());
                },
                |s| s.join_succeeded().unwrap(),
            ],
            S::Negotiating => &[
                |s| {
                    let _ = s.on_message(&hello());
                },
                |s| {
                    let _ = s.on_message(&join());
                },
                |s| s.join_succeeded().unwrap(),
                |s| {
                    let _ = s.on_message(&offer());
                },
            ],
            S::Negotiated => &[
                |s| {
                    let _ = s.on_message(&hello());
                },
                |s| {
                    let _ = s.on_message(&join());
                },
                |s| s.join_succeeded().unwrap(),
                |s| {
                    let _ = s.on_message(&offer());
                },
                |s| s.offer_answered().unwrap(),
            ],
            S::Closed => &[|s| s.close()],
        };
        for step in path {
            step(&mut s);
        }
        assert_eq!(s.state(), state);
        s
    }

    type Outcome = Result<(fn(&Step) -> bool, SessionState), ErrorCode>;

    /// The whole table: (state, message) -> step and next state, or the error.
    fn expected(state: SessionState, msg: &ClientMessage) -> Outcome {
        use ClientMessage as M;
        let welcome: fn(&Step) -> bool = |s| *s == Step::Welcome { version: 1 };
        let join: fn(&Step) -> bool = |s| *s == Step::Join("t".into());
        let offer: fn(&Step) -> bool = |s| *s == Step::Offer("v=0".into());
        let leave: fn(&Step) -> bool = |s| *s == Step::Leave;
        let pong: fn(&Step) -> bool = |s| *s == Step::Pong;
        let resume: fn(&Step) -> bool = |s| *s == Step::Resume("r".into());
        match (state, msg) {
            (S::Closed, _) => Err(ErrorCode::OutOfOrder),
            (_, M::Ping) => Ok((pong, state)),
            (_, M::Leave) => Ok((leave, S::Closed)),
            (S::AwaitingHello, M::Hello { .. }) => Ok((welcome, S::AwaitingJoin)),
            (S::AwaitingJoin, M::Join { .. }) => Ok((join, S::Joining)),
            // R-REMOTE-2: a resume takes the place of a join.
            (S::AwaitingJoin, M::Resume { .. }) => Ok((resume, S::Joining)),
            (S::Joined, M::Offer { .. }) => Ok((offer, S::Negotiating)),
            (S::Negotiated, M::Offer { .. }) => Ok((offer, S::Negotiating)),
            _ => Err(ErrorCode::OutOfOrder),
        }
    }

    #[test]
    fn every_message_in_every_state_follows_the_table() {
        for state in ALL_STATES {
            for msg in [
                hello(),
                join(),
                offer(),
                ClientMessage::Leave,
                ClientMessage::Ping,
                resume(),
            ] {
                let mut s = session_in(state);
                let got = s.on_message(&msg);
                match expected(state, &msg) {
                    Ok((is_step, next)) => {
                        let step = got.unwrap_or_else(|e| panic!("{state:?} {msg:?}: {e}"));
                        assert!(is_step(&step), "{state:?} {msg:?}: {step:?}");
                        assert_eq!(s.state(), next, "{state:?} {msg:?}");
                    }
                    Err(code) => {
                        assert_eq!(got, Err(code), "{state:?} {msg:?}");
                        assert_eq!(s.state(), state, "an error leaves the state alone");
                    }
                }
            }
        }
    }

    #[test]
    fn the_happy_path_reaches_negotiated() {
        let mut s = ServerSession::new();
        assert_eq!(s.on_message(&hello()), Ok(Step::Welcome { version: 1 }));
        assert_eq!(s.on_message(&join()), Ok(Step::Join("t".into())));
        s.join_succeeded().unwrap();
        assert_eq!(s.on_message(&offer()), Ok(Step::Offer("v=0".into())));
        s.offer_answered().unwrap();
        assert_eq!(s.state(), S::Negotiated);
        assert_eq!(s.on_message(&ClientMessage::Leave), Ok(Step::Leave));
        assert!(s.is_closed());
    }

    #[test]
    fn offer_before_join_is_out_of_order() {
        let mut s = session_in(S::AwaitingJoin);
        assert_eq!(s.on_message(&offer()), Err(ErrorCode::OutOfOrder));
    }

    #[test]
    fn join_before_hello_is_out_of_order() {
        let mut s = ServerSession::new();
        assert_eq!(s.on_message(&join()), Err(ErrorCode::OutOfOrder));
        assert_eq!(s.state(), S::AwaitingHello);
    }

    #[test]
    fn second_hello_is_out_of_order() {
        let mut s = session_in(S::Negotiated);
        assert_eq!(s.on_message(&hello()), Err(ErrorCode::OutOfOrder));
    }

    #[test]
    fn second_join_on_one_connection_is_out_of_order() {
        for state in [S::Joining, S::Joined, S::Negotiating, S::Negotiated] {
            assert_eq!(
                session_in(state).on_message(&join()),
                Err(ErrorCode::OutOfOrder)
            );
        }
    }

    #[test]
    fn only_one_offer_is_in_flight() {
        let mut s = session_in(S::Negotiating);
        assert_eq!(s.on_message(&offer()), Err(ErrorCode::OutOfOrder));
    }

    #[test]
    fn other_protocol_versions_are_unsupported_and_close() {
        for version in [0, 2, u32::MAX] {
            let mut s = ServerSession::new();
            let msg = ClientMessage::Hello {
                version,
                client: "future".into(),
                device: None,
            };
            assert_eq!(s.on_message(&msg), Err(ErrorCode::UnsupportedVersion));
            assert!(s.is_closed());
        }
    }

    #[test]
    fn failed_join_allows_another_token() {
        let mut s = session_in(S::Joining);
        s.join_failed().unwrap();
        assert_eq!(s.state(), S::AwaitingJoin);
        assert_eq!(s.on_message(&join()), Ok(Step::Join("t".into())));
    }

    #[test]
    fn failed_first_offer_returns_to_joined() {
        let mut s = session_in(S::Negotiating);
        s.offer_failed().unwrap();
        assert_eq!(s.state(), S::Joined);
    }

    #[test]
    fn renegotiation_is_allowed_and_a_failed_one_keeps_the_old_negotiation() {
        let mut s = session_in(S::Negotiated);
        assert_eq!(s.on_message(&offer()), Ok(Step::Offer("v=0".into())));
        s.offer_failed().unwrap();
        assert_eq!(s.state(), S::Negotiated);
        assert_eq!(s.on_message(&offer()), Ok(Step::Offer("v=0".into())));
        s.offer_answered().unwrap();
        assert_eq!(s.state(), S::Negotiated);
    }

    #[test]
    fn outcomes_reported_in_the_wrong_state_are_refused_and_change_nothing() {
        type Report = fn(&mut ServerSession) -> Result<(), InvalidTransition>;
        let reports: [(Report, SessionState); 4] = [
            (ServerSession::join_succeeded, S::Joining),
            (ServerSession::join_failed, S::Joining),
            (ServerSession::offer_answered, S::Negotiating),
            (ServerSession::offer_failed, S::Negotiating),
        ];
        for (report, allowed_in) in reports {
            for state in ALL_STATES {
                let mut s = session_in(state);
                let result = report(&mut s);
                if state == allowed_in {
                    assert!(result.is_ok());
                } else {
                    assert_eq!(result.unwrap_err().state, state);
                    assert_eq!(s.state(), state);
                }
            }
        }
    }

    #[test]
    fn a_join_that_completes_after_leave_is_refused() {
        let mut s = session_in(S::Joining);
        assert_eq!(s.on_message(&ClientMessage::Leave), Ok(Step::Leave));
        assert!(s.join_succeeded().is_err());
        assert!(s.is_closed());
    }

    #[test]
    fn ping_is_answered_before_hello_and_after_negotiation() {
        for state in [S::AwaitingHello, S::Negotiated] {
            let mut s = session_in(state);
            assert_eq!(s.on_message(&ClientMessage::Ping), Ok(Step::Pong));
            assert_eq!(s.state(), state);
        }
    }

    #[test]
    fn nothing_is_accepted_after_close() {
        let mut s = session_in(S::Negotiated);
        s.close();
        for msg in [
            hello(),
            join(),
            offer(),
            ClientMessage::Leave,
            ClientMessage::Ping,
        ] {
            assert_eq!(s.on_message(&msg), Err(ErrorCode::OutOfOrder));
        }
    }

    #[test]
    fn abuse_counter_closes_after_five_errors() {
        let mut s = session_in(S::AwaitingJoin);
        for n in 1..MAX_ERRORS_PER_CONNECTION {
            assert_eq!(s.record_error(), AbuseVerdict::Continue, "error {n}");
            assert!(!s.is_closed());
        }
        assert_eq!(s.record_error(), AbuseVerdict::Close);
        assert_eq!(s.errors(), 5);
        assert!(s.is_closed());
        assert_eq!(s.record_error(), AbuseVerdict::Close, "stays closed");
    }

    #[test]
    fn abuse_counter_counts_errors_not_messages() {
        let mut s = ServerSession::new();
        for _ in 0..100 {
            assert_eq!(s.on_message(&ClientMessage::Ping), Ok(Step::Pong));
        }
        assert_eq!(s.record_error(), AbuseVerdict::Continue);
        assert_eq!(s.errors(), 1);
    }

    #[test]
    fn abuse_counter_survives_join_retries() {
        // Token guessing: every failed join is an error, and the fifth closes.
        let mut s = session_in(S::AwaitingJoin);
        for attempt in 1..=MAX_ERRORS_PER_CONNECTION {
            assert_eq!(s.on_message(&join()), Ok(Step::Join("t".into())));
            s.join_failed().unwrap();
            let verdict = s.record_error();
            if attempt < MAX_ERRORS_PER_CONNECTION {
                assert_eq!(verdict, AbuseVerdict::Continue);
            } else {
                assert_eq!(verdict, AbuseVerdict::Close);
            }
        }
        assert_eq!(s.on_message(&join()), Err(ErrorCode::OutOfOrder));
    }
}
