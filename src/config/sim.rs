//! What the embedded simulator should do: plain data, read from `[sim]`, `barfill sim`'s
//! flags or a test.

use std::time::Duration;

use crate::calendar::Day;
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

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub server_error: f64,
    pub drop: f64,
    pub truncate: f64,
    pub malformed: f64,
    pub stall: f64,
    pub empty_page: f64,
    pub repeat_page: f64,
}

impl Faults {
    pub const KEYS: [&str; 7] = ["server_error", "drop", "truncate", "malformed", "stall", "empty_page", "repeat_page"];

    fn slot(&mut self, key: &str) -> Option<&mut f64> {
        Some(match key {
            "server_error" | "5xx" => &mut self.server_error,
            "drop" => &mut self.drop,
            "truncate" => &mut self.truncate,
            "malformed" => &mut self.malformed,
            "stall" => &mut self.stall,
            "empty_page" | "empty" => &mut self.empty_page,
            "repeat_page" | "repeat" => &mut self.repeat_page,
            _ => return None,
        })
    }

    /// `5xx=0.05,drop=0.01,...`: fractions of requests that get each fault.
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

    /// Sets one fault by the name `--faults` or `[sim.faults]` uses, so both accept the same
    /// names and fractions with the same words.
    pub fn set(&mut self, name: &str, value: f64) -> Result<(), String> {
        let slot = self.slot(name).ok_or_else(|| {
            format!("unknown fault '{name}'; known: 5xx, drop, truncate, malformed, stall, empty, repeat")
        })?;
        if !(0.0..=1.0).contains(&value) {
            return Err(format!("fault '{name}': must be a fraction between 0 and 1, got {value}"));
        }
        *slot = value;
        Ok(())
    }

    pub(super) fn validate(&self) -> Result<(), String> {
        let all = [
            self.server_error,
            self.drop,
            self.truncate,
            self.malformed,
            self.stall,
            self.empty_page,
            self.repeat_page,
        ];
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
