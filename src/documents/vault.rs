//! The encrypted file store under `<data-dir>/documents/` (R-PRIV-3): AES-256-GCM (ring)
//! with a random nonce per file and the stored name as additional authenticated data, so
//! one file cannot be swapped for another's; the key lives in
//! `<data-dir>/keys/documents.key` (0600, created on first start).
//!
//! Owns the bytes on disk only: sealing and opening, private (0600) writes, durable
//! renames. It does not know which document a file is, check a file's SHA-256, write rows
//! or audit entries: that is the service ([`super::service`]).

use super::error::DocumentError;
use ring::aead;
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};

/// The key file under `<data-dir>/keys/`.
pub const KEY_FILE: &str = "documents.key";
/// The directory under `<data-dir>` holding the encrypted contents.
pub const DOCUMENTS_DIR: &str = "documents";

/// Nonce length of AES-256-GCM (96 bits).
pub(super) const NONCE_LEN: usize = aead::NONCE_LEN;

/// Additional authenticated data: the stored name, so that one file cannot be swapped
/// for another's.
fn aad(stored_name: &str) -> aead::Aad<Vec<u8>> {
    aead::Aad::from(format!("confer-document-v1:{stored_name}").into_bytes())
}

/// Read the document key, creating it (32 random bytes, 0600) on first start.
pub fn load_or_create_key(data_dir: &Path) -> anyhow::Result<[u8; 32]> {
    crate::keyfile::key32(&data_dir.join("keys"), KEY_FILE)
        .map_err(|e| anyhow::anyhow!("cannot read or create the document key: {e}"))
}

/// The sealed files' directory and key. Cheap to clone.
#[derive(Clone)]
pub(super) struct Vault {
    pub(super) dir: PathBuf,
    key: std::sync::Arc<aead::LessSafeKey>,
    rng: SystemRandom,
}

impl Vault {
    /// Open the store over `<data-dir>/documents/` (created 0700) with `key`.
    pub(super) fn open(data_dir: &Path, key: &[u8; 32]) -> anyhow::Result<Vault> {
        let dir = data_dir.join(DOCUMENTS_DIR);
        crate::keyfile::private_dir(&dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
        let unbound = aead::UnboundKey::new(&aead::AES_256_GCM, key)
            .map_err(|_| anyhow::anyhow!("the document key is not an AES-256 key"))?;
        Ok(Vault {
            dir,
            key: std::sync::Arc::new(aead::LessSafeKey::new(unbound)),
            rng: SystemRandom::new(),
        })
    }

    /// Where a stored file's encrypted content lives.
    pub(super) fn path_of(&self, stored_name: &str) -> PathBuf {
        self.dir.join(format!("{stored_name}.bin"))
    }

    /// A fresh random stored name (128 bits, hex).
    pub(super) fn new_name(&self) -> Result<String, DocumentError> {
        let mut name = [0u8; 16];
        self.rng
            .fill(&mut name)
            .map_err(|_| DocumentError::Crypto)?;
        Ok(crate::audit::hex(&name))
    }

    /// Nonce, then ciphertext and tag.
    pub(super) fn seal(&self, stored_name: &str, plain: &[u8]) -> Result<Vec<u8>, DocumentError> {
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

    pub(super) fn open_sealed(&self, stored_name: &str, mut sealed: Vec<u8>) -> Option<Vec<u8>> {
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
}

/// Write `bytes` to a new file (0600) and flush it to disk.
pub(super) async fn write_private(path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || crate::keyfile::write_new(&path, &bytes))
        .await
        .map_err(std::io::Error::other)?
}

/// Make a rename durable.
pub(super) async fn sync_dir(dir: PathBuf) -> std::io::Result<()> {
    tokio::task::spawn_blocking(move || std::fs::File::open(&dir)?.sync_all())
        .await
        .map_err(std::io::Error::other)?
}

pub(super) async fn remove_quietly(path: &Path) {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::error!(error = %e, "cannot remove a document file left by a failed upload")
        }
    }
}
