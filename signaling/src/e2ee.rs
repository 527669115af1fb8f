//! End-to-end media encryption (R-PRIV-1): the parts every confer client shares with the
//! browser pages (`web/sframe.js`, `web/e2ee.js`), for Rust clients (test peers, load test) and
//! for the server's audit of the check code. Feature `e2ee`.
//!
//! - [`FrameEncryptor`] / [`FrameDecryptor`]: SFrame (RFC 9605, cipher suite
//!   `AES_128_GCM_SHA256_128`, 0x0004) over one encoded media frame, through the maintained
//!   `sframe` crate. The first codec header bytes of a frame stay in clear ahead of the SFrame
//!   header and are authenticated as SFrame metadata ([`clear_prefix_len`]; the deviation is
//!   described in `signaling/PROTOCOL.md`, "End-to-end encryption").
//! - [`key_id`]: the SFrame KID of a sender's media key in one epoch.
//! - [`fingerprint`] and [`check_code`]: the short code both screens show, from the visit id
//!   and every participant's public key; the same algorithm as `web/e2ee.js`.
//!
//! - [`Participant`] (module `agreement`): the key agreement of `PROTOCOL.md` section 7 (ECDH
//!   P-256, HKDF-SHA256, AES-128-GCM wrapped media keys per epoch), as `web/e2ee.js` does it.
//!
//! The server never holds a media key: it relays public keys and wrapped keys only.

mod agreement;
pub use agreement::{
    b64, random_media_key, unb64, wrap_aad, KeyUpdate, MediaKey, PairKey, Participant,
    PUBLIC_KEY_BYTES, WRAPPED_BYTES, WRAP_LABEL,
};

use ring::digest::{digest, SHA256};
use sframe::frame::{EncryptedFrame, MediaFrame, MonotonicCounter};
use sframe::key::{DecryptionKey, EncryptionKey};
use sframe::CipherSuite;
use std::collections::HashMap;

/// The one cipher suite: `AES_128_GCM_SHA256_128` (RFC 9605 §4.5, value 0x0004).
pub const CIPHER_SUITE: CipherSuite = CipherSuite::AesGcm128Sha256;

/// Bytes of a media key (the SFrame base key) for [`CIPHER_SUITE`].
pub const MEDIA_KEY_BYTES: usize = 16;

/// Domain separation of the check code (version 1 of the algorithm).
pub const CHECK_CODE_LABEL: &[u8] = b"confer-e2ee-check-code/1";

/// Which kind of frame is protected; decides how many codec header bytes stay in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameKind {
    /// An Opus frame: its TOC byte stays in clear.
    Audio,
    /// A VP8 frame: its frame tag (3 bytes) and, in a key frame, the start code and
    /// dimensions (7 more) stay in clear.
    Video,
}

/// Why a frame could not be protected or opened.
#[derive(Debug, thiserror::Error)]
pub enum E2eeError {
    #[error("no media key for key id {0}")]
    UnknownKey(u64),
    #[error("the frame is not an SFrame protected frame")]
    Malformed,
    #[error("the frame does not decrypt (wrong key or altered)")]
    Decrypt,
    #[error("the frame counter is exhausted; a new media key is needed")]
    Exhausted,
    #[error("a key message does not hold a usable key: {0}")]
    BadKey(&'static str),
}

/// How many leading bytes of a plain frame stay in clear (and are authenticated as SFrame
/// metadata). Chromium's RTP depacketizer reads them: the VP8 key frame bit and, for a key
/// frame, the dimensions; Opus needs its TOC byte. The receiver applies the same rule to the
/// clear bytes it receives, so the rule needs nothing but the frame itself.
pub fn clear_prefix_len(kind: FrameKind, frame: &[u8]) -> usize {
    let n = match kind {
        FrameKind::Audio => 1,
        // RFC 6386 §9.1: bit 0 of the frame tag is 0 for a key frame.
        FrameKind::Video => match frame.first() {
            Some(b) if b & 0x01 == 0 => 10,
            _ => 3,
        },
    };
    n.min(frame.len())
}

/// The SFrame KID of `sender`'s media key in `epoch`: the sender's participant number (assigned
/// by the server) in the high bits, the epoch's low 16 bits below. Senders never share a KID.
pub fn key_id(sender: u64, epoch: u64) -> u64 {
    (sender << 16) | (epoch & 0xffff)
}

/// One sender's SFrame encryption under one media key.
pub struct FrameEncryptor {
    key: EncryptionKey,
    counter: MonotonicCounter,
}

impl FrameEncryptor {
    /// A new encryptor for media key `base_key` with SFrame KID `kid`.
    pub fn new(kid: u64, base_key: &[u8]) -> Result<Self, E2eeError> {
        Self::with_counter(kid, base_key, 0)
    }

    /// As [`FrameEncryptor::new`], starting at counter `first` (test vectors).
    pub fn with_counter(kid: u64, base_key: &[u8], first: u64) -> Result<Self, E2eeError> {
        let key = EncryptionKey::derive_from(CIPHER_SUITE, kid, base_key)
            .map_err(|_| E2eeError::Malformed)?;
        Ok(FrameEncryptor {
            key,
            counter: MonotonicCounter::with_start_value(first, u64::MAX),
        })
    }

    /// Protect one plain frame: `clear prefix | SFrame header | ciphertext | tag`.
    pub fn protect(&mut self, kind: FrameKind, frame: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let n = clear_prefix_len(kind, frame);
        self.protect_with_metadata(&frame[..n], &frame[n..])
    }

    /// Protect `payload` with `metadata` authenticated and kept in clear ahead of it.
    pub fn protect_with_metadata(
        &mut self,
        metadata: &[u8],
        payload: &[u8],
    ) -> Result<Vec<u8>, E2eeError> {
        let media = MediaFrame::try_with_meta_data(&mut self.counter, payload, metadata)
            .map_err(|_| E2eeError::Exhausted)?;
        let encrypted = media.encrypt(&self.key).map_err(|_| E2eeError::Decrypt)?;
        Ok(encrypted.as_ref().to_vec())
    }
}

/// A receiver's media keys, by KID; opens frames of every sender it holds a key for.
#[derive(Default)]
pub struct FrameDecryptor {
    keys: HashMap<u64, DecryptionKey>,
}

impl FrameDecryptor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hold `base_key` as the media key with SFrame KID `kid`.
    pub fn add_key(&mut self, kid: u64, base_key: &[u8]) -> Result<(), E2eeError> {
        let key = DecryptionKey::derive_from(CIPHER_SUITE, kid, base_key)
            .map_err(|_| E2eeError::Malformed)?;
        self.keys.insert(kid, key);
        Ok(())
    }

    /// Forget a media key (its sender left, or a newer epoch replaced it).
    pub fn remove_key(&mut self, kid: u64) {
        self.keys.remove(&kid);
    }

    /// Open one protected frame (see [`FrameEncryptor::protect`]) and return the plain frame.
    /// A frame that does not open is an error: the caller drops it, never shows it.
    pub fn open(&self, kind: FrameKind, data: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let n = clear_prefix_len(kind, data);
        let (metadata, sframe) = data.split_at(n);
        let mut plain = metadata.to_vec();
        plain.extend_from_slice(&self.open_with_metadata(metadata, sframe)?);
        Ok(plain)
    }

    /// Open an SFrame ciphertext (header, ciphertext, tag) whose metadata is `metadata`;
    /// returns the payload.
    pub fn open_with_metadata(&self, metadata: &[u8], sframe: &[u8]) -> Result<Vec<u8>, E2eeError> {
        let encrypted = EncryptedFrame::try_with_meta_data(sframe, metadata)
            .map_err(|_| E2eeError::Malformed)?;
        let kid = encrypted.header().key_id();
        if !self.keys.contains_key(&kid) {
            return Err(E2eeError::UnknownKey(kid));
        }
        let media = encrypted
            .decrypt(&self.keys)
            .map_err(|_| E2eeError::Decrypt)?;
        Ok(media.payload().to_vec())
    }
}

/// Lower-case hex SHA-256 of a participant's raw public key: how the audit log and the check
/// code name a key.
pub fn fingerprint(public_key: &[u8]) -> String {
    hex(digest(&SHA256, public_key).as_ref())
}

/// The check code both screens show (6 digits): SHA-256 over [`CHECK_CODE_LABEL`], a zero
/// byte, the visit id in decimal, a zero byte, then the fingerprints ([`fingerprint`]) of
/// every participant's public key sorted and joined by `,`; the first 8 bytes as a big-endian
/// integer modulo 1,000,000, zero-padded. A key swapped by anyone on the way changes it.
pub fn check_code<S: AsRef<str>>(visit_id: i64, fingerprints: &[S]) -> String {
    let mut sorted: Vec<&str> = fingerprints.iter().map(AsRef::as_ref).collect();
    sorted.sort_unstable();
    let mut input = Vec::new();
    input.extend_from_slice(CHECK_CODE_LABEL);
    input.push(0);
    input.extend_from_slice(visit_id.to_string().as_bytes());
    input.push(0);
    input.extend_from_slice(sorted.join(",").as_bytes());
    let d = digest(&SHA256, &input);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.as_ref()[..8]);
    format!("{:06}", u64::from_be_bytes(first) % 1_000_000)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 9605 Appendix C.5, cipher suite 0x0004 (AES_128_GCM_SHA256_128): KID 0x123, CTR
    /// 0x4567, metadata "IETF SFrame WG", plaintext "draft-ietf-sframe-enc".
    const BASE_KEY: &str = "000102030405060708090a0b0c0d0e0f";
    const KID: u64 = 0x123;
    const CTR: u64 = 0x4567;
    const METADATA: &str = "4945544620534672616d65205747";
    const PLAINTEXT: &str = "64726166742d696574662d736672616d652d656e63";
    const CIPHERTEXT: &str =
        "9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb";

    #[test]
    fn rfc_9605_vector_encrypts_to_the_published_ciphertext() {
        let mut enc = FrameEncryptor::with_counter(KID, &unhex(BASE_KEY), CTR).unwrap();
        let out = enc
            .protect_with_metadata(&unhex(METADATA), &unhex(PLAINTEXT))
            .unwrap();
        // The metadata travels in clear ahead of the SFrame ciphertext.
        let (meta, sframe) = out.split_at(unhex(METADATA).len());
        assert_eq!(meta, unhex(METADATA).as_slice());
        assert_eq!(sframe, unhex(CIPHERTEXT).as_slice());
    }

    #[test]
    fn rfc_9605_vector_decrypts_and_a_flipped_bit_does_not() {
        let mut dec = FrameDecryptor::new();
        dec.add_key(KID, &unhex(BASE_KEY)).unwrap();
        let pt = dec
            .open_with_metadata(&unhex(METADATA), &unhex(CIPHERTEXT))
            .unwrap();
        assert_eq!(pt, unhex(PLAINTEXT));
        // Altered metadata (the clear codec header) is refused: it is authenticated.
        let mut meta = unhex(METADATA);
        meta[0] ^= 1;
        assert!(dec.open_with_metadata(&meta, &unhex(CIPHERTEXT)).is_err());
        let mut ct = unhex(CIPHERTEXT);
        *ct.last_mut().unwrap() ^= 0x80;
        assert!(dec.open_with_metadata(&unhex(METADATA), &ct).is_err());
    }

    #[test]
    fn rfc_9605_header_vectors() {
        // RFC 9605 Appendix C.2 (a few of the header encodings), checked through the frames
        // this module writes: KID and CTR as the first bytes after the clear prefix.
        for (kid, ctr, encoded) in [
            (0u64, 0u64, "00"),
            (0, 1, "01"),
            (0, 255, "08ff"),
            (255, 65535, "89ffffff"),
            (0x123, 0x4567, "9901234567"),
        ] {
            let mut enc = FrameEncryptor::with_counter(kid, &unhex(BASE_KEY), ctr).unwrap();
            let out = enc.protect_with_metadata(&[], b"x").unwrap();
            assert!(
                out.starts_with(&unhex(encoded)),
                "kid {kid} ctr {ctr}: {out:02x?}"
            );
        }
    }

    #[test]
    fn frames_round_trip_with_their_codec_header_in_clear() {
        let base = [7u8; MEDIA_KEY_BYTES];
        let kid = key_id(42, 3);
        let mut enc = FrameEncryptor::new(kid, &base).unwrap();
        let mut dec = FrameDecryptor::new();
        dec.add_key(kid, &base).unwrap();
        let key_frame: Vec<u8> = [0x50, 0x01, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xf0, 0x00]
            .into_iter()
            .chain(b"secret picture".iter().copied())
            .collect();
        let delta: Vec<u8> = [0x31, 0x02, 0x00]
            .into_iter()
            .chain(b"more picture".iter().copied())
            .collect();
        let audio: Vec<u8> = [0x78].into_iter().chain(*b"secret words").collect();
        for (kind, frame, clear) in [
            (FrameKind::Video, &key_frame, 10),
            (FrameKind::Video, &delta, 3),
            (FrameKind::Audio, &audio, 1),
        ] {
            let protected = enc.protect(kind, frame).unwrap();
            assert_eq!(&protected[..clear], &frame[..clear]);
            assert!(!protected
                .windows(6)
                .any(|w| w == b"secret" || w == b"pictur"));
            assert_eq!(&dec.open(kind, &protected).unwrap(), frame);
        }
        // Another key opens nothing.
        let mut other = FrameDecryptor::new();
        other.add_key(kid, &[8u8; MEDIA_KEY_BYTES]).unwrap();
        let protected = enc.protect(FrameKind::Audio, &audio).unwrap();
        assert!(matches!(
            other.open(FrameKind::Audio, &protected),
            Err(E2eeError::Decrypt)
        ));
        assert!(matches!(
            FrameDecryptor::new().open(FrameKind::Audio, &protected),
            Err(E2eeError::UnknownKey(k)) if k == kid
        ));
    }

    #[test]
    fn check_code_is_six_digits_order_free_and_key_sensitive() {
        let a = fingerprint(b"key of the lawyer");
        let b = fingerprint(b"key of the booth");
        let c = fingerprint(b"key of someone in the middle");
        let code = check_code(17, &[&a, &b]);
        assert_eq!(code.len(), 6);
        assert!(code.bytes().all(|d| d.is_ascii_digit()));
        assert_eq!(code, check_code(17, &[&b, &a]));
        assert_ne!(code, check_code(17, &[&a, &c]));
        assert_ne!(code, check_code(18, &[&a, &b]));
        // The same value the browser computes (web/e2ee.js, checkCode): fixed here so that a
        // change on either side is caught; tests/e2ee_browser.rs compares the two live.
        assert_eq!(
            fingerprint(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
