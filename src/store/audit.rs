//! The audit chain's SQL (docs/DESIGN.md invariant 7: only `store` sees SQL).
//!
//! SQLite (the default): the chain lives in its own file, `<data-dir>/audit.db` (WAL,
//! `synchronous=FULL`), with its own migrations (`migrations/audit/`). One connection
//! writes ([`AuditWriter`], owned by the audit writer task, which commits a whole group of
//! entries in one transaction: one fsync per group); readers ([`AuditReader`]) use a
//! separate pool, read-only when opened by `confer audit verify`/`export`.
//!
//! PostgreSQL (`[store] url`): the chain lives in the schema `confer_audit` of the
//! store's database (migrations `migrations/audit/postgres/`). Several confer nodes write
//! it, each with its own writer task and group commit; one deployment still has one
//! gapless sequence and one hash chain because every group transaction first takes the
//! chain's transaction-scoped advisory lock ([`CHAIN_LOCK`]), then reads the head as
//! committed, seals the group onto it ([`AuditWriter::commit_sealed`]) and commits.
//!
//! This module stores and returns rows; hashing, signing and checking live in `crate::audit`.

use super::{Result, StoreError};
use crate::ids::{AdminId, BoothId, LawyerId, VisitId};
use crate::model::audit::{Checkpoint, StoredEntry, Subjects};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::{AnyConnection, AnyPool, Connection, Executor, Row};
use std::path::Path;

/// File name of the audit database under the data dir (SQLite).
pub const AUDIT_DB: &str = "audit.db";

/// The PostgreSQL schema holding the chain (and its own `_sqlx_migrations`).
pub const PG_SCHEMA: &str = "confer_audit";

/// The advisory lock that serialises appends to the chain on PostgreSQL (any fixed
/// 64-bit key; this one spells "confAUDT").
pub const CHAIN_LOCK: i64 = 0x636f_6e66_4155_4454;

/// The advisory lock held while one node creates the schema and runs its migrations.
const SETUP_LOCK: i64 = 0x636f_6e66_4155_5350;

/// Rows per multi-row INSERT on PostgreSQL (12 parameters a row, well under 65535).
const PG_ROWS_PER_INSERT: usize = 256;

const ENTRY_COLUMNS: &str =
    "seq, time_ms, kind, actor, visit_id, lawyer_id, booth_id, staff_id, canonical, leaf_hash, prev_hash, hash";

/// Where the chain is stored.
#[derive(Debug, Clone)]
pub enum AuditLocation {
    /// `<data-dir>/audit.db`.
    Sqlite(std::path::PathBuf),
    /// The schema `confer_audit` of this PostgreSQL database.
    Postgres(String),
}

impl AuditLocation {
    /// `store.url` when set (PostgreSQL), else `<data_dir>/audit.db`.
    pub fn configured(data_dir: &Path, store_url: Option<&str>) -> AuditLocation {
        match store_url {
            Some(url) => AuditLocation::Postgres(url.to_string()),
            None => AuditLocation::Sqlite(data_dir.join(AUDIT_DB)),
        }
    }
}

/// The single writing connection (of this node).
pub struct AuditWriter {
    conn: AnyConnection,
    postgres: bool,
}

/// The newest entry and checkpoint, read at start (and after a failed commit).
#[derive(Debug, Clone, Default)]
pub struct AuditHead {
    pub count: u64,
    pub hash: Option<Vec<u8>>,
    pub checkpoints: u64,
    pub last_checkpoint_count: u64,
    pub last_checkpoint_ms: Option<i64>,
}

/// Which entries to read (staff API).
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub visit: Option<VisitId>,
    pub lawyer: Option<LawyerId>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub after_seq: u64,
    pub limit: u32,
}

fn sqlite_options(path: &Path, create: bool, read_only: bool) -> Result<AnyConnectOptions> {
    super::sqlite_any_options(path, create, read_only)
}

/// One PostgreSQL connection whose search path is the audit schema.
async fn pg_connection(url: &str, read_only: bool) -> Result<AnyConnection> {
    if !super::is_postgres_url(url) {
        return Err(StoreError::BadUrl(super::redacted_url(url)));
    }
    super::install_drivers();
    let mut conn = AnyConnection::connect(url).await?;
    pg_session(&mut conn, read_only).await?;
    Ok(conn)
}

async fn pg_session(conn: &mut AnyConnection, read_only: bool) -> sqlx::Result<()> {
    conn.execute(format!("SET search_path TO {PG_SCHEMA}").as_str())
        .await?;
    if read_only {
        conn.execute("SET default_transaction_read_only = on")
            .await?;
    }
    Ok(())
}

impl AuditWriter {
    /// Open (creating and migrating) the audit database for writing.
    pub async fn open(path: &Path) -> Result<AuditWriter> {
        AuditWriter::open_at(&AuditLocation::Sqlite(path.to_path_buf())).await
    }

    /// Open (creating and migrating) the chain at `at` for writing.
    pub async fn open_at(at: &AuditLocation) -> Result<AuditWriter> {
        match at {
            AuditLocation::Sqlite(path) => {
                let mut conn =
                    AnyConnection::connect_with(&sqlite_options(path, true, false)?).await?;
                super::sqlite_pragmas(&mut conn, false).await?;
                sqlx::migrate!("./migrations/audit").run(&mut conn).await?;
                Ok(AuditWriter {
                    conn,
                    postgres: false,
                })
            }
            AuditLocation::Postgres(url) => {
                let mut conn = pg_connection(url, false).await?;
                // Several nodes may start at once: one creates the schema and migrates.
                sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(SETUP_LOCK)
                    .execute(&mut conn)
                    .await?;
                let setup = async {
                    conn.execute(format!("CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}").as_str())
                        .await?;
                    sqlx::migrate!("./migrations/audit/postgres")
                        .run(&mut conn)
                        .await?;
                    Ok::<(), StoreError>(())
                }
                .await;
                sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(SETUP_LOCK)
                    .execute(&mut conn)
                    .await?;
                setup?;
                Ok(AuditWriter {
                    conn,
                    postgres: true,
                })
            }
        }
    }

    pub async fn head(&mut self) -> Result<AuditHead> {
        head(&mut self.conn).await
    }

    /// Append entries and checkpoints in one transaction; returns once committed
    /// (`synchronous=FULL`: the WAL is fsync'd before `COMMIT` returns).
    pub async fn commit(
        &mut self,
        entries: &[StoredEntry],
        checkpoints: &[Checkpoint],
    ) -> Result<()> {
        let mut tx = self.conn.begin().await?;
        insert(&mut tx, self.postgres, entries, checkpoints).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Append one group sealed onto the chain's head, in one transaction.
    ///
    /// SQLite: this connection is the chain's only writer, so `cached` (the head after
    /// this writer's last commit) is the head. PostgreSQL: other nodes append too, so the
    /// transaction takes [`CHAIN_LOCK`] and reads the committed head first; `seal` is
    /// called with that head and returns what to insert on top of it (and a value handed
    /// back after the commit). Returns the head `seal` saw and its value.
    pub async fn commit_sealed<T>(
        &mut self,
        cached: &AuditHead,
        seal: impl FnOnce(&AuditHead) -> (Vec<StoredEntry>, Vec<Checkpoint>, T),
    ) -> Result<(AuditHead, T)> {
        let mut tx = self.conn.begin().await?;
        let seen = if self.postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(CHAIN_LOCK)
                .execute(&mut *tx)
                .await?;
            head(&mut tx).await?
        } else {
            cached.clone()
        };
        let (entries, checkpoints, value) = seal(&seen);
        if entries.is_empty() && checkpoints.is_empty() {
            tx.rollback().await?;
            return Ok((seen, value));
        }
        insert(&mut tx, self.postgres, &entries, &checkpoints).await?;
        tx.commit().await?;
        Ok((seen, value))
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

async fn insert(
    conn: &mut AnyConnection,
    postgres: bool,
    entries: &[StoredEntry],
    checkpoints: &[Checkpoint],
) -> Result<()> {
    const ENTRY_INSERT: &str = "INSERT INTO audit_entries (seq, time_ms, kind, actor, visit_id, lawyer_id, booth_id, staff_id, \
         canonical, leaf_hash, prev_hash, hash) VALUES ";
    // SQLite: one prepared statement per row (cheap in-process). PostgreSQL: multi-row
    // statements, one round trip per PG_ROWS_PER_INSERT entries.
    let rows_per_statement = if postgres { PG_ROWS_PER_INSERT } else { 1 };
    for chunk in entries.chunks(rows_per_statement) {
        let mut sql = String::from(ENTRY_INSERT);
        for i in 0..chunk.len() {
            if i > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for c in 1..=12 {
                if c > 1 {
                    sql.push_str(", ");
                }
                sql.push_str(&format!("${}", i * 12 + c));
            }
            sql.push(')');
        }
        let mut q = sqlx::query(&sql);
        for e in chunk {
            let seq = i64::try_from(e.seq)
                .map_err(|_| StoreError::Conflict("an audit entry with this sequence number"))?;
            q = q
                .bind(seq)
                .bind(e.time_ms)
                .bind(e.kind.clone())
                .bind(e.actor.clone())
                .bind(e.subjects.visit.map(|v| v.0))
                .bind(e.subjects.lawyer.map(|l| l.0))
                .bind(e.subjects.booth.as_ref().map(|b| b.as_str().to_string()))
                .bind(e.subjects.staff.map(|a| a.0))
                .bind(e.canonical.clone())
                .bind(e.leaf_hash.clone())
                .bind(e.prev_hash.clone())
                .bind(e.hash.clone());
        }
        q.execute(&mut *conn).await?;
    }
    for c in checkpoints {
        sqlx::query("INSERT INTO audit_checkpoints (n, count, head_hash, time_ms, signature) VALUES ($1, $2, $3, $4, $5)")
            .bind(c.n as i64)
            .bind(c.count as i64)
            .bind(c.head_hash.clone())
            .bind(c.time_ms)
            .bind(c.signature.clone())
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn head(conn: &mut AnyConnection) -> Result<AuditHead> {
    let mut h = AuditHead::default();
    if let Some(r) = sqlx::query("SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?
    {
        h.count = r.get::<i64, _>(0) as u64;
        h.hash = Some(r.get(1));
    }
    if let Some(r) =
        sqlx::query("SELECT n, count, time_ms FROM audit_checkpoints ORDER BY n DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?
    {
        h.checkpoints = r.get::<i64, _>(0) as u64;
        h.last_checkpoint_count = r.get::<i64, _>(1) as u64;
        h.last_checkpoint_ms = Some(r.get(2));
    }
    Ok(h)
}

/// Readers of the chain: the staff API, verify and export.
#[derive(Clone)]
pub struct AuditReader {
    pool: AnyPool,
    backend: super::Backend,
}

fn entry_from_row(r: &AnyRow) -> StoredEntry {
    StoredEntry {
        seq: r.get::<i64, _>(0).max(0) as u64,
        time_ms: r.get(1),
        kind: r.get(2),
        actor: r.get(3),
        subjects: Subjects {
            visit: r.get::<Option<i64>, _>(4).map(VisitId),
            lawyer: r.get::<Option<i64>, _>(5).map(LawyerId),
            booth: r.get::<Option<String>, _>(6).map(BoothId),
            staff: r.get::<Option<i64>, _>(7).map(AdminId),
        },
        canonical: r.get(8),
        leaf_hash: r.get(9),
        prev_hash: r.get(10),
        hash: r.get(11),
    }
}

impl AuditReader {
    /// Readers next to the running writer (after [`AuditWriter::open`] created the file).
    pub async fn open(path: &Path) -> Result<AuditReader> {
        AuditReader::open_at(&AuditLocation::Sqlite(path.to_path_buf()), false).await
    }

    /// Read-only access to an existing audit database (the server need not run).
    pub async fn open_read_only(path: &Path) -> Result<AuditReader> {
        AuditReader::open_at(&AuditLocation::Sqlite(path.to_path_buf()), true).await
    }

    /// Readers of the chain at `at`; `read_only` for verify/export (the SQLite file must
    /// exist; PostgreSQL sessions are read-only transactions).
    pub async fn open_at(at: &AuditLocation, read_only: bool) -> Result<AuditReader> {
        let pool = match at {
            AuditLocation::Sqlite(path) => {
                if read_only && !path.exists() {
                    return Err(StoreError::NotFound("the audit database"));
                }
                super::sqlite_pool_options(2)
                    .after_connect(move |conn, _| {
                        Box::pin(async move { super::sqlite_pragmas(conn, read_only).await })
                    })
                    .connect_with(sqlite_options(path, false, read_only)?)
                    .await?
            }
            AuditLocation::Postgres(url) => {
                if !super::is_postgres_url(url) {
                    return Err(StoreError::BadUrl(super::redacted_url(url)));
                }
                super::install_drivers();
                let pool = AnyPoolOptions::new()
                    .max_connections(2)
                    .after_connect(move |conn, _| {
                        Box::pin(async move { pg_session(conn, read_only).await })
                    })
                    .connect(url)
                    .await?;
                let exists: bool = sqlx::query(
                    "SELECT EXISTS (SELECT 1 FROM information_schema.tables \
                     WHERE table_schema = $1 AND table_name = 'audit_entries')",
                )
                .bind(PG_SCHEMA)
                .fetch_one(&pool)
                .await?
                .try_get(0)?;
                if !exists {
                    pool.close().await;
                    return Err(StoreError::NotFound(
                        "the audit chain (schema confer_audit)",
                    ));
                }
                pool
            }
        };
        let backend = match at {
            AuditLocation::Sqlite(_) => super::Backend::Sqlite,
            AuditLocation::Postgres(_) => super::Backend::Postgres,
        };
        Ok(AuditReader { pool, backend })
    }

    /// What the audit migrations built (tests/store_schema.rs compares the backends).
    pub async fn schema(&self) -> Result<super::schema::SchemaShape> {
        Ok(super::schema::shape(&self.pool, self.backend == super::Backend::Postgres).await?)
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Up to `limit` entries with `seq > after`, in seq order.
    pub async fn entries_after(&self, after: u64, limit: u32) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// Entries `first..=last`, in seq order.
    pub async fn entries_between(&self, first: u64, last: u64) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq"
        ))
        .bind(first as i64)
        .bind(last as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }

    /// Lowest and highest seq of the entries whose time is in `[from_ms, to_ms]`.
    pub async fn seq_range_in_time(&self, from_ms: i64, to_ms: i64) -> Result<Option<(u64, u64)>> {
        let r = sqlx::query(
            "SELECT MIN(seq), MAX(seq) FROM audit_entries WHERE time_ms >= $1 AND time_ms <= $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_one(&self.pool)
        .await?;
        let (lo, hi): (Option<i64>, Option<i64>) = (r.get(0), r.get(1));
        Ok(lo.zip(hi).map(|(a, b)| (a.max(0) as u64, b.max(0) as u64)))
    }

    pub async fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let rows = sqlx::query(
            "SELECT n, count, head_hash, time_ms, signature FROM audit_checkpoints ORDER BY n",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| Checkpoint {
                n: r.get::<i64, _>(0).max(0) as u64,
                count: r.get::<i64, _>(1).max(0) as u64,
                head_hash: r.get(2),
                time_ms: r.get(3),
                signature: r.get(4),
            })
            .collect())
    }

    /// The first checkpoint whose count is at least `seq` (it signs entry `seq`).
    pub async fn checkpoint_covering(&self, seq: u64) -> Result<Option<Checkpoint>> {
        let row = sqlx::query(
            "SELECT n, count, head_hash, time_ms, signature FROM audit_checkpoints \
             WHERE count >= $1 ORDER BY n LIMIT 1",
        )
        .bind(seq as i64)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| Checkpoint {
            n: r.get::<i64, _>(0).max(0) as u64,
            count: r.get::<i64, _>(1).max(0) as u64,
            head_hash: r.get(2),
            time_ms: r.get(3),
            signature: r.get(4),
        }))
    }

    /// Entries matching a staff query, in seq order.
    pub async fn query(&self, f: &AuditFilter) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq > $1 \
             AND ($2 IS NULL OR visit_id = $3) AND ($4 IS NULL OR lawyer_id = $5) \
             AND ($6 IS NULL OR time_ms >= $7) AND ($8 IS NULL OR time_ms <= $9) ORDER BY seq LIMIT $10"
        ))
        .bind(f.after_seq as i64)
        .bind(f.visit.map(|v| v.0))
        .bind(f.visit.map(|v| v.0))
        .bind(f.lawyer.map(|l| l.0))
        .bind(f.lawyer.map(|l| l.0))
        .bind(f.from_ms)
        .bind(f.from_ms)
        .bind(f.to_ms)
        .bind(f.to_ms)
        .bind(f.limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(entry_from_row).collect())
    }
}
