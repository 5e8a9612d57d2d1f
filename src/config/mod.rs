//! Configuration: defaults < TOML file < environment (the API key) < command-line flags.
//!
//! Everything is validated before anything runs. An error names the file, line and key
//! (or the flag) and says what was expected. The file model (`file`) and the flags
//! (`flags`, also `barfill sim`'s) hand each value to the one validator for its setting
//! (`validate`), so a value gets the same verdict wherever it is given. `load` layers them,
//! then checks what only the whole can: the date range, a universe against a list, the
//! stagger's default.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

mod chain;
mod file;
mod flags;
mod settings;
mod sim;
pub mod validate;

#[cfg(test)]
mod tests;

pub use chain::{Chain, ChainSettings};
pub use flags::{Flags, SimFlags, apply_sim as apply_sim_flags};
pub use settings::{Concurrency, Fix, Fixes, Universe};
pub use sim::{Faults, SimOptions};

use crate::calendar::{self, Day};
use crate::markets::Class;
use crate::secret::ApiKey;
use crate::timeframe::Timeframe;

pub const DEFAULT_BASE_URL: &str = "https://api.massive.com";
pub const DEFAULT_SYMBOLS: &str = include_str!("../../assets/symbols.txt");
pub const DEFAULT_FROM: &str = "2025-01-01";
pub const DEFAULT_TO: &str = "2026-06-30";
pub const DEFAULT_TIMEFRAMES: [&str; 4] = ["1/minute", "5/minute", "1/hour", "1/day"];
pub const ENV_KEYS: [&str; 2] = ["MASSIVE_API_KEY", "POLYGON_API_KEY"];

#[derive(Clone, Debug)]
pub struct RetryConfig {
    /// Attempts per request, the first included (tenacity's `stop_after_attempt`).
    pub max_attempts: u32,
    /// Retries a run may spend before successes have earned any.
    pub budget: f64,
    /// Retries each successful request earns.
    pub budget_ratio: f64,
    /// Random (full) jitter on fix 1's waits. Off by default: fix 1 is the plan's
    /// `wait_exponential(multiplier=1, min=1, max=300)`, which has none.
    pub jitter: bool,
    /// Every retry wait is this many times as long. Not a user setting: 1 in every real
    /// run; tests shrink it so retries cost milliseconds while keeping their schedule.
    pub wait_scale: f64,
}

#[derive(Clone, Debug)]
pub struct Config {
    /// The tickers to fetch; empty when `universe` names them instead.
    pub symbols: Vec<String>,
    /// Tickers from reference data instead of `symbols` (`--universe`, `universe`).
    pub universe: Option<Universe>,
    /// The universe as listed on this day, delisted since included; `None` is today's
    /// active tickers. Only with `universe`.
    pub universe_as_of: Option<Day>,
    /// Only the first N tickers of the universe. Only with `universe`.
    pub universe_limit: Option<u32>,
    /// An options chain whose contracts are the tickers (`--options`, `options`, with
    /// `expiring` and optionally `strikes` and `contract_type`).
    pub chain: ChainSettings,
    pub timeframes: Vec<Timeframe>,
    pub from: Day,
    pub to: Day,
    pub adjusted: bool,
    /// Ask for the splits of the run's tickers on every run of a raw database, so
    /// `bars_adjusted` follows splits that come after bars were stored (`fetch_splits`).
    pub fetch_splits: bool,
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
    /// Workers when fix 3 is on.
    pub concurrency: Concurrency,
    /// Between worker starts when fix 3 is on; when not configured, the concurrency's
    /// [`Concurrency::default_stagger`].
    pub stagger: Duration,
    pub retry: RetryConfig,
    pub sim: SimOptions,
    pub config_file: Option<PathBuf>,
    /// Fetch every window again, stored or not (`--refetch`, or `R` on the dashboard), so
    /// fixes can be compared on the same work; upserts keep the bars unduplicated.
    pub refetch: bool,
    /// Warnings found while loading (a key in a world-readable file, ...).
    pub warnings: Vec<String>,
    /// Today in New York, as this run counts it: `to` is cut to it, and sessions after
    /// `calendar::settled_through(today)` are stored but fetched again next time. Read
    /// once by `load`; tests set a fixed day.
    pub today: Day,
}

impl Config {
    pub fn defaults(dirs: &Dirs) -> Config {
        Config {
            symbols: validate::symbol_lines(DEFAULT_SYMBOLS, "assets/symbols.txt")
                .expect("bundled symbol list is valid"),
            universe: None,
            universe_as_of: None,
            universe_limit: None,
            chain: ChainSettings::default(),
            timeframes: DEFAULT_TIMEFRAMES.iter().map(|t| t.parse().unwrap()).collect(),
            from: calendar::parse_date(DEFAULT_FROM).unwrap(),
            to: calendar::parse_date(DEFAULT_TO).unwrap(),
            adjusted: false,
            fetch_splits: true,
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
            concurrency: Concurrency::Auto,
            stagger: Concurrency::Auto.default_stagger(),
            retry: RetryConfig { max_attempts: 8, budget: 20.0, budget_ratio: 0.2, jitter: false, wait_scale: 1.0 },
            sim: SimOptions::default(),
            config_file: None,
            refetch: false,
            warnings: Vec::new(),
            today: calendar::today_ny(),
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

    /// Fix 3 as the seed had it: [`Concurrency::SEED_FIX3`] and its stagger, for the bench.
    pub fn use_seed_fix3(&mut self) {
        self.concurrency = Concurrency::SEED_FIX3;
        self.stagger = Concurrency::SEED_FIX3_STAGGER;
    }

    /// The asset classes the run's tickers belong to, each once: a universe's, or the list's.
    pub fn classes(&self) -> Vec<Class> {
        if let Some(u) = self.universe {
            return vec![u.class()];
        }
        if self.chain.chain().is_some() {
            return vec![Class::Options];
        }
        let mut classes: Vec<Class> = self.symbols.iter().map(|t| Class::of_checked(t)).collect();
        classes.sort_unstable();
        classes.dedup();
        classes
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

/// Where a setting's value came from, so a rule about several settings names the one the
/// user gave last, in the user's terms (file, line and key, or the flag).
#[derive(Clone, Debug, Default, PartialEq)]
enum Origin {
    #[default]
    Default,
    /// `path:line: key `k``.
    File(String),
    /// The flag's name, without dashes.
    Flag(&'static str),
}

impl Origin {
    fn rank(&self) -> u8 {
        match self {
            Origin::Default => 0,
            Origin::File(_) => 1,
            Origin::Flag(_) => 2,
        }
    }

    fn is_set(&self) -> bool {
        *self != Origin::Default
    }

    /// An error at this origin; `key` names a default value.
    fn error(&self, key: &str, message: impl Into<String>) -> ConfigError {
        let place = match self {
            Origin::Default => key.to_string(),
            Origin::File(place) => place.clone(),
            Origin::Flag(flag) => format!("--{flag}"),
        };
        ConfigError { place, message: message.into() }
    }
}

/// Origins of the settings checked together once every layer is in.
#[derive(Debug, Default)]
struct Origins {
    from: Origin,
    to: Origin,
    symbols: Origin,
    universe: Origin,
    universe_as_of: Origin,
    universe_limit: Origin,
    options: Origin,
    expiring: Origin,
    strikes: Origin,
    contract_type: Origin,
    stagger: Origin,
}

impl Origins {
    /// The range's end the user gave last (`to` when both came together), with its key:
    /// the one to name when the range as a whole is wrong.
    fn range_end(&self) -> (&Origin, &'static str) {
        if self.from.rank() > self.to.rank() { (&self.from, "from") } else { (&self.to, "to") }
    }
}

/// Loads the configuration the way the CLI does: defaults, the file (`--config`, which must
/// exist, or the platform default when present), the environment's key, the flags; then
/// the checks of the whole. `env` supplies environment variables (injected for tests).
pub fn load(dirs: &Dirs, flags: &Flags, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
    load_on(dirs, flags, env, calendar::today_ny())
}

/// [`load`] as if today (in New York) were `today`.
fn load_on(
    dirs: &Dirs,
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    today: Day,
) -> Result<Config, ConfigError> {
    let mut config = Config { today, ..Config::defaults(dirs) };
    let mut origins = Origins::default();
    let path = flags.config.clone().or_else(|| Some(dirs.default_config_file()).filter(|p| p.exists()));
    if let Some(path) = path {
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            place: path.display().to_string(),
            message: format!("cannot read the config file: {e}"),
        })?;
        file::apply(&mut config, &mut origins, &path, &text)?;
        config.config_file = Some(path);
    }
    key_from_env(&mut config, env)?;
    flags::apply(&mut config, &mut origins, flags)?;
    check_universe(&mut config, &origins, today)?;
    check_chain(&mut config, &origins)?;
    if !origins.stagger.is_set() {
        config.stagger = config.concurrency.default_stagger();
    }
    check_range(&mut config, &origins, today)?;
    Ok(config)
}

fn key_from_env(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    for name in ENV_KEYS {
        if let Some(v) = env(name).filter(|v| !v.trim().is_empty()) {
            let key = validate::api_key(&v).map_err(|message| ConfigError { place: format!("${name}"), message })?;
            config.api_key = Some(ApiKey::new(key));
            break;
        }
    }
    Ok(())
}

/// A universe names the tickers, so the list (the defaults, or an earlier layer's) no
/// longer applies; its settings mean nothing without one.
fn check_universe(config: &mut Config, o: &Origins, today: Day) -> Result<(), ConfigError> {
    let Some(_) = config.universe else {
        let orphan = [(&o.universe_as_of, "universe_as_of"), (&o.universe_limit, "universe_limit")];
        if let Some((origin, key)) = orphan.into_iter().find(|(origin, _)| origin.is_set()) {
            return Err(
                origin.error(key, "applies only to a universe; add --universe stocks or `universe = \"stocks\"`")
            );
        }
        return Ok(());
    };
    debug_assert!(!o.symbols.is_set() || o.symbols.rank() < o.universe.rank(), "layers refuse both");
    config.symbols.clear();
    if let Some(day) = config.universe_as_of {
        validate::calendar_start(day)
            .and_then(|()| validate::not_future(day, today))
            .map_err(|m| o.universe_as_of.error("universe_as_of", m))?;
        config.warnings.extend(validate::api_history(day, "`universe_as_of`"));
    }
    Ok(())
}

/// A chain names the tickers, so the list (the defaults, or an earlier layer's) no longer
/// applies; it needs its expirations, and its other settings mean nothing without one.
fn check_chain(config: &mut Config, o: &Origins) -> Result<(), ConfigError> {
    if config.chain.options.is_empty() {
        let orphan = [(&o.expiring, "expiring"), (&o.strikes, "strikes"), (&o.contract_type, "contract_type")];
        if let Some((origin, key)) = orphan.into_iter().find(|(origin, _)| origin.is_set()) {
            return Err(
                origin.error(key, "applies only to an options chain; add --options SPY or `options = [\"SPY\"]`")
            );
        }
        return Ok(());
    }
    if config.chain.expiring.is_none() {
        return Err(o.options.error(
            "options",
            "an options chain needs the expirations to list: add --expiring FROM..TO or `expiring = \"FROM..TO\"`",
        ));
    }
    config.symbols.clear();
    Ok(())
}

/// The range as a whole: ordered, inside the calendar, not in the future (an end past
/// today is fetched through today), and holding at least one session.
fn check_range(config: &mut Config, o: &Origins, today: Day) -> Result<(), ConfigError> {
    let (end, end_key) = o.range_end();
    validate::range_order(config.from, config.to).map_err(|m| end.error(end_key, m))?;
    validate::calendar_start(config.from).map_err(|m| o.from.error("from", m))?;
    validate::not_future(config.from, today).map_err(|m| o.from.error("from", m))?;
    if config.to > today {
        config.warnings.push(format!(
            "`to` ({}) is after today; fetching through {} (recent sessions are fetched again next time, as the API revises them)",
            calendar::format_day(config.to),
            calendar::format_day(today)
        ));
        config.to = today;
    }
    validate::sessions_in(config.from, config.to, &config.classes()).map_err(|m| end.error(end_key, m))?;
    // An option has no bar after its expiration: one that expired before the range costs
    // nothing, and says so.
    for t in &config.symbols {
        if let Some(last) = Class::of_checked(t).last_day_of(t).filter(|&d| d < config.from) {
            config.warnings.push(format!(
                "{t} expired on {}, before `from` ({}): nothing to fetch for it",
                calendar::format_day(last),
                calendar::format_day(config.from)
            ));
        }
    }
    config.warnings.extend(validate::api_history(config.from, "`from`"));
    Ok(())
}
