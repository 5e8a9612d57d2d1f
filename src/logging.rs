//! Logs go to a daily-rolling file in the data directory, never to the terminal the
//! dashboard owns. `BARFILL_LOG` filters (default `barfill=info`).

use std::path::Path;

use tracing_appender::non_blocking::WorkerGuard;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub const LOG_FILE_PREFIX: &str = "barfill.log";

/// Starts file logging; keep the guard alive until exit so the last lines are flushed.
/// `extra` receives the same events (the dashboard's log pane).
pub fn init<L>(dir: &Path, extra: Option<L>) -> Result<WorkerGuard, String>
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create log directory {}: {e}", dir.display()))?;
    // Two weeks of daily files: enough to look back at a run, not enough to fill a disk.
    let appender = tracing_appender::rolling::RollingFileAppender::builder()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix(LOG_FILE_PREFIX)
        .max_log_files(14)
        .build(dir)
        .map_err(|e| format!("cannot open a log file in {}: {e}", dir.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("BARFILL_LOG").unwrap_or_else(|_| EnvFilter::new("barfill=info"));
    let file = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false).with_target(false);
    tracing_subscriber::registry()
        .with(extra)
        .with(file.with_filter(filter))
        .try_init()
        .map_err(|e| format!("cannot start logging: {e}"))?;
    Ok(guard)
}
