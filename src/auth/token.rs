//! Join tokens: short-lived, single-use capabilities to join one visit as one participant.
//!
//! Format: `v1.<base64url(claims JSON)>.<base64url(HMAC-SHA256(key, "v1." + claims))>`.
//! The key (32 random bytes) lives in `<data-dir>/keys/token.key`. Tokens live at most
//! two minutes (checked by `config`); single use is enforced by the caller through
//! `store::consume_join_token` on the `jti`, which survives restarts.
//!
//! Verification is pure: `now` is an argument. Tokens never appear in logs.

use crate::ids::{ParticipantId, VisitId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::time::Duration;

const PREFIX: &str = "v1.";
/// Tokens are small; anything longer is rejected before decoding.
const MAX_TOKEN_LEN: usize = 1024;

/// What a join token grants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinClaims {
    /// Unique token id; persisted when used.
    pub jti: String,
    pub visit: VisitId,
    pub participant: ParticipantId,
    /// Expiry, Unix seconds.
    pub exp: i64,
}

impl JoinClaims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.exp, 0)
            .single()
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinTokenError {
    #[error("the join token is not valid")]
    Invalid,
    #[error("the join token has expired; ask for a new one")]
    Expired,
}

/// Issues and verifies join tokens with one HMAC key. Cheap to clone.
#[derive(Clone)]
pub struct JoinTokens {
    key: hmac::Key,
    ttl: Duration,
}

impl JoinTokens {
    pub fn new(key_bytes: &[u8; 32], ttl: Duration) -> JoinTokens {
        JoinTokens {
            key: hmac::Key::new(hmac::HMAC_SHA256, key_bytes),
            ttl,
        }
    }

    /// 32 fresh random bytes for a new key file.
    pub fn generate_key() -> [u8; 32] {
        let mut k = [0u8; 32];
        SystemRandom::new()
            .fill(&mut k)
            .expect("the OS random source works");
        k
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Issue a token for `participant` to join `visit`, valid until `now + ttl`.
    pub fn issue(
        &self,
        visit: VisitId,
        participant: ParticipantId,
        now: DateTime<Utc>,
    ) -> (String, JoinClaims) {
        let mut id = [0u8; 16];
        SystemRandom::new()
            .fill(&mut id)
            .expect("the OS random source works");
        let claims = JoinClaims {
            jti: URL_SAFE_NO_PAD.encode(id),
            visit,
            participant,
            exp: now.timestamp() + self.ttl.as_secs() as i64,
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signed = format!("{PREFIX}{body}");
        let tag = hmac::sign(&self.key, signed.as_bytes());
        (
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())),
            claims,
        )
    }

    /// Check signature and expiry. Does not check single use (the caller consumes `jti`).
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<JoinClaims, JoinTokenError> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(PREFIX) {
            return Err(JoinTokenError::Invalid);
        }
        let (signed, tag) = token.rsplit_once('.').ok_or(JoinTokenError::Invalid)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| JoinTokenError::Invalid)?;
        hmac::verify(&self.key, signed.as_bytes(), &tag).map_err(|_| JoinTokenError::Invalid)?;
        let body = URL_SAFE_NO_PAD
            .decode(&signed[PREFIX.len()..])
            .map_err(|_| JoinTokenError::Invalid)?;
        let claims: JoinClaims =
            serde_json::from_slice(&body).map_err(|_| JoinTokenError::Invalid)?;
        if now.timestamp() >= claims.exp {
            return Err(JoinTokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BoothId, LawyerId};

    fn tokens() -> JoinTokens {
        JoinTokens::new(&[9u8; 32], Duration::from_secs(60))
    }

    #[test]
    fn a_token_binds_visit_participant_and_role() {
        let t = tokens();
        let now = Utc::now();
        let (tok, claims) = t.issue(VisitId(3), ParticipantId::Lawyer(LawyerId(5)), now);
        let got = t.verify(&tok, now).unwrap();
        assert_eq!(got, claims);
        assert_eq!(got.visit, VisitId(3));
        assert_eq!(got.participant, ParticipantId::Lawyer(LawyerId(5)));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let t = tokens();
        let now = Utc::now();
        let (tok, _) = t.issue(VisitId(3), ParticipantId::Booth(BoothId("b".into())), now);
        assert_eq!(
            t.verify(&tok, now + chrono::Duration::seconds(60)),
            Err(JoinTokenError::Expired)
        );
    }

    #[test]
    fn altered_or_foreign_tokens_are_refused() {
        let t = tokens();
        let now = Utc::now();
        let (tok, _) = t.issue(VisitId(3), ParticipantId::Lawyer(LawyerId(5)), now);
        // Swap in claims for another visit, keeping the old signature.
        let forged_claims = JoinClaims {
            jti: "x".into(),
            visit: VisitId(4),
            participant: ParticipantId::Lawyer(LawyerId(5)),
            exp: now.timestamp() + 60,
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged_claims).unwrap());
        let sig = tok.rsplit_once('.').unwrap().1;
        assert_eq!(
            t.verify(&format!("v1.{body}.{sig}"), now),
            Err(JoinTokenError::Invalid)
        );
        let other = JoinTokens::new(&[1u8; 32], Duration::from_secs(60));
        assert_eq!(other.verify(&tok, now), Err(JoinTokenError::Invalid));
        for junk in [
            "",
            "v1.",
            "v1..",
            "v2.a.b",
            "v1.!!!.???",
            &"v1.a".repeat(400),
        ] {
            assert_eq!(
                t.verify(junk, now),
                Err(JoinTokenError::Invalid),
                "{junk:?}"
            );
        }
    }
}
