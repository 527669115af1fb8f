//! Sessions: a random 256-bit bearer token given to the browser at sign-in; the store
//! keeps only its SHA-256, with an idle timeout and a hard expiry.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

/// A session token as the client holds it. `Debug` never prints it.
pub struct SessionToken(String);

impl SessionToken {
    pub fn generate() -> SessionToken {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .expect("the OS random source works");
        SessionToken(URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn from_client(s: &str) -> Option<SessionToken> {
        (s.len() == 43
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| SessionToken(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the store keeps.
    pub fn digest(&self) -> Vec<u8> {
        ring::digest::digest(&ring::digest::SHA256, self.0.as_bytes())
            .as_ref()
            .to_vec()
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_never_debug_printed() {
        let a = SessionToken::generate();
        let b = SessionToken::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert!(SessionToken::from_client(a.as_str()).is_some());
        assert!(SessionToken::from_client("short").is_none());
        assert!(!format!("{a:?}").contains(a.as_str()));
    }
}
