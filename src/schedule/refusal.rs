//! The written refusal of a visit (R-ARRANGE-5), the third part of the [`Scheduler`]:
//! staff upload the scan of the detainee's written refusal before recording the decline,
//! and the lawyer of the declined request receives it. The scan is kept encrypted like
//! the documents (`crate::documents`) and audited before it is recorded.
//!
//! Does not: record the decline itself (`Scheduler::decline`, which needs this scan), or
//! shape the download (`views::download`).

use chrono::Utc;

use super::service::{schedule_event, ScheduleError, Scheduler};
use super::RequestId;
use crate::audit::Actor;
use crate::ids::{AdminId, LawyerId};
use crate::store::refusal::WrittenRefusalRow;

/// A scan the lawyer receives (R-ARRANGE-5).
pub struct Scan {
    pub request: RequestId,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

impl Scheduler {
    /// Staff upload the scan of the detainee's written refusal, before recording the
    /// decline. Kept encrypted like the documents; audited before it is recorded.
    pub async fn put_written_refusal(
        &self,
        admin: AdminId,
        id: RequestId,
        bytes: &[u8],
    ) -> Result<WrittenRefusalRow, ScheduleError> {
        let (store, documents) = (&self.inner.store, &self.inner.documents);
        let now = Utc::now();
        let row = store
            .visit_request(id)
            .await?
            .ok_or(ScheduleError::NotFound("This request"))?;
        if !(row.status == "queued" || row.status == "placed") {
            return Err(ScheduleError::Conflict(
                "request_closed",
                "This request is already cancelled or declined; its written refusal cannot change.",
            ));
        }
        let sealed = documents.seal_file(bytes).await?;
        let record = WrittenRefusalRow {
            request: row.id,
            stored_name: sealed.stored_name.clone(),
            media_type: sealed.media_type.as_str().into(),
            sha256: sealed.sha256.clone(),
            size_bytes: sealed.size_bytes,
            uploaded_by: admin,
            uploaded_at: now,
        };
        let recorded = async {
            self.inner
                .audit
                .append(
                    Actor::Staff(admin),
                    schedule_event(
                        "written_refusal_scanned",
                        &row,
                        row.visit,
                        row.booth.clone(),
                        format!("sha256={} bytes={}", sealed.sha256, sealed.size_bytes),
                    ),
                )
                .await?;
            Ok::<_, ScheduleError>(store.put_written_refusal(&record).await?)
        }
        .await;
        match recorded {
            Ok(replaced) => {
                if let Some(old) = replaced {
                    documents.discard_file(&old).await;
                }
                Ok(record)
            }
            Err(e) => {
                documents.discard_file(&sealed.stored_name).await;
                Err(e)
            }
        }
    }

    /// The scan of the client's written refusal, for the lawyer of a declined request.
    pub async fn written_refusal_for(
        &self,
        lawyer: LawyerId,
        id: RequestId,
    ) -> Result<Scan, ScheduleError> {
        let store = &self.inner.store;
        let row = store
            .visit_request(id)
            .await?
            .filter(|r| r.lawyer == lawyer)
            .ok_or(ScheduleError::NotFound("This request"))?;
        let scan = store
            .written_refusal(row.id)
            .await?
            .filter(|_| row.status == "declined")
            .ok_or(ScheduleError::NotFound(
                "A written refusal for this request",
            ))?;
        let bytes = self
            .inner
            .documents
            .open_file(&scan.stored_name, &scan.sha256)
            .await?;
        Ok(Scan {
            request: row.id,
            media_type: scan.media_type,
            bytes,
        })
    }
}
