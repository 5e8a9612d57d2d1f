//! Engine events folded into the dashboard's state, one small function per kind of event.

use std::collections::VecDeque;
use std::time::Instant;

use super::rates::BUCKET_S;
use super::{App, BackoffStats, Change, LogLine, Phase, RECENT_PER_ROW, RateHistory, RowView};
use crate::engine::Tally;
use crate::engine::events::{Event, Level, RequestRecord, RowState, RunInfo, WindowDone};
use crate::polygon::outcome::ErrorKind;
use crate::report::{Report, RunStatus};
use crate::ui::format::{duration, thousands};

impl App {
    pub fn on_event(&mut self, event: Event, at: Instant) {
        self.redraw = true;
        if let Event::RunStarted(info) = &event {
            self.begin_run(info, at);
        }
        self.tally.apply(&event);
        match event {
            Event::RunStarted(info) => self.run_started_note(*info, at),
            Event::Settings(s) => self.settings = s,
            Event::Eta(told) => self.eta_told(at, told),
            Event::RowState { row, state } => self.row_state(row, state, at),
            Event::RowBounds { row, first, last } => {
                if let Some(r) = self.rows.get_mut(row) {
                    r.bounds = Some((first, last));
                }
            }
            Event::Request(req) => self.request(req, at),
            Event::Backoff { row, secs, reason, held } => {
                let other = row.is_none_or(|r| r >= self.rows.len()).then(|| self.clean(&reason));
                self.backoff.on_wait(at, secs, held, other);
            }
            Event::LimiterWait { .. } => self.rate.limiter_waits += 1,
            Event::Stored { windows, .. } => self.stored(&windows),
            Event::WindowFailed { row, reason, .. } => {
                let reason = self.clean(&reason);
                if let Some(r) = self.rows.get_mut(row) {
                    r.failed_windows += 1;
                    r.last_failure = Some(reason);
                    self.list.touch(Change::State);
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
            Event::RunFinished(report) => self.run_finished(*report, at),
            Event::SuspectBars { ticker, bars, .. } => {
                let first = bars.first().map(|b| format!(": {} at {}", b.what, crate::calendar::format_ny_ms(b.ts)));
                let text = format!("{} suspect bars stored for {ticker}{}", bars.len(), first.unwrap_or_default());
                self.push_log(LogLine { at, level: Level::Warn, text: self.clean(&text) });
            }
            Event::RejectedBars { ticker, timeframe, bars, .. } => {
                let first = bars.first().map(|(ts, why)| format!(": {why} at {}", crate::calendar::format_ny_ms(*ts)));
                let text = format!(
                    "{} impossible bars left out for {ticker} {timeframe}{}; the rest of the page stored",
                    bars.len(),
                    first.unwrap_or_default()
                );
                self.push_log(LogLine { at, level: Level::Warn, text: self.clean(&text) });
            }
            Event::NewSplit(news) => {
                // The engine logs the line too; a pane fed from the log has it already.
                if self.notices_to_log {
                    self.push_log(LogLine { at, level: Level::Info, text: self.clean(&news.line()) });
                }
            }
            Event::Pace(f) => self.held_until = f.held_s.map(|s| at + std::time::Duration::from_secs_f64(s)),
            Event::WriterBlocked { .. } => {}
        }
    }

    fn run_started_note(&mut self, info: RunInfo, at: Instant) {
        let text = format!(
            "run #{} started{}: {} rows, ~{} requests planned (fixes {}), at least {} at the quota",
            info.run_id,
            if info.refetch { ", fetching every window again" } else { "" },
            info.rows.len(),
            info.estimate.requests,
            info.settings.fixes.label(),
            duration(info.floor_s)
        );
        self.note(at, text);
        self.info = Some(Box::new(info));
    }

    fn row_state(&mut self, row: usize, state: RowState, at: Instant) {
        let state = match state {
            RowState::Failed(reason) => RowState::Failed(self.clean(&reason)),
            other => other,
        };
        if let Some(r) = self.rows.get_mut(row) {
            if matches!(state, RowState::Backoff { .. }) {
                self.in_backoff.insert(row);
            } else {
                self.in_backoff.remove(&row);
            }
            r.state = state;
            r.state_at = at;
            self.list.touch(Change::State);
        }
    }

    fn request(&mut self, mut req: RequestRecord, at: Instant) {
        self.rate.on_request(at, req.error == Some(ErrorKind::RateLimited));
        if let Some(start) = self.run_started {
            self.rate.bucket((at.saturating_duration_since(start).as_secs_f64() / BUCKET_S) as usize);
        }
        req.path = self.clean(&req.path);
        req.message = req.message.map(|m| self.clean(&m));
        let Some(r) = req.row.and_then(|i| self.rows.get_mut(i)) else { return };
        r.requests += 1;
        r.api_s += req.secs;
        self.list.touch(Change::Time);
        if req.error.is_none() && req.bars > 0 {
            r.page_bars += req.bars;
            self.list.touch(Change::Bars);
        }
        if req.error == Some(ErrorKind::RateLimited) {
            r.rate_limited += 1;
            self.list.touch(Change::Hits);
        }
        if r.recent.len() == RECENT_PER_ROW {
            r.recent.pop_front();
        }
        r.recent.push_back((at, req));
    }

    fn stored(&mut self, windows: &[WindowDone]) {
        for w in windows {
            if let Some(r) = self.rows.get_mut(w.row) {
                let before = r.weighted_done();
                r.days_done = (r.days_done + r.class.days_in(w.range)).min(r.sessions);
                self.done_weight += r.weighted_done() - before;
                r.window_bars += w.bars;
                r.window_requests += w.requests as u64;
                self.list.touch(Change::Bars);
            }
        }
    }

    fn run_finished(&mut self, report: Report, at: Instant) {
        self.phase = Phase::Finished;
        self.in_backoff.clear();
        for r in &mut self.rows {
            // Nothing fetches or waits once the run is over.
            if matches!(r.state, RowState::Fetching | RowState::Backoff { .. }) {
                r.state = RowState::Queued;
                r.state_at = at;
            }
        }
        self.list.touch(Change::State);
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
                duration(report.wall_s),
                report.requests,
                thousands(report.bars),
                report.rate_limit_hits
            )
        };
        if let Some(note) = &report.note {
            text = format!("{text}; {note}");
        }
        self.push_log(LogLine { at, level, text });
        self.report = Some(report);
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
        self.rows = info.rows.iter().map(|r| RowView::planned(r, at)).collect();
        self.planned_weight = self.rows.iter().map(|r| r.weight).sum();
        self.done_weight = 0.0;
        self.eta_told = None;
        self.in_backoff.clear();
        self.list.reset(self.rows.len());
    }
}

impl RowView {
    /// A row as the plan hands it over, before anything is fetched.
    fn planned(r: &crate::engine::events::RowInfo, at: Instant) -> RowView {
        let left = r.sessions.saturating_sub(r.covered_sessions);
        RowView {
            ticker: r.ticker.clone(),
            timeframe: r.timeframe.to_string(),
            class: r.class,
            sessions: r.sessions,
            covered_at_start: r.covered_sessions,
            days_done: r.covered_sessions,
            weight: if left == 0 {
                0
            } else {
                crate::plan::requests_for(r.class, r.timeframe, left as u64, crate::polygon::client::MAX_LIMIT).max(1)
            },
            state: RowState::Queued,
            state_at: at,
            page_bars: 0,
            window_bars: 0,
            requests: 0,
            window_requests: 0,
            rate_limited: 0,
            api_s: 0.0,
            failed_windows: 0,
            last_failure: None,
            bounds: None,
            recent: VecDeque::new(),
        }
    }
}
