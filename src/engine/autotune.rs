//! Automatic concurrency (fix 3's default). Two regimes:
//! - **Paced below a paid plan's pace** (fix 2 on): the count is Little's law, requests in
//!   flight = pace x latency, plus one, with the latency of successful first tries only
//!   (pacer waits, 429s and retries left out). It goes up at once when the need rises and
//!   requests succeed, and down only when the need has stayed lower for a minute and half
//!   a minute has passed since the last change; nothing moves for a moment after a switch
//!   the user made, nor while the pacer's gate holds everyone.
//! - **Unpaced or a paid plan's pace**: hill climbing on bars stored a second, coming down
//!   on 429s or a busy writer (`Tuner`).
//!
//! Pure logic over samples of the run's figures and a time in seconds, tested without a
//! clock.

use std::collections::VecDeque;

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
    /// Requests answered well in the window: nothing is growing while none is.
    pub ok_requests: u64,
    /// Seconds a successful first try took, as the run's average so far (an EWMA), and
    /// how many such tries it is made of.
    pub latency_s: Option<f64>,
    pub latency_samples: u64,
    /// Fix 2 paces requests; the pacer's gate holds every worker.
    pub paced: bool,
    pub held: bool,
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
    pub const PACE_NEEDS: &str = "the pace needs this many in flight (pace x latency + 1)";
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

/// Samples of latency a decision to grow needs, and to shrink (Netflix's windowed limit
/// wants ten).
const SAMPLES_TO_GROW: u64 = 2;
const SAMPLES_TO_SHRINK: u64 = 10;
/// The need must have stayed lower for this long before the count comes down (HPA's
/// stabilisation window, shortened to a quota window).
const DOWN_WINDOW_S: f64 = 60.0;
/// Seconds between two changes: after any, before a step down.
const MIN_GAP_UP_S: f64 = 2.0;
const MIN_GAP_DOWN_S: f64 = 30.0;
/// After a switch the user made, nothing moves for this long (latency under the new
/// settings is not measured yet), and nothing comes down for a window.
const FREEZE_UP_S: f64 = 5.0;
const FREEZE_DOWN_S: f64 = 60.0;
/// Seconds after a growth before checking that it paid, and the gain in answered
/// requests a growth must bring.
const GROWTH_CHECK_S: f64 = 4.0;
/// Changes smaller than this share of the count are left alone.
const TOLERANCE: f64 = 0.2;
const GROWTH_GAIN: f64 = 0.1;

/// The worker count's controller: Little's law while fix 2 paces below a paid plan's
/// pace, the throughput climber otherwise.
#[derive(Debug, Default)]
pub struct Controller {
    tuner: Tuner,
    /// The last growth, to check that it paid: when, from what count, and the rate of
    /// answered requests before it.
    grew: Option<(f64, u32, f64)>,
    /// The most workers that still brought more answers; growth stops there.
    cap: Option<u32>,
    /// (time, what Little's law asked for) over the last minute.
    needs: VecDeque<(f64, u32)>,
    last_change: Option<f64>,
    frozen_up_until: f64,
    frozen_down_until: f64,
}

impl Controller {
    pub fn new() -> Controller {
        Controller::default()
    }

    /// The workers `pace` and `latency` keep busy: in flight = rate x latency, plus one.
    pub fn little(pace_per_min: f64, latency_s: f64) -> u32 {
        ((pace_per_min / 60.0 * latency_s).ceil() as u32 + 1).clamp(1, MAX_WORKERS)
    }

    /// A switch made by the user at `now`: what was measured before says little.
    pub fn user_switched(&mut self, now: f64) {
        self.frozen_up_until = now + FREEZE_UP_S;
        self.frozen_down_until = now + FREEZE_DOWN_S;
        self.needs.clear();
        self.tuner.forget();
        (self.grew, self.cap) = (None, None);
    }

    /// The count for `n` workers that produced `s` at `now` seconds, and why; `None` keeps it.
    pub fn decide(&mut self, now: f64, n: u32, s: &Sample) -> Option<(u32, &'static str)> {
        let change = if s.paced && s.pace_per_min < PAID_PACE { self.paced(now, n, s) } else { self.climbing(n, s) };
        let change = change.filter(|(m, _)| *m != n);
        if change.is_some() {
            self.last_change = Some(now);
        }
        change
    }

    fn paced(&mut self, now: f64, n: u32, s: &Sample) -> Option<(u32, &'static str)> {
        if s.held {
            return None;
        }
        let latency = s.latency_s.filter(|_| s.latency_samples >= SAMPLES_TO_GROW)?;
        let answered = s.ok_requests as f64 / s.secs.max(1e-9);
        if let Some(back) = self.growth_paid(now, n, answered, s.pace_per_min) {
            return Some((back, why::NO_GAIN));
        }
        let need = Controller::little(s.pace_per_min, latency).min(self.cap.unwrap_or(MAX_WORKERS));
        self.needs.push_back((now, need));
        while self.needs.front().is_some_and(|(t, _)| now - t > DOWN_WINDOW_S) {
            self.needs.pop_front();
        }
        let since_change = self.last_change.map_or(f64::INFINITY, |t| now - t);
        // A change of less than a fifth is noise in the latency, not a need (HPA's
        // tolerance): Little's law already keeps a worker to spare.
        if need > n && (need - n) as f64 >= TOLERANCE * n as f64 {
            // At most double at a step, and only once the last step proved it paid: on a
            // machine that cannot answer at the pace, a jump would only queue.
            let may =
                now >= self.frozen_up_until && since_change >= MIN_GAP_UP_S && s.ok_requests > 0 && self.grew.is_none();
            if may {
                self.grew = Some((now, n, answered));
            }
            return may.then_some((need.min((2 * n).max(n + 2)), why::PACE_NEEDS));
        }
        // Down only to the most the last minute asked for, once that minute is whole.
        let spans = self.needs.front().is_some_and(|(t, _)| now - t >= DOWN_WINDOW_S - 1.0);
        let most = self.needs.iter().map(|(_, k)| *k).max().unwrap_or(n);
        let may = spans
            && most < n
            && (n - most) as f64 >= TOLERANCE * n as f64
            && s.latency_samples >= SAMPLES_TO_SHRINK
            && now >= self.frozen_down_until
            && since_change >= MIN_GAP_DOWN_S;
        may.then_some((most, why::QUOTA))
    }

    /// A growth that brought no more answers while the pace still had room: the machine
    /// or the database, not the quota, is the limit, and more workers would only queue
    /// (and lengthen the latency Little's law reads, asking for more still). Returns the
    /// count to go back to, and keeps it as the cap.
    fn growth_paid(&mut self, now: f64, n: u32, answered: f64, pace_per_min: f64) -> Option<u32> {
        let (when, from, before) = self.grew?;
        if now - when < GROWTH_CHECK_S {
            return None;
        }
        self.grew = None;
        let room = answered * 60.0 < 0.9 * pace_per_min;
        (room && answered < before * (1.0 + GROWTH_GAIN) && n > from).then(|| {
            self.cap = Some(from);
            from
        })
    }

    fn climbing(&mut self, n: u32, s: &Sample) -> Option<(u32, &'static str)> {
        let change = self.tuner.observe(n, s)?;
        // Nothing is growing while no request succeeds: more workers would only fail faster.
        (change.0 < n || s.ok_requests > 0).then_some(change)
    }
}

/// A pace this high is a paid plan's: throughput, not the quota, sets the count.
const PAID_PACE: f64 = crate::config::Concurrency::PAID_PACE_PER_MIN as f64;

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
        Sample { secs: 2.0, bars, requests: 20, ok_requests: 20, api_s: 10.0, pace_per_min: 1e6, ..Sample::default() }
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

    /// One second of a paced run that keeps its pace, latency `l` over `samples` tries.
    fn paced(pace: f64, l: f64, samples: u64) -> Sample {
        let n = (pace / 60.0).round() as u64;
        Sample {
            secs: 1.0,
            requests: n,
            ok_requests: n,
            pace_per_min: pace,
            latency_s: Some(l),
            latency_samples: samples,
            paced: true,
            ..Sample::default()
        }
    }

    #[test]
    fn paced_the_count_is_pace_times_latency_plus_one_from_the_first_answers() {
        let mut c = Controller::new();
        assert_eq!(Controller::little(150.0, 0.56), 3);
        assert_eq!(Controller::little(1200.0, 0.56), 13);
        assert_eq!(Controller::little(5.0, 0.3), 2);
        assert_eq!(c.decide(0.0, 3, &paced(1200.0, 0.56, 1)), None, "one answer is not yet a measure");
        // Up at once, doubling at a step while each step pays, to what the pace needs.
        let slow = |n: u64| Sample { requests: n, ok_requests: n, ..paced(1200.0, 0.56, 2) };
        assert_eq!(c.decide(1.0, 3, &slow(5)), Some((6, why::PACE_NEEDS)));
        assert_eq!(c.decide(3.0, 6, &slow(10)), None, "the step is not judged yet");
        assert_eq!(c.decide(5.0, 6, &slow(10)), Some((12, why::PACE_NEEDS)));
        assert_eq!(c.decide(9.0, 12, &slow(20)), None, "13 is within a fifth of 12: noise");
        assert_eq!(c.decide(9.0, 12, &slow(20)), None);
    }

    #[test]
    fn paced_a_steady_run_keeps_its_count_through_latency_noise() {
        let mut c = Controller::new();
        let mut n = 3;
        let mut changes = Vec::new();
        // Ten minutes at 1200/min, latency wandering between 0.45 and 0.65 s.
        for t in 0..600 {
            let l = 0.55 + 0.1 * ((t as f64) * 0.7).sin();
            if let Some((m, _)) = c.decide(t as f64, n, &paced(1200.0, l, 2 + t)) {
                n = m;
                changes.push((t, m));
            }
        }
        // The climb from 3 (doubling at a step) within the first seconds, then steady.
        let steady: Vec<_> = changes.iter().filter(|(t, _)| *t >= 20).collect();
        assert!(changes.iter().filter(|(t, _)| *t < 20).count() <= 3, "{changes:?}");
        assert!(steady.len() <= 1, "{changes:?}");
        assert!((12..=14).contains(&n), "{n}");
    }

    #[test]
    fn paced_it_comes_down_only_after_a_minute_of_lower_need() {
        let mut c = Controller::new();
        assert_eq!(c.decide(0.0, 13, &paced(1200.0, 0.56, 20)), None);
        // The pace fell to 150/min: 3 workers are enough, but not for a minute yet.
        let mut down = None;
        for t in 1..=120 {
            if let Some(change) = c.decide(t as f64, 13, &paced(150.0, 0.56, 20 + t)) {
                down = Some((t, change));
                break;
            }
        }
        let (t, change) = down.expect("it came down");
        assert_eq!(change, (3, why::QUOTA));
        assert!((60..=62).contains(&t), "after {t}s");
    }

    #[test]
    fn paced_nothing_moves_while_the_gate_holds_or_just_after_a_switch_or_with_nothing_stored() {
        let mut c = Controller::new();
        let held = Sample { held: true, ..paced(1200.0, 0.56, 20) };
        assert_eq!(c.decide(0.0, 3, &held), None);
        c.user_switched(10.0);
        assert_eq!(c.decide(12.0, 3, &paced(1200.0, 0.56, 20)), None, "frozen for 5 s");
        let failing = Sample { ok_requests: 0, ..paced(1200.0, 0.56, 20) };
        assert_eq!(c.decide(16.0, 3, &failing), None, "nothing succeeds: no growth");
        assert_eq!(c.decide(17.0, 3, &paced(1200.0, 0.56, 20)), Some((6, why::PACE_NEEDS)));
        // No step down within a window of the switch, however long the need stays low.
        for t in 18..70 {
            assert_eq!(c.decide(t as f64, 6, &paced(60.0, 0.56, 40)), None, "at {t}s");
        }
    }

    #[test]
    fn paced_a_growth_that_brings_no_more_answers_is_undone_and_caps_the_count() {
        let mut c = Controller::new();
        // 1200/min asked, but the machine answers 5 a second whatever the count; the
        // latency grows with the queue.
        let stuck = |l: f64, samples: u64| Sample { requests: 5, ok_requests: 5, ..paced(1200.0, l, samples) };
        assert_eq!(c.decide(0.0, 3, &stuck(0.6, 5)), Some((6, why::PACE_NEEDS)));
        assert_eq!(c.decide(3.0, 6, &stuck(1.2, 8)), None, "too soon to judge");
        assert_eq!(c.decide(6.0, 6, &stuck(1.2, 10)), Some((3, why::NO_GAIN)));
        for t in 12..40 {
            assert_eq!(c.decide(t as f64, 3, &stuck(2.6, 10 + t)), None, "capped at {t}s");
        }
    }

    #[test]
    fn unpaced_the_climber_never_grows_while_no_request_succeeds() {
        let mut c = Controller::new();
        let wrong = Sample { ok_requests: 0, requests: 20, ..sample(0) };
        let mut n = 3;
        for t in 0..30 {
            if let Some((m, _)) = c.decide(t as f64, n, &wrong) {
                assert!(m < n, "grew to {m} with nothing stored");
                n = m;
            }
        }
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
