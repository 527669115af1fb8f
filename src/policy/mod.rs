//! Who may join which visit, when, with what proof. Pure: no I/O, no clock (`now` is an
//! argument). The single place that decides admission (R-VERIFY-1..4, R-ARRANGE-1..3).
//!
//! The only way to obtain an [`Admitted`] proof is [`admit`]; its fields are private to this
//! module, so no other module can forge one. `media` accepts a peer only together with an
//! `Admitted` (docs/DESIGN.md invariant 1, the gate).
//!
//! This module does not authenticate anyone nor look anything up: `visit::admission`
//! gathers the [`Applicant`]'s evidence (the registry's [`Verdict`], a manual verification,
//! the documents' review state, the unit's permission, the case approval of a companion) and
//! `auth` has already proven the identity (a verified join token for a lawyer-side account,
//! a verified client certificate for a booth).
//!
//! The rules, in the order they are checked:
//! 1. only the visit's lawyer, its booth and the companions its lawyer invited to it
//!    (R-VERIFY-4; that a companion joins only while the lawyer is present is the live
//!    visit's fact, checked by `visit::hub` in the same admission sequence);
//! 2. the visit is not over, its slot has begun and not ended;
//! 3. the account is not locked for suspected impersonation (R-VERIFY-3);
//! 4. the visit belongs to a case, and (for the lawyer) the lawyer has an engagement for it;
//! 5. the lawyer's licence verified against the registry at this join, or staff verified it
//!    by hand for this visit (R-VERIFY-1, R-VERIFY-2). Registry down = not verified;
//! 6. the firm letter and the power of attorney or legal-aid letter were accepted — and
//!    nothing else is ever asked (R-ARRANGE-1, R-ARRANGE-2);
//! 7. where the case is flagged (national security or terrorism during investigation), the
//!    investigating unit granted permission; no other case needs one (R-ARRANGE-3);
//! 8. a companion is approved for the case by the investigating unit, as staff recorded it
//!    (interpreters always, assistants where the case is flagged; R-VERIFY-4);
//!    Where the visit names a remote police-station booth as the lawyer's side, the
//!    lawyer joins from that terminal only (R-REMOTE-1);
//! 9. in a borrowed interrogation room, for everyone (the booth included): the lawyer
//!    consented to the room, and its recording and monitoring equipment was attested off
//!    for this visit (R-PRIV-2). Until then no media flows at all.
//!
//! The booth is admitted on its certificate and the slot alone: nothing reaches it until
//! another admitted participant sends media.

use crate::ids::{BoothId, CaseId, LawyerId, ParticipantId, Role, VisitId};
use crate::licence::verify::{Reason, Verdict};
pub use crate::model::visit::{Permission, Room};
use crate::store::VisitRow;
use chrono::{DateTime, Utc};

/// What policy needs to know about a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitTerms {
    pub id: VisitId,
    pub lawyer: LawyerId,
    pub booth: BoothId,
    /// The case the visit is about (`None` only for rows made before cases existed).
    pub case: Option<CaseId>,
    /// Assistants and interpreters the visit's lawyer invited to this visit (at most two;
    /// R-VERIFY-4: invitations made by anyone else are not counted).
    pub companions: Vec<LawyerId>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    /// Set once the visit has ended for good (slot over, stopped, cancelled).
    pub ended: bool,
    /// The room the detainee sits in (R-PRIV-2).
    pub room: Room,
    /// A remote booth at a police station registered as the lawyer's side (R-REMOTE-1):
    /// the lawyer joins from that terminal only.
    pub lawyer_booth: Option<BoothId>,
}

impl VisitRow {
    /// What policy needs to know about this stored visit (the store returns its row; the
    /// terms are policy's).
    pub fn terms(&self) -> VisitTerms {
        VisitTerms {
            id: self.id,
            lawyer: self.lawyer,
            booth: self.booth.clone(),
            case: self.case,
            companions: self.companions.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            ended: self.ended_at.is_some(),
            room: self.room,
            lawyer_booth: self.lawyer_booth.clone(),
        }
    }
}

/// An assistant or an interpreter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompanionRole {
    Assistant,
    Interpreter,
}

/// The review state of one required document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentState {
    Missing,
    Pending,
    Rejected,
    Accepted,
}

/// The two documents an engagement needs (R-ARRANGE-1): the law-firm letter, and the
/// authority (power of attorney or legal-aid letter, whichever the engagement names). This
/// struct is the whole list; there is no field for anything else (R-ARRANGE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Documents {
    pub firm_letter: DocumentState,
    pub authority: DocumentState,
}

impl Documents {
    pub const ACCEPTED: Documents = Documents {
        firm_letter: DocumentState::Accepted,
        authority: DocumentState::Accepted,
    };
}

/// What is known about a lawyer asking to join, gathered just before the decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LawyerEvidence {
    pub account_locked: bool,
    /// The visit's case, as far as this lawyer is concerned: `None` when the lawyer has no
    /// engagement for it.
    pub engagement: Option<EngagementEvidence>,
    /// The registry's verdict on the lawyer's licence at this join.
    pub licence: Verdict,
    /// Staff verified the licence by hand for this visit (R-VERIFY-2).
    pub manually_verified: bool,
    /// The booth terminal the request came through, proven by its client certificate
    /// (`None` from an ordinary browser).
    pub terminal: Option<BoothId>,
}

/// The lawyer's engagement for the visit's case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngagementEvidence {
    pub documents: Documents,
    pub permission: Permission,
}

/// An authenticated party asking to join, with the evidence about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applicant {
    /// A lawyer proven by a join token that `auth` issued to the lawyer's own session.
    Lawyer(LawyerId, LawyerEvidence),
    /// A booth proven by its client certificate (facility CA) matching the token's booth.
    Booth(BoothId),
    /// An assistant or interpreter proven by a join token issued to their own session.
    Companion {
        account: LawyerId,
        role: CompanionRole,
        account_locked: bool,
        /// Approved by the investigating unit for the visit's case, as recorded by staff.
        approved_for_case: bool,
    },
}

impl Applicant {
    pub fn participant(&self) -> ParticipantId {
        match self {
            Applicant::Lawyer(id, _) => ParticipantId::Lawyer(*id),
            Applicant::Booth(id) => ParticipantId::Booth(id.clone()),
            Applicant::Companion { account, role, .. } => match role {
                CompanionRole::Assistant => ParticipantId::Assistant(*account),
                CompanionRole::Interpreter => ParticipantId::Interpreter(*account),
            },
        }
    }
}

/// Why a join was refused. Each has a stable [`code`](Deny::code), and a sentence in
/// English and in Chinese that tells the person what to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    /// The applicant is none of the visit's lawyer, booth or invited companions (R-VERIFY-4).
    NotAParticipant,
    /// The slot has not started yet.
    TooEarly,
    /// The slot is over.
    SlotOver,
    /// The visit has already ended.
    VisitEnded,
    /// The account is locked after suspected impersonation (R-VERIFY-3).
    AccountLocked,
    /// The visit was arranged without a case; staff must attach it to one.
    NoCase,
    /// The lawyer has no engagement (firm letter + authority) for the visit's case.
    NoEngagement,
    /// The licence did not verify (R-VERIFY-1), and no manual verification is recorded.
    Licence(Reason),
    /// A required document is missing, unchecked or rejected (R-ARRANGE-1).
    Documents(Documents),
    /// The flagged case has no permission from the investigating unit (R-ARRANGE-3).
    PermissionMissing,
    /// The investigating unit refused permission (R-ARRANGE-3).
    PermissionRefused,
    /// The companion is not approved for the case (R-VERIFY-4).
    CompanionNotApproved,
    /// The visit is arranged from a remote police-station booth, and the lawyer is not
    /// at that terminal (R-REMOTE-1).
    RemoteBoothRequired,
    /// A borrowed interrogation room without the lawyer's consent (R-PRIV-2).
    RoomConsentMissing,
    /// A borrowed interrogation room whose recording and monitoring equipment has not been
    /// attested off for this visit (R-PRIV-2).
    RoomNotAttested,
    /// An assistant or interpreter the visit's lawyer has not invited to this visit
    /// (R-VERIFY-4: only the lawyer invites, never staff).
    CompanionNotInvited,
}

impl Deny {
    /// Stable machine-readable code (API responses, wire, audit, metrics labels).
    pub fn code(self) -> &'static str {
        match self {
            Deny::NotAParticipant => "not_a_participant",
            Deny::TooEarly => "too_early",
            Deny::SlotOver => "slot_over",
            Deny::VisitEnded => "visit_ended",
            Deny::AccountLocked => "account_locked",
            Deny::NoCase => "visit_without_case",
            Deny::NoEngagement => "engagement_missing",
            Deny::Licence(r) => r.code(),
            Deny::Documents(_) => "documents_incomplete",
            Deny::PermissionMissing => "permission_missing",
            Deny::PermissionRefused => "permission_refused",
            Deny::CompanionNotApproved => "companion_not_approved",
            Deny::RemoteBoothRequired => "join_from_remote_booth",
            Deny::RoomConsentMissing => "room_consent_missing",
            Deny::RoomNotAttested => "room_not_attested",
            Deny::CompanionNotInvited => "companion_not_invited",
        }
    }

    /// What the person reads, in English.
    pub fn message_en(self) -> String {
        match self {
            Deny::NotAParticipant => "You are not a participant of this visit: only its lawyer, its booth and the \
                 assistants or interpreters invited to it may join."
                .into(),
            Deny::TooEarly => {
                "This visit's time slot has not started yet; please join at the slot's start.".into()
            }
            Deny::SlotOver => "This visit's time slot is over.".into(),
            Deny::VisitEnded => "This visit has already ended.".into(),
            Deny::AccountLocked => "This account is locked after repeated licence checks that failed; please \
                 contact the facility's staff, who can unlock it after checking your documents."
                .into(),
            Deny::NoCase => "This visit is not attached to a case yet; please ask the facility's staff to \
                 attach it."
                .into(),
            Deny::NoEngagement => "You have not registered as this client's lawyer yet: add the engagement with \
                 your law-firm letter and your power of attorney or legal-aid letter."
                .into(),
            Deny::Licence(r) => r.message_en().into(),
            Deny::Documents(d) => {
                let mut todo = Vec::new();
                for (name, state) in [
                    ("law-firm letter", d.firm_letter),
                    ("power of attorney or legal-aid letter", d.authority),
                ] {
                    match state {
                        DocumentState::Missing => todo.push(format!("upload your {name}")),
                        DocumentState::Rejected => todo.push(format!(
                            "your {name} was rejected: see the reason on your documents page and upload it again"
                        )),
                        DocumentState::Pending => {
                            todo.push(format!("your {name} is waiting for staff to check it"))
                        }
                        DocumentState::Accepted => {}
                    }
                }
                format!(
                    "Your documents for this client are not complete: {}. Nothing else is required.",
                    todo.join("; ")
                )
            }
            Deny::PermissionMissing => "This case (national security or terrorism, investigation stage) needs the \
                 investigating unit's written permission, and none is recorded yet; ask the unit, and staff \
                 will record its decision."
                .into(),
            Deny::PermissionRefused => "The investigating unit did not permit a visit in this case (national \
                 security or terrorism, investigation stage); you may complain about this decision."
                .into(),
            Deny::CompanionNotApproved => "You are not approved for this case as an assistant or interpreter; the \
                 investigating unit's approval must be recorded by staff first."
                .into(),
            Deny::RemoteBoothRequired => "This visit is arranged from a remote booth at a police station: please \
                 sign in and join on that booth's terminal."
                .into(),
            Deny::RoomConsentMissing => "This visit was placed in a borrowed interrogation room, and the lawyer has \
                 not agreed to that room; the lawyer may agree through the facility's staff, or ask for the next \
                 free lawyer room."
                .into(),
            Deny::RoomNotAttested => "This visit is in a borrowed interrogation room: the officer at the booth must \
                 first confirm on the booth screen that the room's recording and monitoring equipment is off. \
                 Please wait a moment and try again."
                .into(),
            Deny::CompanionNotInvited => "The lawyer has not invited you to this visit: an assistant or interpreter \
                 joins only when the visit's lawyer invites them from the visit page."
                .into(),
        }
    }

    /// What the person reads, in Chinese.
    pub fn message_zh(self) -> String {
        match self {
            Deny::NotAParticipant => {
                "您不是本次会见的参与人：只有本案律师、会见终端及经批准的助理或翻译人员可以加入。".into()
            }
            Deny::TooEarly => "本次会见时段尚未开始，请在开始时间加入。".into(),
            Deny::SlotOver => "本次会见时段已结束。".into(),
            Deny::VisitEnded => "本次会见已结束。".into(),
            Deny::AccountLocked => {
                "因多次执业证核验失败，本账户已被锁定；请联系看守所工作人员，核对材料后可解除锁定。".into()
            }
            Deny::NoCase => "本次会见尚未关联案件，请联系看守所工作人员关联。".into(),
            Deny::NoEngagement => {
                "您尚未登记为该当事人的辩护律师：请提交律师事务所证明和授权委托书或法律援助公函。".into()
            }
            Deny::Licence(r) => r.message_zh().into(),
            Deny::Documents(d) => {
                let mut todo = Vec::new();
                for (name, state) in [
                    ("律师事务所证明", d.firm_letter),
                    ("授权委托书或法律援助公函", d.authority),
                ] {
                    match state {
                        DocumentState::Missing => todo.push(format!("请上传{name}")),
                        DocumentState::Rejected => {
                            todo.push(format!("您的{name}未通过审核，请查看原因后重新上传"))
                        }
                        DocumentState::Pending => todo.push(format!("您的{name}正在等待工作人员审核")),
                        DocumentState::Accepted => {}
                    }
                }
                format!("您为该当事人提交的材料尚不完整：{}。不需要其他材料。", todo.join("；"))
            }
            Deny::PermissionMissing => {
                "本案（危害国家安全、恐怖活动犯罪，侦查期间）会见须经侦查机关许可，目前尚无许可记录；请向侦查机关申请，工作人员将登记其决定。".into()
            }
            Deny::PermissionRefused => {
                "侦查机关未许可本案（危害国家安全、恐怖活动犯罪，侦查期间）的会见；您可以对此提出投诉。".into()
            }
            Deny::CompanionNotApproved => {
                "您未被批准作为本案的助理或翻译人员参加会见；须由工作人员先登记侦查机关的批准。".into()
            }
            Deny::RemoteBoothRequired => {
                "本次会见安排在公安机关的远程会见终端进行：请在该终端上登录并加入。".into()
            }
            Deny::RoomConsentMissing => {
                "本次会见安排在借用的讯问室，律师尚未同意使用该房间；律师可通过看守所工作人员表示同意，或申请下一个空闲的会见室。".into()
            }
            Deny::RoomNotAttested => {
                "本次会见在借用的讯问室进行：须先由会见终端旁的民警在屏幕上确认该房间的录音录像和监听设备已关闭。请稍候再试。".into()
            }
            Deny::CompanionNotInvited => {
                "律师尚未邀请您参加本次会见：助理或翻译人员须由本次会见的律师在会见页面邀请后才能加入。".into()
            }
        }
    }

    /// Whether the refusal may be someone posing as a lawyer (R-VERIFY-3).
    pub fn is_possible_impersonation(self) -> bool {
        matches!(self, Deny::Licence(r) if r.is_possible_impersonation())
    }
}

impl std::fmt::Display for Deny {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message_en())
    }
}

/// How a lawyer's licence was established for an admission (recorded in the audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LicenceBasis {
    /// Not a lawyer (booth or companion).
    NotApplicable,
    /// The registry verified it at this join.
    Registry,
    /// Staff verified it by hand for this visit (R-VERIFY-2).
    Manual,
}

/// Proof that one participant may receive and send media in one visit, until `slot_end`.
///
/// Constructed only by [`admit`]. Deliberately neither `Clone` nor `Default`.
#[derive(Debug)]
pub struct Admitted {
    visit: VisitId,
    participant: ParticipantId,
    slot_end: DateTime<Utc>,
    licence: LicenceBasis,
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
    pub fn licence(&self) -> LicenceBasis {
        self.licence
    }
}

/// Decide whether `who` may join `visit` at `now`.
pub fn admit(visit: &VisitTerms, who: &Applicant, now: DateTime<Utc>) -> Result<Admitted, Deny> {
    let is_participant = match who {
        Applicant::Lawyer(id, _) => *id == visit.lawyer,
        Applicant::Booth(id) => *id == visit.booth,
        Applicant::Companion { account, .. } => {
            if !visit.companions.contains(account) {
                return Err(Deny::CompanionNotInvited);
            }
            true
        }
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
    let licence = match who {
        Applicant::Booth(_) => LicenceBasis::NotApplicable,
        Applicant::Companion {
            account_locked,
            approved_for_case,
            ..
        } => {
            if *account_locked {
                return Err(Deny::AccountLocked);
            }
            if visit.case.is_none() {
                return Err(Deny::NoCase);
            }
            if !approved_for_case {
                return Err(Deny::CompanionNotApproved);
            }
            LicenceBasis::NotApplicable
        }
        Applicant::Lawyer(_, ev) => {
            if ev.account_locked {
                return Err(Deny::AccountLocked);
            }
            if visit.case.is_none() {
                return Err(Deny::NoCase);
            }
            let Some(engagement) = ev.engagement else {
                return Err(Deny::NoEngagement);
            };
            if let Some(remote) = &visit.lawyer_booth {
                if ev.terminal.as_ref() != Some(remote) {
                    return Err(Deny::RemoteBoothRequired);
                }
            }
            // R-VERIFY-2: a manual verification settles an outage or a disagreement of the
            // registry's data, never a status the registry states (suspended, revoked, ...).
            let basis = match (&ev.licence, ev.manually_verified) {
                (Verdict::Verified(_), _) => LicenceBasis::Registry,
                (Verdict::Refused(r), true) if r.manual_may_override() => LicenceBasis::Manual,
                (Verdict::Refused(r), _) => return Err(Deny::Licence(*r)),
            };
            if engagement.documents != Documents::ACCEPTED {
                return Err(Deny::Documents(engagement.documents));
            }
            match engagement.permission {
                Permission::NotNeeded | Permission::Granted => {}
                Permission::Missing => return Err(Deny::PermissionMissing),
                Permission::Refused => return Err(Deny::PermissionRefused),
            }
            basis
        }
    };
    if let Room::Borrowed {
        lawyer_consent,
        equipment_off_attested,
    } = visit.room
    {
        if !lawyer_consent {
            return Err(Deny::RoomConsentMissing);
        }
        if !equipment_off_attested {
            return Err(Deny::RoomNotAttested);
        }
    }
    Ok(Admitted {
        visit: visit.id,
        participant: who.participant(),
        slot_end: visit.ends_at,
        licence,
    })
}

#[cfg(test)]
mod tests;
