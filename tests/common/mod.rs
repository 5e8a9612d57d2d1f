//! Helpers shared by the integration tests: a config pointing at an in-process simulator
//! on 127.0.0.1 port 0, and a way to run a backfill to its end.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use barfill::calendar;
use barfill::config::{Config, Dirs, Fixes};
use barfill::engine::{self, Event, Source};
use barfill::report::Report;
use barfill::sim::{Sim, SimOptions};
use rusqlite::Connection;

pub fn config(dir: &Path, symbols: &[&str], timeframes: &[&str], from: &str, to: &str) -> Config {
    let dirs = Dirs { config: dir.join("cfg"), data: dir.join("data") };
    let mut c = Config::defaults(&dirs);
    c.db = dir.join("bars.db");
    c.db_is_default = false;
    c.symbols = symbols.iter().map(|s| s.to_string()).collect();
    c.timeframes = timeframes.iter().map(|t| t.parse().unwrap()).collect();
    c.from = calendar::parse_date(from).unwrap();
    c.to = calendar::parse_date(to).unwrap();
    c.fixes = Fixes::ALL;
    c.stagger = Duration::ZERO;
    c.quota_per_min = 100_000;
    // Only the stall tests want a timeout to fire (they set their own). Anywhere else, an
    // answer held up by a loaded machine must not turn into a retry the test did not
    // expect.
    c.timeout = Duration::from_secs(60);
    // Retries wait a hundredth of their real time: the schedule keeps its shape, a test
    // does not sleep whole seconds. A test that measures waits sets it back to 1.
    c.retry.wait_scale = 0.01;
    // Nothing in a test depends on the day it runs: "today" is fixed, after every range.
    c.today = today();
    // The tests that count requests count bar requests; tests/splits.rs turns this on.
    c.fetch_splits = false;
    c
}

/// The day the tests' runs and simulators count as today: after every range a test
/// fetches, so all their sessions are settled.
pub const TODAY: &str = "2026-01-30";

/// [`TODAY`] as a day.
pub fn today() -> calendar::Day {
    calendar::parse_date(TODAY).unwrap()
}

/// The fast simulator, with today fixed at [`TODAY`].
pub fn fast_sim_options() -> SimOptions {
    SimOptions { today: Some(today()), ..SimOptions::fast() }
}

pub fn source(sim: &Sim) -> Source {
    Source { label: "simulator".into(), base_url: sim.base_url(), key: None }
}

/// Runs a backfill to its end and returns its report and every event it sent.
pub async fn run(config: &Config, source: Source) -> (Report, Vec<Event>) {
    let (store, plan) = engine::prepare(config).expect("prepare");
    let handle = engine::start(Arc::new(config.clone()), source, store, plan).expect("start");
    let mut events = Vec::new();
    let report = handle.drive(|e, _| events.push(e)).await.expect("run task");
    (report, events)
}

pub async fn fast_sim() -> Sim {
    Sim::start_local(fast_sim_options()).await.unwrap()
}

/// One stored bar: ticker, timeframe, ts, open, high, low, close, volume, vwap, trades.
pub type Row = (String, String, i64, f64, f64, f64, f64, Option<f64>, Option<f64>, Option<i64>);

/// A row of `SELECT ticker, timeframe, ts, open, high, low, close, volume, vwap, trades`.
pub fn read_row(r: &rusqlite::Row) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?, r.get(9)?))
}

/// Every stored bar, in key order, for comparing databases.
pub fn dump(db: &Path) -> Vec<Row> {
    let conn = Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare("SELECT ticker, timeframe, ts, open, high, low, close, volume, vwap, trades FROM bars ORDER BY ticker, timeframe, ts")
        .unwrap();
    stmt.query_map([], read_row).unwrap().collect::<Result<_, _>>().unwrap()
}

/// Asserts two dumps are equal; when not, says where they differ instead of printing
/// every bar: the rows per ticker and timeframe on each side, and the first difference.
#[track_caller]
pub fn assert_same_rows(got: &[Row], want: &[Row], what: &str) {
    if got == want {
        return;
    }
    let per_row = |rows: &[Row]| {
        let mut n = std::collections::BTreeMap::<(String, String), usize>::new();
        for r in rows {
            *n.entry((r.0.clone(), r.1.clone())).or_default() += 1;
        }
        n
    };
    let (g, w) = (per_row(got), per_row(want));
    let counts: Vec<String> = g
        .keys()
        .chain(w.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|k| g.get(*k) != w.get(*k))
        .map(|k| format!("{} {}: {} vs {}", k.0, k.1, g.get(k).unwrap_or(&0), w.get(k).unwrap_or(&0)))
        .collect();
    let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    panic!(
        "{what}: {} bars against {} expected; rows that differ in count: {counts:?}; first difference at #{first}: {:?} vs {:?}",
        got.len(),
        want.len(),
        got.get(first),
        want.get(first)
    );
}

pub fn count(db: &Path, ticker: &str, timeframe: &str) -> u64 {
    let conn = Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM bars WHERE ticker = ?1 AND timeframe = ?2", [ticker, timeframe], |r| {
        r.get::<_, i64>(0)
    })
    .unwrap() as u64
}

pub fn expected(ticker: &str, timeframe: &str, from: &str, to: &str) -> u64 {
    let universe = barfill::sim::market::Universe::new(SimOptions::fast().extra_tickers);
    barfill::sim::market::count_bars(
        &universe,
        ticker,
        timeframe.parse().unwrap(),
        calendar::parse_date(from).unwrap(),
        calendar::parse_date(to).unwrap(),
    )
}

pub fn tmp() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().to_path_buf();
    (t, p)
}

/// Runs a backfill and sends `Stop` once `after_pages` pages are stored.
pub async fn run_and_stop(config: &Config, source: Source, after_pages: usize) -> Report {
    let (store, plan) = engine::prepare(config).expect("prepare");
    let handle = engine::start(Arc::new(config.clone()), source, store, plan).expect("start");
    let mut stored = 0;
    handle
        .drive(|e, commands| {
            if let Event::Stored { windows, .. } = &e {
                stored += windows.len();
                if stored >= after_pages {
                    let _ = commands.send(barfill::engine::Command::Stop);
                }
            }
        })
        .await
        .expect("run task")
}

/// Date windows the progress table holds, as `(ticker, timeframe, from, to, run_id)`.
pub fn progress(db: &Path) -> Vec<(String, String, String, String, i64)> {
    let conn = Connection::open(db).unwrap();
    let mut stmt =
        conn.prepare("SELECT ticker, timeframe, from_date, to_date, run_id FROM progress ORDER BY 1, 2, 3").unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

pub fn symbols(n: usize) -> Vec<&'static str> {
    const NAMES: [&str; 40] = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "UNH", "XOM", "MA", "JNJ", "PG", "HD",
        "COST", "ABBV", "MRK", "ORCL", "CVX", "BAC", "KO", "PEP", "ADBE", "CRM", "NFLX", "AMD", "TMO", "WMT", "ACN",
        "MCD", "LIN", "CSCO", "ABT", "DHR", "INTC", "DIS", "WFC", "TXN", "VZ",
    ];
    NAMES[..n].to_vec()
}

/// The thinnest ticker of the fast simulator's universe that trades from `from` to `to`.
pub fn thinnest_trading_through(from: &str, to: &str) -> String {
    let universe = barfill::sim::market::Universe::new(barfill::sim::SimOptions::fast().extra_tickers);
    let (from, to) = (calendar::parse_date(from).unwrap(), calendar::parse_date(to).unwrap());
    universe
        .tickers()
        .iter()
        .filter(|t| t.first_day() <= from && t.last_day.is_none_or(|d| d >= to))
        .min_by(|a, b| a.density.total_cmp(&b.density))
        .map(|t| t.ticker.clone())
        .unwrap()
}

/// Every bar the simulator holds for `ticker` at `timeframe` over `[from, to]` (days as
/// the ticker's class bounds them), as the database stores them: an index's without
/// volume, vwap or count.
pub fn sim_rows(
    universe: &barfill::sim::market::Universe,
    ticker: &str,
    timeframe: &str,
    from: &str,
    to: &str,
) -> Vec<Row> {
    use barfill::sim::market;
    let tf = timeframe.parse().unwrap();
    let q = market::whole_days(ticker, tf, calendar::parse_date(from).unwrap(), calendar::parse_date(to).unwrap());
    let volume = barfill::markets::Class::of_checked(ticker).has_volume();
    market::range(universe, ticker, &q)
        .bars
        .into_iter()
        .map(|b| {
            let (v, vw, n) = if volume { (Some(b.v), Some(b.vw), b.n.map(|n| n as i64)) } else { (None, None, None) };
            (ticker.to_string(), timeframe.to_string(), b.t, b.o, b.h, b.l, b.c, v, vw, n)
        })
        .collect()
}

/// The stored bars of one row, in time order.
pub fn rows_of(db: &Path, ticker: &str, timeframe: &str) -> Vec<Row> {
    dump(db).into_iter().filter(|r| r.0 == ticker && r.1 == timeframe).collect()
}
