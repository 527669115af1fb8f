//! The audit chain's SQL (docs/DESIGN.md invariant 7: only `store` sees SQL).
//!
//! The chain lives in its own SQLite file, `<data-dir>/audit.db` (WAL,
//! `synchronous=FULL`), with its own migrations (`migrations/audit/`). One connection
//! writes ([`AuditWriter`], owned by the audit writer task, which commits a whole group of
//! entries in one transaction: one fsync per group); readers ([`AuditReader`]) use a
//! separate pool, read-only when opened by `confer audit verify`/`export`.
//!
//! This module stores and returns rows; hashing, signing and checking live in `crate::audit`.

use super::{Result, StoreError};
use crate::ids::{AdminId, BoothId, LawyerId, VisitId};
use crate::model::audit::{Checkpoint, StoredEntry, Subjects};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// File name of the audit database under the data dir.
pub const AUDIT_DB: &str = "audit.db";

const ENTRY_COLUMNS: &str =
    "seq, time_ms, kind, actor, visit_id, lawyer_id, booth_id, staff_id, canonical, leaf_hash, prev_hash, hash";

/// The single writing connection.
pub struct AuditWriter {
    conn: SqliteConnection,
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

fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
}

impl AuditWriter {
    /// Open (creating and migrating) the audit database for writing.
    pub async fn open(path: &Path) -> Result<AuditWriter> {
        let mut conn =
            SqliteConnection::connect_with(&options(path).create_if_missing(true)).await?;
        sqlx::migrate!("./migrations/audit").run(&mut conn).await?;
        Ok(AuditWriter { conn })
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
        for e in entries {
            let seq = i64::try_from(e.seq)
                .map_err(|_| StoreError::Conflict("an audit entry with this sequence number"))?;
            sqlx::query(
                "INSERT INTO audit_entries (seq, time_ms, kind, actor, visit_id, lawyer_id, booth_id, staff_id, \
                 canonical, leaf_hash, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(seq)
            .bind(e.time_ms)
            .bind(&e.kind)
            .bind(&e.actor)
            .bind(e.subjects.visit.map(|v| v.0))
            .bind(e.subjects.lawyer.map(|l| l.0))
            .bind(e.subjects.booth.as_ref().map(|b| b.as_str()))
            .bind(e.subjects.staff.map(|a| a.0))
            .bind(&e.canonical)
            .bind(&e.leaf_hash)
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .execute(&mut *tx)
            .await?;
        }
        for c in checkpoints {
            sqlx::query("INSERT INTO audit_checkpoints (n, count, head_hash, time_ms, signature) VALUES (?, ?, ?, ?, ?)")
                .bind(c.n as i64)
                .bind(c.count as i64)
                .bind(&c.head_hash)
                .bind(c.time_ms)
                .bind(&c.signature)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

async fn head(conn: &mut SqliteConnection) -> Result<AuditHead> {
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
    pool: SqlitePool,
}

fn entry_from_row(r: &SqliteRow) -> StoredEntry {
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
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(options(path))
            .await?;
        Ok(AuditReader { pool })
    }

    /// Read-only access to an existing audit database (the server need not run).
    pub async fn open_read_only(path: &Path) -> Result<AuditReader> {
        if !path.exists() {
            return Err(StoreError::NotFound("the audit database"));
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .read_only(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(2)
            .connect_with(opts)
            .await?;
        Ok(AuditReader { pool })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Up to `limit` entries with `seq > after`, in seq order.
    pub async fn entries_after(&self, after: u64, limit: u32) -> Result<Vec<StoredEntry>> {
        let rows = sqlx::query(&format!(
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq > ? ORDER BY seq LIMIT ?"
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
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq >= ? AND seq <= ? ORDER BY seq"
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
            "SELECT MIN(seq), MAX(seq) FROM audit_entries WHERE time_ms >= ? AND time_ms <= ?",
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
             WHERE count >= ? ORDER BY n LIMIT 1",
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
            "SELECT {ENTRY_COLUMNS} FROM audit_entries WHERE seq > ? \
             AND (? IS NULL OR visit_id = ?) AND (? IS NULL OR lawyer_id = ?) \
             AND (? IS NULL OR time_ms >= ?) AND (? IS NULL OR time_ms <= ?) ORDER BY seq LIMIT ?"
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
