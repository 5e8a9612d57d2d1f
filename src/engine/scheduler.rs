//! Which window a worker fetches next. The order and the window size follow the fixes in
//! force when the worker asks, so flipping a fix changes the very next pick:
//! - without fix 2, symbol by symbol, each timeframe's whole range paged through
//!   `next_url` at the default page size, as the original pipeline did;
//! - with fix 2, timeframe by timeframe, windows that fill `limit=50000`, and daily bars
//!   through the grouped endpoint when that takes fewer requests;
//! - with fix 3 but not fix 2, each worker keeps to one symbol at a time.

use std::collections::{BTreeMap, HashMap};

use crate::calendar::Range;
use crate::calendar::{self, Day};
use crate::plan::{self, Plan};
use crate::polygon::client::MAX_LIMIT;

#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// One window of one row; `limit` is `None` for the server's default page size.
    Range { row: usize, range: Range, limit: Option<u32> },
    /// One trading day of daily bars for several rows at once.
    Grouped { day: Day, rows: Vec<usize> },
}

impl Work {
    pub fn rows(&self) -> Vec<usize> {
        match self {
            Work::Range { row, .. } => vec![*row],
            Work::Grouped { rows, .. } => rows.clone(),
        }
    }
}

#[derive(Clone, Debug)]
struct RowKey {
    ticker: usize,
    timeframe: usize,
    daily: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Task {
    row: usize,
    range: Range,
}

pub struct Scheduler {
    keys: Vec<RowKey>,
    timeframes: Vec<crate::timeframe::Timeframe>,
    tasks: Vec<Task>,
    /// Day -> rows still needing that day, when daily bars go through the grouped endpoint.
    grouped: BTreeMap<Day, Vec<usize>>,
    /// Symbol -> worker slot holding it (fix 3 without fix 2).
    claims: HashMap<usize, usize>,
    in_flight: Vec<u32>,
    failed: Vec<Option<String>>,
}

/// How a row stands once a window of it ends.
#[derive(Clone, Debug, PartialEq)]
pub enum RowAfter {
    /// More windows to come.
    Queued,
    /// Another worker still has a window of it.
    Busy,
    Done,
    Failed(String),
}

impl Scheduler {
    pub fn new(plan: &Plan, batching: bool) -> Scheduler {
        let keys = plan
            .rows
            .iter()
            .map(|r| RowKey {
                ticker: plan.symbols.iter().position(|s| *s == r.ticker).unwrap_or(0),
                timeframe: plan.timeframes.iter().position(|t| *t == r.timeframe).unwrap_or(0),
                daily: r.timeframe.is_daily(),
            })
            .collect::<Vec<_>>();
        let tasks = plan
            .rows
            .iter()
            .enumerate()
            .flat_map(|(row, r)| r.pending.iter().map(move |range| Task { row, range: *range }))
            .collect();
        let n = keys.len();
        let mut s = Scheduler {
            keys,
            timeframes: plan.timeframes.clone(),
            tasks,
            grouped: BTreeMap::new(),
            claims: HashMap::new(),
            in_flight: vec![0; n],
            failed: vec![None; n],
        };
        s.rebalance(batching);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.grouped.is_empty()
    }

    /// Rows that still have windows waiting.
    pub fn has_pending(&self, row: usize) -> bool {
        self.tasks.iter().any(|t| t.row == row) || self.grouped.values().any(|rows| rows.contains(&row))
    }

    /// Daily rows go through the grouped endpoint when fix 2 is on and that needs fewer
    /// requests (one per trading day for all symbols) than one per symbol; back otherwise.
    pub fn rebalance(&mut self, batching: bool) {
        // Return grouped days to per-row ranges first, then decide afresh.
        let mut per_row: BTreeMap<usize, Vec<Day>> = BTreeMap::new();
        for (day, rows) in std::mem::take(&mut self.grouped) {
            for row in rows {
                per_row.entry(row).or_default().push(day);
            }
        }
        for (row, days) in per_row {
            for range in merge_days(&days) {
                self.tasks.push(Task { row, range });
            }
        }
        if !batching {
            return;
        }
        let daily: Vec<Task> = self.tasks.iter().filter(|t| self.keys[t.row].daily).copied().collect();
        let mut by_day: BTreeMap<Day, Vec<usize>> = BTreeMap::new();
        for t in &daily {
            for d in (t.range.from..=t.range.to).filter(|d| calendar::is_session(*d)) {
                by_day.entry(d).or_default().push(t.row);
            }
        }
        if (by_day.len()) < daily.len() {
            self.tasks.retain(|t| !self.keys[t.row].daily);
            self.grouped = by_day;
        }
    }

    /// The next window for worker `slot`, or `None` when nothing is free for it now.
    pub fn next(&mut self, slot: usize, batching: bool, parallel: bool) -> Option<Work> {
        // A worker that finished its symbol lets go of it.
        if let Some((&ticker, _)) = self.claims.iter().find(|(_, s)| **s == slot)
            && !self.tasks.iter().any(|t| self.keys[t.row].ticker == ticker)
        {
            self.claims.remove(&ticker);
        }
        let claim_symbols = parallel && !batching;
        let key = |t: &Task, k: &RowKey| {
            if batching { (k.timeframe, k.ticker, t.range.from) } else { (k.ticker, k.timeframe, t.range.from) }
        };
        let mine = self.claims.iter().find(|(_, s)| **s == slot).map(|(t, _)| *t);
        let candidate = self
            .tasks
            .iter()
            .enumerate()
            .filter(|(_, t)| {
                if !claim_symbols {
                    return true;
                }
                let ticker = self.keys[t.row].ticker;
                match mine {
                    Some(m) => m == ticker,
                    None => !self.claims.contains_key(&ticker),
                }
            })
            .min_by_key(|(_, t)| key(t, &self.keys[t.row]))
            .map(|(i, t)| (i, key(t, &self.keys[t.row])));

        // Grouped days sit with the daily timeframe in the timeframe-first order.
        if let Some((&day, rows)) = self.grouped.iter().next() {
            let daily_tf = self.keys[rows[0]].timeframe;
            let grouped_first = candidate.is_none_or(|(_, (tf, _, _))| daily_tf < tf);
            if grouped_first {
                let rows = self.grouped.remove(&day).unwrap_or_default();
                for r in &rows {
                    self.in_flight[*r] += 1;
                }
                return Some(Work::Grouped { day, rows });
            }
        }

        let (i, _) = candidate?;
        let task = self.tasks[i];
        let tf = self.timeframe_of(task.row);
        let (window, rest) = plan::carve(tf, task.range, batching);
        match rest {
            Some(r) => self.tasks[i].range = r,
            None => {
                self.tasks.remove(i);
            }
        }
        if claim_symbols {
            self.claims.insert(self.keys[task.row].ticker, slot);
        }
        self.in_flight[task.row] += 1;
        Some(Work::Range { row: task.row, range: window, limit: batching.then_some(MAX_LIMIT) })
    }

    /// The scheduler knows rows only by index; the engine gives it their timeframes.
    fn timeframe_of(&self, row: usize) -> crate::timeframe::Timeframe {
        self.timeframes[self.keys[row].timeframe]
    }

    /// A window of `row` ended; `failure` says why it did not succeed.
    pub fn finish(&mut self, row: usize, failure: Option<String>) -> RowAfter {
        self.in_flight[row] = self.in_flight[row].saturating_sub(1);
        if let Some(f) = failure {
            self.failed[row] = Some(f);
        }
        if self.has_pending(row) {
            RowAfter::Queued
        } else if self.in_flight[row] > 0 {
            RowAfter::Busy
        } else if let Some(f) = &self.failed[row] {
            RowAfter::Failed(f.clone())
        } else {
            RowAfter::Done
        }
    }

    /// Gives a range of `row` back to be fetched per ticker (a grouped answer lacked it),
    /// joined to a pending range it touches so it costs one request, not one a day.
    pub fn requeue(&mut self, row: usize, range: Range) {
        let touching = self.tasks.iter_mut().find(|t| {
            t.row == row
                && (calendar::sessions_between(t.range.to + 1, range.from - 1) == 0
                    || calendar::sessions_between(range.to + 1, t.range.from - 1) == 0)
        });
        match touching {
            Some(t) => {
                t.range.from = t.range.from.min(range.from);
                t.range.to = t.range.to.max(range.to);
            }
            None => self.tasks.push(Task { row, range }),
        }
    }

    /// A worker left (retired or stopped): its symbol is free for others.
    pub fn release(&mut self, slot: usize) {
        self.claims.retain(|_, s| *s != slot);
    }
}

/// Consecutive trading days become one range (a weekend between them does not split it).
fn merge_days(days: &[Day]) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some(r) if calendar::sessions_between(r.to + 1, d - 1) == 0 => r.to = d,
            _ => out.push(Range { from: d, to: d }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Covered;

    fn plan(symbols: &[&str], tfs: &[&str], from: &str, to: &str) -> Plan {
        let symbols: Vec<String> = symbols.iter().map(|s| s.to_string()).collect();
        let tfs: Vec<_> = tfs.iter().map(|t| t.parse().unwrap()).collect();
        let range = Range { from: calendar::parse_date(from).unwrap(), to: calendar::parse_date(to).unwrap() };
        Plan::new(&symbols, &tfs, range, &Covered::new())
    }

    fn drain(s: &mut Scheduler, batching: bool, parallel: bool) -> Vec<Work> {
        let mut out = Vec::new();
        while let Some(w) = s.next(0, batching, parallel) {
            for r in w.rows() {
                s.finish(r, None);
            }
            out.push(w);
        }
        out
    }

    #[test]
    fn baseline_goes_symbol_by_symbol_whole_ranges() {
        let p = plan(&["AAPL", "MSFT"], &["1/minute", "1/day"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, false);
        let works = drain(&mut s, false, false);
        let rows: Vec<usize> = works.iter().flat_map(|w| w.rows()).collect();
        // Rows are (AAPL,1m)=0, (AAPL,1d)=1, (MSFT,1m)=2, (MSFT,1d)=3.
        assert_eq!(rows, [0, 1, 2, 3]);
        assert!(works.iter().all(|w| matches!(w, Work::Range { limit: None, .. })));
        assert!(s.is_empty());
    }

    #[test]
    fn batching_goes_timeframe_by_timeframe_in_full_windows() {
        let p = plan(&["AAPL", "MSFT"], &["1/minute", "1/day"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        let works = drain(&mut s, true, false);
        let rows: Vec<usize> = works.iter().flat_map(|w| w.rows()).collect();
        // 252 sessions = 5 minute windows per symbol, then the daily rows.
        assert_eq!(rows, [0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 1, 3]);
        assert!(works.iter().all(|w| matches!(w, Work::Range { limit: Some(50_000), .. })));
    }

    #[test]
    fn grouped_daily_when_cheaper_and_back_when_fix_2_goes_off() {
        let syms: Vec<String> = (0..20).map(|i| format!("S{i}")).collect();
        let syms: Vec<&str> = syms.iter().map(String::as_str).collect();
        let p = plan(&syms, &["1/day"], "2024-01-01", "2024-01-05");
        let mut s = Scheduler::new(&p, true);
        match s.next(0, true, false).unwrap() {
            Work::Grouped { day, rows } => {
                assert_eq!(calendar::format_day(day), "2024-01-02", "New Year's Day is not asked for");
                assert_eq!(rows.len(), 20);
            }
            w => panic!("expected grouped, got {w:?}"),
        }
        // Fix 2 off: the three days left go back to one range per symbol.
        s.rebalance(false);
        let works = drain(&mut s, false, false);
        assert_eq!(works.len(), 20);
        match &works[0] {
            Work::Range { range, .. } => {
                assert_eq!(calendar::format_day(range.from), "2024-01-03");
                assert_eq!(calendar::format_day(range.to), "2024-01-05");
            }
            w => panic!("{w:?}"),
        }
    }

    #[test]
    fn requeued_days_join_into_one_range() {
        let p = plan(&["AAPL"], &["1/day"], "2024-01-01", "2024-01-05");
        let mut s = Scheduler::new(&p, false);
        let _ = s.next(0, false, false).unwrap();
        s.requeue(0, range("2024-01-04"));
        s.requeue(0, range("2024-01-05"));
        s.requeue(0, range("2024-01-08")); // Monday: the weekend between joins too
        assert_eq!(
            s.next(0, true, false),
            Some(Work::Range {
                row: 0,
                range: Range { from: range("2024-01-04").from, to: range("2024-01-08").to },
                limit: Some(50_000)
            })
        );
        assert!(s.is_empty());
    }

    fn range(day: &str) -> Range {
        let d = calendar::parse_date(day).unwrap();
        Range { from: d, to: d }
    }

    #[test]
    fn parallel_without_batching_keeps_symbols_apart() {
        let p = plan(&["AAPL", "MSFT"], &["1/minute", "1/day"], "2024-01-01", "2024-01-31");
        let mut s = Scheduler::new(&p, false);
        let a = s.next(0, false, true).unwrap();
        let b = s.next(1, false, true).unwrap();
        assert_eq!(a.rows(), [0]);
        assert_eq!(b.rows(), [2]);
        // Worker 1 may not take AAPL's daily row while worker 0 holds AAPL.
        assert_eq!(s.next(1, false, true).unwrap().rows(), [3]);
        assert_eq!(s.next(1, false, true), None);
        assert_eq!(s.next(0, false, true).unwrap().rows(), [1]);
    }

    #[test]
    fn row_states_after_each_window() {
        let p = plan(&["AAPL"], &["1/minute"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        let _ = s.next(0, true, false).unwrap();
        assert_eq!(s.finish(0, None), RowAfter::Queued);
        while s.next(0, true, false).is_some() {}
        // Four windows in flight at once (as with several workers), then ending one by one.
        for _ in 0..3 {
            assert_eq!(s.finish(0, None), RowAfter::Busy);
        }
        assert_eq!(s.finish(0, Some("403 plan limit".into())), RowAfter::Failed("403 plan limit".into()));
    }
}
