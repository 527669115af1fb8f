//! The question every registry implementation answers: [`LicenceRegistry`] ("what does
//! the registry say about this licence?", R-VERIFY-1), and its forwarding through an `Arc`.
//!
//! Owns only the trait. The implementations are `local`, `remote` and `cache`; the choice
//! between them at run time is `any`; judging an answer is `verify`.

use crate::model::licence::{LicenceNumber, Lookup};
use std::future::Future;

/// A source of registry answers. Implementations never panic on what the registry sends, and
/// answer `Ok(None)` only when the registry positively says the licence does not exist.
///
/// Not object-safe (it returns `impl Future`); pick an implementation at run time with
/// [`AnyRegistry`](super::AnyRegistry).
pub trait LicenceRegistry: Send + Sync {
    fn lookup(&self, licence: &LicenceNumber) -> impl Future<Output = Lookup> + Send;
}

impl<R: LicenceRegistry> LicenceRegistry for std::sync::Arc<R> {
    fn lookup(&self, licence: &LicenceNumber) -> impl Future<Output = Lookup> + Send {
        (**self).lookup(licence)
    }
}
