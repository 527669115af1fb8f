//! confer's media driver in process, with str0m clients on an in-memory "wire": the real
//! driver (`confer::media::bench_support::Sfu`: peers, forwarding table, str0m legs in RTP
//! mode with DTLS-SRTP, the media fast path) without a socket or a task, on a virtual clock.
//! Shared by `benches/forward.rs` and `tests/fast_path.rs` (`#[path]`).

#![allow(dead_code)] // each user takes the parts it needs

use chrono::Utc;
use confer::ids::{BoothId, LawyerId, VisitId};
use confer::licence::verify::{Reason, Verdict};
use confer::media::bench_support::{Sent, Sfu};
use confer::policy::{
    admit, Admitted, Applicant, Documents, EngagementEvidence, LawyerEvidence, Permission,
    VisitTerms,
};
use std::net::SocketAddr;
use std::time::Instant;
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The SFU's one host candidate.
pub const SFU: &str = "127.0.0.1:3478";

pub fn sfu_addr() -> SocketAddr {
    SFU.parse().expect("addr")
}

/// Visit `visit`'s terms: its lawyer is `LawyerId(9 + visit)`, its booth `booth-<visit>`.
fn terms(visit: u64) -> VisitTerms {
    let now = Utc::now();
    VisitTerms {
        id: VisitId(visit as i64),
        lawyer: LawyerId(9 + visit as i64),
        booth: BoothId(format!("booth-{visit}")),
        case: Some(confer::ids::CaseId(1)),
        companions: Vec::new(),
        starts_at: now - chrono::Duration::hours(1),
        ends_at: now + chrono::Duration::hours(1),
        ended: false,
        room: confer::policy::Room::Ordinary,
        lawyer_booth: None,
    }
}

/// The visit's lawyer, admitted.
pub fn lawyer() -> Admitted {
    lawyer_of(1)
}

/// The lawyer of visit `visit`, admitted.
pub fn lawyer_of(visit: u64) -> Admitted {
    let evidence = LawyerEvidence {
        account_locked: false,
        engagement: Some(EngagementEvidence {
            documents: Documents::ACCEPTED,
            permission: Permission::NotNeeded,
        }),
        licence: Verdict::Refused(Reason::RegistryUnavailable),
        manually_verified: true,
        terminal: None,
    };
    let terms = terms(visit);
    let id = terms.lawyer;
    admit(&terms, &Applicant::Lawyer(id, evidence), Utc::now()).expect("the lawyer is admitted")
}

/// The visit's booth, admitted.
pub fn booth() -> Admitted {
    booth_of(1)
}

/// The booth of visit `visit`, admitted.
pub fn booth_of(visit: u64) -> Admitted {
    let terms = terms(visit);
    let id = terms.booth.clone();
    admit(&terms, &Applicant::Booth(id), Utc::now()).expect("the booth is admitted")
}

/// One RTP packet a client received, as its str0m delivered it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub video: bool,
    pub seq: u64,
    pub timestamp: u32,
    pub marker: bool,
    pub pt: Pt,
    pub payload: Vec<u8>,
}

/// A browser-like client in RTP mode: audio + video sendrecv, Opus + VP8.
pub struct Client {
    pub rtc: Rtc,
    pub addr: SocketAddr,
    pub audio: Mid,
    pub video: Mid,
    pub audio_pt: Option<Pt>,
    pub video_pt: Option<Pt>,
    pub connected: bool,
    pub timeout: Instant,
    /// Datagrams this client sent and nobody has carried yet.
    pub out: Vec<Vec<u8>>,
    /// Keep the RTP packets received (in `got`)?
    pub record: bool,
    pub got: Vec<Got>,
    /// Keyframe requests the SFU sent this client (PLI/FIR on its outgoing video).
    pub keyframe_requests: u32,
}

impl Client {
    pub fn join(sfu: &mut Sfu, addr: SocketAddr, admitted: &Admitted, now: Instant) -> Client {
        let mut rtc = Rtc::builder()
            .set_rtp_mode(true)
            .clear_codecs()
            .enable_opus(true, false)
            .enable_vp8(true)
            .build(now);
        rtc.add_local_candidate(Candidate::host(addr, "udp").expect("candidate"));
        let mut api = rtc.sdp_api();
        let audio = api.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let video = api.add_media(MediaKind::Video, Direction::SendRecv, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let (_, answer) = sfu
            .add_peer(admitted, &offer.to_sdp_string(), now)
            .expect("the SFU accepts the offer");
        let answer = SdpAnswer::from_sdp_string(&answer).expect("answer SDP");
        rtc.sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        let mut c = Client {
            rtc,
            addr,
            audio,
            video,
            audio_pt: None,
            video_pt: None,
            connected: false,
            timeout: now,
            out: Vec::new(),
            record: false,
            got: Vec::new(),
            keyframe_requests: 0,
        };
        c.drain();
        c
    }

    pub fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("client output") {
                Output::Timeout(t) => {
                    self.timeout = t;
                    return;
                }
                Output::Transmit(t) => self.out.push(t.contents.to_vec()),
                Output::Event(Event::Connected) => {
                    self.connected = true;
                    // As the load tool's peers do: the negotiated payload type per codec.
                    let pt_of = |rtc: &Rtc, codec: Codec| {
                        rtc.codec_config()
                            .iter()
                            .find(|p| p.spec().codec == codec)
                            .map(|p| p.pt())
                    };
                    self.audio_pt = pt_of(&self.rtc, Codec::Opus);
                    self.video_pt = pt_of(&self.rtc, Codec::Vp8);
                }
                Output::Event(Event::RtpPacket(p)) if self.record => {
                    let video = self
                        .rtc
                        .direct_api()
                        .stream_rx(&p.header.ssrc)
                        .is_some_and(|rx| rx.mid() == self.video);
                    self.got.push(Got {
                        video,
                        seq: *p.seq_no,
                        timestamp: p.header.timestamp,
                        marker: p.header.marker,
                        pt: p.header.payload_type,
                        payload: p.payload.to_vec(),
                    });
                }
                Output::Event(Event::KeyframeRequest(_)) => self.keyframe_requests += 1,
                Output::Event(_) => {}
            }
        }
    }

    pub fn receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let Ok(contents) = DatagramRecv::try_from(data) else {
            return;
        };
        let input = Input::Receive(
            now,
            Receive {
                proto: Protocol::Udp,
                source: from,
                destination: self.addr,
                contents,
            },
        );
        if self.rtc.accepts(&input) {
            self.rtc.handle_input(input).expect("client input");
            self.drain();
        }
    }

    pub fn tick(&mut self, now: Instant) {
        if self.timeout <= now {
            self.rtc.handle_input(Input::Timeout(now)).expect("timeout");
            self.drain();
        }
    }

    /// One RTP packet on `mid`, SRTP-protected by str0m; the datagram ends up in `out`.
    pub fn write(&mut self, video: bool, seq: u64, ts: u32, now: Instant, payload: Vec<u8>) {
        self.write_marked(video, seq, ts, false, now, payload);
    }

    /// [`Self::write`] with the marker bit.
    pub fn write_marked(
        &mut self,
        video: bool,
        seq: u64,
        ts: u32,
        marker: bool,
        now: Instant,
        payload: Vec<u8>,
    ) {
        let (mid, pt) = if video {
            (self.video, self.video_pt)
        } else {
            (self.audio, self.audio_pt)
        };
        let pt = pt.expect("negotiated payload type");
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("a send stream");
        tx.write_rtp(
            RtpWrite::new(pt, seq.into(), ts, now, payload)
                .marker(marker)
                .nackable(video),
        );
        // str0m queues the packet in its pacer: a timeout at `now` releases it.
        self.rtc.handle_input(Input::Timeout(now)).expect("timeout");
        self.drain();
    }
}

/// Move datagrams both ways until nothing is in flight.
pub fn exchange(sfu: &mut Sfu, clients: &mut [&mut Client], now: Instant) {
    exchange_with(sfu, clients, now, |_, _| true);
}

/// [`exchange`] with a wire that delivers a datagram from the SFU to client address `to`
/// only if `deliver(to, datagram)`.
pub fn exchange_with(
    sfu: &mut Sfu,
    clients: &mut [&mut Client],
    now: Instant,
    mut deliver: impl FnMut(SocketAddr, &[u8]) -> bool,
) {
    let sfu_addr = sfu_addr();
    for _ in 0..50 {
        let mut moved = false;
        for c in clients.iter_mut() {
            for mut d in std::mem::take(&mut c.out) {
                sfu.receive(now, c.addr, sfu_addr, &mut d);
                moved = true;
            }
        }
        let sent: Vec<Sent> = sfu.take_sent();
        for (_, to, d) in sent {
            moved = true;
            if !deliver(to, &d) {
                continue;
            }
            if let Some(c) = clients.iter_mut().find(|c| c.addr == to) {
                c.receive(now, sfu_addr, &d);
            }
        }
        if !moved {
            break;
        }
    }
}

/// Timers of everyone, then datagrams delivered.
pub fn settle(sfu: &mut Sfu, clients: &mut [&mut Client], now: Instant) {
    sfu.keep_sent(true);
    for c in clients.iter_mut() {
        c.tick(now);
    }
    if sfu.next_timeout() <= now {
        sfu.tick(now);
    }
    exchange(sfu, clients, now);
}

/// A booth and a lawyer joined to `sfu` and connected (ICE, DTLS, payload types), the
/// virtual clock moved on as far as that took. Returns (booth, lawyer).
pub fn join_pair(sfu: &mut Sfu, now: &mut Instant) -> (Client, Client) {
    join_pair_of(sfu, now, 1)
}

/// The address of visit `visit`'s booth (`lawyer == false`) or lawyer: 127.0.0.1, port
/// `40000 + 2 * visit - 1` for the booth and the next one for the lawyer.
pub fn client_addr(visit: u64, lawyer: bool) -> SocketAddr {
    let port = u16::try_from(40_000 + 2 * visit - 1 + u64::from(lawyer)).expect("a port");
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Whose address `addr` is, as [`client_addr`] gives them: (visit, lawyer).
pub fn client_of(addr: SocketAddr) -> Option<(u64, bool)> {
    let at = u64::from(addr.port()).checked_sub(40_001)?;
    let (visit, lawyer) = (at / 2 + 1, at % 2 == 1);
    (client_addr(visit, lawyer) == addr).then_some((visit, lawyer))
}

/// [`join_pair`] for visit `visit` (1, 2, ...) on an SFU where visits 1 to `visit - 1` are
/// already connected, its clients at [`client_addr`].
pub fn join_pair_of(sfu: &mut Sfu, now: &mut Instant, visit: u64) -> (Client, Client) {
    let mut booth = Client::join(sfu, client_addr(visit, false), &booth_of(visit), *now);
    let mut lawyer = Client::join(sfu, client_addr(visit, true), &lawyer_of(visit), *now);
    let peers = 2 * usize::try_from(visit).expect("a count");
    for _ in 0..2_000 {
        settle(sfu, &mut [&mut lawyer, &mut booth], *now);
        if lawyer.connected
            && booth.connected
            && sfu.connected_peers() == peers
            && lawyer.video_pt.is_some()
            && lawyer.audio_pt.is_some()
        {
            break;
        }
        *now += std::time::Duration::from_millis(5);
    }
    assert!(
        lawyer.connected && booth.connected && sfu.connected_peers() == peers,
        "the peers did not connect"
    );
    (booth, lawyer)
}
