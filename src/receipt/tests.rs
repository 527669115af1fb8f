//! The receipt core: canonical form, building from audit facts, sealing and verifying
//! (R-PRIV-1, R-VERIFY-4, R-PRIV-2).

use super::*;
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::json;

fn key() -> Ed25519KeyPair {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
}

fn fact(seq: u64, time_ms: i64, record: Value) -> Fact {
    Fact {
        seq,
        time_ms,
        kind: record["kind"].as_str().unwrap().to_owned(),
        hash: format!("{seq:064x}"),
        record,
    }
}

fn row() -> VisitRowFacts {
    VisitRowFacts {
        id: 7,
        facility: "F1".into(),
        booth: "b1".into(),
        lawyer_booth: None,
        starts_at_ms: 1_000_000,
        ends_at_ms: 4_600_000,
        ended_at_ms: Some(2_000_000),
        end_reason: Some("stopped_by_staff".into()),
        borrowed_room_consent: Some(true),
    }
}

fn facts() -> Vec<Fact> {
    vec![
        fact(
            3,
            1_100_000,
            json!({"kind": "room_attested", "visit": 7, "booth": "b1", "via": "booth", "officer": "A123"}),
        ),
        fact(
            5,
            1_200_000,
            json!({"kind": "admission_granted", "visit": 7, "participant": {"kind": "lawyer", "id": 4}, "licence": "registry"}),
        ),
        fact(6, 1_200_000, json!({"kind": "visit_started", "visit": 7})),
        fact(
            7,
            1_200_000,
            json!({"kind": "participant_joined", "visit": 7, "role": "lawyer"}),
        ),
        fact(
            9,
            1_300_000,
            json!({"kind": "admission_granted", "visit": 7, "participant": {"kind": "booth", "id": "b1"}, "device_cert_sha256": "ab".repeat(32)}),
        ),
        fact(
            10,
            1_300_000,
            json!({"kind": "participant_joined", "visit": 7, "role": "booth"}),
        ),
        fact(
            11,
            1_350_000,
            json!({"kind": "e2ee_key_published", "visit": 7, "details": {"participant": "lawyer:4", "role": "lawyer", "fingerprint": "11:22"}}),
        ),
        fact(
            12,
            1_360_000,
            json!({"kind": "e2ee_check_code", "visit": 7, "code": "4821", "participants": ["lawyer", "booth"]}),
        ),
        fact(
            13,
            1_400_000,
            json!({"kind": "participant_left", "visit": 7, "role": "booth"}),
        ),
        fact(
            14,
            1_500_000,
            json!({"kind": "participant_joined", "visit": 7, "role": "booth"}),
        ),
        fact(
            15,
            1_990_000,
            json!({"kind": "staff_stop", "visit": 7, "staff": 1, "reason": "communication_device"}),
        ),
        fact(
            16,
            2_000_000,
            json!({"kind": "visit_ended", "visit": 7, "reason": "stopped_by_staff"}),
        ),
        fact(
            20,
            2_100_000,
            json!({"kind": "receipt_issued", "visit": 7, "to": "lawyer"}),
        ),
    ]
}

fn signed(k: &Ed25519KeyPair) -> (Receipt, Vec<u8>) {
    let cp_msg = crate::audit::chain::checkpoint_message(2, 21, &[9u8; 32], 2_100_000);
    let cp = Checkpoint {
        n: 2,
        count: 21,
        head_hash: vec![9u8; 32],
        time_ms: 2_100_000,
        signature: k.sign(&cp_msg).as_ref().to_vec(),
    };
    let assets = vec![AssetHash {
        path: "/web/confer.js".into(),
        sha256: "cd".repeat(32),
    }];
    let r = build(
        &row(),
        &facts(),
        &cp,
        "lawyer",
        2_200_000,
        k.public_key().as_ref(),
        "0.1.0",
        assets,
    );
    let bytes = seal(&r, |m| k.sign(&receipt_message(m)).as_ref().to_vec());
    (r, bytes)
}

#[test]
fn canonical_form_sorts_keys_and_has_no_whitespace() {
    let v = json!({"b": [1, {"z": null, "a": true}], "a": "x\"y", "é": -3});
    assert_eq!(
        String::from_utf8(canonical(&v).unwrap()).unwrap(),
        r#"{"a":"x\"y","b":[1,{"a":true,"z":null}],"é":-3}"#
    );
    assert!(
        canonical(&json!({"f": 1.5})).is_err(),
        "floats have no canonical form"
    );
}

#[test]
fn the_receipt_says_who_was_there_when_and_how_it_ended() {
    // R-VERIFY-4: each admitted participant with its device; R-PRIV-2: the attestation.
    let (r, _) = signed(&key());
    assert_eq!(r.visit.id, 7);
    assert_eq!(r.visit.end.reason, "stopped_by_staff");
    assert_eq!(r.visit.end.at, time(2_000_000));
    assert_eq!(
        r.visit.end.stop_category.as_deref(),
        Some("communication_device")
    );
    assert_eq!(r.visit.started_at, Some(time(1_200_000)));
    assert_eq!(r.participants.len(), 2);
    let lawyer = &r.participants[0];
    assert_eq!((lawyer.role.as_str(), lawyer.account), ("lawyer", Some(4)));
    assert_eq!(lawyer.licence.as_deref(), Some("registry"));
    assert_eq!(
        lawyer.present,
        [Presence {
            joined_at: time(1_200_000),
            left_at: Some(time(2_000_000))
        }]
    );
    let booth = &r.participants[1];
    assert_eq!(booth.booth.as_deref(), Some("b1"));
    assert_eq!(booth.device_cert_sha256, ["ab".repeat(32)]);
    assert_eq!(
        booth.present.len(),
        2,
        "left and came back: {:?}",
        booth.present
    );
    assert_eq!(booth.present[0].left_at, Some(time(1_400_000)));
    assert_eq!(r.room.kind, "interrogation_room");
    assert_eq!(r.room.attestations[0].officer, "A123");
    assert_eq!(r.e2ee.keys[0].fingerprint, json!("11:22"));
    assert_eq!(r.e2ee.check_codes[0].code, json!("4821"));
    // Earlier receipts are not part of the visit's range.
    assert_eq!((r.audit.first_seq, r.audit.last_seq), (Some(3), Some(16)));
    assert!(r.audit.entries.iter().all(|e| e.kind != RECEIPT_KIND));
}

#[test]
fn a_sealed_receipt_verifies_and_any_changed_byte_is_found() {
    let k = key();
    let (r, bytes) = signed(&k);
    let pk = k.public_key().as_ref();
    assert_eq!(verify(&bytes, pk).unwrap(), r);
    let mut with_newline = bytes.clone();
    with_newline.push(b'\n');
    assert!(
        verify(&with_newline, pk).is_ok(),
        "one trailing newline is allowed"
    );
    for i in 0..bytes.len() {
        for replacement in [b' ', b'"', bytes[i] ^ 0x01] {
            if replacement == bytes[i] {
                continue;
            }
            let mut changed = bytes.clone();
            changed[i] = replacement;
            assert!(
                verify(&changed, pk).is_err(),
                "byte {i} ({:?} -> {:?}) went unnoticed",
                bytes[i] as char,
                replacement as char
            );
        }
    }
    let other = key();
    assert!(matches!(
        verify(&bytes, other.public_key().as_ref()),
        Err(Invalid::OtherKey { .. })
    ));
}

#[test]
fn a_re_signed_receipt_by_another_key_naming_ours_fails_the_signature() {
    let k = key();
    let mallory = key();
    let (mut r, _) = signed(&k);
    r.visit.end.reason = "slot_over".into();
    // Mallory keeps our key's name but can only sign with hers.
    let forged = seal(&r, |m| mallory.sign(&receipt_message(m)).as_ref().to_vec());
    assert_eq!(
        verify(&forged, k.public_key().as_ref()),
        Err(Invalid::BadSignature)
    );
}

/// R-VERIFY-4: two interpreters in one visit are two participants in the receipt, each with
/// its own presence, told apart by account id (as the hub writes the audit entries, from the
/// real record type), and a companion let go (`companion_removed`) left at that moment.
#[test]
fn two_companions_of_one_role_are_not_merged() {
    use crate::audit::AuditRecord;
    use crate::ids::{LawyerId, ParticipantId, Role, VisitId};
    let rec = |r: AuditRecord| serde_json::to_value(r).unwrap();
    let interp = |id| ParticipantId::Interpreter(LawyerId(id));
    let joined = |id| {
        rec(AuditRecord::ParticipantJoined {
            visit: VisitId(7),
            role: Role::Interpreter,
            participant: Some(interp(id)),
        })
    };
    let mut f = facts();
    f.retain(|x| x.kind != "visit_ended" && x.kind != "staff_stop" && x.kind != "receipt_issued");
    f.extend([
        fact(
            30,
            1_600_000,
            json!({"kind": "admission_granted", "visit": 7, "participant": {"kind": "interpreter", "id": 8}}),
        ),
        fact(31, 1_600_000, joined(8)),
        fact(
            32,
            1_700_000,
            json!({"kind": "admission_granted", "visit": 7, "participant": {"kind": "interpreter", "id": 9}}),
        ),
        fact(33, 1_700_000, joined(9)),
        fact(
            34,
            1_800_000,
            rec(AuditRecord::CompanionRemoved {
                visit: VisitId(7),
                participant: interp(8),
                reason: "invitation_withdrawn".into(),
            }),
        ),
        fact(
            35,
            1_900_000,
            rec(AuditRecord::ParticipantLeft {
                visit: VisitId(7),
                role: Role::Interpreter,
                participant: Some(interp(9)),
            }),
        ),
        fact(
            36,
            2_000_000,
            json!({"kind": "visit_ended", "visit": 7, "reason": "slot_over"}),
        ),
    ]);
    let k = key();
    let cp = Checkpoint {
        n: 1,
        count: 37,
        head_hash: vec![9u8; 32],
        time_ms: 2_100_000,
        signature: Vec::new(),
    };
    let r = build(
        &row(),
        &f,
        &cp,
        "lawyer",
        2_200_000,
        k.public_key().as_ref(),
        "0.1.0",
        Vec::new(),
    );
    let of = |id| {
        r.participants
            .iter()
            .find(|p| p.role == "interpreter" && p.account == Some(id))
            .unwrap_or_else(|| panic!("interpreter {id} in {:?}", r.participants))
    };
    assert_eq!(r.participants.len(), 4, "{:?}", r.participants);
    assert_eq!(
        of(8).present,
        [Presence {
            joined_at: time(1_600_000),
            left_at: Some(time(1_800_000))
        }]
    );
    assert_eq!(
        of(9).present,
        [Presence {
            joined_at: time(1_700_000),
            left_at: Some(time(1_900_000))
        }]
    );
    // Entries without the id (written before it was recorded) still count by role.
    assert_eq!(r.participants[1].present.len(), 2);
}
