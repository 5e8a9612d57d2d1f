//! The simulator over HTTP: what it answers to bad and random requests, where it runs,
//! the reference and splits endpoints (read with the client's own parse functions),
//! adjusted and raw answers around splits added while it runs, the wrong-data faults, and
//! what it counts.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::Duration;

use barfill::bar::Bar;
use barfill::calendar::{self, Day};
use barfill::polygon::Client;
use barfill::polygon::client::RangeRequest;
use barfill::polygon::reference::{TickersQuery, parse_splits, parse_ticker_details, parse_tickers};
use barfill::sim::market::{self, SimBar};
use barfill::sim::{Faults, Sim, SimOptions};
use serde_json::Value;

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

async fn sim_with(f: impl FnOnce(&mut SimOptions)) -> Sim {
    let mut opts = crate::common::fast_sim_options();
    f(&mut opts);
    Sim::start_local(opts).await.unwrap()
}

/// Status, content type and body of a GET.
async fn get(url: &str) -> (u16, String, Vec<u8>) {
    let r = reqwest::get(url).await.unwrap();
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, ct, r.bytes().await.unwrap().to_vec())
}

async fn get_json(url: &str) -> (u16, Value) {
    let (status, ct, body) = get(url).await;
    assert_eq!(ct, "application/json", "{url}");
    (status, serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{url}: {e}")))
}

fn client(sim: &Sim) -> Client {
    Client::new(&sim.base_url(), None, Duration::from_secs(30)).unwrap()
}

fn to_sim(b: &Bar) -> SimBar {
    SimBar {
        t: b.ts,
        o: b.open,
        h: b.high,
        l: b.low,
        c: b.close,
        v: b.volume.unwrap(),
        vw: b.vwap.unwrap(),
        n: b.trades.map(|n| n as u64),
    }
}

#[tokio::test]
async fn what_the_calendar_cannot_hold_is_a_400_with_the_apis_error_body() {
    let sim = sim_with(|_| {}).await;
    let base = sim.base_url();
    for (path, says) in [
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-01-01/9999-12-31", "'to' is outside the supported range"),
        ("/v2/aggs/grouped/locale/us/market/stocks/9999-12-31", "outside the supported range"),
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-07-32/2024-07-32", "Could not parse the time parameter: 'from'"),
        ("/v2/aggs/ticker/AAPL/range/1/day/99999999999999/2024-01-02", "'from' is outside"),
        ("/v2/aggs/ticker/AAPL/range/4294967296/day/2024-01-02/2024-01-05", "multiplier"),
        ("/v2/aggs/ticker/AAPL/range/100000/year/2024-01-02/2024-01-05", "at most 1000"),
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05?cursor=!!", "Invalid cursor"),
        ("/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05?adjusted=perhaps", "'adjusted'"),
        ("/v2/aggs/ticker/%FF/range/1/day/2024-01-02/2024-01-05", "Could not parse the path"),
        ("/v3/reference/tickers?date=2024-13-01", "'date'"),
        ("/stocks/v1/splits?sort=price.asc", "sort column"),
    ] {
        let (status, body) = get_json(&format!("{base}{path}")).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["status"], "ERROR", "{path}");
        assert!(body["request_id"].as_str().is_some_and(|r| r.len() == 32), "{path}");
        assert!(body["error"].as_str().unwrap().contains(says), "{path}: {body}");
    }
    // A huge limit is clamped, unknown parameters are ignored: both answer.
    let (status, body) =
        get_json(&format!("{base}/v2/aggs/ticker/AAPL/range/1/day/2024-01-02/2024-01-05?limit=99999999&whatever=1"))
            .await;
    assert_eq!((status, body["resultsCount"].as_u64()), (200, Some(4)));
    let (status, body) = get_json(&format!("{base}/v9/nothing")).await;
    assert_eq!((status, body["status"].as_str()), (404, Some("NOT_FOUND")));
    let r = reqwest::Client::new().post(format!("{base}/v3/reference/tickers")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ERROR");
    let counts = sim.stats.snapshot();
    assert_eq!(counts.panics, 0);
    assert_eq!(counts.bad_request, 11 + 1);
    sim.stop().await;
}

/// Values a path segment or a parameter might take: good ones, edge ones and garbage.
const SEGMENTS: &[&str] = &[
    "AAPL",
    "FB",
    "META",
    "ZAAB",
    "NOPE",
    "BRK.B",
    "%FF",
    "%E2%82%AC",
    "A%2FB",
    "1",
    "5",
    "0",
    "-1",
    "60",
    "1441",
    "4294967296",
    "99999999999999999999",
    "1e3",
    "minute",
    "hour",
    "day",
    "week",
    "month",
    "quarter",
    "year",
    "second",
    "MINUTE",
    "2024-01-02",
    "2024-02-30",
    "9999-12-31",
    "0000-01-01",
    "1969-12-31",
    "2199-12-31",
    "2200-01-01",
    "1578114000000",
    "0000000000",
    "99999999999999",
    "2024-1-1",
    "us",
    "stocks",
    "crypto",
    "%20",
];
const KEYS: &[&str] = &[
    "limit",
    "sort",
    "adjusted",
    "unadjusted",
    "cursor",
    "include_otc",
    "apiKey",
    "ticker",
    "ticker.gte",
    "ticker.lt",
    "ticker.any_of",
    "type",
    "market",
    "exchange",
    "active",
    "date",
    "search",
    "order",
    "execution_date",
    "execution_date.gte",
    "execution_date.lt",
    "adjustment_type",
    "foo",
    "%FF",
];
const VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "50000",
    "50001",
    "99999999999999999999",
    "true",
    "false",
    "TRUE",
    "maybe",
    "asc",
    "desc",
    "ticker",
    "name",
    "execution_date.desc",
    "ticker.asc,execution_date.desc",
    "price.asc",
    "stocks",
    "otc",
    "bonds",
    "CS",
    "ETF",
    "XNAS",
    "2024-01-02",
    "9999-12-31",
    "%FF",
    "",
    "AAPL,NVDA",
    "apple",
    "forward_split",
    "bGltaXQ9MiZzb3J0PWFzYw",
    "b2Zmc2V0PTk5OTk5OTk5OTk5OTk5OTk5OTk5",
    "YQ",
    "%%",
    "a+b",
];

fn pick(rng: &mut fastrand::Rng, from: &[&str]) -> String {
    if rng.u8(..) < 20 {
        let len = rng.usize(0..12);
        (0..len).map(|_| rng.alphanumeric()).collect()
    } else {
        from[rng.usize(..from.len())].to_string()
    }
}

fn random_request(rng: &mut fastrand::Rng) -> String {
    let s = |rng: &mut fastrand::Rng| pick(rng, SEGMENTS);
    let path = match rng.u8(0..6) {
        0 | 1 => {
            let parts: Vec<String> = (0..5).map(|_| s(rng)).collect();
            format!("/v2/aggs/ticker/{}/range/{}/{}/{}/{}", parts[0], parts[1], parts[2], parts[3], parts[4])
        }
        2 => format!("/v2/aggs/grouped/locale/{}/market/{}/{}", s(rng), s(rng), s(rng)),
        3 => "/v3/reference/tickers".to_string(),
        4 => {
            if rng.bool() {
                format!("/v3/reference/tickers/{}", s(rng))
            } else {
                "/stocks/v1/splits".to_string()
            }
        }
        _ => (0..rng.usize(0..5)).map(|_| format!("/{}", s(rng))).collect(),
    };
    let query: Vec<String> =
        (0..rng.usize(0..5)).map(|_| format!("{}={}", pick(rng, KEYS), pick(rng, VALUES))).collect();
    if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) }
}

/// Thousands of random paths and queries: every answer is a 2xx or a 4xx with a JSON
/// body, and no handler panics. `BARFILL_FUZZ_SEED` replays a run; `BARFILL_FUZZ_CASES`
/// sets its length.
#[tokio::test]
async fn random_requests_get_json_answers_never_a_broken_connection() {
    let seed =
        std::env::var("BARFILL_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| fastrand::u64(..));
    let cases: usize = std::env::var("BARFILL_FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(3000);
    eprintln!("random requests: BARFILL_FUZZ_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let sim = sim_with(|_| {}).await;
    let http = reqwest::Client::new();
    for i in 0..cases {
        let path = random_request(&mut rng);
        let url = format!("{}{path}", sim.base_url());
        let r = http.get(&url).send().await.unwrap_or_else(|e| panic!("seed {seed}, case {i}: {path}: {e}"));
        let status = r.status().as_u16();
        let body = r.bytes().await.unwrap_or_else(|e| panic!("seed {seed}, case {i}: {path}: body: {e}"));
        assert!((200..500).contains(&status), "seed {seed}, case {i}: {path} answered {status}");
        let json: Result<Value, _> = serde_json::from_slice(&body);
        assert!(
            json.is_ok(),
            "seed {seed}, case {i}: {path} answered {status} with {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    let counts = sim.stats.snapshot();
    assert_eq!(counts.panics, 0, "seed {seed}");
    assert_eq!(counts.requests as usize, cases, "seed {seed}");
    assert!(counts.ok > 0 && counts.bad_request > 0 && counts.not_found > 0, "seed {seed}: {counts:?}");
    sim.stop().await;
}

/// A blocking GET over a plain socket: the status line.
fn blocking_status_line(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text.lines().next().unwrap_or_default().to_string()
}

#[cfg(target_os = "linux")]
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

/// The test's own runtime has one thread; blocking it must not stop the simulator, which
/// runs on threads of its own.
#[tokio::test]
async fn the_server_answers_while_the_callers_runtime_is_blocked() {
    let sim = sim_with(|_| {}).await;
    #[cfg(target_os = "linux")]
    assert!(thread_names().iter().any(|n| n == barfill::sim::THREAD_NAME), "{:?}", thread_names());
    let addr = sim.addr;
    let (tx, rx) = std::sync::mpsc::channel();
    // A few are enough: each costs a quarter of a second of CPU in a debug build.
    const PAGES: usize = 4;
    std::thread::spawn(move || {
        // A full 50,000-bar page: the kind of work that must not run on the caller's runtime.
        let path = "/v2/aggs/ticker/AAPL/range/1/minute/2024-01-02/2024-04-30?limit=50000";
        for _ in 0..PAGES {
            let _ = tx.send(blocking_status_line(addr, path));
        }
    });
    // Blocks this runtime's only thread while the requests are served.
    for _ in 0..PAGES {
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("the simulator answered");
        assert_eq!(line, "HTTP/1.1 200 OK");
    }
    #[cfg(target_os = "linux")]
    assert!(sim.cpu_seconds() > 0.0, "full pages cost the sim's threads some CPU");
    let addr = sim.addr;
    sim.stop().await;
    assert!(std::net::TcpStream::connect(addr).is_err(), "a stopped simulator no longer listens");
}

async fn all_tickers(sim: &Sim, q: &TickersQuery<'_>) -> Vec<barfill::polygon::reference::TickerRef> {
    let client = client(sim);
    let mut url = client.tickers_url(q);
    let mut out = Vec::new();
    loop {
        let (status, _, body) = get(url.as_str()).await;
        assert_eq!(status, 200, "{url}");
        let page = parse_tickers(&body).unwrap();
        out.extend(page.tickers);
        match page.next_url {
            Some(next) => url = client.resolve_next(&next).unwrap(),
            None => return out,
        }
    }
}

#[tokio::test]
async fn the_tickers_list_pages_through_every_active_ticker_once() {
    let sim = sim_with(|_| {}).await;
    let universe = sim.universe();
    let today = crate::common::today();
    let got = all_tickers(&sim, &TickersQuery { limit: Some(40), ..Default::default() }).await;
    let names: Vec<&str> = got.iter().map(|t| t.ticker.as_str()).collect();
    // Without `market`, every market: the stocks, and the crypto pairs, forex pairs and indices.
    let every = universe.tickers().iter().chain(universe.others());
    let mut want: Vec<&str> = every.filter(|t| t.listed_on(today)).map(|t| t.ticker.as_str()).collect();
    want.sort();
    assert_eq!(names, want, "sorted by ticker, each once, inactive ones left out");
    assert!(got.iter().all(|t| t.active && t.delisted.is_none() && t.list_date.is_none()));
    assert!(got.iter().any(|t| t.market == "otc" && t.primary_exchange.is_none()));
    let aapl = got.iter().find(|t| t.ticker == "AAPL").unwrap();
    assert_eq!(
        (aapl.name.as_str(), aapl.type_.as_deref(), aapl.primary_exchange.as_deref()),
        ("Apple Inc.", Some("CS"), Some("XNAS"))
    );

    // The universe of 2022-06-08 holds FB (inactive now) and not META.
    let then =
        all_tickers(&sim, &TickersQuery { date: Some(day("2022-06-08")), limit: Some(1000), ..Default::default() })
            .await;
    let fb = then.iter().find(|t| t.ticker == "FB").expect("FB was listed on 2022-06-08");
    assert_eq!((fb.active, fb.delisted), (false, Some(day("2022-06-09"))));
    assert!(!then.iter().any(|t| t.ticker == "META"));
    let etfs =
        all_tickers(&sim, &TickersQuery { type_: Some("ETF"), exchange: Some("ARCX"), ..Default::default() }).await;
    assert!(etfs.iter().any(|t| t.ticker == "SPY") && etfs.iter().all(|t| t.type_.as_deref() == Some("ETF")));
    let pages = sim.stats.snapshot().by_endpoint;
    assert_eq!(pages.tickers, sim.stats.snapshot().requests);
    assert!(pages.tickers as usize >= want.len().div_ceil(40));
    sim.stop().await;
}

#[tokio::test]
async fn ticker_details_and_the_404_for_an_unknown_ticker() {
    let sim = sim_with(|_| {}).await;
    let c = client(&sim);
    let (status, _, body) = get(c.ticker_details_url("FB").as_str()).await;
    assert_eq!(status, 200);
    let fb = parse_ticker_details(&body).unwrap();
    assert_eq!((fb.list_date, fb.delisted, fb.active), (Some(day("2012-05-18")), Some(day("2022-06-09")), false));
    let (_, _, body) = get(c.ticker_details_url("META").as_str()).await;
    assert_eq!(parse_ticker_details(&body).unwrap().list_date, Some(day("2022-06-09")));
    let (status, body) = get_json(c.ticker_details_url("NOPE").as_str()).await;
    assert_eq!(status, 404);
    assert_eq!((body["status"].as_str(), body["message"].as_str()), (Some("NOT_FOUND"), Some("Ticker not found.")));
    assert_eq!(body["request_id"].as_str().map(str::len), Some(32));
    let fixture: Value = serde_json::from_str(include_str!(
        "fixtures/polygon/errors/404_ticker-not-found__v3_reference_tickers_NOPE.json"
    ))
    .unwrap();
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
    assert_eq!(keys(&body), keys(&fixture), "the same envelope as the API's");
    // Before its listing, a ticker is not found at that date.
    let (status, _) = get_json(&format!("{}?date=2021-01-04", c.ticker_details_url("META"))).await;
    assert_eq!(status, 404);
    let counts = sim.stats.snapshot();
    assert_eq!((counts.by_endpoint.ticker_details, counts.not_found), (4, 2));
    sim.stop().await;
}

async fn splits_of(sim: &Sim, tickers: &[&str]) -> Vec<barfill::polygon::reference::SplitRef> {
    let c = client(sim);
    let (status, _, body) = get(c.splits_url(tickers, 100).as_str()).await;
    assert_eq!(status, 200);
    parse_splits(&body).unwrap().splits
}

#[tokio::test]
async fn the_splits_endpoint_lists_known_splits_and_late_ones_once_revealed() {
    let sim = sim_with(|_| {}).await;
    let nvda = splits_of(&sim, &["NVDA"]).await;
    let dates: Vec<(Day, f64, Option<f64>)> =
        nvda.iter().map(|s| (s.execution_date, s.split_to / s.split_from, s.historical_adjustment_factor)).collect();
    assert_eq!(dates, vec![(day("2021-07-20"), 4.0, Some(0.025)), (day("2024-06-10"), 10.0, Some(0.1))]);

    sim.add_split("MSFT", day("2025-03-04"), 1.0, 2.0).unwrap();
    sim.add_late_split("JPM", day("2025-05-05"), 10.0, 1.0).unwrap();
    let listed = splits_of(&sim, &["MSFT", "JPM"]).await;
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0].ticker.as_str(), listed[0].adjustment_type.as_str()), ("MSFT", "forward_split"));
    assert!(sim.reveal_split("JPM", day("2025-05-05")));
    let listed = splits_of(&sim, &["MSFT", "JPM"]).await;
    let jpm = listed.iter().find(|s| s.ticker == "JPM").unwrap();
    assert_eq!((jpm.adjustment_type.as_str(), jpm.historical_adjustment_factor), ("reverse_split", Some(10.0)));

    // Every known split, two a page, newest first by default, each once.
    let base = sim.base_url();
    let c = client(&sim);
    let mut url = reqwest::Url::parse(&format!("{base}/stocks/v1/splits?limit=2")).unwrap();
    let mut seen = Vec::new();
    loop {
        let (_, _, body) = get(url.as_str()).await;
        let page = parse_splits(&body).unwrap();
        seen.extend(page.splits);
        match page.next_url {
            Some(n) => url = c.resolve_next(&n).unwrap(),
            None => break,
        }
    }
    let known = sim.universe().all_splits().into_iter().filter(|s| s.known).count();
    assert_eq!(seen.len(), known);
    assert!(seen.windows(2).all(|w| w[0].execution_date >= w[1].execution_date));
    assert_eq!(seen.iter().map(|s| s.id.clone()).collect::<BTreeSet<_>>().len(), known);
    let reverse = splits_of(&sim, &[]).await;
    assert!(reverse.iter().all(|s| !s.id.is_empty()));
    sim.stop().await;
}

const STOCKS: barfill::markets::Grouped = barfill::markets::Grouped { locale: "us", market: "stocks" };

async fn day_bars(sim: &Sim, ticker: &str, adjusted: bool, from: &str, to: &str) -> Vec<SimBar> {
    let c = client(sim);
    let url = c.range_url(&RangeRequest {
        ticker,
        class: barfill::markets::Class::Stocks,
        timeframe: "1/day".parse().unwrap(),
        from: day(from),
        from_ms: None,
        to: day(to),
        adjusted,
        limit: Some(50_000),
    });
    c.get(&url).await.unwrap().bars.iter().map(to_sim).collect()
}

/// Backfill, add a split, fetch again: raw bars change from the split on, adjusted bars
/// before it, and the stored raw bars give the adjusted answer through `adjusted_bar`.
#[tokio::test]
async fn answers_honour_adjusted_and_splits_added_while_the_server_runs() {
    let sim = sim_with(|_| {}).await;
    let (from, to) = ("2025-02-24", "2025-03-14");
    let raw0 = day_bars(&sim, "MSFT", false, from, to).await;
    assert_eq!(raw0, day_bars(&sim, "MSFT", true, from, to).await);
    let split = day("2025-03-05");

    sim.add_late_split("MSFT", split, 1.0, 2.0).unwrap();
    let raw1 = day_bars(&sim, "MSFT", false, from, to).await;
    for (a, b) in raw0.iter().zip(&raw1) {
        let on_or_after = calendar::ny_day_of_ms(a.t) >= split;
        assert_eq!(a == b, !on_or_after, "{a:?} {b:?}");
    }
    assert_eq!(day_bars(&sim, "MSFT", true, from, to).await, raw1, "not known yet: adjusted is raw");

    sim.reveal_split("MSFT", split);
    let adjusted = day_bars(&sim, "MSFT", true, from, to).await;
    let universe = sim.universe();
    for (r, a) in raw1.iter().zip(&adjusted) {
        assert_eq!(market::adjusted_bar(&universe, "MSFT", r), *a);
    }
    assert!((adjusted[6].o / adjusted[7].o - 1.0).abs() < 0.05, "adjusted prices run on across the split");

    // Grouped daily honours `adjusted` as well.
    let c = client(&sim);
    let row = |page: barfill::polygon::Page| {
        let i = page.tickers.iter().position(|t| t == "NVDA").unwrap();
        to_sim(&page.bars[i])
    };
    let g_raw = row(c.get(&c.grouped_url(STOCKS, day("2024-06-07"), false)).await.unwrap());
    let g_adj = row(c.get(&c.grouped_url(STOCKS, day("2024-06-07"), true)).await.unwrap());
    assert_eq!(g_adj, market::adjust(&g_raw, 10.0));
    sim.stop().await;
}

async fn one_page(sim: &Sim, path: &str) -> Value {
    let (status, body) = get_json(&format!("{}{path}", sim.base_url())).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

fn bars_of(page: &Value) -> Vec<SimBar> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| SimBar {
            t: b["t"].as_i64().unwrap(),
            o: b["o"].as_f64().unwrap(),
            h: b["h"].as_f64().unwrap(),
            l: b["l"].as_f64().unwrap(),
            c: b["c"].as_f64().unwrap(),
            v: b["v"].as_f64().unwrap(),
            vw: b["vw"].as_f64().unwrap(),
            n: b["n"].as_u64(),
        })
        .collect()
}

#[tokio::test]
async fn wrong_data_faults_spoil_200_answers_and_are_counted() {
    let path = "/v2/aggs/ticker/AAPL/range/1/minute/2024-03-04/2024-03-05?limit=1000";
    let clean_sim = sim_with(|_| {}).await;
    let clean = bars_of(&one_page(&clean_sim, path).await);
    let to_ms = calendar::ny_midnight_ms(day("2024-03-06")) - 1;
    for kind in ["seconds-ts", "swap-hl", "off-grid", "out-of-range"] {
        let sim = sim_with(|o| o.faults = Faults::parse(&format!("{kind}=1")).unwrap()).await;
        let bars = bars_of(&one_page(&sim, path).await);
        match kind {
            "seconds-ts" => assert!(bars.iter().zip(&clean).all(|(b, c)| b.t * 1000 == c.t)),
            "swap-hl" => assert!(bars.iter().zip(&clean).all(|(b, c)| b.h == c.l && b.l == c.h)),
            "off-grid" => assert_eq!(bars.iter().filter(|b| b.t % 60_000 != 0).count(), 1),
            _ => assert!(bars.last().unwrap().t > to_ms && bars[..bars.len() - 1] == clean[..]),
        }
        let counts = sim.stats.snapshot();
        assert_eq!(counts.faults.get(kind.replace('-', "_").as_str()), Some(&1), "{kind}: {counts:?}");
        assert_eq!(counts.ok, 1);
        sim.stop().await;
    }
    // A first page has no boundary to repeat; the page its next_url leads to does.
    let sim = sim_with(|o| o.faults = Faults::parse("dup-boundary=1").unwrap()).await;
    let first = one_page(&sim, path).await;
    assert_eq!(bars_of(&first), clean);
    let next = first["next_url"].as_str().unwrap().to_string();
    let second = bars_of(&one_page(&sim, &next[next.find("/v2/").unwrap()..]).await);
    assert_eq!(second[0], *clean.last().unwrap());
    assert_eq!(sim.stats.snapshot().faults.get("dup_boundary"), Some(&1));
    // Grouped answers get them too.
    let sim = sim_with(|o| o.faults = Faults::parse("swap_hl=1").unwrap()).await;
    let grouped = bars_of(&one_page(&sim, "/v2/aggs/grouped/locale/us/market/stocks/2024-03-04").await);
    assert!(grouped.iter().all(|b| b.h <= b.l) && grouped.iter().any(|b| b.h < b.l));
    clean_sim.stop().await;
}

#[tokio::test]
async fn reference_requests_count_against_the_quota_and_by_endpoint() {
    let sim = sim_with(|o| o.quota = Some(4)).await;
    let base = sim.base_url();
    for path in [
        "/v3/reference/tickers",
        "/v3/reference/tickers/AAPL",
        "/stocks/v1/splits",
        "/v2/aggs/grouped/locale/us/market/stocks/2024-03-04",
    ] {
        assert_eq!(get(&format!("{base}{path}")).await.0, 200, "{path}");
    }
    assert_eq!(get(&format!("{base}/v3/reference/tickers")).await.0, 429);
    let counts = sim.stats.snapshot();
    assert_eq!((counts.requests, counts.ok, counts.rate_limited), (5, 4, 1));
    let e = counts.by_endpoint;
    assert_eq!((e.tickers, e.ticker_details, e.splits, e.grouped, e.range), (2, 1, 1, 1, 0));
    sim.stop().await;

    let sim = sim_with(|o| o.faults = Faults::parse("5xx=1").unwrap()).await;
    let (status, _, _) = get(&format!("{}/stocks/v1/splits", sim.base_url())).await;
    assert!(status >= 500);
    assert_eq!(sim.stats.snapshot().faults.get("server_error"), Some(&1));
    sim.stop().await;
}

/// Dropping a simulator stops it as `stop` does, from inside a runtime or outside one.
#[tokio::test]
async fn a_dropped_simulator_stops_listening() {
    let sim = sim_with(|_| {}).await;
    let addr = sim.addr;
    assert!(std::net::TcpStream::connect(addr).is_ok());
    drop(sim);
    // Its runtime shuts down in the background: wait for the listener to go.
    let mut tries = 0;
    while std::net::TcpStream::connect(addr).is_ok() {
        tries += 1;
        assert!(tries < 500, "still listening after the drop");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn fixture(path: &str) -> Value {
    let text =
        std::fs::read_to_string(format!("{}/tests/fixtures/polygon/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The reference answers carry the fields of the recorded and documented ones.
#[tokio::test]
async fn reference_answers_have_the_recorded_shapes() {
    let sim = sim_with(|_| {}).await;
    let base = sim.base_url();
    let recorded = fixture("v3/reference/tickers.json");
    let (_, list) = get_json(&format!("{base}/v3/reference/tickers?limit=2")).await;
    assert_eq!(keys(&list), keys(&recorded));
    assert_eq!(keys(&list["results"][0]), keys(&recorded["results"][0]));

    let recorded = fixture("v3/reference/tickers/AAPL.json");
    let (_, details) = get_json(&format!("{base}/v3/reference/tickers/AAPL")).await;
    assert_eq!(keys(&details), keys(&recorded));
    let extra: Vec<String> = keys(&details["results"]).difference(&keys(&recorded["results"])).cloned().collect();
    assert!(extra.is_empty(), "fields the API does not send: {extra:?}");
    assert_eq!(details["results"]["list_date"], "1980-12-12");

    let written = fixture("stocks/v1/splits&ticker=AAPL&limit=2.json");
    let (_, splits) = get_json(&format!("{base}/stocks/v1/splits?ticker=AAPL&limit=2")).await;
    assert_eq!(keys(&splits), keys(&written));
    assert_eq!(keys(&splits["results"][0]), keys(&written["results"][0]));
    for field in ["execution_date", "split_from", "split_to", "historical_adjustment_factor"] {
        let (a, b) = (&splits["results"][1][field], &written["results"][1][field]);
        assert_eq!(a.as_f64(), b.as_f64(), "{field}");
        assert_eq!(a.as_str(), b.as_str(), "{field}");
    }
    sim.stop().await;
}
