//! Booth certificate revocation (R-VERIFY-4): is a verified booth certificate revoked?
//!
//! Two sources, either one enough: the deny list in the store (`confer certs revoke`, the
//! admin route), by serial or SHA-256; and, when configured (`[booth] crl_file`), a CRL file
//! from the facility CA (PEM or DER, one or more CRLs), whose revoked serials are read with
//! `x509-parser`. The file is read again whenever its modification time or length changes
//! (checked at most once a second), so a facility replaces it in place without a restart. A
//! CRL file that cannot be read or parsed keeps the serials of the last good one and says so
//! at warn (fail closed for what was revoked; a startup with an unreadable file is a
//! configuration error caught by [`Revocations::new`]).
//!
//! The CRL's signature is not checked: the file is local configuration like the CA file
//! itself, placed by the facility's administrator.
//!
//! Does not: end live visits (that is `visit::revocation`), or write the deny list.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use super::BoothIdentity;
use crate::store::{Store, StoreError};

/// A serial number as confer stores and compares it: lower-case hex without separators or
/// leading zeros (`01:A2:ff` and `a2ff` are the same serial). `None` for text that is not hex.
pub fn normalise_serial(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.is_empty() || hex.len() > 128 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let trimmed = hex.trim_start_matches('0');
    Some(if trimmed.is_empty() { "0" } else { trimmed }.to_owned())
}

/// The serial of a certificate's raw serial bytes, normalised.
pub(crate) fn serial_of_bytes(raw: &[u8]) -> String {
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    normalise_serial(&hex).unwrap_or_else(|| "0".to_owned())
}

/// The revoked serials of a CRL file's content (PEM `X509 CRL` blocks, or one DER CRL).
pub fn crl_serials(bytes: &[u8]) -> Result<HashSet<String>, String> {
    let mut serials = HashSet::new();
    let mut ders = Vec::new();
    if bytes.starts_with(b"-----") || bytes.iter().take(64).all(|b| b.is_ascii()) {
        for pem in x509_parser::pem::Pem::iter_from_buffer(bytes) {
            let pem = pem.map_err(|e| format!("not valid PEM: {e}"))?;
            if pem.label == "X509 CRL" {
                ders.push(pem.contents);
            }
        }
        if ders.is_empty() {
            return Err("no X509 CRL block".to_owned());
        }
    } else {
        ders.push(bytes.to_vec());
    }
    for der in &ders {
        let (_, crl) =
            x509_parser::parse_x509_crl(der).map_err(|e| format!("not a parsable CRL: {e}"))?;
        for revoked in crl.iter_revoked_certificates() {
            serials.insert(serial_of_bytes(&revoked.user_certificate.to_bytes_be()));
        }
    }
    Ok(serials)
}

/// The serial and SHA-256 (both normalised lower-case hex) of the first certificate in a PEM
/// file: what `confer certs revoke` and the admin route put on the deny list when they are
/// given a booth only (the certificate `confer certs booth` issued to it).
pub fn certificate_file(path: &Path) -> Result<(String, String), String> {
    use rustls::pki_types::pem::PemObject;
    let der = rustls::pki_types::CertificateDer::from_pem_file(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der)
        .map_err(|_| format!("{}: not a parsable certificate", path.display()))?;
    let digest = ring::digest::digest(&ring::digest::SHA256, der.as_ref());
    Ok((
        serial_of_bytes(cert.raw_serial()),
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// The CRL file could not be used at startup.
#[derive(Debug, thiserror::Error)]
#[error("the booth CRL file {path} cannot be used: {problem}")]
pub struct CrlError {
    pub path: PathBuf,
    pub problem: String,
}

struct CrlFile {
    path: PathBuf,
    /// (modification time, length) of the content `serials` came from.
    seen: Option<(SystemTime, u64)>,
    checked: Option<Instant>,
    serials: HashSet<String>,
}

impl CrlFile {
    fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
        let meta = std::fs::metadata(path)?;
        Ok((meta.modified()?, meta.len()))
    }

    fn load(&mut self) -> Result<(), String> {
        let stamp = Self::stamp(&self.path).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&self.path).map_err(|e| e.to_string())?;
        self.serials = crl_serials(&bytes)?;
        self.seen = Some(stamp);
        Ok(())
    }

    /// Re-read the file if it changed (at most once a second).
    fn refresh(&mut self) {
        let now = Instant::now();
        if self
            .checked
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.checked = Some(now);
        match Self::stamp(&self.path) {
            Ok(stamp) if Some(stamp) == self.seen => {}
            Ok(_) => match self.load() {
                Ok(()) => tracing::info!(revoked = self.serials.len(), "booth CRL file read again"),
                Err(problem) => tracing::warn!(
                    %problem,
                    "the booth CRL file changed but cannot be read; keeping the last good one"
                ),
            },
            Err(e) => {
                tracing::warn!(error = %e, "the booth CRL file cannot be read; keeping the last good one")
            }
        }
    }
}

/// Whether a booth certificate is revoked. Cheap to clone.
#[derive(Clone)]
pub struct Revocations {
    store: Store,
    crl: Option<Arc<Mutex<CrlFile>>>,
}

impl Revocations {
    /// The deny list of `store`, and the CRL file `crl_file` if given (read now).
    pub fn new(store: Store, crl_file: Option<&Path>) -> Result<Revocations, CrlError> {
        let crl = match crl_file {
            None => None,
            Some(path) => {
                let mut file = CrlFile {
                    path: path.to_owned(),
                    seen: None,
                    checked: None,
                    serials: HashSet::new(),
                };
                file.load().map_err(|problem| CrlError {
                    path: path.to_owned(),
                    problem,
                })?;
                Some(Arc::new(Mutex::new(file)))
            }
        };
        Ok(Revocations { store, crl })
    }

    fn crl_lists(&self, serial: &str) -> bool {
        let Some(crl) = &self.crl else {
            return false;
        };
        let mut crl = crl.lock().unwrap_or_else(|p| p.into_inner());
        crl.refresh();
        crl.serials.contains(serial)
    }

    /// Whether the certificate `identity` was proven with is revoked.
    pub async fn is_revoked(&self, identity: &BoothIdentity) -> Result<bool, StoreError> {
        if self.crl_lists(identity.serial()) {
            return Ok(true);
        }
        self.store
            .booth_certificate_revoked(identity.serial(), identity.certificate_sha256())
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_compared_in_one_spelling() {
        assert_eq!(normalise_serial("01:A2:ff").as_deref(), Some("1a2ff"));
        assert_eq!(normalise_serial("1a2ff").as_deref(), Some("1a2ff"));
        assert_eq!(normalise_serial("00").as_deref(), Some("0"));
        assert_eq!(normalise_serial("xyz"), None);
        assert_eq!(normalise_serial(""), None);
        assert_eq!(serial_of_bytes(&[0x00, 0x01, 0xa2, 0xff]), "1a2ff");
    }

    #[test]
    fn garbage_is_not_a_crl() {
        assert!(crl_serials(b"hello").is_err());
        assert!(crl_serials(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(crl_serials(b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n").is_err());
    }
}
