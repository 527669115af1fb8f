//! Audit rows as the store keeps them: an entry's index columns and sealed bytes
//! ([`StoredEntry`]), the ids it is about ([`Subjects`]), and a signed [`Checkpoint`].
//!
//! Owns only these values. It does not build, seal, hash, sign or verify anything: the
//! canonical form is `audit::record`'s, the chain and its checks are `audit::chain`'s, and
//! the writer is `audit`'s.

use crate::ids::{AdminId, BoothId, LawyerId, VisitId};
use serde::{Deserialize, Serialize};

/// The ids an entry is about (the actor's included), for queries by visit or lawyer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Subjects {
    pub visit: Option<VisitId>,
    pub lawyer: Option<LawyerId>,
    pub booth: Option<BoothId>,
    pub staff: Option<AdminId>,
}

/// An entry as stored: the canonical bytes, their hashes, and the index columns derived
/// from them (which verify checks against the canonical bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub seq: u64,
    pub time_ms: i64,
    pub kind: String,
    pub actor: String,
    pub subjects: Subjects,
    pub canonical: Vec<u8>,
    pub leaf_hash: Vec<u8>,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
}

/// A signed statement about the chain's head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub n: u64,
    pub count: u64,
    pub head_hash: Vec<u8>,
    pub time_ms: i64,
    pub signature: Vec<u8>,
}
