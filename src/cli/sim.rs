//! `barfill sim`: the simulator as a standalone server.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use super::{Common, SimArgs, exit, load_config};
use crate::config::Faults;
use crate::secret::ApiKey;
use crate::sim::Sim;
use crate::{calendar, headless};

pub(super) async fn sim_command(args: SimArgs) -> ExitCode {
    let common = Common { config: args.config.clone(), ..Default::default() };
    let config = match load_config(&common) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let mut opts = config.sim_options();
    if let Some(q) = args.quota {
        if q == 0 {
            eprintln!("error: --quota: must be at least 1");
            return ExitCode::from(exit::BAD_INPUT);
        }
        opts.quota = Some(q);
    }
    if let Some(w) = args.window_secs {
        if !(w > 0.0 && w.is_finite()) {
            eprintln!("error: --window-secs: must be above 0");
            return ExitCode::from(exit::BAD_INPUT);
        }
        opts.window = std::time::Duration::from_secs_f64(w);
    }
    if let Some(l) = args.latency_ms {
        opts.latency_ms = l;
    }
    if let Some(l) = args.latency_per_1k {
        opts.latency_ms_per_1k_bars = l.max(0.0);
    }
    if let Some(k) = args.api_key.filter(|k| !k.is_empty()) {
        opts.api_key = Some(ApiKey::new(k));
    }
    if let Some(f) = &args.faults {
        match Faults::parse(f) {
            Ok(f) => opts.faults = f,
            Err(e) => {
                eprintln!("error: --faults: {e}");
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    }
    if args.retry_after {
        opts.retry_after = true;
    }
    if let Some(p) = &args.plan_from {
        match calendar::parse_date(p) {
            Ok(d) => opts.plan_from = Some(d),
            Err(e) => {
                eprintln!("error: --plan-from: {e}");
                return ExitCode::from(exit::BAD_INPUT);
            }
        }
    }
    if !args.bind.is_loopback() {
        eprintln!(
            "warning: binding to {}: the simulator will be reachable from other machines, not just this one",
            args.bind
        );
    }
    let summary = format!(
        "quota {}/{}s, latency {}ms + {}ms per 1k bars{}{}",
        opts.quota.unwrap_or(0),
        opts.window.as_secs_f64(),
        opts.latency_ms,
        opts.latency_ms_per_1k_bars,
        if opts.api_key.is_some() { ", key required" } else { "" },
        if opts.faults.any() { ", faults on" } else { "" }
    );
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
        "by endpoint: {} range, {} grouped, {} tickers, {} ticker details, {} splits, {} other",
        e.range, e.grouped, e.tickers, e.ticker_details, e.splits, e.other
    );
}
