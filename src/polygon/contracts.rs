//! Option contracts as the API lists them (`/v3/reference/options/contracts`): one
//! underlying per request, filtered by expiration, strike and type, expired or not as of
//! today (a past expiration answers nothing unless `expired=true`), paged through
//! `next_url` at most 1000 a page.

use reqwest::Url;
use serde::Deserialize;

use super::Client;
use super::outcome::FetchError;
use crate::calendar::{self, Day};
use crate::markets::{Class, ContractType};

/// The largest page the endpoint gives.
pub const MAX_CONTRACTS_LIMIT: u32 = 1_000;

#[derive(Debug, Deserialize)]
struct ContractWire {
    ticker: String,
    #[serde(default)]
    underlying_ticker: Option<String>,
    expiration_date: String,
    strike_price: f64,
    #[serde(default)]
    contract_type: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ContractsBody {
    status: String,
    #[serde(default)]
    results: Option<Vec<ContractWire>>,
    #[serde(default)]
    next_url: Option<String>,
}

/// One contract of a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct ContractRef {
    pub ticker: String,
    pub underlying: String,
    pub expiration: Day,
    pub strike: f64,
    /// `call` or `put` (rarely `other`).
    pub contract_type: String,
}

/// One page of contracts.
#[derive(Clone, Debug, PartialEq)]
pub struct ContractsPage {
    pub contracts: Vec<ContractRef>,
    pub next_url: Option<String>,
}

/// What one list request asks for; `None` leaves the API's default.
#[derive(Clone, Debug, Default)]
pub struct ContractsQuery<'a> {
    pub underlying: &'a str,
    pub expiring_from: Option<Day>,
    pub expiring_to: Option<Day>,
    pub strike_from: Option<f64>,
    pub strike_to: Option<f64>,
    pub contract_type: Option<ContractType>,
    /// Contracts expired by today (true), or not (false, the API's default).
    pub expired: bool,
}

/// Decodes a 200 answer of the contracts list. A contract whose ticker is not an OCC
/// symbol, or whose expiration is not a date, makes the page malformed.
pub fn parse_contracts(body: &[u8]) -> Result<ContractsPage, FetchError> {
    let parsed: ContractsBody =
        serde_json::from_slice(body).map_err(|e| FetchError::Malformed(format!("{e} ({} bytes)", body.len())))?;
    if !matches!(parsed.status.as_str(), "OK" | "DELAYED") {
        return Err(FetchError::Malformed(format!("status '{}' in a 200 answer", parsed.status)));
    }
    let mut contracts = Vec::new();
    for c in parsed.results.unwrap_or_default() {
        let expiration = calendar::parse_date(c.expiration_date.get(..10).unwrap_or(&c.expiration_date))
            .map_err(|e| FetchError::Malformed(format!("contract {}: {e}", c.ticker)))?;
        if Class::of(&c.ticker).map_err(FetchError::Malformed)? != Class::Options {
            return Err(FetchError::Malformed(format!("'{}' in a list of option contracts", c.ticker)));
        }
        contracts.push(ContractRef {
            underlying: c.underlying_ticker.unwrap_or_default(),
            expiration,
            strike: c.strike_price,
            contract_type: c.contract_type.unwrap_or_default(),
            ticker: c.ticker,
        });
    }
    Ok(ContractsPage { contracts, next_url: parsed.next_url })
}

impl Client {
    /// `/v3/reference/options/contracts` with the filters `q` sets, by ticker, a full page.
    pub fn contracts_url(&self, q: &ContractsQuery<'_>) -> Url {
        let mut url = self.base_url().clone();
        url.path_segments_mut().expect("http base URL").pop_if_empty().extend([
            "v3",
            "reference",
            "options",
            "contracts",
        ]);
        {
            let mut p = url.query_pairs_mut();
            p.append_pair("underlying_ticker", q.underlying);
            if let Some(d) = q.expiring_from {
                p.append_pair("expiration_date.gte", &calendar::format_day(d));
            }
            if let Some(d) = q.expiring_to {
                p.append_pair("expiration_date.lte", &calendar::format_day(d));
            }
            if let Some(s) = q.strike_from {
                p.append_pair("strike_price.gte", &s.to_string());
            }
            if let Some(s) = q.strike_to {
                p.append_pair("strike_price.lte", &s.to_string());
            }
            if let Some(k) = q.contract_type {
                p.append_pair("contract_type", k.name());
            }
            if q.expired {
                p.append_pair("expired", "true");
            }
            p.append_pair("sort", "ticker").append_pair("order", "asc");
            p.append_pair("limit", &MAX_CONTRACTS_LIMIT.to_string());
        }
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_url_carries_every_filter_and_no_key() {
        let c = Client::new("https://api.massive.com", Some(crate::secret::ApiKey::new("k")), Duration::from_secs(5))
            .unwrap();
        let q = ContractsQuery {
            underlying: "SPY",
            expiring_from: calendar::parse_date("2025-01-01").ok(),
            expiring_to: calendar::parse_date("2025-03-31").ok(),
            strike_from: Some(480.0),
            strike_to: Some(520.5),
            contract_type: Some(ContractType::Put),
            expired: true,
        };
        assert_eq!(
            c.contracts_url(&q).as_str(),
            "https://api.massive.com/v3/reference/options/contracts?underlying_ticker=SPY&expiration_date.gte=2025-01-01\
             &expiration_date.lte=2025-03-31&strike_price.gte=480&strike_price.lte=520.5&contract_type=put&expired=true\
             &sort=ticker&order=asc&limit=1000"
        );
    }

    #[test]
    fn pages_decode_and_bad_contracts_are_refused() {
        let body = br#"{"results":[{"cfi":"OCASPS","contract_type":"call","exercise_style":"american","expiration_date":"2025-01-17","primary_exchange":"BATO","shares_per_contract":100,"strike_price":480,"ticker":"O:SPY250117C00480000","underlying_ticker":"SPY"}],"status":"OK","request_id":"x","next_url":"https://api.massive.com/v3/reference/options/contracts?cursor=abc"}"#;
        let page = parse_contracts(body).unwrap();
        assert_eq!(page.contracts[0].ticker, "O:SPY250117C00480000");
        assert_eq!(page.contracts[0].expiration, calendar::parse_date("2025-01-17").unwrap());
        assert!(page.next_url.is_some());
        let bad = br#"{"results":[{"expiration_date":"2025-01-17","strike_price":480,"ticker":"SPY250117C00480000"}],"status":"OK"}"#;
        assert!(parse_contracts(bad).unwrap_err().to_string().contains("in a list of option contracts"));
        let bad =
            br#"{"results":[{"expiration_date":"2025-01-17","strike_price":480,"ticker":"O:SPY"}],"status":"OK"}"#;
        assert!(parse_contracts(bad).is_err());
        assert!(parse_contracts(br#"{"status":"OK"}"#).unwrap().contracts.is_empty());
    }
}
