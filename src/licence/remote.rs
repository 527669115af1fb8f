//! The HTTP registry client: asks a remote lawyer-registry service over HTTPS.
//!
//! # The registry JSON API (version 1)
//!
//! One endpoint; `{base}` is the configured base URL (it may carry a path prefix).
//!
//! ```text
//! GET {base}/v1/licences/{licence_number}        Accept: application/json
//!
//! 200 OK        {"licence_number": "13101201010123456",
//!                "holder_name": "张三",
//!                "holder_id_hash": "<SHA-256 of the identity-document number, 64 hex digits>",
//!                "law_firm": "北京市某某律师事务所",
//!                "status": "practising" | "suspended" | "revoked" | "cancelled",
//!                "valid_until": "2027-05-31",
//!                "data_as_of": "2026-11-27T04:00:00Z"}
//! 404 Not Found {"error": "unknown_licence"}
//! ```
//!
//! All fields are strings in the formats of [`super::import`] (one line of a JSON-lines
//! export is exactly one 200 body); unknown fields are ignored. How answers are read:
//! - 200 with a valid record for the number asked → the record;
//! - 404 with `{"error": "unknown_licence"}` → the licence does not exist (`Ok(None)`);
//! - 200 whose body is not such a record, or is a record of another licence, or any body over
//!   64 KiB → [`RegistryError::Garbage`];
//! - every other answer — other statuses, a 404 *without* that body (a wrong base URL must
//!   never turn every lawyer into an impostor), redirects (not followed), connection or TLS
//!   failures → [`RegistryError::Unavailable`]; no complete answer within the timeout →
//!   [`RegistryError::Timeout`].
//!
//! # Behaviour
//!
//! Each attempt is bounded by `timeout` (connection, TLS, headers and body). `Unavailable`
//! and `Timeout` are retried up to `retries` times after an exponential backoff with jitter
//! ([`Backoff`]); `Garbage` is not retried. Every attempt passes a [`CircuitBreaker`] first:
//! after `failure_threshold` consecutive failed attempts no request is sent for `open_for`
//! ([`RegistryError::CircuitOpen`]), then one probe decides. The worst case for one lookup is
//! `(retries + 1) × timeout + Σ backoff`.
//!
//! TLS: rustls with the ring provider, trusting only the configured CA certificates (PEM);
//! there are no built-in roots. `http://` base URLs are refused unless
//! `dangerous_plain_http` is set (tests and demos on loopback only).
//!
//! Does not: cache (wrap it in [`super::cache::CachedRegistry`]), judge records, or log
//! personal data (licence numbers only through [`Redacted`]; error texts carry no URL).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{StatusCode, Url};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde::Deserialize;

use super::breaker::{BreakerConfig, BreakerPhase, CircuitBreaker};
use super::import::{json_problem, RawRecord};
use super::registry::LicenceRegistry;
use crate::model::licence::{LicenceNumber, Lookup, RegistryError, RegistryRecord};
use crate::redact::Redacted;

/// Largest answer body read; anything longer is garbage.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Exponential backoff between retries, with "equal jitter": the n-th retry waits between
/// half and all of `min(base × 2ⁿ, max)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        }
    }
}

impl Backoff {
    /// The wait before retry number `retry` (0 for the first retry); `jitter` in `[0, 1]`
    /// picks where in the upper half the wait falls. Pure.
    pub fn delay(&self, retry: u32, jitter: f64) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32 << retry.min(20))
            .min(self.max);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// Settings of an [`HttpRegistry`].
#[derive(Clone)]
pub struct HttpRegistryConfig {
    /// `https://host[:port][/prefix]`; the API paths are appended to it.
    pub base_url: String,
    /// CA certificate(s), PEM, that the registry's server certificate must chain to.
    /// Required for `https://`.
    pub ca_pem: Option<Vec<u8>>,
    /// Bound on one attempt, from connecting to the last byte of the answer.
    pub timeout: Duration,
    /// Extra attempts after a failed first one (`Unavailable` or `Timeout` only).
    pub retries: u32,
    pub backoff: Backoff,
    pub breaker: BreakerConfig,
    /// Allow `http://` base URLs: no TLS, so only for tests and demos on loopback.
    pub dangerous_plain_http: bool,
}

impl HttpRegistryConfig {
    /// Defaults for everything but the base URL and the CA: 2 s timeout, 2 retries,
    /// 100 ms..1 s backoff, a breaker opening after 5 failures for 30 s.
    pub fn new(base_url: impl Into<String>, ca_pem: Option<Vec<u8>>) -> Self {
        HttpRegistryConfig {
            base_url: base_url.into(),
            ca_pem,
            timeout: Duration::from_secs(2),
            retries: 2,
            backoff: Backoff::default(),
            breaker: BreakerConfig::default(),
            dangerous_plain_http: false,
        }
    }
}

impl std::fmt::Debug for HttpRegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRegistryConfig")
            .field("base_url", &self.base_url)
            .field(
                "ca_pem",
                &self.ca_pem.as_ref().map(|p| format!("{} bytes", p.len())),
            )
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("backoff", &self.backoff)
            .field("breaker", &self.breaker)
            .field("dangerous_plain_http", &self.dangerous_plain_http)
            .finish()
    }
}

/// An [`HttpRegistry`] could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum HttpRegistryError {
    #[error("the registry base URL is not a valid http(s) URL without query or fragment")]
    BadBaseUrl,
    #[error("the registry base URL uses plain http; use https (plain http is allowed only with dangerous_plain_http)")]
    PlainHttp,
    #[error("the registry base URL uses https but no CA certificate is configured for it")]
    NoCa,
    #[error("the registry CA file is not usable PEM certificates: {0}")]
    CaPem(String),
    #[error("the registry HTTP client could not be built: {0}")]
    Client(String),
}

/// The HTTP registry client. Cheap to clone (shares the connection pool and the breaker).
#[derive(Clone)]
pub struct HttpRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    /// Ends with `/`, so that `v1/...` is appended below it.
    base: Url,
    timeout: Duration,
    retries: u32,
    backoff: Backoff,
    // A std Mutex: held only for a state transition, never across an `.await`.
    breaker: Mutex<CircuitBreaker>,
}

#[derive(Deserialize)]
struct NotFound {
    error: String,
}

/// An attempt's outcome before the breaker and the retry loop see it.
type Attempt = Result<Option<super::RegistryRecord>, RegistryError>;

impl HttpRegistry {
    pub fn new(config: HttpRegistryConfig) -> Result<Self, HttpRegistryError> {
        let mut base =
            Url::parse(config.base_url.trim()).map_err(|_| HttpRegistryError::BadBaseUrl)?;
        if base.query().is_some() || base.fragment().is_some() || base.cannot_be_a_base() {
            return Err(HttpRegistryError::BadBaseUrl);
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .user_agent(concat!("confer/", env!("CARGO_PKG_VERSION")));
        // Always hand reqwest a TLS config built with the ring provider: without one it looks
        // for a process-wide default provider and panics (docs/DESIGN.md, pitfalls).
        let builder = match base.scheme() {
            "https" => {
                let pem = config.ca_pem.as_deref().ok_or(HttpRegistryError::NoCa)?;
                builder
                    .use_preconfigured_tls(tls_config(Some(pem))?)
                    .https_only(true)
            }
            "http" if config.dangerous_plain_http => {
                builder.use_preconfigured_tls(tls_config(config.ca_pem.as_deref())?)
            }
            "http" => return Err(HttpRegistryError::PlainHttp),
            _ => return Err(HttpRegistryError::BadBaseUrl),
        };
        let client = builder
            .build()
            .map_err(|e| HttpRegistryError::Client(e.to_string()))?;
        Ok(HttpRegistry {
            inner: Arc::new(Inner {
                client,
                base,
                timeout: config.timeout,
                retries: config.retries,
                backoff: config.backoff,
                breaker: Mutex::new(CircuitBreaker::new(config.breaker)),
            }),
        })
    }

    /// The circuit breaker's phase now (for health views and metrics).
    pub fn breaker_phase(&self) -> BreakerPhase {
        self.inner.breaker().phase(Instant::now())
    }

    async fn attempt(&self, licence: &LicenceNumber) -> Attempt {
        let url = self
            .inner
            .base
            .join(&format!("v1/licences/{}", licence.as_str()))
            .map_err(|_| {
                RegistryError::Unavailable("the licence URL could not be formed".to_owned())
            })?;
        let mut response = self
            .inner
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport_error)?;
        let status = response.status();
        if status != StatusCode::OK && status != StatusCode::NOT_FOUND {
            return Err(RegistryError::Unavailable(format!(
                "the registry answered HTTP {}",
                status.as_u16()
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(RegistryError::Garbage(format!(
                    "an answer larger than {MAX_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        parse_answer(status == StatusCode::NOT_FOUND, &body, licence)
    }
}

/// The registry's answer body for `licence` (HTTP 200, or 404 when `not_found`), read into a
/// record: `Ok(None)` only for the registry's own `unknown_licence` answer; anything else
/// that is not a valid record of this licence is an error. Pure, so the fuzz targets reach it
/// without a socket.
pub(crate) fn parse_answer(
    not_found: bool,
    body: &[u8],
    licence: &LicenceNumber,
) -> Result<Option<RegistryRecord>, RegistryError> {
    if not_found {
        return match serde_json::from_slice::<NotFound>(body) {
            Ok(nf) if nf.error == "unknown_licence" => Ok(None),
            _ => Err(RegistryError::Unavailable(
                "HTTP 404 without the registry's unknown_licence answer (is the base URL right?)"
                    .to_owned(),
            )),
        };
    }
    let raw: RawRecord =
        serde_json::from_slice(body).map_err(|e| RegistryError::Garbage(json_problem(&e)))?;
    let record = raw
        .validate()
        .map_err(|problems| RegistryError::Garbage(format!("invalid record: {problems}")))?;
    if &record.licence != licence {
        return Err(RegistryError::Garbage(
            "a record of another licence than the one asked".to_owned(),
        ));
    }
    Ok(Some(record))
}

impl Inner {
    fn breaker(&self) -> std::sync::MutexGuard<'_, CircuitBreaker> {
        // A panic while holding the lock cannot leave the breaker inconsistent; go on with it.
        self.breaker
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl LicenceRegistry for HttpRegistry {
    async fn lookup(&self, licence: &LicenceNumber) -> Lookup {
        let inner = &self.inner;
        let mut last_error = None;
        for attempt in 0..=inner.retries {
            if attempt > 0 {
                tokio::time::sleep(inner.backoff.delay(attempt - 1, rand::random::<f64>())).await;
            }
            if inner.breaker().try_acquire(Instant::now()).is_err() {
                return Err(last_error.unwrap_or(RegistryError::CircuitOpen));
            }
            let outcome = match tokio::time::timeout(inner.timeout, self.attempt(licence)).await {
                Ok(outcome) => outcome,
                Err(_) => Err(RegistryError::Timeout),
            };
            match outcome {
                Ok(answer) => {
                    inner.breaker().on_success();
                    return Ok(answer);
                }
                Err(e) => {
                    inner.breaker().on_failure(Instant::now());
                    tracing::debug!(licence = %Redacted(licence), attempt, code = e.code(), error = %e, "registry attempt failed");
                    let retriable =
                        matches!(e, RegistryError::Unavailable(_) | RegistryError::Timeout);
                    last_error = Some(e);
                    if !retriable {
                        break;
                    }
                }
            }
        }
        let e = last_error.unwrap_or(RegistryError::CircuitOpen);
        tracing::warn!(licence = %Redacted(licence), code = e.code(), error = %e, "registry lookup failed");
        Err(e)
    }
}

/// A transport failure, described without the URL (it holds the licence number): the
/// error's own text plus its causes (connection refused, TLS alert, ...).
fn transport_error(e: reqwest::Error) -> RegistryError {
    if e.is_timeout() {
        return RegistryError::Timeout;
    }
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    RegistryError::Unavailable(text)
}

/// A rustls client config trusting exactly the certificates of `ca_pem` (none at all when
/// `None`: only for plain-http registries, where TLS is never used).
fn tls_config(ca_pem: Option<&[u8]>) -> Result<rustls::ClientConfig, HttpRegistryError> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| HttpRegistryError::CaPem(e.to_string()))?;
            roots
                .add(cert)
                .map_err(|e| HttpRegistryError::CaPem(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(HttpRegistryError::CaPem("no certificate found".to_owned()));
        }
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| HttpRegistryError::Client(e.to_string()))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_exponentially_within_bounds() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        assert_eq!(b.delay(0, 1.0), Duration::from_millis(100));
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(50));
        assert_eq!(b.delay(1, 1.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 1.0), Duration::from_millis(800));
        assert_eq!(b.delay(4, 1.0), Duration::from_secs(1), "capped");
        assert_eq!(
            b.delay(u32::MAX, 1.0),
            Duration::from_secs(1),
            "no overflow"
        );
        assert_eq!(b.delay(2, 7.0), b.delay(2, 1.0), "jitter clamped");
        assert!(b.delay(2, 0.5) >= b.delay(2, 0.0) && b.delay(2, 0.5) <= b.delay(2, 1.0));
    }

    #[test]
    fn configuration_is_checked() {
        let new = |url: &str, ca: Option<Vec<u8>>, plain: bool| {
            HttpRegistry::new(HttpRegistryConfig {
                dangerous_plain_http: plain,
                ..HttpRegistryConfig::new(url, ca)
            })
        };
        assert!(matches!(
            new("not a url", None, false),
            Err(HttpRegistryError::BadBaseUrl)
        ));
        assert!(matches!(
            new("ftp://registry/", None, true),
            Err(HttpRegistryError::BadBaseUrl)
        ));
        assert!(matches!(
            new("https://registry/?q=1", None, true),
            Err(HttpRegistryError::BadBaseUrl)
        ));
        assert!(matches!(
            new("http://127.0.0.1:1/", None, false),
            Err(HttpRegistryError::PlainHttp)
        ));
        assert!(matches!(
            new("https://registry/", None, false),
            Err(HttpRegistryError::NoCa)
        ));
        assert!(matches!(
            new("https://registry/", Some(b"junk".to_vec()), false),
            Err(HttpRegistryError::CaPem(_))
        ));
        let r = new("http://127.0.0.1:1/prefix", None, true).unwrap();
        assert_eq!(r.inner.base.as_str(), "http://127.0.0.1:1/prefix/");
        assert_eq!(r.breaker_phase(), BreakerPhase::Closed);
    }
}
