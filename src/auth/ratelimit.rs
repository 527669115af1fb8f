//! Sign-in rate limiting: at most N failed sign-ins per account key (`user:...`) and
//! [`CLIENT_FACTOR`] × N per client-address key (`ip:...`) within a sliding window. A
//! client address gets more room because many lawyers may sign in from one office or
//! carrier NAT; one person's typos must not lock out the others. Pure: `now` is an argument; the state is a map
//! behind a std `Mutex` that is never held across an `.await`.

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
    fn success_clears_the_count() {
        let l = LoginLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        l.record_failure(&["k"], t0);
        l.record_success(&["k"]);
        l.record_failure(&["k"], t0);
        assert!(l.check(&["k"], t0).is_ok());
    }
}
