//! Faults from the API, injected by the simulator: each run must end with exactly the
//! bars of a clean run, or stop with a clear error. No infinite loop, no silent gap.

use std::time::Duration;

use crate::common::*;
use barfill::config::{Config, Faults, Fixes};
use barfill::report::RunStatus;
use barfill::sim::{Sim, SimOptions};
use tokio::sync::OnceCell;

const FROM: &str = "2024-01-01";
const TO: &str = "2024-04-30";

/// Fix 2 off: dozens of pages per symbol (pages of 5000 base bars, quick to build), so a
/// fault rate hits many requests, and in the middle of rows.
const PAGED: Fixes = Fixes { backoff: true, batching: false, parallel: true };

/// `5/minute` pages like `1/minute` (the page limit counts base minute bars) with a fifth
/// of the bars to build, send, parse and store.
fn workload(dir: &std::path::Path, fixes: Fixes) -> Config {
    let mut c = config(dir, &["AAPL", "MSFT"], &["5/minute", "1/hour", "1/day"], FROM, TO);
    c.fixes = fixes;
    c.retry.budget = 200.0;
    c.retry.max_attempts = 10;
    c
}

/// The database a fault-free run of the workload leaves, made once and shared by the
/// tests: the simulator's bars do not change between runs, nor with the fixes that fetch
/// them (`backfill::baseline_and_all_fixes_store_identical_databases`).
async fn clean_dump() -> Vec<Row> {
    static CLEAN: OnceCell<Vec<Row>> = OnceCell::const_new();
    CLEAN
        .get_or_init(|| async {
            let sim = fast_sim().await;
            let (_t, dir) = tmp();
            let c = workload(&dir, Fixes::ALL);
            let (r, _) = run(&c, source(&sim)).await;
            assert_eq!((r.status, r.failed_jobs), (RunStatus::Done, 0), "the clean run: {}", r.to_text());
            dump(&c.db)
        })
        .await
        .clone()
}

async fn with_faults(faults: &str) -> (barfill::report::Report, Vec<Row>, barfill::sim::SimCounts) {
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse(faults).unwrap();
    // A stalled answer never comes in the run's time: the client's timeout is what ends it.
    opts.stall = Duration::from_secs(600);
    opts.seed = 7;
    let stalls = opts.faults.stall > 0.0;
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let mut c = workload(&dir, PAGED);
    if stalls {
        // Each stall costs a whole timeout of wall time, so it is short here. A real answer
        // later than this on a loaded machine is only one more retry, which the checks
        // allow for.
        c.timeout = Duration::from_secs(2);
    }
    let (report, _) = run(&c, source(&sim)).await;
    let counts = sim.stats.snapshot();
    (report, dump(&c.db), counts)
}

/// A run with these faults ends with the clean run's database, and the simulator did
/// inject `kind` (any kind when empty).
async fn survives(faults: &str, kind: &str) -> (barfill::report::Report, barfill::sim::SimCounts) {
    let (report, rows, counts) = with_faults(faults).await;
    assert_eq!(report.status, RunStatus::Done, "{faults}: {}", report.to_text());
    assert_eq!(report.failed_jobs, 0, "{faults}: {}", report.to_text());
    let injected =
        if kind.is_empty() { counts.faults.values().sum() } else { counts.faults.get(kind).copied().unwrap_or(0) };
    assert!(injected > 0, "{faults}: the simulator injected no {kind}");
    assert_same_rows(&rows, &clean_dump().await, &format!("{faults}: the database against a clean run's"));
    (report, counts)
}

#[tokio::test]
async fn server_errors_are_retried_to_the_same_bars() {
    let (report, counts) = survives("5xx=0.3", "server_error").await;
    assert_eq!(report.errors.get("5xx").copied().unwrap_or(0), counts.faults["server_error"]);
}

#[tokio::test]
async fn dropped_connections_are_retried() {
    survives("drop=0.3", "drop").await;
}

#[tokio::test]
async fn truncated_json_is_retried() {
    survives("truncate=0.3", "truncate").await;
}

#[tokio::test]
async fn malformed_bodies_are_retried() {
    survives("malformed=0.3", "malformed").await;
}

#[tokio::test]
async fn stalled_responses_time_out_and_are_retried() {
    survives("stall=0.08", "stall").await;
}

#[tokio::test]
async fn an_empty_page_in_the_middle_is_followed_not_taken_for_the_end() {
    survives("empty=0.2", "empty_page").await;
}

#[tokio::test]
async fn a_next_url_that_repeats_a_page_does_not_loop() {
    survives("repeat=0.2", "repeat_page").await;
}

#[tokio::test]
async fn everything_at_once() {
    survives("5xx=0.05,drop=0.05,truncate=0.05,malformed=0.05,empty=0.05,repeat=0.05", "").await;
}

#[tokio::test]
async fn a_dead_service_ends_the_run_when_the_retry_budget_is_spent() {
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse("5xx=1").unwrap();
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let mut c = workload(&dir, Fixes::ALL);
    c.retry.budget = 3.0;
    let (report, _) = run(&c, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Failed);
    let note = report.note.unwrap();
    assert!(note.contains("retry budget exhausted") && note.contains("server error"), "{note}");
    assert_eq!(report.retries, 3);
    assert!(report.requests <= 3 + 3, "{} requests", report.requests);
    assert_eq!(report.bars, 0);
}

#[tokio::test]
async fn a_page_that_always_repeats_fails_its_window_with_a_clear_error() {
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse("repeat=1").unwrap();
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let mut c = config(&dir, &["AAPL"], &["1/day"], FROM, TO);
    c.retry.max_attempts = 2;
    let (report, events) = run(&c, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done);
    assert_eq!(report.failed_jobs, 1);
    let reason = events
        .iter()
        .find_map(|e| match e {
            barfill::engine::Event::WindowFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("gave up after 2 attempts") && reason.contains("points back at a page"), "{reason}");
    assert_eq!(report.bars, 0, "nothing from a looping window is stored");
}

#[tokio::test]
async fn a_row_shows_fetching_again_after_each_backoff() {
    use barfill::engine::Event;
    use barfill::engine::events::RowState;
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse("5xx=0.2").unwrap();
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let c = workload(&dir, PAGED);
    let (report, events) = run(&c, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done);
    assert!(report.retries > 0);
    let mut last: std::collections::HashMap<usize, RowState> = Default::default();
    let mut backoffs = 0;
    for e in &events {
        if let Event::RowState { row, state } = e {
            if let Some(RowState::Backoff { .. }) = last.get(row) {
                backoffs += 1;
                assert_eq!(*state, RowState::Fetching, "row {row} went from backoff to {state:?}");
            }
            last.insert(*row, state.clone());
        }
    }
    assert!(backoffs > 0);
}
