//! The key derivation against RFC 3711's own vector; the GCM transforms against an
//! independent implementation (webrtc-rs's `rtc-srtp`), byte for byte, over random headers,
//! payloads and sequence numbers that cross a rollover; tampering and wrong indexes refused;
//! random bytes never panic.

use super::*;
use proptest::prelude::*;
use rtc_srtp::context::Context;
use rtc_srtp::protection_profile::ProtectionProfile;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn key_derivation_matches_rfc_3711_appendix_b3() {
    let master = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
    let mut key = [0u8; 16];
    derive(&master, &salt, 0x00, &mut key).unwrap();
    assert_eq!(key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut session_salt = [0u8; 14];
    derive(&master, &salt, 0x02, &mut session_salt).unwrap();
    assert_eq!(session_salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    let mut auth = [0u8; 20];
    derive(&master, &salt, 0x01, &mut auth).unwrap();
    assert_eq!(
        auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4")
    );
}

#[test]
fn keying_material_is_split_as_rfc_5764_says() {
    for profile in [Profile::AeadAes128Gcm, Profile::AeadAes256Gcm] {
        let k = profile.key_len();
        let material: Vec<u8> = (0..profile.keying_material_len() as u8).collect();
        let client = MasterKey::from_keying_material(profile, &material, true).unwrap();
        let server = MasterKey::from_keying_material(profile, &material, false).unwrap();
        assert_eq!(client.key(), &material[..k]);
        assert_eq!(server.key(), &material[k..2 * k]);
        assert_eq!(client.salt[..], material[2 * k..2 * k + SALT_LEN]);
        assert_eq!(server.salt[..], material[2 * k + SALT_LEN..]);
        assert_eq!(
            MasterKey::from_keying_material(profile, &material[1..], true).unwrap_err(),
            Error::KeyLength
        );
        assert!(!format!("{client:?}").contains(&format!("{}", material[0])));
    }
}

#[test]
fn the_index_estimate_follows_rfc_3711_appendix_a() {
    // In the middle of the sequence space: the same rollover count.
    assert_eq!(estimate_index(5 << 16 | 40_000, 40_001), 5 << 16 | 40_001);
    // Just before a wrap, a small sequence number belongs to the next rollover.
    assert_eq!(estimate_index(5 << 16 | 65_530, 3), 6 << 16 | 3);
    // Just after a wrap, a large one is a late packet of the previous rollover.
    assert_eq!(estimate_index(6 << 16 | 3, 65_530), 5 << 16 | 65_530);
    // Nothing before the first rollover.
    assert_eq!(estimate_index(10, 65_000), 65_000);
}

fn rtc_profile(profile: Profile) -> ProtectionProfile {
    match profile {
        Profile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        Profile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
    }
}

fn reference(profile: Profile, key: &[u8], salt: &[u8]) -> Context {
    Context::new(
        key,
        salt,
        rtc_profile(profile),
        None,
        None,
        &rtc_crypto::providers::RingCrypto,
    )
    .unwrap()
}

/// An RTP packet: `csrcs` CSRCs, an optional one-byte-header extension of `ext_words` words,
/// the payload.
fn rtp_packet(seq: u16, ssrc: u32, csrcs: u8, ext_words: Option<u16>, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80 | csrcs, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 3000).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    for c in 0..csrcs {
        p.extend_from_slice(&(0x1000_0000 + u32::from(c)).to_be_bytes());
    }
    if let Some(words) = ext_words {
        p[0] |= 0x10;
        p.extend_from_slice(&[0xBE, 0xDE]);
        p.extend_from_slice(&words.to_be_bytes());
        for w in 0..words {
            // One-byte elements: id 1..14, length 4 (L = 3), then padding-free data.
            p.extend_from_slice(&[(((w % 14) as u8 + 1) << 4) | 2, 0xAA, 0xBB, 0xCC]);
        }
    }
    p.extend_from_slice(payload);
    p
}

fn profiles() -> impl Strategy<Value = Profile> {
    prop_oneof![Just(Profile::AeadAes128Gcm), Just(Profile::AeadAes256Gcm)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// The same bytes as webrtc-rs for a run of packets across a sequence-number wrap, and
    /// each side opens the other's.
    #[test]
    fn protect_matches_an_independent_implementation_across_a_rollover(
        profile in profiles(),
        key in proptest::collection::vec(any::<u8>(), 32),
        salt in proptest::collection::vec(any::<u8>(), SALT_LEN),
        ssrc in any::<u32>(),
        start in 65_500u16..=65_535,
        csrcs in 0u8..4,
        ext_words in proptest::option::of(1u16..6),
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..1200), 1..48),
    ) {
        let key = &key[..profile.key_len()];
        let master = MasterKey::new(profile, key, &salt).unwrap();
        let ours = Srtp::new(&master).unwrap();
        let mut theirs_tx = reference(profile, key, &salt);
        let mut theirs_rx = reference(profile, key, &salt);
        for (index, payload) in (u64::from(start)..).zip(payloads.iter()) {
            let seq = index as u16;
            let roc = (index >> 16) as u32;
            let plain = rtp_packet(seq, ssrc, csrcs, ext_words, payload);
            let mut sealed = plain.clone();
            let fields = ours.protect(&mut sealed, roc).unwrap();
            prop_assert_eq!(fields.seq, seq);
            prop_assert_eq!(fields.ssrc, ssrc);
            prop_assert_eq!(sealed.len(), plain.len() + TAG_LEN);
            let reference_sealed = theirs_tx.encrypt_rtp(&plain).unwrap();
            prop_assert_eq!(&sealed[..], &reference_sealed[..], "index {}", index);
            let opened = theirs_rx.decrypt_rtp(&sealed).unwrap();
            prop_assert_eq!(&opened[..], &plain[..]);
            let mut back = reference_sealed.to_vec();
            ours.unprotect(&mut back, roc).unwrap();
            prop_assert_eq!(&back[..], &plain[..]);
        }
    }

    /// Any change to header, payload or tag, or the wrong rollover count, is refused.
    #[test]
    fn tampering_and_a_wrong_index_are_refused(
        profile in profiles(),
        payload in proptest::collection::vec(any::<u8>(), 1..300),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let master = MasterKey::new(profile, &vec![7u8; profile.key_len()], &[9u8; SALT_LEN]).unwrap();
        let srtp = Srtp::new(&master).unwrap();
        let mut sealed = rtp_packet(1234, 0xCAFE_F00D, 1, Some(2), &payload);
        srtp.protect(&mut sealed, 3).unwrap();
        let mut wrong_roc = sealed.clone();
        prop_assert_eq!(srtp.unprotect(&mut wrong_roc, 4).unwrap_err(), Error::Authentication);
        let mut altered = sealed.clone();
        let at = flip.index(altered.len());
        altered[at] ^= 1 << bit;
        // A flip in the header's first byte or lengths may make it unparseable instead.
        let err = srtp.unprotect(&mut altered, 3).unwrap_err();
        prop_assert!(matches!(err, Error::Authentication | Error::Malformed), "{:?}", err);
        let mut good = sealed.clone();
        prop_assert!(srtp.unprotect(&mut good, 3).is_ok());
    }

    /// Network input never panics.
    #[test]
    fn random_bytes_are_refused_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200), roc in any::<u32>()) {
        let master = MasterKey::new(Profile::AeadAes128Gcm, &[1u8; 16], &[2u8; SALT_LEN]).unwrap();
        let srtp = Srtp::new(&master).unwrap();
        let mut b = bytes.clone();
        prop_assert!(srtp.unprotect(&mut b, roc).is_err());
        let mut b = bytes;
        let _ = srtp.protect(&mut b, roc);
    }
}

#[test]
fn wrong_key_lengths_are_refused() {
    assert_eq!(
        MasterKey::new(Profile::AeadAes256Gcm, &[0u8; 16], &[0u8; SALT_LEN]).unwrap_err(),
        Error::KeyLength
    );
    assert_eq!(
        MasterKey::new(Profile::AeadAes128Gcm, &[0u8; 16], &[0u8; 14]).unwrap_err(),
        Error::KeyLength
    );
    assert_eq!(
        derive(&[0u8; 24], &[0u8; 12], 0, &mut [0u8; 16]).unwrap_err(),
        Error::KeyLength
    );
}
