//! The local copy of the lawyer registry (table `registry_licences`, migration 0003).
//!
//! Owns the SQL for [`crate::licence::local::LocalRegistry`] and
//! [`crate::licence::import::import_file`]: one licence by number, and importing a validated
//! set of records in one transaction (all or nothing).
//!
//! Does not: validate or parse export files (that is `licence::import`), or judge a record
//! (that is `licence::verify`). A stored row that no longer decodes is reported as a database
//! decode error, never guessed at.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::Row;

use super::{from_ms, ms, Result, Store};
use crate::model::licence::{LicenceNumber, RegistryRecord};

/// What one import changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegistryImportCounts {
    /// Licences the store did not have.
    pub inserted: usize,
    /// Licences whose holder, firm, status or validity changed.
    pub updated: usize,
    /// Of the updated, those whose practising status changed.
    pub status_changed: usize,
    /// Licences whose record was already the same (their `data_as_of` is refreshed).
    pub unchanged: usize,
    /// Rows older (`data_as_of`) than the stored record, left out so that an old export
    /// never undoes a newer change.
    pub skipped_older: usize,
}

const DATE: &str = "%Y-%m-%d";

fn decode_error(what: &str) -> sqlx::Error {
    sqlx::Error::Decode(format!("registry_licences holds an invalid {what}").into())
}

fn record_from_row(r: &sqlx::any::AnyRow) -> std::result::Result<RegistryRecord, sqlx::Error> {
    let licence: String = r.try_get(0)?;
    let id_hash: String = r.try_get(2)?;
    let status: String = r.try_get(4)?;
    let valid_until: String = r.try_get(5)?;
    Ok(RegistryRecord {
        licence: licence
            .parse()
            .map_err(|_| decode_error("licence number"))?,
        holder_name: r.try_get(1)?,
        holder_id_hash: id_hash
            .parse()
            .map_err(|_| decode_error("holder id hash"))?,
        law_firm: r.try_get(3)?,
        status: status.parse().map_err(|_| decode_error("status"))?,
        valid_until: NaiveDate::parse_from_str(&valid_until, DATE)
            .map_err(|_| decode_error("valid-until date"))?,
        data_as_of: from_ms(r.try_get(6)?),
    })
}

const SELECT: &str = "SELECT licence_number, holder_name, holder_id_hash, law_firm, status, valid_until, data_as_of \
     FROM registry_licences WHERE licence_number = $1";

impl Store {
    /// The stored registry record of one licence, if the last import had it.
    pub async fn registry_record(&self, licence: &LicenceNumber) -> Result<Option<RegistryRecord>> {
        let row = sqlx::query(SELECT)
            .bind(licence.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(record_from_row).transpose()?)
    }

    /// How many licences the local registry holds.
    pub async fn count_registry_records(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM registry_licences")
            .fetch_one(&self.pool)
            .await?
            .get(0))
    }

    /// Insert or update every record in one transaction: on any error nothing is changed.
    pub async fn import_registry_records(
        &self,
        records: &[RegistryRecord],
        imported_at: DateTime<Utc>,
    ) -> Result<RegistryImportCounts> {
        let mut counts = RegistryImportCounts::default();
        let mut tx = self.pool.begin().await?;
        for record in records {
            let existing = sqlx::query(SELECT)
                .bind(record.licence.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let existing = existing.as_ref().map(record_from_row).transpose()?;
            match &existing {
                None => counts.inserted += 1,
                Some(old) if old.data_as_of > record.data_as_of => {
                    counts.skipped_older += 1;
                    continue;
                }
                Some(old) => {
                    let same = RegistryRecord {
                        data_as_of: record.data_as_of,
                        ..old.clone()
                    };
                    if &same == record {
                        counts.unchanged += 1;
                    } else {
                        counts.updated += 1;
                        if old.status != record.status {
                            counts.status_changed += 1;
                        }
                    }
                }
            }
            sqlx::query(
                "INSERT INTO registry_licences \
                 (licence_number, holder_name, holder_id_hash, law_firm, status, valid_until, data_as_of, imported_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (licence_number) DO UPDATE SET holder_name = excluded.holder_name, \
                 holder_id_hash = excluded.holder_id_hash, law_firm = excluded.law_firm, status = excluded.status, \
                 valid_until = excluded.valid_until, data_as_of = excluded.data_as_of, imported_at = excluded.imported_at",
            )
            .bind(record.licence.as_str())
            .bind(&record.holder_name)
            .bind(record.holder_id_hash.as_str())
            .bind(&record.law_firm)
            .bind(record.status.as_str())
            .bind(record.valid_until.format(DATE).to_string())
            .bind(ms(record.data_as_of))
            .bind(ms(imported_at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::licence::{HolderIdHash, PractisingStatus};

    fn record(n: &str, status: PractisingStatus, as_of_ms: i64) -> RegistryRecord {
        RegistryRecord {
            licence: n.parse().unwrap(),
            holder_name: "张三".into(),
            holder_id_hash: HolderIdHash::of_id_number("11010519491231002X"),
            law_firm: "律所".into(),
            status,
            valid_until: NaiveDate::from_ymd_opt(2027, 5, 31).unwrap(),
            data_as_of: from_ms(as_of_ms),
        }
    }

    #[tokio::test]
    async fn every_status_round_trips_and_newer_data_wins() {
        for (_backing, s) in crate::store::testing::stores().await {
            let now = Utc::now();
            let numbers = [
                "00000000000000001",
                "00000000000000002",
                "00000000000000003",
                "00000000000000004",
            ];
            let records: Vec<_> = numbers
                .iter()
                .zip(PractisingStatus::ALL)
                .map(|(n, st)| record(n, st, 1_000))
                .collect();
            let c = s.import_registry_records(&records, now).await.unwrap();
            assert_eq!(c.inserted, 4);
            for r in &records {
                assert_eq!(
                    s.registry_record(&r.licence).await.unwrap().as_ref(),
                    Some(r)
                );
            }
            let older = record(numbers[0], PractisingStatus::Revoked, 500);
            let newer = record(numbers[1], PractisingStatus::Practising, 2_000);
            let same = record(numbers[2], PractisingStatus::Revoked, 2_000);
            let c = s
                .import_registry_records(&[older, newer.clone(), same.clone()], now)
                .await
                .unwrap();
            assert_eq!(
                c,
                RegistryImportCounts {
                    inserted: 0,
                    updated: 1,
                    status_changed: 1,
                    unchanged: 1,
                    skipped_older: 1
                }
            );
            assert_eq!(
                s.registry_record(&records[0].licence)
                    .await
                    .unwrap()
                    .unwrap()
                    .status,
                PractisingStatus::Practising
            );
            assert_eq!(
                s.registry_record(&newer.licence).await.unwrap(),
                Some(newer)
            );
            assert_eq!(
                s.registry_record(&same.licence).await.unwrap(),
                Some(same),
                "data_as_of refreshed"
            );
            assert_eq!(s.count_registry_records().await.unwrap(), 4);
        }
    }
}
