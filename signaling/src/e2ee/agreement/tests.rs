//! The key agreement (R-PRIV-1): a cross-check with Chromium's WebCrypto in both directions,
//! and whole exchanges among Rust participants through a relay that behaves as PROTOCOL.md
//! section 7 says the server does.

use super::*;
use crate::e2ee::{FrameEncryptor, FrameKind};

/// Recorded once from Chromium 156 (headless, WebCrypto; the same calls as `web/e2ee.js`:
/// `deriveBits` ECDH P-256, HKDF-SHA256 `deriveKey` to AES-GCM 128, `encrypt`/`decrypt` with
/// the wrap AAD). Visit 99; the browser is participant 1 with private scalar 0x11 × 32, the
/// Rust side participant 2 with private scalar 0x22 × 32.
mod chromium_vector {
    pub const VISIT: i64 = 99;
    pub const BROWSER_D: [u8; 32] = [0x11; 32];
    pub const BROWSER_PUBLIC: &str =
        "BAIX5hfwtkQ5KCePlpmeaaI6TywVK99tbN9m5bgCgtTtGUp968uXcS0t2jyoWqh2Wlb0X8dYWZZS8ol8ZTBuV5Q";
    pub const RUST_D: [u8; 32] = [0x22; 32];
    pub const RUST_PUBLIC: &str =
        "BNZak5d8qj0bCBhS_1ennkZfFmBXcwS66tUF3TpIWJzzUBheiVNy32Ih6joTdVfkc_3bZ1XwW9UHw8Uz_OnJEoU";
    /// Chromium wrapped media key 0x55 × 16 from 1 to 2, KID key_id(1, 1), IV 0x66 × 12.
    pub const WRAPPED_BY_CHROMIUM: &str =
        "ZmZmZmZmZmZmZmZmV5NBs54-rzbt8dINaWFfjh89NxP4BvTy9VplQXTYEQY";
    /// This module wrapped media key 0x33 × 16 from 2 to 1, KID key_id(2, 1), IV 0x44 × 12;
    /// Chromium unwrapped it to 0x33 × 16.
    pub const WRAPPED_FOR_CHROMIUM: &str =
        "REREREREREREREREKGTSmPgephsJ2OQ7elPkpHYjiGt3A-SI_4ByifJnscI";
}

#[test]
fn chromium_wrapped_key_unwraps_here_and_ours_is_what_chromium_unwrapped() {
    use chromium_vector::*;
    let browser = Participant::from_private_scalar(VISIT, &BROWSER_D).unwrap();
    let rust = Participant::from_private_scalar(VISIT, &RUST_D).unwrap();
    // The public keys are the points WebCrypto exported for these scalars.
    assert_eq!(browser.public_key_b64(), BROWSER_PUBLIC);
    assert_eq!(rust.public_key_b64(), RUST_PUBLIC);
    assert_eq!(rust.public_key().len(), PUBLIC_KEY_BYTES);

    // Chromium -> Rust.
    let pair = rust.pair_key(&unb64(BROWSER_PUBLIC).unwrap()).unwrap();
    let aad = wrap_aad(VISIT, 1, 2, key_id(1, 1));
    let wrapped = unb64(WRAPPED_BY_CHROMIUM).unwrap();
    assert_eq!(wrapped.len(), WRAPPED_BYTES);
    assert_eq!(pair.unwrap(&aad, &wrapped).unwrap(), [0x55; 16]);
    // Any other AAD (another receiver, KID or visit) or an altered byte fails.
    for other in [
        wrap_aad(VISIT, 1, 3, key_id(1, 1)),
        wrap_aad(VISIT, 1, 2, key_id(1, 2)),
        wrap_aad(VISIT + 1, 1, 2, key_id(1, 1)),
    ] {
        assert!(matches!(
            pair.unwrap(&other, &wrapped),
            Err(E2eeError::Decrypt)
        ));
    }
    let mut altered = wrapped.clone();
    altered[20] ^= 1;
    assert!(matches!(
        pair.unwrap(&aad, &altered),
        Err(E2eeError::Decrypt)
    ));

    // Rust -> Chromium: the same bytes Chromium unwrapped.
    let ours = pair
        .wrap(
            [0x44; 12],
            &wrap_aad(VISIT, 2, 1, key_id(2, 1)),
            &[0x33; 16],
        )
        .unwrap();
    assert_eq!(b64(&ours), WRAPPED_FOR_CHROMIUM);
    // And the pairwise key is symmetric.
    let back = browser.pair_key(rust.public_key()).unwrap();
    assert_eq!(
        back.unwrap(&wrap_aad(VISIT, 2, 1, key_id(2, 1)), &ours)
            .unwrap(),
        [0x33; 16]
    );
}

/// The server's relay of PROTOCOL.md section 7, in memory: `e2ee_key` to everyone (the sender
/// included, earlier keys to a newcomer), `e2ee_media_key` to its `to` alone.
struct Relay {
    members: BTreeMap<u64, (Role, Participant, FrameDecryptor)>,
    published: Vec<(u64, Role, String)>,
    /// Every wrapped key relayed: (to, from, kid, wrapped).
    seen: Vec<(u64, u64, u64, String)>,
}

impl Relay {
    fn new() -> Self {
        Relay {
            members: BTreeMap::new(),
            published: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn deliver(&mut self, to: u64, msg: ServerMessage) {
        let Some((_, p, dec)) = self.members.get_mut(&to) else {
            return;
        };
        let update = p.handle(&msg).expect("a key message that works");
        update.apply(dec).unwrap();
        self.send(to, update.send);
    }

    fn send(&mut self, from: u64, out: Vec<ClientMessage>) {
        for m in out {
            if let ClientMessage::E2eeMediaKey { to, kid, wrapped } = m {
                self.seen.push((to, from, kid, wrapped.clone()));
                self.deliver(to, ServerMessage::E2eeMediaKey { from, kid, wrapped });
            }
        }
    }

    fn join(&mut self, n: u64, role: Role, visit: i64) {
        let p = Participant::new(visit);
        let ClientMessage::E2eeKey { public_key } = p.key_message() else {
            panic!("e2ee_key");
        };
        self.members.insert(n, (role, p, FrameDecryptor::new()));
        for (from, role, key) in self.published.clone() {
            self.deliver(
                n,
                ServerMessage::E2eeKey {
                    from,
                    role,
                    public_key: key,
                },
            );
        }
        self.published.push((n, role, public_key.clone()));
        let all: Vec<u64> = self.members.keys().copied().collect();
        for to in all {
            self.deliver(
                to,
                ServerMessage::E2eeKey {
                    from: n,
                    role,
                    public_key: public_key.clone(),
                },
            );
        }
    }

    fn leave(&mut self, n: u64) {
        let (role, ..) = self.members.remove(&n).unwrap();
        self.published.retain(|(m, ..)| *m != n);
        let rest: Vec<u64> = self.members.keys().copied().collect();
        for to in rest {
            self.deliver(
                to,
                ServerMessage::Notice {
                    notice: VisitNotice::ParticipantLeft { role },
                },
            );
        }
    }

    fn participant(&self, n: u64) -> &Participant {
        &self.members[&n].1
    }

    /// Whether `to` opens a frame `from` protects with its current media key.
    fn opens(&self, from: u64, to: u64) -> bool {
        let k = self.participant(from).send_key().unwrap();
        let mut enc = FrameEncryptor::new(k.kid, &k.key).unwrap();
        let frame = enc.protect(FrameKind::Audio, b"\x78spoken words").unwrap();
        self.members[&to].2.open(FrameKind::Audio, &frame).is_ok()
    }
}

#[test]
fn participants_agree_rekey_on_join_and_leave_and_share_the_check_code() {
    let visit = 7;
    let mut relay = Relay::new();
    relay.join(1, Role::Lawyer, visit);
    assert_eq!(relay.participant(1).me(), Some(1));
    assert_eq!(relay.participant(1).check_code(), None, "alone: no code");
    relay.join(2, Role::Booth, visit);
    let (l, b) = (relay.participant(1), relay.participant(2));
    assert_eq!(b.me(), Some(2));
    assert_eq!(l.peers(), vec![2]);
    assert_eq!(b.peers(), vec![1]);
    let code = l.check_code().unwrap();
    assert_eq!(Some(code.clone()), b.check_code());
    assert_eq!(
        code,
        check_code(
            visit,
            &[fingerprint(l.public_key()), fingerprint(b.public_key())]
        )
    );
    assert!(relay.opens(1, 2) && relay.opens(2, 1));
    assert_eq!(relay.participant(2).send_key().unwrap().kid >> 16, 2);
    let lawyer_kid_before = relay.participant(1).send_key().unwrap().kid;
    let before_interpreter = relay.seen.len();

    // A third participant: a new epoch for everyone, a new code on every screen.
    relay.join(3, Role::Interpreter, visit);
    let code3 = relay.participant(3).check_code().unwrap();
    assert_ne!(code3, code);
    for n in [1, 2] {
        assert_eq!(relay.participant(n).check_code().unwrap(), code3);
    }
    let lawyer_kid = relay.participant(1).send_key().unwrap().kid;
    assert!(lawyer_kid > lawyer_kid_before, "the lawyer re-keyed");
    for (a, b) in [(1, 2), (1, 3), (2, 3), (3, 1), (2, 1), (3, 2)] {
        assert!(relay.opens(a, b), "{a} -> {b}");
    }
    // The newcomer never received an earlier key.
    assert!(relay.seen[..before_interpreter].iter().all(|s| s.0 != 3));
    assert!(relay
        .seen
        .iter()
        .all(|s| s.0 != 3 || s.2 != lawyer_kid_before));

    // The interpreter leaves: a new epoch it never gets, the code is the two-party one again.
    let leaver_kids: Vec<u64> = relay
        .seen
        .iter()
        .filter(|s| s.0 == 3)
        .map(|s| s.2)
        .collect();
    let leaver = relay
        .members
        .get(&3)
        .map(|m| m.1.public_key().to_vec())
        .unwrap();
    let seen_before_leave = relay.seen.len();
    relay.leave(3);
    assert_eq!(relay.participant(1).check_code().unwrap(), code);
    assert!(relay.seen[seen_before_leave..].iter().all(|s| s.0 != 3));
    let new_kid = relay.participant(1).send_key().unwrap().kid;
    assert!(!leaver_kids.contains(&new_kid));
    assert!(relay.opens(1, 2) && relay.opens(2, 1));
    assert!(!leaver.is_empty());
}

#[test]
fn a_receiver_keeps_two_keys_per_sender_and_drops_a_leavers_keys() {
    let mut relay = Relay::new();
    relay.join(1, Role::Lawyer, 5);
    relay.join(2, Role::Booth, 5);
    let old = relay.participant(1).send_key().unwrap().clone();
    // Two more epochs of the lawyer: the booth keeps the newest two keys only.
    for _ in 0..2 {
        let update = relay.members.get_mut(&1).unwrap().1.rekey().unwrap();
        relay.send(1, update.send);
    }
    let mut enc = FrameEncryptor::new(old.kid, &old.key).unwrap();
    let frame = enc.protect(FrameKind::Audio, b"\x78old").unwrap();
    assert!(matches!(
        relay.members[&2].2.open(FrameKind::Audio, &frame),
        Err(E2eeError::UnknownKey(_))
    ));
    assert!(relay.opens(1, 2));
    // The lawyer leaves: the booth drops the lawyer's keys.
    let last = relay.participant(1).send_key().unwrap().clone();
    relay.leave(1);
    let mut enc = FrameEncryptor::new(last.kid, &last.key).unwrap();
    let frame = enc.protect(FrameKind::Audio, b"\x78late").unwrap();
    assert!(relay.members[&2].2.open(FrameKind::Audio, &frame).is_err());
    assert_eq!(relay.participant(2).check_code(), None);
}

#[test]
fn bad_key_messages_are_errors_never_panics() {
    let mut p = Participant::new(3);
    let echo = p.public_key_b64();
    p.on_key(4, Role::Lawyer, &echo).unwrap();
    for bad in ["", "!!!", "AAAA", &b64(&[4u8; 65]), &b64(&[0u8; 33])] {
        assert!(p.on_key(5, Role::Booth, bad).is_err(), "{bad}");
    }
    let other = Participant::new(3);
    p.on_key(5, Role::Booth, &other.public_key_b64()).unwrap();
    // Unknown sender, KID outside the sender's range, wrong length, not base64.
    let w = b64(&[0u8; WRAPPED_BYTES]);
    let mut early = Participant::new(3);
    assert!(early
        .on_media_key(5, key_id(5, 1), &w)
        .unwrap()
        .receive_keys
        .is_empty());
    assert!(p.on_media_key(6, key_id(6, 1), &w).is_err());
    assert!(p.on_media_key(5, key_id(6, 1), &w).is_err());
    assert!(p.on_media_key(5, key_id(5, 1), &b64(&[0u8; 10])).is_err());
    assert!(p.on_media_key(5, key_id(5, 1), "%%").is_err());
    assert!(matches!(
        p.on_media_key(5, key_id(5, 1), &w),
        Err(E2eeError::Decrypt)
    ));
    // Never a key in a Debug print.
    let k = p.send_key().unwrap();
    assert_eq!(format!("{k:?}"), format!("MediaKey {{ kid: {} }}", k.kid));
}
