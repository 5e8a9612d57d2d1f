//! The figures the panes show, computed from the folded state as of `now`.

use std::time::Instant;

use super::rates::{BUCKET_S, Wait, within_minute};
use super::{App, Eta, Phase};

use crate::engine::events::RowState;

impl App {
    /// `running`, `paused`, `stopping`, or how the run ended.
    pub fn status(&self) -> &str {
        match self.phase {
            Phase::Starting => "starting",
            Phase::Running if self.stop_requested => "stopping",
            Phase::Running if self.settings.paused => "paused",
            Phase::Running => "running",
            // No report: the run's task died without one.
            Phase::Finished => self.report.as_ref().map(|r| r.status.as_str()).unwrap_or("failed"),
        }
    }

    pub fn elapsed(&self, now: Instant) -> f64 {
        match (&self.report, self.run_started) {
            (Some(r), _) => r.wall_s,
            (None, Some(t)) => now.saturating_duration_since(t).as_secs_f64(),
            (None, None) => 0.0,
        }
    }

    /// Share of the planned work done, each row weighted by the requests the plan expects
    /// for it: a day of minute bars costs far more than a day of daily bars.
    pub fn progress(&self) -> Option<f64> {
        (self.planned_weight > 0).then(|| self.done_weight / self.planned_weight as f64)
    }

    /// Time left: the engine's estimate, counted down since it came. While the engine is
    /// still measuring the rate, at least what the quota needs for the requests left.
    pub fn eta(&self, now: Instant) -> Option<Eta> {
        if self.phase != Phase::Running {
            return None;
        }
        if self.settings.paused {
            return Some(Eta::Paused);
        }
        let Some((at, told)) = self.eta_told else {
            let at_least = self.info.as_ref().map(|i| i.floor_s).filter(|s| *s >= 1.0);
            return Some(Eta::Measuring { at_least });
        };
        let gone = now.saturating_duration_since(at).as_secs_f64();
        match (told.secs, told.measuring) {
            (Some(secs), false) => Some(Eta::About((secs - gone).max(0.0))),
            _ => {
                let quota = self.quota_per_min() as f64;
                let at_least = (quota > 0.0).then(|| told.requests_left * 60.0 / quota).filter(|s| *s >= 1.0);
                Some(Eta::Measuring { at_least })
            }
        }
    }

    pub(super) fn eta_told(&mut self, at: Instant, told: crate::engine::eta::EtaFigures) {
        self.eta_told = Some((at, told));
    }

    pub fn bars_stored(&self) -> u64 {
        self.report.as_ref().map(|r| r.bars).unwrap_or(self.tally.bars)
    }

    pub fn breakdown(&self) -> [(&'static str, f64); 4] {
        match &self.report {
            Some(r) => r.breakdown(),
            None => self.tally.breakdown(),
        }
    }

    pub fn quota_per_min(&self) -> u32 {
        self.info.as_ref().map(|i| i.quota_per_min).unwrap_or(0)
    }

    pub fn requests_last_minute(&self, now: Instant) -> usize {
        within_minute(&self.rate.recent, now)
    }

    pub fn hits_last_minute(&self, now: Instant) -> usize {
        within_minute(&self.rate.recent_429, now)
    }

    /// Requests in the trailing minute over time: `(seconds since the run started, count)`,
    /// one point per bucket and one for the present. Not scaled up in the first minute:
    /// the count in the last 60 s is what a per-minute quota holds against the run.
    pub fn rate_series(&self, now: Instant) -> Vec<(f64, f64)> {
        let Some(start) = self.run_started else { return Vec::new() };
        let elapsed = now.saturating_duration_since(start).as_secs_f64();
        // An ended run's line ends with it; a quiet spell (a pause) still counts as zeros.
        let end = self.report.as_ref().map(|r| r.wall_s).unwrap_or(elapsed);
        let per_minute = (60.0 / BUCKET_S) as usize;
        let complete = (end / BUCKET_S) as usize;
        let count = |i: usize| self.rate.buckets.get(i).copied().unwrap_or(0);
        let mut points = Vec::with_capacity(complete + 1);
        let mut sum: u32 = 0;
        for i in 0..complete {
            sum += count(i);
            if i >= per_minute {
                sum -= count(i - per_minute);
            }
            points.push(((i + 1) as f64 * BUCKET_S, sum as f64));
        }
        if elapsed > 0.0 && self.report.is_none() {
            points.push((elapsed, self.requests_last_minute(now) as f64));
        }
        points
    }

    /// Waits in progress, longest left first.
    pub fn waits(&self, now: Instant) -> Vec<Wait> {
        let mut waits: Vec<Wait> = self
            .in_backoff
            .iter()
            .filter_map(|&i| self.rows.get(i))
            .filter_map(|r| {
                let left = r.backoff_left(now)?;
                let RowState::Backoff { reason, .. } = &r.state else { return None };
                (left > 0.0).then(|| Wait {
                    who: format!("{} {}", r.ticker, r.timeframe),
                    reason: reason.clone(),
                    left,
                })
            })
            .collect();
        for (t, secs, reason) in &self.backoff.other {
            let left = secs - now.saturating_duration_since(*t).as_secs_f64();
            if left > 0.0 {
                waits.push(Wait { who: "grouped daily".into(), reason: reason.clone(), left });
            }
        }
        waits.sort_by(|a, b| b.left.total_cmp(&a.left).then_with(|| a.who.cmp(&b.who)));
        waits
    }
}
