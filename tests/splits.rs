//! Split-safe history, end to end against the simulator: raw bars are stored once and
//! never rewritten, the run refreshes its tickers' splits (paced and counted like every
//! request), `bars_adjusted` reads exactly what the API answers with `adjusted=true`, and
//! a split that comes after stored bars is named by the run that learns of it.

use std::path::Path;

use crate::common::*;
use barfill::calendar::{self, Day};
use barfill::engine::Event;
use barfill::report::{Report, RunStatus, SplitNews};
use barfill::sim::Sim;
use barfill::sim::market::{self, Query};
use rusqlite::Connection;

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

fn ms(s: &str) -> i64 {
    calendar::ny_midnight_ms(day(s))
}

/// Every row of `view` (`bars` or `bars_adjusted`) for one ticker and timeframe, in order.
fn rows(db: &Path, view: &str, ticker: &str, timeframe: &str) -> Vec<Row> {
    let conn = Connection::open(db).unwrap();
    let sql = format!(
        "SELECT ticker, timeframe, ts, open, high, low, close, volume, vwap, trades FROM {view}
         WHERE ticker = ?1 AND timeframe = ?2 ORDER BY ts"
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map([ticker, timeframe], read_row).unwrap().collect::<Result<_, _>>().unwrap()
}

/// What the simulator answers now with `adjusted=true` (or `false`) for the range, as rows.
fn answer(sim: &Sim, adjusted: bool, ticker: &str, timeframe: &str, from: &str, to: &str) -> Vec<Row> {
    let q = Query {
        timeframe: timeframe.parse().unwrap(),
        from_ms: ms(from),
        to_ms: calendar::ny_midnight_ms(day(to) + 1) - 1,
        limit: u64::MAX,
        desc: false,
        adjusted,
    };
    market::range(&sim.universe(), ticker, &q)
        .bars
        .into_iter()
        .map(|b| {
            (ticker.into(), timeframe.into(), b.t, b.o, b.h, b.l, b.c, Some(b.v), Some(b.vw), b.n.map(|n| n as i64))
        })
        .collect()
}

/// The splits this run named as news, from its events; the report must say the same.
fn news(report: &Report, events: &[Event]) -> Vec<SplitNews> {
    let told: Vec<SplitNews> = events
        .iter()
        .filter_map(|e| match e {
            Event::NewSplit(n) => Some(n.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(told, report.new_splits, "the events and the report name the same splits");
    told
}

fn split_news(ticker: &str, date: &str, from: f64, to: f64) -> SplitNews {
    SplitNews { ticker: ticker.into(), execution_date: date.into(), split_from: from, split_to: to }
}

/// Requests for bars and for splits, as the run's request events name their paths.
fn requests_by_kind(events: &[Event]) -> (u64, u64) {
    let paths = events.iter().filter_map(|e| match e {
        Event::Request(r) => Some(r.path.as_str()),
        _ => None,
    });
    paths.fold((0, 0), |(bars, splits), p| {
        (bars + u64::from(p.starts_with("/v2/aggs/")), splits + u64::from(p.starts_with("/stocks/v1/splits")))
    })
}

/// The day bar's open over the previous day bar's close, across `split` (its first day).
fn gap_across(day_rows: &[Row], split: &str) -> f64 {
    let at = day_rows.iter().position(|r| r.2 >= ms(split)).expect("a bar on or after the split");
    assert!(at > 0, "a bar before the split");
    day_rows[at].3 / day_rows[at - 1].6
}

#[tokio::test]
async fn a_split_after_the_backfill_is_named_and_bars_adjusted_follows_it_without_refetching() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let tfs = ["1/day", "1/minute"];
    let tickers = ["MSFT", "NVDA"];
    let mut config = config(&dir, &tickers, &tfs, "2024-05-01", "2024-06-28");
    config.fetch_splits = true;

    // A first backfill over NVDA's 10-for-1 of 2024-06-10: history, not news.
    let (first, events) = run(&config, source(&sim)).await;
    assert_eq!(first.status, RunStatus::Done, "{}", first.to_text());
    assert!(news(&first, &events).is_empty(), "{}", first.to_text());
    assert!(!first.to_text().contains("New splits"), "{}", first.to_text());
    let (bar_requests, split_requests) = requests_by_kind(&events);
    assert_eq!(split_requests, 1, "both tickers in one request");
    assert_eq!(first.split_requests, 1);
    assert_eq!(first.requests, bar_requests + split_requests);
    assert_eq!(first.requests, sim.stats.snapshot().requests, "split requests count like every request");
    assert_eq!(sim.stats.snapshot().by_endpoint.splits, 1);
    assert_eq!(first.floor_requests, first.requests, "the floor counts the split request: {}", first.to_text());
    assert!(first.to_text().contains("1 for splits"), "{}", first.to_text());
    let before = dump(&config.db);

    // MSFT splits 2-for-1 after the stored bars; a run on a later day (splits are asked at
    // most once a day) tops up through July.
    sim.add_split("MSFT", day("2024-07-15"), 1.0, 2.0).unwrap();
    config.to = day("2024-07-31");
    config.today += 1;
    let (second, events) = run(&config, source(&sim)).await;
    assert_eq!(second.status, RunStatus::Done, "{}", second.to_text());
    let told = news(&second, &events);
    assert_eq!(told, [split_news("MSFT", "2024-07-15", 1.0, 2.0)]);
    assert!(
        told[0].line() == "new split: MSFT 2-for-1 on 2024-07-15; bars_adjusted follows, nothing refetched",
        "{}",
        told[0].line()
    );
    let text = second.to_text();
    assert!(text.contains("New splits:     MSFT 2-for-1 on 2024-07-15"), "{text}");
    let json = serde_json::to_value(&second).unwrap();
    assert_eq!(
        json["new_splits"],
        serde_json::json!([{"ticker": "MSFT", "execution_date": "2024-07-15", "split_from": 1.0, "split_to": 2.0}])
    );
    assert_eq!(json["split_requests"], 1);
    assert_eq!(second.floor_requests, second.requests, "{text}");

    // Raw rows stored before are untouched, byte for byte; only July was fetched.
    let after = dump(&config.db);
    let kept: Vec<Row> = after.iter().filter(|r| r.2 < ms("2024-07-01")).cloned().collect();
    assert_eq!(kept, before);
    assert!(after.len() > before.len());

    // bars_adjusted is the API's adjusted answer for the whole range, row for row, and
    // continuous across both splits while the raw bars jump.
    for t in tickers {
        for tf in tfs {
            let adjusted = rows(&config.db, "bars_adjusted", t, tf);
            assert_eq!(adjusted, answer(&sim, true, t, tf, "2024-05-01", "2024-07-31"), "{t} {tf}");
            assert_eq!(rows(&config.db, "bars", t, tf), answer(&sim, false, t, tf, "2024-05-01", "2024-07-31"));
        }
    }
    for (t, split, ratio) in [("MSFT", "2024-07-15", 2.0), ("NVDA", "2024-06-10", 10.0)] {
        let raw = gap_across(&rows(&config.db, "bars", t, "1/day"), split);
        let adjusted = gap_across(&rows(&config.db, "bars_adjusted", t, "1/day"), split);
        assert!((0.8..1.25).contains(&(raw * ratio)), "{t}: the raw bars jump by the split ({raw})");
        assert!((0.8..1.25).contains(&adjusted), "{t}: bars_adjusted is continuous ({adjusted})");
    }
}

#[tokio::test]
async fn a_split_published_late_for_a_date_inside_the_stored_bars_changes_no_row_and_is_named() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let (from, to) = ("2024-01-02", "2024-02-29");
    let mut config = config(&dir, &["JPM"], &["1/day", "1/hour"], from, to);
    config.fetch_splits = true;
    // The split happened (the raw bars from 2024-02-05 on are on the new scale), but the
    // splits endpoint does not list it yet.
    sim.add_late_split("JPM", day("2024-02-05"), 1.0, 3.0).unwrap();
    let (first, events) = run(&config, source(&sim)).await;
    assert_eq!(first.status, RunStatus::Done, "{}", first.to_text());
    assert!(news(&first, &events).is_empty());
    let before = dump(&config.db);
    let unknown = gap_across(&rows(&config.db, "bars_adjusted", "JPM", "1/day"), "2024-02-05");
    assert!((0.8..1.25).contains(&(unknown * 3.0)), "no split known yet: adjusted jumps as raw does ({unknown})");

    // Published now. A run the same day asks nothing (splits are asked at most once a day);
    // the next day's run has no bar to fetch, asks for splits, and names this one, which
    // reaches back over a month of stored bars.
    assert!(sim.reveal_split("JPM", day("2024-02-05")));
    let (same_day, _) = run(&config, source(&sim)).await;
    assert_eq!((same_day.requests, same_day.split_requests), (0, 0), "{}", same_day.to_text());
    config.today += 1;
    let (second, events) = run(&config, source(&sim)).await;
    assert_eq!(second.status, RunStatus::Done, "{}", second.to_text());
    assert_eq!((second.requests, second.split_requests), (1, 1));
    assert_eq!(news(&second, &events), [split_news("JPM", "2024-02-05", 1.0, 3.0)]);
    let text = second.to_text();
    assert!(
        text.contains("Nothing to fetch: every window is already stored (no bar requests; 1 for splits)"),
        "{text}"
    );
    assert!(text.contains("New splits:     JPM 3-for-1 on 2024-02-05"), "{text}");

    assert_eq!(dump(&config.db), before, "no stored row changed");
    for tf in ["1/day", "1/hour"] {
        assert_eq!(rows(&config.db, "bars_adjusted", "JPM", tf), answer(&sim, true, "JPM", tf, from, to), "{tf}");
    }
    let adjusted = gap_across(&rows(&config.db, "bars_adjusted", "JPM", "1/day"), "2024-02-05");
    assert!((0.8..1.25).contains(&adjusted), "continuous once the split is known ({adjusted})");

    // Known now, it is not news again.
    let (third, events) = run(&config, source(&sim)).await;
    assert!(news(&third, &events).is_empty());
}

#[tokio::test]
async fn a_reverse_split_reads_earlier_bars_on_the_new_higher_scale() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let tfs = ["1/day", "1/hour"];
    let mut config = config(&dir, &["KO"], &tfs, "2024-01-02", "2024-01-31");
    config.fetch_splits = true;
    let (first, _) = run(&config, source(&sim)).await;
    assert_eq!(first.status, RunStatus::Done, "{}", first.to_text());
    let before = dump(&config.db);

    sim.add_split("KO", day("2024-02-12"), 10.0, 1.0).unwrap();
    config.to = day("2024-02-29");
    config.today += 1;
    let (second, events) = run(&config, source(&sim)).await;
    assert_eq!(second.status, RunStatus::Done, "{}", second.to_text());
    let told = news(&second, &events);
    assert_eq!(told, [split_news("KO", "2024-02-12", 10.0, 1.0)]);
    assert_eq!(told[0].line(), "new split: KO 1-for-10 on 2024-02-12; bars_adjusted follows, nothing refetched");
    let kept: Vec<Row> = dump(&config.db).into_iter().filter(|r| r.2 < ms("2024-02-01")).collect();
    assert_eq!(kept, before);
    for tf in tfs {
        let adjusted = rows(&config.db, "bars_adjusted", "KO", tf);
        assert_eq!(adjusted, answer(&sim, true, "KO", tf, "2024-01-02", "2024-02-29"), "{tf}");
    }
    let day_rows = rows(&config.db, "bars_adjusted", "KO", "1/day");
    assert!((0.8..1.25).contains(&gap_across(&day_rows, "2024-02-12")));
    // Ten old shares are one new one: January reads ten times dearer, a tenth the volume.
    let raw_jan = &rows(&config.db, "bars", "KO", "1/day")[0];
    assert!((day_rows[0].6 / raw_jan.6 - 10.0).abs() < 1e-3);
    assert!((day_rows[0].7.unwrap() / raw_jan.7.unwrap() - 0.1).abs() < 1e-6);
}

#[tokio::test]
async fn an_adjusted_database_stays_adjusted_asks_for_no_splits_and_says_how_to_move() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut config = config(&dir, &["PEP"], &["1/day", "1/hour"], "2024-01-02", "2024-01-31");
    config.fetch_splits = true;
    // A database of split-adjusted bars, as the previous release made by default.
    config.adjusted = true;
    let (first, mut events) = run(&config, source(&sim)).await;
    assert_eq!(first.status, RunStatus::Done, "{}", first.to_text());
    let before = dump(&config.db);

    // A split after everything fetched: every adjusted answer is divided by 3, raw ones not.
    sim.add_split("PEP", day("2024-03-18"), 1.0, 3.0).unwrap();
    config.adjusted = false; // the default: a run that has not heard of the old file
    config.to = day("2024-02-29");
    let (second, more) = run(&config, source(&sim)).await;
    events.extend(more);
    assert_eq!(second.status, RunStatus::Done, "{}", second.to_text());
    assert_eq!(sim.stats.snapshot().by_endpoint.splits, 0, "splits change nothing an adjusted file reads");
    assert_eq!((first.split_requests, second.split_requests), (0, 0));
    assert!(second.new_splits.is_empty());

    // February came adjusted, as the file holds: no raw bar mixed in. January stays as it
    // was fetched, on the scale before the split: what the notice warns of.
    for tf in ["1/day", "1/hour"] {
        let stored = rows(&config.db, "bars", "PEP", tf);
        let feb: Vec<Row> = stored.iter().filter(|r| r.2 >= ms("2024-02-01")).cloned().collect();
        assert_eq!(feb, answer(&sim, true, "PEP", tf, "2024-02-01", "2024-02-29"), "{tf}");
        assert_ne!(feb, answer(&sim, false, "PEP", tf, "2024-02-01", "2024-02-29"));
        assert_eq!(rows(&config.db, "bars_adjusted", "PEP", tf), stored, "an adjusted file reads as stored");
    }
    let jan: Vec<Row> = dump(&config.db).into_iter().filter(|r| r.2 < ms("2024-02-01")).collect();
    assert_eq!(jan, before);

    let notices: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Notice { text, .. } if text.contains("split-adjusted bars") => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "said once: {notices:?}");
    assert!(notices[0].contains("--db") && notices[0].contains("raw"), "{}", notices[0]);
}

#[tokio::test]
async fn a_stop_while_splits_are_asked_for_ends_the_run_as_stopped_before_any_bar() {
    // Slow answers, so the stop comes while the split request (and the first bar request,
    // which no longer waits for it) is in flight.
    let opts = barfill::sim::SimOptions { latency_ms: 500, ..barfill::sim::SimOptions::fast() };
    let sim = Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let mut config = config(&dir, &["AAPL"], &["1/day"], "2024-01-02", "2024-01-31");
    config.fetch_splits = true;
    let (store, plan) = barfill::engine::prepare(&config).unwrap();
    let handle = barfill::engine::start(std::sync::Arc::new(config.clone()), source(&sim), store, plan).expect("start");
    let report = handle
        .drive(|e, commands| {
            if matches!(e, Event::RunStarted(_)) {
                let _ = commands.send(barfill::engine::Command::Stop);
            }
        })
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Stopped, "{}", report.to_text());
    assert!(report.note.as_deref().unwrap_or_default().contains("resumes"), "{:?}", report.note);
    let asked = sim.stats.snapshot().by_endpoint;
    assert_eq!(report.bars, 0, "the answers in flight were dropped");
    assert!(asked.splits <= 1 && asked.range + asked.grouped <= 1, "first requests at most: {asked:?}");
    // The next run does the whole job: the stopped run's splits never came whole.
    let (again, _) = run(&config, source(&sim)).await;
    assert_eq!(again.status, RunStatus::Done, "{}", again.to_text());
    assert_eq!(again.split_requests, 1);
}

#[tokio::test]
async fn a_rerun_the_same_day_over_stored_windows_makes_no_request_at_all() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut config = config(&dir, &["AAPL", "MSFT"], &["1/day"], "2024-01-02", "2024-03-28");
    config.fetch_splits = true;
    let (first, _) = run(&config, source(&sim)).await;
    assert_eq!((first.status, first.split_requests), (RunStatus::Done, 1), "{}", first.to_text());
    let (again, _) = run(&config, source(&sim)).await;
    assert_eq!((again.status, again.requests), (RunStatus::Done, 0), "{}", again.to_text());
    assert!(again.to_text().contains("Nothing to fetch: every window is already stored (0 requests)"));
    // A ticker added the same day gets its splits asked; the others do not.
    config.symbols.push("NVDA".into());
    let (third, events) = run(&config, source(&sim)).await;
    assert_eq!(third.split_requests, 1, "{}", third.to_text());
    let asked: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) if r.path.contains("splits") => Some(r.path.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
}
