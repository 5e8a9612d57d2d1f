//! The splits of a run's tickers, refreshed on every run of a raw database so that
//! `bars_adjusted` follows splits that happen (or are published) after bars were stored.
//! Tickers go many to a request (`ticker.any_of`), each answer paged at the largest
//! page, paced and retried like every other request.
//!
//! A split is news only when the database already held bars of its ticker from before
//! it: those are the bars whose adjusted reading it changes. A first backfill learns each
//! ticker's whole history of splits, and naming every one would drown the one that matters.

use std::collections::HashSet;

use tokio::sync::{mpsc, oneshot};

use super::ctx::Net;
use super::events::{Event, Level};
use super::fetch::{Ask, WorkEnd, fetch_answer};
use crate::calendar;
use crate::polygon::reference::{MAX_SPLITS_LIMIT, SplitRef, SplitsPage, parse_splits};
use crate::report::SplitNews;
use crate::store::splits::{NewSplit, SplitRecord};
use crate::store::writer::WriteMsg;

/// The longest `ticker.any_of` value sent, URL-encoded: with the rest of the URL it
/// stays under 2,000 bytes, which every proxy and server takes (about 250 tickers a
/// request).
const ANY_OF_BYTES: usize = 1_800;

/// What the split requests brought, and the pages they took.
#[derive(Default)]
struct Gathered {
    splits: Vec<SplitRecord>,
    pages: u64,
}

/// Whose splits a run asks for, and what it knows of them before asking.
pub struct Asking<'a> {
    pub tickers: &'a [String],
    /// Tickers whose splits were asked for completely on `day` already.
    pub checked: &'a HashSet<String>,
    pub day: calendar::Day,
    /// Tickers the database held bars of before this run: a split is news only over
    /// those (bars this run stores beside the request are the run's own history).
    pub held: &'a HashSet<String>,
}

/// Fetches the splits of the tickers, stores them, and tells the new ones that reach back
/// over bars stored before. Returns the pages it took. A failure is a warning, not the
/// run's end: `bars_adjusted` keeps the splits stored before, and the next run asks again.
/// A rerun the same day asks nothing for tickers already asked completely; the others are
/// recorded once their answer is whole.
pub async fn refresh(net: &Net, writer: &mpsc::Sender<WriteMsg>, asking: Asking<'_>) -> u64 {
    let Asking { tickers, checked, day, held } = asking;
    let tickers: Vec<String> = tickers.iter().filter(|t| !checked.contains(*t)).cloned().collect();
    if tickers.is_empty() {
        return 0;
    }
    let mut got = Gathered::default();
    let mut whole = true;
    for chunk in chunks(&tickers) {
        match fetch_chunk(net, &chunk, &mut got).await {
            Ok(()) => {}
            Err(WorkEnd::Failed(m) | WorkEnd::PlanLimited(m)) => {
                // Stored splits are never deleted, so what did come is worth keeping.
                net.emitter.notice(
                    Level::Warn,
                    format!("splits not refreshed: {m}; bars_adjusted uses the splits stored before"),
                );
                whole = false;
                break;
            }
            Err(_) => return got.pages,
        }
    }
    let count = got.splits.len();
    match store(writer, got.splits).await {
        Ok(new) => {
            tell(net, &new, count, tickers.len(), held);
            if whole {
                let _ = writer.send(WriteMsg::SplitsChecked { tickers, day }).await;
            }
        }
        Err(e) => net.emitter.notice(Level::Warn, format!("splits not stored: {e}")),
    }
    got.pages
}

/// One request's tickers, page by page.
async fn fetch_chunk(net: &Net, chunk: &[&str], got: &mut Gathered) -> Result<(), WorkEnd> {
    let asked: HashSet<&str> = chunk.iter().copied().collect();
    let mut url = net.client.splits_url(chunk, MAX_SPLITS_LIMIT);
    let mut visited = HashSet::from([url.to_string()]);
    let no_check = |_: &SplitsPage| Ok(Default::default());
    loop {
        let ask = Ask { row: None, url: &url, visited: &visited, parse: parse_splits, check: &no_check };
        let page = fetch_answer(net, ask).await?.page;
        got.pages += 1;
        // A server that ignored the filter would send the whole market: keep ours only.
        got.splits.extend(page.splits.into_iter().filter(|s| asked.contains(s.ticker.as_str())).map(record));
        let Some(next) = page.next_url else { return Ok(()) };
        url = net.client.resolve_next(&next).map_err(|e| WorkEnd::Failed(e.to_string()))?;
        if !visited.insert(url.to_string()) {
            return Err(WorkEnd::Failed("next_url points back at a page already fetched".into()));
        }
    }
}

/// The API's split as the store keeps it. The id is the key a split is known by from
/// run to run; an answer without one (not seen, but the field is optional) gets one made
/// of what identifies a split, so it is still stored once.
fn record(s: SplitRef) -> SplitRecord {
    let id =
        if s.id.trim().is_empty() { format!("{}:{}", s.ticker, calendar::format_day(s.execution_date)) } else { s.id };
    SplitRecord {
        id,
        ticker: s.ticker,
        execution_date: s.execution_date,
        split_from: s.split_from,
        split_to: s.split_to,
        adjustment_type: Some(s.adjustment_type),
    }
}

async fn store(writer: &mpsc::Sender<WriteMsg>, splits: Vec<SplitRecord>) -> Result<Vec<NewSplit>, String> {
    let (reply, answer) = oneshot::channel();
    writer.send(WriteMsg::Splits { splits, reply }).await.map_err(|_| "the database writer stopped".to_string())?;
    answer.await.map_err(|_| "the database writer stopped".to_string())?
}

/// One line for the refresh, and one for each split that changes how stored bars read.
fn tell(net: &Net, new: &[NewSplit], known: usize, tickers: usize, held: &HashSet<String>) {
    let news: Vec<SplitNews> =
        new.iter().filter(|n| n.over_stored_bars && held.contains(&n.split.ticker)).map(|n| news(&n.split)).collect();
    net.emitter.notice(
        Level::Info,
        format!(
            "splits of {tickers} ticker{}: {known} listed, {} first seen, {} after bars stored before",
            if tickers == 1 { "" } else { "s" },
            new.len(),
            news.len()
        ),
    );
    for n in news {
        // The faces show the event; the log file gets the line from here.
        tracing::info!("{}", n.line());
        net.emit(Event::NewSplit(n));
    }
}

fn news(s: &SplitRecord) -> SplitNews {
    SplitNews {
        ticker: s.ticker.clone(),
        execution_date: calendar::format_day(s.execution_date),
        split_from: s.split_from,
        split_to: s.split_to,
    }
}

/// The tickers in groups whose `ticker.any_of` value stays under `ANY_OF_BYTES`.
fn chunks(tickers: &[String]) -> Vec<Vec<&str>> {
    let mut out: Vec<Vec<&str>> = Vec::new();
    let mut bytes = 0;
    for t in tickers {
        // Letters, digits, '.', '-' and '_' go as they are; anything else (':', and the
        // separating comma) as %XX.
        let len =
            t.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._".contains(&b) { 1 } else { 3 }).sum::<usize>();
        match out.last_mut() {
            Some(chunk) if bytes + 3 + len <= ANY_OF_BYTES => {
                chunk.push(t);
                bytes += 3 + len;
            }
            _ => {
                out.push(vec![t]);
                bytes = len;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickers_go_many_to_a_request_in_urls_every_server_takes() {
        let tickers: Vec<String> =
            (0..1000).map(|i| format!("T{i:03}")).chain(["BRK.B".into(), "A:B".into()]).collect();
        let groups = chunks(&tickers);
        assert_eq!(groups.len(), 4, "about 250 tickers a request");
        assert_eq!(groups.concat(), tickers.iter().map(String::as_str).collect::<Vec<_>>(), "each once, in order");
        let client =
            crate::polygon::Client::new("https://api.massive.com", None, std::time::Duration::from_secs(5)).unwrap();
        for g in &groups {
            let url = client.splits_url(g, MAX_SPLITS_LIMIT);
            assert!(url.as_str().len() < 2_000, "{} bytes", url.as_str().len());
            let value = url.query_pairs().find(|(k, _)| k == "ticker.any_of").map(|(_, v)| v.into_owned());
            assert_eq!(value.as_deref(), Some(g.join(",").as_str()));
        }
        assert_eq!(chunks(&["AAPL".into()]), vec![vec!["AAPL"]]);
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn a_split_without_an_id_is_still_known_by_one() {
        let s = SplitRef {
            id: String::new(),
            ticker: "AAPL".into(),
            execution_date: calendar::parse_date("2020-08-31").unwrap(),
            split_from: 1.0,
            split_to: 4.0,
            adjustment_type: "forward_split".into(),
            historical_adjustment_factor: None,
        };
        assert_eq!(record(s.clone()).id, "AAPL:2020-08-31");
        assert_eq!(record(SplitRef { id: "E1".into(), ..s }).id, "E1");
    }
}
