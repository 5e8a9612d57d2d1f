//! The aggregates endpoints: a ticker's range (paged by `limit` base bars, with an opaque
//! cursor) and grouped daily (every ticker for one day). Every path segment and
//! parameter is checked before any work: what the server cannot answer is a 400 with the
//! API's error body, never a panic.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::faults::{self, PageContext};
use super::market::{self, Query as MarketQuery};
use super::state::{Gate, Params, SimState, encode, flag, json, origin};
use super::{Endpoint, wire};
use crate::calendar::{self, Day, PathTime};
use crate::markets::{Class, DayZone};
use crate::timeframe::{Timeframe, Timespan};

const DEFAULT_LIMIT: u64 = 5_000;

/// The days the simulator answers for: the calendar's rules hold through 2199, and no
/// history starts before 1970.
const LAST_DAY: Day = 84_005; // 2199-12-31
const LAST_MS: i64 = 7_258_136_400_000; // 2200-01-01 05:00Z, midnight New York

pub struct Cursor {
    pub limit: u64,
    pub desc: bool,
    pub adjusted: bool,
}

fn read_cursor(params: &Params) -> Result<Cursor, String> {
    let mut adjusted = flag(params, "adjusted", true)?;
    if params.contains_key("unadjusted") {
        adjusted = !flag(params, "unadjusted", false)?;
    }
    let mut limit = super::state::limit(params, DEFAULT_LIMIT, market::MAX_LIMIT)?;
    let mut sort = params.get("sort").cloned().unwrap_or_else(|| "asc".into());
    if let Some(c) = params.get("cursor") {
        let bad = || "Invalid cursor".to_string();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
        for pair in text.split('&') {
            match pair.split_once('=') {
                Some(("limit", v)) => limit = v.parse::<u64>().map_err(|_| bad())?.clamp(1, market::MAX_LIMIT),
                Some(("sort", v)) => sort = v.to_string(),
                Some(("adjusted", v)) => adjusted = v == "true",
                _ => {}
            }
        }
    }
    if sort != "asc" && sort != "desc" {
        return Err("Invalid sort; use asc or desc".into());
    }
    Ok(Cursor { limit, desc: sort == "desc", adjusted })
}

fn cursor_token(c: &Cursor, nonce: Option<u64>) -> String {
    let mut s = format!("limit={}&sort={}&adjusted={}", c.limit, if c.desc { "desc" } else { "asc" }, c.adjusted);
    if let Some(n) = nonce {
        s.push_str(&format!("&page={n}"));
    }
    URL_SAFE_NO_PAD.encode(s)
}

/// A timespan and a multiplier the server can build bars for: up to a day for minute and
/// hour bars (buckets never cross midnight), up to 1000 periods otherwise.
fn timeframe(multiplier: &str, timespan: &str) -> Result<Timeframe, String> {
    let span: Timespan = timespan.parse().map_err(|_| format!("Unknown timespan '{timespan}'"))?;
    let m: u32 = multiplier
        .parse()
        .ok()
        .filter(|m| *m >= 1)
        .ok_or_else(|| "Could not parse the multiplier. Use a positive integer".to_string())?;
    let max = match span {
        Timespan::Minute => 1440,
        Timespan::Hour => 24,
        _ => 1000,
    };
    if m > max {
        return Err(format!("The multiplier for {} bars must be at most {max}", span.as_str()));
    }
    Ok(Timeframe::new(m, span))
}

/// `from` snaps to the start of its day, `to` to the end of its day, as the ticker's class
/// bounds its days (`zone`); ms stay as sent.
fn path_ms(s: &str, name: &str, end: bool, zone: DayZone) -> Result<i64, String> {
    let out_of_range =
        || format!("The time parameter '{name}' is outside the supported range, 1970-01-01 to 2199-12-31");
    match calendar::parse_path_time(s) {
        None => Err(format!("Could not parse the time parameter: '{name}'. Use YYYY-MM-DD or Unix MS Timestamps")),
        Some(PathTime::Millis(ms)) if (0..LAST_MS).contains(&ms) => Ok(ms),
        Some(PathTime::Date(d)) if (0..=LAST_DAY).contains(&d) => {
            Ok(if end { zone.start_ms(d + 1) - 1 } else { zone.start_ms(d) })
        }
        Some(_) => Err(out_of_range()),
    }
}

struct RangeRequest {
    ticker: String,
    tf: Timeframe,
    from: String,
    to: String,
    from_ms: i64,
    to_ms: i64,
    cursor: Cursor,
}

fn parse_range(p: (String, String, String, String, String), params: &Params) -> Result<RangeRequest, String> {
    let (ticker, multiplier, timespan, from, to) = p;
    let tf = timeframe(&multiplier, &timespan)?;
    let zone = Class::of_checked(&ticker).zone();
    let from_ms = path_ms(&from, "from", false, zone)?;
    let to_ms = path_ms(&to, "to", true, zone)?;
    if to_ms < from_ms {
        return Err("The parameter 'to' cannot be a time that occurs before 'from'".into());
    }
    let cursor = read_cursor(params)?;
    Ok(RangeRequest { ticker, tf, from, to, from_ms, to_ms, cursor })
}

type RangePath = (String, String, String, String, String);

pub async fn range(
    State(state): State<Arc<SimState>>,
    path: Result<Path<RangePath>, PathRejection>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (gate, params) = match state.open(Endpoint::Range, query, &headers, &uri).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Path(p)) = path else {
        return state.bad_request(&gate, "Could not parse the path");
    };
    let req = match parse_range(p, &params) {
        Ok(r) => r,
        Err(e) => return state.bad_request(&gate, &e),
    };
    if let Some(r) = state.plan_limited(&gate, calendar::ny_day_of_ms(req.from_ms)) {
        return r;
    }
    let continuation = params.contains_key("cursor");
    serve_range(&state, gate, req, &headers, &uri, continuation).await
}

async fn serve_range(
    state: &SimState,
    gate: Gate,
    req: RangeRequest,
    headers: &HeaderMap,
    uri: &Uri,
    continuation: bool,
) -> Response {
    let c = &req.cursor;
    let q = MarketQuery {
        timeframe: req.tf,
        from_ms: req.from_ms,
        to_ms: req.to_ms,
        limit: c.limit,
        desc: c.desc,
        adjusted: c.adjusted,
    };
    let answer = market::range(&state.universe, &req.ticker, &q);
    // Indices take no `adjusted`, and their answers carry none.
    let adjusted = Class::of_checked(&req.ticker).takes_adjusted().then_some(c.adjusted);
    state.latency(answer.bars.len()).await;
    let origin = origin(headers);
    let page_url = |from: &str, to: &str, nonce: Option<u64>| {
        let (m, span, t) = (req.tf.multiplier, req.tf.timespan.as_str(), encode(&req.ticker));
        format!("{origin}/v2/aggs/ticker/{t}/range/{m}/{span}/{from}/{to}?cursor={}", cursor_token(c, nonce))
    };
    let mut next_url = answer.next.map(|n| {
        if c.desc { page_url(&req.from, &n.to_string(), None) } else { page_url(&n.to_string(), &req.to, None) }
    });
    let mut bars = answer.bars;
    let mut query_count = answer.base;
    match gate.fault {
        Some("empty_page") if !bars.is_empty() => {
            state.fault("empty_page");
            state.record(&gate, 200, 0, |c| c.ok += 1);
            bars.clear();
            query_count = 0;
            let n = state.counter.load(Ordering::Relaxed);
            next_url = Some(page_url(&req.from, &req.to, Some(n)));
            let body = wire::range_body(&req.ticker, adjusted, query_count, &bars, &gate.rid, next_url.as_deref());
            return json(StatusCode::OK, body, &gate.rid);
        }
        Some("repeat_page") => {
            state.fault("repeat_page");
            let own = uri.path_and_query().map(|p| p.as_str().to_string()).unwrap_or_default();
            next_url = Some(format!("{origin}{own}"));
        }
        Some(kind) => {
            let page = PageContext { ticker: &req.ticker, query: &q, continuation };
            if faults::spoil_range(kind, &state.universe, &page, &mut bars) {
                state.fault(kind);
            }
        }
        None => {}
    }
    let count = bars.len() as u64;
    let body = wire::range_body(&req.ticker, adjusted, query_count, &bars, &gate.rid, next_url.as_deref());
    state.deliver(body, &gate, count)
}

pub async fn grouped(
    State(state): State<Arc<SimState>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (gate, params) = match state.open(Endpoint::Grouped, query, &headers, &uri).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Path((locale, market_name, date))) = path else {
        return state.bad_request(&gate, "Could not parse the path");
    };
    let Some(class) = Class::ALL
        .into_iter()
        .find(|c| c.grouped().is_some_and(|g| g.locale == locale.as_str() && g.market == market_name.as_str()))
    else {
        return state.not_found_answer(&gate, "The specified resource was not found");
    };
    let day = match calendar::parse_date(&date) {
        Ok(d) if (0..=LAST_DAY).contains(&d) => d,
        Ok(_) => return state.bad_request(&gate, "The date is outside the supported range, 1970-01-01 to 2199-12-31"),
        Err(_) => return state.bad_request(&gate, "Could not parse the date. Use YYYY-MM-DD"),
    };
    let (adjusted, include_otc) = match (flag(&params, "adjusted", true), flag(&params, "include_otc", false)) {
        (Ok(a), Ok(o)) => (a, o),
        (Err(e), _) | (_, Err(e)) => return state.bad_request(&gate, &e),
    };
    if let Some(r) = state.plan_limited(&gate, day) {
        return r;
    }
    let mut rows = match class {
        Class::Stocks => market::grouped(&state.universe, day, include_otc, adjusted),
        other => market::grouped_global(&state.universe, other, day),
    };
    state.latency(rows.len()).await;
    if let Some(kind) = gate.fault
        && faults::spoil_grouped(kind, day, &mut rows)
    {
        state.fault(kind);
    }
    let count = rows.len() as u64;
    let body = wire::grouped_body(adjusted, &rows, &gate.rid, class.has_volume());
    state.deliver(body, &gate, count)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: DayZone = DayZone::NewYork;

    #[test]
    fn the_supported_range_constants_are_the_days_they_name() {
        assert_eq!(calendar::format_day(LAST_DAY), "2199-12-31");
        assert_eq!(calendar::ny_midnight_ms(LAST_DAY + 1), LAST_MS);
    }

    #[test]
    fn timeframes_and_times_are_checked_before_any_work() {
        assert!(timeframe("0", "day").is_err());
        assert!(timeframe("-1", "day").is_err());
        assert!(timeframe("99999999999", "day").is_err());
        assert!(timeframe("1441", "minute").is_err());
        assert!(timeframe("25", "hour").is_err());
        assert!(timeframe("1", "second").is_err());
        assert_eq!(timeframe("1000", "year").unwrap().to_string(), "1000/year");
        assert!(path_ms("9999-12-31", "to", true, NY).unwrap_err().contains("outside"));
        assert!(path_ms("1969-12-31", "from", false, NY).unwrap_err().contains("outside"));
        assert!(path_ms("99999999999999999999", "from", false, NY).is_err());
        assert!(path_ms("9999999999999", "from", false, NY).unwrap_err().contains("outside"));
        assert!(path_ms("2024-07-32", "from", false, NY).unwrap_err().contains("Could not parse"));
        assert_eq!(path_ms("1578114000000", "from", false, NY), Ok(1_578_114_000_000));
    }

    #[test]
    fn cursors_carry_limit_sort_and_adjusted_and_bad_ones_are_refused() {
        let mut p = Params::new();
        p.insert("cursor".into(), cursor_token(&Cursor { limit: 7, desc: true, adjusted: false }, Some(3)));
        let c = read_cursor(&p).unwrap();
        assert_eq!((c.limit, c.desc, c.adjusted), (7, true, false));
        p.insert("cursor".into(), "%%%".into());
        assert!(read_cursor(&p).is_err());
        p.insert("cursor".into(), URL_SAFE_NO_PAD.encode("limit=abc"));
        assert!(read_cursor(&p).is_err());
        let mut p = Params::new();
        p.insert("limit".into(), "999999999".into());
        assert_eq!(read_cursor(&p).unwrap().limit, market::MAX_LIMIT);
        p.insert("adjusted".into(), "maybe".into());
        assert!(read_cursor(&p).is_err());
    }
}
