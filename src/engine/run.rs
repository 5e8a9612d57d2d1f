//! One run from start to report: records the run, spawns workers as the settings ask,
//! applies commands, samples resources, and records the outcome.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::autotune::{MAX_WORKERS, why};
use super::chain;
use super::ctx::{Ctx, Net, RowMeta, Seen};
use super::emitter::Emitter;
use super::eta::{EtaClock, Inputs as EtaInputs};
use super::events::{Command, Event, Level, RowInfo, RowState, RunInfo, Settings};
use super::resources::{ResourceProbe, peak_rss_mb};
use super::scheduler::Scheduler;
use super::splits;
use super::tally::RunEnd;
use super::tuning::Tuning;
use super::universe::{self, UniverseSpec};
use super::worker::run_worker;
use crate::clock;
use crate::config::{Config, Fix};
use crate::markets::Class;
use crate::pace::Pacer;
use crate::plan::{self, Plan};
use crate::polygon::Client;
use crate::polygon::contracts::ContractRef;
use crate::polygon::reference::TickerRef;
use crate::report::{self, Report, RunStatus};
use crate::retry::RetryBudget;
use crate::secret::ApiKey;
use crate::store::writer::{WriteMsg, Writer, WriterOptions};
use crate::store::{Covered, OpenOptions, RunStart, Store, StoreError, now_ms};

/// Where requests go.
#[derive(Clone, Debug)]
pub struct Source {
    /// [`crate::report::EMBEDDED_SIMULATOR`] or "live API" (or "server" for a keyless URL such as
    /// `barfill sim`).
    pub label: String,
    pub base_url: String,
    pub key: Option<ApiKey>,
}

/// Opens the database and plans the work left. Runs before any face takes the screen,
/// so a bad path or a foreign database is reported plainly.
pub fn prepare(config: &Config) -> Result<(Store, Plan), StoreError> {
    // An existing database keeps the kind of bars it holds (a split-adjusted one from an
    // earlier release goes on adjusted); asking for adjusted bars explicitly refuses a raw
    // one, so the two kinds never mix.
    let options =
        OpenOptions { adjusted: config.adjusted, require_kind: config.adjusted, create_dir: config.db_is_default };
    let store = Store::open_with(&config.db, options)?;
    store.close_stale_runs().map_err(write_err)?;
    let plan = plan_stored(&store, config, &config.symbols)?;
    Ok((store, plan))
}

fn write_err(e: rusqlite::Error) -> StoreError {
    StoreError::Write(crate::store::explain(&e))
}

/// The plan for `symbols` against what the database holds: the ranges left, the bars
/// stored, and where a row that stopped mid-page goes on.
pub fn plan_stored(store: &Store, config: &Config, symbols: &[String]) -> Result<Plan, StoreError> {
    let covered = store.covered().map_err(write_err)?;
    let mut plan = plan_for(config, symbols, &covered);
    plan.note_stored(&store.stored_bars().map_err(write_err)?);
    for row in plan.rows.iter_mut().filter(|r| r.timeframe.minutes().is_some()) {
        // A run that stopped mid-page left bars on the first pending day: go on after them.
        if let Some(first) = row.pending.first() {
            let width = row.timeframe.minutes().unwrap_or(1) as i64 * crate::calendar::MS_PER_MINUTE;
            let (tf, zone) = (row.timeframe.to_string(), row.class.zone());
            let last = store.last_bar_on(&row.ticker, &tf, zone, first.from).map_err(write_err)?;
            row.resume_ms = last.map(|ts| ts + width);
        }
    }
    // Day bars of a class whose stamp the API has not confirmed keep the stamp stored ones
    // carry: a page with another is refused rather than storing a day twice.
    for row in plan.rows.iter_mut().filter(|r| r.timeframe.minutes().is_none() && r.class.day_stamps().len() > 1) {
        let last = store.last_bar(&row.ticker, &row.timeframe.to_string()).map_err(write_err)?;
        row.day_stamp = last.and_then(|ts| row.class.stamp_of(ts));
    }
    Ok(plan)
}

/// The configured work for `symbols` less what the progress table covers; all of it
/// with `--refetch`.
pub fn plan_for(config: &Config, symbols: &[String], covered: &Covered) -> Plan {
    let covered = if config.refetch { &Covered::new() } else { covered };
    let range = crate::calendar::Range { from: config.from, to: config.to };
    Plan::new(symbols, &config.timeframes, range, covered)
}

pub struct RunHandle {
    pub commands: mpsc::UnboundedSender<Command>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub done: tokio::task::JoinHandle<Report>,
}

impl RunHandle {
    /// Drives the run to its end: every event, the last ones included, goes to
    /// `on_event`, which may steer the run through the command sender it is given.
    /// Returns the report, or why the run's task died without one.
    pub async fn drive(
        mut self,
        mut on_event: impl FnMut(Event, &mpsc::UnboundedSender<Command>),
    ) -> anyhow::Result<Report> {
        let report = loop {
            tokio::select! {
                Some(e) = self.events.recv() => on_event(e, &self.commands),
                r = &mut self.done => break r,
            }
        };
        while let Ok(e) = self.events.try_recv() {
            on_event(e, &self.commands);
        }
        report.map_err(|e| anyhow::anyhow!("the run's task failed: {e}"))
    }
}

/// Answers read, decoded or waiting to be handed to the writer at once, whatever the
/// worker count: with the writer's own queue this bounds a run's memory (a full page of
/// 50,000 minute bars is about 5 MB of JSON and 3.5 MB decoded).
const PAGES_IN_MEMORY: usize = 6;

pub fn initial_settings(config: &Config) -> Settings {
    Settings {
        fixes: config.fixes,
        concurrency: config.concurrency.initial_workers(config.quota_per_min, config.fixes.batching),
        stagger_secs: config.stagger.as_secs_f64(),
        paused: false,
        auto: config.concurrency.is_auto(),
        why: if config.concurrency.is_auto() { why::START } else { why::FIXED },
    }
}

/// Starts a run on the current tokio runtime. Everything that touches the disk happens
/// off the caller's thread, so a dashboard's loop never waits for SQLite.
pub fn start(config: Arc<Config>, source: Source, store: Store, plan: Plan) -> anyhow::Result<RunHandle> {
    let client = Client::new(&source.base_url, source.key.clone(), config.timeout)?.with_page_room(PAGES_IN_MEMORY);
    let writer = WriterOptions {
        slow_per_page: crate::testhooks::slow_writer().unwrap_or_default(),
        ..WriterOptions::default()
    };
    Ok(start_with(config, source, store, plan, Parts { client, writer }))
}

/// What a run is built from besides its configuration and plan: the client, and how the
/// writer works. The engine's tests bring a scripted client and a wider writer queue.
pub(super) struct Parts {
    pub client: Client,
    pub writer: WriterOptions,
}

/// `start` over parts made elsewhere.
pub(super) fn start_with(config: Arc<Config>, source: Source, store: Store, plan: Plan, parts: Parts) -> RunHandle {
    let (event_tx, event_rx) = mpsc::unbounded_channel();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let emitter = Arc::new(Emitter::new(event_tx));
    let done = tokio::spawn(run(config, source, store, plan, parts, emitter, cmd_rx));
    RunHandle { commands: cmd_tx, events: event_rx, done }
}

async fn run(
    config: Arc<Config>,
    source: Source,
    store: Store,
    plan: Plan,
    Parts { client, writer: writer_options }: Parts,
    emitter: Arc<Emitter>,
    mut commands: mpsc::UnboundedReceiver<Command>,
) -> Report {
    let settings = initial_settings(&config);
    let (settings_tx, settings_rx) = watch::channel(settings);
    let net = Arc::new(network(&config, client, emitter.clone(), settings_rx));
    let mut info = run_info(&config, &source, &plan, &store, settings, net.pacer.rate_per_min());
    let listed = listed(&config, &net, &settings_tx, &mut commands).await.and_then(|named| match named {
        None => Ok((plan, 0)),
        Some((symbols, pages)) => plan_stored(&store, &config, &symbols).map(|p| (p, pages)).map_err(|e| e.to_string()),
    });
    let (plan, reference_pages) = match listed {
        Ok(p) => p,
        Err(e) => return not_started(&info, &emitter, e),
    };
    info = run_info(&config, &source, &plan, &store, net.settings(), net.pacer.rate_per_min());
    info.reference_requests = reference_pages;
    let store = tell_about_the_store(store, &emitter);
    let adjusted = store.adjusted();
    let splits = SplitsToAsk::of(&config, &store, &plan);
    let (store, run_id) = match record_start(store, &info).await {
        Ok(x) => x,
        Err(e) => return not_started(&info, &emitter, e),
    };
    info.run_id = run_id;
    let for_writer = emitter.clone();
    let emit = move |e| for_writer.emit(Event::from_writer(e));
    let (writer, writer_tx) = match Writer::spawn_with(store, run_id, writer_options, emit) {
        Ok(w) => w,
        Err(e) => return not_started(&info, &emitter, format!("cannot start the database writer: {e}")),
    };
    announce(&net, &info, &plan);
    let started = clock::now();
    let settled_through = crate::calendar::settled_through(config.today);
    let ctx = Arc::new(context(adjusted, settled_through, &plan, net, writer_tx));
    let outcome = if ctx.cancel.is_cancelled() {
        // Stopped (or failed) before any worker began.
        let stopped_by_user = ctx.fatal.lock().is_none();
        Outcome { wall_s: clock::since(started).as_secs_f64(), cpu_pct: 0.0, stopped_by_user }
    } else {
        // Splits only feed `bars_adjusted`: no bar request waits for them (on a paid plan
        // a run of seconds lost a tenth of one to the answer). An adjusted database has its
        // bars on the scale of the day they were fetched: splits would change nothing it reads.
        let refreshing = async {
            if !adjusted && config.fetch_splits && !splits.tickers.is_empty() {
                splits::refresh(&ctx.net, &ctx.writer, splits.asking(config.today)).await
            } else {
                0
            }
        };
        let (mut outcome, split_requests) = tokio::join!(coordinate(&ctx, &settings_tx, commands, started), refreshing);
        info.split_requests = split_requests;
        outcome.wall_s = clock::since(started).as_secs_f64();
        outcome
    };
    finish(ctx, &info, &plan, writer, outcome).await
}

/// The tickers a universe or an options chain names from reference data (taking commands
/// meanwhile), and the reference pages that took; `None` for a list.
async fn listed(
    config: &Config,
    net: &Net,
    settings_tx: &watch::Sender<Settings>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
) -> Result<Option<(Vec<String>, u64)>, String> {
    let listing = match (UniverseSpec::from_config(config), config.chain.chain()) {
        (Some(spec), _) => Listing::Universe(spec),
        (None, Some(c)) => Listing::Chain(c),
        (None, None) => return Ok(None),
    };
    let resolving = async {
        match listing {
            Listing::Universe(spec) => universe_symbols(net, spec).await,
            Listing::Chain(c) => chain::symbols(net, c, config.today, config.from).await,
        }
    };
    steered(net, settings_tx, commands, resolving).await.map(Some)
}

/// Whose splits a run asks for: its stock tickers (only stocks split), less those asked
/// completely earlier the same day (all again with `--refetch`), knowing which the
/// database held bars of before the run.
struct SplitsToAsk {
    tickers: Vec<String>,
    checked: HashSet<String>,
    held: HashSet<String>,
}

impl SplitsToAsk {
    fn of(config: &Config, store: &Store, plan: &Plan) -> SplitsToAsk {
        let checked = if config.refetch { Ok(HashSet::new()) } else { store.splits_checked_on(config.today) }
            .unwrap_or_else(|e| {
                tracing::warn!(error = %crate::store::explain(&e), "could not read when splits were last asked for");
                HashSet::new()
            });
        SplitsToAsk {
            tickers: plan.symbols.iter().filter(|t| Class::of_checked(t).has_splits()).cloned().collect(),
            checked,
            held: plan.rows.iter().filter(|r| r.stored_bars > 0).map(|r| r.ticker.clone()).collect(),
        }
    }

    fn asking(&self, day: crate::calendar::Day) -> splits::Asking<'_> {
        splits::Asking { tickers: &self.tickers, checked: &self.checked, day, held: &self.held }
    }
}

/// The network side of a run, shared by every phase.
pub(super) fn network(
    config: &Config,
    client: Client,
    emitter: Arc<Emitter>,
    settings: watch::Receiver<Settings>,
) -> Net {
    let pacer = Pacer::new(config.quota_per_min, config.headroom_pct, config.quota_window);
    pacer.set_pacing(settings.borrow().fixes.batching);
    Net {
        client,
        pacer,
        budget: RetryBudget::new(config.retry.budget, config.retry.budget_ratio),
        settings,
        emitter,
        cancel: CancellationToken::new(),
        max_attempts: config.retry.max_attempts,
        jitter: config.retry.jitter,
        wait_scale: config.retry.wait_scale,
        fatal: Mutex::new(None),
    }
}

/// Resolves the configured universe on its own, for `barfill tickers`: the tickers and
/// the reference requests they took (paced at the quota like any run's).
pub async fn list_universe(config: &Config, source: &Source) -> anyhow::Result<(Vec<TickerRef>, u64)> {
    let spec = UniverseSpec::from_config(config).ok_or_else(|| anyhow::anyhow!("no universe is configured"))?;
    let client = Client::new(&source.base_url, source.key.clone(), config.timeout)?;
    let (tx, _rx) = mpsc::unbounded_channel();
    let emitter = Arc::new(Emitter::new(tx));
    let (_settings_tx, settings_rx) = watch::channel(initial_settings(config));
    let net = network(config, client, emitter.clone(), settings_rx);
    let (tickers, _) = universe::resolve(&net, spec).await.map_err(anyhow::Error::msg)?;
    Ok((tickers, emitter.tally().requests))
}

/// An options chain's contracts on their own, for `barfill tickers`: the contracts and the
/// reference requests they took (paced at the quota like any run's).
pub async fn list_chain(config: &Config, source: &Source) -> anyhow::Result<(Vec<ContractRef>, u64)> {
    let c = config.chain.chain().ok_or_else(|| anyhow::anyhow!("no options chain is configured"))?;
    let client = Client::new(&source.base_url, source.key.clone(), config.timeout)?;
    let (tx, _rx) = mpsc::unbounded_channel();
    let emitter = Arc::new(Emitter::new(tx));
    let (_settings_tx, settings_rx) = watch::channel(initial_settings(config));
    let net = network(config, client, emitter.clone(), settings_rx);
    let (contracts, _) = chain::resolve(&net, &c, config.today).await.map_err(anyhow::Error::msg)?;
    Ok((contracts, emitter.tally().requests))
}

/// Where a run's tickers come from when the configuration does not list them.
enum Listing {
    Universe(UniverseSpec),
    Chain(crate::config::Chain),
}

/// The universe's tickers from reference data, and the pages that took.
async fn universe_symbols(net: &Net, spec: UniverseSpec) -> Result<(Vec<String>, u64), String> {
    net.emitter.notice(Level::Info, format!("listing the universe '{}' from reference data", spec.universe));
    let (tickers, pages) = universe::resolve(net, spec).await?;
    if tickers.is_empty() {
        return Err(format!("the universe '{}' resolved to no ticker", spec.universe));
    }
    let delisted = tickers.iter().filter(|t| !t.active).count();
    net.emitter.notice(
        Level::Info,
        format!("universe '{}': {} tickers ({delisted} delisted since)", spec.universe, tickers.len()),
    );
    Ok((tickers.into_iter().map(|t| t.ticker).collect(), pages))
}

/// Runs a phase before the workers start, still taking commands: a stop ends it, and a
/// switch holds for what follows.
async fn steered<T>(
    net: &Net,
    settings_tx: &watch::Sender<Settings>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    phase: impl std::future::Future<Output = T>,
) -> T {
    tokio::pin!(phase);
    loop {
        tokio::select! {
            out = &mut phase => return out,
            Some(cmd) = commands.recv() => {
                if cmd == Command::Stop {
                    net.cancel.cancel();
                } else {
                    apply_settings(net, settings_tx, cmd);
                }
            }
        }
    }
}

fn run_info(config: &Config, source: &Source, plan: &Plan, store: &Store, settings: Settings, pace: f64) -> RunInfo {
    let estimate = plan.estimate(settings.fixes.batching);
    RunInfo {
        run_id: 0,
        source: source.label.clone(),
        base_url: source.base_url.clone(),
        db: store.path.display().to_string(),
        rows: plan
            .rows
            .iter()
            .map(|r| RowInfo {
                ticker: r.ticker.clone(),
                timeframe: r.timeframe,
                class: r.class,
                sessions: r.sessions,
                covered_sessions: r.covered_sessions,
            })
            .collect(),
        settings,
        quota_per_min: config.quota_per_min,
        quota_window_s: config.quota_window.as_secs_f64(),
        pace_per_min: pace,
        estimate,
        floor_requests: plan.floor_requests(),
        floor_s: plan::seconds_at_quota(plan.floor_requests(), config.quota_per_min as f64),
        max_attempts: config.retry.max_attempts,
        jitter: config.retry.jitter,
        refetch: config.refetch,
        reference_requests: 0,
        split_requests: 0,
    }
}

/// Says once what an adjusted database means, and that a schema-1 file was migrated.
fn tell_about_the_store(mut store: Store, emitter: &Emitter) -> Store {
    if let Some(m) = store.migrated() {
        emitter.notice(
            Level::Info,
            format!(
                "database upgraded in place from schema {} ({} bars in {} series kept)",
                m.from_version, m.bars, m.series
            ),
        );
    }
    if let Some(text) = store.adjusted_notice() {
        emitter.notice(Level::Warn, text);
        if let Err(e) = store.acknowledge_adjusted_notice() {
            tracing::warn!(error = %crate::store::explain(&e), "could not record that the notice was shown");
        }
    }
    store
}

/// Records the run as started, on a blocking thread; hands the store back for the writer.
async fn record_start(store: Store, info: &RunInfo) -> Result<(Store, i64), String> {
    let start = RunStart {
        started_at_ms: now_ms(),
        source: info.source.clone(),
        fixes: info.settings.fixes.label(),
        concurrency: info.settings.workers(),
        quota_per_min: info.quota_per_min,
    };
    let recorded = tokio::task::spawn_blocking(move || store.start_run(&start).map(|id| (store, id))).await;
    match recorded {
        Ok(Ok(x)) => Ok(x),
        Ok(Err(e)) => Err(format!("cannot record the run: {}", crate::store::explain(&e))),
        Err(e) => Err(format!("cannot record the run: {e}")),
    }
}

/// A run that could not begin: nothing was fetched or written.
fn not_started(info: &RunInfo, emitter: &Emitter, reason: String) -> Report {
    emitter.notice(Level::Error, reason.clone());
    let end = RunEnd {
        status: RunStatus::Failed,
        note: Some(reason),
        fixes: info.settings.fixes,
        workers: info.settings.workers(),
        peak_rss_mb: peak_rss_mb(),
        cpu_pct: 0.0,
    };
    let report = emitter.tally().report(info, 0.0, end);
    emitter.emit(Event::RunFinished(Box::new(report.clone())));
    report
}

pub(super) fn context(
    adjusted: bool,
    settled_through: crate::calendar::Day,
    plan: &Plan,
    net: Arc<Net>,
    writer: mpsc::Sender<WriteMsg>,
) -> Ctx {
    let rows: Vec<RowMeta> = plan
        .rows
        .iter()
        .map(|r| RowMeta {
            ticker: r.ticker.as_str().into(),
            timeframe: r.timeframe.to_string().into(),
            tf: r.timeframe,
            class: r.class,
        })
        .collect();
    let daily_rows: HashMap<String, usize> = plan
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.timeframe.is_daily())
        .map(|(i, r)| (r.ticker.clone(), i))
        .collect();
    let batching = net.settings().fixes.batching;
    Ctx {
        net,
        sched: Mutex::new(Scheduler::new(plan, batching)),
        work_changed: Notify::new(),
        writer,
        seen: Mutex::new(vec![Seen::default(); rows.len()]),
        stamps: Mutex::new(plan.rows.iter().map(|r| r.day_stamp).collect()),
        rows,
        daily_rows,
        adjusted,
        settled_through,
        range: plan.range,
    }
}

/// The run's start for the faces, and the rows earlier runs finished.
fn announce(net: &Net, info: &RunInfo, plan: &Plan) {
    net.emit(Event::RunStarted(Box::new(info.clone())));
    for (i, row) in plan.rows.iter().enumerate().filter(|(_, r)| r.pending.is_empty()) {
        let state = if row.stored_bars == 0 { RowState::Empty } else { RowState::Done };
        net.emit(Event::RowState { row: i, state });
    }
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

    /// A worker ended; returns false once none is left and none is needed.
    fn on_exit(&mut self, ctx: &Arc<Ctx>, joined: Result<usize, tokio::task::JoinError>) -> bool {
        match joined {
            Ok(slot) => {
                self.alive.remove(&slot);
            }
            Err(e) => {
                let what = if e.is_panic() { "a worker panicked" } else { "a worker was cancelled" };
                ctx.fail_run(format!("{what}: {e}"));
            }
        }
        // Refill after every exit, not only the last: a slot that retired just as
        // concurrency went back up must not stay empty.
        if !ctx.cancel.is_cancelled() && !ctx.sched.lock().is_empty() {
            self.fill(ctx);
        }
        !self.set.is_empty()
    }
}

/// How the workers' part of a run went.
struct Outcome {
    wall_s: f64,
    cpu_pct: f64,
    stopped_by_user: bool,
}

/// Runs the workers to the end of the work; `started` is when the run's requests began.
async fn coordinate(
    ctx: &Arc<Ctx>,
    settings_tx: &watch::Sender<Settings>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    started: Instant,
) -> Outcome {
    let mut probe = ResourceProbe::new();
    let mut workers = Workers { set: JoinSet::new(), alive: HashSet::new() };
    let mut stopped_by_user = false;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut tuning = Tuning::new(ctx);
    let mut eta = EtaClock::new();
    workers.fill(ctx);
    while !workers.set.is_empty() {
        tokio::select! {
            Some(cmd) = commands.recv() => {
                if cmd == Command::Stop {
                    if !stopped_by_user {
                        stopped_by_user = true;
                        ctx.emitter.notice(Level::Info, "stopping: writing what has been fetched");
                    }
                    ctx.cancel.cancel();
                } else {
                    let before = ctx.settings();
                    if apply(ctx, settings_tx, cmd) && !ctx.cancel.is_cancelled() {
                        workers.fill(ctx);
                    }
                    let after = ctx.settings();
                    if (after.fixes, after.paused) != (before.fixes, before.paused) {
                        eta.user_switched();
                    }
                }
            }
            Some(joined) = workers.set.join_next() => {
                if !workers.on_exit(ctx, joined) {
                    break;
                }
            }
            _ = tick.tick() => {
                // Once a second: what the server accepted moves even when the pace holds.
                super::fetch::emit_figures(&ctx.net);
                if let Some(p) = probe.as_mut() {
                    let (cpu_pct, rss_mb) = p.sample();
                    ctx.emit(Event::Resources { cpu_pct, rss_mb });
                }
                if tuning.tick(ctx, settings_tx) && !ctx.cancel.is_cancelled() {
                    ctx.work_changed.notify_waiters();
                    workers.fill(ctx);
                }
                ctx.emit(Event::Eta(eta.tick(clock::now(), &eta_inputs(ctx))));
            }
        }
    }
    // The last answers' news, which the last tick may have missed.
    super::fetch::emit_figures(&ctx.net);
    let cpu_pct = probe.as_mut().map(|p| p.average_cpu_pct()).unwrap_or(0.0);
    Outcome { wall_s: clock::since(started).as_secs_f64(), cpu_pct, stopped_by_user }
}

/// What the ETA is worked out from, as of now.
fn eta_inputs(ctx: &Ctx) -> EtaInputs {
    let settings = ctx.settings();
    let tally = ctx.emitter.tally();
    let pace = ctx.pacer.figures();
    EtaInputs {
        left: ctx.sched.lock().work_left(),
        last_ts: ctx.seen.lock().iter().map(|s| s.last_ts).collect(),
        batching: settings.fixes.batching,
        workers: settings.workers(),
        pace_per_min: pace.rate_per_min,
        latency_s: tally.latency_s,
        gate_s: gate_wait(&pace, ctx.pacer.probe_spacing()),
        ok_requests: tally.ok_requests,
    }
}

/// How long the gate will likely still hold every worker: all of a drain or a
/// `Retry-After`, which are known; after a 429 a probe usually finds room well before the
/// gate's end, so at most a probe's spacing.
fn gate_wait(f: &crate::pace::PaceFigures, probe: Duration) -> f64 {
    use crate::pace::Hold;
    match (f.held_s, f.hold) {
        (Some(s), Some(Hold::Drain | Hold::RetryAfter)) => s,
        (Some(s), Some(_)) => s.min(probe.as_secs_f64()),
        _ => 0.0,
    }
}

/// Applies a command; returns whether the settings changed.
fn apply(ctx: &Ctx, settings_tx: &watch::Sender<Settings>, cmd: Command) -> bool {
    let before = ctx.settings();
    let Some(s) = apply_settings(ctx, settings_tx, cmd) else { return false };
    if s.fixes.batching != before.fixes.batching {
        ctx.sched.lock().rebalance(s.fixes.batching);
    }
    ctx.work_changed.notify_waiters();
    true
}

/// The settings a command asks for, sent to every worker and told to the faces; `None`
/// when nothing changed.
fn apply_settings(net: &Net, settings_tx: &watch::Sender<Settings>, cmd: Command) -> Option<Settings> {
    let before = net.settings();
    let mut s = before;
    match cmd {
        Command::ToggleFix(fix) => s.fixes.set(fix, !s.fixes.get(fix)),
        Command::SetFix(fix, on) => s.fixes.set(fix, on),
        Command::SetConcurrency(c) => {
            s.concurrency = c.clamp(1, MAX_WORKERS);
            (s.auto, s.why) = (false, why::BY_HAND);
        }
        Command::Auto if !s.auto => (s.auto, s.why) = (true, why::AUTO_AGAIN),
        Command::Auto => {}
        Command::SetStagger(secs) if secs.is_finite() => s.stagger_secs = secs.clamp(0.0, 120.0),
        Command::SetStagger(_) => {}
        Command::Pause => s.paused = true,
        Command::Resume => s.paused = false,
        Command::Stop => {}
    }
    if s == before {
        return None;
    }
    let _ = settings_tx.send(s);
    if s.paused != before.paused {
        net.pacer.set_paused(s.paused);
    }
    let pacing = (s.fixes.batching != before.fixes.batching).then(|| net.pacer.set_pacing(s.fixes.batching));
    for fix in Fix::ALL {
        if s.fixes.get(fix) != before.fixes.get(fix) {
            let state = if s.fixes.get(fix) { "ON" } else { "OFF" };
            net.emitter.notice(Level::Info, format!("fix {} ({}) {state}", fix.number(), fix.name()));
        }
    }
    if s.paused != before.paused {
        net.emitter.notice(Level::Info, if s.paused { "paused" } else { "resumed" });
    }
    if let Some(news) = pacing.flatten() {
        super::fetch::tell_pace(net, news);
    }
    net.emit(Event::Settings(s));
    Some(s)
}

async fn finish(ctx: Arc<Ctx>, info: &RunInfo, plan: &Plan, writer: Writer, outcome: Outcome) -> Report {
    // Everything queued must be committed before the figures are taken.
    let (flushed_tx, flushed_rx) = oneshot::channel();
    let writer_alive = ctx.writer.send(WriteMsg::Flush(flushed_tx)).await.is_ok() && flushed_rx.await.is_ok();
    let mut report = figures(&ctx, info, plan, &outcome);
    if writer_alive {
        let _ = ctx.writer.send(WriteMsg::Finish(Box::new(report.clone()))).await;
    }
    let emitter = ctx.emitter.clone();
    drop(ctx); // the last sender: the writer drains and ends
    let writer_result = tokio::task::spawn_blocking(move || writer.finish()).await.unwrap_or(Err("join".into()));
    if let Err(e) = writer_result {
        record_writer_failure(&mut report, info, e).await;
    }
    tracing::info!(status = %report.status, wall_s = report.wall_s, requests = report.requests, bars = report.bars, "run finished");
    emitter.emit(Event::RunFinished(Box::new(report.clone())));
    report
}

/// The report: the tally, how the run ended, the floor the bars found allow, and the
/// tickers that had nothing in range.
fn figures(ctx: &Ctx, info: &RunInfo, plan: &Plan, outcome: &Outcome) -> Report {
    let tally = ctx.emitter.tally();
    let fatal = ctx.fatal.lock().clone();
    let left = ctx.sched.lock().unfinished();
    let (status, note) = match (&fatal, outcome.stopped_by_user) {
        (Some(reason), _) => (RunStatus::Failed, Some(format!("{reason}; the next run resumes from what was stored"))),
        (None, true) if left => (
            RunStatus::Stopped,
            Some("stopped on request (a key or a signal); the next run resumes where this one stopped".to_string()),
        ),
        (None, true) => (RunStatus::Stopped, Some("stopped on request (a key or a signal)".to_string())),
        (None, false) if tally.windows_failed > 0 => {
            (RunStatus::Done, Some(format!("{} windows failed; see the log for each reason", tally.windows_failed)))
        }
        (None, false) => (RunStatus::Done, None),
    };
    let settings = ctx.settings();
    let end = RunEnd {
        status,
        note,
        fixes: settings.fixes,
        workers: settings.workers(),
        peak_rss_mb: peak_rss_mb(),
        cpu_pct: outcome.cpu_pct,
    };
    let mut report = tally.report(info, outcome.wall_s, end);
    report.concurrency_auto = settings.auto && settings.fixes.parallel;
    report.concurrency_why = settings.why.to_string();
    let base: Vec<u64> = ctx.seen.lock().iter().map(|s| s.base).collect();
    report.floor_requests = plan.floor_after(&base) + info.reference_requests + info.split_requests;
    let request_s = if tally.requests > 0 { tally.api_s / tally.requests as f64 } else { 0.0 };
    report.floor_s = report::floor_seconds(report.floor_requests, info.quota_per_min as f64, request_s);
    report.planned_requests = info.estimate.requests;
    report.empty_tickers = empty_tickers(ctx, plan);
    if !report.empty_tickers.is_empty() {
        ctx.emitter.notice(
            Level::Warn,
            format!(
                "no bars in range for {}: unknown to the server, renamed (FB became META in 2022), or not trading then",
                report.empty_tickers.join(", ")
            ),
        );
    }
    report
}

/// Tickers with a row that holds no bar in its whole range, each named once.
fn empty_tickers(ctx: &Ctx, plan: &Plan) -> Vec<String> {
    let empty = ctx.sched.lock().empty_rows();
    let mut names: Vec<String> = Vec::new();
    for row in empty {
        let t = &plan.rows[row].ticker;
        if !names.contains(t) {
            names.push(t.clone());
        }
    }
    names
}

async fn record_writer_failure(report: &mut Report, info: &RunInfo, e: String) {
    report.status = RunStatus::Failed;
    report.note =
        Some(format!("database write failed: {e}; every page committed before it is kept, and the next run resumes"));
    // The writer could not record the run; try once more on a connection of our own.
    let (db, id, note) = (std::path::PathBuf::from(&info.db), report.run_id, report.note.clone().unwrap_or_default());
    let recorded = tokio::task::spawn_blocking(move || crate::store::record_failed_run(&db, id, &note)).await;
    if let Ok(Err(e)) = recorded {
        tracing::warn!(error = %crate::store::explain(&e), "the failed run could not be recorded; the next run marks it interrupted");
    }
}
