//! The decision table of `policy::admit`: every rule, and the combinations that matter.

use super::*;
use crate::licence::verify::{verify, HolderMismatch, LawyerClaim};
use crate::licence::{HolderIdHash, PractisingStatus, RegistryRecord};
use chrono::{NaiveDate, TimeZone};

fn t(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, h, m, 0).unwrap()
}

const LAWYER: LawyerId = LawyerId(1);
const ASSISTANT: LawyerId = LawyerId(5);
const INTERPRETER: LawyerId = LawyerId(6);

fn visit() -> VisitTerms {
    VisitTerms {
        id: VisitId(7),
        lawyer: LAWYER,
        booth: BoothId("booth-a".into()),
        case: Some(CaseId(3)),
        companions: vec![ASSISTANT, INTERPRETER],
        starts_at: t(9, 0),
        ends_at: t(9, 30),
        ended: false,
        room: Room::Ordinary,
        lawyer_booth: None,
    }
}

fn borrowed(consent: bool, attested: bool) -> Room {
    Room::Borrowed {
        lawyer_consent: consent,
        equipment_off_attested: attested,
    }
}

/// A real verdict from `licence::verify` (a `VerifiedLicence` cannot be made otherwise).
fn verified() -> Verdict {
    let claim = LawyerClaim {
        licence: "13101201010123456".parse().unwrap(),
        holder_name: "张三".into(),
        holder_id_hash: HolderIdHash::of_id_number("11010519491231002X"),
        law_firm: "某某律师事务所".into(),
    };
    let record = RegistryRecord {
        licence: claim.licence.clone(),
        holder_name: claim.holder_name.clone(),
        holder_id_hash: claim.holder_id_hash.clone(),
        law_firm: claim.law_firm.clone(),
        status: PractisingStatus::Practising,
        valid_until: NaiveDate::from_ymd_opt(2027, 5, 31).unwrap(),
        data_as_of: t(4, 0),
    };
    let v = verify(
        Some(&record),
        &claim,
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap(),
    );
    assert!(v.is_verified());
    v
}

fn good_lawyer() -> LawyerEvidence {
    LawyerEvidence {
        account_locked: false,
        engagement: Some(EngagementEvidence {
            documents: Documents::ACCEPTED,
            permission: Permission::NotNeeded,
        }),
        licence: verified(),
        manually_verified: false,
        terminal: None,
    }
}

fn lawyer(f: impl FnOnce(&mut LawyerEvidence)) -> Applicant {
    let mut ev = good_lawyer();
    f(&mut ev);
    Applicant::Lawyer(LAWYER, ev)
}

fn booth() -> Applicant {
    Applicant::Booth(BoothId("booth-a".into()))
}

fn companion(account: LawyerId, role: CompanionRole, approved: bool) -> Applicant {
    Applicant::Companion {
        account,
        role,
        account_locked: false,
        approved_for_case: approved,
    }
}

fn docs(firm_letter: DocumentState, authority: DocumentState) -> Documents {
    Documents {
        firm_letter,
        authority,
    }
}

fn with_docs(d: Documents) -> Applicant {
    lawyer(|ev| ev.engagement.as_mut().unwrap().documents = d)
}

fn with_permission(p: Permission) -> Applicant {
    lawyer(|ev| ev.engagement.as_mut().unwrap().permission = p)
}

fn refused(r: Reason) -> Verdict {
    Verdict::Refused(r)
}

/// One row of the decision table.
struct Case {
    name: &'static str,
    who: Applicant,
    now: DateTime<Utc>,
    tweak: fn(&mut VisitTerms),
    expect: Result<LicenceBasis, Deny>,
}

fn none(_: &mut VisitTerms) {}

#[test]
fn decision_table() {
    use DocumentState::*;
    let cases = vec![
        // R-VERIFY-1 + R-ARRANGE-1: a practising lawyer with both documents accepted.
        Case {
            name: "verified lawyer, documents accepted, inside slot",
            who: lawyer(|_| {}),
            now: t(9, 0),
            tweak: none,
            expect: Ok(LicenceBasis::Registry),
        },
        Case {
            name: "assigned booth inside slot",
            who: booth(),
            now: t(9, 29),
            tweak: none,
            expect: Ok(LicenceBasis::NotApplicable),
        },
        // R-VERIFY-4: only the lawyer, the booth and invited, approved companions.
        Case {
            name: "another lawyer, even fully verified",
            who: Applicant::Lawyer(LawyerId(2), good_lawyer()),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::NotAParticipant),
        },
        Case {
            name: "another booth",
            who: Applicant::Booth(BoothId("booth-b".into())),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::NotAParticipant),
        },
        Case {
            name: "approved assistant invited to the visit",
            who: companion(ASSISTANT, CompanionRole::Assistant, true),
            now: t(9, 10),
            tweak: none,
            expect: Ok(LicenceBasis::NotApplicable),
        },
        Case {
            name: "approved interpreter invited to the visit",
            who: companion(INTERPRETER, CompanionRole::Interpreter, true),
            now: t(9, 10),
            tweak: none,
            expect: Ok(LicenceBasis::NotApplicable),
        },
        Case {
            name: "invited assistant not approved for the case",
            who: companion(ASSISTANT, CompanionRole::Assistant, false),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::CompanionNotApproved),
        },
        Case {
            name: "approved for the case but not invited to this visit by its lawyer",
            who: companion(LawyerId(8), CompanionRole::Assistant, true),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::CompanionNotInvited),
        },
        Case {
            name: "locked companion",
            who: Applicant::Companion {
                account: ASSISTANT,
                role: CompanionRole::Assistant,
                account_locked: true,
                approved_for_case: true,
            },
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::AccountLocked),
        },
        // The slot and the visit's state.
        Case {
            name: "before the slot",
            who: lawyer(|_| {}),
            now: t(8, 59),
            tweak: none,
            expect: Err(Deny::TooEarly),
        },
        Case {
            name: "at the slot end",
            who: booth(),
            now: t(9, 30),
            tweak: none,
            expect: Err(Deny::SlotOver),
        },
        Case {
            name: "ended visit",
            who: lawyer(|_| {}),
            now: t(9, 10),
            tweak: |v| v.ended = true,
            expect: Err(Deny::VisitEnded),
        },
        Case {
            name: "stranger to an ended visit learns nothing about it",
            who: Applicant::Lawyer(LawyerId(9), good_lawyer()),
            now: t(9, 10),
            tweak: |v| v.ended = true,
            expect: Err(Deny::NotAParticipant),
        },
        Case {
            name: "a stranger learns nothing about the slot either",
            who: Applicant::Booth(BoothId("booth-b".into())),
            now: t(8, 0),
            tweak: none,
            expect: Err(Deny::NotAParticipant),
        },
        // R-VERIFY-3: a locked account is refused even with everything else in order.
        Case {
            name: "locked lawyer account",
            who: lawyer(|ev| ev.account_locked = true),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::AccountLocked),
        },
        Case {
            name: "a locked account is refused even when verified by hand",
            who: lawyer(|ev| {
                ev.account_locked = true;
                ev.manually_verified = true;
            }),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::AccountLocked),
        },
        Case {
            name: "visit without a case",
            who: lawyer(|_| {}),
            now: t(9, 10),
            tweak: |v| v.case = None,
            expect: Err(Deny::NoCase),
        },
        Case {
            name: "no engagement for the case",
            who: lawyer(|ev| ev.engagement = None),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::NoEngagement),
        },
        // R-VERIFY-1: every licence refusal stops the lawyer, fail closed on an outage.
        Case {
            name: "registry down",
            who: lawyer(|ev| ev.licence = refused(Reason::RegistryUnavailable)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::RegistryUnavailable)),
        },
        Case {
            name: "unknown licence",
            who: lawyer(|ev| ev.licence = refused(Reason::UnknownLicence)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::UnknownLicence)),
        },
        Case {
            name: "someone else's licence",
            who: lawyer(|ev| ev.licence = refused(Reason::NotTheHolder(HolderMismatch::Name))),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::NotTheHolder(HolderMismatch::Name))),
        },
        Case {
            name: "suspended",
            who: lawyer(|ev| ev.licence = refused(Reason::Suspended)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::Suspended)),
        },
        Case {
            name: "revoked",
            who: lawyer(|ev| ev.licence = refused(Reason::Revoked)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::Revoked)),
        },
        Case {
            name: "firm differs from the firm letter",
            who: lawyer(|ev| ev.licence = refused(Reason::FirmMismatch)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::FirmMismatch)),
        },
        // R-VERIFY-2: a manual verification settles an outage or a disagreement of the
        // registry's data (below), never a status the registry states (the table test after).
        Case {
            name: "registry down, verified by hand",
            who: lawyer(|ev| {
                ev.licence = refused(Reason::RegistryUnavailable);
                ev.manually_verified = true;
            }),
            now: t(9, 10),
            tweak: none,
            expect: Ok(LicenceBasis::Manual),
        },
        Case {
            name: "registry disagrees (holder), verified by hand",
            who: lawyer(|ev| {
                ev.licence = refused(Reason::NotTheHolder(HolderMismatch::IdNumber));
                ev.manually_verified = true;
            }),
            now: t(9, 10),
            tweak: none,
            expect: Ok(LicenceBasis::Manual),
        },
        Case {
            name: "verified by hand does not replace the documents",
            who: lawyer(|ev| {
                ev.manually_verified = true;
                ev.engagement.as_mut().unwrap().documents = docs(Accepted, Missing);
            }),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Documents(docs(Accepted, Missing))),
        },
        // R-ARRANGE-1: both documents accepted; each other state refuses.
        Case {
            name: "firm letter missing",
            who: with_docs(docs(Missing, Accepted)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Documents(docs(Missing, Accepted))),
        },
        Case {
            name: "authority pending",
            who: with_docs(docs(Accepted, Pending)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Documents(docs(Accepted, Pending))),
        },
        Case {
            name: "firm letter rejected",
            who: with_docs(docs(Rejected, Accepted)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Documents(docs(Rejected, Accepted))),
        },
        Case {
            name: "nothing uploaded",
            who: with_docs(docs(Missing, Missing)),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Documents(docs(Missing, Missing))),
        },
        Case {
            name: "the licence is checked before the documents (impersonation is flagged first)",
            who: lawyer(|ev| {
                ev.licence = refused(Reason::UnknownLicence);
                ev.engagement.as_mut().unwrap().documents = docs(Missing, Missing);
            }),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::Licence(Reason::UnknownLicence)),
        },
        // R-ARRANGE-3: only flagged cases need permission.
        Case {
            name: "flagged case without permission",
            who: with_permission(Permission::Missing),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::PermissionMissing),
        },
        Case {
            name: "flagged case, permission refused",
            who: with_permission(Permission::Refused),
            now: t(9, 10),
            tweak: none,
            expect: Err(Deny::PermissionRefused),
        },
        Case {
            name: "flagged case, permission granted",
            who: with_permission(Permission::Granted),
            now: t(9, 10),
            tweak: none,
            expect: Ok(LicenceBasis::Registry),
        },
    ];
    for case in cases {
        let mut v = visit();
        (case.tweak)(&mut v);
        let got = admit(&v, &case.who, case.now).map(|a| {
            assert_eq!(a.visit(), VisitId(7), "{}", case.name);
            assert_eq!(a.participant(), &case.who.participant(), "{}", case.name);
            assert_eq!(a.slot_end(), t(9, 30), "{}", case.name);
            a.licence()
        });
        assert_eq!(got, case.expect, "{}", case.name);
    }
}

/// R-ARRANGE-2: no condition beyond the documents. Every combination of the inputs that
/// are not documents, licence, permission or slot admits a verified lawyer with accepted
/// documents; there is no input for "notice from the investigating unit", "interrogation in
/// progress" or "rooms short" at all (the types have no such field).
#[test]
fn nothing_but_the_listed_conditions_refuses() {
    for permission in [Permission::NotNeeded, Permission::Granted] {
        for manual in [false, true] {
            let who = lawyer(|ev| {
                ev.manually_verified = manual;
                ev.engagement.as_mut().unwrap().permission = permission;
            });
            for minute in [0, 1, 15, 29] {
                assert!(admit(&visit(), &who, t(9, minute)).is_ok());
            }
        }
    }
}

/// Every document state other than "both accepted" refuses, and names what to fix.
#[test]
fn every_incomplete_document_combination_refuses_with_what_to_do() {
    use DocumentState::*;
    let states = [Missing, Pending, Rejected, Accepted];
    for f in states {
        for a in states {
            let d = docs(f, a);
            let got = admit(&visit(), &with_docs(d), t(9, 5));
            if d == Documents::ACCEPTED {
                assert!(got.is_ok());
                continue;
            }
            let deny = got.unwrap_err();
            assert_eq!(deny, Deny::Documents(d));
            let en = deny.message_en();
            let zh = deny.message_zh();
            if f != Accepted {
                assert!(
                    en.contains("law-firm letter") && zh.contains("律师事务所证明"),
                    "{en}"
                );
            } else {
                assert!(!en.contains("law-firm letter"), "{en}");
            }
            if a != Accepted {
                assert!(en.contains("power of attorney or legal-aid letter"), "{en}");
            }
            assert!(en.contains("Nothing else is required"), "{en}");
        }
    }
}

#[test]
fn every_refusal_has_a_code_and_sentences_in_both_languages() {
    let mut all = vec![
        Deny::NotAParticipant,
        Deny::TooEarly,
        Deny::SlotOver,
        Deny::VisitEnded,
        Deny::AccountLocked,
        Deny::NoCase,
        Deny::NoEngagement,
        Deny::Documents(docs(DocumentState::Missing, DocumentState::Pending)),
        Deny::PermissionMissing,
        Deny::PermissionRefused,
        Deny::CompanionNotApproved,
        Deny::RoomConsentMissing,
        Deny::RoomNotAttested,
        Deny::RemoteBoothRequired,
        Deny::CompanionNotInvited,
    ];
    all.extend(Reason::ALL.iter().map(|r| Deny::Licence(*r)));
    let mut codes = std::collections::HashSet::new();
    for d in all {
        let code = d.code();
        assert!(
            !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{code}"
        );
        assert!(codes.insert(code), "duplicate code {code}");
        assert!(d.message_en().ends_with('.'), "{d:?}");
        assert!(d.message_zh().ends_with('。'), "{d:?}");
    }
}

#[test]
fn only_unknown_foreign_or_revoked_licences_look_like_impersonation() {
    assert!(Deny::Licence(Reason::UnknownLicence).is_possible_impersonation());
    assert!(Deny::Licence(Reason::Revoked).is_possible_impersonation());
    assert!(Deny::Licence(Reason::NotTheHolder(HolderMismatch::Both)).is_possible_impersonation());
    assert!(!Deny::Licence(Reason::RegistryUnavailable).is_possible_impersonation());
    assert!(!Deny::Licence(Reason::Suspended).is_possible_impersonation());
    assert!(!Deny::NoEngagement.is_possible_impersonation());
}

/// R-PRIV-2: in a borrowed interrogation room nobody (the booth included) is admitted
/// until the lawyer consented and the room's recording and monitoring equipment was
/// attested off for this visit; ordinary rooms ask for neither.
#[test]
fn a_borrowed_interrogation_room_admits_only_with_consent_and_attestation() {
    let applicants = [
        ("lawyer", lawyer(|_| {})),
        ("booth", booth()),
        (
            "assistant",
            companion(ASSISTANT, CompanionRole::Assistant, true),
        ),
    ];
    for (name, who) in &applicants {
        for (room, expect) in [
            (Room::Ordinary, None),
            (borrowed(false, false), Some(Deny::RoomConsentMissing)),
            (borrowed(false, true), Some(Deny::RoomConsentMissing)),
            (borrowed(true, false), Some(Deny::RoomNotAttested)),
            (borrowed(true, true), None),
        ] {
            let mut v = visit();
            v.room = room;
            let got = admit(&v, who, t(9, 5)).err();
            assert_eq!(got, expect, "{name} in {room:?}");
        }
    }
    // The person's own problems come first: a lawyer with missing documents learns that,
    // not that the room is still being prepared.
    let mut v = visit();
    v.room = borrowed(true, false);
    let who = with_docs(docs(DocumentState::Missing, DocumentState::Accepted));
    assert!(matches!(admit(&v, &who, t(9, 5)), Err(Deny::Documents(_))));
    // And the slot still rules: an attested room does not open a visit early.
    v.room = borrowed(true, true);
    assert_eq!(admit(&v, &booth(), t(8, 59)).err(), Some(Deny::TooEarly));
}

/// R-REMOTE-1: a visit whose lawyer side is a remote police-station booth admits its lawyer
/// only through that terminal (its client certificate); other visits admit the lawyer from
/// any browser. The detainee's booth is unaffected.
#[test]
fn a_remote_booth_visit_admits_its_lawyer_only_at_that_terminal() {
    let station = BoothId("station-7".into());
    let mut v = visit();
    v.lawyer_booth = Some(station.clone());
    let at = |terminal: Option<BoothId>| lawyer(move |ev| ev.terminal = terminal);
    assert!(admit(&v, &at(Some(station.clone())), t(9, 5)).is_ok());
    assert_eq!(
        admit(&v, &at(None), t(9, 5)).err(),
        Some(Deny::RemoteBoothRequired)
    );
    assert_eq!(
        admit(&v, &at(Some(BoothId("station-8".into()))), t(9, 5)).err(),
        Some(Deny::RemoteBoothRequired)
    );
    assert!(admit(&v, &booth(), t(9, 5)).is_ok());
    // The terminal proves where the lawyer is, not who: the licence still decides.
    let unlicensed = lawyer(|ev| {
        ev.terminal = Some(BoothId("station-7".into()));
        ev.licence = refused(Reason::Suspended);
    });
    assert!(matches!(
        admit(&v, &unlicensed, t(9, 5)),
        Err(Deny::Licence(_))
    ));
    // Without a remote booth, a lawyer at any terminal or browser is admitted.
    assert!(admit(&visit(), &at(Some(station)), t(9, 5)).is_ok());
}

/// R-VERIFY-2: which registry refusals a manual verification may settle. Only "registry
/// unavailable", "not in the registry" and "registry data differs" (holder, firm); a
/// suspension, revocation, cancellation or expiry stands whatever staff record.
#[test]
fn a_manual_verification_settles_only_outages_and_disagreements() {
    let table = [
        (Reason::RegistryUnavailable, true),
        (Reason::UnknownLicence, true),
        (Reason::NotTheHolder(HolderMismatch::Name), true),
        (Reason::NotTheHolder(HolderMismatch::IdNumber), true),
        (Reason::NotTheHolder(HolderMismatch::Both), true),
        (Reason::FirmMismatch, true),
        (Reason::Suspended, false),
        (Reason::Revoked, false),
        (Reason::Cancelled, false),
        (Reason::Expired, false),
    ];
    assert_eq!(
        table.len(),
        Reason::ALL.len() + 2,
        "every reason is in the table"
    );
    for (reason, overridable) in table {
        assert_eq!(reason.manual_may_override(), overridable, "{reason:?}");
        let who = lawyer(|ev| {
            ev.licence = refused(reason);
            ev.manually_verified = true;
        });
        let got = admit(&visit(), &who, t(9, 10)).map(|a| a.licence());
        if overridable {
            assert_eq!(got, Ok(LicenceBasis::Manual), "{reason:?}");
        } else {
            assert_eq!(got.unwrap_err(), Deny::Licence(reason), "{reason:?}");
        }
    }
    // A registry that verifies the licence is the basis even where staff also checked it,
    // so the lawyer is re-checked during the visit like any other.
    let who = lawyer(|ev| ev.manually_verified = true);
    assert_eq!(
        admit(&visit(), &who, t(9, 10)).map(|a| a.licence()),
        Ok(LicenceBasis::Registry)
    );
}
