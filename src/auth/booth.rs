//! Booth identity from client certificates.
//!
//! Owns: [`BoothIdentity`] (a facility and booth proven by a certificate chain) and
//! [`BoothVerifier`], its only producer. The verifier runs rustls' webpki client
//! verifier against the facility CA roots, requires the clientAuth extended key
//! usage, and reads the booth from the SAN URI `urn:confer:booth:<facility>:<booth>`
//! (spelled in one place, [`confer_certs::parse_booth_uri`]).
//!
//! Why here and not in the TLS handshake: the shared listener's TLS layer accepts any
//! client chain whose key the peer proves it holds (`http::tls::DeferredClientCertVerifier`),
//! so that a booth with a wrong certificate gets a clear [`BoothCertError`] sentence
//! instead of an opaque TLS alert. Nothing else trusts the presented chain: code that
//! needs to know which booth is talking asks for a [`BoothIdentity`], and the only way
//! to get one is [`BoothVerifier::verify`].
//!
//! Path length and key usage: webpki turns a root certificate into a bare trust anchor and
//! forgets its `pathLenConstraint` and key usage, so a facility CA marked `pathlen:0` would
//! otherwise accept a booth certificate issued by an intermediate below it. The verifier
//! therefore reads both from the CA file itself: every CA certificate must be a CA
//! (`cA:TRUE`) allowed to sign certificates (`keyCertSign` when key usage is present), and a
//! presented chain may carry no more intermediates than the CA's path length allows (none
//! for confer's own facility CA). A booth certificate with a key usage extension must allow
//! `digitalSignature`, which TLS client authentication needs.
//!
//! Does not: decide whether this booth may join a visit (that is `policy`), check
//! revocation (`super::revocation`, asked by `super::booths`), or read the clock (`now` is
//! injected).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DistinguishedName, RootCertStore};
use x509_parser::extensions::GeneralName;

use crate::ids::{BoothId, FacilityId};

/// A booth terminal proven by a client certificate issued by the facility CA.
///
/// Constructed only by [`BoothVerifier::verify`]: holding one means the chain was
/// verified at the given time. Fields are private so that nothing else can make one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BoothIdentity {
    facility: FacilityId,
    booth: BoothId,
    /// Hex SHA-256 of the end-entity certificate (DER) the booth presented.
    certificate_sha256: String,
    /// Its serial number, lower-case hex without leading zeros (revocation, R-VERIFY-4).
    serial: String,
}

impl BoothIdentity {
    pub fn facility(&self) -> &FacilityId {
        &self.facility
    }

    pub fn booth(&self) -> &BoothId {
        &self.booth
    }

    /// Lower-case hex SHA-256 of the booth's certificate (DER): which device it was, for
    /// the audit log and the visit receipt (R-VERIFY-4).
    pub fn certificate_sha256(&self) -> &str {
        &self.certificate_sha256
    }

    /// The certificate's serial number: lower-case hex without separators or leading zeros,
    /// as the deny list and the CRL compare it (R-VERIFY-4).
    pub fn serial(&self) -> &str {
        &self.serial
    }
}

/// Why a presented booth certificate was refused. `Display` is a sentence for the
/// booth operator; [`BoothCertError::code`] is the stable machine-readable code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BoothCertError {
    #[error("This terminal did not present a booth certificate. Install the booth certificate issued by your facility.")]
    NoCertificate,
    #[error("This terminal's certificate was not issued by this facility's certificate authority. Install the booth certificate issued by your facility.")]
    UnknownIssuer,
    #[error("This terminal's booth certificate has expired. Ask your facility for a new booth certificate.")]
    Expired,
    #[error("This terminal presented a certificate that is not a booth certificate. Install the booth certificate issued by your facility.")]
    NotABoothCertificate,
    #[error("This terminal's booth certificate could not be verified ({0}). Ask your facility's IT staff to check it.")]
    Invalid(String),
}

impl BoothCertError {
    /// Stable code for clients and logs.
    pub fn code(&self) -> &'static str {
        match self {
            BoothCertError::NoCertificate => "booth_cert_missing",
            BoothCertError::UnknownIssuer => "booth_cert_unknown_issuer",
            BoothCertError::Expired => "booth_cert_expired",
            BoothCertError::NotABoothCertificate => "booth_cert_not_a_booth",
            BoothCertError::Invalid(_) => "booth_cert_invalid",
        }
    }
}

/// The facility CA could not be loaded (configuration time, not a booth's fault).
#[derive(Debug, thiserror::Error)]
pub enum BoothCaError {
    #[error("the facility CA file holds no certificate")]
    Empty,
    #[error("the facility CA file is not valid PEM: {0}")]
    Pem(String),
    #[error("a facility CA certificate is not usable as a trust anchor: {0}")]
    Anchor(rustls::Error),
    #[error("cannot build the booth certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
    #[error("a facility CA certificate cannot issue certificates: {0}")]
    NotACa(&'static str),
}

/// Verifies booth client certificate chains against the facility CA.
#[derive(Debug, Clone)]
pub struct BoothVerifier {
    webpki: Arc<dyn ClientCertVerifier>,
    /// How many intermediates a presented chain may use: the largest `pathLenConstraint`
    /// among the facility CA certificates (`None`: one of them sets no limit).
    max_intermediates: Option<usize>,
}

impl BoothVerifier {
    /// A verifier trusting the CA certificates in `pem` (one or more `CERTIFICATE` blocks).
    pub fn from_ca_pem(pem: &[u8]) -> Result<Self, BoothCaError> {
        let mut roots = RootCertStore::empty();
        let mut max_intermediates = Some(0);
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| BoothCaError::Pem(e.to_string()))?;
            let path_len = ca_path_len(&cert)?;
            max_intermediates = match (max_intermediates, path_len) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
            roots.add(cert).map_err(BoothCaError::Anchor)?;
        }
        if roots.is_empty() {
            return Err(BoothCaError::Empty);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let webpki =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        Ok(BoothVerifier {
            webpki,
            max_intermediates,
        })
    }

    /// The facility CA subjects, advertised to clients as acceptable issuers.
    pub fn ca_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }

    /// [`BoothVerifier::verify`] at the current time: for request handlers (drivers),
    /// with the connection's certificates (`http::serve::PeerCertificates` is `AsRef`).
    pub fn verify_now<C>(&self, chain: &C) -> Result<BoothIdentity, BoothCertError>
    where
        C: AsRef<[CertificateDer<'static>]> + ?Sized,
    {
        self.verify(chain.as_ref(), UnixTime::now())
    }

    /// Verifies `chain` (end entity first, as presented in the TLS handshake) at
    /// `now` and returns the booth it names.
    pub fn verify(
        &self,
        chain: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<BoothIdentity, BoothCertError> {
        let Some((end_entity, intermediates)) = chain.split_first() else {
            return Err(BoothCertError::NoCertificate);
        };
        // The CA's path length, which webpki's trust anchors forget: intermediates beyond
        // it are not offered to path building, so a chain that needs them has no issuer.
        let intermediates = match self.max_intermediates {
            Some(max) if intermediates.len() > max => &intermediates[..max],
            _ => intermediates,
        };
        self.webpki
            .verify_client_cert(end_entity, intermediates, now)
            .map_err(map_webpki_error)?;
        identity_of(end_entity)
    }
}

fn map_webpki_error(err: rustls::Error) -> BoothCertError {
    match err {
        rustls::Error::InvalidCertificate(cert_err) => match cert_err {
            // A signature that does not verify under any trusted root means the same
            // to an operator as an unknown issuer: not this facility's certificate.
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                BoothCertError::UnknownIssuer
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                BoothCertError::Expired
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => {
                BoothCertError::NotABoothCertificate
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                BoothCertError::Invalid("not valid yet; check the terminal's clock".into())
            }
            CertificateError::Revoked => BoothCertError::Invalid("revoked".into()),
            CertificateError::BadEncoding => {
                BoothCertError::Invalid("malformed certificate".into())
            }
            other => BoothCertError::Invalid(format!("{other:?}")),
        },
        other => BoothCertError::Invalid(other.to_string()),
    }
}

/// Checks that a facility CA certificate may issue certificates and returns its path
/// length constraint (`None`: unlimited).
fn ca_path_len(cert: &CertificateDer<'_>) -> Result<Option<usize>, BoothCaError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert)
        .map_err(|_| BoothCaError::NotACa("not a parsable X.509 certificate"))?;
    let constraints = cert
        .basic_constraints()
        .map_err(|_| BoothCaError::NotACa("malformed basic constraints"))?;
    let Some(constraints) = constraints.filter(|c| c.value.ca) else {
        return Err(BoothCaError::NotACa("basic constraints do not say cA:TRUE"));
    };
    let usage = cert
        .key_usage()
        .map_err(|_| BoothCaError::NotACa("malformed key usage"))?;
    if usage.is_some_and(|u| !u.value.key_cert_sign()) {
        return Err(BoothCaError::NotACa("key usage lacks keyCertSign"));
    }
    Ok(constraints.value.path_len_constraint.map(|n| n as usize))
}

/// Reads the booth identity from an end-entity certificate whose chain is verified.
fn identity_of(end_entity: &CertificateDer<'_>) -> Result<BoothIdentity, BoothCertError> {
    let malformed = |what: &str| BoothCertError::Invalid(format!("malformed {what}"));
    let (_, cert) =
        x509_parser::parse_x509_certificate(end_entity).map_err(|_| malformed("certificate"))?;

    // webpki accepts a certificate without any EKU for client auth; a booth
    // certificate must say clientAuth explicitly.
    let eku = cert
        .extended_key_usage()
        .map_err(|_| malformed("extended key usage"))?;
    if !eku.is_some_and(|eku| eku.value.client_auth) {
        return Err(BoothCertError::NotABoothCertificate);
    }
    // TLS client authentication signs the handshake: a key usage that forbids
    // digitalSignature makes the certificate unfit whatever its EKU says.
    let usage = cert.key_usage().map_err(|_| malformed("key usage"))?;
    if usage.is_some_and(|u| !u.value.digital_signature()) {
        return Err(BoothCertError::NotABoothCertificate);
    }

    let san = cert
        .subject_alternative_name()
        .map_err(|_| malformed("subject alternative name"))?;
    let booth_uris: Vec<&str> = san
        .iter()
        .flat_map(|san| san.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with(confer_certs::BOOTH_URI_PREFIX) => Some(*uri),
            _ => None,
        })
        .collect();
    match booth_uris.as_slice() {
        [] => Err(BoothCertError::NotABoothCertificate),
        [uri] => {
            let (facility, booth) =
                confer_certs::parse_booth_uri(uri).ok_or_else(|| malformed("booth identity"))?;
            let digest = ring::digest::digest(&ring::digest::SHA256, end_entity.as_ref());
            Ok(BoothIdentity {
                facility: FacilityId(facility.to_owned()),
                booth: BoothId(booth.to_owned()),
                certificate_sha256: digest.as_ref().iter().map(|b| format!("{b:02x}")).collect(),
                serial: super::revocation::serial_of_bytes(cert.raw_serial()),
            })
        }
        _ => Err(BoothCertError::Invalid(
            "more than one booth identity".into(),
        )),
    }
}

/// The booth identity read from arbitrary bytes as an end-entity certificate, without the
/// chain check (the `fuzzing` feature: reaches the extension parsing that a verified chain
/// guards).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_identity_of(der: &[u8]) -> Result<BoothIdentity, BoothCertError> {
    identity_of(&CertificateDer::from(der))
}

#[cfg(test)]
mod tests {
    use super::*;
    use confer_certs::{issue_booth_cert, issue_server_cert, CertKeyPem, DevCa, Validity};
    use rcgen::{CertificateParams, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
    use std::time::{Duration, SystemTime};

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
    }

    fn verifier(ca: &DevCa) -> BoothVerifier {
        BoothVerifier::from_ca_pem(ca.cert_pem().as_bytes()).unwrap()
    }

    fn booth(ca: &DevCa) -> CertKeyPem {
        issue_booth_cert(ca, "north-prison", "booth-7", Validity::days_from_now(30)).unwrap()
    }

    /// A leaf signed by `ca` with the given SAN URIs and EKUs (for malformed cases
    /// that `confer-certs` refuses to issue).
    fn custom_leaf(
        ca: &DevCa,
        uris: &[&str],
        eku: Vec<ExtendedKeyUsagePurpose>,
    ) -> CertificateDer<'static> {
        let ca_pem = ca.to_pem();
        let issuer = Issuer::from_ca_cert_pem(
            &ca_pem.cert_pem,
            KeyPair::from_pem(&ca_pem.key_pem).unwrap(),
        )
        .unwrap();
        let mut params = CertificateParams::default();
        params.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        params.not_after = (SystemTime::now() + Duration::from_secs(3600)).into();
        params.subject_alt_names = uris
            .iter()
            .map(|u| SanType::URI((*u).try_into().unwrap()))
            .collect();
        params.extended_key_usages = eku;
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        params.signed_by(&key, &issuer).unwrap().der().clone()
    }

    #[test]
    fn a_booth_certificate_from_the_facility_ca_names_its_booth() {
        let ca = DevCa::generate("facility CA").unwrap();
        let id = verifier(&ca)
            .verify(&[der(&booth(&ca).cert_pem)], UnixTime::now())
            .unwrap();
        assert_eq!(id.facility().as_str(), "north-prison");
        assert_eq!(id.booth().as_str(), "booth-7");
    }

    #[test]
    fn no_certificate_is_refused_with_install_instructions() {
        let ca = DevCa::generate("facility CA").unwrap();
        let err = verifier(&ca).verify(&[], UnixTime::now()).unwrap_err();
        assert_eq!(err, BoothCertError::NoCertificate);
        assert_eq!(err.code(), "booth_cert_missing");
        assert!(err.to_string().contains("Install the booth certificate"));
    }

    #[test]
    fn a_certificate_from_another_ca_is_an_unknown_issuer() {
        let ca = DevCa::generate("facility CA").unwrap();
        let other = DevCa::generate("another CA").unwrap();
        let err = verifier(&ca)
            .verify(&[der(&booth(&other).cert_pem)], UnixTime::now())
            .unwrap_err();
        assert_eq!(err, BoothCertError::UnknownIssuer);
        assert!(err
            .to_string()
            .contains("not issued by this facility's certificate authority"));
        // Same name, different key: still not this facility's CA.
        let impostor = DevCa::generate("facility CA").unwrap();
        let err = verifier(&ca)
            .verify(&[der(&booth(&impostor).cert_pem)], UnixTime::now())
            .unwrap_err();
        assert_eq!(err, BoothCertError::UnknownIssuer);
    }

    #[test]
    fn a_server_certificate_presented_as_a_client_is_not_a_booth_certificate() {
        let ca = DevCa::generate("facility CA").unwrap();
        let server = issue_server_cert(&ca, &[], Validity::days_from_now(30)).unwrap();
        let err = verifier(&ca)
            .verify(&[der(&server.cert_pem)], UnixTime::now())
            .unwrap_err();
        assert_eq!(err, BoothCertError::NotABoothCertificate);
    }

    #[test]
    fn an_expired_booth_certificate_is_refused_as_expired() {
        let ca = DevCa::generate("facility CA").unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let validity = Validity::between(now - 10 * day, now - day).unwrap();
        let expired = issue_booth_cert(&ca, "north-prison", "booth-7", validity).unwrap();
        let err = verifier(&ca)
            .verify(&[der(&expired.cert_pem)], UnixTime::now())
            .unwrap_err();
        assert_eq!(err, BoothCertError::Expired);
        assert_eq!(err.code(), "booth_cert_expired");
        // Time is injected: the same certificate verified "back then" is fine.
        let then = UnixTime::since_unix_epoch(
            (now - 5 * day)
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap(),
        );
        assert!(verifier(&ca)
            .verify(&[der(&expired.cert_pem)], then)
            .is_ok());
    }

    #[test]
    fn a_malformed_booth_uri_is_refused() {
        let ca = DevCa::generate("facility CA").unwrap();
        let v = verifier(&ca);
        let client = || vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cases = [
            (vec!["urn:confer:booth:North:booth_7"], "booth_cert_invalid"),
            (vec!["urn:confer:booth:only-facility"], "booth_cert_invalid"),
            (
                vec!["urn:confer:booth:f:a", "urn:confer:booth:f:b"],
                "booth_cert_invalid",
            ),
            (vec!["https://example.org/booth"], "booth_cert_not_a_booth"),
            (vec![], "booth_cert_not_a_booth"),
        ];
        for (uris, code) in cases {
            let err = v
                .verify(&[custom_leaf(&ca, &uris, client())], UnixTime::now())
                .unwrap_err();
            assert_eq!(err.code(), code, "{uris:?}: {err}");
        }
        // A well-formed URI but no EKU at all: webpki would accept it, we do not.
        let err = v
            .verify(
                &[custom_leaf(&ca, &["urn:confer:booth:f:b"], vec![])],
                UnixTime::now(),
            )
            .unwrap_err();
        assert_eq!(err, BoothCertError::NotABoothCertificate);
        // Garbage bytes never panic.
        let err = v
            .verify(
                &[CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01])],
                UnixTime::now(),
            )
            .unwrap_err();
        assert_eq!(err.code(), "booth_cert_invalid");
    }

    /// An intermediate CA issued by `ca` (which says `pathlen:0`, so this is already a
    /// violation) and a booth certificate issued by that intermediate.
    fn booth_under_an_intermediate(
        ca: &DevCa,
    ) -> (CertificateDer<'static>, CertificateDer<'static>) {
        let ca_pem = ca.to_pem();
        let root = Issuer::from_ca_cert_pem(
            &ca_pem.cert_pem,
            KeyPair::from_pem(&ca_pem.key_pem).unwrap(),
        )
        .unwrap();
        let mut params = CertificateParams::default();
        params.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        params.not_after = (SystemTime::now() + Duration::from_secs(3600)).into();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "rogue intermediate");
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = params.signed_by(&key, &root).unwrap();
        let intermediate_der = cert.der().clone();
        let intermediate = Issuer::new(params, key);

        let mut leaf = CertificateParams::default();
        leaf.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        leaf.not_after = (SystemTime::now() + Duration::from_secs(3600)).into();
        leaf.subject_alt_names = vec![SanType::URI(
            "urn:confer:booth:north-prison:booth-7".try_into().unwrap(),
        )];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let leaf_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = leaf.signed_by(&leaf_key, &intermediate).unwrap();
        (leaf.der().clone(), intermediate_der)
    }

    #[test]
    fn a_booth_certificate_under_an_intermediate_breaks_the_ca_path_length() {
        // R-VERIFY-4 (only the booth the facility issued): the facility CA says pathlen:0, so only certificates it signs itself
        // identify booths; a chain through an intermediate is not this facility's.
        let ca = DevCa::generate("facility CA").unwrap();
        let (leaf, intermediate) = booth_under_an_intermediate(&ca);
        let err = verifier(&ca)
            .verify(&[leaf.clone(), intermediate.clone()], UnixTime::now())
            .unwrap_err();
        assert_eq!(err, BoothCertError::UnknownIssuer);

        // The same chain passes webpki alone (the trust anchor forgot pathlen:0), which is
        // why the verifier checks it: this keeps the test honest if that ever changes.
        let mut roots = RootCertStore::empty();
        roots.add(der(ca.cert_pem())).unwrap();
        let plain = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        assert!(plain
            .verify_client_cert(&leaf, &[intermediate], UnixTime::now())
            .is_ok());
    }

    #[test]
    fn a_ca_file_whose_certificate_cannot_issue_is_refused() {
        let ca = DevCa::generate("facility CA").unwrap();
        // A booth (end-entity) certificate configured as the facility CA.
        let err = BoothVerifier::from_ca_pem(booth(&ca).cert_pem.as_bytes()).unwrap_err();
        assert!(matches!(err, BoothCaError::NotACa(_)), "{err}");
    }

    #[test]
    fn a_booth_key_that_may_not_sign_is_not_a_booth_certificate() {
        let ca = DevCa::generate("facility CA").unwrap();
        let ca_pem = ca.to_pem();
        let issuer = Issuer::from_ca_cert_pem(
            &ca_pem.cert_pem,
            KeyPair::from_pem(&ca_pem.key_pem).unwrap(),
        )
        .unwrap();
        let mut params = CertificateParams::default();
        params.not_before = (SystemTime::now() - Duration::from_secs(60)).into();
        params.not_after = (SystemTime::now() + Duration::from_secs(3600)).into();
        params.subject_alt_names = vec![SanType::URI(
            "urn:confer:booth:north-prison:booth-7".try_into().unwrap(),
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![rcgen::KeyUsagePurpose::KeyEncipherment];
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let leaf = params.signed_by(&key, &issuer).unwrap().der().clone();
        let err = verifier(&ca).verify(&[leaf], UnixTime::now()).unwrap_err();
        assert_eq!(err, BoothCertError::NotABoothCertificate);
    }

    #[test]
    fn the_ca_file_must_hold_a_certificate() {
        assert!(matches!(
            BoothVerifier::from_ca_pem(b""),
            Err(BoothCaError::Empty)
        ));
        let ca = DevCa::generate("facility CA").unwrap();
        assert_eq!(verifier(&ca).ca_subjects().len(), 1);
    }
}
