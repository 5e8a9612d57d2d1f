//! The dashboard face: runs the backfill in background tasks and shows it live.
//!
//! State (`app`), key bindings (`keys`) and drawing (`draw`) are kept apart; `dashboard`
//! is the loop that feeds the state and draws it, `terminal` owns the screen and
//! `signals` turns SIGTERM, SIGINT and SIGHUP into a clean stop.

pub mod app;
mod dashboard;
pub mod draw;
pub mod format;
pub mod keys;
pub mod log_capture;
mod signals;
pub mod svg;
pub mod terminal;

#[cfg(test)]
mod fixtures;

pub use dashboard::run_dashboard;
pub use log_capture::LogFeed;

use crate::report::Report;

/// How the dashboard ended.
#[derive(Default)]
pub struct Outcome {
    /// Every run's report, oldest first (`r` starts more than one).
    pub reports: Vec<Report>,
    /// Quit twice: left without waiting for the last run's report.
    pub abandoned: bool,
    /// The last run's task ended without a report (it panicked).
    pub run_lost: bool,
    /// SIGINT, SIGTERM or SIGHUP asked to stop (not a key: Ctrl-C on the dashboard is one).
    pub signalled: bool,
    /// What went wrong on the way, to print once the terminal is back.
    pub errors: Vec<String>,
}
