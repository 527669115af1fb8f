//! Text frames to messages and back, for both ends of the connection.
//!
//! Decoding is where network input first meets our code, so it follows three
//! rules: the size is checked *before* any parsing, nothing here panics, and an
//! error says which [`ErrorCode`] to send back (`message_too_large`,
//! `unknown_message` for a `"type"` we do not know, `malformed_message` for
//! everything else). Nesting depth is bounded by serde_json's recursion limit
//! (128), so deeply nested input is a `malformed_message`, not a stack overflow.
//!
//! This module does not decide whether a message is allowed *now*; that is
//! [`crate::session`].

use serde::Deserialize;

use crate::{ClientMessage, ErrorCode, ServerMessage, MAX_MESSAGE_BYTES};

/// Why a text frame is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// Larger than [`MAX_MESSAGE_BYTES`]; not parsed at all.
    #[error("message of {size} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes")]
    TooLarge { size: usize },
    /// Valid JSON with a string `"type"` this version does not know.
    /// The name is cut to [`UnknownType::MAX_LEN`] bytes.
    #[error("unknown message type {0:?}")]
    UnknownType(UnknownType),
    /// Anything else: not JSON, not an object, no `"type"`, or wrong fields.
    #[error("malformed message ({0})")]
    Malformed(Malformed),
}

impl ProtocolError {
    /// The code to send back to the peer.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProtocolError::TooLarge { .. } => ErrorCode::MessageTooLarge,
            ProtocolError::UnknownType(_) => ErrorCode::UnknownMessage,
            ProtocolError::Malformed(_) => ErrorCode::MalformedMessage,
        }
    }

    /// A sentence for the peer that sent the frame: the code's default sentence,
    /// plus, for a malformed message, what serde found wrong. May quote parts of
    /// the peer's own input, so send it back, but do not log it.
    pub fn reply_message(&self) -> String {
        match self {
            ProtocolError::Malformed(m) => {
                format!("{} ({})", self.code().default_message(), m.detail)
            }
            _ => self.code().default_message().to_owned(),
        }
    }

    /// The `error` message to send back for this frame.
    pub fn to_server_message(&self) -> ServerMessage {
        ServerMessage::Error {
            code: self.code(),
            message: self.reply_message(),
        }
    }
}

/// The unknown `"type"` of a message, cut short.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownType(String);

impl UnknownType {
    /// Longest type name kept (longer names are cut at a character boundary).
    pub const MAX_LEN: usize = 32;

    fn new(name: &str) -> Self {
        let mut end = name.len().min(Self::MAX_LEN);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        Self(name[..end].to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UnknownType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What was wrong with a malformed message.
///
/// `Display` shows only the category and position (safe to log); [`Malformed::detail`]
/// is serde's description, which may quote the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    category: &'static str,
    line: usize,
    column: usize,
    detail: String,
}

impl Malformed {
    /// Longest detail kept, in bytes.
    const MAX_DETAIL: usize = 160;

    fn from_serde(err: &serde_json::Error) -> Self {
        let category = match err.classify() {
            serde_json::error::Category::Io => "io",
            serde_json::error::Category::Syntax => "syntax",
            serde_json::error::Category::Data => "data",
            serde_json::error::Category::Eof => "truncated",
        };
        let mut detail = err.to_string();
        if detail.len() > Self::MAX_DETAIL {
            let mut end = Self::MAX_DETAIL;
            while !detail.is_char_boundary(end) {
                end -= 1;
            }
            detail.truncate(end);
            detail.push('…');
        }
        Self {
            category,
            line: err.line(),
            column: err.column(),
            detail,
        }
    }

    fn missing_type() -> Self {
        Self {
            category: "data",
            line: 0,
            column: 0,
            detail: "missing field `type`".to_owned(),
        }
    }

    /// serde's description of the problem (may quote the input).
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} error at line {} column {}",
            self.category, self.line, self.column
        )
    }
}

/// Just the `"type"` of a message; every other field is skipped (but still
/// checked to be JSON, within the same depth limit).
#[derive(Deserialize)]
struct TypeProbe {
    #[serde(rename = "type", default)]
    ty: Option<String>,
}

/// Decode one message, with `known_types` deciding unknown-versus-malformed.
fn decode<T: serde::de::DeserializeOwned>(
    text: &str,
    known_types: &[&str],
) -> Result<T, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::TooLarge { size: text.len() });
    }
    match serde_json::from_str::<T>(text) {
        Ok(msg) => Ok(msg),
        Err(err) => {
            // Tell an unknown type apart from a broken known one. The probe reads
            // the same bounded text once more; this only happens on the error path.
            match serde_json::from_str::<TypeProbe>(text) {
                Ok(TypeProbe { ty: Some(ty), .. }) if !known_types.contains(&ty.as_str()) => {
                    Err(ProtocolError::UnknownType(UnknownType::new(&ty)))
                }
                Ok(TypeProbe { ty: None, .. }) => {
                    Err(ProtocolError::Malformed(Malformed::missing_type()))
                }
                _ => Err(ProtocolError::Malformed(Malformed::from_serde(&err))),
            }
        }
    }
}

/// Server side: one text frame from a client.
pub fn decode_client(text: &str) -> Result<ClientMessage, ProtocolError> {
    decode(text, ClientMessage::TYPES)
}

/// Client side: one text frame from the server. Tolerant of unknown fields; the
/// same size limit applies.
pub fn decode_server(text: &str) -> Result<ServerMessage, ProtocolError> {
    decode(text, ServerMessage::TYPES)
}

/// Server side: the text frame for a message.
pub fn encode_server(msg: &ServerMessage) -> String {
    // Serializing these types cannot fail (strings, integers, enums and
    // timestamps only; no maps with non-string keys). Should that ever change,
    // answer with an internal error rather than panic.
    serde_json::to_string(msg).unwrap_or_else(|_| {
        String::from(r#"{"type":"error","code":"internal","message":"Something went wrong on the server. Please try again."}"#)
    })
}

/// Client side: the text frame for a message.
pub fn encode_client(msg: &ClientMessage) -> String {
    // Infallible for the same reason as `encode_server`; a `ping` is harmless.
    serde_json::to_string(msg).unwrap_or_else(|_| String::from(r#"{"type":"ping"}"#))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{EndReason, Joined, Role, VisitNotice, Welcome};

    fn every_client_message() -> Vec<ClientMessage> {
        vec![
            ClientMessage::Hello {
                version: crate::PROTOCOL_VERSION,
                client: "confer-web/1".into(),
                device: Some("tab-1".into()),
            },
            ClientMessage::Join {
                token: "v1.abc.def".into(),
            },
            ClientMessage::Offer {
                sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".into(),
            },
            ClientMessage::Leave,
            ClientMessage::Ping,
            ClientMessage::Resume {
                token: "r1.abc".into(),
            },
            ClientMessage::E2eeKey {
                public_key: "BPub".into(),
            },
            ClientMessage::E2eeMediaKey {
                to: 7,
                kid: 0x70001,
                wrapped: "d3JhcHBlZA".into(),
            },
            ClientMessage::E2eeCheckFailed,
            ClientMessage::MediaState {
                audio: false,
                video: true,
            },
        ]
    }

    fn every_server_message() -> Vec<ServerMessage> {
        let ends = Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap();
        let mut all = vec![
            ServerMessage::Welcome(Welcome {
                version: 1,
                server: "confer/0.1.0".into(),
            }),
            ServerMessage::Joined(Joined {
                visit_id: 42,
                role: Role::Lawyer,
                slot_ends_at: ends,
                participants: vec![Role::Booth],
                ice_servers: vec![],
                resume: None,
                renegotiate: false,
            }),
            ServerMessage::Joined(Joined {
                visit_id: 43,
                role: Role::Lawyer,
                slot_ends_at: ends,
                participants: vec![],
                ice_servers: vec![crate::message::IceServer {
                    urls: vec!["turns:media.example:443?transport=tcp".into()],
                    username: "1795771800:43:lawyer-3".into(),
                    credential: "c2VjcmV0".into(),
                }],
                resume: Some(crate::ResumeGrant {
                    token: "r1.abc".into(),
                    expires_at: ends,
                }),
                renegotiate: true,
            }),
            ServerMessage::Answer {
                sdp: "v=0\r\n".into(),
            },
            ServerMessage::Pong,
            ServerMessage::Roster(crate::Roster {
                participants: vec![crate::RosterEntry {
                    id: 7,
                    role: Role::Interpreter,
                    label: "Interpreter".into(),
                    state: crate::PresenceState::Reconnecting,
                    you: false,
                    audio_mid: Some("2".into()),
                    video_mid: None,
                    audio_muted: true,
                    video_off: false,
                }],
            }),
            ServerMessage::E2eeKey {
                from: 7,
                role: Role::Booth,
                public_key: "BPub".into(),
            },
            ServerMessage::E2eeMediaKey {
                from: 7,
                kid: 0x70001,
                wrapped: "d3JhcHBlZA".into(),
            },
            ServerMessage::Moved {
                url: "wss://n2.example:8443/ws".into(),
            },
        ];
        for notice in [
            VisitNotice::ParticipantJoined { role: Role::Booth },
            VisitNotice::ParticipantLeft { role: Role::Lawyer },
            VisitNotice::ParticipantReconnecting { role: Role::Lawyer },
            VisitNotice::TimeWarning { minutes_left: 5 },
            VisitNotice::SlotExtended { slot_ends_at: ends },
            VisitNotice::VisitEnded {
                reason: EndReason::StoppedByStaff,
                message: EndReason::StoppedByStaff.default_message().into(),
            },
        ] {
            all.push(notice.into());
        }
        for &code in ErrorCode::ALL {
            all.push(ServerMessage::error(code));
        }
        all
    }

    // --- round trips -------------------------------------------------------

    #[test]
    fn every_client_message_round_trips() {
        for msg in every_client_message() {
            let text = encode_client(&msg);
            assert_eq!(decode_client(&text), Ok(msg.clone()), "{text}");
            assert!(text.contains(&format!("\"type\":\"{}\"", msg.type_name())));
        }
    }

    #[test]
    fn every_server_message_round_trips() {
        for msg in every_server_message() {
            let text = encode_server(&msg);
            assert_eq!(decode_server(&text), Ok(msg.clone()), "{text}");
            assert!(text.contains(&format!("\"type\":\"{}\"", msg.type_name())));
        }
    }

    #[test]
    fn type_lists_match_the_serde_tags() {
        let client: Vec<_> = every_client_message()
            .iter()
            .map(|m| m.type_name())
            .collect();
        assert_eq!(client, ClientMessage::TYPES);
        let mut server: Vec<_> = every_server_message()
            .iter()
            .map(|m| m.type_name())
            .collect();
        server.dedup();
        let mut expected = ServerMessage::TYPES.to_vec();
        expected.sort_unstable();
        server.sort_unstable();
        server.dedup();
        assert_eq!(server, expected);
    }

    #[test]
    fn notice_kinds_match_the_serde_tags() {
        let kinds: Vec<_> = every_server_message()
            .into_iter()
            .filter_map(|m| match m {
                ServerMessage::Notice { notice } => {
                    let json = serde_json::to_value(&notice).unwrap();
                    assert_eq!(json["kind"], notice.kind());
                    Some(notice.kind())
                }
                _ => None,
            })
            .collect();
        assert_eq!(kinds, VisitNotice::KINDS);
    }

    #[test]
    fn wire_format_is_exactly_as_documented() {
        let ends = Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap();
        let cases: Vec<(String, &str)> = vec![
            (
                encode_client(&ClientMessage::Hello {
                    version: 1,
                    client: "confer-web/1".into(),
                    device: None,
                }),
                r#"{"type":"hello","version":1,"client":"confer-web/1"}"#,
            ),
            (
                encode_client(&ClientMessage::Join { token: "t".into() }),
                r#"{"type":"join","token":"t"}"#,
            ),
            (
                encode_client(&ClientMessage::Offer { sdp: "v=0".into() }),
                r#"{"type":"offer","sdp":"v=0"}"#,
            ),
            (encode_client(&ClientMessage::Leave), r#"{"type":"leave"}"#),
            (encode_client(&ClientMessage::Ping), r#"{"type":"ping"}"#),
            (
                encode_server(&ServerMessage::Welcome(Welcome {
                    version: 1,
                    server: "confer/0.1.0".into(),
                })),
                r#"{"type":"welcome","version":1,"server":"confer/0.1.0"}"#,
            ),
            (
                encode_server(&ServerMessage::Joined(Joined {
                    visit_id: 7,
                    role: Role::Booth,
                    slot_ends_at: ends,
                    participants: vec![Role::Lawyer],
                    ice_servers: vec![],
                    resume: None,
                    renegotiate: false,
                })),
                r#"{"type":"joined","visit_id":7,"role":"booth","slot_ends_at":"2026-11-27T09:30:00Z","participants":["lawyer"]}"#,
            ),
            (
                encode_server(&ServerMessage::Answer { sdp: "v=0".into() }),
                r#"{"type":"answer","sdp":"v=0"}"#,
            ),
            (
                encode_server(&VisitNotice::ParticipantJoined { role: Role::Booth }.into()),
                r#"{"type":"notice","notice":{"kind":"participant_joined","role":"booth"}}"#,
            ),
            (
                encode_server(&VisitNotice::ParticipantLeft { role: Role::Booth }.into()),
                r#"{"type":"notice","notice":{"kind":"participant_left","role":"booth"}}"#,
            ),
            (
                encode_server(&VisitNotice::ParticipantReconnecting { role: Role::Lawyer }.into()),
                r#"{"type":"notice","notice":{"kind":"participant_reconnecting","role":"lawyer"}}"#,
            ),
            (
                encode_server(&VisitNotice::TimeWarning { minutes_left: 1 }.into()),
                r#"{"type":"notice","notice":{"kind":"time_warning","minutes_left":1}}"#,
            ),
            (
                encode_server(&VisitNotice::SlotExtended { slot_ends_at: ends }.into()),
                r#"{"type":"notice","notice":{"kind":"slot_extended","slot_ends_at":"2026-11-27T09:30:00Z"}}"#,
            ),
            (
                encode_server(
                    &VisitNotice::VisitEnded {
                        reason: EndReason::SlotOver,
                        message: "Time is up.".into(),
                    }
                    .into(),
                ),
                r#"{"type":"notice","notice":{"kind":"visit_ended","reason":"slot_over","message":"Time is up."}}"#,
            ),
            (
                encode_server(&ServerMessage::Error {
                    code: ErrorCode::TokenExpired,
                    message: "m".into(),
                }),
                r#"{"type":"error","code":"token_expired","message":"m"}"#,
            ),
            (encode_server(&ServerMessage::Pong), r#"{"type":"pong"}"#),
            (
                encode_server(&ServerMessage::Moved {
                    url: "wss://n2.example:8443/ws".into(),
                }),
                r#"{"type":"moved","url":"wss://n2.example:8443/ws"}"#,
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got, want);
        }
    }

    // --- malformed input ---------------------------------------------------

    fn code_of(text: &str) -> ErrorCode {
        decode_client(text).unwrap_err().code()
    }

    #[test]
    fn bad_json_is_malformed() {
        for text in [
            "",
            " ",
            "{",
            "{\"type\":\"ping\"",
            "not json",
            "{\"type\":'ping'}",
            "nul",
        ] {
            assert_eq!(code_of(text), ErrorCode::MalformedMessage, "{text:?}");
        }
    }

    #[test]
    fn json_that_is_not_an_object_is_malformed() {
        for text in [
            "null",
            "1",
            "\"ping\"",
            "[]",
            "[{\"type\":\"ping\"}]",
            "true",
        ] {
            assert_eq!(code_of(text), ErrorCode::MalformedMessage, "{text:?}");
        }
    }

    #[test]
    fn missing_or_non_string_type_is_malformed() {
        for text in [
            "{}",
            r#"{"version":1,"client":"x"}"#,
            r#"{"type":1}"#,
            r#"{"type":null}"#,
            r#"{"type":["hello"]}"#,
        ] {
            assert_eq!(code_of(text), ErrorCode::MalformedMessage, "{text:?}");
        }
    }

    #[test]
    fn wrong_field_types_are_malformed() {
        for text in [
            r#"{"type":"hello","version":"1","client":"x"}"#,
            r#"{"type":"hello","version":-1,"client":"x"}"#,
            r#"{"type":"hello","version":4294967296,"client":"x"}"#,
            r#"{"type":"hello","version":1.5,"client":"x"}"#,
            r#"{"type":"join","token":42}"#,
            r#"{"type":"join","token":null}"#,
            r#"{"type":"offer","sdp":{"sdp":"v=0"}}"#,
            // R-REMOTE-1: a media state is two booleans, nothing else.
            r#"{"type":"media_state","audio":"off","video":true}"#,
            r#"{"type":"media_state","audio":0,"video":true}"#,
            r#"{"type":"media_state","audio":null,"video":true}"#,
        ] {
            assert_eq!(code_of(text), ErrorCode::MalformedMessage, "{text:?}");
        }
    }

    #[test]
    fn missing_fields_are_malformed() {
        for text in [
            r#"{"type":"hello"}"#,
            r#"{"type":"hello","version":1}"#,
            r#"{"type":"join"}"#,
            r#"{"type":"offer"}"#,
            r#"{"type":"media_state","audio":true}"#,
        ] {
            assert_eq!(code_of(text), ErrorCode::MalformedMessage, "{text:?}");
        }
    }

    #[test]
    fn unknown_fields_in_client_messages_are_malformed() {
        for text in [
            r#"{"type":"join","token":"t","visit_id":1}"#,
            r#"{"type":"hello","version":1,"client":"x","role":"lawyer"}"#,
            r#"{"type":"offer","sdp":"v=0","ice_restart":true}"#,
            r#"{"type":"media_state","audio":true,"video":true,"label":"x"}"#,
        ] {
            assert_eq!(code_of(text), ErrorCode::MalformedMessage, "{text:?}");
        }
    }

    #[test]
    fn extra_fields_on_messages_without_fields_are_ignored() {
        // serde cannot deny unknown fields on unit variants of a tagged enum;
        // `leave` and `ping` carry no data, so nothing is lost by tolerating them.
        assert_eq!(
            decode_client(r#"{"type":"leave","why":"bored"}"#),
            Ok(ClientMessage::Leave)
        );
        assert_eq!(
            decode_client(r#"{"type":"ping","n":1}"#),
            Ok(ClientMessage::Ping)
        );
    }

    #[test]
    fn duplicate_fields_are_malformed() {
        let text = r#"{"type":"join","token":"a","token":"b"}"#;
        assert_eq!(code_of(text), ErrorCode::MalformedMessage);
    }

    #[test]
    fn unknown_type_is_unknown_message_not_malformed() {
        for text in [
            r#"{"type":"subscribe"}"#,
            r#"{"type":"HELLO","version":1,"client":"x"}"#,
            r#"{"type":"welcome","version":1,"server":"x"}"#,
            r#"{"type":"","x":[1,2,{"y":null}]}"#,
        ] {
            assert_eq!(code_of(text), ErrorCode::UnknownMessage, "{text:?}");
        }
    }

    #[test]
    fn unknown_type_name_is_cut_short() {
        let long = "é".repeat(1000);
        let err = decode_client(&format!(r#"{{"type":"{long}"}}"#)).unwrap_err();
        match err {
            ProtocolError::UnknownType(name) => {
                assert!(name.as_str().len() <= UnknownType::MAX_LEN);
                assert!(name.as_str().chars().all(|c| c == 'é'));
            }
            other => panic!("expected unknown type, got {other:?}"),
        }
    }

    #[test]
    fn message_of_exactly_the_limit_is_parsed() {
        let overhead = r#"{"type":"offer","sdp":""}"#.len();
        let text = format!(
            r#"{{"type":"offer","sdp":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES - overhead)
        );
        assert_eq!(text.len(), MAX_MESSAGE_BYTES);
        assert!(matches!(
            decode_client(&text),
            Ok(ClientMessage::Offer { .. })
        ));
    }

    #[test]
    fn message_one_byte_over_the_limit_is_too_large() {
        let overhead = r#"{"type":"offer","sdp":""}"#.len();
        let text = format!(
            r#"{{"type":"offer","sdp":"{}"}}"#,
            "a".repeat(MAX_MESSAGE_BYTES + 1 - overhead)
        );
        assert_eq!(text.len(), MAX_MESSAGE_BYTES + 1);
        assert_eq!(
            decode_client(&text),
            Err(ProtocolError::TooLarge {
                size: MAX_MESSAGE_BYTES + 1
            })
        );
        assert_eq!(code_of(&text), ErrorCode::MessageTooLarge);
    }

    #[test]
    fn huge_message_is_refused_before_parsing() {
        // 64 MiB of garbage: refused on its length alone (it is not even JSON).
        let text = "{".repeat(64 * 1024 * 1024);
        assert_eq!(code_of(&text), ErrorCode::MessageTooLarge);
        assert_eq!(
            decode_server(&text).unwrap_err().code(),
            ErrorCode::MessageTooLarge
        );
    }

    #[test]
    fn deeply_nested_json_is_malformed_not_a_crash() {
        let depth = MAX_MESSAGE_BYTES / 2 - 64;
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(code_of(&arrays), ErrorCode::MalformedMessage);
        let objects = format!(
            r#"{{"type":"offer","sdp":"x","extra":{}1{}}}"#,
            r#"{"a":"#.repeat(depth / 5),
            "}".repeat(depth / 5)
        );
        assert!(objects.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(code_of(&objects), ErrorCode::MalformedMessage);
        let unknown = format!(
            r#"{{"type":"mystery","x":{}{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        );
        // serde_json skips ignored values without recursion, so an unknown type
        // is still recognised as such under any nesting.
        assert_eq!(code_of(&unknown), ErrorCode::UnknownMessage);
        assert_eq!(
            decode_server(&arrays).unwrap_err().code(),
            ErrorCode::MalformedMessage
        );
    }

    #[test]
    fn long_strings_within_the_limit_are_fine() {
        let token = "t".repeat(MAX_MESSAGE_BYTES - 100);
        let text = format!(r#"{{"type":"join","token":"{token}"}}"#);
        assert_eq!(
            decode_client(&text),
            Ok(ClientMessage::Join {
                token: token.as_str().into()
            })
        );
    }

    #[test]
    fn escaped_and_non_ascii_strings_round_trip() {
        let msg = ClientMessage::Hello {
            version: 1,
            client: "\u{0}\"\\\n\u{1F600} Ωmega \u{2028}".into(),
            device: None,
        };
        assert_eq!(decode_client(&encode_client(&msg)), Ok(msg));
    }

    #[test]
    fn malformed_display_does_not_quote_the_input() {
        let err = decode_client(r#"{"type":"hello","version":"SECRET","client":"x"}"#).unwrap_err();
        assert_eq!(err.code(), ErrorCode::MalformedMessage);
        assert!(!err.to_string().contains("SECRET"), "{err}");
        assert!(err.reply_message().contains("SECRET"));
    }

    #[test]
    fn join_token_never_shows_in_debug_output() {
        let msg = decode_client(r#"{"type":"join","token":"SECRET-TOKEN"}"#).unwrap();
        assert!(!format!("{msg:?}").contains("SECRET"));
        let offer = decode_client(r#"{"type":"offer","sdp":"c=IN IP4 10.1.2.3"}"#).unwrap();
        assert!(!format!("{offer:?}").contains("10.1.2.3"));
    }

    // --- forward compatibility of server messages ---------------------------

    #[test]
    fn server_messages_tolerate_unknown_fields() {
        let text = r#"{"type":"welcome","version":1,"server":"confer/9","features":["x"]}"#;
        assert!(matches!(decode_server(text), Ok(ServerMessage::Welcome(_))));
    }

    #[test]
    fn unknown_notice_kind_is_tolerated() {
        let text = r#"{"type":"notice","notice":{"kind":"weather","temperature":21}}"#;
        assert_eq!(
            decode_server(text),
            Ok(ServerMessage::Notice {
                notice: VisitNotice::Unknown
            })
        );
    }

    /// R-REMOTE-2: a client built before `participant_reconnecting` existed reads it as an
    /// unknown notice and carries on; so does this version with a notice from a newer server
    /// that still carries a role.
    #[test]
    fn participant_reconnecting_round_trips_and_unknown_kinds_with_a_role_are_tolerated() {
        let text =
            r#"{"type":"notice","notice":{"kind":"participant_reconnecting","role":"booth"}}"#;
        assert_eq!(
            decode_server(text),
            Ok(VisitNotice::ParticipantReconnecting { role: Role::Booth }.into())
        );
        let newer =
            r#"{"type":"notice","notice":{"kind":"participant_teleported","role":"booth"}}"#;
        assert_eq!(
            decode_server(newer),
            Ok(ServerMessage::Notice {
                notice: VisitNotice::Unknown
            })
        );
    }

    #[test]
    fn unknown_end_reason_becomes_other() {
        let text = r#"{"type":"notice","notice":{"kind":"visit_ended","reason":"fire_drill","message":"Fire drill."}}"#;
        assert_eq!(
            decode_server(text),
            Ok(ServerMessage::Notice {
                notice: VisitNotice::VisitEnded {
                    reason: EndReason::Other,
                    message: "Fire drill.".into()
                }
            })
        );
    }

    #[test]
    fn slot_end_must_be_a_timestamp() {
        let text = r#"{"type":"joined","visit_id":1,"role":"lawyer","slot_ends_at":"soon","participants":[]}"#;
        assert_eq!(
            decode_server(text).unwrap_err().code(),
            ErrorCode::MalformedMessage
        );
        let offset = r#"{"type":"joined","visit_id":1,"role":"lawyer","slot_ends_at":"2026-11-27T10:30:00+01:00","participants":[]}"#;
        match decode_server(offset) {
            Ok(ServerMessage::Joined(j)) => {
                assert_eq!(
                    j.slot_ends_at,
                    Utc.with_ymd_and_hms(2026, 11, 27, 9, 30, 0).unwrap()
                )
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_server_message_type_is_unknown_message() {
        assert_eq!(
            decode_server(r#"{"type":"hello","version":1,"client":"x"}"#)
                .unwrap_err()
                .code(),
            ErrorCode::UnknownMessage
        );
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics() {
        // A cheap deterministic fuzz: mutate valid messages byte by byte.
        let seeds: Vec<String> = every_client_message().iter().map(encode_client).collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for seed in &seeds {
            for _ in 0..500 {
                let mut bytes = seed.clone().into_bytes();
                let n = (next() % 4 + 1) as usize;
                for _ in 0..n {
                    let i = (next() as usize) % bytes.len();
                    let alphabet = b"{}[]\":,\\ 0aZ\x00";
                    bytes[i] = alphabet[(next() as usize) % alphabet.len()];
                }
                if let Ok(text) = String::from_utf8(bytes) {
                    let _ = decode_client(&text);
                    let _ = decode_server(&text);
                }
            }
        }
    }
}
