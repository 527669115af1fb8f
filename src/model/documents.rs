//! The documents of an engagement as values (R-ARRANGE-1, R-ARRANGE-2): the closed set of
//! [`DocumentKind`]s, the engagement's [`Authority`], a document's [`DocumentStatus`], and
//! the pure [`summarize`] that turns an engagement's uploads into the [`DocumentsSummary`]
//! admission reads (the newest upload of each required kind counts).
//!
//! Owns only these values and that pure summary. It does not store, encrypt, check or
//! review a document (that is `documents`), nor decide admission (that is `policy`).

use crate::ids::DocumentId;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The kinds of document an engagement has: the whole list (R-ARRANGE-1, R-ARRANGE-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// The law firm's letter (律师事务所证明).
    FirmLetter,
    /// The client's power of attorney (委托书).
    PowerOfAttorney,
    /// The legal-aid institution's letter (法律援助公函).
    LegalAidLetter,
}

impl DocumentKind {
    /// Every kind, in the order people are told about them.
    pub const ALL: [DocumentKind; 3] = [
        DocumentKind::FirmLetter,
        DocumentKind::PowerOfAttorney,
        DocumentKind::LegalAidLetter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::FirmLetter => "firm_letter",
            DocumentKind::PowerOfAttorney => "power_of_attorney",
            DocumentKind::LegalAidLetter => "legal_aid_letter",
        }
    }

    /// The name a lawyer reads.
    pub fn label(self) -> &'static str {
        match self {
            DocumentKind::FirmLetter => "law-firm letter",
            DocumentKind::PowerOfAttorney => "power of attorney",
            DocumentKind::LegalAidLetter => "legal-aid letter",
        }
    }
}

impl fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A kind outside the closed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the only documents are the law-firm letter (firm_letter), the power of attorney (power_of_attorney) and the legal-aid letter (legal_aid_letter)")]
pub struct UnknownKind;

impl FromStr for DocumentKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        DocumentKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or(UnknownKind)
    }
}

/// Which second document an engagement rests on (`engagements.authority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Authority {
    PowerOfAttorney,
    LegalAidLetter,
}

impl Authority {
    pub const ALL: [Authority; 2] = [Authority::PowerOfAttorney, Authority::LegalAidLetter];

    pub fn as_str(self) -> &'static str {
        self.kind().as_str()
    }

    /// The document kind that proves this authority.
    pub fn kind(self) -> DocumentKind {
        match self {
            Authority::PowerOfAttorney => DocumentKind::PowerOfAttorney,
            Authority::LegalAidLetter => DocumentKind::LegalAidLetter,
        }
    }

    /// The two kinds an engagement with this authority requires, firm letter first.
    pub fn required(self) -> [DocumentKind; 2] {
        [DocumentKind::FirmLetter, self.kind()]
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authority other than the two.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the authority is either a power of attorney (power_of_attorney) or a legal-aid letter (legal_aid_letter)")]
pub struct UnknownAuthority;

impl FromStr for Authority {
    type Err = UnknownAuthority;
    fn from_str(s: &str) -> Result<Self, UnknownAuthority> {
        Authority::ALL
            .into_iter()
            .find(|a| a.as_str() == s)
            .ok_or(UnknownAuthority)
    }
}

/// Where one required document stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentStatus {
    /// Never uploaded.
    Missing,
    /// Uploaded, not yet reviewed by staff.
    Pending,
    Accepted,
    /// Staff rejected it (with a reason); the lawyer uploads it again.
    Rejected,
}

impl DocumentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentStatus::Missing => "missing",
            DocumentStatus::Pending => "pending",
            DocumentStatus::Accepted => "accepted",
            DocumentStatus::Rejected => "rejected",
        }
    }

    /// Whether the lawyer still has to upload (missing) or upload again (rejected).
    pub fn needs_upload(self) -> bool {
        matches!(self, DocumentStatus::Missing | DocumentStatus::Rejected)
    }
}

impl FromStr for DocumentStatus {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [
            DocumentStatus::Missing,
            DocumentStatus::Pending,
            DocumentStatus::Accepted,
            DocumentStatus::Rejected,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or(())
    }
}

/// The state of an engagement's two required documents, for admission (R-ARRANGE-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DocumentsSummary {
    pub firm_letter: DocumentStatus,
    /// The status of the engagement's authority kind (power of attorney or legal-aid
    /// letter); an upload of the other authority kind is ignored.
    pub authority: DocumentStatus,
}

impl DocumentsSummary {
    /// Both required documents are accepted: nothing more may be asked (R-ARRANGE-2).
    pub fn complete(&self) -> bool {
        self.firm_letter == DocumentStatus::Accepted && self.authority == DocumentStatus::Accepted
    }

    /// The required kinds that still need an upload or a re-upload.
    pub fn missing(&self, authority: Authority) -> Vec<DocumentKind> {
        let mut out = Vec::new();
        if self.firm_letter.needs_upload() {
            out.push(DocumentKind::FirmLetter);
        }
        if self.authority.needs_upload() {
            out.push(authority.kind());
        }
        out
    }
}

/// Summarise an engagement's uploads: for each required kind, the status of its newest
/// upload (highest id), or `Missing`. Uploads of a kind the engagement does not require
/// are ignored. Pure.
pub fn summarize(
    authority: Authority,
    uploads: impl IntoIterator<Item = (DocumentId, DocumentKind, DocumentStatus)>,
) -> DocumentsSummary {
    let mut firm: Option<(DocumentId, DocumentStatus)> = None;
    let mut auth: Option<(DocumentId, DocumentStatus)> = None;
    for (id, kind, status) in uploads {
        let slot = if kind == DocumentKind::FirmLetter {
            &mut firm
        } else if kind == authority.kind() {
            &mut auth
        } else {
            continue;
        };
        if slot.is_none_or(|(newest, _)| id > newest) {
            *slot = Some((id, status));
        }
    }
    DocumentsSummary {
        firm_letter: firm.map_or(DocumentStatus::Missing, |(_, s)| s),
        authority: auth.map_or(DocumentStatus::Missing, |(_, s)| s),
    }
}
