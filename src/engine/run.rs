//! One run from start to report: prepares the store and plan, spawns workers as the
//! settings ask, applies commands, samples resources, and records the outcome.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::events::{Command, Event, Level, RowInfo, RowState, RunInfo, Settings};
use super::resources::{ResourceProbe, peak_rss_mb};
use super::scheduler::Scheduler;
use super::tally::RunEnd;
use super::worker::{Ctx, Emitter, RowMeta, run_worker};
use crate::calendar::Range;
use crate::config::{Config, Fix};
use crate::pace::Pacer;
use crate::plan::{self, Plan};
use crate::polygon::Client;
use crate::report::{Report, RunStatus};
use crate::retry::RetryBudget;
use crate::secret::ApiKey;
use crate::store::writer::{WriteMsg, Writer};
use crate::store::{RunStart, Store, StoreError, now_ms};

/// Where requests go.
#[derive(Clone, Debug)]
pub struct Source {
    /// "simulator" or "live API" (or "server" for a keyless URL such as `barfill sim`).
    pub label: String,
    pub base_url: String,
    pub key: Option<ApiKey>,
}

/// Opens the database and plans the work left. Runs before any face takes the screen,
/// so a bad path or a foreign database is reported plainly.
pub fn prepare(config: &Config) -> Result<(Store, Plan), StoreError> {
    let store = Store::open(&config.db, config.adjusted, config.db_is_default)?;
    let write_err = |e: rusqlite::Error| StoreError::Write(crate::store::explain(&e));
    store.close_stale_runs().map_err(write_err)?;
    let covered = store.covered().map_err(write_err)?;
    Ok((store, plan_for(config, &covered)))
}

/// The configured work less what the progress table covers; all of it with `--refetch`.
pub fn plan_for(config: &Config, covered: &crate::store::Covered) -> Plan {
    let covered = if config.refetch { &crate::store::Covered::new() } else { covered };
    Plan::new(&config.symbols, &config.timeframes, Range { from: config.from, to: config.to }, covered)
}

pub struct RunHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub done: tokio::task::JoinHandle<Report>,
}

pub fn initial_settings(config: &Config) -> Settings {
    Settings {
        fixes: config.fixes,
        concurrency: config.concurrency,
        stagger_secs: config.stagger.as_secs_f64(),
        paused: false,
    }
}

/// Starts a run on the current tokio runtime.
pub fn start(config: Arc<Config>, source: Source, store: Store, plan: Plan) -> anyhow::Result<RunHandle> {
    let settings = initial_settings(&config);
    let run_id = store.start_run(&RunStart {
        started_at_ms: now_ms(),
        source: source.label.clone(),
        fixes: settings.fixes.label(),
        concurrency: settings.workers(),
        quota_per_min: config.quota_per_min,
    })?;
    let db = store.path.display().to_string();
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let emitter = Arc::new(Emitter::new(event_tx));
    let for_writer = emitter.clone();
    let (writer, writer_tx) = Writer::spawn(store, run_id, move |e| for_writer.emit(Event::from_writer(e)))?;
    let client = Client::new(&source.base_url, source.key.clone(), config.timeout)?;
    let pacer = Pacer::new(config.quota_per_min, config.headroom_pct, config.quota_window);
    let (settings_tx, settings_rx) = watch::channel(settings);
    let rows: Vec<RowMeta> = plan
        .rows
        .iter()
        .map(|r| RowMeta {
            ticker: r.ticker.as_str().into(),
            timeframe: r.timeframe.to_string().into(),
            tf: r.timeframe,
        })
        .collect();
    let daily_rows: HashMap<String, usize> = plan
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.timeframe.is_daily())
        .map(|(i, r)| (r.ticker.clone(), i))
        .collect();
    let floor_requests = plan.floor_requests();
    let info = RunInfo {
        run_id,
        source: source.label.clone(),
        base_url: source.base_url.clone(),
        db,
        rows: plan
            .rows
            .iter()
            .map(|r| RowInfo {
                ticker: r.ticker.clone(),
                timeframe: r.timeframe,
                sessions: r.sessions,
                covered_sessions: r.covered_sessions,
            })
            .collect(),
        settings,
        quota_per_min: config.quota_per_min,
        pace_per_min: pacer.rate_per_min(),
        estimate: plan.estimate(settings.fixes.batching),
        floor_requests,
        floor_s: plan::seconds_at_quota(floor_requests, config.quota_per_min as f64),
        max_attempts: config.retry.max_attempts,
        refetch: config.refetch,
    };
    let ctx = Arc::new(Ctx {
        client,
        pacer,
        budget: RetryBudget::new(config.retry.budget, config.retry.budget_ratio),
        settings: settings_rx,
        sched: Mutex::new(Scheduler::new(&plan, settings.fixes.batching)),
        work_changed: Notify::new(),
        emitter: emitter.clone(),
        writer: writer_tx,
        cancel: CancellationToken::new(),
        rows,
        daily_rows,
        adjusted: config.adjusted,
        max_attempts: config.retry.max_attempts,
        fatal: Mutex::new(None),
        settled_through: crate::calendar::settled_through(crate::calendar::today_ny()),
    });
    emitter.emit(Event::RunStarted(Box::new(info.clone())));
    for (i, row) in plan.rows.iter().enumerate() {
        if row.pending.is_empty() {
            emitter.emit(Event::RowState { row: i, state: RowState::Done });
        }
    }
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let done = tokio::spawn(coordinate(ctx, info, settings_tx, cmd_rx, writer));
    Ok(RunHandle { commands: cmd_tx, events: event_rx, done })
}

struct Workers {
    set: JoinSet<usize>,
    alive: HashSet<usize>,
}

impl Workers {
    /// Spawns workers for missing slots up to what the settings ask for, their starts
    /// staggered when fix 3 is on.
    fn fill(&mut self, ctx: &Arc<Ctx>) {
        let s = ctx.settings();
        let stagger = if s.fixes.parallel { Duration::from_secs_f64(s.stagger_secs) } else { Duration::ZERO };
        let mut k = if self.alive.is_empty() { 0 } else { 1 };
        for slot in 0..s.workers() as usize {
            if self.alive.insert(slot) {
                let delay = stagger * k;
                k += 1;
                let ctx = ctx.clone();
                self.set.spawn(async move {
                    run_worker(ctx, slot, delay).await;
                    slot
                });
            }
        }
    }
}

async fn coordinate(
    ctx: Arc<Ctx>,
    info: RunInfo,
    settings_tx: watch::Sender<Settings>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    writer: Writer,
) -> Report {
    let started = Instant::now();
    let mut probe = ResourceProbe::new();
    let mut workers = Workers { set: JoinSet::new(), alive: HashSet::new() };
    let mut stopped_by_user = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    workers.fill(&ctx);
    loop {
        tokio::select! {
            Some(cmd) = commands.recv() => {
                if cmd == Command::Stop {
                    if !stopped_by_user {
                        stopped_by_user = true;
                        ctx.emitter.notice(Level::Info, "stopping: writing what has been fetched");
                    }
                    ctx.cancel.cancel();
                    continue;
                }
                apply(&ctx, &settings_tx, cmd);
                if !ctx.cancel.is_cancelled() {
                    workers.fill(&ctx);
                }
            }
            joined = workers.set.join_next(), if !workers.set.is_empty() => {
                match joined {
                    Some(Ok(slot)) => { workers.alive.remove(&slot); }
                    Some(Err(e)) => {
                        let what = if e.is_panic() { "a worker panicked" } else { "a worker was cancelled" };
                        ctx.fail_run(format!("{what}: {e}"));
                    }
                    None => {}
                }
                // Refill after every exit, not only the last: a slot that retired just as
                // concurrency went back up must not stay empty.
                let more = !ctx.cancel.is_cancelled() && !ctx.sched.lock().unwrap().is_empty();
                if more {
                    workers.fill(&ctx);
                } else if workers.set.is_empty() {
                    break;
                }
            }
            _ = tick.tick() => {
                if let Some(p) = probe.as_mut() {
                    let (cpu_pct, rss_mb) = p.sample();
                    ctx.emitter.emit(Event::Resources { cpu_pct, rss_mb });
                }
            }
        }
    }
    let wall_s = started.elapsed().as_secs_f64();
    let cpu_pct = probe.as_mut().map(|p| p.average_cpu_pct()).unwrap_or(0.0);

    // Everything queued must be committed before the figures are taken.
    let (flushed_tx, flushed_rx) = oneshot::channel();
    let writer_alive = ctx.writer.send(WriteMsg::Flush(flushed_tx)).await.is_ok() && flushed_rx.await.is_ok();

    let tally = ctx.emitter.tally();
    let fatal = ctx.fatal.lock().unwrap().clone();
    let settings = ctx.settings();
    let left = !ctx.sched.lock().unwrap().is_empty();
    let (status, note) = match (&fatal, stopped_by_user) {
        (Some(reason), _) => (RunStatus::Failed, Some(format!("{reason}; the next run resumes from what was stored"))),
        (None, true) => (
            RunStatus::Stopped,
            Some(if left || tally.windows_done < info.estimate.windows {
                "stopped on request (a key or a signal); the next run resumes where this one stopped".to_string()
            } else {
                "stopped on request (a key or a signal)".to_string()
            }),
        ),
        (None, false) if tally.windows_failed > 0 => {
            (RunStatus::Done, Some(format!("{} windows failed; see the log for each reason", tally.windows_failed)))
        }
        (None, false) => (RunStatus::Done, None),
    };
    let report = tally.report(
        &info,
        wall_s,
        RunEnd {
            status,
            note,
            fixes: settings.fixes,
            workers: settings.workers(),
            peak_rss_mb: peak_rss_mb(),
            cpu_pct,
        },
    );
    if writer_alive {
        let _ = ctx.writer.send(WriteMsg::Finish(Box::new(report.clone()))).await;
    }
    let emitter = ctx.emitter.clone();
    drop(ctx); // the last sender: the writer drains and ends
    let writer_result = tokio::task::spawn_blocking(move || writer.finish()).await.unwrap_or(Err("join".into()));
    let mut report = report;
    if let Err(e) = writer_result {
        report.status = RunStatus::Failed;
        report.note = Some(format!(
            "database write failed: {e}; every page committed before it is kept, and the next run resumes"
        ));
        // The writer could not record the run; try once more on a connection of our own.
        let (db, id, note) =
            (std::path::PathBuf::from(&info.db), report.run_id, report.note.clone().unwrap_or_default());
        let recorded = tokio::task::spawn_blocking(move || crate::store::record_failed_run(&db, id, &note)).await;
        if let Ok(Err(e)) = recorded {
            tracing::warn!(error = %crate::store::explain(&e), "the failed run could not be recorded; the next run marks it interrupted");
        }
    }
    tracing::info!(status = %report.status, wall_s = report.wall_s, requests = report.requests, bars = report.bars, "run finished");
    emitter.emit(Event::RunFinished(Box::new(report.clone())));
    report
}

fn apply(ctx: &Ctx, settings_tx: &watch::Sender<Settings>, cmd: Command) {
    let before = ctx.settings();
    let mut s = before;
    match cmd {
        Command::ToggleFix(fix) => s.fixes.set(fix, !s.fixes.get(fix)),
        Command::SetFix(fix, on) => s.fixes.set(fix, on),
        Command::SetConcurrency(c) => s.concurrency = c.clamp(1, 64),
        Command::SetStagger(secs) => s.stagger_secs = secs.clamp(0.0, 120.0),
        Command::Pause => s.paused = true,
        Command::Resume => s.paused = false,
        Command::Stop => {}
    }
    if s == before {
        return;
    }
    if s.fixes.batching != before.fixes.batching {
        ctx.sched.lock().unwrap().rebalance(s.fixes.batching);
    }
    let _ = settings_tx.send(s);
    for fix in Fix::ALL {
        if s.fixes.get(fix) != before.fixes.get(fix) {
            let state = if s.fixes.get(fix) { "ON" } else { "OFF" };
            ctx.emitter.notice(Level::Info, format!("fix {} ({}) {state}", fix.number(), fix.name()));
        }
    }
    if s.paused != before.paused {
        ctx.emitter.notice(Level::Info, if s.paused { "paused" } else { "resumed" });
    }
    ctx.emitter.emit(Event::Settings(s));
    ctx.work_changed.notify_waiters();
}
