//! Booth terminals as the edges meet them: a connection's client certificate chain,
//! verified against the facility CA ([`super::BoothVerifier`]) and matched to a booth the
//! store knows in the facility the certificate names.
//!
//! A refused certificate identifies no booth: it is counted in the audit log per reason and
//! minute (`unauthenticated_requests` with class `certificate_rejected`, `audit::tally`),
//! so a flood of certificate-less requests cannot flood the chain.
//!
//! A certificate that verifies but is revoked (R-VERIFY-4: the deny list or the facility
//! CA's CRL, [`super::Revocations`]) is refused as `certificate_revoked`, recorded like any
//! other refusal. The last certificate each booth proved itself with is remembered (in
//! memory), so that `visit::revocation` can end a live visit whose booth's certificate is
//! revoked while it runs.
//!
//! Does not: decide whether the booth may join a visit (`policy`), or read TLS itself
//! (`http::serve` hands the chain over).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::pki_types::CertificateDer;

use super::{BoothCertError, BoothIdentity, BoothVerifier, Revocations};
use crate::audit::{Audit, AuditError};
use crate::ids::BoothId;
use crate::store::{Store, StoreError};

/// Why a terminal is not accepted as a booth.
#[derive(Debug, thiserror::Error)]
pub enum BoothRefusal {
    #[error(transparent)]
    Certificate(#[from] BoothCertError),
    #[error("This terminal's certificate names a booth this server does not know. Ask facility staff to register it.")]
    UnknownBooth,
    #[error("This terminal's booth certificate has been revoked. Ask your facility for a new booth certificate.")]
    Revoked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl BoothRefusal {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            BoothRefusal::Certificate(e) => e.code(),
            BoothRefusal::UnknownBooth => "unknown_booth",
            BoothRefusal::Revoked => "certificate_revoked",
            BoothRefusal::Store(_) => "internal",
            BoothRefusal::Audit(_) => "audit_unavailable",
        }
    }
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Booths {
    verifier: BoothVerifier,
    store: Store,
    audit: Audit,
    revocations: Revocations,
    /// The certificate each booth last proved itself with (R-VERIFY-4, revocation of a live
    /// visit's booth).
    proved: Arc<Mutex<HashMap<BoothId, BoothIdentity>>>,
}

impl Booths {
    /// Booths proven against `verifier`, with the store's deny list and no CRL file.
    pub fn new(verifier: BoothVerifier, store: Store, audit: Audit) -> Booths {
        let revocations = Revocations::new(store.clone(), None, &[])
            .unwrap_or_else(|_| unreachable!("no CRL file, nothing to read"));
        Booths::with_revocations(verifier, store, audit, revocations)
    }

    /// Booths proven against `verifier`, refusing what `revocations` says is revoked.
    pub fn with_revocations(
        verifier: BoothVerifier,
        store: Store,
        audit: Audit,
        revocations: Revocations,
    ) -> Booths {
        Booths {
            verifier,
            store,
            audit,
            revocations,
            proved: Arc::default(),
        }
    }

    /// The certificate `booth` last proved itself with on this server, if any.
    pub fn last_proved(&self, booth: &BoothId) -> Option<BoothIdentity> {
        self.proved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(booth)
            .cloned()
    }

    /// Whether the certificate `identity` was proven with is revoked now (R-VERIFY-4).
    pub async fn is_revoked(&self, identity: &BoothIdentity) -> Result<bool, StoreError> {
        self.revocations.is_revoked(identity).await
    }

    /// Prove a booth from a connection's client certificate chain.
    pub async fn verify<C>(&self, chain: &C) -> Result<BoothIdentity, BoothRefusal>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        let refusal = match self.verifier.verify_now(chain) {
            Err(e) => BoothRefusal::Certificate(e),
            Ok(identity) => match self.store.booth(identity.booth()).await? {
                Some(row) if &row.facility == identity.facility() => {
                    if self.revocations.is_revoked(&identity).await? {
                        BoothRefusal::Revoked
                    } else {
                        self.proved
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(identity.booth().clone(), identity.clone());
                        return Ok(identity);
                    }
                }
                _ => BoothRefusal::UnknownBooth,
            },
        };
        tracing::debug!(code = refusal.code(), "booth certificate refused");
        // No booth was identified: counted per minute, not one entry each (audit::tally).
        self.audit
            .count_unauthenticated("certificate_rejected", refusal.code());
        Err(refusal)
    }

    /// The booth terminal a lawyer-side connection came through (R-REMOTE-1), asked only
    /// when the visit was arranged from a remote police-station booth (`needed`). No
    /// certificate, or one that does not verify, is `None` (policy then refuses).
    pub async fn terminal<C>(&self, chain: &C, needed: bool) -> Option<BoothId>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        if !needed || chain.as_ref().is_empty() {
            return None;
        }
        self.verify(chain).await.ok().map(|me| me.booth().clone())
    }
}
