//! A server that answers 200 with wrong data: every page is checked before it is
//! written, a wrong one is retried like a malformed answer, and nothing of it is stored.
//! Each run must end with exactly the bars of a clean run, or fail the window naming the
//! first bad bar.

use crate::common::*;
use barfill::config::{Config, Faults, Fixes};
use barfill::engine::Event;
use barfill::report::{Report, RunStatus};
use barfill::sim::{Sim, SimCounts, SimOptions};

const FROM: &str = "2024-01-01";
const TO: &str = "2024-03-28";

/// Per-ticker pages (fix 2 off: many pages a row, so page boundaries exist) or, with
/// fix 2, grouped days for the day rows.
const PAGED: Fixes = Fixes { backoff: true, batching: false, parallel: true };

fn workload(dir: &std::path::Path, fixes: Fixes) -> Config {
    let mut c = config(dir, &["AAPL", "NOPE"], &["1/minute", "1/day"], FROM, TO);
    c.fixes = fixes;
    c.retry.budget = 500.0;
    c.retry.max_attempts = 12;
    c.retry.wait_scale = 0.01;
    c
}

async fn with_faults(faults: &str, fixes: Fixes) -> (Report, Vec<Event>, Vec<Row>, SimCounts) {
    with_faults_and(faults, fixes, |_| {}).await
}

/// [`with_faults`], with the workload's config changed by `tune` first.
async fn with_faults_and(
    faults: &str,
    fixes: Fixes,
    tune: impl FnOnce(&mut Config),
) -> (Report, Vec<Event>, Vec<Row>, SimCounts) {
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse(faults).unwrap();
    opts.seed = 11;
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let mut c = workload(&dir, fixes);
    tune(&mut c);
    let (report, events) = run(&c, source(&sim)).await;
    (report, events, dump(&c.db), sim.stats.snapshot())
}

async fn clean(fixes: Fixes) -> Vec<Row> {
    let (report, _, rows, _) = with_faults("", fixes).await;
    assert_eq!(report.status, RunStatus::Done);
    rows
}

/// Wrong pages were sent, each was refused, and no bar of one is stored. A window whose
/// wrong page came back the same on its next try failed at once naming the bar (a third
/// ask would bring it again); the next run asks again, and after it the database holds
/// exactly the bars of a clean run.
async fn refused_and_retried(faults: &str, kind: &str, fixes: Fixes) {
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse(faults).unwrap();
    opts.seed = 11;
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let c = workload(&dir, fixes);
    let (report, events) = run(&c, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{faults}: {}", report.to_text());
    for e in &events {
        if let Event::WindowFailed { reason, .. } = e {
            assert!(reason.contains("the same wrong answer twice") && reason.contains("bar "), "{faults}: {reason}");
        }
    }
    let injected = sim.stats.snapshot().faults.get(kind).copied().unwrap_or(0);
    assert!(injected > 0, "{faults}: the simulator sent no {kind}");
    let refused = report.errors.get("malformed").copied().unwrap_or(0);
    assert_eq!(refused, injected, "{faults}: every wrong page is refused");
    let rows = dump(&c.db);
    assert_eq!(rows.len() as u64, report.bars, "{faults}: bars stored counts distinct bars");
    assert!(rows.iter().all(|r| r.4 >= r.5), "{faults}: a bar with high below low was stored");
    // At this fault rate a rerun can meet the same wrong page twice again (a tenth of a
    // chance a request): a few runs leave nothing failed.
    let mut failed = report.failed_jobs;
    for _ in 0..5 {
        if failed == 0 {
            break;
        }
        let (again, _) = run(&c, source(&sim)).await;
        assert_eq!(again.status, RunStatus::Done, "{faults}: {}", again.to_text());
        assert!(again.failed_jobs <= failed, "{faults}: {}", again.to_text());
        failed = again.failed_jobs;
    }
    assert_eq!(failed, 0, "{faults}: reruns did not fill the failed windows");
    assert_eq!(dump(&c.db), clean(fixes).await, "{faults}: the database differs from a clean run");
}

#[tokio::test]
async fn timestamps_in_seconds_are_refused_not_stored_as_1970() {
    refused_and_retried("seconds-ts=0.3", "seconds_ts", PAGED).await;
}

#[tokio::test]
async fn high_and_low_swapped_are_refused() {
    refused_and_retried("swap-hl=0.3", "swap_hl", PAGED).await;
}

#[tokio::test]
async fn bars_off_the_timeframe_grid_are_refused() {
    refused_and_retried("off-grid=0.3", "off_grid", PAGED).await;
}

#[tokio::test]
async fn bars_outside_the_range_asked_for_are_refused() {
    refused_and_retried("out-of-range=0.3", "out_of_range", PAGED).await;
}

#[tokio::test]
async fn wrong_grouped_days_are_refused_too() {
    // Forty tickers over four weeks: a grouped answer per day is the cheaper way.
    // A day whose wrong answer came the same twice fails at once; the next run asks again.
    let run_week = |faults: &'static str| async move {
        let mut opts = SimOptions::fast();
        opts.faults = Faults::parse(faults).unwrap();
        opts.seed = 11;
        let sim = Sim::start_local(opts).await.unwrap();
        let (_t, dir) = tmp();
        let mut c = config(&dir, &symbols(40), &["1/day"], "2024-03-01", "2024-03-28");
        c.retry.max_attempts = 12;
        c.retry.wait_scale = 0.01;
        let (report, events) = run(&c, source(&sim)).await;
        let mut failed = report.failed_jobs;
        for _ in 0..5 {
            if failed == 0 {
                break;
            }
            failed = run(&c, source(&sim)).await.0.failed_jobs;
        }
        assert_eq!(failed, 0, "reruns did not fill the failed days");
        (report, events, dump(&c.db), sim.stats.snapshot())
    };
    let (report, events, rows, counts) = run_week("seconds-ts=0.4").await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let grouped = |e: &Event| matches!(e, Event::Request(r) if r.path.contains("/grouped/"));
    assert!(events.iter().any(grouped), "the week must be asked by grouped days");
    let injected = counts.faults.get("seconds_ts").copied().unwrap_or(0);
    assert!(injected > 0, "the simulator sent no wrong grouped day");
    assert!(report.errors.get("malformed").copied().unwrap_or(0) > 0);
    let (_, _, clean_rows, _) = run_week("").await;
    assert_eq!(rows, clean_rows, "the database differs from a clean run");
}

#[tokio::test]
async fn a_bar_sent_again_at_the_next_page_is_stored_and_counted_once() {
    let (report, _, rows, counts) = with_faults("dup-boundary=0.5", PAGED).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    assert!(counts.faults.get("dup_boundary").copied().unwrap_or(0) > 0, "no page began with a repeat");
    assert_eq!(report.bars, rows.len() as u64, "{}", report.to_text());
    assert_eq!(rows, clean(PAGED).await);
}

#[tokio::test]
async fn a_server_that_always_sends_wrong_bars_fails_the_window_naming_the_first_bad_bar() {
    // Three attempts show it as well as the workload's twelve, without the schedule's long
    // tail: even scaled to a hundredth, the waits before attempts 10 to 12 are 2.6 to 3 s.
    let (report, events, rows, _) = with_faults_and("swap-hl=1", PAGED, |c| c.retry.max_attempts = 3).await;
    assert!(report.failed_jobs > 0, "{}", report.to_text());
    let reason = events
        .iter()
        .find_map(|e| match e {
            Event::WindowFailed { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .expect("a failed window");
    assert!(reason.contains("bar 1 of") && reason.contains("high"), "{reason}");
    // Only the unknown ticker's empty answers pass; not one wrong bar is stored.
    assert!(rows.is_empty(), "{} bars stored from wrong pages", rows.len());
    assert_eq!(report.bars, 0);
}

#[tokio::test]
async fn one_impossible_bar_is_rejected_alone_named_and_its_day_asked_again() {
    use barfill::engine::Event;
    // Every page carries one bar with its high below its low, in its middle.
    let mut opts = SimOptions::fast();
    opts.faults = Faults::parse("bad-bar=1").unwrap();
    opts.seed = 11;
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let mut c = config(&dir, &["AAPL"], &["1/minute"], "2024-01-02", "2024-03-28");
    c.retry.wait_scale = 0.01;
    let (report, events) = run(&c, source(&sim)).await;
    assert_eq!((report.status, report.failed_jobs), (RunStatus::Done, 0), "{}", report.to_text());
    let rejected: Vec<(i64, &str)> = events
        .iter()
        .filter_map(|e| match e {
            Event::RejectedBars { bars, .. } => Some(bars.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    // One bar a page left out, every other bar of every page stored.
    let pages = report.requests;
    assert_eq!(rejected.len() as u64, pages, "{}", report.to_text());
    assert_eq!(report.rejected_bars, pages);
    assert!(rejected.iter().all(|(_, why)| *why == "high is below low"));
    let text = report.to_text();
    assert!(text.contains("Rejected bars:") && text.contains("high is below low"), "{text}");
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["rejected_bars"], pages);
    let stored = dump(&c.db);
    let all = expected("AAPL", "1/minute", "2024-01-02", "2024-03-28");
    assert_eq!(stored.len() as u64 + pages, all, "all bars but the rejected ones");
    assert!(stored.iter().all(|r| r.4 >= r.5), "no impossible bar stored");
    let conn = rusqlite::Connection::open(&c.db).unwrap();
    let held: i64 = conn
        .query_row("SELECT count(*) FROM rejected_bars WHERE reason = 'high is below low'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(held as u64, pages, "each one kept with its reason");

    // `barfill status` names them; the next run asks their days again (one request each at
    // most), and with the server now right, stores them and forgets the rejections.
    let out = barfill::cli::describe_rejected(&barfill::cli::rejected_series(&c.db));
    assert!(out.starts_with(&format!("{pages} bars rejected as impossible")), "{out}");
    assert!(out.contains("AAPL 1/minute") && out.contains("high is below low"), "{out}");
    let clean = Sim::start_local(SimOptions { seed: 11, ..SimOptions::fast() }).await.unwrap();
    let (again, _) = run(&c, source(&clean)).await;
    assert_eq!(again.status, RunStatus::Done, "{}", again.to_text());
    assert!(again.requests <= pages, "{}", again.to_text());
    assert_eq!(dump(&c.db).len() as u64, all);
    let held: i64 = conn.query_row("SELECT count(*) FROM rejected_bars", [], |r| r.get(0)).unwrap();
    assert_eq!(held, 0, "good bars replaced the rejections");
}
