//! The symbols pane's view of the rows: which are shown (filter, search), in what order,
//! which one is selected and where the window onto them starts.
//!
//! Thousands of rows: the view is an index list rebuilt only when something it depends
//! on changed (a row's state, or the figure the order sorts by), at most once a frame,
//! never while drawing. The state order is a counting sort by tier over rows already in
//! plan order (one pass); the figure orders sort the index list. The selection is a row,
//! not a position, so it stays on its row as rows move.

use std::cmp::Reverse;

use super::rows::{Counts, Kind, RowView};

/// How the rows are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// As planned: symbol by symbol, in the order of the configuration.
    Plan,
    /// Failed, backoff and fetching rows first, then queued, then ended ones.
    State,
    /// Most 429s first.
    Hits,
    /// Most bars first.
    Bars,
    /// Most seconds spent in requests first.
    Time,
}

impl Order {
    pub const ALL: [Order; 5] = [Order::Plan, Order::State, Order::Hits, Order::Bars, Order::Time];

    pub fn label(self) -> &'static str {
        match self {
            Order::Plan => "plan",
            Order::State => "state",
            Order::Hits => "429s",
            Order::Bars => "bars",
            Order::Time => "time",
        }
    }

    fn next(self) -> Order {
        let i = Order::ALL.iter().position(|o| *o == self).unwrap_or(0);
        Order::ALL[(i + 1) % Order::ALL.len()]
    }
}

/// Which rows are shown. The last three split the rows between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    All,
    /// Not ended yet: queued, fetching, backoff.
    Active,
    /// Ended badly: failed, empty, or done with failed windows.
    Trouble,
    /// Ended well: done, or stored by earlier runs.
    Done,
}

impl Filter {
    pub const ALL: [Filter; 4] = [Filter::All, Filter::Active, Filter::Trouble, Filter::Done];

    pub fn label(self) -> &'static str {
        match self {
            Filter::All => "all",
            Filter::Active => "active",
            Filter::Trouble => "failed or empty",
            Filter::Done => "done",
        }
    }

    fn next(self) -> Filter {
        let i = Filter::ALL.iter().position(|f| *f == self).unwrap_or(0);
        Filter::ALL[(i + 1) % Filter::ALL.len()]
    }

    pub fn admits(self, r: &RowView, k: Kind) -> bool {
        match self {
            Filter::All => true,
            Filter::Active => matches!(k, Kind::Queued | Kind::Fetching | Kind::Backoff),
            Filter::Trouble => matches!(k, Kind::Failed | Kind::Empty) || (k == Kind::Done && r.failed_windows > 0),
            Filter::Done => matches!(k, Kind::Done | Kind::Stored) && r.failed_windows == 0,
        }
    }
}

/// What changed about a row, so the view knows whether its order still holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// State or failed windows: counts, filter and the state order.
    State,
    Hits,
    Bars,
    Time,
}

const HIDDEN: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct ListView {
    /// The order the user chose with `o`; `None` follows the run: the state order while
    /// a run goes, the plan's once it ended.
    pub chosen: Option<Order>,
    pub filter: Filter,
    /// What was typed after `/`, upper-cased; empty shows every row.
    pub query: String,
    /// `/` was pressed and neither Enter nor Esc yet.
    pub typing: bool,
    /// The order of the last rebuild.
    order: Order,
    /// Row indices in display order.
    shown: Vec<u32>,
    /// Display position of each row, `HIDDEN` when filtered out.
    pos: Vec<u32>,
    /// Rows by tier while the state order is built (kept to reuse their memory).
    tiers: [Vec<u32>; Kind::TIERS],
    counts: Counts,
    dirty: bool,
    /// The selection is a row, kept across rebuilds.
    selected: Option<u32>,
    /// The selection is the top of the list and stays there as rows move (follow mode's
    /// resting place). Moving away from the first row pins the selection to its row.
    pub at_top: bool,
    /// Filter, order or search changed: a selection they hide goes to the top.
    reset_hidden: bool,
    /// First position on screen.
    pub offset: usize,
    /// Rows that fit on screen, from the last layout.
    pub page: usize,
    /// Times the view was rebuilt: a figure for tests and benches.
    pub rebuilds: u64,
}

impl Default for ListView {
    fn default() -> ListView {
        ListView {
            chosen: None,
            filter: Filter::All,
            query: String::new(),
            typing: false,
            order: Order::Plan,
            shown: Vec::new(),
            pos: Vec::new(),
            tiers: Default::default(),
            counts: Counts::default(),
            dirty: true,
            selected: None,
            at_top: true,
            reset_hidden: false,
            offset: 0,
            page: 10,
            rebuilds: 0,
        }
    }
}

impl ListView {
    /// The order in force: the chosen one, else the state order while a run goes.
    pub fn order_for(&self, live: bool) -> Order {
        self.chosen.unwrap_or(if live { Order::State } else { Order::Plan })
    }

    /// The order of the rows as last built.
    pub fn order(&self) -> Order {
        self.order
    }

    /// Follow mode: the state order because the run is live and nothing else was chosen.
    pub fn following(&self) -> bool {
        self.chosen.is_none() && self.order == Order::State
    }

    pub fn shown(&self) -> &[u32] {
        &self.shown
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub fn selected(&self) -> Option<usize> {
        self.selected.map(|s| s as usize)
    }

    pub fn selected_pos(&self) -> Option<usize> {
        let p = *self.pos.get(self.selected? as usize)?;
        (p != HIDDEN).then_some(p as usize)
    }

    /// Something about a row changed; the view is rebuilt before the next frame if that
    /// matters to it.
    pub fn touch(&mut self, change: Change) {
        let matters = match change {
            Change::State => true,
            Change::Hits => self.order == Order::Hits,
            Change::Bars => self.order == Order::Bars,
            Change::Time => self.order == Order::Time,
        };
        self.dirty |= matters;
    }

    /// A new run's rows: the same plan keeps the selection on the same row.
    pub fn reset(&mut self, rows: usize) {
        self.selected = self.selected.filter(|s| (*s as usize) < rows);
        self.dirty = true;
    }

    /// Brings the view up to date with the rows, if anything it depends on changed.
    pub fn refresh(&mut self, rows: &[RowView], live: bool) {
        let order = self.order_for(live);
        if !self.dirty && order == self.order && self.pos.len() == rows.len() {
            return;
        }
        let before = self.selected_pos();
        let line = before.map(|p| p.saturating_sub(self.offset));
        self.order = order;
        self.rebuild(rows);
        self.dirty = false;
        self.reselect(before, line);
    }

    fn rebuild(&mut self, rows: &[RowView]) {
        self.rebuilds += 1;
        let mut counts = Counts::default();
        self.shown.clear();
        for t in &mut self.tiers {
            t.clear();
        }
        let by_tier = self.order == Order::State;
        for (i, r) in rows.iter().enumerate() {
            let k = r.kind();
            counts.add(k);
            if self.filter.admits(r, k) && matches_query(&r.ticker, &self.query) {
                // The state order is a counting sort by tier: rows come in plan order and
                // stay so within their tier.
                if by_tier { self.tiers[k.tier()].push(i as u32) } else { self.shown.push(i as u32) }
            }
        }
        for t in &self.tiers {
            self.shown.extend_from_slice(t);
        }
        self.counts = counts;
        let row = |i: &u32| &rows[*i as usize];
        match self.order {
            Order::Plan | Order::State => {}
            Order::Hits => self.shown.sort_unstable_by_key(|i| (Reverse(row(i).rate_limited), *i)),
            Order::Bars => self.shown.sort_unstable_by_key(|i| (Reverse(row(i).bars()), *i)),
            Order::Time => self.shown.sort_unstable_by_key(|i| (Reverse((row(i).api_s * 1e3) as u64), *i)),
        }
        self.pos.clear();
        self.pos.resize(rows.len(), HIDDEN);
        for (p, &i) in self.shown.iter().enumerate() {
            self.pos[i as usize] = p as u32;
        }
    }

    /// After a rebuild: the top stays the top, a shown row keeps its line on screen, and a
    /// row that left the view hands the selection to the one now in its place.
    fn reselect(&mut self, before: Option<usize>, line: Option<usize>) {
        let reset_hidden = std::mem::take(&mut self.reset_hidden);
        if self.shown.is_empty() {
            self.offset = 0;
            return;
        }
        if self.at_top || self.selected.is_none() {
            self.select_pos(0);
            return;
        }
        match self.selected_pos() {
            Some(p) => self.offset = p.saturating_sub(line.unwrap_or(0)),
            None if reset_hidden => self.select_pos(0),
            None => {
                let p = before.unwrap_or(0).min(self.shown.len() - 1);
                self.selected = Some(self.shown[p]);
            }
        }
    }

    fn select_pos(&mut self, p: usize) {
        let p = p.min(self.shown.len().saturating_sub(1));
        self.selected = self.shown.get(p).copied();
        self.at_top = p == 0;
        if p == 0 {
            self.offset = 0;
        }
    }

    /// Moves the selection by `by` positions (clamped to the list).
    pub fn move_by(&mut self, by: isize) {
        let from = self.selected_pos().unwrap_or(0) as isize;
        let last = self.shown.len().saturating_sub(1) as isize;
        self.select_pos(from.saturating_add(by).clamp(0, last) as usize);
    }

    /// Selects row `row` if it is shown, pinned to it.
    pub fn select_row(&mut self, row: usize) {
        if let Some(p) = self.pos.get(row).filter(|p| **p != HIDDEN) {
            self.select_pos(*p as usize);
            self.at_top = false;
        }
    }

    /// Holds the selection on its row even at the top (a row was opened).
    pub fn pin(&mut self) {
        self.at_top = false;
    }

    /// Keeps the selected row on screen, given how many rows fit.
    pub fn fit(&mut self, visible: usize) {
        let visible = visible.max(1);
        self.page = visible;
        if let Some(p) = self.selected_pos() {
            if p < self.offset {
                self.offset = p;
            } else if p >= self.offset + visible {
                self.offset = p + 1 - visible;
            }
        }
        self.offset = self.offset.min(self.shown.len().saturating_sub(visible));
    }

    pub fn cycle_filter(&mut self) {
        self.filter = self.filter.next();
        self.changed_view();
    }

    /// The next order after the one in force; choosing one leaves follow mode.
    pub fn cycle_order(&mut self, live: bool) {
        self.chosen = Some(self.order_for(live).next());
        self.changed_view();
    }

    pub fn search_start(&mut self) {
        self.typing = true;
    }

    pub fn search_type(&mut self, c: char) {
        if c.is_control() {
            return;
        }
        self.query.extend(c.to_uppercase());
        self.searched();
    }

    pub fn search_back(&mut self) {
        if self.query.pop().is_some() {
            self.searched();
        }
    }

    /// Enter: stop typing, keep the rows found; the row found stays selected.
    pub fn search_keep(&mut self) {
        self.typing = false;
        if !self.query.is_empty() {
            self.pin();
        }
    }

    /// Esc: stop typing and show every row again, the row found staying selected.
    pub fn search_clear(&mut self) {
        self.typing = false;
        if !self.query.is_empty() {
            if self.selected_pos().is_some() {
                self.pin();
            }
            self.query.clear();
            self.changed_view();
        }
    }

    /// A new query: the best match (the first) is selected.
    fn searched(&mut self) {
        self.at_top = true;
        self.changed_view();
    }

    fn changed_view(&mut self) {
        self.dirty = true;
        self.reset_hidden = true;
    }
}

/// Whether `ticker` contains `query` (already upper-cased), ignoring ASCII case.
fn matches_query(ticker: &str, query: &str) -> bool {
    if query.is_empty() {
        return true;
    }
    let (t, q) = (ticker.as_bytes(), query.as_bytes());
    q.len() <= t.len() && t.windows(q.len()).any(|w| w.eq_ignore_ascii_case(q))
}
