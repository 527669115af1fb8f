//! [`AnyRegistry`]: the registry implementation chosen by configuration at run time (the
//! local export or the remote service), and where each real registry request is measured.
//!
//! Owns only the choice and the measurement; does not cache (`cache`), judge records
//! (`verify`) or read the configuration (wiring builds the variant).

use super::local::LocalRegistry;
use super::registry::LicenceRegistry;
use super::remote::HttpRegistry;
use crate::model::licence::{LicenceNumber, Lookup};

/// One of the registry implementations, chosen by configuration at run time.
#[derive(Clone)]
pub enum AnyRegistry {
    Local(LocalRegistry),
    Http(HttpRegistry),
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
