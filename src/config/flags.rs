//! The command line's settings: one struct for the flags that override the config file
//! (`barfill`, `run`, `plan`), one for `barfill sim`'s, and the steps that apply them. Every
//! value goes through the validator the file uses (`validate`), so both agree.

use std::path::PathBuf;

use clap::Args;

use super::sim::SimOptions;
use super::validate::{self, ListError};
use super::{Config, ConfigError, Origin, Origins};
use crate::secret::ApiKey;

/// Declares [`Flags`] and [`Flags::or`] from one list, so each flag is named once: the
/// values (`Option`s, unset when not given) and the switches (`bool`s).
macro_rules! declare_flags {
    (
        values { $( $(#[$va:meta])* $v:ident : $vt:ty, )* }
        switches { $( $(#[$sa:meta])* $s:ident, )* }
    ) => {
        /// Flags that override the config file, shared by `barfill`, `barfill run` and
        /// `barfill plan`. `None` leaves the file's value.
        #[derive(Args, Debug, Default, Clone, PartialEq)]
        pub struct Flags {
            $( $(#[$va])* pub $v: Option<$vt>, )*
            $( $(#[$sa])* pub $s: bool, )*
        }

        impl Flags {
            /// These flags, with those given before the subcommand (`barfill --db x run`)
            /// where these leave a value unset.
            pub fn or(mut self, outer: &Flags) -> Flags {
                $( if self.$v.is_none() { self.$v = outer.$v.clone(); } )*
                $( self.$s |= outer.$s; )*
                self
            }
        }
    };
}

declare_flags! {
    values {
        /// Config file (default: the platform config dir's barfill/config.toml).
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// SQLite database file.
        #[arg(long, value_name = "FILE")]
        db: PathBuf,
        /// Tickers, comma-separated (case-sensitive).
        #[arg(long, value_name = "A,B")]
        symbols: String,
        /// A file of tickers: one per line (or several separated by spaces), '#' comments.
        #[arg(long, value_name = "FILE")]
        symbols_file: PathBuf,
        /// Tickers from reference data instead of a list: stocks (all active common stocks and
        /// ETFs), crypto, fx or indices (every pair or index of that market).
        #[arg(long, value_name = "NAME")]
        universe: String,
        /// The universe as listed on this day, delisted since included (survivorship-free).
        #[arg(long, value_name = "YYYY-MM-DD")]
        universe_as_of: String,
        /// Only the first N tickers of the universe.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        universe_limit: i64,
        /// An options chain instead of a list: underlyings, comma-separated (SPY,QQQ; SPX for
        /// index options); its contracts from reference data. Needs --expiring.
        #[arg(long, value_name = "A,B")]
        options: String,
        /// The chain's expirations, FROM..TO (YYYY-MM-DD..YYYY-MM-DD), expired ones included.
        #[arg(long, value_name = "FROM..TO")]
        expiring: String,
        /// The chain's strikes, LO..HI (e.g. 480..520).
        #[arg(long, value_name = "LO..HI")]
        strikes: String,
        /// Only calls or only puts.
        #[arg(long, value_name = "call|put")]
        contract_type: String,
        /// Timeframes, comma-separated, e.g. 1/minute,1/day.
        #[arg(long, value_name = "TF,TF")]
        timeframes: String,
        /// First trading day, YYYY-MM-DD.
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: String,
        /// Last trading day, YYYY-MM-DD (inclusive).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: String,
        /// API base URL (default https://api.massive.com; with no key, a keyless server).
        #[arg(long, value_name = "URL")]
        base_url: String,
        /// Requests per minute barfill keeps to.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        quota: i64,
        /// The embedded simulator's own quota per window (per minute by default), to see a
        /// stricter real limit.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        sim_quota: i64,
        /// Fixes on: 1 backoff, 2 batching, 3 parallel; e.g. 1,2,3 or none.
        #[arg(long, value_name = "1,2,3|none")]
        fixes: String,
        /// Workers when fix 3 is on: auto (the default, sized while the run goes) or a count.
        #[arg(long, value_name = "auto|N", allow_negative_numbers = true)]
        concurrency: String,
        /// Seconds between worker starts when fix 3 is on (default 0 with auto workers, 5 with a count).
        #[arg(long, value_name = "SECS", allow_negative_numbers = true)]
        stagger: f64,
        /// Random (full) jitter on fix 1's backoff waits; --jitter=false turns off the file's.
        #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
        jitter: bool,
        /// Directory for the log file.
        #[arg(long, value_name = "DIR")]
        log_dir: PathBuf,
    }
    switches {
        /// Fetch every window again, even those already stored (bars are upserted, never
        /// duplicated): the way to time fixes against each other on the same work.
        #[arg(long)]
        refetch,
    }
}

fn flag_error(flag: &str, message: impl Into<String>) -> ConfigError {
    ConfigError { place: format!("--{flag}"), message: message.into() }
}

/// A flag's value checked by its setting's rule, or the error at the flag.
fn check<T, U>(v: &T, flag: &str, rule: impl FnOnce(&T) -> Result<U, String>) -> Result<U, ConfigError> {
    rule(v).map_err(|m| flag_error(flag, m))
}

fn list<U>(v: &str, flag: &str, rule: impl FnOnce(&[&str]) -> Result<U, ListError>) -> Result<U, ConfigError> {
    rule(&validate::split_list(v)).map_err(|e| flag_error(flag, e.message))
}

/// Applies the flags over the file's configuration (`--config` is read by `load`).
pub(super) fn apply(config: &mut Config, origins: &mut Origins, f: &Flags) -> Result<(), ConfigError> {
    storage(config, f)?;
    what_to_fetch(config, origins, f)?;
    universe(config, origins, f)?;
    chain(config, origins, f)?;
    if let Some(t) = &f.timeframes {
        config.timeframes = list(t, "timeframes", validate::timeframes)?;
    }
    if let Some(d) = &f.from {
        config.from = check(d, "from", |s| validate::date(s))?;
        origins.from = Origin::Flag("from");
    }
    if let Some(d) = &f.to {
        config.to = check(d, "to", |s| validate::date(s))?;
        origins.to = Origin::Flag("to");
    }
    api(config, f)?;
    fixes(config, origins, f)
}

fn storage(config: &mut Config, f: &Flags) -> Result<(), ConfigError> {
    if let Some(db) = &f.db {
        check(&db.to_string_lossy(), "db", |s| validate::path(s))?;
        config.db = db.clone();
        config.db_is_default = false;
    }
    if let Some(l) = &f.log_dir {
        check(&l.to_string_lossy(), "log-dir", |s| validate::path(s))?;
        config.log_dir = l.clone();
    }
    Ok(())
}

/// A list on the command line replaces the file's universe with its settings, as any flag
/// replaces the file's value; a list and a universe both on the command line are refused.
fn what_to_fetch(config: &mut Config, origins: &mut Origins, f: &Flags) -> Result<(), ConfigError> {
    if let (Some(_), Some(_)) = (&f.symbols, &f.symbols_file) {
        return Err(flag_error("symbols-file", "give either --symbols or --symbols-file, not both"));
    }
    let list_flag = if f.symbols.is_some() { "--symbols" } else { "--symbols-file" };
    if f.universe.is_some() && (f.symbols.is_some() || f.symbols_file.is_some()) {
        return Err(flag_error("universe", format!("give either --universe or {list_flag}, not both")));
    }
    if f.options.is_some() && (f.symbols.is_some() || f.symbols_file.is_some() || f.universe.is_some()) {
        let other = if f.universe.is_some() { "--universe" } else { list_flag };
        return Err(flag_error("options", format!("give either --options or {other}, not both")));
    }
    // Whichever names the tickers on the command line replaces what the file named.
    if f.symbols.is_some() || f.symbols_file.is_some() || f.universe.is_some() {
        config.chain = crate::config::ChainSettings::default();
        origins.options = Origin::Default;
        origins.expiring = Origin::Default;
        origins.strikes = Origin::Default;
        origins.contract_type = Origin::Default;
    }
    if f.options.is_some() {
        config.universe = None;
        config.universe_as_of = None;
        config.universe_limit = None;
        origins.universe = Origin::Default;
        origins.universe_as_of = Origin::Default;
        origins.universe_limit = Origin::Default;
        origins.symbols = Origin::Default;
    }
    if let Some(s) = &f.symbols {
        config.symbols = list(s, "symbols", validate::symbols)?;
        origins.symbols = Origin::Flag("symbols");
    }
    if let Some(path) = &f.symbols_file {
        let body = std::fs::read_to_string(path)
            .map_err(|e| flag_error("symbols-file", format!("cannot read '{}': {e}", path.display())))?;
        config.symbols = validate::symbol_lines(&body, &path.display().to_string())?;
        origins.symbols = Origin::Flag("symbols-file");
    }
    if f.symbols.is_some() || f.symbols_file.is_some() {
        config.universe = None;
        config.universe_as_of = None;
        config.universe_limit = None;
        origins.universe = Origin::Default;
        origins.universe_as_of = Origin::Default;
        origins.universe_limit = Origin::Default;
    }
    Ok(())
}

fn universe(config: &mut Config, origins: &mut Origins, f: &Flags) -> Result<(), ConfigError> {
    if let Some(u) = &f.universe {
        config.universe = Some(check(u, "universe", |s| validate::universe(s))?);
        origins.universe = Origin::Flag("universe");
    }
    if let Some(d) = &f.universe_as_of {
        config.universe_as_of = Some(check(d, "universe-as-of", |s| validate::date(s))?);
        origins.universe_as_of = Origin::Flag("universe-as-of");
    }
    if let Some(n) = f.universe_limit {
        config.universe_limit = Some(check(&n, "universe-limit", |v| validate::universe_limit(*v))?);
        origins.universe_limit = Origin::Flag("universe-limit");
    }
    Ok(())
}

fn chain(config: &mut Config, origins: &mut Origins, f: &Flags) -> Result<(), ConfigError> {
    if let Some(o) = &f.options {
        config.chain.options = list(o, "options", validate::underlyings)?;
        origins.options = Origin::Flag("options");
    }
    if let Some(e) = &f.expiring {
        config.chain.expiring = Some(check(e, "expiring", |s| validate::day_range(s))?);
        origins.expiring = Origin::Flag("expiring");
    }
    if let Some(s) = &f.strikes {
        config.chain.strikes = Some(check(s, "strikes", |v| validate::strikes(v))?);
        origins.strikes = Origin::Flag("strikes");
    }
    if let Some(c) = &f.contract_type {
        config.chain.contract_type = Some(check(c, "contract-type", |v| validate::contract_type(v))?);
        origins.contract_type = Origin::Flag("contract-type");
    }
    Ok(())
}

fn api(config: &mut Config, f: &Flags) -> Result<(), ConfigError> {
    if let Some(u) = &f.base_url {
        config.base_url = Some(check(u, "base-url", |s| validate::base_url(s))?);
    }
    if let Some(q) = f.quota {
        config.quota_per_min = check(&q, "quota", |v| validate::quota(*v))?;
    }
    if let Some(q) = f.sim_quota {
        config.sim.quota = Some(check(&q, "sim-quota", |v| validate::quota(*v))?);
    }
    Ok(())
}

fn fixes(config: &mut Config, origins: &mut Origins, f: &Flags) -> Result<(), ConfigError> {
    if let Some(s) = &f.fixes {
        config.fixes = check(s, "fixes", |s| validate::fixes(s))?;
    }
    if let Some(c) = &f.concurrency {
        config.concurrency = check(c, "concurrency", |s| validate::concurrency(s))?;
    }
    if let Some(s) = f.stagger {
        config.stagger = check(&s, "stagger", |v| validate::stagger_secs(*v))?;
        origins.stagger = Origin::Flag("stagger");
    }
    if let Some(j) = f.jitter {
        config.retry.jitter = j;
    }
    config.refetch |= f.refetch;
    Ok(())
}

/// `barfill sim`'s settings: the `[sim]` table of `--config`, then these.
#[derive(Args, Debug, Default, Clone, PartialEq)]
pub struct SimFlags {
    /// Config file whose [sim] table gives the defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Requests accepted per window before 429 (per minute with the default 60 s window).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub quota: Option<i64>,
    /// Length of the quota window in seconds.
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    pub window_secs: Option<f64>,
    /// Fixed latency per response, in milliseconds.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub latency_ms: Option<i64>,
    /// Extra latency per 1000 bars in a response, in milliseconds.
    #[arg(long, value_name = "MS", allow_negative_numbers = true)]
    pub latency_per_1k: Option<f64>,
    /// Require this key (Bearer header or apiKey parameter); 401 otherwise.
    #[arg(long, value_name = "K")]
    pub api_key: Option<String>,
    /// Faults as NAME=FRACTION, comma-separated. Failed requests: 5xx, drop, truncate, malformed,
    /// stall, empty, repeat. Wrong data in a 200 answer: seconds-ts, swap-hl, dup-boundary,
    /// off-grid, out-of-range.
    #[arg(long, value_name = "LIST")]
    pub faults: Option<String>,
    /// Send Retry-After on 429.
    #[arg(long)]
    pub retry_after: bool,
    /// Answer 403 for history before this date, as a plan limit does.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub plan_from: Option<String>,
}

/// Applies `barfill sim`'s flags over the simulator options the config file gave.
pub fn apply_sim(opts: &mut SimOptions, f: &SimFlags) -> Result<(), ConfigError> {
    if let Some(q) = f.quota {
        opts.quota = Some(check(&q, "quota", |v| validate::quota(*v))?);
    }
    if let Some(w) = f.window_secs {
        opts.window = check(&w, "window-secs", |v| validate::sim_window_secs(*v))?;
    }
    if let Some(l) = f.latency_ms {
        opts.latency_ms = check(&l, "latency-ms", |v| validate::latency_ms(*v))?;
    }
    if let Some(l) = f.latency_per_1k {
        opts.latency_ms_per_1k_bars = check(&l, "latency-per-1k", |v| validate::latency_per_1k(*v))?;
    }
    // An empty key means none, as an empty environment variable does.
    if let Some(k) = f.api_key.as_deref().filter(|k| !k.is_empty()) {
        opts.api_key = Some(ApiKey::new(check(&k, "api-key", |s| validate::api_key(s))?));
    }
    if let Some(s) = &f.faults {
        opts.faults = check(s, "faults", |s| validate::faults(s))?;
    }
    opts.retry_after |= f.retry_after;
    if let Some(p) = &f.plan_from {
        opts.plan_from = Some(check(p, "plan-from", |s| validate::date(s))?);
    }
    Ok(())
}
