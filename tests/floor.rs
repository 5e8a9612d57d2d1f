//! Every request counts: thin, unknown and interrupted rows cost the fewest requests the
//! bars allow, and the report's floor says what that fewest is.

use crate::common::*;
use barfill::config::{Fix, Fixes};
use barfill::engine::events::RowState;
use barfill::engine::{Command, Event};
use barfill::report::RunStatus;

const FROM: &str = "2024-01-01";
const TO: &str = "2024-12-31";

/// Requests the run made for one ticker's rows, from its request events.
fn requests_for(events: &[Event], ticker: &str) -> u64 {
    let needle = format!("/v2/aggs/ticker/{ticker}/");
    events.iter().filter(|e| matches!(e, Event::Request(r) if r.path.starts_with(&needle))).count() as u64
}

#[tokio::test]
async fn a_thin_ticker_costs_what_its_bars_fill_not_a_window_per_52_sessions() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let thin = thinnest_trading_through(FROM, TO);
    let mut config = config(&dir, &[&thin], &["1/minute", "1/hour"], FROM, TO);
    // Below a paid plan's pace, where every request counts (at a paid pace, idle workers
    // may spend one more on a row: tests/concurrency.rs).
    config.quota_per_min = 4_000;
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let base = expected(&thin, "1/minute", FROM, TO);
    let per_row = base.div_ceil(50_000);
    assert!(per_row < 252_u64.div_ceil(52), "the ticker must be thin enough to show it: {base} base bars");
    // An hour row costs what its minute bars fill (the server counts them against limit).
    assert_eq!(requests_for(&events, &thin), 2 * per_row);
    assert_eq!(report.floor_requests, report.requests, "{}", report.to_text());
    assert_eq!(count(&config.db, &thin, "1/minute"), base);
    assert_eq!(count(&config.db, &thin, "1/hour"), expected(&thin, "1/hour", FROM, TO));
}

#[tokio::test]
async fn an_unknown_ticker_costs_one_request_per_row_and_is_named_once() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let config = config(&dir, &["AAPL", "NOPE"], &["1/minute", "1/day"], FROM, "2024-03-28");
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    assert_eq!(requests_for(&events, "NOPE"), 2);
    assert_eq!(report.empty_tickers, ["NOPE"]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["empty_tickers"], serde_json::json!(["NOPE"]));
    assert!(report.to_text().contains("No bars in range: NOPE"), "{}", report.to_text());
    // Both NOPE rows end empty, AAPL's done; the warning names NOPE once.
    let empty = events.iter().filter(|e| matches!(e, Event::RowState { state: RowState::Empty, .. })).count();
    assert_eq!(empty, 2);
    let named = events.iter().filter(|e| matches!(e, Event::Notice { text, .. } if text.contains("NOPE"))).count();
    assert_eq!(named, 1);
    assert_eq!(report.floor_requests, report.requests);
    // The next run knows the rows are empty without asking again.
    let (again, events) = run(&config, source(&sim)).await;
    assert_eq!(again.requests, 0);
    assert_eq!(again.empty_tickers, ["NOPE"]);
    assert!(events.iter().any(|e| matches!(e, Event::RowState { row: 3, state: RowState::Empty })));
}

#[tokio::test]
async fn a_switch_of_fix_2_acts_at_the_next_page_of_a_row_in_flight() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut config = config(&dir, &["AAPL"], &["1/minute"], FROM, "2024-06-28");
    config.fixes = Fixes::NONE;
    let (store, plan) = barfill::engine::prepare(&config).unwrap();
    let handle = barfill::engine::start(std::sync::Arc::new(config.clone()), source(&sim), store, plan).unwrap();
    let mut sizes = Vec::new();
    let mut toggled = false;
    let report = handle
        .drive(|e, commands| {
            if let Event::Request(r) = &e {
                sizes.push(r.bars);
            }
            if matches!(e, Event::Stored { .. }) && !toggled {
                toggled = true;
                commands.send(Command::SetFix(Fix::Batching, true)).unwrap();
            }
        })
        .await
        .unwrap();
    assert_eq!(report.status, RunStatus::Done);
    let bars = expected("AAPL", "1/minute", FROM, "2024-06-28");
    assert_eq!(count(&config.db, "AAPL", "1/minute"), bars);
    // Pages of 5000 until the switch (how many depends on when the first commit is seen),
    // then the rest at 50000 from the last stored bar: full pages and the row's last one.
    let small = sizes.iter().take_while(|&&n| n == 5_000).count();
    assert!(small >= 1 && small < sizes.len(), "{sizes:?}");
    assert!(sizes[small..sizes.len() - 1].iter().all(|&n| n == 50_000), "{sizes:?}");
    let rest = bars - 5_000 * small as u64;
    assert_eq!(report.requests, small as u64 + rest.div_ceil(50_000), "{sizes:?}");
}

/// A ticker of the simulator's universe whose life starts (or ends) inside the year.
fn born_or_gone_in(year: (barfill::calendar::Day, barfill::calendar::Day), born: bool) -> String {
    let universe = barfill::sim::market::Universe::new(barfill::sim::SimOptions::fast().extra_tickers);
    let inside = |d: barfill::calendar::Day| year.0 < d && d < year.1;
    universe
        .tickers()
        .iter()
        .find(|t| if born { inside(t.first_day()) && t.last_day.is_none() } else { t.last_day.is_some_and(inside) })
        .map(|t| t.ticker.clone())
        .unwrap_or_else(|| panic!("the universe has a ticker {} in the year", if born { "listed" } else { "delisted" }))
}

#[tokio::test]
async fn the_reports_floor_is_the_simulators_own_fewest_requests_and_the_run_meets_it() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let (from, to) = ("2025-01-01", "2025-12-31");
    let year = (barfill::calendar::parse_date(from).unwrap(), barfill::calendar::parse_date(to).unwrap());
    let (thin, born, gone) =
        (thinnest_trading_through(FROM, TO), born_or_gone_in(year, true), born_or_gone_in(year, false));
    let tickers = ["AAPL", "MSFT", thin.as_str(), born.as_str(), gone.as_str(), "NOPE"];
    let tfs = ["1/minute", "1/day"];
    let mut config = config(&dir, &tickers, &tfs, from, to);
    // A quota that binds (ten requests a second): rows stay whole chains. Under a paid
    // plan's pace idle workers would share rows, a request per piece edge for speed.
    config.quota_per_min = 600;
    config.quota_window = std::time::Duration::from_secs(1);
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let universe = sim.universe();
    let timeframes: Vec<_> = tfs.iter().map(|t| t.parse().unwrap()).collect();
    let fewest = barfill::sim::market::fewest_requests(&universe, &tickers, &timeframes, year.0, year.1);
    assert_eq!(report.floor_requests, fewest, "{}", report.to_text());
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) if r.error.is_some() => Some((r.path.clone(), r.message.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(report.requests, fewest, "all fixes on: not one request above the floor; failed: {failed:?}");
    assert_eq!(report.empty_tickers, ["NOPE"]);
    // The listed and delisted tickers end where their lives do.
    let info = events.iter().find_map(|e| if let Event::RunStarted(i) = e { Some(i.clone()) } else { None }).unwrap();
    let day_row = |t: &str| info.rows.iter().position(|r| r.ticker == t && r.timeframe.is_daily()).unwrap();
    let bounds = |row: usize| {
        events
            .iter()
            .find_map(|e| match e {
                Event::RowBounds { row: r, first, last } if *r == row => Some((*first, *last)),
                _ => None,
            })
            .unwrap()
    };
    let life = |t: &str| universe.life(t).unwrap();
    assert_eq!(bounds(day_row(&born)).0, life(&born).0);
    assert_eq!(Some(bounds(day_row(&gone)).1), life(&gone).1);
    for t in [&born, &gone] {
        assert_eq!(count(&config.db, t, "1/day"), expected(t, "1/day", from, to));
        assert_eq!(count(&config.db, t, "1/minute"), expected(t, "1/minute", from, to));
    }
}
