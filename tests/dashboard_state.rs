//! The dashboard's state fed with a real run's events: its figures are the report's.

use std::time::{Duration, Instant};

use crate::common::*;
use barfill::config::{self, Dirs, Flags};
use barfill::engine::events::RowState;
use barfill::report::RunStatus;
use barfill::sim::Sim;
use barfill::ui::app::App;

#[tokio::test]
async fn the_dashboard_state_agrees_with_the_engine_report() {
    let (_t, dir) = tmp();
    // Two requests a second at most: some answers are 429s, and the run retries them. The
    // server's quota is set the way `--sim-quota` sets it.
    let dirs = Dirs { config: dir.join("cfg"), data: dir.join("data") };
    let flags = Flags { sim_quota: Some(2), ..Default::default() };
    let mut opts = config::load(&dirs, &flags, &|_| None).unwrap().sim_options();
    opts.window = Duration::from_secs(1);
    opts.latency_ms = 0;
    let sim = Sim::start_local(opts).await.unwrap();
    let mut config = config(&dir, &["AAPL", "MSFT", "NVDA", "SPY"], &["1/day"], "2024-01-02", "2024-04-30");
    // Without fix 2 nothing paces the workers: three start at once against a quota of two,
    // and the 429s are retried after fix 1's short first waits. (The pacer is tested
    // elsewhere.)
    config.fixes.batching = false;
    let (report, events) = run(&config, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    assert!(report.rate_limit_hits > 0, "the quota should bite: {}", report.to_text());

    let t0 = Instant::now();
    let mut app = App::new(t0, "simulator", "", "", barfill::engine::initial_settings(&config));
    for e in events {
        app.on_event(e, t0);
    }
    assert_eq!(app.status(), "done");
    assert_eq!(app.breakdown(), report.breakdown());
    assert_eq!(app.tally.breakdown(), report.breakdown(), "the live figures end where the report does");
    assert_eq!(app.tally.requests, report.requests);
    assert_eq!(app.tally.rate_limit_hits, report.rate_limit_hits);
    assert_eq!(app.bars_stored(), report.bars);
    assert_eq!(app.rows.iter().map(|r| r.bars()).sum::<u64>(), report.bars);
    assert_eq!(app.rows.iter().map(|r| r.rate_limited).sum::<u64>(), report.rate_limit_hits);
    for r in &app.rows {
        assert_eq!(r.state, RowState::Done, "{} {}", r.ticker, r.timeframe);
        assert_eq!(r.days_done, r.sessions, "{} {}", r.ticker, r.timeframe);
        assert_eq!(count(&config.db, &r.ticker, &r.timeframe), r.bars(), "{} {}", r.ticker, r.timeframe);
    }
    assert_eq!(app.backoff.histogram.iter().sum::<u64>(), report.retries);
}
