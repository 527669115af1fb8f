//! The documents a lawyer brings for an engagement (R-ARRANGE-1, R-ARRANGE-2, R-PRIV-3).
//!
//! For each lawyer–detainee engagement the lawyer supplies exactly two documents: the
//! law-firm letter, and the power of attorney or the legal-aid letter (the engagement's
//! [`Authority`]). [`DocumentKind`] is that closed set; there is no configuration, API or
//! code path that adds a kind, and the `documents` table's CHECK holds the same list, so
//! nothing else can be stored and nothing else can be required (R-ARRANGE-2).
//!
//! This module owns, by file (this file only declares and re-exports them):
//! - the pure types the admission policy consumes ([`DocumentsSummary`], built by
//!   [`summarize`] from the uploads: the newest upload of each kind counts), defined in the
//!   base layer ([`crate::model::documents`], so that the store can use them) and
//!   re-exported here;
//! - `error`: [`DocumentError`];
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
mod error;
pub mod http;
pub mod service;
pub mod vault;

pub use content::{check_upload, sha256_hex, MediaType, ACCEPTED_UPLOADS, MAX_DOCUMENT_BYTES};
pub use error::DocumentError;
pub use service::{Documents, SealedFile};
pub use vault::{load_or_create_key, DOCUMENTS_DIR, KEY_FILE};

pub use crate::model::documents::{
    summarize, Authority, DocumentKind, DocumentStatus, DocumentsSummary, UnknownAuthority,
    UnknownKind,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::DocumentId;
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
