//! The stable, machine-readable refusal codes of the wire protocol.
//!
//! A closed enum on purpose: every code the server can send is listed here, with
//! a default sentence a lawyer or a booth operator understands. The server maps
//! its own errors onto these codes; it never invents a code string.
//!
//! To add a code: add a variant, its wire spelling in [`ErrorCode::as_str`], its
//! sentence in [`ErrorCode::default_message`], and the variant to
//! [`ErrorCode::ALL`]. The tests check that the three agree with serde. Never
//! rename or reuse a code: browsers and booth kiosks match on the strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why the server refused a message or a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or a known message with missing, extra or mistyped fields.
    MalformedMessage,
    /// A `"type"` this server does not know.
    UnknownMessage,
    /// Larger than [`crate::MAX_MESSAGE_BYTES`].
    MessageTooLarge,
    /// A known message at the wrong point of the conversation (e.g. `offer` before `join`).
    OutOfOrder,
    /// The client's `hello` names a protocol version the server does not speak.
    UnsupportedVersion,
    /// The join token is not one the server issued (bad signature, wrong visit, garbage).
    InvalidToken,
    /// The join token was valid once but has expired.
    TokenExpired,
    /// The join token has already been used.
    TokenReplayed,
    /// The caller is not a participant of this visit.
    NotAParticipant,
    /// A booth must connect with its client certificate.
    BoothCertificateRequired,
    /// The booth's certificate names a different booth than the visit's.
    BoothMismatch,
    /// The slot has not started yet.
    TooEarly,
    /// The slot is over.
    SlotOver,
    /// The visit has already ended (stopped, or the other side left for good).
    VisitEnded,
    /// The SDP offer could not be used.
    BadOffer,
    /// Too many errors on one connection; the server closes it.
    TooManyErrors,
    /// The lawyer's practising licence could not be confirmed with the registry.
    LicenceNotVerified,
    /// A dependency (registry, database, audit log) is unavailable; the server
    /// fails closed and admits nobody until it is back.
    Unavailable,
    /// The engagement's documents (firm letter, power of attorney or legal-aid letter)
    /// are missing, not yet checked, or were rejected.
    DocumentsIncomplete,
    /// The case needs the investigating unit's written permission, and none is recorded.
    PermissionRequired,
    /// The account is locked (suspected impersonation); staff must unlock it.
    AccountLocked,
    /// The same participant is already connected from another device.
    AlreadyConnected,
    /// A borrowed interrogation room is not ready: the lawyer's consent or the attestation
    /// that its recording and monitoring equipment is off is missing.
    RoomNotReady,
    /// Anything else that went wrong inside the server. Details stay in its logs.
    Internal,
    /// The resume credential is not one this server issued (or it was altered).
    ResumeInvalid,
    /// The resume credential was already used (single use; each resume issues a new one).
    ResumeReplayed,
    /// The seat the resume credential names is gone: the grace period ended, the
    /// participant left, its media ended, or the server restarted. Join again.
    ResumeExpired,
    /// The resume credential belongs to another device (tab or terminal).
    ResumeWrongDevice,
    /// An assistant or interpreter may join only while the visit's lawyer is present
    /// (R-VERIFY-4).
    LawyerNotPresent,
    /// The booth's client certificate was revoked (R-VERIFY-4): on the facility's deny list
    /// or in its CA's revocation list. The facility must issue a new one.
    CertificateRevoked,
}

impl ErrorCode {
    /// Every code, in declaration order.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::MalformedMessage,
        ErrorCode::UnknownMessage,
        ErrorCode::MessageTooLarge,
        ErrorCode::OutOfOrder,
        ErrorCode::UnsupportedVersion,
        ErrorCode::InvalidToken,
        ErrorCode::TokenExpired,
        ErrorCode::TokenReplayed,
        ErrorCode::NotAParticipant,
        ErrorCode::BoothCertificateRequired,
        ErrorCode::BoothMismatch,
        ErrorCode::TooEarly,
        ErrorCode::SlotOver,
        ErrorCode::VisitEnded,
        ErrorCode::BadOffer,
        ErrorCode::TooManyErrors,
        ErrorCode::LicenceNotVerified,
        ErrorCode::Unavailable,
        ErrorCode::DocumentsIncomplete,
        ErrorCode::PermissionRequired,
        ErrorCode::AccountLocked,
        ErrorCode::AlreadyConnected,
        ErrorCode::RoomNotReady,
        ErrorCode::Internal,
        ErrorCode::ResumeInvalid,
        ErrorCode::ResumeReplayed,
        ErrorCode::ResumeExpired,
        ErrorCode::ResumeWrongDevice,
        ErrorCode::LawyerNotPresent,
        ErrorCode::CertificateRevoked,
    ];

    /// The stable wire spelling, e.g. `"token_expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "malformed_message",
            ErrorCode::UnknownMessage => "unknown_message",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::OutOfOrder => "out_of_order",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::TokenReplayed => "token_replayed",
            ErrorCode::NotAParticipant => "not_a_participant",
            ErrorCode::BoothCertificateRequired => "booth_certificate_required",
            ErrorCode::BoothMismatch => "booth_mismatch",
            ErrorCode::TooEarly => "too_early",
            ErrorCode::SlotOver => "slot_over",
            ErrorCode::VisitEnded => "visit_ended",
            ErrorCode::BadOffer => "bad_offer",
            ErrorCode::TooManyErrors => "too_many_errors",
            ErrorCode::LicenceNotVerified => "licence_not_verified",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::DocumentsIncomplete => "documents_incomplete",
            ErrorCode::PermissionRequired => "permission_required",
            ErrorCode::AccountLocked => "account_locked",
            ErrorCode::AlreadyConnected => "already_connected",
            ErrorCode::RoomNotReady => "room_not_ready",
            ErrorCode::Internal => "internal",
            ErrorCode::ResumeInvalid => "resume_invalid",
            ErrorCode::ResumeReplayed => "resume_replayed",
            ErrorCode::ResumeExpired => "resume_expired",
            ErrorCode::ResumeWrongDevice => "resume_wrong_device",
            ErrorCode::LawyerNotPresent => "lawyer_not_present",
            ErrorCode::CertificateRevoked => "certificate_revoked",
        }
    }

    /// A sentence for the person in front of the screen. The server may send a
    /// more specific one; this is the fallback.
    pub fn default_message(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => {
                "The message could not be read. Please reload the page and try again."
            }
            ErrorCode::UnknownMessage => {
                "The message was not understood. Please reload the page and try again."
            }
            ErrorCode::MessageTooLarge => "The message was too large to accept.",
            ErrorCode::OutOfOrder => {
                "The message arrived at the wrong moment. Please reload the page and try again."
            }
            ErrorCode::UnsupportedVersion => {
                "This page or terminal is out of date. Please reload the page or update the terminal."
            }
            ErrorCode::InvalidToken => "The visit pass is not valid. Please join the visit again.",
            ErrorCode::TokenExpired => "The visit pass has expired. Please join the visit again.",
            ErrorCode::TokenReplayed => {
                "The visit pass has already been used. Please join the visit again."
            }
            ErrorCode::NotAParticipant => "You are not a participant of this visit.",
            ErrorCode::BoothCertificateRequired => {
                "This terminal could not be identified. Please ask facility staff to check its certificate."
            }
            ErrorCode::BoothMismatch => "This visit is booked for a different booth.",
            ErrorCode::TooEarly => "The visit has not started yet. Please wait for the booked time.",
            ErrorCode::SlotOver => "The booked time for this visit is over.",
            ErrorCode::VisitEnded => "This visit has ended.",
            ErrorCode::BadOffer => {
                "The video connection could not be set up. Please check the camera and try again."
            }
            ErrorCode::TooManyErrors => {
                "The connection was closed after too many errors. Please reload the page."
            }
            ErrorCode::LicenceNotVerified => {
                "Your practising licence could not be confirmed with the registry."
            }
            ErrorCode::Unavailable => {
                "The service cannot admit anyone right now. Please try again in a few minutes."
            }
            ErrorCode::DocumentsIncomplete => {
                "Your documents for this client are not complete: upload the law-firm letter and the power of attorney or legal-aid letter, and wait until staff have accepted them."
            }
            ErrorCode::PermissionRequired => {
                "This case needs the investigating unit's written permission before a visit; none is recorded yet."
            }
            ErrorCode::AccountLocked => {
                "This account is locked after repeated licence checks that failed. Please contact the facility's staff."
            }
            ErrorCode::AlreadyConnected => {
                "You are already connected to this visit from another device or tab. Close that one first."
            }
            ErrorCode::RoomNotReady => {
                "The room is not ready: its recording and monitoring equipment must be confirmed off first. Please wait a moment."
            }
            ErrorCode::Internal => "Something went wrong on the server. Please try again.",
            ErrorCode::ResumeInvalid => {
                "The connection could not be restored with this pass. Please join the visit again."
            }
            ErrorCode::ResumeReplayed => {
                "This reconnection pass was already used. Please join the visit again."
            }
            ErrorCode::ResumeExpired => {
                "Your place in the visit was not kept: you were away too long. Please join the visit again."
            }
            ErrorCode::ResumeWrongDevice => {
                "This reconnection pass belongs to another device, so it cannot be used here."
            }
            ErrorCode::LawyerNotPresent => {
                "The lawyer is not in the visit: an assistant or interpreter may join only while the lawyer is present."
            }
            ErrorCode::CertificateRevoked => {
                "This terminal's booth certificate has been revoked. Ask your facility for a new booth certificate."
            }
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_serializes_to_its_stable_snake_case_string() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_string(&code).unwrap();
            assert_eq!(json, format!("\"{}\"", code.as_str()));
            let back: ErrorCode = serde_json::from_str(&json).unwrap();
            assert_eq!(back, code);
        }
    }

    #[test]
    fn every_code_has_a_distinct_string_and_a_sentence() {
        let mut seen = std::collections::HashSet::new();
        for &code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {code}");
            let sentence = code.default_message();
            assert!(sentence.ends_with('.'), "{code}: {sentence}");
            assert!(!sentence.contains(code.as_str()), "{code}: say it in words");
        }
    }

    #[test]
    fn the_codes_promised_to_the_server_are_all_present() {
        // The wire protocol: the list of codes every client must understand.
        let promised = [
            "malformed_message",
            "unknown_message",
            "message_too_large",
            "out_of_order",
            "unsupported_version",
            "invalid_token",
            "token_expired",
            "token_replayed",
            "not_a_participant",
            "booth_certificate_required",
            "booth_mismatch",
            "too_early",
            "slot_over",
            "visit_ended",
            "bad_offer",
            "too_many_errors",
            "internal",
        ];
        for name in promised {
            let code: ErrorCode = serde_json::from_str(&format!("\"{name}\"")).unwrap();
            assert_eq!(code.as_str(), name);
        }
    }

    #[test]
    fn all_lists_every_variant() {
        // A match without a wildcard: adding a variant without listing it here fails to compile,
        // and the count check catches a variant left out of ALL.
        let count = |c: ErrorCode| match c {
            ErrorCode::MalformedMessage
            | ErrorCode::UnknownMessage
            | ErrorCode::MessageTooLarge
            | ErrorCode::OutOfOrder
            | ErrorCode::UnsupportedVersion
            | ErrorCode::InvalidToken
            | ErrorCode::TokenExpired
            | ErrorCode::TokenReplayed
            | ErrorCode::NotAParticipant
            | ErrorCode::BoothCertificateRequired
            | ErrorCode::BoothMismatch
            | ErrorCode::TooEarly
            | ErrorCode::SlotOver
            | ErrorCode::VisitEnded
            | ErrorCode::BadOffer
            | ErrorCode::TooManyErrors
            | ErrorCode::LicenceNotVerified
            | ErrorCode::Unavailable
            | ErrorCode::DocumentsIncomplete
            | ErrorCode::PermissionRequired
            | ErrorCode::AccountLocked
            | ErrorCode::AlreadyConnected
            | ErrorCode::RoomNotReady
            | ErrorCode::Internal
            | ErrorCode::ResumeInvalid
            | ErrorCode::ResumeReplayed
            | ErrorCode::ResumeExpired
            | ErrorCode::ResumeWrongDevice
            | ErrorCode::LawyerNotPresent
            | ErrorCode::CertificateRevoked => 1,
        };
        assert_eq!(ErrorCode::ALL.iter().map(|&c| count(c)).sum::<usize>(), 30);
    }
}
