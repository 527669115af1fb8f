//! Lawyer licence verification against the lawyer registry (R-VERIFY-1, R-VERIFY-3).
//!
//! Owns:
//! - the vocabulary of the registry: [`LicenceNumber`] (a validated 17-digit practising
//!   certificate number), [`HolderIdHash`], [`PractisingStatus`] and [`RegistryRecord`]
//!   (defined in the base layer, [`crate::model::licence`], so that the store can read and
//!   write them; re-exported here);
//! - the [`LicenceRegistry`] trait ("what does the registry say about this licence?", in
//!   `registry`) and its implementations: [`local::LocalRegistry`] (the registry's export file, imported into the
//!   store by [`import::import_file`]) and [`remote::HttpRegistry`] (a remote registry service
//!   over HTTPS, with timeout, retries with backoff and a [`breaker::CircuitBreaker`]);
//! - [`AnyRegistry`] (in `any`), the implementation chosen by configuration at run time;
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

mod any;
pub mod breaker;
pub mod cache;
pub mod import;
pub mod local;
mod registry;
pub mod remote;
pub mod verify;

pub use crate::model::licence::{
    HolderIdHash, HolderIdHashError, LicenceNumber, LicenceNumberError, Lookup, PractisingStatus,
    PractisingStatusError, RegistryError, RegistryRecord, LICENCE_NUMBER_DIGITS,
};
pub use any::AnyRegistry;
pub use registry::LicenceRegistry;
