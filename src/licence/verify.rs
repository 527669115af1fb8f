//! Does a registry record prove that a lawyer account belongs to a lawyer in good standing
//! today? Pure and table-tested (R-VERIFY-1, R-VERIFY-3).
//!
//! Owns: [`LawyerClaim`] (what the account says about its holder), [`verify`] /
//! [`verify_lookup`], the proof [`VerifiedLicence`] (constructed only here) and the refusal
//! [`Reason`]s, each with a stable code, an English and a Chinese sentence that tells the
//! lawyer what to do next, and whether it may be impersonation.
//!
//! Order of the checks, and why:
//! 1. the registry gave no answer → [`Reason::RegistryUnavailable`] (fail closed);
//! 2. no such licence → [`Reason::UnknownLicence`];
//! 3. the holder's name or identity-number hash differs → [`Reason::NotTheHolder`]. This
//!    comes before the status so that nobody learns the standing of someone else's licence;
//! 4. revoked, cancelled, suspended (in that order of gravity), then expired;
//! 5. the law firm differs from the firm on the account (the firm letter's firm).
//!
//! Names and firms are compared after [`normalise`]: whitespace removed, full-width forms
//! folded to ASCII, ASCII case and the variants of the middle dot in minority names unified.
//!
//! Does not: look anything up, read the clock, decide admission (manual verification by staff,
//! R-VERIFY-2, and the rest of admission belong to `policy`), or raise alerts (the caller does,
//! for reasons where [`Reason::is_possible_impersonation`] is true).

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};

use crate::model::licence::{
    HolderIdHash, LicenceNumber, Lookup, PractisingStatus, RegistryRecord,
};
use crate::redact::Redacted;

/// What a lawyer account claims about its holder, to be checked against the registry.
#[derive(Clone, PartialEq, Eq)]
pub struct LawyerClaim {
    pub licence: LicenceNumber,
    pub holder_name: String,
    pub holder_id_hash: HolderIdHash,
    /// The firm named on the law-firm letter the lawyer presents.
    pub law_firm: String,
}

impl fmt::Debug for LawyerClaim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LawyerClaim")
            .field("licence", &self.licence)
            .field("holder_name", &Redacted(&self.holder_name))
            .field("holder_id_hash", &self.holder_id_hash)
            .field("law_firm", &Redacted(&self.law_firm))
            .finish()
    }
}

/// Which of the holder's identifying fields differ from the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HolderMismatch {
    Name,
    IdNumber,
    Both,
}

/// Why a licence does not verify. Every reason has a stable [`code`](Reason::code) and a
/// sentence in English and in Chinese for the lawyer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The registry could not be asked or gave no usable answer (fail closed, R-VERIFY-1).
    RegistryUnavailable,
    /// The registry has no such licence number.
    UnknownLicence,
    /// The licence belongs to someone else: the holder's name or identity number differs.
    /// The detail is for staff and audit; the lawyer is told only that it does not match.
    NotTheHolder(HolderMismatch),
    /// The registry names another law firm than the account's firm letter.
    FirmMismatch,
    Suspended,
    Revoked,
    Cancelled,
    /// Past the licence's valid-until date.
    Expired,
}

impl Reason {
    /// Every reason, for tables and tests (the `NotTheHolder` detail shown once).
    pub const ALL: [Reason; 8] = [
        Reason::RegistryUnavailable,
        Reason::UnknownLicence,
        Reason::NotTheHolder(HolderMismatch::Both),
        Reason::FirmMismatch,
        Reason::Suspended,
        Reason::Revoked,
        Reason::Cancelled,
        Reason::Expired,
    ];

    /// Stable machine-readable code (API responses, audit, metrics labels).
    pub fn code(self) -> &'static str {
        match self {
            Reason::RegistryUnavailable => "licence_registry_unavailable",
            Reason::UnknownLicence => "licence_unknown",
            Reason::NotTheHolder(_) => "licence_holder_mismatch",
            Reason::FirmMismatch => "licence_firm_mismatch",
            Reason::Suspended => "licence_suspended",
            Reason::Revoked => "licence_revoked",
            Reason::Cancelled => "licence_cancelled",
            Reason::Expired => "licence_expired",
        }
    }

    /// Whether this refusal may be someone posing as a lawyer (R-VERIFY-3): an unknown
    /// licence, someone else's licence, or a revoked one. The caller alerts staff and audits.
    pub fn is_possible_impersonation(self) -> bool {
        matches!(
            self,
            Reason::UnknownLicence | Reason::NotTheHolder(_) | Reason::Revoked
        )
    }

    /// Whether the refusal says nothing about the lawyer, only that the registry could not
    /// be asked. A running visit is not cut for it (docs/DESIGN.md invariant 4).
    pub fn is_registry_outage(self) -> bool {
        matches!(self, Reason::RegistryUnavailable)
    }

    /// Whether staff may settle this refusal by hand with a justice-bureau certificate
    /// (R-VERIFY-2): only when the registry cannot answer or its data disagrees with the
    /// licence (unknown number, another holder, another firm). A status the registry states
    /// (suspended, revoked, cancelled, expired) is the registry's decision, not a
    /// disagreement, and no manual verification overrides it.
    pub fn manual_may_override(self) -> bool {
        match self {
            Reason::RegistryUnavailable
            | Reason::UnknownLicence
            | Reason::NotTheHolder(_)
            | Reason::FirmMismatch => true,
            Reason::Suspended | Reason::Revoked | Reason::Cancelled | Reason::Expired => false,
        }
    }

    /// What the lawyer reads, in English: what happened and what to do next.
    pub fn message_en(self) -> &'static str {
        match self {
            Reason::RegistryUnavailable => {
                "The lawyer registry cannot be reached right now, so your licence could not be checked \
                 automatically; facility staff can verify your licence by hand."
            }
            Reason::UnknownLicence => {
                "The lawyer registry has no licence with this number; check the number on your account, \
                 or ask staff to verify your licence against a certificate from your justice bureau."
            }
            Reason::NotTheHolder(_) => {
                "The lawyer registry lists this licence under another holder's name or identity number; \
                 check your account details, or ask staff to verify your licence against a certificate \
                 from your justice bureau."
            }
            Reason::FirmMismatch => {
                "The lawyer registry names a different law firm than your firm letter; bring a letter from \
                 the firm the registry names, or ask staff to verify your licence against a certificate from \
                 your justice bureau."
            }
            Reason::Suspended => {
                "The lawyer registry shows this licence as suspended; a visit is possible again once the \
                 suspension ends, or when staff verify a certificate from your justice bureau."
            }
            Reason::Revoked => {
                "The lawyer registry shows this licence as revoked; if that is wrong, contact your justice \
                 bureau and bring its certificate to facility staff."
            }
            Reason::Cancelled => {
                "The lawyer registry shows this licence as cancelled; if that is wrong, contact your justice \
                 bureau and bring its certificate to facility staff."
            }
            Reason::Expired => {
                "The lawyer registry shows this licence as expired; renew it with your justice bureau, or \
                 ask staff to verify a certificate of renewal."
            }
        }
    }

    /// What the lawyer reads, in Chinese: what happened and what to do next.
    pub fn message_zh(self) -> &'static str {
        match self {
            Reason::RegistryUnavailable => {
                "暂时无法连接律师执业信息库，未能自动核验您的执业证；看守所工作人员可以为您人工核验。"
            }
            Reason::UnknownLicence => {
                "律师执业信息库中没有此执业证号；请核对账户中的证号，或持司法行政机关出具的证明请工作人员人工核验。"
            }
            Reason::NotTheHolder(_) => {
                "律师执业信息库中此执业证的持证人姓名或身份证号与您的账户不符；请核对账户信息，\
                 或持司法行政机关出具的证明请工作人员人工核验。"
            }
            Reason::FirmMismatch => {
                "律师执业信息库登记的律师事务所与您的律师事务所证明不一致；请提交信息库所登记律师事务所的证明，\
                 或持司法行政机关出具的证明请工作人员人工核验。"
            }
            Reason::Suspended => {
                "律师执业信息库显示此执业证处于停止执业状态；停止执业期满后即可会见，\
                 或持司法行政机关出具的证明请工作人员人工核验。"
            }
            Reason::Revoked => {
                "律师执业信息库显示此执业证已被吊销；如有错误，请联系司法行政机关并将其证明交给看守所工作人员。"
            }
            Reason::Cancelled => {
                "律师执业信息库显示此执业证已被注销；如有错误，请联系司法行政机关并将其证明交给看守所工作人员。"
            }
            Reason::Expired => {
                "律师执业信息库显示此执业证已过有效期；请向司法行政机关办理续期，或持续期证明请工作人员人工核验。"
            }
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message_en())
    }
}

/// Proof that a licence verified against a registry record on one day. Constructed only by
/// [`verify`]; `policy` will take it as the registry input to admission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicence {
    licence: LicenceNumber,
    data_as_of: DateTime<Utc>,
    checked_on: NaiveDate,
    valid_until: NaiveDate,
}

impl VerifiedLicence {
    pub fn licence(&self) -> &LicenceNumber {
        &self.licence
    }
    /// When the registry's data behind this verification was current.
    pub fn data_as_of(&self) -> DateTime<Utc> {
        self.data_as_of
    }
    /// The day the check was made for.
    pub fn checked_on(&self) -> NaiveDate {
        self.checked_on
    }
    pub fn valid_until(&self) -> NaiveDate {
        self.valid_until
    }
}

/// The outcome of checking a lawyer's claim against the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Verified(VerifiedLicence),
    Refused(Reason),
}

impl Verdict {
    pub fn is_verified(&self) -> bool {
        matches!(self, Verdict::Verified(_))
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            Verdict::Verified(_) => None,
            Verdict::Refused(r) => Some(*r),
        }
    }
}

/// Fold a name or firm for comparison: drop whitespace, map full-width ASCII forms
/// (U+FF01..U+FF5E) and the ideographic space to ASCII, lower-case ASCII, and unify the
/// middle-dot variants used in transliterated and minority names (`·`, `•`, `・`, `．`, `.`).
pub fn normalise(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{00B7}' | '\u{2022}' | '\u{30FB}' | '\u{2027}' | '\u{FF65}' | '.' => '\u{00B7}',
            _ => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Check `claim` against the registry's `record` for `today` (R-VERIFY-1). `None` means the
/// registry positively has no such licence. A record for a different licence number than the
/// claim's is treated as unknown (it proves nothing about the claim).
pub fn verify(record: Option<&RegistryRecord>, claim: &LawyerClaim, today: NaiveDate) -> Verdict {
    let Some(record) = record.filter(|r| r.licence == claim.licence) else {
        return Verdict::Refused(Reason::UnknownLicence);
    };
    let name_differs = normalise(&record.holder_name) != normalise(&claim.holder_name);
    let id_differs = record.holder_id_hash != claim.holder_id_hash;
    let mismatch = match (name_differs, id_differs) {
        (false, false) => None,
        (true, false) => Some(HolderMismatch::Name),
        (false, true) => Some(HolderMismatch::IdNumber),
        (true, true) => Some(HolderMismatch::Both),
    };
    if let Some(m) = mismatch {
        return Verdict::Refused(Reason::NotTheHolder(m));
    }
    match record.status {
        PractisingStatus::Revoked => return Verdict::Refused(Reason::Revoked),
        PractisingStatus::Cancelled => return Verdict::Refused(Reason::Cancelled),
        PractisingStatus::Suspended => return Verdict::Refused(Reason::Suspended),
        PractisingStatus::Practising => {}
    }
    if today > record.valid_until {
        return Verdict::Refused(Reason::Expired);
    }
    if normalise(&record.law_firm) != normalise(&claim.law_firm) {
        return Verdict::Refused(Reason::FirmMismatch);
    }
    Verdict::Verified(VerifiedLicence {
        licence: record.licence.clone(),
        data_as_of: record.data_as_of,
        checked_on: today,
        valid_until: record.valid_until,
    })
}

/// [`verify`] over a registry [`Lookup`]: any registry error refuses with
/// [`Reason::RegistryUnavailable`] (fail closed, R-VERIFY-1).
pub fn verify_lookup(lookup: &Lookup, claim: &LawyerClaim, today: NaiveDate) -> Verdict {
    match lookup {
        Ok(record) => verify(record.as_ref(), claim, today),
        Err(_) => Verdict::Refused(Reason::RegistryUnavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::RegistryError;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const LICENCE: &str = "13101201010123456";

    fn record() -> RegistryRecord {
        RegistryRecord {
            licence: LICENCE.parse().unwrap(),
            holder_name: "欧阳 娜娜".into(),
            holder_id_hash: HolderIdHash::of_id_number("11010519491231002X"),
            law_firm: "上海市某某律师事务所（浦东）".into(),
            status: PractisingStatus::Practising,
            valid_until: day(2027, 5, 31),
            data_as_of: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    fn claim() -> LawyerClaim {
        LawyerClaim {
            licence: LICENCE.parse().unwrap(),
            holder_name: "欧阳娜娜".into(),
            holder_id_hash: HolderIdHash::of_id_number("11010519491231002x"),
            law_firm: "上海市某某律师事务所(浦东)".into(),
        }
    }

    struct Case {
        name: &'static str,
        record: Option<RegistryRecord>,
        claim: LawyerClaim,
        today: NaiveDate,
        expect: Option<Reason>,
    }

    /// R-VERIFY-1: only a practising holder, matching the account and the firm letter,
    /// verifies. R-VERIFY-3: unknown, someone else's and revoked licences are flagged.
    #[test]
    fn verification_table() {
        let today = day(2026, 11, 27);
        let with = |f: &dyn Fn(&mut RegistryRecord)| {
            let mut r = record();
            f(&mut r);
            Some(r)
        };
        let claim_with = |f: &dyn Fn(&mut LawyerClaim)| {
            let mut c = claim();
            f(&mut c);
            c
        };
        let other_id = HolderIdHash::of_id_number("310101198001011234");
        let cases = [
            Case {
                name: "practising holder, same firm",
                record: Some(record()),
                claim: claim(),
                today,
                expect: None,
            },
            Case {
                name: "valid until today inclusive",
                record: Some(record()),
                claim: claim(),
                today: day(2027, 5, 31),
                expect: None,
            },
            Case {
                name: "unknown licence",
                record: None,
                claim: claim(),
                today,
                expect: Some(Reason::UnknownLicence),
            },
            Case {
                name: "a record for another licence proves nothing",
                record: with(&|r| r.licence = "13101201010999999".parse().unwrap()),
                claim: claim(),
                today,
                expect: Some(Reason::UnknownLicence),
            },
            Case {
                name: "someone else's name",
                record: with(&|r| r.holder_name = "李四".into()),
                claim: claim(),
                today,
                expect: Some(Reason::NotTheHolder(HolderMismatch::Name)),
            },
            Case {
                name: "someone else's identity number",
                claim: claim_with(&|c| c.holder_id_hash = other_id.clone()),
                record: Some(record()),
                today,
                expect: Some(Reason::NotTheHolder(HolderMismatch::IdNumber)),
            },
            Case {
                name: "someone else entirely",
                record: with(&|r| {
                    r.holder_name = "李四".into();
                    r.holder_id_hash = other_id.clone();
                }),
                claim: claim(),
                today,
                expect: Some(Reason::NotTheHolder(HolderMismatch::Both)),
            },
            Case {
                name: "someone else's revoked licence: the status is not revealed",
                record: with(&|r| {
                    r.holder_name = "李四".into();
                    r.status = PractisingStatus::Revoked;
                }),
                claim: claim(),
                today,
                expect: Some(Reason::NotTheHolder(HolderMismatch::Name)),
            },
            Case {
                name: "firm mismatch",
                record: with(&|r| r.law_firm = "北京市另一律师事务所".into()),
                claim: claim(),
                today,
                expect: Some(Reason::FirmMismatch),
            },
            Case {
                name: "suspended",
                record: with(&|r| r.status = PractisingStatus::Suspended),
                claim: claim(),
                today,
                expect: Some(Reason::Suspended),
            },
            Case {
                name: "revoked",
                record: with(&|r| r.status = PractisingStatus::Revoked),
                claim: claim(),
                today,
                expect: Some(Reason::Revoked),
            },
            Case {
                name: "cancelled",
                record: with(&|r| r.status = PractisingStatus::Cancelled),
                claim: claim(),
                today,
                expect: Some(Reason::Cancelled),
            },
            Case {
                name: "expired",
                record: Some(record()),
                claim: claim(),
                today: day(2027, 6, 1),
                expect: Some(Reason::Expired),
            },
            Case {
                name: "suspended outranks expired and a firm mismatch",
                record: with(&|r| {
                    r.status = PractisingStatus::Suspended;
                    r.valid_until = day(2020, 1, 1);
                    r.law_firm = "别的律所".into();
                }),
                claim: claim(),
                today,
                expect: Some(Reason::Suspended),
            },
            Case {
                name: "expired outranks a firm mismatch",
                record: with(&|r| {
                    r.valid_until = day(2020, 1, 1);
                    r.law_firm = "别的律所".into();
                }),
                claim: claim(),
                today,
                expect: Some(Reason::Expired),
            },
        ];
        for case in cases {
            let got = verify(case.record.as_ref(), &case.claim, case.today);
            assert_eq!(got.reason(), case.expect, "{}", case.name);
            if let Verdict::Verified(proof) = got {
                assert_eq!(proof.licence(), &case.claim.licence);
                assert_eq!(proof.checked_on(), case.today);
            }
        }
    }

    /// R-VERIFY-1: the check fails closed when the registry gives no answer.
    #[test]
    fn registry_errors_never_verify() {
        let today = day(2026, 11, 27);
        for e in [
            RegistryError::Unavailable("x".into()),
            RegistryError::Timeout,
            RegistryError::Garbage("x".into()),
            RegistryError::CircuitOpen,
        ] {
            assert_eq!(
                verify_lookup(&Err(e), &claim(), today),
                Verdict::Refused(Reason::RegistryUnavailable)
            );
        }
        assert!(verify_lookup(&Ok(Some(record())), &claim(), today).is_verified());
        assert_eq!(
            verify_lookup(&Ok(None), &claim(), today),
            Verdict::Refused(Reason::UnknownLicence)
        );
    }

    /// R-VERIFY-3: exactly these reasons raise an impersonation alert.
    #[test]
    fn impersonation_reasons() {
        let flagged: Vec<Reason> = Reason::ALL
            .into_iter()
            .filter(|r| r.is_possible_impersonation())
            .collect();
        assert_eq!(
            flagged,
            [
                Reason::UnknownLicence,
                Reason::NotTheHolder(HolderMismatch::Both),
                Reason::Revoked
            ]
        );
        for m in [HolderMismatch::Name, HolderMismatch::IdNumber] {
            assert!(Reason::NotTheHolder(m).is_possible_impersonation());
        }
        assert!(Reason::RegistryUnavailable.is_registry_outage());
        assert_eq!(
            Reason::ALL
                .into_iter()
                .filter(|r| r.is_registry_outage())
                .count(),
            1
        );
    }

    #[test]
    fn every_reason_has_a_stable_code_and_two_sentences() {
        let mut codes = std::collections::HashSet::new();
        for r in Reason::ALL {
            assert!(
                r.code().starts_with("licence_")
                    && r.code().chars().all(|c| c.is_ascii_lowercase() || c == '_')
            );
            assert!(codes.insert(r.code()), "duplicate code {}", r.code());
            assert!(r.message_en().ends_with('.'), "{r:?}");
            assert!(r.message_zh().ends_with('。'), "{r:?}");
            assert!(
                !r.message_en().contains("  ") && !r.message_zh().contains(' '),
                "{r:?}"
            );
        }
        assert!(Reason::RegistryUnavailable
            .message_en()
            .contains("verify your licence by hand"));
    }

    #[test]
    fn names_compare_after_normalisation() {
        assert_eq!(normalise(" Zhang  San "), normalise("zhangsan"));
        assert_eq!(normalise("ＡＢＣ（北京）"), normalise("abc(北京)"));
        assert_eq!(normalise("买买提·艾力"), normalise("买买提•艾力"));
        assert_ne!(normalise("张三"), normalise("张山"));
    }
}
