//! Development CA and certificate tooling for confer.
//!
//! What this crate owns:
//! - [`DevCa`]: a self-signed development certificate authority (ECDSA P-256,
//!   `CA:true`, path length 0) that stands in for a facility CA on a developer's
//!   machine or in a demo.
//! - [`issue_server_cert`] and [`issue_booth_cert`]: end-entity certificates for the
//!   shared HTTPS listener (EKU serverAuth) and for booth terminals (EKU clientAuth,
//!   identity in the SAN URI `urn:confer:booth:<facility>:<booth>`, see [`booth_uri`]).
//! - [`booth_p12`]: a PKCS#12 bundle (PBES2/AES-256, HMAC-SHA256 MAC) of a booth
//!   certificate, its key and the CA, for the kiosk browser or an NSS database.
//! - [`bootstrap_dev_pki`] and the functions behind `confer certs ...`
//!   ([`init`], [`issue_booth`], [`reissue_server`]): files under `<data-dir>/pki/`,
//!   private keys written `0600`, never overwritten by the bootstrap.
//!
//! What it deliberately does not do: decide whether a presented certificate is
//! trusted. That is the server's job (`confer::auth::booth` verifies booth chains
//! against the configured facility CA). This crate only *makes* certificates, and
//! defines the one spelling of the booth identity URI that both sides share.
//!
//! `certs/README.md` lists every credential confer has, who owns it and how to rotate it.

mod ca;
mod error;
mod identity;
mod p12;
mod pki;

pub use ca::{issue_booth_cert, issue_server_cert, CertKeyPem, DevCa, Validity};
pub use error::CertsError;
pub use identity::{booth_uri, is_valid_id, parse_booth_uri, BOOTH_URI_PREFIX};
pub use p12::{booth_p12, generate_p12_password, P12Password};
pub use pki::{
    booth_cert_path, bootstrap_dev_pki, init, issue_booth, pki_dir, reissue_server, BoothFiles,
    BoothIssued, DevPkiReport, ServerIssued, BOOTH_VALIDITY_DAYS, CA_VALIDITY_DAYS, DEMO_BOOTH,
    DEMO_FACILITY, SERVER_VALIDITY_DAYS,
};

/// Result of this crate's operations.
pub type Result<T, E = CertsError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests;
