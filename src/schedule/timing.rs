//! The pure timing of a running slot (R-ARRANGE-4, docs/DESIGN.md invariant 5): which warnings
//! are due, when the driver must wake next, where the slot end lies on the monotonic
//! clock, and whether an extension is granted.
//!
//! The slot end is an absolute UTC time persisted with the visit. A driver converts it
//! once, when it arms its timer, into a monotonic deadline ([`monotonic_deadline`]);
//! from then on a wall-clock jump cannot move it, and a restart re-arms from the same
//! persisted UTC end, so a visit is never lengthened or shortened by more than the
//! clock error at arming time. Nothing here reads a clock.

use super::{Allocator, Arrival, Booth, Calendar, Channel, Decision, Existing, Request};
use super::{RequestId, DEADLINE};
use crate::ids::{DetaineeId, LawyerId};
use chrono::{DateTime, Duration, Utc};
use std::time::Instant;

/// The default warnings: 5 minutes and 1 minute before the slot end.
pub const DEFAULT_WARNINGS: [Duration; 2] = [Duration::minutes(5), Duration::minutes(1)];

/// A warning the participants must be shown now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warning {
    /// How long before the end this warning is (5 min, 1 min, ...): its identity.
    pub before_end: Duration,
    /// When it became due.
    pub due_at: DateTime<Utc>,
    /// What is actually left at `now` (for the countdown), never negative.
    pub left: Duration,
}

impl Warning {
    /// Whole minutes left, rounded up (for the audit record and the message).
    pub fn minutes_left(&self) -> u32 {
        let secs = self.left.num_seconds().max(0);
        u32::try_from((secs + 59) / 60).unwrap_or(u32::MAX)
    }
}

/// The warnings due at `now`: those whose time (`slot_end - offset`) has come while the
/// slot is not over. The driver remembers which it has sent (by `before_end`) and sends
/// each once; after a restart it sends only the ones still due, never the end early.
pub fn warnings(slot_end: DateTime<Utc>, now: DateTime<Utc>, offsets: &[Duration]) -> Vec<Warning> {
    if now >= slot_end {
        return Vec::new();
    }
    let mut due: Vec<Warning> = offsets
        .iter()
        .filter(|o| **o > Duration::zero() && slot_end - **o <= now)
        .map(|o| Warning {
            before_end: *o,
            due_at: slot_end - *o,
            left: slot_end - now,
        })
        .collect();
    // Longest lead first: the order participants would have seen them.
    due.sort_by_key(|w| std::cmp::Reverse(w.before_end));
    due
}

/// Of the due warnings, only the most urgent that has not been sent yet (a driver woken
/// late, e.g. after a restart 30 s before the end, shows "1 minute", not "5 minutes").
pub fn warning_to_send(
    slot_end: DateTime<Utc>,
    now: DateTime<Utc>,
    offsets: &[Duration],
    sent: &[Duration],
) -> Option<Warning> {
    warnings(slot_end, now, offsets)
        .into_iter()
        .filter(|w| !sent.contains(&w.before_end))
        .min_by_key(|w| w.before_end)
        .filter(|w| !sent.iter().any(|s| *s < w.before_end))
}

/// When the driver must wake next: the next warning not yet due, or the slot end.
pub fn next_wake(
    slot_end: DateTime<Utc>,
    now: DateTime<Utc>,
    offsets: &[Duration],
) -> DateTime<Utc> {
    offsets
        .iter()
        .map(|o| slot_end - *o)
        .filter(|t| *t > now)
        .min()
        .map_or(slot_end, |t| t.min(slot_end))
}

/// The slot is over at `now`: media stops and the visit ends with reason `slot_over`.
pub fn is_over(slot_end: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    now >= slot_end
}

/// The slot end on the monotonic clock, computed once from a wall-clock reading and a
/// monotonic reading taken together. A slot end in the past maps to `mono_now`.
pub fn monotonic_deadline(
    slot_end: DateTime<Utc>,
    wall_now: DateTime<Utc>,
    mono_now: Instant,
) -> Instant {
    let left = (slot_end - wall_now).to_std().unwrap_or_default();
    mono_now + left
}

/// The answer to a lawyer's request for more time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extension {
    /// The booth and the detainee are free for the whole extension: the slot now ends here.
    Granted { new_end: DateTime<Utc> },
    /// Someone is booked or queued within the extension: the next slot is offered
    /// instead (it may itself be unplaced and escalated, never refused).
    OfferNextSlot(Decision),
}

/// The running visit an extension is asked for.
#[derive(Debug, Clone)]
pub struct Running {
    pub visit: Existing,
    pub lawyer: LawyerId,
    pub detainee: DetaineeId,
}

/// Grant `extra` when no other visit on the booth, and none of the detainee, overlaps
/// `[end, end + extra)`; otherwise offer the next slot of `extra` for the same lawyer
/// and detainee. `timetable` is every placed visit of the facility (the running one
/// included or not: it is recognised and skipped). `offer_id` names the offered request.
pub fn extension(
    cal: &Calendar,
    booths: &[Booth],
    timetable: &[Existing],
    running: &Running,
    extra: Duration,
    now: DateTime<Utc>,
    offer_id: RequestId,
) -> Extension {
    let end = running.visit.ends_at;
    let new_end = end + extra;
    let others: Vec<Existing> = timetable
        .iter()
        .filter(|x| **x != running.visit)
        .cloned()
        .collect();
    let clash = others.iter().any(|x| {
        let overlaps = x.starts_at < new_end && x.ends_at > end;
        overlaps && (x.booth == running.visit.booth || x.detainee == Some(running.detainee))
    });
    if extra > Duration::zero() && !clash && now < end {
        return Extension::Granted { new_end };
    }
    let request = Request {
        id: offer_id,
        lawyer: running.lawyer,
        detainee: running.detainee,
        length: extra.max(Duration::minutes(1)),
        arrival: Arrival::Booked { at: end.max(now) },
        channel: Channel::Web,
        requested_at: now,
        interrogation_room_consent: false,
    };
    let mut timetable = others;
    timetable.push(running.visit.clone());
    let mut alloc = Allocator::new(
        cal,
        booths,
        &timetable,
        now,
        now + DEADLINE + request.length,
    );
    Extension::OfferNextSlot(alloc.place(&request))
}
