//! `bench --profile switches`: what a user sees when switching in the middle of a run.
//! Each scenario starts a run on a fresh simulator whose quota is counted over its real
//! 60 s window, then plays a script through the engine's command channel, the path the
//! dashboard's keys take (`2`, `3`, `p`), or changes the simulator's own limit. Per
//! scenario: seconds from each switch until the accepted rate is within 5 % of the new
//! setting's best pace, wall time against an oracle that runs each stretch at its best
//! possible pace, 429s after the switch, auto's worker changes, and the ETA's error 15 s
//! after the switch.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::timeline::{Bounds, Timeline, oracle_end, secs_to_rate};
use crate::calendar;
use crate::config::{Concurrency, Config, Dirs, Fix, Fixes};
use crate::engine::{self, Command, Source};
use crate::sim::market::Universe;
use crate::sim::{Sim, SimOptions};

/// The server's window and limit: Polygon's free-tier shape at the seed's quota.
const WINDOW_S: f64 = 60.0;
const LIMIT: u32 = 150;

/// What a scenario does at a second of its run.
#[derive(Clone, Debug)]
pub enum Act {
    Send(Command),
    /// The simulator's limit, requests a window, from now on.
    Limit(u32),
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: &'static str,
    pub about: &'static str,
    pub start: Fixes,
    pub script: Vec<(f64, Act)>,
    /// The switches judged: when, and the best pace the setting then allows (a minute).
    pub judged: Vec<(f64, f64)>,
}

pub fn scenarios() -> Vec<Scenario> {
    let on = |f| Act::Send(Command::SetFix(f, true));
    let off = |f| Act::Send(Command::SetFix(f, false));
    let limit = LIMIT as f64;
    vec![
        Scenario {
            name: "baseline-then-2-3",
            about: "baseline (fixes none) for 20 s, then 2 and 3",
            start: Fixes::NONE,
            script: vec![(20.0, on(Fix::Batching)), (20.5, on(Fix::Parallel))],
            judged: vec![(20.0, limit)],
        },
        Scenario {
            name: "2-off-15s",
            about: "all on; 2 off at 30 s for 15 s, then on again",
            start: Fixes::ALL,
            script: vec![(30.0, off(Fix::Batching)), (45.0, on(Fix::Batching))],
            judged: vec![(45.0, limit)],
        },
        Scenario {
            name: "3-off-then-on",
            about: "all on; 3 off at 30 s, on again at 60 s",
            start: Fixes::ALL,
            script: vec![(30.0, off(Fix::Parallel)), (60.0, on(Fix::Parallel))],
            judged: vec![(60.0, limit)],
        },
        Scenario {
            name: "pause-30s",
            about: "all on; paused at 30 s for 30 s",
            start: Fixes::ALL,
            script: vec![(30.0, Act::Send(Command::Pause)), (60.0, Act::Send(Command::Resume))],
            judged: vec![(60.0, limit)],
        },
        Scenario {
            name: "limit-halved",
            about: "all on; the server's limit halved at 30 s, restored at 120 s",
            start: Fixes::ALL,
            script: vec![(30.0, Act::Limit(LIMIT / 2)), (120.0, Act::Limit(LIMIT))],
            judged: vec![(30.0, limit / 2.0), (120.0, limit)],
        },
    ]
}

/// The workload every scenario fetches: 300 tickers' daily bars over two years (one
/// request each; more tickers than days would go grouped) and ten liquid tickers' minute
/// bars over 2024 (five full pages each with fix 2, fifty without).
pub fn workload() -> (Vec<String>, Vec<&'static str>, &'static str, &'static str) {
    let (from, to) = ("2023-01-03", "2024-12-31");
    let u = Universe::new(super::workload::UNIVERSE_EXTRA);
    let (f, t) = (calendar::parse_date(from).expect("date"), calendar::parse_date(to).expect("date"));
    let mut symbols = super::workload::trading_throughout(&u, f, t, 300);
    symbols.truncate(300);
    (symbols, vec!["1/day"], from, to)
}

#[derive(Clone, Debug, Serialize)]
pub struct SwitchResult {
    pub at_s: f64,
    pub target_per_min: f64,
    /// Seconds until the accepted rate over 15 s was within 5 % of the target.
    pub secs_to_rate: Option<f64>,
    pub rate_limited_after: u64,
    /// |ETA - time really left| / time left, 15 s after the switch.
    pub eta_error_15s: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ScenarioResult {
    pub name: String,
    pub about: String,
    pub wall_s: f64,
    pub oracle_s: f64,
    pub x_oracle: f64,
    pub requests: u64,
    pub rate_limit_hits: u64,
    pub pace_cuts: u32,
    pub taught_429: u64,
    pub stale_429: u64,
    pub worker_changes: u64,
    pub bars: u64,
    pub status: String,
    pub switches: Vec<SwitchResult>,
    /// When each request went, seconds into the run, and the script's moments (the chart).
    #[serde(skip)]
    pub sent_s: Vec<f64>,
    #[serde(skip)]
    pub marks: Vec<(f64, String)>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SwitchesReport {
    pub machine: String,
    pub load: String,
    pub workload: String,
    pub limit_per_window: u32,
    pub window_s: f64,
    pub scenarios: Vec<ScenarioResult>,
}

fn config(dir: &Path, start: Fixes, symbols: &[String], tfs: &[&str], from: &str, to: &str) -> Config {
    let mut c = Config::defaults(&Dirs { config: dir.to_path_buf(), data: dir.to_path_buf() });
    c.db = dir.join("switches.db");
    c.db_is_default = false;
    c.symbols = symbols.to_vec();
    c.timeframes = tfs.iter().map(|t| t.parse().expect("timeframe")).collect();
    c.from = calendar::parse_date(from).expect("date");
    c.to = calendar::parse_date(to).expect("date");
    c.quota_per_min = LIMIT;
    c.quota_window = std::time::Duration::from_secs_f64(WINDOW_S);
    c.fixes = start;
    c.concurrency = Concurrency::Auto;
    c.stagger = std::time::Duration::ZERO;
    c.fetch_splits = false;
    c.retry.budget = 1e9;
    c
}

/// Runs one scenario on a fresh simulator and database.
pub async fn run_scenario(
    s: &Scenario,
    scratch: &Path,
    sim_options: &SimOptions,
    progress: &dyn Fn(&str),
) -> anyhow::Result<ScenarioResult> {
    let dir = scratch.join(s.name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let sim = Arc::new(Sim::start_local(sim_options.clone()).await?);
    let (symbols, tfs, from, to) = workload();
    let config = config(&dir, s.start, &symbols, &tfs, from, to);
    let (store, plan) = engine::prepare(&config)?;
    let source = Source { label: "simulator".into(), base_url: sim.base_url(), key: None };
    let t0 = Instant::now();
    let handle = engine::start(Arc::new(config), source, store, plan)?;
    let (commands, script, steer) = (handle.commands.clone(), s.script.clone(), sim.clone());
    let director = tokio::spawn(async move {
        for (at, act) in script {
            tokio::time::sleep_until((t0 + std::time::Duration::from_secs_f64(at)).into()).await;
            match act {
                Act::Send(c) => {
                    let _ = commands.send(c);
                }
                Act::Limit(n) => steer.set_quota(n),
            }
        }
    });
    let mut timeline = Timeline::default();
    let mut told = Instant::now();
    let report = handle
        .drive(|e, _| {
            if told.elapsed().as_secs() >= 10 {
                told = Instant::now();
                progress(&format!("  {}: {:.0}s in", s.name, t0.elapsed().as_secs_f64()));
            }
            timeline.push(t0.elapsed().as_secs_f64(), e);
        })
        .await?;
    director.abort();
    let result = judge(s, &timeline, t0, &report, sim_options);
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result)
}

fn judge(
    s: &Scenario,
    timeline: &Timeline,
    t0: Instant,
    report: &crate::report::Report,
    o: &SimOptions,
) -> ScenarioResult {
    let (ok, limited) = timeline.sends(t0);
    let end = report.wall_s.max(timeline.end());
    let switches: Vec<SwitchResult> = s
        .judged
        .iter()
        .enumerate()
        .map(|(i, (at, target))| {
            let until = s.judged.get(i + 1).map_or(end, |(t, _)| *t);
            SwitchResult {
                at_s: *at,
                target_per_min: *target,
                secs_to_rate: secs_to_rate(&ok, *at, *target, until),
                rate_limited_after: limited.iter().filter(|t| **t >= *at && **t < until).count() as u64,
                eta_error_15s: timeline.eta_error_at(at + 15.0),
            }
        })
        .collect();
    let oracle_s = oracle(s, &ok, report, o);
    ScenarioResult {
        name: s.name.into(),
        about: s.about.into(),
        wall_s: report.wall_s,
        oracle_s,
        x_oracle: if oracle_s > 0.0 { report.wall_s / oracle_s } else { 0.0 },
        requests: report.requests,
        rate_limit_hits: report.rate_limit_hits,
        pace_cuts: report.pace_cuts,
        taught_429: report.taught_429,
        stale_429: report.stale_429,
        worker_changes: timeline.auto_changes().len() as u64,
        bars: report.bars,
        status: report.status.to_string(),
        switches,
        sent_s: ok.iter().chain(&limited).copied().collect(),
        marks: s.script.iter().map(|(t, a)| (*t, mark(a))).collect(),
    }
}

/// The scenario's best possible end: before its first change the run as it went (a
/// baseline stretch cannot be paced by anyone), then every request the run still needed
/// at the server's limit as its window allows, held while paused, one worker's latency
/// apart while fix 3 is off.
fn oracle(s: &Scenario, ok: &[f64], report: &crate::report::Report, o: &SimOptions) -> f64 {
    let first = if s.start == Fixes::NONE { s.script.first().map_or(0.0, |(t, _)| *t) } else { 0.0 };
    let before: Vec<f64> = ok.iter().copied().filter(|t| *t < first).collect();
    let n = ok.len() - before.len();
    let limits: Vec<(f64, f64)> = s
        .script
        .iter()
        .filter_map(|(t, a)| match a {
            Act::Limit(n) => Some((*t, *n as f64)),
            _ => None,
        })
        .collect();
    let limit_at = |t: f64| limits.iter().rev().find(|(at, _)| *at <= t).map_or(LIMIT as f64, |(_, n)| *n);
    let span = |a: &Act, b: &Act| -> Vec<(f64, f64)> {
        let times = |x: &Act| {
            s.script.iter().filter(|(_, y)| format!("{y:?}") == format!("{x:?}")).map(|(t, _)| *t).collect::<Vec<_>>()
        };
        times(a).into_iter().zip(times(b)).collect()
    };
    let pauses = span(&Act::Send(Command::Pause), &Act::Send(Command::Resume));
    let single =
        span(&Act::Send(Command::SetFix(Fix::Parallel, false)), &Act::Send(Command::SetFix(Fix::Parallel, true)));
    let held_until = |t: f64| pauses.iter().find(|(a, b)| (*a..*b).contains(&t)).map(|(_, b)| *b);
    // One worker waits a whole answer: the run's own mean request time.
    let latency = if report.requests > 0 { report.api_s / report.requests as f64 } else { 0.0 };
    let min_gap_at = |t: f64| if single.iter().any(|(a, b)| (*a..*b).contains(&t)) { latency } else { 0.0 };
    let bounds = Bounds { window_s: WINDOW_S, limit_at: &limit_at, held_until: &held_until, min_gap_at: &min_gap_at };
    oracle_end(&before, first, n, &bounds, o.latency_ms as f64 / 1000.0)
}

/// A script's act in a few words, for the chart.
fn mark(a: &Act) -> String {
    match a {
        Act::Send(Command::SetFix(f, on)) => format!("{} {}", f.number(), if *on { "on" } else { "off" }),
        Act::Send(Command::Pause) => "pause".into(),
        Act::Send(Command::Resume) => "resume".into(),
        Act::Send(c) => format!("{c:?}"),
        Act::Limit(n) => format!("limit {n}"),
    }
}

/// Each scenario's rate against the server's limit, with its switches marked, and every
/// scenario's wall time against its oracle.
pub fn write_charts(dir: &Path, r: &SwitchesReport) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for x in &r.scenarios {
        let name = super::charts::file_name("rate-switches", &x.name);
        let series = super::charts::rate_series(&x.sent_s, r.window_s, x.wall_s);
        let title = format!("switches: {} ({})", x.name, x.about);
        super::charts::rate_chart(&dir.join(&name), &title, &series, r.limit_per_window as f64, r.window_s, &x.marks)?;
        names.push(name);
    }
    let bars: Vec<(String, f64, f64)> = r.scenarios.iter().map(|x| (x.name.clone(), x.wall_s, x.oracle_s)).collect();
    super::charts::wall_chart(&dir.join("wall-switches.svg"), "switches: wall against the oracle", "oracle", &bars)?;
    names.push("wall-switches.svg".into());
    Ok(names)
}

/// The simulator the scenarios run against: its default latency, the limit over a real
/// window, and the bench universe.
pub fn sim_options() -> SimOptions {
    SimOptions {
        quota: Some(LIMIT),
        window: std::time::Duration::from_secs_f64(WINDOW_S),
        extra_tickers: super::workload::UNIVERSE_EXTRA,
        ..SimOptions::default()
    }
}

pub async fn run(only: Option<&[String]>, scratch: &Path, progress: &dyn Fn(&str)) -> anyhow::Result<SwitchesReport> {
    let (symbols, tfs, from, to) = workload();
    let load = super::load_average();
    let mut out = Vec::new();
    for s in scenarios().iter().filter(|s| only.is_none_or(|l| l.iter().any(|n| n == s.name))) {
        progress(&format!("[switches] {}: {}", s.name, s.about));
        let r = run_scenario(s, scratch, &sim_options(), progress).await?;
        progress(&line(&r));
        out.push(r);
    }
    Ok(SwitchesReport {
        machine: super::machine(),
        load: format!("{load} at the start, {} at the end", super::load_average()),
        workload: format!("{} tickers x {} ({from} .. {to})", symbols.len(), tfs.join(", ")),
        limit_per_window: LIMIT,
        window_s: WINDOW_S,
        scenarios: out,
    })
}

fn secs(x: Option<f64>) -> String {
    x.map_or("never".into(), |s| format!("{s:.1}s"))
}

fn pct(x: Option<f64>) -> String {
    x.map_or("-".into(), |e| format!("{:.0}%", e * 100.0))
}

fn line(r: &ScenarioResult) -> String {
    let sw: Vec<String> = r
        .switches
        .iter()
        .map(|s| {
            format!(
                "at {:.0}s: {} to {:.0}/min, {} 429s after, ETA error {} at +15s",
                s.at_s,
                secs(s.secs_to_rate),
                s.target_per_min,
                s.rate_limited_after,
                pct(s.eta_error_15s)
            )
        })
        .collect();
    format!(
        "  {}: {} in {:.1}s against an oracle's {:.1}s = {:.2}x; {} requests, {} cuts, {} worker changes; {}",
        r.name,
        r.status,
        r.wall_s,
        r.oracle_s,
        r.x_oracle,
        r.requests,
        r.pace_cuts,
        r.worker_changes,
        sw.join("; ")
    )
}

pub fn to_markdown(r: &SwitchesReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# barfill bench: switches\n\nMachine: {}  \nLoad average (1, 5, 15 min): {}  \nWorkload: {}; the \
         simulator takes {} requests in any {}s window (barfill's quota 150/min, 2 % headroom).\n",
        r.machine, r.load, r.workload, r.limit_per_window, r.window_s
    );
    let _ = writeln!(
        s,
        "| scenario | wall | oracle | x oracle | requests | 429s (taught / stale) | cuts | worker changes | switch | to within 5 % of | 429s after | ETA error +15 s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for x in &r.scenarios {
        for (i, sw) in x.switches.iter().enumerate() {
            let head = if i == 0 {
                format!(
                    "{} ({}) | {:.1}s | {:.1}s | {:.2}x | {} | {} ({} / {}) | {} | {}",
                    x.name,
                    x.about,
                    x.wall_s,
                    x.oracle_s,
                    x.x_oracle,
                    x.requests,
                    x.rate_limit_hits,
                    x.taught_429,
                    x.stale_429,
                    x.pace_cuts,
                    x.worker_changes
                )
            } else {
                " | | | | | | | ".to_string()
            };
            let _ = writeln!(
                s,
                "| {head} | {:.0}s | {} to {:.0}/min | {} | {} |",
                sw.at_s,
                secs(sw.secs_to_rate),
                sw.target_per_min,
                sw.rate_limited_after,
                pct(sw.eta_error_15s)
            );
        }
    }
    s
}
