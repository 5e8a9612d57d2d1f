//! Automatic concurrency (fix 3's default): the number of workers follows what the run
//! shows. It grows while throughput grows, and comes down when the server answers 429,
//! when the writer holds workers, when the quota is the limit (more workers would only
//! wait on the pacer), or when more workers bring no gain. Pure logic over samples of the
//! run's figures, so it is tested without a clock.

/// What the run did over one sampling window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sample {
    pub secs: f64,
    /// Bars committed in the window.
    pub bars: u64,
    pub requests: u64,
    pub rate_limited: u64,
    /// Worker-seconds spent waiting for room in the writer's queue.
    pub writer_blocked_s: f64,
    /// Worker-seconds spent waiting on the pacer.
    pub limiter_s: f64,
    /// Worker-seconds in requests.
    pub api_s: f64,
    /// The pacer's rate, requests a minute.
    pub pace_per_min: f64,
}

impl Sample {
    /// The quota binds when `n` workers mostly wait on the pacer, or when the pacer is in
    /// use and the requests sent already fill its pace: more workers would only queue.
    pub fn quota_binds(&self, n: u32) -> bool {
        let pace_full =
            self.limiter_s > 0.0 && self.requests as f64 >= QUOTA_FULL * self.pace_per_min / 60.0 * self.secs;
        self.limiter_s > 0.5 * self.secs * n as f64 || pace_full
    }
}

/// Why the count changed, as the dashboard and the report say it.
pub mod why {
    pub const GREW: &str = "throughput grew with more workers";
    pub const NO_GAIN: &str = "more workers brought no gain";
    pub const RATE_LIMITED: &str = "the server answered 429";
    pub const WRITER: &str = "the database writer held workers";
    pub const QUOTA: &str = "the quota is the limit";
    pub const PROBE: &str = "probing for more throughput";
    pub const START: &str = "starting count";
    pub const AUTO_AGAIN: &str = "auto again";
    pub const BY_HAND: &str = "set by hand (a: auto)";
    pub const FIXED: &str = "fixed by --concurrency";
}

pub const MAX_WORKERS: u32 = 64;
/// Windows to hold a count found best before probing above it again.
const HOLD_WINDOWS: u32 = 8;
/// Requests at this share of the pacer's rate or more: the quota is what limits the run.
const QUOTA_FULL: f64 = 0.9;
/// A gain at least this large is followed by a longer step up.
const BIG_GAIN: f64 = 0.25;
/// A gain smaller than this share is noise.
const GAIN: f64 = 0.05;

#[derive(Debug)]
pub struct Tuner {
    /// The last count tried and the throughput it gave.
    last: Option<(u32, f64)>,
    /// The best count seen and its throughput.
    best: Option<(u32, f64)>,
    hold: u32,
    /// No window seen yet: the first one probes at once rather than wait a window.
    fresh: bool,
}

impl Default for Tuner {
    fn default() -> Self {
        Tuner::new()
    }
}

impl Tuner {
    pub fn new() -> Tuner {
        Tuner { last: None, best: None, hold: 0, fresh: true }
    }

    /// The next worker count for `n` workers that produced `s`, and why; `None` keeps it.
    pub fn observe(&mut self, n: u32, s: &Sample) -> Option<(u32, &'static str)> {
        self.decide(n, s).filter(|(m, _)| *m != n)
    }

    fn decide(&mut self, n: u32, s: &Sample) -> Option<(u32, &'static str)> {
        if s.secs <= 0.0 {
            return None;
        }
        let worker_s = s.secs * n as f64;
        if s.rate_limited > 0 {
            self.forget();
            return Some((n.saturating_sub((n / 4).max(1)).max(1), why::RATE_LIMITED));
        }
        if s.writer_blocked_s > 0.1 * worker_s && n > 1 {
            self.forget();
            return Some((n - 1, why::WRITER));
        }
        if s.quota_binds(n) {
            return self.quota_bound(n, s);
        }
        self.climb(n, s.bars as f64 / s.secs)
    }

    /// When most worker time goes to the pacer, workers beyond what keeps it busy only
    /// wait: Little's law, requests in flight = rate x latency, plus one spare.
    fn quota_bound(&mut self, n: u32, s: &Sample) -> Option<(u32, &'static str)> {
        self.forget();
        if s.requests == 0 {
            return None;
        }
        let latency = s.api_s / s.requests as f64;
        let need = ((s.pace_per_min / 60.0 * latency).ceil() as u32 + 1).clamp(1, MAX_WORKERS);
        (need < n).then_some((need, why::QUOTA))
    }

    /// Hill climbing: grow while each step gains, fall back to the best count when one
    /// does not, hold there a while, then probe one above it.
    fn climb(&mut self, n: u32, rate: f64) -> Option<(u32, &'static str)> {
        if self.best.is_none_or(|(_, b)| rate > b) {
            self.best = Some((n, rate));
        }
        let previous = self.last.replace((n, rate));
        if self.hold > 0 {
            self.hold -= 1;
            return None;
        }
        match previous {
            Some((pn, pr)) if n > pn && rate < pr * (1.0 + GAIN) => {
                let best = self.best.map_or(pn, |(b, _)| b).min(n);
                self.hold = HOLD_WINDOWS;
                self.last = None;
                (best != n).then_some((best, why::NO_GAIN))
            }
            // A step that paid well is followed by a longer one: a run of seconds still
            // reaches the count it needs.
            Some((pn, pr)) if n > pn && rate >= pr * (1.0 + BIG_GAIN) => Some((leap(n), why::GREW)),
            Some((pn, _)) if n > pn => Some((grow(n), why::GREW)),
            Some((pn, _)) if n == pn => Some((n + 1, why::PROBE)).filter(|(m, _)| *m <= MAX_WORKERS),
            None if std::mem::take(&mut self.fresh) => Some((grow(n), why::PROBE)),
            // The count just came down: see what it gives.
            _ => None,
        }
    }

    /// The run changed regime (429s, a slow writer, a switch flipped by hand): earlier
    /// figures no longer hold.
    pub fn forget(&mut self) {
        self.last = None;
        self.best = None;
        self.hold = 0;
    }
}

/// Grows by a half, at least one.
fn leap(n: u32) -> u32 {
    (n + (n / 2).max(1)).min(MAX_WORKERS)
}

/// Grows by a quarter, at least one.
fn grow(n: u32) -> u32 {
    (n + (n / 4).max(1)).min(MAX_WORKERS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(bars: u64) -> Sample {
        Sample { secs: 2.0, bars, requests: 20, api_s: 10.0, pace_per_min: 1e6, ..Sample::default() }
    }

    /// Throughput proportional to workers up to `knee`, flat after it.
    fn run(tuner: &mut Tuner, knee: u32, windows: usize) -> Vec<u32> {
        let mut n = 3;
        let mut seen = vec![n];
        for _ in 0..windows {
            if let Some((m, _)) = tuner.observe(n, &sample(100_000 * n.min(knee) as u64)) {
                n = m;
            }
            seen.push(n);
        }
        seen
    }

    #[test]
    fn grows_while_throughput_grows_and_settles_at_the_knee() {
        let mut t = Tuner::new();
        let seen = run(&mut t, 12, 40);
        assert!(seen.iter().any(|&n| n >= 12), "{seen:?}");
        // Most of the time at or near the knee, never far above it for long.
        let tail = &seen[20..];
        assert!(tail.iter().filter(|&&n| (12..=13).contains(&n)).count() >= tail.len() * 3 / 4, "{seen:?}");
    }

    #[test]
    fn comes_down_on_429s_and_a_slow_writer() {
        let mut t = Tuner::new();
        let s = Sample { rate_limited: 3, ..sample(10) };
        assert_eq!(t.observe(8, &s), Some((6, why::RATE_LIMITED)));
        assert_eq!(t.observe(1, &s), None, "one worker is the least");
        let s = Sample { writer_blocked_s: 5.0, ..sample(10) };
        assert_eq!(t.observe(8, &s), Some((7, why::WRITER)));
    }

    #[test]
    fn a_binding_quota_keeps_only_the_workers_the_pacer_can_use() {
        let mut t = Tuner::new();
        // 150 requests a minute, 0.5 s a request: 1.25 in flight, so 2, and 1 spare.
        let s = Sample { limiter_s: 30.0, pace_per_min: 150.0, requests: 5, api_s: 2.5, ..sample(10) };
        assert_eq!(t.observe(16, &s), Some((3, why::QUOTA)));
        assert_eq!(t.observe(3, &s), None);
    }

    #[test]
    fn a_pace_already_filled_is_the_quota_binding_even_with_little_waiting() {
        let mut t = Tuner::new();
        // 2.5 requests a second at a pace of 150 a minute: full. The workers wait on the
        // pacer only a fifth of their time, yet another worker would gain nothing.
        let s = Sample { secs: 4.0, requests: 10, limiter_s: 2.4, api_s: 5.0, pace_per_min: 150.0, ..sample(10) };
        assert_eq!(t.observe(3, &s), None, "3 workers are what 2.5/s x 0.5 s needs");
        assert_eq!(t.observe(3, &s), None, "and it never probes above them");
        assert_eq!(t.observe(6, &s), Some((3, why::QUOTA)));
    }
}
