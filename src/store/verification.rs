//! The SQL behind admission evidence (migration 0004, R-VERIFY-1..4): lawyer accounts' licence
//! claims and locks, detainees and cases, the investigating unit's permissions, approved
//! companions, engagements and their documents' review state, manual verifications and
//! impersonation alerts. (Detainees, cases, engagements and documents: `store::documents`.)
//!
//! Does not: decide anything (that is `policy`), gather evidence for a join (that is
//! `visit::admission`), or store document contents (they live encrypted outside the
//! database).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::documents::CaseRow;
use super::{from_ms, inserted_id, ms, Result, Store, StoreError};
use crate::ids::{AdminId, CaseId, LawyerId, VisitId};
use crate::model::visit::Permission;

/// What a lawyer-side account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberKind {
    Lawyer,
    Assistant,
    Interpreter,
}

impl MemberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberKind::Lawyer => "lawyer",
            MemberKind::Assistant => "assistant",
            MemberKind::Interpreter => "interpreter",
        }
    }

    pub fn parse(s: &str) -> Option<MemberKind> {
        match s {
            "lawyer" => Some(MemberKind::Lawyer),
            "assistant" => Some(MemberKind::Assistant),
            "interpreter" => Some(MemberKind::Interpreter),
            _ => None,
        }
    }
}

/// A lawyer-side account with what it claims about its holder. Personal data: never log.
#[derive(Clone)]
pub struct LawyerAccount {
    pub id: LawyerId,
    pub kind: MemberKind,
    /// The holder's name as registered (compared with the registry's holder name).
    pub display_name: String,
    pub licence_number: Option<String>,
    pub holder_id_hash: Option<String>,
    pub locked: bool,
}

impl std::fmt::Debug for LawyerAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LawyerAccount")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("locked", &self.locked)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpersonationAlertRow {
    pub id: i64,
    pub lawyer: LawyerId,
    pub visit: Option<VisitId>,
    pub reason: String,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_by: Option<AdminId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManualVerificationRow {
    pub id: i64,
    pub lawyer: LawyerId,
    pub visit: VisitId,
    pub evidence_ref: String,
    pub verified_by: AdminId,
    pub verified_at: DateTime<Utc>,
}

/// A decision of the investigating unit, as staff record it.
#[derive(Debug, Clone)]
pub struct NewPermission {
    pub case: CaseId,
    pub lawyer: LawyerId,
    pub unit: String,
    /// `YYYY-MM-DD`.
    pub decided_on: String,
    pub granted: bool,
    pub document_ref: String,
    pub recorded_by: AdminId,
}

impl Store {
    // --- lawyer-side accounts ---

    pub async fn lawyer_account(&self, id: LawyerId) -> Result<Option<LawyerAccount>> {
        let row = sqlx::query(
            "SELECT id, kind, display_name, licence_number, holder_id_hash, locked_at FROM lawyers WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| LawyerAccount {
            id: LawyerId(r.get(0)),
            // The column's CHECK allows only these three; anything else reads as the least
            // privileged kind that still cannot reach media without approval.
            kind: MemberKind::parse(r.get::<String, _>(1).as_str())
                .unwrap_or(MemberKind::Assistant),
            display_name: r.get(2),
            licence_number: r.get(3),
            holder_id_hash: r.get(4),
            locked: r.get::<Option<i64>, _>(5).is_some(),
        }))
    }

    /// Set what a lawyer-side account is and, for a lawyer, its licence claim.
    pub async fn set_lawyer_claim(
        &self,
        id: LawyerId,
        kind: MemberKind,
        licence_number: Option<&str>,
        holder_id_hash: Option<&str>,
    ) -> Result<()> {
        let done = sqlx::query(
            "UPDATE lawyers SET kind = $1, licence_number = $2, holder_id_hash = $3 WHERE id = $4",
        )
        .bind(kind.as_str())
        .bind(licence_number)
        .bind(holder_id_hash)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("the account"));
        }
        Ok(())
    }

    pub async fn lock_lawyer(&self, id: LawyerId, reason: &str, now: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE lawyers SET locked_at = $1, lock_reason = $2 WHERE id = $3 AND locked_at IS NULL",
        )
        .bind(ms(now))
        .bind(reason)
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Unlock an account; `false` when it was not locked (or does not exist).
    pub async fn unlock_lawyer(&self, id: LawyerId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE lawyers SET locked_at = NULL, lock_reason = NULL WHERE id = $1 AND locked_at IS NOT NULL",
        )
        .bind(id.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // --- the investigating unit: permissions and companions ---

    pub async fn insert_case_permission(
        &self,
        p: &NewPermission,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO case_permissions (case_id, lawyer_id, unit, decided_on, decision, document_ref, recorded_by, recorded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(p.case.0)
        .bind(p.lawyer.0)
        .bind(&p.unit)
        .bind(&p.decided_on)
        .bind(if p.granted { "granted" } else { "refused" })
        .bind(&p.document_ref)
        .bind(p.recorded_by.0)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await;
        match r {
            Ok(done) => Ok(done.get::<i64, _>(0)),
            Err(sqlx::Error::Database(d)) if d.is_foreign_key_violation() => {
                Err(StoreError::NotFound("the case or the lawyer"))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The unit's permission as it stands for `lawyer` in `case` (the newest decision).
    pub async fn case_permission(&self, case: &CaseRow, lawyer: LawyerId) -> Result<Permission> {
        if !case.needs_unit_permission {
            return Ok(Permission::NotNeeded);
        }
        let row = sqlx::query(
            "SELECT decision FROM case_permissions WHERE case_id = $1 AND lawyer_id = $2 ORDER BY id DESC LIMIT 1",
        )
        .bind(case.id.0)
        .bind(lawyer.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row.as_ref().map(|r| r.get::<&str, _>(0)) {
            None => Permission::Missing,
            Some("granted") => Permission::Granted,
            Some(_) => Permission::Refused,
        })
    }

    pub async fn companion_approved(&self, case: CaseId, account: LawyerId) -> Result<bool> {
        // Only a structured approval (unit, date, document; migration 0012) counts.
        let row = sqlx::query(
            "SELECT 1 FROM case_companions WHERE case_id = $1 AND account_id = $2 AND unit IS NOT NULL",
        )
            .bind(case.0)
            .bind(account.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    // --- manual verification (R-VERIFY-2) ---

    pub async fn insert_manual_verification(
        &self,
        lawyer: LawyerId,
        visit: VisitId,
        evidence_ref: &str,
        note: &str,
        staff: AdminId,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let r = sqlx::query(
            "INSERT INTO manual_verifications (lawyer_id, visit_id, evidence_ref, note, verified_by, verified_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(lawyer.0)
        .bind(visit.0)
        .bind(evidence_ref)
        .bind(note)
        .bind(staff.0)
        .bind(ms(now))
        .fetch_one(&self.pool)
        .await;
        inserted_id(r, "a manual verification for this visit")
    }

    pub async fn manually_verified(&self, visit: VisitId, lawyer: LawyerId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM manual_verifications WHERE visit_id = $1 AND lawyer_id = $2",
        )
        .bind(visit.0)
        .bind(lawyer.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn manual_verifications(&self) -> Result<Vec<ManualVerificationRow>> {
        let rows = sqlx::query(
            "SELECT id, lawyer_id, visit_id, evidence_ref, verified_by, verified_at FROM manual_verifications ORDER BY id DESC LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ManualVerificationRow {
                id: r.get(0),
                lawyer: LawyerId(r.get(1)),
                visit: VisitId(r.get(2)),
                evidence_ref: r.get(3),
                verified_by: AdminId(r.get(4)),
                verified_at: from_ms(r.get(5)),
            })
            .collect())
    }

    // --- impersonation alerts (R-VERIFY-3) ---

    /// Record an alert; returns how many alerts the account has had since `since`
    /// (this one included).
    pub async fn insert_impersonation_alert(
        &self,
        lawyer: LawyerId,
        visit: Option<VisitId>,
        reason: &str,
        now: DateTime<Utc>,
        since: DateTime<Utc>,
    ) -> Result<i64> {
        sqlx::query(
            "INSERT INTO impersonation_alerts (lawyer_id, visit_id, reason, raised_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(lawyer.0)
        .bind(visit.map(|v| v.0))
        .bind(reason)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM impersonation_alerts WHERE lawyer_id = $1 AND raised_at >= $2",
        )
        .bind(lawyer.0)
        .bind(ms(since))
        .fetch_one(&self.pool)
        .await?;
        Ok(n)
    }

    pub async fn impersonation_alerts(
        &self,
        open_only: bool,
    ) -> Result<Vec<ImpersonationAlertRow>> {
        let rows = sqlx::query(
            "SELECT id, lawyer_id, visit_id, reason, raised_at, acknowledged_by FROM impersonation_alerts \
             WHERE ($1 = 0 OR acknowledged_at IS NULL) ORDER BY id DESC LIMIT 500",
        )
        .bind(open_only as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ImpersonationAlertRow {
                id: r.get(0),
                lawyer: LawyerId(r.get(1)),
                visit: r.get::<Option<i64>, _>(2).map(VisitId),
                reason: r.get(3),
                raised_at: from_ms(r.get(4)),
                acknowledged_by: r.get::<Option<i64>, _>(5).map(AdminId),
            })
            .collect())
    }

    /// Mark an alert as seen by staff; `false` when there is no such open alert.
    pub async fn acknowledge_alert(
        &self,
        id: i64,
        staff: AdminId,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE impersonation_alerts SET acknowledged_by = $1, acknowledged_at = $2 WHERE id = $3 AND acknowledged_at IS NULL",
        )
        .bind(staff.0)
        .bind(ms(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
