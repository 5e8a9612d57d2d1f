//! The steps of each profile and one step's run: a fresh embedded simulator, an empty
//! database, the engine driven to its end, and what the report does not say measured
//! around it.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::server::Server;
use super::workload::Workload;
use super::{Kind, measure};
use crate::calendar;
use crate::config::{Concurrency, Config, Dirs, Fixes};
use crate::engine::{self, Event, Source, Tally};
use crate::report::Report;

/// The original plan's timings: baseline 487.2 s, then ~430, ~380 and ~240 s.
const ORIGINAL_BASELINE_S: f64 = 487.2;

/// The progression's step names, in order.
pub const PROGRESSION: [&str; 5] = ["baseline", "fix1", "fix1+2", "fix1+2+3", "best"];

#[derive(Clone, Debug)]
pub struct Step {
    pub name: &'static str,
    pub fixes: Fixes,
    pub concurrency: Concurrency,
    pub stagger_s: f64,
    /// The original plan's expectation, as a share of the baseline.
    pub expected_ratio: Option<f64>,
    /// Run when `--steps` does not name the steps.
    pub by_default: bool,
}

impl Step {
    fn new(name: &'static str, fixes: Fixes, workers: u32, stagger_s: f64) -> Step {
        Step {
            name,
            fixes,
            concurrency: Concurrency::Fixed(workers),
            stagger_s,
            expected_ratio: None,
            by_default: true,
        }
    }

    /// What a user gets with no flag: the configuration's defaults, whatever they become.
    pub fn defaults() -> Step {
        let c = Config::defaults(&Dirs { config: PathBuf::new(), data: PathBuf::new() });
        Step {
            name: "defaults",
            fixes: c.fixes,
            concurrency: c.concurrency,
            stagger_s: c.stagger.as_secs_f64(),
            expected_ratio: None,
            by_default: true,
        }
    }

    /// Workers the step starts with at `quota_per_min`.
    pub fn workers(&self, quota_per_min: u32) -> u32 {
        if self.fixes.parallel { self.concurrency.initial_workers(quota_per_min, self.fixes.batching) } else { 1 }
    }
}

/// Every step of the workload's profile, those run by default marked.
pub fn steps(w: &Workload, headroom_pct: f64) -> Vec<Step> {
    let best = Step::new("best", Fixes::ALL, w.best_concurrency(headroom_pct), 0.0);
    match w.profile.kind() {
        Kind::Progression => progression(w, best),
        Kind::Floor => {
            // Decoding and writing a page keep a worker busy beyond the server's latency:
            // at least 4 workers, so the pacer never waits for one to come back.
            let best = Step { concurrency: Concurrency::Fixed(w.best_concurrency(headroom_pct).max(4)), ..best };
            let baseline = Step { by_default: false, ..Step::new("baseline", Fixes::NONE, 1, 0.0) };
            vec![baseline, Step::defaults(), best]
        }
        Kind::Throughput => {
            let fixed = |name, n| Step::new(name, Fixes::ALL, n, 0.0);
            vec![Step::defaults(), fixed("fixed1", 1), fixed("fixed4", 4), fixed("fixed8", 8), fixed("fixed16", 16)]
        }
        Kind::Own => Vec::new(),
    }
}

fn progression(w: &Workload, best: Step) -> Vec<Step> {
    let fx = |b, g, p| Fixes { backoff: b, batching: g, parallel: p };
    let expect = |s: Step, secs: f64| Step { expected_ratio: Some(secs / ORIGINAL_BASELINE_S), ..s };
    let seed_fix3 = Step {
        concurrency: Concurrency::SEED_FIX3,
        stagger_s: Concurrency::SEED_FIX3_STAGGER.as_secs_f64(),
        ..Step::new("fix1+2+3", Fixes::ALL, 0, 0.0)
    };
    let mut all = vec![
        expect(Step::new("baseline", Fixes::NONE, 1, 0.0), ORIGINAL_BASELINE_S),
        expect(Step::new("fix1", fx(true, false, false), 1, 0.0), 430.0),
        expect(Step::new("fix1+2", fx(true, true, false), 1, 0.0), 380.0),
        expect(seed_fix3, 240.0),
        best,
    ];
    if w.profile == super::Profile::Latency {
        // A quota no one reaches: the steps without fix 2 only show latency again.
        all.iter_mut().take(2).for_each(|s| s.by_default = false);
    }
    all
}

/// What a step measured beside its report.
#[derive(Clone, Debug, Default)]
pub struct Measured {
    /// CPU of barfill's own work during the step: the process's, less the simulator's
    /// threads when it runs inside.
    pub client_cpu_s: f64,
    /// CPU of the simulator.
    pub sim_cpu_s: f64,
    /// The simulator ran as a process of its own: peak RSS is barfill's alone.
    pub sim_apart: bool,
    /// The database file after a checkpoint.
    pub db_bytes: u64,
    /// Requests the server saw for tickers with no bar in range.
    pub no_bar_requests: u64,
    /// When each request went, seconds into the run: the bench's rate chart.
    pub sent_s: Vec<f64>,
}

fn step_config(w: &Workload, step: &Step, dir: &Path) -> Config {
    let mut config = Config::defaults(&Dirs { config: dir.to_path_buf(), data: dir.to_path_buf() });
    config.db = dir.join("bench.db");
    config.db_is_default = false;
    config.symbols = w.symbols.clone();
    if let Some(chain) = &w.chain {
        // The run lists the chain itself, as a user's would.
        config.symbols.clear();
        config.chain = crate::config::ChainSettings {
            options: chain.underlyings.clone(),
            expiring: Some(chain.expiring),
            strikes: chain.strikes,
            contract_type: chain.contract_type,
        };
    }
    config.timeframes = w.tfs();
    config.from = calendar::parse_date(w.from).expect("a valid date");
    config.to = calendar::parse_date(w.to).expect("a valid date");
    config.quota_per_min = w.quota_per_min;
    config.quota_window = w.quota_window();
    config.fixes = step.fixes;
    config.concurrency = step.concurrency;
    config.stagger = Duration::from_secs_f64(step.stagger_s);
    // The bench times the fixes on the bars; a split request per step is the same in
    // every step and would only blur the floor the steps are held to.
    config.fetch_splits = false;
    // The baseline must be allowed to flounder as the original did, not be cut short.
    config.retry.budget = 1e9;
    config
}

/// Runs one step on a fresh simulator and an empty database.
pub async fn run_step(
    w: &Workload,
    step: &Step,
    no_bar: &HashSet<String>,
    scratch: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<(Report, Measured)> {
    let dir = scratch.join(step.name.replace('+', "_"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let sim = Server::start(w, &dir).await?;
    let config = step_config(w, step, &dir);
    let (sim_cpu0, cpu0) = (sim.cpu_seconds(), measure::process_cpu_s());
    let (store, plan) = engine::prepare(&config)?;
    let source = Source { label: "simulator".into(), base_url: sim.base_url(), key: None };
    measure::reset_peak_rss();
    let handle = engine::start(Arc::new(config), source, store, plan)?;
    let started = Instant::now();
    let mut last = Instant::now();
    let mut tally = Tally::default();
    let mut sent_s = Vec::new();
    let report = handle
        .drive(|e, _| {
            tally.apply(&e);
            if let Event::Request(r) = &e {
                sent_s.push(r.at.saturating_duration_since(started).as_secs_f64());
            }
            if matches!(e, Event::Request(_)) && last.elapsed() > Duration::from_secs(5) {
                last = Instant::now();
                progress(&format!(
                    "  {}: {} requests, {} 429s, {} bars so far",
                    step.name, tally.requests, tally.rate_limit_hits, tally.bars
                ));
            }
        })
        .await?;
    let sim_cpu_s = sim.cpu_seconds() - sim_cpu0;
    let process_cpu_s = measure::process_cpu_s() - cpu0;
    let sim_apart = sim.apart();
    let client_cpu_s = if sim_apart { process_cpu_s } else { (process_cpu_s - sim_cpu_s).max(0.0) };
    let no_bar_requests = sim.requests_for(no_bar);
    sim.stop().await;
    let db_bytes = measure::db_bytes(&dir.join("bench.db"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok((report, Measured { client_cpu_s, sim_cpu_s, sim_apart, db_bytes, no_bar_requests, sent_s }))
}
