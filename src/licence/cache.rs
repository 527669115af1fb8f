//! A cache of *positive* registry answers (a record whose status is practising), kept for a
//! configurable time (default [`DEFAULT_TTL`], 10 minutes).
//!
//! Owns: [`PositiveCache`], the pure core (time injected as a monotonic `now: Instant`, a bound
//! on its size), and [`CachedRegistry`], which puts it in front of any [`LicenceRegistry`].
//!
//! Why only positive answers: a "not practising" or "unknown" answer must never outlive the
//! registry's change of mind (a lawyer reinstated, a new licence), and an error must never be
//! remembered as an answer. Why a time limit: a suspension or revocation reaches a running
//! visit at the latest one TTL after the registry says so, because the periodic re-check of a
//! running visit then sees a fresh answer (R-VERIFY-1).
//!
//! Why a bound on the registry's own data age: a cached answer is as old as the registry's
//! `data_as_of`, not as old as the lookup. [`PositiveCache::get`] serves an entry only while
//! that data is at most `max_data_age` old (wall clock), so an outage of the registry never
//! admits anyone on data the registry itself had stopped refreshing (R-VERIFY-1).
//!
//! Does not: serve stale entries when the registry fails (a new join fails closed; keeping a
//! *running* visit through an outage is the caller's decision, docs/DESIGN.md invariant 4), or
//! cache errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::registry::LicenceRegistry;
use crate::model::licence::{LicenceNumber, Lookup, PractisingStatus, RegistryRecord};

/// How long a positive answer is kept unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10 * 60);
/// How many licences the cache holds at most unless configured otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;
/// The oldest registry data (`data_as_of`) a cached answer may rest on unless configured
/// otherwise.
pub const DEFAULT_MAX_DATA_AGE: Duration = Duration::from_secs(24 * 3600);

/// Positive registry answers with their time of arrival. Pure: every call takes `now`.
#[derive(Debug, Clone)]
pub struct PositiveCache {
    ttl: Duration,
    capacity: usize,
    max_data_age: Duration,
    entries: HashMap<LicenceNumber, (RegistryRecord, Instant)>,
}

impl PositiveCache {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        PositiveCache {
            ttl,
            capacity: capacity.max(1),
            max_data_age: DEFAULT_MAX_DATA_AGE,
            entries: HashMap::new(),
        }
    }

    /// Serve entries only while the registry's data behind them is at most `age` old.
    pub fn with_max_data_age(mut self, age: Duration) -> Self {
        self.max_data_age = age;
        self
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached record for `licence`, if it arrived less than one TTL before `now` and
    /// the registry's data behind it (`data_as_of`) is at most the maximum age at `wall`.
    pub fn get(
        &self,
        licence: &LicenceNumber,
        now: Instant,
        wall: DateTime<Utc>,
    ) -> Option<&RegistryRecord> {
        let max_age =
            chrono::Duration::from_std(self.max_data_age).unwrap_or(chrono::TimeDelta::MAX);
        self.entries
            .get(licence)
            .filter(|(_, at)| now.saturating_duration_since(*at) < self.ttl)
            .filter(|(record, _)| wall.signed_duration_since(record.data_as_of) <= max_age)
            .map(|(record, _)| record)
    }

    /// Remember the answer to a lookup at `now` if it is positive; forget the licence
    /// otherwise (the registry just said something else, so any older positive is void).
    pub fn record(
        &mut self,
        licence: &LicenceNumber,
        answer: Option<&RegistryRecord>,
        now: Instant,
    ) {
        match answer {
            Some(r) if r.status == PractisingStatus::Practising && &r.licence == licence => {
                if !self.entries.contains_key(licence) && self.entries.len() >= self.capacity {
                    self.make_room(now);
                }
                self.entries.insert(licence.clone(), (r.clone(), now));
            }
            _ => {
                self.entries.remove(licence);
            }
        }
    }

    /// Forget one licence (for example after staff learn of a suspension).
    pub fn invalidate(&mut self, licence: &LicenceNumber) {
        self.entries.remove(licence);
    }

    /// Drop every entry older than one TTL at `now`.
    pub fn purge_expired(&mut self, now: Instant) {
        let ttl = self.ttl;
        self.entries
            .retain(|_, (_, at)| now.saturating_duration_since(*at) < ttl);
    }

    fn make_room(&mut self, now: Instant) {
        self.purge_expired(now);
        if self.entries.len() >= self.capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
    }
}

/// Any registry with a [`PositiveCache`] in front. Cheap to clone (shares the cache).
#[derive(Debug, Clone)]
pub struct CachedRegistry<R> {
    inner: R,
    // A std Mutex: held only for a map operation, never across an `.await`.
    cache: Arc<Mutex<PositiveCache>>,
}

impl<R: LicenceRegistry> CachedRegistry<R> {
    pub fn new(inner: R, ttl: Duration) -> Self {
        Self::with_capacity(inner, ttl, DEFAULT_CAPACITY)
    }

    pub fn with_capacity(inner: R, ttl: Duration, capacity: usize) -> Self {
        CachedRegistry {
            inner,
            cache: Arc::new(Mutex::new(PositiveCache::new(ttl, capacity))),
        }
    }

    /// Serve cached answers only while the registry's data behind them is at most `age` old.
    pub fn with_max_data_age(self, age: Duration) -> Self {
        {
            let mut cache = self.lock();
            let fresh = PositiveCache::new(cache.ttl, cache.capacity).with_max_data_age(age);
            *cache = fresh;
        }
        self
    }

    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Forget one licence now.
    pub fn invalidate(&self, licence: &LicenceNumber) {
        self.lock().invalidate(licence);
    }

    /// Ask the registry itself, not the cache, and remember the answer as [`lookup`] does.
    /// Used to re-check lawyers in running visits, so that a suspension reaches them
    /// without waiting for the cached answer to expire. An error leaves the cache as it is.
    ///
    /// [`lookup`]: LicenceRegistry::lookup
    pub async fn refresh(&self, licence: &LicenceNumber) -> Lookup {
        let answer = self.inner.lookup(licence).await;
        if let Ok(record) = &answer {
            self.lock().record(licence, record.as_ref(), Instant::now());
        }
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PositiveCache> {
        // A panic while holding the lock cannot leave the map inconsistent; go on with it.
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<R: LicenceRegistry> LicenceRegistry for CachedRegistry<R> {
    async fn lookup(&self, licence: &LicenceNumber) -> Lookup {
        let cached = self
            .lock()
            .get(licence, Instant::now(), Utc::now())
            .cloned();
        if let Some(record) = cached {
            return Ok(Some(record));
        }
        let answer = self.inner.lookup(licence).await;
        if let Ok(record) = &answer {
            self.lock().record(licence, record.as_ref(), Instant::now());
        }
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::licence::HolderIdHash;
    use chrono::{DateTime, NaiveDate, Utc};

    fn record(n: &str, status: PractisingStatus) -> RegistryRecord {
        RegistryRecord {
            licence: n.parse().unwrap(),
            holder_name: "Amy".into(),
            holder_id_hash: HolderIdHash::of_id_number("1"),
            law_firm: "Firm".into(),
            status,
            valid_until: NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(),
            data_as_of: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    /// An hour after the test records' `data_as_of`.
    fn wall() -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(1)
    }

    const A: &str = "00000000000000001";
    const B: &str = "00000000000000002";
    const C: &str = "00000000000000003";

    #[test]
    fn keeps_practising_answers_for_one_ttl() {
        let mut c = PositiveCache::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        let a: LicenceNumber = A.parse().unwrap();
        c.record(&a, Some(&record(A, PractisingStatus::Practising)), t0);
        assert!(c.get(&a, t0 + Duration::from_secs(599), wall()).is_some());
        assert!(
            c.get(&a, t0 + Duration::from_secs(600), wall()).is_none(),
            "expires at the TTL"
        );
        c.purge_expired(t0 + Duration::from_secs(600));
        assert!(c.is_empty());
    }

    #[test]
    fn negative_answers_are_not_kept_and_void_older_positives() {
        let mut c = PositiveCache::new(Duration::from_secs(600), 10);
        let t0 = Instant::now();
        let a: LicenceNumber = A.parse().unwrap();
        for st in [
            PractisingStatus::Suspended,
            PractisingStatus::Revoked,
            PractisingStatus::Cancelled,
        ] {
            c.record(&a, Some(&record(A, st)), t0);
            assert!(c.get(&a, t0, wall()).is_none(), "{st:?}");
        }
        c.record(&a, Some(&record(A, PractisingStatus::Practising)), t0);
        c.record(&a, Some(&record(A, PractisingStatus::Suspended)), t0);
        assert!(
            c.get(&a, t0, wall()).is_none(),
            "a suspension replaces the positive answer"
        );
        c.record(&a, Some(&record(A, PractisingStatus::Practising)), t0);
        c.record(&a, None, t0);
        assert!(
            c.get(&a, t0, wall()).is_none(),
            "an unknown answer replaces it too"
        );
        c.record(&a, Some(&record(B, PractisingStatus::Practising)), t0);
        assert!(
            c.get(&a, t0, wall()).is_none(),
            "a record for another licence is not an answer"
        );
    }

    #[test]
    fn stays_within_capacity_dropping_the_oldest() {
        let mut c = PositiveCache::new(Duration::from_secs(600), 2);
        let t0 = Instant::now();
        for (i, n) in [A, B, C].into_iter().enumerate() {
            c.record(
                &n.parse().unwrap(),
                Some(&record(n, PractisingStatus::Practising)),
                t0 + Duration::from_secs(i as u64),
            );
        }
        assert_eq!(c.len(), 2);
        let later = t0 + Duration::from_secs(3);
        assert!(c.get(&A.parse().unwrap(), later, wall()).is_none());
        assert!(c.get(&C.parse().unwrap(), later, wall()).is_some());
    }

    #[test]
    fn an_answer_on_registry_data_older_than_the_maximum_age_is_not_served() {
        // R-VERIFY-1: the registry's own `data_as_of` bounds how long its word is reused.
        let mut c = PositiveCache::new(Duration::from_secs(600), 10)
            .with_max_data_age(Duration::from_secs(2 * 3600));
        let t0 = Instant::now();
        let a: LicenceNumber = A.parse().unwrap();
        c.record(&a, Some(&record(A, PractisingStatus::Practising)), t0);
        let epoch = DateTime::<Utc>::UNIX_EPOCH;
        assert!(c.get(&a, t0, epoch + chrono::Duration::hours(2)).is_some());
        assert!(
            c.get(
                &a,
                t0,
                epoch + chrono::Duration::hours(2) + chrono::Duration::seconds(1)
            )
            .is_none(),
            "the registry's data is now too old to admit on"
        );
    }
}
