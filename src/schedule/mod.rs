//! Bookings, the walk-in queue, the fast lane, the 48-hour deadline and booth
//! allocation (R-ARRANGE-1, R-ARRANGE-2, R-ARRANGE-4, R-BOOK-1..5, R-PRIV-2).
//!
//! The core is pure: [`allocate`] takes the facility's [`Calendar`], its [`Booth`]s, the
//! visits already placed ([`Existing`]), the requests to place ([`Request`]) and `now`,
//! and returns one [`Decision`] per request. It never reads a clock and never refuses:
//! a request that cannot be placed before its deadline stays queued ([`Outcome::Unplaced`])
//! with an escalation level for staff (raised at once, then at 12 h and 2 h before the
//! deadline, and a breach when it passes). [`timing`] holds the pure extension decision
//! (the warnings and the end of a live slot are `crate::visit::timing`'s). The rows are in
//! `crate::store::schedule`.
//!
//! Around the core, each in its own file and named by its path (this file re-exports none
//! of them, so the core depends on nothing above it, docs/DESIGN.md invariant 9):
//! [`service::Scheduler`] (with [`calendar`], [`queues`], [`refusal`]) is the handle the
//! edges and the escalation driver ([`escalation`]) call; it owns the per-facility decision
//! locks. [`views`] are what it shows and is asked. The HTTP edges are
//! [`routes_lawyer::routes`] (public listener) and [`routes_admin::admin_routes`] (admin
//! listener), with the mapping of [`http`].
//!
//! Rules, in the order the allocator applies them:
//! - Booked requests are placed first, in order of booked time, at their booked time or
//!   the next free time after it (R-BOOK-1); then walk-ins, first come first served by
//!   ticket number (R-BOOK-2).
//! - A request of 30 minutes or less is a fast request: it goes to a fast-visit room,
//!   and to a lawyer room only when that gives a strictly earlier start (R-BOOK-3).
//!   Longer requests never take a fast-visit room, so a fast request never waits behind
//!   a long one there.
//! - A borrowed interrogation room is used only when the request carries the lawyer's
//!   consent and every other allowed room is full at the time it offers, i.e. it starts
//!   strictly earlier than any other room could (R-BOOK-5, R-PRIV-2).
//! - No booth and no detainee is ever double-booked; a detainee already seen by another
//!   lawyer gets the next free time, not a refusal.
//! - No per-lawyer quota exists: a lawyer's own visits never block each other (R-ARRANGE-4).
//! - The earliest start is chosen within opening hours; approved extended sessions are
//!   used only when no normal-hours slot exists before the deadline.
//!
//! Efficiency: each booth and each detainee keeps its busy time as merged, sorted
//! intervals (a `BTreeMap`), so finding the next free start skips whole busy blocks in
//! `O(log n)` each instead of scanning every booking.
//!
//! What the pure core (this file and [`timing`]) deliberately does not do: check
//! documents, licences or case permissions (that is `policy` at join time), read the
//! clock, or touch the database. [`service::Scheduler`] is its driver: it reads the timetable from
//! the store, asks the core, audits the decision, then writes it.

pub mod calendar;
pub mod escalation;
pub mod http;
pub mod queues;
pub mod refusal;
pub mod routes_admin;
pub mod routes_lawyer;
pub mod service;
pub mod timing;
pub mod views;

#[cfg(test)]
mod tests;

use crate::ids::{BoothId, DetaineeId, LawyerId};
use crate::store::schedule::RequestRow;
use chrono::{DateTime, Datelike, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub use crate::model::schedule::{
    Booth, BoothKind, Calendar, Channel, Existing, ExtendedSession, OpeningHours, RequestId,
    SlotLengths,
};

/// How long after a request confer has to give the lawyer a slot (R-ARRANGE-1).
pub const DEADLINE: Duration = Duration::hours(48);
/// A visit of this length or less is a fast visit (R-BOOK-3).
pub const FAST_VISIT: Duration = Duration::minutes(30);
/// Staff are alerted this long before a deadline if the request is still unplaced.
pub const ESCALATE_12H: Duration = Duration::hours(12);
pub const ESCALATE_2H: Duration = Duration::hours(2);
/// Once a deadline has passed (a breach), the request is placed at the earliest slot
/// within this horizon: the breach is counted, the lawyer still gets the visit.
pub const AFTER_BREACH: Duration = Duration::days(7);
/// The planning norm of lawyer rooms per 100 detainees (R-BOOK-5).
pub const ROOMS_PER_100_NORM: f64 = 4.0;

/// The default slot lengths (configurable per facility); a fast-visit room's slot is a
/// fast visit (R-BOOK-3).
impl Default for SlotLengths {
    fn default() -> Self {
        SlotLengths {
            lawyer_room: Duration::minutes(60),
            fast_room: FAST_VISIT,
            interrogation_room: Duration::minutes(60),
        }
    }
}

/// A half-open interval of UTC time `[start, end)`.
pub type Window = (DateTime<Utc>, DateTime<Utc>);

impl Calendar {
    /// The normal opening windows (UTC, sorted, merged) overlapping `[from, until)`.
    pub fn normal_windows(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Window> {
        let offset = Duration::minutes(self.utc_offset_min as i64);
        let mut out = Vec::new();
        if until <= from {
            return out;
        }
        let first = (from + offset).date_naive() - Duration::days(1);
        let last = (until + offset).date_naive() + Duration::days(1);
        let mut day = first;
        while day <= last {
            if !self.holidays.contains(&day) {
                for h in self.hours.iter().filter(|h| h.weekday == day.weekday()) {
                    if h.closes_min <= h.opens_min || h.closes_min > 1440 {
                        continue;
                    }
                    let midnight = day.and_hms_opt(0, 0, 0).map(|t| t.and_utc() - offset);
                    if let Some(m) = midnight {
                        let s = m + Duration::minutes(h.opens_min as i64);
                        let e = m + Duration::minutes(h.closes_min as i64);
                        if e > from && s < until {
                            out.push((s.max(from), e.min(until)));
                        }
                    }
                }
            }
            day += Duration::days(1);
        }
        merge(out)
    }

    /// Normal windows plus approved extended sessions, merged.
    pub fn extended_windows(&self, from: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Window> {
        let mut w = self.normal_windows(from, until);
        for x in self.extended.iter().filter(|x| x.approved_by.is_some()) {
            if x.ends_at > from && x.starts_at < until && x.ends_at > x.starts_at {
                w.push((x.starts_at.max(from), x.ends_at.min(until)));
            }
        }
        merge(w)
    }

    /// Whether `[s, e)` lies inside one window of `windows`.
    pub fn covers(windows: &[Window], s: DateTime<Utc>, e: DateTime<Utc>) -> bool {
        let i = windows.partition_point(|w| w.1 <= s);
        windows.get(i).is_some_and(|w| w.0 <= s && e <= w.1)
    }
}

fn merge(mut w: Vec<Window>) -> Vec<Window> {
    w.sort();
    let mut out: Vec<Window> = Vec::with_capacity(w.len());
    for (s, e) in w {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// Booked for a time, or a walk-in with its queue ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    Booked { at: DateTime<Utc> },
    WalkIn { ticket: u32 },
}

/// A request to see a detainee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub lawyer: LawyerId,
    pub detainee: DetaineeId,
    pub length: Duration,
    pub arrival: Arrival,
    pub channel: Channel,
    pub requested_at: DateTime<Utc>,
    /// The lawyer consented in writing to a borrowed interrogation room (R-PRIV-2).
    pub interrogation_room_consent: bool,
}

impl Request {
    /// The slot must start before this (R-ARRANGE-1).
    pub fn deadline(&self) -> DateTime<Utc> {
        self.requested_at + DEADLINE
    }

    pub fn is_fast(&self) -> bool {
        self.length <= FAST_VISIT
    }

    /// The earliest start the request asks for.
    fn earliest(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self.arrival {
            Arrival::Booked { at } => at.max(now),
            Arrival::WalkIn { .. } => self.requested_at.max(now),
        }
    }

    /// Allocation order: booked by time first, then walk-ins by ticket.
    fn order_key(&self) -> (u8, i64, i64, i64) {
        match self.arrival {
            Arrival::Booked { at } => (
                0,
                at.timestamp_millis(),
                self.requested_at.timestamp_millis(),
                self.id.0,
            ),
            Arrival::WalkIn { ticket } => (
                1,
                ticket as i64,
                self.requested_at.timestamp_millis(),
                self.id.0,
            ),
        }
    }
}

/// Whether the slot lies in normal opening hours or an approved extended session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Session {
    Normal,
    Extended,
}

/// Why a slot does not start at the time asked for. Told to the lawyer; never a refusal
/// (R-ARRANGE-1, R-ARRANGE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitReason {
    /// The facility is closed at the time asked for.
    OutsideOpeningHours,
    /// Every suitable booth is in use at the time asked for.
    BoothsBusy,
    /// The detainee is with another lawyer at the time asked for.
    DetaineeBusy,
    /// No slot exists yet before the deadline; staff have been alerted.
    NoSlotBeforeDeadline,
    /// The deadline passed without a slot (a breach, counted); this is the earliest one.
    DeadlineMissed,
}

impl WaitReason {
    pub fn code(self) -> &'static str {
        match self {
            WaitReason::OutsideOpeningHours => "outside_opening_hours",
            WaitReason::BoothsBusy => "booths_busy",
            WaitReason::DetaineeBusy => "detainee_busy",
            WaitReason::NoSlotBeforeDeadline => "no_slot_before_deadline",
            WaitReason::DeadlineMissed => "deadline_missed",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            WaitReason::OutsideOpeningHours => {
                "The facility is closed at that time, so your visit starts at the next opening."
            }
            WaitReason::BoothsBusy => {
                "All suitable booths are in use at that time, so you have the earliest free slot."
            }
            WaitReason::DetaineeBusy => {
                "Your client is with another lawyer at that time, so you have the next free time."
            }
            WaitReason::NoSlotBeforeDeadline => {
                "No booth is free yet before your 48-hour deadline. Your request stays in the queue and facility staff have been alerted to make room; you will be given a slot."
            }
            WaitReason::DeadlineMissed => {
                "The facility missed the 48-hour deadline for your visit; this is recorded as a breach and reported. This is the earliest slot."
            }
        }
    }
}

/// How urgently staff must act on a request that has no slot yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Escalation {
    /// No slot before the deadline: staff are told at once.
    Raised,
    /// 12 hours or less before the deadline.
    TwelveHours,
    /// 2 hours or less before the deadline.
    TwoHours,
    /// The deadline has passed: a breach of R-ARRANGE-1, counted in reports.
    Breached,
}

impl Escalation {
    pub fn as_str(self) -> &'static str {
        match self {
            Escalation::Raised => "raised",
            Escalation::TwelveHours => "twelve_hours",
            Escalation::TwoHours => "two_hours",
            Escalation::Breached => "breached",
        }
    }

    /// The level for an unplaced request with this deadline at `now`.
    pub fn at(deadline: DateTime<Utc>, now: DateTime<Utc>) -> Escalation {
        let left = deadline - now;
        if left <= Duration::zero() {
            Escalation::Breached
        } else if left <= ESCALATE_2H {
            Escalation::TwoHours
        } else if left <= ESCALATE_12H {
            Escalation::TwelveHours
        } else {
            Escalation::Raised
        }
    }
}

/// A slot given to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub booth: BoothId,
    pub booth_kind: BoothKind,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// The walk-in's queue ticket (R-BOOK-4), `None` for bookings.
    pub ticket: Option<u32>,
    pub session: Session,
    /// Set when the slot starts later than asked: what the lawyer is told.
    pub wait: Option<WaitReason>,
}

/// What happened to one request. There is no refusal variant (R-ARRANGE-2, R-BOOK-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Placed(Slot),
    /// Still queued: no slot exists before the deadline now; staff are escalated to.
    Unplaced {
        deadline: DateTime<Utc>,
        escalation: Escalation,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub request: RequestId,
    pub outcome: Outcome,
}

/// Busy time as merged, sorted, non-overlapping intervals `start -> end`.
#[derive(Debug, Clone, Default)]
pub struct Busy(BTreeMap<DateTime<Utc>, DateTime<Utc>>);

impl Busy {
    /// If `[s, e)` overlaps busy time, the end of the busy block it hits.
    pub fn conflict(&self, s: DateTime<Utc>, e: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Blocks are disjoint and sorted, so only the last block starting before `e` can
        // reach past `s`.
        let (_, &end) = self.0.range(..e).next_back()?;
        (end > s).then_some(end)
    }

    pub fn insert(&mut self, mut s: DateTime<Utc>, mut e: DateTime<Utc>) {
        if e <= s {
            return;
        }
        // Absorb every block touching [s, e].
        while let Some((&bs, &be)) = self.0.range(..=e).next_back() {
            if be < s {
                break;
            }
            self.0.remove(&bs);
            s = s.min(bs);
            e = e.max(be);
        }
        self.0.insert(s, e);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The earliest `t >= earliest`, `t < deadline`, with `[t, t+len)` inside one window and
/// free in both `booth` and `detainee`.
pub fn find_start(
    windows: &[Window],
    booth: &Busy,
    detainee: Option<&Busy>,
    earliest: DateTime<Utc>,
    len: Duration,
    deadline: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let mut t = earliest;
    let mut wi = windows.partition_point(|w| w.1 <= t);
    loop {
        let &(ws, we) = windows.get(wi)?;
        if t < ws {
            t = ws;
        }
        if t >= deadline {
            return None;
        }
        if t + len > we {
            wi += 1;
            continue;
        }
        if let Some(end) = booth.conflict(t, t + len) {
            t = end;
            continue;
        }
        if let Some(end) = detainee.and_then(|d| d.conflict(t, t + len)) {
            t = end;
            continue;
        }
        return Some(t);
    }
}

/// The state the allocator places requests into; build it once, then [`Allocator::place`]
/// each request in order. [`allocate`] does both.
pub struct Allocator<'a> {
    booths: &'a [Booth],
    booth_busy: Vec<Busy>,
    detainee_busy: HashMap<DetaineeId, Busy>,
    normal: Vec<Window>,
    extended: Vec<Window>,
    now: DateTime<Utc>,
}

impl<'a> Allocator<'a> {
    /// `until`: the latest deadline that will be asked about.
    pub fn new(
        cal: &Calendar,
        booths: &'a [Booth],
        existing: &[Existing],
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Self {
        let index: HashMap<&BoothId, usize> =
            booths.iter().enumerate().map(|(i, b)| (&b.id, i)).collect();
        let mut booth_busy = vec![Busy::default(); booths.len()];
        let mut detainee_busy: HashMap<DetaineeId, Busy> = HashMap::new();
        for x in existing {
            if let Some(&i) = index.get(&x.booth) {
                booth_busy[i].insert(x.starts_at, x.ends_at);
            }
            if let Some(d) = x.detainee {
                detainee_busy
                    .entry(d)
                    .or_default()
                    .insert(x.starts_at, x.ends_at);
            }
        }
        let until = until.max(now + AFTER_BREACH);
        let normal = cal.normal_windows(now, until);
        let extended = cal.extended_windows(now, until);
        Allocator {
            booths,
            booth_busy,
            detainee_busy,
            normal,
            extended,
            now,
        }
    }

    /// The best (booth index, start) of `kind` in `windows`, earliest first, ties to the
    /// first booth listed.
    fn best_of(
        &self,
        kind: BoothKind,
        windows: &[Window],
        r: &Request,
        earliest: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<(usize, DateTime<Utc>)> {
        let det = self.detainee_busy.get(&r.detainee);
        let mut best: Option<(usize, DateTime<Utc>)> = None;
        for (i, b) in self.booths.iter().enumerate() {
            if b.kind != kind {
                continue;
            }
            // A later booth must beat the best start strictly, so search only before it.
            let limit = best.map_or(horizon, |(_, t)| t.min(horizon));
            if let Some(t) =
                find_start(windows, &self.booth_busy[i], det, earliest, r.length, limit)
            {
                best = Some((i, t));
                if t == earliest {
                    break;
                }
            }
        }
        best
    }

    fn best_in(
        &self,
        windows: &[Window],
        r: &Request,
        earliest: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> Option<(usize, DateTime<Utc>)> {
        let earlier =
            |a: Option<(usize, DateTime<Utc>)>, b: Option<(usize, DateTime<Utc>)>| match (a, b) {
                (Some(x), Some(y)) if y.1 < x.1 => Some(y),
                (None, y) => y,
                (x, _) => x,
            };
        let mut pick = if r.is_fast() {
            let fast = self.best_of(BoothKind::FastRoom, windows, r, earliest, horizon);
            let room = self.best_of(BoothKind::LawyerRoom, windows, r, earliest, horizon);
            earlier(fast, room)
        } else {
            self.best_of(BoothKind::LawyerRoom, windows, r, earliest, horizon)
        };
        if r.interrogation_room_consent {
            let borrowed =
                self.best_of(BoothKind::InterrogationRoom, windows, r, earliest, horizon);
            pick = earlier(pick, borrowed);
        }
        pick
    }

    /// Place one request (updating the timetable) and say what happened.
    pub fn place(&mut self, r: &Request) -> Decision {
        let earliest = r.earliest(self.now);
        // Past its deadline a request is placed at the earliest slot there is (the breach
        // stays counted); before it, only slots starting before the deadline count.
        let breached = self.now >= r.deadline();
        let horizon = if breached {
            self.now + AFTER_BREACH
        } else {
            r.deadline()
        };
        let mut session = Session::Normal;
        let mut found = self.best_in(&self.normal, r, earliest, horizon);
        if found.is_none() && self.extended != self.normal {
            found = self.best_in(&self.extended, r, earliest, horizon);
            session = Session::Extended;
        }
        let outcome = match found {
            Some((i, start)) => {
                let end = start + r.length;
                let wait = if breached {
                    Some(WaitReason::DeadlineMissed)
                } else {
                    (start > earliest).then(|| self.wait_reason(r, earliest))
                };
                self.booth_busy[i].insert(start, end);
                self.detainee_busy
                    .entry(r.detainee)
                    .or_default()
                    .insert(start, end);
                let b = &self.booths[i];
                Outcome::Placed(Slot {
                    booth: b.id.clone(),
                    booth_kind: b.kind,
                    starts_at: start,
                    ends_at: end,
                    ticket: match r.arrival {
                        Arrival::WalkIn { ticket } => Some(ticket),
                        Arrival::Booked { .. } => None,
                    },
                    session,
                    wait,
                })
            }
            None => Outcome::Unplaced {
                deadline: r.deadline(),
                escalation: Escalation::at(r.deadline(), self.now),
            },
        };
        Decision {
            request: r.id,
            outcome,
        }
    }

    fn wait_reason(&self, r: &Request, earliest: DateTime<Utc>) -> WaitReason {
        let end = earliest + r.length;
        if !Calendar::covers(&self.normal, earliest, end) {
            return WaitReason::OutsideOpeningHours;
        }
        if self
            .detainee_busy
            .get(&r.detainee)
            .is_some_and(|d| d.conflict(earliest, end).is_some())
        {
            return WaitReason::DetaineeBusy;
        }
        WaitReason::BoothsBusy
    }
}

/// Place `requests` (booked first by time, then walk-ins by ticket) around `existing`.
/// Returns one decision per request, in the order they were placed.
pub fn allocate(
    cal: &Calendar,
    booths: &[Booth],
    existing: &[Existing],
    requests: &[Request],
    now: DateTime<Utc>,
) -> Vec<Decision> {
    let until = requests
        .iter()
        .map(|r| r.deadline())
        .max()
        .unwrap_or(now)
        .max(now);
    // A slot may start just before the deadline and run past it.
    let longest = requests
        .iter()
        .map(|r| r.length)
        .max()
        .unwrap_or_else(Duration::zero);
    let mut alloc = Allocator::new(cal, booths, existing, now, until + longest);
    let mut order: Vec<&Request> = requests.iter().collect();
    order.sort_by_key(|r| r.order_key());
    order.into_iter().map(|r| alloc.place(r)).collect()
}

/// Lawyer rooms per 100 detainees (R-BOOK-5; the norm is [`ROOMS_PER_100_NORM`]).
/// `None` when the detainee count is zero or unknown.
pub fn rooms_per_100(lawyer_rooms: usize, detainees: u32) -> Option<f64> {
    (detainees > 0).then(|| lawyer_rooms as f64 * 100.0 / detainees as f64)
}

/// The core's view of a stored request.
pub fn to_request(r: &RequestRow) -> Request {
    Request {
        id: r.id,
        lawyer: r.lawyer,
        detainee: r.detainee,
        length: Duration::minutes(i64::from(r.expected_min)),
        arrival: match (r.booked_at, r.ticket) {
            (Some(at), _) => Arrival::Booked { at },
            (None, t) => Arrival::WalkIn {
                ticket: t.unwrap_or(0),
            },
        },
        channel: Channel::parse(&r.channel).unwrap_or(Channel::Web),
        requested_at: r.requested_at,
        interrogation_room_consent: r.interrogation_consent,
    }
}
