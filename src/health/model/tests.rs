//! Table tests of the health model (live health alerts; R-PRIV-1 / docs/DESIGN.md
//! invariant 6: roles only in the view).
#![allow(clippy::type_complexity)] // the tables' row types

use super::*;
use crate::ids::{BoothId, LawyerId};
use crate::media::{KindRates, PeerHealth};
use chrono::TimeZone;
use std::time::Duration as StdDuration;

const LAWYER: i64 = 987_654_321;
const BOOTH: &str = "booth-id-7f3a";

fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 10, 0, 0).unwrap() + Duration::seconds(secs)
}

fn lawyer() -> ParticipantId {
    ParticipantId::Lawyer(LawyerId(LAWYER))
}

fn booth() -> ParticipantId {
    ParticipantId::Booth(BoothId(BOOTH.into()))
}

fn seat(p: ParticipantId, peer: Option<u64>, dropped: bool) -> LiveSeatView {
    LiveSeatView {
        participant: p,
        peer: peer.map(PeerId),
        dropped,
    }
}

fn visit(seats: Vec<LiveSeatView>) -> Vec<VisitInput> {
    vec![VisitInput {
        live: LiveVisitView {
            visit: VisitId(5),
            slot_end: t(600),
            warnings_sent: vec![300],
            seats,
        },
        booth: "Booth 1".into(),
    }]
}

/// A healthy connected peer's figures.
fn good() -> PeerHealth {
    PeerHealth {
        inbound: KindRates {
            audio_kbps: 40.0,
            video_kbps: 300.0,
        },
        outbound: KindRates {
            audio_kbps: 40.0,
            video_kbps: 300.0,
        },
        inbound_loss: Some(0.0),
        rtt_ms: Some(20.0),
        jitter_ms: Some(2.0),
        candidate_type: Some(crate::media::CandidateType::Host),
        transport: Some("udp"),
        video_fps: 30.0,
        video_seen: true,
        video_size: Some((320, 240)),
        last_media_age: Some(StdDuration::from_millis(20)),
        ..PeerHealth::default()
    }
}

fn snap(now: DateTime<Utc>, peers: &[(u64, bool, PeerHealth)]) -> MediaSnapshot {
    MediaSnapshot {
        peers: peers
            .iter()
            .map(|(id, connected, h)| {
                let stats = PeerStats {
                    connected: *connected,
                    peer: Some(PeerId(*id)),
                    health: h.clone(),
                    ..PeerStats::default()
                };
                (VisitId(5), Role::Lawyer, stats)
            })
            .collect(),
        taken_at: Some(now),
    }
}

fn kinds(events: &[AlertEvent], status: &str) -> Vec<AlertKind> {
    events
        .iter()
        .filter(|e| e.status == status)
        .map(|e| e.kind)
        .collect()
}

#[test]
fn view_has_roles_states_and_figures_but_no_identities() {
    let mut st = HealthState::default();
    let v = visit(vec![
        seat(lawyer(), Some(1), false),
        seat(booth(), Some(2), false),
    ]);
    let (view, events) = evaluate(
        &mut st,
        &v,
        &snap(
            t(0),
            &[(1, true, good()), (2, false, PeerHealth::default())],
        ),
        &Thresholds::default(),
        t(0),
    );
    assert!(events.is_empty());
    let vh = &view.visits[0];
    assert_eq!(vh.visit_id, "5");
    assert_eq!(vh.booth, "Booth 1");
    assert_eq!(vh.state, "waiting", "one of two connected");
    assert_eq!(vh.time_left_s, Some(600));
    assert_eq!(vh.warnings_sent, vec![300]);
    let l = &vh.participants[0];
    assert_eq!(
        (l.role, l.device, l.connection),
        ("lawyer", "browser", "connected")
    );
    assert_eq!((l.candidate_type, l.transport), (Some("host"), Some("udp")));
    assert_eq!(l.inbound.video_kbps, 300.0);
    assert_eq!(l.loss_pct, Some(0.0));
    assert_eq!(l.last_media_ms_ago, Some(20));
    assert_eq!(
        l.video,
        Some(VideoHealth {
            fps: 30.0,
            width: Some(320),
            height: Some(240)
        })
    );
    let b = &vh.participants[1];
    assert_eq!(
        (b.role, b.device, b.connection),
        ("booth", "booth", "connecting")
    );
    assert_eq!(b.video, None);

    // The JSON has exactly the published keys, and no account id or booth id.
    let json = serde_json::to_value(&view).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&json),
        ["alerts_active", "at", "system_alerts", "visits"]
    );
    assert_eq!(
        keys(&json["visits"][0]),
        [
            "alerts",
            "booth",
            "participants",
            "slot_end",
            "state",
            "time_left_s",
            "visit_id",
            "warnings_sent"
        ]
    );
    assert_eq!(
        keys(&json["visits"][0]["participants"][0]),
        [
            "candidate_type",
            "connection",
            "device",
            "inbound",
            "jitter_ms",
            "last_media_ms_ago",
            "loss_pct",
            "outbound",
            "reconnects",
            "role",
            "rtt_ms",
            "transport",
            "video"
        ]
    );
    let text = json.to_string();
    assert!(
        !text.contains(&LAWYER.to_string()) && !text.contains(BOOTH),
        "{text}"
    );

    // Both connected: live.
    let (view, _) = evaluate(
        &mut st,
        &v,
        &snap(t(1), &[(1, true, good()), (2, true, good())]),
        &Thresholds::default(),
        t(1),
    );
    assert_eq!(view.visits[0].state, "live");
}

/// Loss over 5 % must last 10 s before the alert; it is raised once and cleared when the
/// loss ends (live health alerts).
#[test]
fn loss_is_raised_after_the_window_once_and_cleared() {
    let lossy = PeerHealth {
        inbound_loss: Some(0.10),
        ..good()
    };
    let v = visit(vec![seat(lawyer(), Some(1), false)]);
    let th = Thresholds::default();
    let mut st = HealthState::default();
    // (second, loss, raised, cleared, active)
    let table: &[(i64, &PeerHealth, &[AlertKind], &[AlertKind], usize)] = &[
        (0, &lossy, &[], &[], 0),
        (5, &lossy, &[], &[], 0),
        (9, &lossy, &[], &[], 0),
        (10, &lossy, &[AlertKind::Loss], &[], 1),
        (11, &lossy, &[], &[], 1),
        (12, &good(), &[], &[AlertKind::Loss], 0),
        // A new episode starts its window afresh.
        (13, &lossy, &[], &[], 0),
        (14, &good(), &[], &[], 0),
        (15, &lossy, &[], &[], 0),
        (24, &lossy, &[], &[], 0),
        (25, &lossy, &[AlertKind::Loss], &[], 1),
    ];
    for (s, h, raised, cleared, active) in table {
        let (view, ev) = evaluate(
            &mut st,
            &v,
            &snap(t(*s), &[(1, true, (*h).clone())]),
            &th,
            t(*s),
        );
        assert_eq!(kinds(&ev, "raised"), *raised, "second {s}");
        assert_eq!(kinds(&ev, "cleared"), *cleared, "second {s}");
        assert_eq!(view.alerts_active, *active, "second {s}");
    }
    // The outbound loss the participant reports counts too (the worse of both).
    let mut st = HealthState::default();
    let reported = PeerHealth {
        outbound_loss: Some(0.2),
        ..good()
    };
    let (view, _) = evaluate(&mut st, &v, &snap(t(0), &[(1, true, reported)]), &th, t(0));
    assert_eq!(view.visits[0].participants[0].loss_pct, Some(20.0));
}

#[test]
fn rtt_and_no_media_follow_their_thresholds() {
    let v = visit(vec![seat(lawyer(), Some(1), false)]);
    let th = Thresholds::default();
    let mut st = HealthState::default();
    let h = |rtt: Option<f64>, media_ms: Option<u64>| PeerHealth {
        rtt_ms: rtt,
        last_media_age: media_ms.map(StdDuration::from_millis),
        ..good()
    };
    // (second, figures, raised, cleared)
    let table: Vec<(i64, PeerHealth, Vec<AlertKind>, Vec<AlertKind>)> = vec![
        (0, h(Some(400.0), Some(10)), vec![], vec![]),
        (1, h(Some(450.0), Some(10)), vec![AlertKind::Rtt], vec![]),
        // Unknown RTT keeps the alert as it is.
        (2, h(None, Some(10)), vec![], vec![]),
        (3, h(Some(100.0), Some(10)), vec![], vec![AlertKind::Rtt]),
        (4, h(Some(100.0), Some(5_000)), vec![], vec![]),
        (
            5,
            h(Some(100.0), Some(5_001)),
            vec![AlertKind::NoMedia],
            vec![],
        ),
        (6, h(Some(100.0), Some(9_000)), vec![], vec![]),
        (
            7,
            h(Some(100.0), Some(30)),
            vec![],
            vec![AlertKind::NoMedia],
        ),
    ];
    for (s, fig, raised, cleared) in table {
        let (_, ev) = evaluate(&mut st, &v, &snap(t(s), &[(1, true, fig)]), &th, t(s));
        assert_eq!(kinds(&ev, "raised"), raised, "second {s}");
        assert_eq!(kinds(&ev, "cleared"), cleared, "second {s}");
    }
}

/// A participant that connected and never sent anything is `no_media` after 5 s, counted
/// from its connection; the snapshot's own age is added to the packet age.
#[test]
fn no_media_counts_from_the_connection_and_the_snapshot_age() {
    let v = visit(vec![seat(lawyer(), Some(1), false)]);
    let th = Thresholds::default();
    let mut st = HealthState::default();
    let silent = PeerHealth {
        last_media_age: None,
        ..good()
    };
    let (_, ev) = evaluate(
        &mut st,
        &v,
        &snap(t(0), &[(1, true, silent.clone())]),
        &th,
        t(0),
    );
    assert!(ev.is_empty());
    let (_, ev) = evaluate(
        &mut st,
        &v,
        &snap(t(5), &[(1, true, silent.clone())]),
        &th,
        t(5),
    );
    assert!(ev.is_empty());
    let (_, ev) = evaluate(&mut st, &v, &snap(t(6), &[(1, true, silent)]), &th, t(6));
    assert_eq!(kinds(&ev, "raised"), [AlertKind::NoMedia]);

    let mut st = HealthState::default();
    let recent = PeerHealth {
        last_media_age: Some(StdDuration::from_secs(2)),
        ..good()
    };
    // Taken 4 s ago with a 2-second-old packet: 6 s without media.
    let (view, ev) = evaluate(&mut st, &v, &snap(t(0), &[(1, true, recent)]), &th, t(4));
    assert_eq!(kinds(&ev, "raised"), [AlertKind::NoMedia]);
    assert_eq!(
        view.visits[0].participants[0].last_media_ms_ago,
        Some(6_000)
    );
}

/// A dropped participant is `reconnecting` until its new connection is up; the return
/// counts in `reconnects`. A drop and return between two evaluations is still an episode.
#[test]
fn reconnecting_is_an_episode_and_returns_are_counted() {
    let th = Thresholds::default();
    let mut st = HealthState::default();
    let steps: Vec<(
        Vec<LiveSeatView>,
        Vec<(u64, bool, PeerHealth)>,
        Vec<&str>,
        &str,
        u32,
    )> = vec![
        (
            vec![seat(lawyer(), Some(1), false)],
            vec![(1, true, good())],
            vec![],
            "connected",
            0,
        ),
        (
            vec![seat(lawyer(), None, true)],
            vec![],
            vec!["raised"],
            "disconnected",
            0,
        ),
        // The new connection's seat is there (and the old one still): not up yet.
        (
            vec![seat(lawyer(), None, true), seat(lawyer(), Some(2), false)],
            vec![(2, false, PeerHealth::default())],
            vec![],
            "connecting",
            0,
        ),
        (
            vec![seat(lawyer(), Some(2), false)],
            vec![(2, true, good())],
            vec!["cleared"],
            "connected",
            1,
        ),
        // Straight to a third peer between two evaluations.
        (
            vec![seat(lawyer(), Some(3), false)],
            vec![(3, true, good())],
            vec!["raised", "cleared"],
            "connected",
            2,
        ),
    ];
    for (i, (seats, peers, statuses, connection, reconnects)) in steps.into_iter().enumerate() {
        let s = i as i64;
        let (view, ev) = evaluate(&mut st, &visit(seats), &snap(t(s), &peers), &th, t(s));
        let got: Vec<&str> = ev.iter().map(|e| e.status).collect();
        assert_eq!(got, statuses, "step {i}");
        assert!(ev
            .iter()
            .all(|e| e.kind == AlertKind::Reconnecting && e.role == "lawyer"));
        let p = &view.visits[0].participants;
        assert_eq!(p.len(), 1, "one entry per participant, step {i}");
        assert_eq!(
            (p[0].connection, p[0].reconnects),
            (connection, reconnects),
            "step {i}"
        );
    }
}

/// A participant who leaves (or whose visit ends) with an alert active: it is cleared.
#[test]
fn alerts_of_departed_participants_are_cleared() {
    let th = Thresholds::default();
    let mut st = HealthState::default();
    let slow = PeerHealth {
        rtt_ms: Some(900.0),
        ..good()
    };
    let v = visit(vec![seat(lawyer(), Some(1), false)]);
    let (view, ev) = evaluate(&mut st, &v, &snap(t(0), &[(1, true, slow)]), &th, t(0));
    assert_eq!(kinds(&ev, "raised"), [AlertKind::Rtt]);
    assert_eq!(view.visits[0].alerts[0].kind, AlertKind::Rtt);
    assert_eq!(view.visits[0].alerts[0].since, "2026-11-27T10:00:00Z");
    let (view, ev) = evaluate(&mut st, &[], &snap(t(1), &[]), &th, t(1));
    assert_eq!(kinds(&ev, "cleared"), [AlertKind::Rtt]);
    assert_eq!(ev[0].since, "2026-11-27T10:00:00Z");
    assert_eq!(view.alerts_active, 0);
    assert!(view.visits.is_empty());
}
