//! The receipt service (R-PRIV-1): checks who asks, gathers the visit's row and audit
//! entries, records the hand-out (`receipt_issued`, with a checkpoint signed in the same
//! transaction, audit first), and signs the receipt with the audit key.
//!
//! Who may have a visit's receipt: its lawyer and its invited companions (lawyer-side
//! session), its booth and its remote police-station booth (booth certificate), and staff
//! (the route checks the role). Only once the visit has ended.

use chrono::{DateTime, Utc};

use super::{build, seal, AssetHash, Fact, VisitRowFacts};
use crate::audit::{hex, unhex, Actor, Audit, AuditError, AuditRecord};
use crate::ids::{AdminId, BoothId, LawyerId, VisitId};
use crate::model::visit::Room;
use crate::store::{Store, StoreError};

/// Who the receipt is for.
#[derive(Debug, Clone)]
pub enum Recipient {
    Lawyer(LawyerId),
    Booth(BoothId),
    Staff(AdminId),
}

impl Recipient {
    fn label(&self) -> &'static str {
        match self {
            Recipient::Lawyer(_) => "lawyer",
            Recipient::Booth(_) => "booth",
            Recipient::Staff(_) => "staff",
        }
    }

    fn actor(&self) -> Actor {
        match self {
            Recipient::Lawyer(l) => Actor::Lawyer(*l),
            Recipient::Booth(b) => Actor::Booth(b.clone()),
            Recipient::Staff(s) => Actor::Staff(*s),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("no such visit")]
    NotFound,
    #[error("not a participant of this visit")]
    NotAParticipant,
    #[error("the visit has not ended")]
    NotEnded,
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Receipts {
    store: Store,
    audit: Audit,
}

/// The page assets confer serves, with their hashes (page integrity).
pub fn served_assets() -> Vec<AssetHash> {
    confer_signaling::web::ASSETS
        .iter()
        .map(|a| AssetHash {
            path: a.path.to_owned(),
            sha256: a.sha256.to_owned(),
        })
        .collect()
}

impl Receipts {
    pub fn new(store: Store, audit: Audit) -> Receipts {
        Receipts { store, audit }
    }

    /// The signed receipt file of `visit` for `to` (canonical JSON bytes).
    pub async fn issue(
        &self,
        visit: VisitId,
        to: Recipient,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, ReceiptError> {
        let row = self
            .store
            .visit(visit)
            .await?
            .ok_or(ReceiptError::NotFound)?;
        let allowed = match &to {
            Recipient::Lawyer(l) => row.lawyer == *l || row.companions.contains(l),
            Recipient::Booth(b) => row.booth == *b || row.lawyer_booth.as_ref() == Some(b),
            Recipient::Staff(_) => true,
        };
        if !allowed {
            return Err(ReceiptError::NotAParticipant);
        }
        if row.ended_at.is_none() && now < row.ends_at {
            return Err(ReceiptError::NotEnded);
        }
        let facts: Vec<Fact> = self
            .audit
            .visit_entries(visit)
            .await?
            .into_iter()
            .map(|e| {
                let record = serde_json::from_slice::<serde_json::Value>(&e.canonical)
                    .ok()
                    .and_then(|mut v| v.get_mut("record").map(serde_json::Value::take))
                    .unwrap_or(serde_json::Value::Null);
                Fact {
                    seq: e.seq,
                    time_ms: e.time_ms,
                    kind: e.kind,
                    hash: hex(&e.hash),
                    record,
                }
            })
            .filter(|f| f.kind != super::RECEIPT_KIND)
            .collect();
        // Audit first: the hand-out is recorded, and a checkpoint signed over it (and so
        // over every entry of the visit) in the same transaction.
        let issued = self
            .audit
            .append_signed(
                to.actor(),
                AuditRecord::ReceiptIssued {
                    visit,
                    to: to.label().into(),
                },
            )
            .await?;
        let covering = facts.last().map_or(issued.seq, |f| f.seq);
        let checkpoint = self
            .audit
            .checkpoint_covering(covering)
            .await?
            .ok_or_else(|| AuditError::Format("no checkpoint covers the visit yet".into()))?;
        let row = VisitRowFacts {
            id: row.id.0,
            facility: row.facility.0.clone(),
            booth: row.booth.as_str().to_owned(),
            lawyer_booth: row.lawyer_booth.as_ref().map(|b| b.as_str().to_owned()),
            starts_at_ms: row.starts_at.timestamp_millis(),
            ends_at_ms: row.ends_at.timestamp_millis(),
            ended_at_ms: row.ended_at.map(|t| t.timestamp_millis()),
            end_reason: row.end_reason.clone(),
            borrowed_room_consent: match row.room {
                Room::Ordinary => None,
                Room::Borrowed { lawyer_consent, .. } => Some(lawyer_consent),
            },
        };
        let receipt = build(
            &row,
            &facts,
            &checkpoint,
            to.label(),
            now.timestamp_millis(),
            self.audit.public_key(),
            env!("CARGO_PKG_VERSION"),
            served_assets(),
        );
        tracing::info!(visit = %visit, to = to.label(), "visit receipt issued");
        Ok(seal(&receipt, |bytes| self.audit.sign_receipt(bytes)))
    }
}

/// A public key given on the command line: a file (64 hex digits, as confer writes
/// `audit-ed25519.pub`, or 32 raw bytes), or the key itself in hex or base64.
pub fn parse_public_key(arg: &str) -> Result<Vec<u8>, String> {
    let path = std::path::Path::new(arg);
    if path.is_file() {
        return crate::audit::read_public_key(path).map_err(|e| e.to_string());
    }
    let t = arg.trim();
    if let Some(k) = unhex(&t.to_ascii_lowercase()).filter(|k| k.len() == 32) {
        return Ok(k);
    }
    use base64::Engine;
    for engine in [
        base64::engine::general_purpose::STANDARD,
        base64::engine::general_purpose::URL_SAFE,
    ] {
        if let Some(k) = engine.decode(t).ok().filter(|k| k.len() == 32) {
            return Ok(k);
        }
    }
    Err(format!(
        "{arg}: neither a key file nor an Ed25519 public key (64 hex digits or base64)"
    ))
}
