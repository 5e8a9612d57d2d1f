//! `barfill sim`: the simulator as a standalone server.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use super::{Flags, SimArgs, exit, load_config, refuse};
use crate::config::{self, SimFlags, SimOptions};
use crate::headless;
use crate::sim::Sim;

pub(super) async fn sim_command(args: SimArgs) -> ExitCode {
    let opts = match options(&args.sim) {
        Ok(o) => o,
        Err(code) => return code,
    };
    warn_if_reachable(args.bind);
    let summary = summary(&opts);
    let sim = match Sim::start(opts, SocketAddr::new(args.bind, args.port)).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot listen on {}:{}: {e}", args.bind, args.port);
            return ExitCode::from(exit::FAILED);
        }
    };
    println!("barfill simulator listening on {} ({summary}); Ctrl-C to stop", sim.base_url());
    if std::io::stdout().is_terminal() {
        println!("Try: barfill run --headless --base-url {}", sim.base_url());
    }
    headless::wait_for_signal().await;
    let counts = sim.stats.snapshot();
    sim.stop().await;
    print_counts(&counts);
    ExitCode::SUCCESS
}

fn print_counts(counts: &crate::sim::SimCounts) {
    println!(
        "served {} requests: {} ok, {} rate-limited, {} unauthorized, {} bars",
        counts.requests, counts.ok, counts.rate_limited, counts.unauthorized, counts.bars_served
    );
    let e = &counts.by_endpoint;
    println!(
        "by endpoint: {} range, {} grouped, {} tickers, {} ticker details, {} splits, {} option contracts, {} other",
        e.range, e.grouped, e.tickers, e.ticker_details, e.splits, e.contracts, e.other
    );
}

/// The config file's `[sim]` table, then the flags, each value through the validator the
/// file uses.
fn options(flags: &SimFlags) -> Result<SimOptions, ExitCode> {
    let config = load_config(&Flags { config: flags.config.clone(), ..Default::default() })?;
    let mut opts = config.sim_options();
    config::apply_sim_flags(&mut opts, flags).map_err(|e| refuse(&e))?;
    Ok(opts)
}

fn warn_if_reachable(bind: IpAddr) {
    if !bind.is_loopback() {
        eprintln!("warning: binding to {bind}: the simulator will be reachable from other machines, not just this one");
    }
}

fn summary(opts: &SimOptions) -> String {
    format!(
        "quota {}/{}s, latency {}ms + {}ms per 1k bars{}{}",
        opts.quota.unwrap_or(0),
        opts.window.as_secs_f64(),
        opts.latency_ms,
        opts.latency_ms_per_1k_bars,
        if opts.api_key.is_some() { ", key required" } else { "" },
        if opts.faults.any() { ", faults on" } else { "" }
    )
}
