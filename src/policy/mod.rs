//! Who may join which visit, when, with what proof. Pure: no I/O, no clock (`now` is an argument).
//!
//! The only way to obtain an [`Admitted`] proof is [`admit`]; its fields are private to this
//! module, so no other module can forge one. `media` accepts a peer only together with an
//! `Admitted` (DESIGN.md invariant 1, the gate).
//!
//! This module does not authenticate anyone: it receives a [`Principal`] whose identity
//! `auth` has already proven (a verified join token for a lawyer, a verified client
//! certificate for a booth). Licence, documents and scheduling checks arrive with later
//! issues as further inputs to [`admit`]; they are not faked here.

use crate::ids::{BoothId, LawyerId, ParticipantId, Role, VisitId};
use chrono::{DateTime, Utc};

/// What policy needs to know about a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitTerms {
    pub id: VisitId,
    pub lawyer: LawyerId,
    pub booth: BoothId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Set once the visit has ended for good (slot over, stopped, cancelled).
    pub ended: bool,
}

/// An authenticated party asking to join.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A lawyer proven by a join token that `auth` issued to the lawyer's own session.
    Lawyer(LawyerId),
    /// A booth proven by its client certificate (facility CA) matching the token's booth.
    Booth(BoothId),
}

impl Principal {
    pub fn participant(&self) -> ParticipantId {
        match self {
            Principal::Lawyer(id) => ParticipantId::Lawyer(*id),
            Principal::Booth(id) => ParticipantId::Booth(id.clone()),
        }
    }
}

/// Why a join was refused. Each has a stable code and a sentence for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    /// The principal is neither the visit's lawyer nor the visit's booth (R-VERIFY-4).
    NotAParticipant,
    /// The slot has not started yet.
    TooEarly,
    /// The slot is over.
    SlotOver,
    /// The visit has already ended.
    VisitEnded,
}

impl Deny {
    pub fn code(self) -> &'static str {
        match self {
            Deny::NotAParticipant => "not_a_participant",
            Deny::TooEarly => "too_early",
            Deny::SlotOver => "slot_over",
            Deny::VisitEnded => "visit_ended",
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            Deny::NotAParticipant => {
                "You are not a participant of this visit: only its lawyer and its booth may join."
            }
            Deny::TooEarly => {
                "This visit's time slot has not started yet; please join at the slot's start."
            }
            Deny::SlotOver => "This visit's time slot is over.",
            Deny::VisitEnded => "This visit has already ended.",
        }
    }
}

impl std::fmt::Display for Deny {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Proof that one participant may receive and send media in one visit, until `slot_end`.
///
/// Constructed only by [`admit`]. Deliberately neither `Clone` nor `Default`.
#[derive(Debug)]
pub struct Admitted {
    visit: VisitId,
    participant: ParticipantId,
    slot_end: DateTime<Utc>,
}

impl Admitted {
    pub fn visit(&self) -> VisitId {
        self.visit
    }
    pub fn participant(&self) -> &ParticipantId {
        &self.participant
    }
    pub fn role(&self) -> Role {
        self.participant.role()
    }
    pub fn slot_end(&self) -> DateTime<Utc> {
        self.slot_end
    }
}

/// Decide whether `who` may join `visit` at `now`.
pub fn admit(visit: &VisitTerms, who: &Principal, now: DateTime<Utc>) -> Result<Admitted, Deny> {
    let is_participant = match who {
        Principal::Lawyer(id) => *id == visit.lawyer,
        Principal::Booth(id) => *id == visit.booth,
    };
    if !is_participant {
        return Err(Deny::NotAParticipant);
    }
    if visit.ended {
        return Err(Deny::VisitEnded);
    }
    if now >= visit.ends_at {
        return Err(Deny::SlotOver);
    }
    if now < visit.starts_at {
        return Err(Deny::TooEarly);
    }
    Ok(Admitted {
        visit: visit.id,
        participant: who.participant(),
        slot_end: visit.ends_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
    }

    fn visit() -> VisitTerms {
        VisitTerms {
            id: VisitId(7),
            lawyer: LawyerId(1),
            booth: BoothId("booth-a".into()),
            starts_at: t(9, 0),
            ends_at: t(9, 30),
            ended: false,
        }
    }

    /// One row of the decision table: who asks, when, and what policy must answer.
    struct Case {
        name: &'static str,
        who: Principal,
        now: DateTime<Utc>,
        ended: bool,
        expect: Result<(), Deny>,
    }

    #[test]
    fn decision_table() {
        let lawyer = Principal::Lawyer(LawyerId(1));
        let booth = Principal::Booth(BoothId("booth-a".into()));
        let cases = [
            // R-VERIFY-4: only the visit's lawyer and its booth join.
            Case {
                name: "assigned lawyer inside slot",
                who: lawyer.clone(),
                now: t(9, 0),
                ended: false,
                expect: Ok(()),
            },
            Case {
                name: "assigned booth inside slot",
                who: booth.clone(),
                now: t(9, 29),
                ended: false,
                expect: Ok(()),
            },
            Case {
                name: "another lawyer",
                who: Principal::Lawyer(LawyerId(2)),
                now: t(9, 10),
                ended: false,
                expect: Err(Deny::NotAParticipant),
            },
            Case {
                name: "another booth",
                who: Principal::Booth(BoothId("booth-b".into())),
                now: t(9, 10),
                ended: false,
                expect: Err(Deny::NotAParticipant),
            },
            Case {
                name: "before the slot",
                who: lawyer.clone(),
                now: t(8, 59),
                ended: false,
                expect: Err(Deny::TooEarly),
            },
            Case {
                name: "at the slot end",
                who: booth.clone(),
                now: t(9, 30),
                ended: false,
                expect: Err(Deny::SlotOver),
            },
            Case {
                name: "ended visit",
                who: lawyer.clone(),
                now: t(9, 10),
                ended: true,
                expect: Err(Deny::VisitEnded),
            },
            Case {
                name: "stranger to an ended visit learns nothing about it",
                who: Principal::Lawyer(LawyerId(9)),
                now: t(9, 10),
                ended: true,
                expect: Err(Deny::NotAParticipant),
            },
        ];
        for case in cases {
            let mut v = visit();
            v.ended = case.ended;
            let got = admit(&v, &case.who, case.now).map(|a| {
                assert_eq!(a.visit(), VisitId(7));
                assert_eq!(a.participant(), &case.who.participant());
                assert_eq!(a.slot_end(), t(9, 30));
            });
            assert_eq!(got, case.expect, "{}", case.name);
        }
    }

    #[test]
    fn every_refusal_has_a_code_and_a_sentence() {
        for d in [
            Deny::NotAParticipant,
            Deny::TooEarly,
            Deny::SlotOver,
            Deny::VisitEnded,
        ] {
            assert!(
                !d.code().is_empty()
                    && d.code().chars().all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(d.message().ends_with('.'));
        }
    }
}
