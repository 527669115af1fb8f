//! The driver of live visits. Holds, for every visit with someone present, its
//! [`LiveVisit`] core, the participants' notice channels, their media peers and a
//! slot-end timer; applies the core's actions.
//!
//! Locking: one std `Mutex` over the map of live visits, never held across an `.await`
//! (actions are collected under the lock and carried out after it is released).
//!
//! Liveness (R-REMOTE-2): a seat whose media dropped ([`MediaEvent::PeerDisconnected`]) or
//! went silent (no RTP for [`Liveness::media_silence`] in the media plane's published
//! stats), or whose signalling connection died without `leave` ([`VisitHub::lost`]), is
//! interrupted: the others are told `ParticipantReconnecting` at once and the seat is kept
//! for [`Liveness::grace`]. A new connection of the same participant replaces it (the others
//! are told `ParticipantJoined`), media flowing again restores it (the same), and otherwise
//! the grace period ends it like a departure (`ParticipantLeft`, audited). Ending the
//! visit still goes through [`VisitHub::end`] alone (docs/DESIGN.md invariant 8).
//!
//! Audit: admissions are recorded by the caller before [`VisitHub::enter`] (audit first).
//! The hub records what happens to a live visit: started, participant joined and left, and
//! ended (with the reason). The end is appended before media is stopped, but the wait is
//! bounded by [`END_AUDIT_WAIT`] and a failure never keeps media flowing: ending is the
//! safe direction, so media stops anyway and the failure is logged loudly.

use super::lifecycle::{Action, EndReason, JoinRefusal, LiveVisit, Loss, Notice, Removal, SeatNo};
use super::roster::{self, MediaState, RosterView, SeatFacts};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::ids::{LawyerId, ParticipantId, Role, VisitId};
use crate::media::{MediaError, MediaEvent, MediaHandle, PeerId, SlotBinding};
use crate::policy::Admitted;
use crate::policy::LicenceBasis;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The longest the end of a visit waits for its audit entry before stopping media anyway.
pub const END_AUDIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// How the hub tells a lost participant from a live one (R-REMOTE-2), from `[visit]` in the
/// configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// How long an interrupted participant keeps its seat (default 60 s).
    pub grace: Duration,
    /// No media from a connected peer for this long interrupts it (default 5 s, so that
    /// the others hear of a silent loss within 10 s).
    pub media_silence: Duration,
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness {
            grace: Duration::from_secs(60),
            media_silence: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HubError {
    #[error("{}", .0.message())]
    Ended(EndReason),
    #[error("this participant is already connected to the visit from another device")]
    AlreadyConnected,
    #[error("an assistant or interpreter joins only while the lawyer is present")]
    LawyerAbsent,
    #[error("this connection is no longer part of the visit")]
    NotPresent,
    #[error("an offer was already made on this connection")]
    AlreadyNegotiated,
    #[error(transparent)]
    Media(#[from] MediaError),
}

/// A participant's place in a live visit, held by its signalling connection.
pub struct Seat {
    pub visit: VisitId,
    pub seat: SeatNo,
    pub role: Role,
    pub slot_end: DateTime<Utc>,
    /// Roles already present when this seat joined.
    pub others: Vec<Role>,
    /// Who holds the seat (the token's participant, never the client's claim).
    pub participant: ParticipantId,
    /// How the lawyer's licence was established at admission (re-checked on a resume).
    pub licence: LicenceBasis,
    /// The roster as this seat sees it, updated on every change (R-VERIFY-4).
    pub roster: watch::Receiver<RosterView>,
    admitted: Option<Admitted>,
    /// Which connection holds the seat: a resume hands it to a new connection and counts
    /// up, so the old connection's late `leave` or `lost` changes nothing (R-REMOTE-2).
    epoch: u64,
}

struct SeatEntry {
    notices: mpsc::UnboundedSender<Notice>,
    peer: Option<PeerId>,
    participant: ParticipantId,
    /// How the lawyer's licence was established at admission (re-checked while live).
    licence: LicenceBasis,
    /// The holding connection's epoch (see [`Seat`]).
    epoch: u64,
    /// What the others are shown for this seat in the roster.
    label: String,
    /// This seat's roster (R-VERIFY-4).
    roster: watch::Sender<RosterView>,
    /// Which of this seat's m-lines carry whose media, as the media plane last said.
    slots: Vec<SlotBinding>,
    /// What the participant last said of its own microphone and camera (R-REMOTE-1).
    media: MediaState,
}

struct Live {
    visit: VisitId,
    /// Slot bindings of peers not (yet) recorded on a seat, by peer (see `negotiate`).
    unclaimed_slots: HashMap<PeerId, Vec<SlotBinding>>,
    core: LiveVisit,
    seats: HashMap<SeatNo, SeatEntry>,
    timer: tokio::task::JoinHandle<()>,
    /// Warnings sent so far, as seconds before the end (for the admin health view).
    warned: Vec<i64>,
}

/// What the admin health view reads of one live visit (R-PRIV-1): ids and states only.
#[derive(Debug, Clone)]
pub struct LiveVisitView {
    pub visit: VisitId,
    pub slot_end: DateTime<Utc>,
    /// Warnings sent, as seconds before the end, in order.
    pub warnings_sent: Vec<i64>,
    pub seats: Vec<LiveSeatView>,
}

/// One seat of a live visit, for the admin health view. `participant` is for keying
/// only: the view shows roles, never who.
#[derive(Debug, Clone)]
pub struct LiveSeatView {
    pub participant: ParticipantId,
    pub peer: Option<PeerId>,
    /// The seat's media connection dropped (the participant may come back).
    pub dropped: bool,
}

struct Inner {
    store: Store,
    media: MediaHandle,
    audit: Audit,
    /// How long before the slot end participants are warned (R-ARRANGE-4; 5 and 1 minutes).
    warnings: Vec<chrono::Duration>,
    liveness: Liveness,
    live: Mutex<HashMap<VisitId, Live>>,
    next_seat: AtomicU64,
    /// Departures carried out so far: visits ended or participants let go, counted once their
    /// media peers have been told to close (what `memory::run` watches to give freed memory
    /// back).
    departures: AtomicU64,
}

/// Cheap to clone; one per process.
#[derive(Clone)]
pub struct VisitHub {
    inner: Arc<Inner>,
}

/// Side effects collected under the lock, carried out after it.
#[derive(Default)]
struct Effects {
    remove_peers: Vec<PeerId>,
    end_media: bool,
    record_end: Option<EndReason>,
    /// Audit entries for what happened (appended before the media effects).
    audit: Vec<AuditRecord>,
    cancel_timer: Option<tokio::task::JoinHandle<()>>,
    /// Grace periods to start (R-REMOTE-2).
    graces: Vec<(SeatNo, u64)>,
}

impl VisitHub {
    pub fn new(
        store: Store,
        media: MediaHandle,
        audit: Audit,
        warnings: Vec<chrono::Duration>,
    ) -> VisitHub {
        Self::with_liveness(store, media, audit, warnings, Liveness::default())
    }

    /// [`VisitHub::new`] with the liveness settings of the configuration (R-REMOTE-2).
    pub fn with_liveness(
        store: Store,
        media: MediaHandle,
        audit: Audit,
        warnings: Vec<chrono::Duration>,
        liveness: Liveness,
    ) -> VisitHub {
        VisitHub {
            inner: Arc::new(Inner {
                store,
                media,
                audit,
                warnings,
                liveness,
                live: Mutex::new(HashMap::new()),
                next_seat: AtomicU64::new(1),
                departures: AtomicU64::new(0),
            }),
        }
    }

    /// Consume the media plane's events and watch its published stats for silent peers
    /// (spawned once by `app`).
    pub async fn run_media_events(self, mut events: mpsc::Receiver<MediaEvent>) {
        let mut stats = self.inner.media.stats_feed();
        let mut watching = true;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_media_event(ev),
                    None => break,
                },
                changed = stats.changed(), if watching => match changed {
                    Ok(()) => {
                        let snapshot = stats.borrow_and_update().clone();
                        self.on_media_stats(&snapshot);
                    }
                    Err(_) => watching = false,
                },
            }
        }
    }

    fn on_media_event(&self, ev: MediaEvent) {
        match ev {
            MediaEvent::PeerConnected {
                visit, participant, ..
            } => {
                tracing::info!(visit = %visit, role = participant.role().as_str(), "media connected");
            }
            MediaEvent::PeerDisconnected {
                visit,
                peer,
                participant,
            } => {
                tracing::info!(visit = %visit, role = participant.role().as_str(), "media disconnected");
                let mut effects = Effects::default();
                {
                    let mut live = self.lock();
                    if let Some(l) = live.get_mut(&visit) {
                        l.unclaimed_slots.remove(&peer);
                        let mut dropped = Vec::new();
                        for (no, s) in l.seats.iter_mut() {
                            if s.peer == Some(peer) {
                                s.peer = None;
                                dropped.push(*no);
                            }
                        }
                        for no in dropped {
                            let actions = l.core.mark_dropped(no);
                            apply(l, actions, &mut effects);
                        }
                    }
                }
                self.carry_out(visit, effects);
            }
            MediaEvent::Slots {
                visit,
                receiver,
                slots,
            } => {
                let mut live = self.lock();
                if let Some(l) = live.get_mut(&visit) {
                    match l.seats.values_mut().find(|s| s.peer == Some(receiver)) {
                        Some(s) => s.slots = slots,
                        // Reported before `negotiate` recorded the peer: kept for it.
                        None => {
                            l.unclaimed_slots.insert(receiver, slots);
                        }
                    }
                    publish_rosters(l);
                }
            }
        }
    }

    /// R-REMOTE-2: a connected peer from which no RTP arrived for the configured silence
    /// interrupts its seat; RTP arriving again restores it. Peers that never sent media are
    /// left alone (nothing to miss yet).
    fn on_media_stats(&self, snapshot: &crate::media::MediaSnapshot) {
        let silence = self.inner.liveness.media_silence;
        let by_peer: HashMap<PeerId, bool> = snapshot
            .peers
            .iter()
            .filter_map(|(_, _, st)| {
                let age = st.health.last_media_age?;
                Some((st.peer?, st.connected && age >= silence))
            })
            .collect();
        let mut changed = Vec::new();
        {
            let mut live = self.lock();
            for (visit, l) in live.iter_mut() {
                let mut effects = Effects::default();
                let seats: Vec<(SeatNo, bool)> = l
                    .seats
                    .iter()
                    .filter_map(|(no, s)| Some((*no, *by_peer.get(&s.peer?)?)))
                    .collect();
                for (no, silent) in seats {
                    let actions = l.core.connection(no, Loss::MediaSilent(silent));
                    // Once a second for every seat: nothing changed, nothing to publish.
                    if actions.is_empty() {
                        continue;
                    }
                    tracing::info!(visit = %visit, seat = no.0, silent, "media silence changed");
                    apply(l, actions, &mut effects);
                }
                if !effects.graces.is_empty() || !effects.is_empty() {
                    changed.push((*visit, effects));
                }
            }
        }
        for (visit, effects) in changed {
            self.carry_out(visit, effects);
        }
    }

    /// The participant's signalling connection died without `leave` (keepalive timeout,
    /// broken socket): its seat is kept for the grace period and the others are told it is
    /// reconnecting (R-REMOTE-2).
    pub fn lost(&self, seat: &Seat) {
        let mut effects = Effects::default();
        {
            let mut live = self.lock();
            if let Some(l) = live.get_mut(&seat.visit).filter(|l| holds(l, seat)) {
                let actions = l.core.connection(seat.seat, Loss::SignallingLost);
                apply(l, actions, &mut effects);
            }
        }
        tracing::info!(visit = %seat.visit, role = seat.role.as_str(), "signalling lost");
        self.carry_out(seat.visit, effects);
    }

    /// A grace period is over: a seat still interrupted is let go, like a departure.
    fn grace_over(&self, visit: VisitId, seat: SeatNo, grace: u64) {
        let mut effects = Effects::default();
        {
            let mut live = self.lock();
            if let Some(l) = live.get_mut(&visit) {
                let who = l.seats.get(&seat).map(|s| s.participant.clone());
                let actions = l.core.grace_over(seat, grace);
                if let (false, Some(who)) = (actions.is_empty(), who) {
                    let role = who.role();
                    tracing::info!(visit = %visit, role = role.as_str(), "no return within the grace period");
                    effects.audit.push(AuditRecord::ParticipantLeft {
                        visit,
                        role,
                        participant: Some(who),
                    });
                }
                apply(l, actions, &mut effects);
                if l.core.is_empty() {
                    if let Some(l) = live.remove(&visit) {
                        effects.cancel_timer = Some(l.timer);
                    }
                }
            }
        }
        self.carry_out(visit, effects);
    }

    /// Whether the others were told that `seat` is reconnecting (tests, R-REMOTE-2).
    pub fn is_interrupted(&self, seat: &Seat) -> bool {
        self.lock()
            .get(&seat.visit)
            .is_some_and(|l| l.core.is_interrupted(seat.seat))
    }

    /// Whether the visit's lawyer is present and not interrupted: the condition for an
    /// assistant or interpreter to join (R-VERIFY-4).
    pub fn lawyer_present(&self, visit: VisitId) -> bool {
        self.lock()
            .get(&visit)
            .is_some_and(|l| l.core.lawyer_present())
    }

    /// Whether a seat of `role` in `visit` is interrupted (tests, R-REMOTE-2).
    pub fn role_interrupted(&self, visit: VisitId, role: Role) -> bool {
        self.lock().get(&visit).is_some_and(|l| {
            l.seats
                .iter()
                .any(|(no, s)| s.participant.role() == role && l.core.is_interrupted(*no))
        })
    }

    /// Arm the timers of new grace periods; each holds the hub weakly, so a timer never
    /// keeps a stopped server alive.
    fn start_graces(&self, visit: VisitId, graces: Vec<(SeatNo, u64)>) {
        for (seat, grace) in graces {
            let hub: Weak<Inner> = Arc::downgrade(&self.inner);
            let wait = self.inner.liveness.grace;
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(inner) = hub.upgrade() {
                    VisitHub { inner }.grace_over(visit, seat, grace);
                }
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VisitId, Live>> {
        self.inner.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a seat in the visit that `admitted` is for. Notices for this participant
    /// arrive on `notices`.
    ///
    /// `label` is what the others' rosters show for this participant (a display name or the
    /// booth's label; never a licence number). An assistant or interpreter is refused
    /// ([`HubError::LawyerAbsent`]) unless the visit's lawyer is present (R-VERIFY-4).
    pub fn enter(
        &self,
        admitted: Admitted,
        label: String,
        notices: mpsc::UnboundedSender<Notice>,
        now: DateTime<Utc>,
    ) -> Result<Seat, HubError> {
        let visit = admitted.visit();
        let role = admitted.role();
        let participant = admitted.participant().clone();
        let licence = admitted.licence();
        let seat = SeatNo(self.inner.next_seat.fetch_add(1, Ordering::Relaxed));
        let mut effects = Effects::default();
        let result = {
            let mut live = self.lock();
            if !live.contains_key(&visit) {
                effects.audit.push(AuditRecord::VisitStarted { visit });
            }
            let entry = live.entry(visit).or_insert_with(|| Live {
                visit,
                unclaimed_slots: HashMap::new(),
                core: LiveVisit::new(admitted.slot_end()),
                seats: HashMap::new(),
                timer: self.spawn_slot_timer(visit, admitted.slot_end()),
                warned: Vec::new(),
            });
            match entry.core.join(seat, participant.clone(), now) {
                Ok(actions) => {
                    let others = entry.core.others(seat);
                    let (roster_tx, roster_rx) = watch::channel(RosterView::default());
                    entry.seats.insert(
                        seat,
                        SeatEntry {
                            notices,
                            peer: None,
                            participant: participant.clone(),
                            licence,
                            epoch: 0,
                            label,
                            roster: roster_tx,
                            slots: Vec::new(),
                            media: MediaState::default(),
                        },
                    );
                    apply(entry, actions, &mut effects);
                    effects.audit.push(AuditRecord::ParticipantJoined {
                        visit,
                        role,
                        participant: Some(participant.clone()),
                    });
                    Ok(Seat {
                        visit,
                        seat,
                        role,
                        slot_end: entry.core.slot_end(),
                        others,
                        participant,
                        licence,
                        roster: roster_rx,
                        admitted: Some(admitted),
                        epoch: 0,
                    })
                }
                Err(reason) => {
                    effects.audit.clear();
                    if entry.core.is_empty() {
                        if let Some(l) = live.remove(&visit) {
                            effects.cancel_timer = Some(l.timer);
                        }
                    }
                    match reason {
                        JoinRefusal::Ended(r) => Err(HubError::Ended(r)),
                        JoinRefusal::AlreadyConnected => Err(HubError::AlreadyConnected),
                        JoinRefusal::LawyerAbsent => Err(HubError::LawyerAbsent),
                    }
                }
            }
        };
        self.carry_out(visit, effects);
        result
    }

    /// Hand the participant's SDP offer to the media plane (through the gate: the seat's
    /// `Admitted` proof is consumed) and return the answer.
    pub async fn negotiate(&self, seat: &mut Seat, offer: String) -> Result<String, HubError> {
        let Some(admitted) = seat.admitted.take() else {
            // R-REMOTE-2: the seat has media already (this connection's, or the one it
            // resumed): a new offer may only restart ICE on it.
            return self.restart_ice(seat, offer).await;
        };
        self.check_present(seat)?;
        let (peer, answer) = self.inner.media.add_peer(admitted, offer).await?;
        // The visit may have ended, or this seat been replaced, while media was busy.
        let still_here = {
            let mut live = self.lock();
            match live.get_mut(&seat.visit) {
                Some(l) => {
                    // Slot bindings the media plane reported before the peer was ours.
                    let slots = l.unclaimed_slots.remove(&peer);
                    match l.seats.get_mut(&seat.seat) {
                        Some(entry) => {
                            entry.peer = Some(peer);
                            if let Some(slots) = slots {
                                entry.slots = slots;
                            }
                            publish_rosters(l);
                            true
                        }
                        None => false,
                    }
                }
                None => false,
            }
        };
        if !still_here {
            self.inner.media.remove_peer(peer).await;
            return Err(HubError::NotPresent);
        }
        Ok(answer)
    }

    /// R-REMOTE-2: a second offer on a seat that has media is an ICE restart (new ICE
    /// credentials: the client's network changed) on the same peer, and nothing else: any
    /// other renegotiation is refused as before. Recorded in the audit log (health, not
    /// content) before the answer goes back.
    async fn restart_ice(&self, seat: &Seat, offer: String) -> Result<String, HubError> {
        self.check_present(seat)?;
        let peer = self
            .lock()
            .get(&seat.visit)
            .and_then(|l| l.seats.get(&seat.seat))
            .and_then(|e| e.peer)
            .ok_or(HubError::AlreadyNegotiated)?;
        let answer = match self.inner.media.restart_ice(peer, offer).await {
            Ok(answer) => answer,
            Err(MediaError::NotAnIceRestart) => return Err(HubError::AlreadyNegotiated),
            Err(e) => return Err(e.into()),
        };
        tracing::info!(visit = %seat.visit, role = seat.role.as_str(), "ICE restarted");
        let record = AuditRecord::IceRestarted {
            visit: seat.visit,
            role: seat.role,
        };
        append_bounded(&self.inner.audit, seat.visit, vec![record]).await;
        Ok(answer)
    }

    /// Whether `seat` of `participant` could be resumed now (R-REMOTE-2): the visit is live
    /// and its slot not over, the seat is still kept (not let go after its grace period, not
    /// left, not replaced by a new join) and its media peer still exists (a resumed seat
    /// keeps its peer; there is no new admission). Nothing changes.
    pub fn can_resume(
        &self,
        visit: VisitId,
        seat: SeatNo,
        participant: &ParticipantId,
        now: DateTime<Utc>,
    ) -> Result<(), HubError> {
        let live = self.lock();
        let l = live.get(&visit).ok_or(HubError::NotPresent)?;
        if let Some(r) = l.core.ended() {
            return Err(HubError::Ended(r));
        }
        if now >= l.core.slot_end() {
            return Err(HubError::Ended(EndReason::SlotOver));
        }
        match l.seats.get(&seat) {
            Some(e) if &e.participant == participant && e.peer.is_some() => {
                if l.core.is_dropped(seat) {
                    Err(HubError::NotPresent)
                } else {
                    Ok(())
                }
            }
            _ => Err(HubError::NotPresent),
        }
    }

    /// Hand a kept seat to a new connection (R-REMOTE-2: a resume, checked and audited by the
    /// caller). The old connection, if still open, is told it was replaced and no longer
    /// holds the seat; the seat's grace period is cancelled; the others are told
    /// `ParticipantJoined` once nothing is wrong with the seat any more (its media may still
    /// have to come back through an ICE restart). The returned seat has no `Admitted`: its
    /// media peer is the one it had.
    pub fn resume(
        &self,
        visit: VisitId,
        seat: SeatNo,
        participant: &ParticipantId,
        notices: mpsc::UnboundedSender<Notice>,
        now: DateTime<Utc>,
    ) -> Result<Seat, HubError> {
        self.can_resume(visit, seat, participant, now)?;
        let mut effects = Effects::default();
        let resumed = {
            let mut live = self.lock();
            let l = live.get_mut(&visit).ok_or(HubError::NotPresent)?;
            let entry = l.seats.get_mut(&seat).ok_or(HubError::NotPresent)?;
            let old = std::mem::replace(&mut entry.notices, notices);
            let _ = old.send(Notice::Replaced);
            entry.epoch += 1;
            let (role, licence, epoch) = (entry.participant.role(), entry.licence, entry.epoch);
            // The new connection follows the same roster (R-VERIFY-4).
            let roster = entry.roster.subscribe();
            let actions = l.core.resumed(seat);
            apply(l, actions, &mut effects);
            Seat {
                visit,
                seat,
                role,
                slot_end: l.core.slot_end(),
                others: l.core.others(seat),
                participant: participant.clone(),
                licence,
                admitted: None,
                epoch,
                roster,
            }
        };
        self.carry_out(visit, effects);
        Ok(resumed)
    }

    fn check_present(&self, seat: &Seat) -> Result<(), HubError> {
        let live = self.lock();
        match live.get(&seat.visit) {
            Some(l)
                if l.seats
                    .get(&seat.seat)
                    .is_some_and(|e| e.epoch == seat.epoch) =>
            {
                Ok(())
            }
            Some(l) => Err(l
                .core
                .ended()
                .map(HubError::Ended)
                .unwrap_or(HubError::NotPresent)),
            None => Err(HubError::NotPresent),
        }
    }

    /// The participant says its microphone / camera are on or off (R-REMOTE-1): kept on
    /// the seat (a resume keeps it) and shown in everyone's roster. Display only: nothing
    /// else reads it. A connection whose seat was taken over changes nothing.
    pub fn set_media_state(&self, seat: &Seat, media: MediaState) {
        let mut live = self.lock();
        if let Some(l) = live.get_mut(&seat.visit).filter(|l| holds(l, seat)) {
            if let Some(s) = l.seats.get_mut(&seat.seat) {
                if s.media == media {
                    return;
                }
                s.media = media;
            }
            publish_rosters(l);
        }
    }

    /// The participant leaves (or its connection closed).
    pub fn leave(&self, seat: &Seat) {
        let mut effects = Effects::default();
        {
            let mut live = self.lock();
            if let Some(l) = live.get_mut(&seat.visit).filter(|l| holds(l, seat)) {
                if l.seats.contains_key(&seat.seat) {
                    effects.audit.push(AuditRecord::ParticipantLeft {
                        visit: seat.visit,
                        role: seat.role,
                        participant: Some(seat.participant.clone()),
                    });
                }
                let actions = l.core.leave(seat.seat);
                apply(l, actions, &mut effects);
                if l.core.is_empty() {
                    if let Some(l) = live.remove(&seat.visit) {
                        effects.cancel_timer = Some(l.timer);
                    }
                }
            }
        }
        self.carry_out(seat.visit, effects);
    }

    /// Let the companion `who` go from `visit` while the visit goes on, told `why` (the
    /// others are told it left; audited as `companion_removed`, R-VERIFY-4). Whether it was
    /// in the visit.
    pub fn remove_companion(&self, visit: VisitId, who: &ParticipantId, why: Removal) -> bool {
        let mut effects = Effects::default();
        let removed = {
            let mut live = self.lock();
            let Some(l) = live.get_mut(&visit) else {
                return false;
            };
            let actions = l.core.remove_companion(who, why);
            let removed = !actions.is_empty();
            apply(l, actions, &mut effects);
            if l.core.is_empty() {
                if let Some(l) = live.remove(&visit) {
                    effects.cancel_timer = Some(l.timer);
                }
            }
            removed
        };
        self.carry_out(visit, effects);
        removed
    }

    /// End a visit now, for any reason (slot end, staff stop, cancel, decline, licence
    /// withdrawn, shutdown): the one way a live visit ends (docs/DESIGN.md invariant 8).
    ///
    /// In this order: the end is appended to the audit log (bounded wait: ending is the
    /// safe direction, so a failure is logged loudly and the end goes on); a final end is
    /// made durable in the store; then everyone present is told why, their seats are
    /// released and the visit's media is stopped. The call returns when all of that is
    /// done, so a caller that answers afterwards never races a rejoin. Ending a visit that
    /// nobody is in only records the end (when final).
    pub async fn end(&self, visit: VisitId, reason: EndReason) {
        let live = self
            .lock()
            .get(&visit)
            .is_some_and(|l| l.core.ended().is_none());
        if live {
            let record = AuditRecord::VisitEnded {
                visit,
                reason: reason.code().into(),
            };
            append_bounded(&self.inner.audit, visit, vec![record]).await;
        }
        if reason.is_final() {
            if let Err(e) = self
                .inner
                .store
                .mark_visit_ended(visit, Utc::now(), reason.code())
                .await
            {
                tracing::error!(visit = %visit, error = %e, "could not record the end of a visit; stopping its media anyway");
            }
        }
        let mut effects = Effects::default();
        {
            let mut live = self.lock();
            if let Some(mut l) = live.remove(&visit) {
                let actions = l.core.end(reason);
                apply(&mut l, actions, &mut effects);
                effects.cancel_timer = Some(l.timer);
            }
        }
        // Already recorded above, before anyone was told.
        effects.record_end = None;
        self.cancel_timer(effects.cancel_timer.take());
        perform(self.inner.clone(), visit, effects).await;
    }

    /// Tell every live visit that the server is going away and close its media.
    pub async fn shutdown(&self) {
        let visits: Vec<VisitId> = self.lock().keys().copied().collect();
        for v in visits {
            self.end(v, EndReason::ServerShutdown).await;
        }
    }

    /// The lawyers present in live visits with how their licence was established at
    /// admission, for the periodic re-check (R-VERIFY-1, R-VERIFY-2).
    pub fn lawyers_present(&self) -> Vec<(VisitId, LawyerId, LicenceBasis)> {
        let live = self.lock();
        let mut out = Vec::new();
        for (visit, l) in live.iter() {
            for s in l.seats.values() {
                if let ParticipantId::Lawyer(id) = &s.participant {
                    out.push((*visit, *id, s.licence));
                }
            }
        }
        out.sort_by_key(|(visit, lawyer, _)| (*visit, *lawyer));
        out.dedup_by_key(|(visit, lawyer, _)| (*visit, *lawyer));
        out
    }

    /// The live visits as the admin health view needs them (read-only, one lock).
    pub fn live_view(&self) -> Vec<LiveVisitView> {
        let live = self.lock();
        let mut out: Vec<LiveVisitView> = live
            .iter()
            .map(|(visit, l)| {
                let mut seats: Vec<(SeatNo, LiveSeatView)> = l
                    .seats
                    .iter()
                    .map(|(no, s)| {
                        let seat = LiveSeatView {
                            participant: s.participant.clone(),
                            peer: s.peer,
                            dropped: l.core.is_dropped(*no),
                        };
                        (*no, seat)
                    })
                    .collect();
                seats.sort_by_key(|(no, _)| *no);
                LiveVisitView {
                    visit: *visit,
                    slot_end: l.core.slot_end(),
                    warnings_sent: l.warned.clone(),
                    seats: seats.into_iter().map(|(_, s)| s).collect(),
                }
            })
            .collect();
        out.sort_by_key(|v| v.visit);
        out
    }

    /// The media plane's published stats (at most once a second), for the health view.
    pub fn media_stats(&self) -> tokio::sync::watch::Receiver<Arc<crate::media::MediaSnapshot>> {
        self.inner.media.stats_feed()
    }

    /// Number of visits with at least one participant present.
    pub fn live_count(&self) -> usize {
        self.lock().len()
    }

    /// How many departures (a visit ended, or participants let go) have been carried out
    /// since start, counted once their media peers have been told to close. Only ever grows.
    pub fn departures(&self) -> u64 {
        self.inner.departures.load(Ordering::Relaxed)
    }

    /// Whether someone is present in `visit` (R-CONDUCT-1: staff stop live visits only).
    pub fn is_live(&self, visit: VisitId) -> bool {
        self.lock().contains_key(&visit)
    }

    /// The media plane's stats snapshot (counts and states, never content), for metrics
    /// and the admin health view (docs/DESIGN.md invariant 8: admin reads, never acts, here).
    pub async fn media_snapshot(&self) -> crate::media::MediaSnapshot {
        self.inner.media.snapshot().await
    }

    /// The slot of a live visit was extended (the new end is already persisted): re-arm
    /// its timer and tell everyone present.
    pub fn slot_extended(&self, visit: VisitId, new_end: DateTime<Utc>) {
        let mut effects = Effects::default();
        {
            let mut live = self.lock();
            if let Some(l) = live.get_mut(&visit) {
                let actions = l.core.extend(new_end);
                if !actions.is_empty() {
                    apply(l, actions, &mut effects);
                    let old =
                        std::mem::replace(&mut l.timer, self.spawn_slot_timer(visit, new_end));
                    effects.cancel_timer = Some(old);
                }
            }
        }
        self.carry_out(visit, effects);
    }

    /// The driver of one slot: warnings before the end, then the end. The persisted UTC
    /// end is turned into a monotonic deadline once, when the timer is armed (docs/DESIGN.md
    /// invariant 5): a wall-clock jump while the visit runs moves nothing, and a restart
    /// re-arms from the same persisted end. The decisions are [`super::timing`]'s.
    fn spawn_slot_timer(
        &self,
        visit: VisitId,
        slot_end: DateTime<Utc>,
    ) -> tokio::task::JoinHandle<()> {
        use super::timing;
        let hub = self.clone();
        let offsets = self.inner.warnings.clone();
        tokio::spawn(async move {
            let end = tokio::time::Instant::from_std(timing::monotonic_deadline(
                slot_end,
                Utc::now(),
                std::time::Instant::now(),
            ));
            // "Now" as the slot sees it: the persisted end minus what the monotonic clock
            // says is left.
            let now = || {
                let left = end.saturating_duration_since(tokio::time::Instant::now());
                slot_end - chrono::Duration::from_std(left).unwrap_or_default()
            };
            let mut sent = Vec::new();
            loop {
                let t = now();
                if timing::is_over(slot_end, t) {
                    break;
                }
                if let Some(w) = timing::warning_to_send(slot_end, t, &offsets, &sent) {
                    sent.push(w.before_end);
                    hub.warn(visit, w.minutes_left(), w.before_end.num_seconds());
                    continue;
                }
                let wake = timing::next_wake(slot_end, t, &offsets);
                let before_end = (slot_end - wake).to_std().unwrap_or_default();
                tokio::time::sleep_until(end.checked_sub(before_end).unwrap_or(end)).await;
            }
            // The slot is over: the one way to end (audit, durable end, notices, media).
            hub.end(visit, EndReason::SlotOver).await;
        })
    }

    /// Warn everyone present that the slot ends in about `minutes_left` minutes; the
    /// warning is in the audit log first (bounded wait, like the end).
    fn warn(&self, visit: VisitId, minutes_left: u32, before_end_secs: i64) {
        let mut effects = Effects::default();
        {
            let mut live = self.lock();
            if let Some(l) = live.get_mut(&visit) {
                let actions = l.core.tell_all(Notice::TimeWarning(minutes_left));
                if !actions.is_empty() {
                    l.warned.push(before_end_secs);
                    effects.audit.push(AuditRecord::VisitWarned {
                        visit,
                        minutes_left,
                    });
                    apply(l, actions, &mut effects);
                }
            }
        }
        self.carry_out(visit, effects);
    }

    fn cancel_timer(&self, timer: Option<tokio::task::JoinHandle<()>>) {
        if let Some(t) = timer {
            // Never abort the timer task from inside itself: it finishes on its own.
            if tokio::task::try_id() != Some(t.id()) {
                t.abort();
            }
        }
    }

    /// Carry out collected effects in the background (for paths that must not wait).
    fn carry_out(&self, visit: VisitId, mut effects: Effects) {
        self.cancel_timer(effects.cancel_timer.take());
        self.start_graces(visit, std::mem::take(&mut effects.graces));
        if effects.is_empty() {
            return;
        }
        tokio::spawn(perform(self.inner.clone(), visit, effects));
    }
}

impl Effects {
    fn is_empty(&self) -> bool {
        self.remove_peers.is_empty()
            && !self.end_media
            && self.record_end.is_none()
            && self.audit.is_empty()
    }
}

/// Append what happened to a visit, waiting at most [`END_AUDIT_WAIT`]. A failure never
/// keeps media flowing: it is logged loudly and the caller carries on.
async fn append_bounded(audit: &Audit, visit: VisitId, records: Vec<AuditRecord>) {
    if records.is_empty() {
        return;
    }
    let kinds: Vec<&'static str> = records.iter().map(AuditRecord::kind).collect();
    match tokio::time::timeout(END_AUDIT_WAIT, audit.append_all(Actor::System, records)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::error!(visit = %visit, ?kinds, error = %e, "AUDIT: cannot record what happened to a visit; carrying on (ending is safe)")
        }
        Err(_) => {
            tracing::error!(visit = %visit, ?kinds, "AUDIT: recording what happened to a visit is too slow; carrying on (ending is safe)")
        }
    }
}

/// Audit first, then the durable end, then media.
async fn perform(inner: Arc<Inner>, visit: VisitId, effects: Effects) {
    append_bounded(&inner.audit, visit, effects.audit).await;
    if let Some(reason) = effects.record_end {
        if let Err(e) = inner
            .store
            .mark_visit_ended(visit, Utc::now(), reason.code())
            .await
        {
            tracing::error!(visit = %visit, error = %e, "could not record the end of a visit");
        }
    }
    let departed = effects.end_media || !effects.remove_peers.is_empty();
    if effects.end_media {
        inner.media.end_visit(visit).await;
    }
    for p in effects.remove_peers {
        inner.media.remove_peer(p).await;
    }
    if departed {
        inner.departures.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether `seat` (that connection's epoch) still holds its place in `live`. A connection
/// whose seat was taken over by a resume holds nothing (R-REMOTE-2); a seat already let go
/// is still "held" so the callers' own checks decide, as before.
fn holds(live: &Live, seat: &Seat) -> bool {
    live.seats
        .get(&seat.seat)
        .is_none_or(|e| e.epoch == seat.epoch)
}

/// Publish every seat's roster as the visit stands now; a seat whose roster did not change
/// is not woken (R-VERIFY-4).
fn publish_rosters(live: &Live) {
    let facts: Vec<SeatFacts<'_>> = live
        .core
        .seats()
        .filter_map(|(no, participant, reconnecting)| {
            let s = live.seats.get(&no)?;
            Some(SeatFacts {
                seat: no,
                role: participant.role(),
                label: &s.label,
                reconnecting,
                peer: s.peer,
                media: s.media,
            })
        })
        .collect();
    for (no, s) in &live.seats {
        let view = roster::view_for(*no, &facts, &s.slots);
        s.roster.send_if_modified(|current| {
            if *current == view {
                false
            } else {
                *current = view;
                true
            }
        });
    }
}

/// Carry out the core's actions that touch only this visit's seats; collect the rest.
fn apply(live: &mut Live, actions: Vec<Action>, effects: &mut Effects) {
    for a in actions {
        match a {
            Action::Notify(seat, notice) => {
                if let Some(s) = live.seats.get(&seat) {
                    if let Notice::Removed(why) = notice {
                        // R-VERIFY-4: a companion let go with the lawyer, audited.
                        tracing::info!(visit = %live.visit, role = s.participant.role().as_str(), reason = why.code(), "companion removed");
                        effects.audit.push(AuditRecord::CompanionRemoved {
                            visit: live.visit,
                            participant: s.participant.clone(),
                            reason: why.code().into(),
                        });
                    }
                    let _ = s.notices.send(notice);
                }
            }
            Action::Disconnect(seat) => {
                if let Some(s) = live.seats.remove(&seat) {
                    if let Some(p) = s.peer {
                        effects.remove_peers.push(p);
                    }
                    // Dropping the sender tells the connection it has been let go.
                }
            }
            Action::EndMedia => effects.end_media = true,
            Action::RecordEnd(r) => effects.record_end = Some(r),
            Action::StartGrace(seat, n) => effects.graces.push((seat, n)),
        }
    }
    publish_rosters(live);
}
