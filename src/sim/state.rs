//! What every endpoint shares: the key check, the quota, the choice of fault, the error
//! bodies, the delivery of a body (or its spoiling) and the accounting of each request.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use parking_lot::Mutex;

use super::market::{self, DayStamps, Universe};
use super::{Endpoint, SimCounts, SimOptions, SimStats, wire};

pub type Params = HashMap<String, String>;

pub struct SimState {
    pub opts: SimOptions,
    /// Accepted requests a window allows; changed while serving by `Sim::set_quota`.
    quota: AtomicUsize,
    pub universe: Arc<Universe>,
    recent: Mutex<VecDeque<Instant>>,
    pub counter: AtomicU64,
    pub stats: Arc<SimStats>,
}

/// A request past the key check, the quota and any fault that replaces the answer.
pub struct Gate {
    pub rid: String,
    pub fault: Option<&'static str>,
    pub path: String,
    pub endpoint: Endpoint,
}

pub fn json(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        r.headers_mut().insert("x-request-id", v);
    }
    r
}

/// The API's error envelope: the text in `error` for `ERROR`, in `message` otherwise.
pub fn error(status: StatusCode, kind: &str, text: &str, request_id: &str) -> Response {
    let body = if kind == "ERROR" {
        wire::ErrorOut { status: kind, request_id, error: Some(text), message: None }
    } else {
        wire::ErrorOut { status: kind, request_id, error: None, message: Some(text) }
    };
    json(status, serde_json::to_vec(&body).expect("serialisable"), request_id)
}

/// The query parameters, or an empty map and the reason they could not be read (a
/// malformed query is answered 400 once the request has passed the gate).
fn split_query(q: Result<Query<Params>, QueryRejection>) -> (Params, Option<String>) {
    match q {
        Ok(Query(p)) => (p, None),
        Err(e) => (Params::new(), Some(format!("Could not parse the query string: {}", e.body_text()))),
    }
}

/// A boolean parameter: `true` or `false` in any case; anything else is a bad request.
pub fn flag(params: &Params, key: &str, default: bool) -> Result<bool, String> {
    match params.get(key).map(|v| v.to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if v == "true" => Ok(true),
        Some(v) if v == "false" => Ok(false),
        Some(_) => Err(format!("Invalid value for '{key}'; use true or false")),
    }
}

/// A `limit`: a whole number, clamped to `1..=max` as the API clamps it.
pub fn limit(params: &Params, default: u64, max: u64) -> Result<u64, String> {
    match params.get("limit") {
        None => Ok(default),
        Some(l) => l.trim().parse::<u64>().map(|n| n.clamp(1, max)).map_err(|_| format!("Invalid limit '{l}'")),
    }
}

/// `http://<Host>` for the `next_url`s the server writes, as the real API names its own host.
pub fn origin(headers: &HeaderMap) -> String {
    headers.get(header::HOST).and_then(|h| h.to_str().ok()).map(|h| format!("http://{h}")).unwrap_or_default()
}

/// Percent-encodes everything but unreserved characters, for path segments and cursors.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl SimState {
    pub fn new(opts: SimOptions, stats: Arc<SimStats>) -> SimState {
        SimState {
            universe: Arc::new(
                Universe::new(opts.extra_tickers)
                    .with_stamps(DayStamps { crypto: opts.crypto_day_stamp, indices: opts.index_day_stamp }),
            ),
            quota: AtomicUsize::new(opts.quota.unwrap_or(u32::MAX) as usize),
            opts,
            recent: Mutex::new(VecDeque::new()),
            counter: AtomicU64::new(0),
            stats,
        }
    }

    /// A new quota for every request from now on: a server whose limit changes mid-run.
    pub fn set_quota(&self, per_window: u32) {
        self.quota.store(per_window as usize, Ordering::Relaxed);
    }

    pub fn request_id(&self, n: u64) -> String {
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
        let mut recent = self.recent.lock();
        while recent.front().is_some_and(|t| now.duration_since(*t) >= self.opts.window) {
            recent.pop_front();
        }
        if let Some(&oldest) = recent.front()
            && recent.len() >= self.quota.load(Ordering::Relaxed)
        {
            return Err(self.opts.window.saturating_sub(now.duration_since(oldest)));
        }
        recent.push_back(now);
        Ok(())
    }

    /// One roll per request against the faults' fractions, in `Faults::KEYS` order, so a
    /// seed gives the same faults to the same sequence of requests.
    fn pick_fault(&self, n: u64) -> Option<&'static str> {
        let f = &self.opts.faults;
        if !f.any() {
            return None;
        }
        let roll = market::splitmix(self.opts.seed.wrapping_mul(0x1000_0000_01b3) ^ n) as f64 / u64::MAX as f64;
        let mut acc = 0.0;
        for (name, p) in f.table() {
            acc += p;
            if roll < acc {
                return Some(name);
            }
        }
        None
    }

    pub async fn latency(&self, bars: usize) {
        let ms = self.opts.latency_ms as f64 + self.opts.latency_ms_per_1k_bars * bars as f64 / 1000.0;
        if ms > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(ms / 1000.0)).await;
        }
    }

    pub fn record(&self, gate: &Gate, status: u16, bars: u64, f: impl FnOnce(&mut SimCounts)) {
        self.stats.record(&gate.path, gate.endpoint, status, bars, f);
    }

    pub fn fault(&self, kind: &'static str) {
        self.stats.fault(kind);
    }

    /// Checks shared by every endpoint: key, quota, then a fault that replaces the answer.
    pub async fn enter(
        &self,
        endpoint: Endpoint,
        uri: &Uri,
        headers: &HeaderMap,
        params: &Params,
    ) -> Result<Gate, Response> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut gate = Gate { rid: self.request_id(n), fault: None, path: uri.path().to_string(), endpoint };
        if let Err(msg) = self.check_key(headers, params) {
            self.record(&gate, 401, 0, |c| c.unauthorized += 1);
            return Err(error(StatusCode::UNAUTHORIZED, "ERROR", msg, &gate.rid));
        }
        if let Err(wait) = self.admit() {
            self.record(&gate, 429, 0, |c| c.rate_limited += 1);
            let mut r = error(
                StatusCode::TOO_MANY_REQUESTS,
                "ERROR",
                "You've exceeded the maximum requests per minute, please wait or upgrade your subscription to continue. https://polygon.io/pricing",
                &gate.rid,
            );
            if self.opts.retry_after {
                let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return Err(r);
        }
        gate.fault = self.pick_fault(n);
        match gate.fault {
            Some("server_error") => {
                let code = [500u16, 502, 503, 504][(n % 4) as usize];
                self.record(&gate, code, 0, |c| *c.faults.entry("server_error").or_default() += 1);
                let status = StatusCode::from_u16(code).expect("a valid status");
                return Err(if code == 502 {
                    (status, "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>")
                        .into_response()
                } else {
                    error(status, "ERROR", "Internal server error", &gate.rid)
                });
            }
            Some("malformed") => {
                self.record(&gate, 200, 0, |c| *c.faults.entry("malformed").or_default() += 1);
                let mut r = (StatusCode::OK, "<html><body>upstream connect error</body></html>").into_response();
                r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html"));
                return Err(r);
            }
            Some("stall") => {
                self.fault("stall");
                tokio::time::sleep(self.opts.stall).await;
            }
            _ => {}
        }
        Ok(gate)
    }

    /// Sends a good body, or cuts it the way the chosen fault says.
    pub fn deliver(&self, body: Vec<u8>, gate: &Gate, bars: u64) -> Response {
        match gate.fault {
            Some("drop") => {
                self.record(gate, 200, 0, |c| *c.faults.entry("drop").or_default() += 1);
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
                self.record(gate, 200, 0, |c| *c.faults.entry("truncate").or_default() += 1);
                json(StatusCode::OK, body[..body.len() / 2].to_vec(), &gate.rid)
            }
            _ => {
                self.record(gate, 200, bars, |c| c.ok += 1);
                json(StatusCode::OK, body, &gate.rid)
            }
        }
    }

    /// Every endpoint's first steps: the gate, then a 400 for a query that could not be read.
    pub async fn open(
        &self,
        endpoint: Endpoint,
        query: Result<Query<Params>, QueryRejection>,
        headers: &HeaderMap,
        uri: &Uri,
    ) -> Result<(Gate, Params), Response> {
        let (params, bad_query) = split_query(query);
        let gate = self.enter(endpoint, uri, headers, &params).await?;
        match bad_query {
            Some(e) => Err(self.bad_request(&gate, &e)),
            None => Ok((gate, params)),
        }
    }

    pub fn bad_request(&self, gate: &Gate, text: &str) -> Response {
        self.record(gate, 400, 0, |c| c.bad_request += 1);
        error(StatusCode::BAD_REQUEST, "ERROR", text, &gate.rid)
    }

    pub fn not_found_answer(&self, gate: &Gate, text: &str) -> Response {
        self.record(gate, 404, 0, |c| c.not_found += 1);
        error(StatusCode::NOT_FOUND, "NOT_FOUND", text, &gate.rid)
    }

    /// 403 for history before the plan's first day, as a plan limit would.
    pub fn plan_limited(&self, gate: &Gate, day: crate::calendar::Day) -> Option<Response> {
        let limit = self.opts.plan_from?;
        (day < limit).then(|| {
            self.record(gate, 403, 0, |c| c.forbidden += 1);
            error(
                StatusCode::FORBIDDEN,
                "NOT_AUTHORIZED",
                "Your plan doesn't include this data timeframe. Please upgrade your plan at https://polygon.io/pricing",
                &gate.rid,
            )
        })
    }
}

pub async fn not_found(State(state): State<Arc<SimState>>, uri: Uri) -> Response {
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    state.stats.record(uri.path(), Endpoint::Other, 404, 0, |c| c.not_found += 1);
    error(StatusCode::NOT_FOUND, "NOT_FOUND", "The specified resource was not found", &state.request_id(n))
}

pub async fn method_not_allowed(State(state): State<Arc<SimState>>, uri: Uri) -> Response {
    let n = state.counter.fetch_add(1, Ordering::Relaxed);
    state.stats.record(uri.path(), Endpoint::Other, 405, 0, |c| c.bad_request += 1);
    error(StatusCode::METHOD_NOT_ALLOWED, "ERROR", "Method not allowed", &state.request_id(n))
}

/// The last line of defence: a handler that panics answers 500 with a JSON body and is
/// counted, instead of dropping the connection.
pub async fn catch_panics(State(state): State<Arc<SimState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            let n = state.counter.fetch_add(1, Ordering::Relaxed);
            state.stats.record(&path, Endpoint::Other, 500, 0, |c| c.panics += 1);
            error(StatusCode::INTERNAL_SERVER_ERROR, "ERROR", "Internal server error", &state.request_id(n))
        }
    }
}
