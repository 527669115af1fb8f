//! TURN REST credentials (the scheme coturn checks with `use-auth-secret`): the username
//! is `<expiry unix seconds>:<visit id>:<participant tag>`, the password is
//! base64(HMAC-SHA1(shared secret, username)). coturn recomputes the password from the
//! username and refuses it after the expiry, so confer never tells coturn about a
//! participant: the credential itself is bound to the visit, the participant and the time
//! (R-REMOTE-2).
//!
//! Pure: no clock, no I/O. The participant tag is a role and an account or booth id,
//! never a name (coturn logs usernames).

use crate::ids::{ParticipantId, VisitId};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chrono::{DateTime, Utc};

/// Shortest shared secret accepted (characters; the generated one has 64 hex digits).
pub const MIN_SECRET_LEN: usize = 32;

/// One participant's TURN credential for one visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnCredential {
    pub urls: Vec<String>,
    pub username: String,
    pub password: String,
    pub expires_at: DateTime<Utc>,
}

/// `lawyer-3`, `booth-demo-booth-1`, ...: the role and the account or booth id, with no
/// `:` (coturn splits the username at the first `:`, the timestamp comes first).
pub fn participant_tag(p: &ParticipantId) -> String {
    let raw = match p {
        ParticipantId::Lawyer(id) => format!("lawyer-{id}"),
        ParticipantId::Booth(id) => format!("booth-{id}"),
        ParticipantId::Assistant(id) => format!("assistant-{id}"),
        ParticipantId::Interpreter(id) => format!("interpreter-{id}"),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The TURN REST username: `<expiry unix seconds>:<visit id>:<participant tag>`.
pub fn username(expires_at: DateTime<Utc>, visit: VisitId, participant: &ParticipantId) -> String {
    format!(
        "{}:{}:{}",
        expires_at.timestamp(),
        visit,
        participant_tag(participant)
    )
}

/// base64(HMAC-SHA1(secret, username)), as coturn's `static-auth-secret` computes it.
pub fn password(secret: &str, username: &str) -> String {
    // SHA-1 is what the TURN REST scheme (and coturn) use for this MAC.
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    STANDARD.encode(ring::hmac::sign(&key, username.as_bytes()).as_ref())
}

/// The credential for `participant` in `visit`, valid until `expires_at`.
pub fn credential(
    secret: &str,
    urls: &[String],
    expires_at: DateTime<Utc>,
    visit: VisitId,
    participant: &ParticipantId,
) -> TurnCredential {
    let username = username(expires_at, visit, participant);
    TurnCredential {
        urls: urls.to_vec(),
        password: password(secret, &username),
        username,
        expires_at,
    }
}

/// Whether `s` can be a shared secret: long enough, and only characters that survive a
/// coturn configuration line unquoted.
pub fn valid_secret(s: &str) -> bool {
    s.len() >= MIN_SECRET_LEN && s.chars().all(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BoothId, LawyerId};
    use chrono::TimeZone;

    #[test]
    fn the_password_is_the_hmac_sha1_of_the_username_in_base64() {
        // R-REMOTE-2. RFC 2202 test case 2 ("Jefe", "what do ya want for nothing?"),
        // HMAC-SHA1 = effcdf6ae5eb2fa2d27416d5f184df9c259a7c79.
        assert_eq!(
            password("Jefe", "what do ya want for nothing?"),
            "7/zfauXrL6LSdBbV8YTfnCWafHk="
        );
    }

    #[test]
    fn the_username_carries_expiry_visit_and_participant_and_no_second_colon_in_the_tag() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 18, 0, 0).unwrap();
        let u = username(at, VisitId(42), &ParticipantId::Lawyer(LawyerId(3)));
        assert_eq!(u, format!("{}:42:lawyer-3", at.timestamp()));
        let b = username(
            at,
            VisitId(42),
            &ParticipantId::Booth(BoothId("a:b c".into())),
        );
        assert_eq!(b, format!("{}:42:booth-a_b_c", at.timestamp()));
        let c = credential(
            "s3cret",
            &["turns:x:443?transport=tcp".into()],
            at,
            VisitId(42),
            &ParticipantId::Lawyer(LawyerId(3)),
        );
        assert_eq!(c.password, password("s3cret", &u));
        assert_ne!(c.password, password("other", &u), "bound to the secret");
        let other = username(at, VisitId(43), &ParticipantId::Lawyer(LawyerId(3)));
        assert_ne!(c.password, password("s3cret", &other), "bound to the visit");
    }

    #[test]
    fn secrets_must_be_long_and_plain() {
        assert!(valid_secret(&"a1".repeat(16)));
        assert!(!valid_secret("short"));
        assert!(!valid_secret(&format!("{} x", "a".repeat(40))));
    }
}
