//! A known run, told as engine events at known instants, for the state and render tests.

use std::time::{Duration, Instant};

use crate::calendar::Range;
use crate::calendar::parse_date;
use crate::config::Fixes;
use crate::engine::events::{Event, Level, RequestRecord, RowInfo, RowState, RunInfo, Settings, WindowDone};
use crate::engine::{RunEnd, Tally};
use crate::markets::Class;
use crate::plan::Estimate;
use crate::report::{Report, RunStatus};
use crate::store::RunRecord;
use crate::ui::app::{App, LogLine};

pub fn settings() -> Settings {
    Settings {
        fixes: Fixes::ALL,
        concurrency: 3,
        stagger_secs: 0.0,
        paused: false,
        auto: true,
        why: crate::engine::autotune::why::QUOTA,
    }
}

pub fn range(from: &str, to: &str) -> Range {
    Range { from: parse_date(from).unwrap(), to: parse_date(to).unwrap() }
}

/// Four rows over 2024-01-02..2024-05-07 (88 trading days): AAPL minute and day bars,
/// MSFT minute bars half stored already, MSFT day bars all stored.
pub fn info() -> RunInfo {
    let row = |ticker: &str, tf: &str, covered: u32| RowInfo {
        ticker: ticker.into(),
        class: Class::Stocks,
        timeframe: tf.parse().unwrap(),
        sessions: 88,
        covered_sessions: covered,
    };
    RunInfo {
        run_id: 7,
        source: "simulator".into(),
        base_url: "http://127.0.0.1:9090".into(),
        db: "/tmp/bars.db".into(),
        rows: vec![
            row("AAPL", "1/minute", 0),
            row("AAPL", "1/day", 0),
            row("MSFT", "1/minute", 37),
            row("MSFT", "1/day", 88),
        ],
        settings: settings(),
        quota_per_min: 150,
        quota_window_s: 60.0,
        pace_per_min: 147.0,
        estimate: Estimate { requests: 5, windows: 4, grouped_days: 0 },
        floor_requests: 5,
        floor_s: 2.0,
        max_attempts: 8,
        jitter: false,
        refetch: false,
        reference_requests: 0,
        split_requests: 0,
    }
}

pub fn ok(row: Option<usize>, path: &str, bars: u64, secs: f64) -> Event {
    Event::Request(RequestRecord {
        row,
        path: path.into(),
        status: Some(200),
        error: None,
        message: None,
        at: std::time::Instant::now(),
        secs,
        bytes: bars * 60,
        bars,
        first: true,
    })
}

pub fn limited(row: Option<usize>, path: &str) -> Event {
    Event::Request(RequestRecord {
        row,
        path: path.into(),
        status: Some(429),
        error: Some(crate::polygon::outcome::ErrorKind::RateLimited),
        message: Some("429 rate limited".into()),
        at: std::time::Instant::now(),
        secs: 0.05,
        bytes: 0,
        bars: 0,
        first: false,
    })
}

/// The run's events, each with its second after the start.
pub fn script() -> Vec<(f64, Event)> {
    let aapl_min = "/v2/aggs/ticker/AAPL/range/1/minute/2024-01-02/2024-03-12";
    vec![
        (0.0, Event::RunStarted(Box::new(info()))),
        (0.0, Event::RowState { row: 3, state: RowState::Done }),
        (0.5, Event::RowState { row: 0, state: RowState::Fetching }),
        (0.5, Event::LimiterWait { secs: 0.4 }),
        (1.0, ok(Some(0), aapl_min, 49_920, 0.42)),
        (
            1.1,
            Event::Stored {
                rows: 49_920,
                changed: 49_920,
                secs: 0.05,
                windows: vec![WindowDone {
                    row: 0,
                    range: range("2024-01-02", "2024-03-12"),
                    bars: 49_920,
                    requests: 1,
                    last: true,
                }],
            },
        ),
        (2.0, limited(Some(0), "/v2/aggs/ticker/AAPL/range/1/minute/2024-03-13/2024-05-07")),
        (2.0, Event::Backoff { row: Some(0), secs: 8.0, reason: "429".into(), held: false }),
        (2.0, Event::RowState { row: 0, state: RowState::Backoff { secs: 8.0, reason: "429".into() } }),
    ]
    .into_iter()
    .chain(the_pacer_and_after())
    .collect()
}

/// The script from the pacer's cut on.
fn the_pacer_and_after() -> Vec<(f64, Event)> {
    vec![
        (
            2.5,
            Event::Pace(crate::pace::PaceFigures {
                rate_per_min: 102.9,
                quota_per_min: 150.0,
                ceiling_per_min: 147.0,
                accepted_per_min: 120.0,
                cuts: 1,
                taught_429: 1,
                ..Default::default()
            }),
        ),
        (
            2.5,
            Event::Notice {
                level: Level::Warn,
                text: "429 on a paced request after the window cleared: pace cut once, 147 -> 103/min".into(),
            },
        ),
        (
            3.0,
            Event::Eta(crate::engine::eta::EtaFigures {
                secs: Some(41.0),
                measuring: false,
                requests_left: 70.0,
                rate_per_min: 102.9,
            }),
        ),
        (3.0, limited(None, "/v2/aggs/grouped/locale/us/market/stocks/2024-01-02")),
        (3.0, Event::Backoff { row: None, secs: 3.0, reason: "429".into(), held: false }),
        (3.5, Event::RowState { row: 2, state: RowState::Fetching }),
        (3.5, Event::Backoff { row: Some(2), secs: 1.5, reason: "held after a 429".into(), held: true }),
        (4.0, ok(Some(2), "/v2/aggs/ticker/MSFT/range/1/minute/2024-02-26/2024-05-07", 49_920, 0.40)),
        (4.0, Event::WriterBlocked { secs: 0.02 }),
        (
            4.1,
            Event::Stored {
                rows: 49_920,
                changed: 49_920,
                secs: 0.06,
                windows: vec![WindowDone {
                    row: 2,
                    range: range("2024-02-26", "2024-05-07"),
                    bars: 49_920,
                    requests: 1,
                    last: true,
                }],
            },
        ),
        (4.1, Event::RowState { row: 2, state: RowState::Done }),
        (4.5, Event::RowState { row: 1, state: RowState::Fetching }),
        (
            4.6,
            Event::WindowFailed {
                row: 1,
                range: range("2024-01-02", "2024-05-07"),
                reason: "403 not authorized".into(),
            },
        ),
        (4.6, Event::RowState { row: 1, state: RowState::Failed("403 not authorized".into()) }),
        (5.0, Event::Resources { cpu_pct: 12.5, rss_mb: 48.0 }),
        (5.0, Event::Settings(Settings { fixes: Fixes { backoff: false, ..Fixes::ALL }, ..settings() })),
        (5.0, Event::Notice { level: Level::Info, text: "fix 1 (backoff) OFF".into() }),
    ]
}

/// A started run of `n` daily rows `S000`, `S001`, ..., each `covered(i)` days stored.
pub fn many_rows(t0: Instant, n: usize, covered: impl Fn(u32) -> u32) -> App {
    let mut info = info();
    info.rows = (0..n as u32)
        .map(|i| RowInfo {
            ticker: format!("S{i:03}"),
            class: Class::Stocks,
            timeframe: "1/day".parse().unwrap(),
            sessions: 10,
            covered_sessions: covered(i),
        })
        .collect();
    let mut app = App::new(t0, "simulator", "", "", settings());
    app.on_event(Event::RunStarted(Box::new(info)), t0);
    app
}

/// The simulator's synthetic names, `ZAAA`, `ZAAB`, ...
pub fn synthetic(i: u32) -> String {
    let letters: String = [i / 676, (i / 26) % 26, i % 26].iter().map(|k| (b'A' + *k as u8) as char).collect();
    format!("Z{letters}")
}

/// A run of `tickers` x `1/minute`, `1/day` a while in: most rows done (some stored by an
/// earlier run, a few empty), a few fetching or waiting, some failed, the rest queued.
pub fn universe(t0: Instant, tickers: u32) -> App {
    let mut info = info();
    info.rows = (0..tickers * 2)
        .map(|i| RowInfo {
            ticker: synthetic(i / 2),
            class: Class::Stocks,
            timeframe: if i % 2 == 0 { "1/minute" } else { "1/day" }.parse().unwrap(),
            sessions: 88,
            covered_sessions: if i % 10 == 9 { 88 } else { 0 },
        })
        .collect();
    let n = info.rows.len();
    let mut app = App::new(t0, "simulator", "http://127.0.0.1:9090", "/tmp/bars.db", settings())
        .with_range(range("2024-01-02", "2024-05-07"));
    app.on_event(Event::RunStarted(Box::new(info)), t0);
    for i in 0..n {
        let state = match i {
            _ if i % 10 == 9 => RowState::Done,
            _ if i % 83 == 5 => RowState::Failed("403 NOT_AUTHORIZED: plan starts 2024-02-01".into()),
            _ if i % 97 == 11 => RowState::Empty,
            _ if i * 5 < n * 3 => RowState::Done,
            _ if i % 7 == 0 => RowState::Fetching,
            _ if i % 29 == 1 => RowState::Backoff { secs: 8.0, reason: "429".into() },
            _ => RowState::Queued,
        };
        if state == RowState::Done && i % 10 != 9 {
            let (ticker, tf) = (synthetic(i as u32 / 2), if i % 2 == 0 { "minute" } else { "day" });
            let path = format!("/v2/aggs/ticker/{ticker}/range/1/{tf}/2024-01-02/2024-05-07");
            app.on_event(ok(Some(i), &path, if i % 2 == 0 { 34_320 } else { 88 }, 0.3), t0 + secs(1.0));
            let range = range("2024-01-02", "2024-05-07");
            let windows = vec![WindowDone { row: i, range, bars: 0, requests: 1, last: true }];
            app.on_event(Event::Stored { rows: 0, changed: 0, secs: 0.01, windows }, t0 + secs(1.0));
        }
        app.on_event(Event::RowState { row: i, state }, t0 + secs(2.0));
    }
    app.fit_symbols(10);
    app
}

/// The app after the script, and the instant of the frame to draw (6 s in).
pub fn running() -> (App, Instant) {
    let t0 = Instant::now();
    let mut app =
        App::new(t0, "simulator", "", "/tmp/bars.db", settings()).with_range(range("2024-01-02", "2024-05-07"));
    for (s, e) in script() {
        app.on_event(e, t0 + secs(s));
    }
    app.push_log(LogLine { at: t0 + secs(5.5), level: Level::Error, text: "a worker panicked: boom".into() });
    app.set_runs(Ok(runs()));
    // The run loop brings the symbols list up to date before each frame.
    app.fit_symbols(10);
    (app, t0 + secs(6.0))
}

/// The same run, ended by the engine's report at 9 s.
pub fn finished() -> (App, Instant) {
    let (mut app, _) = running();
    let t0 = app.started;
    let mut tally = Tally::default();
    for (_, e) in script() {
        tally.apply(&e);
    }
    let end = RunEnd {
        status: RunStatus::Done,
        note: Some("1 windows failed; see the log for each reason".into()),
        fixes: Fixes::parse("2,3").unwrap(),
        workers: 3,
        peak_rss_mb: 51.0,
        cpu_pct: 9.5,
    };
    let report = tally.report(&info(), 9.0, end);
    app.on_event(Event::RunFinished(Box::new(report)), t0 + secs(9.0));
    app.fit_symbols(10);
    (app, t0 + secs(12.0))
}

/// The report of a run that did nothing, to end one.
pub fn report_of_nothing() -> Report {
    let end =
        RunEnd { status: RunStatus::Done, note: None, fixes: Fixes::ALL, workers: 3, peak_rss_mb: 40.0, cpu_pct: 1.0 };
    Tally::default().report(&info(), 1.0, end)
}

pub fn report_of(app: &App) -> &Report {
    app.report.as_ref().unwrap()
}

pub fn runs() -> Vec<RunRecord> {
    let run =
        |id: i64, status: &str, fixes: &str, w: i64, wall: Option<f64>, req: i64, hits: i64, bars: i64| RunRecord {
            id,
            started_at_ms: 1_700_000_000_000 + id * 1000,
            status: status.into(),
            source: "simulator".into(),
            fixes: fixes.into(),
            concurrency: w,
            wall_s: wall,
            requests: wall.map(|_| req),
            rate_limit_hits: wall.map(|_| hits),
            bars: wall.map(|_| bars),
            success_rate: wall.map(|_| 1.0),
        };
    vec![
        run(7, "running", "1,2,3", 3, None, 0, 0, 0),
        run(6, "done", "1,2,3", 3, Some(52.3), 125, 0, 2_279_550),
        run(5, "stopped", "1", 1, Some(140.9), 310, 41, 1_102_000),
        run(4, "done", "none", 1, Some(487.2), 1_402, 212, 2_279_550),
    ]
}

pub fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}
