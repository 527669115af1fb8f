//! In-process access to the media driver for the forwarding benchmark (`benches/forward.rs`,
//! media performance): the real driver code (peers, forward table, str0m with DTLS-SRTP) without a
//! socket or a task. Datagrams the driver sends are captured (`MediaSockets::capture`) instead
//! of reaching a socket; the caller feeds received datagrams in and moves its own clock.
//!
//! Not part of confer's API: hidden, used by the benchmark only.

use super::driver::Driver;
use super::socket::MediaSockets;
use super::types::{MediaError, MediaEvent, PeerId};
use crate::policy::Admitted;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::sync::mpsc;

/// One datagram the driver sent: (from candidate, to, bytes).
pub type Sent = (SocketAddr, SocketAddr, Vec<u8>);

/// The media driver without I/O.
pub struct Sfu {
    driver: Driver,
    events: mpsc::Receiver<MediaEvent>,
}

impl Sfu {
    /// A driver whose one host candidate is `candidate` (nothing is bound).
    pub fn new(candidate: SocketAddr) -> Sfu {
        let (tx, events) = mpsc::channel(64);
        Sfu {
            driver: Driver::new(MediaSockets::capture(candidate), tx),
            events,
        }
    }

    /// Turn the media fast path on (the default) or off for peers added from now on: off,
    /// str0m carries every packet (the comparison the benchmark and the tests make).
    pub fn set_fast_path(&mut self, on: bool) {
        self.driver.set_fast_path(on);
    }

    /// Number every new outgoing slot from `seq` instead of a random start below 2^15, so a
    /// test can cross the 16-bit rollover (the SRTP rollover counter) within a few packets.
    pub fn set_first_seq(&mut self, seq: u16) {
        self.driver.set_first_seq(seq);
    }

    /// Packets the fast path opened (received) and sealed (sent) so far, over all peers.
    pub fn fast_totals(&self) -> (u64, u64) {
        self.driver.fast_totals()
    }

    /// Add an admitted peer from its offer, its `Rtc` started at `now` (the caller's clock,
    /// virtual in benches: a peer started on the wall clock ahead of it would see time run
    /// backwards); returns the answer.
    pub fn add_peer(
        &mut self,
        admitted: &Admitted,
        offer: &str,
        now: Instant,
    ) -> Result<(PeerId, String), MediaError> {
        self.driver.add_peer(admitted, offer, now)
    }

    /// One received datagram, exactly as the driver's receive loop hands it on: in its
    /// receive buffer, which the media fast path opens in place (its bytes are then the
    /// plaintext).
    pub fn receive(
        &mut self,
        now: Instant,
        source: SocketAddr,
        destination: SocketAddr,
        data: &mut [u8],
    ) {
        self.driver.on_datagram(now, source, destination, data);
    }

    /// When the driver next wants [`Self::tick`].
    pub fn next_timeout(&mut self) -> Instant {
        self.driver.next_deadline()
    }

    /// When a peer next wants [`Self::tick`], on the caller's clock only. [`Self::next_timeout`]
    /// also caps the wait with the wall clock (the driver's longest sleep, the stats feed), so
    /// a caller whose virtual clock runs ahead of the wall clock ticks on every call: the
    /// benchmark's timed loop uses this one.
    pub fn next_peer_timeout(&mut self) -> Option<Instant> {
        self.driver.next_peer_timeout()
    }

    /// What the driver does after each wake-up: due timeouts, reaping, events.
    pub fn tick(&mut self, now: Instant) {
        self.driver.on_timeouts(now);
        self.driver.reap();
        self.driver.flush_events();
        while self.events.try_recv().is_ok() {}
    }

    /// Keep copies of sent datagrams (for the handshake) or only count them.
    pub fn keep_sent(&mut self, keep: bool) {
        if let Some(mut c) = self.driver.net().captured() {
            c.keep = keep;
        }
    }

    /// The datagrams kept since the last call. (Moved out, not swapped: the capture's list
    /// keeps its capacity, so that keeping the next ones does not allocate it again, which a
    /// count of the driver's allocations would take for the driver's.)
    pub fn take_sent(&mut self) -> Vec<Sent> {
        self.driver
            .net()
            .captured()
            .map(|mut c| c.kept.drain(..).collect())
            .unwrap_or_default()
    }

    /// Datagrams and bytes sent so far.
    pub fn sent_totals(&self) -> (u64, u64) {
        self.driver
            .net()
            .captured()
            .map_or((0, 0), |c| (c.datagrams, c.bytes))
    }

    /// Peers with ICE and DTLS up.
    pub fn connected_peers(&self) -> usize {
        self.driver.connected_peers()
    }
}

/// The configuration confer builds every leg's `Rtc` from (the SFU side), for tests and
/// benchmarks that play the SFU without its driver.
pub fn sfu_rtc_config() -> str0m::RtcConfig {
    super::peer::rtc_config()
}

/// The media socket's batched I/O as the driver uses it (`recvmmsg`/`sendmmsg`, the IP
/// header without an identification field), for `benches/floor.rs`: the cost of forwarding
/// with this I/O and confer's SRTP and nothing else, to set confer's own cost against.
pub mod io {
    pub use crate::media::mmsg::{
        recv_batch, send_batch, set_df_without_pmtu, RecvBatch, BATCH, RECV_BUF,
    };
    /// The kernel buffer size asked for on every media socket.
    pub const SOCKET_BUFFER_BYTES: usize = crate::media::socket::SOCKET_BUFFER_BYTES;
}
