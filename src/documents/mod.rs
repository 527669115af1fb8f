//! The documents a lawyer brings for an engagement (R-ARRANGE-1, R-ARRANGE-2, R-PRIV-3).
//!
//! For each lawyer–detainee engagement the lawyer supplies exactly two documents: the
//! law-firm letter, and the power of attorney or the legal-aid letter (the engagement's
//! [`Authority`]). [`DocumentKind`] is that closed set; there is no configuration, API or
//! code path that adds a kind, and the `documents` table's CHECK holds the same list, so
//! nothing else can be stored and nothing else can be required (R-ARRANGE-2).
//!
//! This module owns, by file:
//! - here: the pure types the admission policy consumes ([`DocumentsSummary`], built by
//!   [`summarize`] from the uploads: the newest upload of each kind counts) and
//!   [`DocumentError`];
//! - [`content`]: content checks ([`check_upload`]): PDF, JPEG or PNG recognised by their
//!   magic bytes (never by the client's `Content-Type` or file name), at most
//!   [`MAX_DOCUMENT_BYTES`];
//! - [`vault`]: the encrypted file store (AES-256-GCM, ring) under `<data-dir>/documents/`,
//!   with the key in `<data-dir>/keys/documents.key`;
//! - [`service`]: the [`Documents`] service API: uploads, reads and reviews, appended to the
//!   audit log before they take effect;
//! - [`http`]: the routes of both listeners.
//!
//! It deliberately does not: decide admission (that is `policy`, which reads
//! [`DocumentsSummary`]), decide who may read a document (the HTTP layer, [`http`]), or
//! log anything about a document's content. Contents never reach a log, the database or
//! the audit log: only the SHA-256, the size and the media type do.

pub mod content;
pub mod http;
pub mod service;
pub mod vault;

pub use content::{check_upload, sha256_hex, MediaType};
pub use service::{Documents, SealedFile};
pub use vault::load_or_create_key;

use crate::audit::AuditError;
use crate::ids::DocumentId;
use crate::store::StoreError;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The most bytes one document may have (10 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 10 * 1024 * 1024;

/// The sentence that names what an upload may be; every type or size refusal uses it.
pub const ACCEPTED_UPLOADS: &str =
    "Upload a PDF, JPEG or PNG file of at most 10 MiB (10,485,760 bytes).";

/// The key file under `<data-dir>/keys/`.
pub const KEY_FILE: &str = "documents.key";
/// The directory under `<data-dir>` holding the encrypted contents.
pub const DOCUMENTS_DIR: &str = "documents";

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

/// What went wrong with a document.
#[derive(Debug, thiserror::Error)]
pub enum DocumentError {
    #[error("the upload is empty")]
    Empty,
    #[error("the upload is larger than 10 MiB")]
    TooLarge,
    #[error("the upload is not a PDF, JPEG or PNG file")]
    TypeNotAccepted,
    #[error("this engagement rests on a {expected}, not a {given}")]
    NotThisEngagementsAuthority {
        given: DocumentKind,
        expected: DocumentKind,
    },
    #[error("a rejection needs a reason the lawyer can act on")]
    ReasonRequired,
    #[error("{0} does not exist")]
    NotFound(&'static str),
    #[error("the stored document {0} fails its integrity check")]
    Integrity(DocumentId),
    #[error("a stored file fails its integrity check")]
    FileIntegrity,
    #[error("document storage: {0}")]
    Io(#[from] std::io::Error),
    #[error("document encryption failed")]
    Crypto,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use DocumentKind::*;
    use DocumentStatus::*;

    fn d(
        id: i64,
        kind: DocumentKind,
        status: DocumentStatus,
    ) -> (DocumentId, DocumentKind, DocumentStatus) {
        (DocumentId(id), kind, status)
    }

    #[test]
    fn summary_table_the_newest_upload_of_each_required_kind_counts() {
        // R-ARRANGE-1: the firm letter and the engagement's authority document, nothing else.
        let poa = Authority::PowerOfAttorney;
        let aid = Authority::LegalAidLetter;
        let cases: Vec<(Authority, Vec<_>, DocumentsSummary, bool)> = vec![
            (
                poa,
                vec![],
                DocumentsSummary {
                    firm_letter: Missing,
                    authority: Missing,
                },
                false,
            ),
            (
                poa,
                vec![d(1, FirmLetter, Pending)],
                DocumentsSummary {
                    firm_letter: Pending,
                    authority: Missing,
                },
                false,
            ),
            (
                poa,
                vec![d(1, FirmLetter, Accepted), d(2, PowerOfAttorney, Accepted)],
                DocumentsSummary {
                    firm_letter: Accepted,
                    authority: Accepted,
                },
                true,
            ),
            // A re-upload after a rejection counts, whatever the order they are listed in.
            (
                poa,
                vec![
                    d(5, FirmLetter, Pending),
                    d(3, FirmLetter, Rejected),
                    d(4, PowerOfAttorney, Accepted),
                ],
                DocumentsSummary {
                    firm_letter: Pending,
                    authority: Accepted,
                },
                false,
            ),
            // A newer rejection overrides an older acceptance.
            (
                poa,
                vec![
                    d(1, FirmLetter, Accepted),
                    d(2, PowerOfAttorney, Accepted),
                    d(3, PowerOfAttorney, Rejected),
                ],
                DocumentsSummary {
                    firm_letter: Accepted,
                    authority: Rejected,
                },
                false,
            ),
            // The other authority kind is ignored, even when accepted.
            (
                poa,
                vec![d(1, FirmLetter, Accepted), d(2, LegalAidLetter, Accepted)],
                DocumentsSummary {
                    firm_letter: Accepted,
                    authority: Missing,
                },
                false,
            ),
            (
                aid,
                vec![
                    d(1, FirmLetter, Accepted),
                    d(2, LegalAidLetter, Accepted),
                    d(3, PowerOfAttorney, Rejected),
                ],
                DocumentsSummary {
                    firm_letter: Accepted,
                    authority: Accepted,
                },
                true,
            ),
            (
                aid,
                vec![d(1, FirmLetter, Accepted), d(2, PowerOfAttorney, Accepted)],
                DocumentsSummary {
                    firm_letter: Accepted,
                    authority: Missing,
                },
                false,
            ),
        ];
        for (i, (authority, uploads, want, complete)) in cases.into_iter().enumerate() {
            let got = summarize(authority, uploads);
            assert_eq!(got, want, "case {i}");
            assert_eq!(got.complete(), complete, "case {i}");
        }
    }

    #[test]
    fn missing_names_what_needs_an_upload_or_a_re_upload() {
        let s = DocumentsSummary {
            firm_letter: Rejected,
            authority: Missing,
        };
        assert_eq!(
            s.missing(Authority::LegalAidLetter),
            vec![FirmLetter, LegalAidLetter]
        );
        let s = DocumentsSummary {
            firm_letter: Pending,
            authority: Accepted,
        };
        assert!(s.missing(Authority::PowerOfAttorney).is_empty());
    }

    #[test]
    fn the_required_set_is_closed_and_never_longer_than_two() {
        // R-ARRANGE-2: no other document can be named, so none can be required.
        assert_eq!(DocumentKind::ALL.len(), 3);
        for a in Authority::ALL {
            assert_eq!(a.required().len(), 2);
            assert_eq!(a.required()[0], FirmLetter);
            assert_eq!(a.as_str().parse::<Authority>(), Ok(a));
        }
        for k in DocumentKind::ALL {
            assert_eq!(k.as_str().parse::<DocumentKind>(), Ok(k));
        }
        for other in [
            "investigating_unit_notice",
            "id_card",
            "",
            "FIRM_LETTER",
            "firm_letter ",
        ] {
            assert_eq!(other.parse::<DocumentKind>(), Err(UnknownKind), "{other}");
        }
        assert!("firm_letter".parse::<Authority>().is_err());
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own (large) error type
    fn a_configured_list_of_required_documents_is_refused() {
        // R-ARRANGE-2: no configuration can extend the required set.
        use figment::providers::{Format, Serialized, Toml};
        let toml =
            "[documents]\nrequired = [\"firm_letter\", \"power_of_attorney\", \"unit_notice\"]\n";
        let r: Result<crate::config::Config, _> =
            figment::Figment::from(Serialized::defaults(crate::config::Config::default()))
                .merge(Toml::string(toml))
                .extract();
        let e = r
            .expect_err("a [documents] section must be refused")
            .to_string();
        assert!(e.contains("documents"), "{e}");
    }
}
