//! Booth certificate revocation while visits run (R-VERIFY-4).
//!
//! Every [`SWEEP_EVERY`] the sweep (a) records in the audit log the revocations the command
//! line put on the deny list (`confer certs revoke` writes the store only: one writer of the
//! audit chain, the server), and (b) ends every live visit whose booth's certificate, the one
//! it last proved itself with, is revoked (and, for a remote visit, R-REMOTE-1, that of the
//! police-station terminal the lawyer joined from): through the hub's one way to end a visit
//! (`VisitHub::end`, audited, both sides told `certificate_revoked`). The admin route runs
//! the same sweep at once after revoking. A revocation therefore ends a live visit within
//! one sweep interval (10 s, well inside the 60 s the requirement allows).
//!
//! Does not: decide what is revoked (`auth::Revocations`), or refuse new joins
//! (`auth::Booths::verify` does).

use std::time::Duration;

use crate::audit::{Actor, Audit, AuditRecord};
use crate::auth::Booths;
use crate::ids::{BoothId, ParticipantId};
use crate::store::Store;

use super::{EndReason, VisitHub};

/// How often live visits are checked against the deny list and the CRL.
pub const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// The handles the sweep needs. Cheap to clone.
#[derive(Clone)]
pub struct RevocationSweep {
    pub store: Store,
    pub audit: Audit,
    pub booths: Booths,
    pub hub: VisitHub,
}

impl RevocationSweep {
    /// One sweep: audit the command line's revocations, end the visits of revoked booths.
    /// Returns how many visits it ended.
    pub async fn once(&self) -> usize {
        match self.store.unaudited_booth_revocations().await {
            Ok(rows) => {
                for r in rows {
                    let record = AuditRecord::BoothCertificateRevoked {
                        booth: r.booth.clone(),
                        serial: r.serial.clone(),
                        certificate_sha256: r.certificate_sha256.clone(),
                        via: r.revoked_by.clone(),
                    };
                    match self.audit.append(Actor::System, record).await {
                        Ok(_) => {
                            if let Err(e) = self.store.mark_booth_revocation_audited(r.id).await {
                                tracing::warn!(error = %e, "cannot mark a revocation as audited");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot record a revocation in the audit log")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the booth deny list"),
        }
        let mut ended = 0;
        for view in self.hub.live_view() {
            // The terminals whose certificates this visit stands on: the detainee's booth,
            // and for a remote visit (R-REMOTE-1) the police-station terminal the lawyer
            // joined from (its lawyer seat proved that terminal's certificate).
            let mut terminals: Vec<BoothId> = Vec::new();
            for seat in &view.seats {
                match &seat.participant {
                    ParticipantId::Booth(booth) => terminals.push(booth.clone()),
                    ParticipantId::Lawyer(_) => match self.store.visit(view.visit).await {
                        Ok(Some(row)) => terminals.extend(row.lawyer_booth),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "cannot read a live visit"),
                    },
                    _ => {}
                }
            }
            for booth in &terminals {
                let Some(identity) = self.booths.last_proved(booth) else {
                    continue;
                };
                match self.booths.is_revoked(&identity).await {
                    Ok(true) => {
                        tracing::warn!(visit = %view.visit, "a terminal's certificate was revoked; ending the visit");
                        self.hub
                            .end(view.visit, EndReason::CertificateRevoked)
                            .await;
                        ended += 1;
                        break;
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(error = %e, "cannot check a booth certificate"),
                }
            }
        }
        ended
    }

    /// Sweep every [`SWEEP_EVERY`] until the task is aborted.
    pub async fn run(self) {
        let mut tick = tokio::time::interval(SWEEP_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            self.once().await;
        }
    }
}
