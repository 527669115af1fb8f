use std::time::Duration;
use std::time::Instant;

use crate::io::DATAGRAM_MAX_PACKET_SIZE;
use crate::packet::Vp8Patch;
use crate::rtp_::{RtpHeader, SeqNo};

use super::RtpPacket;
use super::rtx_cache_buf::EvictingBuffer;

const RTX_CACHE_SIZE_QUANTIZER: usize = 25;
const RTX_CACHE_QUANTIZE_SLOTS: usize = DATAGRAM_MAX_PACKET_SIZE / RTX_CACHE_SIZE_QUANTIZER;

/// confer patch (RTX cache slots, CONFER-PATCH.md): how many payload buffers of evicted
/// packets are kept for the next packets to be cached. One is enough for a stream whose
/// packets come and go one at a time; a few more absorb a burst.
const SPARE_PAYLOADS: usize = 4;

/// confer patch (RTX cache slots): payload buffers are allocated in steps of this many
/// bytes, so that a spare fits the next packet of a similar size.
const PAYLOAD_CAPACITY_STEP: usize = 128;

/// A sent packet as the RTX cache keeps it for resends and spurious padding.
///
/// confer patch (RTX cache slots, CONFER-PATCH.md): the payload is an owned buffer rather
/// than the sent [`RtpPacket`]'s `Arc<[u8]>`, so that the buffer of an evicted packet is
/// written again by a later one instead of each cached packet allocating and each evicted
/// one freeing.
#[derive(Debug)]
pub(crate) struct CachedPacket {
    pub seq_no: SeqNo,
    pub header: RtpHeader,
    pub payload: Vec<u8>,
    pub vp8_patch: Option<Vp8Patch>,
}

#[derive(Debug)]
pub(crate) struct RtxCache {
    // Data, new additions here probably need to be cleared in [`clear`].
    packet_by_seq_no: EvictingBuffer<CachedPacket>,

    // Technically we want [Option<SeqNo>; X] to indicate the absence of
    // a SeqNo. However We can half the storage space by using the sentinel
    // values SeqNo::MAX to indicate None
    seq_no_by_quantized_size: [SeqNo; RTX_CACHE_QUANTIZE_SLOTS],

    /// confer patch (RTX cache slots): payload buffers of evicted packets, for reuse.
    spare: Vec<Vec<u8>>,
}

impl RtxCache {
    pub fn new(max_packet_count: usize, max_packet_age: Duration) -> Self {
        Self {
            packet_by_seq_no: EvictingBuffer::new(10, max_packet_age, max_packet_count),
            seq_no_by_quantized_size: [SeqNo::MAX; RTX_CACHE_QUANTIZE_SLOTS],
            spare: Vec::new(),
        }
    }

    pub fn cache_sent_packet(&mut self, packet: RtpPacket, now: Instant) {
        assert!(packet.nackable);
        let payload = self.payload_buffer(&packet.payload);
        self.cache(
            CachedPacket {
                seq_no: packet.seq_no,
                header: packet.header,
                payload,
                vp8_patch: packet.vp8_patch,
            },
            now,
        );
    }

    /// confer patch (media fast path, CONFER-PATCH.md): cache a nackable packet sent by
    /// `StreamTx::fast_send`, as `cache_sent_packet` caches one sent by `poll_packet`.
    pub fn cache_fast_sent_packet(
        &mut self,
        seq_no: SeqNo,
        header: RtpHeader,
        payload: &[u8],
        now: Instant,
    ) {
        let payload = self.payload_buffer(payload);
        self.cache(
            CachedPacket {
                seq_no,
                header,
                payload,
                vp8_patch: None,
            },
            now,
        );
    }

    fn cache(&mut self, packet: CachedPacket, now: Instant) {
        let seq_no = packet.seq_no;
        let quantized_size = packet.payload.len() / RTX_CACHE_SIZE_QUANTIZER;
        if let Some(unkept) = self.packet_by_seq_no.push(*seq_no, now, packet) {
            recycle(&mut self.spare, unkept.payload);
        }
        self.seq_no_by_quantized_size[quantized_size] = seq_no;
        self.remove_old_packets(now);
    }

    /// A buffer holding `payload`: a spare one that fits, or a new one.
    fn payload_buffer(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut buf = match self.spare.iter().position(|b| b.capacity() >= payload.len()) {
            Some(i) => self.spare.swap_remove(i),
            None => Vec::with_capacity(payload.len().next_multiple_of(PAYLOAD_CAPACITY_STEP)),
        };
        buf.clear();
        buf.extend_from_slice(payload);
        buf
    }

    pub fn last_cached_seq_no(&self) -> Option<SeqNo> {
        Some(self.packet_by_seq_no.last_position()?.into())
    }

    pub fn get_cached_packet_by_seq_no(&mut self, seq_no: SeqNo) -> Option<&mut CachedPacket> {
        self.packet_by_seq_no.get_mut(*seq_no)
    }

    pub fn get_cached_packet_smaller_than(&mut self, max_size: usize) -> Option<&mut CachedPacket> {
        let quantized_size = max_size / RTX_CACHE_SIZE_QUANTIZER;

        let seq_no = self.seq_no_by_quantized_size[..quantized_size]
            .iter()
            .rev()
            .filter(|seq_no| !seq_no.is_max())
            .find(|seq_no| self.packet_by_seq_no.contains(***seq_no))?;

        self.get_cached_packet_by_seq_no(*seq_no)
    }

    fn remove_old_packets(&mut self, now: Instant) {
        let spare = &mut self.spare;
        self.packet_by_seq_no
            .maybe_evict_with(now, |packet| recycle(spare, std::mem::take(&mut packet.payload)));
    }

    pub(crate) fn last_packet(&self) -> Option<&[u8]> {
        let packet = self.packet_by_seq_no.last()?;
        Some(packet.payload.as_ref())
    }

    pub(crate) fn clear(&mut self) {
        self.packet_by_seq_no.clear();
        self.seq_no_by_quantized_size = [SeqNo::MAX; RTX_CACHE_QUANTIZE_SLOTS];
        self.spare = Vec::new();
    }

    #[cfg(test)]
    pub(crate) fn spare_capacities(&self) -> Vec<usize> {
        self.spare.iter().map(|b| b.capacity()).collect()
    }
}

/// Keep an evicted packet's buffer for a later one: at most `SPARE_PAYLOADS`, the larger
/// ones when there are more (a larger buffer fits more of the packets to come).
fn recycle(spare: &mut Vec<Vec<u8>>, buf: Vec<u8>) {
    if spare.len() < SPARE_PAYLOADS {
        spare.push(buf);
    } else if let Some(smallest) = spare.iter_mut().min_by_key(|b| b.capacity()) {
        if smallest.capacity() < buf.capacity() {
            *smallest = buf;
        }
    }
}

#[cfg(test)]
mod test {
    use crate::rtp_::MediaTime;

    use super::*;

    fn after(now: Instant, millis: u64) -> Instant {
        now + Duration::from_millis(millis)
    }

    /// A cached packet's sequence number and the millis its payload was made from.
    fn seen(packet: Option<&mut CachedPacket>) -> Option<(u64, u64)> {
        let packet = packet?;
        let millis = u64::from_be_bytes(packet.payload[..8].try_into().unwrap());
        Some((*packet.seq_no, millis))
    }

    fn packet(now: Instant, seq_no: u64, millis: u64) -> RtpPacket {
        RtpPacket {
            header: RtpHeader::default(),
            seq_no: seq_no.into(),
            time: MediaTime::from_90khz(0),
            payload: millis.to_be_bytes().into(),
            vp8_patch: None,
            timestamp: after(now, millis),
            last_sender_info: None,
            nackable: true,
        }
    }

    #[test]
    fn rtx_cache_0_sized() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(0, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            Some((1, 10)),
            seen(rtx_cache.get_cached_packet_by_seq_no(1.into()))
        );
        assert_eq!(
            Some((1, 10)),
            seen(rtx_cache.get_cached_packet_smaller_than(1000))
        );
    }

    #[test]
    fn rtx_cache_0_duration() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(10, Duration::from_secs(0));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(None, seen(rtx_cache.get_cached_packet_by_seq_no(1.into())));
        assert_eq!(None, seen(rtx_cache.get_cached_packet_smaller_than(1000)));
    }

    #[test]
    fn rtx_cache_1_sized() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(packet(now, 1, 10), after(now, 10));
        assert_eq!(
            Some((1, 10)),
            seen(rtx_cache.get_cached_packet_by_seq_no(1.into()))
        );
        assert_eq!(
            Some((1, 10)),
            seen(rtx_cache.get_cached_packet_smaller_than(1000))
        );
        assert_eq!(
            Some((1, 10)),
            seen(rtx_cache.get_cached_packet_smaller_than(25))
        );
        assert_eq!(None, seen(rtx_cache.get_cached_packet_smaller_than(24)));
        rtx_cache.cache_sent_packet(packet(now, 2, 20), after(now, 20));
        assert_eq!(
            Some((2, 20)),
            seen(rtx_cache.get_cached_packet_by_seq_no(2.into()))
        );
    }

    #[test]
    fn rtx_cache_100_sized_backwards() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(100, Duration::from_secs(3));

        for i in 1..=200 {
            let seq_no = 201 - i;
            let pkt = packet(now, seq_no, (201 - i) * 10);
            let now = after(now, i * 10);
            rtx_cache.cache_sent_packet(pkt, now);
        }

        assert_eq!(
            Some((200, 2000)),
            seen(rtx_cache.get_cached_packet_by_seq_no(200.into()))
        );
        assert_eq!(None, seen(rtx_cache.get_cached_packet_by_seq_no(100.into())));
        assert_eq!(None, seen(rtx_cache.get_cached_packet_by_seq_no(101.into())));
    }

    #[test]
    fn rtx_cache_eviction() {
        let now = Instant::now();
        // Cache can take all entries
        let mut rtx_cache = RtxCache::new(400, Duration::from_secs(1));
        for i in 1..=200 {
            let seq_no = i;
            let pkt = packet(now, seq_no, i * 10);
            let now = after(now, i * 10);
            rtx_cache.cache_sent_packet(pkt, now);
        }

        assert_eq!(None, seen(rtx_cache.get_cached_packet_by_seq_no(99.into())));

        assert_eq!(
            Some((100, 1000)),
            seen(rtx_cache.get_cached_packet_by_seq_no(100.into()))
        );
        assert_eq!(
            Some((200, 2000)),
            seen(rtx_cache.get_cached_packet_by_seq_no(200.into()))
        );
    }

    fn sized(now: Instant, seq_no: u64, millis: u64, len: usize) -> RtpPacket {
        let mut payload = vec![seq_no as u8; len];
        payload[..8].copy_from_slice(&millis.to_be_bytes());
        RtpPacket {
            payload: payload.into(),
            ..packet(now, seq_no, millis)
        }
    }

    #[test]
    fn evicted_payload_buffers_are_written_again() {
        // confer patch (RTX cache slots): an evicted packet's buffer holds a later packet,
        // even a smaller one; each cached packet keeps its own bytes and length.
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1000, Duration::from_millis(100));
        for i in 1..=20 {
            rtx_cache.cache_sent_packet(sized(now, i, i * 10, 1100), after(now, i * 10));
        }
        // 10 ms apart for 100 ms: each packet cached evicted one, whose buffer the next
        // packet took; the last one evicted waits for the next packet.
        assert_eq!(None, seen(rtx_cache.get_cached_packet_by_seq_no(9.into())));
        assert_eq!(rtx_cache.spare_capacities().len(), 1);
        assert!(rtx_cache.spare_capacities().iter().all(|c| *c >= 1100));

        // A 100-byte packet goes into one of them: a fresh buffer would hold 128.
        rtx_cache.cache_sent_packet(sized(now, 21, 210, 100), after(now, 210));
        let small = rtx_cache.get_cached_packet_by_seq_no(21.into()).unwrap();
        assert_eq!(small.payload.len(), 100);
        assert!(small.payload.capacity() >= 1100);
        assert!(small.payload[8..].iter().all(|b| *b == 21));

        // Packets of every size keep exactly their bytes through the reuse.
        for i in 22..=200u64 {
            let len = 8 + (i as usize * 37) % 1150;
            rtx_cache.cache_sent_packet(sized(now, i, i * 10, len), after(now, i * 10));
            let p = rtx_cache.get_cached_packet_by_seq_no(i.into()).unwrap();
            assert_eq!(p.payload.len(), len);
            assert!(p.payload[8..].iter().all(|b| *b == i as u8));
            assert_eq!(seen(Some(p)), Some((i, i * 10)));
        }
        assert!(rtx_cache.spare_capacities().len() <= SPARE_PAYLOADS);
    }

    #[test]
    fn spare_buffers_are_bounded_and_the_larger_are_kept() {
        let mut spare = Vec::new();
        for cap in [128, 1152, 256, 384, 640] {
            recycle(&mut spare, Vec::with_capacity(cap));
        }
        let mut caps: Vec<usize> = spare.iter().map(|b| b.capacity()).collect();
        caps.sort();
        assert_eq!(caps, vec![256, 384, 640, 1152]);
        recycle(&mut spare, Vec::with_capacity(64));
        assert_eq!(spare.len(), SPARE_PAYLOADS);
        assert!(spare.iter().all(|b| b.capacity() >= 256));
    }

    #[test]
    fn a_fresh_buffer_is_allocated_in_steps() {
        let now = Instant::now();
        let mut rtx_cache = RtxCache::new(1000, Duration::from_secs(3));
        rtx_cache.cache_sent_packet(sized(now, 1, 10, 1100), after(now, 10));
        let p = rtx_cache.get_cached_packet_by_seq_no(1.into()).unwrap();
        assert_eq!(p.payload.capacity(), 1152);
        rtx_cache.clear();
        assert!(rtx_cache.spare_capacities().is_empty());
    }
}
