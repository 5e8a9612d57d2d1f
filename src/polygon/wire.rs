//! Response bodies exactly as the API sends them. `results` is absent on empty ranges;
//! `n`, `vw` and `otc` are optional, and `v` too (index bars carry none); `v` may be
//! fractional or in exponent form.

use serde::Deserialize;

use crate::bar::Bar;

#[derive(Debug, PartialEq, Deserialize)]
pub struct AggsBody {
    #[serde(default)]
    pub ticker: Option<String>,
    pub status: String,
    #[serde(default, rename = "queryCount")]
    pub query_count: Option<u64>,
    #[serde(default, rename = "resultsCount")]
    pub results_count: Option<u64>,
    #[serde(default)]
    pub adjusted: Option<bool>,
    #[serde(default)]
    pub results: Option<Results>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub next_url: Option<String>,
}

/// `results` turned into bars as it is read: a full page is 50,000 bars, and a list of
/// wire bars beside the bars made from them was 5 MB more per page in flight and a copy
/// of each. `tickers` holds each bar's `T` once any bar has one (grouped answers).
#[derive(Debug, Default, PartialEq)]
pub struct Results {
    pub bars: Vec<Bar>,
    pub tickers: Vec<String>,
}

impl Results {
    pub fn push(&mut self, bar: Bar, ticker: Option<String>) {
        match (ticker, self.tickers.is_empty()) {
            // The first `T`: the bars before it had none.
            (Some(t), true) => {
                self.tickers.resize(self.bars.len(), String::new());
                self.tickers.push(t);
            }
            (t, false) => self.tickers.push(t.unwrap_or_default()),
            (None, true) => {}
        }
        self.bars.push(bar);
    }
}

impl<'de> Deserialize<'de> for Results {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(ResultsVisitor)
    }
}

struct ResultsVisitor;

impl<'de> serde::de::Visitor<'de> for ResultsVisitor {
    type Value = Results;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of bars")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Results, A::Error> {
        let mut out = Results { bars: Vec::with_capacity(seq.size_hint().unwrap_or(0)), tickers: Vec::new() };
        while let Some(wire) = seq.next_element::<WireBar>()? {
            let bar = wire.to_bar();
            out.push(bar, wire.ticker);
        }
        Ok(out)
    }
}

#[derive(Debug, Deserialize)]
pub struct WireBar {
    /// Present on grouped-daily results only.
    #[serde(default, rename = "T")]
    pub ticker: Option<String>,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    /// Absent on index bars.
    #[serde(default)]
    pub v: Option<f64>,
    #[serde(default)]
    pub vw: Option<f64>,
    pub t: i64,
    /// Seen both as an integer and, in older answers, as a float.
    #[serde(default)]
    pub n: Option<f64>,
    #[serde(default)]
    pub otc: Option<bool>,
}

impl WireBar {
    pub fn to_bar(&self) -> Bar {
        Bar {
            ts: self.t,
            open: self.o,
            high: self.h,
            low: self.l,
            close: self.c,
            volume: self.v,
            vwap: self.vw,
            trades: self.n.map(|n| n as i64),
        }
    }
}

/// Error envelope: the text is in `error` for `status:"ERROR"` and in `message` for
/// `NOT_AUTHORIZED` / `NOT_FOUND`.
#[derive(Debug, Default, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub request_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl ErrorBody {
    pub fn text(&self) -> Option<&str> {
        self.error.as_deref().or(self.message.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/polygon");

    fn fixture(rel: &str) -> String {
        std::fs::read_to_string(format!("{FIXTURES}/{rel}")).unwrap()
    }

    #[test]
    fn parses_recorded_range_response() {
        let body: AggsBody =
            serde_json::from_str(&fixture("v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04.json")).unwrap();
        assert_eq!(body.status, "OK");
        assert_eq!(body.ticker.as_deref(), Some("AAPL"));
        assert_eq!(body.results_count, Some(2));
        assert_eq!(body.request_id.as_deref(), Some("12afda77aab3b1936c5fb6ef4241ae42"));
        assert!(body.next_url.is_none());
        let bars = body.results.unwrap().bars;
        assert_eq!(bars[0].ts, 1_112_331_600_000);
        assert_eq!(bars[0].volume, Some(642_646_396.0));
        assert_eq!(bars[0].trades, Some(82_132));
        assert_eq!(bars[1].close, 1.4675);
    }

    #[test]
    fn parses_spec_example_with_next_url() {
        let body: AggsBody =
            serde_json::from_str(&fixture("v2/aggs/ticker/AAPL/range/1/day/openapi-example_page1_with_next_url.json"))
                .unwrap();
        assert_eq!(
            body.next_url.as_deref(),
            Some(
                "https://api.massive.com/v2/aggs/ticker/AAPL/range/1/day/1578114000000/2020-01-10?cursor=bGltaXQ9MiZzb3J0PWFzYw"
            )
        );
        assert_eq!(body.results.unwrap().bars.len(), 2);
    }

    #[test]
    fn parses_recorded_grouped_daily() {
        let body: AggsBody =
            serde_json::from_str(&fixture("v2/aggs/grouped/locale/us/market/stocks/2005-04-04&adjusted=true.json"))
                .unwrap();
        let r = body.results.unwrap();
        assert_eq!(r.tickers[0], "GIK");
        assert_eq!(r.tickers.len(), r.bars.len());
        assert_eq!(r.bars[0].vwap, Some(9.9979));
        assert!(body.ticker.is_none());
    }

    #[test]
    fn tickers_line_up_with_bars_once_any_bar_names_one() {
        let bar = |t: &str| format!(r#"{{{t}"o":1,"h":2,"l":0.5,"c":1.5,"v":10,"t":1}}"#);
        let body = |bars: [String; 3]| format!(r#"{{"status":"OK","results":[{}]}}"#, bars.join(","));
        let r = serde_json::from_str::<AggsBody>(&body([bar(""), bar(r#""T":"B","#), bar(r#""T":"C","#)]))
            .unwrap()
            .results
            .unwrap();
        assert_eq!((r.bars.len(), r.tickers), (3, vec![String::new(), "B".into(), "C".into()]));
        let r = serde_json::from_str::<AggsBody>(&body([bar(""), bar(""), bar("")])).unwrap().results.unwrap();
        assert_eq!((r.bars.len(), r.tickers.len()), (3, 0));
    }

    #[test]
    fn empty_range_has_no_results_key() {
        let body: AggsBody = serde_json::from_str(
            r#"{"ticker":"AAPL","queryCount":0,"resultsCount":0,"adjusted":true,"status":"DELAYED","request_id":"x","count":0}"#,
        )
        .unwrap();
        assert!(body.results.is_none());
        assert_eq!(body.status, "DELAYED");
    }

    #[test]
    fn odd_numbers_and_missing_fields() {
        let bar: WireBar =
            serde_json::from_str(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":1.029145e+06,"t":1,"otc":true}"#).unwrap();
        let b = bar.to_bar();
        assert_eq!(b.volume, Some(1_029_145.0));
        assert_eq!(b.trades, None);
        assert_eq!(b.vwap, None);
        let frac: WireBar =
            serde_json::from_str(r#"{"o":1,"h":2,"l":0.5,"c":1.5,"v":41120042.153782,"t":1,"n":12.0}"#).unwrap();
        assert_eq!(frac.to_bar().volume, Some(41_120_042.153_782));
        assert_eq!(frac.to_bar().trades, Some(12));
    }

    #[test]
    fn parses_recorded_error_bodies() {
        let e: ErrorBody = serde_json::from_str(&fixture(
            "errors/403_not-authorized__v2_aggs_ticker_AAPL_range_1_day_2020-06-01_2020-06-17.json",
        ))
        .unwrap();
        assert_eq!(e.status.as_deref(), Some("NOT_AUTHORIZED"));
        assert!(e.text().unwrap().contains("doesn't include this data timeframe"));
        let e: ErrorBody = serde_json::from_str(&fixture("errors/429_rate-limited__v2_aggs_ticker_BAC.json")).unwrap();
        assert!(e.text().unwrap().starts_with("You've exceeded the maximum requests per minute"));
        assert!(e.request_id.is_none());
        let e: ErrorBody = serde_json::from_str(&fixture(
            "errors/400_bad-from__v2_aggs_ticker_AAPL_range_1_day_2024-07-32_2024-07-32.json",
        ))
        .unwrap();
        assert!(e.text().unwrap().contains("Could not parse the time parameter"));
    }
}
