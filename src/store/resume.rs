//! The SQL behind resume credentials kept where every node can read them (migration 0017,
//! R-REMOTE-2): a node that takes over the visits of a node that went away gives their
//! participants a new seat on the credential they already hold.
//!
//! Does not: decide whether a credential is good (the resume service does, in order), or
//! keep the credential itself (only its SHA-256, as hex).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_ms, ms, Result, Store};
use crate::ids::{ParticipantId, VisitId};

/// One issued credential, as any node reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumeCredentialRow {
    pub visit: VisitId,
    pub participant: ParticipantId,
    /// The hex device binding the credential was issued to.
    pub device: String,
    /// The node whose seat it takes back.
    pub node: String,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

fn participant_text(p: &ParticipantId) -> String {
    serde_json::to_string(p).unwrap_or_default()
}

impl Store {
    /// Record a credential issued by `node` (`hash`: hex SHA-256 of the credential); every
    /// older credential of the same participant in the same visit is spent (single use,
    /// rotated), and credentials past their expiry are forgotten.
    pub async fn record_resume_credential(
        &self,
        hash: &str,
        row: &ResumeCredentialRow,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let participant = participant_text(&row.participant);
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM resume_credentials WHERE expires_at < $1")
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE resume_credentials SET used = 1 WHERE visit_id = $1 AND participant = $2",
        )
        .bind(row.visit.0)
        .bind(&participant)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO resume_credentials \
             (hash, visit_id, participant, device, node_id, expires_at, used) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(hash)
        .bind(row.visit.0)
        .bind(&participant)
        .bind(&row.device)
        .bind(&row.node)
        .bind(ms(row.expires_at))
        .bind(i64::from(row.used))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The credential whose SHA-256 is `hash`, if any node issued it and it has not been
    /// forgotten.
    pub async fn resume_credential(&self, hash: &str) -> Result<Option<ResumeCredentialRow>> {
        let row = sqlx::query(
            "SELECT visit_id, participant, device, node_id, expires_at, used \
             FROM resume_credentials WHERE hash = $1",
        )
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let participant: String = row.try_get(1)?;
        let Ok(participant) = serde_json::from_str(&participant) else {
            return Ok(None);
        };
        Ok(Some(ResumeCredentialRow {
            visit: VisitId(row.try_get(0)?),
            participant,
            device: row.try_get(2)?,
            node: row.try_get(3)?,
            expires_at: from_ms(row.try_get(4)?),
            used: row.try_get::<i64, _>(5)? != 0,
        }))
    }

    /// Spend the credential: true for exactly one caller across the cluster.
    pub async fn claim_resume_credential(&self, hash: &str) -> Result<bool> {
        let done =
            sqlx::query("UPDATE resume_credentials SET used = 1 WHERE hash = $1 AND used = 0")
                .bind(hash)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LawyerId;
    use crate::store::testing;

    fn row(visit: VisitId, node: &str, expires_at: DateTime<Utc>) -> ResumeCredentialRow {
        ResumeCredentialRow {
            visit,
            participant: ParticipantId::Lawyer(LawyerId(7)),
            device: "ab".repeat(32),
            node: node.into(),
            expires_at,
            used: false,
        }
    }

    #[tokio::test]
    async fn credentials_are_single_use_rotated_and_forgotten() {
        for (backing, store) in testing::stores().await {
            let name = backing.name();
            let now = Utc::now();
            let visit = testing::a_visit(&store).await;
            let later = now + chrono::Duration::minutes(30);
            store
                .record_resume_credential("h1", &row(visit, "n1", later), now)
                .await
                .unwrap();
            let got = store.resume_credential("h1").await.unwrap().unwrap();
            assert_eq!(got, row(visit, "n1", from_ms(ms(later))), "{name}");
            // The next credential of the same participant spends the first.
            store
                .record_resume_credential("h2", &row(visit, "n1", later), now)
                .await
                .unwrap();
            assert!(
                store.resume_credential("h1").await.unwrap().unwrap().used,
                "{name}"
            );
            assert!(
                !store.claim_resume_credential("h1").await.unwrap(),
                "{name}"
            );
            // Exactly one claim of the live one wins.
            assert!(store.claim_resume_credential("h2").await.unwrap(), "{name}");
            assert!(
                !store.claim_resume_credential("h2").await.unwrap(),
                "{name}"
            );
            assert!(store.resume_credential("nope").await.unwrap().is_none());
            // Past their expiry they are forgotten on the next record.
            let after = later + chrono::Duration::seconds(1);
            let fresh = row(visit, "n2", after + chrono::Duration::minutes(1));
            store
                .record_resume_credential("h3", &fresh, after)
                .await
                .unwrap();
            assert!(
                store.resume_credential("h2").await.unwrap().is_none(),
                "{name}"
            );
            assert!(
                store.resume_credential("h3").await.unwrap().is_some(),
                "{name}"
            );
        }
    }
}
