//! The one bar type the client decodes into and the store writes: plain data.

/// One OHLCV bar as stored. `ts` is epoch milliseconds UTC, the start of the bar.
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub ts: i64,
    pub open: f64,
    pub high: f64,
    pub low: f64,
    pub close: f64,
    /// `None` for bars that carry none: an index's are values, not trades.
    pub volume: Option<f64>,
    pub vwap: Option<f64>,
    pub trades: Option<i64>,
}
