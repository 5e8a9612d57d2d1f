//! Whole backfills against the in-process simulator: what lands in the database.

use crate::common::*;
use barfill::config::{Concurrency, Fixes};
use barfill::engine::Event;
use barfill::report::RunStatus;

const FROM: &str = "2024-01-01";
const TO: &str = "2024-04-30";
const SYMBOLS: [&str; 2] = ["AAPL", "MSFT"];
const TIMEFRAMES: [&str; 4] = ["1/minute", "1/hour", "1/day", "1/week"];

/// The same work run twice on fresh databases: with fix 2 (grouped daily where cheaper)
/// and without it (per-ticker ranges).
struct BothWays {
    grouped: barfill::config::Config,
    per_ticker: barfill::config::Config,
    rg: barfill::report::Report,
    rp: barfill::report::Report,
    _dirs: [tempfile::TempDir; 2],
}

async fn both_ways(sim: &barfill::sim::Sim, symbols: &[&str], timeframes: &[&str], from: &str, to: &str) -> BothWays {
    let (t, a) = tmp();
    let (u, b) = tmp();
    let grouped = config(&a, symbols, timeframes, from, to);
    let mut per_ticker = config(&b, symbols, timeframes, from, to);
    per_ticker.fixes.batching = false;
    let (rg, _) = run(&grouped, source(sim)).await;
    let (rp, _) = run(&per_ticker, source(sim)).await;
    BothWays { grouped, per_ticker, rg, rp, _dirs: [t, u] }
}

#[tokio::test]
async fn every_bar_lands_exactly_once() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let config = config(&dir, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
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
    // 87 sessions: two 52-day windows per intraday row, one request per day-based row.
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
    assert_eq!(second.status, RunStatus::Done);
    assert!(second.to_text().contains("Nothing to fetch"), "{}", second.to_text());
    assert_same_rows(&dump(&config.db), &before, "the database against the first run's");
}

#[tokio::test]
async fn a_refetch_fetches_everything_again_and_duplicates_nothing() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut config = config(&dir, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    let (first, _) = run(&config, source(&sim)).await;
    let before = dump(&config.db);
    config.refetch = true;
    let (again, _) = run(&config, source(&sim)).await;
    assert_eq!(again.status, RunStatus::Done);
    assert_eq!((again.requests, again.bars), (first.requests, first.bars), "the same work again");
    assert_same_rows(&dump(&config.db), &before, "the database against the first run's");
    // Timed with other switches, over windows of other sizes: still the same rows.
    config.fixes = Fixes::NONE;
    let (baseline, _) = run(&config, source(&sim)).await;
    assert!(baseline.requests > first.requests);
    assert_eq!(baseline.bars, first.bars);
    assert_same_rows(&dump(&config.db), &before, "the database against the first run's");
    // And the progress the refetches left still says everything is stored.
    config.refetch = false;
    config.fixes = Fixes::ALL;
    let (after, _) = run(&config, source(&sim)).await;
    assert_eq!(after.requests, 0);
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
    assert_eq!(rb.status, RunStatus::Done);
    // The baseline's 5000-bar pages need many more requests for the same rows.
    assert!(rb.requests > 3 * rf.requests, "{} vs {}", rb.requests, rf.requests);
    assert_same_rows(&dump(&base.db), &dump(&fixed.db), "base against fixed");
}

#[tokio::test]
async fn grouped_daily_and_per_ticker_daily_give_identical_rows() {
    let sim = fast_sim().await;
    // 10 symbols, 5 trading days: grouped needs 5 requests, per ticker 10.
    let BothWays { grouped, per_ticker, rg, rp, _dirs } =
        both_ways(&sim, &symbols(10), &["1/day"], "2024-03-04", "2024-03-08").await;
    assert_eq!(rg.requests, 5);
    assert_eq!(rp.requests, 10);
    assert_eq!(rg.bars, 50);
    assert_same_rows(&dump(&grouped.db), &dump(&per_ticker.db), "grouped against per_ticker");
}

#[tokio::test]
async fn exchange_holidays_cost_no_request_and_hold_no_bar() {
    let sim = fast_sim().await;
    // 2024-03-25..04-05: 10 weekdays, Good Friday (03-29) among them.
    let BothWays { grouped, per_ticker, rg, rp, _dirs } =
        both_ways(&sim, &symbols(10), &["1/day", "1/minute"], "2024-03-25", "2024-04-05").await;
    assert_eq!((rg.status, rp.status), (RunStatus::Done, RunStatus::Done));
    let log = sim.stats.snapshot().log;
    let grouped_days: Vec<&str> =
        log.iter().filter_map(|(p, _)| p.strip_prefix("/v2/aggs/grouped/locale/us/market/stocks/")).collect();
    assert_eq!(grouped_days.len(), 9, "{grouped_days:?}");
    assert!(!grouped_days.contains(&"2024-03-29"));
    assert_eq!(count(&grouped.db, "AAPL", "1/day"), 9);
    assert_eq!(count(&grouped.db, "AAPL", "1/minute"), expected("AAPL", "1/minute", "2024-03-25", "2024-04-05"));
    let good_friday = barfill::calendar::ny_midnight_ms(barfill::calendar::parse_date("2024-03-29").unwrap());
    assert!(dump(&grouped.db).iter().all(|r| r.2 < good_friday || r.2 >= good_friday + 86_400_000));
    assert_same_rows(&dump(&grouped.db), &dump(&per_ticker.db), "grouped against per_ticker");
}

#[tokio::test]
async fn unknown_tickers_store_nothing_but_finish() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let config = config(&dir, &["QQQQQ"], &["1/day"], FROM, TO);
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done);
    assert_eq!(report.bars, 0);
    assert_eq!(report.windows_done, 1);
}

#[tokio::test]
async fn a_run_with_the_quota_biting_completes_and_counts_every_hit() {
    // 10 requests a second at the server, and no client pacing (fix 2 off): 429s galore.
    let mut opts = barfill::sim::SimOptions::fast();
    opts.quota = Some(10);
    opts.window = std::time::Duration::from_secs(1);
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let syms = symbols(30);
    let mut config = config(&dir, &syms, &["1/hour"], "2024-03-04", "2024-03-08");
    config.fixes = Fixes { backoff: true, batching: false, parallel: true };
    config.concurrency = Concurrency::Fixed(6);
    config.retry.budget = 1_000.0;
    // The waits here are a hundredth of the real ones, and the server's window is a real
    // second: enough attempts that no request gives up while the others take the window's
    // ten places, however slow the machine.
    config.retry.max_attempts = 30;
    let (report, _) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    assert_eq!(report.failed_jobs, 0, "{}", report.to_text());
    assert!(report.rate_limit_hits > 0);
    let seen = sim.stats.snapshot();
    assert_eq!(report.rate_limit_hits, seen.rate_limited, "every 429 the server sent is counted");
    assert_eq!(report.retries, report.rate_limit_hits);
    for s in &syms {
        assert_eq!(count(&config.db, s, "1/hour"), expected(s, "1/hour", "2024-03-04", "2024-03-08"));
    }
}

#[tokio::test]
async fn pacing_adapts_when_the_real_limit_is_far_below_the_configured_one() {
    // Configured 1800/min; the server allows 3 a second (180/min): ten times less.
    let mut opts = barfill::sim::SimOptions::fast();
    opts.quota = Some(3);
    opts.window = std::time::Duration::from_secs(1);
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let syms = symbols(30);
    let mut config = config(&dir, &syms, &["1/hour"], "2024-03-04", "2024-03-08");
    config.quota_per_min = 1800;
    config.headroom_pct = 0.0;
    config.quota_window = std::time::Duration::from_secs(1);
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    assert_eq!(report.requests - report.rate_limit_hits, 30);
    assert_eq!(report.rate_limit_hits, sim.stats.snapshot().rate_limited, "every hit is counted");
    assert!(report.rate_limit_hits > 0, "the lower real limit must show");
    // It learns the real limit from two agreeing episodes and says so, never goes below
    // 70 % of it, and does not keep meeting 429s: a window of one second counts in threes,
    // so the learned figure is coarse.
    let learned = report.learned_per_min.unwrap_or(0.0);
    assert!((120.0..=200.0).contains(&learned), "{}", report.pace_line());
    assert!(report.limit_is_lower, "{}", report.pace_line());
    // The pace at the end may be mid-probe above the limit. It never fell far under it: a
    // one-second window counts in threes, so an episode can see 2 where the limit is 3 and
    // the learned limit be a third low (the 70 % bound is held on minute windows, in
    // `engine::tests::pacing`).
    let lowest = events
        .iter()
        .filter_map(|e| match e {
            barfill::engine::Event::Pace(f) => Some(f.rate_per_min),
            _ => None,
        })
        .fold(f64::INFINITY, f64::min);
    assert!(lowest >= 108.0, "the pace went down to {lowest}/min: {}", report.pace_line());
    assert!(report.rate_limit_hits <= 20, "{} 429s for 30 requests", report.rate_limit_hits);
    assert!(report.wall_s < 15.0, "30 requests at 3 a second take 10 s; took {}", report.wall_s);
}

#[tokio::test]
async fn a_run_stopped_midway_resumes_to_the_same_database() {
    let sim = fast_sim().await;
    let (_t, a) = tmp();
    let (_u, b) = tmp();
    let whole = config(&a, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    let mut parts = config(&b, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    parts.concurrency = Concurrency::Fixed(1);
    let (full, _) = run(&whole, source(&sim)).await;
    assert_eq!(full.status, RunStatus::Done);

    let first = run_and_stop(&parts, source(&sim), 3).await;
    assert_eq!(first.status, RunStatus::Stopped, "{}", first.to_text());
    assert!(first.bars > 0 && first.bars < full.bars, "{} of {}", first.bars, full.bars);

    let (second, events) = run(&parts, source(&sim)).await;
    assert_eq!(second.status, RunStatus::Done);
    assert_same_rows(&dump(&parts.db), &dump(&whole.db), "parts against whole");
    // Not one bar the first run stored is asked for again, even in a row it stopped in
    // mid-page: the second run is served exactly the bars still missing. (Counted from
    // the second run's own answers: the simulator may still be finishing a page the
    // stopped run abandoned, so its running total is not a clean line between runs.)
    let served: u64 = events
        .iter()
        .filter_map(|e| match e {
            Event::Request(r) => Some(r.bars),
            _ => None,
        })
        .sum();
    assert_eq!(first.bars + served, full.bars);
    assert_eq!(second.bars, served);
}

#[tokio::test]
async fn a_wrong_key_stops_at_once_with_the_servers_message() {
    let mut opts = barfill::sim::SimOptions::fast();
    opts.api_key = Some(barfill::secret::ApiKey::new("right-key-123"));
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let config = config(&dir, &symbols(10), &["1/hour", "1/day"], FROM, TO);
    let src = barfill::engine::Source {
        label: "live API".into(),
        base_url: sim.base_url(),
        key: Some(barfill::secret::ApiKey::new("wrong-key-456")),
    };
    let (report, _) = run(&config, src).await;
    assert_eq!(report.status, RunStatus::Failed);
    let note = report.note.clone().unwrap();
    assert!(note.contains("401") && note.contains("Unknown API Key"), "{note}");
    // No retry storm: at most one request per worker, none retried.
    let workers = u64::from(config.concurrency.initial_workers(config.quota_per_min, config.fixes.batching));
    assert!(report.requests <= workers, "{} requests", report.requests);
    assert_eq!(report.retries, 0);
    // The simulator runs on threads of its own, so a request the stopped run abandoned may
    // still have reached it: it saw every request the report counts, and at most one a worker.
    let seen = sim.stats.snapshot().unauthorized;
    assert!(seen >= report.requests && seen <= workers, "the server saw {seen}, the report {}", report.requests);
    let json = serde_json::to_string(&report).unwrap();
    assert!(!json.contains("wrong-key-456") && !report.to_text().contains("wrong-key-456"));
}

#[tokio::test]
async fn the_right_key_goes_in_the_header_and_works() {
    let mut opts = barfill::sim::SimOptions::fast();
    opts.api_key = Some(barfill::secret::ApiKey::new("right-key-123"));
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let config = config(&dir, &["AAPL"], &["1/day"], FROM, TO);
    let src = barfill::engine::Source {
        label: "live API".into(),
        base_url: sim.base_url(),
        key: Some(barfill::secret::ApiKey::new("right-key-123")),
    };
    let (report, events) = run(&config, src).await;
    assert_eq!(report.status, RunStatus::Done);
    assert_eq!(report.bars, expected("AAPL", "1/day", FROM, TO));
    for e in events {
        if let barfill::engine::Event::Request(r) = e {
            assert!(!r.path.contains("right-key-123") && !r.path.contains('?'));
        }
    }
}

#[tokio::test]
async fn a_plan_limit_fails_only_the_older_windows_and_says_which() {
    let mut opts = barfill::sim::SimOptions::fast();
    opts.plan_from = Some(barfill::calendar::parse_date("2024-03-01").unwrap());
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let config = config(&dir, &["AAPL"], &["1/minute"], FROM, TO);
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done);
    // The whole range is refused; its later half is not, so the earlier half is tried
    // alone, refused, and failed as one piece of history the plan lacks.
    assert_eq!(report.failed_jobs, 1);
    assert_eq!(report.requests, 3, "a binary search, not a request per window");
    assert_eq!(report.bars, expected("AAPL", "1/minute", "2024-03-01", TO));
    let failed: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            barfill::engine::Event::WindowFailed { range, reason, .. } => Some(format!("{range}: {reason}")),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].starts_with("2024-01-01..2024-02-29: 403 plan limit"), "{}", failed[0]);
    assert_eq!(report.retries, 0, "a plan limit is not retried");
}

#[tokio::test]
async fn a_staggered_worker_whose_turn_never_comes_does_not_hold_the_run_open() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    let mut config = config(&dir, &["AAPL"], &["1/day"], FROM, TO);
    // The second and third workers would start after 10 and 20 minutes.
    config.stagger = std::time::Duration::from_secs(600);
    let finished = tokio::time::timeout(std::time::Duration::from_secs(120), run(&config, source(&sim))).await;
    let (report, _) = finished.expect("the run ended when its work did, not when the last stagger ran out");
    assert_eq!(report.status, RunStatus::Done);
    assert_eq!(report.windows_done, 1);
}

#[tokio::test]
async fn sessions_the_api_may_still_revise_are_fetched_again_next_time() {
    use barfill::calendar;
    let sim = fast_sim().await;
    // "Today" is injected: a Wednesday, whose last two days hold sessions, and a Sunday,
    // whose last two do not.
    for (today, tail_requests) in [("2024-06-12", 1), ("2024-06-16", 0)] {
        let (_t, dir) = tmp();
        let today = calendar::parse_date(today).unwrap();
        let mut config = config(&dir, &["AAPL"], &["1/day"], FROM, FROM);
        config.today = today;
        config.from = today - 20;
        config.to = today;
        let (first, _) = run(&config, source(&sim)).await;
        assert_eq!(first.status, RunStatus::Done);
        assert_eq!(
            first.bars,
            expected("AAPL", "1/day", &calendar::format_day(today - 20), &calendar::format_day(today))
        );
        // Stored through today, recorded as finished only through the day before yesterday.
        let recorded = progress(&config.db);
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].3, calendar::format_day(today - 2));
        let (second, _) = run(&config, source(&sim)).await;
        assert_eq!(second.requests, tail_requests, "only the unsettled tail is asked for again");
        assert_eq!(
            tail_requests,
            u64::from(calendar::sessions_between(calendar::settled_through(today) + 1, today) > 0),
            "{today}"
        );
    }
}

#[tokio::test]
async fn a_ticker_no_grouped_answer_carries_costs_no_request_of_its_own() {
    let sim = fast_sim().await;
    // ZAAB trades over the counter in the simulator (grouped answers carry it only with
    // include_otc); NOSUCH is unknown to the server, so no answer carries it.
    let mut symbols = symbols(18);
    symbols.extend(["ZAAB", "NOSUCH"]);
    let BothWays { grouped, per_ticker, rg, rp, _dirs } =
        both_ways(&sim, &symbols, &["1/day"], "2024-03-04", "2024-03-08").await;
    assert_eq!(rg.status, RunStatus::Done);
    assert_eq!(count(&grouped.db, "ZAAB", "1/day"), 5, "the OTC ticker's days came with include_otc");
    // Five grouped days and nothing more: a grouped answer holds every ticker that traded.
    assert_eq!(rg.requests, 5);
    assert_same_rows(&dump(&grouped.db), &dump(&per_ticker.db), "grouped against per_ticker");
    assert_eq!(rp.bars, rg.bars);
    assert_eq!(rg.empty_tickers, ["NOSUCH"], "named as having no bar in range");
    // Every day of NOSUCH is recorded as looked at, so a second run asks nothing.
    let nosuch: Vec<_> = progress(&grouped.db).into_iter().filter(|p| p.0 == "NOSUCH").collect();
    let days: u32 = nosuch
        .iter()
        .map(|p| {
            barfill::calendar::sessions_between(
                barfill::calendar::parse_date(&p.2).unwrap(),
                barfill::calendar::parse_date(&p.3).unwrap(),
            )
        })
        .sum();
    assert_eq!(days, 5);
}

#[tokio::test]
async fn a_stopped_run_does_not_call_rows_it_never_finished_empty() {
    // Big pages answer slowly: the week rows' small pages land first, the minute rows' are
    // still on their way when the run stops.
    let options = barfill::sim::SimOptions { latency_ms_per_1k_bars: 20.0, ..fast_sim_options() };
    let sim = barfill::sim::Sim::start_local(options).await.unwrap();
    let (_t, dir) = tmp();
    // Every row in flight at once, the run stopped after the first page: the others were
    // asked for but not answered, which says nothing about whether they hold bars.
    let mut config = config(&dir, &SYMBOLS, &TIMEFRAMES, FROM, TO);
    config.concurrency = Concurrency::Fixed(8);
    let report = run_and_stop(&config, source(&sim), 1).await;
    assert_eq!(report.status, RunStatus::Stopped, "{}", report.to_text());
    assert!(report.empty_tickers.is_empty(), "{:?}", report.empty_tickers);
    assert!(!report.to_text().contains("No bars in range"), "{}", report.to_text());
}

#[tokio::test]
async fn a_row_shows_done_only_once_its_last_page_is_committed() {
    let sim = fast_sim().await;
    let (_t, dir) = tmp();
    // Long rows at a paid plan's pace: their pieces end while pages still wait for the writer.
    let mut config = config(&dir, &["AAPL", "MSFT", "NVDA"], &["1/minute"], "2024-01-01", "2024-06-28");
    config.quota_per_min = 600_000;
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    for row in 0..3 {
        let done = events
            .iter()
            .position(|e| matches!(e, Event::RowState { row: r, state: barfill::engine::events::RowState::Done } if *r == row))
            .unwrap_or_else(|| panic!("row {row} never done"));
        let last_stored = events
            .iter()
            .rposition(|e| matches!(e, Event::Stored { windows, .. } if windows.iter().any(|w| w.row == row)))
            .unwrap();
        assert!(done > last_stored, "row {row}: done at event {done}, its last commit at {last_stored}");
    }
}
