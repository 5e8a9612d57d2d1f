//! `barfill bench`: the original pipeline's validation plan as one command. The same
//! workload runs once per step (baseline, +fix 1, +fix 1+2, +fix 1+2+3, best) on a fresh
//! embedded simulator and an empty database, and every step is measured against the floor
//! the quota allows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::calendar;
use crate::calendar::Range;
use crate::config::{Config, Dirs, Fixes};
use crate::engine::{self, Event, Source};
use crate::plan::{self, Plan};
use crate::report::{Report, share};
use crate::sim::{Sim, SimOptions};

/// The original plan's timings: baseline 487.2 s, then ~430, ~380 and ~240 s.
const ORIGINAL_BASELINE_S: f64 = 487.2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The whole progression in about two minutes: quota and latency compressed.
    Quick,
    /// The original scale: 150 requests/minute, realistic latency; minutes per step.
    Seed,
    /// A quota far above what one worker can use: latency is the limit.
    Latency,
}

impl Profile {
    pub fn parse(s: &str) -> Result<Profile, String> {
        match s {
            "quick" => Ok(Profile::Quick),
            "seed" => Ok(Profile::Seed),
            "latency" => Ok(Profile::Latency),
            _ => Err(format!("unknown profile '{s}'; use quick, seed or latency")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Profile::Quick => "quick",
            Profile::Seed => "seed",
            Profile::Latency => "latency",
        }
    }
}

/// A workload and the server it runs against.
#[derive(Clone, Debug)]
pub struct Workload {
    pub profile: Profile,
    pub symbols: Vec<String>,
    pub timeframes: Vec<&'static str>,
    pub from: &'static str,
    pub to: &'static str,
    pub quota_per_min: u32,
    pub window_secs: f64,
    pub latency_ms: u64,
    pub latency_ms_per_1k_bars: f64,
}

impl Workload {
    pub fn for_profile(p: Profile) -> Workload {
        let five = ["AAPL", "MSFT", "NVDA", "SPY", "TSLA"].iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let all_tf = vec!["1/minute", "5/minute", "1/hour", "1/day"];
        match p {
            // 1200/min enforced over 10 s windows: the quota binds within seconds, and a
            // single worker paging the whole range at 5000 bars outruns it.
            Profile::Quick => Workload {
                profile: p,
                symbols: five,
                timeframes: all_tf,
                from: "2024-01-01",
                to: "2024-12-31",
                quota_per_min: 1200,
                window_secs: 10.0,
                latency_ms: 25,
                latency_ms_per_1k_bars: 2.5,
            },
            Profile::Seed => Workload {
                profile: p,
                symbols: five,
                timeframes: all_tf,
                from: crate::config::DEFAULT_FROM,
                to: crate::config::DEFAULT_TO,
                quota_per_min: 150,
                window_secs: 60.0,
                latency_ms: 100,
                latency_ms_per_1k_bars: 10.0,
            },
            Profile::Latency => Workload {
                profile: p,
                symbols: five[..3].to_vec(),
                timeframes: vec!["1/minute", "1/hour"],
                from: "2024-01-01",
                to: "2024-12-31",
                quota_per_min: 60_000,
                window_secs: 60.0,
                latency_ms: 250,
                latency_ms_per_1k_bars: 10.0,
            },
        }
    }

    fn range(&self) -> Range {
        Range { from: calendar::parse_date(self.from).unwrap(), to: calendar::parse_date(self.to).unwrap() }
    }

    pub fn plan(&self) -> Plan {
        let tfs: Vec<_> = self.timeframes.iter().map(|t| t.parse().unwrap()).collect();
        Plan::new(&self.symbols, &tfs, self.range(), &Default::default())
    }

    /// Seconds the simulator takes to answer a full `limit=50000` minute page.
    pub fn full_page_latency_s(&self) -> f64 {
        (self.latency_ms as f64 + self.latency_ms_per_1k_bars * plan::DAYS_PER_MINUTE_WINDOW as f64 * 0.96) / 1000.0
    }

    /// Little's law: requests in flight = rate x latency, plus one so a worker is always
    /// ready when the pacer opens.
    pub fn best_concurrency(&self, headroom_pct: f64) -> u32 {
        let per_s = self.quota_per_min as f64 * (1.0 - headroom_pct / 100.0) / 60.0;
        ((per_s * self.full_page_latency_s()).ceil() as u32 + 1).clamp(1, 16)
    }

    fn sim_options(&self) -> SimOptions {
        SimOptions {
            quota: Some(((self.quota_per_min as f64 * self.window_secs / 60.0).round() as u32).max(1)),
            window: Duration::from_secs_f64(self.window_secs),
            latency_ms: self.latency_ms,
            latency_ms_per_1k_bars: self.latency_ms_per_1k_bars,
            ..SimOptions::fast()
        }
    }
}

#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    pub fixes: Fixes,
    pub concurrency: u32,
    pub stagger_s: f64,
    /// The original plan's expectation, as a share of the baseline.
    pub expected_ratio: Option<f64>,
}

pub const STEP_NAMES: [&str; 5] = ["baseline", "fix1", "fix1+2", "fix1+2+3", "best"];

pub fn steps(w: &Workload, headroom_pct: f64) -> Vec<Step> {
    let fx = |b, g, p| Fixes { backoff: b, batching: g, parallel: p };
    vec![
        Step { name: "baseline", fixes: Fixes::NONE, concurrency: 1, stagger_s: 0.0, expected_ratio: Some(1.0) },
        Step {
            name: "fix1",
            fixes: fx(true, false, false),
            concurrency: 1,
            stagger_s: 0.0,
            expected_ratio: Some(430.0 / ORIGINAL_BASELINE_S),
        },
        Step {
            name: "fix1+2",
            fixes: fx(true, true, false),
            concurrency: 1,
            stagger_s: 0.0,
            expected_ratio: Some(380.0 / ORIGINAL_BASELINE_S),
        },
        Step {
            name: "fix1+2+3",
            fixes: Fixes::ALL,
            concurrency: 3,
            stagger_s: 5.0,
            expected_ratio: Some(240.0 / ORIGINAL_BASELINE_S),
        },
        Step {
            name: "best",
            fixes: Fixes::ALL,
            concurrency: w.best_concurrency(headroom_pct),
            stagger_s: 0.0,
            expected_ratio: None,
        },
    ]
}

#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    pub name: String,
    pub fixes: String,
    pub concurrency: u32,
    pub stagger_s: f64,
    pub wall_s: f64,
    pub x_floor: f64,
    pub expected_s: Option<f64>,
    pub vs_baseline_pct: Option<f64>,
    pub api_s: f64,
    pub db_s: f64,
    pub backoff_s: f64,
    pub limiter_s: f64,
    pub api_share: f64,
    pub db_share: f64,
    pub backoff_share: f64,
    pub limiter_share: f64,
    pub requests: u64,
    pub rate_limit_hits: u64,
    pub retries: u64,
    pub failed_jobs: u64,
    pub success_rate: f64,
    pub bars: u64,
    pub requests_per_min: f64,
    pub quota_per_min: u32,
    pub cpu_pct: f64,
    pub peak_rss_mb: f64,
    pub status: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct ProfileResult {
    pub profile: String,
    pub workload: String,
    pub quota_per_min: u32,
    pub window_s: f64,
    pub latency: String,
    pub floor_requests: u64,
    pub floor_s: f64,
    pub steps: Vec<StepResult>,
    pub verdict: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub machine: String,
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

/// Linux lets a process reset its peak-RSS mark, so each step reports its own peak.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
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

/// Runs one step on a fresh simulator and an empty database.
async fn run_step(w: &Workload, step: &Step, scratch: &Path, progress: &dyn Fn(&str)) -> anyhow::Result<Report> {
    let sim = Sim::start_local(w.sim_options()).await?;
    let dir = scratch.join(step.name.replace('+', "_"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let mut config = Config::defaults(&Dirs { config: dir.clone(), data: dir.clone() });
    config.db = dir.join("bench.db");
    config.db_is_default = false;
    config.symbols = w.symbols.clone();
    config.timeframes = w.timeframes.iter().map(|t| t.parse().unwrap()).collect();
    config.from = calendar::parse_date(w.from).unwrap();
    config.to = calendar::parse_date(w.to).unwrap();
    config.quota_per_min = w.quota_per_min;
    config.fixes = step.fixes;
    config.concurrency = crate::config::Concurrency::Fixed(step.concurrency);
    config.stagger = Duration::from_secs_f64(step.stagger_s);
    // The baseline must be allowed to flounder as the original did, not be cut short.
    config.retry.budget = 1e9;
    let (store, plan) = engine::prepare(&config)?;
    let source = Source { label: "simulator".into(), base_url: sim.base_url(), key: None };
    reset_peak_rss();
    let handle = engine::start(Arc::new(config), source, store, plan)?;
    let mut last = std::time::Instant::now();
    let mut tally = crate::engine::Tally::default();
    let report = handle
        .drive(|e, _| {
            tally.apply(&e);
            if matches!(e, Event::Request(_)) && last.elapsed() > Duration::from_secs(5) {
                last = std::time::Instant::now();
                progress(&format!(
                    "  {}: {} requests, {} 429s, {} bars so far",
                    step.name, tally.requests, tally.rate_limit_hits, tally.bars
                ));
            }
        })
        .await?;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

fn step_result(step: &Step, r: &Report, floor_s: f64, baseline_s: Option<f64>) -> StepResult {
    let [a, d, b, l] = shares(r);
    StepResult {
        name: step.name.to_string(),
        fixes: r.fixes.to_string(),
        concurrency: r.concurrency,
        stagger_s: step.stagger_s,
        wall_s: r.wall_s,
        x_floor: if floor_s > 0.0 { r.wall_s / floor_s } else { 0.0 },
        expected_s: match (step.expected_ratio, baseline_s) {
            (Some(ratio), Some(base)) => Some(base * ratio),
            (None, _) if floor_s > 1.0 => Some(floor_s),
            (None, _) => None,
            _ => None,
        },
        vs_baseline_pct: baseline_s.map(|b| (r.wall_s / b - 1.0) * 100.0),
        api_s: r.api_s,
        db_s: r.db_s,
        backoff_s: r.backoff_s,
        limiter_s: r.limiter_s,
        api_share: a,
        db_share: d,
        backoff_share: b,
        limiter_share: l,
        requests: r.requests,
        rate_limit_hits: r.rate_limit_hits,
        retries: r.retries,
        failed_jobs: r.failed_jobs,
        success_rate: r.success_rate,
        bars: r.bars,
        requests_per_min: r.requests_per_min,
        quota_per_min: r.quota_per_min,
        cpu_pct: r.cpu_pct,
        peak_rss_mb: r.peak_rss_mb,
        status: r.status.to_string(),
    }
}

/// Why the best step is where it is relative to the floor.
fn verdict(w: &Workload, floor_s: f64, best: Option<&StepResult>, one_worker: Option<&StepResult>) -> String {
    let Some(b) = best else { return "the best step was not run".into() };
    if w.profile == Profile::Latency {
        let speedup = one_worker.map(|o| o.wall_s / b.wall_s).unwrap_or(0.0);
        return format!(
            "latency-bound: the quota floor is {floor_s:.1}s but each request takes ~{:.2}s; {} workers ran {speedup:.1}x faster than one. Here fix 3 is what matters.",
            w.full_page_latency_s(),
            b.concurrency
        );
    }
    let gap = b.wall_s - floor_s;
    let pct = gap / floor_s * 100.0;
    if b.rate_limit_hits == 0 && pct <= 5.0 {
        return format!(
            "best landed {pct:.1}% above the floor with no 429 (the pacer stays 2% under the quota on purpose)."
        );
    }
    let causes = [
        ("429 backoff", b.backoff_s, b.rate_limit_hits > 0),
        ("request latency (too few workers in flight)", b.api_s / b.concurrency.max(1) as f64, true),
        ("the pacer's headroom and the tail of the last requests", b.limiter_s / b.concurrency.max(1) as f64, true),
        ("database writes", b.db_s, true),
    ];
    let (name, secs, _) =
        causes.iter().filter(|c| c.2).max_by(|x, y| x.1.total_cmp(&y.1)).copied().unwrap_or(("unknown", 0.0, true));
    format!(
        "best is {pct:.1}% ({gap:.1}s) above the floor with {} 429s; the largest wait was {name} ({secs:.1}s per worker).",
        b.rate_limit_hits
    )
}

pub async fn run_profile(
    w: &Workload,
    only: Option<&[String]>,
    scratch: &Path,
    headroom_pct: f64,
    progress: &dyn Fn(&str),
) -> anyhow::Result<ProfileResult> {
    let plan = w.plan();
    let floor_requests = plan.floor_requests();
    let floor_s = plan::seconds_at_quota(floor_requests, w.quota_per_min as f64);
    let mut results: Vec<StepResult> = Vec::new();
    let mut baseline_s = None;
    for step in steps(w, headroom_pct) {
        let wanted = match only {
            Some(list) => list.iter().any(|s| s == step.name),
            None => w.profile != Profile::Latency || !matches!(step.name, "baseline" | "fix1"),
        };
        if !wanted {
            continue;
        }
        progress(&format!(
            "[{}] {}: fixes {}, {} worker(s), stagger {}s",
            w.profile.name(),
            step.name,
            step.fixes.label(),
            if step.fixes.parallel { step.concurrency } else { 1 },
            step.stagger_s
        ));
        let report = run_step(w, &step, scratch, progress).await?;
        if step.name == "baseline" {
            baseline_s = Some(report.wall_s);
        }
        let r = step_result(&step, &report, floor_s, baseline_s);
        progress(&format!(
            "  {}: {:.1}s ({:.2}x floor), {} requests, {} 429s, success {:.1}%",
            r.name,
            r.wall_s,
            r.x_floor,
            r.requests,
            r.rate_limit_hits,
            r.success_rate * 100.0
        ));
        results.push(r);
    }
    let best = results.iter().find(|s| s.name == "best");
    let one = results.iter().find(|s| s.name == "fix1+2");
    let mut verdict = verdict(w, floor_s, best, one);
    // The original success criteria, for the step that had all the original fixes.
    if let Some(all) = results.iter().find(|s| s.name == "fix1+2+3")
        && let Some(base) = baseline_s
    {
        let faster = (1.0 - all.wall_s / base) * 100.0;
        let mark = |ok: bool| if ok { "met" } else { "MISSED" };
        verdict.push_str(&format!(
            " The original criteria for fix 1+2+3: {faster:.0}% faster than the baseline (at least 30%: {}), success {:.1}% (above 99%: {}), CPU {:.0}% (under 80%: {}), memory {:.0} MB (under 2 GB: {}).",
            mark(faster >= 30.0),
            all.success_rate * 100.0,
            mark(all.success_rate > 0.99),
            all.cpu_pct,
            mark(all.cpu_pct < 80.0),
            all.peak_rss_mb,
            mark(all.peak_rss_mb < 2048.0)
        ));
    }
    Ok(ProfileResult {
        profile: w.profile.name().into(),
        workload: format!("{} symbols x {} ({} .. {})", w.symbols.len(), w.timeframes.join(", "), w.from, w.to),
        quota_per_min: w.quota_per_min,
        window_s: w.window_secs,
        latency: format!("{} ms + {} ms per 1000 bars", w.latency_ms, w.latency_ms_per_1k_bars),
        floor_requests,
        floor_s,
        steps: results,
        verdict,
    })
}

pub fn to_markdown(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# barfill bench\n\nMachine: {}  \nCommand: `{}`\n", r.machine, r.command);
    for p in &r.profiles {
        let _ = writeln!(
            s,
            "## Profile `{}`\n\nWorkload: {}; quota {}/min enforced over {}s windows; latency {}.  \nFloor: {} requests at the quota = **{:.1}s**.\n",
            p.profile, p.workload, p.quota_per_min, p.window_s, p.latency, p.floor_requests, p.floor_s
        );
        let latency_bound = p.profile == Profile::Latency.name();
        let one_worker = p.steps.iter().find(|st| st.concurrency == 1).map(|st| st.wall_s);
        let _ = writeln!(
            s,
            "| step | fixes | workers | wall | {} | expected (original plan) | vs baseline | requests | 429s | retries | success | req/min (quota) |",
            if latency_bound { "speed-up vs 1 worker" } else { "x floor" }
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for st in &p.steps {
            let relative = match (latency_bound, one_worker) {
                (true, Some(one)) => format!("{:.1}x", one / st.wall_s),
                (true, None) => "-".into(),
                (false, _) => format!("{:.2}", st.x_floor),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.1}s | {} | {} | {} | {} | {} | {} | {:.1}% | {:.0} ({}) |",
                st.name,
                st.fixes,
                st.concurrency,
                st.wall_s,
                relative,
                st.expected_s.map(|e| format!("{e:.1}s")).unwrap_or_else(|| "-".into()),
                st.vs_baseline_pct.map(|v| format!("{v:+.0}%")).unwrap_or_else(|| "-".into()),
                st.requests,
                st.rate_limit_hits,
                st.retries,
                st.success_rate * 100.0,
                st.requests_per_min,
                st.quota_per_min
            );
        }
        let _ = writeln!(s, "\nWhere the worker time went (seconds summed over workers, share of the four):\n");
        let _ = writeln!(s, "| step | Polygon API | DB inserts | backoff waits | limiter waits | CPU | peak memory |");
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for st in &p.steps {
            let total = st.api_s + st.db_s + st.backoff_s + st.limiter_s;
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {:.0}% | {:.0} MB |",
                st.name,
                share(st.api_s, total),
                share(st.db_s, total),
                share(st.backoff_s, total),
                share(st.limiter_s, total),
                st.cpu_pct,
                st.peak_rss_mb
            );
        }
        let _ = writeln!(s, "\n{}\n", p.verdict);
    }
    s
}

pub fn write_outputs(dir: &Path, report: &BenchReport) -> std::io::Result<(PathBuf, PathBuf)> {
    std::fs::create_dir_all(dir)?;
    let md = dir.join("bench.md");
    let json = dir.join("bench.json");
    std::fs::write(&md, to_markdown(report))?;
    std::fs::write(&json, serde_json::to_string_pretty(report).expect("serialisable") + "\n")?;
    Ok((md, json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_of_the_profiles() {
        // quick: 2024 has 252 sessions; per symbol 3 intraday rows x ceil(252*960/49920)=5,
        // plus 1 daily = 16.
        let q = Workload::for_profile(Profile::Quick);
        assert_eq!(q.plan().floor_requests(), 5 * 16);
        assert_eq!(q.best_concurrency(2.0), 4);
        assert_eq!(q.sim_options().quota, Some(200));
        let l = Workload::for_profile(Profile::Latency);
        assert_eq!(l.best_concurrency(2.0), 16);
    }

    #[test]
    fn steps_follow_the_original_plan() {
        let q = Workload::for_profile(Profile::Quick);
        let names: Vec<_> = steps(&q, 2.0).iter().map(|s| s.name).collect();
        assert_eq!(names, STEP_NAMES);
        let s = steps(&q, 2.0);
        assert_eq!(s[0].fixes, Fixes::NONE);
        assert_eq!(s[3].concurrency, 3);
        assert_eq!(s[3].stagger_s, 5.0);
        assert!((s[3].expected_ratio.unwrap() - 240.0 / 487.2).abs() < 1e-12);
    }
}
