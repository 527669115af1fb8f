use std::ops::{AddAssign, SubAssign};
use std::time::{Duration, Instant};

/// confer patch (RTX ratio window in buckets, CONFER-PATCH.md): how many time buckets the
/// window is cut into. With the default window of 1 s a bucket is 50 ms, the interval at
/// which the send stream re-reads its RTX ratio (`rtx_ratio_downsampled`), and the sum
/// misses at most the oldest 5 % of the window.
const BUCKETS: usize = 20;

/// Holds the values of type T pushed in the last `max_time`, as well as their cumulated
/// (total) value.
///
/// confer patch (RTX ratio window in buckets, CONFER-PATCH.md): the values are summed into
/// a fixed ring of [`BUCKETS`] time buckets of `max_time / BUCKETS` each, not kept one entry
/// per value, so the history never allocates and a push costs O(1) (amortised: a push or
/// purge that moves time past the current bucket clears the buckets that fell out of the
/// window, at most [`BUCKETS`] of them however long the gap). After [`Self::purge_old`]
/// (or a push) at `now`, [`Self::sum`] is the sum of the values pushed in the last
/// `max_time` to within one bucket's width: values are dropped a whole bucket at a time, so
/// every value pushed more than `max_time - max_time / BUCKETS` before `now` may be gone
/// already, and none pushed `max_time` or more before `now` is still counted.
///
/// A time earlier than the newest seen (time going backwards) is counted in the current
/// bucket, i.e. as if pushed at the newest time seen, and [`Self::purge_old`] with such a
/// time changes nothing.
#[derive(Debug)]
pub(crate) struct ValueHistory<T> {
    value: T,
    /// The sum of the values pushed in each time slice of the window.
    buckets: [T; BUCKETS],
    /// The bucket that values pushed now are added to.
    current: usize,
    /// When the current bucket's time slice ends; `None` until the first push.
    current_end: Option<Instant>,
    max_time: Duration,
}

const DEFAULT_VALUE_HISTORY_DURATION: Duration = Duration::from_secs(1);

impl<T: Copy + Default> Default for ValueHistory<T> {
    fn default() -> Self {
        Self {
            value: Default::default(),
            buckets: [T::default(); BUCKETS],
            current: 0,
            current_end: None,
            max_time: DEFAULT_VALUE_HISTORY_DURATION,
        }
    }
}

impl<T> ValueHistory<T>
where
    T: Copy + Default + AddAssign + SubAssign,
{
    /// Adds a timed value.
    ///
    /// confer patch (RTX ratio window in buckets): also moves the window to `t`, clearing
    /// the buckets that fell out of it. A `t` earlier than the newest seen is counted in
    /// the current bucket.
    pub fn push(&mut self, t: Instant, v: T) {
        match self.current_end {
            Some(end) if t < end => {}
            Some(end) => self.advance(t, end),
            None => self.current_end = Some(t + self.bucket_width()),
        }
        self.buckets[self.current] += v;
        self.value += v;
    }

    /// Returns the sum of all values in the history up to max_time. Might
    /// return stale value unless [`ValueHistory::purge_old`] is called before.
    pub fn sum(&self) -> T {
        self.value
    }

    /// Recalculates sum purging values older than `now - max_time`.
    ///
    /// confer patch (RTX ratio window in buckets): a whole bucket at a time, so values up to
    /// one bucket's width younger may go too (see [`ValueHistory`]).
    pub fn purge_old(&mut self, now: Instant) {
        if let Some(end) = self.current_end {
            if now >= end {
                self.advance(now, end);
            }
        }
    }

    /// confer patch (RTX ratio window in buckets): the width of one bucket's time slice.
    fn bucket_width(&self) -> Duration {
        (self.max_time / BUCKETS as u32).max(Duration::from_nanos(1))
    }

    /// confer patch (RTX ratio window in buckets): makes the bucket whose time slice holds
    /// `now` (at or after `end`, where the current one ends) the current one, clearing
    /// every bucket on the way and taking it out of the sum.
    fn advance(&mut self, now: Instant, mut end: Instant) {
        let width = self.bucket_width();
        for _ in 0..BUCKETS {
            self.current = if self.current + 1 == BUCKETS {
                0
            } else {
                self.current + 1
            };
            self.value -= std::mem::take(&mut self.buckets[self.current]);
            end += width;
            if now < end {
                self.current_end = Some(end);
                return;
            }
        }
        // Every bucket is cleared and `now` is still later: a gap longer than the window.
        // The slices start again at `now`.
        self.current_end = Some(now + width);
    }
}

#[allow(clippy::unchecked_time_subtraction)]
#[cfg(test)]
mod test {
    use std::time::{Duration, Instant};

    use super::{BUCKETS, ValueHistory};

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn with_value_test() {
        let now = Instant::now();

        let mut h = ValueHistory {
            value: 11,
            max_time: Duration::from_secs(1),
            ..Default::default()
        };

        assert_eq!(h.sum(), 11);
        h.purge_old(now);
        assert_eq!(h.sum(), 11);
        h.push(now - Duration::from_millis(1500), 22);
        assert_eq!(h.sum(), 11 + 22);
        // confer patch (RTX ratio window in buckets): a push moves the window too, and the
        // value pushed 1 s before this one falls out of it.
        h.push(now - Duration::from_millis(500), 22);
        assert_eq!(h.sum(), 11 + 22);
        h.purge_old(now);
        assert_eq!(h.sum(), 11 + 22);
        h.push(now, 0);
        assert_eq!(h.sum(), 11 + 22);
    }

    #[test]
    fn test() {
        let now = Instant::now();
        let mut h = ValueHistory::default();

        assert_eq!(h.sum(), 0);
        h.push(now - Duration::from_millis(1500), 22);
        assert_eq!(h.sum(), 22);
        h.purge_old(now);
        assert_eq!(h.sum(), 0);

        // confer patch (RTX ratio window in buckets): a new history, as pushing times before
        // `now` into the one purged at `now` would be time going backwards.
        let mut h = ValueHistory::default();
        h.push(now - Duration::from_millis(700), 22);
        h.push(now - Duration::from_millis(500), 33);
        assert_eq!(h.sum(), 22 + 33);
        h.purge_old(now);
        assert_eq!(h.sum(), 22 + 33);

        h.purge_old(now + Duration::from_millis(400));
        assert_eq!(h.sum(), 33);
        h.purge_old(now + Duration::from_millis(600));
        assert_eq!(h.sum(), 0);
    }

    // confer patch (RTX ratio window in buckets): the tests below are confer's.

    #[test]
    fn values_within_the_window_are_summed() {
        let t0 = Instant::now();
        let mut h = ValueHistory::default();
        for i in 0..10_u64 {
            h.push(t0 + 100 * MS * i as u32, i + 1);
        }
        assert_eq!(h.sum(), 55);
        // The first value's bucket is [t0, t0 + 50 ms): counted until t0 + 1 s.
        h.purge_old(t0 + 999 * MS);
        assert_eq!(h.sum(), 55);
        h.purge_old(t0 + 1000 * MS);
        assert_eq!(h.sum(), 55 - 1);
        h.purge_old(t0 + 1799 * MS);
        assert_eq!(h.sum(), 10 + 9);
        h.purge_old(t0 + 1800 * MS);
        assert_eq!(h.sum(), 10);
    }

    #[test]
    fn values_older_than_the_window_are_gone() {
        let t0 = Instant::now();
        let mut h = ValueHistory::default();
        h.push(t0, 1_u64);
        // In the middle and at the end of the first bucket.
        h.push(t0 + 30 * MS, 10);
        h.push(t0 + 49 * MS, 100);
        h.push(t0 + 50 * MS, 1000);
        // Each is counted for at least the window less one bucket...
        h.purge_old(t0 + 49 * MS + 950 * MS - Duration::from_nanos(1));
        assert_eq!(h.sum(), 1111);
        // ...and dropped with its bucket, never later than the window.
        h.purge_old(t0 + 1000 * MS);
        assert_eq!(h.sum(), 1000);
        h.purge_old(t0 + 1050 * MS);
        assert_eq!(h.sum(), 0);
    }

    #[test]
    fn a_long_gap_clears_everything() {
        let t0 = Instant::now();
        let mut h = ValueHistory::default();
        for i in 0..1000_u32 {
            h.push(t0 + MS * i, 7_u64);
        }
        assert!(h.sum() > 0);
        let later = t0 + Duration::from_secs(3600);
        h.purge_old(later);
        assert_eq!(h.sum(), 0);
        assert!(h.buckets.iter().all(|b| *b == 0));

        // The window works on from there.
        h.push(later + 10 * MS, 5);
        h.push(later + 500 * MS, 6);
        assert_eq!(h.sum(), 11);
        h.purge_old(later + 1010 * MS);
        assert_eq!(h.sum(), 6);
        h.purge_old(later + 1510 * MS);
        assert_eq!(h.sum(), 0);

        // A gap just past the window, and one of many windows, by push.
        h.push(later + 2000 * MS, 1);
        h.push(later + 3001 * MS, 2);
        assert_eq!(h.sum(), 2);
        h.push(later + Duration::from_secs(86_400), 3);
        assert_eq!(h.sum(), 3);
    }

    #[test]
    fn equal_and_backward_times() {
        let t0 = Instant::now() + Duration::from_secs(3600);
        let mut h = ValueHistory::default();
        h.push(t0, 1_u64);
        h.push(t0, 2);
        h.push(t0 + 500 * MS, 4);
        h.push(t0 + 500 * MS, 8);
        assert_eq!(h.sum(), 15);

        // Backwards, by a little and by far: counted now, in the current bucket.
        h.push(t0 + 100 * MS, 16);
        h.push(t0 - Duration::from_secs(3000), 32);
        assert_eq!(h.sum(), 63);
        // Purging at an earlier time changes nothing.
        h.purge_old(t0);
        h.purge_old(t0 - Duration::from_secs(3000));
        assert_eq!(h.sum(), 63);

        // They leave with the bucket they were counted in (t0 + 500 ms's).
        h.purge_old(t0 + 1000 * MS);
        assert_eq!(h.sum(), 60);
        h.purge_old(t0 + 1500 * MS - Duration::from_nanos(1));
        assert_eq!(h.sum(), 60);
        h.purge_old(t0 + 1500 * MS);
        assert_eq!(h.sum(), 0);
    }

    #[test]
    fn many_values_in_one_bucket() {
        let t0 = Instant::now();
        let mut h = ValueHistory::default();
        for i in 0..100_000_u32 {
            h.push(t0 + Duration::from_nanos(i as u64 * 400), 3_u64);
        }
        assert_eq!(h.sum(), 300_000);
        assert_eq!(h.buckets[h.current], 300_000);
        h.purge_old(t0 + 999 * MS);
        assert_eq!(h.sum(), 300_000);
        h.purge_old(t0 + 1000 * MS);
        assert_eq!(h.sum(), 0);
    }

    /// The sum against the exact one for a random sequence: never more than the values of
    /// the last `max_time`, never less than those of the last `max_time` less one bucket.
    #[test]
    fn the_sum_is_the_exact_window_to_one_bucket() {
        // xorshift64*, deterministic.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut rand = move || {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };

        for max_ms in [1000_u64, 300, 37] {
            let max_time = Duration::from_millis(max_ms);
            let width = max_time / BUCKETS as u32;
            let t0 = Instant::now();
            let mut h = ValueHistory {
                max_time,
                ..Default::default()
            };
            let mut pushed: Vec<(Instant, u64)> = vec![];
            let mut now = t0;
            let mut checked = 0;

            for _ in 0..20_000 {
                let r = rand();
                // Mostly small steps (including none), sometimes a long gap.
                let step_us = match r % 100 {
                    0 => rand() % (3 * max_ms * 1000),
                    1..=20 => 0,
                    _ => rand() % (max_ms * 1000 / 50 + 1),
                };
                now += Duration::from_micros(step_us);
                if r % 7 == 0 {
                    h.purge_old(now);
                } else {
                    let v = rand() % 1500;
                    h.push(now, v);
                    pushed.push((now, v));
                }

                let in_last = |d: Duration| {
                    pushed
                        .iter()
                        .filter(|(t, _)| now.duration_since(*t) < d)
                        .map(|(_, v)| v)
                        .sum::<u64>()
                };
                let exact = in_last(max_time);
                let least = in_last(max_time - width);
                let sum = h.sum();
                assert!(
                    least <= sum && sum <= exact,
                    "window {max_time:?} at {:?}: {least} <= {sum} <= {exact}",
                    now - t0
                );
                checked += 1;
                pushed.retain(|(t, _)| now.duration_since(*t) < max_time);
            }
            assert_eq!(checked, 20_000);
        }
    }

    #[test]
    fn the_history_does_not_grow() {
        // A fixed array and no heap: nothing to drop, and a few cache lines.
        assert!(!std::mem::needs_drop::<ValueHistory<u64>>());
        assert!(std::mem::size_of::<ValueHistory<u64>>() <= 256);
        assert_eq!(
            std::mem::size_of::<Option<ValueHistory<u64>>>(),
            std::mem::size_of::<ValueHistory<u64>>()
        );

        // A second of silence after an hour of 1000 values a second leaves nothing.
        let t0 = Instant::now();
        let mut h = ValueHistory::default();
        for i in 0..3_600_000_u32 {
            h.push(t0 + MS * i, 1_u64);
        }
        let last = t0 + MS * 3_599_999;
        assert!(h.sum() >= 950 && h.sum() <= 1000, "{}", h.sum());
        h.purge_old(last + Duration::from_secs(1));
        assert_eq!(h.sum(), 0);
    }
}
