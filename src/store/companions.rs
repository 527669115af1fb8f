//! The SQL behind companions (migration 0012, R-VERIFY-4): which lawyer an assistant works
//! for, the investigating unit's structured approval of a companion for a case, and the
//! visit's lawyer's invitations.
//!
//! Does not: decide whether a companion is admitted (`policy`, with the live visit's "is the
//! lawyer present" from `visit::hub`), or check who may call (the routes do).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::verification::MemberKind;
use super::{ms, Result, Store, StoreError};
use crate::ids::{AdminId, CaseId, LawyerId, VisitId};

/// The investigating unit's approval of an assistant or interpreter for a case, as staff
/// record it from the unit's document.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub case: CaseId,
    pub account: LawyerId,
    /// The investigating unit that decided.
    pub unit: String,
    /// `YYYY-MM-DD`: the date of the unit's decision.
    pub decided_on: String,
    /// The unit's document (its number or reference).
    pub document_ref: String,
    pub recorded_by: AdminId,
}

/// A companion a lawyer may invite to a visit of one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EligibleCompanion {
    pub id: LawyerId,
    pub kind: MemberKind,
    pub display_name: String,
    /// The unit's approval for the case is recorded.
    pub approved: bool,
}

/// A recorded approval of a companion for a case, as the admin console lists it.
#[derive(Debug, Clone)]
pub struct ApprovalRow {
    pub account: LawyerId,
    pub kind: String,
    pub display_name: String,
    /// `None` for a free-text approval from before migration 0012 (`approved_by` only).
    pub unit: Option<String>,
    pub decided_on: Option<String>,
    pub document_ref: Option<String>,
    pub approved_by: String,
    /// The staff account that recorded it, and its username.
    pub recorded_by: AdminId,
    pub recorded_by_username: Option<String>,
    pub recorded_at_ms: i64,
}

impl Store {
    /// The approvals recorded for `case`, oldest first.
    pub async fn companion_approvals(&self, case: CaseId) -> Result<Vec<ApprovalRow>> {
        let rows = sqlx::query(
            "SELECT c.account_id, l.kind, l.display_name, c.unit, c.decided_on, c.document_ref,              c.approved_by, c.recorded_by, a.username, c.recorded_at              FROM case_companions c JOIN lawyers l ON l.id = c.account_id              LEFT JOIN admins a ON a.id = c.recorded_by              WHERE c.case_id = $1 ORDER BY c.recorded_at, c.account_id",
        )
        .bind(case.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ApprovalRow {
                account: LawyerId(r.get(0)),
                kind: r.get(1),
                display_name: r.get(2),
                unit: r.get(3),
                decided_on: r.get(4),
                document_ref: r.get(5),
                approved_by: r.get(6),
                recorded_by: AdminId(r.get(7)),
                recorded_by_username: r.get(8),
                recorded_at_ms: r.get(9),
            })
            .collect())
    }

    /// Make `assistant` an assistant of `lawyer` (who may then invite it).
    pub async fn set_principal(&self, assistant: LawyerId, lawyer: LawyerId) -> Result<()> {
        let r = sqlx::query("UPDATE lawyers SET principal_id = $1 WHERE id = $2")
            .bind(lawyer.0)
            .bind(assistant.0)
            .execute(&self.pool)
            .await;
        match r {
            Ok(done) if done.rows_affected() == 1 => Ok(()),
            Ok(_) => Err(StoreError::NotFound("the assistant's account")),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("the principal lawyer"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Record the unit's approval. A free-text approval from before migration 0012 is
    /// replaced; a structured one already recorded is a conflict.
    pub async fn record_companion_approval(
        &self,
        a: &NewApproval,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let r = sqlx::query(
            "INSERT INTO case_companions (case_id, account_id, approved_by, unit, decided_on, document_ref, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (case_id, account_id) DO UPDATE SET approved_by = excluded.approved_by, unit = excluded.unit, \
             decided_on = excluded.decided_on, document_ref = excluded.document_ref, recorded_by = excluded.recorded_by, \
             recorded_at = excluded.recorded_at WHERE case_companions.unit IS NULL",
        )
        .bind(a.case.0)
        .bind(a.account.0)
        .bind(&a.unit)
        .bind(&a.unit)
        .bind(&a.decided_on)
        .bind(&a.document_ref)
        .bind(a.recorded_by.0)
        .bind(ms(now))
        .execute(&self.pool)
        .await;
        match r {
            Ok(done) if done.rows_affected() == 1 => Ok(()),
            Ok(_) => Err(StoreError::Conflict(
                "this approval, which is already recorded",
            )),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("the case or the account"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The companions `lawyer` may invite to a visit of `case`: interpreters the unit
    /// approved for the case, and the lawyer's own assistants (approved too where the case
    /// is flagged, `approval_for_assistants`).
    pub async fn eligible_companions(
        &self,
        lawyer: LawyerId,
        case: CaseId,
        approval_for_assistants: bool,
    ) -> Result<Vec<EligibleCompanion>> {
        let rows = sqlx::query(
            // A sub-select names `approved`: PostgreSQL does not see output aliases in WHERE.
            "SELECT id, kind, display_name, approved FROM (SELECT l.id, l.kind, l.display_name, l.principal_id, \
             CASE WHEN EXISTS (SELECT 1 FROM case_companions c WHERE c.case_id = $1 AND c.account_id = l.id \
             AND c.unit IS NOT NULL) THEN 1 ELSE 0 END AS approved FROM lawyers l) x \
             WHERE (kind = 'interpreter' AND approved = 1) \
                OR (kind = 'assistant' AND principal_id = $2 AND (approved = 1 OR $3 = 0)) \
             ORDER BY id",
        )
        .bind(case.0)
        .bind(lawyer.0)
        .bind(i64::from(approval_for_assistants))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .filter_map(|r| {
                Some(EligibleCompanion {
                    id: LawyerId(r.get(0)),
                    kind: MemberKind::parse(r.get::<String, _>(1).as_str())?,
                    display_name: r.get(2),
                    approved: r.get::<i64, _>(3) != 0,
                })
            })
            .collect())
    }

    /// `lawyer` invited `account` to `visit`; `false` when that invitation already stood.
    pub async fn invite_companion(
        &self,
        visit: VisitId,
        account: LawyerId,
        lawyer: LawyerId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let r = sqlx::query(
            "INSERT INTO visit_companions (visit_id, account_id, invited_by, invited_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (visit_id, account_id) DO UPDATE SET invited_by = excluded.invited_by, \
             invited_at = excluded.invited_at WHERE visit_companions.invited_by IS DISTINCT FROM excluded.invited_by",
        )
        .bind(visit.0)
        .bind(account.0)
        .bind(lawyer.0)
        .bind(ms(now))
        .execute(&self.pool)
        .await;
        match r {
            Ok(done) => Ok(done.rows_affected() == 1),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("the visit or the account"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The invitation of `account` to `visit` is withdrawn; `false` when there was none.
    pub async fn withdraw_companion(&self, visit: VisitId, account: LawyerId) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM visit_companions WHERE visit_id = $1 AND account_id = $2")
                .bind(visit.0)
                .bind(account.0)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}
