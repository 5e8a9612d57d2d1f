//! What the embedded simulator should do: plain data, read from `[sim]`, `barfill sim`'s
//! flags or a test.

use std::time::Duration;

use crate::calendar::Day;
use crate::markets::{Class, DayStamp};
use crate::secret::ApiKey;

/// The simulator's settings: `[sim]` in the config, `barfill sim`'s flags, or a test's.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Requests accepted in any `window` before 429; `None` means the quota barfill
    /// keeps, scaled to the window.
    pub quota: Option<u32>,
    pub window: Duration,
    pub latency_ms: u64,
    pub latency_ms_per_1k_bars: f64,
    pub retry_after: bool,
    /// Requests for history before this day get 403, as a plan limit would.
    pub plan_from: Option<Day>,
    pub extra_tickers: u32,
    pub seed: u64,
    pub faults: Faults,
    pub stall: Duration,
    /// Only `barfill sim --api-key` sets one; a run's embedded simulator needs none.
    pub api_key: Option<ApiKey>,
    /// The day the reference endpoints count as today (which tickers are active); `None`
    /// is today in New York. Tests fix it so their answers do not change with the date.
    pub today: Option<Day>,
    /// How day bars of crypto and of indices are stamped, where the real API's stamp is
    /// not confirmed: the first candidate of each by default; tests try the others.
    pub crypto_day_stamp: DayStamp,
    pub index_day_stamp: DayStamp,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            quota: None,
            window: Duration::from_secs(60),
            latency_ms: 60,
            latency_ms_per_1k_bars: 10.0,
            retry_after: false,
            plan_from: None,
            extra_tickers: 2000,
            seed: 1,
            faults: Faults::default(),
            stall: Duration::from_secs(60),
            api_key: None,
            today: None,
            crypto_day_stamp: Class::Crypto.default_stamp(),
            index_day_stamp: Class::Indices.default_stamp(),
        }
    }
}

impl SimOptions {
    /// No latency, no faults, a generous quota: for tests that check data, not timing.
    pub fn fast() -> SimOptions {
        SimOptions {
            quota: Some(100_000),
            latency_ms: 0,
            latency_ms_per_1k_bars: 0.0,
            extra_tickers: 50,
            ..SimOptions::default()
        }
    }
}

/// Fractions of requests that go wrong, each way: the first seven fail the request (an
/// error status, a broken or cut body, a stall, a page that misleads the pager); the last
/// five answer 200 with wrong data, for testing what the client checks before it stores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub server_error: f64,
    pub drop: f64,
    pub truncate: f64,
    pub malformed: f64,
    pub stall: f64,
    pub empty_page: f64,
    pub repeat_page: f64,
    /// `t` in seconds instead of milliseconds.
    pub seconds_ts: f64,
    /// `h` and `l` swapped in every bar.
    pub swap_hl: f64,
    /// A next page that starts with the previous page's last bar.
    pub dup_boundary: f64,
    /// A bar stamped off the timeframe's grid (17 seconds late).
    pub off_grid: f64,
    /// A bar from after the requested range.
    pub out_of_range: f64,
    /// One bar in the middle of a page with its high and low swapped: a bar that cannot
    /// be right among good ones.
    pub bad_bar: f64,
}

impl Faults {
    /// The names counted in `SimCounts::faults` and used in `[sim.faults]`.
    pub const KEYS: [&str; 13] = [
        "server_error",
        "drop",
        "truncate",
        "malformed",
        "stall",
        "empty_page",
        "repeat_page",
        "seconds_ts",
        "swap_hl",
        "dup_boundary",
        "off_grid",
        "out_of_range",
        "bad_bar",
    ];

    /// Each fault's name and fraction, in `KEYS` order.
    pub fn table(&self) -> [(&'static str, f64); 13] {
        let values = [
            self.server_error,
            self.drop,
            self.truncate,
            self.malformed,
            self.stall,
            self.empty_page,
            self.repeat_page,
            self.seconds_ts,
            self.swap_hl,
            self.dup_boundary,
            self.off_grid,
            self.out_of_range,
            self.bad_bar,
        ];
        std::array::from_fn(|i| (Self::KEYS[i], values[i]))
    }

    /// The field behind a name: `KEYS`, their hyphenated forms, and the short aliases.
    pub fn slot(&mut self, key: &str) -> Option<&mut f64> {
        Some(match key.replace('-', "_").as_str() {
            "server_error" | "5xx" => &mut self.server_error,
            "drop" => &mut self.drop,
            "truncate" => &mut self.truncate,
            "malformed" => &mut self.malformed,
            "stall" => &mut self.stall,
            "empty_page" | "empty" => &mut self.empty_page,
            "repeat_page" | "repeat" => &mut self.repeat_page,
            "seconds_ts" => &mut self.seconds_ts,
            "swap_hl" => &mut self.swap_hl,
            "dup_boundary" => &mut self.dup_boundary,
            "off_grid" => &mut self.off_grid,
            "out_of_range" => &mut self.out_of_range,
            "bad_bar" => &mut self.bad_bar,
            _ => return None,
        })
    }

    /// `5xx=0.05,drop=0.01,swap-hl=0.1,...`: fractions of requests that get each fault.
    pub fn parse(s: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) =
                part.split_once('=').ok_or_else(|| format!("fault '{part}' must be NAME=FRACTION, e.g. 5xx=0.05"))?;
            let value: f64 = v.trim().parse().map_err(|_| format!("fault '{k}': '{v}' is not a number"))?;
            faults.set(k.trim(), value)?;
        }
        faults.validate().map(|_| faults)
    }

    /// The names `parse` takes, for messages and help.
    pub const NAMES: &str = "5xx, drop, truncate, malformed, stall, empty, repeat, seconds-ts, swap-hl, dup-boundary, off-grid, out-of-range, bad-bar";

    /// Sets one fault by the name `--faults` or `[sim.faults]` uses, so both accept the same
    /// names and fractions with the same words.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), String> {
        let slot = self.slot(name).ok_or_else(|| format!("unknown fault '{name}'; known: {}", Self::NAMES))?;
        if !(0.0..=1.0).contains(&value) {
            return Err(format!("fault '{name}': must be a fraction between 0 and 1, got {value}"));
        }
        *slot = value;
        Ok(())
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let all = self.table().map(|(_, f)| f);
        if all.iter().any(|f| !(0.0..=1.0).contains(f)) {
            return Err("fault fractions must be between 0 and 1".into());
        }
        if all.iter().sum::<f64>() > 1.0 {
            return Err("fault fractions add up to more than 1".into());
        }
        Ok(())
    }

    pub fn any(&self) -> bool {
        *self != Faults::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_names_aliases_and_the_wrong_data_faults_parse() {
        let f = Faults::parse("5xx=0.1, empty=0.05,repeat_page=0.05,seconds-ts=0.1,swap_hl=0.1,dup-boundary=0.1,off-grid=0.1,out_of_range=0.1").unwrap();
        assert_eq!((f.server_error, f.empty_page, f.repeat_page), (0.1, 0.05, 0.05));
        assert_eq!((f.seconds_ts, f.swap_hl, f.dup_boundary, f.off_grid, f.out_of_range), (0.1, 0.1, 0.1, 0.1, 0.1));
        let e = Faults::parse("nope=0.1").unwrap_err();
        assert!(e.contains("swap-hl") && e.contains("5xx"), "{e}");
        assert!(Faults::parse("swap-hl=0.6,off-grid=0.6").unwrap_err().contains("more than 1"));
        assert!(Faults::parse("swap-hl=2").is_err());
    }
}
