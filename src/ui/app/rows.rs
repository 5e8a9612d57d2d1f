//! One symbol x timeframe as the dashboard sees it: the numbers folded from its events.

use std::collections::VecDeque;
use std::time::Instant;

use crate::calendar::{Day, Range, format_day};
use crate::engine::events::{RequestRecord, RowState};
use crate::markets::Class;

/// One symbol x timeframe.
#[derive(Clone, Debug)]
pub struct RowView {
    pub ticker: String,
    pub timeframe: String,
    pub class: Class,
    /// The class's days in the range (for an option, up to its expiration).
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
    /// Seconds its requests took, answered or not.
    pub api_s: f64,
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

    /// The share of the plan this row has done: its weight (requests the plan expects for
    /// its days left) times the part of those days done.
    pub fn weighted_done(&self) -> f64 {
        if self.weight == 0 {
            return 0.0;
        }
        let left = self.sessions.saturating_sub(self.covered_at_start) as f64;
        let did = self.days_done.saturating_sub(self.covered_at_start) as f64;
        self.weight as f64 * (did / left).min(1.0)
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

/// What a row is doing, in the words the pane counts and filters by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Failed,
    Backoff,
    Fetching,
    Queued,
    Done,
    /// Done, and every day of it was stored by earlier runs.
    Stored,
    /// Done, and the range held no bar.
    Empty,
}

impl Kind {
    pub const ALL: [Kind; 7] =
        [Kind::Failed, Kind::Backoff, Kind::Fetching, Kind::Queued, Kind::Done, Kind::Stored, Kind::Empty];

    pub fn index(self) -> usize {
        self as usize
    }

    /// Place in follow order: rows that need attention (failed, backoff, fetching), then
    /// queued, then the ended ones.
    pub fn tier(self) -> usize {
        match self {
            Kind::Failed => 0,
            Kind::Backoff => 1,
            Kind::Fetching => 2,
            Kind::Queued => 3,
            Kind::Done | Kind::Stored | Kind::Empty => 4,
        }
    }

    pub const TIERS: usize = 5;
}

impl RowView {
    pub fn kind(&self) -> Kind {
        match &self.state {
            RowState::Failed(_) => Kind::Failed,
            RowState::Backoff { .. } => Kind::Backoff,
            RowState::Fetching => Kind::Fetching,
            RowState::Queued => Kind::Queued,
            RowState::Empty => Kind::Empty,
            RowState::Done
                if self.failed_windows == 0 && self.sessions > 0 && self.covered_at_start >= self.sessions =>
            {
                Kind::Stored
            }
            RowState::Done => Kind::Done,
        }
    }

    /// Where the row's bars start or end inside `range` (listed or delisted then), as
    /// `from 2025-03-14`, `to 2025-06-13` or both; both when the range is not known.
    pub fn bounds_note(&self, range: Option<Range>) -> Option<String> {
        let (first, last) = self.bounds?;
        let (starts, ends) = match range {
            Some(r) => (self.class.days_between(r.from, first - 1) > 0, self.class.days_between(last + 1, r.to) > 0),
            None => (true, true),
        };
        match (starts, ends) {
            (true, true) => Some(format!("from {} to {}", format_day(first), format_day(last))),
            (true, false) => Some(format!("from {}", format_day(first))),
            (false, true) => Some(format!("to {}", format_day(last))),
            (false, false) => None,
        }
    }
}

/// Rows by kind, for the pane's title.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts([u32; Kind::ALL.len()]);

impl Counts {
    pub fn add(&mut self, k: Kind) {
        self.0[k.index()] += 1;
    }

    pub fn get(&self, k: Kind) -> u32 {
        self.0[k.index()]
    }

    pub fn total(&self) -> u32 {
        self.0.iter().sum()
    }

    /// Done in this run or stored by earlier ones.
    pub fn done(&self) -> u32 {
        self.get(Kind::Done) + self.get(Kind::Stored)
    }
}
