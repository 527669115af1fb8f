//! The forwarding hot path in-process (media performance): ns per forwarded packet, SRTP included.
//!
//! The real media driver (`confer::media::bench_support::Sfu`: peers, forward table, str0m
//! in RTP mode with DTLS-SRTP) without a socket or a task. Two str0m clients, a lawyer and a
//! booth of one visit, connect to it through ICE and DTLS over an in-memory "wire". Then the
//! lawyer's client produces SRTP packets (untimed, in chunks) and the timed loop hands each
//! one to the driver exactly as its receive loop does: SRTP decrypt, route, rebase, rewrite,
//! SRTP encrypt for the booth's leg, "send" (captured, counted). Timeouts are handled when the
//! driver asks for them, as in its loop. Not a test: it prints a table.
//!
//! `cargo bench --bench forward` (`CONFER_BENCH_PACKETS=N` packets per row, default 200 000).

use chrono::Utc;
use confer::ids::{BoothId, LawyerId, VisitId};
use confer::licence::verify::{Reason, Verdict};
use confer::media::bench_support::{Sent, Sfu};
use confer::policy::{
    admit, Admitted, Applicant, Documents, EngagementEvidence, LawyerEvidence, Permission,
    VisitTerms,
};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{DatagramRecv, Protocol, Receive};
use str0m::rtp::RtpWrite;
use str0m::{Candidate, Event, Input, Output, Rtc};

const SFU: &str = "127.0.0.1:3478";
const CHUNK: usize = 2_000;

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn terms() -> VisitTerms {
    let now = Utc::now();
    VisitTerms {
        id: VisitId(1),
        lawyer: LawyerId(10),
        booth: BoothId("booth-1".into()),
        case: Some(confer::ids::CaseId(1)),
        companions: Vec::new(),
        starts_at: now - chrono::Duration::hours(1),
        ends_at: now + chrono::Duration::hours(1),
        ended: false,
        room: confer::policy::Room::Ordinary,
        lawyer_booth: None,
    }
}

fn lawyer() -> Admitted {
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
    admit(
        &terms(),
        &Applicant::Lawyer(LawyerId(10), evidence),
        Utc::now(),
    )
    .expect("bench lawyer is admitted")
}

fn booth() -> Admitted {
    admit(
        &terms(),
        &Applicant::Booth(BoothId("booth-1".into())),
        Utc::now(),
    )
    .expect("bench booth is admitted")
}

/// A browser-like client in RTP mode: audio + video sendrecv, Opus + VP8.
struct Client {
    rtc: Rtc,
    addr: SocketAddr,
    audio: Mid,
    video: Mid,
    audio_pt: Option<Pt>,
    video_pt: Option<Pt>,
    connected: bool,
    timeout: Instant,
    out: Vec<Vec<u8>>,
}

impl Client {
    fn join(sfu: &mut Sfu, addr: SocketAddr, admitted: &Admitted, now: Instant) -> Client {
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
            .add_peer(admitted, &offer.to_sdp_string())
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
        };
        c.drain();
        c
    }

    fn drain(&mut self) {
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
                Output::Event(_) => {}
            }
        }
    }

    fn receive(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
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

    fn tick(&mut self, now: Instant) {
        if self.timeout <= now {
            self.rtc.handle_input(Input::Timeout(now)).expect("timeout");
            self.drain();
        }
    }

    /// One RTP packet on `mid`, SRTP-protected by str0m; the datagram ends up in `out`.
    fn write(&mut self, video: bool, seq: u64, ts: u32, now: Instant, payload: Vec<u8>) {
        let (mid, pt) = if video {
            (self.video, self.video_pt)
        } else {
            (self.audio, self.audio_pt)
        };
        let pt = pt.expect("negotiated payload type");
        let mut api = self.rtc.direct_api();
        let tx = api.stream_tx_by_mid(mid, None).expect("a send stream");
        tx.write_rtp(RtpWrite::new(pt, seq.into(), ts, now, payload).nackable(video));
        // str0m queues the packet in its pacer: a timeout at `now` releases it.
        self.rtc.handle_input(Input::Timeout(now)).expect("timeout");
        self.drain();
    }
}

/// Move datagrams both ways until nothing is in flight.
fn exchange(sfu: &mut Sfu, clients: &mut [&mut Client], now: Instant) {
    let sfu_addr: SocketAddr = SFU.parse().expect("addr");
    for _ in 0..50 {
        let mut moved = false;
        for c in clients.iter_mut() {
            for d in std::mem::take(&mut c.out) {
                sfu.receive(now, c.addr, sfu_addr, &d);
                moved = true;
            }
        }
        let sent: Vec<Sent> = sfu.take_sent();
        for (_, to, d) in sent {
            moved = true;
            if let Some(c) = clients.iter_mut().find(|c| c.addr == to) {
                c.receive(now, sfu_addr, &d);
            }
        }
        if !moved {
            break;
        }
    }
}

/// Housekeeping outside the timed loop: timers of everyone, datagrams delivered.
fn settle(sfu: &mut Sfu, clients: &mut [&mut Client], now: Instant) {
    sfu.keep_sent(true);
    for c in clients.iter_mut() {
        c.tick(now);
    }
    if sfu.next_timeout() <= now {
        sfu.tick(now);
    }
    exchange(sfu, clients, now);
}

struct Row {
    name: &'static str,
    packets: u64,
    ns_per_packet: f64,
    out_per_in: f64,
    bytes_out: u64,
}

/// Feed `total` packets (video: 1100 B payload; audio: 80 B) from the lawyer; time only the
/// driver's work.
#[allow(clippy::too_many_arguments)] // one row of the table: its name, the parts and its knobs
fn run(
    name: &'static str,
    sfu: &mut Sfu,
    lawyer: &mut Client,
    booth: &mut Client,
    now: &mut Instant,
    seq: &mut [u64; 2],
    total: u64,
    video: bool,
) -> Row {
    let sfu_addr: SocketAddr = SFU.parse().expect("addr");
    let size = if video { 1100 } else { 80 };
    let template: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    // ~470 packets/s of wire time per visit direction; the clock is virtual.
    let step = Duration::from_micros(2_100);
    let mut timed = Duration::ZERO;
    let mut fed = 0u64;
    let (out0, bytes0) = sfu.sent_totals();
    while fed < total {
        let n = CHUNK.min((total - fed) as usize);
        // Untimed: the client makes SRTP datagrams with their own clock stamps.
        let mut batch = Vec::with_capacity(n);
        let mut at = Vec::with_capacity(n);
        for _ in 0..n {
            *now += step;
            let k = usize::from(video);
            seq[k] += 1;
            let clock = if video { 90 } else { 48 };
            let ts = (seq[k] as u32).wrapping_mul(clock * 2);
            lawyer.write(video, seq[k], ts, *now, template.clone());
            for d in std::mem::take(&mut lawyer.out) {
                batch.push(d);
                at.push(*now);
            }
        }
        assert!(
            !batch.is_empty(),
            "{name}: the lawyer's client produced no datagrams"
        );
        // Timed: the driver's receive path for every datagram, and its timeouts when due.
        // The SFU's datagrams are kept (one copy each, inside the timed loop) and delivered
        // to the booth's client afterwards: without the receiver's feedback (TWCC, receiver
        // reports) str0m's pacer throttles the leg and the bench stops forwarding.
        sfu.keep_sent(true);
        let t0 = Instant::now();
        for (d, when) in batch.iter().zip(&at) {
            sfu.receive(*when, lawyer.addr, sfu_addr, d);
            if sfu.next_timeout() <= *when {
                sfu.tick(*when);
            }
        }
        timed += t0.elapsed();
        fed += batch.len() as u64;
        settle(sfu, &mut [lawyer, booth], *now);
    }
    let (out1, bytes1) = sfu.sent_totals();
    Row {
        name,
        packets: fed,
        ns_per_packet: timed.as_nanos() as f64 / fed as f64,
        out_per_in: (out1 - out0) as f64 / fed as f64,
        bytes_out: bytes1 - bytes0,
    }
}

fn main() {
    let total = env_u64("CONFER_BENCH_PACKETS", 200_000);
    let mut now = Instant::now();
    let mut sfu = Sfu::new(SFU.parse().expect("addr"));
    sfu.keep_sent(true);
    let mut booth = Client::join(
        &mut sfu,
        "127.0.0.1:40001".parse().expect("addr"),
        &booth(),
        now,
    );
    let mut lawyer = Client::join(
        &mut sfu,
        "127.0.0.1:40002".parse().expect("addr"),
        &lawyer(),
        now,
    );
    // ICE + DTLS over the in-memory wire.
    for _ in 0..2_000 {
        settle(&mut sfu, &mut [&mut lawyer, &mut booth], now);
        if lawyer.connected
            && booth.connected
            && sfu.connected_peers() == 2
            && lawyer.video_pt.is_some()
            && lawyer.audio_pt.is_some()
        {
            break;
        }
        now += Duration::from_millis(5);
    }
    assert!(
        lawyer.connected && booth.connected && sfu.connected_peers() == 2,
        "the bench peers did not connect"
    );
    // A short warm-up (str0m's stream state, first keyframe requests) before measuring.
    let mut seq = [0u64; 2];
    let _ = run(
        "warm-up",
        &mut sfu,
        &mut lawyer,
        &mut booth,
        &mut now,
        &mut seq,
        4_000,
        true,
    );
    let rows = [
        run(
            "video 1100 B",
            &mut sfu,
            &mut lawyer,
            &mut booth,
            &mut now,
            &mut seq,
            total,
            true,
        ),
        run(
            "audio 80 B",
            &mut sfu,
            &mut lawyer,
            &mut booth,
            &mut now,
            &mut seq,
            total / 4,
            false,
        ),
    ];
    println!("forwarding hot path, in-process (SRTP decrypt + route + SRTP encrypt + send):");
    println!(
        "{:<14} {:>10} {:>14} {:>12} {:>14}",
        "packets", "count", "ns/packet", "out/in", "bytes out"
    );
    for r in &rows {
        println!(
            "{:<14} {:>10} {:>14.0} {:>12.3} {:>14}",
            r.name, r.packets, r.ns_per_packet, r.out_per_in, r.bytes_out
        );
    }
    for r in &rows {
        assert!(
            r.out_per_in >= 0.99,
            "{}: only {:.3} datagrams out per packet in: the bench is not forwarding",
            r.name,
            r.out_per_in
        );
    }
}
