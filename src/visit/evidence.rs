//! The evidence for an admission, and what a licence check reveals (R-VERIFY-1..4,
//! R-ARRANGE-1..3): the I/O half of the gate, used by [`super::admission`]; `policy` stays
//! pure.
//!
//! [`Gate::applicant`] reads the account, the visit's case, the lawyer's engagement and the
//! review state of its documents, the unit's permission, a manual verification, and asks
//! the licence registry (through the positive cache). A refusal that may be impersonation
//! (R-VERIFY-3) raises an alert to staff ([`Gate::raise_impersonation_alert`]: store +
//! audit, audit first), and repeated alerts within the configured window lock the account.
//!
//! While a visit runs, [`recheck_running`] asks the registry again (bypassing the cache) for
//! every lawyer present; a licence that is no longer in good standing ends the visit through
//! the hub with a clear reason. A lawyer admitted on a manual verification (R-VERIFY-2) is
//! re-checked too: the disagreement staff settled (unknown number, other holder or firm)
//! does not end the visit, a status the registry now states (suspended, revoked, ...) does.
//! A registry outage never ends a visit (docs/DESIGN.md invariant 4).
//!
//! Does not: decide (`policy::admit`, called only by `admission`), authenticate (`auth`),
//! or audit the admission itself (`admission` does, before the seat is taken).

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::lifecycle::EndReason;
use super::VisitHub;
use crate::audit::{Actor, Audit, AuditError, AuditRecord};
use crate::config::LicenceSection;
use crate::documents::DocumentStatus;
use crate::ids::{BoothId, LawyerId, ParticipantId, VisitId};
use crate::licence::cache::CachedRegistry;
use crate::licence::verify::{verify_lookup, LawyerClaim, Reason, Verdict};
use crate::licence::{AnyRegistry, HolderIdHash, LicenceNumber, LicenceRegistry};
use crate::policy::{
    Applicant, CompanionRole, Deny, DocumentState, Documents, EngagementEvidence, LawyerEvidence,
    LicenceBasis,
};
use crate::redact::Redacted;
use crate::store::verification::{LawyerAccount, MemberKind};
use crate::store::{Store, StoreError, VisitRow};

/// The gate could not decide: a dependency failed. Nobody is admitted (fail closed).
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

/// The licence registry (cached) and what the gate needs around it. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    store: Store,
    audit: Audit,
    registry: CachedRegistry<AnyRegistry>,
    settings: LicenceSection,
}

/// A lawyer-side participant as the account says it is: the token's participant must agree
/// with the account's kind (a lawyer token for an assistant's account proves nothing).
fn participant_for(account: &LawyerAccount) -> ParticipantId {
    match account.kind {
        MemberKind::Lawyer => ParticipantId::Lawyer(account.id),
        MemberKind::Assistant => ParticipantId::Assistant(account.id),
        MemberKind::Interpreter => ParticipantId::Interpreter(account.id),
    }
}

/// The review state of one required document, as policy reads it.
fn document_state(s: DocumentStatus) -> DocumentState {
    match s {
        DocumentStatus::Missing => DocumentState::Missing,
        DocumentStatus::Pending => DocumentState::Pending,
        DocumentStatus::Accepted => DocumentState::Accepted,
        DocumentStatus::Rejected => DocumentState::Rejected,
    }
}

/// The account's claim about its holder, for the registry check. `None` when the account
/// carries no licence number or identity hash (it cannot be verified automatically).
fn claim(account: &LawyerAccount, law_firm: &str) -> Option<LawyerClaim> {
    let licence: LicenceNumber = account.licence_number.as_deref()?.parse().ok()?;
    let holder_id_hash: HolderIdHash = account.holder_id_hash.as_deref()?.parse().ok()?;
    Some(LawyerClaim {
        licence,
        holder_name: account.display_name.clone(),
        holder_id_hash,
        law_firm: law_firm.to_owned(),
    })
}

impl Gate {
    pub fn new(
        store: Store,
        audit: Audit,
        registry: CachedRegistry<AnyRegistry>,
        settings: LicenceSection,
    ) -> Gate {
        Gate {
            store,
            audit,
            registry,
            settings,
        }
    }

    pub fn registry(&self) -> &CachedRegistry<AnyRegistry> {
        &self.registry
    }

    /// The participant a lawyer-side account joins as, or `None` for an unknown account.
    pub async fn lawyer_side_participant(
        &self,
        account: LawyerId,
    ) -> Result<Option<ParticipantId>, GateError> {
        Ok(self
            .store
            .lawyer_account(account)
            .await?
            .map(|a| participant_for(&a)))
    }

    /// Gather what policy needs to decide whether `participant` may join `row` now: who
    /// the applicant is and the evidence for a lawyer (account, engagement, documents,
    /// permission, manual verification, the licence registry's word). A participant the
    /// account does not match is refused here (`NotAParticipant`) without asking anything.
    pub async fn applicant(
        &self,
        row: &VisitRow,
        participant: &ParticipantId,
        terminal: Option<&BoothId>,
        now: DateTime<Utc>,
    ) -> Result<Result<Applicant, Deny>, GateError> {
        Ok(Ok(match participant {
            ParticipantId::Booth(b) => Applicant::Booth(b.clone()),
            ParticipantId::Lawyer(id)
            | ParticipantId::Assistant(id)
            | ParticipantId::Interpreter(id) => {
                let Some(account) = self.store.lawyer_account(*id).await? else {
                    return Ok(Err(Deny::NotAParticipant));
                };
                if &participant_for(&account) != participant {
                    return Ok(Err(Deny::NotAParticipant));
                }
                match account.kind {
                    MemberKind::Lawyer => {
                        let mut evidence = self.lawyer_evidence(row, &account, now).await?;
                        evidence.terminal = terminal.cloned();
                        Applicant::Lawyer(*id, evidence)
                    }
                    MemberKind::Assistant | MemberKind::Interpreter => {
                        // R-VERIFY-4: the investigating unit's approval, as staff recorded
                        // it, is needed for an interpreter always and for an assistant where
                        // the case is flagged (national security or terrorism during
                        // investigation); otherwise the lawyer's invitation suffices.
                        let approved = match row.case {
                            Some(case) => {
                                let flagged = self
                                    .store
                                    .case(case)
                                    .await?
                                    .is_none_or(|c| c.needs_unit_permission);
                                let required = account.kind == MemberKind::Interpreter || flagged;
                                !required || self.store.companion_approved(case, *id).await?
                            }
                            None => false,
                        };
                        Applicant::Companion {
                            account: *id,
                            role: if account.kind == MemberKind::Assistant {
                                CompanionRole::Assistant
                            } else {
                                CompanionRole::Interpreter
                            },
                            account_locked: account.locked,
                            approved_for_case: approved,
                        }
                    }
                }
            }
        }))
    }

    async fn lawyer_evidence(
        &self,
        row: &VisitRow,
        account: &LawyerAccount,
        now: DateTime<Utc>,
    ) -> Result<LawyerEvidence, GateError> {
        // Not asked: policy refuses on an earlier rule before it looks at the licence. The
        // placeholder is a refusal, so nothing is admitted on it by mistake.
        let not_asked = Verdict::Refused(Reason::RegistryUnavailable);
        let mut evidence = LawyerEvidence {
            account_locked: account.locked,
            engagement: None,
            licence: not_asked.clone(),
            manually_verified: false,
            terminal: None,
        };
        if account.locked || row.lawyer != account.id {
            return Ok(evidence);
        }
        let Some(case_id) = row.case else {
            return Ok(evidence);
        };
        let Some(case) = self.store.case(case_id).await? else {
            return Ok(evidence);
        };
        let Some(engagement) = self.store.engagement_of(account.id, case_id).await? else {
            return Ok(evidence);
        };
        let summary = self.store.documents_summary(engagement.id).await?;
        evidence.engagement = Some(EngagementEvidence {
            documents: Documents {
                firm_letter: document_state(summary.firm_letter),
                authority: document_state(summary.authority),
            },
            permission: self.store.case_permission(&case, account.id).await?,
        });
        evidence.manually_verified = self.store.manually_verified(row.id, account.id).await?;
        evidence.licence = match claim(account, &engagement.law_firm) {
            // An account without a licence claim has nothing the registry could confirm.
            None => Verdict::Refused(Reason::UnknownLicence),
            Some(claim) => {
                let started = std::time::Instant::now();
                let lookup = self.registry.lookup(&claim.licence).await;
                if let Err(e) = &lookup {
                    tracing::warn!(code = e.code(), elapsed_ms = started.elapsed().as_millis() as u64, licence = %Redacted(&claim.licence), "licence registry gave no answer; not admitting automatically");
                }
                verify_lookup(&lookup, &claim, now.date_naive())
            }
        };
        Ok(evidence)
    }

    /// Alert staff to possible impersonation (R-VERIFY-3): recorded in the audit log first,
    /// then in the alert list; after `lock_after_alerts` alerts within the window the
    /// account is locked (audited first too).
    pub async fn raise_impersonation_alert(
        &self,
        lawyer: LawyerId,
        visit: Option<VisitId>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), GateError> {
        tracing::warn!(lawyer = %lawyer, reason, "possible impersonation: staff alerted");
        crate::metrics::impersonation_alert();
        self.audit
            .append(
                Actor::System,
                AuditRecord::ImpersonationSuspected {
                    lawyer,
                    visit,
                    reason: reason.to_owned(),
                },
            )
            .await?;
        let window = chrono::Duration::seconds(self.settings.alert_window_secs as i64);
        let count = self
            .store
            .insert_impersonation_alert(lawyer, visit, reason, now, now - window)
            .await?;
        if count >= i64::from(self.settings.lock_after_alerts) {
            let why = format!("{count} impersonation alerts within the window");
            self.audit
                .append(
                    Actor::System,
                    AuditRecord::AccountLocked {
                        lawyer,
                        reason: why.clone(),
                    },
                )
                .await?;
            self.store.lock_lawyer(lawyer, &why, now).await?;
            tracing::warn!(lawyer = %lawyer, "account locked after repeated impersonation alerts");
        }
        Ok(())
    }

    /// Check once every lawyer in a live visit; end the visits of those whose licence is
    /// no longer in good standing.
    pub async fn recheck_once(&self, hub: &VisitHub, now: DateTime<Utc>) {
        for (visit, lawyer, basis) in hub.lawyers_present() {
            self.recheck_live(hub, visit, lawyer, basis, now).await;
        }
    }

    /// Ask the registry again (bypassing the cache) for one lawyer of a live visit; a
    /// licence no longer in good standing ends the visit (audited first). Returns the
    /// reason when it did. Also used when a lawyer resumes a seat (R-REMOTE-2). `basis` is
    /// how the licence was established at admission: what staff settled by hand for this
    /// visit stays settled (R-VERIFY-2), a status the registry states does not.
    pub async fn recheck_live(
        &self,
        hub: &VisitHub,
        visit: VisitId,
        lawyer: LawyerId,
        basis: LicenceBasis,
        now: DateTime<Utc>,
    ) -> Option<Reason> {
        match self.recheck_lawyer(visit, lawyer, now).await {
            Ok(None) => None,
            Ok(Some(reason)) if basis == LicenceBasis::Manual && reason.manual_may_override() => {
                None
            }
            Ok(Some(reason)) => {
                let record = AuditRecord::LicenceWithdrawn {
                    visit,
                    lawyer,
                    reason: reason.code().into(),
                };
                // Ending is the safe direction: it happens even if the record fails.
                if let Err(e) = self.audit.append(Actor::System, record).await {
                    tracing::error!(visit = %visit, error = %e, "AUDIT: cannot record a withdrawn licence; ending the visit anyway");
                }
                tracing::warn!(visit = %visit, code = reason.code(), "licence no longer in good standing: ending the visit");
                hub.end(visit, EndReason::LicenceWithdrawn(reason)).await;
                Some(reason)
            }
            Err(e) => {
                tracing::warn!(visit = %visit, error = %e, "cannot re-check a licence now; the visit goes on");
                None
            }
        }
    }

    /// `Some(reason)` when the registry now refuses the lawyer for a reason that is about
    /// the lawyer (never for an outage).
    async fn recheck_lawyer(
        &self,
        visit: VisitId,
        lawyer: LawyerId,
        now: DateTime<Utc>,
    ) -> Result<Option<Reason>, GateError> {
        let Some(account) = self.store.lawyer_account(lawyer).await? else {
            return Ok(None);
        };
        let Some(row) = self.store.visit(visit).await? else {
            return Ok(None);
        };
        let Some(case) = row.case else {
            return Ok(None);
        };
        let Some(engagement) = self.store.engagement_of(lawyer, case).await? else {
            return Ok(None);
        };
        let Some(claim) = claim(&account, &engagement.law_firm) else {
            return Ok(None);
        };
        let lookup = self.registry.refresh(&claim.licence).await;
        Ok(match verify_lookup(&lookup, &claim, now.date_naive()) {
            Verdict::Verified(_) => None,
            Verdict::Refused(r) if r.is_registry_outage() => None,
            Verdict::Refused(r) => Some(r),
        })
    }
}

/// Re-check running visits' lawyers every `every` until the process stops.
pub async fn recheck_running(gate: Gate, hub: VisitHub, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        gate.recheck_once(&hub, Utc::now()).await;
    }
}
