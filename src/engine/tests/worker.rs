//! A worker over the scripted server: what reaches the writer's queue, what the server
//! was asked and when (on paused time), and what the faces are told.

use std::time::Duration;

use super::super::events::{Event, RowState};
use super::super::worker::run_worker;
use super::kit::{self, BASE, DAYS, Kit, day_ms, page, range_path};
use crate::polygon::fake::{FakeServer, Reply};
use crate::polygon::outcome::ErrorKind;
use crate::secret::ApiKey;

fn first_path() -> String {
    range_path("AAPL", "2024-01-02", "2024-01-12")
}

/// One worker fetches AAPL's nine sessions over `server`, to the end of the work.
async fn one_row(server: &std::sync::Arc<FakeServer>) -> Kit {
    let dir = tempfile::tempdir().unwrap();
    let config = kit::config(dir.path(), &["AAPL"], "2024-01-02", "2024-01-12", 1);
    let kit = Kit::new(&config, kit::client(server));
    run_worker(kit.ctx.clone(), 0, Duration::ZERO).await;
    kit
}

fn all_days_ms() -> Vec<i64> {
    DAYS.iter().map(|d| day_ms(d)).collect()
}

fn requests(events: &[Event]) -> Vec<(Option<u16>, Option<ErrorKind>, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some((r.status, r.error, r.message.clone())),
            _ => None,
        })
        .collect()
}

fn gaps(server: &FakeServer) -> Vec<Duration> {
    server.asked().windows(2).map(|w| w[1].at - w[0].at).collect()
}

#[tokio::test(start_paused = true)]
async fn a_chain_follows_next_url_and_stores_every_bar_once() {
    let server = FakeServer::new();
    let p2 = format!("{BASE}/v2/aggs/ticker/AAPL/range/1/day/2024-01-05/2024-01-12?cursor=p2");
    let p3 = "/v2/aggs/ticker/AAPL/range/1/day/2024-01-10/2024-01-12?cursor=p3";
    server.on(&first_path(), [page("AAPL", &DAYS[..3], Some(&p2))]);
    // The server sends the last bar of the page before again: it is stored once.
    server.on(&p2[BASE.len()..], [page("AAPL", &DAYS[2..6], Some(p3))]);
    server.on(p3, [page("AAPL", &DAYS[6..], None)]);
    let mut kit = one_row(&server).await;

    let asked: Vec<String> = server.asked().into_iter().map(|a| a.url).collect();
    assert_eq!(asked.len(), 3, "{asked:?}");
    assert!(asked[0].starts_with(&first_path()), "{asked:?}");
    assert_eq!((asked[1].as_str(), asked[2].as_str()), (&p2[BASE.len()..], p3));
    let pages = kit.pages();
    let stored: Vec<i64> = pages.iter().flat_map(|(bars, _)| bars.clone()).collect();
    assert_eq!(stored, all_days_ms());
    assert_eq!(pages.iter().map(|(_, last)| *last).collect::<Vec<_>>(), [false, false, true]);
    // The row is shown done by the writer once its three pages are committed, not before.
    assert_eq!(kit.marked, [(0, 3)]);
    let events = kit.drain_events();
    assert!(!events.iter().any(|e| matches!(e, Event::RowState { row: 0, state: RowState::Done })));
}

#[tokio::test(start_paused = true)]
async fn a_429_waits_its_retry_after_on_the_clock_then_succeeds() {
    let server = FakeServer::new();
    server.on(&first_path(), [Reply::rate_limited(30), page("AAPL", &DAYS, None)]);
    let real = std::time::Instant::now();
    let mut kit = one_row(&server).await;

    let gap = gaps(&server)[0];
    assert!(gap >= Duration::from_secs(30) && gap < Duration::from_secs(31), "asked again after {gap:?}");
    // Paused time: the half minute passed on tokio's clock, not the machine's.
    assert!(real.elapsed() < Duration::from_secs(30));
    // With fix 2 the wait is the pacer's gate, which holds every worker, not a retry.
    let events = kit.drain_events();
    let waits: Vec<(f64, bool)> = events
        .iter()
        .filter_map(|e| match e {
            Event::Backoff { secs, held, .. } => Some((*secs, *held)),
            _ => None,
        })
        .collect();
    assert_eq!(waits.len(), 1, "{waits:?}");
    assert!(waits[0].1 && (30.0..30.1).contains(&waits[0].0), "{waits:?}");
    let statuses: Vec<_> = requests(&events).into_iter().map(|r| r.0).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    assert_eq!(kit.pages(), [(all_days_ms(), true)]);
}

#[tokio::test(start_paused = true)]
async fn server_errors_are_retried_on_fix_1s_schedule_then_succeed() {
    let server = FakeServer::new();
    server.on(&first_path(), [Reply::error(500, "boom"), Reply::error(502, "bad gateway"), page("AAPL", &DAYS, None)]);
    let mut kit = one_row(&server).await;

    // Fix 1 waits 1 s, then 2 s; the pacer adds at most a cell (20 ms at 2,940/min).
    let gaps = gaps(&server);
    assert_eq!(gaps.len(), 2);
    for (gap, wait) in gaps.iter().zip([1, 2]) {
        let wait = Duration::from_secs(wait);
        assert!(*gap >= wait && *gap < wait + Duration::from_millis(100), "{gaps:?}");
    }
    let kinds: Vec<_> = requests(&kit.drain_events()).into_iter().map(|r| r.1).collect();
    assert_eq!(kinds, [Some(ErrorKind::Server), Some(ErrorKind::Server), None]);
    assert_eq!(kit.pages(), [(all_days_ms(), true)]);
}

#[tokio::test(start_paused = true)]
async fn a_malformed_or_wrong_page_is_refused_and_asked_again() {
    let server = FakeServer::new();
    let truncated = Reply::raw(200, r#"{"status":"OK","results":[{"o":10.0,"h""#);
    // A bar after the range asked for: the page is wrong, none of it is stored.
    let mut outside = DAYS.to_vec();
    outside.push("2024-01-16");
    server.on(&first_path(), [truncated, page("AAPL", &outside, None), page("AAPL", &DAYS, None)]);
    let mut kit = one_row(&server).await;

    assert_eq!(server.asked().len(), 3);
    let kinds: Vec<_> = requests(&kit.drain_events()).into_iter().map(|r| r.1).collect();
    assert_eq!(kinds, [Some(ErrorKind::Malformed), Some(ErrorKind::Malformed), None]);
    assert_eq!(kit.pages(), [(all_days_ms(), true)]);
}

#[tokio::test(start_paused = true)]
async fn an_answer_slower_than_the_timeout_is_asked_again() {
    let server = FakeServer::new();
    server.on(&first_path(), [page("AAPL", &DAYS, None).after(Duration::from_secs(45)), page("AAPL", &DAYS, None)]);
    let mut kit = one_row(&server).await;

    // The 30 s timeout, then fix 1's first wait of 1 s.
    let gap = gaps(&server)[0];
    assert!(gap >= Duration::from_secs(31) && gap < Duration::from_secs(32), "{gap:?}");
    let kinds: Vec<_> = requests(&kit.drain_events()).into_iter().map(|r| r.1).collect();
    assert_eq!(kinds, [Some(ErrorKind::Timeout), None]);
    assert_eq!(kit.pages(), [(all_days_ms(), true)]);
}

#[tokio::test(start_paused = true)]
async fn the_key_travels_in_a_header_and_never_comes_back_in_a_message() {
    let key = "sekrit-KEY-42";
    let server = FakeServer::new();
    server.on(&first_path(), [Reply::error(500, &format!("bad key {key}")), page("AAPL", &DAYS, None)]);
    let dir = tempfile::tempdir().unwrap();
    let config = kit::config(dir.path(), &["AAPL"], "2024-01-02", "2024-01-12", 1);
    let client = crate::polygon::Client::fake(BASE, Some(ApiKey::new(key)), server.clone());
    let mut kit = Kit::new(&config, client);
    run_worker(kit.ctx.clone(), 0, Duration::ZERO).await;

    let asked = server.asked();
    assert!(asked.iter().all(|a| a.authorized && !a.url.contains(key)), "{asked:?}");
    let messages: Vec<String> = requests(&kit.drain_events()).into_iter().filter_map(|r| r.2).collect();
    assert_eq!(messages.len(), 1);
    assert!(messages[0].contains("***") && !messages[0].contains(key), "{messages:?}");
}

#[tokio::test(start_paused = true)]
async fn without_fix_1_a_429_waits_the_baseline_schedule_not_its_retry_after() {
    let server = FakeServer::new();
    let answers =
        [Reply::rate_limited(30), Reply::rate_limited(30), Reply::rate_limited(30), page("AAPL", &DAYS, None)];
    server.on(&first_path(), answers);
    let dir = tempfile::tempdir().unwrap();
    let mut config = kit::config(dir.path(), &["AAPL"], "2024-01-02", "2024-01-12", 1);
    // Unpaced, as the original pipeline: with fix 2 a 429 is waited out at the pacer's gate.
    (config.fixes.backoff, config.fixes.batching) = (false, false);
    let mut kit = Kit::new(&config, kit::client(&server));
    run_worker(kit.ctx.clone(), 0, Duration::ZERO).await;

    // tenacity's wait_exponential(min=2, max=10): 2, 2, 4 s, whatever the server asked for.
    let gaps = gaps(&server);
    assert_eq!(gaps.len(), 3);
    for (gap, wait) in gaps.iter().zip([2, 2, 4]) {
        let wait = Duration::from_secs(wait);
        assert!(*gap >= wait && *gap < wait + Duration::from_millis(100), "{gaps:?}");
    }
    assert_eq!(kit.pages(), [(all_days_ms(), true)]);
}

/// A grouped-daily answer for `d`: a bar at 16:00 New York for each of `tickers`.
fn grouped(d: &str, tickers: &[&str]) -> Reply {
    let t = crate::calendar::ny_local_ms(kit::day(d), 16, 0);
    let results: Vec<_> = tickers
        .iter()
        .map(|s| serde_json::json!({ "T": s, "o": 10.0, "h": 11.0, "l": 9.0, "c": 10.5, "v": 1000.0, "t": t }))
        .collect();
    let n = results.len();
    Reply::json(
        serde_json::json!({ "status": "OK", "adjusted": false, "queryCount": n, "resultsCount": n, "results": results }),
    )
}

#[tokio::test(start_paused = true)]
async fn grouped_daily_spreads_a_day_over_its_rows_and_a_missing_ticker_costs_no_request() {
    let server = FakeServer::new();
    let days = ["2024-01-02", "2024-01-03"];
    for d in days {
        // IBM is not asked for; ZZZZ did not trade.
        server.on(&format!("/v2/aggs/grouped/locale/us/market/stocks/{d}"), [grouped(d, &["AAPL", "IBM", "MSFT"])]);
    }
    let dir = tempfile::tempdir().unwrap();
    let config = kit::config(dir.path(), &["AAPL", "MSFT", "ZZZZ"], days[0], days[1], 1);
    let mut kit = Kit::new(&config, kit::client(&server));
    run_worker(kit.ctx.clone(), 0, Duration::ZERO).await;

    let asked: Vec<String> = server.asked().into_iter().map(|a| a.url).collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert!(asked.iter().all(|u| u.starts_with("/v2/aggs/grouped/") && u.contains("include_otc=true")));
    let mut stored = Vec::new();
    while let Ok(crate::store::writer::WriteMsg::Page { groups, .. }) = kit.writes.try_recv() {
        stored.extend(groups.iter().flat_map(|g| g.bars.iter().map(|b| (g.ticker.to_string(), b.ts))));
    }
    stored.sort();
    // Stamped at midnight, as a range's day bars are.
    let want: Vec<(String, i64)> =
        ["AAPL", "MSFT"].iter().flat_map(|t| days.iter().map(|d| (t.to_string(), day_ms(d)))).collect();
    assert_eq!(stored, want);
    let events = kit.drain_events();
    assert!(events.iter().any(|e| matches!(e, Event::RowState { row: 2, state: RowState::Empty })));
}

#[tokio::test(start_paused = true)]
async fn the_same_wrong_answer_twice_ends_the_window_at_once_naming_the_bar() {
    // Timestamps in seconds: every answer the same, every one refused.
    let body = serde_json::json!({
        "ticker": "AAPL", "status": "OK", "adjusted": false, "queryCount": 1, "resultsCount": 1,
        "results": [{ "o": 10.0, "h": 11.0, "l": 9.0, "c": 10.5, "v": 1000.0, "t": day_ms("2024-01-02") / 1000 }],
    });
    let server = FakeServer::new();
    server.on(&first_path(), [Reply::json(body)]);
    let t0 = tokio::time::Instant::now();
    let mut kit = one_row(&server).await;

    // Asked twice (fix 1's wait of a second between), never a third time.
    assert_eq!(server.asked().len(), 2);
    assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    let reason = kit
        .drain_events()
        .into_iter()
        .find_map(|e| match e {
            Event::WindowFailed { reason, .. } => Some(reason),
            _ => None,
        })
        .expect("the window failed");
    assert!(reason.contains("bar 1 of 1") && reason.contains("outside the range"), "{reason}");
    assert!(reason.contains("the same wrong answer twice"), "{reason}");
    assert!(kit.pages().is_empty(), "nothing of it stored");
}
