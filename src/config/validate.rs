//! One validator per setting, shared by the config file, the command-line flags and
//! `barfill sim`'s flags, so a value gets the same verdict in the same words wherever it is
//! given. Each takes the value as the user wrote it and returns it typed, or says what was
//! expected; the caller adds where (file, line and key, or the flag).

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use super::ConfigError;
use super::settings::{Concurrency, Fixes, Universe};
use super::sim::Faults;
use crate::calendar::{self, Day, Range};
use crate::markets::{Class, ContractType};
use crate::secret::check_key_text;
use crate::timeframe::Timeframe;

/// The first day of the API's stock history on most plans (Starter and above; Basic keeps
/// two years), as far as barfill knows. Earlier dates get a warning, not an error: barfill
/// cannot tell the plan, a Polygon-compatible server may hold more, and the API answers an
/// earlier window with no bars or a 403 for that window alone, never with wrong data.
pub const API_HISTORY_START: &str = "2003-09-10";

/// A list that failed: the entry at fault (`None` for the list as a whole) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct ListError {
    pub index: Option<usize>,
    pub message: String,
}

impl ListError {
    fn at(index: usize, message: impl Into<String>) -> ListError {
        ListError { index: Some(index), message: message.into() }
    }

    fn whole(message: impl Into<String>) -> ListError {
        ListError { index: None, message: message.into() }
    }
}

/// A comma-separated flag value as a list; a blank value is an empty list, so `--symbols ""`
/// gets the same verdict as `symbols = []`.
pub fn split_list(s: &str) -> Vec<&str> {
    if s.trim().is_empty() { Vec::new() } else { s.split(',').map(str::trim).collect() }
}

// ---- what to fetch ----

/// Tickers go into a URL path, so only characters real tickers use are accepted; a prefix
/// must name an asset class, and an option ticker must be an OCC symbol.
pub fn symbol(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("empty ticker".into());
    }
    if s.len() > 24 {
        return Err(format!("'{s}' is too long for a ticker"));
    }
    if let Some(bad) = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '_'))) {
        return Err(format!(
            "'{s}' contains '{}'; tickers use letters, digits, '.', ':', '-' and '_' only",
            bad.escape_default()
        ));
    }
    if s.chars().any(|c| c.is_ascii_lowercase()) {
        return Err(format!(
            "'{s}' has lower-case letters; tickers are case-sensitive (did you mean '{}'?)",
            s.to_ascii_uppercase()
        ));
    }
    crate::markets::Class::of(s)?;
    Ok(s.to_string())
}

/// `symbols` and `--symbols`: at least one ticker, none twice.
pub fn symbols(items: &[&str]) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, item) in items.iter().enumerate() {
        let t = symbol(item).map_err(|m| ListError::at(i, m))?;
        if !seen.insert(t.clone()) {
            return Err(ListError::at(i, format!("'{t}' is listed twice")));
        }
        out.push(t);
    }
    if out.is_empty() {
        return Err(ListError::whole("the list is empty; name at least one ticker"));
    }
    Ok(out)
}

/// A symbols file (`symbols_file`, `--symbols-file`): one ticker per line (or several
/// separated by spaces), `#` comments. Errors name the file and line.
pub fn symbol_lines(body: &str, name: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (i, line) in body.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split_whitespace() {
            let place = format!("{name}:{}", i + 1);
            let t = symbol(word).map_err(|m| ConfigError { place: place.clone(), message: m })?;
            if !seen.insert(t.clone()) {
                return Err(ConfigError { place, message: format!("'{t}' is listed twice") });
            }
            out.push(t);
        }
    }
    if out.is_empty() {
        return Err(ConfigError { place: name.to_string(), message: "no tickers in the file".into() });
    }
    Ok(out)
}

/// `options` and `--options`: underlying roots (`SPY`, `SPX`), at least one, none twice.
pub fn underlyings(items: &[&str]) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some((prefix, root)) = item.trim().split_once(':') {
            let t = item.trim();
            return Err(ListError::at(
                i,
                format!(
                    "'{t}' is not an underlying: name the root the chain is listed under ('{root}', not '{prefix}:{root}')"
                ),
            ));
        }
        let t = symbol(item).map_err(|m| ListError::at(i, m))?;
        if out.contains(&t) {
            return Err(ListError::at(i, format!("'{t}' is listed twice")));
        }
        out.push(t);
    }
    if out.is_empty() {
        return Err(ListError::whole("the list is empty; name at least one underlying, e.g. \"SPY\""));
    }
    Ok(out)
}

/// `expiring` and `--expiring`: `FROM..TO`, two dates in order.
pub fn day_range(s: &str) -> Result<Range, String> {
    let (a, b) = s
        .trim()
        .split_once("..")
        .ok_or_else(|| format!("'{s}' is not a range of dates FROM..TO, e.g. 2025-01-01..2025-03-31"))?;
    let (from, to) = (date(a)?, date(b)?);
    range_order(from, to)?;
    Ok(Range { from, to })
}

/// `strikes` and `--strikes`: `LO..HI`, two prices in order.
pub fn strikes(s: &str) -> Result<(f64, f64), String> {
    let bad = || format!("'{s}' is not a range of strikes LO..HI, e.g. 480..520");
    let (a, b) = s.trim().split_once("..").ok_or_else(bad)?;
    let price = |x: &str| x.trim().parse::<f64>().ok().filter(|p| p.is_finite() && *p > 0.0);
    let (lo, hi) = (price(a).ok_or_else(bad)?, price(b).ok_or_else(bad)?);
    if lo > hi {
        return Err(format!("the lowest strike ({lo}) is above the highest ({hi})"));
    }
    Ok((lo, hi))
}

/// `contract_type` and `--contract-type`.
pub fn contract_type(s: &str) -> Result<ContractType, String> {
    ContractType::parse(s)
}

/// `universe` and `--universe`.
pub fn universe(s: &str) -> Result<Universe, String> {
    let s = s.trim();
    Universe::ALL.into_iter().find(|u| u.name().eq_ignore_ascii_case(s)).ok_or_else(|| {
        let known: Vec<String> = Universe::ALL.iter().map(|u| format!("{} ({})", u.name(), u.describe())).collect();
        format!("unknown universe '{s}'; known: {}", known.join(", "))
    })
}

/// `universe_limit` and `--universe-limit`: the first N tickers of the universe.
pub fn universe_limit(v: i64) -> Result<u32, String> {
    positive_count(v)
}

/// `timeframes` and `--timeframes`: at least one, none twice.
pub fn timeframes(items: &[&str]) -> Result<Vec<Timeframe>, ListError> {
    let mut out: Vec<Timeframe> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let item = item.trim();
        if item.is_empty() {
            return Err(ListError::at(i, "empty entry in the list"));
        }
        let tf: Timeframe = item.parse().map_err(|m: String| ListError::at(i, m))?;
        if out.contains(&tf) {
            return Err(ListError::at(i, format!("'{tf}' is listed twice")));
        }
        out.push(tf);
    }
    if out.is_empty() {
        return Err(ListError::whole("the list is empty; name at least one, e.g. \"1/day\""));
    }
    Ok(out)
}

// ---- dates and ranges ----

/// `from`, `to`, `universe_as_of`, `sim.plan_from` and their flags.
pub fn date(s: &str) -> Result<Day, String> {
    calendar::parse_date(s.trim())
}

pub fn range_order(from: Day, to: Day) -> Result<(), String> {
    if from > to {
        return Err(format!("`from` ({}) is after `to` ({})", calendar::format_day(from), calendar::format_day(to)));
    }
    Ok(())
}

/// Before the calendar's first year every weekday would look like a session, so barfill
/// would plan (and the simulator serve) bars for holidays: refused.
pub fn calendar_start(day: Day) -> Result<(), String> {
    if day < calendar::first_day() {
        return Err(format!(
            "{} is before {}, the first day of the trading calendar barfill knows",
            calendar::format_day(day),
            calendar::format_day(calendar::first_day())
        ));
    }
    Ok(())
}

pub fn not_future(day: Day, today: Day) -> Result<(), String> {
    if day > today {
        return Err(format!(
            "{} is in the future (today in New York is {})",
            calendar::format_day(day),
            calendar::format_day(today)
        ));
    }
    Ok(())
}

/// A range with no day any of the run's classes trades costs nothing to fetch and would
/// end as "already stored": say so instead, with why each day is closed. Such a range is
/// a week at most, so listing its days is short.
pub fn sessions_in(from: Day, to: Day, classes: &[Class]) -> Result<(), String> {
    if from > to || classes.iter().any(|c| c.days_between(from, to) > 0) {
        return Ok(());
    }
    let why = |class: Class| -> String {
        let days: Vec<String> = (from..=to)
            .enumerate()
            .map(|(i, d)| {
                let reason = class.closure_reason(d).unwrap_or("closed");
                let verb = if i == 0 { " is " } else { " " };
                format!("{}{verb}{reason}", calendar::format_day(d))
            })
            .collect();
        days.join(", ")
    };
    let range = format!("{}..{}", calendar::format_day(from), calendar::format_day(to));
    // Stocks and options keep the NYSE's words; other classes are named with their reasons.
    let nyse = |c: &Class| matches!(c, Class::Stocks | Class::Options);
    if classes.iter().all(nyse) {
        return Err(format!("the range {range} holds no trading session: {}", why(Class::Stocks)));
    }
    let each: Vec<String> = classes.iter().map(|&c| format!("{c}: {}", why(c))).collect();
    Err(format!("the range {range} holds no day any of its tickers trades ({})", each.join("; ")))
}

/// A warning (see [`API_HISTORY_START`]) when `day` is before the API's history.
pub fn api_history(day: Day, what: &str) -> Option<String> {
    let start = calendar::parse_date(API_HISTORY_START).expect("a valid date");
    (day < start).then(|| {
        format!(
            "{what} ({}) is before {API_HISTORY_START}, where the API's stock history starts on most plans; \
             earlier days will likely come back empty, or refused (403) on a plan that does not reach back that far",
            calendar::format_day(day)
        )
    })
}

// ---- the API and pacing ----

/// `api.quota_per_min`, `--quota`, `sim.quota`, `--sim-quota` and `barfill sim --quota`.
pub fn quota(v: i64) -> Result<u32, String> {
    positive_count(v)
}

pub fn base_url(u: &str) -> Result<String, String> {
    let u = u.trim().trim_end_matches('/');
    let parsed = reqwest::Url::parse(u).map_err(|e| format!("'{u}' is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("'{u}' must start with http:// or https://"));
    }
    if parsed.query().is_some() || !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the base URL must not carry a query or credentials; put the key in the environment".into());
    }
    Ok(u.to_string())
}

/// `api.key`, the environment's key and `barfill sim --api-key`.
pub fn api_key(key: &str) -> Result<String, String> {
    let key = key.trim();
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    check_key_text(key)?;
    Ok(key.to_string())
}

pub fn headroom_pct(v: f64) -> Result<f64, String> {
    if !(0.0..50.0).contains(&v) {
        return Err(format!("must be at least 0 and below 50, got {v}"));
    }
    Ok(v)
}

pub fn quota_window_secs(v: f64) -> Result<Duration, String> {
    positive_secs(v)
}

pub fn timeout_secs(v: f64) -> Result<Duration, String> {
    positive_secs(v)
}

// ---- the fixes ----

/// `--fixes` and the label stored with each run.
pub fn fixes(s: &str) -> Result<Fixes, String> {
    Fixes::parse(s)
}

/// `--concurrency` and `[fixes] concurrency` written as text: `auto` or a count.
pub fn concurrency(s: &str) -> Result<Concurrency, String> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Concurrency::Auto);
    }
    match s.parse::<i64>() {
        Ok(n) => concurrency_count(n),
        Err(_) => Err(format!("must be `auto` or a number of workers from 1 to {}, got '{s}'", Concurrency::MAX)),
    }
}

/// `[fixes] concurrency` written as a number.
pub fn concurrency_count(v: i64) -> Result<Concurrency, String> {
    if !(1..=Concurrency::MAX as i64).contains(&v) {
        return Err(format!("must be between 1 and {}, got {v}", Concurrency::MAX));
    }
    Ok(Concurrency::Fixed(v as u32))
}

/// `--stagger` and `[fixes] stagger_secs`. NaN and infinities are refused here, where the
/// user can be told, not left to panic in `Duration::from_secs_f64`.
pub fn stagger_secs(v: f64) -> Result<Duration, String> {
    if !v.is_finite() || !(0.0..=3600.0).contains(&v) {
        return Err(format!("must be between 0 and 3600 seconds, got {v}"));
    }
    Ok(Duration::from_secs_f64(v))
}

// ---- retries ----

pub fn max_attempts(v: i64) -> Result<u32, String> {
    if !(1..=100).contains(&v) {
        return Err(format!("must be between 1 and 100, got {v}"));
    }
    Ok(v as u32)
}

pub fn retry_budget(v: f64) -> Result<f64, String> {
    if !v.is_finite() || v < 0.0 {
        return Err(format!("must be zero or more, got {v}"));
    }
    Ok(v)
}

pub fn budget_ratio(v: f64) -> Result<f64, String> {
    if !(0.0..=10.0).contains(&v) {
        return Err(format!("must be between 0 and 10, got {v}"));
    }
    Ok(v)
}

// ---- the simulator ----

pub fn sim_window_secs(v: f64) -> Result<Duration, String> {
    positive_secs(v)
}

pub fn latency_ms(v: i64) -> Result<u64, String> {
    if !(0..=3_600_000).contains(&v) {
        return Err(format!("must be between 0 and 3600000 milliseconds, got {v}"));
    }
    Ok(v as u64)
}

pub fn latency_per_1k(v: f64) -> Result<f64, String> {
    if !(0.0..=60_000.0).contains(&v) {
        return Err(format!("must be between 0 and 60000 milliseconds, got {v}"));
    }
    Ok(v)
}

pub fn extra_tickers(v: i64) -> Result<u32, String> {
    if !(0..=17_000).contains(&v) {
        return Err(format!("must be between 0 and 17000, got {v}"));
    }
    Ok(v as u32)
}

pub fn stall_secs(v: f64) -> Result<Duration, String> {
    positive_secs(v)
}

/// `--faults NAME=FRACTION,...` as a whole; `[sim.faults]` goes through the same
/// [`Faults::set`] per key and [`faults_total`].
pub fn faults(s: &str) -> Result<Faults, String> {
    Faults::parse(s)
}

/// What a set of faults must satisfy together.
pub fn faults_total(f: &Faults) -> Result<(), String> {
    f.validate()
}

// ---- shared shapes ----

/// `db`, `--db` and other paths the user names.
pub fn path(s: &str) -> Result<PathBuf, String> {
    if s.trim().is_empty() {
        return Err("the path is empty".into());
    }
    Ok(PathBuf::from(s))
}

fn positive_count(v: i64) -> Result<u32, String> {
    if v <= 0 {
        Err(format!("must be a positive whole number, got {v}"))
    } else if v > 1_000_000 {
        Err(format!("{v} is implausibly large"))
    } else {
        Ok(v as u32)
    }
}

fn positive_secs(v: f64) -> Result<Duration, String> {
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        return Err(format!("must be a number of seconds above 0 and at most a day, got {v}"));
    }
    Ok(Duration::from_secs_f64(v))
}
