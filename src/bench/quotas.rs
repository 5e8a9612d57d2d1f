//! `bench --profile quotas`: one workload at 5, 60, 150, 360, 1,200 and 6,000 requests a
//! minute and on a paid plan, all fixes on and auto workers, as a user runs it: requests
//! against the fewest the bars allow, and wall time against the time the quota needs for
//! them. The free key's 5 a minute is compressed like the `free` profile's (5 a 6 s
//! window); every other quota is counted over a real minute.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::workload::Workload;
use super::{Profile, measure};
use crate::config::{Concurrency, Config, Dirs, Fixes};
use crate::engine::{self, Source};
use crate::sim::Sim;

/// (name, requests a window, window seconds).
pub const QUOTAS: [(&str, u32, f64); 7] = [
    ("5/min", 5, 6.0),
    ("60/min", 60, 60.0),
    ("150/min", 150, 60.0),
    ("360/min", 360, 60.0),
    ("1200/min", 1200, 60.0),
    ("6000/min", 6000, 60.0),
    ("paid", 600_000, 60.0),
];

#[derive(Clone, Debug, Serialize)]
pub struct QuotaResult {
    pub name: String,
    /// Requests a minute the window's quota comes to.
    pub quota_per_min: f64,
    pub window_s: f64,
    pub requests: u64,
    pub fewest: u64,
    pub wall_s: f64,
    pub floor_s: f64,
    pub x_floor: f64,
    /// The quota set the pace: requests went at 90 % of it or more over the run.
    pub quota_binds: bool,
    pub rate_limit_hits: u64,
    pub peak_workers: u32,
    pub status: String,
    /// When each request went, seconds into the run (the chart).
    #[serde(skip)]
    pub sent_s: Vec<f64>,
}

impl QuotaResult {
    /// Requests made against the fewest the bars allow.
    fn x_fewest(&self) -> f64 {
        self.requests as f64 / self.fewest.max(1) as f64
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct QuotasReport {
    pub machine: String,
    pub load: String,
    pub workload: String,
    pub steps: Vec<QuotaResult>,
}

/// The workload: ten liquid tickers' minute and daily bars, 2022-01-03 to
/// 2024-06-28 (129 requests at the fewest).
pub fn workload() -> Workload {
    let mut w = Workload::for_profile(Profile::Unlimited);
    w.symbols.truncate(10);
    w.timeframes = vec!["1/minute", "1/day"];
    w.from = "2022-01-03";
    w.to = "2024-06-28";
    w.sim_apart = false;
    w.bare_insert_rows = 0;
    w
}

fn config(w: &Workload, dir: &Path) -> Config {
    let mut c = Config::defaults(&Dirs { config: dir.to_path_buf(), data: dir.to_path_buf() });
    c.db = dir.join("quotas.db");
    c.db_is_default = false;
    c.symbols = w.symbols.clone();
    c.timeframes = w.tfs();
    let r = w.range();
    (c.from, c.to) = (r.from, r.to);
    c.quota_per_min = w.quota_per_min;
    c.quota_window = w.quota_window();
    c.fixes = Fixes::ALL;
    c.concurrency = Concurrency::Auto;
    c.stagger = std::time::Duration::ZERO;
    c.fetch_splits = false;
    c
}

pub async fn run_step(
    name: &str,
    per_window: u32,
    window_s: f64,
    scratch: &Path,
    progress: &dyn Fn(&str),
) -> anyhow::Result<QuotaResult> {
    let mut w = workload();
    w.window_secs = window_s;
    w.quota_per_min = ((per_window as f64) * 60.0 / window_s).round() as u32;
    let dir = scratch.join(name.replace('/', "_"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let sim = Sim::start_local(w.sim_options()).await?;
    let config = config(&w, &dir);
    let (store, plan) = engine::prepare(&config)?;
    let source = Source { label: "simulator".into(), base_url: sim.base_url(), key: None };
    measure::reset_peak_rss();
    let started = std::time::Instant::now();
    let mut sent_s = Vec::new();
    let report = engine::start(Arc::new(config), source, store, plan)?
        .drive(|e, _| {
            if let crate::engine::Event::Request(r) = &e {
                sent_s.push(r.at.saturating_duration_since(started).as_secs_f64());
            }
        })
        .await?;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    let fewest = w.floor_requests(&w.universe());
    let floor_s = w.floor_s(fewest);
    let rate = if report.wall_s > 0.0 { report.requests as f64 * 60.0 / report.wall_s } else { 0.0 };
    let r = QuotaResult {
        name: name.into(),
        quota_per_min: w.quota_per_min as f64,
        window_s,
        requests: report.requests,
        fewest,
        wall_s: report.wall_s,
        floor_s,
        x_floor: if floor_s > 0.0 { report.wall_s / floor_s } else { 0.0 },
        quota_binds: rate >= 0.9 * w.quota_per_min as f64,
        rate_limit_hits: report.rate_limit_hits,
        peak_workers: report.peak_workers,
        status: report.status.to_string(),
        sent_s,
    };
    progress(&line(&r));
    Ok(r)
}

pub async fn run(only: Option<&[String]>, scratch: &Path, progress: &dyn Fn(&str)) -> anyhow::Result<QuotasReport> {
    let load = super::load_average();
    let mut steps = Vec::new();
    for (name, per_window, window_s) in QUOTAS.iter().filter(|(n, _, _)| only.is_none_or(|l| l.iter().any(|x| x == n)))
    {
        progress(&format!("[quotas] {name}: {per_window} requests a {window_s}s window"));
        steps.push(run_step(name, *per_window, *window_s, scratch, progress).await?);
    }
    Ok(QuotasReport {
        machine: super::machine(),
        load: format!("{load} at the start, {} at the end", super::load_average()),
        workload: workload().describe(),
        steps,
    })
}

/// Each quota's rate against its line, and every step's wall time against its floor.
pub fn write_charts(dir: &Path, r: &QuotasReport) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for x in r.steps.iter().filter(|x| x.name != "paid") {
        let name = super::charts::file_name("rate-quotas", &x.name);
        // A run of 10 s drawn over a 60 s window would show only its climb: the rate is
        // averaged over an eighth of the run, between 2 s and the quota's window.
        let over = (x.wall_s / 8.0).clamp(2.0, x.window_s);
        let series = super::charts::rate_series(&x.sent_s, over, x.wall_s);
        let title = format!("quotas: {}", x.name);
        super::charts::rate_chart(&dir.join(&name), &title, &series, x.quota_per_min, over, &[])?;
        names.push(name);
    }
    let bars: Vec<(String, f64, f64)> = r.steps.iter().map(|x| (x.name.clone(), x.wall_s, x.floor_s)).collect();
    super::charts::wall_chart(&dir.join("wall-quotas.svg"), "quotas: wall against the floor time", "floor", &bars)?;
    names.push("wall-quotas.svg".into());
    Ok(names)
}

fn line(r: &QuotaResult) -> String {
    format!(
        "  {}: {} requests for the fewest {} ({:.2}x); {:.1}s against the quota's {:.1}s = {:.2}x{}; {} 429s; at most {} workers",
        r.name,
        r.requests,
        r.fewest,
        r.x_fewest(),
        r.wall_s,
        r.floor_s,
        r.x_floor,
        if r.quota_binds { "" } else { " (the quota did not bind)" },
        r.rate_limit_hits,
        r.peak_workers
    )
}

pub fn to_markdown(r: &QuotasReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# barfill bench: quotas\n\nMachine: {}  \nLoad average (1, 5, 15 min): {}  \nWorkload: {}; all fixes \
         on, auto workers, the simulator's latency (60 ms + 10 ms a thousand bars).\n",
        r.machine, r.load, r.workload
    );
    let _ = writeln!(
        s,
        "| quota | window | requests | fewest | x fewest | wall | floor time | x floor | quota binds | 429s | workers |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|");
    for x in &r.steps {
        let _ = writeln!(
            s,
            "| {} | {}s | {} | {} | {:.2}x | {:.1}s | {:.1}s | {:.2}x | {} | {} | {} |",
            x.name,
            x.window_s,
            x.requests,
            x.fewest,
            x.x_fewest(),
            x.wall_s,
            x.floor_s,
            x.x_floor,
            if x.quota_binds { "yes" } else { "no" },
            x.rate_limit_hits,
            x.peak_workers
        );
    }
    s
}
