//! What a profile's figures mean: the issues' goals as met or missed lines, and a
//! sentence on where the time went.

use serde::Serialize;

use super::workload::Workload;
use super::{Kind, ProfileResult, StepResult, ratio};

/// One goal, the figure it was judged on, and whether it was met.
#[derive(Clone, Debug, Serialize)]
pub struct Goal {
    pub goal: String,
    pub figure: String,
    pub met: bool,
}

impl Goal {
    fn new(goal: &str, figure: String, met: bool) -> Goal {
        Goal { goal: goal.to_string(), figure, met }
    }

    pub fn mark(&self) -> &'static str {
        if self.met { "met" } else { "MISSED" }
    }
}

/// The progress line printed after a step.
pub fn step_line(r: &StepResult) -> String {
    let rep = &r.report;
    format!(
        "  {}: {:.1}s ({:.2}x floor time), {} requests ({:.2}x the true floor {}), {} 429s, {} bars, {:.0} bars/s, success {:.1}%",
        r.name,
        rep.wall_s,
        r.x_floor,
        rep.requests,
        r.x_floor_requests,
        rep.floor_requests,
        rep.rate_limit_hits,
        rep.bars,
        r.cost.bars_per_s,
        rep.success_rate * 100.0
    )
}

pub fn goals(w: &Workload, p: &ProfileResult) -> Vec<Goal> {
    match w.profile.kind() {
        Kind::Progression | Kind::Own => Vec::new(),
        Kind::Floor => floor_goals(p),
        Kind::Throughput => throughput_goals(p),
    }
}

/// The step a user gets with no flag, or the first one run.
fn defaults(p: &ProfileResult) -> Option<&StepResult> {
    p.steps.iter().find(|s| s.name == "defaults").or(p.steps.first())
}

/// Issue 9's goals, judged on the defaults.
fn floor_goals(p: &ProfileResult) -> Vec<Goal> {
    let Some(d) = defaults(p) else { return Vec::new() };
    let r = &d.report;
    let per_row = if p.no_bar_tickers.is_empty() {
        format!("no such ticker in the workload ({} requests)", d.no_bar_requests)
    } else {
        format!("{} requests for {} rows of {}", d.no_bar_requests, p.no_bar_rows, p.no_bar_tickers.join(", "))
    };
    vec![
        Goal::new(
            &format!("requests at most 1.02x the true floor ({})", d.name),
            format!("{} of {} = {:.3}x", r.requests, r.floor_requests, d.x_floor_requests),
            r.floor_requests > 0 && d.x_floor_requests <= 1.02,
        ),
        Goal::new(
            &format!("wall time within 5 % of the floor time at the quota ({})", d.name),
            format!("{:.1}s of {:.1}s = {:.3}x", r.wall_s, p.floor_s, d.x_floor),
            p.floor_s > 0.0 && d.x_floor <= 1.05,
        ),
        Goal::new(
            &format!("a ticker with no bar in range costs at most one request per row ({})", d.name),
            per_row,
            d.no_bar_requests <= p.no_bar_rows,
        ),
    ]
}

/// Issue 10's goals: the defaults against the best hand-tuned count, the bare insert rate,
/// CPU per bar and memory at every count.
fn throughput_goals(p: &ProfileResult) -> Vec<Goal> {
    let Some(d) = defaults(p) else { return Vec::new() };
    let tuned =
        p.steps.iter().filter(|s| s.name != d.name).max_by(|a, b| a.cost.bars_per_s.total_cmp(&b.cost.bars_per_s));
    let fastest = p.steps.iter().max_by(|a, b| a.cost.bars_per_s.total_cmp(&b.cost.bars_per_s)).unwrap_or(d);
    let heaviest = p.steps.iter().max_by(|a, b| a.report.peak_rss_mb.total_cmp(&b.report.peak_rss_mb)).unwrap_or(d);
    let mut out = Vec::new();
    if let Some(t) = tuned {
        let x = ratio(d.cost.bars_per_s, t.cost.bars_per_s);
        out.push(Goal::new(
            "defaults at least 0.9x the best hand-tuned throughput",
            format!("{:.0} bars/s against {:.0} ({}) = {x:.2}x", d.cost.bars_per_s, t.cost.bars_per_s, t.name),
            x >= 0.9,
        ));
    }
    if let Some(bare) = p.bare_insert_rows_per_s {
        let x = ratio(d.cost.bars_per_s, bare);
        out.push(Goal::new(
            "end to end at least 0.85x the bare SQLite insert rate (defaults)",
            format!(
                "{:.0} of {bare:.0} rows/s = {x:.2}x (fastest step, {}: {:.2}x)",
                d.cost.bars_per_s,
                fastest.name,
                ratio(fastest.cost.bars_per_s, bare)
            ),
            x >= 0.85,
        ));
    }
    let (lo, hi) = p.steps.iter().fold((f64::MAX, 0.0f64), |(lo, hi), s| {
        (lo.min(s.cost.client_cpu_us_per_bar), hi.max(s.cost.client_cpu_us_per_bar))
    });
    let against_bare = p
        .bare_insert_rows_per_s
        .and_then(|bare| against_bare_loop(d.cost.client_cpu_us_per_bar, bare))
        .map_or(String::new(), |t| format!("; {t}"));
    out.push(Goal::new(
        "client CPU at most 1.3 us per bar (defaults)",
        format!("{:.2} us per bar (every step: {lo:.2} to {hi:.2}{against_bare})", d.cost.client_cpu_us_per_bar),
        d.cost.client_cpu_us_per_bar <= 1.3,
    ));
    out.push(Goal::new(
        "peak RSS under 128 MB at every worker count",
        format!("at most {:.0} MB ({})", heaviest.report.peak_rss_mb, heaviest.name),
        heaviest.report.peak_rss_mb < 128.0,
    ));
    out
}

/// CPU per bar beside the bare loop's time per row in the same run. This machine's speed
/// moves by a third through a day, and CPU per bar with it; the ratio tells a slow hour
/// from a slower client.
fn against_bare_loop(us_per_bar: f64, bare_rows_per_s: f64) -> Option<String> {
    (bare_rows_per_s > 0.0).then(|| {
        let bare_us = 1e6 / bare_rows_per_s;
        format!("{:.2}x the bare loop's {bare_us:.2} us per row", us_per_bar / bare_us)
    })
}

pub fn verdict(w: &Workload, p: &ProfileResult) -> String {
    match w.profile.kind() {
        Kind::Progression => progression_verdict(w, p),
        Kind::Own => String::new(),
        Kind::Floor | Kind::Throughput => {
            let missed = p.goals.iter().filter(|g| !g.met).count();
            format!("{} of {} goals met.", p.goals.len() - missed, p.goals.len())
        }
    }
}

fn progression_verdict(w: &Workload, p: &ProfileResult) -> String {
    let best = p.steps.iter().find(|s| s.name == "best");
    let one = p.steps.iter().find(|s| s.name == "fix1+2");
    let mut verdict = best_verdict(w, p.floor_s, best, one);
    // The original success criteria, for the step that had all the original fixes.
    let base = p.steps.iter().find(|s| s.name == "baseline").map(|s| s.report.wall_s);
    if let Some(all) = p.steps.iter().find(|s| s.name == "fix1+2+3")
        && let Some(base) = base
    {
        let r = &all.report;
        let faster = (1.0 - r.wall_s / base) * 100.0;
        let mark = |ok: bool| if ok { "met" } else { "MISSED" };
        verdict.push_str(&format!(
            " The original criteria for fix 1+2+3: {faster:.0}% faster than the baseline (at least 30%: {}), success {:.1}% (above 99%: {}), CPU {:.0}% (under 80%: {}), memory {:.0} MB (under 2 GB: {}).",
            mark(faster >= 30.0),
            r.success_rate * 100.0,
            mark(r.success_rate > 0.99),
            r.cpu_pct,
            mark(r.cpu_pct < 80.0),
            r.peak_rss_mb,
            mark(r.peak_rss_mb < 2048.0)
        ));
    }
    verdict
}

/// Why the best step is where it is relative to the floor.
fn best_verdict(w: &Workload, floor_s: f64, best: Option<&StepResult>, one_worker: Option<&StepResult>) -> String {
    let Some(b) = best else { return "the best step was not run".into() };
    let r = &b.report;
    if w.profile == super::Profile::Latency {
        let speedup = one_worker.map(|o| o.report.wall_s / r.wall_s).unwrap_or(0.0);
        return format!(
            "latency-bound: the quota floor is {floor_s:.1}s but each request takes ~{:.2}s; {} workers ran {speedup:.1}x faster than one. Here fix 3 is what matters.",
            w.full_page_latency_s(),
            r.concurrency
        );
    }
    let gap = r.wall_s - floor_s;
    let pct = gap / floor_s * 100.0;
    if r.rate_limit_hits == 0 && pct <= 5.0 {
        return format!(
            "best landed {pct:.1}% above the floor with no 429 (the pacer stays 2% under the quota on purpose)."
        );
    }
    let workers = r.concurrency.max(1) as f64;
    let causes = [
        ("429 backoff", r.backoff_s, r.rate_limit_hits > 0),
        ("request latency (too few workers in flight)", r.api_s / workers, true),
        ("the pacer's headroom and the tail of the last requests", r.limiter_s / workers, true),
        ("database writes", r.db_s, true),
    ];
    let (name, secs, _) =
        causes.iter().filter(|c| c.2).max_by(|x, y| x.1.total_cmp(&y.1)).copied().unwrap_or(("unknown", 0.0, true));
    format!(
        "best is {pct:.1}% ({gap:.1}s) above the floor with {} 429s; the largest wait was {name} ({secs:.1}s per worker).",
        r.rate_limit_hits
    )
}

#[cfg(test)]
mod tests {
    use super::against_bare_loop;

    #[test]
    fn cpu_per_bar_is_set_beside_the_bare_loops_time_per_row() {
        assert_eq!(against_bare_loop(1.42, 928_145.0).unwrap(), "1.32x the bare loop's 1.08 us per row");
        assert_eq!(against_bare_loop(1.0, 0.0), None);
    }
}
