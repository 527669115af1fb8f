//! PKCS#12 export of a booth certificate, for the kiosk browser (or `pk12util -i`
//! into an NSS database).
//!
//! Only the modern scheme is written: PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) for
//! keys and certificates, and an HMAC-SHA256 integrity MAC. Current NSS and OpenSSL
//! import it; the legacy RC2/3DES schemes are not compiled in.

use std::fmt;

use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use ring::rand::SecureRandom;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

use crate::{CertKeyPem, CertsError, Result};

/// PBKDF2 and MAC iterations. The password is 120 random bits, so the iteration
/// count is not what protects the file; this matches common JDK/OpenSSL defaults.
const ITERATIONS: u32 = 10_000;

/// Letters and digits without look-alikes (no `0 o 1 l`): 32 symbols, 5 bits each.
const PASSWORD_ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A generated PKCS#12 password. `Debug` never shows it; [`P12Password::expose`]
/// does, for the one place that prints it to the operator.
#[derive(Clone, PartialEq, Eq)]
pub struct P12Password(String);

impl P12Password {
    /// The password text, to show an operator once or to store `0600`.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Wraps a password read back from its `0600` file.
    pub fn from_stored(text: &str) -> Self {
        P12Password(text.trim().to_owned())
    }
}

impl fmt::Debug for P12Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("P12Password([secret])")
    }
}

/// A random password of 24 symbols (120 bits) in groups of four: `abcd-efgh-...`.
pub fn generate_p12_password() -> Result<P12Password> {
    let mut bytes = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertsError::Random)?;
    let mut text = String::with_capacity(29);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            text.push('-');
        }
        // 256 is a multiple of 32: taking the low five bits is unbiased.
        text.push(char::from(PASSWORD_ALPHABET[usize::from(b & 0x1f)]));
    }
    Ok(P12Password(text))
}

/// A PKCS#12 file holding the booth's key, its certificate and the CA certificate,
/// protected by `password`. `friendly_name` labels the key entry; NSS (`pk12util`,
/// Chromium, Firefox) names the imported certificates after their subjects
/// (`CN=<booth>,O=<facility>`). The CA is included without any trust setting.
pub fn booth_p12(
    booth: &CertKeyPem,
    ca_cert_pem: &str,
    friendly_name: &str,
    password: &P12Password,
) -> Result<Vec<u8>> {
    let leaf = CertificateDer::from_pem_slice(booth.cert_pem.as_bytes())
        .map_err(|e| CertsError::Pem(format!("booth certificate: {e}")))?;
    let ca = CertificateDer::from_pem_slice(ca_cert_pem.as_bytes())
        .map_err(|e| CertsError::Pem(format!("CA certificate: {e}")))?;
    let key = PrivatePkcs8KeyDer::from_pem_slice(booth.key_pem.as_bytes())
        .map_err(|e| CertsError::Pem(format!("booth private key: {e}")))?;

    let p12_err = |e: p12_keystore::error::Error| CertsError::Pkcs12(e.to_string());
    let leaf_cert = Certificate::from_der(&leaf).map_err(p12_err)?;
    let ca_cert = Certificate::from_der(&ca).map_err(p12_err)?;
    let key = PrivateKey::from_der(key.secret_pkcs8_der()).map_err(p12_err)?;
    // The localKeyId ties the key bag to the leaf certificate's bag.
    let local_key_id = ring::digest::digest(&ring::digest::SHA256, &leaf);
    let chain = PrivateKeyChain::new(&local_key_id.as_ref()[..20], key, [leaf_cert, ca_cert]);
    let mut store = KeyStore::new();
    store.add_entry(friendly_name, KeyStoreEntry::PrivateKeyChain(chain));
    store
        .writer(password.expose())
        .encryption_algorithm(EncryptionAlgorithm::PbeWithHmacSha256AndAes256)
        .encryption_iterations(ITERATIONS)
        .mac_algorithm(MacAlgorithm::HmacSha256)
        .mac_iterations(ITERATIONS)
        .write()
        .map_err(p12_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_are_long_distinct_and_unambiguous() {
        let a = generate_p12_password().unwrap();
        let b = generate_p12_password().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), 29);
        assert!(a
            .expose()
            .chars()
            .all(|c| c == '-' || PASSWORD_ALPHABET.contains(&(c as u8))));
        assert!(!format!("{a:?}").contains(a.expose()));
    }
}
