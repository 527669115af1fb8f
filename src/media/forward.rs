//! The forwarding table: who receives which incoming track, on which outgoing m-line, with
//! which sequence numbers. Pure: no I/O, no clock (arrival instants are arguments), no str0m
//! state beyond plain identifiers, so every rule is unit-tested here.
//!
//! # Model
//!
//! - A **member** is one admitted peer connection of one visit. Membership is the gate
//!   (docs/DESIGN.md invariant 1): a packet is only ever routed to another member of the *same*
//!   visit.
//! - A **source** is one incoming track of a member: `(peer, mid)` of an m-line on which the
//!   member sends to us.
//! - A **slot** is one outgoing m-line of a member: an m-line on which we send to it. Each slot
//!   carries at most one source at a time and has its own sequence-number/timestamp
//!   [`Rebase`], so the receiving leg sees one continuous stream even when the source changes.
//!
//! A source is bound to the first free slot of its kind on every other member. Each client
//! offers one sendrecv audio and video pair plus receive-only pairs for further participants
//! (the pages: two, so a visit of lawyer, booth and up to two companions fits without
//! renegotiation; docs/DESIGN.md "Three-way media"). A two-m-line client has one slot per
//! kind and receives the first source bound to it. When a member leaves, its sources' slots
//! are freed and re-offered to any source still waiting for one. Which slot carries whom is
//! reported to `visit` (`MediaEvent::Slots`) so that each receiver's roster can name them.
//!
//! Each video slot also has a [`VideoGate`] (congestion control, R-REMOTE-2): when the
//! receiving leg's estimated bandwidth is below what its sources send, whole video frames are
//! dropped on that leg and the slot's numbering continues without a gap at the key frame that
//! resumes it. Audio slots have no gate: audio is never dropped for video.
//!
//! This module deliberately does not know codecs, payload types or header extensions:
//! those are per-leg concerns of `peer`.

use super::congestion::{self, Verdict, VideoGate};
use super::types::PeerId;
use crate::ids::VisitId;
use foldhash::HashMap;
use std::time::{Duration, Instant};
use str0m::media::{MediaKind, Mid};

/// One negotiated m-line of a member, as seen by the SFU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TrackSpec {
    pub mid: Mid,
    pub kind: MediaKind,
    /// We send to the member on this m-line (our direction is sendonly/sendrecv).
    pub send: bool,
    /// The member sends to us on this m-line (our direction is recvonly/sendrecv).
    pub recv: bool,
}

/// An incoming track: the member that sends it and the m-line it arrives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct SourceKey {
    pub peer: PeerId,
    pub mid: Mid,
}

/// A source bound to a receiver's slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Binding {
    pub source: SourceKey,
    pub receiver: PeerId,
    pub slot: Mid,
    pub kind: MediaKind,
}

/// What the rebaser needs to know about one incoming RTP packet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtpMeta {
    pub ssrc: u32,
    /// Extended (rollover-free) sequence number as received.
    pub seq: u64,
    pub timestamp: u32,
    pub arrival: Instant,
    pub clock_rate: u32,
    /// RTP header plus payload bytes (for the video budget).
    pub bytes: usize,
    /// The packet starts a (VP8) key frame.
    pub keyframe: bool,
}

/// Where one packet goes and with which numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Routed {
    pub receiver: PeerId,
    pub slot: Mid,
    /// Extended outgoing sequence number; its upper bits are the SRTP rollover counter.
    pub seq: u64,
    pub timestamp: u32,
}

/// Per-slot sequence number and timestamp rebasing.
///
/// Within one source the mapping is a constant offset, so gaps and reordering are kept
/// (the receiver's NACKs then name the right packets). When the source changes (another
/// member, or the same member restarting its stream with a new SSRC), the next packet
/// continues right after the last one sent and the timestamp moves on by the wall-clock time
/// elapsed, so the receiving decoder sees no jump. Sequence numbers are extended (64-bit):
/// the rollover counter follows from them and starts at 0 on every leg.
#[derive(Debug, Clone)]
pub(crate) struct Rebase {
    initial_seq: u16,
    current: Option<Current>,
}

#[derive(Debug, Clone)]
struct Current {
    source: SourceKey,
    ssrc: u32,
    /// First incoming sequence number of this source on this slot; older stragglers are dropped
    /// because their outgoing numbers would collide with the previous source's.
    first_in: u64,
    seq_offset: i64,
    ts_offset: u32,
    max_out: u64,
    last_out_ts: u32,
    last_at: Instant,
    /// Packets of this source were dropped (congestion control): the next one forwarded
    /// continues right after the last one sent, with the same timestamp mapping.
    resync: bool,
}

impl Rebase {
    pub(crate) fn new(initial_seq: u16) -> Rebase {
        Rebase {
            initial_seq,
            current: None,
        }
    }

    /// Map one packet of `source`; `None` means drop it.
    pub(crate) fn map(&mut self, source: SourceKey, meta: &RtpMeta) -> Option<(u64, u32)> {
        let switch = match &self.current {
            Some(c) => c.source != source || c.ssrc != meta.ssrc,
            None => true,
        };
        if switch {
            let (start, ts_out) = match &self.current {
                Some(c) => {
                    let elapsed = meta.arrival.saturating_duration_since(c.last_at);
                    let ticks = ticks(elapsed, meta.clock_rate).max(1);
                    (c.max_out + 1, c.last_out_ts.wrapping_add(ticks))
                }
                None => (u64::from(self.initial_seq), meta.timestamp),
            };
            self.current = Some(Current {
                source,
                ssrc: meta.ssrc,
                first_in: meta.seq,
                seq_offset: start as i64 - meta.seq as i64,
                ts_offset: ts_out.wrapping_sub(meta.timestamp),
                max_out: start,
                last_out_ts: ts_out,
                last_at: meta.arrival,
                resync: false,
            });
            return Some((start, ts_out));
        }
        let c = self.current.as_mut()?;
        if c.resync {
            // Same source after dropped frames: no gap in the numbers, no jump in time.
            c.resync = false;
            let start = c.max_out + 1;
            c.first_in = meta.seq;
            c.seq_offset = start as i64 - meta.seq as i64;
            c.max_out = start;
            c.last_out_ts = meta.timestamp.wrapping_add(c.ts_offset);
            c.last_at = meta.arrival;
            return Some((start, c.last_out_ts));
        }
        if meta.seq < c.first_in {
            return None;
        }
        let out = u64::try_from(meta.seq as i64 + c.seq_offset).ok()?;
        let ts = meta.timestamp.wrapping_add(c.ts_offset);
        if out > c.max_out {
            c.max_out = out;
            c.last_out_ts = ts;
            c.last_at = meta.arrival;
        }
        Some((out, ts))
    }
}

impl Rebase {
    /// The packet about to be mapped follows dropped ones (see `Current::resync`).
    fn resync(&mut self) {
        if let Some(c) = &mut self.current {
            c.resync = true;
        }
    }
}

fn ticks(elapsed: Duration, clock_rate: u32) -> u32 {
    let t = elapsed.as_micros().saturating_mul(u128::from(clock_rate)) / 1_000_000;
    u32::try_from(t).unwrap_or(u32::MAX)
}

#[derive(Debug)]
struct Slot {
    mid: Mid,
    kind: MediaKind,
    source: Option<SourceKey>,
    rebase: Rebase,
    /// Congestion control of a video slot (`None` for audio).
    gate: Option<VideoGate>,
}

#[derive(Debug)]
struct Member {
    visit: VisitId,
    sources: Vec<(Mid, MediaKind)>,
    slots: Vec<Slot>,
}

/// The forwarding table of the whole media driver (all visits).
#[derive(Debug, Default)]
pub(crate) struct ForwardTable {
    /// Members of each visit, in join order.
    visits: HashMap<VisitId, Vec<PeerId>>,
    members: HashMap<PeerId, Member>,
}

impl ForwardTable {
    /// Give back the capacity the maps grew to (the driver, when its last peer has gone).
    pub(crate) fn shrink_to_fit(&mut self) {
        self.visits.shrink_to_fit();
        self.members.shrink_to_fit();
    }

    /// Add an admitted member (no m-lines yet: they arrive with [`Self::add_tracks`]).
    pub(crate) fn add_member(&mut self, peer: PeerId, visit: VisitId) {
        let member = Member {
            visit,
            sources: Vec::new(),
            slots: Vec::new(),
        };
        if self.members.insert(peer, member).is_none() {
            self.visits.entry(visit).or_default().push(peer);
        }
    }

    /// Record a member's negotiated m-lines. Returns the bindings this made, in both
    /// directions (its sources to others' slots, others' sources to its slots).
    ///
    /// `initial_seq` picks the first outgoing sequence number of each new slot.
    pub(crate) fn add_tracks(
        &mut self,
        peer: PeerId,
        tracks: &[TrackSpec],
        mut initial_seq: impl FnMut() -> u16,
    ) -> Vec<Binding> {
        let Some(member) = self.members.get_mut(&peer) else {
            return Vec::new();
        };
        for t in tracks {
            if t.recv && !member.sources.iter().any(|(m, _)| *m == t.mid) {
                member.sources.push((t.mid, t.kind));
            }
            if t.send && !member.slots.iter().any(|s| s.mid == t.mid) {
                member.slots.push(Slot {
                    mid: t.mid,
                    kind: t.kind,
                    source: None,
                    rebase: Rebase::new(initial_seq()),
                    gate: (t.kind == MediaKind::Video).then(VideoGate::default),
                });
            }
        }
        let visit = member.visit;
        self.bind_free_slots(visit)
    }

    /// Remove a member: nothing is routed to or from it any more. Returns new bindings made by
    /// handing its freed slots to other waiting sources.
    pub(crate) fn remove_member(&mut self, peer: PeerId) -> Vec<Binding> {
        let Some(member) = self.members.remove(&peer) else {
            return Vec::new();
        };
        let visit = member.visit;
        if let Some(list) = self.visits.get_mut(&visit) {
            list.retain(|p| *p != peer);
            if list.is_empty() {
                self.visits.remove(&visit);
                return Vec::new();
            }
        }
        let peers = self.visit_members(visit);
        for other in peers {
            if let Some(m) = self.members.get_mut(&other) {
                for slot in &mut m.slots {
                    if slot.source.is_some_and(|s| s.peer == peer) {
                        slot.source = None;
                    }
                }
            }
        }
        self.bind_free_slots(visit)
    }

    /// Members of a visit, in join order.
    pub(crate) fn visit_members(&self, visit: VisitId) -> Vec<PeerId> {
        self.visits.get(&visit).cloned().unwrap_or_default()
    }

    /// The source currently feeding `receiver`'s slot `slot`.
    pub(crate) fn source_for(&self, receiver: PeerId, slot: Mid) -> Option<SourceKey> {
        self.members
            .get(&receiver)?
            .slots
            .iter()
            .find(|s| s.mid == slot)?
            .source
    }

    /// Every binding that feeds `receiver`.
    pub(crate) fn bindings_to(&self, receiver: PeerId) -> Vec<Binding> {
        let Some(m) = self.members.get(&receiver) else {
            return Vec::new();
        };
        m.slots
            .iter()
            .filter_map(|s| {
                s.source.map(|source| Binding {
                    source,
                    receiver,
                    slot: s.mid,
                    kind: s.kind,
                })
            })
            .collect()
    }

    /// Route one packet of `source` to every slot bound to it whose receiver is `ready`,
    /// rebasing per slot and passing video through each slot's congestion gate. Appends to
    /// `out` (a buffer the caller reuses). Returns true when a gate asks the source for a key
    /// frame (a leg that dropped frames can take video again).
    pub(crate) fn route(
        &mut self,
        source: SourceKey,
        meta: &RtpMeta,
        ready: impl Fn(PeerId) -> bool,
        out: &mut Vec<Routed>,
    ) -> bool {
        let mut want_keyframe = false;
        let Some(visit) = self.members.get(&source.peer).map(|m| m.visit) else {
            return false;
        };
        let Some(peers) = self.visits.get(&visit) else {
            return false;
        };
        for receiver in peers {
            if *receiver == source.peer || !ready(*receiver) {
                continue;
            }
            let Some(m) = self.members.get_mut(receiver) else {
                continue;
            };
            // Invariant 1: receivers come only from the source's own visit.
            debug_assert_eq!(m.visit, visit);
            for slot in m.slots.iter_mut().filter(|s| s.source == Some(source)) {
                if let Some(gate) = &mut slot.gate {
                    match gate.admit(meta.arrival, meta.timestamp, meta.bytes, meta.keyframe) {
                        Verdict::Forward => {}
                        Verdict::Resume => slot.rebase.resync(),
                        Verdict::Drop => continue,
                        Verdict::DropAskKeyframe => {
                            want_keyframe = true;
                            continue;
                        }
                    }
                }
                if let Some((seq, timestamp)) = slot.rebase.map(source, meta) {
                    out.push(Routed {
                        receiver: *receiver,
                        slot: slot.mid,
                        seq,
                        timestamp,
                    });
                }
            }
        }
        want_keyframe
    }

    /// Set `receiver`'s video budget from its leg's bandwidth estimate (`None`: no estimate,
    /// no limit): audio is reserved first, the rest is shared among its video slots that
    /// carry a source (see `congestion::video_budget`).
    pub(crate) fn set_estimate(&mut self, receiver: PeerId, estimate_bps: Option<u64>) {
        let Some(m) = self.members.get_mut(&receiver) else {
            return;
        };
        let bound = |kind: MediaKind| {
            m.slots
                .iter()
                .filter(|s| s.kind == kind && s.source.is_some())
                .count()
        };
        let (audio, video) = (bound(MediaKind::Audio), bound(MediaKind::Video));
        let budget = estimate_bps.map(|e| congestion::video_budget(e, audio, video));
        for gate in m.slots.iter_mut().filter_map(|s| s.gate.as_mut()) {
            gate.set_rate(budget);
        }
    }

    /// Video frames dropped on `receiver`'s leg by congestion control so far.
    pub(crate) fn video_frames_dropped(&self, receiver: PeerId) -> u64 {
        self.members.get(&receiver).map_or(0, |m| {
            m.slots
                .iter()
                .filter_map(|s| s.gate.as_ref())
                .map(|g| g.dropped_frames)
                .sum()
        })
    }

    /// The current video budget of `receiver`'s leg (its first video slot), if limited.
    pub(crate) fn video_budget(&self, receiver: PeerId) -> Option<u64> {
        self.members
            .get(&receiver)?
            .slots
            .iter()
            .find_map(|s| s.gate.as_ref()?.rate_bps())
    }

    /// How many video sources feed `receiver` (its share of a REMB, `congestion::remb_share`).
    pub(crate) fn video_sources_to(&self, receiver: PeerId) -> usize {
        self.members.get(&receiver).map_or(0, |m| {
            m.slots
                .iter()
                .filter(|s| s.kind == MediaKind::Video && s.source.is_some())
                .count()
        })
    }

    /// Give every unbound source of `visit` a free slot of its kind on each other member.
    fn bind_free_slots(&mut self, visit: VisitId) -> Vec<Binding> {
        let peers = self.visit_members(visit);
        let mut made = Vec::new();
        for src_peer in &peers {
            let sources = match self.members.get(src_peer) {
                Some(m) => m.sources.clone(),
                None => continue,
            };
            for (mid, kind) in sources {
                let source = SourceKey {
                    peer: *src_peer,
                    mid,
                };
                for receiver in &peers {
                    if receiver == src_peer {
                        continue;
                    }
                    let Some(m) = self.members.get_mut(receiver) else {
                        continue;
                    };
                    if m.slots.iter().any(|s| s.source == Some(source)) {
                        continue;
                    }
                    if let Some(slot) = m
                        .slots
                        .iter_mut()
                        .find(|s| s.kind == kind && s.source.is_none())
                    {
                        slot.source = Some(source);
                        made.push(Binding {
                            source,
                            receiver: *receiver,
                            slot: slot.mid,
                            kind,
                        });
                    }
                }
            }
        }
        made
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mid(s: &str) -> Mid {
        Mid::from(s)
    }

    fn av() -> Vec<TrackSpec> {
        vec![
            TrackSpec {
                mid: mid("0"),
                kind: MediaKind::Audio,
                send: true,
                recv: true,
            },
            TrackSpec {
                mid: mid("1"),
                kind: MediaKind::Video,
                send: true,
                recv: true,
            },
        ]
    }

    fn meta(ssrc: u32, seq: u64, ts: u32, at: Instant) -> RtpMeta {
        RtpMeta {
            ssrc,
            seq,
            timestamp: ts,
            arrival: at,
            clock_rate: 90_000,
            bytes: 1000,
            keyframe: false,
        }
    }

    fn seq100() -> u16 {
        100
    }

    fn join(
        t: &mut ForwardTable,
        peer: PeerId,
        visit: VisitId,
        tracks: &[TrackSpec],
    ) -> Vec<Binding> {
        t.add_member(peer, visit);
        t.add_tracks(peer, tracks, seq100)
    }

    // R-PRIV-1 / docs/DESIGN.md invariant 1: media goes only to the other admitted members of
    // the same visit.
    #[test]
    fn packets_reach_only_the_other_members_of_the_same_visit() {
        let mut t = ForwardTable::default();
        let (lawyer, booth, stranger) = (PeerId(1), PeerId(2), PeerId(3));
        join(&mut t, lawyer, VisitId(1), &av());
        join(&mut t, booth, VisitId(1), &av());
        join(&mut t, stranger, VisitId(2), &av());
        let now = Instant::now();
        let mut out = Vec::new();
        t.route(
            SourceKey {
                peer: lawyer,
                mid: mid("1"),
            },
            &meta(9, 5000, 1, now),
            |_| true,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].receiver, booth);
        assert_eq!(out[0].slot, mid("1"));

        out.clear();
        t.route(
            SourceKey {
                peer: stranger,
                mid: mid("0"),
            },
            &meta(7, 1, 1, now),
            |_| true,
            &mut out,
        );
        assert!(
            out.is_empty(),
            "a lone member of another visit reaches nobody"
        );
    }

    #[test]
    fn removed_member_neither_sends_nor_receives() {
        let mut t = ForwardTable::default();
        let (lawyer, booth) = (PeerId(1), PeerId(2));
        join(&mut t, lawyer, VisitId(1), &av());
        join(&mut t, booth, VisitId(1), &av());
        t.remove_member(booth);
        let mut out = Vec::new();
        t.route(
            SourceKey {
                peer: lawyer,
                mid: mid("0"),
            },
            &meta(1, 1, 1, Instant::now()),
            |_| true,
            &mut out,
        );
        assert!(out.is_empty());
        t.route(
            SourceKey {
                peer: booth,
                mid: mid("0"),
            },
            &meta(1, 1, 1, Instant::now()),
            |_| true,
            &mut out,
        );
        assert!(out.is_empty());
        assert!(t.visit_members(VisitId(1)) == vec![lawyer]);
    }

    #[test]
    fn receivers_not_ready_get_nothing_and_do_not_consume_numbers() {
        let mut t = ForwardTable::default();
        let (lawyer, booth) = (PeerId(1), PeerId(2));
        join(&mut t, lawyer, VisitId(1), &av());
        join(&mut t, booth, VisitId(1), &av());
        let src = SourceKey {
            peer: lawyer,
            mid: mid("1"),
        };
        let now = Instant::now();
        let mut out = Vec::new();
        t.route(src, &meta(1, 10, 0, now), |_| false, &mut out);
        assert!(out.is_empty());
        t.route(src, &meta(1, 11, 0, now), |_| true, &mut out);
        assert_eq!(
            out[0].seq, 100,
            "first packet sent starts the leg at its initial number"
        );
    }

    #[test]
    fn late_joiner_gets_bindings_for_existing_sources_and_its_own() {
        let mut t = ForwardTable::default();
        let (lawyer, booth) = (PeerId(1), PeerId(2));
        assert!(join(&mut t, lawyer, VisitId(1), &av()).is_empty());
        let made = join(&mut t, booth, VisitId(1), &av());
        assert_eq!(made.len(), 4);
        assert!(made.contains(&Binding {
            source: SourceKey {
                peer: lawyer,
                mid: mid("1")
            },
            receiver: booth,
            slot: mid("1"),
            kind: MediaKind::Video
        }));
        assert_eq!(t.bindings_to(booth).len(), 2);
        assert_eq!(
            t.source_for(lawyer, mid("1")),
            Some(SourceKey {
                peer: booth,
                mid: mid("1")
            })
        );
    }

    #[test]
    fn audio_never_lands_in_a_video_slot() {
        let mut t = ForwardTable::default();
        let (a, b) = (PeerId(1), PeerId(2));
        let only_audio = [TrackSpec {
            mid: mid("a"),
            kind: MediaKind::Audio,
            send: true,
            recv: true,
        }];
        let only_video = [TrackSpec {
            mid: mid("v"),
            kind: MediaKind::Video,
            send: true,
            recv: true,
        }];
        join(&mut t, a, VisitId(1), &only_audio);
        assert!(join(&mut t, b, VisitId(1), &only_video).is_empty());
    }

    // Three lawyer-side participants later: the booth offers one video slot per lawyer.
    #[test]
    fn several_senders_share_out_the_receivers_slots_and_a_freed_slot_is_reused() {
        let mut t = ForwardTable::default();
        let booth = PeerId(10);
        let booth_tracks: Vec<TrackSpec> = ["v1", "v2"]
            .iter()
            .map(|m| TrackSpec {
                mid: mid(m),
                kind: MediaKind::Video,
                send: true,
                recv: false,
            })
            .collect();
        let lawyer_tracks = [TrackSpec {
            mid: mid("0"),
            kind: MediaKind::Video,
            send: false,
            recv: true,
        }];
        join(&mut t, booth, VisitId(1), &booth_tracks);
        for p in 1..=3 {
            join(&mut t, PeerId(p), VisitId(1), &lawyer_tracks);
        }
        assert_eq!(
            t.source_for(booth, mid("v1")).map(|s| s.peer),
            Some(PeerId(1))
        );
        assert_eq!(
            t.source_for(booth, mid("v2")).map(|s| s.peer),
            Some(PeerId(2))
        );
        let made = t.remove_member(PeerId(1));
        assert_eq!(made.len(), 1);
        assert_eq!(made[0].source.peer, PeerId(3));
        assert_eq!(made[0].slot, mid("v1"));
    }

    /// R-VERIFY-4 three-way visits: every member offers its sendrecv pair plus two
    /// receive-only pairs (as the pages do); each receives both others' audio and video, each
    /// source on a slot of its own kind, and a departure frees the slots it held.
    #[test]
    fn three_members_with_spare_pairs_each_receive_both_others_on_slots_of_their_own() {
        let pages = || -> Vec<TrackSpec> {
            (0..6)
                .map(|i| TrackSpec {
                    mid: mid(&i.to_string()),
                    kind: if i % 2 == 0 {
                        MediaKind::Audio
                    } else {
                        MediaKind::Video
                    },
                    send: true,
                    recv: i < 2,
                })
                .collect()
        };
        let mut t = ForwardTable::default();
        let (lawyer, booth, interpreter) = (PeerId(1), PeerId(2), PeerId(3));
        for p in [booth, lawyer, interpreter] {
            join(&mut t, p, VisitId(1), &pages());
        }
        for receiver in [lawyer, booth, interpreter] {
            let b = t.bindings_to(receiver);
            assert_eq!(
                b.len(),
                4,
                "{receiver:?}: two others, audio and video: {b:?}"
            );
            let mut slots: Vec<Mid> = b.iter().map(|b| b.slot).collect();
            slots.sort();
            slots.dedup();
            assert_eq!(slots.len(), 4, "one slot per source");
            assert!(b.iter().all(|b| b.source.peer != receiver));
            for bind in &b {
                let slot_kind = pages()
                    .into_iter()
                    .find(|t| t.mid == bind.slot)
                    .unwrap()
                    .kind;
                assert_eq!(slot_kind, bind.kind);
            }
        }
        // A packet of the interpreter's audio reaches the lawyer and the booth, once each.
        let mut out = Vec::new();
        let src = SourceKey {
            peer: interpreter,
            mid: mid("0"),
        };
        t.route(src, &meta(5, 1, 1, Instant::now()), |_| true, &mut out);
        let mut to: Vec<PeerId> = out.iter().map(|r| r.receiver).collect();
        to.sort();
        assert_eq!(to, vec![lawyer, booth]);
        // The booth leaves: the lawyer keeps receiving the interpreter, and only it.
        t.remove_member(booth);
        let left: Vec<PeerId> = t
            .bindings_to(lawyer)
            .iter()
            .map(|b| b.source.peer)
            .collect();
        assert_eq!(left, vec![interpreter, interpreter]);
    }

    #[test]
    fn within_one_source_the_offset_is_constant_and_gaps_survive() {
        let mut r = Rebase::new(1000);
        let s = SourceKey {
            peer: PeerId(1),
            mid: mid("1"),
        };
        let now = Instant::now();
        assert_eq!(r.map(s, &meta(5, 70_000, 500, now)), Some((1000, 500)));
        assert_eq!(r.map(s, &meta(5, 70_001, 600, now)), Some((1001, 600)));
        // A lost packet stays a gap, so NACKs from the receiver name the right number.
        assert_eq!(r.map(s, &meta(5, 70_003, 700, now)), Some((1003, 700)));
        // The late one (reordered or retransmitted) fills the gap.
        assert_eq!(r.map(s, &meta(5, 70_002, 650, now)), Some((1002, 650)));
    }

    #[test]
    fn a_source_switch_continues_the_sequence_without_a_jump() {
        let mut r = Rebase::new(65_530);
        let a = SourceKey {
            peer: PeerId(1),
            mid: mid("1"),
        };
        let b = SourceKey {
            peer: PeerId(2),
            mid: mid("7"),
        };
        let t0 = Instant::now();
        for i in 0..10u64 {
            let got = r.map(a, &meta(1, 40_000 + i, 90_000 + 3000 * i as u32, t0));
            assert_eq!(got.map(|g| g.0), Some(65_530 + i));
        }
        // Crossing 65535 simply moves the extended number (and so the SRTP rollover counter) on.
        let (seq, ts) = r
            .map(b, &meta(2, 9, 7, t0 + Duration::from_millis(100)))
            .unwrap();
        assert_eq!(seq, 65_540);
        assert_eq!(seq >> 16, 1, "rollover counter advanced");
        assert_eq!(
            ts,
            90_000 + 3000 * 9 + 9000,
            "100 ms at 90 kHz after the last timestamp"
        );
        // A straggler of the new source from before the switch is dropped, not numbered twice.
        assert_eq!(r.map(b, &meta(2, 8, 0, t0)), None);
        assert_eq!(r.map(b, &meta(2, 10, 3007, t0)).map(|g| g.0), Some(65_541));
    }

    #[test]
    fn a_new_ssrc_on_the_same_source_is_a_switch_too() {
        let mut r = Rebase::new(10);
        let a = SourceKey {
            peer: PeerId(1),
            mid: mid("1"),
        };
        let t0 = Instant::now();
        r.map(a, &meta(1, 500, 0, t0));
        let (seq, _) = r.map(a, &meta(2, 3, 0, t0)).unwrap();
        assert_eq!(seq, 11);
    }

    #[test]
    fn timestamp_wraps_like_rtp() {
        let mut r = Rebase::new(1);
        let a = SourceKey {
            peer: PeerId(1),
            mid: mid("1"),
        };
        let t0 = Instant::now();
        r.map(a, &meta(1, 1, u32::MAX - 10, t0));
        assert_eq!(r.map(a, &meta(1, 2, 20, t0)).map(|g| g.1), Some(20));
    }

    // R-REMOTE-2: a receiver whose leg is estimated below the video rate gets whole frames
    // or none, its audio is untouched, and after a drop the numbering has no gap and resumes
    // at a key frame (so the receiver neither NACKs nor reports loss for what was dropped).
    #[test]
    fn congestion_drops_video_frames_never_audio_and_keeps_numbering() {
        let mut t = ForwardTable::default();
        let (sender, receiver) = (PeerId(1), PeerId(2));
        join(&mut t, sender, VisitId(1), &av());
        join(&mut t, receiver, VisitId(1), &av());
        t.set_estimate(receiver, Some(200_000));
        assert_eq!(t.video_budget(receiver), Some(136_000));
        let video = SourceKey {
            peer: sender,
            mid: mid("1"),
        };
        let audio = SourceKey {
            peer: sender,
            mid: mid("0"),
        };
        let t0 = Instant::now();
        let mut video_out: Vec<(u64, bool)> = Vec::new();
        let mut audio_out = 0;
        let mut asked = 0;
        let mut seq = 1000u64;
        // 5 s of 30 fps, 4 packets of 1000 bytes a frame (~960 kbit/s), a key frame every
        // 30 frames; 50 audio packets a second.
        for f in 0..150u64 {
            let at = t0 + Duration::from_micros(f * 33_333);
            for p in 0..4 {
                let mut m = meta(9, seq, (f * 3000) as u32, at);
                m.keyframe = p == 0 && f % 30 == 0;
                seq += 1;
                let mut out = Vec::new();
                if t.route(video, &m, |_| true, &mut out) {
                    asked += 1;
                }
                video_out.extend(out.iter().map(|r| (r.seq, m.keyframe)));
            }
            if f % 2 == 0 {
                for a in 0..3u64 {
                    let mut out = Vec::new();
                    t.route(
                        audio,
                        &meta(5, f * 3 + a, (f * 960) as u32, at),
                        |_| true,
                        &mut out,
                    );
                    audio_out += out.len();
                }
            }
        }
        assert_eq!(audio_out, 75 * 3, "every audio packet is forwarded");
        assert!(t.video_frames_dropped(receiver) > 50);
        assert!(asked >= 1, "a key frame was asked for");
        assert!(
            video_out.len() < 600 / 2,
            "{} of 600 video packets",
            video_out.len()
        );
        assert!(video_out.len().is_multiple_of(4), "whole frames only");
        for w in video_out.windows(2) {
            assert_eq!(w[1].0, w[0].0 + 1, "no gap in the numbering");
        }
        // Each run of forwarded frames after a drop starts with a key frame: the numbering
        // resumes exactly at key frames, so count key frames among forwarded packets.
        assert!(video_out.iter().filter(|v| v.1).count() >= 2);

        // Without an estimate the leg gets everything again (after the next key frame).
        t.set_estimate(receiver, None);
        assert_eq!(t.video_budget(receiver), None);
    }
}
