//! Signed visit receipts (R-PRIV-1, R-VERIFY-4, R-PRIV-2): the pure core.
//!
//! When a visit has ended, each participant (and staff) can have a receipt: who was
//! admitted (role, account or booth id, the booth's device certificate), when each was
//! present, the end-to-end key fingerprints and check codes in force, the room
//! attestation, how the visit ended, the audit entries about the visit and the signed
//! checkpoint covering them, and the SHA-256 of every page asset confer served. Never
//! content, never a name.
//!
//! # The document
//!
//! A receipt file is one JSON object `{"receipt": {...}, "signature": "<hex>"}` in
//! canonical form: no whitespace, object keys sorted by their bytes (UTF-8), strings as
//! `serde_json` writes them, integers only (RFC 8785 for this subset). `signature` is the
//! lower-case hex of the Ed25519 signature, made with the audit checkpoint key
//! (`<data-dir>/keys/audit-ed25519.pk8`, public key `audit-ed25519.pub`), over the bytes
//! `confer-visit-receipt-v1\n` followed by the canonical bytes of the `receipt` object
//! (`audit::chain::receipt_message`). The checkpoint inside the receipt is signed by the
//! same key over `audit::chain::checkpoint_message`.
//!
//! [`verify`] accepts a file only when it is exactly that canonical form (one trailing
//! newline allowed), so any changed byte is found: a change of content breaks the
//! signature, a change of form breaks the canonical form.
//!
//! What this module does not do: read the store or the audit log, or sign ([`service`]
//! gathers the facts and signs with the audit key), or serve anything ([`http`]).

pub mod http;
pub mod service;

use crate::audit::chain::{checkpoint_message, receipt_message};
use crate::audit::{hex, unhex, Checkpoint};
use chrono::{DateTime, SecondsFormat, Utc};
use ring::signature::{UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `format` of the receipts this build writes and verifies.
pub const FORMAT: &str = "confer-visit-receipt-v1";

/// A signed receipt, as the file holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub format: String,
    pub issued_at: String,
    /// `lawyer`, `booth` or `staff`.
    pub issued_to: String,
    pub signer: Signer,
    pub confer: Software,
    pub visit: VisitFacts,
    pub participants: Vec<Participant>,
    pub room: RoomFacts,
    pub e2ee: E2ee,
    pub audit: AuditRange,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signer {
    /// `Ed25519`.
    pub algorithm: String,
    /// Hex of the raw 32-byte public key (the audit checkpoint key).
    pub public_key: String,
}

/// The server that issued the receipt and the page assets it served (page integrity).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Software {
    pub version: String,
    pub assets: Vec<AssetHash>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetHash {
    pub path: String,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VisitFacts {
    pub id: i64,
    pub facility: String,
    pub booth: String,
    /// The remote police-station booth the lawyer joined from (R-REMOTE-1), if any.
    pub lawyer_booth: Option<String>,
    pub slot: Slot,
    /// When the first participant entered (the first `visit_started`), if anyone did.
    pub started_at: Option<String>,
    pub end: End,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    pub starts_at: String,
    pub ends_at: String,
}

/// How the visit ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct End {
    /// `slot_over`, `stopped_by_staff`, `cancelled`, `declined`, `licence_withdrawn`, ...
    pub reason: String,
    pub at: String,
    /// For a staff stop: the violation category staff gave (R-CONDUCT-1).
    pub stop_category: Option<String>,
}

/// One admitted participant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// `lawyer`, `booth`, `assistant` or `interpreter`.
    pub role: String,
    /// The lawyer-side account id (lawyer, assistant, interpreter).
    pub account: Option<i64>,
    /// The booth id.
    pub booth: Option<String>,
    /// Hex SHA-256 of each device certificate a booth was admitted with.
    pub device_cert_sha256: Vec<String>,
    /// How a lawyer's licence was established at admission: `registry` or `manual`.
    pub licence: Option<String>,
    /// Every admission (a rejoin is a new one).
    pub admitted_at: Vec<String>,
    /// When the participant's role was present: joined, and left (or the visit ended).
    pub present: Vec<Presence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Presence {
    pub joined_at: String,
    pub left_at: Option<String>,
}

/// The room (R-PRIV-2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoomFacts {
    /// `lawyer_room` or `interrogation_room` (borrowed).
    pub kind: String,
    pub lawyer_consent: Option<bool>,
    pub attestations: Vec<Attestation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub at: String,
    /// `booth` (the officer at the booth screen) or `staff`.
    pub via: String,
    /// The attesting officer's badge or staff number.
    pub officer: String,
}

/// The end-to-end encryption keys and check codes in force over time, as the audit log
/// recorded them (`e2ee_key_published`, `e2ee_check_code`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct E2ee {
    pub keys: Vec<KeyRecord>,
    pub check_codes: Vec<CheckCode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub at: String,
    pub seq: u64,
    pub participant: Value,
    pub role: Value,
    pub fingerprint: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckCode {
    pub at: String,
    pub seq: u64,
    pub code: Value,
    pub participants: Value,
}

/// The audit entries about the visit and the checkpoint that signs them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRange {
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// Every entry about the visit (but earlier receipts): seq, kind, chain hash.
    pub entries: Vec<EntryRef>,
    pub checkpoint: CheckpointRef,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryRef {
    pub seq: u64,
    pub at: String,
    pub kind: String,
    /// Hex chain hash after this entry (`confer audit export` shows the same).
    pub hash: String,
}

/// A signed checkpoint: "the first `count` entries end in `head_hash`".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRef {
    pub n: u64,
    pub count: u64,
    pub head_hash: String,
    pub time_ms: i64,
    pub signature: String,
}

impl CheckpointRef {
    pub fn from_checkpoint(c: &Checkpoint) -> CheckpointRef {
        CheckpointRef {
            n: c.n,
            count: c.count,
            head_hash: hex(&c.head_hash),
            time_ms: c.time_ms,
            signature: hex(&c.signature),
        }
    }
}

/// RFC 3339 UTC with milliseconds, as receipts write times.
pub fn time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

// --- the facts, from audit entries ---

/// One audit entry about the visit, as the service read it.
#[derive(Debug, Clone)]
pub struct Fact {
    pub seq: u64,
    pub time_ms: i64,
    pub kind: String,
    /// Hex chain hash.
    pub hash: String,
    /// The entry's `record` object.
    pub record: Value,
}

/// What the service read from the store about the visit.
#[derive(Debug, Clone)]
pub struct VisitRowFacts {
    pub id: i64,
    pub facility: String,
    pub booth: String,
    pub lawyer_booth: Option<String>,
    pub starts_at_ms: i64,
    pub ends_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub end_reason: Option<String>,
    /// `None` for an ordinary room; `Some(consent)` for a borrowed interrogation room.
    pub borrowed_room_consent: Option<bool>,
}

/// The kinds left out of a receipt's entries: receipts handed out earlier.
pub const RECEIPT_KIND: &str = "receipt_issued";

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

/// The e2ee entries' fields, wherever the record keeps them (top level or `details`,
/// an object or a JSON string).
fn e2ee_field(record: &Value, name: &str) -> Value {
    if let Some(v) = record.get(name) {
        return v.clone();
    }
    match record.get("details") {
        Some(Value::Object(m)) => m.get(name).cloned().unwrap_or(Value::Null),
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)
            .ok()
            .and_then(|d| d.get(name).cloned())
            .unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// A participant id as the audit log writes it (`{"kind": "interpreter", "id": 7}`): role,
/// account id (lawyer side) or booth id.
fn who(p: &Value) -> (String, Option<i64>, Option<String>) {
    let role = text(&p["kind"]).unwrap_or_default();
    if role == "booth" {
        (role, None, text(&p["id"]))
    } else {
        (role, p["id"].as_i64(), None)
    }
}

/// Build the receipt (unsigned) from the visit row, its audit entries (seq order), the
/// checkpoint covering them, and who it is for.
#[allow(clippy::too_many_arguments)]
pub fn build(
    row: &VisitRowFacts,
    facts: &[Fact],
    checkpoint: &Checkpoint,
    issued_to: &str,
    issued_at_ms: i64,
    public_key: &[u8],
    version: &str,
    assets: Vec<AssetHash>,
) -> Receipt {
    let facts: Vec<&Fact> = facts.iter().filter(|f| f.kind != RECEIPT_KIND).collect();
    let mut participants: Vec<Participant> = Vec::new();
    let mut started_at = None;
    let mut ended: Option<(i64, String)> = None;
    let mut stop_category = None;
    let mut attestations = Vec::new();
    let mut keys = Vec::new();
    let mut check_codes = Vec::new();
    for f in &facts {
        let r = &f.record;
        match f.kind.as_str() {
            "admission_granted" => {
                let (role, account, booth) = who(&r["participant"]);
                let i = match participants
                    .iter()
                    .position(|q| q.role == role && q.account == account && q.booth == booth)
                {
                    Some(i) => i,
                    None => {
                        participants.push(Participant {
                            role,
                            account,
                            booth,
                            device_cert_sha256: Vec::new(),
                            licence: None,
                            admitted_at: Vec::new(),
                            present: Vec::new(),
                        });
                        participants.len() - 1
                    }
                };
                let q = &mut participants[i];
                q.admitted_at.push(time(f.time_ms));
                if let Some(l) = text(&r["licence"]) {
                    q.licence = Some(l);
                }
                if let Some(d) = text(&r["device_cert_sha256"]) {
                    if !q.device_cert_sha256.contains(&d) {
                        q.device_cert_sha256.push(d);
                    }
                }
            }
            "visit_started" => {
                started_at.get_or_insert(time(f.time_ms));
            }
            "participant_joined" | "participant_left" | "companion_removed" => {
                let role = text(&r["role"]).unwrap_or_default();
                // R-VERIFY-4: the participant by account or booth id where the entry names
                // it (two companions of one role are two participants); by role only in
                // entries written before the id was recorded. A companion let go
                // (`companion_removed`) left then.
                let id = (!r["participant"].is_null()).then(|| who(&r["participant"]));
                let matches = |q: &Participant| match &id {
                    Some((role, account, booth)) => {
                        q.role == *role && q.account == *account && q.booth == *booth
                    }
                    None => q.role == role,
                };
                for q in participants.iter_mut().filter(|q| matches(q)) {
                    if f.kind == "participant_joined" {
                        q.present.push(Presence {
                            joined_at: time(f.time_ms),
                            left_at: None,
                        });
                    } else if let Some(open) =
                        q.present.iter_mut().rev().find(|p| p.left_at.is_none())
                    {
                        open.left_at = Some(time(f.time_ms));
                    }
                }
            }
            "visit_ended" => {
                ended = Some((f.time_ms, text(&r["reason"]).unwrap_or_default()));
                // Whoever was still present left when the visit ended.
                for q in participants.iter_mut() {
                    for p in q.present.iter_mut().filter(|p| p.left_at.is_none()) {
                        p.left_at = Some(time(f.time_ms));
                    }
                }
            }
            "staff_stop" => stop_category = text(&r["reason"]),
            "room_attested" => attestations.push(Attestation {
                at: time(f.time_ms),
                via: text(&r["via"]).unwrap_or_default(),
                officer: text(&r["officer"]).unwrap_or_default(),
            }),
            "e2ee_key_published" => keys.push(KeyRecord {
                at: time(f.time_ms),
                seq: f.seq,
                participant: e2ee_field(r, "participant"),
                role: e2ee_field(r, "role"),
                fingerprint: e2ee_field(r, "fingerprint"),
            }),
            "e2ee_check_code" => check_codes.push(CheckCode {
                at: time(f.time_ms),
                seq: f.seq,
                code: e2ee_field(r, "code"),
                participants: e2ee_field(r, "participants"),
            }),
            _ => {}
        }
    }
    // When it ended: the audit entry (recorded before anyone was told), else the store's
    // durable end (nobody was present), else the slot's end. Why: the store's reason.
    let stored_reason = row.end_reason.clone();
    let (end_ms, end_reason) = match (&ended, row.ended_at_ms) {
        (Some((at, reason)), _) => (*at, stored_reason.unwrap_or_else(|| reason.clone())),
        (None, Some(at)) => (at, stored_reason.unwrap_or_else(|| "ended".into())),
        (None, None) => (row.ends_at_ms, "slot_over".into()),
    };
    let first_seq = facts.first().map(|f| f.seq);
    let last_seq = facts.last().map(|f| f.seq);
    Receipt {
        format: FORMAT.into(),
        issued_at: time(issued_at_ms),
        issued_to: issued_to.into(),
        signer: Signer {
            algorithm: "Ed25519".into(),
            public_key: hex(public_key),
        },
        confer: Software {
            version: version.into(),
            assets,
        },
        visit: VisitFacts {
            id: row.id,
            facility: row.facility.clone(),
            booth: row.booth.clone(),
            lawyer_booth: row.lawyer_booth.clone(),
            slot: Slot {
                starts_at: time(row.starts_at_ms),
                ends_at: time(row.ends_at_ms),
            },
            started_at,
            end: End {
                reason: end_reason,
                at: time(end_ms),
                stop_category,
            },
        },
        participants,
        room: match row.borrowed_room_consent {
            None => RoomFacts {
                kind: "lawyer_room".into(),
                lawyer_consent: None,
                attestations,
            },
            Some(consent) => RoomFacts {
                kind: "interrogation_room".into(),
                lawyer_consent: Some(consent),
                attestations,
            },
        },
        e2ee: E2ee { keys, check_codes },
        audit: AuditRange {
            first_seq,
            last_seq,
            entries: facts
                .iter()
                .map(|f| EntryRef {
                    seq: f.seq,
                    at: time(f.time_ms),
                    kind: f.kind.clone(),
                    hash: f.hash.clone(),
                })
                .collect(),
            checkpoint: CheckpointRef::from_checkpoint(checkpoint),
        },
    }
}

// --- canonical form, sealing, verification ---

/// Why a value has no canonical form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotCanonical(String);

/// The canonical bytes of `v` (module doc): sorted keys, no whitespace, integers only.
pub fn canonical(v: &Value) -> Result<Vec<u8>, NotCanonical> {
    let mut out = Vec::new();
    write_canonical(v, &mut out)?;
    Ok(out)
}

fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), NotCanonical> {
    match v {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if !(n.is_i64() || n.is_u64()) {
                return Err(NotCanonical(format!("the number {n} is not an integer")));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Value::String(s) => out.extend_from_slice(
            serde_json::to_string(s)
                .map_err(|e| NotCanonical(e.to_string()))?
                .as_bytes(),
        ),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(&Value::String(k.clone()), out)?;
                out.push(b':');
                write_canonical(&map[k], out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// The signed file: canonical `{"receipt": ..., "signature": hex}`. `sign` signs the
/// receipt's canonical bytes under the receipt domain (`Audit::sign_receipt`).
pub fn seal(receipt: &Receipt, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let value = serde_json::to_value(receipt).unwrap_or(Value::Null);
    // The receipt holds strings, integers, booleans and the e2ee values the audit log
    // holds (integers and strings): always canonical.
    let bytes = canonical(&value).unwrap_or_default();
    let signature = sign(&bytes);
    let doc = serde_json::json!({ "receipt": value, "signature": hex(&signature) });
    canonical(&doc).unwrap_or_default()
}

/// Why a receipt file is not a valid receipt. Each is a sentence for the person checking.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("the file is not a confer visit receipt ({0})")]
    Malformed(String),
    #[error(
        "the file is not byte for byte what confer issued (its JSON was changed or re-formatted)"
    )]
    NotCanonical,
    #[error("the receipt names signing key {named}, not the key given ({given}); check that you have the right facility's public key")]
    OtherKey { named: String, given: String },
    #[error("the signature does not match: the receipt was changed after it was signed, or it was not signed with this key")]
    BadSignature,
    #[error("the audit checkpoint inside the receipt is not valid ({0})")]
    BadCheckpoint(String),
}

/// Check a receipt file against the audit public key (raw 32 bytes). See the module doc.
pub fn verify(file: &[u8], public_key: &[u8]) -> Result<Receipt, Invalid> {
    let bytes = file.strip_suffix(b"\n").unwrap_or(file);
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| Invalid::Malformed(format!("not JSON: {e}")))?;
    let Some(obj) = doc.as_object() else {
        return Err(Invalid::Malformed("not a JSON object".into()));
    };
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    if keys != ["receipt", "signature"] {
        return Err(Invalid::Malformed(format!(
            "expected the fields receipt and signature, found {}",
            keys.join(", ")
        )));
    }
    let canonical_doc = canonical(&doc).map_err(|e| Invalid::Malformed(e.to_string()))?;
    if canonical_doc != bytes {
        return Err(Invalid::NotCanonical);
    }
    let signature = obj["signature"]
        .as_str()
        .filter(|s| {
            s.len() == 128
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
        .and_then(unhex)
        .ok_or_else(|| {
            Invalid::Malformed("the signature is not 128 lower-case hex digits".into())
        })?;
    let receipt: Receipt = serde_json::from_value(obj["receipt"].clone())
        .map_err(|e| Invalid::Malformed(format!("receipt: {e}")))?;
    if receipt.format != FORMAT {
        return Err(Invalid::Malformed(format!(
            "unknown format {:?}",
            receipt.format
        )));
    }
    if receipt.signer.public_key != hex(public_key) {
        return Err(Invalid::OtherKey {
            named: receipt.signer.public_key.clone(),
            given: hex(public_key),
        });
    }
    let signed = canonical(&obj["receipt"]).map_err(|e| Invalid::Malformed(e.to_string()))?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(&receipt_message(&signed), &signature)
        .map_err(|_| Invalid::BadSignature)?;
    let cp = &receipt.audit.checkpoint;
    let head = unhex(&cp.head_hash).ok_or_else(|| Invalid::BadCheckpoint("head hash".into()))?;
    let cp_sig = unhex(&cp.signature).ok_or_else(|| Invalid::BadCheckpoint("signature".into()))?;
    UnparsedPublicKey::new(&ED25519, public_key)
        .verify(
            &checkpoint_message(cp.n, cp.count, &head, cp.time_ms),
            &cp_sig,
        )
        .map_err(|_| Invalid::BadCheckpoint("its signature does not match".into()))?;
    if receipt.audit.last_seq.is_some_and(|last| cp.count < last) {
        return Err(Invalid::BadCheckpoint(
            "it does not cover the visit's entries".into(),
        ));
    }
    Ok(receipt)
}

/// One line for people: what a valid receipt says.
pub fn summary(r: &Receipt) -> String {
    let range = match (r.audit.first_seq, r.audit.last_seq) {
        (Some(a), Some(b)) => format!("audit seq {a}..={b}"),
        _ => "no audit entries".into(),
    };
    format!(
        "receipt valid: visit {} at {} booth {}, slot {} to {}, ended {} ({}), {} participant(s), {}, checkpoint {} (count {}), confer {}, signed by {}",
        r.visit.id,
        r.visit.facility,
        r.visit.booth,
        r.visit.slot.starts_at,
        r.visit.slot.ends_at,
        r.visit.end.at,
        r.visit.end.reason,
        r.participants.len(),
        range,
        r.audit.checkpoint.n,
        r.audit.checkpoint.count,
        r.confer.version,
        r.signer.public_key,
    )
}

#[cfg(test)]
mod tests;
