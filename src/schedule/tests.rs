//! Table tests of ordering, the fast lane and the 48-hour rule, and property tests of the
//! allocator over random request streams and booth inventories (R-ARRANGE-1, R-BOOK-1..5).

use super::timing::{self, Extension, Running};
use super::*;
use crate::ids::{AdminId, FacilityId};
use chrono::{NaiveDate, TimeZone, Weekday};
use proptest::prelude::*;
use std::collections::BTreeSet;

/// Monday 23 November 2026, 00:00 UTC.
fn monday() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
}

fn at(day: i64, h: i64, m: i64) -> DateTime<Utc> {
    monday() + Duration::days(day) + Duration::hours(h) + Duration::minutes(m)
}

/// Open 08:00-18:00 every weekday, UTC.
fn calendar() -> Calendar {
    use Weekday::*;
    Calendar {
        facility: FacilityId("f".into()),
        utc_offset_min: 0,
        hours: [Mon, Tue, Wed, Thu, Fri]
            .into_iter()
            .map(|weekday| OpeningHours {
                weekday,
                opens_min: 8 * 60,
                closes_min: 18 * 60,
            })
            .collect(),
        holidays: BTreeSet::new(),
        extended: Vec::new(),
        slot_lengths: SlotLengths::default(),
    }
}

fn booth(id: &str, kind: BoothKind) -> Booth {
    Booth {
        id: BoothId(id.into()),
        kind,
    }
}

fn walk_in(id: i64, ticket: u32, detainee: i64, minutes: i64, t: DateTime<Utc>) -> Request {
    Request {
        id: RequestId(id),
        lawyer: LawyerId(id),
        detainee: DetaineeId(detainee),
        length: Duration::minutes(minutes),
        arrival: Arrival::WalkIn { ticket },
        channel: Channel::Web,
        requested_at: t,
        interrogation_room_consent: false,
    }
}

fn booked(id: i64, detainee: i64, minutes: i64, when: DateTime<Utc>, t: DateTime<Utc>) -> Request {
    Request {
        arrival: Arrival::Booked { at: when },
        ..walk_in(id, 0, detainee, minutes, t)
    }
}

fn slot(d: &Decision) -> &Slot {
    match &d.outcome {
        Outcome::Placed(s) => s,
        other => panic!("request {} not placed: {other:?}", d.request),
    }
}

fn decision(ds: &[Decision], id: i64) -> &Decision {
    ds.iter().find(|d| d.request == RequestId(id)).unwrap()
}

#[test]
fn a_walk_in_when_every_booth_is_busy_is_queued_with_a_ticket_and_the_earliest_slot() {
    // R-BOOK-2: walk-ins are never refused; R-ARRANGE-1: told why, given the earliest slot.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let busy = [Existing {
        booth: BoothId("b1".into()),
        detainee: Some(DetaineeId(9)),
        starts_at: at(0, 8, 0),
        ends_at: at(0, 12, 0),
    }];
    let now = at(0, 9, 0);
    let ds = allocate(
        &calendar(),
        &booths,
        &busy,
        &[walk_in(1, 7, 1, 60, now)],
        now,
    );
    let s = slot(&ds[0]);
    assert_eq!(s.starts_at, at(0, 12, 0));
    assert_eq!(s.ticket, Some(7));
    assert_eq!(s.wait, Some(WaitReason::BoothsBusy));
}

#[test]
fn a_walk_in_with_a_free_booth_is_seen_at_once() {
    // R-ARRANGE-1: admitted at once when a booth is free.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(0, 9, 7);
    let ds = allocate(&calendar(), &booths, &[], &[walk_in(1, 1, 1, 45, now)], now);
    assert_eq!(slot(&ds[0]).starts_at, now);
    assert_eq!(slot(&ds[0]).wait, None);
}

#[test]
fn booked_lawyer_goes_before_a_walk_in_at_the_same_time() {
    // R-BOOK-1: booked lawyers are served first, even when the walk-in came earlier.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(0, 9, 0);
    let reqs = [
        walk_in(1, 1, 1, 60, now),
        booked(2, 2, 60, at(0, 9, 0), now + Duration::minutes(1)),
    ];
    let ds = allocate(&calendar(), &booths, &[], &reqs, now);
    assert_eq!(slot(decision(&ds, 2)).starts_at, at(0, 9, 0));
    assert_eq!(slot(decision(&ds, 1)).starts_at, at(0, 10, 0));
}

#[test]
fn walk_ins_are_served_in_ticket_order() {
    // R-BOOK-2, R-BOOK-4: first come, first served by ticket.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(0, 9, 0);
    let reqs = [
        walk_in(1, 3, 1, 60, now),
        walk_in(2, 1, 2, 60, now),
        walk_in(3, 2, 3, 60, now),
    ];
    let ds = allocate(&calendar(), &booths, &[], &reqs, now);
    let starts: Vec<_> = [2, 3, 1]
        .iter()
        .map(|id| slot(decision(&ds, *id)).starts_at)
        .collect();
    assert_eq!(starts, vec![at(0, 9, 0), at(0, 10, 0), at(0, 11, 0)]);
}

#[test]
fn fast_visits_go_to_fast_rooms_and_long_ones_never_do() {
    // R-BOOK-3: 30 minutes or less go to fast-visit booths and are served first there.
    let booths = [
        booth("room", BoothKind::LawyerRoom),
        booth("fast", BoothKind::FastRoom),
    ];
    let now = at(0, 9, 0);
    let reqs = [
        walk_in(1, 1, 1, 90, now),
        walk_in(2, 2, 2, 90, now),
        walk_in(3, 3, 3, 20, now),
        walk_in(4, 4, 4, 30, now),
    ];
    let ds = allocate(&calendar(), &booths, &[], &reqs, now);
    // The long requests queue for the lawyer room; the fast lane is not theirs.
    assert_eq!(slot(decision(&ds, 1)).booth.as_str(), "room");
    assert_eq!(slot(decision(&ds, 2)).booth.as_str(), "room");
    assert_eq!(slot(decision(&ds, 2)).starts_at, at(0, 10, 30));
    // The fast ones do not wait behind them.
    assert_eq!(slot(decision(&ds, 3)).booth.as_str(), "fast");
    assert_eq!(slot(decision(&ds, 3)).starts_at, at(0, 9, 0));
    assert_eq!(slot(decision(&ds, 4)).booth.as_str(), "fast");
    assert_eq!(slot(decision(&ds, 4)).starts_at, at(0, 9, 20));
}

#[test]
fn a_fast_visit_takes_a_lawyer_room_only_when_it_is_strictly_earlier() {
    let booths = [
        booth("room", BoothKind::LawyerRoom),
        booth("fast", BoothKind::FastRoom),
    ];
    let now = at(0, 9, 0);
    let busy_fast = Existing {
        booth: BoothId("fast".into()),
        detainee: None,
        starts_at: at(0, 9, 0),
        ends_at: at(0, 9, 30),
    };
    let ds = allocate(
        &calendar(),
        &booths,
        &[busy_fast],
        &[walk_in(1, 1, 1, 15, now)],
        now,
    );
    assert_eq!(slot(&ds[0]).booth.as_str(), "room");
    assert_eq!(slot(&ds[0]).starts_at, now);
}

#[test]
fn the_same_detainee_is_not_double_booked_the_second_lawyer_gets_the_next_free_time() {
    // R-ARRANGE-1, R-ARRANGE-4: the second lawyer gets the next free time, not a refusal.
    let booths = [
        booth("b1", BoothKind::LawyerRoom),
        booth("b2", BoothKind::LawyerRoom),
    ];
    let now = at(0, 8, 0);
    let reqs = [
        booked(1, 5, 60, at(0, 10, 0), now),
        booked(2, 5, 60, at(0, 10, 30), now),
    ];
    let ds = allocate(&calendar(), &booths, &[], &reqs, now);
    assert_eq!(slot(decision(&ds, 1)).starts_at, at(0, 10, 0));
    let second = slot(decision(&ds, 2));
    assert_eq!(second.starts_at, at(0, 11, 0));
    assert_eq!(second.wait, Some(WaitReason::DetaineeBusy));
}

#[test]
fn a_lawyer_can_book_back_to_back_visits_without_any_quota() {
    // R-ARRANGE-4: no cap on the number or total length of a lawyer's visits.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(0, 8, 0);
    let reqs: Vec<Request> = (0..10)
        .map(|i| Request {
            lawyer: LawyerId(1),
            ..booked(i, i, 60, at(0, 8 + i, 0), now)
        })
        .collect();
    let ds = allocate(&calendar(), &booths, &[], &reqs, now);
    for (i, d) in ds.iter().enumerate() {
        let s = slot(d);
        assert_eq!(s.starts_at, at(0, 8 + i as i64, 0));
        assert_eq!(s.wait, None);
    }
}

#[test]
fn the_deadline_is_48_hours_after_the_request() {
    // R-ARRANGE-1.
    let r = walk_in(1, 1, 1, 60, at(0, 9, 15));
    assert_eq!(r.deadline(), at(2, 9, 15));
}

#[test]
fn a_request_outside_opening_hours_starts_at_the_next_opening_and_says_why() {
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(0, 19, 0);
    let ds = allocate(&calendar(), &booths, &[], &[walk_in(1, 1, 1, 60, now)], now);
    assert_eq!(slot(&ds[0]).starts_at, at(1, 8, 0));
    assert_eq!(slot(&ds[0]).wait, Some(WaitReason::OutsideOpeningHours));
}

#[test]
fn friday_evening_with_no_weekend_hours_is_unplaced_and_escalated_never_refused() {
    // Friday 19:00: Monday 08:00 is 61 h away, beyond the 48-hour deadline.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(4, 19, 0);
    let ds = allocate(&calendar(), &booths, &[], &[walk_in(1, 1, 1, 60, now)], now);
    assert_eq!(
        ds[0].outcome,
        Outcome::Unplaced {
            deadline: at(6, 19, 0),
            escalation: Escalation::Raised
        }
    );
}

#[test]
fn after_a_breach_the_request_is_placed_at_the_earliest_slot_and_the_breach_is_told() {
    // R-ARRANGE-1: a missed deadline is counted, and the lawyer still gets the visit.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let asked = at(4, 19, 0);
    let now = at(6, 19, 30); // Sunday evening, past the deadline
    let ds = allocate(
        &calendar(),
        &booths,
        &[],
        &[walk_in(1, 1, 1, 60, asked)],
        now,
    );
    let s = slot(&ds[0]);
    assert_eq!(s.starts_at, at(7, 8, 0));
    assert_eq!(s.wait, Some(WaitReason::DeadlineMissed));
}

#[test]
fn an_approved_weekend_session_is_used_when_no_normal_slot_exists_before_the_deadline() {
    // R-BOOK-4: extended sessions only when the facility head approved them.
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(4, 19, 0);
    let mut cal = calendar();
    cal.extended.push(ExtendedSession {
        starts_at: at(5, 9, 0),
        ends_at: at(5, 12, 0),
        approved_by: None,
    });
    let r = [walk_in(1, 1, 1, 60, now)];
    let ds = allocate(&cal, &booths, &[], &r, now);
    assert!(
        matches!(ds[0].outcome, Outcome::Unplaced { .. }),
        "unapproved is unused"
    );
    cal.extended[0].approved_by = Some(AdminId(1));
    let ds = allocate(&cal, &booths, &[], &r, now);
    let s = slot(&ds[0]);
    assert_eq!((s.starts_at, s.session), (at(5, 9, 0), Session::Extended));
}

#[test]
fn an_approved_evening_session_is_not_used_while_a_normal_slot_exists() {
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let now = at(0, 17, 30);
    let mut cal = calendar();
    cal.extended.push(ExtendedSession {
        starts_at: at(0, 18, 0),
        ends_at: at(0, 21, 0),
        approved_by: Some(AdminId(1)),
    });
    let ds = allocate(&cal, &booths, &[], &[walk_in(1, 1, 1, 60, now)], now);
    let s = slot(&ds[0]);
    assert_eq!((s.starts_at, s.session), (at(1, 8, 0), Session::Normal));
}

#[test]
fn escalation_levels_follow_the_deadline() {
    // R-ARRANGE-1: escalate 12 h and 2 h before the deadline; a breach once it passes.
    let d = at(2, 9, 0);
    let table = [
        (Duration::hours(30), Escalation::Raised),
        (Duration::hours(12), Escalation::TwelveHours),
        (Duration::hours(3), Escalation::TwelveHours),
        (Duration::hours(2), Escalation::TwoHours),
        (Duration::minutes(1), Escalation::TwoHours),
        (Duration::zero(), Escalation::Breached),
        (-Duration::hours(1), Escalation::Breached),
    ];
    for (left, want) in table {
        assert_eq!(Escalation::at(d, d - left), want, "{left}");
    }
}

#[test]
fn an_interrogation_room_is_borrowed_only_with_consent_and_when_the_others_are_full() {
    // R-BOOK-5, R-PRIV-2.
    let booths = [
        booth("room", BoothKind::LawyerRoom),
        booth("interrogation", BoothKind::InterrogationRoom),
    ];
    let now = at(0, 9, 0);
    let full = Existing {
        booth: BoothId("room".into()),
        detainee: None,
        starts_at: at(0, 8, 0),
        ends_at: at(0, 12, 0),
    };
    let without = walk_in(1, 1, 1, 60, now);
    let with = Request {
        interrogation_room_consent: true,
        ..without.clone()
    };
    let ds = allocate(
        &calendar(),
        &booths,
        std::slice::from_ref(&full),
        &[without],
        now,
    );
    assert_eq!(slot(&ds[0]).booth.as_str(), "room");
    let ds = allocate(
        &calendar(),
        &booths,
        &[full],
        std::slice::from_ref(&with),
        now,
    );
    assert_eq!(slot(&ds[0]).booth.as_str(), "interrogation");
    assert_eq!(slot(&ds[0]).starts_at, now);
    // With the lawyer room free, consent alone does not send the lawyer there.
    let ds = allocate(&calendar(), &booths, &[], &[with], now);
    assert_eq!(slot(&ds[0]).booth.as_str(), "room");
}

#[test]
fn opening_hours_are_in_the_facility_local_time_and_holidays_close_it() {
    let mut cal = calendar();
    cal.utc_offset_min = 7 * 60; // UTC+7: 08:00 local is 01:00 UTC.
    let w = cal.normal_windows(at(0, 0, 0), at(1, 0, 0));
    assert_eq!(w, vec![(at(0, 1, 0), at(0, 11, 0))]);
    cal.holidays
        .insert(NaiveDate::from_ymd_opt(2026, 11, 23).unwrap());
    assert!(cal.normal_windows(at(0, 0, 0), at(1, 0, 0)).is_empty());
}

#[test]
fn rooms_per_100_detainees_is_reported_against_the_norm_of_4() {
    assert_eq!(rooms_per_100(4, 100), Some(4.0));
    assert_eq!(rooms_per_100(3, 200), Some(1.5));
    assert_eq!(rooms_per_100(3, 0), None);
}

#[test]
fn busy_intervals_merge_and_report_the_block_end() {
    let mut b = Busy::default();
    b.insert(at(0, 9, 0), at(0, 10, 0));
    b.insert(at(0, 10, 0), at(0, 11, 0));
    b.insert(at(0, 12, 0), at(0, 13, 0));
    assert_eq!(b.conflict(at(0, 9, 30), at(0, 9, 45)), Some(at(0, 11, 0)));
    assert_eq!(b.conflict(at(0, 11, 0), at(0, 12, 0)), None);
    b.insert(at(0, 10, 30), at(0, 12, 30));
    assert_eq!(b.conflict(at(0, 11, 0), at(0, 11, 1)), Some(at(0, 13, 0)));
}

// --- timing ---

fn running() -> Running {
    Running {
        visit: Existing {
            booth: BoothId("b1".into()),
            detainee: Some(DetaineeId(1)),
            starts_at: at(0, 9, 0),
            ends_at: at(0, 10, 0),
        },
        lawyer: LawyerId(1),
        detainee: DetaineeId(1),
    }
}

#[test]
fn an_extension_is_granted_when_the_booth_is_free_and_otherwise_the_next_slot_is_offered() {
    let booths = [booth("b1", BoothKind::LawyerRoom)];
    let r = running();
    let now = at(0, 9, 50);
    let free = timing::extension(
        &calendar(),
        &booths,
        std::slice::from_ref(&r.visit),
        &r,
        Duration::minutes(15),
        now,
        RequestId(0),
    );
    assert_eq!(
        free,
        Extension::Granted {
            new_end: at(0, 10, 15)
        }
    );
    let next = Existing {
        booth: BoothId("b1".into()),
        detainee: Some(DetaineeId(2)),
        starts_at: at(0, 10, 10),
        ends_at: at(0, 11, 0),
    };
    let busy = timing::extension(
        &calendar(),
        &booths,
        &[r.visit.clone(), next],
        &r,
        Duration::minutes(15),
        now,
        RequestId(0),
    );
    match busy {
        Extension::OfferNextSlot(d) => assert_eq!(slot(&d).starts_at, at(0, 11, 0)),
        other => panic!("{other:?}"),
    }
}

// --- properties ---

const STEP: i64 = 5; // minutes: every time in the generated worlds is a multiple of this

#[derive(Debug, Clone)]
struct World {
    cal: Calendar,
    booths: Vec<Booth>,
    existing: Vec<Existing>,
    requests: Vec<Request>,
    now: DateTime<Utc>,
}

fn kind_strategy() -> impl Strategy<Value = BoothKind> {
    prop_oneof![
        3 => Just(BoothKind::LawyerRoom),
        2 => Just(BoothKind::FastRoom),
        1 => Just(BoothKind::InterrogationRoom),
    ]
}

fn world() -> impl Strategy<Value = World> {
    let booths = prop::collection::vec(kind_strategy(), 1..6);
    let existing = prop::collection::vec((0usize..6, 0i64..5, 0i64..(72 * 12), 1i64..24), 0..8);
    let requests = prop::collection::vec(
        (
            0i64..5,                           // detainee
            1i64..25,                          // length in steps (5..120 min)
            prop::option::of(0i64..(40 * 12)), // booked offset from request, in steps
            0i64..(24 * 12),                   // requested at, offset from now in steps
            any::<bool>(),                     // consent
        ),
        1..40,
    );
    let extended = prop::option::of((0i64..(72 * 12), 1i64..60, any::<bool>()));
    (booths, existing, requests, extended, 0i64..(5 * 24 * 12)).prop_map(
        |(kinds, ex, reqs, extended, start)| {
            let now = monday() + Duration::minutes(start * STEP);
            let mut cal = calendar();
            if let Some((s, len, approved)) = extended {
                let s = now + Duration::minutes(s * STEP);
                cal.extended.push(ExtendedSession {
                    starts_at: s,
                    ends_at: s + Duration::minutes(len * STEP),
                    approved_by: approved.then_some(AdminId(1)),
                });
            }
            let booths: Vec<Booth> = kinds
                .iter()
                .enumerate()
                .map(|(i, k)| booth(&format!("b{i}"), *k))
                .collect();
            // Existing visits are consistent among themselves (placed by the allocator).
            let mut busy_b: Vec<Busy> = vec![Busy::default(); booths.len()];
            let mut busy_d: HashMap<i64, Busy> = HashMap::new();
            let mut existing = Vec::new();
            for (b, d, s, len) in ex {
                let b = b % booths.len();
                let s = now + Duration::minutes(s * STEP);
                let e = s + Duration::minutes(len * STEP);
                let db = busy_d.entry(d).or_default();
                if busy_b[b].conflict(s, e).is_none() && db.conflict(s, e).is_none() {
                    busy_b[b].insert(s, e);
                    db.insert(s, e);
                    existing.push(Existing {
                        booth: booths[b].id.clone(),
                        detainee: Some(DetaineeId(d)),
                        starts_at: s,
                        ends_at: e,
                    });
                }
            }
            let requests = reqs
                .into_iter()
                .enumerate()
                .map(|(i, (d, len, booked_off, req_off, consent))| {
                    let t = now + Duration::minutes(req_off * STEP) - Duration::hours(12);
                    let arrival = match booked_off {
                        Some(o) => Arrival::Booked {
                            at: t + Duration::minutes(o * STEP),
                        },
                        None => Arrival::WalkIn {
                            ticket: i as u32 + 1,
                        },
                    };
                    Request {
                        id: RequestId(i as i64),
                        lawyer: LawyerId(i as i64 % 3),
                        detainee: DetaineeId(d),
                        length: Duration::minutes(len * STEP),
                        arrival,
                        channel: Channel::Web,
                        requested_at: t,
                        interrogation_room_consent: consent,
                    }
                })
                .collect();
            World {
                cal,
                booths,
                existing,
                requests,
                now,
            }
        },
    )
}

fn allowed(r: &Request, kind: BoothKind) -> bool {
    match kind {
        BoothKind::LawyerRoom => true,
        BoothKind::FastRoom => r.is_fast(),
        BoothKind::InterrogationRoom => r.interrogation_room_consent,
    }
}

/// Brute force: the earliest feasible start for `r` over the allowed booths, stepping
/// every `STEP` minutes, against `timetable`.
fn brute_earliest(
    w: &World,
    windows: &[Window],
    timetable: &[Existing],
    r: &Request,
) -> Option<DateTime<Utc>> {
    let earliest = r.earliest(w.now);
    let mut t = earliest;
    while t < r.deadline() {
        let e = t + r.length;
        if Calendar::covers(windows, t, e) {
            let detainee_free = !timetable
                .iter()
                .any(|x| x.detainee == Some(r.detainee) && x.starts_at < e && x.ends_at > t);
            let booth_free = w.booths.iter().any(|b| {
                allowed(r, b.kind)
                    && !timetable
                        .iter()
                        .any(|x| x.booth == b.id && x.starts_at < e && x.ends_at > t)
            });
            if detainee_free && booth_free {
                return Some(t);
            }
        }
        t += Duration::minutes(STEP);
    }
    None
}

fn overlaps(a: &Existing, b: &Existing) -> bool {
    a.starts_at < b.ends_at && b.starts_at < a.ends_at
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// For random request streams against random booth inventories: one decision per
    /// request, no booth or detainee double-booked, every slot inside opening hours (or an
    /// approved session) and starting before the deadline, long requests never on fast
    /// booths, interrogation rooms only with consent, and every request gets the earliest
    /// slot that exists when it is placed, so an unplaced request truly had no capacity.
    #[test]
    fn every_request_gets_the_earliest_slot_before_its_deadline_whenever_capacity_exists(w in world()) {
        let ds = allocate(&w.cal, &w.booths, &w.existing, &w.requests, w.now);
        prop_assert_eq!(ds.len(), w.requests.len());
        let until = w.now + Duration::days(6);
        let normal = w.cal.normal_windows(w.now, until);
        let extended = w.cal.extended_windows(w.now, until);
        let mut timetable = w.existing.clone();
        for d in &ds {
            let r = w.requests.iter().find(|r| r.id == d.request).unwrap();
            let best_normal = brute_earliest(&w, &normal, &timetable, r);
            match &d.outcome {
                Outcome::Placed(s) => {
                    let kind = w.booths.iter().find(|b| b.id == s.booth).unwrap().kind;
                    prop_assert!(allowed(r, kind), "{:?} on {:?}", r, kind);
                    prop_assert_eq!(s.ends_at - s.starts_at, r.length);
                    prop_assert!(s.starts_at >= r.earliest(w.now));
                    prop_assert!(s.starts_at < r.deadline());
                    match s.session {
                        Session::Normal => {
                            prop_assert_eq!(Some(s.starts_at), best_normal);
                        }
                        Session::Extended => {
                            prop_assert_eq!(best_normal, None, "extended used while a normal slot existed");
                            prop_assert_eq!(Some(s.starts_at), brute_earliest(&w, &extended, &timetable, r));
                        }
                    }
                    let placed = Existing {
                        booth: s.booth.clone(),
                        detainee: Some(r.detainee),
                        starts_at: s.starts_at,
                        ends_at: s.ends_at,
                    };
                    for x in &timetable {
                        prop_assert!(!(x.booth == placed.booth && overlaps(x, &placed)), "booth double-booked");
                        prop_assert!(!(x.detainee == placed.detainee && overlaps(x, &placed)), "detainee double-booked");
                    }
                    timetable.push(placed);
                }
                Outcome::Unplaced { deadline, escalation } => {
                    prop_assert_eq!(*deadline, r.deadline());
                    prop_assert_eq!(*escalation, Escalation::at(r.deadline(), w.now));
                    prop_assert_eq!(best_normal, None);
                    prop_assert_eq!(brute_earliest(&w, &extended, &timetable, r), None);
                }
            }
        }
    }

    /// Booked beats walk-in: the walk-ins present never change what the bookings get.
    #[test]
    fn walk_ins_never_change_what_booked_requests_get(w in world()) {
        let all = allocate(&w.cal, &w.booths, &w.existing, &w.requests, w.now);
        let booked: Vec<Request> = w
            .requests
            .iter()
            .filter(|r| matches!(r.arrival, Arrival::Booked { .. }))
            .cloned()
            .collect();
        let alone = allocate(&w.cal, &w.booths, &w.existing, &booked, w.now);
        for d in alone {
            prop_assert_eq!(Some(&d), all.iter().find(|x| x.request == d.request));
        }
    }

    /// R-BOOK-3: only fast requests are ever placed on a fast booth, so a fast request
    /// never waits behind a long one there.
    #[test]
    fn fast_requests_never_wait_behind_long_ones_on_a_fast_booth(w in world()) {
        let ds = allocate(&w.cal, &w.booths, &w.existing, &w.requests, w.now);
        for d in &ds {
            if let Outcome::Placed(s) = &d.outcome {
                let r = w.requests.iter().find(|r| r.id == d.request).unwrap();
                if s.booth_kind == BoothKind::FastRoom {
                    prop_assert!(r.is_fast());
                }
            }
        }
    }
}
