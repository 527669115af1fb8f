//! Spec tests of the media workers (media performance, docs/DESIGN.md invariant 1): with
//! several worker threads every peer of a visit lives on the visit's worker and is reached on
//! that worker's port, media flows within each visit whichever worker carries it and never
//! between visits, and the handle's commands, snapshot and stats feed cover every worker.
//! Real UDP on 127.0.0.1, real str0m clients; every wait is bounded.

use super::shard::Shards;
use super::tests::{
    booth, connect, expect_connected, lawyer, wait_for, Client, ClientOptions, BOOTH, LAWYER,
};
use super::tests_tcp::start_media_tcp_workers;
use super::PeerId;
use crate::ids::VisitId;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use str0m::media::{Direction, MediaKind};
use str0m::{Candidate, Rtc};

/// The first visit id from `from` on that lands on `worker` of `shards`.
fn visit_on(shards: Shards, worker: usize, from: i64) -> i64 {
    (from..)
        .find(|v| shards.worker_of_visit(VisitId(*v)) == worker)
        .unwrap()
}

/// The UDP ports of the host candidates in an SDP answer.
fn answer_ports(answer: &str) -> BTreeSet<u16> {
    answer
        .lines()
        .filter(|l| l.starts_with("a=candidate") && (l.contains(" udp ") || l.contains(" UDP ")))
        .filter_map(|l| l.split_whitespace().nth(5)?.parse().ok())
        .collect()
}

fn opts(tag: u8, frames: u32) -> ClientOptions {
    ClientOptions {
        tag,
        frames,
        drop_incoming_rtp_every: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_visit_lives_whole_on_its_worker_and_media_flows_on_every_worker() {
    let (media, mut events) = start_media_tcp_workers(2).await;
    let shards = Shards::new(2);
    assert_eq!(media.workers(), 2);
    let udp: Vec<u16> = media.local_addrs().iter().map(|a| a.port()).collect();
    assert_eq!(udp.len(), 2, "one UDP socket per worker: {udp:?}");
    assert_ne!(udp[0], udp[1]);
    let tcp = media.local_tcp_addrs();
    assert_eq!(tcp.len(), 2, "one ICE-TCP listener per worker: {tcp:?}");
    assert_ne!(tcp[0], tcp[1]);

    // One visit on each worker, a lawyer and a booth in each.
    let visits = [visit_on(shards, 0, 100), visit_on(shards, 1, 100)];
    let frames = 200;
    let mut clients: Vec<(i64, PeerId, PeerId, Client, Client)> = Vec::new();
    for (worker, &visit) in visits.iter().enumerate() {
        let (l, lc) = connect(&media, lawyer(visit), opts(LAWYER, frames))
            .await
            .unwrap();
        let (b, bc) = connect(&media, booth(visit), opts(BOOTH, frames))
            .await
            .unwrap();
        assert_eq!(shards.worker_of_peer(l), worker, "the lawyer's leg");
        assert_eq!(shards.worker_of_peer(b), worker, "the booth's leg");
        clients.push((visit, l, b, lc, bc));
    }
    let ids: Vec<PeerId> = clients.iter().flat_map(|c| [c.1, c.2]).collect();
    expect_connected(&mut events, &ids).await;
    for c in &clients {
        c.3.start().await;
        c.4.start().await;
    }
    let most = (frames * 2 / 3) as usize;
    let arrived = |c: &(i64, PeerId, PeerId, Client, Client)| {
        let (la, lv) = c.3.frames_from(BOOTH);
        let (ba, bv) = c.4.frames_from(LAWYER);
        [la, lv, ba, bv]
    };
    wait_for(
        "media both ways in both visits",
        Duration::from_secs(20),
        || clients.iter().all(|c| arrived(c).iter().all(|n| *n > most)),
    )
    .await;
    for c in &clients {
        for client in [&c.3, &c.4] {
            let o = client.obs();
            assert_eq!(o.corrupt, 0, "every payload arrives as it was sent");
        }
        // Both visits' clients use the same tags: a frame of the other visit would show up
        // as more frames than this visit's sender sent.
        let got = arrived(c);
        assert!(
            got.iter().all(|n| *n <= frames as usize),
            "visit {}: {got:?}, more than was sent in the visit",
            c.0
        );
    }

    // The handle sees every worker: the snapshot and the published feed.
    let snap = media.snapshot().await;
    assert_eq!(snap.peers.len(), 4, "{:?}", snap.peers);
    for (visit, _, stats) in &snap.peers {
        assert!(visits.contains(&visit.0));
        assert!(stats.connected);
        assert!(stats.rtp_packets_out > 0, "visit {visit} forwarded");
    }
    let mut feed = media.stats_feed();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if feed.borrow_and_update().peers.len() == 4 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stats feed covers both workers"
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), feed.changed()).await;
    }

    // Commands reach the right worker: one peer removed, then one visit ended.
    media.remove_peer(clients[1].1).await;
    media.end_visit(VisitId(visits[0])).await;
    let snap = media.snapshot().await;
    let left: Vec<i64> = snap.peers.iter().map(|p| p.0 .0).collect();
    assert_eq!(
        left,
        vec![visits[1]],
        "only the second visit's booth is left"
    );
}

#[tokio::test]
async fn a_peer_is_offered_its_visits_worker_port_only() {
    let (media, _events) = start_media_tcp_workers(3).await;
    let shards = Shards::new(3);
    let ports: Vec<u16> = media.local_addrs().iter().map(|a| a.port()).collect();
    assert_eq!(ports.len(), 3);
    for (worker, port) in ports.iter().enumerate() {
        let visit = visit_on(shards, worker, 1);
        let mut rtc = Rtc::builder().build(Instant::now());
        rtc.add_local_candidate(Candidate::host("127.0.0.1:9".parse().unwrap(), "udp").unwrap());
        let mut change = rtc.sdp_api();
        change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, _) = change.apply().unwrap();
        let (peer, answer) = media
            .add_peer(lawyer(visit), offer.to_sdp_string())
            .await
            .unwrap();
        assert_eq!(shards.worker_of_peer(peer), worker);
        assert_eq!(
            answer_ports(&answer),
            BTreeSet::from([*port]),
            "visit {visit}: {answer}"
        );
    }
}
