//! Whole runs over the scripted server on paused time, steered by commands at set
//! virtual times: what the report says, what the database holds, and what was asked when.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until};

use super::super::events::{Command, Event};
use super::super::run::{Parts, Source, plan_stored, start_with};
use super::kit::{self, BASE, DAYS, day_ms, page, range_path};
use crate::config::{Config, Fix};
use crate::polygon::fake::{FakeServer, Reply};
use crate::report::{Report, RunStatus};
use crate::store::writer::WriterOptions;
use crate::store::{OpenOptions, Store};

const FROM: &str = "2024-01-02";
const TO: &str = "2024-01-12";

/// `ticker`'s days as a chain of two pages (three days, then the rest through `next_url`),
/// answered after `first` and `second`.
fn two_pages(server: &FakeServer, ticker: &str, first: Duration, second: Duration) {
    let next = format!("/v2/aggs/ticker/{ticker}/range/1/day/{}/{TO}?cursor=2", day_ms("2024-01-05"));
    server.on(&range_path(ticker, FROM, TO), [page(ticker, &DAYS[..3], Some(&next)).after(first)]);
    server.on(&next, [page(ticker, &DAYS[3..], None).after(second)]);
}

/// How a run ended: its report, its events, and the bars and run status the database kept.
pub(super) struct Ran {
    pub report: Report,
    pub events: Vec<Event>,
    /// When each event came, on the test's clock.
    pub times: Vec<Instant>,
    pub bars: Vec<(String, i64)>,
    pub recorded: String,
}

/// Runs `config` over `server` while `control` sends commands from its own task.
pub(super) async fn run<F>(
    config: Config,
    server: &Arc<FakeServer>,
    control: impl FnOnce(mpsc::UnboundedSender<Command>) -> F,
) -> Ran
where
    F: Future<Output = ()> + Send + 'static,
{
    let db = config.db.clone();
    let store = Store::open_with(&db, OpenOptions { adjusted: false, require_kind: false, create_dir: false }).unwrap();
    let plan = plan_stored(&store, &config, &config.symbols).unwrap();
    let source = Source { label: "fake".into(), base_url: BASE.into(), key: None };
    // On paused time a worker waiting for room in the real writer thread's queue lets the
    // virtual clock run ahead (tokio advances it whenever the runtime is idle), so the
    // queue is wide enough that no worker here ever waits for it.
    let writer = WriterOptions { queue_pages: 4096, ..WriterOptions::default() };
    let parts = Parts { client: kit::client(server), writer };
    let handle = start_with(Arc::new(config), source, store, plan, parts);
    let controller = tokio::spawn(control(handle.commands.clone()));
    let mut events = Vec::new();
    let mut times = Vec::new();
    let report = handle
        .drive(|e, _| {
            events.push(e);
            times.push(Instant::now());
        })
        .await
        .unwrap();
    controller.abort();
    let conn = crate::store::open_for_reading(&db).unwrap();
    let mut stmt = conn.prepare("SELECT ticker, ts FROM bars ORDER BY ticker, ts").unwrap();
    let bars = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let recorded = conn.query_row("SELECT status FROM runs WHERE id = ?1", [report.run_id], |r| r.get(0)).unwrap();
    Ran { report, events, times, bars, recorded }
}

fn bars_of(ticker: &str, days: &[&str]) -> Vec<(String, i64)> {
    days.iter().map(|d| (ticker.to_string(), day_ms(d))).collect()
}

/// Seconds from `t0` at which the server was asked, whole seconds down.
fn asked_at(server: &FakeServer, t0: Instant) -> Vec<u64> {
    server.asked().iter().map(|a| (a.at - t0).as_secs()).collect()
}

#[tokio::test(start_paused = true)]
async fn stop_ends_the_run_as_stopped_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    for ticker in ["AAPL", "MSFT"] {
        two_pages(&server, ticker, Duration::ZERO, Duration::from_secs(60));
    }
    let config = kit::config(dir.path(), &["AAPL", "MSFT"], FROM, TO, 1);
    let t0 = Instant::now();
    let ran = run(config, &server, move |tx| async move {
        sleep_until(t0 + Duration::from_secs(10)).await;
        tx.send(Command::Stop).unwrap();
    })
    .await;

    assert_eq!(ran.report.status, RunStatus::Stopped);
    assert_eq!(ran.recorded, "stopped");
    // One row's first page, stored before the stop; its second page was in flight.
    let ticker = ran.bars.first().map(|b| b.0.clone()).expect("a page was kept");
    assert_eq!(ran.bars, bars_of(&ticker, &DAYS[..3]));
    assert_eq!(ran.report.bars, 3);
    assert_eq!(server.asked().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn pause_holds_requests_until_resume() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    two_pages(&server, "AAPL", Duration::from_secs(5), Duration::ZERO);
    let config = kit::config(dir.path(), &["AAPL"], FROM, TO, 1);
    let t0 = Instant::now();
    let during_pause = Arc::new(parking_lot::Mutex::new(None));
    let seen = during_pause.clone();
    let watched = server.clone();
    let ran = run(config, &server, move |tx| async move {
        // Paused while the first page is in flight: it is stored, the next is not asked.
        sleep_until(t0 + Duration::from_secs(1)).await;
        tx.send(Command::Pause).unwrap();
        sleep_until(t0 + Duration::from_secs(65)).await;
        *seen.lock() = Some(watched.asked().len());
        tx.send(Command::Resume).unwrap();
    })
    .await;

    assert_eq!(*during_pause.lock(), Some(1));
    assert_eq!(asked_at(&server, t0), [0, 65]);
    assert_eq!(ran.report.status, RunStatus::Done);
    assert_eq!(ran.bars, bars_of("AAPL", &DAYS));
}

#[tokio::test(start_paused = true)]
async fn set_concurrency_adds_workers_and_retires_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let tickers = ["AAPL", "AMZN", "GOOG", "META", "MSFT", "NVDA"];
    for ticker in tickers {
        server.on(&range_path(ticker, FROM, TO), [page(ticker, &DAYS, None).after(Duration::from_secs(10))]);
    }
    let config = kit::config(dir.path(), &tickers, FROM, TO, 1);
    let t0 = Instant::now();
    let ran = run(config, &server, move |tx| async move {
        sleep_until(t0 + Duration::from_secs(1)).await;
        tx.send(Command::SetConcurrency(3)).unwrap();
        sleep_until(t0 + Duration::from_secs(5)).await;
        tx.send(Command::SetConcurrency(1)).unwrap();
    })
    .await;

    // One worker, then three at 1 s; back to one at 5 s: the two extra workers retire
    // when their rows end, and the last three rows go one after another.
    assert_eq!(asked_at(&server, t0), [0, 1, 1, 10, 20, 30]);
    let counts: Vec<u32> = ran
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Settings(s) => Some(s.concurrency),
            _ => None,
        })
        .collect();
    assert_eq!(counts, [3, 1]);
    assert_eq!(ran.report.status, RunStatus::Done);
    assert_eq!(ran.bars.len(), 6 * DAYS.len());
}

#[tokio::test(start_paused = true)]
async fn a_worker_panic_fails_the_run_and_keeps_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    server.on(&range_path("AAPL", FROM, TO), [page("AAPL", &DAYS, None)]);
    server.on(&range_path("MSFT", FROM, TO), [Reply::panic().after(Duration::from_secs(5))]);
    let config = kit::config(dir.path(), &["AAPL", "MSFT"], FROM, TO, 2);
    let ran = run(config, &server, |_| async {}).await;

    assert_eq!(ran.report.status, RunStatus::Failed);
    let note = ran.report.note.clone().unwrap_or_default();
    assert!(note.contains("a worker panicked"), "{note}");
    assert_eq!(ran.recorded, "failed");
    assert_eq!(ran.bars, bars_of("AAPL", &DAYS));
    assert_eq!(ran.report.bars, DAYS.len() as u64);
    assert!(ran.events.iter().any(|e| matches!(e, Event::RunFinished(r) if r.status == RunStatus::Failed)));
}

#[tokio::test(start_paused = true)]
async fn switching_fix_2_mid_chain_hands_the_rest_back_from_the_last_stored_bar() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    two_pages(&server, "AAPL", Duration::from_secs(5), Duration::ZERO);
    let rest = range_path("AAPL", "2024-01-05", TO);
    server.on(&rest, [page("AAPL", &DAYS[3..], None)]);
    let config = kit::config(dir.path(), &["AAPL"], FROM, TO, 1);
    let t0 = Instant::now();
    let ran = run(config, &server, move |tx| async move {
        sleep_until(t0 + Duration::from_secs(1)).await;
        tx.send(Command::SetFix(Fix::Batching, false)).unwrap();
    })
    .await;

    // The chain stops after the page in flight; the rest is asked afresh, without fix 2's
    // page size, from the session after the last stored bar.
    let asked: Vec<String> = server.asked().into_iter().map(|a| a.url).collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked[0].contains("limit=50000"), "{asked:?}");
    assert_eq!(asked[1], format!("{rest}?adjusted=false&sort=asc"));
    assert_eq!(ran.report.status, RunStatus::Done);
    assert_eq!(ran.bars, bars_of("AAPL", &DAYS));
}

#[tokio::test(start_paused = true)]
async fn with_fix_2_a_429_holds_every_worker_until_its_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let limited = Reply::rate_limited(20).after(Duration::from_secs(1));
    server.on(&range_path("AAPL", FROM, TO), [limited, page("AAPL", &DAYS, None)]);
    // MSFT's second page is due at 2 s, while AAPL's 429 (at 1 s) holds the gate.
    two_pages(&server, "MSFT", Duration::from_secs(2), Duration::ZERO);
    let config = kit::config(dir.path(), &["AAPL", "MSFT"], FROM, TO, 2);
    let t0 = Instant::now();
    let ran = run(config, &server, |_| async {}).await;

    let at = |prefix: &str| -> Vec<u64> {
        server.asked().iter().filter(|a| a.url.starts_with(prefix)).map(|a| (a.at - t0).as_secs()).collect()
    };
    assert_eq!(at("/v2/aggs/ticker/AAPL/"), [0, 21]);
    assert_eq!(at("/v2/aggs/ticker/MSFT/"), [0, 21]);
    assert!(ran.events.iter().any(|e| matches!(e, Event::Backoff { held: true, .. })));
    assert_eq!(ran.report.status, RunStatus::Done);
    assert_eq!(ran.bars.len(), 2 * DAYS.len());
}

#[tokio::test(start_paused = true)]
async fn a_401_stops_the_run_without_a_retry() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    for ticker in ["AAPL", "MSFT"] {
        server.on(&range_path(ticker, FROM, TO), [Reply::error(401, "Unknown API Key")]);
    }
    let config = kit::config(dir.path(), &["AAPL", "MSFT"], FROM, TO, 1);
    let ran = run(config, &server, |_| async {}).await;

    assert_eq!(server.asked().len(), 1);
    assert_eq!(ran.report.status, RunStatus::Failed);
    let note = ran.report.note.clone().unwrap_or_default();
    assert!(note.contains("401") && note.contains("nothing was retried"), "{note}");
    assert!(ran.bars.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_service_that_only_fails_ends_the_run_when_the_retry_budget_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    let tickers = ["AAPL", "AMZN", "GOOG", "MSFT"];
    for ticker in tickers {
        server.on(&range_path(ticker, FROM, TO), [Reply::error(503, "down")]);
    }
    let config = kit::config(dir.path(), &tickers, FROM, TO, 1);
    let ran = run(config, &server, |_| async {}).await;

    // 20 retries in the budget: two rows give up after 8 attempts (7 retries each); the
    // third is refused its seventh retry, and the run stops before the fourth is asked.
    assert_eq!(ran.report.status, RunStatus::Failed);
    let note = ran.report.note.clone().unwrap_or_default();
    assert!(note.contains("retry budget exhausted"), "{note}");
    assert_eq!(server.asked().len(), 3 + 20);
}

#[tokio::test(start_paused = true)]
async fn the_report_times_a_429s_wait_on_the_clock_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let server = FakeServer::new();
    server.on(&range_path("AAPL", FROM, TO), [Reply::rate_limited(30), page("AAPL", &DAYS, None)]);
    let config = kit::config(dir.path(), &["AAPL"], FROM, TO, 1);
    let ran = run(config, &server, |_| async {}).await;

    // With fix 2 the 429 is waited out at the pacer's gate (held, not a retry).
    let r = &ran.report;
    assert_eq!((r.status, r.requests, r.rate_limit_hits, r.retries, r.bars), (RunStatus::Done, 2, 1, 0, 9));
    assert!((30.0..30.1).contains(&r.backoff_s), "{}", r.backoff_s);
    // The wait, and at most a pacer cell or two: no machine's speed is in these figures.
    assert!(r.wall_s >= 30.0 && r.wall_s < 30.1, "{}", r.wall_s);
}
