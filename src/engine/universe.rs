//! Universes from reference data: the tickers a run fetches when the configuration names
//! a universe instead of a list. The list endpoint is paged through `next_url` at its
//! largest page (1000), paced and counted like every other request.

use std::collections::HashSet;

use super::ctx::Net;
use super::fetch::{Ask, WorkEnd, fetch_answer};
use crate::calendar::Day;
use crate::config::{Config, Universe};
use crate::polygon::reference::{TickerRef, TickersPage, TickersQuery, parse_tickers};

/// The reference list's largest page.
const PAGE: u32 = 1000;

/// What the configuration asks of reference data.
#[derive(Clone, Copy, Debug)]
pub struct UniverseSpec {
    pub universe: Universe,
    /// Tickers listed on this day, delisted since included: survivorship-free.
    pub as_of: Option<Day>,
    /// Only the first N tickers (by symbol).
    pub limit: Option<u32>,
}

impl UniverseSpec {
    pub fn from_config(c: &Config) -> Option<UniverseSpec> {
        c.universe.map(|universe| UniverseSpec { universe, as_of: c.universe_as_of, limit: c.universe_limit })
    }

    /// The list queries that make up the universe: common stocks and ETFs (or every pair or
    /// index of the market), active ones, and as of a date also those delisted since.
    fn queries(&self) -> Vec<TickersQuery<'static>> {
        let actives: &[bool] = if self.as_of.is_some() { &[true, false] } else { &[true] };
        let kinds: &[Option<&'static str>] = match self.universe {
            Universe::Stocks => &[Some("CS"), Some("ETF")],
            Universe::Crypto | Universe::Fx | Universe::Indices => &[None],
        };
        let mut out = Vec::new();
        for &kind in kinds {
            for &active in actives {
                out.push(TickersQuery {
                    market: Some(self.universe.name()),
                    type_: kind,
                    date: self.as_of,
                    active: Some(active),
                    limit: Some(self.limit.map_or(PAGE, |n| n.min(PAGE))),
                    ..TickersQuery::default()
                });
            }
        }
        out
    }
}

/// The universe's tickers, sorted by symbol, each once, and the pages that took.
pub async fn resolve(net: &Net, spec: UniverseSpec) -> Result<(Vec<TickerRef>, u64), String> {
    let mut all: Vec<TickerRef> = Vec::new();
    let mut pages = 0;
    for q in spec.queries() {
        let (tickers, n) = list(net, &q, spec.limit).await?;
        all.extend(tickers);
        pages += n;
    }
    all.sort_by(|a, b| a.ticker.cmp(&b.ticker));
    // A symbol can be listed twice (active, and an older delisted holder of it): the first
    // answer, the active one, names it.
    let mut seen = HashSet::new();
    all.retain(|t| seen.insert(t.ticker.clone()));
    if let Some(n) = spec.limit {
        all.truncate(n as usize);
    }
    Ok((all, pages))
}

/// One list query, page by page, until it ends or holds `cap` tickers (the list is
/// sorted by symbol, so the first `cap` of each query are enough for the first `cap`).
async fn list(net: &Net, q: &TickersQuery<'_>, cap: Option<u32>) -> Result<(Vec<TickerRef>, u64), String> {
    let mut url = net.client.tickers_url(q);
    let mut visited = HashSet::from([url.to_string()]);
    let mut out = Vec::new();
    let no_check = |_: &TickersPage| Ok(Default::default());
    loop {
        let ask = Ask { row: None, url: &url, visited: &visited, parse: parse_tickers, check: &no_check };
        let page = match fetch_answer(net, ask).await {
            Ok(f) => f.page,
            Err(WorkEnd::Failed(m) | WorkEnd::PlanLimited(m)) => return Err(format!("reference data: {m}")),
            Err(_) => return Err("stopped while listing the universe".into()),
        };
        out.extend(page.tickers);
        let full = cap.is_some_and(|n| out.len() >= n as usize);
        let Some(next) = page.next_url.filter(|_| !full) else { return Ok((out, visited.len() as u64)) };
        url = net.client.resolve_next(&next).map_err(|e| e.to_string())?;
        if !visited.insert(url.to_string()) {
            return Err("reference data: next_url points back at a page already fetched".into());
        }
    }
}
