//! The reference endpoints: the tickers list (`/v3/reference/tickers`), one ticker's
//! details (`/v3/reference/tickers/{ticker}`) and splits (`/stocks/v1/splits`). Lists page
//! with an opaque base64url cursor in `next_url` that carries the whole query, as the
//! real API's do; a request with a cursor ignores every other parameter.

use std::cmp::Ordering;
use std::sync::Arc;

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::market::{Split, TickerInfo, Universe, round_to};
use super::state::{Gate, Params, SimState, encode, flag, origin};
use super::{Endpoint, wire};
use crate::calendar::{self, Day};
use crate::markets::Class;

/// A cursor: the query it continues, and how many items earlier pages held.
pub(super) fn cursor_token(params: &Params, offset: usize) -> String {
    let mut pairs: Vec<(&String, &String)> = params.iter().filter(|(k, _)| *k != "apiKey" && *k != "cursor").collect();
    pairs.sort();
    let mut text: String = pairs.iter().map(|(k, v)| format!("{}={}&", encode(k), encode(v))).collect();
    text.push_str(&format!("offset={offset}"));
    URL_SAFE_NO_PAD.encode(text)
}

fn decode_pct(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The query a request stands for, and where its page starts.
pub(super) fn effective(params: &Params) -> Result<(Params, usize), String> {
    let Some(c) = params.get("cursor") else { return Ok((params.clone(), 0)) };
    let bad = || "Invalid cursor".to_string();
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(c).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut out = Params::new();
    let mut offset = None;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let (k, v) = (decode_pct(k).ok_or_else(bad)?, decode_pct(v).ok_or_else(bad)?);
        if k == "offset" {
            offset = Some(v.parse::<usize>().map_err(|_| bad())?);
        } else {
            out.insert(k, v);
        }
    }
    Ok((out, offset.ok_or_else(bad)?))
}

pub(super) fn date_param(params: &Params, key: &str) -> Result<Option<Day>, String> {
    let Some(v) = params.get(key) else { return Ok(None) };
    match calendar::parse_date(v) {
        Ok(d) if (0..=84_005).contains(&d) => Ok(Some(d)),
        _ => Err(format!("Invalid value for '{key}'; use YYYY-MM-DD between 1970 and 2199")),
    }
}

fn timestamp(day: Day) -> String {
    format!("{}T00:00:00Z", calendar::format_day(day))
}

/// `ticker`, `ticker.gt`, `.gte`, `.lt`, `.lte` and `ticker.any_of`, as one predicate.
fn ticker_filter(params: &Params) -> impl Fn(&str) -> bool + '_ {
    move |t: &str| {
        let cmp = |key: &str, ok: fn(Ordering) -> bool| params.get(key).is_none_or(|v| ok(t.cmp(v.as_str())));
        params.get("ticker").is_none_or(|v| v == t)
            && params.get("ticker.any_of").is_none_or(|v| v.split(',').any(|x| x.trim() == t))
            && cmp("ticker.gt", Ordering::is_gt)
            && cmp("ticker.gte", Ordering::is_ge)
            && cmp("ticker.lt", Ordering::is_lt)
            && cmp("ticker.lte", Ordering::is_le)
    }
}

fn ticker_out<'a>(t: &'a TickerInfo, today: Day, details: bool) -> wire::TickerOut<'a> {
    let active = t.listed_on(today);
    let delisted = if active { None } else { t.delisted() };
    wire::TickerOut {
        ticker: &t.ticker,
        name: &t.name,
        market: t.market(),
        locale: if matches!(t.class, Class::Crypto | Class::Forex) { "global" } else { "us" },
        primary_exchange: t.primary_exchange,
        kind: t.kind,
        active,
        currency_name: "usd",
        cik: &t.cik,
        composite_figi: &t.composite_figi,
        share_class_figi: &t.share_class_figi,
        last_updated_utc: (!details).then(|| timestamp(delisted.unwrap_or(t.list_date))),
        delisted_utc: delisted.map(timestamp),
        list_date: details.then(|| calendar::format_day(t.list_date)),
        ticker_root: details.then(|| t.ticker.split('.').next().unwrap_or(&t.ticker)),
    }
}

const TICKER_SORTS: [&str; 10] = [
    "ticker",
    "name",
    "market",
    "locale",
    "primary_exchange",
    "type",
    "currency_name",
    "cik",
    "composite_figi",
    "share_class_figi",
];

fn sort_value(t: &TickerInfo, key: &str) -> String {
    match key {
        "name" => t.name.clone(),
        "market" => t.market().into(),
        "primary_exchange" => t.primary_exchange.unwrap_or("").into(),
        "type" => t.kind.into(),
        "cik" => t.cik.clone(),
        "composite_figi" => t.composite_figi.clone(),
        "share_class_figi" => t.share_class_figi.clone(),
        _ => t.ticker.clone(),
    }
}

/// The tickers a list request selects, sorted, with no paging yet.
fn select_tickers<'a>(universe: &'a Universe, p: &Params, today: Day) -> Result<Vec<&'a TickerInfo>, String> {
    let date = date_param(p, "date")?;
    let active = if p.contains_key("active") { Some(flag(p, "active", true)?) } else { date.is_none().then_some(true) };
    if let Some(m) = p.get("market")
        && !["stocks", "otc", "crypto", "fx", "indices"].contains(&m.as_str())
    {
        return Err(format!("Invalid market '{m}'; use stocks, otc, crypto, fx or indices"));
    }
    let sort = p.get("sort").map_or("ticker", String::as_str);
    if !TICKER_SORTS.contains(&sort) {
        return Err(format!("Invalid sort field '{sort}'"));
    }
    let desc = match p.get("order").map(String::as_str) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(o) => return Err(format!("Invalid order '{o}'; use asc or desc")),
    };
    let search = p.get("search").map(|s| s.to_lowercase());
    let tickers = ticker_filter(p);
    let same = |key: &str, value: &str| p.get(key).is_none_or(|v| v == value);
    let mut out: Vec<&TickerInfo> = universe
        .tickers()
        .iter()
        .chain(universe.others())
        .filter(|t| match date {
            Some(d) => t.listed_on(d),
            None => t.list_date <= today,
        })
        .filter(|t| active.is_none_or(|a| t.listed_on(today) == a))
        .filter(|t| tickers(&t.ticker))
        .filter(|t| same("type", t.kind) && same("market", t.market()) && same("cik", &t.cik))
        .filter(|t| same("exchange", t.primary_exchange.unwrap_or("")))
        .filter(|t| {
            search.as_ref().is_none_or(|s| t.ticker.to_lowercase().contains(s) || t.name.to_lowercase().contains(s))
        })
        .collect();
    out.sort_by(|a, b| sort_value(a, sort).cmp(&sort_value(b, sort)).then_with(|| a.ticker.cmp(&b.ticker)));
    if desc {
        out.reverse();
    }
    Ok(out)
}

/// What the list endpoints share: the gate, then the query (from the cursor if any).
pub(super) async fn open(
    state: &SimState,
    endpoint: Endpoint,
    query: Result<Query<Params>, QueryRejection>,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<(Gate, Params, usize), Response> {
    let (gate, params) = state.open(endpoint, query, headers, uri).await?;
    match effective(&params) {
        Ok((p, offset)) => Ok((gate, p, offset)),
        Err(e) => Err(state.bad_request(&gate, &e)),
    }
}

/// One page of `total` items from `offset`, and the `next_url` when more remain.
pub(super) fn page(
    total: usize,
    offset: usize,
    limit: u64,
    next: impl Fn(usize) -> String,
) -> (std::ops::Range<usize>, Option<String>) {
    let start = offset.min(total);
    let end = start.saturating_add(limit as usize).min(total);
    (start..end, (end < total).then(|| next(end)))
}

pub async fn tickers(
    State(state): State<Arc<SimState>>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (gate, p, offset) = match open(&state, Endpoint::Tickers, query, &headers, &uri).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let today = state.opts.today.unwrap_or_else(calendar::today_ny);
    let (selected, limit) = match (select_tickers(&state.universe, &p, today), super::state::limit(&p, 100, 1000)) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(e), _) | (_, Err(e)) => return state.bad_request(&gate, &e),
    };
    let base = format!("{}{}", origin(&headers), uri.path());
    let (range, next_url) =
        page(selected.len(), offset, limit, |end| format!("{base}?cursor={}", cursor_token(&p, end)));
    let items: Vec<wire::TickerOut> = selected[range].iter().map(|t| ticker_out(t, today, false)).collect();
    state.latency(items.len()).await;
    state.deliver(wire::tickers_body(&items, &gate.rid, next_url.as_deref()), &gate, 0)
}

pub async fn ticker_details(
    State(state): State<Arc<SimState>>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (gate, params) = match state.open(Endpoint::TickerDetails, query, &headers, &uri).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Path(ticker)) = path else {
        return state.bad_request(&gate, "Could not parse the path");
    };
    let today = state.opts.today.unwrap_or_else(calendar::today_ny);
    let date = match date_param(&params, "date") {
        Ok(d) => d,
        Err(e) => return state.bad_request(&gate, &e),
    };
    let found = state.universe.info(&ticker).filter(|t| match date {
        Some(d) => t.listed_on(d),
        None => t.list_date <= today,
    });
    let Some(info) = found else {
        return state.not_found_answer(&gate, "Ticker not found.");
    };
    state.latency(1).await;
    state.deliver(wire::details_body(&ticker_out(info, today, true), &gate.rid), &gate, 0)
}

/// The historical adjustment factor of a known split: the product of `split_from /
/// split_to` of it and every later known split of the same ticker, to 6 decimals.
fn historical_factor(known: &[Split], s: &Split) -> f64 {
    let this_and_later = known.iter().filter(|x| x.ticker == s.ticker && x.execution_date >= s.execution_date);
    round_to(this_and_later.map(|x| x.split_from / x.split_to).product(), 6)
}

/// `sort=execution_date.desc,ticker.asc`: columns with optional directions.
fn split_order(p: &Params) -> Result<Vec<(String, bool)>, String> {
    let text = p.get("sort").map_or("execution_date.desc", String::as_str);
    text.split(',')
        .map(|part| {
            let (col, dir) = part.trim().rsplit_once('.').unwrap_or((part.trim(), "asc"));
            let desc = match dir {
                "asc" => false,
                "desc" => true,
                _ => return Err(format!("Invalid sort '{part}'; use a column with .asc or .desc")),
            };
            if !["execution_date", "ticker", "adjustment_type", "id"].contains(&col) {
                return Err(format!("Invalid sort column '{col}'"));
            }
            Ok((col.to_string(), desc))
        })
        .collect()
}

fn compare_splits(a: &Split, b: &Split, order: &[(String, bool)]) -> Ordering {
    let mut out = Ordering::Equal;
    for (col, desc) in order {
        let o = match col.as_str() {
            "execution_date" => a.execution_date.cmp(&b.execution_date),
            "ticker" => a.ticker.cmp(&b.ticker),
            "adjustment_type" => a.adjustment_type.cmp(b.adjustment_type),
            _ => a.id().cmp(&b.id()),
        };
        out = out.then(if *desc { o.reverse() } else { o });
    }
    out.then_with(|| a.ticker.cmp(&b.ticker))
}

fn select_splits(universe: &Universe, p: &Params) -> Result<Vec<Split>, String> {
    let tickers = ticker_filter(p);
    let on = date_param(p, "execution_date")?;
    let (gt, gte) = (date_param(p, "execution_date.gt")?, date_param(p, "execution_date.gte")?);
    let (lt, lte) = (date_param(p, "execution_date.lt")?, date_param(p, "execution_date.lte")?);
    let kinds: Option<Vec<&str>> =
        p.get("adjustment_type").or(p.get("adjustment_type.any_of")).map(|v| v.split(',').map(str::trim).collect());
    let order = split_order(p)?;
    let mut out: Vec<Split> = universe
        .all_splits()
        .into_iter()
        .filter(|s| s.known && tickers(&s.ticker))
        .filter(|s| {
            let d = s.execution_date;
            on.is_none_or(|x| d == x)
                && gt.is_none_or(|x| d > x)
                && gte.is_none_or(|x| d >= x)
                && lt.is_none_or(|x| d < x)
                && lte.is_none_or(|x| d <= x)
        })
        .filter(|s| kinds.as_ref().is_none_or(|k| k.contains(&s.adjustment_type)))
        .collect();
    out.sort_by(|a, b| compare_splits(a, b, &order));
    Ok(out)
}

pub async fn splits(
    State(state): State<Arc<SimState>>,
    query: Result<Query<Params>, QueryRejection>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let (gate, p, offset) = match open(&state, Endpoint::Splits, query, &headers, &uri).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let (selected, limit) = match (select_splits(&state.universe, &p), super::state::limit(&p, 100, 5000)) {
        (Ok(s), Ok(l)) => (s, l),
        (Err(e), _) | (_, Err(e)) => return state.bad_request(&gate, &e),
    };
    // Factors come from every known split of the ticker, not only the selected ones.
    let known: Vec<Split> = state.universe.all_splits().into_iter().filter(|s| s.known).collect();
    let base = format!("{}{}", origin(&headers), uri.path());
    let (range, next_url) =
        page(selected.len(), offset, limit, |end| format!("{base}?cursor={}", cursor_token(&p, end)));
    let items: Vec<wire::SplitOut> = selected[range]
        .iter()
        .map(|s| wire::SplitOut {
            id: s.id(),
            ticker: &s.ticker,
            execution_date: calendar::format_day(s.execution_date),
            split_from: s.split_from,
            split_to: s.split_to,
            adjustment_type: s.adjustment_type,
            historical_adjustment_factor: historical_factor(&known, s),
        })
        .collect();
    state.latency(items.len()).await;
    state.deliver(wire::splits_body(&items, &gate.rid, next_url.as_deref()), &gate, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn cursors_round_trip_the_query_and_refuse_garbage() {
        let p = params(&[("search", "a&b=c %"), ("limit", "5"), ("apiKey", "secret")]);
        let token = cursor_token(&p, 10);
        let (back, offset) = effective(&params(&[("cursor", &token)])).unwrap();
        assert_eq!(offset, 10);
        assert_eq!(back.get("search").unwrap(), "a&b=c %");
        assert!(!back.contains_key("apiKey"), "a cursor never carries the key");
        for bad in [
            "!!!",
            &URL_SAFE_NO_PAD.encode("limit=5"),
            &URL_SAFE_NO_PAD.encode("offset=x"),
            &URL_SAFE_NO_PAD.encode("a=%zz&offset=1"),
        ] {
            assert!(effective(&params(&[("cursor", bad)])).is_err(), "{bad}");
        }
    }

    #[test]
    fn point_in_time_lists_show_fb_before_the_rename_and_meta_after() {
        let u = Universe::new(0);
        let today = calendar::parse_date("2026-11-30").unwrap();
        let names =
            |p: &Params| select_tickers(&u, p, today).unwrap().iter().map(|t| t.ticker.clone()).collect::<Vec<_>>();
        let before = names(&params(&[("date", "2022-06-08"), ("ticker.gte", "F"), ("ticker.lt", "N")]));
        assert!(before.contains(&"FB".into()) && !before.contains(&"META".into()), "{before:?}");
        let after = names(&params(&[("date", "2022-06-09"), ("ticker.gte", "F"), ("ticker.lt", "N")]));
        assert!(!after.contains(&"FB".into()) && after.contains(&"META".into()), "{after:?}");
        // Today's list holds active tickers; FB only with active=false.
        assert!(!names(&Params::new()).contains(&"FB".into()));
        assert_eq!(names(&params(&[("active", "false")])), vec!["FB".to_string()]);
        // A date with active=true: listed then and still listed now.
        assert!(!names(&params(&[("date", "2022-06-08"), ("active", "true")])).contains(&"FB".into()));
        assert_eq!(names(&params(&[("search", "apple")])), vec!["AAPL".to_string()]);
        assert!(select_tickers(&u, &params(&[("market", "bonds")]), today).is_err());
        assert!(select_tickers(&u, &params(&[("sort", "nope")]), today).is_err());
        assert!(select_tickers(&u, &params(&[("date", "9999-12-31")]), today).is_err());
    }

    #[test]
    fn historical_factors_accumulate_later_splits() {
        let u = Universe::new(0);
        let aapl: Vec<Split> = u.splits_of("AAPL");
        let factor = |date: &str| {
            let s = aapl.iter().find(|s| calendar::format_day(s.execution_date) == date).unwrap();
            historical_factor(&aapl, s)
        };
        assert_eq!(factor("2020-08-31"), 0.25);
        assert_eq!(factor("2014-06-09"), 0.035714);
        assert_eq!(factor("2005-02-28"), 0.017857);
        let order = split_order(&params(&[("sort", "ticker.asc,execution_date.desc")])).unwrap();
        assert_eq!(order, vec![("ticker".to_string(), false), ("execution_date".to_string(), true)]);
        assert!(split_order(&params(&[("sort", "ticker.sideways")])).is_err());
        assert!(split_order(&params(&[("sort", "price")])).is_err());
    }
}
