//! The network check (R-REMOTE-1, R-REMOTE-2): a short-lived connection that carries no
//! media, so a lawyer can find out *before* joining whether their network reaches this
//! server's media transports (UDP, ICE-TCP) and how long a round trip takes.
//!
//! A check is a str0m `Rtc` with no codecs at all, accepting an offer whose only m-line is
//! `m=application` (one WebRTC data channel): an offer with an audio or video m-line is
//! refused before anything is built, so a check can neither send nor receive media and is
//! never part of a visit or the forwarding table (docs/DESIGN.md invariant 1: media goes
//! only between a visit's admitted participants). The check echoes each short message it
//! receives on the data channel, as it is, and nothing else; it ends after
//! [`CHECK_LIFETIME`] or when the client closes it. At most [`MAX_CHECKS`] run at once on a
//! node; the HTTP edge throttles each lawyer.
//!
//! Sans I/O like `peer`: the driver hands in datagrams and timeouts, this file hands
//! finished datagrams to [`MediaSockets`].

use super::socket::MediaSockets;
use super::types::{MediaError, PeerId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};
use str0m::change::SdpOffer;
use str0m::net::Protocol;
use str0m::{Event, Input, Output, Rtc};

/// A check ends this long after it was opened, whatever its state.
pub(crate) const CHECK_LIFETIME: Duration = Duration::from_secs(20);

/// Checks open at once on one node; one more is refused with [`MediaError::Busy`].
pub(crate) const MAX_CHECKS: usize = 16;

/// Messages longer than this are not echoed (a round-trip probe is a few bytes).
const MAX_ECHO_BYTES: usize = 256;

/// Messages echoed per check at most.
const MAX_ECHOES: u32 = 64;

/// Whether an SDP offer asks for nothing but a data channel: at least one m-line, and every
/// m-line `m=application`. The gate that keeps media out of a check.
pub(crate) fn data_channel_only(offer_sdp: &str) -> bool {
    let mut lines = offer_sdp
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("m="))
        .peekable();
    lines.peek().is_some() && lines.all(|l| l.starts_with("m=application "))
}

struct Check {
    rtc: Rtc,
    expires: Instant,
    rtc_timeout: Instant,
    last_now: Instant,
    echoes: u32,
    /// How the client reached us, once it has (for the log line: no address is kept).
    transport: Option<Protocol>,
    connected: bool,
}

impl Check {
    fn accept(
        offer_sdp: &str,
        candidates: &[SocketAddr],
        tcp_candidates: &[SocketAddr],
        now: Instant,
    ) -> Result<(Check, String), MediaError> {
        if !data_channel_only(offer_sdp) {
            return Err(MediaError::BadOffer(
                "a network check offers one data channel (m=application) and no media".into(),
            ));
        }
        let offer = SdpOffer::from_sdp_string(offer_sdp)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let mut rtc = Rtc::builder().set_ice_lite(true).clear_codecs().build(now);
        super::peer::add_host_candidates(&mut rtc, candidates, tcp_candidates)?;
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| MediaError::BadOffer(e.to_string()))?;
        let check = Check {
            rtc,
            expires: now + CHECK_LIFETIME,
            rtc_timeout: now,
            last_now: now,
            echoes: 0,
            transport: None,
            connected: false,
        };
        Ok((check, answer.to_sdp_string()))
    }

    fn is_gone(&self) -> bool {
        !self.rtc.is_alive() || self.last_now >= self.expires
    }

    fn handle_input(&mut self, input: Input<'_>, net: &MediaSockets) {
        match &input {
            Input::Timeout(t) => self.last_now = self.last_now.max(*t),
            Input::Receive(t, r) => {
                self.last_now = self.last_now.max(*t);
                self.transport = Some(r.proto);
            }
        }
        if self.rtc.handle_input(input).is_err() {
            self.rtc.disconnect();
            return;
        }
        self.drain(net);
    }

    fn drain(&mut self, net: &MediaSockets) {
        loop {
            match self.rtc.poll_output() {
                Ok(Output::Timeout(t)) => {
                    self.rtc_timeout = t;
                    break;
                }
                Ok(Output::Transmit(t)) if t.proto == Protocol::Tcp => {
                    net.send_tcp(t.destination, &t.contents);
                }
                Ok(Output::Transmit(t)) => net.send(t.source, t.destination, t.contents.into()),
                Ok(Output::Event(Event::Connected)) => self.connected = true,
                Ok(Output::Event(Event::ChannelData(data))) => {
                    if data.data.len() <= MAX_ECHO_BYTES && self.echoes < MAX_ECHOES {
                        self.echoes += 1;
                        if let Some(mut channel) = self.rtc.channel(data.id) {
                            let _ = channel.write(data.binary, &data.data);
                        }
                    }
                }
                // Media events cannot happen (no m-line carries media); others need nothing.
                Ok(Output::Event(_)) => {}
                Err(_) => {
                    self.rtc.disconnect();
                    break;
                }
            }
        }
    }

    fn close(&mut self, net: &MediaSockets) {
        let _ = self.rtc.close();
        self.drain(net);
        self.rtc.disconnect();
    }
}

/// The node's open network checks, driven by the media driver next to its peers.
#[derive(Default)]
pub(crate) struct Checks {
    open: BTreeMap<PeerId, Check>,
}

impl Checks {
    /// Open a check from the client's offer; returns the answer.
    pub(crate) fn open(
        &mut self,
        id: PeerId,
        offer_sdp: &str,
        candidates: &[SocketAddr],
        tcp_candidates: &[SocketAddr],
        now: Instant,
        net: &MediaSockets,
    ) -> Result<String, MediaError> {
        if self.open.len() >= MAX_CHECKS {
            return Err(MediaError::Busy);
        }
        let accepted = catch_unwind(AssertUnwindSafe(|| {
            Check::accept(offer_sdp, candidates, tcp_candidates, now)
        }))
        .map_err(|_| MediaError::BadOffer("the offer could not be processed".into()))?;
        let (mut check, answer) = accepted?;
        check.drain(net);
        tracing::info!(check = id.0, "network check opened");
        self.open.insert(id, check);
        Ok(answer)
    }

    pub(crate) fn len(&self) -> usize {
        self.open.len()
    }

    /// Hand a packet no peer took to the check it belongs to; whether one took it.
    pub(crate) fn on_packet(&mut self, input: Input<'_>, net: &MediaSockets) -> bool {
        let Some((&id, check)) = self.open.iter_mut().find(|(_, c)| c.rtc.accepts(&input)) else {
            return false;
        };
        if catch_unwind(AssertUnwindSafe(|| check.handle_input(input, net))).is_err() {
            self.open.remove(&id);
        }
        true
    }

    /// The earliest moment a check needs driving, if any is open.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.open
            .values()
            .map(|c| c.rtc_timeout.min(c.expires))
            .min()
    }

    /// Drive the checks whose time has come; forget the ones that ended or expired.
    pub(crate) fn on_timeouts(&mut self, now: Instant, net: &MediaSockets) {
        self.open.retain(|id, check| {
            if now >= check.rtc_timeout {
                let driven = catch_unwind(AssertUnwindSafe(|| {
                    check.handle_input(Input::Timeout(now.max(check.last_now)), net)
                }));
                if driven.is_err() {
                    return false;
                }
            }
            if now >= check.expires && check.rtc.is_alive() {
                let _ = catch_unwind(AssertUnwindSafe(|| check.close(net)));
            }
            let keep = !check.is_gone() && now < check.expires;
            if !keep {
                let transport = match check.transport {
                    Some(Protocol::Udp) => "udp",
                    Some(Protocol::Tcp) => "tcp",
                    Some(_) => "other",
                    None => "none",
                };
                tracing::info!(
                    check = id.0,
                    connected = check.connected,
                    transport,
                    echoes = check.echoes,
                    "network check ended"
                );
            }
            keep
        });
    }

    /// Close every check (the driver is stopping).
    pub(crate) fn close_all(&mut self, net: &MediaSockets) {
        for check in self.open.values_mut() {
            let _ = catch_unwind(AssertUnwindSafe(|| check.close(net)));
        }
        self.open.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_offer_of_data_channels_alone_is_a_check() {
        let app = "v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\na=mid:0\r\n";
        assert!(data_channel_only(app));
        let with_audio = format!("{app}m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:1\r\n");
        assert!(!data_channel_only(&with_audio));
        let video_first = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n";
        assert!(!data_channel_only(video_first));
        assert!(!data_channel_only("v=0\r\ns=-\r\n"), "no m-line at all");
        assert!(!data_channel_only(""));
    }

    #[test]
    fn a_check_ends_by_itself_when_its_lifetime_is_over() {
        let net = MediaSockets::capture("127.0.0.1:40000".parse().unwrap());
        let mut client = Rtc::builder().build(Instant::now());
        let mut change = client.sdp_api();
        change.add_channel("check".into());
        let (offer, _pending) = change.apply().expect("an offer");
        let mut checks = Checks::default();
        let now = Instant::now();
        let candidates = ["127.0.0.1:40000".parse().unwrap()];
        checks
            .open(
                PeerId(1),
                &offer.to_sdp_string(),
                &candidates,
                &[],
                now,
                &net,
            )
            .expect("opened");
        checks.on_timeouts(now + Duration::from_secs(1), &net);
        assert_eq!(checks.len(), 1, "still open after a second");
        checks.on_timeouts(now + CHECK_LIFETIME, &net);
        assert_eq!(checks.len(), 0, "gone after its lifetime");
        assert_eq!(checks.next_deadline(), None);
    }
}
