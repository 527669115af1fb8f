//! Lawyer licence verification against the lawyer registry (R-VERIFY-1, R-VERIFY-3).
//!
//! Owns:
//! - the vocabulary of the registry: [`LicenceNumber`] (a validated 17-digit practising
//!   certificate number), [`HolderIdHash`], [`PractisingStatus`] and [`RegistryRecord`]
//!   (defined in the base layer, [`crate::model::licence`], so that the store can read and
//!   write them; re-exported here);
//! - the [`LicenceRegistry`] trait ("what does the registry say about this licence?") and its
//!   implementations: [`local::LocalRegistry`] (the registry's export file, imported into the
//!   store by [`import::import_file`]) and [`remote::HttpRegistry`] (a remote registry service
//!   over HTTPS, with timeout, retries with backoff and a [`breaker::CircuitBreaker`]);
//! - [`cache::CachedRegistry`], which keeps *positive* answers for a configurable time;
//! - the pure decision [`verify::verify`]: does this record prove that this lawyer account is
//!   a lawyer in good standing today? Its refusals carry a stable code and a sentence in English
//!   and Chinese, and say which ones may be impersonation (R-VERIFY-3).
//!
//! The remote registry's JSON API is documented in `src/licence/README.md` and in
//! [`remote`].
//!
//! Does not: decide admission (that is `policy`, which takes a [`verify::Verdict`] as one of
//! its inputs), record manual verifications or impersonation alerts (audit and staff API,
//! later), or read the clock in any decision ([`verify::verify`], the cache and the breaker
//! cores take `today` / `now`). Licence numbers, names and identity hashes are personal data:
//! their `Debug` is redacted and they reach logs only through [`crate::redact::Redacted`].

pub mod breaker;
pub mod cache;
pub mod import;
pub mod local;
pub mod remote;
pub mod verify;

use std::future::Future;

pub use crate::model::licence::{
    HolderIdHash, HolderIdHashError, LicenceNumber, LicenceNumberError, Lookup, PractisingStatus,
    PractisingStatusError, RegistryError, RegistryRecord, LICENCE_NUMBER_DIGITS,
};

/// A source of registry answers. Implementations never panic on what the registry sends, and
/// answer `Ok(None)` only when the registry positively says the licence does not exist.
///
/// Not object-safe (it returns `impl Future`); pick an implementation at run time with
/// [`AnyRegistry`].
pub trait LicenceRegistry: Send + Sync {
    fn lookup(&self, licence: &LicenceNumber) -> impl Future<Output = Lookup> + Send;
}

/// One of the registry implementations, chosen by configuration at run time.
#[derive(Clone)]
pub enum AnyRegistry {
    Local(local::LocalRegistry),
    Http(remote::HttpRegistry),
}

impl LicenceRegistry for AnyRegistry {
    /// Every call is a real registry request (the cache sits in front of this), so this
    /// is where the registry's latency and errors are measured.
    async fn lookup(&self, licence: &LicenceNumber) -> Lookup {
        let started = std::time::Instant::now();
        let answer = match self {
            AnyRegistry::Local(r) => r.lookup(licence).await,
            AnyRegistry::Http(r) => r.lookup(licence).await,
        };
        crate::metrics::registry_request(started.elapsed(), answer.is_ok());
        answer
    }
}

impl<R: LicenceRegistry> LicenceRegistry for std::sync::Arc<R> {
    fn lookup(&self, licence: &LicenceNumber) -> impl Future<Output = Lookup> + Send {
        (**self).lookup(licence)
    }
}
