//! The command line: parsing, and what each command does with the library.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, ApiKey, Config, Dirs, Faults, Overrides};
use crate::engine;
use crate::plan::{self, Plan, Range};
use crate::report::Report;
use crate::sim::{Sim, SimOptions};
use crate::{calendar, headless, logging, ui};

/// Exit codes: 0 all stored; 1 the run failed or stopped on an error; 2 bad input;
/// 3 finished with some windows failed; 130 stopped by a signal.
pub mod exit {
    pub const FAILED: u8 = 1;
    pub const BAD_INPUT: u8 = 2;
    pub const PARTIAL: u8 = 3;
    pub const INTERRUPTED: u8 = 130;
}

#[derive(Parser, Debug)]
#[command(
    name = "barfill",
    version,
    about = "Backfill Polygon/Massive OHLCV bars into SQLite and watch where the time goes",
    long_about = "Backfill Polygon/Massive OHLCV bars into SQLite and watch where the time goes.\n\n\
        Without a subcommand, opens the live dashboard. With no API key configured \
        (MASSIVE_API_KEY, POLYGON_API_KEY or [api] key), everything runs against the \
        Polygon-compatible simulator built into the binary."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
    #[command(flatten)]
    pub common: Common,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run one backfill (the dashboard, or --headless for progress on stderr).
    Run(RunArgs),
    /// Print the request plan without fetching: jobs, requests, time at the quota.
    Plan(PlanArgs),
    /// Run the simulator as a standalone server on 127.0.0.1.
    Sim(SimArgs),
    /// Measure each fix against the floor the quota allows, on the embedded simulator.
    Bench(BenchArgs),
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// quick (about two minutes), seed (the original scale: minutes per step) or latency.
    #[arg(long, default_value = "quick")]
    pub profile: String,
    /// Steps to run, comma-separated, from baseline,fix1,fix1+2,fix1+2+3,best.
    #[arg(long, value_name = "LIST")]
    pub steps: Option<String>,
    /// Write bench.md and bench.json into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the latency-bound profile that follows quick and seed.
    #[arg(long)]
    pub skip_latency: bool,
}

/// Flags that override the config file.
#[derive(Args, Debug, Default, Clone)]
pub struct Common {
    /// Config file (default: the platform config dir's barfill/config.toml).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database file.
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Tickers, comma-separated (case-sensitive).
    #[arg(long, value_name = "A,B")]
    pub symbols: Option<String>,
    /// Timeframes, comma-separated, e.g. 1/minute,1/day.
    #[arg(long, value_name = "TF,TF")]
    pub timeframes: Option<String>,
    /// First trading day, YYYY-MM-DD.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last trading day, YYYY-MM-DD (inclusive).
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    /// API base URL (default https://api.massive.com; with no key, a keyless server).
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Requests per minute barfill keeps to.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub quota: Option<i64>,
    /// The embedded simulator's own quota per window (per minute by default), to see a
    /// stricter real limit.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub sim_quota: Option<i64>,
    /// Fixes on: 1 backoff, 2 batching, 3 parallel; e.g. 1,2,3 or none.
    #[arg(long, value_name = "1,2,3|none")]
    pub fixes: Option<String>,
    /// Workers when fix 3 is on.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub concurrency: Option<i64>,
    /// Seconds between worker starts when fix 3 is on.
    #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
    pub stagger: Option<f64>,
    /// Directory for the log file.
    #[arg(long, value_name = "DIR")]
    pub log_dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: Common,
    /// No dashboard: progress on stderr, the report on stdout.
    #[arg(long)]
    pub headless: bool,
    /// Also write the report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: Common,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    /// Config file whose [sim] table gives the defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 9090)]
    pub port: u16,
    /// Address to bind. Anything but loopback makes the server reachable from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Requests accepted per window before 429 (per minute with the default 60 s window).
    #[arg(long, value_name = "N")]
    pub quota: Option<u32>,
    /// Length of the quota window in seconds.
    #[arg(long, value_name = "S")]
    pub window_secs: Option<f64>,
    /// Fixed latency per response, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub latency_ms: Option<u64>,
    /// Extra latency per 1000 bars in a response, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub latency_per_1k: Option<f64>,
    /// Require this key (Bearer header or apiKey parameter); 401 otherwise.
    #[arg(long, value_name = "K")]
    pub api_key: Option<String>,
    /// Faults as NAME=FRACTION, comma-separated: 5xx, drop, truncate, malformed, stall, empty, repeat.
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,
    /// Send Retry-After on 429.
    #[arg(long)]
    pub retry_after: bool,
    /// Answer 403 for history before this date, as a plan limit does.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub plan_from: Option<String>,
}

fn overrides(c: &Common) -> Overrides {
    Overrides {
        db: c.db.clone(),
        symbols: c.symbols.clone(),
        timeframes: c.timeframes.clone(),
        from: c.from.clone(),
        to: c.to.clone(),
        base_url: c.base_url.clone(),
        quota: c.quota,
        sim_quota: c.sim_quota,
        fixes: c.fixes.clone(),
        concurrency: c.concurrency,
        stagger_secs: c.stagger,
        log_dir: c.log_dir.clone(),
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn load_config(common: &Common) -> Result<Config, ExitCode> {
    match config::load(&Dirs::platform(), common.config.as_deref(), &overrides(common), &env_var) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            Ok(c)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitCode::from(exit::BAD_INPUT))
        }
    }
}

pub async fn main(cli: Cli) -> ExitCode {
    match cli.command {
        None => run(&cli.common, false, None).await,
        Some(Cmd::Run(args)) => {
            let mut common = args.common.clone();
            merge(&mut common, &cli.common);
            run(&common, args.headless, args.json.as_deref()).await
        }
        Some(Cmd::Plan(args)) => {
            let mut common = args.common.clone();
            merge(&mut common, &cli.common);
            plan_command(&common)
        }
        Some(Cmd::Sim(args)) => sim_command(args).await,
        Some(Cmd::Bench(args)) => bench_command(args).await,
    }
}

/// Flags given before the subcommand count too (`barfill --db x run`).
fn merge(into: &mut Common, outer: &Common) {
    macro_rules! take {
        ($($f:ident),*) => { $( if into.$f.is_none() { into.$f = outer.$f.clone(); } )* };
    }
    take!(config, db, symbols, timeframes, from, to, base_url, quota, sim_quota, fixes, concurrency, stagger, log_dir);
}

fn exit_for(report: &Report) -> ExitCode {
    match report.status.as_str() {
        "done" if report.failed_jobs == 0 => ExitCode::SUCCESS,
        "done" => ExitCode::from(exit::PARTIAL),
        "stopped" => ExitCode::from(exit::INTERRUPTED),
        _ => ExitCode::from(exit::FAILED),
    }
}

async fn run(common: &Common, headless_flag: bool, json: Option<&std::path::Path>) -> ExitCode {
    let config = match load_config(common) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (store, plan) = match engine::prepare(&config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if let Some(path) = json
        && let Err(e) = check_writable(path)
    {
        eprintln!("error: --json {}: {e}", path.display());
        return ExitCode::from(exit::BAD_INPUT);
    }
    // Like oha: the dashboard only when both streams are a terminal, so pipes, files and
    // CI get the headless face without asking.
    let dashboard = !headless_flag && std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    let feed = dashboard.then(ui::LogFeed::new);
    let (_log_guard, feed) = match logging::init(&config.log_dir, feed.as_ref().map(|f| f.layer())) {
        Ok(g) => (Some(g), feed),
        Err(e) => {
            eprintln!("warning: {e}; running without a log file");
            (None, None)
        }
    };
    let (source, sim) = match engine::resolve_source(&config).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot start the embedded simulator: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    if sim.is_some() {
        let text = format!(
            "No API key configured (MASSIVE_API_KEY / POLYGON_API_KEY): running against the embedded simulator at {}.",
            source.base_url
        );
        if dashboard {
            tracing::info!("{text}");
        } else {
            eprintln!("{text}");
        }
    }
    tracing::info!(source = %source.label, base = %source.base_url, db = %config.db.display(), "run starting");
    let config = Arc::new(config);
    let handle = match engine::start(config.clone(), source.clone(), store, plan) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let (reports, abandoned, run_lost, errors) = if dashboard {
        let out = ui::run_dashboard(config.clone(), source, handle, feed).await;
        (out.reports, out.abandoned, out.run_lost, out.errors)
    } else {
        (vec![headless::drive(handle).await], false, false, Vec::new())
    };
    if let Some(sim) = sim {
        sim.stop().await;
    }
    for (i, report) in reports.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", report.to_text());
    }
    for e in &errors {
        eprintln!("error: {e}");
    }
    if abandoned {
        eprintln!("barfill: quit without waiting for the run to finish; the next run resumes from what was written");
        return ExitCode::from(exit::INTERRUPTED);
    }
    let Some(report) = reports.last().filter(|_| !run_lost) else {
        return ExitCode::from(exit::FAILED);
    };
    if let Some(path) = json
        && let Err(e) = headless::write_json(path, report)
    {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::from(exit::FAILED);
    }
    exit_for(report)
}

fn check_writable(path: &std::path::Path) -> std::io::Result<()> {
    if path.is_dir() {
        return Err(std::io::Error::other("is a directory"));
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !parent.is_dir() {
        return Err(std::io::Error::other(format!("directory {} does not exist", parent.display())));
    }
    Ok(())
}

fn plan_command(common: &Common) -> ExitCode {
    let config = match load_config(common) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let covered = match crate::store::read_covered(&config.db) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let plan = Plan::new(&config.symbols, &config.timeframes, Range { from: config.from, to: config.to }, &covered);
    print!("{}", describe_plan(&config, &plan));
    ExitCode::SUCCESS
}

/// The plan as text: per row, then totals for the configured fixes, the baseline and
/// the floor.
pub fn describe_plan(config: &Config, plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let source = if config.uses_embedded_sim() {
        "embedded simulator".to_string()
    } else {
        config.base_url.clone().unwrap_or_else(|| config::DEFAULT_BASE_URL.into())
    };
    let _ = writeln!(
        s,
        "Plan: {} symbols x {} timeframes, {} ({} trading days), against the {source}",
        plan.symbols.len(),
        plan.timeframes.len(),
        plan.range,
        plan.range.weekdays()
    );
    let _ = writeln!(s, "{:<10} {:<10} {:>12} {:>9} {:>9}", "symbol", "timeframe", "days left", "requests", "baseline");
    for row in &plan.rows {
        let left: u64 = row.pending.iter().map(|r| r.weekdays() as u64).sum();
        let (fixed, base) = if left == 0 {
            (0, 0)
        } else {
            (
                plan::requests_for(row.timeframe, left, crate::polygon::client::MAX_LIMIT),
                plan::requests_for(row.timeframe, left, crate::polygon::client::DEFAULT_LIMIT),
            )
        };
        let _ =
            writeln!(s, "{:<10} {:<10} {:>12} {:>9} {:>9}", row.ticker, row.timeframe.to_string(), left, fixed, base);
    }
    let quota = config.quota_per_min as f64;
    let pace = quota * (1.0 - config.headroom_pct / 100.0);
    let with = plan.estimate(config.fixes.batching);
    let base = plan.estimate(false);
    let floor = plan.floor_requests();
    let _ = writeln!(
        s,
        "With fixes {}: {} windows, {} requests{}; at least {:.0}s at {:.0}/min",
        config.fixes.label(),
        with.windows,
        with.requests,
        if with.grouped_days > 0 { format!(" ({} grouped-daily days)", with.grouped_days) } else { String::new() },
        plan::seconds_at_quota(with.requests, if config.fixes.batching { pace } else { quota }),
        if config.fixes.batching { pace } else { quota },
    );
    let _ = writeln!(
        s,
        "Baseline (no fixes): {} requests; at least {:.0}s at {}/min",
        base.requests,
        plan::seconds_at_quota(base.requests, quota),
        config.quota_per_min
    );
    let _ = writeln!(
        s,
        "Floor: {} requests = {:.0}s at the quota of {}/min",
        floor,
        plan::seconds_at_quota(floor, quota),
        config.quota_per_min
    );
    if floor == 0 {
        let _ = writeln!(s, "Everything is already stored in {}.", config.db.display());
    }
    s
}

async fn sim_command(args: SimArgs) -> ExitCode {
    let common = Common { config: args.config.clone(), ..Default::default() };
    let config = match load_config(&common) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = SimOptions::from_config(&config);
    if let Some(q) = args.quota {
        if q == 0 {
            eprintln!("error: --quota: must be at least 1");
            return ExitCode::from(exit::BAD_INPUT);
        }
        opts.quota = Some(q);
    }
    if let Some(w) = args.window_secs {
        if !(w > 0.0 && w.is_finite()) {
            eprintln!("error: --window-secs: must be above 0");
            return ExitCode::from(exit::BAD_INPUT);
        }
        opts.window = std::time::Duration::from_secs_f64(w);
    }
    if let Some(l) = args.latency_ms {
        opts.latency_ms = l;
    }
    if let Some(l) = args.latency_per_1k {
        opts.latency_ms_per_1k_bars = l.max(0.0);
    }
    if let Some(k) = args.api_key.filter(|k| !k.is_empty()) {
        opts.api_key = Some(ApiKey::new(k));
    }
    if let Some(f) = &args.faults {
        match Faults::parse(f) {
            Ok(f) => opts.faults = f,
            Err(e) => {
                eprintln!("error: --faults: {e}");
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    }
    if args.retry_after {
        opts.retry_after = true;
    }
    if let Some(p) = &args.plan_from {
        match calendar::parse_date(p) {
            Ok(d) => opts.plan_from = Some(d),
            Err(e) => {
                eprintln!("error: --plan-from: {e}");
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    }
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: binding to {}: the simulator will be reachable from other machines, not just this one",
            args.bind
        );
    }
    let summary = format!(
        "quota {}/{}s, latency {}ms + {}ms per 1k bars{}{}",
        opts.quota.unwrap_or(0),
        opts.window.as_secs_f64(),
        opts.latency_ms,
        opts.latency_ms_per_1k_bars,
        if opts.api_key.is_some() { ", key required" } else { "" },
        if opts.faults.any() { ", faults on" } else { "" }
    );
    let sim = match Sim::start(opts, SocketAddr::new(args.bind, args.port)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}:{}: {e}", args.bind, args.port);
            return ExitCode::from(exit::FAILED);
        }
    };
    println!("barfill simulator listening on {} ({summary}); Ctrl-C to stop", sim.base_url());
    if std::io::stdout().is_terminal() {
        println!("Try: barfill run --headless --base-url {}", sim.base_url());
    }
    headless::wait_for_signal().await;
    let counts = sim.stats.snapshot();
    sim.stop().await;
    println!(
        "served {} requests: {} ok, {} rate-limited, {} unauthorized, {} bars",
        counts.requests, counts.ok, counts.rate_limited, counts.unauthorized, counts.bars_served
    );
    ExitCode::SUCCESS
}

async fn bench_command(args: BenchArgs) -> ExitCode {
    use crate::bench::{self, Profile, Workload};
    let profile = match Profile::parse(&args.profile) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --profile: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let steps: Option<Vec<String>> = args.steps.as_ref().map(|s| s.split(',').map(|x| x.trim().to_string()).collect());
    if let Some(list) = &steps
        && let Some(bad) = list.iter().find(|s| !bench::STEP_NAMES.contains(&s.as_str()))
    {
        eprintln!("error: --steps: unknown step '{bad}'; use {}", bench::STEP_NAMES.join(","));
        return ExitCode::from(exit::BAD_INPUT);
    }
    let scratch = std::env::temp_dir().join(format!("barfill-bench-{}", std::process::id()));
    let progress = |line: &str| eprintln!("{line}");
    let headroom = Config::defaults(&Dirs::platform()).headroom_pct;
    let mut profiles = Vec::new();
    let mut order = vec![(profile, steps.clone())];
    if profile != Profile::Latency && !args.skip_latency {
        order.push((Profile::Latency, None));
    }
    for (p, only) in order {
        let w = Workload::for_profile(p);
        match bench::run_profile(&w, only.as_deref(), &scratch, headroom, &progress).await {
            Ok(r) => profiles.push(r),
            Err(e) => {
                eprintln!("error: bench profile {}: {e}", p.name());
                let _ = std::fs::remove_dir_all(&scratch);
                return ExitCode::from(exit::FAILED);
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let report = bench::BenchReport {
        machine: bench::machine(),
        command,
        floor_s: profiles[0].floor_s,
        steps: profiles[0].steps.clone(),
        profiles,
    };
    print!("{}", bench::to_markdown(&report));
    if let Some(dir) = &args.out {
        match bench::write_outputs(dir, &report) {
            Ok((md, json)) => eprintln!("wrote {} and {}", md.display(), json.display()),
            Err(e) => {
                eprintln!("error: cannot write to {}: {e}", dir.display());
                return ExitCode::from(exit::FAILED);
            }
        }
    }
    ExitCode::SUCCESS
}
