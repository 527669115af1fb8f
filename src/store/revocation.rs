//! The SQL behind booth certificate revocation (migration 0013, R-VERIFY-4): the deny list
//! of booth client certificates, by serial and/or SHA-256.
//!
//! Does not: decide what a revoked certificate means for a join or a live visit (that is
//! `auth::revocation` and `visit::revocation`), or read a CRL file.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_ms, ms, Result, Store};
use crate::ids::{AdminId, BoothId};

/// A certificate on the deny list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub id: i64,
    pub booth: BoothId,
    /// Lower-case hex without leading zeros.
    pub serial: Option<String>,
    /// Lower-case hex SHA-256 of the certificate (DER).
    pub certificate_sha256: Option<String>,
    pub revoked_at: DateTime<Utc>,
    /// `command_line` or `staff`.
    pub revoked_by: String,
    pub admin: Option<AdminId>,
}

/// What to put on the deny list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRevocation {
    pub booth: BoothId,
    pub serial: Option<String>,
    pub certificate_sha256: Option<String>,
    pub revoked_by: &'static str,
    pub admin: Option<AdminId>,
    /// Whether the caller records it in the audit log itself (the server does; the command
    /// line leaves it to the server).
    pub audited: bool,
}

fn row_to_revocation(r: &sqlx::any::AnyRow) -> Revocation {
    Revocation {
        id: r.get(0),
        booth: BoothId(r.get(1)),
        serial: r.get(2),
        certificate_sha256: r.get(3),
        revoked_at: from_ms(r.get(4)),
        revoked_by: r.get(5),
        admin: r.get::<Option<i64>, _>(6).map(AdminId),
    }
}

const COLUMNS: &str = "id, booth_id, serial, certificate_sha256, revoked_at, revoked_by, admin_id";

impl Store {
    /// Put a booth certificate on the deny list; returns the row id.
    pub async fn revoke_booth_certificate(
        &self,
        new: &NewRevocation,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let id: i64 = sqlx::query(
            "INSERT INTO booth_revocations \
             (booth_id, serial, certificate_sha256, revoked_at, revoked_by, admin_id, audited) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(&new.booth.0)
        .bind(&new.serial)
        .bind(&new.certificate_sha256)
        .bind(ms(now))
        .bind(new.revoked_by)
        .bind(new.admin.map(|a| a.0))
        .bind(i64::from(new.audited))
        .fetch_one(&self.pool)
        .await?
        .get(0);
        Ok(id)
    }

    /// Whether a certificate with this serial or SHA-256 is on the deny list.
    pub async fn booth_certificate_revoked(&self, serial: &str, sha256: &str) -> Result<bool> {
        let hit: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM booth_revocations WHERE serial = $1 OR certificate_sha256 = $2 LIMIT 1",
        )
        .bind(serial)
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?;
        Ok(hit.is_some())
    }

    /// Every revocation, oldest first.
    pub async fn booth_revocations(&self) -> Result<Vec<Revocation>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM booth_revocations ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_to_revocation).collect())
    }

    /// Revocations not yet in the audit log (written by the command line).
    pub async fn unaudited_booth_revocations(&self) -> Result<Vec<Revocation>> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM booth_revocations WHERE audited = 0 ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_to_revocation).collect())
    }

    /// Mark a revocation as recorded in the audit log.
    pub async fn mark_booth_revocation_audited(&self, id: i64) -> Result<()> {
        sqlx::query("UPDATE booth_revocations SET audited = 1 WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
