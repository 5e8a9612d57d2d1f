//! The dashboard's state: everything the panes show, folded from engine events, log lines
//! and key presses. No terminal, no clock, no I/O: time comes in as `Instant`s, so tests
//! drive it exactly and the drawing code only reads it.
//!
//! - `rows`: one symbol x timeframe as the panes see it, and what kind of state it is in;
//! - `list`: the symbols pane's view of the rows: order, filter, search, selection;
//! - `rates`: request rate over time and the waits (rate-limit and backoff panes);
//! - `fold`: engine events folded into this state;
//! - `input`: key presses turned into view changes or `Effect`s;
//! - `figures`: what the panes compute from the state as of `now`.

mod figures;
mod fold;
mod input;
mod list;
mod rates;
mod rows;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

pub use self::list::{Change, Filter, ListView, Order};
pub use self::rates::{BUCKET_S, BackoffStats, RateHistory, WAIT_EDGES, Wait};
pub use self::rows::{Counts, Kind, RowView};
use crate::calendar::Range;
use crate::engine::Tally;
use crate::engine::events::{Command, Level, RunInfo, Settings};
use crate::report::Report;
use crate::secret::ApiKey;
use crate::store::RunRecord;

/// Requests kept per row for the detail popup.
pub const RECENT_PER_ROW: usize = 40;
/// Log lines kept for the log pane (the file has them all).
pub const LOG_LINES: usize = 500;

/// What the run loop must do for a key.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Engine(Command),
    /// Start a new run with these settings; `refetch` fetches stored windows again.
    NewRun {
        settings: Settings,
        refetch: bool,
    },
    /// Stop the run, wait for its report, then leave.
    Quit,
    /// Asked to quit twice: leave without waiting.
    ForceQuit,
    /// Read the database's coverage for the overlay (on a blocking thread).
    ReadCoverage,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the engine's first event.
    Starting,
    Running,
    Finished,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Symbols,
    Log,
    Runs,
}

impl Focus {
    const ORDER: [Focus; 3] = [Focus::Symbols, Focus::Log, Focus::Runs];

    fn step(self, by: isize) -> Focus {
        let i = Focus::ORDER.iter().position(|f| *f == self).unwrap_or(0) as isize;
        Focus::ORDER[(i + by).rem_euclid(Focus::ORDER.len() as isize) as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlay {
    None,
    Help,
    /// The selected symbol row's recent requests.
    Detail,
    /// Every row as one cell, by state.
    Overview,
    /// What the database holds: per row, sessions stored against the range's, the holes.
    Coverage,
}

/// The coverage overlay's content: read from the database off the loop, when asked.
#[derive(Clone, Debug, Default)]
pub enum CoverageView {
    #[default]
    NotRead,
    Reading,
    Read(Vec<crate::store::coverage::RowCoverage>),
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Instant,
    pub level: Level,
    pub text: String,
}

#[derive(Clone, Debug, Default)]
pub struct RunsView {
    pub list: Vec<RunRecord>,
    pub error: Option<String>,
    pub loaded: bool,
}

#[derive(Clone, Debug)]
pub struct ViewState {
    pub focus: Focus,
    pub overlay: Overlay,
    /// Lines the help or the overview is scrolled down, when it is taller than the screen.
    pub overlay_scroll: usize,
    /// Colours on; off when `NO_COLOR` is set (every state is still told in text).
    pub colour: bool,
    /// Lines scrolled back from the newest log line (0 follows the tail).
    pub log_scroll: usize,
    pub runs_scroll: usize,
}

pub struct App {
    /// When the dashboard opened: log lines are stamped from here.
    pub started: Instant,
    secret: Option<ApiKey>,
    pub source: String,
    pub base_url: String,
    pub db: String,
    pub info: Option<Box<RunInfo>>,
    pub phase: Phase,
    pub run_started: Option<Instant>,
    pub stop_requested: bool,
    pub quitting: bool,
    /// The engine's settings, or the switches for the next run once a run has ended.
    pub settings: Settings,
    pub tally: Tally,
    pub report: Option<Report>,
    pub rows: Vec<RowView>,
    pub rate: RateHistory,
    pub backoff: BackoffStats,
    pub cpu_pct: Option<f64>,
    pub rss_mb: Option<f64>,
    pub log: VecDeque<LogLine>,
    /// The engine logs every notice through tracing too; when the log pane is fed from
    /// tracing, taking notices as well would show each twice.
    pub notices_to_log: bool,
    pub runs: RunsView,
    pub view: ViewState,
    /// The symbols pane's order, filter, search and selection.
    pub list: ListView,
    /// The requested range, to tell where a row's bars start or end inside it.
    pub range: Option<Range>,
    /// Something changed since the last frame: an event, a log line, a key.
    pub redraw: bool,
    /// The plan's weight of all rows and of the work done so far, kept as windows are
    /// stored, so a frame need not add up every row.
    planned_weight: u64,
    done_weight: f64,
    /// Rows waiting in backoff, for the backoff pane's countdowns.
    in_backoff: BTreeSet<usize>,
    /// When the pacer's gate opens, as last told.
    pub held_until: Option<Instant>,
    /// The engine's last word on the time left, and when it came.
    eta_told: Option<(Instant, crate::engine::eta::EtaFigures)>,
    pub coverage: CoverageView,
}

/// What the header says of the time left.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Eta {
    /// The work left at the rate now achieved, as the engine worked it out.
    About(f64),
    /// Too soon after the start or a switch to know; the quota alone needs at least this.
    Measuring {
        at_least: Option<f64>,
    },
    Paused,
}

impl App {
    /// The database's coverage as read for the overlay, with holes first.
    pub fn set_coverage(&mut self, read: Result<Vec<crate::store::coverage::RowCoverage>, String>) {
        self.coverage = match read {
            Ok(mut rows) => {
                rows.sort_by_key(|r| (r.missing.is_empty(), r.ticker.clone(), r.timeframe.clone()));
                CoverageView::Read(rows)
            }
            Err(e) => CoverageView::Failed(e),
        };
        self.redraw = true;
    }

    pub fn new(started: Instant, source: &str, base_url: &str, db: &str, settings: Settings) -> App {
        App {
            started,
            secret: None,
            source: source.to_string(),
            base_url: base_url.to_string(),
            db: db.to_string(),
            info: None,
            phase: Phase::Starting,
            run_started: None,
            stop_requested: false,
            quitting: false,
            settings,
            tally: Tally::default(),
            report: None,
            rows: Vec::new(),
            rate: RateHistory::default(),
            backoff: BackoffStats::default(),
            cpu_pct: None,
            rss_mb: None,
            log: VecDeque::new(),
            notices_to_log: true,
            runs: RunsView::default(),
            list: ListView::default(),
            range: None,
            redraw: true,
            planned_weight: 0,
            done_weight: 0.0,
            in_backoff: BTreeSet::new(),
            held_until: None,
            eta_told: None,
            coverage: CoverageView::NotRead,
            view: ViewState {
                focus: Focus::Symbols,
                overlay: Overlay::None,
                overlay_scroll: 0,
                colour: true,
                log_scroll: 0,
                runs_scroll: 0,
            },
        }
    }

    /// Text from the server or from libraries is scrubbed of the key before it is kept.
    pub fn with_range(mut self, range: Range) -> App {
        self.range = Some(range);
        self
    }

    pub fn with_secret(mut self, key: Option<ApiKey>) -> App {
        self.secret = key;
        self
    }

    fn clean(&self, text: &str) -> String {
        match &self.secret {
            Some(k) => k.redact(text),
            None => text.to_string(),
        }
    }

    /// Whether the tick at `now` should draw, `since` after the last frame: when something
    /// changed; on a quiet live run when what moves by itself shows it (tenths of a second
    /// in the first minute and in countdowns, else whole seconds: once a second). An ended
    /// run on screen costs no frames at all.
    pub fn needs_frame(&self, now: Instant, since: Duration) -> bool {
        if self.redraw {
            return true;
        }
        if self.phase != Phase::Running {
            return false;
        }
        let tenths = self.elapsed(now) < 60.0 || !self.waits(now).is_empty();
        tenths || since >= Duration::from_secs(1)
    }

    /// Whether commands reach a running engine.
    pub fn live(&self) -> bool {
        self.phase == Phase::Running
    }

    /// A run could not start, or its task ended without a report: `text` says which.
    pub fn run_failed(&mut self, text: &str, at: Instant) {
        self.phase = Phase::Finished;
        let text = self.clean(text);
        self.push_log(LogLine { at, level: Level::Error, text });
    }

    pub fn push_log(&mut self, line: LogLine) {
        self.redraw = true;
        if self.log.len() == LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
        if self.view.log_scroll > 0 {
            // Someone is reading back: keep what they read in place.
            self.view.log_scroll = (self.view.log_scroll + 1).min(self.log.len().saturating_sub(1));
        }
    }

    fn note(&mut self, at: Instant, text: impl Into<String>) {
        self.push_log(LogLine { at, level: Level::Info, text: text.into() });
    }

    pub fn set_runs(&mut self, runs: Result<Vec<RunRecord>, String>) {
        self.redraw = true;
        self.runs.loaded = true;
        match runs {
            Ok(list) => {
                self.runs.list = list;
                self.runs.error = None;
            }
            Err(e) => self.runs.error = Some(e),
        }
        self.view.runs_scroll = self.view.runs_scroll.min(self.runs.list.len().saturating_sub(1));
    }

    pub fn selected_row(&self) -> Option<&RowView> {
        self.rows.get(self.list.selected()?)
    }

    /// Brings the symbols list up to date and keeps its selection on screen, given how
    /// many rows fit: called once before each frame.
    pub fn fit_symbols(&mut self, visible: usize) {
        self.list.refresh(&self.rows, self.live());
        self.list.fit(visible);
    }
}

#[cfg(test)]
mod list_tests;
#[cfg(test)]
mod tests;
