//! The command line: parsing, and what each command does with the library. One file per
//! command; this one holds the arguments and the dispatch.

mod bench;
mod plan;
mod run;
mod sim;
mod source;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, Dirs, Overrides};

pub use plan::describe_plan;
pub use status::describe_status;

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
    /// What the database holds per ticker and timeframe, and the missing sessions
    /// (reads the database only).
    Status(StatusArgs),
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
    /// Fetch every window again, even those already stored (bars are upserted, never
    /// duplicated): the way to time fixes against each other on the same work.
    #[arg(long)]
    pub refetch: bool,
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
pub struct StatusArgs {
    #[command(flatten)]
    pub common: Common,
    /// Print JSON (stable keys) instead of the table.
    #[arg(long)]
    pub json: bool,
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

pub(crate) fn load_config(common: &Common) -> Result<Config, ExitCode> {
    match config::load(&Dirs::platform(), common.config.as_deref(), &overrides(common), &env_var) {
        Ok(mut c) => {
            c.refetch = common.refetch;
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
        None => run::run(&cli.common, false, None).await,
        Some(Cmd::Run(args)) => {
            let mut common = args.common.clone();
            merge(&mut common, &cli.common);
            run::run(&common, args.headless, args.json.as_deref()).await
        }
        Some(Cmd::Plan(args)) => {
            let mut common = args.common.clone();
            merge(&mut common, &cli.common);
            plan::plan_command(&common)
        }
        Some(Cmd::Status(args)) => {
            let mut common = args.common.clone();
            merge(&mut common, &cli.common);
            status::status_command(&common, args.json)
        }
        Some(Cmd::Sim(args)) => sim::sim_command(args).await,
        Some(Cmd::Bench(args)) => bench::bench_command(args).await,
    }
}

/// Flags given before the subcommand count too (`barfill --db x run`).
fn merge(into: &mut Common, outer: &Common) {
    macro_rules! take {
        ($($f:ident),*) => { $( if into.$f.is_none() { into.$f = outer.$f.clone(); } )* };
    }
    take!(config, db, symbols, timeframes, from, to, base_url, quota, sim_quota, fixes, concurrency, stagger, log_dir);
    into.refetch |= outer.refetch;
}
