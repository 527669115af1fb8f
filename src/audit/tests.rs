//! The chain's own tests: a pure in-memory log (no database) sealed with the real
//! functions, then tampered with the way someone holding the database file could
//! (audit log: byte change, deletion, insertion, reordering, truncation + re-append).

use super::chain::{checkpoint_message, seal, Checkpoint, StoredEntry, Verifier, GENESIS};
use super::record::{AccountKind, Actor, AuditEntry, AuditRecord};
use crate::ids::{BoothId, LawyerId, ParticipantId, Role, VisitId};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};

fn key() -> Ed25519KeyPair {
    let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap()
}

fn record(i: u64, salt: u8) -> AuditRecord {
    let visit = VisitId(i as i64 % 7 + 1);
    match (i + salt as u64) % 5 {
        0 => AuditRecord::AdmissionGranted {
            visit,
            participant: ParticipantId::Lawyer(LawyerId(3)),
            licence: Some("registry".into()),
            device_cert_sha256: None,
        },
        1 => AuditRecord::AdmissionRefused {
            visit: Some(visit),
            participant: Some(ParticipantId::Booth(BoothId("b-1".into()))),
            reason: "too_early".into(),
        },
        2 => AuditRecord::ParticipantJoined {
            visit,
            role: Role::Booth,
            participant: None,
        },
        3 => AuditRecord::LoginFailed {
            account_kind: AccountKind::Lawyer,
            username_sha256: super::username_digest("someone"),
            reason: "bad_credentials".into(),
        },
        _ => AuditRecord::VisitEnded {
            visit,
            reason: "slot_over".into(),
        },
    }
}

/// A log of `n` entries with a checkpoint after every `every` entries (and one at the end
/// when `final_cp`), built like the writer builds it.
struct Log {
    entries: Vec<StoredEntry>,
    checkpoints: Vec<Checkpoint>,
    public: Vec<u8>,
    key: Ed25519KeyPair,
}

impl Log {
    fn new(n: u64, every: u64, final_cp: bool) -> Log {
        let key = key();
        let mut log = Log {
            entries: Vec::new(),
            checkpoints: Vec::new(),
            public: key.public_key().as_ref().to_vec(),
            key,
        };
        log.append(n, every, 0);
        if final_cp && !n.is_multiple_of(every) {
            log.sign(n);
        }
        log
    }

    fn head(&self) -> [u8; 32] {
        self.entries
            .last()
            .map(|e| e.hash.as_slice().try_into().unwrap())
            .unwrap_or(GENESIS)
    }

    fn sign(&mut self, count: u64) {
        let n = self.checkpoints.len() as u64 + 1;
        let head = self.head();
        let sig = self
            .key
            .sign(&checkpoint_message(n, count, &head, 1000 + count as i64));
        self.checkpoints.push(Checkpoint {
            n,
            count,
            head_hash: head.to_vec(),
            time_ms: 1000 + count as i64,
            signature: sig.as_ref().to_vec(),
        });
    }

    /// Append `n` entries (as an attacker re-appending would: valid hashes, no key).
    fn append(&mut self, n: u64, every: u64, salt: u8) {
        for _ in 0..n {
            let seq = self.entries.len() as u64 + 1;
            let e = AuditEntry::new(
                seq,
                1_000_000 + seq as i64 * 10 + salt as i64,
                Actor::System,
                record(seq, salt),
            );
            let stored = seal(&e, &self.head());
            self.entries.push(stored);
            if salt == 0 && seq.is_multiple_of(every) {
                self.sign(seq);
            }
        }
    }

    fn verify(&self) -> Result<super::Summary, super::Broken> {
        let mut v = Verifier::whole(&self.public, self.checkpoints.clone());
        for e in &self.entries {
            v.push(e)?;
        }
        v.finish()
    }
}

#[test]
fn an_untouched_log_verifies_with_its_summary() {
    let log = Log::new(25, 10, false);
    let s = log.verify().unwrap();
    assert_eq!((s.records, s.checkpoints, s.unsigned_tail), (25, 2, 5));
    assert_eq!(s.head_hash, log.head());
    assert_eq!(Log::new(0, 10, false).verify().unwrap().records, 0);
}

#[test]
fn a_checkpoint_with_a_bad_signature_is_found() {
    let mut log = Log::new(30, 10, false);
    log.checkpoints[1].signature[5] ^= 1;
    let b = log.verify().unwrap_err();
    assert_eq!(b.seq, 11, "{b}");
    assert!(b.what.contains("signature"), "{b}");
}

#[test]
fn a_checkpoint_signed_by_another_key_is_refused() {
    let mut log = Log::new(10, 5, false);
    log.public = key().public_key().as_ref().to_vec();
    assert_eq!(log.verify().unwrap_err().seq, 1);
}

#[test]
fn truncating_the_tail_behind_a_checkpoint_names_the_first_missing_seq() {
    let mut log = Log::new(20, 10, true);
    log.entries.truncate(14);
    let b = log.verify().unwrap_err();
    assert_eq!(b.seq, 15, "{b}");
}

#[test]
fn a_deleted_checkpoint_is_found() {
    let mut log = Log::new(30, 10, false);
    log.checkpoints.remove(1);
    assert_eq!(log.verify().unwrap_err().seq, 11);
}

/// How someone with the database file tampers with it, and the first seq verify must name.
#[derive(Debug, Clone)]
enum Tamper {
    /// Flip bits of one byte of one stored column of entry `i`.
    Byte {
        i: usize,
        column: u8,
        at: usize,
        bits: u8,
    },
    /// Delete entry `i` (not the last one: that is truncation), optionally renumbering.
    Delete { i: usize, renumber: bool },
    /// Insert a well-formed entry before entry `i`, renumbering the rest.
    Insert { i: usize },
    /// Swap the contents of entries `i < j` (seq columns stay).
    Swap { i: usize, j: usize },
    /// Drop entries from `i` on and append `extra` new, correctly hashed entries.
    TruncateAndReappend { i: usize, extra: u64 },
}

fn tamper_strategy(n: usize) -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (0..n, 0u8..5, any::<usize>(), 1u8..=255).prop_map(|(i, column, at, bits)| Tamper::Byte {
            i,
            column,
            at,
            bits
        }),
        (0..n - 1, any::<bool>()).prop_map(|(i, renumber)| Tamper::Delete { i, renumber }),
        (0..n).prop_map(|i| Tamper::Insert { i }),
        (0..n - 1)
            .prop_flat_map(move |i| (Just(i), i + 1..n))
            .prop_map(|(i, j)| Tamper::Swap { i, j }),
        (0..n, 0u64..5).prop_map(|(i, extra)| Tamper::TruncateAndReappend { i, extra }),
    ]
}

/// Apply `t`; return the seq verify must name (`None`: nothing verifiable changed).
fn apply(log: &mut Log, t: &Tamper, every: u64) -> Option<u64> {
    match *t {
        Tamper::Byte {
            i,
            column,
            at,
            bits,
        } => {
            let e = &mut log.entries[i];
            let col = match column {
                0 => &mut e.canonical,
                1 => &mut e.hash,
                2 => &mut e.prev_hash,
                3 => &mut e.leaf_hash,
                _ => {
                    e.time_ms ^= bits as i64;
                    return Some(i as u64 + 1);
                }
            };
            let at = at % col.len();
            col[at] ^= bits;
            Some(i as u64 + 1)
        }
        Tamper::Delete { i, renumber } => {
            log.entries.remove(i);
            if renumber {
                for e in &mut log.entries[i..] {
                    e.seq -= 1;
                }
            }
            Some(i as u64 + 1)
        }
        Tamper::Insert { i } => {
            let seq = i as u64 + 1;
            let prev = if i == 0 {
                GENESIS
            } else {
                log.entries[i - 1].hash.as_slice().try_into().unwrap()
            };
            let forged = seal(
                &AuditEntry::new(seq, 5, Actor::Anonymous, record(seq, 3)),
                &prev,
            );
            for e in &mut log.entries[i..] {
                e.seq += 1;
            }
            log.entries.insert(i, forged);
            Some(seq)
        }
        Tamper::Swap { i, j } => {
            let (si, sj) = (log.entries[i].seq, log.entries[j].seq);
            log.entries.swap(i, j);
            log.entries[i].seq = si;
            log.entries[j].seq = sj;
            Some(i as u64 + 1)
        }
        Tamper::TruncateAndReappend { i, extra } => {
            let n = log.entries.len() as u64;
            log.entries.truncate(i);
            log.append(n - i as u64 + extra, every, 7);
            // The rewritten entries differ from the originals (another salt), so the first
            // checkpoint at or after entry i+1 no longer holds; verify names the first
            // entry after the last checkpoint that still holds (module doc of `chain`).
            let first_bad = i as u64 + 1;
            log.checkpoints.iter().find(|c| c.count >= first_bad)?;
            let last_good = log
                .checkpoints
                .iter()
                .filter(|c| c.count < first_bad)
                .map(|c| c.count)
                .max()
                .unwrap_or(0);
            Some(last_good + 1)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Audit log: any byte changed in any entry, any deletion, insertion, reordering, or
    /// truncation followed by re-append is detected, naming the right first bad seq.
    #[test]
    fn every_tampering_is_detected_at_the_first_bad_seq(
        (n, every, t) in (2usize..40, 1u64..8).prop_flat_map(|(n, every)| (Just(n), Just(every), tamper_strategy(n)))
    ) {
        let mut log = Log::new(n as u64, every, true);
        prop_assert!(log.verify().is_ok());
        // `None`: entries no checkpoint covers yet were rewritten; not detectable offline.
        if let Some(expected) = apply(&mut log, &t, every) {
            let b = log.verify().expect_err("tampering went unnoticed");
            prop_assert_eq!(b.seq, expected, "{:?}: {}", t, b);
        }
    }

    /// With a checkpoint after every entry, even a rewritten tail is named exactly.
    #[test]
    fn with_a_checkpoint_per_entry_a_rewritten_tail_is_named_exactly(n in 2u64..30, i in 0usize..29, extra in 0u64..4) {
        let i = i % n as usize;
        let mut log = Log::new(n, 1, true);
        let expected = apply(&mut log, &Tamper::TruncateAndReappend { i, extra }, 1);
        prop_assert_eq!(expected, Some(i as u64 + 1));
        prop_assert_eq!(log.verify().unwrap_err().seq, i as u64 + 1);
    }
}

fn config(every: u64) -> crate::config::AuditSection {
    crate::config::AuditSection {
        checkpoint_every_records: every,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_get_gapless_seqs_and_the_chain_continues_after_a_restart() {
    // Audit log: group commit; the chain survives a restart and verifies offline.
    let dir = tempfile::tempdir().unwrap();
    let audit = super::Audit::open(dir.path(), &config(7)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..64u64 {
        let a = audit.clone();
        tasks.push(tokio::spawn(async move {
            a.append(Actor::System, record(i, 0)).await.unwrap().seq
        }));
    }
    let mut seqs: Vec<u64> = Vec::new();
    for t in tasks {
        seqs.push(t.await.unwrap());
    }
    seqs.sort();
    assert_eq!(seqs, (1..=64).collect::<Vec<_>>());
    let r = audit
        .append_all(Actor::System, vec![record(1, 1), record(2, 1)])
        .await
        .unwrap();
    assert_eq!(r.seq, 66);
    audit.close().await;
    assert!(
        audit.append(Actor::System, record(1, 1)).await.is_err(),
        "closed"
    );

    let audit = super::Audit::open(dir.path(), &config(7)).await.unwrap();
    assert_eq!(
        audit.append(Actor::System, record(3, 0)).await.unwrap().seq,
        67
    );
    audit.close().await;
    let s = super::verify_data_dir(dir.path(), None).await.unwrap();
    assert_eq!(s.records, 67);
    assert_eq!(s.unsigned_tail, 0, "a checkpoint is signed at close");
    assert!(s.checkpoints >= 9, "{s:?}");
    // The key is private to the server; its public half is written for auditors.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("keys").join(super::KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "signing key readable by others: {mode:o}");
    }
    let public =
        super::read_public_key(&dir.path().join("keys").join(super::PUBLIC_KEY_FILE)).unwrap();
    assert_eq!(public.len(), 32);
}

#[tokio::test]
async fn an_append_that_cannot_be_committed_fails_and_marks_the_log_unhealthy() {
    // Audit first: the caller learns of the failure; health goes down and back up.
    let dir = tempfile::tempdir().unwrap();
    let audit = super::Audit::open(dir.path(), &config(1000)).await.unwrap();
    audit.append(Actor::System, record(1, 0)).await.unwrap();
    audit.dangerous_fail_appends_for_tests(true);
    assert!(audit.append(Actor::System, record(2, 0)).await.is_err());
    assert!(!audit.is_healthy());
    audit.dangerous_fail_appends_for_tests(false);
    assert_eq!(
        audit.append(Actor::System, record(3, 0)).await.unwrap().seq,
        2,
        "the failed entry left no gap"
    );
    assert!(audit.is_healthy());
    audit.close().await;
    assert_eq!(
        super::verify_data_dir(dir.path(), None)
            .await
            .unwrap()
            .records,
        2
    );
}

#[test]
fn an_export_slice_verifies_only_from_a_signed_checkpoint() {
    // Audit log: an export carries the checkpoints needed to verify it away from the server.
    let log = Log::new(23, 5, false);
    let slice = |first: usize, last: usize, cps: &[usize]| {
        let prev: [u8; 32] = log.entries[first - 2].hash.as_slice().try_into().unwrap();
        let cps: Vec<Checkpoint> = cps.iter().map(|n| log.checkpoints[n - 1].clone()).collect();
        let mut v = Verifier::slice(&log.public, first as u64, prev, cps);
        for e in &log.entries[first - 1..last] {
            v.push(e)?;
        }
        v.finish()
    };
    let s = slice(11, 20, &[2, 3, 4]).unwrap();
    assert_eq!(
        (s.first_seq, s.records, s.checkpoints, s.unsigned_tail),
        (11, 10, 3, 0)
    );
    // Without the checkpoint that vouches for entry 10, nothing anchors the slice.
    assert_eq!(slice(11, 20, &[3, 4]).unwrap_err().seq, 11);
    // Starting between checkpoints is not anchored either.
    assert_eq!(slice(12, 20, &[2, 3, 4]).unwrap_err().seq, 12);
}
