//! The simulator's response bodies, written with its own types in the real API's shape:
//! `results` omitted when empty, `n` only when known, `next_url` only when more exists.

use std::io::Write;

use serde::Serialize;

use super::bars_json::{write_results, write_str};
use super::market::SimBar;
use crate::markets::Class;

#[derive(Serialize)]
pub struct ErrorOut<'a> {
    pub status: &'a str,
    pub request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a str>,
}

/// A range answer: `ticker`, the counts, `results` (left out when empty), `status`,
/// `request_id`, `count` and `next_url` (when more exists), in the API's order.
/// An index's answer (`adjusted` `None`) has no `adjusted`, and its bars no `v`, `vw` or `n`.
pub fn range_body(
    ticker: &str,
    adjusted: Option<bool>,
    query_count: u64,
    bars: &[SimBar],
    request_id: &str,
    next_url: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"{\"ticker\":");
    write_str(&mut out, ticker);
    let _ = write!(out, ",\"queryCount\":{query_count},\"resultsCount\":{},", bars.len());
    if let Some(adjusted) = adjusted {
        let _ = write!(out, "\"adjusted\":{adjusted},");
    }
    if !bars.is_empty() {
        write_results(&mut out, bars.iter().map(|b| (None, b)), Class::of_checked(ticker).has_volume());
        out.push(b',');
    }
    finish(&mut out, request_id, bars.len(), next_url);
    out
}

/// A grouped-daily answer: every ticker's bar of one day, each with `T`.
pub fn grouped_body(adjusted: bool, rows: &[(String, SimBar)], request_id: &str, volume: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = write!(out, "{{\"queryCount\":{0},\"resultsCount\":{0},\"adjusted\":{adjusted},", rows.len());
    if !rows.is_empty() {
        write_results(&mut out, rows.iter().map(|(t, b)| (Some(t.as_str()), b)), volume);
        out.push(b',');
    }
    finish(&mut out, request_id, rows.len(), None);
    out
}

fn finish(out: &mut Vec<u8>, request_id: &str, count: usize, next_url: Option<&str>) {
    out.extend_from_slice(b"\"status\":\"OK\",\"request_id\":");
    write_str(out, request_id);
    let _ = write!(out, ",\"count\":{count}");
    if let Some(next) = next_url {
        out.extend_from_slice(b",\"next_url\":");
        write_str(out, next);
    }
    out.push(b'}');
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

/// One option contract as `/v3/reference/options/contracts` lists it.
#[derive(Serialize)]
pub struct ContractOut {
    pub cfi: &'static str,
    pub contract_type: &'static str,
    pub exercise_style: &'static str,
    pub expiration_date: String,
    pub primary_exchange: &'static str,
    pub shares_per_contract: u32,
    pub strike_price: f64,
    pub ticker: String,
    pub underlying_ticker: &'static str,
}

#[derive(Serialize)]
struct ContractsOut<'a> {
    results: &'a [ContractOut],
    status: &'a str,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_url: Option<&'a str>,
}

pub fn contracts_body(items: &[ContractOut], request_id: &str, next_url: Option<&str>) -> Vec<u8> {
    serde_json::to_vec(&ContractsOut { results: items, status: "OK", request_id, next_url }).expect("serialisable")
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

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn bar_json(ticker: Option<&str>, b: &SimBar) -> Value {
        let mut v = json!({ "v": b.v, "vw": b.vw, "o": b.o, "c": b.c, "h": b.h, "l": b.l, "t": b.t });
        if let Some(n) = b.n {
            v["n"] = json!(n);
        }
        if let Some(t) = ticker {
            v["T"] = json!(t);
        }
        v
    }

    #[test]
    fn a_range_body_holds_the_bars_exactly_as_serde_writes_them() {
        // A month of a liquid ticker's minutes, as the market makes them.
        let universe = crate::sim::market::Universe::new(0);
        let from = crate::calendar::parse_date("2024-01-02").unwrap();
        let q = crate::sim::market::Query {
            timeframe: "1/minute".parse().unwrap(),
            from_ms: crate::calendar::ny_midnight_ms(from),
            to_ms: crate::calendar::ny_midnight_ms(from + 31) - 1,
            limit: crate::sim::market::MAX_LIMIT,
            desc: false,
            adjusted: true,
        };
        let answer = crate::sim::market::range(&universe, "AAPL", &q);
        assert!(answer.bars.len() > 10_000);
        let parsed: Value =
            serde_json::from_slice(&range_body("AAPL", Some(true), 1, &answer.bars, "rid", None)).unwrap();
        let expected: Vec<Value> = answer.bars.iter().map(|b| bar_json(None, b)).collect();
        assert_eq!(parsed["results"], Value::Array(expected));
        let bars = [
            SimBar { t: 1_700_000_000_000, o: 10.5, h: 11.0, l: 9.99, c: 10.0001, v: 1234.5, vw: 0.1 + 0.2, n: None },
            SimBar { t: 1_700_000_060_000, o: 1.0, h: 1.0, l: 1.0, c: 1.0, v: 0.0, vw: 1.0, n: Some(7) },
        ];
        let body = range_body("A\"B", Some(false), 9, &bars, "rid", Some("https://x/next?cursor=1"));
        let expected = json!({
            "ticker": "A\"B", "queryCount": 9, "resultsCount": 2, "adjusted": false,
            "results": [bar_json(None, &bars[0]), bar_json(None, &bars[1])],
            "status": "OK", "request_id": "rid", "count": 2, "next_url": "https://x/next?cursor=1",
        });
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
        let empty = range_body("AAPL", Some(true), 0, &[], "rid", None);
        assert_eq!(
            serde_json::from_slice::<Value>(&empty).unwrap(),
            json!({ "ticker": "AAPL", "queryCount": 0, "resultsCount": 0, "adjusted": true, "status": "OK", "request_id": "rid", "count": 0 })
        );
    }

    #[test]
    fn a_grouped_body_names_each_bars_ticker() {
        let b = SimBar { t: 1_700_000_000_000, o: 10.5, h: 11.0, l: 9.99, c: 10.0001, v: 1234.5, vw: 10.2, n: Some(3) };
        let body = grouped_body(true, &[("AAPL".into(), b.clone()), ("MSFT".into(), b.clone())], "rid", true);
        let expected = json!({
            "queryCount": 2, "resultsCount": 2, "adjusted": true,
            "results": [bar_json(Some("AAPL"), &b), bar_json(Some("MSFT"), &b)],
            "status": "OK", "request_id": "rid", "count": 2,
        });
        assert_eq!(serde_json::from_slice::<Value>(&body).unwrap(), expected);
    }
}
