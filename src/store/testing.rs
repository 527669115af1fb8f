//! Test support: the store's own tests run against both backends, SQLite in a temporary
//! data dir and PostgreSQL (a fresh database on the test binary's server,
//! `tests/support/pg.rs`; under `CI=true` a missing PostgreSQL fails the test).

use super::test_pg;
use super::Store;

/// Where one test's store lives.
pub struct Backing {
    pub dir: tempfile::TempDir,
    /// The PostgreSQL database's URL, `None` for SQLite.
    pub url: Option<String>,
}

impl Backing {
    /// Open (again) the store of this backing.
    pub async fn open(&self) -> Store {
        Store::open_configured(self.dir.path(), self.url.as_deref())
            .await
            .unwrap_or_else(|e| panic!("open the {} store: {e}", self.name()))
    }

    pub fn name(&self) -> &'static str {
        if self.url.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    }
}

/// SQLite, and PostgreSQL unless it is missing outside CI.
pub async fn backings() -> Vec<Backing> {
    let mut out = vec![Backing {
        dir: tempfile::tempdir().unwrap(),
        url: None,
    }];
    if let Some(url) = test_pg::database().await {
        out.push(Backing {
            dir: tempfile::tempdir().unwrap(),
            url: Some(url),
        });
    }
    out
}

/// One open store per backend.
pub async fn stores() -> Vec<(Backing, Store)> {
    let mut out = Vec::new();
    for b in backings().await {
        let s = b.open().await;
        out.push((b, s));
    }
    out
}

/// A facility, a booth, a lawyer and a visit open for the next 30 minutes in `s`; the
/// visit's id.
pub async fn a_visit(s: &Store) -> crate::ids::VisitId {
    use crate::ids::{BoothId, FacilityId};
    let now = chrono::Utc::now();
    s.upsert_facility(&FacilityId("f".into()), "Facility")
        .await
        .unwrap();
    s.upsert_booth(&BoothId("b".into()), &FacilityId("f".into()), "Booth 1")
        .await
        .unwrap();
    let lawyer = s.insert_lawyer("amy", "Amy", "hash", now).await.unwrap();
    let v = super::NewVisit {
        lawyer,
        booth: BoothId("b".into()),
        starts_at: now - chrono::Duration::minutes(1),
        ends_at: now + chrono::Duration::minutes(30),
        created_by: None,
        case: None,
        room_consent: false,
        lawyer_booth: None,
    };
    s.insert_visit(&v, now).await.unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{BoothId, FacilityId};
    use crate::store::room::AttestedVia;
    use crate::store::NewVisit;
    use chrono::Utc;

    #[tokio::test]
    async fn oversight_room_and_report_rows_round_trip_on_both_backends() {
        // The functions no other store test reaches, on each backend (docs/DESIGN.md
        // "The store's two backends"): R-CONDUCT-2 violations and their deliveries,
        // R-COMPLAIN-1 complaints, R-PRIV-2 room attestations, R-REPORT-1 reports.
        for (b, s) in stores().await {
            let name = b.name();
            let now = Utc::now();
            let f = FacilityId("f".into());
            let booth = BoothId("b".into());
            s.upsert_facility(&f, "Facility").await.unwrap();
            s.upsert_booth(&booth, &f, "Booth").await.unwrap();
            let l = s.insert_lawyer("amy", "Amy", "hash", now).await.unwrap();
            let staff = s.insert_admin("root", "hash", now).await.unwrap();
            let v = s
                .insert_visit(
                    &NewVisit {
                        lawyer: l,
                        booth: booth.clone(),
                        starts_at: now - chrono::Duration::minutes(5),
                        ends_at: now + chrono::Duration::minutes(30),
                        created_by: Some(staff),
                        case: None,
                        room_consent: true,
                        lawyer_booth: None,
                    },
                    now,
                )
                .await
                .unwrap();

            let x = s
                .insert_violation(v, l, "other", "reason", staff, now)
                .await
                .unwrap();
            s.enqueue_deliveries(x, &["law_firm", "bar_association"], now)
                .await
                .unwrap();
            s.enqueue_deliveries(x, &["law_firm"], now).await.unwrap();
            assert_eq!(s.deliveries_of(x).await.unwrap().len(), 2, "{name}");
            assert_eq!(s.due_deliveries(now, 10).await.unwrap().len(), 2, "{name}");
            s.mark_delivered(x, "law_firm", now).await.unwrap();
            let later = now + chrono::Duration::minutes(1);
            s.mark_delivery_failed(x, "bar_association", "down", later)
                .await
                .unwrap();
            let d = s.deliveries_of(x).await.unwrap();
            assert!(d.iter().any(|d| d.delivered_at.is_some()), "{name}");
            assert!(
                d.iter()
                    .any(|d| d.last_error.as_deref() == Some("down") && d.attempts == 1),
                "{name}: {d:?}"
            );
            assert_eq!(
                s.next_delivery_due()
                    .await
                    .unwrap()
                    .map(|t| t.timestamp_millis()),
                Some(later.timestamp_millis()),
                "{name}"
            );
            s.insert_finding(x, "law_firm", "seen", staff, now)
                .await
                .unwrap();
            assert_eq!(s.findings_of(x).await.unwrap().len(), 1, "{name}");
            assert_eq!(s.violations().await.unwrap().len(), 1, "{name}");

            let c = s
                .insert_complaint(l, Some(v), "delay", "late", now)
                .await
                .unwrap();
            s.insert_complaint_update(c, "outcome", "done", staff, now)
                .await
                .unwrap();
            let row = s.complaint(c).await.unwrap().unwrap();
            assert_eq!(row.status, "closed", "{name}");
            assert_eq!(s.complaints(Some(l)).await.unwrap().len(), 1, "{name}");
            assert_eq!(s.complaint_updates(c).await.unwrap().len(), 1, "{name}");

            assert!(s
                .attest_room(v, &booth, AttestedVia::Booth, "officer 7", now)
                .await
                .unwrap());
            assert!(
                !s.attest_room(v, &booth, AttestedVia::Booth, "officer 7", now)
                    .await
                    .unwrap(),
                "{name}: attested once"
            );
            assert!(s.room_attestation(v).await.unwrap().is_some(), "{name}");
            assert_eq!(
                s.booth_visits_waiting(
                    &booth,
                    now - chrono::Duration::hours(1),
                    now + chrono::Duration::hours(1)
                )
                .await
                .unwrap(),
                1,
                "{name}"
            );

            let (from, until) = (
                now - chrono::Duration::days(1),
                now + chrono::Duration::days(1),
            );
            assert_eq!(
                s.report_visits(&f, from, until).await.unwrap().len(),
                1,
                "{name}"
            );
            s.report_requests(&f, from, until).await.unwrap();
            assert_eq!(
                s.report_manual_verifications(&f, from, until)
                    .await
                    .unwrap(),
                0
            );
            assert_eq!(
                s.report_violations(&f, from, until).await.unwrap().len(),
                1,
                "{name}"
            );
            assert_eq!(
                s.report_complaints(&f, from, until).await.unwrap().len(),
                1,
                "{name}"
            );
            assert_eq!(s.staff_list().await.unwrap().len(), 1, "{name}");
            assert!(
                s.impersonation_alerts(true).await.unwrap().is_empty(),
                "{name}"
            );
        }
    }
}
