//! The run's ETA, worked out by the engine once a second from what only it knows: the
//! work left in requests (queued and in flight, at each row's density as its pages have
//! shown it), the pace, the latency of successful first tries, the workers, and how long
//! the pacer's gate still holds. Auto's worker changes move the rate, never the clock.
//!
//! Without fix 2 there is no pace to go by, so the rate of answered requests is measured
//! instead: a time-based average weighting the last 15 s at 90 % (indicatif's
//! estimator), started afresh only by a switch the user made.

use std::time::Instant;

use super::scheduler::WorkLeft;
use crate::calendar::{self, Range};
use crate::polygon::client::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::timeframe::{BaseUnit, MINUTES_PER_SESSION};

/// Seconds of measured rate after a switch before the ETA stops saying "measuring".
pub const MEASURE_S: f64 = 15.0;

/// What the faces show: seconds left, or that the rate is still being measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EtaFigures {
    pub secs: Option<f64>,
    pub measuring: bool,
    /// Requests the work left should take, and the rate the ETA assumes (per minute).
    pub requests_left: f64,
    pub rate_per_min: f64,
}

/// What the engine knows at a tick.
pub struct Inputs {
    pub left: WorkLeft,
    /// Per row, the last bar stored this run (epoch ms): where a chain in flight stands.
    pub last_ts: Vec<Option<i64>>,
    pub batching: bool,
    pub workers: u32,
    pub pace_per_min: f64,
    pub latency_s: Option<f64>,
    /// Seconds the pacer's gate still holds every worker.
    pub gate_s: f64,
    /// Requests answered well so far.
    pub ok_requests: u64,
}

/// The measured rate, kept from tick to tick.
pub struct EtaClock {
    last: Option<(Instant, u64)>,
    rate: Option<f64>,
    measured_s: f64,
}

impl Default for EtaClock {
    fn default() -> Self {
        EtaClock::new()
    }
}

impl EtaClock {
    pub fn new() -> EtaClock {
        EtaClock { last: None, rate: None, measured_s: 0.0 }
    }

    /// The user switched a fix or paused: the rate measured before is another regime's.
    pub fn user_switched(&mut self) {
        self.last = None;
        self.rate = None;
        self.measured_s = 0.0;
    }

    pub fn tick(&mut self, now: Instant, i: &Inputs) -> EtaFigures {
        self.measure(now, i.ok_requests);
        let chains = chains(&i.left, &i.last_ts, i.batching);
        let requests_left = total(&chains, &i.left);
        if requests_left <= 0.0 {
            return EtaFigures { secs: Some(0.0), measuring: false, requests_left, rate_per_min: 0.0 };
        }
        let (rate, measuring) = if i.batching { self.paced_rate(i) } else { self.measured_rate() };
        // A chain's pages go one after another, whatever the pace allows.
        let longest = chains.iter().copied().fold(0.0, f64::max);
        let secs = rate.filter(|r| *r > 0.0).map(|r| {
            let paced = i.gate_s + requests_left / r;
            i.latency_s.map_or(paced, |l| paced.max(i.gate_s + longest * l))
        });
        EtaFigures { secs, measuring, requests_left, rate_per_min: rate.unwrap_or(0.0) * 60.0 }
    }

    /// The pace, or what the workers can keep up at the latency measured, if less; the
    /// chains left bound how many workers have something to do.
    fn paced_rate(&self, i: &Inputs) -> (Option<f64>, bool) {
        let pace = i.pace_per_min / 60.0;
        let chains = (i.left.queued.len() + i.left.in_flight.len() + i.left.grouped_days).max(1);
        let busy = (i.workers as usize).min(chains) as f64;
        match i.latency_s {
            Some(l) if l > 0.0 => (Some(pace.min(busy / l)), false),
            _ => (Some(pace), true),
        }
    }

    fn measured_rate(&self) -> (Option<f64>, bool) {
        (self.rate, self.measured_s < MEASURE_S)
    }

    fn measure(&mut self, now: Instant, ok: u64) {
        if let Some((at, before)) = self.last {
            let dt = now.saturating_duration_since(at).as_secs_f64();
            if dt > 0.0 {
                let seen = ok.saturating_sub(before) as f64 / dt;
                // 15 s back carries a tenth of the weight.
                let alpha = 1.0 - 0.1f64.powf(dt / MEASURE_S);
                self.rate = Some(self.rate.map_or(seen, |r| r + alpha * (seen - r)));
                self.measured_s += dt;
            }
        }
        self.last = Some((now, ok));
    }
}

/// Requests the work left should take, at the page size of the fixes in force.
#[cfg(test)]
fn requests_left(left: &WorkLeft, last_ts: &[Option<i64>], batching: bool) -> f64 {
    total(&chains(left, last_ts, batching), left)
}

/// The chains' requests and one a grouped day.
fn total(chains: &[f64], left: &WorkLeft) -> f64 {
    chains.iter().sum::<f64>() + left.grouped_days as f64
}

/// Requests each range left still takes, one after another: queued ranges, and what is
/// left of those in flight after their last stored bar.
fn chains(left: &WorkLeft, last_ts: &[Option<i64>], batching: bool) -> Vec<f64> {
    let limit = if batching { MAX_LIMIT } else { DEFAULT_LIMIT };
    let priors = priors(left);
    let queued = left.queued.iter().map(|&(row, sessions)| requests(left, &priors, row, sessions, limit));
    let flying = left.in_flight.iter().map(|&(row, range)| {
        let rest = rest_of(range, last_ts.get(row).copied().flatten());
        // The request out now is, on average, half answered.
        requests(left, &priors, row, rest.sessions(), limit).max(1.0) - 0.5
    });
    queued.chain(flying).collect()
}

/// The part of a range in flight after its last stored bar (intraday bars may go on
/// that day).
fn rest_of(range: Range, last_ts: Option<i64>) -> Range {
    match last_ts.map(calendar::ny_day_of_ms) {
        Some(day) if day >= range.from && day <= range.to => Range { from: day, to: range.to },
        _ => range,
    }
}

/// Base bars a session for rows whose pages have not shown theirs yet: the mean of the
/// rows of the same timeframe that have.
fn priors(left: &WorkLeft) -> Vec<(crate::timeframe::Timeframe, f64)> {
    let mut sums: Vec<(crate::timeframe::Timeframe, f64, u32)> = Vec::new();
    for (tf, density) in &left.rows {
        if let Some(d) = density {
            match sums.iter_mut().find(|(t, _, _)| t == tf) {
                Some(e) => {
                    e.1 += d;
                    e.2 += 1;
                }
                None => sums.push((*tf, *d, 1)),
            }
        }
    }
    sums.into_iter().map(|(tf, sum, n)| (tf, sum / n as f64)).collect()
}

fn requests(
    left: &WorkLeft,
    priors: &[(crate::timeframe::Timeframe, f64)],
    row: usize,
    sessions: u32,
    limit: u32,
) -> f64 {
    if sessions == 0 {
        return 0.0;
    }
    let Some(&(tf, density)) = left.rows.get(row) else { return 1.0 };
    let per_session = match tf.base() {
        BaseUnit::Day => 1.0,
        BaseUnit::Minute => density
            .or_else(|| priors.iter().find(|(t, _)| *t == tf).map(|(_, d)| *d))
            .unwrap_or(MINUTES_PER_SESSION as f64),
    };
    (sessions as f64 * per_session / limit as f64).ceil().max(1.0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn day(s: &str) -> calendar::Day {
        calendar::parse_date(s).unwrap()
    }

    /// Ten liquid minute rows over 2024 (252 sessions), 960 base bars a session known for
    /// the first: 5 requests each at 50,000 a page.
    fn ten_rows() -> WorkLeft {
        let tf = "1/minute".parse().unwrap();
        let mut rows = vec![(tf, None); 10];
        rows[0].1 = Some(960.0);
        WorkLeft { queued: (0..10).map(|r| (r, 252)).collect(), in_flight: Vec::new(), grouped_days: 0, rows }
    }

    fn inputs(left: WorkLeft, workers: u32, latency: Option<f64>) -> Inputs {
        Inputs {
            last_ts: vec![None; left.rows.len()],
            left,
            batching: true,
            workers,
            pace_per_min: 150.0,
            latency_s: latency,
            gate_s: 0.0,
            ok_requests: 0,
        }
    }

    #[test]
    fn paced_the_eta_is_the_requests_left_at_the_pace_or_at_what_the_workers_keep_up() {
        let mut clock = EtaClock::new();
        let now = Instant::now();
        let e = clock.tick(now, &inputs(ten_rows(), 3, Some(0.5)));
        assert_eq!(e.requests_left, 50.0, "the known density stands for the rows not measured yet");
        assert_eq!(e.secs, Some(20.0), "50 requests at 150/min");
        assert!(!e.measuring);
        // One worker at 0.5 s a request keeps up 2 a second: less than the pace.
        let e = clock.tick(now, &inputs(ten_rows(), 1, Some(0.5)));
        assert_eq!(e.secs, Some(25.0));
        // Auto's worker count changes the rate at once, nothing else.
        let e = clock.tick(now, &inputs(ten_rows(), 5, Some(0.5)));
        assert_eq!((e.secs, e.measuring), (Some(20.0), false));
    }

    #[test]
    fn paced_the_gate_and_a_long_last_chain_add_their_time() {
        let mut clock = EtaClock::new();
        let mut i = inputs(ten_rows(), 3, Some(0.5));
        i.gate_s = 30.0;
        assert_eq!(clock.tick(Instant::now(), &i).secs, Some(50.0));
        // One row left, 5 pages, one after another: 2.5 s however high the pace.
        let mut left = ten_rows();
        left.queued.truncate(1);
        let mut i = inputs(left, 3, Some(0.5));
        i.pace_per_min = 6000.0;
        assert_eq!(clock.tick(Instant::now(), &i).secs, Some(2.5));
    }

    #[test]
    fn a_chain_in_flight_counts_what_is_left_after_its_last_bar() {
        let mut left = ten_rows();
        left.queued.clear();
        left.in_flight = vec![(0, Range { from: day("2024-01-02"), to: day("2024-12-31") })];
        let mid = calendar::ny_midnight_ms(day("2024-07-01")) + 3_600_000;
        let halfway = requests_left(&left, &[Some(mid)], true);
        let whole = requests_left(&left, &[None], true);
        assert_eq!((whole, halfway), (4.5, 2.5));
    }

    #[test]
    fn unpaced_the_rate_is_measured_for_15_s_then_trusted_and_only_a_switch_restarts_it() {
        let mut clock = EtaClock::new();
        let t0 = Instant::now();
        let mut i = inputs(ten_rows(), 1, Some(0.1));
        i.batching = false;
        let mut last = EtaFigures::default();
        for s in 0..=20u64 {
            i.ok_requests = s * 2;
            last = clock.tick(t0 + Duration::from_secs(s), &i);
            assert_eq!(last.measuring, s < 15, "at {s}s");
        }
        // Two answers a second; the pages are 5,000 base bars without fix 2.
        assert!((last.rate_per_min - 120.0).abs() < 1e-6, "{last:?}");
        assert_eq!(last.requests_left, 10.0 * (252.0_f64 * 960.0 / 5000.0).ceil());
        clock.user_switched();
        let e = clock.tick(t0 + Duration::from_secs(21), &i);
        assert!(e.measuring && e.secs.is_none(), "{e:?}");
    }
}
