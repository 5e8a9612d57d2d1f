//! Which work a worker takes next. The order and the page size follow the fixes in force
//! when the worker asks, so flipping a fix changes the very next pick:
//! - without fix 2, symbol by symbol, each row's whole range paged through `next_url` at
//!   the server's default page size, as the original pipeline did;
//! - with fix 2, timeframe by timeframe, each row's whole range at `limit=50000` (a row
//!   costs `ceil(base bars / 50000)` requests however thin or short-lived the ticker is),
//!   and daily bars through the grouped endpoint while that takes fewer requests;
//! - with fix 3 but not fix 2, each worker keeps to one symbol at a time.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use crate::calendar::{Day, Range};
use crate::markets::{Class, Grouped};
use crate::plan::{Plan, days_per_minute_window};
use crate::polygon::client::MAX_LIMIT;
use crate::timeframe::Timeframe;

/// A chain hands its rest back only to a task at least this many requests longer: at one,
/// chains of equal length would swap at every page.
const TURN_MARGIN: u32 = 2;

#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    /// A row's range, paged through `next_url`. `from_ms` starts it after a bar already
    /// stored; `limit` is `None` for the server's default page size. `held` is history
    /// before `range` held back while a 403 from the plan's limit is narrowed down: it is
    /// asked for once `range` proves the plan covers it, and fails with it otherwise.
    Range { row: usize, range: Range, from_ms: Option<i64>, limit: Option<u32>, held: Option<Range> },
    /// One day of daily bars for several rows of one class at once, from its endpoint.
    Grouped { day: Day, market: Grouped, rows: Vec<usize> },
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
    /// Minute or hour bars: a day's bars belong to that day, so a row cuts at any session.
    intraday: bool,
    /// Whose days the row's ranges count.
    class: Class,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Task {
    row: usize,
    range: Range,
    from_ms: Option<i64>,
    held: Option<Range>,
}

/// How a row stands once a piece of work on it ends.
#[derive(Clone, Debug, PartialEq)]
pub enum RowAfter {
    /// More work to come.
    Queued,
    /// Another worker still has work on it.
    Busy,
    Done,
    /// Done, and no bar anywhere in its range.
    Empty,
    Failed(String),
}

pub struct Scheduler {
    keys: Vec<RowKey>,
    timeframes: Vec<Timeframe>,
    tasks: Vec<Task>,
    /// Day and endpoint -> rows still needing that day, when daily bars go through their
    /// class's grouped endpoint.
    grouped: BTreeMap<(Day, Grouped), Vec<usize>>,
    /// Symbol -> worker slot holding it (fix 3 without fix 2).
    claims: HashMap<usize, usize>,
    in_flight: Vec<u32>,
    failed: Vec<Option<String>>,
    /// Bars seen for each row: stored by earlier runs, then fetched by this one.
    bars: Vec<u64>,
    /// Workers that pieces of rows would serve while the quota is not what limits the run;
    /// 0 keeps every row one chain of pages (see [`Scheduler::set_split`]).
    split_for: u32,
    /// Workers the run has now: the last round of a timeframe's chains starts when its
    /// queued tasks are no more than these (see [`Scheduler::yields`]).
    workers: u32,
    /// The timeframe whose last round has begun: a chain handing its rest back adds a
    /// task, and must not end the round it is taking turns in.
    round_of: Option<usize>,
    /// Base bars a session, as a row's pages have shown: the size of its pieces.
    density: Vec<Option<f64>>,
    /// Rows with work given up unfinished when the run stopped: never called empty.
    abandoned: Vec<bool>,
    /// Rows cut at the opening, before any density was known (`opening_piece`).
    guessed: Vec<bool>,
    /// Worker slot -> the range it took last, for what is left in flight (`work_left`).
    handed: HashMap<usize, (usize, Range)>,
}

/// The work a run has left, as plain figures for its ETA: ranges queued and in flight
/// (row, sessions or range), grouped days, and what each row's pages have shown.
#[derive(Clone, Debug, Default)]
pub struct WorkLeft {
    pub queued: Vec<(usize, u32)>,
    pub in_flight: Vec<(usize, Range)>,
    pub grouped_days: usize,
    /// Per row: its timeframe and the base bars a session its pages showed, if any.
    pub rows: Vec<(Timeframe, Option<f64>)>,
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
                intraday: r.timeframe.minutes().is_some(),
                class: r.class,
            })
            .collect::<Vec<_>>();
        let tasks = plan
            .rows
            .iter()
            .enumerate()
            .flat_map(|(row, r)| {
                r.pending.iter().enumerate().map(move |(i, range)| Task {
                    row,
                    range: *range,
                    from_ms: if i == 0 { r.resume_ms } else { None },
                    held: None,
                })
            })
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
            bars: plan.rows.iter().map(|r| r.stored_bars).collect(),
            split_for: 0,
            workers: 1,
            round_of: None,
            density: vec![None; n],
            abandoned: vec![false; n],
            guessed: vec![false; n],
            handed: HashMap::new(),
        };
        s.rebalance(batching);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.grouped.is_empty()
    }

    /// Work the run leaves for the next: queued, or stopped in flight (`abandon`).
    pub fn unfinished(&self) -> bool {
        !self.is_empty() || self.abandoned.iter().any(|&a| a)
    }

    /// Nothing queued and nothing in flight: no more work can appear. While a chain is in
    /// flight it may hand the rest of its row back to be shared (`wants_pieces`), so an
    /// idle worker waits for it rather than leave.
    pub fn is_done(&self) -> bool {
        self.is_empty() && self.in_flight.iter().all(|&n| n == 0)
    }

    /// Rows that still have work waiting.
    pub fn has_pending(&self, row: usize) -> bool {
        self.tasks.iter().any(|t| t.row == row) || self.grouped.values().any(|rows| rows.contains(&row))
    }

    /// Daily rows go through their class's grouped endpoint when fix 2 is on and that
    /// needs fewer requests (one per day of the class for all of them) than one per row;
    /// back otherwise. Each endpoint is weighed on its own rows.
    pub fn rebalance(&mut self, batching: bool) {
        // Return grouped days to per-row ranges first, then decide afresh.
        let mut per_row: BTreeMap<usize, Vec<Day>> = BTreeMap::new();
        for ((day, _), rows) in std::mem::take(&mut self.grouped) {
            for row in rows {
                per_row.entry(row).or_default().push(day);
            }
        }
        for (row, days) in per_row {
            // One request holds a daily row's whole range, so its days make one range
            // even where other days lie between them.
            let range = Range { from: days[0], to: days[days.len() - 1] };
            self.cover(row, range);
        }
        if !batching {
            return;
        }
        // Per endpoint: the daily rows that could use it, and the days each would ask of it.
        type Rows = Vec<usize>;
        let mut markets: BTreeMap<Grouped, (Rows, BTreeMap<Day, Rows>)> = BTreeMap::new();
        for t in &self.tasks {
            let key = &self.keys[t.row];
            let Some(market) = key.class.grouped().filter(|_| key.daily) else { continue };
            let (tasks, by_day) = markets.entry(market).or_default();
            tasks.push(t.row);
            for d in (t.range.from..=t.range.to).filter(|d| key.class.is_day(*d)) {
                by_day.entry(d).or_default().push(t.row);
            }
        }
        for (market, (rows, by_day)) in markets {
            if by_day.len() < rows.len() {
                self.tasks.retain(|t| !rows.contains(&t.row));
                self.grouped.extend(by_day.into_iter().map(|(day, rows)| ((day, market), rows)));
            }
        }
    }

    /// The next piece of work for worker `slot`, or `None` when nothing is free for it now.
    pub fn next(&mut self, slot: usize, batching: bool, parallel: bool) -> Option<Work> {
        self.release_finished_claim(slot);
        self.handed.remove(&slot);
        let claim_symbols = parallel && !batching;
        let candidate = self.pick(slot, batching, claim_symbols);
        if let Some(work) = self.grouped_before(candidate.map(|(_, tf)| tf)) {
            return Some(work);
        }
        let (i, _) = candidate?;
        let task = self.tasks.remove(i);
        self.note_round();
        let task = if batching && self.splitting() { self.cut(task) } else { self.join(task) };
        if claim_symbols {
            self.claims.insert(self.keys[task.row].ticker, slot);
        }
        self.in_flight[task.row] += 1;
        self.handed.insert(slot, (task.row, task.range));
        Some(Work::Range {
            row: task.row,
            range: task.range,
            from_ms: task.from_ms,
            limit: batching.then_some(MAX_LIMIT),
            held: task.held,
        })
    }

    /// Rows are cut into pieces while the quota does not bind (`Some(workers)`), so idle
    /// workers share a row's pages rather than wait for one chain to end. A row is cut
    /// only once its first page has shown how dense it is, into pieces of about one full
    /// page each: a ticker with no bar or a single page of them costs one request, and
    /// a longer row about what its chain would. `None` while the quota binds: a chain
    /// costs exactly `ceil(base bars / 50000)` requests, however the ticker trades.
    pub fn set_split(&mut self, workers: Option<u32>) {
        self.split_for = workers.unwrap_or(0);
    }

    pub fn set_workers(&mut self, workers: u32) {
        self.workers = workers;
    }

    /// The last round of a timeframe's chains, rows kept whole: no more chains wait than
    /// there are workers to take them. Until then the order is the fixes' own (rows end
    /// one after another, ready to use); from then on the longest goes first and chains
    /// take turns.
    fn last_round(&self) -> bool {
        let Some(tf) = self.next_timeframe() else { return false };
        let waiting = self.tasks.iter().filter(|t| self.keys[t.row].timeframe == tf).count() as u32;
        self.split_for == 0 && self.workers > 1 && (waiting <= self.workers || self.round_of == Some(tf))
    }

    /// Marks the last round of the timeframe next in line once it has begun.
    fn note_round(&mut self) {
        if self.last_round() {
            self.round_of = self.next_timeframe();
        }
    }

    /// The first timeframe, in the plan's order, with a task queued.
    fn next_timeframe(&self) -> Option<usize> {
        self.tasks.iter().map(|t| self.keys[t.row].timeframe).min()
    }

    /// A chain of `row` found `base` bars over `sessions` sessions.
    pub fn note_density(&mut self, row: usize, base: u64, sessions: u32) {
        if base > 0 && sessions > 0 {
            self.density[row] = Some(base as f64 / sessions as f64);
        }
    }

    /// Whether a chain of `row` should hand its rest back to be cut: fewer tasks wait
    /// than there are workers, so some will soon have nothing to do while one chain
    /// still has pages to go one after another, and the quota has room for them. (A
    /// queue holding only the rest of another cut row counts as one task: waiting for it
    /// to empty left nine long rows as chains for the whole run.)
    pub fn wants_pieces(&self, row: usize, rest: Range) -> bool {
        self.splitting()
            && self.grouped.is_empty()
            && self.piece_sessions(row).is_some_and(|p| self.keys[row].class.days_in(rest) > p)
    }

    /// Sessions in one full page of `row`, once its density is known.
    fn piece_sessions(&self, row: usize) -> Option<u32> {
        let density = self.density[row].filter(|_| self.keys[row].intraday)?;
        Some(((MAX_LIMIT as f64 / density).floor() as u32).max(1))
    }

    /// At the opening of a run no page has come back, so no row's density is known, and
    /// workers beyond the number of rows would sit out a whole page's latency. Such a
    /// worker takes the end of a row, as many sessions as a page holds at the densest a
    /// session can be (a base bar every minute of the extended session): on a liquid
    /// ticker it costs no request more than the row's chain; on a thin one at most one,
    /// once a row, and only at a paid plan's pace (`set_split`).
    fn opening_piece(&self, task: &Task) -> Option<u32> {
        let in_flight: u32 = self.in_flight.iter().sum();
        // The task being handed out has left `tasks` already.
        let idle = self.tasks.len() as u32 + in_flight + 1 < self.split_for;
        let opening = self.density.iter().all(Option::is_none);
        let fresh = self.keys[task.row].intraday && !self.guessed[task.row];
        (idle && opening && fresh).then_some(days_per_minute_window(self.keys[task.row].class))
    }

    fn splitting(&self) -> bool {
        self.split_for > 1 && (self.tasks.len() as u32) < self.split_for
    }

    /// The first piece of an intraday task whose density is known, the rest left for
    /// other workers; at the opening, the last piece (`opening_piece`). Day rows are never
    /// cut: one request holds a whole daily range, and a week or a month bar would
    /// straddle the cut.
    fn cut(&mut self, task: Task) -> Task {
        if task.held.is_some() {
            return task;
        }
        let class = self.keys[task.row].class;
        let sessions = class.days_in(task.range);
        if let Some(piece) = self.piece_sessions(task.row) {
            if sessions <= piece {
                return task;
            }
            let rest_from = class.nth_day_from(task.range.from, piece + 1);
            self.tasks.push(Task {
                row: task.row,
                range: Range { from: rest_from, to: task.range.to },
                from_ms: None,
                held: None,
            });
            return Task { range: Range { from: task.range.from, to: rest_from - 1 }, ..task };
        }
        match self.opening_piece(&task) {
            // The newest sessions of a row at least three pages long: a plan's history
            // limit, met at the oldest end, is narrowed down in the row's chain as it
            // would be without the cut (two short pieces could each straddle it).
            Some(piece) if sessions > 2 * piece => {
                self.guessed[task.row] = true;
                let tail_from = class.nth_day_from(task.range.from, sessions - piece + 1);
                self.tasks.push(Task { range: Range { from: task.range.from, to: tail_from - 1 }, ..task });
                Task { row: task.row, range: Range { from: tail_from, to: task.range.to }, from_ms: None, held: None }
            }
            _ => task,
        }
    }

    /// Joins the pieces of a row that follow one another back into one chain: while the
    /// quota binds, a chain wastes no request at a piece's edge.
    fn join(&mut self, mut task: Task) -> Task {
        if task.held.is_some() {
            return task;
        }
        while let Some(i) = self.tasks.iter().position(|t| {
            t.row == task.row
                && t.held.is_none()
                && t.from_ms.is_none()
                && t.range.from > task.range.to
                && self.keys[task.row].class.days_between(task.range.to + 1, t.range.from - 1) == 0
        }) {
            task.range.to = self.tasks.remove(i).range.to;
        }
        task
    }

    /// A worker that finished its symbol lets go of it.
    fn release_finished_claim(&mut self, slot: usize) {
        if let Some((&ticker, _)) = self.claims.iter().find(|(_, s)| **s == slot)
            && !self.tasks.iter().any(|t| self.keys[t.row].ticker == ticker)
        {
            self.claims.remove(&ticker);
        }
    }

    /// The task to take next, and its timeframe's position, in the order the fixes ask;
    /// in the last round of a timeframe's chains, the longest first, so that they end
    /// together rather than one going on alone at the end.
    fn pick(&self, slot: usize, batching: bool, claim_symbols: bool) -> Option<(usize, usize)> {
        let last_round = batching && self.last_round();
        let key = |t: &Task| {
            let k = &self.keys[t.row];
            if batching {
                let longest_first = if last_round { self.pages_of(t.row, t.range) } else { 0 };
                (k.timeframe, Reverse(longest_first), k.ticker, t.range.from)
            } else {
                (k.ticker, Reverse(0), k.timeframe, t.range.from)
            }
        };
        let mine = self.claims.iter().find(|(_, s)| **s == slot).map(|(t, _)| *t);
        self.tasks
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
            .min_by_key(|(_, t)| key(t))
            .map(|(i, t)| (i, self.keys[t.row].timeframe))
    }

    /// Requests `range` of `row` is likely to take: its sessions at the density the row
    /// has shown, or at the densest a session can be before any page came back. Day
    /// bars: one.
    fn pages_of(&self, row: usize, range: Range) -> u32 {
        let k = &self.keys[row];
        if !k.intraday {
            return 1;
        }
        let per_page = self.piece_sessions(row).unwrap_or_else(|| days_per_minute_window(k.class)).max(1);
        k.class.days_in(range).div_ceil(per_page).max(1)
    }

    /// Whether a chain of `row` with `rest` to go should hand it back and take a longer
    /// task waiting, in the last round (fix 2, rows not cut); both are measured alike. A worker keeps its
    /// chain to the end, so chains begun late (by a worker added mid-run) would end one
    /// by one, the last alone a page's latency at a time while the quota sits idle.
    /// Taking turns keeps every chain within two requests of the longest, so they end
    /// together. The rest goes on from its last bar: the same requests as its
    /// `next_url`, none more.
    pub fn yields(&self, row: usize, rest: Range) -> bool {
        if !self.last_round() {
            return false;
        }
        let left = self.pages_of(row, rest);
        self.pick(0, true, false).is_some_and(|(i, _)| {
            let t = &self.tasks[i];
            self.pages_of(t.row, t.range) >= left + TURN_MARGIN
        })
    }

    /// Grouped days sit with the daily timeframe in the timeframe-first order.
    fn grouped_before(&mut self, next_timeframe: Option<usize>) -> Option<Work> {
        let (&(day, market), rows) = self.grouped.iter().next()?;
        let daily_tf = self.keys[rows[0]].timeframe;
        if next_timeframe.is_some_and(|tf| tf < daily_tf) {
            return None;
        }
        let rows = self.grouped.remove(&(day, market)).unwrap_or_default();
        for r in &rows {
            self.in_flight[*r] += 1;
        }
        Some(Work::Grouped { day, market, rows })
    }

    pub fn timeframe_of(&self, row: usize) -> Timeframe {
        self.timeframes[self.keys[row].timeframe]
    }

    /// Bars of `row` stored by this run's work.
    pub fn add_bars(&mut self, row: usize, bars: u64) {
        self.bars[row] += bars;
    }

    /// A piece of work on `row` ended; `failure` says why it did not succeed.
    pub fn finish(&mut self, row: usize, failure: Option<String>) -> RowAfter {
        self.in_flight[row] = self.in_flight[row].saturating_sub(1);
        if let Some(f) = failure {
            self.failed[row] = Some(f);
        }
        // Another worker still on the row (a piece of it, a grouped day) keeps it fetching,
        // even with more of it queued.
        if self.in_flight[row] > 0 {
            RowAfter::Busy
        } else if self.has_pending(row) {
            RowAfter::Queued
        } else if let Some(f) = &self.failed[row] {
            RowAfter::Failed(f.clone())
        } else if self.bars[row] == 0 {
            RowAfter::Empty
        } else {
            RowAfter::Done
        }
    }

    /// Puts the rest of a range back, to be taken under the fixes now in force: a chain
    /// of pages stops at a switch of fix 2 and goes on from its last stored bar.
    pub fn put_back(&mut self, row: usize, range: Range, from_ms: Option<i64>) {
        self.note_round();
        self.tasks.push(Task { row, range, from_ms, held: None });
    }

    /// The first page of `range` got a 403 for history the plan lacks: the plan's first
    /// day lies inside the range or after it. Rather than one request per window of old
    /// history, the later half is asked for next, holding the earlier half back (a
    /// binary search, a few requests however long the range). Returns the ranges that
    /// fail for good: `held` (wholly before a refused day) and a range too short to cut.
    pub fn plan_limited(&mut self, row: usize, range: Range, held: Option<Range>, reason: &str) -> Vec<Range> {
        let mut failed: Vec<Range> = held.into_iter().collect();
        let class = self.keys[row].class;
        let sessions = class.days_in(range);
        // Narrowed down to about a page of minute bars.
        if sessions <= days_per_minute_window(class) {
            failed.push(range);
        } else {
            let mid = class.nth_day_from(range.from, sessions / 2 + 1);
            let (lower, upper) = (Range { from: range.from, to: mid - 1 }, Range { from: mid, to: range.to });
            self.tasks.push(Task { row, range: upper, from_ms: None, held: Some(lower) });
        }
        if !failed.is_empty() {
            self.failed[row] = Some(reason.to_string());
        }
        failed
    }

    /// Makes sure a pending per-ticker task of a daily `row` covers `range`.
    fn cover(&mut self, row: usize, range: Range) {
        match self.tasks.iter_mut().find(|t| t.row == row) {
            Some(t) => {
                t.range.from = t.range.from.min(range.from);
                t.range.to = t.range.to.max(range.to);
                t.from_ms = None;
            }
            None => self.tasks.push(Task { row, range, from_ms: None, held: None }),
        }
    }

    /// Work on `row` stopped unfinished with the run: its range was not all looked at.
    pub fn abandon(&mut self, row: usize) {
        self.in_flight[row] = self.in_flight[row].saturating_sub(1);
        self.abandoned[row] = true;
    }

    /// Rows finished with no bar in their whole range.
    pub fn empty_rows(&self) -> Vec<usize> {
        (0..self.keys.len())
            .filter(|&r| {
                self.bars[r] == 0
                    && self.in_flight[r] == 0
                    && self.failed[r].is_none()
                    && !self.abandoned[r]
                    && !self.has_pending(r)
            })
            .collect()
    }

    /// A worker left (retired or stopped): its symbol is free for others.
    pub fn release(&mut self, slot: usize) {
        self.claims.retain(|_, s| *s != slot);
        self.handed.remove(&slot);
    }

    /// What is left: queued ranges and grouped days, and the ranges still in flight.
    pub fn work_left(&self) -> WorkLeft {
        WorkLeft {
            queued: self.tasks.iter().map(|t| (t.row, t.range.sessions())).collect(),
            in_flight: self.handed.values().filter(|(row, _)| self.in_flight[*row] > 0).copied().collect(),
            grouped_days: self.grouped.len(),
            rows: (0..self.keys.len()).map(|r| (self.timeframe_of(r), self.density[r])).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar;
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
                s.add_bars(r, 1);
                s.finish(r, None);
            }
            out.push(w);
        }
        out
    }

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
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
    fn batching_goes_timeframe_by_timeframe_whole_rows_at_the_largest_page() {
        let p = plan(&["AAPL", "MSFT"], &["1/minute", "1/day"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        let works = drain(&mut s, true, false);
        let rows: Vec<usize> = works.iter().flat_map(|w| w.rows()).collect();
        // One piece of work per row: the pages come from next_url, not from the planner.
        assert_eq!(rows, [0, 2, 1, 3]);
        for w in &works {
            let Work::Range { range, limit, .. } = w else { panic!("{w:?}") };
            assert_eq!(*limit, Some(50_000));
            assert_eq!((range.from, range.to), (day("2024-01-01"), day("2024-12-31")));
        }
    }

    #[test]
    fn in_the_last_round_chains_take_turns_and_the_longest_goes_next() {
        // Three minute rows: AAA short (a quarter), AAPL and MSFT long (two years); fix 2,
        // rows not cut.
        let p = plan(&["AAA", "AAPL", "MSFT"], &["1/minute"], "2023-01-01", "2024-12-31");
        let first = |workers: u32| {
            let mut s = Scheduler::new(&p, true);
            s.tasks[0].range.from = day("2024-10-01");
            s.set_workers(workers);
            let Some(Work::Range { row, .. }) = s.next(0, true, true) else { panic!() };
            (row, s)
        };
        // More chains than workers: the fixes' order, by ticker, rows ending one by one.
        assert_eq!(first(2).0, 0);
        // The last round: the longest first.
        let (row, mut s) = first(3);
        assert_eq!(row, 1);
        let Some(Work::Range { row: 2, .. }) = s.next(1, true, true) else { panic!() };
        // AAPL's pages show 960 base bars a session: 52 sessions a page, 502 sessions in
        // two years, 10 requests. With 9 left (the last 468 sessions) it keeps going
        // while only the short row waits.
        s.note_density(1, 960, 1);
        let (start, to) = (day("2023-01-01"), day("2024-12-31"));
        let all = Range { from: start, to }.sessions();
        let left = |n: u32| Range { from: calendar::nth_session_from(start, all - 52 * n + 1), to };
        assert_eq!((all, left(9).sessions()), (502, 468));
        assert!(!s.yields(1, left(9)));
        // MSFT's rest handed back with 10 requests to go: a chain with 8 left yields to
        // it, one with 9 does not (chains of about the same length would swap at every
        // page).
        let rest = Range { from: day("2023-01-01"), to };
        s.put_back(2, rest, Some(crate::calendar::MS_PER_MINUTE));
        s.finish(2, None);
        s.note_density(2, 960, 1);
        assert!(s.yields(1, left(8)));
        assert!(!s.yields(1, left(9)));
        // One worker has no one to take turns with; rows cut into pieces (a paid plan's
        // pace) never take turns.
        s.set_workers(1);
        assert!(!s.yields(1, left(1)));
        s.set_workers(3);
        s.set_split(Some(8));
        assert!(!s.yields(1, left(1)));
    }

    #[test]
    fn grouped_daily_when_cheaper_and_back_when_fix_2_goes_off() {
        let syms: Vec<String> = (0..20).map(|i| format!("S{i}")).collect();
        let syms: Vec<&str> = syms.iter().map(String::as_str).collect();
        let p = plan(&syms, &["1/day"], "2024-01-01", "2024-01-05");
        let mut s = Scheduler::new(&p, true);
        match s.next(0, true, false).unwrap() {
            Work::Grouped { day, rows, .. } => {
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
    fn idle_workers_get_pieces_of_a_row_its_first_page_measured() {
        let p = plan(&["AAPL"], &["1/minute", "1/day"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        // Two rows for two workers: no one idle at the opening, nothing to guess.
        s.set_split(Some(2));
        let year = Range { from: day("2024-01-01"), to: day("2024-12-31") };
        // Nothing known of the row yet: it goes whole, as one chain of pages.
        assert!(matches!(s.next(0, true, true), Some(Work::Range { row: 0, range, .. }) if range == year));
        s.set_split(Some(4));
        // Its first page held 50000 minutes over 104 sessions; the chain hands the rest back.
        s.note_density(0, 50_000, 104);
        s.put_back(0, year, None);
        s.finish(0, None);
        let Some(Work::Range { row: 0, range: first, .. }) = s.next(0, true, true) else { panic!() };
        assert_eq!(first.sessions(), 104, "one full page at the density seen");
        let Some(Work::Range { row: 0, range: second, .. }) = s.next(1, true, true) else { panic!() };
        assert_eq!(second.from, calendar::nth_session_from(first.from, 105));
        assert_eq!(s.finish(0, None), RowAfter::Busy, "the other piece is still being fetched");
        // The quota binds now: what is left of the row goes as one chain again.
        s.set_split(None);
        let Some(Work::Range { row: 0, range: rest, .. }) = s.next(2, true, true) else { panic!() };
        assert_eq!(rest, Range { from: second.to + 1, to: day("2024-12-31") });
        // Day rows are never cut.
        s.set_split(Some(4));
        s.note_density(1, 1, 1);
        let Some(Work::Range { row: 1, range, .. }) = s.next(3, true, true) else { panic!() };
        assert_eq!(range, year);
    }

    #[test]
    fn at_the_opening_workers_beyond_the_rows_share_them_by_a_densest_page_each() {
        let p = plan(&["AAPL", "MSFT", "SPY"], &["1/minute", "1/day"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        s.set_split(Some(8));
        let works: Vec<Work> = (0..8).map_while(|slot| s.next(slot, true, true)).collect();
        let ranges = |row: usize| -> Vec<Range> {
            works
                .iter()
                .filter_map(|w| match w {
                    Work::Range { row: r, range, .. } if *r == row => Some(*range),
                    _ => None,
                })
                .collect()
        };
        // Six rows for eight workers: two minute rows are cut once each, their last page at
        // 960 minutes a session (52 sessions), and every worker has work. Daily rows are
        // never cut.
        assert_eq!(works.len(), 8, "{works:?}");
        for row in [0, 2] {
            let r = ranges(row);
            assert_eq!(r.len(), 2, "row {row}: {r:?}");
            assert_eq!((r[0].to, r[0].sessions()), (day("2024-12-31"), 52), "the newest sessions");
            assert_eq!(r[1], Range { from: day("2024-01-01"), to: r[0].from - 1 });
        }
        assert_eq!(ranges(4).len(), 1, "SPY goes whole: no worker would be idle");
        assert!([1, 3, 5].iter().all(|&row| ranges(row).len() == 1));
        // Once a page has shown a density, nothing more is guessed.
        let p = plan(&["AAPL", "MSFT"], &["1/minute"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        s.set_split(Some(8));
        let _ = s.next(0, true, true);
        let _ = s.next(1, true, true);
        s.note_density(0, 100, 1);
        assert!(matches!(s.next(2, true, true), Some(Work::Range { row: 1, range, .. }) if range.sessions() == 252));
        // While the quota binds, no row is cut.
        let mut s = Scheduler::new(&p, true);
        s.set_split(None);
        assert!(matches!(s.next(0, true, true), Some(Work::Range { row: 0, range, .. }) if range.sessions() == 252));
    }

    #[test]
    fn a_chain_hands_its_rest_back_only_when_workers_run_short_and_only_with_room() {
        let p = plan(&["AAPL", "MSFT", "NVDA", "TSLA"], &["1/minute"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        let year = Range { from: day("2024-01-01"), to: day("2024-12-31") };
        s.set_split(Some(3));
        let _ = s.next(0, true, true).unwrap();
        assert!(!s.wants_pieces(0, year), "the row's density is not known yet");
        s.note_density(0, 960, 1);
        assert!(!s.wants_pieces(0, year), "three rows wait for the three workers");
        let _ = s.next(1, true, true).unwrap();
        assert!(s.wants_pieces(0, year), "two rows wait for three workers: one will be idle");
        let _ = s.next(2, true, true).unwrap();
        assert!(s.wants_pieces(0, year), "one row left to take");
        // Workers that take the rest get a page's worth each, and the rest of it stays
        // one queued task: the other chains still hand theirs back.
        s.put_back(0, Range { from: day("2024-01-03"), to: year.to }, None);
        let _ = s.next(0, true, true).unwrap();
        let _ = s.next(0, true, true).unwrap();
        assert_eq!(s.tasks.len(), 2, "TSLA's row and the rest of AAPL's");
        s.note_density(1, 960, 1);
        assert!(s.wants_pieces(1, year));
        assert!(!s.wants_pieces(0, Range { from: day("2024-12-02"), to: day("2024-12-31") }), "one page left");
        s.set_split(None);
        assert!(!s.wants_pieces(0, year), "the quota binds");
    }

    #[test]
    fn put_back_resumes_after_the_last_bar() {
        let p = plan(&["AAPL"], &["1/minute"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, false);
        let Some(Work::Range { range, .. }) = s.next(0, false, false) else { panic!() };
        s.put_back(0, Range { from: day("2024-03-04"), to: range.to }, Some(123));
        s.finish(0, None);
        // Fix 2 went on: the rest is asked at the largest page, from the same bar.
        assert_eq!(
            s.next(0, true, false),
            Some(Work::Range {
                row: 0,
                range: Range { from: day("2024-03-04"), to: range.to },
                from_ms: Some(123),
                limit: Some(50_000),
                held: None
            })
        );
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
    fn row_states_after_each_piece() {
        let p = plan(&["AAPL", "NOPE"], &["1/minute"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        let _ = s.next(0, true, false).unwrap();
        s.put_back(0, Range { from: day("2024-06-03"), to: day("2024-12-31") }, None);
        s.add_bars(0, 10);
        assert_eq!(s.finish(0, None), RowAfter::Queued);
        let _ = s.next(0, true, false).unwrap();
        let _ = s.next(1, true, false).unwrap();
        assert_eq!(s.finish(0, Some("403 plan limit".into())), RowAfter::Failed("403 plan limit".into()));
        assert_eq!(s.finish(1, None), RowAfter::Empty, "no bar in the whole range");
    }

    #[test]
    fn a_row_whose_work_stopped_with_the_run_is_not_empty() {
        let p = plan(&["AAPL", "NOPE"], &["1/minute"], "2024-01-01", "2024-12-31");
        let mut s = Scheduler::new(&p, true);
        let a = s.next(0, true, false).unwrap();
        let b = s.next(1, true, false).unwrap();
        s.abandon(a.rows()[0]);
        assert_eq!(s.finish(b.rows()[0], None), RowAfter::Empty);
        assert_eq!(s.empty_rows(), [1], "AAPL was stopped before any bar, not found empty");
    }

    #[test]
    fn each_class_goes_to_its_own_grouped_endpoint_on_its_own_days() {
        let mut syms: Vec<String> = (0..10).map(|i| format!("S{i}")).collect();
        syms.extend((0..10).map(|i| format!("X:C{i}USD")));
        syms.push("I:SPX".into());
        let syms: Vec<&str> = syms.iter().map(String::as_str).collect();
        // Friday to Monday: one session for stocks, four days for crypto, one for the index.
        let p = plan(&syms, &["1/day"], "2025-01-03", "2025-01-06");
        let mut s = Scheduler::new(&p, true);
        let works = drain(&mut s, true, false);
        let mut grouped: Vec<(String, &str, usize)> = Vec::new();
        for w in &works {
            match w {
                Work::Grouped { day, market, rows } => {
                    let class = p.rows[rows[0]].class;
                    assert!(rows.iter().all(|&r| p.rows[r].class == class), "one class per grouped answer");
                    assert_eq!(class.grouped(), Some(*market));
                    grouped.push((calendar::format_day(*day), market.market, rows.len()));
                }
                Work::Range { row, range, .. } => {
                    assert_eq!(p.rows[*row].ticker, "I:SPX", "indices have no grouped endpoint");
                    assert_eq!((range.from, range.to), (day("2025-01-03"), day("2025-01-06")));
                }
            }
        }
        grouped.sort();
        let want = [
            ("2025-01-03", "crypto", 10),
            ("2025-01-03", "stocks", 10),
            ("2025-01-04", "crypto", 10),
            ("2025-01-05", "crypto", 10),
            ("2025-01-06", "crypto", 10),
            ("2025-01-06", "stocks", 10),
        ];
        assert_eq!(grouped, want.map(|(d, m, n)| (d.to_string(), m, n)));
    }

    #[test]
    fn a_crypto_row_is_cut_on_calendar_days_and_keeps_its_weekends() {
        let p = plan(&["X:BTCUSD"], &["1/minute"], "2025-01-01", "2025-03-31");
        let mut s = Scheduler::new(&p, true);
        s.set_split(Some(8));
        // A page held 20 days of minute bars: 1440 x 0.5 a day.
        s.note_density(0, 720 * 20, 20);
        let pieces = drain(&mut s, true, true);
        let ranges: Vec<Range> =
            pieces.iter().map(|w| if let Work::Range { range, .. } = w { *range } else { panic!("{w:?}") }).collect();
        // 50000 / 720 = 69 calendar days a piece, weekends included, and nothing lost between them.
        assert_eq!(ranges[0], Range { from: day("2025-01-01"), to: day("2025-03-10") });
        assert_eq!(ranges[1], Range { from: day("2025-03-11"), to: day("2025-03-31") });
    }
}
