//! `barfill` and `barfill run`: one backfill, on the dashboard or headless.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::Arc;

use super::{Flags, exit, load_config};
use crate::engine;
use crate::report::{Report, RunStatus};
use crate::ui::Outcome;
use crate::{headless, logging, ui};

/// A run stopped by a signal exits 130; one stopped from the dashboard's keys (`q`, `s`, or
/// Ctrl-C, which the dashboard reads as a key) was stopped as asked, and exits 0.
fn exit_for(report: &Report, signalled: bool) -> ExitCode {
    match report.status {
        RunStatus::Done if report.failed_jobs == 0 => ExitCode::SUCCESS,
        RunStatus::Done => ExitCode::from(exit::PARTIAL),
        RunStatus::Stopped if signalled => ExitCode::from(exit::INTERRUPTED),
        RunStatus::Stopped => ExitCode::SUCCESS,
        _ => ExitCode::from(exit::FAILED),
    }
}

pub(super) async fn run(flags: &Flags, headless_flag: bool, json: Option<&std::path::Path>) -> ExitCode {
    let config = match load_config(flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Every check of the input before the database is touched: bad input writes nothing.
    if let Some(path) = json
        && let Err(e) = check_writable(path)
    {
        eprintln!("error: --json {}: {e}", path.display());
        return ExitCode::from(exit::BAD_INPUT);
    }
    let (store, plan) = match engine::prepare(&config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
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
    let (source, sim) = match super::source::resolve(&config).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot start the embedded simulator: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    if sim.is_some() {
        say_simulator(&source.base_url, dashboard);
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
    let outcome = if dashboard {
        ui::run_dashboard(config.clone(), source, handle, feed).await
    } else {
        // Headless, only a signal stops a run.
        match headless::drive(handle).await {
            Ok(report) => Outcome { reports: vec![report], signalled: true, ..Outcome::default() },
            Err(e) => Outcome { run_lost: true, signalled: true, errors: vec![e.to_string()], ..Outcome::default() },
        }
    };
    if let Some(sim) = sim {
        sim.stop().await;
    }
    conclude(&outcome, json)
}

fn say_simulator(base_url: &str, dashboard: bool) {
    let text = format!(
        "No API key configured (MASSIVE_API_KEY / POLYGON_API_KEY): running against the embedded simulator at {base_url}."
    );
    if dashboard {
        tracing::info!("{text}");
    } else {
        eprintln!("{text}");
    }
}

/// Prints every run's report and what went wrong, writes the JSON, and picks the exit code.
fn conclude(outcome: &Outcome, json: Option<&std::path::Path>) -> ExitCode {
    for (i, report) in outcome.reports.iter().enumerate() {
        if i > 0 {
            println!();
        }
        print!("{}", report.to_text());
    }
    for e in &outcome.errors {
        eprintln!("error: {e}");
    }
    if outcome.abandoned {
        eprintln!("barfill: quit without waiting for the run to finish; the next run resumes from what was written");
        return ExitCode::from(exit::INTERRUPTED);
    }
    let Some(report) = outcome.reports.last().filter(|_| !outcome.run_lost) else {
        return ExitCode::from(exit::FAILED);
    };
    if let Some(path) = json
        && let Err(e) = headless::write_json(path, report)
    {
        eprintln!("error: cannot write {}: {e}", path.display());
        return ExitCode::from(exit::FAILED);
    }
    exit_for(report, outcome.signalled)
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
