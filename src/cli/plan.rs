//! `barfill plan`: the request plan, without fetching or writing anything.

use std::process::ExitCode;

use super::{Flags, exit, load_config};
use crate::config::{self, Config};
use crate::markets::Class;
use crate::plan::{self, Plan};

pub(super) fn plan_command(flags: &Flags) -> ExitCode {
    let config = match load_config(flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Read even for --refetch: a database barfill cannot use is reported here, not later.
    let covered = match crate::store::read_covered(&config.db) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    if let Some(chain) = config.chain.chain() {
        println!(
            "The options chain of {} expiring {} is listed from reference data when a run starts (`barfill tickers` \
             lists it now, paced like any request); each contract is a row up to its expiration, one request a row \
             when it trades thinly.",
            chain.underlyings.join(", "),
            chain.expiring
        );
        return ExitCode::SUCCESS;
    }
    if let Some(u) = config.universe {
        println!(
            "The universe '{u}' is listed from reference data when a run starts (`barfill tickers` lists it now, \
             paced like any request); plan it with --symbols, or run it."
        );
        return ExitCode::SUCCESS;
    }
    let plan = crate::engine::plan_for(&config, &config.symbols, &covered);
    print!("{}", describe_plan(&config, &plan));
    ExitCode::SUCCESS
}

/// The plan as text: per row, then totals for the configured fixes, the baseline and
/// the floor.
pub fn describe_plan(config: &Config, plan: &Plan) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let source = if config.uses_embedded_sim() {
        "embedded simulator".to_string()
    } else {
        config.base_url.clone().unwrap_or_else(|| config::DEFAULT_BASE_URL.into())
    };
    let _ = writeln!(
        s,
        "Plan: {} symbols x {} timeframes, {} ({}), against the {source}",
        plan.symbols.len(),
        plan.timeframes.len(),
        plan.range,
        days_per_class(plan)
    );
    write_rows(&mut s, config, plan);
    let quota = config.quota_per_min as f64;
    let pace = quota * (1.0 - config.headroom_pct / 100.0);
    let with = plan.estimate(config.fixes.batching);
    let base = plan.estimate(false);
    let floor = plan.floor_requests();
    let _ = writeln!(
        s,
        "With fixes {}: {} windows, {} requests{}; at least {:.0}s at {:.0}/min",
        config.fixes.label(),
        with.windows,
        with.requests,
        if with.grouped_days > 0 { format!(" ({} grouped-daily days)", with.grouped_days) } else { String::new() },
        plan::seconds_at_quota(with.requests, if config.fixes.batching { pace } else { quota }),
        if config.fixes.batching { pace } else { quota },
    );
    let _ = writeln!(
        s,
        "Baseline (no fixes): {} requests; at least {:.0}s at {}/min",
        base.requests,
        plan::seconds_at_quota(base.requests, quota),
        config.quota_per_min
    );
    let _ = writeln!(
        s,
        "Floor (estimate, as if every ticker traded every minute): {} requests = {:.0}s at the quota of {}/min",
        floor,
        plan::seconds_at_quota(floor, quota),
        config.quota_per_min
    );
    let _ = writeln!(
        s,
        "(thin, young and unknown tickers need fewer; the run's report counts the true floor from the bars found)"
    );
    if floor == 0 {
        let _ =
            writeln!(s, "Everything is already stored in {} (--refetch plans fetching it again).", config.db.display());
    }
    s
}

/// The range's days as each class of the plan counts them: `20 NYSE sessions`, or
/// `stocks 20 NYSE sessions, crypto 31 calendar days (UTC)` when classes differ.
fn days_per_class(plan: &Plan) -> String {
    let mut classes: Vec<Class> = plan.rows.iter().map(|r| r.class).collect();
    classes.sort_unstable();
    classes.dedup();
    let days = |c: Class| format!("{} {}", c.days_in(plan.range), c.days_name());
    match classes.as_slice() {
        [] => days(Class::Stocks),
        [one] if *one == Class::Stocks => days(*one),
        many => many.iter().map(|&c| format!("{c} {}", days(c))).collect::<Vec<_>>().join(", "),
    }
}

/// One line per row, without the grouped-daily shortcut, which spans rows (it is in the
/// totals).
fn write_rows(s: &mut String, config: &Config, plan: &Plan) {
    use std::fmt::Write;
    let width = plan.rows.iter().map(|r| r.ticker.len()).max().unwrap_or(0).max(10);
    let _ = writeln!(
        s,
        "{:<width$} {:<7} {:<10} {:>12} {:>9} {:>9}",
        "symbol", "class", "timeframe", "days left", "requests", "baseline"
    );
    let limit =
        if config.fixes.batching { crate::polygon::client::MAX_LIMIT } else { crate::polygon::client::DEFAULT_LIMIT };
    for row in &plan.rows {
        let left: u64 = row.pending.iter().map(|r| row.class.days_in(*r) as u64).sum();
        let (fixed, base) = if left == 0 {
            (0, 0)
        } else {
            (
                plan::requests_for(row.class, row.timeframe, left, limit),
                plan::requests_for(row.class, row.timeframe, left, crate::polygon::client::DEFAULT_LIMIT),
            )
        };
        let _ = writeln!(
            s,
            "{:<width$} {:<7} {:<10} {:>12} {:>9} {:>9}",
            row.ticker,
            row.class.label(),
            row.timeframe.to_string(),
            left,
            fixed,
            base
        );
    }
}
