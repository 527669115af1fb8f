//! Which media worker owns what: visits spread over the worker threads, each visit whole on
//! one worker (media performance: forwarding never crosses threads).
//!
//! Owns only the arithmetic: a visit's worker is a fixed mix of its id (so both legs, every
//! re-join and every companion of a visit land on the same worker without shared state or a
//! lock, and visits placed on one node of a cluster do not pile up on one worker because
//! their ids share a residue), a peer's worker is read off its id (each worker hands out
//! `first, first + stride, ...`), and worker `i` listens on the configured port plus `i`.
//! Does not: start threads, bind sockets or move packets (`media::start` and the driver do).

use super::types::PeerId;
use crate::ids::VisitId;

/// The most workers a media plane runs (each is a thread with its own UDP port).
use crate::config::MAX_MEDIA_WORKERS as MAX_WORKERS;

/// The ids one worker hands out: `first`, then every `stride`-th.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerIds {
    pub(crate) first: u64,
    pub(crate) stride: u64,
}

/// `n` workers, numbered from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shards {
    n: usize,
}

impl Shards {
    pub(crate) fn new(n: usize) -> Shards {
        Shards {
            n: n.clamp(1, MAX_WORKERS),
        }
    }

    pub(crate) fn single() -> Shards {
        Shards::new(1)
    }

    pub(crate) fn len(self) -> usize {
        self.n
    }

    /// The worker every peer of `visit` lives on.
    pub(crate) fn worker_of_visit(self, visit: VisitId) -> usize {
        (mix(visit.0 as u64) % self.n as u64) as usize
    }

    /// The worker that made `peer` (see [`Shards::ids`]).
    pub(crate) fn worker_of_peer(self, peer: PeerId) -> usize {
        (peer.0.wrapping_sub(1) % self.n as u64) as usize
    }

    /// The ids worker `index` hands out: `index + 1`, then every `n`-th.
    pub(crate) fn ids(self, index: usize) -> PeerIds {
        PeerIds {
            first: index as u64 + 1,
            stride: self.n as u64,
        }
    }

    /// Worker `index`'s port: `port + index`, or 0 (a free port each) when `port` is 0.
    /// `None` past 65535 (the configuration refuses that before it gets here).
    pub(crate) fn port(self, port: u16, index: usize) -> Option<u16> {
        if port == 0 {
            return Some(0);
        }
        u16::try_from(port as usize + index).ok()
    }
}

/// SplitMix64's finaliser: consecutive ids, and ids sharing a residue (every third visit on
/// one node of three), spread evenly.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_workers_ids_lead_back_to_it_and_never_collide() {
        for n in [1, 2, 3, 8] {
            let shards = Shards::new(n);
            let mut seen = std::collections::HashSet::new();
            for w in 0..n {
                let ids = shards.ids(w);
                let mut id = ids.first;
                for _ in 0..100 {
                    assert_eq!(shards.worker_of_peer(PeerId(id)), w);
                    assert!(seen.insert(id), "id {id} handed out twice");
                    id += ids.stride;
                }
            }
        }
    }

    #[test]
    fn one_worker_is_todays_numbering() {
        let ids = Shards::single().ids(0);
        assert_eq!((ids.first, ids.stride), (1, 1));
        assert_eq!(Shards::single().worker_of_visit(VisitId(12345)), 0);
    }

    #[test]
    fn visits_spread_evenly_also_when_their_ids_share_a_residue() {
        let shards = Shards::new(2);
        // Consecutive ids, and every third id (one node of a three-node cluster).
        for step in [1i64, 2, 3] {
            let mut load = [0usize; 2];
            for i in 0..1000 {
                load[shards.worker_of_visit(VisitId(1 + i * step))] += 1;
            }
            assert!(
                load.iter().all(|&l| (430..=570).contains(&l)),
                "step {step}: {load:?}"
            );
        }
        // Always the same worker for the same visit.
        assert_eq!(
            shards.worker_of_visit(VisitId(77)),
            shards.worker_of_visit(VisitId(77))
        );
    }

    #[test]
    fn worker_ports_follow_the_configured_one() {
        let shards = Shards::new(4);
        assert_eq!(shards.port(8443, 0), Some(8443));
        assert_eq!(shards.port(8443, 3), Some(8446));
        assert_eq!(shards.port(0, 3), Some(0));
        assert_eq!(shards.port(65535, 1), None);
        assert_eq!(Shards::new(0).len(), 1);
        assert_eq!(Shards::new(1000).len(), MAX_WORKERS);
    }
}
