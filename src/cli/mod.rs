//! The command line: parsing, and what each command does with the library. One file per
//! command; this one holds the arguments and the dispatch.

mod bench;
mod export;
mod plan;
mod run;
mod screenshot;
mod sim;
mod source;
mod status;
mod tickers;
mod usage;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::config::{self, Config, ConfigError, Dirs, Flags, SimFlags};

pub use export::{ExportArgs, FormatArg};
pub use plan::describe_plan;
pub use status::{describe_rejected, describe_status, rejected_series};

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
    pub flags: Flags,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Run one backfill (the dashboard, or --headless for progress on stderr).
    Run(RunArgs),
    /// Print the request plan without fetching: jobs, requests, time at the quota.
    Plan(PlanArgs),
    /// Print the tickers a run would fetch: the configured list, or what a universe
    /// (--universe) resolves to in reference data, with the requests that took.
    Tickers(PlanArgs),
    /// What the database holds per ticker and timeframe, and the missing sessions
    /// (reads the database only).
    Status(StatusArgs),
    /// Run the simulator as a standalone server on 127.0.0.1.
    Sim(SimArgs),
    /// Measure barfill on the embedded simulator: the fixes against the floor, the true
    /// floor on a real universe and a free key, throughput on a paid key (see --profile).
    Bench(BenchArgs),
    /// Write the database's bars as Parquet (or CSV) files in hive-style partitions
    /// (timeframe=1_minute/year=2024/part-0.parquet), for DuckDB, polars, pyarrow, Spark.
    Export(ExportArgs),
    /// Print a shell completion script to stdout, e.g.
    /// `barfill completions bash > ~/.local/share/bash-completion/completions/barfill`.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, e.g. `barfill man | man -l -`; with a
    /// subcommand, that command's own page (barfill-export(1)).
    Man(ManArgs),
    /// Draw one frame of the dashboard, in a real run on the embedded simulator, into an
    /// SVG (the README's picture), pressing keys on the way if asked.
    Screenshot(ScreenshotArgs),
}

#[derive(Args, Debug)]
pub struct ScreenshotArgs {
    #[command(flatten)]
    pub flags: Flags,
    /// Where the SVG goes.
    #[arg(long, value_name = "FILE", default_value = "assets/dashboard.svg")]
    pub out: PathBuf,
    /// Seconds into the run the frame shows.
    #[arg(long, value_name = "SECS", default_value_t = 40.0)]
    pub at: f64,
    /// The terminal's size in cells.
    #[arg(long, value_name = "WxH", default_value = "160x45")]
    pub size: String,
    /// Keys pressed on the way, SECS:KEY,... (1, 2, 3 toggle a fix; p pauses or resumes),
    /// e.g. 20:2,21:3.
    #[arg(long, value_name = "LIST", default_value = "")]
    pub keys: String,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The subcommand whose page to print (default: barfill's own, which lists them).
    #[arg(value_name = "SUBCOMMAND")]
    pub command: Option<String>,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// The workload and what it measures.
    #[arg(long, default_value = "quick", value_parser = bench_profiles())]
    pub profile: String,
    /// Steps to run, comma-separated: baseline,fix1,fix1+2,fix1+2+3,best for quick, seed and
    /// latency; baseline,defaults,best for universe and free; defaults,fixed1,fixed4,fixed8,
    /// fixed16 for unlimited. All of them when not given, but for the baseline of universe
    /// and free and the baseline and fix1 of latency (each runs when named).
    #[arg(long, value_name = "LIST")]
    pub steps: Option<String>,
    /// Write bench.md and bench.json into DIR.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Skip the latency-bound profile that follows quick and seed.
    #[arg(long)]
    pub skip_latency: bool,
}

/// Every profile, each with its one line of help.
fn bench_profiles() -> clap::builder::PossibleValuesParser {
    let values = crate::bench::Profile::ALL.map(|p| clap::builder::PossibleValue::new(p.name()).help(p.about()));
    clap::builder::PossibleValuesParser::new(values)
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub flags: Flags,
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
    pub flags: Flags,
}

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub flags: Flags,
    /// Print JSON (stable keys) instead of the table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    #[command(flatten)]
    pub sim: SimFlags,
    /// Port to listen on (0 picks a free one).
    #[arg(long, default_value_t = 9090)]
    pub port: u16,
    /// Address to bind. Anything but loopback makes the server reachable from other machines.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
}

impl Cli {
    /// Whether this is `barfill export`, whose allocation pattern wants other malloc
    /// settings (`crate::heap`).
    pub fn is_export(&self) -> bool {
        matches!(self.command, Some(Cmd::Export(_)))
    }
}

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The one way a command gets its configuration: warnings printed, bad input refused
/// with exit code 2 before anything is written.
pub(crate) fn load_config(flags: &Flags) -> Result<Config, ExitCode> {
    match config::load(&Dirs::platform(), flags, &env_var) {
        Ok(mut c) => {
            if let Some(scale) = crate::testhooks::retry_wait_scale() {
                c.retry.wait_scale = scale;
            }
            for w in &c.warnings {
                eprintln!("warning: {w}");
            }
            Ok(c)
        }
        Err(e) => Err(refuse(&e)),
    }
}

/// Bad input: said on stderr, exit code 2.
fn refuse(e: &ConfigError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(exit::BAD_INPUT)
}

pub async fn main(cli: Cli) -> ExitCode {
    // Flags given before the subcommand count too (`barfill --db x run`); those after it win.
    match cli.command {
        None => run::run(&cli.flags, false, None).await,
        Some(Cmd::Run(args)) => run::run(&args.flags.or(&cli.flags), args.headless, args.json.as_deref()).await,
        Some(Cmd::Plan(args)) => plan::plan_command(&args.flags.or(&cli.flags)),
        Some(Cmd::Tickers(args)) => tickers::tickers_command(&args.flags.or(&cli.flags)).await,
        Some(Cmd::Status(args)) => status::status_command(&args.flags.or(&cli.flags), args.json),
        Some(Cmd::Sim(args)) => sim::sim_command(args).await,
        Some(Cmd::Bench(args)) => bench::bench_command(args).await,
        Some(Cmd::Export(args)) => export::export_command(&args, &cli.flags),
        Some(Cmd::Completions(args)) => usage::completions(args.shell),
        Some(Cmd::Man(args)) => usage::man_page(args.command.as_deref()),
        Some(Cmd::Screenshot(args)) => screenshot::screenshot_command(&args).await,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_before_the_subcommand_still_count() {
        let argv = ["barfill", "--db", "x.db", "--quota", "9", "--jitter", "run", "--quota", "5", "--headless"];
        let cli = Cli::try_parse_from(argv).unwrap();
        let Some(Cmd::Run(args)) = cli.command else { panic!("run expected") };
        let flags = args.flags.or(&cli.flags);
        assert_eq!(flags.db.as_deref(), Some(std::path::Path::new("x.db")));
        assert_eq!(flags.quota, Some(5), "the subcommand's own flag wins");
        assert_eq!(flags.jitter, Some(true));
        let cli = Cli::try_parse_from(["barfill", "--refetch", "plan", "--concurrency", "auto"]).unwrap();
        let Some(Cmd::Plan(args)) = cli.command else { panic!("plan expected") };
        let flags = args.flags.or(&cli.flags);
        assert!(flags.refetch);
        assert_eq!(flags.concurrency.as_deref(), Some("auto"));
    }

    #[test]
    fn sim_takes_its_own_flags() {
        let cli =
            Cli::try_parse_from(["barfill", "sim", "--quota", "-1", "--latency-ms", "-5", "--port", "0"]).unwrap();
        let Some(Cmd::Sim(args)) = cli.command else { panic!("sim expected") };
        assert_eq!((args.sim.quota, args.sim.latency_ms, args.port), (Some(-1), Some(-5), 0));
    }
}
