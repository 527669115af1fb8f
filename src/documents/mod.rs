//! The documents a lawyer brings for an engagement (R-ARRANGE-1, R-ARRANGE-2, R-PRIV-3).
//!
//! For each lawyer–detainee engagement the lawyer supplies exactly two documents: the
//! law-firm letter, and the power of attorney or the legal-aid letter (the engagement's
//! [`Authority`]). [`DocumentKind`] is that closed set; there is no configuration, API or
//! code path that adds a kind, and the `documents` table's CHECK holds the same list, so
//! nothing else can be stored and nothing else can be required (R-ARRANGE-2).
//!
//! This module owns:
//! - the pure types the admission policy consumes ([`DocumentsSummary`], built by
//!   [`summarize`] from the uploads: the newest upload of each kind counts), defined in
//!   the base layer ([`crate::model::documents`], so that the store can use them) and
//!   re-exported here;
//! - content checks ([`check_upload`]): PDF, JPEG or PNG recognised by their magic bytes
//!   (never by the client's `Content-Type` or file name), at most [`MAX_DOCUMENT_BYTES`];
//! - the [`Documents`] service: encryption at rest (AES-256-GCM, ring) under
//!   `<data-dir>/documents/`, with the key in `<data-dir>/keys/documents.key`; uploads and
//!   reviews are appended to the audit log before they take effect.
//!
//! It deliberately does not: decide admission (that is `policy`, which reads
//! [`DocumentsSummary`]), decide who may read a document (the HTTP layer, [`http`]), or
//! log anything about a document's content. Contents never reach a log, the database or
//! the audit log: only the SHA-256, the size and the media type do.

pub mod http;

use crate::audit::{Actor, Audit, AuditError, AuditRecord};
use crate::ids::{AdminId, DocumentId, EngagementId};
use crate::store::documents::NewDocument;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};
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

pub use crate::model::documents::{
    summarize, Authority, DocumentKind, DocumentStatus, DocumentsSummary, UnknownAuthority,
    UnknownKind,
};

/// What an upload's content is, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaType {
    Pdf,
    Jpeg,
    Png,
}

impl MediaType {
    /// The MIME type stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Pdf => "application/pdf",
            MediaType::Jpeg => "image/jpeg",
            MediaType::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Pdf => "pdf",
            MediaType::Jpeg => "jpg",
            MediaType::Png => "png",
        }
    }

    /// Recognise PDF (`%PDF-`), PNG (its 8-byte signature) or JPEG (`FF D8 FF`).
    pub fn sniff(bytes: &[u8]) -> Option<MediaType> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(b"%PDF-") {
            Some(MediaType::Pdf)
        } else if bytes.starts_with(PNG) {
            Some(MediaType::Png)
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(MediaType::Jpeg)
        } else {
            None
        }
    }
}

impl FromStr for MediaType {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        [MediaType::Pdf, MediaType::Jpeg, MediaType::Png]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or(())
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

/// Check an upload's size and content; returns its media type. Pure.
pub fn check_upload(bytes: &[u8]) -> Result<MediaType, DocumentError> {
    if bytes.is_empty() {
        return Err(DocumentError::Empty);
    }
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(DocumentError::TooLarge);
    }
    MediaType::sniff(bytes).ok_or(DocumentError::TypeNotAccepted)
}

/// Hex SHA-256 of a document's plaintext.
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::audit::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// Additional authenticated data: the stored name, so that one file cannot be swapped
/// for another's.
fn aad(stored_name: &str) -> aead::Aad<Vec<u8>> {
    aead::Aad::from(format!("confer-document-v1:{stored_name}").into_bytes())
}

/// Read the document key, creating it (32 random bytes, 0600) on first start.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    use anyhow::Context;
    let dir = data_dir.join("keys");
    create_private_dir(&dir)?;
    let path = dir.join(KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            SystemRandom::new()
                .fill(&mut key)
                .map_err(|_| anyhow::anyhow!("no system randomness for the document key"))?;
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts
                .open(&path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            f.write_all(&key)?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn create_private_dir(p: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    std::fs::create_dir_all(p).with_context(|| format!("cannot create {}", p.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {}", p.display()))?;
    }
    Ok(())
}

/// A file sealed by [`Documents::seal_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedFile {
    pub stored_name: String,
    pub media_type: MediaType,
    pub sha256: String,
    pub size_bytes: i64,
}

/// The documents service: checks, encrypts, stores, audits and reads documents.
/// Cheap to clone.
#[derive(Clone)]
pub struct Documents {
    store: Store,
    audit: Audit,
    dir: PathBuf,
    key: std::sync::Arc<aead::LessSafeKey>,
    rng: SystemRandom,
}

/// Nonce length of AES-256-GCM (96 bits).
const NONCE_LEN: usize = aead::NONCE_LEN;

impl Documents {
    /// Open the service over `<data-dir>/documents/` (created 0700) with `key`
    /// (see [`load_or_create_key`]).
    pub fn open(
        data_dir: &Path,
        key: &[u8; 32],
        store: Store,
        audit: Audit,
    ) -> anyhow::Result<Documents> {
        let dir = data_dir.join(DOCUMENTS_DIR);
        create_private_dir(&dir)?;
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, key)
            .map_err(|_| anyhow::anyhow!("the document key is not an AES-256 key"))?;
        Ok(Documents {
            store,
            audit,
            dir,
            key: std::sync::Arc::new(aead::LessSafeKey::new(unbound)),
            rng: SystemRandom::new(),
        })
    }

    /// Where a stored document's encrypted content lives.
    pub fn path_of(&self, stored_name: &str) -> PathBuf {
        self.dir.join(format!("{stored_name}.bin"))
    }

    /// Nonce, then ciphertext and tag.
    fn seal(&self, stored_name: &str, plain: &[u8]) -> Result<Vec<u8>, DocumentError> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| DocumentError::Crypto)?;
        let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + aead::AES_256_GCM.tag_len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plain);
        let mut body = out.split_off(NONCE_LEN);
        self.key
            .seal_in_place_append_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aad(stored_name),
                &mut body,
            )
            .map_err(|_| DocumentError::Crypto)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    fn open_sealed(&self, stored_name: &str, mut sealed: Vec<u8>) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN + aead::AES_256_GCM.tag_len() {
            return None;
        }
        let mut body = sealed.split_off(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(&sealed).ok()?;
        let plain_len = self
            .key
            .open_in_place(nonce, aad(stored_name), &mut body)
            .ok()?
            .len();
        body.truncate(plain_len);
        Some(body)
    }

    /// Store one upload of `kind` for `engagement`: check it, encrypt it to a temporary
    /// file, then (in one database transaction) insert its row, append
    /// `document_uploaded` to the audit log, move the file into place, and commit. On
    /// any error nothing remains: no row, no file.
    pub async fn put(
        &self,
        engagement: EngagementId,
        kind: DocumentKind,
        bytes: &[u8],
        now: DateTime<Utc>,
    ) -> Result<DocumentId, DocumentError> {
        let media_type = check_upload(bytes)?;
        let row = self
            .store
            .engagement(engagement)
            .await?
            .ok_or(DocumentError::NotFound("the engagement"))?;
        if !row.authority.required().contains(&kind) {
            return Err(DocumentError::NotThisEngagementsAuthority {
                given: kind,
                expected: row.authority.kind(),
            });
        }
        let sha256 = sha256_hex(bytes);
        let mut name = [0u8; 16];
        self.rng
            .fill(&mut name)
            .map_err(|_| DocumentError::Crypto)?;
        let stored_name = crate::audit::hex(&name);
        let sealed = self.seal(&stored_name, bytes)?;
        let final_path = self.path_of(&stored_name);
        let tmp_path = self.dir.join(format!(".{stored_name}.tmp"));
        let written = write_private(tmp_path.clone(), sealed).await;
        if let Err(e) = written {
            remove_quietly(&tmp_path).await;
            return Err(e.into());
        }
        let new = NewDocument {
            engagement,
            kind,
            media_type: media_type.as_str(),
            size_bytes: bytes.len() as i64,
            sha256: sha256.clone(),
            stored_name: stored_name.clone(),
            uploaded_at: now,
        };
        let audit = &self.audit;
        let (tmp, fin, dir) = (&tmp_path, &final_path, &self.dir);
        let result = self
            .store
            .insert_document(&new, |id| async move {
                audit
                    .append(
                        Actor::Lawyer(row.lawyer),
                        AuditRecord::DocumentUploaded {
                            engagement,
                            document: id,
                            document_kind: kind,
                            sha256,
                        },
                    )
                    .await?;
                tokio::fs::rename(tmp, fin).await?;
                sync_dir(dir.clone()).await?;
                Ok::<(), DocumentError>(())
            })
            .await;
        match result {
            Ok(id) => {
                tracing::info!(document = %id, engagement = %engagement, kind = %kind, "document stored");
                Ok(id)
            }
            Err(e) => {
                remove_quietly(&tmp_path).await;
                remove_quietly(&final_path).await;
                Err(e)
            }
        }
    }

    /// Check `bytes` as an upload (type, size), encrypt it and write it to a new private
    /// file, for a scan that is not an engagement document (a detainee's written refusal,
    /// R-ARRANGE-5). The caller records the returned name; if that fails it calls
    /// [`Documents::discard_file`], so nothing unrecorded remains.
    pub async fn seal_file(&self, bytes: &[u8]) -> Result<SealedFile, DocumentError> {
        let media_type = check_upload(bytes)?;
        let mut name = [0u8; 16];
        self.rng
            .fill(&mut name)
            .map_err(|_| DocumentError::Crypto)?;
        let stored_name = crate::audit::hex(&name);
        let sealed = self.seal(&stored_name, bytes)?;
        let path = self.path_of(&stored_name);
        let tmp = self.dir.join(format!(".{stored_name}.tmp"));
        let written = async {
            write_private(tmp.clone(), sealed).await?;
            tokio::fs::rename(&tmp, &path).await?;
            sync_dir(self.dir.clone()).await
        }
        .await;
        if let Err(e) = written {
            remove_quietly(&tmp).await;
            remove_quietly(&path).await;
            return Err(e.into());
        }
        Ok(SealedFile {
            stored_name,
            media_type,
            sha256: sha256_hex(bytes),
            size_bytes: bytes.len() as i64,
        })
    }

    /// The content of a file written by [`Documents::seal_file`], checked against its
    /// recorded SHA-256. Callers decide who may see it.
    pub async fn open_file(
        &self,
        stored_name: &str,
        sha256: &str,
    ) -> Result<Vec<u8>, DocumentError> {
        let sealed = tokio::fs::read(self.path_of(stored_name)).await?;
        let plain = self
            .open_sealed(stored_name, sealed)
            .ok_or(DocumentError::FileIntegrity)?;
        if sha256_hex(&plain) != sha256 {
            return Err(DocumentError::FileIntegrity);
        }
        Ok(plain)
    }

    /// Remove a sealed file that was never recorded or was replaced.
    pub async fn discard_file(&self, stored_name: &str) {
        remove_quietly(&self.path_of(stored_name)).await;
    }

    /// The decrypted content of a document, checked against its recorded SHA-256.
    /// Callers decide who may see it; nothing here logs the content.
    pub async fn read(&self, document: DocumentId) -> Result<Vec<u8>, DocumentError> {
        let row = self
            .store
            .document(document)
            .await?
            .ok_or(DocumentError::NotFound("the document"))?;
        let sealed = tokio::fs::read(self.path_of(&row.stored_name)).await?;
        let plain = self
            .open_sealed(&row.stored_name, sealed)
            .ok_or(DocumentError::Integrity(document))?;
        if sha256_hex(&plain) != row.sha256 {
            return Err(DocumentError::Integrity(document));
        }
        Ok(plain)
    }

    /// Staff accept or reject a document. A rejection needs a reason (it tells the lawyer
    /// what to fix). `document_reviewed` is appended to the audit log before the review
    /// is committed. The reason is not put in the audit record: it may name people.
    pub async fn review(
        &self,
        document: DocumentId,
        staff: AdminId,
        accepted: bool,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(), DocumentError> {
        let reason = reason
            .map(|r| r.trim().to_owned())
            .filter(|r| !r.is_empty());
        if !accepted && reason.is_none() {
            return Err(DocumentError::ReasonRequired);
        }
        let reason = if accepted { None } else { reason };
        let audit = &self.audit;
        let reviewed = self
            .store
            .review_document(
                document,
                staff,
                accepted,
                reason.as_deref(),
                now,
                || async move {
                    audit
                        .append(
                            Actor::Staff(staff),
                            AuditRecord::DocumentReviewed {
                                document,
                                staff,
                                accepted,
                            },
                        )
                        .await?;
                    Ok::<(), DocumentError>(())
                },
            )
            .await?;
        if !reviewed {
            return Err(DocumentError::NotFound("the document"));
        }
        tracing::info!(document = %document, staff = %staff, accepted, "document reviewed");
        Ok(())
    }

    /// The state of an engagement's required documents.
    pub async fn summary(
        &self,
        engagement: EngagementId,
    ) -> Result<DocumentsSummary, DocumentError> {
        Ok(self.store.documents_summary(engagement).await?)
    }
}

/// Write `bytes` to a new file (0600) and flush it to disk.
async fn write_private(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&path)?;
        f.write_all(&bytes)?;
        f.sync_all()
    })
    .await
    .map_err(std::io::Error::other)?
}

/// Make a rename durable.
async fn sync_dir(dir: PathBuf) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot remove a document file left by a failed upload")
        }
    }
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

    #[test]
    fn content_is_judged_by_magic_bytes_only() {
        assert_eq!(check_upload(b"%PDF-1.7\n...").unwrap(), MediaType::Pdf);
        assert_eq!(
            check_upload(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").unwrap(),
            MediaType::Png
        );
        assert_eq!(
            check_upload(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]).unwrap(),
            MediaType::Jpeg
        );
        for bad in [
            &b"GIF89a...."[..],
            b"<html>%PDF-",
            b"PK\x03\x04",
            b"\x89PNG",
            &[0xFF, 0xD8],
        ] {
            assert!(matches!(
                check_upload(bad),
                Err(DocumentError::TypeNotAccepted)
            ));
        }
        assert!(matches!(check_upload(b""), Err(DocumentError::Empty)));
        let mut big = b"%PDF-".to_vec();
        big.resize(MAX_DOCUMENT_BYTES, b' ');
        assert!(check_upload(&big).is_ok(), "exactly 10 MiB is allowed");
        big.push(b' ');
        assert!(matches!(check_upload(&big), Err(DocumentError::TooLarge)));
    }

    /// A real store, audit log and document service in a temporary data dir, with one
    /// engagement (power of attorney).
    async fn service() -> (tempfile::TempDir, Documents, EngagementId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        let audit = Audit::open(dir.path(), &crate::config::AuditSection::default())
            .await
            .unwrap();
        let key = load_or_create_key(dir.path()).unwrap();
        assert_eq!(
            load_or_create_key(dir.path()).unwrap(),
            key,
            "the key is kept"
        );
        let docs = Documents::open(dir.path(), &key, store.clone(), audit).unwrap();
        let now = Utc::now();
        let f = crate::ids::FacilityId("f".into());
        store.upsert_facility(&f, "Facility").await.unwrap();
        let l = store
            .insert_lawyer("amy", "Amy", "hash", now)
            .await
            .unwrap();
        async fn ok<T>(_: T) -> Result<(), StoreError> {
            Ok(())
        }
        let d = store
            .insert_detainee(&f, "F-1", "N", now, ok)
            .await
            .unwrap();
        let c = store.insert_case(d, false, now, ok).await.unwrap();
        let e = store
            .insert_engagement(l, c, "Firm", Authority::PowerOfAttorney, now, ok)
            .await
            .unwrap();
        (dir, docs, e)
    }

    #[tokio::test]
    async fn stored_files_cannot_be_swapped_or_altered() {
        // R-PRIV-3: encrypted at rest; the AAD binds each file to its stored name and the
        // SHA-256 of the plaintext is checked on every read.
        let (_dir, docs, e) = service().await;
        let now = Utc::now();
        let a = docs
            .put(e, FirmLetter, b"%PDF-1.4 letter A", now)
            .await
            .unwrap();
        let b = docs
            .put(e, PowerOfAttorney, b"%PDF-1.4 power B", now)
            .await
            .unwrap();
        assert_eq!(docs.read(a).await.unwrap(), b"%PDF-1.4 letter A");
        assert!(matches!(
            docs.put(e, LegalAidLetter, b"%PDF-1.4 C", now).await,
            Err(DocumentError::NotThisEngagementsAuthority { .. })
        ));
        let row_a = docs.store.document(a).await.unwrap().unwrap();
        let row_b = docs.store.document(b).await.unwrap().unwrap();
        let (path_a, path_b) = (
            docs.path_of(&row_a.stored_name),
            docs.path_of(&row_b.stored_name),
        );
        let (bytes_a, bytes_b) = (
            std::fs::read(&path_a).unwrap(),
            std::fs::read(&path_b).unwrap(),
        );
        assert_eq!(
            bytes_a.len(),
            NONCE_LEN + 17 + 16,
            "nonce + ciphertext + tag"
        );
        // Swap the two files: both reads fail instead of showing the wrong document.
        std::fs::write(&path_a, &bytes_b).unwrap();
        std::fs::write(&path_b, &bytes_a).unwrap();
        assert!(matches!(
            docs.read(a).await,
            Err(DocumentError::Integrity(_))
        ));
        assert!(matches!(
            docs.read(b).await,
            Err(DocumentError::Integrity(_))
        ));
        // Flip one bit: refused too.
        let mut flipped = bytes_a.clone();
        flipped[NONCE_LEN] ^= 1;
        std::fs::write(&path_a, &flipped).unwrap();
        assert!(matches!(
            docs.read(a).await,
            Err(DocumentError::Integrity(_))
        ));
        std::fs::write(&path_a, &bytes_a).unwrap();
        assert_eq!(docs.read(a).await.unwrap(), b"%PDF-1.4 letter A");
    }

    #[tokio::test]
    async fn a_review_needs_a_reason_to_reject_and_the_summary_follows() {
        let (_dir, docs, e) = service().await;
        let now = Utc::now();
        let staff = docs.store.insert_admin("root", "hash", now).await.unwrap();
        let a = docs.put(e, FirmLetter, b"%PDF-1.4 A", now).await.unwrap();
        let b = docs
            .put(e, PowerOfAttorney, b"%PDF-1.4 B", now)
            .await
            .unwrap();
        for reason in [None, Some(String::new()), Some("   ".into())] {
            assert!(matches!(
                docs.review(a, staff, false, reason, now).await,
                Err(DocumentError::ReasonRequired)
            ));
        }
        docs.review(a, staff, true, None, now).await.unwrap();
        assert!(!docs.summary(e).await.unwrap().complete());
        docs.review(b, staff, true, None, now).await.unwrap();
        assert!(docs.summary(e).await.unwrap().complete());
        assert!(matches!(
            docs.review(DocumentId(999), staff, true, None, now).await,
            Err(DocumentError::NotFound(_))
        ));
    }
}
