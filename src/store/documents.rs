//! Detainees, cases, engagements and their documents (tables of migration 0004).
//!
//! Owns the SQL for [`crate::documents`] and its HTTP routes. Inserts that must be
//! audited take a `confirm` step: the row is inserted in a transaction, `confirm` runs
//! with the new id (it appends the audit entry and, for a document, moves the encrypted
//! file into place), and only then is the transaction committed. If `confirm` fails the
//! row never becomes visible (docs/DESIGN.md invariant 3, audit first).
//!
//! Does not: check uploads, encrypt, or decide anything; a stored row that no longer
//! decodes is reported as a database decode error, never guessed at.

use chrono::{DateTime, Utc};
use sqlx::Row;
use std::future::Future;

use super::{from_ms, inserted_id, ms, Result, Store, StoreError};
use crate::ids::{AdminId, CaseId, DetaineeId, DocumentId, EngagementId, FacilityId, LawyerId};
use crate::model::documents::{
    summarize, Authority, DocumentKind, DocumentStatus, DocumentsSummary,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetaineeRow {
    pub id: DetaineeId,
    pub facility: FacilityId,
    /// The facility-internal reference, the only thing a lawyer knows (R-PRIV-4).
    pub internal_ref: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseRow {
    pub id: CaseId,
    pub detainee: DetaineeId,
    pub needs_unit_permission: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngagementRow {
    pub id: EngagementId,
    pub lawyer: LawyerId,
    pub case: CaseId,
    pub detainee: DetaineeId,
    pub facility: FacilityId,
    pub detainee_ref: String,
    pub law_firm: String,
    pub authority: Authority,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRow {
    pub id: DocumentId,
    pub engagement: EngagementId,
    pub kind: DocumentKind,
    pub media_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub stored_name: String,
    pub uploaded_at: DateTime<Utc>,
    pub status: DocumentStatus,
    pub reviewed_by: Option<AdminId>,
    pub reviewed_at: Option<DateTime<Utc>>,
    pub reject_reason: Option<String>,
}

/// A document row to insert (its content is already encrypted on disk).
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub engagement: EngagementId,
    pub kind: DocumentKind,
    pub media_type: &'static str,
    pub size_bytes: i64,
    pub sha256: String,
    pub stored_name: String,
    pub uploaded_at: DateTime<Utc>,
}

fn decode_error(table: &str, what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{table} holds an invalid {what}").into())
}

fn fk_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_foreign_key_violation())
}

fn detainee_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<DetaineeRow, sqlx::Error> {
    Ok(DetaineeRow {
        id: DetaineeId(r.try_get(0)?),
        facility: FacilityId(r.try_get(1)?),
        internal_ref: r.try_get(2)?,
        name: r.try_get(3)?,
        created_at: from_ms(r.try_get(4)?),
    })
}

fn case_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<CaseRow, sqlx::Error> {
    Ok(CaseRow {
        id: CaseId(r.try_get(0)?),
        detainee: DetaineeId(r.try_get(1)?),
        needs_unit_permission: r.try_get::<i64, _>(2)? != 0,
        created_at: from_ms(r.try_get(3)?),
    })
}

fn engagement_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<EngagementRow, sqlx::Error> {
    let authority: String = r.try_get(7)?;
    Ok(EngagementRow {
        id: EngagementId(r.try_get(0)?),
        lawyer: LawyerId(r.try_get(1)?),
        case: CaseId(r.try_get(2)?),
        detainee: DetaineeId(r.try_get(3)?),
        facility: FacilityId(r.try_get(4)?),
        detainee_ref: r.try_get(5)?,
        law_firm: r.try_get(6)?,
        authority: authority
            .parse()
            .map_err(|_| decode_error("engagements", "authority"))?,
        created_at: from_ms(r.try_get(8)?),
    })
}

fn document_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<DocumentRow, sqlx::Error> {
    let kind: String = r.try_get(2)?;
    let status: String = r.try_get(8)?;
    Ok(DocumentRow {
        id: DocumentId(r.try_get(0)?),
        engagement: EngagementId(r.try_get(1)?),
        kind: kind
            .parse()
            .map_err(|_| decode_error("documents", "kind"))?,
        media_type: r.try_get(3)?,
        size_bytes: r.try_get(4)?,
        sha256: r.try_get(5)?,
        stored_name: r.try_get(6)?,
        uploaded_at: from_ms(r.try_get(7)?),
        status: status
            .parse()
            .map_err(|_| decode_error("documents", "status"))?,
        reviewed_by: r.try_get::<Option<i64>, _>(9)?.map(AdminId),
        reviewed_at: r.try_get::<Option<i64>, _>(10)?.map(from_ms),
        reject_reason: r.try_get(11)?,
    })
}

const DETAINEE_SELECT: &str =
    "SELECT id, facility_id, internal_ref, name, created_at FROM detainees";
const CASE_SELECT: &str = "SELECT id, detainee_id, needs_unit_permission, created_at FROM cases";
const ENGAGEMENT_SELECT: &str =
    "SELECT e.id, e.lawyer_id, e.case_id, d.id, d.facility_id, d.internal_ref, \
     e.law_firm, e.authority, e.created_at \
     FROM engagements e JOIN cases c ON c.id = e.case_id JOIN detainees d ON d.id = c.detainee_id";
const DOCUMENT_SELECT: &str =
    "SELECT id, engagement_id, kind, media_type, size_bytes, sha256, stored_name, \
     uploaded_at, status, reviewed_by, reviewed_at, reject_reason FROM documents";

fn collect<T>(
    rows: &[sqlx::any::AnyRow],
    f: fn(&sqlx::any::AnyRow) -> std::result::Result<T, sqlx::Error>,
) -> Result<Vec<T>> {
    Ok(rows.iter().map(f).collect::<std::result::Result<_, _>>()?)
}

impl Store {
    // --- detainees ---

    /// Insert a detainee, then `confirm` (the audit entry), then commit. `Conflict` when
    /// the facility already has that reference, `NotFound` when the facility is unknown.
    pub async fn insert_detainee<F, Fut, E>(
        &self,
        facility: &FacilityId,
        internal_ref: &str,
        name: &str,
        now: DateTime<Utc>,
        confirm: F,
    ) -> std::result::Result<DetaineeId, E>
    where
        F: FnOnce(DetaineeId) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: From<StoreError>,
    {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let r = sqlx::query(
            "INSERT INTO detainees (facility_id, internal_ref, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(facility.as_str())
        .bind(internal_ref)
        .bind(name)
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await;
        let id = match r {
            Err(e) if fk_violation(&e) => return Err(StoreError::NotFound("the facility").into()),
            r => DetaineeId(inserted_id(r, "a detainee with this reference")?),
        };
        confirm(id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    pub async fn detainees(&self) -> Result<Vec<DetaineeRow>> {
        let rows = sqlx::query(&format!("{DETAINEE_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        collect(&rows, detainee_from_row)
    }

    pub async fn detainee(&self, id: DetaineeId) -> Result<Option<DetaineeRow>> {
        let row = sqlx::query(&format!("{DETAINEE_SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(detainee_from_row).transpose()?)
    }

    /// The detainee a facility knows by `internal_ref`.
    pub async fn detainee_by_ref(
        &self,
        facility: &FacilityId,
        internal_ref: &str,
    ) -> Result<Option<DetaineeRow>> {
        let row = sqlx::query(&format!(
            "{DETAINEE_SELECT} WHERE facility_id = $1 AND internal_ref = $2"
        ))
        .bind(facility.as_str())
        .bind(internal_ref)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(detainee_from_row).transpose()?)
    }

    // --- cases ---

    /// Insert a case, then `confirm`, then commit. `NotFound` when the detainee is unknown.
    pub async fn insert_case<F, Fut, E>(
        &self,
        detainee: DetaineeId,
        needs_unit_permission: bool,
        now: DateTime<Utc>,
        confirm: F,
    ) -> std::result::Result<CaseId, E>
    where
        F: FnOnce(CaseId) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: From<StoreError>,
    {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let r = sqlx::query(
            "INSERT INTO cases (detainee_id, needs_unit_permission, created_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(detainee.0)
        .bind(i64::from(needs_unit_permission))
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await;
        let id = match r {
            Err(e) if fk_violation(&e) => return Err(StoreError::NotFound("the detainee").into()),
            r => CaseId(inserted_id(r, "this case")?),
        };
        confirm(id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    pub async fn cases(&self) -> Result<Vec<CaseRow>> {
        let rows = sqlx::query(&format!("{CASE_SELECT} ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        collect(&rows, case_from_row)
    }

    pub async fn case(&self, id: CaseId) -> Result<Option<CaseRow>> {
        let row = sqlx::query(&format!("{CASE_SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(case_from_row).transpose()?)
    }

    /// The detainee's newest case (highest id), if any.
    pub async fn newest_case_for_detainee(&self, detainee: DetaineeId) -> Result<Option<CaseRow>> {
        let row = sqlx::query(&format!(
            "{CASE_SELECT} WHERE detainee_id = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(detainee.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(case_from_row).transpose()?)
    }

    // --- engagements ---

    /// Insert an engagement, then `confirm`, then commit. `Conflict` when the lawyer
    /// already acts in that case; `NotFound` when the lawyer or case is unknown.
    pub async fn insert_engagement<F, Fut, E>(
        &self,
        lawyer: LawyerId,
        case: CaseId,
        law_firm: &str,
        authority: Authority,
        now: DateTime<Utc>,
        confirm: F,
    ) -> std::result::Result<EngagementId, E>
    where
        F: FnOnce(EngagementId) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: From<StoreError>,
    {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let r = sqlx::query(
            "INSERT INTO engagements (lawyer_id, case_id, law_firm, authority, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(lawyer.0)
        .bind(case.0)
        .bind(law_firm)
        .bind(authority.as_str())
        .bind(ms(now))
        .fetch_one(&mut *tx)
        .await;
        let id = match r {
            Err(e) if fk_violation(&e) => {
                return Err(StoreError::NotFound("the lawyer or case").into())
            }
            r => EngagementId(inserted_id(r, "an engagement of this lawyer in this case")?),
        };
        confirm(id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    pub async fn engagement(&self, id: EngagementId) -> Result<Option<EngagementRow>> {
        let row = sqlx::query(&format!("{ENGAGEMENT_SELECT} WHERE e.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(engagement_from_row).transpose()?)
    }

    /// The lawyer's engagement in a case, if any.
    pub async fn engagement_of(
        &self,
        lawyer: LawyerId,
        case: CaseId,
    ) -> Result<Option<EngagementRow>> {
        let row = sqlx::query(&format!(
            "{ENGAGEMENT_SELECT} WHERE e.lawyer_id = $1 AND e.case_id = $2"
        ))
        .bind(lawyer.0)
        .bind(case.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(engagement_from_row).transpose()?)
    }

    /// Whether the lawyer has an engagement in any case of the detainee (R-PRIV-4).
    pub async fn represents(&self, lawyer: LawyerId, detainee: DetaineeId) -> Result<bool> {
        let row = sqlx::query(
            "SELECT 1 FROM engagements e JOIN cases c ON c.id = e.case_id \
             WHERE e.lawyer_id = $1 AND c.detainee_id = $2 LIMIT 1",
        )
        .bind(lawyer.0)
        .bind(detainee.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub async fn engagements_for_lawyer(&self, lawyer: LawyerId) -> Result<Vec<EngagementRow>> {
        let rows = sqlx::query(&format!(
            "{ENGAGEMENT_SELECT} WHERE e.lawyer_id = $1 ORDER BY e.id"
        ))
        .bind(lawyer.0)
        .fetch_all(&self.pool)
        .await?;
        collect(&rows, engagement_from_row)
    }

    /// Every engagement, for facility staff.
    pub async fn engagements(&self) -> Result<Vec<EngagementRow>> {
        let rows = sqlx::query(&format!("{ENGAGEMENT_SELECT} ORDER BY e.id"))
            .fetch_all(&self.pool)
            .await?;
        collect(&rows, engagement_from_row)
    }

    // --- documents ---

    /// Insert a document row, then `confirm` (audit entry, file moved into place), then
    /// commit. On any error the row is rolled back.
    pub async fn insert_document<F, Fut, E>(
        &self,
        doc: &NewDocument,
        confirm: F,
    ) -> std::result::Result<DocumentId, E>
    where
        F: FnOnce(DocumentId) -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: From<StoreError>,
    {
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let r = sqlx::query(
            "INSERT INTO documents (engagement_id, kind, media_type, size_bytes, sha256, stored_name, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(doc.engagement.0)
        .bind(doc.kind.as_str())
        .bind(doc.media_type)
        .bind(doc.size_bytes)
        .bind(&doc.sha256)
        .bind(&doc.stored_name)
        .bind(ms(doc.uploaded_at))
        .fetch_one(&mut *tx)
        .await;
        let id = match r {
            Err(e) if fk_violation(&e) => return Err(StoreError::NotFound("the engagement").into()),
            r => DocumentId(inserted_id(r, "a document with this stored name")?),
        };
        confirm(id).await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(id)
    }

    pub async fn document(&self, id: DocumentId) -> Result<Option<DocumentRow>> {
        let row = sqlx::query(&format!("{DOCUMENT_SELECT} WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(document_from_row).transpose()?)
    }

    /// An engagement's uploads, newest first.
    pub async fn documents_for_engagement(
        &self,
        engagement: EngagementId,
    ) -> Result<Vec<DocumentRow>> {
        let rows = sqlx::query(&format!(
            "{DOCUMENT_SELECT} WHERE engagement_id = $1 ORDER BY id DESC"
        ))
        .bind(engagement.0)
        .fetch_all(&self.pool)
        .await?;
        collect(&rows, document_from_row)
    }

    /// Every stored document's file name (for checks that nothing is left over).
    pub async fn count_documents(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM documents")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// Record a review, then `confirm` (the audit entry), then commit. Returns false when
    /// the document does not exist (nothing is confirmed then).
    pub async fn review_document<F, Fut, E>(
        &self,
        id: DocumentId,
        staff: AdminId,
        accepted: bool,
        reject_reason: Option<&str>,
        now: DateTime<Utc>,
        confirm: F,
    ) -> std::result::Result<bool, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = std::result::Result<(), E>>,
        E: From<StoreError>,
    {
        let status = if accepted {
            DocumentStatus::Accepted
        } else {
            DocumentStatus::Rejected
        };
        let mut tx = self.pool.begin().await.map_err(StoreError::from)?;
        let done = sqlx::query(
            "UPDATE documents SET status = $1, reviewed_by = $2, reviewed_at = $3, reject_reason = $4 WHERE id = $5",
        )
        .bind(status.as_str())
        .bind(staff.0)
        .bind(ms(now))
        .bind(reject_reason)
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        confirm().await?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok(true)
    }

    /// The state of an engagement's two required documents (the newest upload of each
    /// kind counts). `NotFound` when the engagement is unknown.
    pub async fn documents_summary(&self, engagement: EngagementId) -> Result<DocumentsSummary> {
        let row = self
            .engagement(engagement)
            .await?
            .ok_or(StoreError::NotFound("the engagement"))?;
        let docs = self.documents_for_engagement(engagement).await?;
        Ok(summarize(
            row.authority,
            docs.into_iter().map(|d| (d.id, d.kind, d.status)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ok<T>(_: T) -> std::result::Result<(), StoreError> {
        Ok(())
    }

    #[tokio::test]
    async fn engagements_and_documents_round_trip_and_the_newest_upload_counts() {
        for (_backing, s) in crate::store::testing::stores().await {
            let now = Utc::now();
            let f = FacilityId("f".into());
            s.upsert_facility(&f, "Facility").await.unwrap();
            let l = s.insert_lawyer("amy", "Amy", "hash", now).await.unwrap();
            let staff = s.insert_admin("root", "hash", now).await.unwrap();
            let d = s
                .insert_detainee(&f, "F-001", "Zhang San", now, ok)
                .await
                .unwrap();
            assert!(matches!(
                s.insert_detainee(&f, "F-001", "Li Si", now, ok).await,
                Err(StoreError::Conflict(_))
            ));
            assert!(matches!(
                s.insert_detainee(&FacilityId("nope".into()), "X", "Y", now, ok)
                    .await,
                Err(StoreError::NotFound(_))
            ));
            let c1 = s.insert_case(d, false, now, ok).await.unwrap();
            let c2 = s.insert_case(d, true, now, ok).await.unwrap();
            assert_eq!(s.newest_case_for_detainee(d).await.unwrap().unwrap().id, c2);
            assert!(s.case(c2).await.unwrap().unwrap().needs_unit_permission);
            assert!(!s.case(c1).await.unwrap().unwrap().needs_unit_permission);
            let e = s
                .insert_engagement(l, c2, "Firm", Authority::LegalAidLetter, now, ok)
                .await
                .unwrap();
            assert!(matches!(
                s.insert_engagement(l, c2, "Firm", Authority::PowerOfAttorney, now, ok)
                    .await,
                Err(StoreError::Conflict(_))
            ));
            let row = s.engagement(e).await.unwrap().unwrap();
            assert_eq!(
                (row.detainee_ref.as_str(), row.facility.clone()),
                ("F-001", f)
            );
            assert_eq!(
                s.engagements_for_lawyer(l).await.unwrap(),
                vec![row.clone()]
            );
            assert_eq!(
                s.documents_summary(e).await.unwrap(),
                DocumentsSummary {
                    firm_letter: DocumentStatus::Missing,
                    authority: DocumentStatus::Missing
                }
            );
            let new = |kind, name: &str| NewDocument {
                engagement: e,
                kind,
                media_type: "application/pdf",
                size_bytes: 10,
                sha256: "00".into(),
                stored_name: name.into(),
                uploaded_at: now,
            };
            let a = s
                .insert_document(&new(DocumentKind::FirmLetter, "a"), ok)
                .await
                .unwrap();
            let b = s
                .insert_document(&new(DocumentKind::LegalAidLetter, "b"), ok)
                .await
                .unwrap();
            assert!(s
                .review_document(a, staff, false, Some("unsigned"), now, || ok(()))
                .await
                .unwrap());
            assert!(s
                .review_document(b, staff, true, None, now, || ok(()))
                .await
                .unwrap());
            assert!(!s
                .review_document(DocumentId(999), staff, true, None, now, || ok(()))
                .await
                .unwrap());
            let got = s.document(a).await.unwrap().unwrap();
            assert_eq!(got.status, DocumentStatus::Rejected);
            assert_eq!(got.reject_reason.as_deref(), Some("unsigned"));
            assert_eq!(
                s.documents_summary(e).await.unwrap(),
                DocumentsSummary {
                    firm_letter: DocumentStatus::Rejected,
                    authority: DocumentStatus::Accepted
                }
            );
            s.insert_document(&new(DocumentKind::FirmLetter, "c"), ok)
                .await
                .unwrap();
            assert_eq!(
                s.documents_summary(e).await.unwrap().firm_letter,
                DocumentStatus::Pending
            );
        }
    }

    #[tokio::test]
    async fn a_failed_confirmation_leaves_no_row() {
        // Audit first: when the audit entry cannot be written, the insert is rolled back.
        for (_backing, s) in crate::store::testing::stores().await {
            let now = Utc::now();
            let f = FacilityId("f".into());
            s.upsert_facility(&f, "Facility").await.unwrap();
            let r = s
                .insert_detainee(&f, "F-1", "N", now, |_| async {
                    Err(StoreError::NotFound("injected"))
                })
                .await;
            assert!(r.is_err());
            assert!(s.detainees().await.unwrap().is_empty());
        }
    }

    #[tokio::test]
    async fn the_database_refuses_any_other_kind_of_document() {
        // R-ARRANGE-2: the CHECK on documents.kind is the whole list.
        for (_backing, s) in crate::store::testing::stores().await {
            let now = Utc::now();
            let f = FacilityId("f".into());
            s.upsert_facility(&f, "Facility").await.unwrap();
            let l = s.insert_lawyer("amy", "Amy", "hash", now).await.unwrap();
            let d = s.insert_detainee(&f, "F-1", "N", now, ok).await.unwrap();
            let c = s.insert_case(d, false, now, ok).await.unwrap();
            let e = s
                .insert_engagement(l, c, "Firm", Authority::PowerOfAttorney, now, ok)
                .await
                .unwrap();
            let r = sqlx::query(
            "INSERT INTO documents (engagement_id, kind, media_type, size_bytes, sha256, stored_name, uploaded_at) \
             VALUES ($1, 'investigating_unit_notice', 'application/pdf', 1, '00', 'x', 0)",
        )
        .bind(e.0)
        .execute(&s.pool)
        .await;
            let err = r
                .expect_err("the CHECK must refuse another kind")
                .to_string();
            assert!(err.to_lowercase().contains("check"), "{err}");
            assert_eq!(s.count_documents().await.unwrap(), 0);
        }
    }
}
