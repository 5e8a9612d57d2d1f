//! The dashboard face: runs the backfill in background tasks and shows it live.
//!
//! State (`app`), key bindings (`keys`) and drawing (`draw`) are kept apart: this loop
//! drains whatever the engine and the log sent since the last frame, folds it into the
//! state, and draws once, ten times a second. Keys turn into `Effect`s that the loop
//! carries out (engine commands, a new run, quitting).

pub mod app;
pub mod draw;
pub mod format;
pub mod keys;
pub mod log_capture;
pub mod terminal;

#[cfg(test)]
mod fixtures;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

pub use log_capture::LogFeed;

use self::app::{App, Effect, LogLine};
use self::terminal::TerminalGuard;
use crate::config::Config;
use crate::engine::events::Level;
use crate::engine::{self, Command, Event, RunHandle, Settings, Source};
use crate::plan::Plan;
use crate::report::Report;
use crate::store::{self, RunRecord, Store};

/// Ten frames a second: smooth countdowns, and an idle dashboard that costs next to nothing.
const FRAME: Duration = Duration::from_millis(100);
/// Earlier runs listed in the runs pane.
const RUNS_SHOWN: usize = 50;

/// How the dashboard ended.
pub struct Outcome {
    /// Every run's report, oldest first (`r` starts more than one).
    pub reports: Vec<Report>,
    /// Quit twice: left without waiting for the last run's report.
    pub abandoned: bool,
    /// The last run's task ended without a report (it panicked).
    pub run_lost: bool,
    /// What went wrong on the way, to print once the terminal is back.
    pub errors: Vec<String>,
}

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

/// Runs the dashboard until the user quits, the first run already started. Falls back to
/// the headless face when the terminal cannot be taken over.
pub async fn run_dashboard(config: Arc<Config>, source: Source, first: RunHandle, log: Option<LogFeed>) -> Outcome {
    let mut guard = match TerminalGuard::enter() {
        Ok(g) => g,
        Err(e) => {
            eprintln!("warning: cannot open the dashboard ({e}); showing progress here instead");
            return match crate::headless::drive(first).await {
                Ok(r) => Outcome { reports: vec![r], abandoned: false, run_lost: false, errors: Vec::new() },
                Err(e) => {
                    Outcome { reports: Vec::new(), abandoned: false, run_lost: true, errors: vec![e.to_string()] }
                }
            };
        }
    };
    let db = config.db.display().to_string();
    let mut app = App::new(Instant::now(), &source.label, &source.base_url, &db, engine::initial_settings(&config))
        .with_secret(source.key.clone());
    app.notices_to_log = log.is_none();
    let mut outcome = Outcome { reports: Vec::new(), abandoned: false, run_lost: false, errors: Vec::new() };

    let (runs_tx, mut runs_rx) = mpsc::unbounded_channel();
    read_runs(config.db.clone(), runs_tx.clone());
    let (prepared_tx, mut prepared_rx) = mpsc::unbounded_channel::<Result<(Arc<Config>, Store, Plan), String>>();

    let mut live: Option<Live> = Some(first.into());
    let mut input = EventStream::new();
    let mut input_open = true;
    let mut drawing = true;
    let mut quitting = false;
    let mut signals = Signals::new();
    let mut tick = tokio::time::interval(FRAME);
    tick.set_missed_tick_behavior(MissedTickBehavior::Skip);

    loop {
        let mut effect = None;
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                // Log lines first: they were written before the events now waiting.
                if let Some(feed) = &log {
                    for line in feed.take() {
                        app.push_log(line);
                    }
                }
                if let Some(l) = live.as_mut() {
                    drain(&mut l.events, &mut app, now);
                }
                for text in terminal::take_held_panics() {
                    app.push_log(LogLine { at: now, level: Level::Error, text: text.clone() });
                    outcome.errors.push(text);
                }
                if drawing && let Err(e) = draw(&mut guard, &mut app, now) {
                    // The terminal is gone (closed window, hang-up): finish the run unseen.
                    drawing = false;
                    outcome.errors.push(format!("cannot draw the dashboard: {e}"));
                    effect = Some(Effect::Quit);
                }
                // Lets the end-to-end test prove that a panic on this thread gives the
                // terminal back (a no-op without the `test-hooks` feature).
                crate::testhooks::frame_drawn();
            }
            key = input.next(), if input_open => match key {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => {
                    effect = app.on_key(k, Instant::now());
                }
                Some(Ok(_)) => {} // a resize is picked up by the next frame's draw
                Some(Err(_)) | None => {
                    input_open = false;
                    effect = Some(Effect::Quit);
                }
            },
            report = async { (&mut live.as_mut().expect("guarded").done).await }, if live.is_some() => {
                let now = Instant::now();
                let mut l = live.take().expect("guarded");
                drain(&mut l.events, &mut app, now);
                outcome.run_lost = report.is_err();
                match report {
                    Ok(report) => outcome.reports.push(report),
                    Err(e) => {
                        let text = format!("the run task failed: {e}");
                        app.run_failed(&text, now);
                        outcome.errors.push(text);
                    }
                }
                read_runs(config.db.clone(), runs_tx.clone());
                if quitting {
                    break;
                }
            }
            Some(runs) = runs_rx.recv() => app.set_runs(runs),
            Some(prepared) = prepared_rx.recv() => {
                let started = prepared.and_then(|(config, store, plan)| {
                    engine::start(config, source.clone(), store, plan).map_err(|e| e.to_string())
                });
                match started {
                    Ok(handle) => {
                        live = Some(handle.into());
                        read_runs(config.db.clone(), runs_tx.clone());
                    }
                    Err(e) => app.run_failed(&format!("cannot start a new run: {e}"), Instant::now()),
                }
            }
            _ = signals.recv() => {
                effect = Some(if quitting { Effect::ForceQuit } else { Effect::Quit });
                app.quitting = true;
            }
        }
        match effect {
            None => {}
            Some(Effect::Engine(cmd)) => {
                if let Some(l) = &live {
                    let _ = l.commands.send(cmd);
                }
            }
            Some(Effect::NewRun { settings, refetch }) => {
                let mut config = with_settings(&config, settings);
                config.refetch = refetch;
                let tx = prepared_tx.clone();
                tokio::task::spawn_blocking(move || {
                    let prepared = engine::prepare(&config).map(|(s, p)| (Arc::new(config), s, p));
                    let _ = tx.send(prepared.map_err(|e| e.to_string()));
                });
            }
            Some(Effect::Quit) => {
                quitting = true;
                app.quitting = true;
                match &live {
                    // The run stops, its writer flushes and records it; then we leave.
                    Some(l) => {
                        let _ = l.commands.send(Command::Stop);
                    }
                    None => break,
                }
            }
            Some(Effect::ForceQuit) => {
                outcome.abandoned = live.is_some();
                break;
            }
        }
    }
    drop(guard);
    outcome
}

fn drain(events: &mut mpsc::UnboundedReceiver<Event>, app: &mut App, now: Instant) {
    while let Ok(e) = events.try_recv() {
        app.on_event(e, now);
    }
}

fn draw(guard: &mut TerminalGuard, app: &mut App, now: Instant) -> std::io::Result<()> {
    let size = guard.terminal.size()?;
    app.fit_symbols(draw::symbol_rows_visible(size.into()));
    guard.terminal.draw(|frame| draw::draw(frame, app, now))?;
    Ok(())
}

/// The configuration of the next run: the file's, with the switches as they are now.
fn with_settings(config: &Config, s: Settings) -> Config {
    let mut c = config.clone();
    c.fixes = s.fixes;
    // A count set by hand (`+`/`-`) is kept; untouched, auto stays auto.
    if s.concurrency != config.concurrency.initial_workers() {
        c.concurrency = crate::config::Concurrency::Fixed(s.concurrency);
    }
    c.stagger = Duration::from_secs_f64(s.stagger_secs);
    c
}

/// Reads the runs table on a blocking thread; the answer comes back as a message.
fn read_runs(db: PathBuf, tx: mpsc::UnboundedSender<Result<Vec<RunRecord>, String>>) {
    tokio::task::spawn_blocking(move || {
        let _ = tx.send(store::recent_runs(&db, RUNS_SHOWN).map_err(|e| store::explain(&e)));
    });
}

/// SIGTERM, SIGINT and SIGHUP all ask for a clean stop. In raw mode Ctrl-C arrives as a
/// key, not as SIGINT; the signal still comes from `kill`.
struct Signals {
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let streams = [SignalKind::terminate(), SignalKind::interrupt(), SignalKind::hangup()]
                .into_iter()
                .filter_map(|k| signal(k).ok())
                .collect();
            Signals { streams }
        }
        #[cfg(not(unix))]
        {
            Signals {}
        }
    }

    async fn recv(&mut self) {
        #[cfg(unix)]
        {
            if self.streams.is_empty() {
                return std::future::pending().await;
            }
            let all = self.streams.iter_mut().map(|s| Box::pin(s.recv()));
            let _ = futures::future::select_all(all).await;
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
