//! A leg's timers as the media driver runs them:
//! - a client's RTCP report is read without the timeout sweep str0m runs after every receive
//!   (vendored str0m, "RTCP without the timeout sweep" in `vendor/str0m/CONFER-PATCH.md`), and
//!   nothing a leg had due is lost by it: the leg still reports the timeout, and the driver's
//!   timer turn runs it;
//! - a leg's own deadline (a keyframe request held for the rest of its interval) wakes the
//!   driver when it falls due, though the leg keeps it outside str0m (`Peer`'s hot line).
//!
//! The real media driver runs in process (`tests/support/inproc.rs`): a lawyer's and a
//! booth's str0m client join one visit over an in-memory wire on a virtual clock and send
//! media (R-REMOTE-2: the receivers' reports and transport-wide feedback drive
//! retransmission and congestion control).

#[path = "support/inproc.rs"]
mod inproc;

use confer::media::bench_support::Sfu;
use inproc::{exchange, join_pair, sfu_addr, Client};
use std::time::{Duration, Instant};

/// RFC 5761 4: an RTCP packet type (SR 200 ... XR 207, and the feedback types) in the
/// second byte, where RTP has the marker bit and a payload type below 64 or above 95.
fn is_rtcp(d: &[u8]) -> bool {
    matches!(d, [first, second, ..] if (128..=191).contains(first) && (192..=223).contains(second))
}

/// Both clients send a few packets of audio and video each step, and everything is carried
/// both ways, the SFU's timers run at every step.
fn media_for(
    sfu: &mut Sfu,
    lawyer: &mut Client,
    booth: &mut Client,
    now: &mut Instant,
    steps: u32,
    seq: &mut u64,
) {
    for _ in 0..steps {
        *now += Duration::from_millis(10);
        *seq += 1;
        let ts = u32::try_from(*seq * 900).expect("a timestamp");
        for c in [&mut *lawyer, &mut *booth] {
            c.tick(*now);
            c.write(false, *seq, ts, *now, vec![0x11; 80]);
            c.write(true, *seq, ts, *now, vec![0x10; 1000]);
        }
        sfu.tick(*now);
        exchange(sfu, &mut [&mut *lawyer, &mut *booth], *now);
    }
}

/// A lawyer and a booth joined to an in-process SFU, then `steps` steps of media both ways:
/// (SFU, lawyer, booth, the virtual clock, the last sequence number written).
fn a_visit_with_media(steps: u32) -> (Sfu, Client, Client, Instant, u64) {
    let mut now = Instant::now();
    let mut sfu = Sfu::new(sfu_addr());
    let (mut booth, mut lawyer) = join_pair(&mut sfu, &mut now);
    sfu.keep_sent(true);
    let mut seq = 0;
    media_for(&mut sfu, &mut lawyer, &mut booth, &mut now, steps, &mut seq);
    (sfu, lawyer, booth, now, seq)
}

#[test]
fn a_clients_rtcp_report_leaves_the_legs_due_timers_to_the_timer_turn() {
    let (mut sfu, mut lawyer, mut booth, mut now, mut seq) = a_visit_with_media(200);

    // From here on the SFU's timers are not run: its legs' earliest timeout stays where it is
    // while the clients' clocks move past it and they write their reports.
    let due = sfu
        .next_peer_timeout()
        .expect("a connected leg has a timeout");
    let mut reports: Vec<(std::net::SocketAddr, Vec<u8>)> = Vec::new();
    let mut t = now;
    while t < due + Duration::from_millis(200) || reports.len() < 2 {
        t += Duration::from_millis(5);
        for c in [&mut lawyer, &mut booth] {
            c.tick(t);
            for d in std::mem::take(&mut c.out) {
                if is_rtcp(&d) {
                    reports.push((c.addr, d));
                }
            }
        }
        assert!(
            t < now + Duration::from_secs(10),
            "the clients wrote no RTCP report in 10 s"
        );
    }
    assert!(
        reports.iter().any(|(a, _)| *a == lawyer.addr)
            && reports.iter().any(|(a, _)| *a == booth.addr),
        "both clients wrote a report"
    );

    // The reports are read at `t`, past the legs' due time.
    for (from, mut d) in reports {
        sfu.receive(t, from, sfu_addr(), &mut d);
        let next = sfu
            .next_peer_timeout()
            .expect("a leg that read a report still has a timeout");
        assert!(
            next <= t,
            "reading a report ran the leg's due timers (due {:?} after the media stopped): \
             its next timeout is {:?} after the report's arrival",
            due.saturating_duration_since(now),
            next.saturating_duration_since(t),
        );
    }

    // The driver's timer turn runs what was due, and the legs' next timeouts are ahead.
    let sfu_sent_before = sfu.sent_totals().0;
    sfu.tick(t);
    let next = sfu.next_peer_timeout().expect("a timeout");
    assert!(next > t, "the timer turn ran every leg's due timers");
    assert!(
        sfu.sent_totals().0 > sfu_sent_before,
        "the timer turn sent what the legs had due"
    );

    // And media still flows both ways afterwards, timers and reports as usual.
    now = t;
    lawyer.record = true;
    booth.record = true;
    media_for(&mut sfu, &mut lawyer, &mut booth, &mut now, 50, &mut seq);
    for c in [&lawyer, &booth] {
        assert!(
            c.got.iter().filter(|g| g.video).count() >= 40,
            "video kept flowing to {}",
            c.addr
        );
        assert!(
            c.got.iter().filter(|g| !g.video).count() >= 40,
            "audio kept flowing to {}",
            c.addr
        );
    }
}

/// One millisecond of the wire as the driver runs it: the clients' timers, the SFU's timer
/// turn only when a leg asked for it (`next_peer_timeout`), then every datagram carried.
fn run_until(
    sfu: &mut Sfu,
    lawyer: &mut Client,
    booth: &mut Client,
    now: &mut Instant,
    until: Instant,
) {
    while *now < until {
        *now += Duration::from_millis(1);
        lawyer.tick(*now);
        booth.tick(*now);
        if sfu.next_peer_timeout().is_some_and(|at| at <= *now) {
            sfu.tick(*now);
        }
        exchange(sfu, &mut [&mut *lawyer, &mut *booth], *now);
    }
}

#[test]
fn a_held_keyframe_request_leaves_when_its_interval_ends() {
    let (mut sfu, mut lawyer, mut booth, mut now, _) = a_visit_with_media(100);
    let pli = |booth: &mut Client| {
        let mid = booth.video;
        booth
            .rtc
            .direct_api()
            .stream_rx_by_mid(mid, None)
            .expect("the booth receives the lawyer's video")
            .request_keyframe(str0m::media::KeyframeRequestKind::Pli);
        booth.drain();
    };

    // The booth asks for a keyframe: the SFU asks the lawyer at once.
    let before = lawyer.keyframe_requests;
    pli(&mut booth);
    let asked_at = now;
    let until = now + Duration::from_millis(5);
    run_until(&mut sfu, &mut lawyer, &mut booth, &mut now, until);
    assert_eq!(
        lawyer.keyframe_requests,
        before + 1,
        "the first request went on at once"
    );

    // Asked again 50 ms later, the SFU holds it for the rest of its 250 ms interval (browsers
    // throttle too) and sends it when the interval ends, woken by the leg's own deadline, not
    // by whichever str0m timer comes next.
    let until = asked_at + Duration::from_millis(50);
    run_until(&mut sfu, &mut lawyer, &mut booth, &mut now, until);
    pli(&mut booth);
    let mut second = None;
    let end = asked_at + Duration::from_millis(400);
    while now < end && second.is_none() {
        let until = now + Duration::from_millis(1);
        run_until(&mut sfu, &mut lawyer, &mut booth, &mut now, until);
        if lawyer.keyframe_requests > before + 1 {
            second = Some(now);
        }
    }
    let second = second.expect("the held request reached the lawyer");
    let after = second.saturating_duration_since(asked_at);
    assert!(
        after >= Duration::from_millis(250) && after <= Duration::from_millis(252),
        "the held request left {after:?} after the first, not when the 250 ms interval ended"
    );
}
