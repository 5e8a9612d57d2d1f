//! From the configuration and what the database already holds to the work left: one
//! row per symbol and timeframe, each with the date ranges not yet covered, and the
//! arithmetic of requests, windows and the floor the quota allows.

use std::collections::{BTreeSet, HashMap};

use crate::calendar::{self, Day, Range};
use crate::polygon::client::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::store::Covered;
use crate::timeframe::{BaseUnit, MINUTES_PER_SESSION, Timeframe};

/// Whole sessions of a liquid ticker's minute bars in one `limit=50000` page: 52 x 960 = 49,920.
pub const DAYS_PER_MINUTE_WINDOW: u32 = MAX_LIMIT / MINUTES_PER_SESSION;

/// One symbol x timeframe: a line of the dashboard and a unit of resume.
#[derive(Clone, Debug)]
pub struct Row {
    pub ticker: String,
    pub timeframe: Timeframe,
    /// Trading days in the whole requested range.
    pub sessions: u32,
    /// Trading days already stored by earlier runs.
    pub covered_sessions: u32,
    /// Uncovered ranges, oldest first.
    pub pending: Vec<Range>,
    /// Where the first pending range starts within its first day: just after a bar
    /// stored there by a run that stopped mid-page, so no stored bar is asked for again.
    pub resume_ms: Option<i64>,
    /// Bars earlier runs stored in the range (from their progress); 0 with no pending
    /// work means the range holds no bar at all.
    pub stored_bars: u64,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub rows: Vec<Row>,
    pub symbols: Vec<String>,
    pub timeframes: Vec<Timeframe>,
    pub range: Range,
}

impl Plan {
    pub fn new(symbols: &[String], timeframes: &[Timeframe], range: Range, covered: &Covered) -> Plan {
        let mut rows = Vec::new();
        for ticker in symbols {
            for tf in timeframes {
                let done = covered.get(&(ticker.clone(), tf.to_string())).map(Vec::as_slice).unwrap_or(&[]);
                let pending = subtract(range, done);
                let sessions = range.sessions();
                let left: u32 = pending.iter().map(|r| r.sessions()).sum();
                rows.push(Row {
                    ticker: ticker.clone(),
                    timeframe: *tf,
                    sessions,
                    covered_sessions: sessions - left,
                    pending,
                    resume_ms: None,
                    stored_bars: 0,
                });
            }
        }
        Plan { rows, symbols: symbols.to_vec(), timeframes: timeframes.to_vec(), range }
    }

    pub fn pending_sessions(&self) -> u64 {
        self.rows.iter().map(|r| (r.sessions - r.covered_sessions) as u64).sum()
    }

    /// Bars earlier runs stored, per symbol and timeframe (summed from their progress).
    pub fn note_stored(&mut self, stored: &HashMap<(String, String), u64>) {
        for row in &mut self.rows {
            row.stored_bars = stored.get(&(row.ticker.clone(), row.timeframe.to_string())).copied().unwrap_or(0);
        }
    }

    /// Requests the remaining work needs with the given page-size regime, if every
    /// ticker traded every minute of every session: an estimate, since thin, young and
    /// unknown tickers need fewer (the report's floor counts what the run found).
    pub fn estimate(&self, batching: bool) -> Estimate {
        let mut est = Estimate::default();
        let mut daily_days: BTreeSet<Day> = BTreeSet::new();
        let mut daily_tasks = 0u64;
        for row in &self.rows {
            for r in &row.pending {
                let n = r.sessions() as u64;
                if n == 0 {
                    continue;
                }
                est.windows += 1;
                if batching && row.timeframe.is_daily() {
                    daily_tasks += 1;
                    daily_days.extend((r.from..=r.to).filter(|d| calendar::is_session(*d)));
                    continue;
                }
                est.requests += requests_for(row.timeframe, n, if batching { MAX_LIMIT } else { DEFAULT_LIMIT });
            }
        }
        if batching {
            let grouped = daily_days.len() as u64;
            if grouped < daily_tasks {
                est.requests += grouped;
                est.grouped_days = grouped;
            } else {
                est.requests += daily_tasks;
            }
        }
        est
    }

    /// The fewest requests the bars a run found allow, known once it has run: per row
    /// `max(1, ceil(base bars / 50000))` from the base bars the server counted for it
    /// (`base[row]`), and for daily rows together the grouped days when that is fewer.
    /// Rows with nothing pending cost nothing.
    pub fn floor_after(&self, base: &[u64]) -> u64 {
        let mut total = 0;
        let mut daily_days: BTreeSet<Day> = BTreeSet::new();
        let mut daily_rows = 0u64;
        for (i, row) in self.rows.iter().enumerate().filter(|(_, r)| !r.pending.is_empty()) {
            let need = base.get(i).copied().unwrap_or(0).div_ceil(MAX_LIMIT as u64).max(1);
            if row.timeframe.is_daily() {
                daily_rows += need;
                for r in &row.pending {
                    daily_days.extend((r.from..=r.to).filter(|d| calendar::is_session(*d)));
                }
            } else {
                total += need;
            }
        }
        total + daily_rows.min(daily_days.len() as u64)
    }

    /// The fewest requests that can fetch the remaining work: every request carrying a
    /// full `limit=50000` of base bars, and grouped-daily where it needs fewer.
    pub fn floor_requests(&self) -> u64 {
        let mut total = 0;
        let mut daily_days: BTreeSet<Day> = BTreeSet::new();
        let mut daily_rows = 0u64;
        for row in &self.rows {
            let n: u64 = row.pending.iter().map(|r| r.sessions() as u64).sum();
            if n == 0 {
                continue;
            }
            if row.timeframe.is_daily() {
                daily_rows += 1;
                for r in &row.pending {
                    daily_days.extend((r.from..=r.to).filter(|d| calendar::is_session(*d)));
                }
                continue;
            }
            total += requests_for(row.timeframe, n, MAX_LIMIT);
        }
        total + daily_rows.min(daily_days.len() as u64)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    pub requests: u64,
    pub windows: u64,
    /// Trading days fetched through the grouped-daily endpoint (0 when per ticker).
    pub grouped_days: u64,
}

/// Seconds the quota needs for `requests`: the floor of any run.
pub fn seconds_at_quota(requests: u64, quota_per_min: f64) -> f64 {
    requests as f64 * 60.0 / quota_per_min
}

/// Base bars a timeframe consumes over `sessions` trading days, at most.
pub fn base_bars(tf: Timeframe, sessions: u64) -> u64 {
    match tf.base() {
        BaseUnit::Minute => sessions * MINUTES_PER_SESSION as u64,
        BaseUnit::Day => sessions,
    }
}

/// Requests to page through `sessions` trading days `limit` base bars at a time.
pub fn requests_for(tf: Timeframe, sessions: u64, limit: u32) -> u64 {
    base_bars(tf, sessions).div_ceil(limit as u64).max(1)
}

/// `range` minus the `done` ranges; pieces with no trading day are dropped.
pub fn subtract(range: Range, done: &[Range]) -> Vec<Range> {
    let mut done: Vec<Range> = done.to_vec();
    done.sort();
    let mut out = Vec::new();
    let mut cursor = range.from;
    for d in done {
        if d.to < cursor || d.from > range.to {
            continue;
        }
        if d.from > cursor {
            out.push(Range { from: cursor, to: d.from - 1 });
        }
        cursor = cursor.max(d.to + 1);
        if cursor > range.to {
            break;
        }
    }
    if cursor <= range.to {
        out.push(Range { from: cursor, to: range.to });
    }
    out.retain(|r| r.sessions() > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    fn tf(s: &str) -> Timeframe {
        s.parse().unwrap()
    }

    #[test]
    fn subtract_leaves_the_gaps() {
        let r = Range { from: day("2024-01-01"), to: day("2024-01-31") };
        let done = [Range { from: day("2024-01-08"), to: day("2024-01-12") }];
        let left = subtract(r, &done);
        assert_eq!(
            left,
            vec![
                Range { from: day("2024-01-01"), to: day("2024-01-07") },
                Range { from: day("2024-01-13"), to: day("2024-01-31") },
            ]
        );
        // A gap that is only a weekend or a holiday (New Year's Day) is no work.
        let done = [
            Range { from: day("2024-01-02"), to: day("2024-01-05") },
            Range { from: day("2024-01-08"), to: day("2024-01-31") },
        ];
        assert!(subtract(r, &done).is_empty());
    }

    #[test]
    fn estimates_and_floor() {
        let symbols: Vec<String> = ["AAPL", "MSFT"].iter().map(|s| s.to_string()).collect();
        let tfs = [tf("1/minute"), tf("1/day")];
        let range = Range { from: day("2024-01-01"), to: day("2024-12-31") }; // 252 sessions
        let plan = Plan::new(&symbols, &tfs, range, &Covered::new());
        assert_eq!(plan.rows.len(), 4);
        // Minute: ceil(252*960/50000) = 5 per symbol; day: 1 per symbol (fewer than 252 grouped).
        assert_eq!(plan.floor_requests(), 2 * 5 + 2);
        let fixed = plan.estimate(true);
        assert_eq!(fixed.requests, 2 * 5 + 2);
        assert_eq!(fixed.grouped_days, 0);
        // Baseline: 5000 base bars a page: ceil(252*960/5000) = 49 per symbol, 1 for days.
        assert_eq!(plan.estimate(false).requests, 2 * 49 + 2);
    }

    #[test]
    fn grouped_daily_wins_with_many_symbols_and_few_days() {
        let symbols: Vec<String> = (0..50).map(|i| format!("S{i}")).collect();
        // 10 weekdays, 9 sessions: no grouped request for New Year's Day.
        let range = Range { from: day("2024-01-01"), to: day("2024-01-12") };
        let plan = Plan::new(&symbols, &[tf("1/day")], range, &Covered::new());
        let est = plan.estimate(true);
        assert_eq!(est.grouped_days, 9);
        assert_eq!(est.requests, 9);
        assert_eq!(plan.floor_requests(), 9);
        assert_eq!(plan.estimate(false).requests, 50);
    }

    #[test]
    fn resumed_rows_count_what_is_covered() {
        let symbols = vec!["AAPL".to_string()];
        let range = Range { from: day("2024-01-01"), to: day("2024-01-31") };
        let mut covered = Covered::new();
        covered.insert(("AAPL".into(), "1/day".into()), vec![range]);
        let plan = Plan::new(&symbols, &[tf("1/day")], range, &covered);
        assert!(plan.rows[0].pending.is_empty());
        assert_eq!(plan.rows[0].covered_sessions, plan.rows[0].sessions);
        assert_eq!(plan.estimate(true).requests, 0);
        assert_eq!(plan.floor_requests(), 0);
    }
}
