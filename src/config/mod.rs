//! Configuration: defaults < TOML file < environment (the API key) < command-line flags.
//!
//! Everything is validated before anything runs. An error names the file, line and key
//! (or the flag) and says what was expected.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

mod sim;
pub use sim::{Faults, SimOptions};

use crate::calendar::{self, Day};
use crate::secret::{ApiKey, check_key_text};
use crate::timeframe::Timeframe;

pub const DEFAULT_BASE_URL: &str = "https://api.massive.com";
pub const DEFAULT_SYMBOLS: &str = include_str!("../../assets/symbols.txt");
pub const DEFAULT_FROM: &str = "2025-01-01";
pub const DEFAULT_TO: &str = "2026-06-30";
pub const DEFAULT_TIMEFRAMES: [&str; 4] = ["1/minute", "5/minute", "1/hour", "1/day"];
pub const ENV_KEYS: [&str; 2] = ["MASSIVE_API_KEY", "POLYGON_API_KEY"];

/// One of the original pipeline's three fixes; the number is the key that toggles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fix {
    Backoff,
    Batching,
    Parallel,
}

impl Fix {
    pub const ALL: [Fix; 3] = [Fix::Backoff, Fix::Batching, Fix::Parallel];

    pub fn number(self) -> u8 {
        match self {
            Fix::Backoff => 1,
            Fix::Batching => 2,
            Fix::Parallel => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fix::Backoff => "backoff",
            Fix::Batching => "batching",
            Fix::Parallel => "parallel",
        }
    }

    pub fn from_number(n: u8) -> Option<Fix> {
        Fix::ALL.into_iter().find(|f| f.number() == n)
    }
}

/// Which fixes are on. Serialised as its label (`1,2,3`, `none`), the spelling of `--fixes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixes {
    pub backoff: bool,
    pub batching: bool,
    pub parallel: bool,
}

impl Fixes {
    pub const ALL: Fixes = Fixes { backoff: true, batching: true, parallel: true };
    pub const NONE: Fixes = Fixes { backoff: false, batching: false, parallel: false };

    pub fn get(self, fix: Fix) -> bool {
        match fix {
            Fix::Backoff => self.backoff,
            Fix::Batching => self.batching,
            Fix::Parallel => self.parallel,
        }
    }

    pub fn set(&mut self, fix: Fix, on: bool) {
        match fix {
            Fix::Backoff => self.backoff = on,
            Fix::Batching => self.batching = on,
            Fix::Parallel => self.parallel = on,
        }
    }

    /// `1,2,3`, `1`, or `none`: the same spelling `--fixes` takes.
    pub fn label(self) -> String {
        let on: Vec<String> = Fix::ALL.into_iter().filter(|f| self.get(*f)).map(|f| f.number().to_string()).collect();
        if on.is_empty() { "none".into() } else { on.join(",") }
    }

    pub fn parse(s: &str) -> Result<Fixes, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("none") {
            return Ok(Fixes::NONE);
        }
        if s.eq_ignore_ascii_case("all") {
            return Ok(Fixes::ALL);
        }
        let mut fixes = Fixes::NONE;
        for part in s.split(',') {
            let fix = part.trim().parse::<u8>().ok().and_then(Fix::from_number).ok_or_else(|| {
                format!(
                    "'{}' is not a fix; use numbers from 1,2,3 (1 backoff, 2 batching, 3 parallel), 'all' or 'none'",
                    part.trim()
                )
            })?;
            fixes.set(fix, true);
        }
        Ok(fixes)
    }
}

impl fmt::Display for Fixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl serde::Serialize for Fixes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fixes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fixes::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Clone, Debug)]
pub struct RetryConfig {
    /// Attempts per request, the first included (tenacity's `stop_after_attempt`).
    pub max_attempts: u32,
    /// Retries a run may spend before successes have earned any.
    pub budget: f64,
    /// Retries each successful request earns.
    pub budget_ratio: f64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub symbols: Vec<String>,
    pub timeframes: Vec<Timeframe>,
    pub from: Day,
    pub to: Day,
    pub adjusted: bool,
    pub db: PathBuf,
    /// The platform default, whose directory barfill may create; a path the user gave
    /// must already have its directory.
    pub db_is_default: bool,
    pub log_dir: PathBuf,
    pub api_key: Option<ApiKey>,
    /// Set explicitly (file or flag). Without it and without a key, the embedded simulator runs.
    pub base_url: Option<String>,
    pub quota_per_min: u32,
    /// How far under the quota the pacer keeps, in percent.
    pub headroom_pct: f64,
    /// The span over which the server counts its quota (a minute for Polygon).
    pub quota_window: Duration,
    pub timeout: Duration,
    pub fixes: Fixes,
    pub concurrency: u32,
    pub stagger: Duration,
    pub retry: RetryConfig,
    pub sim: SimOptions,
    pub config_file: Option<PathBuf>,
    /// Fetch every window again, stored or not (`--refetch`, or `R` on the dashboard), so
    /// fixes can be compared on the same work; upserts keep the bars unduplicated.
    pub refetch: bool,
    /// Warnings found while loading (a key in a world-readable file, ...).
    pub warnings: Vec<String>,
}

impl Config {
    pub fn defaults(dirs: &Dirs) -> Config {
        Config {
            symbols: parse_symbol_lines(DEFAULT_SYMBOLS, "assets/symbols.txt").expect("bundled symbol list is valid"),
            timeframes: DEFAULT_TIMEFRAMES.iter().map(|t| t.parse().unwrap()).collect(),
            from: calendar::parse_date(DEFAULT_FROM).unwrap(),
            to: calendar::parse_date(DEFAULT_TO).unwrap(),
            adjusted: false,
            db: dirs.data.join("barfill.db"),
            db_is_default: true,
            log_dir: dirs.data.join("logs"),
            api_key: None,
            base_url: None,
            quota_per_min: 150,
            headroom_pct: 2.0,
            quota_window: Duration::from_secs(60),
            timeout: Duration::from_secs(30),
            fixes: Fixes::ALL,
            concurrency: 3,
            stagger: Duration::from_secs(5),
            retry: RetryConfig { max_attempts: 8, budget: 20.0, budget_ratio: 0.2 },
            sim: SimOptions::default(),
            config_file: None,
            refetch: false,
            warnings: Vec::new(),
        }
    }

    /// Whether this run uses the simulator inside the binary.
    pub fn uses_embedded_sim(&self) -> bool {
        self.api_key.is_none() && self.base_url.is_none()
    }

    /// The simulator this configuration asks for, its quota resolved.
    pub fn sim_options(&self) -> SimOptions {
        SimOptions { quota: Some(self.sim_quota()), ..self.sim.clone() }
    }

    pub fn sim_quota(&self) -> u32 {
        self.sim.quota.unwrap_or_else(|| {
            ((self.quota_per_min as f64 * self.sim.window.as_secs_f64() / 60.0).round() as u32).max(1)
        })
    }
}

/// Platform directories; tests and `--db` override them.
#[derive(Clone, Debug)]
pub struct Dirs {
    pub config: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    pub fn platform() -> Dirs {
        match directories::ProjectDirs::from("", "", "barfill") {
            Some(p) => Dirs { config: p.config_dir().to_path_buf(), data: p.data_dir().to_path_buf() },
            None => Dirs { config: PathBuf::from("."), data: PathBuf::from(".") },
        }
    }

    pub fn default_config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }
}

/// What went wrong, and where. Displayed as one or two lines for the user.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub place: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.place, self.message)
    }
}

impl std::error::Error for ConfigError {}

fn flag_error(flag: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { place: format!("--{flag}"), message: message.into() }
}

// ---- the file model ----

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    symbols: Option<Spanned<Vec<Spanned<String>>>>,
    symbols_file: Option<Spanned<String>>,
    timeframes: Option<Vec<Spanned<String>>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    adjusted: Option<bool>,
    db: Option<Spanned<String>>,
    log_dir: Option<String>,
    #[serde(default)]
    api: FileApi,
    #[serde(default)]
    fixes: FileFixes,
    #[serde(default)]
    retry: FileRetry,
    #[serde(default)]
    sim: FileSim,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileApi {
    key: Option<Spanned<String>>,
    base_url: Option<Spanned<String>>,
    quota_per_min: Option<Spanned<i64>>,
    headroom_pct: Option<Spanned<f64>>,
    quota_window_secs: Option<Spanned<f64>>,
    timeout_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileFixes {
    backoff: Option<bool>,
    batching: Option<bool>,
    parallel: Option<bool>,
    concurrency: Option<Spanned<i64>>,
    stagger_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRetry {
    max_attempts: Option<Spanned<i64>>,
    budget: Option<Spanned<f64>>,
    budget_ratio: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSim {
    quota: Option<Spanned<i64>>,
    window_secs: Option<Spanned<f64>>,
    latency_ms: Option<Spanned<i64>>,
    latency_ms_per_1k_bars: Option<Spanned<f64>>,
    retry_after: Option<bool>,
    plan_from: Option<Spanned<String>>,
    extra_tickers: Option<Spanned<i64>>,
    seed: Option<i64>,
    stall_secs: Option<Spanned<f64>>,
    #[serde(default)]
    faults: FileFaults,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileFaults {
    server_error: Option<f64>,
    drop: Option<f64>,
    truncate: Option<f64>,
    malformed: Option<f64>,
    stall: Option<f64>,
    empty_page: Option<f64>,
    repeat_page: Option<f64>,
}

/// Resolves file positions for messages.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    fn at<T>(&self, spanned: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            place: format!("{}:{}: key `{key}`", self.path.display(), self.line_of(spanned.span().start)),
            message: message.into(),
        }
    }

    fn toml_error(&self, err: toml::de::Error) -> ConfigError {
        let Some(span) = err.span() else {
            return ConfigError { place: self.path.display().to_string(), message: err.message().to_string() };
        };
        let line_no = self.line_of(span.start);
        let line = self.text.lines().nth(line_no - 1).unwrap_or("").trim();
        let key = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !k.starts_with('['));
        let table = self
            .text
            .lines()
            .take(line_no - 1)
            .filter_map(|l| l.trim().strip_prefix('[')?.split(']').next())
            .last()
            .map(|t| format!("{}.", t.trim()))
            .unwrap_or_default();
        let place = match key {
            Some(k) => format!("{}:{}: key `{table}{k}`", self.path.display(), line_no),
            None => format!("{}:{}", self.path.display(), line_no),
        };
        let message = err
            .message()
            .trim_end()
            .replace("expected i64", "expected a whole number")
            .replace("expected f64", "expected a number");
        ConfigError { place, message: format!("{message} (in `{line}`)") }
    }
}

/// Command-line values that override the file. `None` leaves the file's value.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub db: Option<PathBuf>,
    pub symbols: Option<String>,
    pub timeframes: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub base_url: Option<String>,
    pub quota: Option<i64>,
    pub sim_quota: Option<i64>,
    pub fixes: Option<String>,
    pub concurrency: Option<i64>,
    pub stagger_secs: Option<f64>,
    pub log_dir: Option<PathBuf>,
}

/// Loads the configuration the way the CLI does.
///
/// `explicit_file` is `--config`; it must exist. Without it the platform default is read
/// when present. `env` supplies environment variables (injected for tests).
pub fn load(
    dirs: &Dirs,
    explicit_file: Option<&Path>,
    overrides: &Overrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut config = Config::defaults(dirs);
    let file = match explicit_file {
        Some(p) => Some(p.to_path_buf()),
        None => Some(dirs.default_config_file()).filter(|p| p.exists()),
    };
    if let Some(path) = file {
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            place: path.display().to_string(),
            message: format!("cannot read the config file: {e}"),
        })?;
        apply_file(&mut config, &path, &text)?;
        config.config_file = Some(path);
    }
    for name in ENV_KEYS {
        if let Some(v) = env(name).filter(|v| !v.trim().is_empty()) {
            check_key_text(v.trim()).map_err(|message| ConfigError { place: format!("${name}"), message })?;
            config.api_key = Some(ApiKey::new(v.trim()));
            break;
        }
    }
    apply_overrides(&mut config, overrides)?;
    let today = calendar::today_ny();
    if config.from > today {
        return Err(ConfigError {
            place: "from".into(),
            message: format!(
                "{} is in the future (today in New York is {})",
                calendar::format_day(config.from),
                calendar::format_day(today)
            ),
        });
    }
    if config.to > today {
        config.warnings.push(format!(
            "`to` ({}) is after today; fetching through {} (recent sessions are fetched again next time, as the API revises them)",
            calendar::format_day(config.to),
            calendar::format_day(today)
        ));
        config.to = today;
    }
    Ok(config)
}

fn apply_file(config: &mut Config, path: &Path, text: &str) -> Result<(), ConfigError> {
    let src = Source { path, text };
    let file: FileConfig = toml::from_str(text).map_err(|e| src.toml_error(e))?;

    if let (Some(_), Some(s)) = (&file.symbols, &file.symbols_file) {
        return Err(src.at(s, "symbols_file", "set either `symbols` or `symbols_file`, not both"));
    }
    if let Some(list) = &file.symbols {
        if list.get_ref().is_empty() {
            return Err(src.at(list, "symbols", "the list is empty; name at least one ticker"));
        }
        let mut symbols = Vec::new();
        for s in list.get_ref() {
            let t = validate_symbol(s.get_ref()).map_err(|m| src.at(s, "symbols", m))?;
            if symbols.contains(&t) {
                return Err(src.at(s, "symbols", format!("'{t}' is listed twice")));
            }
            symbols.push(t);
        }
        config.symbols = symbols;
    }
    if let Some(f) = &file.symbols_file {
        let rel = resolve_relative(path, f.get_ref());
        let body = std::fs::read_to_string(&rel)
            .map_err(|e| src.at(f, "symbols_file", format!("cannot read '{}': {e}", rel.display())))?;
        config.symbols = parse_symbol_lines(&body, &rel.display().to_string())
            .map_err(|e| ConfigError { place: e.place, message: e.message })?;
    }
    if let Some(tfs) = &file.timeframes {
        if tfs.is_empty() {
            return Err(ConfigError {
                place: format!("{}: key `timeframes`", path.display()),
                message: "the list is empty; name at least one, e.g. \"1/day\"".into(),
            });
        }
        let mut out = Vec::new();
        for t in tfs {
            let tf: Timeframe = t.get_ref().parse().map_err(|m: String| src.at(t, "timeframes", m))?;
            if out.contains(&tf) {
                return Err(src.at(t, "timeframes", format!("'{tf}' is listed twice")));
            }
            out.push(tf);
        }
        config.timeframes = out;
    }
    if let Some(d) = &file.from {
        config.from = calendar::parse_date(d.get_ref()).map_err(|m| src.at(d, "from", m))?;
    }
    if let Some(d) = &file.to {
        config.to = calendar::parse_date(d.get_ref()).map_err(|m| src.at(d, "to", m))?;
    }
    if config.from > config.to {
        let (span, key) = match (&file.to, &file.from) {
            (Some(t), _) => (t.span(), "to"),
            (None, Some(f)) => (f.span(), "from"),
            _ => unreachable!("defaults are ordered"),
        };
        return Err(ConfigError {
            place: format!("{}:{}: key `{key}`", path.display(), src.line_of(span.start)),
            message: format!(
                "`from` ({}) is after `to` ({})",
                calendar::format_day(config.from),
                calendar::format_day(config.to)
            ),
        });
    }
    if let Some(a) = file.adjusted {
        config.adjusted = a;
    }
    if let Some(db) = &file.db {
        if db.get_ref().trim().is_empty() {
            return Err(src.at(db, "db", "the path is empty"));
        }
        config.db = resolve_relative(path, db.get_ref());
        config.db_is_default = false;
    }
    if let Some(l) = &file.log_dir {
        config.log_dir = resolve_relative(path, l);
    }

    let api = &file.api;
    if let Some(k) = &api.key {
        if k.get_ref().trim().is_empty() {
            return Err(src.at(k, "api.key", "the key is empty; remove the line to use the simulator"));
        }
        check_key_text(k.get_ref().trim()).map_err(|m| src.at(k, "api.key", m))?;
        config.api_key = Some(ApiKey::new(k.get_ref().trim()));
        if let Some(w) = world_readable_warning(path) {
            config.warnings.push(w);
        }
    }
    if let Some(u) = &api.base_url {
        config.base_url = Some(validate_base_url(u.get_ref()).map_err(|m| src.at(u, "api.base_url", m))?);
    }
    if let Some(q) = &api.quota_per_min {
        config.quota_per_min = positive_u32(*q.get_ref()).map_err(|m| src.at(q, "api.quota_per_min", m))?;
    }
    if let Some(h) = &api.headroom_pct {
        if !(0.0..50.0).contains(h.get_ref()) {
            return Err(src.at(h, "api.headroom_pct", "must be at least 0 and below 50"));
        }
        config.headroom_pct = *h.get_ref();
    }
    if let Some(w) = &api.quota_window_secs {
        config.quota_window = positive_secs(*w.get_ref()).map_err(|m| src.at(w, "api.quota_window_secs", m))?;
    }
    if let Some(t) = &api.timeout_secs {
        config.timeout = positive_secs(*t.get_ref()).map_err(|m| src.at(t, "api.timeout_secs", m))?;
    }

    let fx = &file.fixes;
    if let Some(b) = fx.backoff {
        config.fixes.backoff = b;
    }
    if let Some(b) = fx.batching {
        config.fixes.batching = b;
    }
    if let Some(b) = fx.parallel {
        config.fixes.parallel = b;
    }
    if let Some(c) = &fx.concurrency {
        config.concurrency = concurrency(*c.get_ref()).map_err(|m| src.at(c, "fixes.concurrency", m))?;
    }
    if let Some(s) = &fx.stagger_secs {
        config.stagger = nonneg_secs(*s.get_ref()).map_err(|m| src.at(s, "fixes.stagger_secs", m))?;
    }

    let r = &file.retry;
    if let Some(a) = &r.max_attempts {
        let v = *a.get_ref();
        if !(1..=100).contains(&v) {
            return Err(src.at(a, "retry.max_attempts", "must be between 1 and 100"));
        }
        config.retry.max_attempts = v as u32;
    }
    if let Some(b) = &r.budget {
        if *b.get_ref() < 0.0 || !b.get_ref().is_finite() {
            return Err(src.at(b, "retry.budget", "must be zero or more"));
        }
        config.retry.budget = *b.get_ref();
    }
    if let Some(b) = &r.budget_ratio {
        if !(0.0..=10.0).contains(b.get_ref()) {
            return Err(src.at(b, "retry.budget_ratio", "must be between 0 and 10"));
        }
        config.retry.budget_ratio = *b.get_ref();
    }

    let s = &file.sim;
    if let Some(q) = &s.quota {
        config.sim.quota = Some(positive_u32(*q.get_ref()).map_err(|m| src.at(q, "sim.quota", m))?);
    }
    if let Some(w) = &s.window_secs {
        config.sim.window = positive_secs(*w.get_ref()).map_err(|m| src.at(w, "sim.window_secs", m))?;
    }
    if let Some(l) = &s.latency_ms {
        if *l.get_ref() < 0 {
            return Err(src.at(l, "sim.latency_ms", "must be zero or more"));
        }
        config.sim.latency_ms = *l.get_ref() as u64;
    }
    if let Some(l) = &s.latency_ms_per_1k_bars {
        if *l.get_ref() < 0.0 {
            return Err(src.at(l, "sim.latency_ms_per_1k_bars", "must be zero or more"));
        }
        config.sim.latency_ms_per_1k_bars = *l.get_ref();
    }
    if let Some(r) = s.retry_after {
        config.sim.retry_after = r;
    }
    if let Some(p) = &s.plan_from {
        config.sim.plan_from = Some(calendar::parse_date(p.get_ref()).map_err(|m| src.at(p, "sim.plan_from", m))?);
    }
    if let Some(e) = &s.extra_tickers {
        if !(0..=17_000).contains(e.get_ref()) {
            return Err(src.at(e, "sim.extra_tickers", "must be between 0 and 17000"));
        }
        config.sim.extra_tickers = *e.get_ref() as u32;
    }
    if let Some(seed) = s.seed {
        config.sim.seed = seed as u64;
    }
    if let Some(st) = &s.stall_secs {
        config.sim.stall = positive_secs(*st.get_ref()).map_err(|m| src.at(st, "sim.stall_secs", m))?;
    }
    let f = &s.faults;
    let faults = Faults {
        server_error: f.server_error.unwrap_or(0.0),
        drop: f.drop.unwrap_or(0.0),
        truncate: f.truncate.unwrap_or(0.0),
        malformed: f.malformed.unwrap_or(0.0),
        stall: f.stall.unwrap_or(0.0),
        empty_page: f.empty_page.unwrap_or(0.0),
        repeat_page: f.repeat_page.unwrap_or(0.0),
    };
    faults
        .validate()
        .map_err(|m| ConfigError { place: format!("{}: table `[sim.faults]`", path.display()), message: m })?;
    config.sim.faults = faults;
    Ok(())
}

fn apply_overrides(config: &mut Config, o: &Overrides) -> Result<(), ConfigError> {
    if let Some(db) = &o.db {
        if db.as_os_str().is_empty() {
            return Err(flag_error("db", "the path is empty"));
        }
        config.db = db.clone();
        config.db_is_default = false;
    }
    if let Some(l) = &o.log_dir {
        config.log_dir = l.clone();
    }
    if let Some(s) = &o.symbols {
        config.symbols = parse_symbol_list(s).map_err(|m| flag_error("symbols", m))?;
    }
    if let Some(t) = &o.timeframes {
        let mut out = Vec::new();
        for part in t.split(',').map(str::trim) {
            if part.is_empty() {
                return Err(flag_error("timeframes", "empty entry in the list"));
            }
            let tf: Timeframe = part.parse().map_err(|m: String| flag_error("timeframes", m))?;
            if !out.contains(&tf) {
                out.push(tf);
            }
        }
        config.timeframes = out;
    }
    if let Some(d) = &o.from {
        config.from = calendar::parse_date(d.trim()).map_err(|m| flag_error("from", m))?;
    }
    if let Some(d) = &o.to {
        config.to = calendar::parse_date(d.trim()).map_err(|m| flag_error("to", m))?;
    }
    if config.from > config.to {
        let flag = if o.to.is_some() { "to" } else { "from" };
        return Err(flag_error(
            flag,
            format!(
                "`from` ({}) is after `to` ({})",
                calendar::format_day(config.from),
                calendar::format_day(config.to)
            ),
        ));
    }
    if let Some(u) = &o.base_url {
        config.base_url = Some(validate_base_url(u).map_err(|m| flag_error("base-url", m))?);
    }
    if let Some(q) = o.quota {
        config.quota_per_min = positive_u32(q).map_err(|m| flag_error("quota", m))?;
    }
    if let Some(q) = o.sim_quota {
        config.sim.quota = Some(positive_u32(q).map_err(|m| flag_error("sim-quota", m))?);
    }
    if let Some(f) = &o.fixes {
        config.fixes = Fixes::parse(f).map_err(|m| flag_error("fixes", m))?;
    }
    if let Some(c) = o.concurrency {
        config.concurrency = concurrency(c).map_err(|m| flag_error("concurrency", m))?;
    }
    if let Some(s) = o.stagger_secs {
        config.stagger = nonneg_secs(s).map_err(|m| flag_error("stagger", m))?;
    }
    Ok(())
}

fn resolve_relative(config_file: &Path, value: &str) -> PathBuf {
    let p = PathBuf::from(value);
    if p.is_absolute() { p } else { config_file.parent().unwrap_or(Path::new(".")).join(p) }
}

fn positive_u32(v: i64) -> Result<u32, String> {
    if v <= 0 {
        Err(format!("must be a positive whole number, got {v}"))
    } else if v > 1_000_000 {
        Err(format!("{v} is implausibly large"))
    } else {
        Ok(v as u32)
    }
}

fn concurrency(v: i64) -> Result<u32, String> {
    if !(1..=64).contains(&v) { Err(format!("must be between 1 and 64, got {v}")) } else { Ok(v as u32) }
}

fn positive_secs(v: f64) -> Result<Duration, String> {
    if !v.is_finite() || v <= 0.0 || v > 86_400.0 {
        Err(format!("must be a number of seconds above 0 and at most a day, got {v}"))
    } else {
        Ok(Duration::from_secs_f64(v))
    }
}

fn nonneg_secs(v: f64) -> Result<Duration, String> {
    if !v.is_finite() || !(0.0..=3600.0).contains(&v) {
        Err(format!("must be between 0 and 3600 seconds, got {v}"))
    } else {
        Ok(Duration::from_secs_f64(v))
    }
}

fn validate_base_url(u: &str) -> Result<String, String> {
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

/// Tickers go into a URL path, so only characters real tickers use are accepted.
pub fn validate_symbol(raw: &str) -> Result<String, String> {
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
    Ok(s.to_string())
}

fn parse_symbol_list(s: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for part in s.split(',') {
        let t = validate_symbol(part)?;
        if out.contains(&t) {
            return Err(format!("'{t}' is listed twice"));
        }
        out.push(t);
    }
    Ok(out)
}

/// One ticker per line (or several separated by spaces), `#` comments.
pub fn parse_symbol_lines(body: &str, name: &str) -> Result<Vec<String>, ConfigError> {
    let mut out: Vec<String> = Vec::new();
    for (i, line) in body.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("");
        for word in line.split_whitespace() {
            let place = format!("{name}:{}", i + 1);
            let t = validate_symbol(word).map_err(|m| ConfigError { place: place.clone(), message: m })?;
            if out.contains(&t) {
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

#[cfg(unix)]
fn world_readable_warning(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (mode & 0o044 != 0).then(|| {
        format!(
            "{} holds an API key and other users can read it (mode {:o}); run `chmod 600 {}`",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn world_readable_warning(_path: &Path) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirs(tmp: &Path) -> Dirs {
        Dirs { config: tmp.join("cfg"), data: tmp.join("data") }
    }

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("barfill.toml");
        std::fs::write(&path, text).unwrap();
        load(&dirs(tmp.path()), Some(&path), &Overrides::default(), &|_| None)
    }

    #[test]
    fn defaults_without_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let c = load(&dirs(tmp.path()), None, &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.symbols, ["AAPL", "MSFT", "NVDA", "SPY", "TSLA"]);
        assert_eq!(c.timeframes.len(), 4);
        assert_eq!(c.quota_per_min, 150);
        assert_eq!(c.fixes, Fixes::ALL);
        assert!(c.uses_embedded_sim());
        assert_eq!(c.db, tmp.path().join("data").join("barfill.db"));
    }

    #[test]
    fn full_example_file_loads() {
        let text = include_str!("../../config.example.toml");
        let c = load_text(text).unwrap();
        assert_eq!(c.quota_per_min, 150);
        assert!(c.api_key.is_none());
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = load_text("from = \"2024-01-01\"\nquota = 5\n").unwrap_err();
        assert!(e.place.ends_with("barfill.toml:2: key `quota`"), "{e}");
        assert!(e.message.contains("unknown field `quota`"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = load_text("[api]\nquota_per_min = \"fast\"\n").unwrap_err();
        assert!(e.place.ends_with(":2: key `api.quota_per_min`"), "{e}");
        assert!(e.message.contains("invalid type"), "{e}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let e = load_text("symbols = [\"AAPL\"\nfrom = 1\n").unwrap_err();
        assert!(e.place.contains("barfill.toml:"), "{e}");
    }

    #[test]
    fn bad_dates_and_order() {
        let e = load_text("from = \"2024-02-30\"\n").unwrap_err();
        assert_eq!(e.place.rsplit(": ").next().unwrap(), "key `from`");
        assert!(e.message.contains("not a valid date"), "{e}");
        let e = load_text("from = \"2025-01-01\"\nto = \"2024-01-01\"\n").unwrap_err();
        assert!(e.place.ends_with(":2: key `to`"), "{e}");
        assert!(e.message.contains("is after"), "{e}");
    }

    #[test]
    fn bad_timeframe_and_symbols() {
        let e = load_text("timeframes = [\"1/day\", \"1/fortnight\"]\n").unwrap_err();
        assert!(e.message.contains("unknown timespan 'fortnight'"), "{e}");
        let e = load_text("symbols = []\n").unwrap_err();
        assert!(e.message.contains("empty"), "{e}");
        let e = load_text("symbols = [\"AAPL\", \"../etc\"]\n").unwrap_err();
        assert!(e.message.contains("contains '/'"), "{e}");
        let e = load_text("symbols = [\"AAPL?apiKey=x\"]\n").unwrap_err();
        assert!(e.message.contains("contains '?'"), "{e}");
        let e = load_text("symbols = [\"aapl\"]\n").unwrap_err();
        assert!(e.message.contains("case-sensitive"), "{e}");
    }

    #[test]
    fn zero_or_negative_quota_and_concurrency() {
        let e = load_text("[api]\nquota_per_min = 0\n").unwrap_err();
        assert!(e.place.ends_with(":2: key `api.quota_per_min`"), "{e}");
        let e = load_text("[fixes]\nconcurrency = -2\n").unwrap_err();
        assert!(e.message.contains("between 1 and 64"), "{e}");
    }

    #[test]
    fn flags_override_file_and_are_checked() {
        let tmp = tempfile::tempdir().unwrap();
        let o = Overrides {
            symbols: Some("IBM,KO".into()),
            fixes: Some("none".into()),
            quota: Some(5),
            ..Default::default()
        };
        let c = load(&dirs(tmp.path()), None, &o, &|_| None).unwrap();
        assert_eq!(c.symbols, ["IBM", "KO"]);
        assert_eq!(c.fixes, Fixes::NONE);
        assert_eq!(c.quota_per_min, 5);
        let bad = Overrides { quota: Some(0), ..Default::default() };
        let e = load(&dirs(tmp.path()), None, &bad, &|_| None).unwrap_err();
        assert_eq!(e.place, "--quota");
        let bad = Overrides { from: Some("2024-13-01".into()), ..Default::default() };
        assert_eq!(load(&dirs(tmp.path()), None, &bad, &|_| None).unwrap_err().place, "--from");
    }

    #[test]
    fn key_from_environment_is_never_printed() {
        let tmp = tempfile::tempdir().unwrap();
        let c = load(&dirs(tmp.path()), None, &Overrides::default(), &|k| {
            (k == "POLYGON_API_KEY").then(|| "sekrit123".to_string())
        })
        .unwrap();
        assert!(!c.uses_embedded_sim());
        assert!(!format!("{c:?}").contains("sekrit123"));
        let e = load(&dirs(tmp.path()), None, &Overrides::default(), &|k| {
            (k == "MASSIVE_API_KEY").then(|| "abc\u{a0}def".to_string())
        })
        .unwrap_err();
        assert_eq!(e.place, "$MASSIVE_API_KEY");
        assert!(e.message.contains("position 4") && !e.message.contains("abc"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_key_in_a_file_others_can_read_gets_a_warning() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("barfill.toml");
        std::fs::write(&path, "[api]\nkey = \"sekrit123\"\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let c = load(&dirs(tmp.path()), Some(&path), &Overrides::default(), &|_| None).unwrap();
        assert_eq!(c.warnings.len(), 1);
        assert!(c.warnings[0].contains("other users can read it (mode 644)"), "{:?}", c.warnings);
        assert!(!c.warnings[0].contains("sekrit123"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let c = load(&dirs(tmp.path()), Some(&path), &Overrides::default(), &|_| None).unwrap();
        assert!(c.warnings.is_empty());
        assert_eq!(c.api_key.unwrap().expose(), "sekrit123");
    }

    #[test]
    fn dates_past_today_are_clamped_or_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let today = calendar::today_ny();
        let o = Overrides { to: Some(calendar::format_day(today + 30)), ..Default::default() };
        let c = load(&dirs(tmp.path()), None, &o, &|_| None).unwrap();
        assert_eq!(c.to, today);
        assert!(c.warnings[0].contains("is after today"), "{:?}", c.warnings);
        let o = Overrides {
            from: Some(calendar::format_day(today + 5)),
            to: Some(calendar::format_day(today + 9)),
            ..Default::default()
        };
        let e = load(&dirs(tmp.path()), None, &o, &|_| None).unwrap_err();
        assert!(e.message.contains("is in the future"), "{e}");
    }

    #[test]
    fn fixes_and_faults_parse() {
        assert_eq!(Fixes::parse("1,3").unwrap().label(), "1,3");
        assert_eq!(Fixes::parse("none").unwrap(), Fixes::NONE);
        assert!(Fixes::parse("4").is_err());
        let f = Faults::parse("5xx=0.1, drop=0.05").unwrap();
        assert_eq!(f.server_error, 0.1);
        assert!(Faults::parse("boom=0.1").is_err());
        assert!(Faults::parse("5xx=2").is_err());
    }
}
