//! The config file: its serde model, with spans so every error names the file, line and
//! key, and the steps that apply it over the defaults. Every value goes through the
//! validator its flag uses (`validate`), so the file and the command line agree.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::sim::{Faults, SimOptions};
use super::validate::{self, ListError};
use super::{Config, ConfigError, Origin, Origins};
use crate::secret::ApiKey;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    symbols: Option<Spanned<Vec<Spanned<String>>>>,
    symbols_file: Option<Spanned<String>>,
    universe: Option<Spanned<String>>,
    universe_as_of: Option<Spanned<String>>,
    universe_limit: Option<Spanned<i64>>,
    options: Option<Spanned<Vec<Spanned<String>>>>,
    expiring: Option<Spanned<String>>,
    strikes: Option<Spanned<String>>,
    contract_type: Option<Spanned<String>>,
    timeframes: Option<Spanned<Vec<Spanned<String>>>>,
    from: Option<Spanned<String>>,
    to: Option<Spanned<String>>,
    adjusted: Option<bool>,
    fetch_splits: Option<bool>,
    db: Option<Spanned<String>>,
    log_dir: Option<Spanned<String>>,
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
    concurrency: Option<Spanned<WorkerCount>>,
    stagger_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileRetry {
    max_attempts: Option<Spanned<i64>>,
    budget: Option<Spanned<f64>>,
    budget_ratio: Option<Spanned<f64>>,
    jitter: Option<bool>,
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
    /// Read by fault name, so a fault kind added to [`Faults`] is a file key at once, with
    /// the names and checks `--faults` uses.
    faults: Option<Spanned<BTreeMap<String, Spanned<f64>>>>,
}

/// `[fixes] concurrency`: `"auto"` or a number, judged by the rule `--concurrency` uses.
enum WorkerCount {
    Count(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for WorkerCount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WorkerCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"auto\" or a number of workers")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<WorkerCount, E> {
                Ok(WorkerCount::Count(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WorkerCount, E> {
                Ok(WorkerCount::Count(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<WorkerCount, E> {
                Ok(WorkerCount::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// The file being read: resolves spans to lines for messages.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line_of(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }

    fn place<T>(&self, spanned: &Spanned<T>, key: &str) -> String {
        format!("{}:{}: key `{key}`", self.path.display(), self.line_of(spanned.span().start))
    }

    fn origin<T>(&self, spanned: &Spanned<T>, key: &str) -> Origin {
        Origin::File(self.place(spanned, key))
    }

    fn at<T>(&self, spanned: &Spanned<T>, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError { place: self.place(spanned, key), message: message.into() }
    }

    /// A checked value, or the error at its key.
    fn check<T, U>(
        &self,
        v: &Spanned<T>,
        key: &str,
        rule: impl FnOnce(&T) -> Result<U, String>,
    ) -> Result<U, ConfigError> {
        rule(v.get_ref()).map_err(|m| self.at(v, key, m))
    }

    /// A checked list; an error points at the entry at fault, or the list.
    fn list<U>(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
        rule: impl FnOnce(&[&str]) -> Result<U, ListError>,
    ) -> Result<U, ConfigError> {
        let items: Vec<&str> = list.get_ref().iter().map(|s| s.get_ref().as_str()).collect();
        rule(&items).map_err(|e| match e.index {
            Some(i) => self.at(&list.get_ref()[i], key, e.message),
            None => self.at(list, key, e.message),
        })
    }

    fn relative(&self, value: &str) -> PathBuf {
        let p = PathBuf::from(value);
        if p.is_absolute() { p } else { self.path.parent().unwrap_or(Path::new(".")).join(p) }
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

/// Applies the file at `path` (its text already read) over `config`.
pub(super) fn apply(config: &mut Config, origins: &mut Origins, path: &Path, text: &str) -> Result<(), ConfigError> {
    let src = Source { path, text };
    let file: FileConfig = toml::from_str(text).map_err(|e| src.toml_error(e))?;
    what_to_fetch(&src, &file, config, origins)?;
    universe(&src, &file, config, origins)?;
    chain(&src, &file, config, origins)?;
    if let Some(t) = &file.timeframes {
        config.timeframes = src.list(t, "timeframes", validate::timeframes)?;
    }
    dates(&src, &file, config, origins)?;
    storage(&src, &file, config)?;
    api(&src, &file.api, config)?;
    fixes(&src, &file.fixes, config, origins)?;
    retry(&src, &file.retry, config)?;
    sim(&src, &file.sim, &mut config.sim)
}

/// `symbols` or `symbols_file`, or neither; a universe with either is refused, since the
/// file would then say two things about which tickers to fetch.
fn what_to_fetch(
    src: &Source,
    file: &FileConfig,
    config: &mut Config,
    origins: &mut Origins,
) -> Result<(), ConfigError> {
    if let (Some(_), Some(f)) = (&file.symbols, &file.symbols_file) {
        return Err(src.at(f, "symbols_file", "set either `symbols` or `symbols_file`, not both"));
    }
    let list_key = if file.symbols.is_some() { "symbols" } else { "symbols_file" };
    if let (Some(u), true) = (&file.universe, file.symbols.is_some() || file.symbols_file.is_some()) {
        return Err(src.at(u, "universe", format!("set either `universe` or `{list_key}`, not both")));
    }
    if let Some(list) = &file.symbols {
        config.symbols = src.list(list, "symbols", validate::symbols)?;
        origins.symbols = src.origin(list, "symbols");
    }
    if let Some(f) = &file.symbols_file {
        let path = src.relative(f.get_ref());
        let body = std::fs::read_to_string(&path)
            .map_err(|e| src.at(f, "symbols_file", format!("cannot read '{}': {e}", path.display())))?;
        config.symbols = validate::symbol_lines(&body, &path.display().to_string())?;
        origins.symbols = src.origin(f, "symbols_file");
    }
    Ok(())
}

/// An options chain: `options` with `expiring`, `strikes` and `contract_type`. With a list
/// or a universe the file would say two things about which tickers to fetch.
fn chain(src: &Source, file: &FileConfig, config: &mut Config, origins: &mut Origins) -> Result<(), ConfigError> {
    if let Some(o) = &file.options {
        let other = [
            ("symbols", file.symbols.is_some()),
            ("symbols_file", file.symbols_file.is_some()),
            ("universe", file.universe.is_some()),
        ];
        if let Some((key, _)) = other.iter().find(|(_, set)| *set) {
            return Err(src.at(o, "options", format!("set either `options` or `{key}`, not both")));
        }
        config.chain.options = src.list(o, "options", validate::underlyings)?;
        origins.options = src.origin(o, "options");
    }
    if let Some(e) = &file.expiring {
        config.chain.expiring = Some(src.check(e, "expiring", |s| validate::day_range(s))?);
        origins.expiring = src.origin(e, "expiring");
    }
    if let Some(s) = &file.strikes {
        config.chain.strikes = Some(src.check(s, "strikes", |v| validate::strikes(v))?);
        origins.strikes = src.origin(s, "strikes");
    }
    if let Some(c) = &file.contract_type {
        config.chain.contract_type = Some(src.check(c, "contract_type", |v| validate::contract_type(v))?);
        origins.contract_type = src.origin(c, "contract_type");
    }
    Ok(())
}

fn universe(src: &Source, file: &FileConfig, config: &mut Config, origins: &mut Origins) -> Result<(), ConfigError> {
    if let Some(u) = &file.universe {
        config.universe = Some(src.check(u, "universe", |s| validate::universe(s))?);
        origins.universe = src.origin(u, "universe");
    }
    if let Some(d) = &file.universe_as_of {
        config.universe_as_of = Some(src.check(d, "universe_as_of", |s| validate::date(s))?);
        origins.universe_as_of = src.origin(d, "universe_as_of");
    }
    if let Some(n) = &file.universe_limit {
        config.universe_limit = Some(src.check(n, "universe_limit", |v| validate::universe_limit(*v))?);
        origins.universe_limit = src.origin(n, "universe_limit");
    }
    Ok(())
}

/// The dates alone; the range they make is checked once every layer is in.
fn dates(src: &Source, file: &FileConfig, config: &mut Config, origins: &mut Origins) -> Result<(), ConfigError> {
    if let Some(d) = &file.from {
        config.from = src.check(d, "from", |s| validate::date(s))?;
        origins.from = src.origin(d, "from");
    }
    if let Some(d) = &file.to {
        config.to = src.check(d, "to", |s| validate::date(s))?;
        origins.to = src.origin(d, "to");
    }
    Ok(())
}

fn storage(src: &Source, file: &FileConfig, config: &mut Config) -> Result<(), ConfigError> {
    if let Some(a) = file.adjusted {
        config.adjusted = a;
    }
    if let Some(f) = file.fetch_splits {
        config.fetch_splits = f;
    }
    if let Some(db) = &file.db {
        src.check(db, "db", |s| validate::path(s))?;
        config.db = src.relative(db.get_ref());
        config.db_is_default = false;
    }
    if let Some(l) = &file.log_dir {
        src.check(l, "log_dir", |s| validate::path(s))?;
        config.log_dir = src.relative(l.get_ref());
    }
    Ok(())
}

fn api(src: &Source, api: &FileApi, config: &mut Config) -> Result<(), ConfigError> {
    if let Some(k) = &api.key {
        let key = src.check(k, "api.key", |s| {
            validate::api_key(s)
                .map_err(|m| if s.trim().is_empty() { format!("{m}; remove the line to use the simulator") } else { m })
        })?;
        config.api_key = Some(ApiKey::new(key));
        if let Some(w) = world_readable_warning(src.path) {
            config.warnings.push(w);
        }
    }
    if let Some(u) = &api.base_url {
        config.base_url = Some(src.check(u, "api.base_url", |s| validate::base_url(s))?);
    }
    if let Some(q) = &api.quota_per_min {
        config.quota_per_min = src.check(q, "api.quota_per_min", |v| validate::quota(*v))?;
    }
    if let Some(h) = &api.headroom_pct {
        config.headroom_pct = src.check(h, "api.headroom_pct", |v| validate::headroom_pct(*v))?;
    }
    if let Some(w) = &api.quota_window_secs {
        config.quota_window = src.check(w, "api.quota_window_secs", |v| validate::quota_window_secs(*v))?;
    }
    if let Some(t) = &api.timeout_secs {
        config.timeout = src.check(t, "api.timeout_secs", |v| validate::timeout_secs(*v))?;
    }
    Ok(())
}

fn fixes(src: &Source, fx: &FileFixes, config: &mut Config, origins: &mut Origins) -> Result<(), ConfigError> {
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
        config.concurrency = src.check(c, "fixes.concurrency", |c| match c {
            WorkerCount::Count(n) => validate::concurrency_count(*n),
            WorkerCount::Text(s) => validate::concurrency(s),
        })?;
    }
    if let Some(s) = &fx.stagger_secs {
        config.stagger = src.check(s, "fixes.stagger_secs", |v| validate::stagger_secs(*v))?;
        origins.stagger = src.origin(s, "fixes.stagger_secs");
    }
    Ok(())
}

fn retry(src: &Source, r: &FileRetry, config: &mut Config) -> Result<(), ConfigError> {
    if let Some(a) = &r.max_attempts {
        config.retry.max_attempts = src.check(a, "retry.max_attempts", |v| validate::max_attempts(*v))?;
    }
    if let Some(b) = &r.budget {
        config.retry.budget = src.check(b, "retry.budget", |v| validate::retry_budget(*v))?;
    }
    if let Some(b) = &r.budget_ratio {
        config.retry.budget_ratio = src.check(b, "retry.budget_ratio", |v| validate::budget_ratio(*v))?;
    }
    if let Some(j) = r.jitter {
        config.retry.jitter = j;
    }
    Ok(())
}

fn sim(src: &Source, s: &FileSim, sim: &mut SimOptions) -> Result<(), ConfigError> {
    if let Some(q) = &s.quota {
        sim.quota = Some(src.check(q, "sim.quota", |v| validate::quota(*v))?);
    }
    if let Some(w) = &s.window_secs {
        sim.window = src.check(w, "sim.window_secs", |v| validate::sim_window_secs(*v))?;
    }
    if let Some(l) = &s.latency_ms {
        sim.latency_ms = src.check(l, "sim.latency_ms", |v| validate::latency_ms(*v))?;
    }
    if let Some(l) = &s.latency_ms_per_1k_bars {
        sim.latency_ms_per_1k_bars = src.check(l, "sim.latency_ms_per_1k_bars", |v| validate::latency_per_1k(*v))?;
    }
    if let Some(r) = s.retry_after {
        sim.retry_after = r;
    }
    if let Some(p) = &s.plan_from {
        sim.plan_from = Some(src.check(p, "sim.plan_from", |s| validate::date(s))?);
    }
    if let Some(e) = &s.extra_tickers {
        sim.extra_tickers = src.check(e, "sim.extra_tickers", |v| validate::extra_tickers(*v))?;
    }
    if let Some(seed) = s.seed {
        sim.seed = seed as u64;
    }
    if let Some(st) = &s.stall_secs {
        sim.stall = src.check(st, "sim.stall_secs", |v| validate::stall_secs(*v))?;
    }
    if let Some(table) = &s.faults {
        sim.faults = faults(src, table)?;
    }
    Ok(())
}

fn faults(src: &Source, table: &Spanned<BTreeMap<String, Spanned<f64>>>) -> Result<Faults, ConfigError> {
    let mut faults = Faults::default();
    for (name, value) in table.get_ref() {
        faults.set(name, *value.get_ref()).map_err(|m| src.at(value, &format!("sim.faults.{name}"), m))?;
    }
    validate::faults_total(&faults).map_err(|m| src.at(table, "sim.faults", m))?;
    Ok(faults)
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
