//! The Polygon/Massive REST API as barfill uses it: wire types, the HTTP client and
//! the classification of every outcome. No retry logic lives here.

pub mod client;
pub mod outcome;
pub mod reference;
pub mod wire;

pub use client::{Client, Page};
pub use outcome::FetchError;

/// One OHLCV bar as stored. `ts` is epoch milliseconds UTC, the start of the bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    pub volume: f64,
    pub vwap: Option<f64>,
    pub trades: Option<i64>,
}
