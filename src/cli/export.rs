//! `barfill export`: the database's bars into Parquet or CSV files (see `crate::export`
//! and docs/export.md). Every flag is checked before anything is read or written.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::{Flags, exit, load_config};
use crate::calendar::{self, Day};
use crate::config::{ConfigError, validate};
use crate::export::{self, ExportError, Format, Progress, Request, Selection, Shape, Summary, View};

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Directory to write into (made if missing). Each partition written replaces the one
    /// there; partitions outside the selection are left alone.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// File format: Parquet (ZSTD) or CSV, in the same partitions.
    #[arg(long, value_enum, default_value_t = FormatArg::Parquet)]
    pub format: FormatArg,
    /// Read the bars_adjusted view (split-adjusted prices and volumes) instead of bars.
    #[arg(long)]
    pub adjusted: bool,
    /// ZSTD level of the Parquet files, 1 to 22: higher is smaller and slower.
    #[arg(long, value_name = "N", default_value_t = export::DEFAULT_ZSTD_LEVEL, allow_negative_numbers = true)]
    pub zstd_level: i32,
    /// Config file (default: the platform config dir's barfill/config.toml), for its `db`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite database file (opened read-only).
    #[arg(long, value_name = "FILE")]
    pub db: Option<PathBuf>,
    /// Only these tickers, comma-separated (case-sensitive). Default: every ticker stored.
    #[arg(long, value_name = "A,B")]
    pub symbols: Option<String>,
    /// Only the tickers in this file: one per line (or several separated by spaces).
    #[arg(long, value_name = "FILE")]
    pub symbols_file: Option<PathBuf>,
    /// Only these timeframes, e.g. 1/minute,1/day. Default: every timeframe stored.
    #[arg(long, value_name = "TF,TF")]
    pub timeframes: Option<String>,
    /// First New York trading day to export, YYYY-MM-DD. Default: the first stored.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last New York trading day to export, YYYY-MM-DD (inclusive). Default: the last stored.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Parquet,
    Csv,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Parquet => Format::Parquet,
            FormatArg::Csv => Format::Csv,
        }
    }
}

pub(super) fn export_command(args: &ExportArgs, outer: &Flags) -> ExitCode {
    let request = match request(args, outer) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let progress = TerminalBar::new();
    let started = Instant::now();
    let result = export::export(&request, progress.as_ref().map_or(&export::Quiet as &dyn Progress, |p| p));
    if let Some(p) = &progress {
        p.0.finish_and_clear();
    }
    match result {
        Ok(summary) => {
            println!("{}", describe(&request, &summary, started.elapsed().as_secs_f64()));
            ExitCode::SUCCESS
        }
        Err(e @ ExportError::Store(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::BAD_INPUT)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// The export the flags ask for, or exit code 2 with the flag named. The dates are
/// filters, open at either end, so they are checked here rather than as a run's range.
fn request(args: &ExportArgs, outer: &Flags) -> Result<Request, ExitCode> {
    let mut flags = Flags {
        config: args.config.clone(),
        db: args.db.clone(),
        symbols: args.symbols.clone(),
        symbols_file: args.symbols_file.clone(),
        timeframes: args.timeframes.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        ..Flags::default()
    }
    .or(outer);
    let (from, to) = (flags.from.take(), flags.to.take());
    let config = load_config(&flags)?;
    let day = |v: Option<String>, flag: &str| -> Result<Option<Day>, ExitCode> {
        v.map(|s| validate::date(&s)).transpose().map_err(|m| bad(&format!("--{flag}"), m))
    };
    let (from, to) = (day(from, "from")?, day(to, "to")?);
    if let (Some(f), Some(t)) = (from, to)
        && f > t
    {
        let (f, t) = (calendar::format_day(f), calendar::format_day(t));
        return Err(bad("--to", format!("{t} is before --from ({f})")));
    }
    if !(1..=22).contains(&args.zstd_level) {
        return Err(bad("--zstd-level", format!("{} is not a level from 1 to 22", args.zstd_level)));
    }
    if args.out.as_os_str().is_empty() {
        return Err(bad("--out", "the path is empty".into()));
    }
    if args.out.exists() && !args.out.is_dir() {
        return Err(bad("--out", format!("{} exists and is not a directory", args.out.display())));
    }
    let selection = Selection {
        tickers: (flags.symbols.is_some() || flags.symbols_file.is_some()).then_some(config.symbols),
        timeframes: flags.timeframes.is_some().then_some(config.timeframes),
        from,
        to,
    };
    let shape = match crate::testhooks::export_row_group_rows() {
        Some(rows) => Shape { row_group_rows: rows, ..Shape::DEFAULT },
        None => Shape::DEFAULT,
    };
    Ok(Request {
        db: config.db,
        out: args.out.clone(),
        format: args.format.into(),
        view: if args.adjusted { View::Adjusted } else { View::Bars },
        selection,
        shape,
        zstd_level: args.zstd_level,
    })
}

fn bad(place: &str, message: String) -> ExitCode {
    super::refuse(&ConfigError { place: place.into(), message })
}

/// The line printed at the end, with the figures docs/export.md reports.
fn describe(request: &Request, s: &Summary, secs: f64) -> String {
    let view = match request.view {
        View::Bars => "bars",
        View::Adjusted => "bars_adjusted",
    };
    let per_bar = if s.bars > 0 { format!(", {:.1} B a bar", s.bytes as f64 / s.bars as f64) } else { String::new() };
    let rate = if secs > 0.0 { s.bars as f64 / secs } else { 0.0 };
    format!(
        "exported {} bars of {view} into {}: {} partitions, {} files, {:.1} MB{per_bar}; {secs:.2} s, {:.2} M bars/s",
        s.bars,
        request.out.display(),
        s.partitions,
        s.files,
        s.bytes as f64 / 1e6,
        rate / 1e6
    )
}

/// A progress bar on stderr, only when stderr is a terminal.
struct TerminalBar(ProgressBar);

impl TerminalBar {
    fn new() -> Option<TerminalBar> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "exporting [{bar:30}] {percent:>3}% {human_pos}/{human_len} bars, {per_sec}, {eta} left",
        )
        .expect("valid template")
        .progress_chars("=> ");
        bar.set_style(style);
        Some(TerminalBar(bar))
    }
}

impl Progress for TerminalBar {
    fn wants_total(&self) -> bool {
        true
    }

    fn total(&self, bars: u64) {
        self.0.set_length(bars);
    }

    fn written(&self, bars: u64) {
        self.0.inc(bars);
    }
}
