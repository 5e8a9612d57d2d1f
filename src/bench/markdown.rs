//! `bench.md`: one section per profile, its table shaped by the profile's kind.

use std::fmt::Write as _;

use super::{BenchReport, Kind, Profile, ProfileResult, StepResult};
use crate::report::share;

pub fn to_markdown(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# barfill bench\n\nMachine: {}  \nLoad average (1, 5, 15 min): {}  \nCommand: `{}`\n",
        r.machine, r.load, r.command
    );
    for p in &r.profiles {
        let kind = Profile::parse(&p.profile).map(Profile::kind).unwrap_or(Kind::Progression);
        header(&mut s, p, kind);
        match kind {
            Kind::Progression => progression_table(&mut s, p),
            Kind::Floor => floor_table(&mut s, p),
            Kind::Throughput => throughput_table(&mut s, p),
            // Written by their own modules (`switches`, `quotas`).
            Kind::Own => {}
        }
        if kind != Kind::Throughput {
            breakdown_table(&mut s, p);
        }
        for g in &p.goals {
            let _ = writeln!(s, "- {}: {} ({})", g.goal, g.mark(), g.figure);
        }
        let _ = writeln!(s, "\n{}\n", p.verdict);
    }
    s
}

fn header(s: &mut String, p: &ProfileResult, kind: Kind) {
    let _ = writeln!(
        s,
        "## Profile `{}`\n\nWorkload: {}; quota {}/min enforced over {}s windows; latency {}.  ",
        p.profile, p.workload, p.quota_per_min, p.window_s, p.latency
    );
    let at_quota = if kind == Kind::Throughput {
        "the quota is out of reach: latency, CPU and the database set the pace".to_string()
    } else {
        format!("at the quota = **{:.1}s**", p.floor_s)
    };
    let _ = writeln!(
        s,
        "True floor: {} requests (the simulator's fewest for this workload); {at_quota}.",
        p.floor_requests
    );
    if !p.no_bar_tickers.is_empty() {
        let _ = writeln!(s, "No bar in range: {} ({} rows).", p.no_bar_tickers.join(", "), p.no_bar_rows);
    }
    if let Some(bare) = p.bare_insert_rows_per_s {
        let samples: Vec<String> = p.bare_insert_samples.iter().map(|x| format!("{x:.0}")).collect();
        let _ = writeln!(s, "Bare SQLite insert in this run: **{bare:.0} rows/s** (samples: {}).", samples.join(", "));
    }
    if kind == Kind::Throughput && p.sim_apart {
        let _ = writeln!(
            s,
            "The simulator runs as a process of its own (`barfill sim`): client CPU and peak RSS are barfill's alone."
        );
    } else if kind == Kind::Throughput {
        let _ = writeln!(
            s,
            "Client CPU is the process's less the simulator's threads; peak RSS is the whole process's (the simulator's buffers included)."
        );
    }
    let _ = writeln!(s);
}

fn workers(st: &StepResult) -> String {
    let end = st.report.concurrency.to_string();
    let mut w =
        if st.concurrency_setting == end { end } else { format!("{} ({end} at the end)", st.concurrency_setting) };
    if st.stagger_s > 0.0 {
        w.push_str(&format!(", {:.0} s stagger", st.stagger_s));
    }
    w
}

fn progression_table(s: &mut String, p: &ProfileResult) {
    let latency_bound = p.profile == Profile::Latency.name();
    let one_worker = p.steps.iter().find(|st| st.report.concurrency == 1).map(|st| st.report.wall_s);
    let _ = writeln!(
        s,
        "| step | fixes | workers | wall | {} | expected (original plan) | vs baseline | requests (x true floor) | 429s | retries | success | req/min (quota) |",
        if latency_bound { "speed-up vs 1 worker" } else { "x floor" }
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for st in &p.steps {
        let r = &st.report;
        let relative = match (latency_bound, one_worker) {
            (true, Some(one)) => format!("{:.1}x", one / r.wall_s),
            (true, None) => "-".into(),
            (false, _) => format!("{:.2}", st.x_floor),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}s | {} | {} | {} | {} ({:.2}x) | {} | {} | {:.1}% | {:.0} ({}) |",
            st.name,
            r.fixes,
            workers(st),
            r.wall_s,
            relative,
            st.expected_s.map(|e| format!("{e:.1}s")).unwrap_or_else(|| "-".into()),
            st.vs_baseline_pct.map(|v| format!("{v:+.0}%")).unwrap_or_else(|| "-".into()),
            r.requests,
            st.x_floor_requests,
            r.rate_limit_hits,
            r.retries,
            r.success_rate * 100.0,
            r.requests_per_min,
            r.quota_per_min
        );
    }
}

fn floor_table(s: &mut String, p: &ProfileResult) {
    let _ = writeln!(
        s,
        "| step | fixes | workers | wall | x floor time | requests | true floor | x true floor | planned | 429s | no-bar requests (rows) | bars | success |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for st in &p.steps {
        let r = &st.report;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.1}s | {:.3} | {} | {} | {:.3} | {} | {} | {} ({}) | {} | {:.1}% |",
            st.name,
            r.fixes,
            workers(st),
            r.wall_s,
            st.x_floor,
            r.requests,
            r.floor_requests,
            st.x_floor_requests,
            r.planned_requests,
            r.rate_limit_hits,
            st.no_bar_requests,
            p.no_bar_rows,
            r.bars,
            r.success_rate * 100.0
        );
    }
    if let Some(st) = p.steps.first()
        && !st.report.empty_tickers.is_empty()
    {
        let _ = writeln!(s, "\nThe report named as empty: {}.", st.report.empty_tickers.join(", "));
    }
}

fn throughput_table(s: &mut String, p: &ProfileResult) {
    let _ = writeln!(
        s,
        "| step | workers | wall | bars/s | x bare insert | client CPU per bar | simulator CPU | writer held workers | peak RSS | DB bytes per bar | requests | 429s |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for st in &p.steps {
        let (r, c) = (&st.report, &st.cost);
        let _ = writeln!(
            s,
            "| {} | {} | {:.1}s | {:.0} | {} | {:.2} us | {:.1}s | {:.1}s | {:.0} MB | {:.1} | {} | {} |",
            st.name,
            workers(st),
            r.wall_s,
            c.bars_per_s,
            c.x_bare_insert.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()),
            c.client_cpu_us_per_bar,
            c.sim_cpu_s,
            r.writer_blocked_s,
            r.peak_rss_mb,
            c.db_bytes_per_bar,
            r.requests,
            r.rate_limit_hits
        );
    }
    let _ = writeln!(s);
}

fn breakdown_table(s: &mut String, p: &ProfileResult) {
    let _ = writeln!(s, "\nWhere the worker time went (seconds summed over workers, share of the four):\n");
    let _ = writeln!(
        s,
        "| step | Polygon API | DB inserts | backoff waits | limiter waits | writer held | CPU | peak memory |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for st in &p.steps {
        let r = &st.report;
        let total = r.api_s + r.db_s + r.backoff_s + r.limiter_s;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.1}s | {:.0}% | {:.0} MB |",
            st.name,
            share(r.api_s, total),
            share(r.db_s, total),
            share(r.backoff_s, total),
            share(r.limiter_s, total),
            r.writer_blocked_s,
            r.cpu_pct,
            r.peak_rss_mb
        );
    }
    let _ = writeln!(s);
}
