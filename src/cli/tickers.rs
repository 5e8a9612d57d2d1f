//! `barfill tickers`: what a run would fetch. A universe or an options chain is listed
//! from reference data (paced and counted like any request); a plain list is printed as
//! configured.

use std::process::ExitCode;

use super::{Flags, exit, load_config, source};
use crate::calendar;
use crate::config::{Chain, Config};
use crate::polygon::contracts::ContractRef;
use crate::polygon::reference::TickerRef;

pub(super) async fn tickers_command(flags: &Flags) -> ExitCode {
    let config = match load_config(flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Some(chain) = config.chain.chain() {
        return chain_command(&config, &chain).await;
    }
    if config.universe.is_none() {
        for t in &config.symbols {
            println!("{t}");
        }
        eprintln!("{} tickers as configured (no universe, no request)", config.symbols.len());
        return ExitCode::SUCCESS;
    }
    let (source, sim) = match source::resolve(&config).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot start the embedded simulator: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let listed = crate::engine::list_universe(&config, &source).await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    match listed {
        Ok((tickers, requests)) => {
            for t in &tickers {
                println!("{}", line(t));
            }
            let delisted = tickers.iter().filter(|t| !t.active).count();
            eprintln!(
                "{} tickers ({delisted} delisted since) from {requests} reference requests to the {}",
                tickers.len(),
                source.label
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `AAPL  CS  active  Apple Inc.` or `FB  CS  delisted 2022-06-09  Meta Platforms`.
fn line(t: &TickerRef) -> String {
    let state = match (t.active, t.delisted) {
        (true, _) => "active".to_string(),
        (false, Some(d)) => format!("delisted {}", calendar::format_day(d)),
        (false, None) => "inactive".to_string(),
    };
    format!("{:<8} {:<6} {:<20} {}", t.ticker, t.type_.as_deref().unwrap_or("-"), state, t.name)
}

/// The chain's contracts, one a line, and the requests listing them took.
async fn chain_command(config: &Config, chain: &Chain) -> ExitCode {
    let (source, sim) = match source::resolve(config).await {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: cannot start the embedded simulator: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let listed = crate::engine::list_chain(config, &source).await;
    if let Some(sim) = sim {
        sim.stop().await;
    }
    match listed {
        Ok((contracts, requests)) => {
            for c in &contracts {
                println!("{}", contract_line(c));
            }
            eprintln!(
                "{} contracts of {} expiring {} from {requests} reference requests to the {}",
                contracts.len(),
                chain.underlyings.join(", "),
                chain.expiring,
                source.label
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(exit::FAILED)
        }
    }
}

/// `O:SPY250117C00480000  SPY  call  480  expires 2025-01-17`.
fn contract_line(c: &ContractRef) -> String {
    format!(
        "{:<22} {:<6} {:<5} {:>9}  expires {}",
        c.ticker,
        c.underlying,
        c.contract_type,
        c.strike,
        calendar::format_day(c.expiration)
    )
}
