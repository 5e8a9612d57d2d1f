//! Fix 2's pacing: one governor limiter shared by every worker, a gate that holds all of
//! them after a 429, and additive-increase / multiplicative-decrease of the pace when the
//! server's real limit turns out lower than the configured one.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::clock::{self, TokioClock};

// On tokio's clock, the one the pacer sleeps on (see `crate::clock`).
type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<<TokioClock as Clock>::Instant>>;

/// A steady pace of `per_min` requests a minute with a burst of one.
///
/// `Quota::per_minute(n)` would also allow a burst of `n`, letting up to `2n - 1`
/// requests through in the first minute (or after any idle minute), which is exactly
/// what makes a fixed-quota server answer 429.
pub fn pacing_quota(per_min: f64) -> Quota {
    let period = Duration::from_secs_f64(60.0 / per_min.max(0.01));
    Quota::with_period(period).expect("non-zero period").allow_burst(NonZeroU32::new(1).unwrap())
}

/// Decrease on a 429 when recent successes say nothing about the real limit.
const DECREASE: f64 = 0.7;
/// Pace kept under an estimated limit.
const UNDER_ESTIMATE: f64 = 0.95;
/// Increase after each clean quota window, as a share of the current pace.
const INCREASE_SHARE: f64 = 0.05;
/// Quota windows to stay under an estimated limit before probing above it again.
const PROBATION_WINDOWS: u32 = 5;
const MIN_RATE_PER_MIN: f64 = 0.5;

/// Fix 2's pacer.
///
/// When a 429 says the real limit is below the configured quota, the successes of the
/// last quota window are the best estimate of that limit, so the pace drops to just
/// under it in one step. 429s on requests sent before the last change carry no news, and
/// neither do 429s while the pace is already under the estimate (the server's window is
/// still draining): those are waited out, not answered with another cut.
pub struct Pacer {
    clock: TokioClock,
    ceiling: f64,
    window: Duration,
    state: Mutex<PaceState>,
}

struct PaceState {
    limiter: Arc<Limiter>,
    rate: f64,
    gate_until: Option<Instant>,
    last_change: Option<Instant>,
    clean_since: Instant,
    /// After a cut to an estimated limit, no probing above it until then.
    probation_until: Option<Instant>,
    successes: VecDeque<Instant>,
}

/// Time a caller spent in `Pacer::acquire`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Waited {
    /// Held by the shared gate after someone's 429.
    pub gate: Duration,
    /// Held by the limiter to keep the pace.
    pub limiter: Duration,
}

impl Pacer {
    /// Paces at `quota_per_min` less `headroom_pct` percent; `window` is the span over
    /// which the server counts its quota (a minute for Polygon).
    pub fn new(quota_per_min: u32, headroom_pct: f64, window: Duration) -> Pacer {
        let ceiling = quota_per_min as f64 * (1.0 - headroom_pct / 100.0);
        let clock = TokioClock;
        Pacer {
            state: Mutex::new(PaceState {
                limiter: Arc::new(RateLimiter::direct_with_clock(pacing_quota(ceiling), clock.clone())),
                rate: ceiling,
                gate_until: None,
                last_change: None,
                clean_since: clock::now(),
                probation_until: None,
                successes: VecDeque::new(),
            }),
            clock,
            ceiling,
            window,
        }
    }

    pub fn rate_per_min(&self) -> f64 {
        self.state.lock().rate
    }

    pub fn ceiling_per_min(&self) -> f64 {
        self.ceiling
    }

    /// When the gate opens, if it is closed.
    pub fn gate_until(&self) -> Option<Instant> {
        self.state.lock().gate_until.filter(|t| *t > clock::now())
    }

    /// Holds every worker until `now + wait` (or longer, if already held longer).
    pub fn hold_all(&self, wait: Duration) {
        let until = clock::now() + wait;
        let mut s = self.state.lock();
        if s.gate_until.is_none_or(|g| g < until) {
            s.gate_until = Some(until);
        }
    }

    /// Waits for the gate, then for a limiter cell. `None` if cancelled first.
    pub async fn acquire(&self, cancel: &CancellationToken) -> Option<Waited> {
        let mut waited = Waited::default();
        loop {
            let gate = self.gate_until();
            if let Some(until) = gate {
                let start = clock::now();
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep_until(until.into()) => {}
                }
                waited.gate += clock::since(start);
                continue;
            }
            let limiter = self.state.lock().limiter.clone();
            match limiter.check() {
                Ok(()) => return Some(waited),
                Err(not_until) => {
                    let wait = not_until.wait_time_from(self.clock.now());
                    let start = clock::now();
                    tokio::select! {
                        _ = cancel.cancelled() => return None,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    waited.limiter += clock::since(start);
                }
            }
        }
    }

    /// A request sent at `sent_at` got a 429. Returns the new pace when it changed.
    pub fn on_rate_limited(&self, sent_at: Instant) -> Option<f64> {
        let now = clock::now();
        let mut s = self.state.lock();
        s.clean_since = now;
        if s.last_change.is_some_and(|t| sent_at < t) {
            return None;
        }
        let window = self.window;
        while s.successes.front().is_some_and(|t| now.duration_since(*t) > window) {
            s.successes.pop_front();
        }
        let in_window = s.successes.len();
        let target = if in_window >= 2 {
            in_window as f64 * 60.0 / window.as_secs_f64() * UNDER_ESTIMATE
        } else {
            s.rate * DECREASE
        };
        if target >= s.rate {
            return None;
        }
        let rate = target.max(MIN_RATE_PER_MIN);
        if in_window >= 2 {
            s.probation_until = Some(now + self.window * PROBATION_WINDOWS);
        }
        self.set_rate(&mut s, rate, now);
        Some(rate)
    }

    /// A request succeeded. After a clean stretch, creep back towards the ceiling.
    /// Returns the new pace when it changed.
    pub fn on_success(&self) -> Option<f64> {
        let now = clock::now();
        let mut s = self.state.lock();
        s.successes.push_back(now);
        if s.successes.len() > 100_000 {
            s.successes.pop_front();
        }
        let probation = s.probation_until.is_some_and(|t| now < t);
        if s.rate >= self.ceiling || probation || now.duration_since(s.clean_since) < self.window {
            return None;
        }
        s.clean_since = now;
        let rate = (s.rate + (s.rate * INCREASE_SHARE).max(1.0)).min(self.ceiling);
        self.set_rate(&mut s, rate, now);
        Some(rate)
    }

    fn set_rate(&self, s: &mut PaceState, rate: f64, now: Instant) {
        s.rate = rate;
        s.last_change = Some(now);
        // With a burst of one, a fresh limiter can let at most one extra request through.
        s.limiter = Arc::new(RateLimiter::direct_with_clock(pacing_quota(rate), self.clock.clone()));
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    /// Drives a greedy client against the quota on a fake clock, in 10 ms steps, and
    /// returns the most requests seen in any 60 s window.
    fn max_in_any_minute(quota: Quota, minutes: u64) -> usize {
        let clock = FakeRelativeClock::default();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone());
        let mut sent_at = Vec::new();
        for step in 0..(minutes * 6000) {
            while limiter.check().is_ok() {
                sent_at.push(step * 10);
            }
            clock.advance(Duration::from_millis(10));
        }
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..sent_at.len() {
            while sent_at[hi] - sent_at[lo] >= 60_000 {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    #[test]
    fn per_minute_quota_bursts_past_the_limit() {
        // Why barfill does not use Quota::per_minute: 299 requests in the first minute.
        let naive = Quota::per_minute(NonZeroU32::new(150).unwrap());
        assert_eq!(max_in_any_minute(naive, 3), 299);
    }

    #[test]
    fn pacing_quota_never_exceeds_the_quota_in_any_minute() {
        assert_eq!(max_in_any_minute(pacing_quota(150.0), 3), 150);
        assert_eq!(max_in_any_minute(pacing_quota(147.0), 3), 147);
        assert_eq!(max_in_any_minute(pacing_quota(5.0), 3), 5);
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn headroom_lowers_the_ceiling() {
        let p = Pacer::new(150, 2.0, MINUTE);
        assert!((p.ceiling_per_min() - 147.0).abs() < 1e-9);
        assert_eq!(p.rate_per_min(), p.ceiling_per_min());
    }

    #[test]
    fn a_429_drops_the_pace_to_just_under_what_succeeded_in_the_window() {
        let p = Pacer::new(150, 0.0, MINUTE);
        // The server let 15 requests through this minute, then said 429: its limit is ~15.
        for _ in 0..15 {
            assert_eq!(p.on_success(), None);
        }
        let sent = Instant::now();
        assert_eq!(p.on_rate_limited(sent), Some(15.0 * 0.95));
        // In-flight requests sent before the change carry no news.
        assert_eq!(p.on_rate_limited(sent), None);
        // Nor do 429s while the pace is already under the estimate: the window is draining.
        assert_eq!(p.on_rate_limited(Instant::now()), None);
        assert_eq!(p.rate_per_min(), 15.0 * 0.95);
    }

    #[test]
    fn without_recent_successes_a_429_cuts_the_pace_by_a_share() {
        let p = Pacer::new(100, 0.0, MINUTE);
        assert_eq!(p.on_rate_limited(Instant::now()), Some(70.0));
    }

    #[test]
    fn the_estimate_scales_with_the_servers_window() {
        // 5 successes in a 1-second window is 300 a minute.
        let p = Pacer::new(600, 0.0, Duration::from_secs(1));
        for _ in 0..5 {
            p.on_success();
        }
        assert_eq!(p.on_rate_limited(Instant::now()), Some(300.0 * 0.95));
    }

    #[test]
    fn hold_all_keeps_the_latest_deadline() {
        let p = Pacer::new(100, 0.0, MINUTE);
        p.hold_all(Duration::from_secs(30));
        let first = p.gate_until().unwrap();
        p.hold_all(Duration::from_secs(1));
        assert_eq!(p.gate_until().unwrap(), first);
    }
}
