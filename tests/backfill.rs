//! Whole backfills against the in-process simulator: what lands in the database.

mod common;

use barfill::config::Fixes;
use common::*;

const FROM: &str = "2024-01-01";
const TO: &str = "2024-04-30";
const SYMBOLS: [&str; 2] = ["AAPL", "MSFT"];
const TIMEFRAMES: [&str; 4] = ["1/minute", "1/hour", "1/day", "1/week"];

#[tokio::test]
async fn every_bar_lands_exactly_once() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let config = config(&dir, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, "done", "{}", report.to_text());
    assert_eq!(report.failed_jobs, 0);
    let mut total = 0;
    for s in SYMBOLS {
        for tf in TIMEFRAMES {
            let want = expected(s, tf, FROM, TO);
            assert!(want > 0);
            assert_eq!(count(&config.db, s, tf), want, "{s} {tf}");
            total += want;
        }
    }
    assert_eq!(report.bars, total);
    // 87 weekdays: two 52-day windows per intraday row, one request per day-based row.
    assert_eq!(report.requests, 2 * 2 * 2 + 2 * 2);
    assert_eq!(report.success_rate, 1.0);
}

#[tokio::test]
async fn a_second_run_fetches_nothing_and_says_so() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let config = config(&dir, &SYMBOLS, &["1/hour", "1/day"], FROM, TO);
    let (first, _) = run(&config, source(&sim)).await;
    assert!(first.requests > 0);
    let before = dump(&config.db);
    let (second, _) = run(&config, source(&sim)).await;
    assert_eq!(second.requests, 0);
    assert_eq!(second.status, "done");
    assert!(second.to_text().contains("Nothing to fetch"), "{}", second.to_text());
    assert_eq!(dump(&config.db), before);
}

#[tokio::test]
async fn baseline_and_all_fixes_store_identical_databases() {
    let sim = fast_sim().await;
    let (_t, a) = tmp();
    let (_u, b) = tmp();
    let mut base = config(&a, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    base.fixes = Fixes::NONE;
    let fixed = config(&b, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    let (rb, _) = run(&base, source(&sim)).await;
    let (rf, _) = run(&fixed, source(&sim)).await;
    assert_eq!(rb.status, "done");
    // The baseline's 5000-bar pages need many more requests for the same rows.
    assert!(rb.requests > 3 * rf.requests, "{} vs {}", rb.requests, rf.requests);
    assert_eq!(dump(&base.db), dump(&fixed.db));
}

#[tokio::test]
async fn grouped_daily_and_per_ticker_daily_give_identical_rows() {
    let sim = fast_sim().await;
    let symbols = ["AAPL", "MSFT", "NVDA", "SPY", "TSLA", "IBM", "KO", "PEP", "JPM", "XOM"];
    let (_t, a) = tmp();
    let (_u, b) = tmp();
    // 10 symbols, 5 trading days: grouped needs 5 requests, per ticker 10.
    let grouped = config(&a, &symbols, &["1/day"], "2024-03-04", "2024-03-08");
    let mut per_ticker = config(&b, &symbols, &["1/day"], "2024-03-04", "2024-03-08");
    per_ticker.fixes.batching = false;
    let (rg, _) = run(&grouped, source(&sim)).await;
    let (rp, _) = run(&per_ticker, source(&sim)).await;
    assert_eq!(rg.requests, 5);
    assert_eq!(rp.requests, 10);
    assert_eq!(rg.bars, 50);
    assert_eq!(dump(&grouped.db), dump(&per_ticker.db));
}

#[tokio::test]
async fn unknown_tickers_store_nothing_but_finish() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let config = config(&dir, &["QQQQQ"], &["1/day"], FROM, TO);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, "done");
    assert_eq!(report.bars, 0);
    assert_eq!(report.windows_done, 1);
}
