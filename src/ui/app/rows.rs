//! One symbol x timeframe as the dashboard sees it: the numbers folded from its events.

use std::collections::VecDeque;
use std::time::Instant;

use crate::calendar::Day;
use crate::engine::events::{RequestRecord, RowState};

/// One symbol x timeframe.
#[derive(Clone, Debug)]
pub struct RowView {
    pub ticker: String,
    pub timeframe: String,
    pub sessions: u32,
    /// Trading days stored before this run.
    pub covered_at_start: u32,
    /// Trading days stored: before this run, plus each window finished in it.
    pub days_done: u32,
    /// Requests the plan expects for the days left, a weight for the ETA.
    pub weight: u64,
    pub state: RowState,
    pub state_at: Instant,
    /// Bars in pages fetched for this row (per-ticker requests).
    pub page_bars: u64,
    /// Bars of the windows finished for this row (grouped-daily ones included).
    pub window_bars: u64,
    pub requests: u64,
    pub window_requests: u64,
    pub rate_limited: u64,
    pub failed_windows: u32,
    pub last_failure: Option<String>,
    /// First and last trading day with bars, when they fall inside the range.
    pub bounds: Option<(Day, Day)>,
    pub recent: VecDeque<(Instant, RequestRecord)>,
}

impl RowView {
    /// Grouped-daily pages carry no row, so their bars show only in finished windows;
    /// per-ticker pages show as they arrive.
    pub fn bars(&self) -> u64 {
        self.page_bars.max(self.window_bars)
    }

    pub fn requests(&self) -> u64 {
        self.requests.max(self.window_requests)
    }

    pub fn progress(&self) -> f64 {
        if self.sessions == 0 { 1.0 } else { (self.days_done as f64 / self.sessions as f64).min(1.0) }
    }

    /// Seconds left of a backoff, as of `now`.
    pub fn backoff_left(&self, now: Instant) -> Option<f64> {
        match &self.state {
            RowState::Backoff { secs, .. } => {
                Some((secs - now.saturating_duration_since(self.state_at).as_secs_f64()).max(0.0))
            }
            _ => None,
        }
    }
}
