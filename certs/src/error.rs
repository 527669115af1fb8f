//! The one error type of certificate tooling.

use std::path::PathBuf;

/// What went wrong while making, loading or writing certificates.
#[derive(Debug, thiserror::Error)]
pub enum CertsError {
    /// A facility or booth id does not match `[a-z0-9-]{1,64}`.
    #[error("invalid {what} id {value:?}: use 1 to 64 characters from a-z, 0-9 and '-'")]
    InvalidId { what: &'static str, value: String },
    /// A host name or address for the server certificate is not a DNS name or an IP address.
    #[error("invalid host {0:?}: expected a DNS name or an IP address")]
    InvalidHost(String),
    /// A validity period that ends before it starts.
    #[error("invalid validity period: not_after must be later than not_before")]
    InvalidValidity,
    /// PEM input that does not hold what it should.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// The CA certificate and the CA key do not belong together, or the certificate is no CA.
    #[error("CA certificate and key do not match or the certificate is not a CA: {0}")]
    CaMismatch(String),
    /// Certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// PKCS#12 encoding failed.
    #[error("PKCS#12 export failed: {0}")]
    Pkcs12(String),
    /// The random number generator failed.
    #[error("system random number generator failed")]
    Random,
    /// Files on disk that belong together are only partly present; nothing is overwritten.
    #[error("{present} exists but {missing} does not; refusing to overwrite either (move both away to regenerate)")]
    Incomplete { present: PathBuf, missing: PathBuf },
    /// A file system operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl CertsError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CertsError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
