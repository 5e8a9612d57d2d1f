//! The embedded Polygon-compatible server: same paths, parameters and bodies as the real
//! API, a quota that answers 429, latency that grows with the page, and injectable
//! faults. It serialises its own types (`wire`), so a mistake in the client's wire types
//! cannot hide behind the same mistake here; the recorded fixtures judge both.

pub mod market;
mod wire;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio_util::sync::CancellationToken;

use crate::calendar::{self, Day, PathTime};
pub use crate::config::{Faults, SimOptions};
use crate::timeframe::{Timeframe, Timespan};
use market::{Query as MarketQuery, Universe};

const MAX_LIMIT: u64 = 50_000;
const DEFAULT_LIMIT: u64 = 5_000;

/// What the server saw, for the dashboard's source line and for tests.
#[derive(Clone, Debug, Default)]
pub struct SimCounts {
    pub requests: u64,
    pub ok: u64,
    pub rate_limited: u64,
    pub unauthorized: u64,
    pub forbidden: u64,
    pub bad_request: u64,
    pub bars_served: u64,
    pub faults: BTreeMap<&'static str, u64>,
    /// Path and status of every request, oldest first (capped).
    pub log: Vec<(String, u16)>,
}

#[derive(Default)]
pub struct SimStats(Mutex<SimCounts>);

impl SimStats {
    pub fn snapshot(&self) -> SimCounts {
        self.0.lock().unwrap().clone()
    }

    fn fault(&self, kind: &'static str) {
        *self.0.lock().unwrap().faults.entry(kind).or_default() += 1;
    }

    fn record(&self, path: &str, status: u16, bars: u64, f: impl FnOnce(&mut SimCounts)) {
        let mut c = self.0.lock().unwrap();
        c.requests += 1;
        c.bars_served += bars;
        if c.log.len() < 200_000 {
            c.log.push((path.to_string(), status));
        }
        f(&mut c);
    }
}

struct SimState {
    opts: SimOptions,
    quota: usize,
    universe: Universe,
    recent: Mutex<VecDeque<Instant>>,
    counter: AtomicU64,
    stats: Arc<SimStats>,
}

pub struct Sim {
    pub addr: SocketAddr,
    pub stats: Arc<SimStats>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Sim {
    /// Starts the server on `bind` (port 0 picks a free port).
    pub async fn start(opts: SimOptions, bind: SocketAddr) -> std::io::Result<Sim> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let stats = Arc::new(SimStats::default());
        let state = Arc::new(SimState {
            universe: Universe::new(opts.extra_tickers),
            quota: opts.quota.unwrap_or(u32::MAX) as usize,
            opts,
            recent: Mutex::new(VecDeque::new()),
            counter: AtomicU64::new(0),
            stats: stats.clone(),
        });
        let app = Router::new()
            .route("/v2/aggs/ticker/{ticker}/range/{multiplier}/{timespan}/{from}/{to}", get(range))
            .route("/v2/aggs/grouped/locale/{locale}/market/{market}/{date}", get(grouped))
            .fallback(not_found)
            .with_state(state);
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await;
        });
        Ok(Sim { addr, stats, shutdown, task })
    }

    /// On loopback, port 0: what every embedded run and test uses.
    pub async fn start_local(opts: SimOptions) -> std::io::Result<Sim> {
        Sim::start(opts, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        // Stalled handlers would hold a graceful shutdown; do not wait for them.
        self.task.abort();
        let _ = self.task.await;
    }
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
        limit: MAX_LIMIT,
        desc: false,
    };
    let answer = market::range(&universe, "AAPL", &q);
    wire::range_body("AAPL", true, answer.base, &answer.bars, "0123456789abcdef0123456789abcdef", None)
}

// ---- handlers ----

type Params = HashMap<String, String>;

fn json(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

fn error(status: StatusCode, kind: &str, text: &str, request_id: &str) -> Response {
    let body = if kind == "ERROR" {
        wire::ErrorOut { status: kind, request_id, error: Some(text), message: None }
    } else {
        wire::ErrorOut { status: kind, request_id, error: None, message: Some(text) }
    };
    json(status, serde_json::to_vec(&body).unwrap(), request_id)
}

impl SimState {
    fn request_id(&self, n: u64) -> String {
        let a = market::splitmix(self.opts.seed ^ n.wrapping_mul(31));
        let b = market::splitmix(a);
        format!("{a:016x}{b:016x}")
    }

    fn check_key(&self, headers: &HeaderMap, params: &Params) -> Result<(), &'static str> {
        let Some(expected) = &self.opts.api_key else { return Ok(()) };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::to_string)
            .or_else(|| params.get("apiKey").cloned());
        match given {
            None => Err("API Key was not provided"),
            Some(k) if k == expected.expose() => Ok(()),
            Some(_) => Err("Unknown API Key"),
        }
    }

    /// Sliding window: at most `quota` accepted requests in any `window`.
    fn admit(&self) -> Result<(), Duration> {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap();
        while recent.front().is_some_and(|t| now.duration_since(*t) >= self.opts.window) {
            recent.pop_front();
        }
        if recent.len() >= self.quota {
            let oldest = *recent.front().unwrap();
            return Err(self.opts.window.saturating_sub(now.duration_since(oldest)));
        }
        recent.push_back(now);
        Ok(())
    }

    fn pick_fault(&self, n: u64) -> Option<&'static str> {
        let f = &self.opts.faults;
        if !f.any() {
            return None;
        }
        let roll = market::splitmix(self.opts.seed.wrapping_mul(0x1000_0000_01b3) ^ n) as f64 / u64::MAX as f64;
        let table = [
            ("server_error", f.server_error),
            ("drop", f.drop),
            ("truncate", f.truncate),
            ("malformed", f.malformed),
            ("stall", f.stall),
            ("empty_page", f.empty_page),
            ("repeat_page", f.repeat_page),
        ];
        let mut acc = 0.0;
        for (name, p) in table {
            acc += p;
            if roll < acc {
                return Some(name);
            }
        }
        None
    }

    async fn latency(&self, bars: usize) {
        let ms = self.opts.latency_ms as f64 + self.opts.latency_ms_per_1k_bars * bars as f64 / 1000.0;
        if ms > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)).await;
        }
    }

    /// Checks shared by both endpoints: key, quota, then a fault that replaces the answer.
    async fn gate(&self, path: &str, headers: &HeaderMap, params: &Params) -> Result<Gate, Response> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let rid = self.request_id(n);
        if let Err(msg) = self.check_key(headers, params) {
            self.stats.record(path, 401, 0, |c| c.unauthorized += 1);
            return Err(error(StatusCode::UNAUTHORIZED, "ERROR", msg, &rid));
        }
        if let Err(wait) = self.admit() {
            self.stats.record(path, 429, 0, |c| c.rate_limited += 1);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "ERROR",
                "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing",
                &rid,
            );
            if self.opts.retry_after {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return Err(r);
        }
        let fault = self.pick_fault(n);
        match fault {
            Some("server_error") => {
                let codes = [500u16, 502, 503, 504];
                let code = codes[(n % 4) as usize];
                self.stats.record(path, code, 0, |c| *c.faults.entry("server_error").or_default() += 1);
                let status = StatusCode::from_u16(code).unwrap();
                return Err(if code == 502 {
                    (status, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
                        .into_response()
                } else {
                    error(status, "ERROR", "Internal server error", &rid)
                });
            }
            Some("malformed") => {
                self.stats.record(path, 200, 0, |c| *c.faults.entry("malformed").or_default() += 1);
                let mut r = (StatusCode::OK, "<html><body>upstream connect error</body></html>").into_response();
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                return Err(r);
            }
            Some("stall") => {
                self.stats.fault("stall");
                tokio::time::sleep(self.opts.stall).await;
            }
            _ => {}
        }
        Ok(Gate { rid, fault })
    }

    /// What both endpoints do first: the path for the log, then `gate`.
    async fn enter(&self, uri: &Uri, headers: &HeaderMap, params: &Params) -> Result<(String, Gate), Response> {
        let path = uri.path().to_string();
        let gate = self.gate(&path, headers, params).await?;
        Ok((path, gate))
    }

    /// Sends a good body, or spoils it the way the chosen fault says.
    fn deliver(&self, body: Vec<u8>, gate: &Gate, path: &str, bars: u64) -> Response {
        match gate.fault {
            Some("drop") => {
                self.stats.record(path, 200, 0, |c| *c.faults.entry("drop").or_default() += 1);
                let half = Bytes::copy_from_slice(&body[..body.len() / 2]);
                let full = body.len();
                let stream = futures::stream::iter(vec![
                    Ok::<Bytes, std::io::Error>(half),
                    Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "simulated drop")),
                ]);
                let mut r = Response::new(Body::from_stream(stream));
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                r.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from(full));
                r
            }
            Some("truncate") => {
                self.stats.record(path, 200, 0, |c| *c.faults.entry("truncate").or_default() += 1);
                json(StatusCode::OK, body[..body.len() / 2].to_vec(), &gate.rid)
            }
            _ => {
                self.stats.record(path, 200, bars, |c| c.ok += 1);
                json(StatusCode::OK, body, &gate.rid)
            }
        }
    }
}

struct Gate {
    rid: String,
    fault: Option<&'static str>,
}

fn bad_request(state: &SimState, path: &str, rid: &str, text: &str) -> Response {
    state.stats.record(path, 400, 0, |c| c.bad_request += 1);
    error(StatusCode::BAD_REQUEST, "ERROR", text, rid)
}

fn plan_limited(state: &SimState, path: &str, rid: &str, day: Day) -> Option<Response> {
    let limit = state.opts.plan_from?;
    (day < limit).then(|| {
        state.stats.record(path, 403, 0, |c| c.forbidden += 1);
        error(
            StatusCode::FORBIDDEN,
            "NOT_AUTHORIZED",
            "Your plan doesn't include this data timeframe. Please upgrade your plan at https://polygon.io/pricing",
            rid,
        )
    })
}

struct Cursor {
    limit: u64,
    desc: bool,
    adjusted: bool,
}

fn parse_bool(v: Option<&String>, default: bool) -> bool {
    v.map(|s| s.eq_ignore_ascii_case("true")).unwrap_or(default)
}

fn read_cursor(params: &Params) -> Result<Cursor, String> {
    let mut adjusted = parse_bool(params.get("adjusted"), true);
    if let Some(u) = params.get("unadjusted") {
        adjusted = !u.eq_ignore_ascii_case("true");
    }
    let mut limit = match params.get("limit") {
        Some(l) => l.parse::<u64>().map_err(|_| format!("Invalid limit '{l}'"))?,
        None => DEFAULT_LIMIT,
    };
    let mut sort = params.get("sort").cloned().unwrap_or_else(|| "asc".into());
    if let Some(c) = params.get("cursor") {
        let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| "Invalid cursor".to_string())?;
        let text = String::from_utf8(raw).map_err(|_| "Invalid cursor".to_string())?;
        for pair in text.split('&') {
            match pair.split_once('=') {
                Some(("limit", v)) => limit = v.parse().map_err(|_| "Invalid cursor".to_string())?,
                Some(("sort", v)) => sort = v.to_string(),
                Some(("adjusted", v)) => adjusted = v == "true",
                _ => {}
            }
        }
    }
    if sort != "asc" && sort != "desc" {
        return Err(format!("Invalid sort '{sort}'; use asc or desc"));
    }
    Ok(Cursor { limit: limit.clamp(1, MAX_LIMIT), desc: sort == "desc", adjusted })
}

fn cursor_token(c: &Cursor, nonce: Option<u64>) -> String {
    let mut s = format!("limit={}&sort={}&adjusted={}", c.limit, if c.desc { "desc" } else { "asc" }, c.adjusted);
    if let Some(n) = nonce {
        s.push_str(&format!("&page={n}"));
    }
    URL_SAFE_NO_PAD.encode(s)
}

/// `from` snaps to the start of its day; `to` to the end of its day.
fn path_ms(s: &str, end: bool) -> Option<i64> {
    match calendar::parse_path_time(s)? {
        PathTime::Millis(ms) => Some(ms),
        PathTime::Date(d) if end => Some(calendar::ny_midnight_ms(d + 1) - 1),
        PathTime::Date(d) => Some(calendar::ny_midnight_ms(d)),
    }
}

async fn range(
    State(state): State<Arc<SimState>>,
    Path((ticker, multiplier, timespan, from, to)): Path<(String, String, String, String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (path, gate) = match state.enter(&uri, &headers, &params).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rid = gate.rid.clone();
    let Ok(m) = multiplier.parse::<u32>() else {
        return bad_request(&state, &path, &rid, "Could not parse the multiplier. Use a positive integer");
    };
    let Ok(span) = timespan.parse::<Timespan>() else {
        return bad_request(&state, &path, &rid, &format!("Unknown timespan '{timespan}'"));
    };
    let Ok(tf) = format!("{m}/{}", span.as_str()).parse::<Timeframe>() else {
        return bad_request(&state, &path, &rid, "Unsupported multiplier for this timespan");
    };
    let Some(from_ms) = path_ms(&from, false) else {
        return bad_request(
            &state,
            &path,
            &rid,
            "Could not parse the time parameter: 'from'. Use YYYY-MM-DD or Unix MS Timestamps",
        );
    };
    let Some(to_ms) = path_ms(&to, true) else {
        return bad_request(
            &state,
            &path,
            &rid,
            "Could not parse the time parameter: 'to'. Use YYYY-MM-DD or Unix MS Timestamps",
        );
    };
    if to_ms < from_ms {
        return bad_request(&state, &path, &rid, "The parameter 'to' cannot be a time that occurs before 'from'");
    }
    let cursor = match read_cursor(&params) {
        Ok(c) => c,
        Err(e) => return bad_request(&state, &path, &rid, &e),
    };
    if let Some(r) = plan_limited(&state, &path, &rid, calendar::ny_day_of_ms(from_ms)) {
        return r;
    }
    let q = MarketQuery { timeframe: tf, from_ms, to_ms, limit: cursor.limit, desc: cursor.desc };
    let universe = &state.universe;
    let answer = market::range(universe, &ticker, &q);
    state.latency(answer.bars.len()).await;

    let origin =
        headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(|h| format!("http://{h}")).unwrap_or_default();
    let page_url = |from: &str, to: &str, nonce: Option<u64>| {
        format!(
            "{origin}/v2/aggs/ticker/{ticker}/range/{m}/{}/{from}/{to}?cursor={}",
            span.as_str(),
            cursor_token(&cursor, nonce)
        )
    };
    let mut next_url = answer
        .next
        .map(|n| if cursor.desc { page_url(&from, &n.to_string(), None) } else { page_url(&n.to_string(), &to, None) });
    let mut bars = answer.bars;
    let mut query_count = answer.base;
    match gate.fault {
        Some("empty_page") if !bars.is_empty() => {
            state.stats.fault("empty_page");
            state.stats.record(&path, 200, 0, |c| c.ok += 1);
            bars.clear();
            query_count = 0;
            let n = state.counter.load(Ordering::Relaxed);
            next_url = Some(page_url(&from, &to, Some(n)));
            let body = wire::range_body(&ticker, cursor.adjusted, query_count, &bars, &rid, next_url.as_deref());
            return json(StatusCode::OK, body, &rid);
        }
        Some("repeat_page") => {
            state.stats.fault("repeat_page");
            let own = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
            next_url = Some(format!("{origin}{own}"));
        }
        _ => {}
    }
    let count = bars.len() as u64;
    let body = wire::range_body(&ticker, cursor.adjusted, query_count, &bars, &rid, next_url.as_deref());
    state.deliver(body, &gate, &path, count)
}

async fn grouped(
    State(state): State<Arc<SimState>>,
    Path((locale, market_name, date)): Path<(String, String, String)>,
    Query(params): Query<Params>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (path, gate) = match state.enter(&uri, &headers, &params).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rid = gate.rid.clone();
    if locale != "us" || market_name != "stocks" {
        state.stats.record(&path, 404, 0, |_| {});
        return error(StatusCode::NOT_FOUND, "NOT_FOUND", "The specified resource was not found", &rid);
    }
    let Ok(day) = calendar::parse_date(&date) else {
        return bad_request(&state, &path, &rid, "Could not parse the date. Use YYYY-MM-DD");
    };
    if let Some(r) = plan_limited(&state, &path, &rid, day) {
        return r;
    }
    let adjusted = parse_bool(params.get("adjusted"), true);
    let rows = market::grouped(&state.universe, day, parse_bool(params.get("include_otc"), false));
    state.latency(rows.len()).await;
    let count = rows.len() as u64;
    let body = wire::grouped_body(adjusted, &rows, &rid);
    state.deliver(body, &gate, &path, count)
}

async fn not_found(State(state): State<Arc<SimState>>, uri: Uri) -> Response {
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    state.stats.record(uri.path(), 404, 0, |_| {});
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "The specified resource was not found", &state.request_id(n))
}
