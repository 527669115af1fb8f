//! The generator's fast path: media packets stamped from a header template and protected with
//! the leg's SRTP keys by `confer-srtp`, and received media opened the same way, without
//! str0m's per-packet machinery (so that the generator costs less per packet than the server
//! it measures, and can drive it past its knee).
//!
//! **Owns**: per peer, the two SRTP sessions (from the master keys str0m negotiated over
//! DTLS, `Rtc::srtp_master_keys`), one header template per media kind (the first packet str0m
//! itself sent of that kind: its SSRC and header extensions, read from the clear header), and
//! the transport-wide sequence number after str0m's last one.
//!
//! **Does not**: speak ICE, DTLS or RTCP (str0m still does, for every datagram that is not
//! media), or answer NACKs. With [`Generator::Fast`] a received media packet is opened here
//! but registered with str0m (the vendored `Rtc::fast_rtp_receive`, as the server does), so
//! the generator's receiver reports, NACKs and transport-wide feedback are str0m's, as with
//! [`Generator::FastTx`] or a browser, and the server's congestion control sees real
//! feedback; only the per-packet event and copies are skipped.

use confer_srtp::{rtp_fields, MasterKey, Profile, Srtp};
use std::net::SocketAddr;
use std::time::Instant;
use str0m::fast::FastReceive;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::rtp::Extension;
use str0m::Rtc;

/// How the synthetic peers send and receive media.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generator {
    /// Everything through str0m (`write_rtp`, its pacer and SRTP; `Event::RtpPacket`).
    #[default]
    Str0m,
    /// Sending on the fast path, receiving through str0m (`Event::RtpPacket`).
    FastTx,
    /// Both directions on the fast path: received media is opened here and registered with
    /// str0m without an event (its reports and feedback stay str0m's, as with `FastTx`).
    Fast,
}

impl std::str::FromStr for Generator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "str0m" => Ok(Generator::Str0m),
            "fast-tx" => Ok(Generator::FastTx),
            "fast" => Ok(Generator::Fast),
            _ => Err(format!("unknown generator {s:?} (str0m, fast-tx or fast)")),
        }
    }
}

/// One header to stamp packets of one media kind from.
struct Template {
    header: Vec<u8>,
    /// Where the transport-wide sequence number's two bytes are, if the header has one.
    twcc_at: Option<usize>,
}

/// One peer's fast path, armed once DTLS has produced keys.
pub(crate) struct Fast {
    tx: Srtp,
    rx: Option<Srtp>,
    twcc_id: Option<u8>,
    templates: [Option<Template>; 2],
    /// The next transport-wide sequence number (continuing str0m's).
    twcc_next: u16,
    /// Where str0m sent its media (the selected pair's remote address).
    destination: Option<SocketAddr>,
    /// Reused packet buffer.
    buf: Vec<u8>,
}

fn kind_index(kind: MediaKind) -> usize {
    match kind {
        MediaKind::Audio => 0,
        MediaKind::Video => 1,
    }
}

/// Whether a datagram is SRTP rather than SRTCP (RFC 5761 4: payload types 64-95 with the
/// marker bit are RTCP's 192-223), STUN or DTLS (RFC 7983: first byte 128-191 is RTP/RTCP).
pub(crate) fn is_srtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12
        && (128..=191).contains(&datagram[0])
        && !(64..=95).contains(&(datagram[1] & 0x7f))
}

impl Fast {
    /// The fast path of a connected peer: `None` until str0m has keys, or when the profile is
    /// not AES-GCM (then the peer stays on str0m's path).
    pub(crate) fn arm(rtc: &Rtc, generator: Generator, video_mid: Mid) -> Option<Fast> {
        if generator == Generator::Str0m {
            return None;
        }
        let keys = rtc.srtp_master_keys()?;
        let profile = match keys.profile() {
            str0m::crypto::dtls::SrtpProfile::AEAD_AES_128_GCM => Profile::AeadAes128Gcm,
            str0m::crypto::dtls::SrtpProfile::AEAD_AES_256_GCM => Profile::AeadAes256Gcm,
            _ => return None,
        };
        let session = |k: &str0m::crypto::SrtpMasterKey| {
            MasterKey::new(profile, k.key(), k.salt())
                .ok()
                .and_then(|m| Srtp::new(&m).ok())
        };
        let tx = session(keys.tx())?;
        let rx = match generator {
            Generator::Fast => Some(session(keys.rx())?),
            _ => None,
        };
        let twcc_id = rtc
            .media(video_mid)
            .and_then(|m| m.remote_extmap().id_of(Extension::TransportSequenceNumber));
        Some(Fast {
            tx,
            rx,
            twcc_id,
            templates: [None, None],
            twcc_next: 0,
            destination: None,
            buf: Vec::with_capacity(1500),
        })
    }

    /// Whether packets of `kind` can be sent on the fast path yet.
    pub(crate) fn ready(&self, kind: MediaKind) -> bool {
        self.destination.is_some() && self.templates[kind_index(kind)].is_some()
    }

    /// Learn from a datagram str0m sends: the first media packet of each kind becomes that
    /// kind's template (its header is in the clear), and every media packet moves the
    /// transport-wide number on.
    pub(crate) fn observe(
        &mut self,
        datagram: &[u8],
        destination: SocketAddr,
        pts: [Option<Pt>; 2],
    ) {
        if !is_srtp(datagram) {
            return;
        }
        let Some(fields) = rtp_fields(datagram) else {
            return;
        };
        let header = &datagram[..fields.header_len];
        let twcc_at = self.twcc_id.and_then(|id| extension_at(header, id, 2));
        if let Some(at) = twcc_at {
            self.twcc_next = u16::from_be_bytes([header[at], header[at + 1]]).wrapping_add(1);
        }
        let pt = Pt::from(datagram[1] & 0x7f);
        let Some(kind) = pts.iter().position(|p| *p == Some(pt)) else {
            return;
        };
        self.destination = Some(destination);
        if self.templates[kind].is_none() {
            self.templates[kind] = Some(Template {
                header: header.to_vec(),
                twcc_at,
            });
        }
    }

    /// One media packet of `kind`, stamped from its template and protected: the datagram to
    /// send, and where to. `None` before [`Fast::ready`].
    pub(crate) fn packet(
        &mut self,
        kind: MediaKind,
        pt: Pt,
        index: u64,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Option<(&[u8], SocketAddr)> {
        let destination = self.destination?;
        let template = self.templates[kind_index(kind)].as_ref()?;
        let buf = &mut self.buf;
        buf.clear();
        buf.extend_from_slice(&template.header);
        buf[1] = (u8::from(marker) << 7) | (*pt & 0x7f);
        buf[2..4].copy_from_slice(&(index as u16).to_be_bytes());
        buf[4..8].copy_from_slice(&timestamp.to_be_bytes());
        if let Some(at) = template.twcc_at {
            buf[at..at + 2].copy_from_slice(&self.twcc_next.to_be_bytes());
            self.twcc_next = self.twcc_next.wrapping_add(1);
        }
        buf.extend_from_slice(payload);
        self.tx.protect(buf, (index >> 16) as u32).ok()?;
        Some((&self.buf[..], destination))
    }

    /// Take one received datagram on the fast path: open it in place with the receive keys
    /// and register it with str0m (`Rtc::fast_rtp_receive`: replay check, rollover, the
    /// receive registers behind its reports, NACKs and transport-wide feedback).
    /// [`FastReceive::NotFast`] (not media, a stream str0m has not seen yet, or this peer
    /// does not receive on the fast path) leaves `datagram` and str0m untouched: hand it to
    /// `handle_input`.
    pub(crate) fn receive(&self, rtc: &mut Rtc, now: Instant, datagram: &mut [u8]) -> FastReceive {
        let Some(rx) = self.rx.as_ref() else {
            return FastReceive::NotFast;
        };
        if !is_srtp(datagram) {
            return FastReceive::NotFast;
        }
        rtc.fast_rtp_receive(now, datagram, |b, index| {
            rx.open(b, (index >> 16) as u32).ok()
        })
    }
}

/// Where the `len`-byte value of one-byte header extension `id` (RFC 8285 4.2) starts in
/// `header`.
fn extension_at(header: &[u8], id: u8, len: usize) -> Option<usize> {
    if header[0] & 0x10 == 0 {
        return None;
    }
    let start = 12 + 4 * usize::from(header[0] & 0x0f);
    if header.get(start..start + 2)? != [0xbe, 0xde] {
        return None;
    }
    let words = usize::from(u16::from_be_bytes([header[start + 2], header[start + 3]]));
    let end = (start + 4 + 4 * words).min(header.len());
    let mut at = start + 4;
    while at < end {
        let b = header[at];
        if b == 0 {
            at += 1;
            continue;
        }
        let (eid, elen) = (b >> 4, usize::from(b & 0x0f) + 1);
        if eid == 15 {
            return None;
        }
        if eid == id {
            return (elen == len && at + 1 + len <= end).then_some(at + 1);
        }
        at += 1 + elen;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_byte_extension_is_found_past_padding_and_others() {
        // V=2, X=1; seq, ts, ssrc; 0xBEDE, 2 words: id 1 len 1 (mid "1"), pad, id 3 len 2.
        let mut h = vec![0x90, 96, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0xbe, 0xde, 0, 2];
        h.extend([0x10, b'1', 0x00, 0x31, 0x12, 0x34, 0x00, 0x00]);
        assert_eq!(extension_at(&h, 3, 2), Some(20));
        assert_eq!(&h[20..22], &[0x12, 0x34]);
        assert_eq!(extension_at(&h, 1, 1), Some(17));
        assert_eq!(extension_at(&h, 3, 3), None, "wrong length");
        assert_eq!(extension_at(&h, 5, 2), None, "absent");
        h[0] = 0x80;
        assert_eq!(extension_at(&h, 3, 2), None, "no extension bit");
    }

    #[test]
    fn rtcp_stun_and_dtls_are_not_media() {
        let mut rtp = vec![0x80, 96];
        rtp.resize(20, 0);
        assert!(is_srtp(&rtp));
        let mut rtcp = vec![0x80, 200];
        rtcp.resize(20, 0);
        assert!(!is_srtp(&rtcp), "a sender report");
        rtcp[1] = 205;
        assert!(!is_srtp(&rtcp), "transport feedback");
        let mut stun = vec![0x00, 0x01];
        stun.resize(20, 0);
        assert!(!is_srtp(&stun));
        let mut dtls = vec![22, 0xfe];
        dtls.resize(20, 0);
        assert!(!is_srtp(&dtls));
    }
}
