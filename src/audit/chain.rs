//! The pure core of the audit chain: sealing entries, checkpoint messages, and the
//! streaming [`Verifier`]. No I/O and no clock: the writer and the CLI feed it.
//!
//! Per stored entry (`seq` from 1, gapless):
//! - `leaf_hash = SHA-256(0x00 || canonical)`: the RFC 9162 leaf hash, so that a Merkle
//!   tree (and inclusion proofs) can be built later over the stored leaves without
//!   touching a stored record;
//! - `hash = SHA-256(prev_hash || canonical)`, `prev_hash` of seq 1 being 32 zero bytes.
//!
//! A checkpoint `n` (gapless from 1) signs, with Ed25519, the message
//! `"confer-audit-checkpoint-v1" || n || count || head_hash || time_ms` (integers as 8
//! big-endian bytes): "the first `count` entries end in `head_hash`".
//!
//! What verification can tell: any change, deletion, insertion or reordering of stored
//! entries is found at the first affected seq. Someone who can write the database and
//! rewrites the chain from seq `k` on (truncation followed by re-append, with correctly
//! recomputed hashes) produces a self-consistent chain; only the signed checkpoints reveal
//! it, so verify names the first seq after the last checkpoint that still holds. Entries
//! after the newest checkpoint are protected by the chain alone until the next checkpoint
//! (at most `checkpoint_every_records` entries or `checkpoint_every_secs`).

use super::record::{AuditEntry, EntryHead, CANONICAL_VERSION};
pub use crate::model::audit::{Checkpoint, StoredEntry};
use ring::digest::{Context, SHA256};
use ring::signature::{UnparsedPublicKey, ED25519};
use std::collections::VecDeque;

/// `prev_hash` of the first entry.
pub const GENESIS: [u8; 32] = [0u8; 32];
const CHECKPOINT_DOMAIN: &[u8] = b"confer-audit-checkpoint-v1";

pub fn chain_hash(prev: &[u8], canonical: &[u8]) -> [u8; 32] {
    let mut c = Context::new(&SHA256);
    c.update(prev);
    c.update(canonical);
    to32(c.finish().as_ref())
}

pub fn leaf_hash(canonical: &[u8]) -> [u8; 32] {
    let mut c = Context::new(&SHA256);
    c.update(&[0u8]);
    c.update(canonical);
    to32(c.finish().as_ref())
}

fn to32(b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&b[..32]);
    out
}

/// Seal an entry onto a chain whose head is `prev`.
pub fn seal(entry: &AuditEntry, prev: &[u8; 32]) -> StoredEntry {
    let canonical = entry.canonical();
    StoredEntry {
        seq: entry.seq,
        time_ms: entry.time_ms,
        kind: entry.record.kind().to_owned(),
        actor: entry.actor.label(),
        subjects: entry.subjects.clone(),
        leaf_hash: leaf_hash(&canonical).to_vec(),
        prev_hash: prev.to_vec(),
        hash: chain_hash(prev, &canonical).to_vec(),
        canonical,
    }
}

/// The bytes a checkpoint signature covers.
pub fn checkpoint_message(n: u64, count: u64, head_hash: &[u8], time_ms: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_DOMAIN.len() + 56);
    m.extend_from_slice(CHECKPOINT_DOMAIN);
    m.extend_from_slice(&n.to_be_bytes());
    m.extend_from_slice(&count.to_be_bytes());
    m.extend_from_slice(head_hash);
    m.extend_from_slice(&time_ms.to_be_bytes());
    m
}

/// The domain of visit receipt signatures (R-PRIV-1): a receipt is signed with the
/// checkpoint key over `"confer-visit-receipt-v1\n" || canonical receipt`, so that a
/// receipt's signature can never be taken for a checkpoint's (which begin
/// `confer-audit-checkpoint-v1` and have a fixed length) nor the other way round.
pub const RECEIPT_DOMAIN: &[u8] = b"confer-visit-receipt-v1\n";

/// The bytes a visit receipt's signature covers.
pub fn receipt_message(canonical: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(RECEIPT_DOMAIN.len() + canonical.len());
    m.extend_from_slice(RECEIPT_DOMAIN);
    m.extend_from_slice(canonical);
    m
}

/// The first place where the chain is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit chain broken at seq {seq}: {what}")]
pub struct Broken {
    /// The first sequence number that cannot be trusted.
    pub seq: u64,
    pub what: String,
}

/// What an intact chain (or export) holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub first_seq: u64,
    pub records: u64,
    pub checkpoints: u64,
    pub head_hash: [u8; 32],
    /// Entries after the newest checkpoint (protected by the chain only, not yet signed).
    pub unsigned_tail: u64,
}

/// Checks entries one by one, in seq order, against the chain and the checkpoints.
pub struct Verifier {
    key: Vec<u8>,
    first_seq: u64,
    expected: u64,
    prev: [u8; 32],
    prev_prev: Option<[u8; 32]>,
    checkpoints: VecDeque<Checkpoint>,
    next_n: Option<u64>,
    last_good_count: u64,
    checkpoints_ok: u64,
    /// A checkpoint that does not hold, with its count: entries after the last good
    /// checkpoint up to that count are suspect. Checking goes on to the entry after the
    /// count, because a direct finding there (an inserted entry) names the seq exactly.
    pending: Option<(Broken, u64)>,
}

impl Verifier {
    /// A verifier for a whole chain (seq 1 on, every checkpoint from 1).
    pub fn whole(public_key: &[u8], checkpoints: Vec<Checkpoint>) -> Verifier {
        Verifier::from(public_key, 1, GENESIS, checkpoints, Some(1))
    }

    /// A verifier for a slice of the chain starting at `first_seq` whose predecessor's
    /// hash is `prev` (an export). Unless `first_seq` is 1, the first checkpoint given must
    /// vouch for `prev` (count `first_seq - 1`): [`Verifier::push`] checks that.
    pub fn slice(
        public_key: &[u8],
        first_seq: u64,
        prev: [u8; 32],
        checkpoints: Vec<Checkpoint>,
    ) -> Verifier {
        if first_seq <= 1 {
            return Verifier::whole(public_key, checkpoints);
        }
        Verifier::from(public_key, first_seq, prev, checkpoints, None)
    }

    fn from(
        public_key: &[u8],
        first_seq: u64,
        prev: [u8; 32],
        mut cps: Vec<Checkpoint>,
        next_n: Option<u64>,
    ) -> Verifier {
        cps.sort_by_key(|c| c.n);
        Verifier {
            key: public_key.to_vec(),
            first_seq,
            expected: first_seq,
            prev,
            prev_prev: None,
            checkpoints: cps.into(),
            next_n,
            last_good_count: 0,
            checkpoints_ok: 0,
            pending: None,
        }
    }

    fn broken(&self, seq: u64, what: impl Into<String>) -> Broken {
        Broken {
            seq,
            what: what.into(),
        }
    }

    /// Check the checkpoints that vouch for the head after `count` entries (`prev`).
    fn check_checkpoints_at(&mut self, count: u64) {
        if self.pending.is_some() {
            return;
        }
        if let Err(b) = self.try_checkpoints_at(count) {
            self.pending = Some((b, count));
        }
    }

    fn try_checkpoints_at(&mut self, count: u64) -> Result<(), Broken> {
        while let Some(cp) = self.checkpoints.front() {
            if cp.count > count {
                break;
            }
            let cp = self
                .checkpoints
                .pop_front()
                .unwrap_or_else(|| unreachable!());
            let unproven = (self.last_good_count + 1).max(self.first_seq);
            if let Some(n) = self.next_n {
                if cp.n != n {
                    return Err(self.broken(
                        unproven,
                        format!("checkpoint {n} is missing (next stored is {})", cp.n),
                    ));
                }
            }
            let msg = checkpoint_message(cp.n, cp.count, &cp.head_hash, cp.time_ms);
            if UnparsedPublicKey::new(&ED25519, &self.key)
                .verify(&msg, &cp.signature)
                .is_err()
            {
                return Err(
                    self.broken(unproven, format!("checkpoint {} has a bad signature", cp.n))
                );
            }
            if cp.count < count || cp.head_hash != self.prev {
                return Err(self.broken(
                    unproven,
                    format!(
                        "the entries up to seq {} do not match signed checkpoint {} (rewritten or reordered entries)",
                        cp.count, cp.n
                    ),
                ));
            }
            self.next_n = Some(cp.n + 1);
            self.last_good_count = cp.count;
            self.checkpoints_ok += 1;
        }
        Ok(())
    }

    /// Check the next stored entry.
    pub fn push(&mut self, e: &StoredEntry) -> Result<(), Broken> {
        let p = self.expected;
        let result = self.push_entry(e);
        match (self.pending.take(), result) {
            // A direct finding inside the suspect range is the precise one.
            (Some((cp, count)), Err(b)) => Err(if b.seq <= count { b } else { cp }),
            (Some((cp, count)), Ok(())) if p > count => Err(cp),
            (pending, result) => {
                self.pending = pending;
                result
            }
        }
    }

    fn push_entry(&mut self, e: &StoredEntry) -> Result<(), Broken> {
        let p = self.expected;
        if p == self.first_seq {
            // A slice must start at a checkpointed head (or at the start of the chain).
            self.check_checkpoints_at(p - 1);
            if let Some((b, _)) = self.pending.take() {
                return Err(b);
            }
            if p > 1 && self.last_good_count != p - 1 {
                return Err(self.broken(
                    p,
                    format!("no signed checkpoint vouches for the entry before seq {p}"),
                ));
            }
        }
        if e.seq != p {
            let what = if e.seq > p {
                format!("entry {p} is missing (the next stored entry is {})", e.seq)
            } else {
                format!("entry {} is stored out of order", e.seq)
            };
            return Err(self.broken(p, what));
        }
        let head: EntryHead = serde_json::from_slice(&e.canonical)
            .map_err(|_| self.broken(p, "the stored entry is not a readable canonical record"))?;
        if head.seq != p {
            // An entry inserted before this one: this entry still chains onto the one
            // before the inserted entry.
            if head.seq + 1 == p
                && self
                    .prev_prev
                    .is_some_and(|pp| e.hash == chain_hash(&pp, &e.canonical))
            {
                return Err(self.broken(
                    p - 1,
                    format!("entry {} was inserted into the chain", p - 1),
                ));
            }
            return Err(self.broken(
                p,
                format!(
                    "the entry stored at seq {p} is entry {} (moved or reordered)",
                    head.seq
                ),
            ));
        }
        if head.v != CANONICAL_VERSION {
            return Err(self.broken(p, format!("unknown canonical version {}", head.v)));
        }
        // The index columns beside the hashed bytes are what the admin queries and the
        // export select by: each must say what the hashed content says, or an entry could be
        // hidden from a per-visit query while the chain still verifies.
        let mut differ = Vec::new();
        if head.time_ms != e.time_ms {
            differ.push("time_ms");
        }
        if head.subjects != e.subjects {
            differ.push("visit_id/lawyer_id/booth_id/staff_id");
        }
        if head.record.kind != e.kind {
            differ.push("kind");
        }
        if head.actor.label() != e.actor {
            differ.push("actor");
        }
        if !differ.is_empty() {
            return Err(self.broken(
                p,
                format!(
                    "the entry's stored columns ({}) differ from its hashed content",
                    differ.join(", ")
                ),
            ));
        }
        if e.leaf_hash != leaf_hash(&e.canonical) {
            return Err(self.broken(p, "the entry's leaf hash is wrong"));
        }
        if e.prev_hash != self.prev {
            return Err(self.broken(p, "the entry does not link to the previous entry"));
        }
        let h = chain_hash(&self.prev, &e.canonical);
        if e.hash != h {
            return Err(self.broken(p, "the entry's content does not match its hash (altered)"));
        }
        self.prev_prev = Some(self.prev);
        self.prev = h;
        self.expected = p + 1;
        self.check_checkpoints_at(p);
        Ok(())
    }

    /// After the last entry: any checkpoint beyond it means entries were removed.
    pub fn finish(mut self) -> Result<Summary, Broken> {
        let count = self.expected - 1;
        if self.expected == self.first_seq && self.first_seq > 1 {
            return Err(self.broken(self.first_seq, "the export holds no entries"));
        }
        self.check_checkpoints_at(count);
        if let Some((b, _)) = self.pending.take() {
            return Err(b);
        }
        if let Some(cp) = self.checkpoints.front() {
            return Err(self.broken(
                count + 1,
                format!(
                    "entries {}..={} are missing (signed checkpoint {} covers {})",
                    count + 1,
                    cp.count,
                    cp.n,
                    cp.count
                ),
            ));
        }
        Ok(Summary {
            first_seq: self.first_seq,
            records: count + 1 - self.first_seq,
            checkpoints: self.checkpoints_ok,
            head_hash: self.prev,
            unsigned_tail: count - self.last_good_count.max(self.first_seq - 1),
        })
    }
}
