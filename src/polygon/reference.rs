//! Reference data as the API sends it: the tickers list (`/v3/reference/tickers`), one
//! ticker's details (`/v3/reference/tickers/{ticker}`) and splits (`/stocks/v1/splits`).
//! The wire types mirror the bodies and are the client's own; the parse functions turn
//! them into plain structs. Fields the API may leave blank (old records) are optional.

use reqwest::Url;
use serde::Deserialize;

use super::Client;
use super::outcome::FetchError;
use crate::calendar::{self, Day};

/// The most splits one page may hold.
pub const MAX_SPLITS_LIMIT: u32 = 5_000;

#[derive(Debug, Deserialize)]
struct TickerWire {
    ticker: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    market: Option<String>,
    #[serde(default)]
    locale: Option<String>,
    #[serde(default)]
    primary_exchange: Option<String>,
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    active: Option<bool>,
    #[serde(default)]
    currency_name: Option<String>,
    #[serde(default)]
    cik: Option<String>,
    #[serde(default)]
    composite_figi: Option<String>,
    #[serde(default)]
    share_class_figi: Option<String>,
    #[serde(default)]
    last_updated_utc: Option<String>,
    #[serde(default)]
    delisted_utc: Option<String>,
    /// Details only.
    #[serde(default)]
    list_date: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TickersBody {
    status: String,
    #[serde(default)]
    results: Option<Vec<TickerWire>>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    next_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DetailsBody {
    status: String,
    #[serde(default)]
    results: Option<TickerWire>,
}

#[derive(Debug, Deserialize)]
struct SplitWire {
    #[serde(default)]
    id: Option<String>,
    ticker: String,
    execution_date: String,
    split_from: f64,
    split_to: f64,
    #[serde(default)]
    adjustment_type: Option<String>,
    #[serde(default)]
    historical_adjustment_factor: Option<f64>,
}

#[derive(Debug, Deserialize)]
struct SplitsBody {
    status: String,
    #[serde(default)]
    results: Option<Vec<SplitWire>>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default)]
    next_url: Option<String>,
}

/// One ticker of the tickers list or of ticker details.
#[derive(Clone, Debug, PartialEq)]
pub struct TickerRef {
    pub ticker: String,
    pub name: String,
    /// `stocks`, `otc`, ...
    pub market: String,
    pub locale: Option<String>,
    /// `CS`, `ETF`, `ADRC`, ...
    pub type_: Option<String>,
    /// Listed now (the list's `active` filter is on this).
    pub active: bool,
    /// ISO 10383 MIC; absent for OTC names.
    pub primary_exchange: Option<String>,
    pub currency_name: Option<String>,
    pub cik: Option<String>,
    pub composite_figi: Option<String>,
    pub share_class_figi: Option<String>,
    /// Ticker details only.
    pub list_date: Option<Day>,
    /// The date part of `delisted_utc`: the day the listing ended. Inactive tickers only.
    pub delisted: Option<Day>,
    pub last_updated_utc: Option<String>,
}

/// One page of the tickers list.
#[derive(Clone, Debug, PartialEq)]
pub struct TickersPage {
    pub tickers: Vec<TickerRef>,
    pub next_url: Option<String>,
    pub request_id: Option<String>,
}

/// One split (or stock dividend): on `execution_date` prices are divided by
/// `split_to / split_from`.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitRef {
    pub id: String,
    pub ticker: String,
    pub execution_date: Day,
    pub split_from: f64,
    pub split_to: f64,
    /// `forward_split`, `reverse_split` or `stock_dividend`.
    pub adjustment_type: String,
    /// Cumulative: multiply prices before `execution_date` by it to put them on today's
    /// share basis.
    pub historical_adjustment_factor: Option<f64>,
}

/// One page of splits.
#[derive(Clone, Debug, PartialEq)]
pub struct SplitsPage {
    pub splits: Vec<SplitRef>,
    pub next_url: Option<String>,
    pub request_id: Option<String>,
}

/// What the tickers list is asked for; `None` leaves the API's default.
#[derive(Clone, Debug, Default)]
pub struct TickersQuery<'a> {
    pub ticker_gte: Option<&'a str>,
    pub ticker_lt: Option<&'a str>,
    pub market: Option<&'a str>,
    pub type_: Option<&'a str>,
    pub exchange: Option<&'a str>,
    /// Tickers listed on this day, under the symbol they had then.
    pub date: Option<Day>,
    pub active: Option<bool>,
    pub search: Option<&'a str>,
    /// At most 1000; the API's default is 100.
    pub limit: Option<u32>,
}

fn malformed(e: impl std::fmt::Display, body: &[u8]) -> FetchError {
    FetchError::Malformed(format!("{e} ({} bytes)", body.len()))
}

fn check_status(status: &str) -> Result<(), FetchError> {
    if matches!(status, "OK" | "DELAYED") {
        Ok(())
    } else {
        Err(FetchError::Malformed(format!("status '{status}' in a 200 answer")))
    }
}

/// `YYYY-MM-DD` or a timestamp that starts with one; blank means unknown.
fn day_of(field: &str, value: Option<&str>) -> Result<Option<Day>, FetchError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .get(..10)
            .and_then(|d| calendar::parse_date(d).ok())
            .map(Some)
            .ok_or_else(|| FetchError::Malformed(format!("{field} '{v}' is not a date"))),
    }
}

impl TickerWire {
    fn into_ref(self) -> Result<TickerRef, FetchError> {
        Ok(TickerRef {
            list_date: day_of("list_date", self.list_date.as_deref())?,
            delisted: day_of("delisted_utc", self.delisted_utc.as_deref())?,
            ticker: self.ticker,
            name: self.name.unwrap_or_default(),
            market: self.market.unwrap_or_default(),
            locale: self.locale,
            type_: self.type_,
            active: self.active.unwrap_or(true),
            primary_exchange: self.primary_exchange,
            currency_name: self.currency_name,
            cik: self.cik,
            composite_figi: self.composite_figi,
            share_class_figi: self.share_class_figi,
            last_updated_utc: self.last_updated_utc,
        })
    }
}

/// Decodes a 200 answer of the tickers list.
pub fn parse_tickers(body: &[u8]) -> Result<TickersPage, FetchError> {
    let parsed: TickersBody = serde_json::from_slice(body).map_err(|e| malformed(e, body))?;
    check_status(&parsed.status)?;
    let tickers = parsed.results.unwrap_or_default().into_iter().map(TickerWire::into_ref).collect::<Result<_, _>>()?;
    Ok(TickersPage { tickers, next_url: parsed.next_url, request_id: parsed.request_id })
}

/// Decodes a 200 answer of ticker details. (An unknown ticker is a 404, which the client's
/// status classification turns into `FetchError::Rejected`.)
pub fn parse_ticker_details(body: &[u8]) -> Result<TickerRef, FetchError> {
    let parsed: DetailsBody = serde_json::from_slice(body).map_err(|e| malformed(e, body))?;
    check_status(&parsed.status)?;
    parsed.results.ok_or_else(|| FetchError::Malformed("ticker details without results".into()))?.into_ref()
}

/// Decodes a 200 answer of the splits endpoint.
pub fn parse_splits(body: &[u8]) -> Result<SplitsPage, FetchError> {
    let parsed: SplitsBody = serde_json::from_slice(body).map_err(|e| malformed(e, body))?;
    check_status(&parsed.status)?;
    let mut splits = Vec::new();
    for s in parsed.results.unwrap_or_default() {
        if !(s.split_from > 0.0 && s.split_to > 0.0 && s.split_from.is_finite() && s.split_to.is_finite()) {
            return Err(FetchError::Malformed(format!(
                "split of {} with ratio {}:{}",
                s.ticker, s.split_to, s.split_from
            )));
        }
        let execution_date = day_of("execution_date", Some(&s.execution_date))?
            .ok_or_else(|| FetchError::Malformed(format!("split of {} without execution_date", s.ticker)))?;
        let adjustment_type = s
            .adjustment_type
            .unwrap_or_else(|| if s.split_to >= s.split_from { "forward_split" } else { "reverse_split" }.to_string());
        splits.push(SplitRef {
            id: s.id.unwrap_or_default(),
            ticker: s.ticker,
            execution_date,
            split_from: s.split_from,
            split_to: s.split_to,
            adjustment_type,
            historical_adjustment_factor: s.historical_adjustment_factor,
        });
    }
    Ok(SplitsPage { splits, next_url: parsed.next_url, request_id: parsed.request_id })
}

impl Client {
    fn reference_url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url().clone();
        url.path_segments_mut().expect("http base URL").pop_if_empty().extend(segments);
        url
    }

    /// `/v3/reference/tickers` with the filters `q` sets, sorted by ticker.
    pub fn tickers_url(&self, q: &TickersQuery<'_>) -> Url {
        let mut url = self.reference_url(&["v3", "reference", "tickers"]);
        {
            let mut p = url.query_pairs_mut();
            let text = [
                ("ticker.gte", q.ticker_gte),
                ("ticker.lt", q.ticker_lt),
                ("market", q.market),
                ("type", q.type_),
                ("exchange", q.exchange),
                ("search", q.search),
            ];
            for (k, v) in text {
                if let Some(v) = v {
                    p.append_pair(k, v);
                }
            }
            if let Some(d) = q.date {
                p.append_pair("date", &calendar::format_day(d));
            }
            if let Some(a) = q.active {
                p.append_pair("active", if a { "true" } else { "false" });
            }
            p.append_pair("sort", "ticker").append_pair("order", "asc");
            if let Some(l) = q.limit {
                p.append_pair("limit", &l.clamp(1, 1000).to_string());
            }
        }
        url
    }

    /// `/v3/reference/tickers/{ticker}`.
    pub fn ticker_details_url(&self, ticker: &str) -> Url {
        self.reference_url(&["v3", "reference", "tickers", ticker])
    }

    /// `/stocks/v1/splits` for these tickers (all tickers when empty), oldest first.
    pub fn splits_url(&self, tickers: &[&str], limit: u32) -> Url {
        let mut url = self.reference_url(&["stocks", "v1", "splits"]);
        {
            let mut p = url.query_pairs_mut();
            match tickers {
                [] => {}
                [one] => {
                    p.append_pair("ticker", one);
                }
                many => {
                    p.append_pair("ticker.any_of", &many.join(","));
                }
            }
            p.append_pair("sort", "execution_date.asc");
            p.append_pair("limit", &limit.clamp(1, MAX_SPLITS_LIMIT).to_string());
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const TICKERS: &str = include_str!("../../tests/fixtures/polygon/v3/reference/tickers.json");
    const AAPL: &str = include_str!("../../tests/fixtures/polygon/v3/reference/tickers/AAPL.json");
    const SPLITS: &str = include_str!("../../tests/fixtures/polygon/stocks/v1/splits&ticker=AAPL&limit=2.json");
    const NOT_FOUND: &str =
        include_str!("../../tests/fixtures/polygon/errors/404_ticker-not-found__v3_reference_tickers_NOPE.json");

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    #[test]
    fn the_recorded_tickers_list_parses() {
        let page = parse_tickers(TICKERS.as_bytes()).unwrap();
        assert_eq!(page.tickers.len(), 2);
        let a = &page.tickers[0];
        assert_eq!(
            (a.ticker.as_str(), a.name.as_str(), a.market.as_str()),
            ("A", "Agilent Technologies Inc.", "stocks")
        );
        assert_eq!((a.type_.as_deref(), a.primary_exchange.as_deref(), a.active), (Some("CS"), Some("XNYS"), true));
        assert_eq!(a.cik.as_deref(), Some("0001090872"));
        assert_eq!((a.list_date, a.delisted), (None, None));
        assert!(page.next_url.unwrap().starts_with("https://api.massive.com/v3/reference/tickers?cursor="));
    }

    #[test]
    fn recorded_ticker_details_parse_with_the_list_date() {
        let t = parse_ticker_details(AAPL.as_bytes()).unwrap();
        assert_eq!((t.ticker.as_str(), t.name.as_str()), ("AAPL", "Apple Inc."));
        assert_eq!(t.list_date, Some(day("1980-12-12")));
        assert_eq!(t.composite_figi.as_deref(), Some("BBG000B9XRY4"));
        assert!(t.active && t.delisted.is_none());
    }

    #[test]
    fn splits_parse_with_their_factors() {
        let page = parse_splits(SPLITS.as_bytes()).unwrap();
        let s = &page.splits[1];
        assert_eq!(
            (s.ticker.as_str(), s.execution_date, s.split_from, s.split_to),
            ("AAPL", day("2014-06-09"), 1.0, 7.0)
        );
        assert_eq!((s.adjustment_type.as_str(), s.historical_adjustment_factor), ("forward_split", Some(0.035714)));
        assert!(page.next_url.is_some());
    }

    #[test]
    fn an_unknown_ticker_is_a_rejection_that_names_itself() {
        let e = super::super::outcome::classify_status(404, NOT_FOUND.as_bytes(), None);
        assert_eq!(e, FetchError::Rejected { status: 404, message: "Ticker not found.".into() });
    }

    #[test]
    fn odd_bodies_are_malformed_not_misread() {
        let inactive =
            br#"{"status":"OK","results":[{"ticker":"FB","active":false,"delisted_utc":"2022-06-09T00:00:00Z"}]}"#;
        assert_eq!(parse_tickers(inactive).unwrap().tickers[0].delisted, Some(day("2022-06-09")));
        assert_eq!(parse_tickers(br#"{"status":"OK"}"#).unwrap().tickers, vec![]);
        assert!(parse_tickers(br#"{"status":"ERROR"}"#).is_err());
        assert!(parse_tickers(br#"{"status":"OK","results":[{"ticker":"X","delisted_utc":"soon"}]}"#).is_err());
        assert!(parse_ticker_details(br#"{"status":"OK"}"#).is_err());
        let zero =
            br#"{"status":"OK","results":[{"ticker":"X","execution_date":"2024-01-02","split_from":0,"split_to":2}]}"#;
        assert!(parse_splits(zero).is_err());
        let reverse =
            br#"{"status":"OK","results":[{"ticker":"X","execution_date":"2024-01-02","split_from":10,"split_to":1}]}"#;
        assert_eq!(parse_splits(reverse).unwrap().splits[0].adjustment_type, "reverse_split");
        assert!(parse_splits(b"<html>").is_err());
    }

    #[test]
    fn urls_carry_the_filters_and_never_the_key() {
        let c = Client::new("https://api.massive.com", Some(crate::secret::ApiKey::new("k")), Duration::from_secs(5))
            .unwrap();
        let q = TickersQuery {
            market: Some("stocks"),
            date: Some(day("2022-06-08")),
            active: Some(false),
            limit: Some(5000),
            ..Default::default()
        };
        assert_eq!(
            c.tickers_url(&q).as_str(),
            "https://api.massive.com/v3/reference/tickers?market=stocks&date=2022-06-08&active=false&sort=ticker&order=asc&limit=1000"
        );
        assert_eq!(c.ticker_details_url("BRK.B").as_str(), "https://api.massive.com/v3/reference/tickers/BRK.B");
        assert_eq!(c.ticker_details_url("A/B").path(), "/v3/reference/tickers/A%2FB");
        assert_eq!(
            c.splits_url(&["AAPL", "NVDA"], 9999).as_str(),
            "https://api.massive.com/stocks/v1/splits?ticker.any_of=AAPL%2CNVDA&sort=execution_date.asc&limit=5000"
        );
        assert_eq!(
            c.splits_url(&["AAPL"], 100).as_str(),
            "https://api.massive.com/stocks/v1/splits?ticker=AAPL&sort=execution_date.asc&limit=100"
        );
    }
}
