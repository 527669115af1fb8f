//! The SQL behind a detainee's scanned written refusal of a visit (migration 0009,
//! R-ARRANGE-5). The scan itself is encrypted under `<data>/documents/`
//! (`crate::documents::Documents::seal_file`); this table records which file belongs to
//! which request.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_ms, ms, Result, Store};
use crate::ids::AdminId;
use crate::model::schedule::RequestId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRefusalRow {
    pub request: RequestId,
    pub stored_name: String,
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub uploaded_by: AdminId,
    pub uploaded_at: DateTime<Utc>,
}

impl Store {
    /// Record (or replace, while the request is still open) the scan of a request's
    /// written refusal. Returns the stored name of the scan it replaced, if any, so the
    /// caller can remove that file.
    pub async fn put_written_refusal(&self, row: &WrittenRefusalRow) -> Result<Option<String>> {
        let mut tx = self.pool.begin().await?;
        let old: Option<String> =
            sqlx::query("SELECT stored_name FROM written_refusals WHERE request_id = $1")
                .bind(row.request.0)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.get(0));
        sqlx::query(
            "INSERT INTO written_refusals \
             (request_id, stored_name, media_type, sha256, size_bytes, uploaded_by, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (request_id) DO UPDATE SET \
             stored_name = excluded.stored_name, media_type = excluded.media_type, sha256 = excluded.sha256, \
             size_bytes = excluded.size_bytes, uploaded_by = excluded.uploaded_by, uploaded_at = excluded.uploaded_at",
        )
        .bind(row.request.0)
        .bind(&row.stored_name)
        .bind(&row.media_type)
        .bind(&row.sha256)
        .bind(row.size_bytes)
        .bind(row.uploaded_by.0)
        .bind(ms(row.uploaded_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(old)
    }

    pub async fn written_refusal(&self, request: RequestId) -> Result<Option<WrittenRefusalRow>> {
        let row = sqlx::query(
            "SELECT request_id, stored_name, media_type, sha256, size_bytes, uploaded_by, uploaded_at \
             FROM written_refusals WHERE request_id = $1",
        )
        .bind(request.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| WrittenRefusalRow {
            request: RequestId(r.get(0)),
            stored_name: r.get(1),
            media_type: r.get(2),
            sha256: r.get(3),
            size_bytes: r.get(4),
            uploaded_by: AdminId(r.get(5)),
            uploaded_at: from_ms(r.get(6)),
        }))
    }
}
