//! SRTP for confer's media fast path and its load generator: the key derivation of RFC 3711
//! (section 4.3, the AES counter-mode PRF, key derivation rate 0) and the AEAD AES-GCM
//! transforms of RFC 7714 (`AEAD_AES_128_GCM`, `AEAD_AES_256_GCM`), for RTP packets.
//!
//! ```text
//! DTLS-SRTP keying material (RFC 5764 4.2): client key | server key | client salt | server salt
//!   -> MasterKey (one direction: the sender's key and salt)
//!   -> Srtp: session key = PRF(master, label 0), session salt = PRF(master, label 2)
//!   -> protect:   header || payload           -> header || AES-GCM(payload) || tag (16 B)
//!      unprotect: header || ciphertext || tag -> header || payload (tag checked first)
//!      IV (12 B) = session salt XOR (00 00 || SSRC || ROC || SEQ); AAD = the RTP header
//! ```
//!
//! Works in place on the caller's buffer: no allocation per packet. The caller owns the
//! rollover counter (ROC): a sender knows its own; a receiver estimates it with
//! [`estimate_index`] from the highest index it accepted.
//!
//! Does not: SRTCP (RTCP stays with the WebRTC stack), the AES-CM/HMAC-SHA1 profiles (a leg
//! that negotiated one stays on the stack's own path), replay protection (the caller keeps
//! its window), or key derivation rates other than 0 (WebRTC uses 0).

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, AES_256_GCM};
use aws_lc_rs::cipher::{EncryptingKey, EncryptionContext, UnboundCipherKey, AES_128, AES_256};
use aws_lc_rs::iv::FixedLength;

/// Bytes of the authentication tag appended to every protected packet.
pub const TAG_LEN: usize = 16;
/// Bytes of a GCM profile's master (and session) salt.
pub const SALT_LEN: usize = 12;

/// The SRTP protection profiles this crate implements (RFC 7714, DTLS-SRTP ids 0x0007, 0x0008).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    AeadAes128Gcm,
    AeadAes256Gcm,
}

impl Profile {
    /// Bytes of the master (and session) key.
    pub fn key_len(self) -> usize {
        match self {
            Profile::AeadAes128Gcm => 16,
            Profile::AeadAes256Gcm => 32,
        }
    }

    /// Bytes of DTLS-SRTP keying material for this profile (both directions).
    pub fn keying_material_len(self) -> usize {
        2 * (self.key_len() + SALT_LEN)
    }
}

/// What can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Keying material, key or salt of the wrong length for the profile.
    KeyLength,
    /// Not an RTP packet this crate can handle (too short, not version 2, bad lengths).
    Malformed,
    /// The tag does not match: altered, or another key or index. Drop the packet.
    Authentication,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Error::KeyLength => "keying material of the wrong length for the SRTP profile",
            Error::Malformed => "not a well-formed RTP packet",
            Error::Authentication => "the SRTP authentication tag does not match",
        })
    }
}

impl std::error::Error for Error {}

/// One direction's master key and salt. Overwritten with zeros when dropped; its `Debug`
/// shows the profile only.
#[derive(Clone)]
pub struct MasterKey {
    profile: Profile,
    key: [u8; 32],
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl Drop for MasterKey {
    fn drop(&mut self) {
        // Volatile writes, so the compiler cannot drop them as dead stores.
        for b in self.key.iter_mut().chain(self.salt.iter_mut()) {
            // SAFETY: `b` is a valid, aligned, exclusive reference to a byte of `self`.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

impl MasterKey {
    /// A master key and salt given directly.
    pub fn new(profile: Profile, key: &[u8], salt: &[u8]) -> Result<MasterKey, Error> {
        if key.len() != profile.key_len() || salt.len() != SALT_LEN {
            return Err(Error::KeyLength);
        }
        let mut k = [0u8; 32];
        k[..key.len()].copy_from_slice(key);
        let mut s = [0u8; SALT_LEN];
        s.copy_from_slice(salt);
        Ok(MasterKey {
            profile,
            key: k,
            salt: s,
        })
    }

    /// One direction's key and salt from DTLS-SRTP keying material (RFC 5764 4.2: client
    /// write key, server write key, client salt, server salt). `client`: the DTLS client's
    /// direction (what the client sends), else the server's.
    pub fn from_keying_material(
        profile: Profile,
        material: &[u8],
        client: bool,
    ) -> Result<MasterKey, Error> {
        let k = profile.key_len();
        if material.len() != profile.keying_material_len() {
            return Err(Error::KeyLength);
        }
        let (key_at, salt_at) = if client {
            (0, 2 * k)
        } else {
            (k, 2 * k + SALT_LEN)
        };
        MasterKey::new(
            profile,
            &material[key_at..key_at + k],
            &material[salt_at..salt_at + SALT_LEN],
        )
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    fn key(&self) -> &[u8] {
        &self.key[..self.profile.key_len()]
    }
}

/// RFC 3711 section 4.3.1 with a key derivation rate of 0: `out.len()` bytes of the AES
/// counter-mode keystream under `master_key`, starting at `(master_salt XOR label at byte 7)
/// * 2^16`. `master_salt` is at most 14 bytes (left-aligned: 14 for AES-CM, 12 for GCM).
pub fn derive(
    master_key: &[u8],
    master_salt: &[u8],
    label: u8,
    out: &mut [u8],
) -> Result<(), Error> {
    let algorithm = match master_key.len() {
        16 => &AES_128,
        32 => &AES_256,
        _ => return Err(Error::KeyLength),
    };
    if master_salt.len() > 14 {
        return Err(Error::KeyLength);
    }
    let mut iv = [0u8; 16];
    iv[..master_salt.len()].copy_from_slice(master_salt);
    iv[7] ^= label;
    let key = UnboundCipherKey::new(algorithm, master_key).map_err(|_| Error::KeyLength)?;
    let key = EncryptingKey::ctr(key).map_err(|_| Error::KeyLength)?;
    out.fill(0);
    key.less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(iv)))
        .map_err(|_| Error::KeyLength)?;
    Ok(())
}

/// The label of the SRTP encryption key (RFC 3711 4.3.2).
const LABEL_RTP_KEY: u8 = 0x00;
/// The label of the SRTP salt.
const LABEL_RTP_SALT: u8 = 0x02;

/// One direction's SRTP session: derived once, then protects (or unprotects) packets.
pub struct Srtp {
    key: LessSafeKey,
    salt: [u8; SALT_LEN],
}

impl std::fmt::Debug for Srtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Srtp").finish_non_exhaustive()
    }
}

/// Where an RTP packet's header ends, and the fields the IV needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpFields {
    pub header_len: usize,
    pub ssrc: u32,
    pub seq: u16,
}

/// Parse the fixed header, the CSRC list and the header extension of an RTP packet (RFC 3550
/// 5.1, 5.3.1); `None` when it is not one.
pub fn rtp_fields(packet: &[u8]) -> Option<RtpFields> {
    if packet.len() < 12 || packet[0] >> 6 != 2 {
        return None;
    }
    let csrc = usize::from(packet[0] & 0x0f);
    let mut header_len = 12 + 4 * csrc;
    if packet[0] & 0x10 != 0 {
        let ext = packet.get(header_len..header_len + 4)?;
        header_len += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
    }
    if header_len > packet.len() {
        return None;
    }
    Some(RtpFields {
        header_len,
        ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        seq: u16::from_be_bytes([packet[2], packet[3]]),
    })
}

/// The packet index (`ROC * 2^16 + SEQ`, RFC 3711 3.3.1) a receiver should try for `seq`,
/// given the highest index it has accepted so far (RFC 3711 appendix A).
pub fn estimate_index(highest: u64, seq: u16) -> u64 {
    let roc = highest >> 16;
    let s_l = highest as u16;
    let seq_u = u64::from(seq);
    let guess_roc = if s_l < 32_768 {
        if u32::from(seq) > u32::from(s_l) + 32_768 && roc > 0 {
            roc - 1
        } else {
            roc
        }
    } else if u32::from(s_l) > 32_768 + u32::from(seq) {
        roc + 1
    } else {
        roc
    };
    (guess_roc << 16) | seq_u
}

impl Srtp {
    /// The session of `master` (RFC 3711 4.3, RFC 7714 11).
    pub fn new(master: &MasterKey) -> Result<Srtp, Error> {
        let mut key = [0u8; 32];
        let key = &mut key[..master.profile.key_len()];
        derive(master.key(), &master.salt, LABEL_RTP_KEY, key)?;
        let mut salt = [0u8; SALT_LEN];
        derive(master.key(), &master.salt, LABEL_RTP_SALT, &mut salt)?;
        let algorithm = match master.profile {
            Profile::AeadAes128Gcm => &AES_128_GCM,
            Profile::AeadAes256Gcm => &AES_256_GCM,
        };
        let unbound = UnboundKey::new(algorithm, key).map_err(|_| Error::KeyLength);
        key.fill(0);
        Ok(Srtp {
            key: LessSafeKey::new(unbound?),
            salt,
        })
    }

    fn nonce(&self, ssrc: u32, roc: u32, seq: u16) -> Nonce {
        let mut iv = [0u8; SALT_LEN];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&roc.to_be_bytes());
        iv[10..12].copy_from_slice(&seq.to_be_bytes());
        for (b, s) in iv.iter_mut().zip(self.salt) {
            *b ^= s;
        }
        Nonce::assume_unique_for_key(iv)
    }

    /// Protect the RTP packet in `packet` (header and payload) with rollover counter `roc`:
    /// the payload is encrypted in place and the tag appended. Returns the header's fields.
    pub fn protect(&self, packet: &mut Vec<u8>, roc: u32) -> Result<RtpFields, Error> {
        let len = packet.len();
        packet.resize(len + TAG_LEN, 0);
        match self.seal(packet, len, roc) {
            Ok(_) => rtp_fields(packet).ok_or(Error::Malformed),
            Err(e) => {
                packet.truncate(len);
                Err(e)
            }
        }
    }

    /// [`Self::protect`] on a slice: the RTP packet is `buf[..len]`; the payload is encrypted
    /// in place and the tag written after it. Returns the protected length (`len` +
    /// [`TAG_LEN`]). `buf` must have room for the tag.
    pub fn seal(&self, buf: &mut [u8], len: usize, roc: u32) -> Result<usize, Error> {
        if buf.len() < len + TAG_LEN {
            return Err(Error::Malformed);
        }
        let f = rtp_fields(&buf[..len]).ok_or(Error::Malformed)?;
        let nonce = self.nonce(f.ssrc, roc, f.seq);
        let (header, payload) = buf[..len].split_at_mut(f.header_len);
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, Aad::from(&*header), payload)
            .map_err(|_| Error::Malformed)?;
        buf[len..len + TAG_LEN].copy_from_slice(tag.as_ref());
        Ok(len + TAG_LEN)
    }

    /// Check and decrypt the SRTP packet in `packet` with rollover counter `roc`: on success
    /// the buffer holds the RTP packet (tag removed). On failure its contents are not
    /// defined (drop the packet).
    pub fn unprotect(&self, packet: &mut Vec<u8>, roc: u32) -> Result<RtpFields, Error> {
        let f = rtp_fields(packet).ok_or(Error::Malformed)?;
        let len = self.open(packet, roc)?;
        packet.truncate(len);
        Ok(f)
    }

    /// [`Self::unprotect`] on a slice: `buf` is the whole SRTP packet. On success returns the
    /// length of the RTP packet now at the start of `buf` (header and plaintext payload); on
    /// failure the contents of `buf` are not defined (drop the packet).
    pub fn open(&self, buf: &mut [u8], roc: u32) -> Result<usize, Error> {
        let f = rtp_fields(buf).ok_or(Error::Malformed)?;
        if buf.len() < f.header_len + TAG_LEN {
            return Err(Error::Malformed);
        }
        let nonce = self.nonce(f.ssrc, roc, f.seq);
        let (header, rest) = buf.split_at_mut(f.header_len);
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::from(&*header), rest)
            .map_err(|_| Error::Authentication)?
            .len();
        Ok(f.header_len + plain_len)
    }
}

#[cfg(test)]
mod tests;
