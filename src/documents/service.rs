//! The documents service API ([`Documents`], R-ARRANGE-1, R-PRIV-3): store an upload
//! (checked, encrypted, its row and its `document_uploaded` audit entry in one transaction),
//! read one back (checked against its SHA-256), review one (`document_reviewed` audited
//! before the review is committed), seal other scans (a detainee's written refusal,
//! R-ARRANGE-5).
//!
//! It does not decide who may upload, read or review (the HTTP layer, [`super::http`]),
//! nor admission (`policy`); it never logs a document's content.

use super::content::{check_upload, sha256_hex, MediaType};
use super::error::DocumentError;
use super::vault::{remove_quietly, sync_dir, write_private, Vault};
use crate::audit::{Actor, Audit, AuditRecord};
use crate::ids::{AdminId, DocumentId, EngagementId};
use crate::model::documents::{DocumentKind, DocumentsSummary};
use crate::store::documents::NewDocument;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};

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
    vault: Vault,
}

impl Documents {
    /// Open the service over `<data-dir>/documents/` (created 0700) with `key`
    /// (see [`super::load_or_create_key`]).
    pub fn open(
        data_dir: &Path,
        key: &[u8; 32],
        store: Store,
        audit: Audit,
    ) -> anyhow::Result<Documents> {
        Ok(Documents {
            store,
            audit,
            vault: Vault::open(data_dir, key)?,
        })
    }

    /// Where a stored document's encrypted content lives.
    pub fn path_of(&self, stored_name: &str) -> PathBuf {
        self.vault.path_of(stored_name)
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
        let stored_name = self.vault.new_name()?;
        let sealed = self.vault.seal(&stored_name, bytes)?;
        let final_path = self.path_of(&stored_name);
        let tmp_path = self.vault.dir.join(format!(".{stored_name}.tmp"));
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
        let (tmp, fin, dir) = (&tmp_path, &final_path, &self.vault.dir);
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
        let stored_name = self.vault.new_name()?;
        let sealed = self.vault.seal(&stored_name, bytes)?;
        let path = self.path_of(&stored_name);
        let tmp = self.vault.dir.join(format!(".{stored_name}.tmp"));
        let written = async {
            write_private(tmp.clone(), sealed).await?;
            tokio::fs::rename(&tmp, &path).await?;
            sync_dir(self.vault.dir.clone()).await
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
            .vault
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
            .vault
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

#[cfg(test)]
mod tests {
    use super::super::vault::NONCE_LEN;
    use super::super::{load_or_create_key, Authority};
    use super::*;
    use crate::store::StoreError;
    use DocumentKind::*;

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
