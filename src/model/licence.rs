//! The vocabulary of the lawyer registry as values (R-VERIFY-1, R-VERIFY-3): a validated
//! [`LicenceNumber`], the holder's [`HolderIdHash`], the [`PractisingStatus`], one
//! [`RegistryRecord`], and what asking the registry can give ([`Lookup`], [`RegistryError`]).
//!
//! Owns only these values, their parsing and their redacted `Debug` (licence numbers, names
//! and identity hashes are personal data; they reach logs only through [`Redacted`]). It
//! does not ask a registry, cache answers or judge a record: that is `licence` and its
//! pure verdict `licence::verify`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::redact::Redacted;

/// Number of digits of a practising certificate number (执业证号).
pub const LICENCE_NUMBER_DIGITS: usize = 17;

/// A lawyer's practising certificate number: exactly 17 ASCII digits.
///
/// Parse it with [`str::parse`]; surrounding whitespace is ignored, anything else that is not
/// a digit is refused. Its `Debug` is redacted; `Display` prints the number and exists for
/// URLs, SQL binds and [`Redacted`] — never log it in clear.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LicenceNumber(String);

/// A text that is not a licence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a licence number is exactly {LICENCE_NUMBER_DIGITS} digits")]
pub struct LicenceNumberError;

impl LicenceNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LicenceNumber {
    type Err = LicenceNumberError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() == LICENCE_NUMBER_DIGITS && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(LicenceNumber(s.to_owned()))
        } else {
            Err(LicenceNumberError)
        }
    }
}

impl fmt::Display for LicenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for LicenceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LicenceNumber({})", Redacted(&self.0))
    }
}

/// The SHA-256 (64 lowercase hex digits) of a licence holder's identity-document number, as
/// the registry publishes it. A key to match a lawyer account against the registry, not a
/// secret: the number space is small enough to search, so treat it as personal data.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct HolderIdHash(String);

/// A text that is not a SHA-256 hex digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an identity-number hash is 64 hexadecimal digits (SHA-256)")]
pub struct HolderIdHashError;

impl HolderIdHash {
    /// The hash of an identity-document number: SHA-256 of the number with surrounding
    /// whitespace removed and letters upper-cased (a mainland ID number may end in `X`).
    pub fn of_id_number(id_number: &str) -> HolderIdHash {
        let normalised = id_number.trim().to_uppercase();
        let digest = ring::digest::digest(&ring::digest::SHA256, normalised.as_bytes());
        HolderIdHash(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for HolderIdHash {
    type Err = HolderIdHashError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(HolderIdHash(s.to_ascii_lowercase()))
        } else {
            Err(HolderIdHashError)
        }
    }
}

impl fmt::Display for HolderIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for HolderIdHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HolderIdHash({})", Redacted(&self.0))
    }
}

/// A licence's practising status as the registry states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PractisingStatus {
    /// In good standing (执业).
    Practising,
    /// Temporarily barred from practice (停止执业).
    Suspended,
    /// Withdrawn as a sanction (吊销).
    Revoked,
    /// Given up or void for another reason (注销).
    Cancelled,
}

/// A text that is not one of the four statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a practising status is one of practising, suspended, revoked, cancelled")]
pub struct PractisingStatusError;

impl PractisingStatus {
    pub const ALL: [PractisingStatus; 4] = [
        PractisingStatus::Practising,
        PractisingStatus::Suspended,
        PractisingStatus::Revoked,
        PractisingStatus::Cancelled,
    ];

    /// The spelling used in export files, the JSON API and the store.
    pub fn as_str(self) -> &'static str {
        match self {
            PractisingStatus::Practising => "practising",
            PractisingStatus::Suspended => "suspended",
            PractisingStatus::Revoked => "revoked",
            PractisingStatus::Cancelled => "cancelled",
        }
    }
}

impl FromStr for PractisingStatus {
    type Err = PractisingStatusError;

    /// Case-insensitive; surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        PractisingStatus::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s))
            .ok_or(PractisingStatusError)
    }
}

impl fmt::Display for PractisingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the registry says about one licence. `Debug` redacts the personal fields.
#[derive(Clone, PartialEq, Eq)]
pub struct RegistryRecord {
    pub licence: LicenceNumber,
    pub holder_name: String,
    pub holder_id_hash: HolderIdHash,
    pub law_firm: String,
    pub status: PractisingStatus,
    /// Last day (inclusive) on which the licence is valid.
    pub valid_until: NaiveDate,
    /// When the registry's data was current (its export or answer time).
    pub data_as_of: DateTime<Utc>,
}

impl fmt::Debug for RegistryRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryRecord")
            .field("licence", &self.licence)
            .field("holder_name", &Redacted(&self.holder_name))
            .field("holder_id_hash", &self.holder_id_hash)
            .field("law_firm", &Redacted(&self.law_firm))
            .field("status", &self.status)
            .field("valid_until", &self.valid_until)
            .field("data_as_of", &self.data_as_of)
            .finish()
    }
}

/// The registry could not give an answer. Every variant means "not known", never "unknown
/// licence": the caller fails closed (R-VERIFY-1) and `licence::verify::verify_lookup`
/// turns it into `Reason::RegistryUnavailable`. Messages never contain a licence number or
/// a URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or answered with an error status.
    #[error("the licence registry is unavailable: {0}")]
    Unavailable(String),
    /// No complete answer within the configured time.
    #[error("the licence registry did not answer in time")]
    Timeout,
    /// An answer that does not follow the registry API (bad JSON, wrong record, bad field).
    #[error("the licence registry answered something unusable: {0}")]
    Garbage(String),
    /// Recent requests failed; the circuit breaker lets no request through for now.
    #[error("the licence registry is failing; not asking it again for a while")]
    CircuitOpen,
}

impl RegistryError {
    /// A stable machine-readable code, for logs, metrics and audit.
    pub fn code(&self) -> &'static str {
        match self {
            RegistryError::Unavailable(_) => "registry_unavailable",
            RegistryError::Timeout => "registry_timeout",
            RegistryError::Garbage(_) => "registry_garbage",
            RegistryError::CircuitOpen => "registry_circuit_open",
        }
    }
}

/// The result of asking a registry about one licence: `Ok(None)` is a definite "no such
/// licence" from the registry; an error means the registry gave no usable answer.
pub type Lookup = Result<Option<RegistryRecord>, RegistryError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn licence_numbers_are_seventeen_digits() {
        assert_eq!(
            "13101201010123456"
                .parse::<LicenceNumber>()
                .unwrap()
                .as_str(),
            "13101201010123456"
        );
        assert_eq!(
            " 13101201010123456\n"
                .parse::<LicenceNumber>()
                .unwrap()
                .as_str(),
            "13101201010123456"
        );
        for bad in [
            "",
            "1310120101012345",
            "131012010101234567",
            "1310120101012345x",
            "13101201010 23456",
            "１３１０１２０１０１０１２３４５６",
        ] {
            assert_eq!(
                bad.parse::<LicenceNumber>(),
                Err(LicenceNumberError),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn personal_data_is_redacted_in_debug() {
        let record = RegistryRecord {
            licence: "13101201010123456".parse().unwrap(),
            holder_name: "张三".into(),
            holder_id_hash: HolderIdHash::of_id_number("11010519491231002X"),
            law_firm: "北京市某某律师事务所".into(),
            status: PractisingStatus::Practising,
            valid_until: NaiveDate::from_ymd_opt(2027, 5, 31).unwrap(),
            data_as_of: DateTime::<Utc>::UNIX_EPOCH,
        };
        let shown = format!("{record:?}");
        for secret in [
            "13101201010123456",
            "张三",
            "律师事务所",
            record.holder_id_hash.as_str(),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("Practising"));
    }

    #[test]
    fn id_hash_normalises_case_and_whitespace() {
        let a = HolderIdHash::of_id_number("11010519491231002x");
        let b = HolderIdHash::of_id_number(" 11010519491231002X ");
        assert_eq!(a, b);
        assert_eq!(a.as_str().len(), 64);
        assert_eq!(a.as_str().to_uppercase().parse::<HolderIdHash>(), Ok(a));
        assert!("abc".parse::<HolderIdHash>().is_err());
    }

    #[test]
    fn statuses_round_trip() {
        for st in PractisingStatus::ALL {
            assert_eq!(st.as_str().parse::<PractisingStatus>(), Ok(st));
            assert_eq!(
                st.as_str().to_uppercase().parse::<PractisingStatus>(),
                Ok(st)
            );
        }
        assert!("active".parse::<PractisingStatus>().is_err());
    }
}
