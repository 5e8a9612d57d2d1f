//! The simulator's response bodies, written with its own types in the real API's shape:
//! `results` omitted when empty, `n` only when known, `next_url` only when more exists.

use serde::Serialize;

use super::market::SimBar;

#[derive(Serialize)]
pub struct ErrorOut<'a> {
    pub status: &'a str,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

#[derive(Serialize)]
struct BarOut<'a> {
    #[serde(rename = "T", skip_serializing_if = "Option::is_none")]
    ticker: Option<&'a str>,
    v: f64,
    vw: f64,
    o: f64,
    c: f64,
    h: f64,
    l: f64,
    t: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u64>,
}

impl<'a> BarOut<'a> {
    fn new(ticker: Option<&'a str>, b: &SimBar) -> Self {
        BarOut { ticker, v: b.v, vw: b.vw, o: b.o, c: b.c, h: b.h, l: b.l, t: b.t, n: b.n }
    }
}

#[derive(Serialize)]
struct RangeOut<'a> {
    ticker: &'a str,
    #[serde(rename = "queryCount")]
    query_count: u64,
    #[serde(rename = "resultsCount")]
    results_count: usize,
    adjusted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<BarOut<'a>>>,
    status: &'a str,
    request_id: &'a str,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
}

#[derive(Serialize)]
struct GroupedOut<'a> {
    #[serde(rename = "queryCount")]
    query_count: usize,
    #[serde(rename = "resultsCount")]
    results_count: usize,
    adjusted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    results: Option<Vec<BarOut<'a>>>,
    status: &'a str,
    request_id: &'a str,
    count: usize,
}

pub fn range_body(
    ticker: &str,
    adjusted: bool,
    query_count: u64,
    bars: &[SimBar],
    request_id: &str,
    next_url: Option<&str>,
) -> Vec<u8> {
    let results = (!bars.is_empty()).then(|| bars.iter().map(|b| BarOut::new(None, b)).collect());
    serde_json::to_vec(&RangeOut {
        ticker,
        query_count,
        results_count: bars.len(),
        adjusted,
        results,
        status: "OK",
        request_id,
        count: bars.len(),
        next_url,
    })
    .expect("serialisable")
}

pub fn grouped_body(adjusted: bool, rows: &[(String, SimBar)], request_id: &str) -> Vec<u8> {
    let results = (!rows.is_empty()).then(|| rows.iter().map(|(t, b)| BarOut::new(Some(t), b)).collect());
    serde_json::to_vec(&GroupedOut {
        query_count: rows.len(),
        results_count: rows.len(),
        adjusted,
        results,
        status: "OK",
        request_id,
        count: rows.len(),
    })
    .expect("serialisable")
}

/// One ticker as the reference endpoints write it: `last_updated_utc` only in the list,
/// `list_date` and `ticker_root` only in details, `delisted_utc` only for inactive tickers.
#[derive(Serialize)]
pub struct TickerOut<'a> {
    pub ticker: &'a str,
    pub name: &'a str,
    pub market: &'a str,
    pub locale: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_exchange: Option<&'a str>,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub active: bool,
    pub currency_name: &'a str,
    pub cik: &'a str,
    pub composite_figi: &'a str,
    pub share_class_figi: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_updated_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delisted_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticker_root: Option<&'a str>,
}

#[derive(Serialize)]
struct TickersOut<'a> {
    results: &'a [TickerOut<'a>],
    status: &'a str,
    request_id: &'a str,
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
}

pub fn tickers_body(items: &[TickerOut<'_>], request_id: &str, next_url: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&TickersOut { results: items, status: "OK", request_id, count: items.len(), next_url })
        .expect("serialisable")
}

#[derive(Serialize)]
struct DetailsOut<'a> {
    results: &'a TickerOut<'a>,
    status: &'a str,
    request_id: &'a str,
}

pub fn details_body(item: &TickerOut<'_>, request_id: &str) -> Vec<u8> {
    serde_json::to_vec(&DetailsOut { results: item, status: "OK", request_id }).expect("serialisable")
}

#[derive(Serialize)]
pub struct SplitOut<'a> {
    pub id: String,
    pub ticker: &'a str,
    pub execution_date: String,
    pub split_from: f64,
    pub split_to: f64,
    pub adjustment_type: &'a str,
    pub historical_adjustment_factor: f64,
}

#[derive(Serialize)]
struct SplitsOut<'a> {
    results: &'a [SplitOut<'a>],
    status: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
}

pub fn splits_body(items: &[SplitOut<'_>], request_id: &str, next_url: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&SplitsOut { results: items, status: "OK", request_id, next_url }).expect("serialisable")
}
