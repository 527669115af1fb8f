//! Per-packet cost of the SRTP transforms the fast path uses: protect and unprotect of a
//! video-sized RTP packet (12-byte header + 8-byte extension + 1,100-byte payload, ≈ the
//! load generator's), for both GCM profiles, beside webrtc-rs's implementation for scale.
//! `cargo bench -p confer-srtp` prints a table (release build).

use confer_srtp::{MasterKey, Profile, Srtp, SALT_LEN};
use std::hint::black_box;
use std::time::Instant;

const ROUNDS: u32 = 200_000;

fn packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x90, 96];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&[0, 0, 0, 1, 0xCA, 0xFE, 0xF0, 0x0D]);
    p.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x22, 1, 2, 3]);
    p.extend(std::iter::repeat_n(0x5A, 1100));
    p
}

fn per_packet_ns(mut f: impl FnMut(u32)) -> f64 {
    for i in 0..10_000 {
        f(i);
    }
    let t = Instant::now();
    for i in 0..ROUNDS {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / f64::from(ROUNDS)
}

fn main() {
    println!(
        "{:<18} {:>10} {:>12} {:>14} {:>22}",
        "profile", "copy ns", "protect ns", "unprotect ns", "webrtc-rs protect ns"
    );
    for profile in [Profile::AeadAes128Gcm, Profile::AeadAes256Gcm] {
        let key = vec![7u8; profile.key_len()];
        let salt = [9u8; SALT_LEN];
        let srtp = Srtp::new(&MasterKey::new(profile, &key, &salt).unwrap()).unwrap();
        let mut buf = Vec::with_capacity(1500);
        let plain: Vec<Vec<u8>> = (0..=u16::MAX).map(packet).collect();
        let copy = per_packet_ns(|i| {
            buf.clear();
            buf.extend_from_slice(&plain[(i % 65_536) as usize]);
            black_box(&buf);
        });
        let protect = per_packet_ns(|i| {
            buf.clear();
            buf.extend_from_slice(&plain[(i % 65_536) as usize]);
            black_box(srtp.protect(&mut buf, i >> 16).unwrap());
        });
        let sealed: Vec<Vec<u8>> = (0..1024u32)
            .map(|i| {
                let mut p = packet(i as u16);
                srtp.protect(&mut p, 0).unwrap();
                p
            })
            .collect();
        let unprotect = per_packet_ns(|i| {
            buf.clear();
            buf.extend_from_slice(&sealed[(i % 1024) as usize]);
            black_box(srtp.unprotect(&mut buf, 0).unwrap());
        });
        let rtc = match profile {
            Profile::AeadAes128Gcm => {
                rtc_srtp::protection_profile::ProtectionProfile::AeadAes128Gcm
            }
            Profile::AeadAes256Gcm => {
                rtc_srtp::protection_profile::ProtectionProfile::AeadAes256Gcm
            }
        };
        let mut reference = rtc_srtp::context::Context::new(
            &key,
            &salt,
            rtc,
            None,
            None,
            &rtc_crypto::providers::RingCrypto,
        )
        .unwrap();
        let theirs = per_packet_ns(|i| {
            black_box(
                reference
                    .encrypt_rtp(&plain[(i % 65_536) as usize])
                    .unwrap(),
            );
        });
        println!(
            "{:<18} {:>10.0} {:>12.0} {:>14.0} {:>22.0}",
            format!("{profile:?}"),
            copy,
            protect,
            unprotect,
            theirs
        );
    }
    println!("(protect and unprotect include copying the 1,132-byte packet into the buffer: the copy column)");
}
