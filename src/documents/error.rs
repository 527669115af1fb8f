//! What can go wrong with a document ([`DocumentError`]), for the service, the content
//! checks and the vault alike; re-exported as `documents::DocumentError`.
//!
//! Owns only the error type; the HTTP edge (`documents::http`) decides what each one means
//! to a client, and nothing here logs a document's content (R-PRIV-3).

use crate::audit::AuditError;
use crate::ids::DocumentId;
use crate::model::documents::DocumentKind;
use crate::store::StoreError;

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
