//! Dashboard: the time to draw one frame with 500 symbol rows (and 5000, to see it does
//! not grow with the list) into ratatui's TestBackend.

use std::time::{Duration, Instant};

use barfill::config::Fixes;
use barfill::engine::events::{Event, RequestRecord, RowInfo, RowState, RunInfo, Settings};
use barfill::plan::Estimate;
use barfill::ui::app::App;
use divan::Bencher;
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    divan::main();
}

/// A run with `rows` symbol rows, a minute in, with requests and states on every row.
fn app_with(rows: usize) -> (App, Instant) {
    let t0 = Instant::now();
    let settings = Settings { fixes: Fixes::ALL, concurrency: 3, stagger_secs: 5.0, paused: false };
    let mut app = App::new(t0, "simulator", "http://127.0.0.1:9090", "/tmp/bench.db", settings);
    let timeframes = ["1/minute", "5/minute", "1/hour", "1/day"];
    let info = RunInfo {
        run_id: 1,
        source: "simulator".into(),
        base_url: "http://127.0.0.1:9090".into(),
        db: "/tmp/bench.db".into(),
        rows: (0..rows)
            .map(|i| RowInfo {
                ticker: format!("S{:04}", i / 4),
                timeframe: timeframes[i % 4].parse().unwrap(),
                sessions: 390,
                covered_sessions: (i % 7) as u32 * 50,
            })
            .collect(),
        settings,
        quota_per_min: 150,
        quota_window_s: 60.0,
        pace_per_min: 147.0,
        estimate: Estimate { requests: rows as u64 * 4, windows: rows as u64 * 4, grouped_days: 0 },
        floor_requests: rows as u64 * 4,
        floor_s: rows as f64 * 1.6,
        max_attempts: 8,
        jitter: false,
        refetch: false,
        reference_requests: 0,
    };
    app.on_event(Event::RunStarted(Box::new(info)), t0);
    for i in 0..rows {
        let at = t0 + Duration::from_millis(i as u64 * 100);
        let state = match i % 4 {
            0 => RowState::Fetching,
            1 => RowState::Backoff { secs: 4.0, reason: "429".into() },
            2 => RowState::Done,
            _ => RowState::Queued,
        };
        app.on_event(Event::RowState { row: i, state }, at);
        app.on_event(
            Event::Request(RequestRecord {
                row: Some(i),
                path: format!("/v2/aggs/ticker/S{:04}/range/1/minute/2025-01-01/2025-03-14", i / 4),
                status: Some(if i % 9 == 0 { 429 } else { 200 }),
                error: (i % 9 == 0).then_some(barfill::polygon::outcome::ErrorKind::RateLimited),
                message: None,
                at,
                secs: 0.4,
                bytes: 4_000_000,
                bars: 49_920,
            }),
            at,
        );
    }
    (app, t0 + Duration::from_secs(60))
}

fn draw_frame(bencher: Bencher, rows: usize) {
    let (app, now) = app_with(rows);
    let mut terminal = Terminal::new(TestBackend::new(160, 45)).unwrap();
    bencher.bench_local(|| {
        terminal.draw(|frame| barfill::ui::draw::draw(frame, &app, now)).unwrap();
    });
}

#[divan::bench]
fn frame_500_rows(bencher: Bencher) {
    draw_frame(bencher, 500);
}

#[divan::bench]
fn frame_5000_rows(bencher: Bencher) {
    draw_frame(bencher, 5000);
}
