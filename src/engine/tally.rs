//! Running totals folded from events, by the engine for the report and by each face for
//! its live view, so the two can never disagree.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::events::{Event, RunInfo};
use crate::config::Fixes;
use crate::pace::PaceFigures;
use crate::polygon::outcome::ErrorKind;
use crate::report::{Report, RunStatus, SplitNews, breakdown};

/// Running totals, folded from events by the engine and by each face alike.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub requests: u64,
    pub ok_requests: u64,
    pub rate_limit_hits: u64,
    pub retries: u64,
    pub errors: BTreeMap<String, u64>,
    pub api_s: f64,
    pub backoff_s: f64,
    pub held_s: f64,
    pub limiter_s: f64,
    pub db_s: f64,
    pub writer_blocked_s: f64,
    pub bytes: u64,
    pub bars: u64,
    /// Of `bars`, those new or different from what the database held.
    pub bars_changed: u64,
    pub windows_done: u64,
    pub windows_failed: u64,
    pub pace_per_min: f64,
    pub peak_rss_mb: f64,
    pub cpu_pct_sum: f64,
    pub cpu_samples: u64,
    /// Bars stored although odd, and the first few of them, named.
    pub suspect_bars: u64,
    pub suspect_examples: Vec<String>,
    /// Bars left out of their pages as impossible, and the first few of them, named.
    pub rejected_bars: u64,
    pub rejected_examples: Vec<String>,
    /// The most requests sent within any one quota window: what the server counts.
    pub peak_in_window: u64,
    pub peak_workers: u32,
    /// Splits that came after bars already stored, as they were told.
    pub new_splits: Vec<SplitNews>,
    /// Seconds a successful first try took: an EWMA (weight 1/8, as TCP's SRTT) over the
    /// tries that measure latency cleanly (no retry, no 429), and how many there were.
    pub latency_s: Option<f64>,
    pub latency_samples: u64,
    /// The pacer's figures as last told, and the most the server accepted in one window.
    pub pace: PaceFigures,
    pub accepted_peak_per_min: f64,
    quota_window: Duration,
    sent: VecDeque<Instant>,
}

/// Suspect bars named one by one in the report; the rest are counted.
const SUSPECT_EXAMPLES: usize = 5;

impl Tally {
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Settings(s) => self.peak_workers = self.peak_workers.max(s.workers()),
            Event::RunStarted(info) => {
                self.peak_workers = self.peak_workers.max(info.settings.workers());
                self.pace_per_min = info.pace_per_min;
                self.quota_window = Duration::from_secs_f64(info.quota_window_s);
            }
            Event::Request(r) => {
                self.count_in_window(r.at);
                self.requests += 1;
                self.api_s += r.secs;
                self.bytes += r.bytes;
                match r.error {
                    None => {
                        self.ok_requests += 1;
                        if r.first {
                            self.latency_samples += 1;
                            self.latency_s = Some(self.latency_s.map_or(r.secs, |l| l + (r.secs - l) / 8.0));
                        }
                    }
                    Some(kind) => {
                        *self.errors.entry(kind.label().to_string()).or_default() += 1;
                        if kind == ErrorKind::RateLimited {
                            self.rate_limit_hits += 1;
                        }
                    }
                }
            }
            Event::Backoff { secs, held, .. } => {
                if *held {
                    self.held_s += secs;
                } else {
                    self.retries += 1;
                    self.backoff_s += secs;
                }
            }
            Event::LimiterWait { secs } => self.limiter_s += secs,
            Event::WriterBlocked { secs } => self.writer_blocked_s += secs,
            Event::Stored { rows, changed, secs, windows } => {
                self.bars += rows;
                self.bars_changed += changed;
                self.db_s += secs;
                self.windows_done += windows.iter().filter(|w| w.last).count() as u64;
            }
            Event::WindowFailed { .. } => self.windows_failed += 1,
            Event::SuspectBars { ticker, bars, .. } => {
                self.suspect_bars += bars.len() as u64;
                for b in bars.iter().take(SUSPECT_EXAMPLES.saturating_sub(self.suspect_examples.len())) {
                    let when = crate::calendar::format_ny_ms(b.ts);
                    self.suspect_examples.push(format!("{ticker} {when}: {}", b.what));
                }
            }
            Event::RejectedBars { ticker, timeframe, bars, .. } => {
                self.rejected_bars += bars.len() as u64;
                for (ts, why) in bars.iter().take(SUSPECT_EXAMPLES.saturating_sub(self.rejected_examples.len())) {
                    let when = crate::calendar::format_ny_ms(*ts);
                    self.rejected_examples.push(format!("{ticker} {timeframe} {when}: {why}"));
                }
            }
            Event::NewSplit(news) => self.new_splits.push(news.clone()),
            Event::Pace(f) => {
                self.pace_per_min = f.rate_per_min;
                self.accepted_peak_per_min = self.accepted_peak_per_min.max(f.accepted_per_min);
                self.pace = *f;
            }
            Event::Resources { cpu_pct, rss_mb } => {
                self.peak_rss_mb = self.peak_rss_mb.max(*rss_mb);
                self.cpu_pct_sum += cpu_pct;
                self.cpu_samples += 1;
            }
            _ => {}
        }
    }

    /// Keeps the sends of the last quota window, and the most ever seen in one.
    fn count_in_window(&mut self, at: Instant) {
        let window = if self.quota_window.is_zero() { Duration::from_secs(60) } else { self.quota_window };
        while self.sent.front().is_some_and(|t| at.saturating_duration_since(*t) >= window) {
            self.sent.pop_front();
        }
        self.sent.push_back(at);
        self.peak_in_window = self.peak_in_window.max(self.sent.len() as u64);
    }

    /// Windows that ended well, of those that ended.
    pub fn success_rate(&self) -> f64 {
        let ended = self.windows_done + self.windows_failed;
        if ended == 0 { 1.0 } else { self.windows_done as f64 / ended as f64 }
    }

    /// Worker time in backoff, own waits and waits held by the shared gate together.
    pub fn all_backoff_s(&self) -> f64 {
        self.backoff_s + self.held_s
    }

    /// The breakdown so far, in the report's terms; the report's own equals it at the end.
    pub fn breakdown(&self) -> [(&'static str, f64); 4] {
        breakdown(self.api_s, self.db_s, self.all_backoff_s(), self.limiter_s)
    }

    pub fn report(&self, info: &RunInfo, wall_s: f64, end: RunEnd) -> Report {
        Report {
            run_id: info.run_id,
            status: end.status,
            note: end.note,
            source: info.source.clone(),
            fixes: end.fixes,
            concurrency: end.workers,
            wall_s,
            api_s: self.api_s,
            db_s: self.db_s,
            backoff_s: self.all_backoff_s(),
            limiter_s: self.limiter_s,
            writer_blocked_s: self.writer_blocked_s,
            requests: self.requests,
            rate_limit_hits: self.rate_limit_hits,
            retries: self.retries,
            failed_jobs: self.windows_failed,
            windows_done: self.windows_done,
            bars: self.bars,
            bytes: self.bytes,
            success_rate: self.success_rate(),
            requests_per_min: if wall_s > 0.0 { self.requests as f64 * 60.0 / wall_s } else { 0.0 },
            quota_per_min: info.quota_per_min,
            pace_per_min: self.pace_per_min,
            peak_rss_mb: end.peak_rss_mb.max(self.peak_rss_mb),
            cpu_pct: end.cpu_pct,
            errors: self.errors.clone(),
            floor_requests: info.floor_requests,
            floor_s: info.floor_s,
            planned_windows: info.estimate.windows,
            planned_requests: info.estimate.requests,
            empty_tickers: Vec::new(),
            suspect_bars: self.suspect_bars,
            suspect_examples: self.suspect_examples.clone(),
            peak_in_window: self.peak_in_window,
            quota_window_s: info.quota_window_s,
            bars_changed: self.bars_changed,
            concurrency_auto: false,
            concurrency_why: String::new(),
            peak_workers: self.peak_workers,
            split_requests: info.split_requests,
            new_splits: self.new_splits.clone(),
            ceiling_per_min: self.pace.ceiling_per_min,
            learned_per_min: self.pace.learned_per_min,
            accepted_per_min: self.accepted_peak_per_min,
            taught_429: self.pace.taught_429,
            stale_429: self.pace.stale_429,
            unpaced_429: self.rate_limit_hits.saturating_sub(self.pace.taught_429 + self.pace.stale_429),
            pace_cuts: self.pace.cuts,
            limit_is_lower: self.pace.limit_is_lower(),
            rejected_bars: self.rejected_bars,
            rejected_examples: self.rejected_examples.clone(),
        }
    }
}

pub struct RunEnd {
    pub status: RunStatus,
    pub note: Option<String>,
    pub fixes: Fixes,
    pub workers: u32,
    pub peak_rss_mb: f64,
    pub cpu_pct: f64,
}
