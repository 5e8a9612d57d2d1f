//! Dashboard frames (160x45) into ratatui's TestBackend, as the run loop makes them: the
//! frame's events folded in, the symbols list brought up to date (`draw::prepare`), the
//! screen drawn.
//!
//! - `frame_rows`: 500, 5000 and 10,000 rows, nothing changed since the last frame;
//! - `follow_10000`: follow mode (the state order) with 20 rows changing state a frame;
//! - `filter_10000`: the same with the "failed or empty" filter;
//! - `search_10000`: a key typed into the search each frame (and taken back);
//! - `order_bars_10000`: sorted by bars, with 20 requests adding bars each frame;
//! - `overview_10000`: the overview overlay, one cell a row.

use std::time::{Duration, Instant};

use barfill::config::Fixes;
use barfill::engine::events::{Event, RequestRecord, RowInfo, RowState, RunInfo, Settings};
use barfill::markets::Class;
use barfill::plan::Estimate;
use barfill::ui::app::{App, Overlay};
use barfill::ui::draw;
use crossterm::event::{KeyCode, KeyEvent};
use divan::Bencher;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

fn main() {
    divan::main();
}

const SIZE: (u16, u16) = (160, 45);
/// Rows whose state changes between two frames in the changing benches.
const CHANGES: usize = 20;

fn request(row: usize, bars: u64) -> Event {
    Event::Request(RequestRecord {
        row: Some(row),
        path: format!("/v2/aggs/ticker/Z{row:05}/range/1/minute/2025-01-01/2025-03-14"),
        status: Some(if row.is_multiple_of(9) { 429 } else { 200 }),
        error: row.is_multiple_of(9).then_some(barfill::polygon::outcome::ErrorKind::RateLimited),
        message: None,
        at: Instant::now(),
        secs: 0.4,
        bytes: 4_000_000,
        bars,
        first: true,
    })
}

/// A run of `rows` rows (tickers x 1/minute, 1/day) a minute in: the first half done,
/// a few failed or empty, some fetching or waiting, the rest queued.
fn app_with(rows: usize) -> (App, Instant) {
    let t0 = Instant::now();
    let settings =
        Settings { fixes: Fixes::ALL, concurrency: 3, stagger_secs: 5.0, paused: false, auto: false, why: "" };
    let mut app = App::new(t0, "simulator", "http://127.0.0.1:9090", "/tmp/bench.db", settings);
    let info = RunInfo {
        run_id: 1,
        source: "simulator".into(),
        base_url: "http://127.0.0.1:9090".into(),
        db: "/tmp/bench.db".into(),
        rows: (0..rows)
            .map(|i| RowInfo {
                ticker: format!("Z{:05}", i / 2),
                class: Class::Stocks,
                timeframe: if i % 2 == 0 { "1/minute" } else { "1/day" }.parse().unwrap(),
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
        split_requests: 0,
    };
    app.on_event(Event::RunStarted(Box::new(info)), t0);
    for i in 0..rows {
        let at = t0 + Duration::from_millis(i as u64 * 5);
        app.on_event(Event::RowState { row: i, state: state_of(i, rows, 0) }, at);
        app.on_event(request(i, 49_920), at);
    }
    prepare(&mut app);
    (app, t0 + Duration::from_secs(60))
}

fn state_of(i: usize, rows: usize, frame: usize) -> RowState {
    match (i + frame) % 40 {
        _ if i % 97 == 3 => RowState::Failed("403 not authorized".into()),
        _ if i % 89 == 5 => RowState::Empty,
        _ if i < rows / 2 => RowState::Done,
        0 | 1 => RowState::Fetching,
        2 => RowState::Backoff { secs: 4.0, reason: "429".into() },
        _ => RowState::Queued,
    }
}

fn prepare(app: &mut App) {
    draw::prepare(app, Rect::new(0, 0, SIZE.0, SIZE.1));
}

fn terminal() -> Terminal<TestBackend> {
    Terminal::new(TestBackend::new(SIZE.0, SIZE.1)).unwrap()
}

/// Each frame: `CHANGES` rows of the second half change state, then prepare and draw.
fn changing_frames(bencher: Bencher, app: &mut App, now: Instant) {
    let mut terminal = terminal();
    let rows = app.rows.len();
    let mut frame = 0;
    bencher.bench_local(|| {
        frame += 1;
        for k in 0..CHANGES {
            let row = rows / 2 + (frame * CHANGES + k) * 7 % (rows / 2);
            app.on_event(Event::RowState { row, state: state_of(row, rows, frame) }, now);
        }
        prepare(app);
        terminal.draw(|f| draw::draw(f, app, now)).unwrap();
    });
}

#[divan::bench(args = [500, 5000, 10_000])]
fn frame_rows(bencher: Bencher, rows: usize) {
    let (mut app, now) = app_with(rows);
    let mut terminal = terminal();
    bencher.bench_local(|| {
        prepare(&mut app);
        terminal.draw(|f| draw::draw(f, &app, now)).unwrap();
    });
}

#[divan::bench]
fn follow_10000(bencher: Bencher) {
    let (mut app, now) = app_with(10_000);
    assert!(app.list.following());
    changing_frames(bencher, &mut app, now);
}

#[divan::bench]
fn filter_10000(bencher: Bencher) {
    let (mut app, now) = app_with(10_000);
    app.list.cycle_filter();
    app.list.cycle_filter();
    changing_frames(bencher, &mut app, now);
}

#[divan::bench]
fn search_10000(bencher: Bencher) {
    let (mut app, now) = app_with(10_000);
    let key = |app: &mut App, code: KeyCode| app.on_key(KeyEvent::from(code), now);
    key(&mut app, KeyCode::Char('/'));
    key(&mut app, KeyCode::Char('z'));
    key(&mut app, KeyCode::Char('0'));
    let mut terminal = terminal();
    let mut frame = 0;
    bencher.bench_local(|| {
        // One key a frame: a digit narrows the list, the next frame takes it back.
        frame += 1;
        let code = if frame % 2 == 1 { KeyCode::Char('4') } else { KeyCode::Backspace };
        key(&mut app, code);
        prepare(&mut app);
        terminal.draw(|f| draw::draw(f, &app, now)).unwrap();
    });
}

#[divan::bench]
fn order_bars_10000(bencher: Bencher) {
    let (mut app, now) = app_with(10_000);
    for _ in 0..2 {
        app.on_key(KeyEvent::from(KeyCode::Char('o')), now);
    }
    assert_eq!(app.list.order().label(), "bars");
    let mut terminal = terminal();
    let mut frame = 0;
    bencher.bench_local(|| {
        frame += 1;
        for k in 0..CHANGES {
            app.on_event(request((frame * CHANGES + k) * 13 % 10_000, 1_000), now);
        }
        prepare(&mut app);
        terminal.draw(|f| draw::draw(f, &app, now)).unwrap();
    });
}

#[divan::bench]
fn overview_10000(bencher: Bencher) {
    let (mut app, now) = app_with(10_000);
    app.view.overlay = Overlay::Overview;
    changing_frames(bencher, &mut app, now);
}
