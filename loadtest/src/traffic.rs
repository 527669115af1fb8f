//! The traffic model and the measurement payload. Pure: no sockets, no clock reads (times are
//! arguments), so every rule is unit-tested.
//!
//! **Owns**: what one side of a visit sends and when (720p VP8 at about 1.5 Mbps, Opus in
//! 20 ms frames), the layout of the probe header every payload carries, and the receive-side
//! accounting per stream (loss by sequence gaps, duplicates, reordering).
//!
//! **Does not**: encode or decode media. Frames are pre-made byte templates (replayed, as the
//! issue asks, so the load generator stays cheap); only the probe header is written per packet.
//! The SFU never looks inside payloads (RTP mode), so the bytes need only be plausible.
//!
//! # Probe header (little endian, at the start of every payload)
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | VP8 payload descriptor + VP8 header byte (video), Opus TOC + pad (audio) |
//! | 2..6 | magic `CLT1` |
//! | 6 | kind: 0 audio, 1 video |
//! | 7 | flags: bit 0 keyframe |
//! | 8..12 | visit index (this run's numbering) |
//! | 12..20 | sequence number of this stream, from 0, never rebased by the SFU |
//! | 20..28 | send time: nanoseconds since the run's epoch (sender and receiver share it) |

use confer_signaling::e2ee::{key_id, FrameDecryptor, FrameEncryptor, MEDIA_KEY_BYTES};
use std::collections::HashMap;
use std::time::Duration;

/// Video frame interval (30 frames per second).
pub const VIDEO_FRAME_INTERVAL: Duration = Duration::from_nanos(33_333_333);
/// Opus frame interval (20 ms).
pub const AUDIO_FRAME_INTERVAL: Duration = Duration::from_millis(20);
/// A keyframe every this many video frames (2 s at 30 fps).
pub const KEYFRAME_EVERY_FRAMES: u64 = 60;
/// Packets of a delta frame and of a keyframe: (59 × 5 + 30) / 2 s ≈ 163 packets/s.
pub const DELTA_FRAME_PACKETS: usize = 5;
pub const KEYFRAME_PACKETS: usize = 30;
/// RTP payload bytes of one video packet; with RTP header, extensions and the SRTP tag the
/// datagram is about 1150 bytes. 163 × 1150 × 8 ≈ 1.5 Mbit/s.
pub const VIDEO_PAYLOAD_BYTES: usize = 1100;
/// RTP payload bytes of one Opus packet (about 32 kbit/s).
pub const AUDIO_PAYLOAD_BYTES: usize = 80;
/// Video packets leave a sender at most this often, as a browser's pacer spreads a frame at
/// 2.5 × the target bitrate (1150 B at 3.75 Mbit/s ≈ 2.45 ms), instead of in one burst. The
/// send time in the probe is the paced one, so pacing is not counted as network delay.
pub const PACING_INTERVAL: Duration = Duration::from_micros(2450);
/// A keyframe request is honoured at most this often (encoders throttle too).
pub const MIN_FORCED_KEYFRAME_INTERVAL: Duration = Duration::from_millis(250);

/// RTP clock ticks per video frame (90 kHz / 30 fps) and per Opus frame (48 kHz × 20 ms).
pub const VIDEO_TS_STEP: u32 = 3000;
pub const AUDIO_TS_STEP: u32 = 960;

const MAGIC: &[u8; 4] = b"CLT1";
/// Length of the probe header.
pub const HEADER_LEN: usize = 28;

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Audio,
    Video,
}

impl Kind {
    pub fn index(self) -> usize {
        match self {
            Kind::Audio => 0,
            Kind::Video => 1,
        }
    }
}

/// The probe header of one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    pub kind: Kind,
    pub keyframe: bool,
    pub visit: u32,
    pub seq: u64,
    pub sent_ns: u64,
}

/// Pre-made payload bytes, replayed for every packet (only the probe header changes).
#[derive(Debug, Clone)]
pub struct Templates {
    video: Vec<u8>,
    audio: Vec<u8>,
}

impl Default for Templates {
    fn default() -> Self {
        // Deterministic filler that does not compress to nothing (no content, just bytes).
        let filler = |len: usize, seed: u32| -> Vec<u8> {
            let mut x = seed;
            (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x.to_le_bytes()[0]
                })
                .collect()
        };
        Templates {
            video: filler(VIDEO_PAYLOAD_BYTES, 0x9e37_79b9),
            audio: filler(AUDIO_PAYLOAD_BYTES, 0x85eb_ca6b),
        }
    }
}

impl Templates {
    /// One packet's payload: the template with `probe` written at its start.
    pub fn payload(&self, probe: &Probe, first_of_frame: bool) -> Vec<u8> {
        let mut bytes = match probe.kind {
            Kind::Audio => self.audio.clone(),
            Kind::Video => self.video.clone(),
        };
        match probe.kind {
            Kind::Video => {
                // VP8 payload descriptor: S bit on the first packet of a frame, PID 0. Then the
                // first byte of the VP8 frame header: P bit 0 for a keyframe.
                bytes[0] = if first_of_frame { 0x10 } else { 0x00 };
                bytes[1] = if probe.keyframe { 0x00 } else { 0x01 };
            }
            Kind::Audio => {
                bytes[0] = 0x78; // Opus TOC: SILK-only wideband 20 ms, one frame.
                bytes[1] = 0x00;
            }
        }
        bytes[2..6].copy_from_slice(MAGIC);
        bytes[6] = probe.kind.index() as u8;
        bytes[7] = u8::from(probe.keyframe);
        bytes[8..12].copy_from_slice(&probe.visit.to_le_bytes());
        bytes[12..20].copy_from_slice(&probe.seq.to_le_bytes());
        bytes[20..28].copy_from_slice(&probe.sent_ns.to_le_bytes());
        bytes
    }
}

/// SFrame (RFC 9605, `AES_128_GCM_SHA256_128`) on the synthetic payloads (`--e2ee`, R-PRIV-1),
/// through `confer_signaling::e2ee`, the same framing the pages and the Rust test peers use. The
/// probe header stays in clear ahead of the SFrame header and is authenticated as SFrame
/// metadata (as the pages keep a codec header in clear), so receivers still measure delay and
/// loss; the rest of the payload is ciphertext and tag, 17 to 22 bytes longer than the plain
/// payload (SFrame header and the 16-byte tag). One fixed random media key per run (the load
/// test does not run the ECDH key agreement: it measures CPU, see README), a KID per sender.
pub struct Sframe {
    key: [u8; MEDIA_KEY_BYTES],
    senders: HashMap<u64, FrameEncryptor>,
    receiver: FrameDecryptor,
}

impl Sframe {
    pub fn new(key: [u8; MEDIA_KEY_BYTES]) -> Self {
        Sframe {
            key,
            senders: HashMap::new(),
            receiver: FrameDecryptor::new(),
        }
    }

    /// The SFrame KID of one peer: the two peers of a visit have their own.
    pub fn kid(visit: u32, booth: bool) -> u64 {
        key_id(u64::from(visit) * 2 + u64::from(booth) + 1, 1)
    }

    /// `payload` protected by sender `kid`: probe header | SFrame header | ciphertext | tag.
    pub fn protect(&mut self, kid: u64, payload: &[u8]) -> Vec<u8> {
        if !self.senders.contains_key(&kid) {
            let enc = FrameEncryptor::new(kid, &self.key).expect("a 16-byte key");
            self.senders.insert(kid, enc);
            self.receiver
                .add_key(kid, &self.key)
                .expect("a 16-byte key");
        }
        let enc = self.senders.get_mut(&kid).expect("inserted above");
        let at = HEADER_LEN.min(payload.len());
        let (header, rest) = payload.split_at(at);
        // 2^64 frames per key: the counter cannot run out within a run.
        enc.protect_with_metadata(header, rest)
            .expect("the SFrame counter")
    }

    /// Whether a received payload opens (and so was forwarded untouched).
    pub fn open(&self, payload: &[u8]) -> bool {
        let at = HEADER_LEN.min(payload.len());
        let (header, rest) = payload.split_at(at);
        self.receiver.open_with_metadata(header, rest).is_ok()
    }
}

/// Read the probe header; `None` for anything that is not ours (never panics).
pub fn parse_probe(payload: &[u8]) -> Option<Probe> {
    let header = payload.get(..HEADER_LEN)?;
    if header.get(2..6)? != MAGIC {
        return None;
    }
    let kind = match header[6] {
        0 => Kind::Audio,
        1 => Kind::Video,
        _ => return None,
    };
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(header.get(at..at + 4)?.try_into().ok()?))
    };
    let u64_at = |at: usize| -> Option<u64> {
        Some(u64::from_le_bytes(header.get(at..at + 8)?.try_into().ok()?))
    };
    Some(Probe {
        kind,
        keyframe: header[7] & 1 == 1,
        visit: u32_at(8)?,
        seq: u64_at(12)?,
        sent_ns: u64_at(20)?,
    })
}

/// How many packets video frame number `frame` has, and whether it is a keyframe.
pub fn video_frame_shape(frame: u64, forced_keyframe: bool) -> (usize, bool) {
    if forced_keyframe || frame.is_multiple_of(KEYFRAME_EVERY_FRAMES) {
        (KEYFRAME_PACKETS, true)
    } else {
        (DELTA_FRAME_PACKETS, false)
    }
}

/// What happened to one received packet, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// A new packet; `advance` is how far the highest sequence number moved (1 when in order,
    /// more after a gap), which is what the loss count expects.
    New { advance: u64 },
    /// Older than the highest seen but not seen before (fills a gap: reordered).
    Reordered,
    /// Seen before.
    Duplicate,
    /// Too old to tell (beyond the duplicate window); counted as reordered, not as new.
    TooOld,
}

const WINDOW_BITS: u64 = 1024;

/// Receive-side accounting of one stream (one sender, one kind).
///
/// Loss is counted by gaps: `expected = highest − first + 1`, so packets sent before the
/// receiver was connected (which the SFU rightly drops) and packets still in flight at the
/// end do not count as lost.
#[derive(Debug, Clone)]
pub struct RxStream {
    first: Option<u64>,
    highest: u64,
    seen: [u64; (WINDOW_BITS / 64) as usize],
    pub unique: u64,
    pub duplicates: u64,
    pub reordered: u64,
}

impl Default for RxStream {
    fn default() -> Self {
        RxStream {
            first: None,
            highest: 0,
            seen: [0; (WINDOW_BITS / 64) as usize],
            unique: 0,
            duplicates: 0,
            reordered: 0,
        }
    }
}

impl RxStream {
    fn bit(&mut self, seq: u64) -> (&mut u64, u64) {
        let slot = seq % WINDOW_BITS;
        (&mut self.seen[(slot / 64) as usize], 1u64 << (slot % 64))
    }

    /// Account for packet `seq`.
    pub fn on_packet(&mut self, seq: u64) -> Arrival {
        let Some(_) = self.first else {
            self.first = Some(seq);
            self.highest = seq;
            let (word, mask) = self.bit(seq);
            *word |= mask;
            self.unique += 1;
            return Arrival::New { advance: 1 };
        };
        if seq > self.highest {
            let advance = seq - self.highest;
            if advance >= WINDOW_BITS {
                self.seen = [0; (WINDOW_BITS / 64) as usize];
            } else {
                for s in self.highest + 1..seq {
                    let (word, mask) = self.bit(s);
                    *word &= !mask;
                }
            }
            self.highest = seq;
            let (word, mask) = self.bit(seq);
            *word |= mask;
            self.unique += 1;
            return Arrival::New { advance };
        }
        if self.highest - seq >= WINDOW_BITS {
            self.reordered += 1;
            return Arrival::TooOld;
        }
        let (word, mask) = self.bit(seq);
        if *word & mask != 0 {
            self.duplicates += 1;
            Arrival::Duplicate
        } else {
            *word |= mask;
            self.unique += 1;
            self.reordered += 1;
            Arrival::Reordered
        }
    }

    /// Packets expected so far (from the first received to the highest received).
    pub fn expected(&self) -> u64 {
        self.first.map_or(0, |f| self.highest - f + 1)
    }

    /// Packets missing so far (gaps not filled).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--e2ee` (R-PRIV-1): the payload is SFrame ciphertext behind a clear, authenticated
    /// probe header; it opens with the run's key and the sender's KID, and not once altered.
    #[test]
    fn sframe_payloads_keep_the_probe_and_open_only_unaltered() {
        let t = Templates::default();
        let probe = Probe {
            kind: Kind::Video,
            keyframe: true,
            visit: 3,
            seq: 9,
            sent_ns: 77,
        };
        let plain = t.payload(&probe, true);
        let mut sf = Sframe::new([9; MEDIA_KEY_BYTES]);
        let wire = sf.protect(Sframe::kid(3, true), &plain);
        assert_eq!(parse_probe(&wire), Some(probe));
        assert!(wire.len() > plain.len() && wire.len() <= plain.len() + 22);
        assert_ne!(&wire[HEADER_LEN..plain.len()], &plain[HEADER_LEN..]);
        assert!(sf.open(&wire));
        let mut body = wire.clone();
        body[HEADER_LEN + 40] ^= 1;
        assert!(!sf.open(&body));
        let mut header = wire.clone();
        header[12] ^= 1; // the probe's sequence number: authenticated metadata
        assert!(!sf.open(&header));
        assert_ne!(Sframe::kid(3, true), Sframe::kid(3, false));
        assert!(!Sframe::new([8; MEDIA_KEY_BYTES]).open(&wire));
    }

    #[test]
    fn every_payload_carries_a_probe_that_reads_back() {
        let t = Templates::default();
        let probe = Probe {
            kind: Kind::Video,
            keyframe: true,
            visit: 7,
            seq: 123_456_789,
            sent_ns: 42,
        };
        let bytes = t.payload(&probe, true);
        assert_eq!(bytes.len(), VIDEO_PAYLOAD_BYTES);
        assert_eq!(parse_probe(&bytes), Some(probe));
        let audio = Probe {
            kind: Kind::Audio,
            keyframe: false,
            ..probe
        };
        assert_eq!(parse_probe(&t.payload(&audio, true)), Some(audio));
    }

    #[test]
    fn foreign_or_short_payloads_are_ignored_without_panicking() {
        assert_eq!(parse_probe(&[]), None);
        assert_eq!(parse_probe(&[0u8; 27]), None);
        assert_eq!(parse_probe(&[0xffu8; 1200]), None);
        let mut bytes = Templates::default().payload(
            &Probe {
                kind: Kind::Audio,
                keyframe: false,
                visit: 0,
                seq: 0,
                sent_ns: 0,
            },
            true,
        );
        bytes[6] = 9;
        assert_eq!(parse_probe(&bytes), None);
    }

    #[test]
    fn the_video_model_is_about_163_packets_per_second() {
        let per_two_seconds: usize = (0..KEYFRAME_EVERY_FRAMES)
            .map(|f| video_frame_shape(f, false).0)
            .sum();
        let per_second = per_two_seconds as f64 / 2.0;
        assert!((160.0..=166.0).contains(&per_second), "{per_second}");
    }

    #[test]
    fn gaps_count_as_loss_until_filled_and_duplicates_are_not_new() {
        let mut rx = RxStream::default();
        assert_eq!(rx.on_packet(10), Arrival::New { advance: 1 });
        assert_eq!(rx.on_packet(11), Arrival::New { advance: 1 });
        assert_eq!(rx.on_packet(14), Arrival::New { advance: 3 });
        assert_eq!(rx.lost(), 2);
        assert_eq!(rx.on_packet(12), Arrival::Reordered);
        assert_eq!(rx.lost(), 1);
        assert_eq!(rx.on_packet(12), Arrival::Duplicate);
        assert_eq!(rx.on_packet(14), Arrival::Duplicate);
        assert_eq!((rx.unique, rx.duplicates, rx.reordered), (4, 2, 1));
        assert_eq!(rx.expected(), 5);
    }

    #[test]
    fn a_long_jump_clears_the_duplicate_window() {
        let mut rx = RxStream::default();
        rx.on_packet(0);
        assert_eq!(rx.on_packet(5000), Arrival::New { advance: 5000 });
        assert_eq!(rx.on_packet(0), Arrival::TooOld);
        assert_eq!(rx.on_packet(4999), Arrival::Reordered);
        assert_eq!(rx.lost(), 4998);
    }
}
