//! Staff accounts with their role and TOTP second factor (migration 0005).
//!
//! Owns the SQL for [`crate::admin::roles`], [`crate::admin::login`] and
//! [`crate::admin::staff`]: creating a staff account, reading it back with its role, the
//! sealed TOTP secret and the replay guard (`totp_last_step`).
//!
//! Does not: decide who may do what (that is `admin::roles`), or see a TOTP secret in
//! clear (it stores what `admin::totp` sealed).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{inserted_id, ms, Result, Store};
use crate::ids::AdminId;
use crate::model::staff::StaffRole;

/// A staff account as sign-in needs it.
#[derive(Debug, Clone)]
pub struct StaffRow {
    pub id: AdminId,
    pub username: String,
    pub password_hash: String,
    pub role: StaffRole,
    /// The sealed TOTP secret; `None` when the account has no second factor yet.
    pub totp_sealed: Option<String>,
}

/// A staff account as a list shows it (no hashes, no secrets).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StaffSummary {
    pub id: AdminId,
    pub username: String,
    pub role: StaffRole,
    pub second_factor: bool,
}

fn role_of(text: &str) -> Result<StaffRole> {
    StaffRole::parse(text).ok_or_else(|| {
        sqlx::Error::Decode(format!("admins holds an unknown role {text:?}").into()).into()
    })
}

impl Store {
    /// Create a staff account with its role and sealed TOTP secret.
    pub async fn insert_staff(
        &self,
        username: &str,
        password_hash: &str,
        role: StaffRole,
        totp_sealed: &str,
        created_by: Option<AdminId>,
        now: DateTime<Utc>,
    ) -> Result<AdminId> {
        let r = sqlx::query(
            "INSERT INTO admins (username, password_hash, created_at, role, totp_sealed, created_by) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(username)
        .bind(password_hash)
        .bind(ms(now))
        .bind(role.as_str())
        .bind(totp_sealed)
        .bind(created_by.map(|a| a.0))
        .fetch_one(&self.pool)
        .await;
        inserted_id(r, "a staff account with this username").map(AdminId)
    }

    /// Enrol (or re-enrol) an account's second factor; the replay guard starts afresh.
    pub async fn set_staff_totp(&self, id: AdminId, totp_sealed: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE admins SET totp_sealed = $1, totp_last_step = 0 WHERE id = $2")
                .bind(totp_sealed)
                .bind(id.0)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn staff_by_username(&self, username: &str) -> Result<Option<StaffRow>> {
        let row = sqlx::query(
            "SELECT id, username, password_hash, role, totp_sealed FROM admins WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StaffRow {
                id: AdminId(r.get(0)),
                username: r.get(1),
                password_hash: r.get(2),
                role: role_of(r.get::<&str, _>(3))?,
                totp_sealed: r.get(4),
            })
        })
        .transpose()
    }

    /// The role of a staff account, `None` if it does not exist.
    pub async fn staff_role(&self, id: AdminId) -> Result<Option<StaffRole>> {
        let row = sqlx::query("SELECT role FROM admins WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| role_of(r.get::<&str, _>(0))).transpose()
    }

    pub async fn staff_list(&self) -> Result<Vec<StaffSummary>> {
        let rows = sqlx::query(
            "SELECT id, username, role, CASE WHEN totp_sealed IS NULL THEN 0 ELSE 1 END FROM admins ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StaffSummary {
                    id: AdminId(r.get(0)),
                    username: r.get(1),
                    role: role_of(r.get::<&str, _>(2))?,
                    second_factor: r.get::<i64, _>(3) != 0,
                })
            })
            .collect()
    }

    /// Accounts whose creation is not yet in the audit log: `(id, role)`.
    pub async fn staff_creation_unaudited(&self) -> Result<Vec<(AdminId, StaffRole)>> {
        let rows =
            sqlx::query("SELECT id, role FROM admins WHERE creation_audited = 0 ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((AdminId(r.get(0)), role_of(r.get::<&str, _>(1))?)))
            .collect()
    }

    pub async fn mark_staff_creation_audited(&self, id: AdminId) -> Result<()> {
        sqlx::query("UPDATE admins SET creation_audited = 1 WHERE id = $1")
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Accept a TOTP code of `step` for the account, once: false when a code of this step
    /// or a later one was already accepted (a replay, RFC 6238 section 5.2). Atomic, so
    /// two sign-ins racing with one code cannot both pass.
    pub async fn accept_totp_step(&self, id: AdminId, step: u64) -> Result<bool> {
        let step = i64::try_from(step).unwrap_or(i64::MAX);
        let done = sqlx::query(
            "UPDATE admins SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $3",
        )
        .bind(step)
        .bind(id.0)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
