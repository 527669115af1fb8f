//! The pure timing of a running visit's slot (R-ARRANGE-4, docs/DESIGN.md invariant 5):
//! which warnings are due, when the slot driver (`visit::hub`) must wake next, where the
//! slot end lies on the monotonic clock, and whether the slot is over.
//!
//! The slot end is an absolute UTC time persisted with the visit. A driver converts it
//! once, when it arms its timer, into a monotonic deadline ([`monotonic_deadline`]);
//! from then on a wall-clock jump cannot move it, and a restart re-arms from the same
//! persisted UTC end, so a visit is never lengthened or shortened by more than the
//! clock error at arming time. Nothing here reads a clock.
//!
//! Does not: decide extensions or the 48-hour deadline (scheduling's own timing, in
//! `crate::schedule`), or arm timers (the hub does).

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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Monday 23 November 2026, 00:00 UTC.
    fn monday() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap()
    }

    fn at(day: i64, h: i64, m: i64) -> DateTime<Utc> {
        monday() + Duration::days(day) + Duration::hours(h) + Duration::minutes(m)
    }

    #[test]
    fn warnings_fall_due_at_5_and_1_minute_before_the_end() {
        let end = at(0, 10, 0);
        let w = &DEFAULT_WARNINGS;
        let table = [
            (at(0, 9, 54), vec![]),
            (at(0, 9, 55), vec![5]),
            (at(0, 9, 58), vec![5]),
            (at(0, 9, 59), vec![5, 1]),
            (at(0, 10, 0), vec![]),
        ];
        for (now, want) in table {
            let got: Vec<i64> = warnings(end, now, w)
                .iter()
                .map(|x| x.before_end.num_minutes())
                .collect();
            assert_eq!(got, want, "at {now}");
        }
        assert_eq!(next_wake(end, at(0, 9, 0), w), at(0, 9, 55));
        assert_eq!(next_wake(end, at(0, 9, 55), w), at(0, 9, 59));
        assert_eq!(next_wake(end, at(0, 9, 59), w), end);
        assert!(is_over(end, end));
    }

    #[test]
    fn a_driver_woken_late_sends_only_the_most_urgent_warning_once() {
        let end = at(0, 10, 0);
        let w = &DEFAULT_WARNINGS;
        let late = at(0, 9, 59) + Duration::seconds(30);
        let first = warning_to_send(end, late, w, &[]).unwrap();
        assert_eq!(first.before_end, Duration::minutes(1));
        assert_eq!(first.minutes_left(), 1);
        assert_eq!(warning_to_send(end, late, w, &[Duration::minutes(1)]), None);
    }

    #[test]
    fn the_monotonic_deadline_is_fixed_when_armed_and_never_moves_with_the_wall_clock() {
        // docs/DESIGN.md invariant 5.
        let mono = std::time::Instant::now();
        let d = monotonic_deadline(at(0, 10, 0), at(0, 9, 59), mono);
        assert_eq!(d - mono, std::time::Duration::from_secs(60));
        assert_eq!(monotonic_deadline(at(0, 10, 0), at(0, 11, 0), mono), mono);
    }
}
