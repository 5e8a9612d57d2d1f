//! Every asset class against the simulator: each stores exactly the bars of its own days
//! (weekends, holidays, a contract's life), at the fewest requests its bars allow.

use crate::common::*;
use barfill::calendar;
use barfill::engine::Event;
use barfill::markets::DayStamp;
use barfill::report::RunStatus;
use barfill::sim::{Sim, SimOptions};

/// Paths of the run's requests, in the order they were made.
fn paths(events: &[Event]) -> Vec<String> {
    events.iter().filter_map(|e| if let Event::Request(r) = e { Some(r.path.clone()) } else { None }).collect()
}

/// Below a paid plan's pace every request counts: rows stay one chain of pages each.
fn counted(
    dir: &std::path::Path,
    symbols: &[&str],
    timeframes: &[&str],
    from: &str,
    to: &str,
) -> barfill::config::Config {
    let mut c = config(dir, symbols, timeframes, from, to);
    c.quota_per_min = 4_000;
    c
}

#[tokio::test]
async fn each_class_stores_exactly_its_bars_across_weekends_and_holidays() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    // Christmas, New Year's Day, President Carter's day of mourning and MLK Day; the
    // contract is listed 2024-11-15 and expires 2025-01-10, inside the range.
    let (from, to) = ("2024-12-20", "2025-01-21");
    let symbols = ["AAPL", "X:BTCUSD", "C:EURUSD", "I:SPX", "I:AAVE100", "O:SPY250110C00500000"];
    let timeframes = ["1/minute", "1/hour", "1/day"];
    let config = counted(&dir, &symbols, &timeframes, from, to);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let universe = sim.universe();
    for t in symbols {
        for tf in timeframes {
            let want = sim_rows(&universe, t, tf, from, to);
            assert!(!want.is_empty(), "{t} {tf}");
            assert_same_rows(&rows_of(&config.db, t, tf), &want, &format!("{t} {tf}"));
        }
    }
    // Crypto on every day, forex not on Saturdays, I:SPX not on NYSE holidays, I:AAVE100 on them.
    let days = |t: &str| rows_of(&config.db, t, "1/day").len();
    assert_eq!((days("X:BTCUSD"), days("C:EURUSD"), days("I:SPX"), days("I:AAVE100")), (33, 28, 19, 23));
    let spx = rows_of(&config.db, "I:SPX", "1/minute");
    assert!(spx.iter().all(|r| r.7.is_none() && r.8.is_none() && r.9.is_none()), "indices carry no volume");
    let option_days: Vec<calendar::Day> =
        rows_of(&config.db, "O:SPY250110C00500000", "1/day").iter().map(|r| calendar::ny_day_of_ms(r.2)).collect();
    assert!(option_days.iter().all(|d| *d <= calendar::parse_date("2025-01-10").unwrap()));
    // One page a row: the true floor, as the simulator counts it.
    let floor = barfill::sim::market::fewest_requests(
        &universe,
        &symbols,
        &timeframes.map(|t| t.parse().unwrap()),
        calendar::parse_date(from).unwrap(),
        calendar::parse_date(to).unwrap(),
    );
    assert_eq!((report.requests, report.floor_requests, floor), (18, 18, 18), "{}", report.to_text());
}

#[tokio::test]
async fn crypto_and_forex_daily_bars_come_through_their_grouped_endpoints() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let universe = sim.universe();
    let of = |prefix: &str| -> Vec<String> {
        universe.others().iter().filter(|t| t.ticker.starts_with(prefix)).map(|t| t.ticker.clone()).collect()
    };
    let mut symbols: Vec<String> = of("X:");
    symbols.extend(of("C:"));
    symbols.extend(symbols_of_stocks(5));
    let symbols: Vec<&str> = symbols.iter().map(String::as_str).collect();
    // Friday to Monday: 4 crypto days, 3 forex days (no Saturday), 2 NYSE sessions.
    let (from, to) = ("2025-01-03", "2025-01-06");
    let config = counted(&dir, &symbols, &["1/day"], from, to);
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let asked = paths(&events);
    let grouped = |market: &str| asked.iter().filter(|p| p.contains(&format!("/market/{market}/"))).count();
    assert_eq!((grouped("crypto"), grouped("fx"), grouped("stocks")), (4, 3, 2), "{asked:?}");
    assert_eq!(report.requests, 9, "no per-ticker request: {asked:?}");
    assert_eq!(report.floor_requests, 9);
    for t in symbols {
        assert_same_rows(&rows_of(&config.db, t, "1/day"), &sim_rows(&universe, t, "1/day", from, to), t);
    }
}

/// The first `n` stocks of the simulator's real names.
fn symbols_of_stocks(n: usize) -> Vec<String> {
    symbols(n).into_iter().map(String::from).collect()
}

#[tokio::test]
async fn crypto_tickers_in_a_stock_universe_are_never_judged_by_the_stocks_grouped_answer() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut symbols = symbols(30);
    symbols.extend(["X:BTCUSD", "X:ETHUSD"]);
    let (from, to) = ("2025-01-01", "2025-01-31");
    let config = counted(&dir, &symbols, &["1/day"], from, to);
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    // 20 sessions through the stocks' grouped endpoint; the two pairs on their own, since
    // two rows cost fewer requests than 31 grouped crypto days.
    let asked = paths(&events);
    assert_eq!(asked.iter().filter(|p| p.contains("/grouped/locale/us/market/stocks/")).count(), 20);
    assert_eq!(asked.iter().filter(|p| p.starts_with("/v2/aggs/ticker/X:")).count(), 2, "{asked:?}");
    assert!(report.empty_tickers.is_empty(), "{:?}", report.empty_tickers);
    let universe = sim.universe();
    for t in ["X:BTCUSD", "X:ETHUSD", "AAPL"] {
        let want = sim_rows(&universe, t, "1/day", from, to);
        assert_same_rows(&rows_of(&config.db, t, "1/day"), &want, t);
    }
    assert_eq!(rows_of(&config.db, "X:BTCUSD", "1/day").len(), 31);
}

#[tokio::test]
async fn a_stopped_run_resumes_a_crypto_row_mid_weekend() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    // From a Sunday: a full page of 50,000 minutes ends on Saturday 2025-02-08 at 17:19 UTC,
    // and the next one on Saturday 2025-03-15.
    let (from, to) = ("2025-01-05", "2025-03-31");
    let config = counted(&dir, &["X:BTCUSD"], &["1/minute"], from, to);
    let stopped = run_and_stop(&config, source(&sim), 1).await;
    assert_eq!(stopped.status, RunStatus::Stopped, "{}", stopped.to_text());
    let stored = rows_of(&config.db, "X:BTCUSD", "1/minute");
    let last = stored.last().unwrap().2;
    let last_day = last.div_euclid(calendar::MS_PER_DAY) as calendar::Day;
    assert_eq!(calendar::weekday_index(last_day), 5, "the page ends on a Saturday");
    // Whole UTC days before it are recorded; the Saturday itself is not finished.
    let windows = progress(&config.db);
    assert_eq!(windows.last().unwrap().3, calendar::format_day(last_day - 1), "{windows:?}");
    let (resumed, events) = run(&config, source(&sim)).await;
    assert_eq!(resumed.status, RunStatus::Done, "{}", resumed.to_text());
    // The run goes on just after the last stored bar, in the middle of Saturday.
    let first = paths(&events).into_iter().next().unwrap();
    assert!(first.contains(&format!("/range/1/minute/{}/", last + 60_000)), "{first}");
    let want = sim_rows(&sim.universe(), "X:BTCUSD", "1/minute", from, to);
    assert_same_rows(&rows_of(&config.db, "X:BTCUSD", "1/minute"), &want, "after the resume");
    assert_eq!(stopped.requests + resumed.requests, (want.len() as u64).div_ceil(50_000));
}

#[tokio::test]
async fn a_crypto_day_stamp_is_taken_from_the_first_page_and_a_change_refused() {
    // A server that stamps crypto days at New York midnight: barfill stores them as they come.
    let ny = SimOptions { crypto_day_stamp: DayStamp::NewYorkMidnight, ..fast_sim_options() };
    let sim = Sim::start_local(ny).await.unwrap();
    let (_t, dir) = tmp();
    let (from, to) = ("2025-01-01", "2025-01-10");
    let mut config = counted(&dir, &["X:BTCUSD"], &["1/day"], from, to);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let stored = rows_of(&config.db, "X:BTCUSD", "1/day");
    assert_same_rows(&stored, &sim_rows(&sim.universe(), "X:BTCUSD", "1/day", from, to), "New York stamps");
    // The same days again from a server that stamps them at UTC midnight: refused, not
    // stored a second time under another stamp.
    let utc = Sim::start_local(fast_sim_options()).await.unwrap();
    config.refetch = true;
    config.retry.max_attempts = 2;
    let (again, events) = run(&config, source(&utc)).await;
    assert_eq!(again.bars, 0, "{}", again.to_text());
    let failed = events.iter().find_map(|e| match e {
        Event::WindowFailed { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    let reason = failed.expect("the window fails");
    assert!(
        reason.contains(
            "crypto day bars: stamped at UTC midnight where this row's earlier bars are stamped at New York midnight"
        ),
        "{reason}"
    );
    assert_same_rows(&rows_of(&config.db, "X:BTCUSD", "1/day"), &stored, "unchanged");
}

#[tokio::test]
async fn status_counts_each_classs_own_days() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let (from, to) = ("2025-01-01", "2025-01-31");
    let symbols = ["AAPL", "X:BTCUSD", "C:EURUSD", "I:SPX", "I:AAVE100", "O:SPY250117C00500000"];
    let config = counted(&dir, &symbols, &["1/minute"], from, to);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_barfill"))
        .args(["status", "--db", config.db.to_str().unwrap(), "--from", from, "--to", to, "--json"])
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("home/.config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .env_remove("MASSIVE_API_KEY")
        .env_remove("POLYGON_API_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |t: &str| v["rows"].as_array().unwrap().iter().find(|r| r["ticker"] == t).unwrap().clone();
    // Each row complete on its own days: NYSE sessions, every UTC day, Sunday to Friday,
    // NYSE sessions for I:SPX and the weekdays I:AAVE100 printed (MLK Day and 9 January
    // too), and the option's sessions up to its expiration on 17 January.
    for (t, class, days) in [
        ("AAPL", "stocks", 20),
        ("X:BTCUSD", "crypto", 31),
        ("C:EURUSD", "fx", 27),
        ("I:SPX", "indices", 20),
        ("I:AAVE100", "indices", 23),
    ] {
        let r = row(t);
        assert_eq!(r["class"], class, "{t}");
        assert_eq!((r["sessions_stored"].clone(), r["sessions_expected"].clone()), (days.into(), days.into()), "{t}");
        assert_eq!(r["missing"], serde_json::json!([]), "{t}");
    }
    let option = row("O:SPY250117C00500000");
    assert_eq!(option["sessions_expected"], 11, "2 January to the expiration");
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_barfill"))
        .args(["status", "--db", config.db.to_str().unwrap(), "--from", from, "--to", to])
        .env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("home/.config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("crypto 31 calendar days (UTC)") && text.contains("fx 27 forex days"), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("X:BTCUSD ") && l.contains(" crypto ") && l.contains("31/31")),
        "{text}"
    );
}

#[tokio::test]
async fn an_options_chain_resolves_through_paged_answers_and_each_contract_is_stored_within_its_life() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    // Every SPY strike of a quarter: 13 expirations x 101 strikes x 2 = 2,626 contracts, three
    // pages of the list.
    let mut all = config(&dir, &[], &["1/day"], "2025-01-01", "2025-03-31");
    all.chain = barfill::config::ChainSettings {
        options: vec!["SPY".into()],
        expiring: Some(calendar::Range {
            from: calendar::parse_date("2025-01-01").unwrap(),
            to: calendar::parse_date("2025-03-31").unwrap(),
        }),
        ..Default::default()
    };
    let (contracts, requests) = barfill::engine::list_chain(&all, &source(&sim)).await.unwrap();
    assert_eq!((contracts.len(), requests), (2_626, 3));
    assert_eq!(sim.stats.snapshot().by_endpoint.contracts, 3);
    assert!(contracts.windows(2).all(|w| w[0].ticker < w[1].ticker), "each once, by ticker");

    // A smaller chain, backfilled from before its weeklies were listed to after they expired.
    let (from, to) = ("2024-12-02", "2025-02-28");
    let mut config = counted(&dir, &[], &["1/day", "1/minute"], from, to);
    config.chain = barfill::config::ChainSettings {
        options: vec!["SPY".into()],
        expiring: Some(calendar::Range {
            from: calendar::parse_date("2025-01-01").unwrap(),
            to: calendar::parse_date("2025-01-31").unwrap(),
        }),
        strikes: Some((490.0, 510.0)),
        contract_type: None,
    };
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let universe = sim.universe();
    let tickers: std::collections::BTreeSet<String> = dump(&config.db).into_iter().map(|r| r.0).collect();
    // Five expirations in January 2025 (3, 10, 17, 24, 31), five strikes, calls and puts.
    let chain_size = 5 * 5 * 2;
    for t in &tickers {
        let info = universe.lookup(t).unwrap();
        let expires = barfill::markets::OptionContract::parse(t).unwrap().expiration;
        for tf in ["1/day", "1/minute"] {
            let stored = rows_of(&config.db, t, tf);
            assert_same_rows(&stored, &sim_rows(&universe, t, tf, from, to), &format!("{t} {tf}"));
            let days: Vec<calendar::Day> = stored.iter().map(|r| calendar::ny_day_of_ms(r.2)).collect();
            assert!(days.iter().all(|d| *d >= info.first_day() && *d <= expires), "{t} {tf} outside its life");
        }
    }
    assert!(tickers.len() > chain_size / 2, "most contracts traded: {}", tickers.len());
    // One request a row, each asking only up to its contract's expiration, and the one list page.
    let asked = paths(&events);
    let bars: Vec<&String> = asked.iter().filter(|p| p.starts_with("/v2/aggs/ticker/O:")).collect();
    assert_eq!(bars.len(), chain_size * 2, "{asked:?}");
    for p in &bars {
        let ticker = p.split('/').nth(4).unwrap();
        let expires = calendar::format_day(barfill::markets::OptionContract::parse(ticker).unwrap().expiration);
        assert!(p.ends_with(&format!("/{expires}")), "{p}");
    }
    assert_eq!(report.requests, chain_size as u64 * 2 + 1);
    assert_eq!(report.floor_requests, report.requests, "{}", report.to_text());
}
