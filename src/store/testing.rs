//! Test support: the store's own tests run against both backends, SQLite in a temporary
//! data dir and PostgreSQL (a fresh database on the test binary's server,
//! `tests/support/pg.rs`; under `CI=true` a missing PostgreSQL fails the test).

use super::test_pg;
use super::Store;

/// Where one test's store lives.
pub struct Backing {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database's URL, `None` for SQLite.
    pub url: Option<String>,
}

impl Backing {
    /// Open (again) the store of this backing.
    pub async fn open(&self) -> Store {
        Store::open_configured(self.dir.path(), self.url.as_deref())
            .await
            .unwrap_or_else(|e| panic!("open the {} store: {e}", self.name()))
    }

    pub fn name(&self) -> &'static str {
        if self.url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

/// SQLite, and PostgreSQL unless it is missing outside CI.
pub async fn backings() -> Vec<Backing> {
    let mut out = vec![Backing {
        dir: tempfile::tempdir().unwrap(),
        url: None,
    }];
    if let Some(url) = test_pg::database().await {
        out.push(Backing {
            dir: tempfile::tempdir().unwrap(),
            url: Some(url),
        });
    }
    out
}

/// One open store per backend.
pub async fn stores() -> Vec<(Backing, Store)> {
    let mut out = Vec::new();
    for b in backings().await {
        let s = b.open().await;
        out.push((b, s));
    }
    out
}
