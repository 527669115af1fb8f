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
    /// A participant said the end-to-end encryption check codes on the screens differ
    /// (R-PRIV-1): a key may have been swapped on the way.
    E2eeCheckFailed,
    /// The booth's client certificate was revoked (R-VERIFY-4): deny list or the CA's CRL.
    CertificateRevoked,
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
            EndReason::E2eeCheckFailed => "e2ee_check_failed",
            EndReason::CertificateRevoked => "certificate_revoked",
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
            EndReason::E2eeCheckFailed => {
                "The security check codes on the two screens did not match, so the visit has ended."
            }
            EndReason::CertificateRevoked => {
                "会见终端的证书已被吊销，本次会见已结束。\nThe booth terminal's certificate was revoked, so the visit has ended."
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
    /// An assistant or interpreter arrives while the visit's lawyer is not present (absent,
    /// or interrupted): companions join only together with the lawyer (R-VERIFY-4).
    LawyerAbsent,
}

/// Why a companion was let go while the visit goes on (R-VERIFY-4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// The lawyer left (said goodbye, or did not come back within the grace period):
    /// assistants and interpreters take part only while the lawyer is present.
    LawyerLeft,
    /// The lawyer withdrew this companion's invitation while the visit went on.
    InvitationWithdrawn,
}

impl Removal {
    pub fn code(self) -> &'static str {
        match self {
            Removal::LawyerLeft => "lawyer_left",
            Removal::InvitationWithdrawn => "invitation_withdrawn",
        }
    }

    /// What the companion is told: Chinese first, English second.
    pub fn message(self) -> &'static str {
        match self {
            Removal::LawyerLeft => {
                "律师已离开会见，助理和翻译人员只能在律师在场时参加，您已退出本次会见。\nThe lawyer left the visit; assistants and interpreters take part only while the lawyer is present, so you have been removed from the visit."
            }
            Removal::InvitationWithdrawn => {
                "律师撤回了对您的邀请，您已退出本次会见。\nThe lawyer withdrew your invitation, so you have been removed from the visit."
            }
        }
    }
}

/// Whether a role is a companion's (assistant or interpreter).
pub fn is_companion(role: Role) -> bool {
    matches!(role, Role::Assistant | Role::Interpreter)
}

/// Who holds a seat, and what is wrong with its connection (R-REMOTE-2).
#[derive(Debug, Clone)]
struct Presence {
    participant: ParticipantId,
    /// The media plane closed its peer (ICE consent expired, DTLS closed): gone for good.
    dropped: bool,
    /// Its signalling connection died without `leave` (keepalive timeout, broken socket).
    signal_lost: bool,
    /// Its media stopped arriving while its peer is still up: may resume by itself.
    silent: bool,
    /// While any of the above holds, the others have been told `ParticipantReconnecting`
    /// and a grace period runs; the number tells one grace period from the next.
    interrupted: Option<u64>,
}

impl Presence {
    fn new(participant: ParticipantId) -> Self {
        Presence {
            participant,
            dropped: false,
            signal_lost: false,
            silent: false,
            interrupted: None,
        }
    }

    fn is_lost(&self) -> bool {
        self.dropped || self.signal_lost || self.silent
    }
}

/// What is wrong with a seat's connection (R-REMOTE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// The media plane closed the seat's peer (ICE or DTLS gone).
    MediaDropped,
    /// The signalling connection died without `leave`.
    SignallingLost,
    /// No media from the seat's peer for the configured silence (`true`), or media again
    /// (`false`).
    MediaSilent(bool),
}

/// Something a participant is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// Someone arrived, or came back (a new connection in place of an interrupted one, or
    /// its media flowing again): R-REMOTE-2's return notice.
    ParticipantJoined(Role),
    ParticipantLeft(Role),
    /// Someone's connection was interrupted; its seat is kept for the grace period
    /// (R-REMOTE-2).
    ParticipantReconnecting(Role),
    /// A newer connection of the same participant took this seat.
    Replaced,
    /// This companion's seat was let go while the visit goes on (R-VERIFY-4).
    Removed(Removal),
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
    /// Start the seat's grace period; when it is over, call [`LiveVisit::grace_over`] with
    /// this number (R-REMOTE-2).
    StartGrace(SeatNo, u64),
}

#[derive(Debug, Clone)]
pub struct LiveVisit {
    slot_end: DateTime<Utc>,
    present: BTreeMap<SeatNo, Presence>,
    ended: Option<EndReason>,
    /// Numbers the grace periods, so that a stale timer is recognised.
    next_grace: u64,
}

impl LiveVisit {
    pub fn new(slot_end: DateTime<Utc>) -> Self {
        LiveVisit {
            slot_end,
            present: BTreeMap::new(),
            ended: None,
            next_grace: 1,
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
    /// the first one is fine; once the first is interrupted (its media dropped or went
    /// silent, or its signalling died), the newcomer replaces it, so a reconnecting browser
    /// is not locked out by its own stale connection (R-REMOTE-2; still one device at a
    /// time, R-VERIFY-4). The others are told `ParticipantJoined` either way; the newcomer
    /// is told of anyone else who is reconnecting.
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
            .map(|(s, p)| (*s, p.dropped || p.interrupted.is_some()))
            .collect();
        if same.iter().any(|(_, dropped)| !dropped) {
            return Err(JoinRefusal::AlreadyConnected);
        }
        if is_companion(participant.role()) && !self.lawyer_present() {
            return Err(JoinRefusal::LawyerAbsent);
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
        for p in self.present.values() {
            if p.interrupted.is_some() {
                let notice = Notice::ParticipantReconnecting(p.participant.role());
                actions.push(Action::Notify(seat, notice));
            }
        }
        self.present.insert(seat, Presence::new(participant));
        Ok(actions)
    }

    /// Whether the visit's lawyer holds a seat and is not interrupted (R-VERIFY-4: the
    /// condition for a companion to join).
    pub fn lawyer_present(&self) -> bool {
        self.present
            .values()
            .any(|p| p.participant.role() == Role::Lawyer && p.interrupted.is_none())
    }

    /// The seats present, in the order they joined (seat numbers grow), with who holds
    /// them and whether they are interrupted: what the roster shows.
    pub fn seats(&self) -> impl Iterator<Item = (SeatNo, &ParticipantId, bool)> {
        self.present
            .iter()
            .map(|(s, p)| (*s, &p.participant, p.interrupted.is_some()))
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

    /// Something happened to the seat's connection (R-REMOTE-2). The first loss starts an
    /// interruption: the others are told `ParticipantReconnecting` and a grace period starts;
    /// a new connection of the same participant may then take the seat. Media that flows
    /// again on a seat whose peer and signalling are still up ends the interruption: the
    /// others are told `ParticipantJoined`. Repeated or stale reports change nothing.
    pub fn connection(&mut self, seat: SeatNo, loss: Loss) -> Vec<Action> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let Some(p) = self.present.get_mut(&seat) else {
            return Vec::new();
        };
        match loss {
            Loss::MediaDropped => p.dropped = true,
            Loss::SignallingLost => p.signal_lost = true,
            Loss::MediaSilent(silent) => p.silent = silent,
        }
        let role = p.participant.role();
        let notice = match (p.is_lost(), p.interrupted) {
            (true, None) => {
                let grace = self.next_grace;
                self.next_grace += 1;
                p.interrupted = Some(grace);
                Some((Notice::ParticipantReconnecting(role), Some(grace)))
            }
            (false, Some(_)) => {
                p.interrupted = None;
                Some((Notice::ParticipantJoined(role), None))
            }
            _ => None,
        };
        let Some((notice, grace)) = notice else {
            return Vec::new();
        };
        let mut actions: Vec<Action> = self
            .present
            .keys()
            .filter(|s| **s != seat)
            .map(|s| Action::Notify(*s, notice))
            .collect();
        if let Some(g) = grace {
            actions.push(Action::StartGrace(seat, g));
        }
        actions
    }

    /// The participant took its seat back on a new signalling connection with its resume
    /// credential (R-REMOTE-2). Its signalling is no longer lost. If nothing else is wrong,
    /// the interruption ends and the others are told `ParticipantJoined`. If its media is
    /// still missing (an ICE restart is to follow), the running grace period is cancelled and
    /// a new one starts, without a new notice (the others already know).
    pub fn resumed(&mut self, seat: SeatNo) -> Vec<Action> {
        if self.ended.is_some() {
            return Vec::new();
        }
        let Some(p) = self.present.get_mut(&seat) else {
            return Vec::new();
        };
        p.signal_lost = false;
        let role = p.participant.role();
        match (p.is_lost(), p.interrupted) {
            (false, Some(_)) => {
                p.interrupted = None;
                self.present
                    .keys()
                    .filter(|s| **s != seat)
                    .map(|s| Action::Notify(*s, Notice::ParticipantJoined(role)))
                    .collect()
            }
            (true, Some(_)) => {
                let grace = self.next_grace;
                self.next_grace += 1;
                p.interrupted = Some(grace);
                vec![Action::StartGrace(seat, grace)]
            }
            _ => Vec::new(),
        }
    }

    /// The seat's media connection dropped (ICE failed or timed out): see
    /// [`Self::connection`].
    pub fn mark_dropped(&mut self, seat: SeatNo) -> Vec<Action> {
        self.connection(seat, Loss::MediaDropped)
    }

    /// A grace period is over: if the seat is still interrupted in that same period, it is
    /// let go and the others are told `ParticipantLeft` (R-REMOTE-2).
    pub fn grace_over(&mut self, seat: SeatNo, grace: u64) -> Vec<Action> {
        let current = self.present.get(&seat).and_then(|p| p.interrupted);
        if self.ended.is_some() || current != Some(grace) {
            return Vec::new();
        }
        self.leave(seat)
    }

    /// Whether the others were told this seat is reconnecting (for the driver and tests).
    pub fn is_interrupted(&self, seat: SeatNo) -> bool {
        self.present
            .get(&seat)
            .is_some_and(|p| p.interrupted.is_some())
    }

    /// Whether the seat's media connection dropped (for the admin health view).
    pub fn is_dropped(&self, seat: SeatNo) -> bool {
        self.present.get(&seat).is_some_and(|p| p.dropped)
    }

    /// A participant leaves (said so, or its connection closed). The others are told;
    /// the visit stays open for the rest of the slot so that the participant can return.
    /// When the lawyer leaves, every assistant and interpreter is let go too, told why, and
    /// the others are told they left (R-VERIFY-4: companions only with the lawyer).
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
            if role == Role::Lawyer && !self.lawyer_present() {
                let companions: Vec<SeatNo> = self
                    .present
                    .iter()
                    .filter(|(_, p)| is_companion(p.participant.role()))
                    .map(|(s, _)| *s)
                    .collect();
                for c in companions {
                    let notice = Notice::Removed(Removal::LawyerLeft);
                    actions.push(Action::Notify(c, notice));
                    actions.extend(self.leave(c));
                }
            }
        }
        actions
    }

    /// Let the companion `who` go while the visit goes on, told why; the others are told it
    /// left (R-VERIFY-4). Nothing happens to a lawyer or booth, or to someone not present.
    pub fn remove_companion(&mut self, who: &ParticipantId, why: Removal) -> Vec<Action> {
        if self.ended.is_some() || !is_companion(who.role()) {
            return Vec::new();
        }
        let seats: Vec<SeatNo> = self
            .present
            .iter()
            .filter(|(_, p)| &p.participant == who)
            .map(|(s, _)| *s)
            .collect();
        let mut actions = Vec::new();
        for seat in seats {
            actions.push(Action::Notify(seat, Notice::Removed(why)));
            actions.extend(self.leave(seat));
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

    /// R-REMOTE-2: a lost connection is told to the others at once, the seat is kept for
    /// the grace period, and without a return the others hear `ParticipantLeft` at its end.
    #[test]
    fn an_interrupted_participant_is_told_then_let_go_when_the_grace_period_ends() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        let actions = v.connection(SeatNo(1), Loss::SignallingLost);
        assert_eq!(
            actions,
            vec![
                Action::Notify(SeatNo(2), Notice::ParticipantReconnecting(Role::Lawyer)),
                Action::StartGrace(SeatNo(1), 1),
            ]
        );
        assert!(v.is_interrupted(SeatNo(1)));
        assert!(
            !v.is_dropped(SeatNo(1)),
            "the health view's `dropped` is media's own"
        );
        // More bad news about the same seat tells nobody anything new.
        assert_eq!(v.connection(SeatNo(1), Loss::MediaSilent(true)), vec![]);
        assert_eq!(v.mark_dropped(SeatNo(1)), vec![]);
        assert_eq!(v.others(SeatNo(2)), vec![Role::Lawyer], "the seat is kept");
        assert_eq!(
            v.grace_over(SeatNo(1), 99),
            vec![],
            "a stale timer does nothing"
        );
        assert_eq!(
            v.grace_over(SeatNo(1), 1),
            vec![
                Action::Disconnect(SeatNo(1)),
                Action::Notify(SeatNo(2), Notice::ParticipantLeft(Role::Lawyer)),
            ]
        );
        assert_eq!(v.others(SeatNo(2)), vec![]);
        assert_eq!(v.grace_over(SeatNo(1), 1), vec![], "once");
    }

    /// R-REMOTE-2: media that flows again on a seat whose connections are otherwise up ends
    /// the interruption; a later silence starts a new grace period, and the old timer is stale.
    #[test]
    fn media_that_flows_again_restores_the_seat() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        assert_eq!(v.connection(SeatNo(2), Loss::MediaSilent(false)), vec![]);
        let first = v.connection(SeatNo(2), Loss::MediaSilent(true));
        assert_eq!(
            first,
            vec![
                Action::Notify(SeatNo(1), Notice::ParticipantReconnecting(Role::Booth)),
                Action::StartGrace(SeatNo(2), 1),
            ]
        );
        assert_eq!(
            v.connection(SeatNo(2), Loss::MediaSilent(false)),
            vec![Action::Notify(
                SeatNo(1),
                Notice::ParticipantJoined(Role::Booth)
            )]
        );
        assert!(!v.is_interrupted(SeatNo(2)));
        let again = v.connection(SeatNo(2), Loss::MediaSilent(true));
        assert!(
            again.contains(&Action::StartGrace(SeatNo(2), 2)),
            "{again:?}"
        );
        assert_eq!(
            v.grace_over(SeatNo(2), 1),
            vec![],
            "the first period is over"
        );
        // Lost signalling does not come back by itself: media alone does not restore it.
        v.connection(SeatNo(2), Loss::SignallingLost);
        assert_eq!(v.connection(SeatNo(2), Loss::MediaSilent(false)), vec![]);
        assert!(v.is_interrupted(SeatNo(2)));
    }

    /// R-REMOTE-2: a resume ends a signalling loss; with media flowing the others hear the
    /// participant is back, with media still missing the grace period starts over quietly
    /// (the old timer is stale), and the seat returns once media flows.
    #[test]
    fn a_resume_ends_a_signalling_loss_and_restarts_a_grace_period_while_media_is_missing() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        let lost = v.connection(SeatNo(1), Loss::SignallingLost);
        assert!(lost.contains(&Action::StartGrace(SeatNo(1), 1)), "{lost:?}");
        assert_eq!(
            v.resumed(SeatNo(1)),
            vec![Action::Notify(
                SeatNo(2),
                Notice::ParticipantJoined(Role::Lawyer)
            )]
        );
        assert!(!v.is_interrupted(SeatNo(1)));
        assert_eq!(
            v.grace_over(SeatNo(1), 1),
            vec![],
            "cancelled by the resume"
        );

        // Signalling and media both lost: the resume alone does not bring the seat back.
        v.connection(SeatNo(1), Loss::MediaSilent(true));
        v.connection(SeatNo(1), Loss::SignallingLost);
        assert_eq!(v.resumed(SeatNo(1)), vec![Action::StartGrace(SeatNo(1), 3)]);
        assert!(v.is_interrupted(SeatNo(1)));
        assert_eq!(
            v.grace_over(SeatNo(1), 2),
            vec![],
            "the old period is stale"
        );
        assert_eq!(
            v.connection(SeatNo(1), Loss::MediaSilent(false)),
            vec![Action::Notify(
                SeatNo(2),
                Notice::ParticipantJoined(Role::Lawyer)
            )]
        );
        // Nothing to resume once the visit is over or the seat is gone.
        v.leave(SeatNo(1));
        assert_eq!(v.resumed(SeatNo(1)), vec![]);
        v.end(EndReason::SlotOver);
        assert_eq!(v.resumed(SeatNo(2)), vec![]);
    }

    /// R-REMOTE-2 with R-VERIFY-4: while interrupted, the participant's new connection takes
    /// the seat (still one device), the others are told it joined, and a newcomer is told
    /// who is reconnecting.
    #[test]
    fn a_new_connection_replaces_an_interrupted_seat_and_newcomers_hear_of_interruptions() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        assert_eq!(
            v.join(SeatNo(3), lawyer(), t(1)),
            Err(JoinRefusal::AlreadyConnected)
        );
        v.connection(SeatNo(1), Loss::MediaSilent(true));
        assert_eq!(
            v.join(SeatNo(3), lawyer(), t(1)).unwrap(),
            vec![
                Action::Notify(SeatNo(1), Notice::Replaced),
                Action::Disconnect(SeatNo(1)),
                Action::Notify(SeatNo(2), Notice::ParticipantJoined(Role::Lawyer)),
            ]
        );
        assert_eq!(
            v.grace_over(SeatNo(1), 1),
            vec![],
            "the replaced seat is gone"
        );
        v.connection(SeatNo(2), Loss::SignallingLost);
        let actions = v
            .join(SeatNo(4), ParticipantId::Assistant(LawyerId(9)), t(2))
            .unwrap();
        assert!(
            actions.contains(&Action::Notify(
                SeatNo(4),
                Notice::ParticipantReconnecting(Role::Booth)
            )),
            "{actions:?}"
        );
    }

    /// docs/DESIGN.md invariant 8: the end is the end, whatever is reconnecting; grace
    /// periods that end afterwards change nothing.
    #[test]
    fn the_end_of_the_visit_overrides_any_grace_period() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), lawyer(), t(0)).unwrap();
        v.join(SeatNo(2), booth(), t(0)).unwrap();
        v.connection(SeatNo(1), Loss::SignallingLost);
        let actions = v.end(EndReason::StoppedByStaff);
        assert!(actions.contains(&Action::Disconnect(SeatNo(1))));
        assert_eq!(v.grace_over(SeatNo(1), 1), vec![]);
        assert_eq!(v.connection(SeatNo(2), Loss::SignallingLost), vec![]);
        assert!(v.is_empty());
    }

    fn interpreter() -> ParticipantId {
        ParticipantId::Interpreter(LawyerId(7))
    }

    /// R-VERIFY-4: a companion joins only while the lawyer is present (not before, not
    /// while the lawyer is interrupted), and is let go, told why, when the lawyer leaves.
    #[test]
    fn companions_join_only_with_the_lawyer_and_leave_with_the_lawyer() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), booth(), t(0)).unwrap();
        assert_eq!(
            v.join(SeatNo(2), interpreter(), t(0)),
            Err(JoinRefusal::LawyerAbsent),
            "before the lawyer"
        );
        v.join(SeatNo(3), lawyer(), t(1)).unwrap();
        v.connection(SeatNo(3), Loss::SignallingLost);
        assert_eq!(
            v.join(SeatNo(4), interpreter(), t(1)),
            Err(JoinRefusal::LawyerAbsent),
            "while the lawyer is reconnecting"
        );
        v.connection(SeatNo(3), Loss::SignallingLost);
        let back = v.join(SeatNo(5), lawyer(), t(2)).unwrap();
        assert!(back.contains(&Action::Disconnect(SeatNo(3))));
        v.join(SeatNo(6), interpreter(), t(2)).unwrap();
        let seats: Vec<SeatNo> = v.seats().map(|(s, _, _)| s).collect();
        assert_eq!(seats, vec![SeatNo(1), SeatNo(5), SeatNo(6)]);
        // The lawyer's interruption alone keeps the interpreter; the end of its grace
        // period (like a goodbye) lets the interpreter go too.
        let lost = v.connection(SeatNo(5), Loss::SignallingLost);
        assert!(!lost.iter().any(|a| matches!(a, Action::Disconnect(_))));
        let actions = v.grace_over(SeatNo(5), 2);
        assert_eq!(
            actions,
            vec![
                Action::Disconnect(SeatNo(5)),
                Action::Notify(SeatNo(1), Notice::ParticipantLeft(Role::Lawyer)),
                Action::Notify(SeatNo(6), Notice::ParticipantLeft(Role::Lawyer)),
                Action::Notify(SeatNo(6), Notice::Removed(Removal::LawyerLeft)),
                Action::Disconnect(SeatNo(6)),
                Action::Notify(SeatNo(1), Notice::ParticipantLeft(Role::Interpreter)),
            ]
        );
        assert_eq!(v.others(SeatNo(1)), vec![], "the booth stays alone");
        assert!(!v.is_empty());
    }

    /// R-VERIFY-4: the lawyer withdraws a companion's invitation: that companion (only) is
    /// let go at once, told why; the others are told it left; the lawyer and booth stay.
    #[test]
    fn a_withdrawn_companion_is_removed_and_told_why() {
        let mut v = LiveVisit::new(t(30));
        v.join(SeatNo(1), booth(), t(0)).unwrap();
        v.join(SeatNo(2), lawyer(), t(0)).unwrap();
        v.join(SeatNo(3), interpreter(), t(1)).unwrap();
        assert_eq!(
            v.remove_companion(&lawyer(), Removal::InvitationWithdrawn),
            vec![],
            "never the lawyer"
        );
        let mut actions = v.remove_companion(&interpreter(), Removal::InvitationWithdrawn);
        assert_eq!(
            actions.drain(..2).collect::<Vec<_>>(),
            vec![
                Action::Notify(SeatNo(3), Notice::Removed(Removal::InvitationWithdrawn)),
                Action::Disconnect(SeatNo(3)),
            ]
        );
        actions.sort_by_key(|a| format!("{a:?}"));
        assert_eq!(
            actions,
            vec![
                Action::Notify(SeatNo(1), Notice::ParticipantLeft(Role::Interpreter)),
                Action::Notify(SeatNo(2), Notice::ParticipantLeft(Role::Interpreter)),
            ]
        );
        let seats: Vec<SeatNo> = v.seats().map(|(s, _, _)| s).collect();
        assert_eq!(seats, vec![SeatNo(1), SeatNo(2)]);
        assert_eq!(
            v.remove_companion(&interpreter(), Removal::InvitationWithdrawn),
            vec![],
            "already gone"
        );
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
