//! The pure core of a live visit: who is present, and when it ends. No I/O, no clock:
//! every method takes what happened (and `now` where time matters) and returns the
//! [`Action`]s for the driver ([`super::hub`]) to carry out, in order.

use crate::ids::{ParticipantId, Role};
use crate::licence::verify::Reason;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// A connection's place in a live visit; numbers are never reused within a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeatNo(pub u64);

/// Why a visit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// The time slot is over.
    SlotOver,
    /// Staff stopped the visit (admin console, a later issue).
    StoppedByStaff,
    /// The server is shutting down.
    ServerShutdown,
    /// The registry no longer shows the lawyer in good standing (checked again while the
    /// visit runs, R-VERIFY-1). Never a registry outage (docs/DESIGN.md invariant 4).
    LicenceWithdrawn(Reason),
    /// The lawyer cancelled the visit's request while the visit was live.
    CancelledByLawyer,
    /// The detainee declined the visit in writing; staff recorded it (R-ARRANGE-5).
    DeclinedByDetainee,
}

impl EndReason {
    pub fn code(self) -> &'static str {
        match self {
            EndReason::SlotOver => "slot_over",
            EndReason::StoppedByStaff => "stopped_by_staff",
            EndReason::ServerShutdown => "server_shutdown",
            EndReason::LicenceWithdrawn(_) => "licence_withdrawn",
            EndReason::CancelledByLawyer => "cancelled",
            EndReason::DeclinedByDetainee => "declined",
        }
    }

    /// What both sides are told, in plain words.
    pub fn message(self) -> &'static str {
        match self {
            EndReason::LicenceWithdrawn(Reason::Suspended) => {
                "The lawyer registry now shows the lawyer's licence as suspended, so the visit has ended."
            }
            EndReason::LicenceWithdrawn(Reason::Revoked) => {
                "The lawyer registry now shows the lawyer's licence as revoked, so the visit has ended."
            }
            EndReason::LicenceWithdrawn(_) => {
                "The lawyer registry no longer shows the lawyer's licence in good standing, so the visit has ended."
            }
            EndReason::SlotOver => "The visit's time slot is over, so the visit has ended.",
            EndReason::StoppedByStaff => "Facility staff ended this visit.",
            EndReason::CancelledByLawyer => "The lawyer cancelled this visit, so it has ended.",
            EndReason::DeclinedByDetainee => {
                "The detainee declined this visit, so it has ended."
            }
            EndReason::ServerShutdown => {
                "The visit server is restarting; the visit was interrupted. Please rejoin when it is back."
            }
        }
    }

    /// Whether the visit is over for good (recorded), or may be rejoined.
    pub fn is_final(self) -> bool {
        !matches!(self, EndReason::ServerShutdown)
    }
}

/// Why a newcomer cannot take a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinRefusal {
    /// The visit is over.
    Ended(EndReason),
    /// The same participant is connected from another device whose media has not dropped:
    /// the first stays, the newest is refused (R-VERIFY-4: one device per participant).
    AlreadyConnected,
}

/// Who holds a seat, and whether its media has dropped.
#[derive(Debug, Clone)]
struct Presence {
    participant: ParticipantId,
    dropped: bool,
}

/// Something a participant is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    ParticipantJoined(Role),
    ParticipantLeft(Role),
    /// A newer connection of the same participant took this seat.
    Replaced,
    /// The slot ends in about this many minutes (R-ARRANGE-4: warnings before the end).
    TimeWarning(u32),
    /// The slot now ends at this time (an extension was granted).
    SlotExtended(DateTime<Utc>),
    Ended(EndReason),
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Notify(SeatNo, Notice),
    /// Stop forwarding to and from this seat's peer and close its connection.
    Disconnect(SeatNo),
    /// Close every peer of the visit in the media plane.
    EndMedia,
    /// Persist that the visit ended (only for final reasons).
    RecordEnd(EndReason),
}

#[derive(Debug, Clone)]
pub struct LiveVisit {
    slot_end: DateTime<Utc>,
    present: BTreeMap<SeatNo, Presence>,
    ended: Option<EndReason>,
}

impl LiveVisit {
    pub fn new(slot_end: DateTime<Utc>) -> Self {
        LiveVisit {
            slot_end,
            present: BTreeMap::new(),
            ended: None,
        }
    }

    pub fn slot_end(&self) -> DateTime<Utc> {
        self.slot_end
    }

    pub fn ended(&self) -> Option<EndReason> {
        self.ended
    }

    pub fn is_empty(&self) -> bool {
        self.present.is_empty()
    }

    /// Roles present, other than `seat`'s.
    pub fn others(&self, seat: SeatNo) -> Vec<Role> {
        self.present
            .iter()
            .filter(|(s, _)| **s != seat)
            .map(|(_, p)| p.participant.role())
            .collect()
    }

    /// A participant arrives. A second connection of the same participant is refused while
    /// the first one's media is up; once the first has dropped (its media disconnected), the
    /// newcomer replaces it, so a reconnecting browser is not locked out by its own stale
    /// connection.
    pub fn join(
        &mut self,
        seat: SeatNo,
        participant: ParticipantId,
        now: DateTime<Utc>,
    ) -> Result<Vec<Action>, JoinRefusal> {
        if let Some(r) = self.ended {
            return Err(JoinRefusal::Ended(r));
        }
        if now >= self.slot_end {
            // The driver's timer ends the visit for those present; a newcomer is simply refused.
            return Err(JoinRefusal::Ended(EndReason::SlotOver));
        }
        let same: Vec<(SeatNo, bool)> = self
            .present
            .iter()
            .filter(|(_, p)| p.participant == participant)
            .map(|(s, p)| (*s, p.dropped))
            .collect();
        if same.iter().any(|(_, dropped)| !dropped) {
            return Err(JoinRefusal::AlreadyConnected);
        }
        let mut actions = Vec::new();
        for (old, _) in same {
            self.present.remove(&old);
            actions.push(Action::Notify(old, Notice::Replaced));
            actions.push(Action::Disconnect(old));
        }
        let role = participant.role();
        for other in self.present.keys() {
            actions.push(Action::Notify(*other, Notice::ParticipantJoined(role)));
        }
        self.present.insert(
            seat,
            Presence {
                participant,
                dropped: false,
            },
        );
        Ok(actions)
    }

    /// Everyone present is told something (a warning, an extension).
    pub fn tell_all(&self, notice: Notice) -> Vec<Action> {
        if self.ended.is_some() {
            return Vec::new();
        }
        self.present
            .keys()
            .map(|s| Action::Notify(*s, notice))
            .collect()
    }

    /// The slot was extended to `new_end` (never shortened here: the scheduler decides).
    pub fn extend(&mut self, new_end: DateTime<Utc>) -> Vec<Action> {
        if self.ended.is_some() || new_end <= self.slot_end {
            return Vec::new();
        }
        self.slot_end = new_end;
        self.tell_all(Notice::SlotExtended(new_end))
    }

    /// The seat's media connection dropped (ICE failed or timed out): a new connection of
    /// the same participant may take its place.
    pub fn mark_dropped(&mut self, seat: SeatNo) {
        if let Some(p) = self.present.get_mut(&seat) {
            p.dropped = true;
        }
    }

    /// Whether the seat's media connection dropped (for the admin health view).
    pub fn is_dropped(&self, seat: SeatNo) -> bool {
        self.present.get(&seat).is_some_and(|p| p.dropped)
    }

    /// A participant leaves (said so, or its connection closed). The others are told;
    /// the visit stays open for the rest of the slot so that the participant can return.
    pub fn leave(&mut self, seat: SeatNo) -> Vec<Action> {
        let Some(presence) = self.present.remove(&seat) else {
            return Vec::new();
        };
        let role = presence.participant.role();
        let mut actions = vec![Action::Disconnect(seat)];
        if self.ended.is_none() {
            for other in self.present.keys() {
                actions.push(Action::Notify(*other, Notice::ParticipantLeft(role)));
            }
        }
        actions
    }

    /// Time passes: at the slot end the visit ends.
    pub fn tick(&mut self, now: DateTime<Utc>) -> Vec<Action> {
        if self.ended.is_none() && now >= self.slot_end {
            self.end(EndReason::SlotOver)
        } else {
            Vec::new()
        }
    }

    /// End the visit now for `reason`: everyone is told why, media stops, and (for a
    /// final reason) the end is recorded.
    pub fn end(&mut self, reason: EndReason) -> Vec<Action> {
        if self.ended.is_some() {
            return Vec::new();
        }
        self.ended = Some(reason);
        let mut actions = Vec::new();
        if reason.is_final() {
            actions.push(Action::RecordEnd(reason));
        }
        for seat in self.present.keys() {
            actions.push(Action::Notify(*seat, Notice::Ended(reason)));
        }
        actions.push(Action::EndMedia);
        for seat in std::mem::take(&mut self.present).into_keys() {
            actions.push(Action::Disconnect(seat));
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BoothId, LawyerId};
    use chrono::TimeZone;

    fn lawyer() -> ParticipantId {
        ParticipantId::Lawyer(LawyerId(1))
    }
    fn booth() -> ParticipantId {
        ParticipantId::Booth(BoothId("b".into()))
    }

    fn t(m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 9, m, 0).unwrap()
    }

    #[test]
    fn the_other_side_is_told_of_arrivals_and_departures() {
        let mut v = LiveVisit::new(t(30));
        assert_eq!(v.join(SeatNo(1), lawyer(), t(0)).unwrap(), vec![]);
        assert_eq!(
            v.join(SeatNo(2), booth(), t(1)).unwrap(),
            vec![Action::Notify(
                SeatNo(1),
                Notice::ParticipantJoined(Role::Booth)
            )]
        );
        assert_eq!(v.others(SeatNo(2)), vec![Role::Lawyer]);
        assert_eq!(
            v.leave(SeatNo(1)),
            vec![
                Action::Disconnect(SeatNo(1)),
                Action::Notify(SeatNo(2), Notice::ParticipantLeft(Role::Lawyer))
            ]
        );
        assert_eq!(v.leave(SeatNo(1)), vec![], "leaving twice is harmless");
    }

    #[test]
    fn media_stops_at_the_slot_end_and_both_sides_are_told_why() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        assert_eq!(v.tick(t(29)), vec![]);
        let actions = v.tick(t(30));
        assert_eq!(
            actions,
            vec![
                Action::RecordEnd(EndReason::SlotOver),
                Action::Notify(SeatNo(1), Notice::Ended(EndReason::SlotOver)),
                Action::Notify(SeatNo(2), Notice::Ended(EndReason::SlotOver)),
                Action::EndMedia,
                Action::Disconnect(SeatNo(1)),
                Action::Disconnect(SeatNo(2)),
            ]
        );
        assert!(v.is_empty());
        assert_eq!(v.tick(t(31)), vec![], "ends once");
        assert_eq!(
            v.join(SeatNo(3), lawyer(), t(31)),
            Err(JoinRefusal::Ended(EndReason::SlotOver))
        );
    }

    #[test]
    fn nobody_joins_after_the_slot_end_even_before_a_tick() {
        let mut v = LiveVisit::new(t(30));
        assert_eq!(
            v.join(SeatNo(1), lawyer(), t(30)),
            Err(JoinRefusal::Ended(EndReason::SlotOver))
        );
    }

    /// R-VERIFY-4: two devices for the same participant at once: the newest is refused and
    /// the first stays.
    #[test]
    fn a_second_device_of_the_same_participant_is_refused() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        assert_eq!(
            v.join(SeatNo(3), lawyer(), t(5)),
            Err(JoinRefusal::AlreadyConnected)
        );
        assert_eq!(v.others(SeatNo(2)), vec![Role::Lawyer]);
        // Another lawyer-side participant is not a duplicate.
        assert!(v
            .join(SeatNo(4), ParticipantId::Assistant(LawyerId(9)), t(5))
            .is_ok());
    }

    /// ... unless the first has dropped: a reconnecting browser replaces its dead connection.
    #[test]
    fn a_participant_whose_media_dropped_is_replaced_by_its_new_connection() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        v.mark_dropped(SeatNo(1));
        let actions = v.join(SeatNo(3), lawyer(), t(5)).unwrap();
        assert_eq!(
            actions,
            vec![
                Action::Notify(SeatNo(1), Notice::Replaced),
                Action::Disconnect(SeatNo(1)),
                Action::Notify(SeatNo(2), Notice::ParticipantJoined(Role::Lawyer)),
            ]
        );
        assert_eq!(v.others(SeatNo(2)), vec![Role::Lawyer]);
    }

    #[test]
    fn a_shutdown_is_not_recorded_as_the_end_of_the_visit() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        let actions = v.end(EndReason::ServerShutdown);
        assert!(!actions.iter().any(|a| matches!(a, Action::RecordEnd(_))));
        assert!(actions.contains(&Action::Notify(
            SeatNo(1),
            Notice::Ended(EndReason::ServerShutdown)
        )));
    }
}
