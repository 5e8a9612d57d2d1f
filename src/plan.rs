//! From the configuration and what the database already holds to the work left: one
//! row per symbol and timeframe, each with the date ranges not yet covered, and the
//! arithmetic of requests, windows and the floor the quota allows.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::calendar::{Day, Range};
use crate::markets::{self, Class, DayStamp, Grouped};
use crate::polygon::client::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::store::Covered;
use crate::timeframe::{BaseUnit, MINUTES_PER_SESSION, Timeframe};

/// Whole sessions of a liquid stock's minute bars in one `limit=50000` page: 52 x 960 = 49,920.
pub const DAYS_PER_MINUTE_WINDOW: u32 = MAX_LIMIT / MINUTES_PER_SESSION;

/// Whole days of a class's minute bars, traded every minute, in one `limit=50000` page:
/// 52 for stocks, 34 for crypto, 123 for options.
pub fn days_per_minute_window(class: Class) -> u32 {
    MAX_LIMIT / class.minutes_per_day()
}

/// One symbol x timeframe: a line of the dashboard and a unit of resume.
#[derive(Clone, Debug)]
pub struct Row {
    pub ticker: String,
    pub timeframe: Timeframe,
    /// The ticker's class: its days, and how they are bounded.
    pub class: Class,
    /// The class's days in the whole requested range (for an option, up to its expiration).
    pub sessions: u32,
    /// Of those, the days already stored by earlier runs.
    pub covered_sessions: u32,
    /// Uncovered ranges, oldest first.
    pub pending: Vec<Range>,
    /// Where the first pending range starts within its first day: just after a bar
    /// stored there by a run that stopped mid-page, so no stored bar is asked for again.
    pub resume_ms: Option<i64>,
    /// Bars earlier runs stored in the range (from their progress); 0 with no pending
    /// work means the range holds no bar at all.
    pub stored_bars: u64,
    /// The stamp the row's stored day-based bars carry, where the class's is not confirmed:
    /// new pages must carry it too.
    pub day_stamp: Option<DayStamp>,
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
            let class = Class::of_checked(ticker);
            // An option has no bar after its expiration: its row ends there.
            let life = markets::life_range(ticker, range);
            for tf in timeframes {
                let done = covered.get(&(ticker.clone(), tf.to_string())).map(Vec::as_slice).unwrap_or(&[]);
                let pending = subtract(class, life, done);
                let sessions = class.days_in(life);
                let left: u32 = pending.iter().map(|r| class.days_in(*r)).sum();
                rows.push(Row {
                    ticker: ticker.clone(),
                    timeframe: *tf,
                    class,
                    sessions,
                    covered_sessions: sessions - left,
                    pending,
                    resume_ms: None,
                    stored_bars: 0,
                    day_stamp: None,
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
        let mut daily = DailyByMarket::default();
        for row in &self.rows {
            for r in &row.pending {
                let n = row.class.days_in(*r) as u64;
                if n == 0 {
                    continue;
                }
                est.windows += 1;
                if batching && daily.add(row, *r, 1) {
                    continue;
                }
                est.requests +=
                    requests_for(row.class, row.timeframe, n, if batching { MAX_LIMIT } else { DEFAULT_LIMIT });
            }
        }
        let (requests, grouped_days) = daily.requests();
        est.requests += requests;
        est.grouped_days = grouped_days;
        est
    }

    /// The fewest requests the bars a run found allow, known once it has run: per row
    /// `max(1, ceil(base bars / 50000))` from the base bars the server counted for it
    /// (`base[row]`), and for the daily rows of a class with a grouped endpoint together
    /// the grouped days when that is fewer. Rows with nothing pending cost nothing.
    pub fn floor_after(&self, base: &[u64]) -> u64 {
        let mut total = 0;
        let mut daily = DailyByMarket::default();
        for (i, row) in self.rows.iter().enumerate().filter(|(_, r)| !r.pending.is_empty()) {
            let need = base.get(i).copied().unwrap_or(0).div_ceil(MAX_LIMIT as u64).max(1);
            let mut grouped = false;
            for r in &row.pending {
                // The row's cost counts once, with its first range.
                grouped |= daily.add(row, *r, if grouped { 0 } else { need });
            }
            if !grouped {
                total += need;
            }
        }
        total + daily.requests().0
    }

    /// The fewest requests that can fetch the remaining work: every request carrying a
    /// full `limit=50000` of base bars, and grouped-daily where it needs fewer.
    pub fn floor_requests(&self) -> u64 {
        let mut total = 0;
        let mut daily = DailyByMarket::default();
        for row in &self.rows {
            let n: u64 = row.pending.iter().map(|r| row.class.days_in(*r) as u64).sum();
            if n == 0 {
                continue;
            }
            let mut grouped = false;
            for r in &row.pending {
                grouped |= daily.add(row, *r, if grouped { 0 } else { 1 });
            }
            if !grouped {
                total += requests_for(row.class, row.timeframe, n, MAX_LIMIT);
            }
        }
        total + daily.requests().0
    }
}

/// Daily rows of the classes with a grouped endpoint, per endpoint: the requests their
/// rows would take one by one, and the days one grouped request each would cover.
#[derive(Default)]
struct DailyByMarket {
    markets: BTreeMap<Grouped, (u64, BTreeSet<Day>)>,
}

impl DailyByMarket {
    /// Counts `range` of `row` here when the row can go through a grouped endpoint, with
    /// `requests` as its per-row cost; false when it cannot.
    fn add(&mut self, row: &Row, range: Range, requests: u64) -> bool {
        let Some(grouped) = row.class.grouped().filter(|_| row.timeframe.is_daily()) else { return false };
        let (rows, days) = self.markets.entry(grouped).or_default();
        *rows += requests;
        days.extend((range.from..=range.to).filter(|d| row.class.is_day(*d)));
        true
    }

    /// Requests for all of them, each endpoint's rows by the cheaper way, and the days
    /// asked of grouped endpoints.
    fn requests(&self) -> (u64, u64) {
        let mut requests = 0;
        let mut grouped_days = 0;
        for (rows, days) in self.markets.values() {
            let days = days.len() as u64;
            if days < *rows {
                requests += days;
                grouped_days += days;
            } else {
                requests += rows;
            }
        }
        (requests, grouped_days)
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

/// Base bars a timeframe consumes over `days` of a class, at most.
pub fn base_bars(class: Class, tf: Timeframe, days: u64) -> u64 {
    match tf.base() {
        BaseUnit::Minute => days * class.minutes_per_day() as u64,
        BaseUnit::Day => days,
    }
}

/// Requests to page through `days` of a class `limit` base bars at a time.
pub fn requests_for(class: Class, tf: Timeframe, days: u64, limit: u32) -> u64 {
    base_bars(class, tf, days).div_ceil(limit as u64).max(1)
}

/// `range` minus the `done` ranges; pieces with no day of the class are dropped.
pub fn subtract(class: Class, range: Range, done: &[Range]) -> Vec<Range> {
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
    out.retain(|r| class.days_in(*r) > 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar;

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
        let left = subtract(Class::Stocks, r, &done);
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
        assert!(subtract(Class::Stocks, r, &done).is_empty());
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

    #[test]
    fn each_row_counts_its_own_classes_days() {
        let symbols: Vec<String> =
            ["AAPL", "X:BTCUSD", "C:EURUSD", "I:SPX", "O:SPY250117C00600000"].iter().map(|s| s.to_string()).collect();
        let range = Range { from: day("2025-01-01"), to: day("2025-01-31") };
        let plan = Plan::new(&symbols, &[tf("1/minute")], range, &Covered::new());
        let days: Vec<(Class, u32)> = plan.rows.iter().map(|r| (r.class, r.sessions)).collect();
        assert_eq!(
            days,
            [(Class::Stocks, 20), (Class::Crypto, 31), (Class::Forex, 27), (Class::Indices, 23), (Class::Options, 11)]
        );
        // The option's row ends at its expiration, 2025-01-17.
        assert_eq!(plan.rows[4].pending, vec![Range { from: day("2025-01-01"), to: day("2025-01-17") }]);
        // Minute windows hold 52 stock sessions, 34 crypto days, 123 option sessions: one each here.
        assert_eq!(plan.floor_requests(), 5);
        // A contract that expired before the range has nothing to fetch.
        let gone = Plan::new(&["O:SPY241220C00600000".to_string()], &[tf("1/day")], range, &Covered::new());
        assert_eq!((gone.rows[0].sessions, gone.rows[0].pending.len(), gone.floor_requests()), (0, 0, 0));
    }

    #[test]
    fn grouped_daily_is_counted_per_endpoint() {
        // 30 stocks and 30 crypto pairs over 10 days: each class's grouped endpoint is cheaper
        // than its rows; 5 indices have no grouped endpoint and cost one request each.
        let mut symbols: Vec<String> = (0..30).map(|i| format!("S{i}")).collect();
        symbols.extend((0..30).map(|i| format!("X:C{i}USD")));
        symbols.extend((0..5).map(|i| format!("I:IX{i}")));
        let range = Range { from: day("2025-01-01"), to: day("2025-01-10") };
        let plan = Plan::new(&symbols, &[tf("1/day")], range, &Covered::new());
        // Stocks: 6 sessions (New Year's Day and 9 January closed); crypto: 10 days.
        let est = plan.estimate(true);
        assert_eq!((est.requests, est.grouped_days), (6 + 10 + 5, 16));
        assert_eq!(plan.floor_requests(), 6 + 10 + 5);
        // A crypto pair is never judged by the stocks' grouped days, nor the other way round.
        let base = vec![1; plan.rows.len()];
        assert_eq!(plan.floor_after(&base), 6 + 10 + 5);
    }
}
