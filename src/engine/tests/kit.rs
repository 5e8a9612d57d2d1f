//! What the engine's tests share: a configuration, scripted pages, and a run's context
//! whose writer queue the test reads instead of a database.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::{mpsc, watch};

use super::super::ctx::Ctx;
use super::super::emitter::Emitter;
use super::super::events::{Event, Settings};
use super::super::run::{context, initial_settings, network};
use crate::bar::Bar;
use crate::calendar::{self, Day, Range};
use crate::config::{Concurrency, Config, Dirs, Fixes};
use crate::plan::Plan;
use crate::polygon::Client;
use crate::polygon::fake::{FakeServer, Reply};
use crate::store::Covered;
use crate::store::writer::WriteMsg;

pub const BASE: &str = "https://api.massive.com";

/// The nine sessions the tests' rows hold: 2024-01-02 to 2024-01-12.
pub const DAYS: [&str; 9] = [
    "2024-01-02",
    "2024-01-03",
    "2024-01-04",
    "2024-01-05",
    "2024-01-08",
    "2024-01-09",
    "2024-01-10",
    "2024-01-11",
    "2024-01-12",
];

pub fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

/// `symbols` in `1/day` bars over `from..=to`, every fix on, `workers` workers, no
/// stagger, a pace under a paid plan's (so rows are not cut into pieces), real retry
/// waits (paused time makes them free) and a fixed today.
pub fn config(dir: &std::path::Path, symbols: &[&str], from: &str, to: &str, workers: u32) -> Config {
    let mut c = Config::defaults(&Dirs { config: dir.join("cfg"), data: dir.join("data") });
    c.db = dir.join("bars.db");
    c.db_is_default = false;
    c.symbols = symbols.iter().map(|s| s.to_string()).collect();
    c.timeframes = vec!["1/day".parse().unwrap()];
    (c.from, c.to) = (day(from), day(to));
    c.fixes = Fixes::ALL;
    c.concurrency = Concurrency::Fixed(workers);
    c.stagger = Duration::ZERO;
    c.quota_per_min = 3_000;
    c.fetch_splits = false;
    c.today = day("2025-06-02");
    c
}

/// The path a row's whole range is first asked at.
pub fn range_path(ticker: &str, from: &str, to: &str) -> String {
    format!("/v2/aggs/ticker/{ticker}/range/1/day/{from}/{to}")
}

/// The ms of New York midnight of `d`: where a day bar of that session stands.
pub fn day_ms(d: &str) -> i64 {
    calendar::ny_midnight_ms(day(d))
}

/// A 200 page of day bars on `days`, with `next` as its `next_url`.
pub fn page(ticker: &str, days: &[&str], next: Option<&str>) -> Reply {
    let results: Vec<_> = days
        .iter()
        .map(|d| json!({ "o": 10.0, "h": 11.0, "l": 9.0, "c": 10.5, "v": 1000.0, "vw": 10.2, "n": 5, "t": day_ms(d) }))
        .collect();
    let mut body = json!({
        "ticker": ticker, "status": "OK", "adjusted": false, "queryCount": days.len(),
        "resultsCount": days.len(), "results": results, "request_id": "fake",
    });
    if let Some(next) = next {
        body["next_url"] = json!(next);
    }
    Reply::json(body)
}

/// A run's context over `server`, with the events and the writer's queue in the test's hands.
pub struct Kit {
    pub ctx: Arc<Ctx>,
    /// Held so the workers' settings channel stays open (a closed one reads as a stop).
    _settings: watch::Sender<Settings>,
    pub events: mpsc::UnboundedReceiver<Event>,
    pub writes: mpsc::Receiver<WriteMsg>,
    /// Rows the workers marked done in the writer's queue, each with the pages queued
    /// before its mark (read by `pages`).
    pub marked: Vec<(usize, usize)>,
}

impl Kit {
    pub fn new(config: &Config, client: Client) -> Kit {
        let (event_tx, events) = mpsc::unbounded_channel();
        let (_settings, settings_rx) = watch::channel(initial_settings(config));
        let net = Arc::new(network(config, client, Arc::new(Emitter::new(event_tx)), settings_rx));
        let range = Range { from: config.from, to: config.to };
        let plan = Plan::new(&config.symbols, &config.timeframes, range, &Covered::new());
        // Room for every page of a test, so a worker never waits on a reader that is not there.
        let (writer, writes) = mpsc::channel(256);
        let settled = calendar::settled_through(config.today);
        let ctx = Arc::new(context(config.adjusted, settled, &plan, net, writer));
        Kit { ctx, _settings, events, writes, marked: Vec::new() }
    }

    /// Everything handed to the writer so far: per page, its bars' times and whether it
    /// ended its chain.
    pub fn pages(&mut self) -> Vec<(Vec<i64>, bool)> {
        let mut pages = Vec::new();
        while let Ok(msg) = self.writes.try_recv() {
            match msg {
                WriteMsg::Page { groups, finished } => {
                    let bars: Vec<&Bar> = groups.iter().flat_map(|g| &g.bars).collect();
                    let last = finished.iter().any(|f| f.done.last);
                    pages.push((bars.iter().map(|b| b.ts).collect(), last));
                }
                WriteMsg::Mark(row) => self.marked.push((row, pages.len())),
                _ => {}
            }
        }
        pages
    }

    pub fn drain_events(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }
}

/// A client on `server`, as a run makes it.
pub fn client(server: &Arc<FakeServer>) -> Client {
    Client::fake(BASE, None, server.clone()).with_page_room(6)
}
