//! The SRTP master keys str0m exports (`Rtc::srtp_master_keys`, confer's vendored patch of
//! str0m 0.25.0: vendor/str0m/CONFER-PATCH.md) are the keys on the wire, read with
//! `confer-srtp`, the crate the media fast path will protect and unprotect RTP with.
//!
//! Two str0m instances in process, wired by handing each one's `Output::Transmit` to the other
//! as `Input::Receive`: a browser-like client that offers audio and video, and the SFU side in
//! confer's configuration (RTP mode, ICE lite), which answers. After ICE and DTLS:
//! - the exported keys exist only once DTLS has produced them, agree across the two sides
//!   (one's tx is the other's rx) and name the same profile;
//! - every SRTP packet the client sends decrypts with the SFU's exported rx keys to what was
//!   written;
//! - a packet protected outside str0m with the client's exported tx keys is accepted by the
//!   SFU's str0m as that stream's next packet: the fast path can send on a leg str0m keeps for
//!   everything else.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use confer_srtp::{MasterKey, Profile, Srtp};
use str0m::bwe::Bitrate;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::crypto::dtls::SrtpProfile;
use str0m::crypto::SrtpMasterKeys;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::{RtpPacket, RtpWrite, Ssrc};
use str0m::{Candidate, Event, Input, Output, Reason, Rtc, RtcConfig};

const CLIENT: &str = "127.0.0.1:40001";
const SFU: &str = "127.0.0.1:3478";

/// The SFU side exactly as confer builds each leg.
fn confer_rtc_config() -> RtcConfig {
    confer::media::bench_support::sfu_rtc_config()
}

/// A browser-like client in RTP mode (as benches/forward.rs and the load tool have it).
fn client_rtc_config() -> RtcConfig {
    Rtc::builder()
        .set_rtp_mode(true)
        .clear_codecs()
        .enable_opus(true, false)
        .enable_vp8(true)
}

struct Side {
    rtc: Rtc,
    addr: SocketAddr,
    timeout: Instant,
    /// `Event::Connected` seen (ICE, DTLS and SRTP up).
    connected: bool,
    /// Whether keys were exported when ICE came up (connected or completed), each time.
    keys_at_ice_connected: Vec<bool>,
    /// Every RTP packet str0m handed up.
    rtp: Vec<RtpPacket>,
    /// Every datagram sent, in order.
    sent: Vec<Vec<u8>>,
    /// Every timeout str0m asked for, with its reason, in order (repeats left out).
    timeouts: Vec<(Instant, Reason)>,
}

impl Side {
    fn new(rtc: Rtc, addr: &str, now: Instant) -> Side {
        let addr = addr.parse().expect("socket address");
        let mut rtc = rtc;
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("host candidate"));
        Side {
            rtc,
            addr,
            timeout: now,
            connected: false,
            keys_at_ice_connected: Vec::new(),
            rtp: Vec::new(),
            sent: Vec::new(),
            timeouts: Vec::new(),
        }
    }

    /// Poll until str0m asks for a timeout; returns the datagrams it transmitted.
    fn drain(&mut self) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            match self.rtc.poll_output().expect("poll_output") {
                Output::Timeout(t) => {
                    self.timeout = t;
                    let entry = (t, self.rtc.last_timeout_reason());
                    if self.timeouts.last() != Some(&entry) {
                        self.timeouts.push(entry);
                    }
                    self.sent.extend(out.iter().cloned());
                    return out;
                }
                Output::Transmit(t) => out.push(t.contents.to_vec()),
                // With one candidate pair ICE goes from checking straight to completed.
                Output::Event(Event::IceConnectionStateChange(s)) if s.is_connected() => {
                    let keys = self.rtc.srtp_master_keys().is_some();
                    self.keys_at_ice_connected.push(keys);
                }
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::RtpPacket(p)) => self.rtp.push(p),
                Output::Event(_) => {}
            }
        }
    }

    /// One datagram from `from`; returns what this side transmitted in reply.
    fn receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) -> Vec<Vec<u8>> {
        let contents = DatagramRecv::try_from(data).expect("a datagram str0m can parse");
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.addr,
                contents,
            },
        );
        assert!(self.rtc.accepts(&input), "the datagram is for this Rtc");
        self.rtc.handle_input(input).expect("handle_input");
        self.drain()
    }

    fn tick(&mut self, now: Instant) -> Vec<Vec<u8>> {
        if self.timeout <= now {
            self.rtc.handle_input(Input::Timeout(now)).expect("timeout");
        }
        self.drain()
    }

    fn keys(&self) -> &SrtpMasterKeys {
        self.rtc.srtp_master_keys().expect("SRTP keys exported")
    }

    fn pt(&self, codec: Codec) -> Pt {
        self.rtc
            .codec_config()
            .find(|p| p.spec().codec == codec)
            .map(|p| p.pt())
            .expect("negotiated payload type")
    }

    fn tx_ssrc(&mut self, mid: Mid) -> Ssrc {
        self.rtc
            .direct_api()
            .stream_tx_by_mid(mid, None)
            .expect("a send stream")
            .ssrc()
    }
}

/// The client and the SFU side over an in-memory wire, on a virtual clock.
struct Pair {
    client: Side,
    sfu: Side,
    now: Instant,
    audio: Mid,
    video: Mid,
}

impl Pair {
    /// Offer (client) and answer (SFU): audio and video, both ways. Nothing sent yet.
    fn negotiate() -> Pair {
        Pair::negotiate_with(confer_rtc_config())
    }

    /// As [`Pair::negotiate`], the SFU's leg configured with `sfu_config`.
    fn negotiate_with(sfu_config: RtcConfig) -> Pair {
        let now = Instant::now();
        let bwe = sfu_config.bwe_initial_bitrate().is_some();
        let mut client = Side::new(client_rtc_config().build(now), CLIENT, now);
        let mut sfu = Side::new(sfu_config.build(now), SFU, now);
        let mut api = client.rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        // Through SDP text, as the signalling channel carries it.
        let offer = SdpOffer::from_sdp_string(&offer.to_sdp_string()).expect("offer SDP");
        let answer = sfu.rtc.sdp_api().accept_offer(offer).expect("answer");
        // As confer does after accepting an offer (src/media/peer.rs).
        if bwe {
            sfu.rtc
                .bwe()
                .set_bitrate(Bitrate::ZERO, Bitrate::kbps(2_500));
        }
        let answer = SdpAnswer::from_sdp_string(&answer.to_sdp_string()).expect("answer SDP");
        client
            .rtc
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        Pair {
            client,
            sfu,
            now,
            audio,
            video,
        }
    }

    /// Carry datagrams both ways until none is in flight.
    fn deliver(&mut self, mut to_sfu: Vec<Vec<u8>>, mut to_client: Vec<Vec<u8>>) {
        while !to_sfu.is_empty() || !to_client.is_empty() {
            for d in std::mem::take(&mut to_sfu) {
                to_client.extend(self.sfu.receive(self.now, self.client.addr, &d));
            }
            for d in std::mem::take(&mut to_client) {
                to_sfu.extend(self.client.receive(self.now, self.sfu.addr, &d));
            }
        }
    }

    /// Both sides' due timeouts, and whatever they send, delivered.
    fn step(&mut self) {
        let to_sfu = self.client.tick(self.now);
        let to_client = self.sfu.tick(self.now);
        self.deliver(to_sfu, to_client);
    }

    /// Run the clock in 5 ms steps until `done`; panics after 10 s of virtual time.
    fn run_until(&mut self, what: &str, done: impl Fn(&Pair) -> bool) {
        let end = self.now + Duration::from_secs(10);
        while !done(self) {
            assert!(self.now < end, "{what}: not within 10 s");
            self.step();
            self.now += Duration::from_millis(5);
        }
    }

    fn connect(&mut self) {
        self.run_until("ICE and DTLS", |p| p.client.connected && p.sfu.connected);
    }
}

fn confer_profile(profile: SrtpProfile) -> Profile {
    match profile {
        SrtpProfile::AEAD_AES_256_GCM => Profile::AeadAes256Gcm,
        SrtpProfile::AEAD_AES_128_GCM => Profile::AeadAes128Gcm,
        other => panic!("a profile confer-srtp does not implement: {other:?}"),
    }
}

/// An `Srtp` session (either direction's use) of one exported direction.
fn session(keys: &SrtpMasterKeys, tx: bool) -> Srtp {
    let k = if tx { keys.tx() } else { keys.rx() };
    let master = MasterKey::new(confer_profile(keys.profile()), k.key(), k.salt())
        .expect("exported key and salt fit the profile");
    Srtp::new(&master).expect("an SRTP session")
}

/// SRTP, not SRTCP, STUN or DTLS: RTP version 2, and not an RTCP packet type (RFC 5761 4).
fn is_srtp(d: &[u8]) -> bool {
    d.len() >= 12 && (128..=191).contains(&d[0]) && !(192..=223).contains(&d[1])
}

#[test]
fn exported_keys_are_the_keys_on_the_wire() {
    let mut p = Pair::negotiate();

    // Negotiated, nothing exchanged yet: no DTLS, no keys.
    assert!(p.client.rtc.srtp_master_keys().is_none());
    assert!(p.sfu.rtc.srtp_master_keys().is_none());

    p.connect();

    // ICE connected first, DTLS after: no keys when ICE came up, on either side.
    assert_eq!(p.client.keys_at_ice_connected, [false]);
    assert_eq!(p.sfu.keys_at_ice_connected, [false]);

    // Owned copies, as the fast path would keep them.
    let (ck, sk) = (p.client.keys().clone(), p.sfu.keys().clone());
    // str0m's DTLS server (the SFU: an answerer to `a=setup:actpass` is passive) picks its
    // first preference both sides offer.
    assert_eq!(ck.profile(), SrtpProfile::AEAD_AES_256_GCM);
    assert_eq!(sk.profile(), ck.profile());
    for k in [ck.tx(), ck.rx(), sk.tx(), sk.rx()] {
        assert_eq!(k.key().len(), 32);
        assert_eq!(k.salt().len(), 12);
    }
    // One side's send keys are the other's receive keys.
    assert_eq!(ck.tx().key(), sk.rx().key());
    assert_eq!(ck.tx().salt(), sk.rx().salt());
    assert_eq!(ck.rx().key(), sk.tx().key());
    assert_eq!(ck.rx().salt(), sk.tx().salt());
    // And the two directions differ.
    assert_ne!(ck.tx().key(), ck.rx().key());
    assert_ne!(ck.tx().salt(), ck.rx().salt());

    // The client writes 20 RTP packets (10 audio, 10 video) with known payloads.
    let audio_pt = p.client.pt(Codec::Opus);
    let video_pt = p.client.pt(Codec::Vp8);
    let audio_ssrc = p.client.tx_ssrc(p.audio);
    let video_ssrc = p.client.tx_ssrc(p.video);
    let payload = |ssrc: Ssrc, seq: u16| -> Vec<u8> {
        let mut v = format!("ssrc {ssrc} seq {seq} ").into_bytes();
        v.extend((0..200u16).map(|i| (i as u8).wrapping_mul(31) ^ seq as u8));
        v
    };
    let first_sent = p.client.sent.len();
    for seq in 1..=10u16 {
        for (mid, pt, ssrc, clock) in [
            (p.audio, audio_pt, audio_ssrc, 960),
            (p.video, video_pt, video_ssrc, 3_000),
        ] {
            let write = RtpWrite::new(
                pt,
                u64::from(seq).into(),
                u32::from(seq) * clock,
                p.now,
                payload(ssrc, seq),
            );
            p.client
                .rtc
                .direct_api()
                .stream_tx_by_mid(mid, None)
                .expect("a send stream")
                .write_rtp(write);
        }
        p.step();
        p.now += Duration::from_millis(20);
    }
    p.step();

    // Every SRTP datagram the client sent decrypts with the SFU's exported rx keys (ROC 0),
    // to exactly what was written.
    let rx = session(&sk, false);
    let mut decrypted = Vec::new();
    for d in p.client.sent[first_sent..].iter().filter(|d| is_srtp(d)) {
        let mut packet = d.clone();
        let f = rx
            .unprotect(&mut packet, 0)
            .expect("the client's SRTP opens with the SFU's exported rx keys");
        assert_eq!(packet[0] & 0x20, 0, "no RTP padding");
        let ssrc = Ssrc::from(f.ssrc);
        assert_eq!(&packet[f.header_len..], payload(ssrc, f.seq), "payload");
        decrypted.push((ssrc, f.seq));
    }
    decrypted.sort_unstable_by_key(|&(ssrc, seq)| (*ssrc, seq));
    let mut written: Vec<(Ssrc, u16)> = (1..=10u16)
        .flat_map(|seq| [(audio_ssrc, seq), (video_ssrc, seq)])
        .collect();
    written.sort_unstable_by_key(|&(ssrc, seq)| (*ssrc, seq));
    assert_eq!(decrypted, written, "each written packet on the wire once");
    // str0m's own receive path got them too.
    assert_eq!(p.sfu.rtp.len(), 20);

    // A packet protected outside str0m with the client's exported tx keys: the video stream's
    // next one. The SFU's str0m decrypts it and hands it up like the others.
    let seq = 11u16;
    let own = b"protected by confer-srtp with the exported keys".to_vec();
    let mut packet = vec![0x80, *video_pt, 0, 0];
    packet[2..4].copy_from_slice(&seq.to_be_bytes());
    packet.extend_from_slice(&(u32::from(seq) * 3_000).to_be_bytes());
    packet.extend_from_slice(&(*video_ssrc).to_be_bytes());
    packet.extend_from_slice(&own);
    session(&ck, true)
        .protect(&mut packet, 0)
        .expect("protect with the exported tx keys");
    let before = p.sfu.rtp.len();
    let (now, from) = (p.now, p.client.addr);
    let replies = p.sfu.receive(now, from, &packet);
    p.deliver(Vec::new(), replies);
    p.step();
    let got: Vec<&RtpPacket> = p.sfu.rtp[before..].iter().collect();
    assert_eq!(got.len(), 1, "the SFU's str0m hands the packet up");
    assert_eq!(got[0].header.ssrc, video_ssrc);
    assert_eq!(got[0].header.sequence_number, seq);
    assert_eq!(&got[0].payload[..], &own[..]);
}

#[test]
fn exported_keys_survive_an_ice_restart() {
    let mut p = Pair::negotiate();
    p.connect();
    let (client_before, sfu_before) = (p.client.keys().clone(), p.sfu.keys().clone());

    // The client restarts ICE (a new offer with new credentials), as a browser does when the
    // network changes; the SFU answers it.
    let mut api = p.client.rtc.sdp_api();
    api.ice_restart(true);
    let (offer, pending) = api.apply().expect("an ICE restart offer");
    let answer = p.sfu.rtc.sdp_api().accept_offer(offer).expect("answer");
    p.client
        .rtc
        .sdp_api()
        .accept_answer(pending, answer)
        .expect("answer accepted");
    p.run_until("ICE reconnects", |p| {
        p.client.keys_at_ice_connected.len() == 2 && p.sfu.keys_at_ice_connected.len() == 2
    });

    // ICE came up again with keys in place: the DTLS session, and its keys, are the same.
    assert_eq!(p.client.keys_at_ice_connected, [false, true]);
    assert_eq!(p.sfu.keys_at_ice_connected, [false, true]);
    for (before, after) in [
        (&client_before, p.client.keys()),
        (&sfu_before, p.sfu.keys()),
    ] {
        assert_eq!(before.profile(), after.profile());
        assert_eq!(before.tx().key(), after.tx().key());
        assert_eq!(before.tx().salt(), after.tx().salt());
        assert_eq!(before.rx().key(), after.rx().key());
        assert_eq!(before.rx().salt(), after.rx().salt());
    }
}

/// Timer slack (vendored str0m, "Timer slack" in vendor/str0m/CONFER-PATCH.md): on a leg in
/// confer's configuration carrying media, the periodic timers (NACK scans every 33 ms,
/// transport-wide feedback every 50, receiver and sender reports) fall due only on the leg's
/// 20 ms grid, so that they coincide: the leg wakes for them at most once per 20 ms step.
/// Without slack a NACK scan and a feedback fall due 1 ms apart (at 99 and 100 ms) and the
/// leg wakes for each. (The clock here steps by 5 ms, so every grid point is a step.) The
/// leg's bandwidth estimation is off here: its padding and probes (never held by the slack)
/// would fall due at every step and hide the periodic timers behind them.
#[test]
fn the_sfu_legs_periodic_timers_wait_for_its_slack_grid() {
    let mut p = Pair::negotiate_with(confer_rtc_config().enable_bwe(None));
    p.connect();
    let video_pt = p.client.pt(Codec::Vp8);
    let video = p.video;
    let started = p.now;
    let from = p.sfu.timeouts.len();
    for seq in 0..100u16 {
        let write = RtpWrite::new(
            video_pt,
            u64::from(seq).into(),
            u32::from(seq) * 1800,
            p.now,
            vec![seq as u8; 80],
        );
        p.client
            .rtc
            .direct_api()
            .stream_tx_by_mid(video, None)
            .expect("a send stream")
            .write_rtp(write);
        for _ in 0..4 {
            p.step();
            p.now += Duration::from_millis(5);
        }
    }
    assert_eq!(p.sfu.rtp.len(), 100, "the SFU received the video");

    let periodic: Vec<(Instant, Reason)> = p.sfu.timeouts[from..]
        .iter()
        .copied()
        .filter(|(t, r)| {
            *t > started && matches!(r, Reason::Nack | Reason::Twcc | Reason::Feedback)
        })
        .collect();
    // Two seconds of video: a NACK scan and transport-wide feedback fall due about every
    // 40 and 60 ms.
    let count = |reason: Reason| periodic.iter().filter(|(_, r)| *r == reason).count();
    assert!(count(Reason::Nack) >= 20, "NACK scans: {periodic:?}");
    assert!(
        count(Reason::Twcc) >= 20,
        "transport-wide feedback: {periodic:?}"
    );
    let grid = Duration::from_millis(20);
    let first = periodic[0].0;
    for (t, reason) in &periodic {
        let off = t.saturating_duration_since(first).as_nanos();
        assert_eq!(
            off % grid.as_nanos(),
            0,
            "{reason:?} at {off} ns is off the 20 ms grid"
        );
    }
    // Polled again at one instant, a leg may name another timer due then; one timeout
    // handles them all.
    let mut wakes: Vec<Instant> = periodic.iter().map(|(t, _)| *t).collect();
    wakes.dedup();
    for w in wakes.windows(2) {
        let gap = w[1].saturating_duration_since(w[0]);
        assert!(
            gap >= grid,
            "periodic wakes {gap:?} apart: one per grid step at most"
        );
    }
}
