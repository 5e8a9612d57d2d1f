//! Universes from reference data: what `--universe stocks` resolves to, page by page, and
//! a run over it that names the tickers with no bars and shows where lives begin and end.

use crate::common::*;
use barfill::calendar::{self, Day};
use barfill::config::Universe;
use barfill::engine::Event;
use barfill::engine::events::RowState;
use barfill::report::RunStatus;
use barfill::sim::{Sim, SimOptions};

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

/// The simulator's own answer to "active common stocks and ETFs", sorted.
fn active_stocks(sim: &Sim) -> Vec<String> {
    let today = today();
    let mut names: Vec<String> = sim
        .universe()
        .tickers()
        .iter()
        .filter(|t| !t.otc && ["CS", "ETF"].contains(&t.kind) && t.listed_on(today))
        .map(|t| t.ticker.clone())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_universe_resolves_through_paged_reference_answers() {
    // Thousands of tickers: the list comes in pages of 1000, followed through next_url.
    let sim = Sim::start_local(SimOptions { extra_tickers: 2500, ..fast_sim_options() }).await.unwrap();
    let (_t, dir) = tmp();
    let mut config = config(&dir, &[], &["1/day"], "2025-01-02", "2025-01-31");
    config.universe = Some(Universe::Stocks);
    let want = active_stocks(&sim);
    assert!(want.len() > 1000, "{} tickers: too few to page", want.len());
    let (tickers, requests) = barfill::engine::list_universe(&config, &source(&sim)).await.unwrap();
    let got: Vec<String> = tickers.iter().map(|t| t.ticker.clone()).collect();
    assert_eq!(got, want);
    let pages = sim.stats.snapshot().by_endpoint.tickers;
    assert_eq!(requests, pages);
    assert!(pages >= 3, "common stocks take two pages or more, ETFs one: {pages}");

    // A limit stops paging as soon as it holds enough.
    config.universe_limit = Some(20);
    let before = sim.stats.snapshot().by_endpoint.tickers;
    let (tickers, requests) = barfill::engine::list_universe(&config, &source(&sim)).await.unwrap();
    assert_eq!(tickers.iter().map(|t| t.ticker.clone()).collect::<Vec<_>>(), want[..20]);
    assert_eq!(requests, 2, "one page of common stocks, one of ETFs");
    assert_eq!(sim.stats.snapshot().by_endpoint.tickers - before, 2);
}

#[tokio::test]
async fn as_of_a_date_the_universe_holds_the_tickers_delisted_since() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut config = config(&dir, &[], &["1/day"], "2022-01-03", "2022-06-30");
    config.universe = Some(Universe::Stocks);
    config.universe_as_of = Some(day("2022-01-03"));
    let (tickers, _) = barfill::engine::list_universe(&config, &source(&sim)).await.unwrap();
    let fb = tickers.iter().find(|t| t.ticker == "FB").expect("FB was listed then");
    assert!(!fb.active);
    assert_eq!(fb.delisted, Some(day("2022-06-09")));
    assert!(!tickers.iter().any(|t| t.ticker == "META"), "META was listed later, under that name");
}

#[tokio::test]
async fn a_run_over_a_universe_counts_its_reference_requests_and_names_what_it_found() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let (from, to) = ("2022-03-01", "2022-08-31");
    let mut config = config(&dir, &[], &["1/day"], from, to);
    config.universe = Some(Universe::Stocks);
    config.universe_as_of = Some(day(from));
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let counts = sim.stats.snapshot();
    assert_eq!(report.requests, counts.requests, "reference pages count like every request");
    assert!(counts.by_endpoint.tickers >= 4, "CS and ETF, active and not");
    // The report's floor counts the reference pages too.
    assert!(report.floor_requests <= report.requests);
    let Some(Event::RunStarted(info)) = events.iter().find(|e| matches!(e, Event::RunStarted(_))) else {
        panic!("no RunStarted")
    };
    let bounds = |ticker: &str| {
        let row =
            info.rows.iter().position(|r| r.ticker == ticker).unwrap_or_else(|| panic!("{ticker} in the universe"));
        events.iter().find_map(|e| match e {
            Event::RowBounds { row: r, first, last } if *r == row => Some((*first, *last)),
            _ => None,
        })
    };
    // FB stopped trading inside the range: its row ends on its last day, and no bar
    // after it is stored.
    assert_eq!(bounds("FB").map(|b| b.1), Some(day("2022-06-08")));
    assert_eq!(count(&config.db, "FB", "1/day"), expected("FB", "1/day", from, "2022-06-08"));
    assert_eq!(bounds("AAPL").map(|b| b.1), Some(day("2022-08-31")), "a ticker trading throughout ends with the range");
    let empty = events.iter().filter(|e| matches!(e, Event::RowState { state: RowState::Empty, .. })).count();
    assert_eq!(empty, report.empty_tickers.len());
}

#[tokio::test]
async fn crypto_fx_and_indices_universes_list_their_market_and_fetch_on_its_days() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let (from, to) = ("2025-01-03", "2025-01-06");
    for (universe, prefix) in [(Universe::Crypto, "X:"), (Universe::Fx, "C:"), (Universe::Indices, "I:")] {
        let mut config = config(&dir, &[], &["1/day"], from, to);
        config.universe = Some(universe);
        let (tickers, requests) = barfill::engine::list_universe(&config, &source(&sim)).await.unwrap();
        let mut want: Vec<String> =
            sim.universe().others().iter().filter(|t| t.ticker.starts_with(prefix)).map(|t| t.ticker.clone()).collect();
        want.sort();
        assert_eq!(tickers.iter().map(|t| t.ticker.clone()).collect::<Vec<_>>(), want, "{universe}");
        assert!(tickers.iter().all(|t| t.market == universe.name()), "{universe}");
        assert_eq!(requests, 1, "{universe}");
    }
    // A crypto universe's daily bars come from the crypto grouped endpoint, weekend included.
    let mut config = config(&dir, &[], &["1/day"], from, to);
    config.universe = Some(Universe::Crypto);
    config.quota_per_min = 4_000;
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let grouped = events
        .iter()
        .filter(|e| matches!(e, Event::Request(r) if r.path.contains("/grouped/locale/global/market/crypto/")))
        .count();
    assert_eq!((grouped, report.requests), (4, 5), "four days and the list page");
    assert_eq!(count(&config.db, "X:BTCUSD", "1/day"), 4);
}
