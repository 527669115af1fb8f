//! The key agreement of end-to-end encryption (R-PRIV-1) for Rust clients: exactly the steps
//! of `signaling/PROTOCOL.md`, "End-to-end encryption", "Keys", which the pages do in
//! `web/e2ee.js` with WebCrypto.
//!
//! - One ephemeral ECDH P-256 key pair per visit connection ([`Participant`]); its public key
//!   goes out as `e2ee_key` (base64url of the 65-byte uncompressed point). The private key
//!   never leaves the object.
//! - Pairwise key with each other participant: ECDH, then HKDF-SHA256 (salt
//!   [`WRAP_LABEL`], info `"visit <visit_id>"`) to an AES-128-GCM key ([`PairKey`]).
//! - Each sender's media key: 16 random bytes per epoch, a new epoch whenever the set of
//!   participants changes; wrapped for each other participant as
//!   `IV (12) | AES-128-GCM(pair key, IV, media key, AAD = "confer-e2ee-wrap/1 <visit> <from>
//!   <to> <kid>")` ([`PairKey::wrap`], [`PairKey::unwrap`]).
//! - The check code over every participant's key ([`Participant::check_code`]).
//!
//! P-256 arithmetic is RustCrypto's `p256` (ring's ECDH key is single-use, and one key pair
//! serves every other participant here); HKDF, AES-GCM and the random numbers are ring's.

use super::{check_code, fingerprint, key_id, E2eeError, FrameDecryptor, MEDIA_KEY_BYTES};
use crate::message::{ClientMessage, Role, ServerMessage, VisitNotice};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_128_GCM, NONCE_LEN};
use ring::hkdf::{Salt, HKDF_SHA256};
use ring::rand::{SecureRandom as _, SystemRandom};
use std::collections::BTreeMap;

/// HKDF salt of the pairwise key, and the first word of a wrapped key's AAD.
pub const WRAP_LABEL: &str = "confer-e2ee-wrap/1";

/// Bytes of a raw (uncompressed SEC1) P-256 public key.
pub const PUBLIC_KEY_BYTES: usize = 65;

/// Bytes of a wrapped media key: IV (12) | ciphertext (16) | tag (16).
pub const WRAPPED_BYTES: usize = NONCE_LEN + MEDIA_KEY_BYTES + 16;

/// How many media keys of one sender a receiver keeps (the current one and the previous
/// one, for frames still on the way after a re-key), as the pages do.
const KEYS_KEPT_PER_SENDER: usize = 2;

/// A fresh random media key (the system random source).
pub fn random_media_key() -> [u8; MEDIA_KEY_BYTES] {
    let mut key = [0u8; MEDIA_KEY_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system random source");
    key
}

/// base64url without padding (the wire encoding of keys).
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of a base64url (no padding) text.
pub fn unb64(text: &str) -> Result<Vec<u8>, E2eeError> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| E2eeError::BadKey("not base64url"))
}

/// The AAD of a wrapped media key: `"confer-e2ee-wrap/1 <visit_id> <from> <to> <kid>"`.
pub fn wrap_aad(visit_id: i64, from: u64, to: u64, kid: u64) -> String {
    format!("{WRAP_LABEL} {visit_id} {from} {to} {kid}")
}

/// The AES-128-GCM key two participants share (the same in both directions).
pub struct PairKey {
    key: LessSafeKey,
}

impl PairKey {
    /// `HKDF-SHA256(salt = "confer-e2ee-wrap/1", IKM = ECDH(own, theirs), info = "visit <id>")`.
    pub fn derive(
        own: &p256::SecretKey,
        their_public: &[u8],
        visit_id: i64,
    ) -> Result<Self, E2eeError> {
        let theirs = p256::PublicKey::from_sec1_bytes(their_public)
            .map_err(|_| E2eeError::BadKey("not a P-256 point"))?;
        if their_public.len() != PUBLIC_KEY_BYTES {
            return Err(E2eeError::BadKey("not an uncompressed P-256 point"));
        }
        let shared = p256::ecdh::diffie_hellman(own.to_nonzero_scalar(), theirs.as_affine());
        let info = format!("visit {visit_id}");
        let info = [info.as_bytes()];
        let prk = Salt::new(HKDF_SHA256, WRAP_LABEL.as_bytes())
            .extract(shared.raw_secret_bytes().as_slice());
        let okm = prk
            .expand(&info, &AES_128_GCM)
            .map_err(|_| E2eeError::BadKey("HKDF"))?;
        Ok(PairKey {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// Wrap `media_key` for participant `to` with initialisation vector `iv`:
    /// `IV | ciphertext | tag` (44 bytes). Callers use a fresh random IV ([`Participant`] does).
    pub fn wrap(
        &self,
        iv: [u8; NONCE_LEN],
        aad: &str,
        media_key: &[u8; MEDIA_KEY_BYTES],
    ) -> Result<Vec<u8>, E2eeError> {
        let mut buf = media_key.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| E2eeError::Decrypt)?;
        let mut out = iv.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// The media key inside `wrapped` (see [`PairKey::wrap`]), or [`E2eeError::Decrypt`] when
    /// the key, the AAD or a byte is not what the sender used.
    pub fn unwrap(&self, aad: &str, wrapped: &[u8]) -> Result<[u8; MEDIA_KEY_BYTES], E2eeError> {
        if wrapped.len() != WRAPPED_BYTES {
            return Err(E2eeError::BadKey("a wrapped key is 44 bytes"));
        }
        let (iv, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(iv).map_err(|_| E2eeError::Malformed)?;
        let mut buf = sealed.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
            .map_err(|_| E2eeError::Decrypt)?;
        plain.try_into().map_err(|_| E2eeError::Decrypt)
    }
}

/// A media key with its SFrame KID.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaKey {
    pub kid: u64,
    pub key: [u8; MEDIA_KEY_BYTES],
}

impl std::fmt::Debug for MediaKey {
    // Never the key bytes (secrets never in logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MediaKey {{ kid: {} }}", self.kid)
    }
}

/// What one key event asks of the client.
#[derive(Debug, Default)]
pub struct KeyUpdate {
    /// Messages for the server (`e2ee_media_key`, one per other participant), in order.
    pub send: Vec<ClientMessage>,
    /// This sender's new media key: encrypt every frame with it from now on.
    pub send_key: Option<MediaKey>,
    /// Other senders' media keys: frames with their KIDs open with them.
    pub receive_keys: Vec<MediaKey>,
    /// KIDs whose keys must go (their sender left, or two newer epochs replaced them).
    pub forget: Vec<u64>,
    /// The check code changed (someone joined or left): the people must compare it again.
    pub code_changed: bool,
}

impl KeyUpdate {
    /// Apply the receive side of this update to a frame decryptor.
    pub fn apply(&self, dec: &mut FrameDecryptor) -> Result<(), E2eeError> {
        for kid in &self.forget {
            dec.remove_key(*kid);
        }
        for k in &self.receive_keys {
            dec.add_key(k.kid, &k.key)?;
        }
        Ok(())
    }
}

struct Peer {
    role: Role,
    fingerprint: String,
    pair: PairKey,
    /// KIDs of this sender's media keys held, oldest first.
    kids: Vec<u64>,
}

/// One participant's end of the key agreement in one visit connection.
pub struct Participant {
    visit_id: i64,
    secret: p256::SecretKey,
    public: Vec<u8>,
    fingerprint: String,
    me: Option<u64>,
    peers: BTreeMap<u64, Peer>,
    epoch: u64,
    send_key: Option<MediaKey>,
    /// Media keys that arrived before our own key's echo told us our number (kept for it).
    pending: Vec<(u64, u64, String)>,
    rng: SystemRandom,
}

impl Participant {
    /// A fresh ephemeral key pair for visit `visit_id`.
    pub fn new(visit_id: i64) -> Self {
        let rng = SystemRandom::new();
        let secret = loop {
            let mut d = [0u8; 32];
            rng.fill(&mut d).expect("the system random source");
            // A value of zero or at least the group order (probability ~2^-32) is drawn again.
            if let Ok(s) = p256::SecretKey::from_slice(&d) {
                break s;
            }
        };
        Self::with_secret(visit_id, secret)
    }

    /// A participant with a given private scalar (32 bytes, big-endian): test vectors only.
    pub fn from_private_scalar(visit_id: i64, d: &[u8]) -> Result<Self, E2eeError> {
        let secret =
            p256::SecretKey::from_slice(d).map_err(|_| E2eeError::BadKey("not a P-256 scalar"))?;
        Ok(Self::with_secret(visit_id, secret))
    }

    fn with_secret(visit_id: i64, secret: p256::SecretKey) -> Self {
        let public = secret
            .public_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        Participant {
            visit_id,
            fingerprint: fingerprint(&public),
            secret,
            public,
            me: None,
            peers: BTreeMap::new(),
            epoch: 0,
            send_key: None,
            pending: Vec::new(),
            rng: SystemRandom::new(),
        }
    }

    /// The raw public key (65 bytes, uncompressed point).
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    /// The public key as it travels: base64url without padding.
    pub fn public_key_b64(&self) -> String {
        b64(&self.public)
    }

    /// The message that publishes this participant's public key (send once, after `joined`).
    pub fn key_message(&self) -> ClientMessage {
        ClientMessage::E2eeKey {
            public_key: self.public_key_b64(),
        }
    }

    /// The pairwise key with the holder of `their_public` (raw bytes).
    pub fn pair_key(&self, their_public: &[u8]) -> Result<PairKey, E2eeError> {
        PairKey::derive(&self.secret, their_public, self.visit_id)
    }

    /// This connection's participant number, once the server echoed our key.
    pub fn me(&self) -> Option<u64> {
        self.me
    }

    /// The current epoch (0 before the first media key).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The media key this participant encrypts with now.
    pub fn send_key(&self) -> Option<&MediaKey> {
        self.send_key.as_ref()
    }

    /// Participant numbers of the others whose keys are held.
    pub fn peers(&self) -> Vec<u64> {
        self.peers.keys().copied().collect()
    }

    /// The check code the screens show (None while alone): over this key and every other
    /// participant's, as `web/e2ee.js` computes it.
    pub fn check_code(&self) -> Option<String> {
        if self.peers.is_empty() {
            return None;
        }
        let mut prints = vec![self.fingerprint.clone()];
        prints.extend(self.peers.values().map(|p| p.fingerprint.clone()));
        Some(check_code(self.visit_id, &prints))
    }

    /// Handle a server message; messages other than `e2ee_key`, `e2ee_media_key` and the
    /// `participant_left` notice change nothing.
    pub fn handle(&mut self, msg: &ServerMessage) -> Result<KeyUpdate, E2eeError> {
        match msg {
            ServerMessage::E2eeKey {
                from,
                role,
                public_key,
            } => self.on_key(*from, *role, public_key),
            ServerMessage::E2eeMediaKey { from, kid, wrapped } => {
                self.on_media_key(*from, *kid, wrapped)
            }
            ServerMessage::Notice {
                notice: VisitNotice::ParticipantLeft { role },
            } => Ok(self.participant_left(*role)),
            _ => Ok(KeyUpdate::default()),
        }
    }

    /// `e2ee_key` from the server: our own echo (which tells our number) or another's key.
    pub fn on_key(
        &mut self,
        from: u64,
        role: Role,
        public_key: &str,
    ) -> Result<KeyUpdate, E2eeError> {
        let raw = unb64(public_key)?;
        if raw == self.public {
            self.me = Some(from);
            let mut update = self.rekey()?;
            // Media keys that came before the echo (from senders whose keys we hold).
            for (from, kid, wrapped) in std::mem::take(&mut self.pending) {
                if let Ok(k) = self.on_media_key(from, kid, &wrapped) {
                    update.forget.extend(k.forget);
                    update.receive_keys.extend(k.receive_keys);
                }
            }
            return Ok(update);
        }
        let pair = self.pair_key(&raw)?;
        let before = self.check_code();
        let mut update = KeyUpdate::default();
        // A participant back on a new connection replaces its older one (same role).
        let replaced: Vec<u64> = self
            .peers
            .iter()
            .filter(|(n, p)| p.role == role && **n != from)
            .map(|(n, _)| *n)
            .collect();
        for n in replaced {
            if let Some(p) = self.peers.remove(&n) {
                update.forget.extend(p.kids);
            }
        }
        if let Some(old) = self.peers.insert(
            from,
            Peer {
                role,
                fingerprint: fingerprint(&raw),
                pair,
                kids: Vec::new(),
            },
        ) {
            update.forget.extend(old.kids);
        }
        update.code_changed = self.check_code() != before;
        let rekey = self.rekey()?;
        update.send = rekey.send;
        update.send_key = rekey.send_key;
        Ok(update)
    }

    /// `e2ee_media_key` from the server: another sender's media key, wrapped for us.
    pub fn on_media_key(
        &mut self,
        from: u64,
        kid: u64,
        wrapped: &str,
    ) -> Result<KeyUpdate, E2eeError> {
        let Some(me) = self.me else {
            if self.pending.len() < 64 {
                self.pending.push((from, kid, wrapped.to_owned()));
            }
            return Ok(KeyUpdate::default());
        };
        let peer = self
            .peers
            .get_mut(&from)
            .ok_or(E2eeError::BadKey("a media key from an unknown participant"))?;
        // The server refuses a KID outside the sender's range; a receiver checks it too.
        if kid >> 16 != from {
            return Err(E2eeError::BadKey("a KID outside the sender's range"));
        }
        let key = peer
            .pair
            .unwrap(&wrap_aad(self.visit_id, from, me, kid), &unb64(wrapped)?)?;
        let mut update = KeyUpdate {
            receive_keys: vec![MediaKey { kid, key }],
            ..KeyUpdate::default()
        };
        peer.kids.retain(|k| *k != kid);
        peer.kids.push(kid);
        if peer.kids.len() > KEYS_KEPT_PER_SENDER {
            let old = peer.kids.len() - KEYS_KEPT_PER_SENDER;
            update.forget = peer.kids.drain(..old).collect();
        }
        Ok(update)
    }

    /// `participant_left` (by role): its keys go, and a new epoch starts without it.
    pub fn participant_left(&mut self, role: Role) -> KeyUpdate {
        let before = self.check_code();
        let gone: Vec<u64> = self
            .peers
            .iter()
            .filter(|(_, p)| p.role == role)
            .map(|(n, _)| *n)
            .collect();
        if gone.is_empty() {
            return KeyUpdate::default();
        }
        let mut update = KeyUpdate::default();
        for n in gone {
            if let Some(p) = self.peers.remove(&n) {
                update.forget.extend(p.kids);
            }
        }
        update.code_changed = self.check_code() != before;
        // Wrapping with keys already derived cannot fail.
        if let Ok(rekey) = self.rekey() {
            update.send = rekey.send;
            update.send_key = rekey.send_key;
        }
        update
    }

    /// A new epoch: a fresh random media key, wrapped for everyone present.
    pub fn rekey(&mut self) -> Result<KeyUpdate, E2eeError> {
        let Some(me) = self.me else {
            return Ok(KeyUpdate::default());
        };
        self.epoch += 1;
        let kid = key_id(me, self.epoch);
        let mut key = [0u8; MEDIA_KEY_BYTES];
        self.rng
            .fill(&mut key)
            .map_err(|_| E2eeError::BadKey("no random source"))?;
        let mut send = Vec::with_capacity(self.peers.len());
        for (to, peer) in &self.peers {
            let mut iv = [0u8; NONCE_LEN];
            self.rng
                .fill(&mut iv)
                .map_err(|_| E2eeError::BadKey("no random source"))?;
            let wrapped = peer
                .pair
                .wrap(iv, &wrap_aad(self.visit_id, me, *to, kid), &key)?;
            send.push(ClientMessage::E2eeMediaKey {
                to: *to,
                kid,
                wrapped: b64(&wrapped),
            });
        }
        let media = MediaKey { kid, key };
        self.send_key = Some(media.clone());
        Ok(KeyUpdate {
            send,
            send_key: Some(media),
            ..KeyUpdate::default()
        })
    }
}

#[cfg(test)]
mod tests;
