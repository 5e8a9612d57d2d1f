//! `barfill bench`: workloads run step by step on a fresh embedded simulator and an empty
//! database, each step measured against the floor.
//!
//! Three kinds of profile:
//! - the **progression** (`quick`, `seed`, `latency`): the original pipeline's validation
//!   plan, baseline then each fix, against the floor the quota allows;
//! - the **floor** profiles (`universe`, `free`, `options`): realistic ticker lists (for
//!   `options`, a chain listed from reference data) at a quota that binds, the defaults and
//!   a hand-tuned run against the true floor (the fewest requests the simulator's market
//!   allows) and the time the quota needs for it;
//! - **throughput** (`unlimited`): a paid key's regime, the defaults against fixed worker
//!   counts in bars per second, client CPU per bar, writer time, memory and bytes per bar,
//!   beside a bare SQLite insert loop measured in the same run.
//!
//! A step's result embeds the run's [`Report`] whole (its JSON keys flattened into the
//! step's) and adds only what the step knows: its name and settings, the ratios to the
//! floors, the shares of worker time and what was measured around the run.

pub mod charts;
mod markdown;
mod measure;
pub mod quotas;
mod server;
mod step;
pub mod switches;
mod timeline;
mod verdict;
mod workload;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use markdown::to_markdown;
pub use measure::bare_insert_rate;
pub use step::{Measured, PROGRESSION, Step, steps};
pub use verdict::Goal;
pub use workload::{UNKNOWN_NAMES, Workload, free_sample, universe_sample};

use crate::report::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The whole progression in about two minutes: quota and latency compressed.
    Quick,
    /// The original scale: 150 requests/minute, realistic latency; minutes per step.
    Seed,
    /// A quota far above what one worker can use: latency is the limit.
    Latency,
    /// About 300 tickers from the simulator's universe at a quota that binds.
    Universe,
    /// A free key's 5 requests a minute, compressed in time.
    Free,
    /// An options chain of about 500 thin contracts over a quarter at a free key's pace.
    Options,
    /// A paid key: no quota in reach, throughput and cost per bar.
    Unlimited,
    /// Switches in the middle of a run, on the simulator's real 60 s window.
    Switches,
    /// One workload from a free key's quota to a paid plan's.
    Quotas,
}

/// How a profile's steps are chosen, judged and printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Progression,
    Floor,
    Throughput,
    /// A profile with a runner and a report of its own (`switches`, `quotas`).
    Own,
}

impl Profile {
    pub const ALL: [Profile; 9] = [
        Profile::Quick,
        Profile::Seed,
        Profile::Latency,
        Profile::Universe,
        Profile::Free,
        Profile::Options,
        Profile::Unlimited,
        Profile::Switches,
        Profile::Quotas,
    ];

    pub fn parse(s: &str) -> Result<Profile, String> {
        Profile::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
            format!("unknown profile '{s}'; use {}", names.join(", "))
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Seed => "seed",
            Profile::Latency => "latency",
            Profile::Universe => "universe",
            Profile::Free => "free",
            Profile::Options => "options",
            Profile::Unlimited => "unlimited",
            Profile::Switches => "switches",
            Profile::Quotas => "quotas",
        }
    }

    /// One line for `--help`.
    pub fn about(self) -> &'static str {
        match self {
            Profile::Quick => "the fixes one by one against the floor, quota and latency compressed (about 2 minutes)",
            Profile::Seed => "the same progression at the original scale, 150 requests/minute (about 20 minutes)",
            Profile::Latency => "a quota no worker reaches: latency is the limit (follows quick and seed)",
            Profile::Universe => {
                "~300 tickers (thin, liquid, unknown, listed and delisted in range) x 1/minute, 1/day over 2025 \
                 at a quota that binds: requests against the true floor (about 11 minutes)"
            }
            Profile::Free => {
                "a free key's 5 requests a window (window 6 s for 60) on 9 tickers over 2025: requests and \
                 wall time against the floor (about 75 seconds)"
            }
            Profile::Options => {
                "an options chain (SPY expiring in 2025 Q1, strikes 480 to 570: 494 thin contracts) x 1/minute over \
                 the quarter at a free key's 5 requests a window (window 6 s for 60): requests and wall time against \
                 the floor (about 10 minutes a step)"
            }
            Profile::Unlimited => {
                "a paid key: 10 liquid tickers x 1/minute over 2024-2025 (4.8 M bars), defaults against 1, 4, 8, \
                 16 workers: bars/s, client CPU per bar, memory, bytes per bar, beside bare SQLite (3 to 6 minutes)"
            }
            Profile::Switches => {
                "switches in the middle of a run at 150 a real 60 s window: baseline then 2 and 3, 2 off for 15 s, \
                 3 off then on, a 30 s pause, the server's limit halved then restored; time to the new pace, \
                 wall against an oracle, 429s, worker changes, the ETA's error (about 15 minutes)"
            }
            Profile::Quotas => {
                "one workload (10 liquid tickers x 1/minute, 1/day, 2022-01..2024-06) at 5, 60, 150, 360, 1200, 6000/min \
                 and a paid plan: requests against the fewest, wall against the floor time (about 7 minutes)"
            }
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Profile::Quick | Profile::Seed | Profile::Latency => Kind::Progression,
            Profile::Universe | Profile::Free | Profile::Options => Kind::Floor,
            Profile::Unlimited => Kind::Throughput,
            Profile::Switches | Profile::Quotas => Kind::Own,
        }
    }
}

/// What a step cost beyond the report's own figures.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Cost {
    /// Bars stored over wall time, end to end.
    pub bars_per_s: f64,
    /// Process CPU during the step less the simulator's threads.
    pub client_cpu_s: f64,
    pub sim_cpu_s: f64,
    pub client_cpu_us_per_bar: f64,
    /// The database file after a checkpoint, and over the bars stored.
    pub db_bytes: u64,
    pub db_bytes_per_bar: f64,
    /// `bars_per_s` over the bare SQLite insert rate of the same run, where measured.
    pub x_bare_insert: Option<f64>,
}

/// One step: the run's report whole, and what the step adds to it.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    pub name: String,
    /// The setting it ran with, `auto` or a count; `concurrency` is the workers at the end.
    pub concurrency_setting: String,
    pub stagger_s: f64,
    /// Wall time over the profile's `floor_s`.
    pub x_floor: f64,
    /// Requests over the true floor counted after the fact (`floor_requests`).
    pub x_floor_requests: f64,
    pub expected_s: Option<f64>,
    pub vs_baseline_pct: Option<f64>,
    pub api_share: f64,
    pub db_share: f64,
    pub backoff_share: f64,
    pub limiter_share: f64,
    /// Requests the server saw for the workload's tickers that have no bar in range.
    pub no_bar_requests: u64,
    /// When each request went, seconds into the run (the rate chart; not in the JSON).
    #[serde(skip)]
    pub sent_s: Vec<f64>,
    #[serde(flatten)]
    pub cost: Cost,
    #[serde(flatten)]
    pub report: Report,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProfileResult {
    pub profile: String,
    pub workload: String,
    pub quota_per_min: u32,
    pub window_s: f64,
    pub latency: String,
    /// The true floor of the workload: `market::fewest_requests`.
    pub floor_requests: u64,
    /// Seconds the quota needs for `floor_requests`.
    pub floor_s: f64,
    /// Tickers with no bar in range (unknown, renamed or not trading then), and their rows.
    pub no_bar_tickers: Vec<String>,
    pub no_bar_rows: u64,
    /// Rows per second of the bare SQLite loop in this run (the better of one measurement
    /// before the steps and one after), where measured.
    pub bare_insert_rows_per_s: Option<f64>,
    pub bare_insert_samples: Vec<f64>,
    /// The simulator ran as a process of its own (`barfill sim`).
    pub sim_apart: bool,
    pub steps: Vec<StepResult>,
    pub goals: Vec<Goal>,
    pub verdict: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub machine: String,
    /// The load average around the bench: other work on the machine skews every figure.
    pub load: String,
    pub command: String,
    /// The floor of the main profile (the first one run).
    pub floor_s: f64,
    pub steps: Vec<StepResult>,
    pub profiles: Vec<ProfileResult>,
}

fn shares(r: &Report) -> [f64; 4] {
    let total: f64 = r.breakdown().iter().map(|(_, v)| v).sum();
    let f = |x: f64| if total > 0.0 { x / total } else { 0.0 };
    [f(r.api_s), f(r.db_s), f(r.backoff_s), f(r.limiter_s)]
}

pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    format!("{cpu}, {cores} cores, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}

/// The 1, 5 and 15-minute load averages (Linux), as `/proc/loadavg` has them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { 0.0 }
}

/// Where a step stands against the profile's floors and baseline.
struct Context {
    floor_s: f64,
    baseline_s: Option<f64>,
}

fn step_result(step: &Step, report: Report, m: Measured, cx: &Context) -> StepResult {
    let [a, d, b, l] = shares(&report);
    let bars = report.bars as f64;
    let bars_per_s = ratio(bars, report.wall_s);
    let client_cpu_s = m.client_cpu_s;
    let cost = Cost {
        bars_per_s,
        client_cpu_s,
        sim_cpu_s: m.sim_cpu_s,
        client_cpu_us_per_bar: ratio(client_cpu_s * 1e6, bars),
        db_bytes: m.db_bytes,
        db_bytes_per_bar: ratio(m.db_bytes as f64, bars),
        x_bare_insert: None,
    };
    StepResult {
        name: step.name.to_string(),
        concurrency_setting: if step.fixes.parallel { step.concurrency.to_string() } else { "1".into() },
        stagger_s: step.stagger_s,
        x_floor: ratio(report.wall_s, cx.floor_s),
        x_floor_requests: ratio(report.requests as f64, report.floor_requests as f64),
        expected_s: match (step.expected_ratio, cx.baseline_s) {
            (Some(r), Some(base)) => Some(base * r),
            (None, _) if step.name == "best" && cx.floor_s > 1.0 => Some(cx.floor_s),
            _ => None,
        },
        vs_baseline_pct: cx.baseline_s.map(|b| (report.wall_s / b - 1.0) * 100.0),
        api_share: a,
        db_share: d,
        backoff_share: b,
        limiter_share: l,
        no_bar_requests: m.no_bar_requests,
        sent_s: m.sent_s,
        cost,
        report,
    }
}

fn selected(w: &Workload, headroom_pct: f64, only: Option<&[String]>) -> Vec<Step> {
    steps(w, headroom_pct)
        .into_iter()
        .filter(|s| match only {
            Some(list) => list.iter().any(|n| n == s.name),
            None => s.by_default,
        })
        .collect()
}

/// The bare insert rate, measured `when` ("before" or "after" the steps).
fn bare_sample(w: &Workload, scratch: &Path, when: &str, progress: &dyn Fn(&str)) -> anyhow::Result<Option<f64>> {
    if w.bare_insert_rows == 0 {
        return Ok(None);
    }
    let (dir, rows) = (scratch.join("bare"), w.bare_insert_rows);
    // On a thread at the writer's priority, not on the runtime's lowered threads: the
    // same footing as the writer it is compared with.
    let measuring = crate::priority::spawn_unlowered("barfill-bare-insert", move || bare_insert_rate(&dir, rows))?;
    let rate = measuring.join().map_err(|_| anyhow::anyhow!("the bare insert measurement panicked"))??;
    progress(&format!("[{}] bare SQLite insert {when} the steps: {:.0} rows/s", w.profile.name(), rate));
    Ok(Some(rate))
}

pub async fn run_profile(
    w: &Workload,
    only: Option<&[String]>,
    scratch: &Path,
    headroom_pct: f64,
    progress: &dyn Fn(&str),
) -> anyhow::Result<ProfileResult> {
    let universe = w.universe();
    let floor_requests = w.floor_requests(&universe);
    let floor_s = w.floor_s(floor_requests);
    let no_bar_tickers = w.tickers_without_bars(&universe);
    drop(universe);
    let no_bar: HashSet<String> = no_bar_tickers.iter().cloned().collect();
    let mut samples: Vec<f64> = bare_sample(w, scratch, "before", progress)?.into_iter().collect();
    let mut cx = Context { floor_s, baseline_s: None };
    let mut results: Vec<StepResult> = Vec::new();
    for step in selected(w, headroom_pct, only) {
        progress(&format!(
            "[{}] {}: fixes {}, workers {}, stagger {}s",
            w.profile.name(),
            step.name,
            step.fixes.label(),
            if step.fixes.parallel { step.concurrency.to_string() } else { "1".into() },
            step.stagger_s
        ));
        let (report, measured) = step::run_step(w, &step, &no_bar, scratch, progress).await?;
        if step.name == "baseline" {
            cx.baseline_s = Some(report.wall_s);
        }
        let r = step_result(&step, report, measured, &cx);
        progress(&verdict::step_line(&r));
        results.push(r);
    }
    samples.extend(bare_sample(w, scratch, "after", progress)?);
    let bare = samples.iter().copied().reduce(f64::max);
    if let Some(bare) = bare {
        // Every step judged against the better of the two samples.
        results.iter_mut().for_each(|r| r.cost.x_bare_insert = Some(ratio(r.cost.bars_per_s, bare)));
    }
    let mut p = ProfileResult {
        profile: w.profile.name().into(),
        workload: w.describe(),
        quota_per_min: w.quota_per_min,
        window_s: w.window_secs,
        latency: format!("{} ms + {} ms per 1000 bars", w.latency_ms, w.latency_ms_per_1k_bars),
        floor_requests,
        floor_s,
        no_bar_rows: no_bar_tickers.len() as u64 * w.timeframes.len() as u64,
        no_bar_tickers,
        bare_insert_rows_per_s: bare,
        bare_insert_samples: samples,
        sim_apart: w.sim_apart,
        steps: results,
        goals: Vec::new(),
        verdict: String::new(),
    };
    p.goals = verdict::goals(w, &p);
    p.verdict = verdict::verdict(w, &p);
    Ok(p)
}

pub fn write_outputs(dir: &Path, report: &BenchReport) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join("bench.md");
    let json = dir.join("bench.json");
    let charts = write_charts(dir, report).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut text = to_markdown(report);
    if !charts.is_empty() {
        text.push_str("\n## Charts\n\n");
        for c in charts {
            text.push_str(&format!("![{c}]({c})\n\n"));
        }
    }
    std::fs::write(&md, text)?;
    let body = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    std::fs::write(&json, body + "\n")?;
    Ok((md, json))
}

/// Each step's rate over time against the quota, and (where a floor judges the steps) the
/// profile's wall times against it; returns the files' names.
fn write_charts(dir: &Path, report: &BenchReport) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for p in &report.profiles {
        let kind = Profile::parse(&p.profile).map(Profile::kind).unwrap_or(Kind::Progression);
        for s in p.steps.iter().filter(|s| !s.sent_s.is_empty()) {
            let name = charts::file_name(&format!("rate-{}", p.profile), &s.name);
            let series = charts::rate_series(&s.sent_s, p.window_s, s.report.wall_s);
            let quota = p.quota_per_min as f64;
            let title = format!("{}: {} (fixes {})", p.profile, s.name, s.report.fixes.label());
            if kind != Kind::Throughput {
                charts::rate_chart(&dir.join(&name), &title, &series, quota, p.window_s, &[])?;
                names.push(name);
            }
        }
        if kind != Kind::Throughput && !p.steps.is_empty() {
            let name = format!("wall-{}.svg", p.profile);
            let bars: Vec<(String, f64, f64)> =
                p.steps.iter().map(|s| (s.name.clone(), s.report.wall_s, p.floor_s)).collect();
            charts::wall_chart(&dir.join(&name), &format!("{}: wall against the floor", p.profile), "floor", &bars)?;
            names.push(name);
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests;
