//! What each profile fetches and the server it fetches it from, and the fewest requests
//! that workload allows, counted by the simulator's own market.

use std::time::Duration;

use super::Profile;
use crate::calendar::{self, Day, Range};
use crate::config::Chain;
use crate::plan::{self, Plan};
use crate::report;
use crate::sim::SimOptions;
use crate::sim::market::{self, Universe};
use crate::timeframe::Timeframe;

/// Synthetic names in the simulator's universe for the profiles that sample it.
pub const UNIVERSE_EXTRA: u32 = 2000;
/// Liquid names of the `universe` profile: the first names of `assets/universe.txt`.
const UNIVERSE_LIQUID: usize = 8;
/// Synthetic names of the `universe` profile.
const UNIVERSE_SYNTHETIC: usize = 282;
/// Names the simulator does not know: typos of real ones, as a hand-written list has them.
pub const UNKNOWN_NAMES: [&str; 10] =
    ["APPL", "MSFTT", "GOOGLE", "TSLAA", "NVDIA", "AMZNN", "SPYY", "QQQQ", "BRKB", "FACEBOOK"];
/// The `unlimited` profile's ten liquid names.
const UNLIMITED_NAMES: [&str; 10] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "SPY", "QQQ", "JPM"];

/// A workload and the server it runs against.
#[derive(Clone, Debug)]
pub struct Workload {
    pub profile: Profile,
    pub symbols: Vec<String>,
    pub timeframes: Vec<&'static str>,
    pub from: &'static str,
    pub to: &'static str,
    pub quota_per_min: u32,
    pub window_secs: f64,
    pub latency_ms: u64,
    pub latency_ms_per_1k_bars: f64,
    /// Synthetic names the simulator adds to its universe (the bench's floor counts with
    /// the same universe).
    pub extra_tickers: u32,
    /// Rows the bare SQLite loop inserts beside the steps; 0 skips it.
    pub bare_insert_rows: u64,
    /// The simulator runs as a `barfill sim` process, so the step's CPU and peak RSS are
    /// barfill's own.
    pub sim_apart: bool,
    /// The `barfill` binary that serves it: this process's own when `None` (a test, whose
    /// executable is not `barfill`, names it).
    pub sim_exe: Option<std::path::PathBuf>,
    /// An options chain a run lists from reference data; `symbols` then holds its
    /// contracts, for the floor.
    pub chain: Option<Chain>,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Workload {
    pub fn for_profile(p: Profile) -> Workload {
        let five = names(&["AAPL", "MSFT", "NVDA", "SPY", "TSLA"]);
        let all_tf = vec!["1/minute", "5/minute", "1/hour", "1/day"];
        let base = Workload {
            profile: p,
            symbols: five.clone(),
            timeframes: all_tf.clone(),
            from: "2024-01-01",
            to: "2024-12-31",
            quota_per_min: 1200,
            window_secs: 10.0,
            latency_ms: 25,
            latency_ms_per_1k_bars: 2.5,
            extra_tickers: 50,
            bare_insert_rows: 0,
            sim_apart: false,
            sim_exe: None,
            chain: None,
        };
        match p {
            // 1200/min enforced over 10 s windows: the quota binds within seconds, and a
            // single worker paging the whole range at 5000 bars outruns it.
            Profile::Quick => base,
            Profile::Seed => Workload {
                from: crate::config::DEFAULT_FROM,
                to: crate::config::DEFAULT_TO,
                quota_per_min: 150,
                window_secs: 60.0,
                latency_ms: 100,
                latency_ms_per_1k_bars: 10.0,
                ..base
            },
            Profile::Latency => Workload {
                symbols: five[..3].to_vec(),
                timeframes: vec!["1/minute", "1/hour"],
                quota_per_min: 60_000,
                window_secs: 60.0,
                latency_ms: 250,
                latency_ms_per_1k_bars: 10.0,
                ..base
            },
            Profile::Universe => Workload::universe_profile(base),
            Profile::Free => Workload::free_profile(base),
            Profile::Options => Workload::options_profile(base),
            Profile::Unlimited => Workload::unlimited_profile(base),
            // Each has a workload of its own (`switches`, `quotas`).
            Profile::Switches | Profile::Quotas => base,
        }
    }

    /// About 300 tickers over 2025 (33.6 M bars) at 200/min counted over 10 s windows (33 a
    /// window): the quota binds on two busy shared cores (it needs about 100 k bars/s), and
    /// a step takes about 5.5 minutes.
    fn universe_profile(base: Workload) -> Workload {
        let (from, to) = ("2025-01-01", "2025-12-31");
        let u = Universe::new(UNIVERSE_EXTRA);
        Workload {
            symbols: universe_sample(&u, day(from), day(to)),
            timeframes: vec!["1/minute", "1/day"],
            from,
            to,
            quota_per_min: 200,
            extra_tickers: UNIVERSE_EXTRA,
            ..base
        }
    }

    /// A free key: 5 requests a window, the window 6 s instead of 60 (10x compressed).
    fn free_profile(base: Workload) -> Workload {
        let (from, to) = ("2025-01-01", "2025-12-31");
        let u = Universe::new(UNIVERSE_EXTRA);
        Workload {
            symbols: free_sample(&u, day(from), day(to)),
            timeframes: vec!["1/minute", "1/day"],
            from,
            to,
            quota_per_min: 50,
            window_secs: 6.0,
            extra_tickers: UNIVERSE_EXTRA,
            ..base
        }
    }

    /// A chain of 494 SPY contracts (13 expirations, 19 strikes, calls and puts) over the
    /// quarter they expire in, at a free key's pace compressed as `free` is: each trades
    /// thinly, so its minute row is one request, the true floor.
    fn options_profile(base: Workload) -> Workload {
        let (from, to) = ("2025-01-01", "2025-03-31");
        let chain = Chain {
            underlyings: names(&["SPY"]),
            expiring: Range { from: day(from), to: day(to) },
            strikes: Some((480.0, 570.0)),
            contract_type: None,
        };
        Workload {
            symbols: market::option_chain("SPY", chain.expiring, chain.strikes.unwrap_or((0.0, f64::MAX))),
            timeframes: vec!["1/minute"],
            from,
            to,
            quota_per_min: 50,
            window_secs: 6.0,
            chain: Some(chain),
            ..base
        }
    }

    /// A paid key: a quota far above need and the simulator's default latency.
    fn unlimited_profile(base: Workload) -> Workload {
        let sim = SimOptions::default();
        Workload {
            symbols: names(&UNLIMITED_NAMES),
            timeframes: vec!["1/minute"],
            from: "2024-01-01",
            to: "2025-12-31",
            quota_per_min: 600_000,
            window_secs: 60.0,
            latency_ms: sim.latency_ms,
            latency_ms_per_1k_bars: sim.latency_ms_per_1k_bars,
            bare_insert_rows: 1_000_000,
            sim_apart: true,
            ..base
        }
    }

    pub fn range(&self) -> Range {
        Range { from: day(self.from), to: day(self.to) }
    }

    pub fn tfs(&self) -> Vec<Timeframe> {
        self.timeframes.iter().map(|t| t.parse().expect("a valid timeframe")).collect()
    }

    pub fn plan(&self) -> Plan {
        Plan::new(&self.symbols, &self.tfs(), self.range(), &Default::default())
    }

    /// The universe the simulator answers from.
    pub fn universe(&self) -> Universe {
        Universe::new(self.extra_tickers)
    }

    /// The true floor: the fewest requests any client could make for this workload, as
    /// the simulator's market counts them (`market::fewest_requests`).
    pub fn floor_requests(&self, u: &Universe) -> u64 {
        let symbols: Vec<&str> = self.symbols.iter().map(String::as_str).collect();
        let r = self.range();
        // A chain is listed first: one query (its expirations are all past), 1000 a page.
        let listing = self.chain.as_ref().map_or(0, |_| self.symbols.len().div_ceil(1000) as u64);
        market::fewest_requests(u, &symbols, &self.tfs(), r.from, r.to) + listing
    }

    /// Seconds the quota needs for `requests`, the last one answered at the simulator's
    /// base latency: a bound no client can beat.
    pub fn floor_s(&self, requests: u64) -> f64 {
        report::floor_seconds(requests, self.quota_per_min as f64, self.latency_ms as f64 / 1000.0)
    }

    /// Tickers of the workload with no session in range: unknown to the server, renamed,
    /// or not trading then.
    pub fn tickers_without_bars(&self, u: &Universe) -> Vec<String> {
        let r = self.range();
        let daily: Timeframe = "1/day".parse().expect("valid");
        self.symbols.iter().filter(|t| market::base_bars(u, t, daily, r.from, r.to) == 0).cloned().collect()
    }

    /// Seconds the simulator takes to answer a full `limit=50000` minute page.
    pub fn full_page_latency_s(&self) -> f64 {
        (self.latency_ms as f64 + self.latency_ms_per_1k_bars * plan::DAYS_PER_MINUTE_WINDOW as f64 * 0.96) / 1000.0
    }

    /// Little's law: requests in flight = rate x latency, plus one so a worker is always
    /// ready when the pacer opens.
    pub fn best_concurrency(&self, headroom_pct: f64) -> u32 {
        let per_s = self.quota_per_min as f64 * (1.0 - headroom_pct / 100.0) / 60.0;
        ((per_s * self.full_page_latency_s()).ceil() as u32 + 1).clamp(1, 16)
    }

    pub fn quota_window(&self) -> Duration {
        Duration::from_secs_f64(self.window_secs)
    }

    pub fn sim_options(&self) -> SimOptions {
        SimOptions {
            quota: Some(((self.quota_per_min as f64 * self.window_secs / 60.0).round() as u32).max(1)),
            window: self.quota_window(),
            latency_ms: self.latency_ms,
            latency_ms_per_1k_bars: self.latency_ms_per_1k_bars,
            extra_tickers: self.extra_tickers,
            ..SimOptions::fast()
        }
    }

    pub fn describe(&self) -> String {
        format!("{} symbols x {} ({} .. {})", self.symbols.len(), self.timeframes.join(", "), self.from, self.to)
    }
}

fn day(s: &str) -> Day {
    calendar::parse_date(s).expect("a valid constant date")
}

fn synthetic(t: &market::TickerInfo) -> bool {
    t.density < 1.0
}

/// Trades on some session of `[from, to]`.
fn trades_in(t: &market::TickerInfo, from: Day, to: Day) -> bool {
    (from..=to).any(|d| t.trades_on(d))
}

/// Trades on the first and the last session of `[from, to]`, and so on every one between.
fn trades_throughout(t: &market::TickerInfo, from: Day, to: Day) -> bool {
    let sessions: Vec<Day> = (from..=to).filter(|d| calendar::is_session(*d)).collect();
    sessions.first().is_some_and(|d| t.trades_on(*d)) && sessions.last().is_some_and(|d| t.trades_on(*d))
}

/// The first `n` tickers of the universe, liquid ones first, that trade every session of
/// `[from, to]`.
pub fn trading_throughout(u: &Universe, from: Day, to: Day, n: usize) -> Vec<String> {
    let all = || u.tickers().iter().filter(|t| trades_throughout(t, from, to));
    let liquid = all().filter(|t| !synthetic(t));
    let thin = all().filter(|t| synthetic(t));
    liquid.chain(thin).take(n).map(|t| t.ticker.clone()).collect()
}

/// The `universe` profile's tickers, in the universe's order: its first 8 names (liquid),
/// the first 282 synthetic names (`ZAAA` on) that trade on at least one session of
/// `[from, to]` (their densities spread over 0.1-0.9; some list or delist inside the
/// range), and the 10 names of [`UNKNOWN_NAMES`].
pub fn universe_sample(u: &Universe, from: Day, to: Day) -> Vec<String> {
    let liquid = u.tickers().iter().filter(|t| !synthetic(t) && trades_in(t, from, to)).take(UNIVERSE_LIQUID);
    let thin = u.tickers().iter().filter(|t| synthetic(t) && trades_in(t, from, to)).take(UNIVERSE_SYNTHETIC);
    let mut out: Vec<String> = liquid.chain(thin).map(|t| t.ticker.clone()).collect();
    out.extend(UNKNOWN_NAMES.iter().filter(|n| !u.contains(n)).map(|n| n.to_string()));
    out
}

/// The `free` profile's tickers: AAPL and SPY (liquid), three synthetic names trading the
/// whole range (the first under 0.3 of minutes, the first from 0.3 to 0.6, the first over
/// 0.6), the first synthetic name listed inside the range and the first delisted inside
/// it, FB (renamed META in 2022) and a typo (`APPL`).
pub fn free_sample(u: &Universe, from: Day, to: Day) -> Vec<String> {
    let synth = || u.tickers().iter().filter(|t| synthetic(t));
    let whole = |lo: f64, hi: f64| synth().find(|t| (lo..hi).contains(&t.density) && trades_throughout(t, from, to));
    let partly = || synth().filter(|t| trades_in(t, from, to) && !trades_throughout(t, from, to));
    let listed = partly().find(|t| t.first_day() > from && t.last_day.is_none());
    let gone = partly().find(|t| t.first_day() <= from && t.last_day.is_some());
    let picked = [whole(0.0, 0.3), whole(0.3, 0.6), whole(0.6, 1.0), listed, gone];
    let mut out = names(&["AAPL", "SPY"]);
    out.extend(picked.into_iter().flatten().map(|t| t.ticker.clone()));
    out.extend(names(&["FB", "APPL"]));
    out
}
