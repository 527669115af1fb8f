//! Password hashing with argon2id (RustCrypto `argon2`, OWASP-recommended parameters).
//! Hashing is deliberately slow, so it runs on tokio's blocking pool.
//!
//! Sign-in checks run in memory the caller gives ([`verify_in`]), which refuses a stored hash
//! asking more than 256 MiB. Each check's 19 MiB is a mapping of its own, returned to the
//! system when the check ends (`memory::fix_mmap_threshold`; without it glibc kept each
//! blocking thread's 19 MiB resident, and a sign-in flood spread over many threads grew the
//! process by hundreds of MiB even with two checks at a time).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};

/// The most memory a stored hash may ask a check for (256 MiB); a hash asking more is
/// treated as malformed rather than allowed to exhaust the server.
const MAX_BLOCKS: usize = 256 * 1024;

fn argon2() -> Argon2<'static> {
    // 19 MiB, 2 iterations, 1 lane: the OWASP minimum for argon2id.
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash a password into a PHC string (`$argon2id$...`).
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters")
        .to_string()
}

/// Check a password against a PHC string. A malformed stored hash never matches.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Check a password against a PHC string using `memory` (grown to what the hash needs; a
/// caller may reuse it, sign-in gives each check its own). Same answers as [`verify`]; a
/// malformed stored hash, or one asking for more than 256 MiB, never matches.
pub fn verify_in(password: &str, phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    if Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, &mut memory[..blocks])
        .is_err()
    {
        return false;
    }
    // `Output`'s equality is constant-time.
    argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
}

/// A hash that never matches any password, used to spend the same time on unknown
/// usernames as on known ones (no account enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("confer-dummy-password-never-used"))
}

pub async fn hash_async(password: String) -> String {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .unwrap_or_default()
}

/// A random password for generated accounts: 20 characters from an unambiguous alphabet.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_and_verify_only_the_right_password() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
        assert!(!verify("anything", dummy_hash()));
    }

    #[test]
    fn checks_in_reused_memory_answer_as_the_library_does() {
        let h = hash("correct horse");
        let mut memory = Vec::new();
        assert!(verify_in("correct horse", &h, &mut memory));
        assert_eq!(memory.len(), 19 * 1024, "19 MiB of 1 KiB blocks, kept");
        assert!(!verify_in("wrong horse", &h, &mut memory));
        assert!(verify_in("correct horse", &h, &mut memory));
        assert!(!verify_in("correct horse", "not a hash", &mut memory));
        assert!(!verify_in("anything", dummy_hash(), &mut memory));
        // Another algorithm and other parameters, as an older account's hash may have.
        let argon2i = Argon2::new(
            Algorithm::Argon2i,
            Version::V0x10,
            Params::new(8 * 1024, 3, 1, Some(16)).unwrap(),
        )
        .hash_password(b"pw", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert_eq!(
            verify_in("pw", &argon2i, &mut memory),
            verify("pw", &argon2i)
        );
        assert!(verify_in("pw", &argon2i, &mut memory));
        assert!(!verify_in("pX", &argon2i, &mut memory));
        // A stored hash asking for 1 GiB is refused, not computed.
        let greedy = h.replace("m=19456", "m=1048576");
        assert!(!verify_in("correct horse", &greedy, &mut memory));
        assert_eq!(memory.len(), 19 * 1024);
    }
}
