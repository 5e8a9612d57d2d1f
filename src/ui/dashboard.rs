//! The dashboard's loop: drains whatever the engine and the log sent since the last
//! frame, folds it into the state, and draws once, ten times a second. Keys turn into
//! `Effect`s that the loop carries out (engine commands, a new run, quitting).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::{JoinError, JoinHandle};
use tokio::time::MissedTickBehavior;

use super::app::{App, Effect, LogLine};
use super::signals::Signals;
use super::terminal::{self, TerminalGuard};
use super::{LogFeed, Outcome, draw};
use crate::calendar::Range;
use crate::config::Config;
use crate::engine::events::Level;
use crate::engine::{self, Command, Event, RunHandle, Settings, Source};
use crate::plan::Plan;
use crate::report::Report;
use crate::store::{self, RunRecord, Store};

/// Ten frames a second at most: smooth countdowns. Frames are drawn only when something
/// changed or moved (`App::needs_frame`), so a quiet dashboard costs next to nothing.
const FRAME: Duration = Duration::from_millis(100);
/// Earlier runs listed in the runs pane.
const RUNS_SHOWN: usize = 50;

type Prepared = Result<(Arc<Config>, Store, Plan), String>;
type Runs = Result<Vec<RunRecord>, String>;
type Coverage = Result<Vec<store::coverage::RowCoverage>, String>;

/// The run in progress: its channels and the task that ends with its report.
struct Live {
    commands: mpsc::UnboundedSender<Command>,
    events: mpsc::UnboundedReceiver<Event>,
    done: JoinHandle<Report>,
}

impl From<RunHandle> for Live {
    fn from(h: RunHandle) -> Live {
        Live { commands: h.commands, events: h.events, done: h.done }
    }
}

/// What the loop does after an effect.
#[derive(PartialEq)]
enum Flow {
    Go,
    Leave,
}

/// Everything the loop holds between frames.
struct Dashboard {
    config: Arc<Config>,
    source: Source,
    guard: TerminalGuard,
    app: App,
    log: Option<LogFeed>,
    outcome: Outcome,
    live: Option<Live>,
    runs_tx: mpsc::UnboundedSender<Runs>,
    coverage_tx: mpsc::UnboundedSender<Coverage>,
    prepared_tx: mpsc::UnboundedSender<Prepared>,
    input_open: bool,
    drawing: bool,
    last_frame: Instant,
    quitting: bool,
}

/// Runs the dashboard until the user quits, the first run already started. Falls back to
/// the headless face when the terminal cannot be taken over.
pub async fn run_dashboard(config: Arc<Config>, source: Source, first: RunHandle, log: Option<LogFeed>) -> Outcome {
    let guard = match TerminalGuard::enter() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("warning: cannot open the dashboard ({e}); showing progress here instead");
            return match crate::headless::drive(first).await {
                Ok(report) => Outcome { reports: vec![report], ..Outcome::default() },
                Err(e) => Outcome { run_lost: true, errors: vec![e.to_string()], ..Outcome::default() },
            };
        }
    };
    let (runs_tx, mut runs_rx) = mpsc::unbounded_channel();
    let (prepared_tx, mut prepared_rx) = mpsc::unbounded_channel();
    let (coverage_tx, mut coverage_rx) = mpsc::unbounded_channel();
    let mut d = Dashboard::new(config, source, guard, log, runs_tx, coverage_tx, prepared_tx);
    d.live = Some(first.into());
    d.read_runs();
    let mut input = EventStream::new();
    let mut signals = Signals::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        let effect = tokio::select! {
            _ = tick.tick() => d.on_tick(),
            key = input.next(), if d.input_open => d.on_input(key),
            report = async { (&mut d.live.as_mut().expect("guarded").done).await }, if d.live.is_some() => {
                if d.on_report(report) == Flow::Leave {
                    break;
                }
                None
            }
            Some(runs) = runs_rx.recv() => {
                d.app.set_runs(runs);
                None
            }
            Some(coverage) = coverage_rx.recv() => {
                d.app.set_coverage(coverage);
                None
            }
            Some(prepared) = prepared_rx.recv() => {
                d.on_prepared(prepared);
                None
            }
            _ = signals.recv() => d.on_signal(),
        };
        if d.apply(effect) == Flow::Leave {
            break;
        }
    }
    drop(d.guard);
    d.outcome
}

impl Dashboard {
    fn new(
        config: Arc<Config>,
        source: Source,
        guard: TerminalGuard,
        log: Option<LogFeed>,
        runs_tx: mpsc::UnboundedSender<Runs>,
        coverage_tx: mpsc::UnboundedSender<Coverage>,
        prepared_tx: mpsc::UnboundedSender<Prepared>,
    ) -> Dashboard {
        let db = config.db.display().to_string();
        let mut app = App::new(Instant::now(), &source.label, &source.base_url, &db, engine::initial_settings(&config))
            .with_secret(source.key.clone())
            .with_range(Range { from: config.from, to: config.to });
        app.notices_to_log = log.is_none();
        app.view.colour = draw::colour_from_env(std::env::var_os("NO_COLOR"));
        Dashboard {
            config,
            source,
            guard,
            app,
            log,
            outcome: Outcome::default(),
            live: None,
            runs_tx,
            coverage_tx,
            prepared_tx,
            input_open: true,
            drawing: true,
            last_frame: Instant::now(),
            quitting: false,
        }
    }

    /// A frame: take what arrived, then draw once.
    fn on_tick(&mut self) -> Option<Effect> {
        let now = Instant::now();
        // Log lines first: they were written before the events now waiting.
        if let Some(feed) = &self.log {
            for line in feed.take() {
                self.app.push_log(line);
            }
        }
        self.drain(now);
        for text in terminal::take_held_panics() {
            self.app.push_log(LogLine { at: now, level: Level::Error, text: text.clone() });
            self.outcome.errors.push(text);
        }
        let effect = self.frame(now);
        // Lets the end-to-end test prove that a panic on this thread gives the terminal
        // back (a no-op without the `test-hooks` feature).
        crate::testhooks::dashboard_ticked();
        effect
    }

    /// Draws if anything changed or moved; a terminal that is gone asks to quit.
    fn frame(&mut self, now: Instant) -> Option<Effect> {
        if !self.drawing || !self.app.needs_frame(now, now.saturating_duration_since(self.last_frame)) {
            return None;
        }
        let e = self.draw(now).err()?;
        // The terminal is gone (closed window, hang-up): finish the run unseen.
        self.drawing = false;
        self.outcome.errors.push(format!("cannot draw the dashboard: {e}"));
        Some(Effect::Quit)
    }

    /// A key is answered at once, not at the next tick: its frame is drawn now.
    fn on_input(&mut self, input: Option<std::io::Result<TermEvent>>) -> Option<Effect> {
        let effect = match input {
            Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => self.app.on_key(k, Instant::now()),
            Some(Ok(_)) => {
                // A resize (or focus, paste): drawn at the new size.
                self.app.redraw = true;
                None
            }
            Some(Err(_)) | None => {
                self.input_open = false;
                return Some(Effect::Quit);
            }
        };
        self.frame(Instant::now()).or(effect)
    }

    /// The run's task ended: keep its report and read the runs table again.
    fn on_report(&mut self, report: Result<Report, JoinError>) -> Flow {
        self.drain(Instant::now());
        self.live = None;
        self.outcome.run_lost = report.is_err();
        match report {
            Ok(report) => self.outcome.reports.push(report),
            Err(e) => {
                let text = format!("the run task failed: {e}");
                self.app.run_failed(&text, Instant::now());
                self.outcome.errors.push(text);
            }
        }
        self.read_runs();
        if self.quitting { Flow::Leave } else { Flow::Go }
    }

    fn on_prepared(&mut self, prepared: Prepared) {
        let started = prepared.and_then(|(config, store, plan)| {
            engine::start(config, self.source.clone(), store, plan).map_err(|e| e.to_string())
        });
        match started {
            Ok(handle) => {
                self.live = Some(handle.into());
                self.read_runs();
            }
            Err(e) => self.app.run_failed(&format!("cannot start a new run: {e}"), Instant::now()),
        }
    }

    fn on_signal(&mut self) -> Option<Effect> {
        self.app.quitting = true;
        self.outcome.signalled = true;
        Some(if self.quitting { Effect::ForceQuit } else { Effect::Quit })
    }

    fn apply(&mut self, effect: Option<Effect>) -> Flow {
        match effect {
            None => {}
            Some(Effect::Engine(cmd)) => {
                if let Some(l) = &self.live {
                    let _ = l.commands.send(cmd);
                }
            }
            Some(Effect::NewRun { settings, refetch }) => self.prepare_run(settings, refetch),
            Some(Effect::ReadCoverage) => self.read_coverage(),
            Some(Effect::Quit) => {
                self.quitting = true;
                self.app.quitting = true;
                match &self.live {
                    // The run stops, its writer flushes and records it; then we leave.
                    Some(l) => {
                        let _ = l.commands.send(Command::Stop);
                    }
                    None => return Flow::Leave,
                }
            }
            Some(Effect::ForceQuit) => {
                self.outcome.abandoned = self.live.is_some();
                return Flow::Leave;
            }
        }
        Flow::Go
    }

    /// Plans the next run on a blocking thread; it starts when the plan comes back.
    fn prepare_run(&self, settings: Settings, refetch: bool) {
        let mut config = with_settings(&self.config, settings);
        config.refetch = refetch;
        let tx = self.prepared_tx.clone();
        tokio::task::spawn_blocking(move || {
            let prepared = engine::prepare(&config).map(|(s, p)| (Arc::new(config), s, p));
            let _ = tx.send(prepared.map_err(|e| e.to_string()));
        });
    }

    fn drain(&mut self, now: Instant) {
        if let Some(l) = self.live.as_mut() {
            while let Ok(e) = l.events.try_recv() {
                self.app.on_event(e, now);
            }
        }
    }

    fn draw(&mut self, now: Instant) -> std::io::Result<()> {
        let size = self.guard.terminal.size()?;
        draw::prepare(&mut self.app, size.into());
        let app = &self.app;
        self.guard.terminal.draw(|frame| draw::draw(frame, app, now))?;
        self.app.redraw = false;
        self.last_frame = now;
        Ok(())
    }

    /// Reads the database's coverage of the configured range on a blocking thread; the
    /// answer comes back as a message.
    fn read_coverage(&self) {
        let (db, tx, range) =
            (self.config.db.clone(), self.coverage_tx.clone(), Range { from: self.config.from, to: self.config.to });
        tokio::task::spawn_blocking(move || {
            let query = store::coverage::Query { range, tickers: None, timeframes: None };
            let _ = tx.send(store::coverage::read_coverage(&db, &query).map_err(|e| e.to_string()));
        });
    }

    /// Reads the runs table on a blocking thread; the answer comes back as a message.
    fn read_runs(&self) {
        let (db, tx): (PathBuf, _) = (self.config.db.clone(), self.runs_tx.clone());
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(store::recent_runs(&db, RUNS_SHOWN).map_err(|e| store::explain(&e)));
        });
    }
}

/// The configuration of the next run: the file's, with the switches as they are now.
fn with_settings(config: &Config, s: Settings) -> Config {
    let mut c = config.clone();
    c.fixes = s.fixes;
    // A count set by hand (`+`/`-`) is kept for the next run; on auto it starts afresh.
    c.concurrency =
        if s.auto { crate::config::Concurrency::Auto } else { crate::config::Concurrency::Fixed(s.concurrency) };
    c.stagger = Duration::from_secs_f64(s.stagger_secs);
    c
}
