//! A circuit breaker for the remote registry: pure, time injected (`now: Instant`).
//!
//! Owns the state machine only:
//! - **Closed**: requests pass; `failure_threshold` consecutive failures open the circuit.
//! - **Open** until `opened_at + open_for`: no request passes ([`CircuitBreaker::try_acquire`]
//!   refuses), so a failing registry is not hammered and lawyers get the "verify by hand"
//!   answer at once instead of after every timeout.
//! - **Half-open** after that: exactly one probe passes. Its success closes the circuit, its
//!   failure opens it again for `open_for`. A probe whose outcome is never reported (its
//!   future was dropped) does not wedge the breaker: after another `open_for` a new probe may go.
//!
//! Does not: sleep, spawn, read the clock or know what a request is. The HTTP client
//! ([`super::remote::HttpRegistry`]) keeps one behind a `std::sync::Mutex` and reports each
//! attempt's outcome; only registry failures (unreachable, timeout, error status, garbage)
//! count, a definite "unknown licence" is a success.

use std::time::{Duration, Instant};

/// Tuning of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit (at least 1).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one probe is let through.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_for: Duration::from_secs(30),
        }
    }
}

/// The externally visible state, for health views and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerPhase {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerPhase::Closed => "closed",
            BreakerPhase::Open => "open",
            BreakerPhase::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        consecutive_failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe was let through at `since`.
    HalfOpen {
        since: Instant,
    },
}

/// Permission to send one request, from [`CircuitBreaker::try_acquire`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// The circuit is closed: an ordinary request.
    Normal,
    /// The circuit was open long enough: this request is the one probe.
    Probe,
}

/// The circuit is open: no request now. `retry_in` is how long until a probe may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub retry_in: Duration,
}

#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    state: State,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        let config = BreakerConfig {
            failure_threshold: config.failure_threshold.max(1),
            ..config
        };
        CircuitBreaker {
            config,
            state: State::Closed {
                consecutive_failures: 0,
            },
        }
    }

    pub fn config(&self) -> BreakerConfig {
        self.config
    }

    /// The phase at `now` (an open circuit whose time is up reads as half-open).
    pub fn phase(&self, now: Instant) -> BreakerPhase {
        match self.state {
            State::Closed { .. } => BreakerPhase::Closed,
            State::Open { until } if now < until => BreakerPhase::Open,
            State::Open { .. } | State::HalfOpen { .. } => BreakerPhase::HalfOpen,
        }
    }

    /// Ask to send one request at `now`.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Permit, Rejected> {
        match self.state {
            State::Closed { .. } => Ok(Permit::Normal),
            State::Open { until } if now < until => Err(Rejected {
                retry_in: until - now,
            }),
            State::Open { .. } => {
                self.state = State::HalfOpen { since: now };
                Ok(Permit::Probe)
            }
            State::HalfOpen { since } => {
                let probe_expires = since + self.config.open_for;
                if now >= probe_expires {
                    // The last probe never reported back; let another one go.
                    self.state = State::HalfOpen { since: now };
                    Ok(Permit::Probe)
                } else {
                    Err(Rejected {
                        retry_in: probe_expires - now,
                    })
                }
            }
        }
    }

    /// The registry answered (a record or a definite "unknown licence").
    pub fn on_success(&mut self) {
        self.state = State::Closed {
            consecutive_failures: 0,
        };
    }

    /// The registry failed at `now` (unreachable, timeout, error status, garbage).
    pub fn on_failure(&mut self, now: Instant) {
        self.state = match self.state {
            State::Closed {
                consecutive_failures,
            } => {
                let failures = consecutive_failures.saturating_add(1);
                if failures >= self.config.failure_threshold {
                    State::Open {
                        until: now + self.config.open_for,
                    }
                } else {
                    State::Closed {
                        consecutive_failures: failures,
                    }
                }
            }
            // A failed probe (or a late failure of a request sent before the circuit opened).
            State::HalfOpen { .. } | State::Open { .. } => State::Open {
                until: now + self.config.open_for,
            },
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN_FOR: Duration = Duration::from_secs(30);

    fn breaker() -> (CircuitBreaker, Instant) {
        (
            CircuitBreaker::new(BreakerConfig {
                failure_threshold: 3,
                open_for: OPEN_FOR,
            }),
            Instant::now(),
        )
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let (mut b, t0) = breaker();
        b.on_failure(t0);
        b.on_failure(t0);
        b.on_success();
        b.on_failure(t0);
        b.on_failure(t0);
        assert_eq!(
            b.phase(t0),
            BreakerPhase::Closed,
            "a success in between resets the count"
        );
        assert_eq!(b.try_acquire(t0), Ok(Permit::Normal));
        b.on_failure(t0);
        assert_eq!(b.phase(t0), BreakerPhase::Open);
        assert_eq!(
            b.try_acquire(t0 + Duration::from_secs(10)),
            Err(Rejected {
                retry_in: Duration::from_secs(20)
            })
        );
    }

    #[test]
    fn half_opens_after_open_for_and_lets_one_probe_through() {
        let (mut b, t0) = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + OPEN_FOR;
        assert_eq!(b.phase(later), BreakerPhase::HalfOpen);
        assert_eq!(b.try_acquire(later), Ok(Permit::Probe));
        assert!(
            b.try_acquire(later + Duration::from_secs(1)).is_err(),
            "only one probe at a time"
        );
        b.on_success();
        assert_eq!(b.phase(later), BreakerPhase::Closed);
        assert_eq!(b.try_acquire(later), Ok(Permit::Normal));
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_again() {
        let (mut b, t0) = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        let later = t0 + OPEN_FOR;
        assert_eq!(b.try_acquire(later), Ok(Permit::Probe));
        b.on_failure(later);
        assert_eq!(b.phase(later + Duration::from_secs(29)), BreakerPhase::Open);
        assert_eq!(b.try_acquire(later + OPEN_FOR), Ok(Permit::Probe));
    }

    #[test]
    fn a_lost_probe_does_not_wedge_the_breaker() {
        let (mut b, t0) = breaker();
        for _ in 0..3 {
            b.on_failure(t0);
        }
        assert_eq!(b.try_acquire(t0 + OPEN_FOR), Ok(Permit::Probe));
        // The probe's outcome is never reported.
        assert!(b
            .try_acquire(t0 + OPEN_FOR + Duration::from_secs(29))
            .is_err());
        assert_eq!(b.try_acquire(t0 + OPEN_FOR * 2), Ok(Permit::Probe));
    }

    #[test]
    fn a_zero_threshold_means_one() {
        let mut b = CircuitBreaker::new(BreakerConfig {
            failure_threshold: 0,
            open_for: OPEN_FOR,
        });
        let t0 = Instant::now();
        assert_eq!(b.try_acquire(t0), Ok(Permit::Normal));
        b.on_failure(t0);
        assert_eq!(b.phase(t0), BreakerPhase::Open);
    }
}
