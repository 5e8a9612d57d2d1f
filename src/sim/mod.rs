//! The embedded Polygon-compatible server: same paths, parameters and bodies as the real
//! API (aggregates of every class, grouped daily for stocks, crypto and forex, reference
//! tickers, ticker details, splits, option contracts), a quota
//! that answers 429, latency that grows with the page, and injectable faults. It
//! serialises its own types (`wire`), so a mistake in the client's wire types cannot hide
//! behind the same mistake here; the recorded fixtures judge both.
//!
//! It runs on a tokio runtime of its own, on OS threads named `barfill-sim`, so building
//! a large page never stalls the runtime the dashboard and the workers share.

mod aggs;
mod bars_json;
mod contracts;
mod cpu;
mod faults;
pub mod market;
mod markets;
mod options;
mod reference;
mod state;
mod universe;
mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::calendar::{self, Day};
pub use crate::config::{Faults, SimOptions};
use market::{Query as MarketQuery, Universe};
use state::SimState;

/// The name of every thread the simulator runs on.
pub const THREAD_NAME: &str = "barfill-sim";

/// Which endpoint a request was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Range,
    Grouped,
    Tickers,
    TickerDetails,
    Splits,
    Contracts,
    Other,
}

/// Requests by endpoint, whatever their answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointCounts {
    pub range: u64,
    pub grouped: u64,
    pub tickers: u64,
    pub ticker_details: u64,
    pub splits: u64,
    pub contracts: u64,
    pub other: u64,
}

impl EndpointCounts {
    fn bump(&mut self, e: Endpoint) {
        *match e {
            Endpoint::Range => &mut self.range,
            Endpoint::Grouped => &mut self.grouped,
            Endpoint::Tickers => &mut self.tickers,
            Endpoint::TickerDetails => &mut self.ticker_details,
            Endpoint::Splits => &mut self.splits,
            Endpoint::Contracts => &mut self.contracts,
            Endpoint::Other => &mut self.other,
        } += 1;
    }
}

/// What the server saw, for the dashboard's source line and for tests.
#[derive(Clone, Debug, Default)]
pub struct SimCounts {
    pub requests: u64,
    pub ok: u64,
    pub rate_limited: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub bad_request: u64,
    pub not_found: u64,
    /// Handlers that panicked (answered 500); any is a simulator bug.
    pub panics: u64,
    pub bars_served: u64,
    pub by_endpoint: EndpointCounts,
    pub faults: BTreeMap<&'static str, u64>,
    /// Path and status of every request, oldest first (capped).
    pub log: Vec<(String, u16)>,
}

#[derive(Default)]
pub struct SimStats(Mutex<SimCounts>);

impl SimStats {
    pub fn snapshot(&self) -> SimCounts {
        self.0.lock().clone()
    }

    fn fault(&self, kind: &'static str) {
        *self.0.lock().faults.entry(kind).or_default() += 1;
    }

    fn record(&self, path: &str, endpoint: Endpoint, status: u16, bars: u64, f: impl FnOnce(&mut SimCounts)) {
        let mut c = self.0.lock();
        c.requests += 1;
        c.bars_served += bars;
        c.by_endpoint.bump(endpoint);
        if c.log.len() < 200_000 {
            c.log.push((path.to_string(), status));
        }
        f(&mut c);
    }
}

pub struct Sim {
    pub addr: SocketAddr,
    pub stats: Arc<SimStats>,
    state: Arc<SimState>,
    shutdown: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
    threads: Arc<cpu::Threads>,
}

impl Sim {
    /// Starts the server on `bind` (port 0 picks a free port), on a runtime of its own.
    pub async fn start(opts: SimOptions, bind: SocketAddr) -> std::io::Result<Sim> {
        let listener = std::net::TcpListener::bind(bind)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let threads = Arc::new(cpu::Threads::default());
        let (on_start, on_stop) = (threads.clone(), threads.clone());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(THREAD_NAME)
            .on_thread_start(move || on_start.started())
            .on_thread_stop(move || on_stop.stopping())
            .enable_all()
            .build()?;
        let stats = Arc::new(SimStats::default());
        let state = Arc::new(SimState::new(opts, stats.clone()));
        let app = router(state.clone());
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        runtime.spawn(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            let _ = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await;
        });
        Ok(Sim { addr, stats, state, shutdown, runtime: Some(runtime), threads })
    }

    /// On loopback, port 0: what every embedded run and test uses.
    pub async fn start_local(opts: SimOptions) -> std::io::Result<Sim> {
        Sim::start(opts, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving and waits for the sim's threads to end; open connections are cut.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(rt) = self.runtime.take() {
            // Stalled handlers would hold a graceful shutdown: drop them with the runtime.
            // Waiting for its threads is blocking work, kept off the caller's runtime.
            let _ = tokio::task::spawn_blocking(move || rt.shutdown_timeout(std::time::Duration::from_secs(2))).await;
        }
    }

    /// User plus system CPU time the simulator's threads have used, in seconds (Linux;
    /// 0 elsewhere): what a benchmark subtracts to see the client's own cost.
    /// Changes the quota (accepted requests a window) from the next request on.
    pub fn set_quota(&self, per_window: u32) {
        self.state.set_quota(per_window);
    }

    pub fn cpu_seconds(&self) -> f64 {
        self.threads.cpu_seconds()
    }

    /// The universe the server answers from, for tests that compute expected answers
    /// (and that see splits added with `add_split`).
    pub fn universe(&self) -> Arc<Universe> {
        self.state.universe.clone()
    }

    /// Test control, not part of the API: a split that takes effect for later requests,
    /// in raw bars from `execution_date` on, in adjusted answers before it, and in the
    /// splits endpoint.
    pub fn add_split(&self, ticker: &str, execution_date: Day, split_from: f64, split_to: f64) -> Result<(), String> {
        self.state.universe.add_split(ticker, execution_date, split_from, split_to, true)
    }

    /// Test control: a split known late. Raw bars from `execution_date` on change now;
    /// the splits endpoint and adjusted answers ignore it until `reveal_split`.
    pub fn add_late_split(
        &self,
        ticker: &str,
        execution_date: Day,
        split_from: f64,
        split_to: f64,
    ) -> Result<(), String> {
        self.state.universe.add_split(ticker, execution_date, split_from, split_to, false)
    }

    /// Test control: the late split of `ticker` on `execution_date` becomes known. False if
    /// there is none.
    pub fn reveal_split(&self, ticker: &str, execution_date: Day) -> bool {
        self.state.universe.reveal_split(ticker, execution_date)
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(rt) = self.runtime.take() {
            // Drop may run inside another runtime, where blocking is not allowed.
            rt.shutdown_background();
        }
    }
}

fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}", get(aggs::range))
        .route("/v2/aggs/grouped/locale/{locale}/market/{market}/{date}", get(aggs::grouped))
        .route("/v3/reference/tickers", get(reference::tickers))
        .route("/v3/reference/tickers/{ticker}", get(reference::ticker_details))
        .route("/stocks/v1/splits", get(reference::splits))
        .route("/v3/reference/options/contracts", get(contracts::contracts))
        .fallback(state::not_found)
        .method_not_allowed_fallback(state::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), state::catch_panics))
        .with_state(state)
}

/// A range answer of `days` sessions of 1-minute AAPL bars, as the simulator sends it:
/// for measuring the client's decoding on a realistic body.
pub fn sample_range_body(days: u32) -> Vec<u8> {
    let universe = Universe::new(0);
    let from = calendar::parse_date("2024-01-02").expect("valid");
    let to = calendar::nth_session_from(from, days);
    let q = MarketQuery {
        timeframe: "1/minute".parse().expect("valid"),
        from_ms: calendar::ny_midnight_ms(from),
        to_ms: calendar::ny_midnight_ms(to + 1) - 1,
        limit: market::MAX_LIMIT,
        desc: false,
        adjusted: true,
    };
    let answer = market::range(&universe, "AAPL", &q);
    wire::range_body("AAPL", Some(true), answer.base, &answer.bars, "0123456789abcdef0123456789abcdef", None)
}
