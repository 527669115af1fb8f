//! The only module that sees SQL (docs/DESIGN.md invariant 7).
//!
//! Two backends behind one [`Store`] (docs/DESIGN.md "The store's two backends"):
//!
//! - SQLite, embedded under the data dir, the default (`<data-dir>/confer.db`, WAL,
//!   `synchronous=FULL`, foreign keys on), migrations in `migrations/`;
//! - PostgreSQL when `[store] url = "postgres://…"` (several confer nodes can share it),
//!   migrations in `migrations/postgres/`, kept in step with the SQLite set by
//!   `tests/store_schema.rs`.
//!
//! Both go through `sqlx::Any`, so every store function has one body. Statements are
//! portable SQL with integer UTC milliseconds and `$n` parameters (SQLite reads `$n` as
//! the n-th parameter too); new ids come back with `RETURNING id`. Where the dialects
//! differ, the two variants sit side by side in the same function, chosen by
//! [`Backend`].
//!
//! This module does not decide anything: it stores and returns rows. It never stores a
//! password or a session token in clear (only argon2id hashes and SHA-256 digests).

pub mod audit;
pub mod companions;
pub mod documents;
pub mod licence;
pub mod nodes;
pub mod oversight;
pub mod refusal;
pub mod reports;
pub mod resume;
pub mod revocation;
pub mod room;
pub mod schedule;
pub mod schema;
pub mod staff;
pub mod verification;

#[cfg(test)]
#[path = "../../tests/support/pg.rs"]
pub(crate) mod test_pg;
#[cfg(test)]
pub(crate) mod testing;

use crate::ids::{AdminId, BoothId, CaseId, FacilityId, LawyerId, VisitId};
use crate::model::visit::Room;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Executor, Row};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error("{0} does not exist")]
    NotFound(&'static str),
    #[error("store.url {0}: only postgres:// (or postgresql://) URLs are supported; leave it out for the embedded SQLite database")]
    BadUrl(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL only: connections that hold cluster-wide locks ([`ClusterLock`]), apart
    /// from `pool` so that held locks can never starve the queries made under them.
    locks: Option<AnyPool>,
}

/// A lock held across the cluster (a PostgreSQL session advisory lock on a connection of its
/// own); released when dropped. With SQLite (one node) there is none to take.
pub struct ClusterLock {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Any>>,
    key: i64,
}

impl Drop for ClusterLock {
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        let key = self.key;
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
                        .bind(key)
                        .execute(&mut *conn)
                        .await;
                    if unlocked.is_err() {
                        // Closing the session releases its locks.
                        drop(conn.detach());
                    }
                });
            }
            Err(_) => drop(conn.detach()),
        }
    }
}

/// The advisory-lock key of a lock name: the first 8 bytes of its SHA-256.
fn lock_key(name: &str) -> i64 {
    let digest = ring::digest::digest(&ring::digest::SHA256, name.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&digest.as_ref()[..8]);
    i64::from_be_bytes(b)
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A URL fit for logs: the password (if any) replaced by `***`.
pub fn redacted_url(url: &str) -> String {
    crate::redact::database_url(url)
}

/// The `sqlx::Any` drivers (SQLite and PostgreSQL), installed once per process.
fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// Connect options for an SQLite file through `sqlx::Any` (the pragmas are set per
/// connection by [`sqlite_pragmas`]).
pub(crate) fn sqlite_any_options(
    path: &Path,
    create: bool,
    read_only: bool,
) -> Result<AnyConnectOptions> {
    install_drivers();
    let url = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(create)
        .read_only(read_only)
        .to_url_lossy();
    Ok(AnyConnectOptions::from_url(&url)?)
}

/// How long an idle SQLite connection stays open (beyond the one kept).
pub(crate) const SQLITE_IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a SQLite connection is used before it is closed, whether idle or not. sqlx hands
/// out the longest-idle connection first, so a trickle of queries (the samplers, leases and
/// beats, a query every second or so) keeps every open connection from ever idling
/// [`SQLITE_IDLE_TIMEOUT`]; this retires them anyway, and only as many as are needed open
/// again.
pub(crate) const SQLITE_MAX_LIFETIME: Duration = Duration::from_secs(60);

/// A SQLite pool of at most `max` connections. A busy hour opens all of them, each with its
/// own thread and page cache; once it is over they close (one stays) and their memory goes
/// back with the next trim (`memory::run`).
pub(crate) fn sqlite_pool_options(max: u32) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .min_connections(1)
        .idle_timeout(SQLITE_IDLE_TIMEOUT)
        .max_lifetime(SQLITE_MAX_LIFETIME)
}

/// Each SQLite connection's page cache, in KiB (SQLite's default is 2000). In WAL mode a
/// connection drops its whole cache whenever another connection has written since its last
/// read, and here one writes every second or so (audit, samplers, leases): a large cache is
/// refilled more than it is reused, and every open connection would keep up to its size
/// after the busy hour that opened it. The pages stay in the kernel's file cache either way.
pub(crate) const SQLITE_CACHE_KIB: u32 = 512;

/// WAL, `synchronous=FULL`, foreign keys on, a 5 s busy timeout, a
/// [`SQLITE_CACHE_KIB`] page cache: for every SQLite connection.
pub(crate) async fn sqlite_pragmas(
    conn: &mut sqlx::AnyConnection,
    read_only: bool,
) -> sqlx::Result<()> {
    if !read_only {
        conn.execute("PRAGMA journal_mode = WAL").await?;
    }
    conn.execute("PRAGMA synchronous = FULL").await?;
    conn.execute("PRAGMA foreign_keys = ON").await?;
    conn.execute("PRAGMA busy_timeout = 5000").await?;
    // A negative cache_size is in KiB (a positive one would be in pages).
    let cache = format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}");
    conn.execute(cache.as_str()).await?;
    Ok(())
}

/// A pool on a PostgreSQL URL.
pub(crate) async fn postgres_pool(url: &str, max: u32) -> Result<AnyPool> {
    if !is_postgres_url(url) {
        return Err(StoreError::BadUrl(redacted_url(url)));
    }
    install_drivers();
    Ok(AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?)
}

/// What kind of account a session belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Lawyer,
    Admin,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            SessionKind::Lawyer => "lawyer",
            SessionKind::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone)]
pub struct BoothRow {
    pub id: BoothId,
    pub facility: FacilityId,
    pub facility_name: String,
    pub label: String,
}

#[derive(Debug, Clone)]
pub struct AccountRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct VisitRow {
    pub id: VisitId,
    pub lawyer: LawyerId,
    pub booth: BoothId,
    pub booth_label: String,
    pub facility: FacilityId,
    pub facility_name: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub end_reason: Option<String>,
    /// The case the visit is about (`None` only for rows made before cases existed).
    pub case: Option<CaseId>,
    /// Assistants / interpreters the visit's lawyer invited (R-VERIFY-4: rows made by
    /// anyone else are not read).
    pub companions: Vec<LawyerId>,
    /// The room's kind, consent and attestation (R-PRIV-2), as of this read.
    pub room: Room,
    /// The remote police-station booth the lawyer joins from (R-REMOTE-1), if any.
    pub lawyer_booth: Option<BoothId>,
}

#[derive(Debug, Clone)]
pub struct NewVisit {
    pub lawyer: LawyerId,
    pub booth: BoothId,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Option<AdminId>,
    /// The case the visit is about.
    pub case: Option<CaseId>,
    /// The lawyer consented to a borrowed interrogation room (R-PRIV-2).
    pub room_consent: bool,
    /// A remote police-station booth as the lawyer's side (R-REMOTE-1).
    pub lawyer_booth: Option<BoothId>,
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_ms(v: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(v)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

const VISIT_SELECT: &str = "SELECT v.id, v.lawyer_id, v.booth_id, b.label, b.facility_id, f.name, \
     v.starts_at, v.ends_at, v.ended_at, v.end_reason, v.case_id, \
     (SELECT string_agg(CAST(c.account_id AS TEXT), ',') FROM visit_companions c WHERE c.visit_id = v.id AND c.invited_by = v.lawyer_id), \
     b.kind, v.room_consent, CASE WHEN EXISTS (SELECT 1 FROM room_attestations a WHERE a.visit_id = v.id) THEN 1 ELSE 0 END, \
     v.lawyer_booth_id \
     FROM visits v JOIN booths b ON b.id = v.booth_id JOIN facilities f ON f.id = b.facility_id";

fn visit_from_row(r: &sqlx::any::AnyRow) -> VisitRow {
    VisitRow {
        id: VisitId(r.get(0)),
        lawyer: LawyerId(r.get(1)),
        booth: BoothId(r.get(2)),
        booth_label: r.get(3),
        facility: FacilityId(r.get(4)),
        facility_name: r.get(5),
        starts_at: from_ms(r.get(6)),
        ends_at: from_ms(r.get(7)),
        ended_at: r.get::<Option<i64>, _>(8).map(from_ms),
        end_reason: r.get(9),
        case: r.get::<Option<i64>, _>(10).map(CaseId),
        companions: r
            .get::<Option<String>, _>(11)
            .unwrap_or_default()
            .split(',')
            .filter_map(|id| id.trim().parse().ok())
            .map(LawyerId)
            .collect(),
        room: if r.get::<String, _>(12) == "interrogation_room" {
            Room::Borrowed {
                lawyer_consent: r.get::<i64, _>(13) != 0,
                equipment_off_attested: r.get::<i64, _>(14) != 0,
            }
        } else {
            Room::Ordinary
        },
        lawyer_booth: r.get::<Option<String>, _>(15).map(BoothId),
    }
}

fn account_from_row(r: &sqlx::any::AnyRow) -> AccountRow {
    AccountRow {
        id: r.get(0),
        username: r.get(1),
        display_name: r.get(2),
        password_hash: r.get(3),
    }
}

/// The new row's id, or `Conflict(what)` when a unique constraint refused it.
fn inserted_id(
    r: std::result::Result<sqlx::any::AnyRow, sqlx::Error>,
    what: &'static str,
) -> Result<i64> {
    match r {
        Ok(row) => Ok(row.try_get(0)?),
        Err(e) if unique_violation(&e) => Err(StoreError::Conflict(what)),
        Err(e) => Err(e.into()),
    }
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Open (creating if needed) `<data_dir>/confer.db` and apply migrations.
    pub async fn open(data_dir: &Path) -> Result<Store> {
        let opts = sqlite_any_options(&data_dir.join("confer.db"), true, false)?;
        let pool = sqlite_pool_options(8)
            .after_connect(|conn, _| Box::pin(async move { sqlite_pragmas(conn, false).await }))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Store {
            pool,
            backend: Backend::Sqlite,
            locks: None,
        })
    }

    /// Connect to the PostgreSQL database at `url` and apply its migrations (several
    /// nodes may do this at once: sqlx serialises migrations with an advisory lock).
    pub async fn connect(url: &str) -> Result<Store> {
        let pool = postgres_pool(url, 16).await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        let locks = postgres_pool(url, 8).await?;
        Ok(Store {
            pool,
            backend: Backend::Postgres,
            locks: Some(locks),
        })
    }

    /// The configured store: PostgreSQL at `url` when given, else SQLite under `data_dir`.
    pub async fn open_configured(data_dir: &Path, url: Option<&str>) -> Result<Store> {
        match url {
            Some(url) => Store::connect(url).await,
            None => Store::open(data_dir).await,
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Wait for the cluster-wide lock `name` and hold it until the guard is dropped; `None`
    /// on SQLite (one node: the caller's own in-process lock is the whole story).
    pub async fn cluster_lock(&self, name: &str) -> Result<Option<ClusterLock>> {
        let Some(locks) = &self.locks else {
            return Ok(None);
        };
        let key = lock_key(name);
        let mut conn = locks.acquire().await?;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *conn)
            .await?;
        Ok(Some(ClusterLock {
            conn: Some(conn),
            key,
        }))
    }

    /// What the migrations built (tests/store_schema.rs compares the two backends).
    pub async fn schema(&self) -> Result<schema::SchemaShape> {
        Ok(schema::shape(&self.pool, self.backend == Backend::Postgres).await?)
    }

    /// Flush and close every connection (graceful shutdown).
    pub async fn close(&self) {
        if let Some(locks) = &self.locks {
            locks.close().await;
        }
        self.pool.close().await;
    }

    /// A cheap round trip, for readiness.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // --- facilities and booths ---

    pub async fn upsert_facility(&self, id: &FacilityId, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO facilities (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name")
            .bind(id.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn upsert_booth(
        &self,
        id: &BoothId,
        facility: &FacilityId,
        label: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO booths (id, facility_id, label) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET facility_id = excluded.facility_id, label = excluded.label",
        )
        .bind(id.as_str())
        .bind(facility.as_str())
        .bind(label)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn booth(&self, id: &BoothId) -> Result<Option<BoothRow>> {
        let row = sqlx::query(
            "SELECT b.id, b.facility_id, f.name, b.label FROM booths b JOIN facilities f ON f.id = b.facility_id WHERE b.id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| BoothRow {
            id: BoothId(r.get(0)),
            facility: FacilityId(r.get(1)),
            facility_name: r.get(2),
            label: r.get(3),
        }))
    }

    pub async fn booths(&self) -> Result<Vec<BoothRow>> {
        let rows = sqlx::query(
            "SELECT b.id, b.facility_id, f.name, b.label FROM booths b JOIN facilities f ON f.id = b.facility_id ORDER BY b.id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| BoothRow {
                id: BoothId(r.get(0)),
                facility: FacilityId(r.get(1)),
                facility_name: r.get(2),
                label: r.get(3),
            })
            .collect())
    }

    // --- accounts ---

    pub async fn insert_lawyer(
        &self,
        username: &str,
        display_name: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<LawyerId> {
        let r = sqlx::query("INSERT INTO lawyers (username, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(username)
            .bind(display_name)
            .bind(password_hash)
            .bind(ms(now))
            .fetch_one(&self.pool)
            .await;
        inserted_id(r, "a lawyer account with this username").map(LawyerId)
    }

    pub async fn lawyer_by_username(&self, username: &str) -> Result<Option<AccountRow>> {
        let row = sqlx::query(
            "SELECT id, username, display_name, password_hash FROM lawyers WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(account_from_row))
    }

    pub async fn lawyer(&self, id: LawyerId) -> Result<Option<AccountRow>> {
        let row = sqlx::query(
            "SELECT id, username, display_name, password_hash FROM lawyers WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(account_from_row))
    }

    pub async fn lawyers(&self) -> Result<Vec<AccountRow>> {
        let rows = sqlx::query("SELECT id, username, display_name, '' FROM lawyers ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(account_from_row).collect())
    }

    pub async fn insert_admin(
        &self,
        username: &str,
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<AdminId> {
        let r = sqlx::query(
            "INSERT INTO admins (username, password_hash, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await;
        inserted_id(r, "an admin account with this username").map(AdminId)
    }

    pub async fn admin_by_username(&self, username: &str) -> Result<Option<AccountRow>> {
        let row = sqlx::query(
            "SELECT id, username, username, password_hash FROM admins WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(account_from_row))
    }

    pub async fn count_admins(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM admins")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    // --- sessions ---

    pub async fn insert_session(
        &self,
        token_hash: &[u8],
        kind: SessionKind,
        account_id: i64,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, kind, account_id, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(token_hash)
        .bind(kind.as_str())
        .bind(account_id)
        .bind(ms(now))
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The account of a live session, refreshing its idle timer. `None` when the session
    /// is unknown, of another kind, past its hard expiry, or idle since before `idle_cutoff`.
    pub async fn touch_session(
        &self,
        token_hash: &[u8],
        kind: SessionKind,
        now: DateTime<Utc>,
        idle_cutoff: DateTime<Utc>,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "UPDATE sessions SET last_seen_at = $1 \
             WHERE token_hash = $2 AND kind = $3 AND expires_at > $4 AND last_seen_at > $5 RETURNING account_id",
        )
        .bind(ms(now))
        .bind(token_hash)
        .bind(kind.as_str())
        .bind(ms(now))
        .bind(ms(idle_cutoff))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // --- visits ---

    pub async fn insert_visit(&self, v: &NewVisit, now: DateTime<Utc>) -> Result<VisitId> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query(
            "INSERT INTO visits (lawyer_id, booth_id, starts_at, ends_at, created_by, created_at, case_id, room_consent, \
             lawyer_booth_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(v.lawyer.0)
        .bind(v.booth.as_str())
        .bind(ms(v.starts_at))
        .bind(ms(v.ends_at))
        .bind(v.created_by.map(|a| a.0))
        .bind(ms(now))
        .bind(v.case.map(|c| c.0))
        .bind(i64::from(v.room_consent))
        .bind(v.lawyer_booth.as_ref().map(BoothId::as_str))
        .fetch_one(&mut *tx)
        .await;
        let id = match r {
            Ok(done) => VisitId(done.get::<i64, _>(0)),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                return Err(StoreError::NotFound("the lawyer, booth or case"))
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(id)
    }

    pub async fn visit(&self, id: VisitId) -> Result<Option<VisitRow>> {
        let row = sqlx::query(&format!("{VISIT_SELECT} WHERE v.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(visit_from_row))
    }

    /// A lawyer's visits that have not ended more than a day ago, earliest first.
    pub async fn visits_for_lawyer(
        &self,
        lawyer: LawyerId,
        now: DateTime<Utc>,
    ) -> Result<Vec<VisitRow>> {
        let since = ms(now - chrono::Duration::days(1));
        let rows = sqlx::query(&format!(
            "{VISIT_SELECT} WHERE (v.lawyer_id = $1 OR v.id IN (SELECT c.visit_id FROM visit_companions c WHERE c.account_id = $2 AND c.invited_by = v.lawyer_id)) \
             AND v.ends_at > $3 ORDER BY v.starts_at, v.id"
        ))
        .bind(lawyer.0)
        .bind(lawyer.0)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(visit_from_row).collect())
    }

    /// The booth's visit whose slot covers `now` and which has not ended, if any.
    pub async fn current_visit_for_booth(
        &self,
        booth: &BoothId,
        now: DateTime<Utc>,
    ) -> Result<Option<VisitRow>> {
        let row = sqlx::query(&format!(
            "{VISIT_SELECT} WHERE v.booth_id = $1 AND v.starts_at <= $2 AND v.ends_at > $3 AND v.ended_at IS NULL \
             ORDER BY v.starts_at LIMIT 1"
        ))
        .bind(booth.as_str())
        .bind(ms(now))
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(visit_from_row))
    }

    /// The booth's next visit that has not ended (current or upcoming), if any.
    pub async fn next_visit_for_booth(
        &self,
        booth: &BoothId,
        now: DateTime<Utc>,
    ) -> Result<Option<VisitRow>> {
        let row = sqlx::query(&format!(
            "{VISIT_SELECT} WHERE v.booth_id = $1 AND v.ends_at > $2 AND v.ended_at IS NULL ORDER BY v.starts_at LIMIT 1"
        ))
        .bind(booth.as_str())
        .bind(ms(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(visit_from_row))
    }

    pub async fn visits(&self) -> Result<Vec<VisitRow>> {
        let rows = sqlx::query(&format!(
            "{VISIT_SELECT} ORDER BY v.starts_at DESC, v.id DESC LIMIT 500"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(visit_from_row).collect())
    }

    /// Record that a visit ended for good. Returns false if it had already ended.
    pub async fn mark_visit_ended(
        &self,
        id: VisitId,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE visits SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
        )
        .bind(ms(now))
        .bind(reason)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // --- join tokens ---

    /// Record the use of a join token. Returns false when it had been used before (a replay).
    pub async fn consume_join_token(
        &self,
        jti: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<bool> {
        // Forget ids of tokens that can no longer verify anyway; they are useless to replay.
        sqlx::query("DELETE FROM used_join_tokens WHERE expires_at < $1")
            .bind(ms(now) - 60_000)
            .execute(&self.pool)
            .await?;
        let r = sqlx::query(
            "INSERT INTO used_join_tokens (jti, used_at, expires_at) VALUES ($1, $2, $3)",
        )
        .bind(jti)
        .bind(ms(now))
        .bind(ms(expires_at))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(true),
            Err(e) if unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// After a busy hour the SQLite pool lets its idle connections go (each a thread and a
    /// page cache: ~1 MiB) and keeps one, so memory goes back after visits end.
    #[tokio::test]
    async fn the_sqlite_pool_closes_idle_connections() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        let opts = s.pool.options();
        assert_eq!(opts.get_idle_timeout(), Some(SQLITE_IDLE_TIMEOUT));
        assert_eq!(opts.get_max_lifetime(), Some(SQLITE_MAX_LIFETIME));
        assert_eq!(opts.get_min_connections(), 1);
        assert!(opts.get_max_connections() > 1);
        s.close().await;
    }

    #[tokio::test]
    async fn every_sqlite_connection_has_the_small_page_cache() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).await.unwrap();
        // Two connections at once: the second is opened by the pool, not reused.
        let mut a = s.pool.acquire().await.unwrap();
        let mut b = s.pool.acquire().await.unwrap();
        for conn in [&mut a, &mut b] {
            let (kib,): (i64,) = sqlx::query_as("PRAGMA cache_size")
                .fetch_one(&mut **conn)
                .await
                .unwrap();
            assert_eq!(kib, -i64::from(SQLITE_CACHE_KIB));
        }
        drop((a, b));
        s.close().await;
    }

    #[tokio::test]
    async fn a_join_token_id_is_accepted_once() {
        for (_backing, s) in testing::stores().await {
            let now = Utc::now();
            let exp = now + chrono::Duration::seconds(60);
            assert!(s.consume_join_token("abc", now, exp).await.unwrap());
            assert!(!s.consume_join_token("abc", now, exp).await.unwrap());
        }
    }

    #[tokio::test]
    async fn used_token_ids_survive_a_restart() {
        let now = Utc::now();
        let exp = now + chrono::Duration::seconds(60);
        for b in testing::backings().await {
            {
                let s = b.open().await;
                assert!(s.consume_join_token("t1", now, exp).await.unwrap());
                s.close().await;
            }
            let s = b.open().await;
            assert!(
                !s.consume_join_token("t1", now, exp).await.unwrap(),
                "{}",
                b.name()
            );
        }
    }

    #[tokio::test]
    async fn visits_round_trip_and_end_once() {
        for (_backing, s) in testing::stores().await {
            let now = Utc::now();
            s.upsert_facility(&FacilityId("f".into()), "Facility")
                .await
                .unwrap();
            s.upsert_booth(&BoothId("b".into()), &FacilityId("f".into()), "Booth 1")
                .await
                .unwrap();
            let l = s.insert_lawyer("amy", "Amy", "hash", now).await.unwrap();
            assert!(matches!(
                s.insert_lawyer("amy", "Amy", "hash", now).await,
                Err(StoreError::Conflict(_))
            ));
            let v = NewVisit {
                lawyer: l,
                booth: BoothId("b".into()),
                starts_at: now - chrono::Duration::minutes(1),
                ends_at: now + chrono::Duration::minutes(30),
                created_by: None,
                case: None,
                room_consent: false,
                lawyer_booth: None,
            };
            let id = s.insert_visit(&v, now).await.unwrap();
            let row = s.visit(id).await.unwrap().unwrap();
            assert_eq!(row.lawyer, l);
            assert_eq!(row.facility_name, "Facility");
            assert_eq!(
                s.current_visit_for_booth(&BoothId("b".into()), now)
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
                id
            );
            assert!(s.mark_visit_ended(id, now, "slot_over").await.unwrap());
            assert!(!s.mark_visit_ended(id, now, "slot_over").await.unwrap());
            assert!(s.visit(id).await.unwrap().unwrap().ended_at.is_some());
            assert!(s
                .current_visit_for_booth(&BoothId("b".into()), now)
                .await
                .unwrap()
                .is_none());
            let bad = NewVisit {
                booth: BoothId("nope".into()),
                ..v
            };
            assert!(matches!(
                s.insert_visit(&bad, now).await,
                Err(StoreError::NotFound(_))
            ));
        }
    }

    #[tokio::test]
    async fn sessions_expire_when_idle() {
        for (_backing, s) in testing::stores().await {
            let now = Utc::now();
            let h = [7u8; 32];
            s.insert_session(
                &h,
                SessionKind::Lawyer,
                1,
                now,
                now + chrono::Duration::hours(12),
            )
            .await
            .unwrap();
            let idle = chrono::Duration::minutes(30);
            assert_eq!(
                s.touch_session(&h, SessionKind::Lawyer, now, now - idle)
                    .await
                    .unwrap(),
                Some(1)
            );
            assert_eq!(
                s.touch_session(&h, SessionKind::Admin, now, now - idle)
                    .await
                    .unwrap(),
                None,
                "kind is checked"
            );
            let later = now + chrono::Duration::minutes(31);
            assert_eq!(
                s.touch_session(&h, SessionKind::Lawyer, later, later - idle)
                    .await
                    .unwrap(),
                None
            );
        }
    }
}
