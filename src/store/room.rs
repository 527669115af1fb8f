//! The SQL behind a borrowed interrogation room (migration 0009, R-PRIV-2): the
//! attestation, for one visit, that the room's recording and monitoring equipment is off.
//! The lawyer's consent is a column of the visit (`NewVisit::room_consent`).
//!
//! Does not: decide whether media may flow (that is `policy`, from `VisitRow::room`).

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{from_ms, ms, Result, Store};
use crate::ids::{AdminId, BoothId, VisitId};

/// Who gave an attestation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestedVia {
    /// The officer at the booth terminal (the booth's certificate).
    Booth,
    /// An operator on the admin listener.
    Staff(AdminId),
}

impl AttestedVia {
    pub fn as_str(self) -> &'static str {
        match self {
            AttestedVia::Booth => "booth",
            AttestedVia::Staff(_) => "staff",
        }
    }
}

/// A recorded attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomAttestation {
    pub visit: VisitId,
    pub booth: BoothId,
    pub via: String,
    pub officer: String,
    pub admin: Option<AdminId>,
    pub attested_at: DateTime<Utc>,
}

impl Store {
    /// Record that the room of `visit` has its recording and monitoring equipment off.
    /// Returns `false` (and changes nothing) when the visit already has an attestation.
    pub async fn attest_room(
        &self,
        visit: VisitId,
        booth: &BoothId,
        via: AttestedVia,
        officer: &str,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let admin = match via {
            AttestedVia::Staff(a) => Some(a.0),
            AttestedVia::Booth => None,
        };
        let done = sqlx::query(
            "INSERT INTO room_attestations \
             (visit_id, booth_id, via, officer, recording_off, monitoring_off, admin_id, attested_at) \
             VALUES ($1, $2, $3, $4, 1, 1, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(visit.0)
        .bind(booth.as_str())
        .bind(via.as_str())
        .bind(officer)
        .bind(admin)
        .bind(ms(now))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn room_attestation(&self, visit: VisitId) -> Result<Option<RoomAttestation>> {
        let row = sqlx::query(
            "SELECT visit_id, booth_id, via, officer, admin_id, attested_at \
             FROM room_attestations WHERE visit_id = $1",
        )
        .bind(visit.0)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| RoomAttestation {
            visit: VisitId(r.get(0)),
            booth: BoothId(r.get(1)),
            via: r.get(2),
            officer: r.get(3),
            admin: r.get::<Option<i64>, _>(4).map(AdminId),
            attested_at: from_ms(r.get(5)),
        }))
    }
}

impl Store {
    /// The police station of a remote booth (R-REMOTE-1): `Some(None)` for an ordinary
    /// booth, `None` when the booth does not exist.
    pub async fn booth_remote_station(&self, booth: &BoothId) -> Result<Option<Option<String>>> {
        let row = sqlx::query("SELECT remote_station FROM booths WHERE id = $1")
            .bind(booth.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get::<Option<String>, _>(0)))
    }
}

impl Store {
    /// Visits still to come at a booth between `after` and `until` (the booth's queue, for
    /// its page: how many more visits are booked there today).
    pub async fn booth_visits_waiting(
        &self,
        booth: &BoothId,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<i64> {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM visits WHERE booth_id = $1 AND ended_at IS NULL \
             AND starts_at > $2 AND starts_at < $3",
        )
        .bind(booth.as_str())
        .bind(ms(after))
        .bind(ms(until))
        .fetch_one(&self.pool)
        .await?;
        Ok(row.get(0))
    }
}
