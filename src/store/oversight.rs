//! Violations, the report outbox, findings and complaints (migration 0008,
//! R-CONDUCT-1..2, R-COMPLAIN-1).
//!
//! Owns the SQL for [`crate::admin::violations`], [`crate::admin::outbox`] and
//! [`crate::complaints`]. The outbox is a table: a delivery row stays pending until the
//! worker marks it delivered, so a restart loses nothing.
//!
//! Does not: decide categories, recipients or retry timing (the callers do), or send
//! anything.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{from_ms, ms, Result, Store, StoreError};
use crate::ids::{AdminId, LawyerId, VisitId};

#[derive(Debug, Clone, Serialize)]
pub struct ViolationRow {
    pub id: i64,
    pub visit: VisitId,
    pub lawyer: LawyerId,
    pub category: String,
    pub reason: String,
    pub stopped_by: AdminId,
    pub stopped_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryRow {
    pub violation: i64,
    pub recipient: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FindingRow {
    pub id: i64,
    pub violation: i64,
    pub source: String,
    pub text: String,
    pub recorded_by: AdminId,
    pub recorded_at: DateTime<Utc>,
}

/// What a violation report says about the lawyer (sent to the recipients only).
#[derive(Debug, Clone, Serialize)]
pub struct ReportedLawyer {
    pub id: LawyerId,
    pub name: String,
    pub licence_number: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplaintRow {
    pub id: i64,
    pub lawyer: LawyerId,
    pub visit: Option<VisitId>,
    pub about: String,
    pub text: String,
    pub status: String,
    pub filed_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ComplaintUpdateRow {
    pub id: i64,
    pub complaint: i64,
    pub kind: String,
    pub text: String,
    pub recorded_at: DateTime<Utc>,
}

fn violation_from(r: &sqlx::any::AnyRow) -> ViolationRow {
    ViolationRow {
        id: r.get(0),
        visit: VisitId(r.get(1)),
        lawyer: LawyerId(r.get(2)),
        category: r.get(3),
        reason: r.get(4),
        stopped_by: AdminId(r.get(5)),
        stopped_at: from_ms(r.get(6)),
    }
}

fn delivery_from(r: &sqlx::any::AnyRow) -> DeliveryRow {
    DeliveryRow {
        violation: r.get(0),
        recipient: r.get(1),
        attempts: r.get(2),
        next_attempt_at: from_ms(r.get(3)),
        last_error: r.get(4),
        delivered_at: r.get::<Option<i64>, _>(5).map(from_ms),
    }
}

fn complaint_from(r: &sqlx::any::AnyRow) -> ComplaintRow {
    ComplaintRow {
        id: r.get(0),
        lawyer: LawyerId(r.get(1)),
        visit: r.get::<Option<i64>, _>(2).map(VisitId),
        about: r.get(3),
        text: r.get(4),
        status: r.get(5),
        filed_at: from_ms(r.get(6)),
    }
}

const VIOLATION_SELECT: &str =
    "SELECT id, visit_id, lawyer_id, category, reason, stopped_by, stopped_at FROM violations";
const DELIVERY_SELECT: &str = "SELECT violation_id, recipient, attempts, next_attempt_at, last_error, delivered_at FROM violation_deliveries";
const COMPLAINT_SELECT: &str =
    "SELECT id, lawyer_id, visit_id, about, text, status, filed_at FROM complaints";

impl Store {
    // --- violations ---

    pub async fn insert_violation(
        &self,
        visit: VisitId,
        lawyer: LawyerId,
        category: &str,
        reason: &str,
        staff: AdminId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let done = sqlx::query(
            "INSERT INTO violations (visit_id, lawyer_id, category, reason, stopped_by, stopped_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(visit.0)
        .bind(lawyer.0)
        .bind(category)
        .bind(reason)
        .bind(staff.0)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(done.get::<i64, _>(0))
    }

    /// Remove a violation that never took effect (its audit entry could not be written)
    /// and has no deliveries yet.
    pub async fn discard_violation(&self, id: i64) -> Result<()> {
        sqlx::query(
            "DELETE FROM violations WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM violation_deliveries WHERE violation_id = $2)",
        )
        .bind(id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Queue the report of a violation to each recipient, due now.
    pub async fn enqueue_deliveries(
        &self,
        violation: i64,
        recipients: &[&str],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for r in recipients {
            sqlx::query(
                "INSERT INTO violation_deliveries (violation_id, recipient, next_attempt_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (violation_id, recipient) DO NOTHING",
            )
            .bind(violation)
            .bind(*r)
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn violation(&self, id: i64) -> Result<Option<ViolationRow>> {
        let row = sqlx::query(&format!("{VIOLATION_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(violation_from))
    }

    pub async fn violations(&self) -> Result<Vec<ViolationRow>> {
        let rows = sqlx::query(&format!("{VIOLATION_SELECT} ORDER BY id DESC LIMIT 500"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(violation_from).collect())
    }

    pub async fn deliveries_of(&self, violation: i64) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE violation_id = $1 ORDER BY recipient"
        ))
        .bind(violation)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(delivery_from).collect())
    }

    /// Pending deliveries due at `now`, oldest first.
    pub async fn due_deliveries(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<DeliveryRow>> {
        let rows = sqlx::query(&format!(
            "{DELIVERY_SELECT} WHERE delivered_at IS NULL AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at LIMIT $2"
        ))
        .bind(ms(now))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(delivery_from).collect())
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>> {
        let row = sqlx::query(
            "SELECT MIN(next_attempt_at) FROM violation_deliveries WHERE delivered_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get::<Option<i64>, _>(0).map(from_ms))
    }

    pub async fn mark_delivered(
        &self,
        violation: i64,
        recipient: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE violation_deliveries SET delivered_at = $1, attempts = attempts + 1, last_error = NULL \
             WHERE violation_id = $2 AND recipient = $3",
        )
        .bind(ms(now))
        .bind(violation)
        .bind(recipient)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn mark_delivery_failed(
        &self,
        violation: i64,
        recipient: &str,
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE violation_deliveries SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 \
             WHERE violation_id = $3 AND recipient = $4",
        )
        .bind(error)
        .bind(ms(next_attempt_at))
        .bind(violation)
        .bind(recipient)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Leave a delivery pending but look at it again later (its recipient has no URL).
    pub async fn postpone_delivery(
        &self,
        violation: i64,
        recipient: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE violation_deliveries SET next_attempt_at = $1, last_error = 'no webhook configured' \
             WHERE violation_id = $2 AND recipient = $3",
        )
        .bind(ms(next_attempt_at))
        .bind(violation)
        .bind(recipient)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn insert_finding(
        &self,
        violation: i64,
        source: &str,
        text: &str,
        staff: AdminId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO violation_findings (violation_id, source, text, recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(violation)
        .bind(source)
        .bind(text)
        .bind(staff.0)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok(done) => Ok(done.get::<i64, _>(0)),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("the violation"))
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn findings_of(&self, violation: i64) -> Result<Vec<FindingRow>> {
        let rows = sqlx::query(
            "SELECT id, violation_id, source, text, recorded_by, recorded_at FROM violation_findings \
             WHERE violation_id = $1 ORDER BY id",
        )
        .bind(violation)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| FindingRow {
                id: r.get(0),
                violation: r.get(1),
                source: r.get(2),
                text: r.get(3),
                recorded_by: AdminId(r.get(4)),
                recorded_at: from_ms(r.get(5)),
            })
            .collect())
    }

    /// The lawyer as a violation report names them.
    pub async fn reported_lawyer(&self, id: LawyerId) -> Result<Option<ReportedLawyer>> {
        let row = sqlx::query("SELECT id, display_name, licence_number FROM lawyers WHERE id = $1")
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| ReportedLawyer {
            id: LawyerId(r.get(0)),
            name: r.get(1),
            licence_number: r.get(2),
        }))
    }

    // --- complaints ---

    pub async fn insert_complaint(
        &self,
        lawyer: LawyerId,
        visit: Option<VisitId>,
        about: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let done = sqlx::query(
            "INSERT INTO complaints (lawyer_id, visit_id, about, text, filed_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(lawyer.0)
        .bind(visit.map(|v| v.0))
        .bind(about)
        .bind(text)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await?;
        Ok(done.get::<i64, _>(0))
    }

    /// Remove a complaint that was never recorded in the audit log (and has no updates).
    pub async fn discard_complaint(&self, id: i64) -> Result<()> {
        sqlx::query(
            "DELETE FROM complaints WHERE id = $1 \
             AND NOT EXISTS (SELECT 1 FROM complaint_updates WHERE complaint_id = $2)",
        )
        .bind(id)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn complaint(&self, id: i64) -> Result<Option<ComplaintRow>> {
        let row = sqlx::query(&format!("{COMPLAINT_SELECT} WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(complaint_from))
    }

    /// A lawyer's complaints (`Some`), or everyone's (`None`), newest first.
    pub async fn complaints(&self, lawyer: Option<LawyerId>) -> Result<Vec<ComplaintRow>> {
        let rows = match lawyer {
            Some(l) => {
                sqlx::query(&format!(
                    "{COMPLAINT_SELECT} WHERE lawyer_id = $1 ORDER BY id DESC LIMIT 500"
                ))
                .bind(l.0)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("{COMPLAINT_SELECT} ORDER BY id DESC LIMIT 500"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        Ok(rows.iter().map(complaint_from).collect())
    }

    /// Record progress or the outcome; the complaint becomes `in_progress` or `closed`.
    pub async fn insert_complaint_update(
        &self,
        complaint: i64,
        kind: &str,
        text: &str,
        staff: AdminId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let status = if kind == "outcome" {
            "closed"
        } else {
            "in_progress"
        };
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "INSERT INTO complaint_updates (complaint_id, kind, text, staff_id, recorded_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(complaint)
        .bind(kind)
        .bind(text)
        .bind(staff.0)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE complaints SET status = $1 WHERE id = $2")
            .bind(status)
            .bind(complaint)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.get::<i64, _>(0))
    }

    pub async fn complaint_updates(&self, complaint: i64) -> Result<Vec<ComplaintUpdateRow>> {
        let rows = sqlx::query(
            "SELECT id, complaint_id, kind, text, recorded_at FROM complaint_updates \
             WHERE complaint_id = $1 ORDER BY id",
        )
        .bind(complaint)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ComplaintUpdateRow {
                id: r.get(0),
                complaint: r.get(1),
                kind: r.get(2),
                text: r.get(3),
                recorded_at: from_ms(r.get(4)),
            })
            .collect())
    }
}
