//! Backoff policies: the original pipeline's, kept exact, and fix 1's. Also the retry
//! budget that keeps a dead service from holding a run forever.
//!
//! The schedules are plain iterators so `backon` can drive them (`Iterator<Item =
//! Duration>` is a backon backoff); the engine adds Retry-After through `adjust`.

use std::time::Duration;

use parking_lot::Mutex;

/// tenacity's `wait_exponential`: `clamp(multiplier * 2^(attempt-1), min, max)`, where
/// `attempt` is the number of the attempt that just failed (1 for the first).
pub fn tenacity_wait_exponential(multiplier: f64, min: f64, max: f64, attempt: u32) -> f64 {
    let raw = multiplier * 2f64.powi(attempt.saturating_sub(1).min(1000) as i32);
    let capped = if raw.is_finite() { raw.min(max) } else { max };
    capped.max(min.max(0.0))
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy {
    pub multiplier: f64,
    pub min: f64,
    pub max: f64,
    /// Full jitter above `min` (tenacity's `wait_random_exponential`).
    pub jitter: bool,
    pub honour_retry_after: bool,
    /// Every wait is this many times as long: 1 for real runs; tests shrink it so a
    /// retry costs milliseconds while the schedule keeps its shape.
    pub scale: f64,
}

impl Policy {
    /// The original pipeline: `wait_exponential(multiplier=1, min=2, max=10)`.
    pub const BASELINE: Policy =
        Policy { multiplier: 1.0, min: 2.0, max: 10.0, jitter: false, honour_retry_after: false, scale: 1.0 };
    /// Fix 1, the plan's own: `wait_exponential(multiplier=1, min=1, max=300)`, waits 1,
    /// 2, 4 ... capped at 300 s, no jitter; a server's Retry-After is honoured when sent.
    pub const WIDENED: Policy =
        Policy { multiplier: 1.0, min: 1.0, max: 300.0, jitter: false, honour_retry_after: true, scale: 1.0 };

    /// The policy in force: the baseline's exact waits, or fix 1's, with full jitter
    /// when that separate setting is on. `scale` stretches every wait (1 in real runs).
    pub fn for_fix(backoff_on: bool, jitter: bool, scale: f64) -> Policy {
        let p = if backoff_on { Policy { jitter, ..Policy::WIDENED } } else { Policy::BASELINE };
        Policy { scale: if scale.is_finite() && scale > 0.0 { scale } else { 1.0 }, ..p }
    }

    /// The wait after failed attempt `attempt` (1-based).
    pub fn wait(&self, attempt: u32) -> Duration {
        let high = tenacity_wait_exponential(self.multiplier, self.min, self.max, attempt);
        let secs = if self.jitter { self.min + fastrand::f64() * (high - self.min).max(0.0) } else { high };
        Duration::from_secs_f64(secs * self.scale)
    }

    /// Waits between `max_attempts` attempts: `max_attempts - 1` of them, like
    /// tenacity's `stop_after_attempt`.
    pub fn schedule(self, max_attempts: u32) -> impl Iterator<Item = Duration> + Send + Sync + Unpin {
        (1..max_attempts).map(move |attempt| self.wait(attempt))
    }

    /// The wait to use after a failure whose answer said `retry_after` (a 429's
    /// `Retry-After`), given what the schedule proposes.
    pub fn adjust(&self, retry_after: Option<Duration>, proposed: Duration) -> Duration {
        match retry_after {
            Some(ra) if self.honour_retry_after => {
                ra.mul_f64(self.scale).min(Duration::from_secs_f64(self.max * self.scale))
            }
            _ => proposed,
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "min {}s, max {}s{}{}",
            self.min,
            self.max,
            if self.jitter { ", jitter" } else { "" },
            if self.honour_retry_after { ", Retry-After" } else { "" }
        )
    }
}

/// A token bucket of retries: `initial` to start with, `ratio` more for every success.
/// Retrying stops when it is empty, so a failing service ends the run with a message.
pub struct RetryBudget {
    tokens: Mutex<f64>,
    ratio: f64,
    /// A long clean run may bank some retries, not unlimited ones.
    cap: f64,
}

impl RetryBudget {
    pub fn new(initial: f64, ratio: f64) -> RetryBudget {
        RetryBudget { tokens: Mutex::new(initial), ratio, cap: initial.max(1.0) * 10.0 }
    }

    pub fn on_success(&self) {
        let mut t = self.tokens.lock();
        *t = (*t + self.ratio).min(self.cap);
    }

    /// Takes `cost` tokens (1 for a failure, less for a 429) if the bucket holds them.
    pub fn try_spend(&self, cost: f64) -> bool {
        let mut t = self.tokens.lock();
        if *t >= cost {
            *t -= cost;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(p: Policy, n: u32) -> Vec<f64> {
        (1..=n).map(|a| p.wait(a).as_secs_f64()).collect()
    }

    #[test]
    fn baseline_matches_tenacity() {
        // tenacity wait_exponential(multiplier=1, min=2, max=10), attempts 1..11.
        assert_eq!(secs(Policy::BASELINE, 11), [2.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0, 10.0]);
    }

    #[test]
    fn widened_bounds_match_tenacity() {
        // The upper bounds: wait_exponential(multiplier=1, min=1, max=300).
        let highs: Vec<f64> = (1..=11).map(|a| tenacity_wait_exponential(1.0, 1.0, 300.0, a)).collect();
        assert_eq!(highs, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]);
        // Jittered waits stay within [min, high].
        for _ in 0..200 {
            for (a, high) in (1..=11).zip(highs.iter()) {
                let w = Policy::for_fix(true, true, 1.0).wait(a).as_secs_f64();
                assert!((1.0..=*high).contains(&w), "attempt {a}: {w}");
            }
        }
    }

    #[test]
    fn fix_1_is_the_plans_exact_schedule_and_jitter_is_its_own_setting() {
        assert_eq!(
            secs(Policy::for_fix(true, false, 1.0), 11),
            [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
        );
        assert!(Policy::for_fix(true, true, 1.0).jitter);
        assert!(!Policy::for_fix(false, true, 1.0).jitter, "the baseline is tenacity's, exactly");
        let fast = Policy::for_fix(true, false, 0.001);
        assert_eq!(fast.wait(3), Duration::from_millis(4));
        assert_eq!(fast.adjust(Some(Duration::from_secs(20)), Duration::ZERO), Duration::from_millis(20));
    }

    #[test]
    fn tenacity_test_suite_values() {
        // tests/test_tenacity.py::test_exponential_with_max_wait_and_multiplier (multiplier=1, max=50).
        let v: Vec<f64> = (1..=8).map(|a| tenacity_wait_exponential(1.0, 0.0, 50.0, a)).collect();
        assert_eq!(v, [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 50.0, 50.0]);
        // test_exponential_with_min_wait (min=20).
        let v: Vec<f64> = (1..=8).map(|a| tenacity_wait_exponential(1.0, 20.0, f64::MAX, a)).collect();
        assert_eq!(v, [20.0, 20.0, 20.0, 20.0, 20.0, 32.0, 64.0, 128.0]);
    }

    #[test]
    fn schedule_counts_attempts_like_stop_after_attempt() {
        assert_eq!(Policy::BASELINE.schedule(5).count(), 4);
        assert_eq!(Policy::BASELINE.schedule(1).count(), 0);
    }

    #[test]
    fn retry_after_only_with_fix_1() {
        let err = Some(Duration::from_secs(20));
        let proposed = Duration::from_secs(2);
        assert_eq!(Policy::BASELINE.adjust(err, proposed), proposed);
        assert_eq!(Policy::WIDENED.adjust(err, proposed), Duration::from_secs(20));
        let huge = Some(Duration::from_secs(9999));
        assert_eq!(Policy::WIDENED.adjust(huge, proposed), Duration::from_secs(300));
    }

    #[test]
    fn budget_refills_with_successes() {
        let b = RetryBudget::new(2.0, 0.5);
        assert!(b.try_spend(1.0));
        assert!(b.try_spend(1.0));
        assert!(!b.try_spend(1.0));
        b.on_success();
        assert!(!b.try_spend(1.0));
        assert!(b.try_spend(0.25), "a 429 costs less");
        b.on_success();
        assert!(b.try_spend(0.5));
        assert!(!b.try_spend(1.0));
    }
}
