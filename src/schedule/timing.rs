//! Scheduling's timing of a running slot (R-ARRANGE-4): whether a lawyer's request for
//! more time is granted, or the next slot is offered instead. Pure: `now` is an argument.
//!
//! Does not: time warnings or the end of a live slot (that is `crate::visit::timing`,
//! applied by the visit hub), or touch the store.

use super::{Allocator, Arrival, Booth, Calendar, Channel, Decision, Existing, Request};
use super::{RequestId, DEADLINE};
use crate::ids::{DetaineeId, LawyerId};
use chrono::{DateTime, Duration, Utc};

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
