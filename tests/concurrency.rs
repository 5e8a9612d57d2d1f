//! Automatic concurrency in real runs against the simulator: the count grows while more
//! workers bring more bars, comes down when the server answers 429, and a count set by
//! hand sticks. Each run is a few seconds long, since the engine judges the count over
//! windows of seconds; the assertions are about what it decided and why, not how fast.

use crate::common::*;
use barfill::calendar;
use barfill::config::{Concurrency, Fixes};
use barfill::engine::autotune::why;
use barfill::engine::{Command, Event};
use barfill::report::RunStatus;
use barfill::sim::{Sim, SimOptions};

const FROM: &str = "2024-01-01";
const TO: &str = "2024-12-31";

/// `n` tickers of the simulator's universe that trade all of 2024.
fn tickers(extra: u32, n: usize) -> Vec<String> {
    let universe = barfill::sim::market::Universe::new(extra);
    let (from, to) = (calendar::parse_date(FROM).unwrap(), calendar::parse_date(TO).unwrap());
    let names: Vec<String> = universe
        .tickers()
        .iter()
        .filter(|t| t.first_day() <= from && t.last_day.is_none_or(|d| d >= to))
        .map(|t| t.ticker.clone())
        .take(n)
        .collect();
    assert_eq!(names.len(), n, "the universe must hold {n} tickers trading all year");
    names
}

/// A server whose every answer takes 100 ms: throughput is set by how many ask at once.
async fn slow_sim(extra: u32, quota: u32, window_s: u64) -> Sim {
    let options = SimOptions {
        quota: Some(quota),
        window: std::time::Duration::from_secs(window_s),
        latency_ms: 100,
        latency_ms_per_1k_bars: 0.0,
        extra_tickers: extra,
        ..SimOptions::fast()
    };
    Sim::start_local(options).await.unwrap()
}

/// Day rows asked per ticker (fix 2 off: no grouped days, no pacer), one request each.
/// The quota is a per-minute plan's, so auto starts at its usual 3, not at a paid plan's
/// count (without fix 2 nothing else reads it).
fn day_rows(dir: &std::path::Path, names: &[String]) -> barfill::config::Config {
    let symbols: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut config = config(dir, &symbols, &["1/day"], FROM, TO);
    config.fixes = Fixes { batching: false, ..Fixes::ALL };
    config.concurrency = Concurrency::Auto;
    config.retry.wait_scale = 0.02;
    config.quota_per_min = 1200;
    config
}

fn counts_set(events: &[Event]) -> Vec<(u32, &'static str)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Settings(s) => Some((s.concurrency, s.why)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_adds_workers_while_they_bring_more_bars_and_says_why() {
    let names = tickers(600, 400);
    let sim = slow_sim(600, 1_000_000, 60).await;
    let (_t, dir) = tmp();
    let config = day_rows(&dir, &names);
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let set = counts_set(&events);
    assert!(
        set.iter().any(|(n, w)| *n > 3 && (*w == why::GREW || *w == why::PROBE)),
        "the count never grew past the 3 it started at: {set:?}"
    );
    assert!(report.peak_workers > 3, "{}", report.to_text());
    assert!(report.concurrency_auto);
    assert!(report.to_text().contains("on auto, at most"), "{}", report.to_text());
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["concurrency_auto"], true);
    // Nothing is lost while workers come and go: every ticker's year is stored.
    for name in names.iter().take(5) {
        assert_eq!(count(&config.db, name, "1/day"), expected(name, "1/day", FROM, TO), "{name}");
    }
    assert_eq!(report.requests, names.len() as u64, "one request a row, none wasted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_brings_the_count_down_when_the_server_answers_429() {
    let names = tickers(300, 80);
    // Ten requests a second: three workers at 100 ms each ask for thirty.
    let sim = slow_sim(300, 10, 1).await;
    let (_t, dir) = tmp();
    let mut config = day_rows(&dir, &names);
    config.retry.max_attempts = 50;
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    assert!(report.rate_limit_hits > 0, "the quota must bind to show it");
    let set = counts_set(&events);
    assert!(set.iter().any(|(n, w)| *n < 3 && *w == why::RATE_LIMITED), "no step down on 429s: {set:?}");
    for name in names.iter().take(5) {
        assert_eq!(count(&config.db, name, "1/day"), expected(name, "1/day", FROM, TO), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_set_by_hand_sticks_until_auto_is_asked_for_again() {
    let names = tickers(300, 160);
    let sim = slow_sim(300, 1_000_000, 60).await;
    let (_t, dir) = tmp();
    let config = day_rows(&dir, &names);
    let (store, plan) = barfill::engine::prepare(&config).unwrap();
    let handle = barfill::engine::start(std::sync::Arc::new(config.clone()), source(&sim), store, plan).unwrap();
    let mut events = Vec::new();
    let mut sent = false;
    let report = handle
        .drive(|e, commands| {
            if !sent && matches!(e, Event::Request(_)) {
                sent = true;
                let _ = commands.send(Command::SetConcurrency(2));
            }
            events.push(e);
        })
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let set = counts_set(&events);
    let by_hand = set.iter().position(|s| *s == (2, why::BY_HAND)).expect("the count set by hand is in force");
    assert!(set[by_hand..].iter().all(|(n, _)| *n == 2), "the engine moved a count set by hand: {set:?}");
    assert_eq!(report.concurrency, 2);
    assert!(!report.concurrency_auto);
    // About eight seconds at two workers: the engine had windows enough to change it, had
    // it been on auto.
    assert!(report.wall_s > 6.0, "{}", report.to_text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_workers_share_a_long_row_on_a_paid_plan_and_every_bar_lands_once() {
    // Pages that take a while (50 ms a full one), as a real server's do, so chains are
    // still going when the queue runs dry.
    let mut opts = fast_sim_options();
    opts.latency_ms_per_1k_bars = 1.0;
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    // Four liquid rows of a year each and six workers at a paid plan's pace: two would sit
    // idle if each row were one chain of pages, and the run would last as long as the
    // longest chain.
    let names = ["AAPL", "MSFT", "NVDA", "TSLA"];
    let mut config = config(&dir, &names, &["1/minute"], FROM, TO);
    config.concurrency = Concurrency::Fixed(6);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    for name in names {
        assert_eq!(count(&config.db, name, "1/minute"), expected(name, "1/minute", FROM, TO), "{name}");
    }
    let all: u64 = names.iter().map(|n| expected(n, "1/minute", FROM, TO)).sum();
    assert_eq!(report.bars, all, "each bar counted once");
    // Pieces: each row's minutes were asked from more than one starting day, not only by
    // cursor. (Once, only the first row to hand its rest back was ever shared, and the
    // idle workers had left when the queue first ran dry.)
    let log = sim.stats.snapshot().log;
    for name in names {
        let prefix = format!("/v2/aggs/ticker/{name}/range/1/minute/");
        let starts: std::collections::HashSet<&str> = log
            .iter()
            .filter_map(|(p, _)| p.strip_prefix(prefix.as_str()))
            .map(|rest| rest.split('/').next().unwrap_or_default())
            .filter(|start| start.contains('-'))
            .collect();
        assert!(
            starts.len() > 1,
            "{name}: one chain only (a day starts a piece, a cursor a chain's next page): {starts:?}"
        );
    }
    // A liquid row's pieces are full pages: no request above the floor.
    assert_eq!(report.requests, report.floor_requests, "{}", report.to_text());
    // The progress table holds every session of both rows once: a second run asks nothing.
    let (again, _) = run(&config, source(&sim)).await;
    assert_eq!(again.requests, 0, "{}", again.to_text());
}

#[tokio::test]
async fn at_a_paid_pace_workers_beyond_the_rows_start_on_their_newest_page_for_a_request_at_most() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let thin = thinnest_trading_through(FROM, TO);
    // Two rows and four workers: before any page is back, two workers would wait a
    // whole page's latency with nothing to do.
    let mut config = config(&dir, &["AAPL", &thin], &["1/minute"], FROM, TO);
    config.concurrency = Concurrency::Fixed(4);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let log = sim.stats.snapshot().log;
    let asked = |name: &str| -> Vec<String> {
        let prefix = format!("/v2/aggs/ticker/{name}/range/1/minute/");
        log.iter().filter_map(|(p, _)| p.strip_prefix(prefix.as_str()).map(str::to_string)).collect()
    };
    // Each row's newest 52 sessions (a page at a bar every minute of the extended
    // session) went to a worker of its own from the start.
    for name in ["AAPL", thin.as_str()] {
        assert!(asked(name).iter().any(|p| p.starts_with("2024-10-17/2024-12-31")), "{name}: {:?}", asked(name));
        assert_eq!(count(&config.db, name, "1/minute"), expected(name, "1/minute", FROM, TO), "{name}");
    }
    // A liquid row loses nothing by it; a thin one, whose year fits one page, pays one request.
    let pages = |name: &str| expected(name, "1/minute", FROM, TO).div_ceil(50_000) as usize;
    assert_eq!(asked("AAPL").len(), pages("AAPL"));
    assert_eq!((pages(&thin), asked(&thin).len()), (1, 2));
    assert_eq!(report.requests, report.floor_requests + 1, "{}", report.to_text());
}

/// The last round of chains, where workers are fewer than chains and rows stay whole
/// (below a paid plan's pace): a chain with fewer requests to go than one waiting hands
/// its rest back and takes that one. Every bar lands once, and the requests are the
/// fewest the bars allow: the rest goes on from its last stored bar, as its `next_url`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_taking_turns_in_the_last_round_store_every_bar_once_at_the_fewest_requests() {
    let names = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META"];
    let sim = Sim::start_local(fast_sim_options()).await.unwrap();
    let (_t, dir) = tmp();
    let mut config = config(&dir, &names, &["1/minute"], FROM, TO);
    config.concurrency = Concurrency::Fixed(2);
    config.quota_per_min = 6000;
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    // Rows that went back to the queue after a page: their turn was over.
    let mut fetched = std::collections::HashSet::new();
    let mut turns = 0;
    for e in &events {
        match e {
            Event::Request(r) if r.bars > 0 => {
                fetched.insert(r.row);
            }
            Event::RowState { row, state: barfill::engine::events::RowState::Queued }
                if fetched.contains(&Some(*row)) =>
            {
                turns += 1;
            }
            _ => {}
        }
    }
    assert!(turns > 0, "no chain took turns: {}", report.to_text());
    assert_eq!(report.requests, report.floor_requests, "{}", report.to_text());
    for name in names {
        assert_eq!(count(&config.db, name, "1/minute"), expected(name, "1/minute", FROM, TO), "{name}");
    }
}
