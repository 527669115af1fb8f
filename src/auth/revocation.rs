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
//! Every CRL in the file must be signed by a certificate of the facility CA file
//! (`tls.client_ca`) whose subject is the CRL's issuer; a CRL that is not (a forged or foreign
//! one) makes the whole file unusable, so that nobody who can only write that file can put
//! the facility's booths out of use. A CRL past its `nextUpdate` is still honoured (what it
//! revokes stays revoked) and said at warn.
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

/// The DER certificates of a facility CA file (PEM), the issuers a CRL may be signed by.
pub fn issuers_of_pem(pem: &[u8]) -> Vec<Vec<u8>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect()
}

/// The revoked serials of a CRL file's content (PEM `X509 CRL` blocks, or one DER CRL), each
/// CRL verified against `issuers` (DER certificates of the facility CA).
pub fn crl_serials(bytes: &[u8], issuers: &[Vec<u8>]) -> Result<HashSet<String>, String> {
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
    let now = x509_parser::time::ASN1Time::now();
    for der in &ders {
        let (_, crl) =
            x509_parser::parse_x509_crl(der).map_err(|e| format!("not a parsable CRL: {e}"))?;
        let signed_by_ca = issuers.iter().any(|issuer| {
            x509_parser::parse_x509_certificate(issuer).is_ok_and(|(_, ca)| {
                ca.subject().as_raw() == crl.issuer().as_raw()
                    && crl.verify_signature(ca.public_key()).is_ok()
            })
        });
        if !signed_by_ca {
            return Err(format!(
                "a CRL (issuer {}) is not signed by the facility CA (tls.client_ca)",
                crl.issuer()
            ));
        }
        if crl.next_update().is_some_and(|next| next < now) {
            tracing::warn!(
                issuer = %crl.issuer(),
                "the booth CRL is past its nextUpdate; its revocations still hold, ask the facility CA for a new one"
            );
        }
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
    /// The facility CA certificates (DER) a CRL must be signed by.
    issuers: Vec<Vec<u8>>,
}

impl CrlFile {
    fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
        let meta = std::fs::metadata(path)?;
        Ok((meta.modified()?, meta.len()))
    }

    fn load(&mut self) -> Result<(), String> {
        let stamp = Self::stamp(&self.path).map_err(|e| e.to_string())?;
        let bytes = std::fs::read(&self.path).map_err(|e| e.to_string())?;
        self.serials = crl_serials(&bytes, &self.issuers)?;
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
    /// The deny list of `store`, and the CRL file `crl_file` if given (read now), whose CRLs
    /// must be signed by a certificate of `ca_pem` (the facility CA file).
    pub fn new(
        store: Store,
        crl_file: Option<&Path>,
        ca_pem: &[u8],
    ) -> Result<Revocations, CrlError> {
        let crl = match crl_file {
            None => None,
            Some(path) => {
                let mut file = CrlFile {
                    path: path.to_owned(),
                    seen: None,
                    checked: None,
                    serials: HashSet::new(),
                    issuers: issuers_of_pem(ca_pem),
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

    /// A self-signed CA named `name`, and a CRL it signs revoking serial 0x1f.
    fn ca_and_crl(name: &str) -> (Vec<u8>, String) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = params.self_signed(&key).unwrap();
        let issuer = rcgen::Issuer::new(params, key);
        let now = std::time::SystemTime::now();
        let crl = rcgen::CertificateRevocationListParams {
            this_update: now.into(),
            next_update: (now + Duration::from_secs(86_400)).into(),
            crl_number: rcgen::SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: vec![rcgen::RevokedCertParams {
                serial_number: rcgen::SerialNumber::from_slice(&[0x1f]),
                revocation_time: now.into(),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            }],
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        }
        .signed_by(&issuer)
        .unwrap();
        (ca.der().to_vec(), crl.pem().unwrap())
    }

    // R-VERIFY-4: only the facility CA's own CRLs revoke its booths.
    #[test]
    fn a_crl_counts_only_when_the_facility_ca_signed_it() {
        let (facility, facility_crl) = ca_and_crl("Facility CA");
        let (_, foreign_crl) = ca_and_crl("Someone else");
        // Same subject, other key: a forged CRL in the facility CA's name.
        let (_, forged_crl) = ca_and_crl("Facility CA");
        let issuers = vec![facility];
        let serials = crl_serials(facility_crl.as_bytes(), &issuers).unwrap();
        assert_eq!(serials, HashSet::from(["1f".to_owned()]));
        let refused = crl_serials(foreign_crl.as_bytes(), &issuers).unwrap_err();
        assert!(
            refused.contains("not signed by the facility CA"),
            "{refused}"
        );
        assert!(crl_serials(forged_crl.as_bytes(), &issuers).is_err());
        assert!(crl_serials(facility_crl.as_bytes(), &[]).is_err());
        // One bad CRL among good ones makes the whole file unusable.
        let mixed = format!("{facility_crl}{forged_crl}");
        assert!(crl_serials(mixed.as_bytes(), &issuers).is_err());
    }

    #[test]
    fn garbage_is_not_a_crl() {
        assert!(crl_serials(b"hello", &[]).is_err());
        assert!(crl_serials(&[0x30, 0x03, 0x02, 0x01, 0x00], &[]).is_err());
        assert!(crl_serials(
            b"-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
            &[]
        )
        .is_err());
    }
}
