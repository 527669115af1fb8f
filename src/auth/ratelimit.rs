//! Sign-in rate limiting: at most N failed sign-ins per account key (`user:...`) and
//! [`CLIENT_FACTOR`] × N per client-address key (`ip:...`) within a sliding window. A
//! client address gets more room because many lawyers may sign in from one office or
//! carrier NAT; one person's typos must not lock out the others. Pure: `now` is an
//! argument; the state is a map behind a std `Mutex` that is never held across an `.await`.
//!
//! The budget cannot be raced: [`LoginLimiter::reserve`] checks and counts an attempt as a
//! failure in one step, before the password is checked, so N parallel guesses cost N of
//! the budget at once and the ones beyond it are refused without a hash. A success then
//! gives the attempt back ([`LoginLimiter::succeeded`]).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many more failures a client address may make than a single account.
pub const CLIENT_FACTOR: usize = 4;

pub struct LoginLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration) -> Self {
        LoginLimiter {
            max_failures: max_failures as usize,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when any of `keys` has used up its failures in the window.
    pub fn check(&self, keys: &[&str], now: Instant) -> Result<(), Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in keys {
            let max = self.max_for(key);
            if let Some(q) = map.get_mut(*key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() >= max {
                    let oldest = q.front().copied().unwrap_or(now);
                    let w = self.window.saturating_sub(now.duration_since(oldest));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        match wait {
            Some(w) => Err(w.max(Duration::from_secs(1))),
            None => Ok(()),
        }
    }

    /// Check `keys` and, if none has used up its budget, count this attempt as a failure
    /// for each of them, atomically. `Err(retry_after)` when any is used up (nothing is
    /// counted then). The caller settles a success with [`LoginLimiter::succeeded`].
    pub fn reserve(&self, keys: &[&str], now: Instant) -> Result<Instant, Duration> {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let mut wait = None;
        for key in keys {
            let max = self.max_for(key);
            if let Some(q) = map.get_mut(*key) {
                while q
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    q.pop_front();
                }
                if q.len() >= max {
                    let oldest = q.front().copied().unwrap_or(now);
                    let w = self.window.saturating_sub(now.duration_since(oldest));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        if let Some(w) = wait {
            return Err(w.max(Duration::from_secs(1)));
        }
        Self::push(&mut map, keys, now, |k| self.max_for(k));
        Ok(now)
    }

    /// A reserved attempt succeeded: the account's failures are forgotten, and the
    /// attempt reserved at `at` is given back to the other keys (the client address).
    pub fn succeeded(&self, account_key: &str, other_keys: &[&str], at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(account_key);
        for key in other_keys {
            if let Some(q) = map.get_mut(*key) {
                if let Some(i) = q.iter().rposition(|t| *t == at) {
                    q.remove(i);
                }
            }
        }
    }

    /// A reserved attempt that never reached the password check (the server was busy):
    /// give it back to every key.
    pub fn release(&self, keys: &[&str], at: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            if let Some(q) = map.get_mut(*key) {
                if let Some(i) = q.iter().rposition(|t| *t == at) {
                    q.remove(i);
                }
            }
        }
    }

    fn push(
        map: &mut HashMap<String, VecDeque<Instant>>,
        keys: &[&str],
        now: Instant,
        max_for: impl Fn(&str) -> usize,
    ) {
        for key in keys {
            let max = max_for(key);
            let q = map.entry((*key).to_owned()).or_default();
            q.push_back(now);
            while q.len() > max {
                q.pop_front();
            }
        }
    }

    pub fn record_failure(&self, keys: &[&str], now: Instant) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        // Bound memory under a flood of distinct keys: forget everything stale first.
        if map.len() > 100_000 {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) < self.window)
            });
        }
        for key in keys {
            let max = self.max_for(key);
            let q = map.entry((*key).to_owned()).or_default();
            q.push_back(now);
            while q.len() > max {
                q.pop_front();
            }
        }
    }

    fn max_for(&self, key: &str) -> usize {
        if key.starts_with("ip:") {
            self.max_failures * CLIENT_FACTOR
        } else {
            self.max_failures
        }
    }

    pub fn record_success(&self, keys: &[&str]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            map.remove(*key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixth_failure_within_the_window_is_refused_and_the_window_passes() {
        let l = LoginLimiter::new(5, Duration::from_secs(900));
        let t0 = Instant::now();
        for i in 0..5 {
            assert!(l.check(&["user:amy"], t0 + Duration::from_secs(i)).is_ok());
            l.record_failure(&["user:amy"], t0 + Duration::from_secs(i));
        }
        let wait = l
            .check(&["user:amy"], t0 + Duration::from_secs(10))
            .unwrap_err();
        assert!(wait <= Duration::from_secs(900) && wait >= Duration::from_secs(880));
        assert!(
            l.check(&["user:bob"], t0).is_ok(),
            "other accounts are not affected"
        );
        assert!(l
            .check(&["user:amy"], t0 + Duration::from_secs(905))
            .is_ok());
    }

    #[test]
    fn a_client_address_gets_more_room_than_one_account() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        l.record_failure(&["user:a", "ip:10.0.0.1"], t0);
        l.record_failure(&["user:a", "ip:10.0.0.1"], t0);
        assert!(l.check(&["user:a", "ip:10.0.0.1"], t0).is_err());
        assert!(
            l.check(&["user:b", "ip:10.0.0.1"], t0).is_ok(),
            "a colleague at the same address"
        );
        for _ in 0..6 {
            l.record_failure(&["ip:10.0.0.1"], t0);
        }
        assert!(
            l.check(&["user:c", "ip:10.0.0.1"], t0).is_err(),
            "but the address is limited too"
        );
    }

    #[test]
    fn parallel_attempts_cannot_exceed_the_budget() {
        // 30 attempts reserved before any is settled: only the budget gets through.
        let l = LoginLimiter::new(5, Duration::from_secs(900));
        let t0 = Instant::now();
        let granted = (0..30)
            .filter(|_| l.reserve(&["user:amy", "ip:10.0.0.9"], t0).is_ok())
            .count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn a_success_gives_its_attempt_back_to_the_address() {
        let l = LoginLimiter::new(1, Duration::from_secs(60));
        let t0 = Instant::now();
        let at = l.reserve(&["user:a", "ip:10.0.0.1"], t0).unwrap();
        l.succeeded("user:a", &["ip:10.0.0.1"], at);
        assert!(l.reserve(&["user:a", "ip:10.0.0.1"], t0).is_ok());
    }

    #[test]
    fn success_clears_the_count() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        l.record_failure(&["k"], t0);
        l.record_success(&["k"]);
        l.record_failure(&["k"], t0);
        assert!(l.check(&["k"], t0).is_ok());
    }
}
