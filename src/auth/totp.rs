//! The staff second factor: RFC 6238 TOTP (HMAC-SHA-1, 6 digits, 30-second steps, one
//! step of clock skew either way), computed by the `totp-rs` crate.
//!
//! Secrets are 160 random bits (RFC 4226's recommended length), shown to the person once
//! as base32 and as an `otpauth://` URI for an authenticator app, and stored sealed with
//! AES-256-GCM under a key kept in `<data-dir>/keys/staff-totp.key` (0600): a copy of the
//! database alone does not give anyone the second factor. A secret is never logged.
//!
//! [`matching_step`] is pure (it takes `now`); refusing a code that was already used is
//! the store's job (`Store::accept_totp_step`), so that it holds across processes.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::Path;
use totp_rs::{Algorithm, TOTP};

/// Seconds per TOTP step.
pub const STEP_SECS: u64 = 30;
/// Digits per code.
pub const DIGITS: usize = 6;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "confer";
/// Bytes of a new secret (160 bits).
const SECRET_BYTES: usize = 20;
/// Additional data bound into every sealed secret.
const AAD: &[u8] = b"confer staff totp v1";

#[derive(Debug, thiserror::Error)]
pub enum TotpError {
    #[error("cannot read or create the TOTP sealing key {path}: {cause}")]
    Key { path: String, cause: String },
}

/// Seals and opens TOTP secrets. Cheap to clone.
#[derive(Clone)]
pub struct TotpVault {
    key: std::sync::Arc<LessSafeKey>,
}

impl std::fmt::Debug for TotpVault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpVault(..)")
    }
}

/// What a person is shown once when their second factor is set up.
pub struct Enrolment {
    /// The secret, base32 without padding (type it into an authenticator by hand).
    pub secret_base32: String,
    /// `otpauth://totp/confer:USER?secret=...&issuer=confer` (scan or paste it).
    pub uri: String,
    /// What the store keeps.
    pub sealed: String,
}

impl TotpVault {
    /// Read `<data-dir>/keys/staff-totp.key`, creating it (0600) on first use.
    pub fn open(data_dir: &Path) -> Result<TotpVault, TotpError> {
        let dir = data_dir.join("keys");
        let path = dir.join("staff-totp.key");
        let err = |cause: String| TotpError::Key {
            path: path.display().to_string(),
            cause,
        };
        let bytes =
            crate::keyfile::key32(&dir, "staff-totp.key").map_err(|e| err(e.to_string()))?;
        let unbound = UnboundKey::new(&AES_256_GCM, &bytes)
            .map_err(|_| err("the key file does not hold a 32-byte key".into()))?;
        Ok(TotpVault {
            key: std::sync::Arc::new(LessSafeKey::new(unbound)),
        })
    }

    /// A new random secret for `username`: what to show once, and what to store.
    pub fn enrol(&self, username: &str) -> Enrolment {
        let mut secret = [0u8; SECRET_BYTES];
        SystemRandom::new()
            .fill(&mut secret)
            .expect("the OS random source works");
        let totp = totp(secret.to_vec(), username);
        Enrolment {
            secret_base32: totp.get_secret_base32(),
            uri: totp.get_url(),
            sealed: self.seal(&secret),
        }
    }

    fn seal(&self, secret: &[u8]) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random source works");
        let mut buf = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(AAD),
                &mut buf,
            )
            .expect("AES-GCM sealing of a short secret");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        STANDARD.encode(out)
    }

    /// The secret behind a sealed value; `None` if it was not sealed with this key.
    pub fn unseal(&self, sealed: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(AAD), &mut buf)
            .ok()?;
        Some(plain.to_vec())
    }
}

fn totp(secret: Vec<u8>, username: &str) -> TOTP {
    // `new_unchecked`: our secrets are always 160 bits; a username never contains ':'
    // (usernames are letters, digits and - _ . @).
    TOTP::new_unchecked(
        Algorithm::SHA1,
        DIGITS,
        1,
        STEP_SECS,
        secret,
        Some(ISSUER.into()),
        username.replace(':', "_"),
    )
}

/// The `otpauth://` URI for a base32 secret (for the first-start banner).
pub fn otpauth_uri(username: &str, secret_base32: &str) -> Option<String> {
    let secret = totp_rs::Secret::Encoded(secret_base32.to_owned())
        .to_bytes()
        .ok()?;
    Some(totp(secret, username).get_url())
}

/// The step (unix seconds / 30) whose code `code` is, within one step of `now_unix`
/// either way; `None` when it matches none or is not six digits. Pure.
pub fn matching_step(secret: &[u8], code: &str, now_unix: u64) -> Option<u64> {
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret.to_vec(), "");
    let now_step = now_unix / STEP_SECS;
    let mut found = None;
    // Check every candidate (no early exit), comparing in constant time.
    for step in [now_step.saturating_sub(1), now_step, now_step + 1] {
        let expected = totp.generate(step * STEP_SECS);
        let same = expected
            .bytes()
            .zip(code.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
        if same && found.is_none() {
            found = Some(step);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", 8 digits there; the
    // 6-digit codes are the last six of those.
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        assert_eq!(matching_step(RFC_SECRET, "287082", 59), Some(1));
        assert_eq!(
            matching_step(RFC_SECRET, "081804", 1_111_111_109),
            Some(37_037_036)
        );
        assert_eq!(
            matching_step(RFC_SECRET, "005924", 1_234_567_890),
            Some(41_152_263)
        );
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let t = 1_234_567_890; // step 41_152_263, code 005924
        assert_eq!(
            matching_step(RFC_SECRET, "005924", t + 30),
            Some(41_152_263)
        );
        assert_eq!(
            matching_step(RFC_SECRET, "005924", t - 30),
            Some(41_152_263)
        );
        assert_eq!(matching_step(RFC_SECRET, "005924", t + 60), None);
        assert_eq!(matching_step(RFC_SECRET, "005924", t - 60), None);
    }

    #[test]
    fn malformed_codes_never_match() {
        for bad in ["", "00592", "0059244", "00592a", " 05924", "００５９２４"] {
            assert_eq!(
                matching_step(RFC_SECRET, bad, 1_234_567_890),
                None,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_enrolment_uri_is_standard() {
        let d1 = tempfile::tempdir().unwrap();
        let d2 = tempfile::tempdir().unwrap();
        let v1 = TotpVault::open(d1.path()).unwrap();
        let again = TotpVault::open(d1.path()).unwrap();
        let v2 = TotpVault::open(d2.path()).unwrap();
        let e = v1.enrol("ops.lee");
        assert!(!e.sealed.contains(&e.secret_base32));
        let secret = again.unseal(&e.sealed).expect("same key file");
        assert_eq!(secret.len(), SECRET_BYTES);
        assert!(v2.unseal(&e.sealed).is_none(), "another key");
        assert!(v1.unseal("not base64!").is_none());
        assert!(
            e.uri.starts_with("otpauth://totp/confer:ops.lee?secret="),
            "{}",
            e.uri
        );
        assert!(e.uri.contains("issuer=confer"));
        assert_eq!(
            otpauth_uri("ops.lee", &e.secret_base32).as_deref(),
            Some(e.uri.as_str())
        );
        let now = 1_800_000_000;
        let code = TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            30,
            secret.clone(),
            None,
            String::new(),
        )
        .generate(now);
        assert_eq!(matching_step(&secret, &code, now), Some(now / 30));
    }
}
