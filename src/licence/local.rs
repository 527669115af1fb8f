//! The local registry: the registry's export file, imported into the store with
//! [`super::import::import_file`], answering lookups from the store.
//!
//! Owns only the adapter from [`crate::store::Store`] to [`LicenceRegistry`]. A licence absent
//! from the last import is "unknown" (`Ok(None)`): with a local registry, keeping the imports
//! current is the operator's duty, and [`super::RegistryRecord::data_as_of`] shows how old an
//! answer is. A store failure is [`RegistryError::Unavailable`] (fail closed).
//!
//! Does not: import, cache (the store is local and fast) or judge records.

use super::registry::LicenceRegistry;
use crate::model::licence::{LicenceNumber, Lookup, RegistryError};
use crate::store::Store;

/// Answers from the imported export in the store. Cheap to clone.
#[derive(Clone)]
pub struct LocalRegistry {
    store: Store,
}

impl LocalRegistry {
    pub fn new(store: Store) -> Self {
        LocalRegistry { store }
    }
}

impl LicenceRegistry for LocalRegistry {
    async fn lookup(&self, licence: &LicenceNumber) -> Lookup {
        self.store.registry_record(licence).await.map_err(|e| {
            RegistryError::Unavailable(format!("the local registry could not be read: {e}"))
        })
    }
}
