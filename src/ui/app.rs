//! The dashboard's state: everything the panes show, folded from engine events, log lines
//! and key presses. No terminal, no clock, no I/O: time comes in as `Instant`s, so tests
//! drive it exactly and the drawing code only reads it.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crossterm::event::KeyEvent;

use super::keys::{self, Action};
use crate::calendar::Day;
use crate::engine::Tally;
use crate::engine::events::{Command, Event, Level, RequestRecord, RowState, RunInfo, Settings};
use crate::polygon::outcome::ErrorKind;
use crate::report::{Report, RunStatus};
use crate::secret::ApiKey;
use crate::store::RunRecord;

/// Requests kept per row for the detail popup.
pub const RECENT_PER_ROW: usize = 40;
/// Log lines kept for the log pane (the file has them all).
pub const LOG_LINES: usize = 500;
/// Width of a request-rate bucket, in seconds.
pub const BUCKET_S: f64 = 5.0;
/// Lower edges of the wait-length histogram, in seconds.
pub const WAIT_EDGES: [f64; 8] = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

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
}

#[derive(Clone, Debug)]
pub struct LogLine {
    pub at: Instant,
    pub level: Level,
    pub text: String,
}

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

/// A wait in progress, for the backoff pane.
#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    pub who: String,
    pub reason: String,
    pub left: f64,
}

#[derive(Clone, Debug, Default)]
pub struct RateHistory {
    /// Requests answered per `BUCKET_S` since the run started.
    pub buckets: Vec<u32>,
    /// Arrival of requests and of 429s in about the last minute.
    recent: VecDeque<Instant>,
    recent_429: VecDeque<Instant>,
    pub limiter_waits: u64,
}

#[derive(Clone, Debug, Default)]
pub struct BackoffStats {
    /// Own retry waits by length, with `WAIT_EDGES` as lower edges.
    pub histogram: [u64; WAIT_EDGES.len()],
    pub longest_s: f64,
    pub held_waits: u64,
    /// Retry waits of requests that belong to no row (grouped daily): start and length.
    other: Vec<(Instant, f64, String)>,
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
    pub selected: usize,
    /// First symbol row on screen.
    pub offset: usize,
    /// Symbol rows that fit on screen, from the last layout.
    pub page: usize,
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
}

impl App {
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
            view: ViewState {
                focus: Focus::Symbols,
                overlay: Overlay::None,
                selected: 0,
                offset: 0,
                page: 10,
                log_scroll: 0,
                runs_scroll: 0,
            },
        }
    }

    /// Text from the server or from libraries is scrubbed of the key before it is kept.
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

    /// Whether commands reach a running engine.
    pub fn live(&self) -> bool {
        self.phase == Phase::Running
    }

    pub fn on_event(&mut self, event: Event, at: Instant) {
        if let Event::RunStarted(info) = &event {
            self.begin_run(info, at);
        }
        self.tally.apply(&event);
        match event {
            Event::RunStarted(info) => {
                let text = format!(
                    "run #{} started{}: {} rows, ~{} requests planned (fixes {}), at least {} at the quota",
                    info.run_id,
                    if info.refetch { ", fetching every window again" } else { "" },
                    info.rows.len(),
                    info.estimate.requests,
                    info.settings.fixes.label(),
                    crate::ui::format::duration(info.floor_s)
                );
                self.note(at, text);
                self.info = Some(info);
            }
            Event::Settings(s) => self.settings = s,
            Event::RowState { row, state } => {
                let state = match state {
                    RowState::Failed(reason) => RowState::Failed(self.clean(&reason)),
                    other => other,
                };
                if let Some(r) = self.rows.get_mut(row) {
                    r.state = state;
                    r.state_at = at;
                }
            }
            Event::RowBounds { row, first, last } => {
                if let Some(r) = self.rows.get_mut(row) {
                    r.bounds = Some((first, last));
                }
            }
            Event::Request(mut req) => {
                self.rate.on_request(at, req.error == Some(ErrorKind::RateLimited));
                if let Some(start) = self.run_started {
                    self.rate.bucket((at.saturating_duration_since(start).as_secs_f64() / BUCKET_S) as usize);
                }
                req.path = self.clean(&req.path);
                req.message = req.message.map(|m| self.clean(&m));
                if let Some(r) = req.row.and_then(|i| self.rows.get_mut(i)) {
                    r.requests += 1;
                    if req.error.is_none() {
                        r.page_bars += req.bars;
                    }
                    if req.error == Some(ErrorKind::RateLimited) {
                        r.rate_limited += 1;
                    }
                    if r.recent.len() == RECENT_PER_ROW {
                        r.recent.pop_front();
                    }
                    r.recent.push_back((at, req));
                }
            }
            Event::Backoff { row, secs, reason, held } => {
                self.backoff.other.retain(|(t, s, _)| at.saturating_duration_since(*t).as_secs_f64() < *s);
                if held {
                    self.backoff.held_waits += 1;
                } else {
                    let i = WAIT_EDGES.iter().rposition(|edge| secs >= *edge).unwrap_or(0);
                    self.backoff.histogram[i] += 1;
                    self.backoff.longest_s = self.backoff.longest_s.max(secs);
                    if row.is_none_or(|r| r >= self.rows.len()) {
                        let reason = self.clean(&reason);
                        self.backoff.other.push((at, secs, reason));
                    }
                }
            }
            Event::LimiterWait { .. } => self.rate.limiter_waits += 1,
            Event::Stored { windows, .. } => {
                for w in windows {
                    if let Some(r) = self.rows.get_mut(w.row) {
                        r.days_done = (r.days_done + w.range.sessions()).min(r.sessions);
                        r.window_bars += w.bars;
                        r.window_requests += w.requests as u64;
                    }
                }
            }
            Event::WindowFailed { row, reason, .. } => {
                let reason = self.clean(&reason);
                if let Some(r) = self.rows.get_mut(row) {
                    r.failed_windows += 1;
                    r.last_failure = Some(reason);
                }
            }
            Event::Resources { cpu_pct, rss_mb } => {
                self.cpu_pct = Some(cpu_pct);
                self.rss_mb = Some(rss_mb);
            }
            Event::Notice { level, text } => {
                if self.notices_to_log {
                    let text = self.clean(&text);
                    self.push_log(LogLine { at, level, text });
                }
            }
            Event::RunFinished(report) => {
                self.phase = Phase::Finished;
                for r in &mut self.rows {
                    // Nothing fetches or waits once the run is over.
                    if matches!(r.state, RowState::Fetching | RowState::Backoff { .. }) {
                        r.state = RowState::Queued;
                        r.state_at = at;
                    }
                }
                // The next run starts from the switches this one ended with, unpaused.
                self.settings.paused = false;
                let level = if report.status == RunStatus::Failed { Level::Error } else { Level::Info };
                let mut text = if report.requests == 0 && report.status == RunStatus::Done && report.failed_jobs == 0 {
                    format!(
                        "run #{} done: nothing to fetch, every window is already stored (R fetches it all again)",
                        report.run_id
                    )
                } else {
                    format!(
                        "run #{} {} in {}: {} requests, {} bars, {} 429s",
                        report.run_id,
                        report.status,
                        crate::ui::format::duration(report.wall_s),
                        report.requests,
                        crate::ui::format::thousands(report.bars),
                        report.rate_limit_hits
                    )
                };
                if let Some(note) = &report.note {
                    text = format!("{text}; {note}");
                }
                self.push_log(LogLine { at, level, text });
                self.report = Some(*report);
            }
            Event::SuspectBars { ticker, bars, .. } => {
                let first = bars.first().map(|b| format!(": {} at {}", b.what, crate::calendar::format_ny_ms(b.ts)));
                let text = format!("{} suspect bars stored for {ticker}{}", bars.len(), first.unwrap_or_default());
                self.push_log(LogLine { at, level: Level::Warn, text: self.clean(&text) });
            }
            Event::WriterBlocked { .. } | Event::Pace { .. } => {}
        }
    }

    fn begin_run(&mut self, info: &RunInfo, at: Instant) {
        self.phase = Phase::Running;
        self.run_started = Some(at);
        self.stop_requested = false;
        self.settings = info.settings;
        self.tally = Tally::default();
        self.report = None;
        self.rate = RateHistory::default();
        self.backoff = BackoffStats::default();
        self.source = info.source.clone();
        self.base_url = self.clean(&info.base_url);
        self.db = info.db.clone();
        self.rows = info
            .rows
            .iter()
            .map(|r| {
                let left = r.sessions.saturating_sub(r.covered_sessions);
                RowView {
                    ticker: r.ticker.clone(),
                    timeframe: r.timeframe.to_string(),
                    sessions: r.sessions,
                    covered_at_start: r.covered_sessions,
                    days_done: r.covered_sessions,
                    weight: if left == 0 {
                        0
                    } else {
                        crate::plan::requests_for(r.timeframe, left as u64, crate::polygon::client::MAX_LIMIT).max(1)
                    },
                    state: RowState::Queued,
                    state_at: at,
                    page_bars: 0,
                    window_bars: 0,
                    requests: 0,
                    window_requests: 0,
                    rate_limited: 0,
                    failed_windows: 0,
                    last_failure: None,
                    bounds: None,
                    recent: VecDeque::new(),
                }
            })
            .collect();
        self.view.selected = self.view.selected.min(self.rows.len().saturating_sub(1));
        self.view.offset = self.view.offset.min(self.view.selected);
    }

    /// A run could not start, or its task ended without a report: `text` says which.
    pub fn run_failed(&mut self, text: &str, at: Instant) {
        self.phase = Phase::Finished;
        let text = self.clean(text);
        self.push_log(LogLine { at, level: Level::Error, text });
    }

    pub fn push_log(&mut self, line: LogLine) {
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

    // ----- figures the panes show -----

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
        let total: u64 = self.rows.iter().map(|r| r.weight).sum();
        if total == 0 {
            return None;
        }
        let done: f64 = self
            .rows
            .iter()
            .filter(|r| r.weight > 0)
            .map(|r| {
                let left = r.sessions.saturating_sub(r.covered_at_start) as f64;
                let did = r.days_done.saturating_sub(r.covered_at_start) as f64;
                r.weight as f64 * (did / left).min(1.0)
            })
            .sum();
        Some(done / total as f64)
    }

    /// Seconds left at the rate measured so far; before any window is done, the floor the
    /// quota sets for the plan, as a lower bound (`true`).
    pub fn eta(&self, now: Instant) -> Option<(f64, bool)> {
        if self.phase != Phase::Running {
            return None;
        }
        let p = self.progress()?;
        let elapsed = self.elapsed(now);
        if p <= 0.0 || elapsed <= 0.0 {
            let floor = self.info.as_ref().map(|i| i.floor_s)?;
            return Some(((floor - elapsed).max(0.0), true));
        }
        Some((elapsed * (1.0 - p) / p, false))
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
            .rows
            .iter()
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

    pub fn selected_row(&self) -> Option<&RowView> {
        self.rows.get(self.view.selected)
    }

    /// Keeps the selected symbol row on screen, given how many rows fit.
    pub fn fit_symbols(&mut self, visible: usize) {
        let visible = visible.max(1);
        self.view.page = visible;
        let last = self.rows.len().saturating_sub(1);
        self.view.selected = self.view.selected.min(last);
        if self.view.selected < self.view.offset {
            self.view.offset = self.view.selected;
        } else if self.view.selected >= self.view.offset + visible {
            self.view.offset = self.view.selected + 1 - visible;
        }
        self.view.offset = self.view.offset.min(self.rows.len().saturating_sub(visible));
    }

    // ----- keys -----

    pub fn on_key(&mut self, key: KeyEvent, at: Instant) -> Option<Effect> {
        self.act(keys::action_for(key)?, at)
    }

    pub fn act(&mut self, action: Action, at: Instant) -> Option<Effect> {
        match action {
            Action::ToggleFix(fix) => {
                if self.live() {
                    return Some(Effect::Engine(Command::ToggleFix(fix)));
                }
                let on = !self.settings.fixes.get(fix);
                self.settings.fixes.set(fix, on);
                let (n, name) = (fix.number(), fix.name());
                self.note(at, format!("fix {n} ({name}) {} for the next run", if on { "ON" } else { "OFF" }));
                None
            }
            Action::MoreWorkers => self.set_concurrency(self.settings.concurrency.saturating_add(1).min(64)),
            Action::FewerWorkers => self.set_concurrency(self.settings.concurrency.saturating_sub(1).max(1)),
            Action::LongerStagger => self.set_stagger((self.settings.stagger_secs + 1.0).min(120.0)),
            Action::ShorterStagger => self.set_stagger((self.settings.stagger_secs - 1.0).max(0.0)),
            Action::PauseResume => {
                if !self.live() || self.stop_requested {
                    return None;
                }
                // Changed here at once, so a quick second press undoes the first.
                self.settings.paused = !self.settings.paused;
                Some(Effect::Engine(if self.settings.paused { Command::Pause } else { Command::Resume }))
            }
            Action::StopRun => {
                if !self.live() || self.stop_requested {
                    return None;
                }
                self.stop_requested = true;
                Some(Effect::Engine(Command::Stop))
            }
            Action::NewRun { refetch } => {
                if self.phase == Phase::Finished && !self.quitting {
                    self.phase = Phase::Starting;
                    let mut settings = self.settings;
                    settings.paused = false;
                    return Some(Effect::NewRun { settings, refetch });
                }
                if self.live() {
                    self.note(at, "a run is going: press s to stop it, then r or R for a new one");
                }
                None
            }
            Action::Quit => {
                if self.quitting {
                    return Some(Effect::ForceQuit);
                }
                self.quitting = true;
                if self.live() {
                    self.stop_requested = true;
                }
                Some(Effect::Quit)
            }
            Action::Help => {
                self.view.overlay = if self.view.overlay == Overlay::Help { Overlay::None } else { Overlay::Help };
                None
            }
            Action::Close => {
                self.view.overlay = Overlay::None;
                None
            }
            Action::Open => {
                self.view.overlay = match self.view.overlay {
                    Overlay::None if self.view.focus == Focus::Symbols && !self.rows.is_empty() => Overlay::Detail,
                    _ => Overlay::None,
                };
                None
            }
            Action::FocusNext | Action::FocusPrev => {
                self.view.focus = self.view.focus.step(if action == Action::FocusNext { 1 } else { -1 });
                None
            }
            Action::Up => self.scroll(-1),
            Action::Down => self.scroll(1),
            Action::PageUp => self.scroll(-(self.view.page.max(1) as isize)),
            Action::PageDown => self.scroll(self.view.page.max(1) as isize),
            Action::Top => self.scroll(isize::MIN / 2),
            Action::Bottom => self.scroll(isize::MAX / 2),
        }
    }

    fn set_concurrency(&mut self, c: u32) -> Option<Effect> {
        self.settings.concurrency = c;
        self.live().then_some(Effect::Engine(Command::SetConcurrency(c)))
    }

    fn set_stagger(&mut self, secs: f64) -> Option<Effect> {
        self.settings.stagger_secs = secs;
        self.live().then_some(Effect::Engine(Command::SetStagger(secs)))
    }

    /// Moves in the focused pane; positive is down (for the log: towards the newest line).
    fn scroll(&mut self, by: isize) -> Option<Effect> {
        let step = |v: usize, by: isize, len: usize| -> usize {
            (v as isize).saturating_add(by).clamp(0, len.saturating_sub(1) as isize) as usize
        };
        let focus = if self.view.overlay == Overlay::Detail { Focus::Symbols } else { self.view.focus };
        match focus {
            Focus::Symbols => self.view.selected = step(self.view.selected, by, self.rows.len()),
            Focus::Log => self.view.log_scroll = step(self.view.log_scroll, -by, self.log.len()),
            Focus::Runs => self.view.runs_scroll = step(self.view.runs_scroll, by, self.runs.list.len()),
        }
        None
    }
}

impl RateHistory {
    fn on_request(&mut self, at: Instant, rate_limited: bool) {
        let minute_ago = at.checked_sub(Duration::from_secs(60));
        for q in [&mut self.recent, &mut self.recent_429] {
            while q.front().is_some_and(|t| Some(*t) < minute_ago) {
                q.pop_front();
            }
        }
        self.recent.push_back(at);
        if rate_limited {
            self.recent_429.push_back(at);
        }
    }

    fn bucket(&mut self, index: usize) {
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, 0);
        }
        self.buckets[index] += 1;
    }
}

fn within_minute(q: &VecDeque<Instant>, now: Instant) -> usize {
    q.iter().rev().take_while(|t| now.saturating_duration_since(**t) <= Duration::from_secs(60)).count()
}

#[cfg(test)]
mod tests {
    use crate::config::Fix;
    use crossterm::event::{KeyCode, KeyModifiers};

    use super::*;
    use crate::report::share;
    use crate::ui::fixtures::{self, range, secs};

    fn key(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn events_fold_into_per_row_numbers() {
        let (app, now) = fixtures::running();
        let aapl_min = &app.rows[0];
        assert_eq!(aapl_min.bars(), 49_920);
        assert_eq!(aapl_min.requests(), 2);
        assert_eq!(aapl_min.rate_limited, 1);
        assert_eq!(aapl_min.days_done, range("2024-01-02", "2024-03-12").sessions());
        assert_eq!(aapl_min.recent.len(), 2);
        // An 8 s backoff that began 2 s in, seen 6 s in: 4 s left.
        assert_eq!(aapl_min.backoff_left(now), Some(4.0));

        let msft_min = &app.rows[2];
        assert_eq!(msft_min.days_done, 37 + range("2024-02-26", "2024-05-07").sessions());
        assert_eq!(msft_min.state, RowState::Done);
        assert_eq!(app.rows[3].progress(), 1.0);
        assert_eq!(app.rows[1].state, RowState::Failed("403 not authorized".into()));
        assert_eq!(app.rows[1].failed_windows, 1);

        assert_eq!(app.tally.requests, 4);
        assert_eq!(app.tally.rate_limit_hits, 2);
        assert_eq!(app.bars_stored(), 99_840);
        assert_eq!(app.hits_last_minute(now), 2);
        assert_eq!(app.requests_last_minute(now), 4);
        assert_eq!(app.rate.limiter_waits, 1);
        assert_eq!(app.backoff.histogram, [0, 0, 1, 0, 1, 0, 0, 0]);
        assert_eq!(app.backoff.held_waits, 1);
        assert!(!app.settings.fixes.backoff, "the Settings event turned fix 1 off");
        assert_eq!(app.cpu_pct, Some(12.5));
        assert_eq!(app.status(), "running");
    }

    #[test]
    fn waits_count_down_and_end() {
        let (app, now) = fixtures::running();
        let waits = app.waits(now);
        assert_eq!(
            waits,
            vec![Wait { who: "AAPL 1/minute".into(), reason: "429".into(), left: 4.0 }],
            "the grouped 3 s wait from 3 s in is over at 6 s"
        );
        let earlier = app.started + secs(4.0);
        let waits = app.waits(earlier);
        assert_eq!(waits.len(), 2);
        assert_eq!(waits[1], Wait { who: "grouped daily".into(), reason: "429".into(), left: 2.0 });
        assert!(app.waits(app.started + secs(10.5)).is_empty());
    }

    #[test]
    fn breakdown_equals_the_tally_and_the_report() {
        let (app, _) = fixtures::running();
        let mut tally = Tally::default();
        for (_, e) in fixtures::script() {
            tally.apply(&e);
        }
        assert_eq!(app.breakdown(), tally.breakdown());
        assert_eq!(app.breakdown()[0], ("Polygon API", 0.42 + 0.05 + 0.05 + 0.40));
        assert_eq!(app.breakdown()[2].1, 8.0 + 3.0 + 1.5);
        let total: f64 = app.breakdown().iter().map(|p| p.1).sum();
        assert_eq!(share(app.breakdown()[2].1, total), "12.5s (90%)");

        let (done, _) = fixtures::finished();
        assert_eq!(done.breakdown(), fixtures::report_of(&done).breakdown());
        assert_eq!(done.breakdown(), tally.breakdown());
        assert_eq!(done.status(), "done");
        assert_eq!(done.elapsed(done.started + secs(100.0)), 9.0, "a finished run shows its wall time");
    }

    #[test]
    fn eta_comes_from_the_weighted_plan_and_the_rate_so_far() {
        let t0 = Instant::now();
        let mut app = App::new(t0, "simulator", "", "", fixtures::settings());
        app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
        // Nothing done yet: the plan's floor, as a lower bound.
        assert_eq!(app.eta(t0 + secs(0.5)), Some((1.5, true)));
        let p0 = app.progress().unwrap();
        assert_eq!(p0, 0.0);
        for (s, e) in fixtures::script().into_iter().skip(1) {
            app.on_event(e, t0 + secs(s));
        }
        let p = app.progress().unwrap();
        assert!(p > 0.0 && p < 1.0, "{p}");
        let (eta, lower_bound) = app.eta(t0 + secs(6.0)).unwrap();
        assert!(!lower_bound);
        assert!((eta - 6.0 * (1.0 - p) / p).abs() < 1e-9);
    }

    #[test]
    fn rate_series_buckets_requests_by_arrival() {
        let t0 = Instant::now();
        let mut app = App::new(t0, "simulator", "", "", fixtures::settings());
        app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
        for i in 0..30 {
            // One request every 2 s for a minute.
            app.on_event(fixtures::ok(Some(0), "/p", 1, 0.1), t0 + secs(i as f64 * 2.0 + 0.5));
        }
        let series = app.rate_series(t0 + secs(60.0));
        assert_eq!(series.len(), 13, "12 whole buckets and the present");
        assert_eq!(series[0], (5.0, 3.0));
        assert_eq!(series[5], (30.0, 15.0));
        assert_eq!(series[11], (60.0, 30.0));
        assert_eq!(series[12], (60.0, 30.0));
        // A window slides: at 90 s only the requests after 30 s count.
        let later = app.rate_series(t0 + secs(90.0));
        assert_eq!(later[17], (90.0, 15.0));
        // A minute later with no requests the rate falls to zero.
        assert_eq!(app.requests_last_minute(t0 + secs(130.0)), 0);
    }

    #[test]
    fn keys_send_the_right_commands() {
        let (mut app, now) = fixtures::running();
        assert_eq!(app.on_key(key('1'), now), Some(Effect::Engine(Command::ToggleFix(Fix::Backoff))));
        assert_eq!(app.on_key(key('2'), now), Some(Effect::Engine(Command::ToggleFix(Fix::Batching))));
        assert_eq!(app.on_key(key('3'), now), Some(Effect::Engine(Command::ToggleFix(Fix::Parallel))));
        assert_eq!(app.on_key(key('+'), now), Some(Effect::Engine(Command::SetConcurrency(4))));
        assert_eq!(app.on_key(key('+'), now), Some(Effect::Engine(Command::SetConcurrency(5))), "no lost press");
        assert_eq!(app.on_key(key('-'), now), Some(Effect::Engine(Command::SetConcurrency(4))));
        assert_eq!(app.on_key(key(']'), now), Some(Effect::Engine(Command::SetStagger(6.0))));
        assert_eq!(app.on_key(key('['), now), Some(Effect::Engine(Command::SetStagger(5.0))));
        assert_eq!(app.on_key(key('p'), now), Some(Effect::Engine(Command::Pause)));
        assert_eq!(app.status(), "paused");
        assert_eq!(app.on_key(key('p'), now), Some(Effect::Engine(Command::Resume)));
        assert_eq!(app.on_key(key('r'), now), None, "no new run while one goes on");
        assert!(app.log.back().unwrap().text.contains("press s"));
        assert_eq!(app.on_key(key('s'), now), Some(Effect::Engine(Command::Stop)));
        assert_eq!(app.status(), "stopping");
        assert_eq!(app.on_key(key('s'), now), None, "stop is sent once");
        assert_eq!(app.on_key(key('p'), now), None, "no pausing a stopping run");
        assert_eq!(app.on_key(key('q'), now), Some(Effect::Quit));
        assert_eq!(
            app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), now),
            Some(Effect::ForceQuit),
            "asked twice: leave without waiting"
        );
    }

    #[test]
    fn concurrency_and_stagger_stay_in_the_engine_bounds() {
        let (mut app, now) = fixtures::running();
        app.settings.concurrency = 64;
        assert_eq!(app.on_key(key('+'), now), Some(Effect::Engine(Command::SetConcurrency(64))));
        app.settings.concurrency = 1;
        assert_eq!(app.on_key(key('-'), now), Some(Effect::Engine(Command::SetConcurrency(1))));
        app.settings.stagger_secs = 0.5;
        assert_eq!(app.on_key(key('['), now), Some(Effect::Engine(Command::SetStagger(0.0))));
    }

    #[test]
    fn after_a_run_the_switches_change_locally_and_r_starts_the_next() {
        let (mut app, now) = fixtures::finished();
        assert!(!app.live());
        assert_eq!(app.on_key(key('3'), now), None);
        assert!(!app.settings.fixes.parallel);
        assert!(app.log.back().unwrap().text.contains("fix 3 (parallel) OFF for the next run"));
        assert_eq!(app.on_key(key('+'), now), None);
        assert_eq!(app.on_key(key('p'), now), None);
        assert_eq!(app.on_key(key('s'), now), None);
        let Some(Effect::NewRun { settings: s, refetch: false }) = app.on_key(key('r'), now) else {
            panic!("r starts a run over what is not stored yet")
        };
        assert_eq!(s.concurrency, 4);
        assert!(!s.fixes.parallel && !s.fixes.backoff && s.fixes.batching);
        assert_eq!(app.status(), "starting");
        assert_eq!(app.on_key(key('r'), now), None, "one new run at a time");
        // The new run's first event resets the run's figures.
        app.on_event(Event::RunStarted(Box::new(fixtures::info())), now);
        assert_eq!(app.tally.requests, 0);
        assert_eq!(app.rows[0].requests(), 0);
        assert_eq!(app.status(), "running");
        assert_eq!(app.on_key(key('q'), now), Some(Effect::Quit));
    }

    #[test]
    fn a_run_without_a_report_shows_as_failed() {
        let (mut app, now) = fixtures::running();
        app.run_failed("the run task failed: panicked", now);
        assert_eq!(app.status(), "failed");
        assert!(!app.live());
        assert_eq!(app.log.back().unwrap().level, Level::Error);
        let (mut done, now) = fixtures::finished();
        assert!(matches!(done.on_key(key('r'), now), Some(Effect::NewRun { .. })));
        done.run_failed("cannot start a new run: database in use", now);
        assert_eq!(done.status(), "done", "the screen still shows the last run");
        assert!(matches!(done.on_key(key('r'), now), Some(Effect::NewRun { .. })), "and r can try again");
    }

    #[test]
    fn capital_r_starts_a_run_that_fetches_everything_again() {
        let (mut app, now) = fixtures::running();
        assert_eq!(app.on_key(key('R'), now), None, "not while a run is going");
        assert!(app.log.back().unwrap().text.contains("then r or R"));
        let (mut done, now) = fixtures::finished();
        let Some(Effect::NewRun { settings, refetch: true }) = done.on_key(key('R'), now) else {
            panic!("R starts a refetching run")
        };
        assert_eq!(settings, done.settings);
        let mut info = fixtures::info();
        info.refetch = true;
        done.on_event(Event::RunStarted(Box::new(info)), now);
        assert!(done.log.back().unwrap().text.contains("fetching every window again"));
    }

    #[test]
    fn quitting_an_ended_run_asks_nothing_of_the_engine() {
        let (mut app, now) = fixtures::finished();
        assert_eq!(app.on_key(key('q'), now), Some(Effect::Quit));
        assert!(!app.stop_requested);
    }

    #[test]
    fn navigation_selects_scrolls_and_opens() {
        let t0 = Instant::now();
        let mut app = fixtures::many_rows(t0, 500, |_| 0);
        app.fit_symbols(20);
        let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
        for _ in 0..25 {
            app.on_key(down, t0);
        }
        app.fit_symbols(20);
        assert_eq!((app.view.selected, app.view.offset), (25, 6));
        app.on_key(key('k'), t0);
        app.fit_symbols(20);
        assert_eq!((app.view.selected, app.view.offset), (24, 6), "moving up inside the page does not scroll");
        app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE), t0);
        app.fit_symbols(20);
        assert_eq!((app.view.selected, app.view.offset), (499, 480));
        app.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE), t0);
        app.fit_symbols(20);
        assert_eq!(app.view.selected, 479);
        app.on_key(key('g'), t0);
        app.fit_symbols(20);
        assert_eq!((app.view.selected, app.view.offset), (0, 0));

        let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        app.on_key(enter, t0);
        assert_eq!(app.view.overlay, Overlay::Detail);
        app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), t0);
        assert_eq!(app.view.overlay, Overlay::None);
        app.on_key(key('?'), t0);
        assert_eq!(app.view.overlay, Overlay::Help);
        app.on_key(key('?'), t0);
        assert_eq!(app.view.overlay, Overlay::None);

        let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
        app.on_key(tab, t0);
        assert_eq!(app.view.focus, Focus::Log);
        app.on_key(enter, t0);
        assert_eq!(app.view.overlay, Overlay::None, "Enter opens symbol rows only");
        app.on_key(tab, t0);
        assert_eq!(app.view.focus, Focus::Runs);
        app.on_key(tab, t0);
        assert_eq!(app.view.focus, Focus::Symbols);
        app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT), t0);
        assert_eq!(app.view.focus, Focus::Runs);
    }

    #[test]
    fn the_log_scrolls_back_and_holds_its_place() {
        let (mut app, now) = fixtures::running();
        for i in 0..10 {
            app.push_log(LogLine { at: now, level: Level::Info, text: format!("line {i}") });
        }
        app.view.focus = Focus::Log;
        app.on_key(key('k'), now);
        app.on_key(key('k'), now);
        assert_eq!(app.view.log_scroll, 2);
        app.push_log(LogLine { at: now, level: Level::Info, text: "new".into() });
        assert_eq!(app.view.log_scroll, 3, "the lines being read stay on screen");
        app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE), now);
        assert_eq!(app.view.log_scroll, 0, "End follows the tail again");
    }

    #[test]
    fn notices_reach_the_log_only_without_the_tracing_feed() {
        let (app, _) = fixtures::running();
        assert!(app.log.iter().any(|l| l.text == "fix 1 (backoff) OFF"));
        let t0 = Instant::now();
        let mut fed = App::new(t0, "simulator", "", "", fixtures::settings());
        fed.notices_to_log = false;
        fed.on_event(Event::Notice { level: Level::Info, text: "fix 1 (backoff) OFF".into() }, t0);
        assert!(fed.log.is_empty());
    }

    #[test]
    fn a_key_in_server_text_is_never_kept() {
        let t0 = Instant::now();
        let mut app = App::new(t0, "live API", "", "", fixtures::settings())
            .with_secret(Some(crate::secret::ApiKey::new("sekret123")));
        app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
        let mut req = fixtures::limited(Some(0), "/v2/x?apiKey=sekret123");
        if let Event::Request(r) = &mut req {
            r.message = Some("bad key sekret123".into());
        }
        app.on_event(req, t0);
        app.on_event(Event::Notice { level: Level::Warn, text: "key sekret123 rejected".into() }, t0);
        app.on_event(Event::RowState { row: 1, state: RowState::Failed("sekret123".into()) }, t0);
        let (_, r) = app.rows[0].recent.back().unwrap();
        assert!(!r.path.contains("sekret123") && !r.message.as_ref().unwrap().contains("sekret123"));
        assert!(!app.log.iter().any(|l| l.text.contains("sekret123")));
        assert_eq!(app.rows[1].state, RowState::Failed("***".into()));
    }
}
