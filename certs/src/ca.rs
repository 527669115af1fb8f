//! The development CA and the two kinds of certificate it issues.

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber, PKCS_ECDSA_P256_SHA256,
};
use ring::rand::SecureRandom;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::identity::{booth_uri, is_valid_id};
use crate::{CertsError, Result};

/// How far `not_before` is set back from "now", so that a peer whose clock is a
/// little behind does not reject a certificate issued a moment ago.
const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(5 * 60);

/// The period a certificate is valid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    not_before: SystemTime,
    not_after: SystemTime,
}

impl Validity {
    /// Valid from a few minutes before `now` (clock skew) until `days` days after `now`.
    pub fn days_from(now: SystemTime, days: u32) -> Self {
        Validity {
            not_before: now.checked_sub(CLOCK_SKEW_ALLOWANCE).unwrap_or(now),
            not_after: now + Duration::from_secs(u64::from(days) * 24 * 60 * 60),
        }
    }

    /// [`Validity::days_from`] the current time (tooling is a driver: it reads the clock).
    pub fn days_from_now(days: u32) -> Self {
        Self::days_from(SystemTime::now(), days)
    }

    /// An explicit period (for example an already expired one, in tests).
    pub fn between(not_before: SystemTime, not_after: SystemTime) -> Result<Self> {
        if not_after <= not_before {
            return Err(CertsError::InvalidValidity);
        }
        Ok(Validity {
            not_before,
            not_after,
        })
    }

    pub fn not_before(&self) -> SystemTime {
        self.not_before
    }

    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }

    fn apply(&self, params: &mut CertificateParams) {
        params.not_before = self.not_before.into();
        params.not_after = self.not_after.into();
    }
}

/// A certificate and its private key, both PEM. `Debug` never shows the key.
#[derive(Clone)]
pub struct CertKeyPem {
    /// The certificate (PEM, one `CERTIFICATE` block).
    pub cert_pem: String,
    /// The private key (PEM, PKCS#8). Secret: write it `0600`, never log it.
    pub key_pem: String,
    /// The certificate's serial number, hex with colons (for revocation lists and logs).
    pub serial: String,
}

impl fmt::Debug for CertKeyPem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertKeyPem")
            .field("serial", &self.serial)
            .field("key_pem", &"[secret]")
            .finish_non_exhaustive()
    }
}

/// A development certificate authority: a self-signed ECDSA P-256 CA that may sign
/// end-entity certificates only (path length 0). `Debug` never shows the key.
pub struct DevCa {
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl fmt::Debug for DevCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DevCa").finish_non_exhaustive()
    }
}

impl DevCa {
    /// A new CA named `name` (its CN), valid for [`crate::CA_VALIDITY_DAYS`] days.
    pub fn generate(name: &str) -> Result<DevCa> {
        Self::generate_with_validity(name, Validity::days_from_now(crate::CA_VALIDITY_DAYS))
    }

    /// A new CA named `name`, valid for `validity`.
    pub fn generate_with_validity(name: &str, validity: Validity) -> Result<DevCa> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "confer development CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        validity.apply(&mut params);
        let cert = params.self_signed(&key)?;
        let cert_der = cert.der().clone();
        let issuer = Issuer::new(params, key);
        Ok(DevCa {
            cert_pem: cert.pem(),
            cert_der,
            issuer,
        })
    }

    /// Loads a CA from its certificate and private key (PEM). Checks that the
    /// certificate is a CA and that the key is the certificate's key.
    pub fn load(cert_pem: &str, key_pem: &str) -> Result<DevCa> {
        let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| CertsError::Pem(format!("CA certificate: {e}")))?;
        let [cert_der] = <[_; 1]>::try_from(certs).map_err(|certs| {
            CertsError::Pem(format!(
                "expected exactly one CA certificate, found {}",
                certs.len()
            ))
        })?;
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| CertsError::Pem(format!("CA private key: {e}")))?;
        let (_, parsed) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| CertsError::Pem(format!("CA certificate: {e}")))?;
        if parsed.public_key().subject_public_key.data.as_ref() != key.public_key_raw() {
            return Err(CertsError::CaMismatch(
                "the key is not the certificate's key".into(),
            ));
        }
        let is_ca = parsed
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(CertsError::CaMismatch(
                "the certificate has no CA:true basic constraint".into(),
            ));
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        Ok(DevCa {
            cert_pem: cert_pem.to_owned(),
            cert_der,
            issuer,
        })
    }

    /// The CA certificate and private key as PEM (write the key `0600`).
    pub fn to_pem(&self) -> CertKeyPem {
        CertKeyPem {
            cert_pem: self.cert_pem.clone(),
            key_pem: self.issuer.key().serialize_pem(),
            serial: serial_of(&self.cert_der),
        }
    }

    /// The CA certificate (PEM).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate (DER).
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    fn sign(&self, params: &CertificateParams) -> Result<CertKeyPem> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(CertKeyPem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            serial: serial_of(cert.der()),
        })
    }
}

/// A server certificate for the HTTPS listener: SANs `localhost`, `127.0.0.1`, `::1`
/// and every entry of `hosts` (DNS names or IP addresses), EKU serverAuth.
pub fn issue_server_cert(ca: &DevCa, hosts: &[String], validity: Validity) -> Result<CertKeyPem> {
    let mut sans: Vec<SanType> = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress(IpAddr::from([127, 0, 0, 1])),
        SanType::IpAddress(IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1])),
    ];
    for host in hosts {
        let san = match ServerName::try_from(host.as_str()) {
            Ok(ServerName::IpAddress(ip)) => SanType::IpAddress(IpAddr::from(ip)),
            Ok(ServerName::DnsName(dns)) => SanType::DnsName(
                dns.as_ref()
                    .to_ascii_lowercase()
                    .try_into()
                    .map_err(|_| CertsError::InvalidHost(host.clone()))?,
            ),
            _ => return Err(CertsError::InvalidHost(host.clone())),
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    let cn = hosts.first().map(String::as_str).unwrap_or("localhost");
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "confer server");
    params.subject_alt_names = sans;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    validity.apply(&mut params);
    ca.sign(&params)
}

/// A booth client certificate: SAN URI `urn:confer:booth:<facility>:<booth>` (the
/// identity the server reads), CN = booth id and O = facility id (for people), EKU
/// clientAuth. Both ids must match `[a-z0-9-]{1,64}`.
pub fn issue_booth_cert(
    ca: &DevCa,
    facility: &str,
    booth: &str,
    validity: Validity,
) -> Result<CertKeyPem> {
    check_id("facility", facility)?;
    check_id("booth", booth)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, booth);
    params
        .distinguished_name
        .push(DnType::OrganizationName, facility);
    params.subject_alt_names = vec![SanType::URI(booth_uri(facility, booth).try_into()?)];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial()?);
    validity.apply(&mut params);
    ca.sign(&params)
}

pub(crate) fn check_id(what: &'static str, value: &str) -> Result<()> {
    if is_valid_id(value) {
        Ok(())
    } else {
        Err(CertsError::InvalidId {
            what,
            value: value.to_owned(),
        })
    }
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> Result<SerialNumber> {
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| CertsError::Random)?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

pub(crate) fn serial_of(der: &[u8]) -> String {
    match x509_parser::parse_x509_certificate(der) {
        Ok((_, cert)) => cert
            .raw_serial()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
        Err(_) => String::from("unknown"),
    }
}
