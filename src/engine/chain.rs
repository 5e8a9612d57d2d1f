//! An options chain from reference data: its contracts are a run's tickers. The
//! contracts endpoint answers for one underlying at a time, and a past expiration only
//! with `expired=true`, while that flag leaves out contracts still listed: a chain whose
//! expirations straddle today is two queries per underlying, each paged through
//! `next_url` at its largest page (1000), paced and counted like every other request.

use std::collections::HashSet;

use super::ctx::Net;
use super::events::Level;
use super::fetch::{Ask, WorkEnd, fetch_answer};
use crate::calendar::{self, Day};
use crate::config::Chain;
use crate::polygon::contracts::{ContractRef, ContractsPage, ContractsQuery, parse_contracts};

/// The list queries for one underlying: contracts expired by today, and those still
/// listed, each only when the expirations asked for reach it.
fn queries<'a>(underlying: &'a str, chain: &Chain, today: Day) -> Vec<ContractsQuery<'a>> {
    let base = ContractsQuery {
        underlying,
        strike_from: chain.strikes.map(|s| s.0),
        strike_to: chain.strikes.map(|s| s.1),
        contract_type: chain.contract_type,
        ..ContractsQuery::default()
    };
    let (from, to) = (chain.expiring.from, chain.expiring.to);
    let mut out = Vec::new();
    if from < today {
        let to = to.min(today - 1);
        out.push(ContractsQuery { expiring_from: Some(from), expiring_to: Some(to), expired: true, ..base.clone() });
    }
    if to >= today {
        let from = from.max(today);
        out.push(ContractsQuery { expiring_from: Some(from), expiring_to: Some(to), expired: false, ..base });
    }
    out
}

/// The chain's contracts, by ticker, each once, and the pages that took.
pub async fn resolve(net: &Net, chain: &Chain, today: Day) -> Result<(Vec<ContractRef>, u64), String> {
    let mut all = Vec::new();
    let mut pages = 0;
    for underlying in &chain.underlyings {
        for q in queries(underlying, chain, today) {
            let (contracts, n) = list(net, &q).await?;
            all.extend(contracts);
            pages += n;
        }
    }
    all.sort_by(|a, b| a.ticker.cmp(&b.ticker));
    all.dedup_by(|a, b| a.ticker == b.ticker);
    Ok((all, pages))
}

/// The chain's contracts that can have bars in a run from `from`: those expiring on or
/// after it, as tickers, told to the faces; and the pages listing took.
pub async fn symbols(net: &Net, chain: Chain, today: Day, from: Day) -> Result<(Vec<String>, u64), String> {
    let names = chain.underlyings.join(", ");
    net.emitter.notice(Level::Info, format!("listing the options chain of {names} from reference data"));
    let (contracts, pages) = resolve(net, &chain, today).await?;
    let listed = contracts.len();
    let alive: Vec<String> = contracts.into_iter().filter(|c| c.expiration >= from).map(|c| c.ticker).collect();
    if alive.is_empty() {
        return Err(format!(
            "the options chain of {names} expiring {} holds no contract with a day on or after {}",
            chain.expiring,
            calendar::format_day(from)
        ));
    }
    let gone = listed - alive.len();
    let note = if gone > 0 { format!(" ({gone} expired before the range and are left out)") } else { String::new() };
    net.emitter.notice(
        Level::Info,
        format!("options chain of {names}: {} contracts from {pages} reference requests{note}", alive.len()),
    );
    Ok((alive, pages))
}

/// One list query, page by page, until it ends.
async fn list(net: &Net, q: &ContractsQuery<'_>) -> Result<(Vec<ContractRef>, u64), String> {
    let mut url = net.client.contracts_url(q);
    let mut visited = HashSet::from([url.to_string()]);
    let mut out = Vec::new();
    let no_check = |_: &ContractsPage| Ok(Default::default());
    loop {
        let ask = Ask { row: None, url: &url, visited: &visited, parse: parse_contracts, check: &no_check };
        let page = match fetch_answer(net, ask).await {
            Ok(f) => f.page,
            Err(WorkEnd::Failed(m) | WorkEnd::PlanLimited(m)) => return Err(format!("option contracts: {m}")),
            Err(_) => return Err("stopped while listing the options chain".into()),
        };
        out.extend(page.contracts);
        let Some(next) = page.next_url else { return Ok((out, visited.len() as u64)) };
        url = net.client.resolve_next(&next).map_err(|e| e.to_string())?;
        if !visited.insert(url.to_string()) {
            return Err("option contracts: next_url points back at a page already fetched".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Range;

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    #[test]
    fn expirations_that_straddle_today_take_both_queries() {
        let chain = Chain {
            underlyings: vec!["SPY".into()],
            expiring: Range { from: day("2025-01-01"), to: day("2025-03-31") },
            strikes: Some((480.0, 520.0)),
            contract_type: None,
        };
        let both = queries("SPY", &chain, day("2025-02-14"));
        assert_eq!(both.len(), 2);
        assert!(both[0].expired && both[0].expiring_to == Some(day("2025-02-13")));
        assert!(!both[1].expired && both[1].expiring_from == Some(day("2025-02-14")));
        assert!(both.iter().all(|q| q.strike_from == Some(480.0) && q.strike_to == Some(520.0)));
        let past = queries("SPY", &chain, day("2026-01-30"));
        assert_eq!((past.len(), past[0].expired, past[0].expiring_to), (1, true, Some(day("2025-03-31"))));
        let future = queries("SPY", &chain, day("2024-12-02"));
        assert_eq!((future.len(), future[0].expired), (1, false));
    }
}
