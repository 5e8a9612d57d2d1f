//! One day of daily bars for many rows of one class at once, through the class's grouped
//! endpoint.

use std::collections::{HashMap, HashSet};

use super::ctx::Ctx;
use super::events::{Event, WindowDone};
use super::fetch::{Fetched, WorkEnd, fetch_page};
use super::range::tell_rejected;
use super::worker::store;
use crate::bar::Bar;
use crate::calendar::{Day, Range};
use crate::markets::{Class, Grouped};
use crate::polygon::Page;
use crate::polygon::check::{Rejected, check_grouped_page};
use crate::store::writer::{BarGroup, Finished, WriteMsg};

pub async fn fetch_grouped(ctx: &Ctx, market: Grouped, day: Day, rows: &[usize]) -> WorkEnd {
    let url = ctx.client.grouped_url(market, day, ctx.adjusted);
    let class = rows.first().map_or(Class::Stocks, |&r| ctx.rows[r].class);
    let check = move |p: &Page| check_grouped_page(&p.bars, class, day);
    let fetched = match fetch_page(ctx, None, &url, &HashSet::new(), &check).await {
        Ok(f) => f,
        Err(end) => return end,
    };
    // Grouped answers carry every ticker of their class that traded that day (US stocks
    // with OTC ones, `include_otc=true`; every crypto or forex pair): a ticker an answer
    // lacks had no bar that day, and asking it again per ticker would cost a request that
    // can only return nothing. Only rows of the answer's class are asked of it.
    let Fetched { page, verdict, .. } = fetched;
    let Spread { mut per_row, rejected } = spread(ctx, day, rows, page, &verdict.rejected);
    let mut groups = Vec::new();
    let mut finished = Vec::new();
    let range = Range { from: day, to: day };
    for &row in rows {
        let meta = &ctx.rows[row];
        let bars = per_row.remove(&row).unwrap_or_default();
        // A row whose bar was impossible keeps the day open: the next run asks it again.
        let bad = rejected.iter().find(|(r, _, _)| *r == row);
        finished.push(Finished {
            ticker: meta.ticker.clone(),
            timeframe: meta.timeframe.clone(),
            done: WindowDone { row, range, bars: bars.len() as u64, requests: 1, last: true },
            record_to: if bad.is_some() { None } else { ctx.settled(range) },
        });
        if let Some((_, bar, why)) = bad
            && tell_rejected(ctx, Some(row), &[(bar.clone(), *why)]).await.is_err()
        {
            return WorkEnd::Cancelled;
        }
        if !bars.is_empty() {
            let ts = bars[0].ts;
            ctx.seen.lock()[row].add(Some(ts), Some(ts), 1);
            ctx.sched.lock().add_bars(row, 1);
            groups.push(BarGroup { ticker: meta.ticker.clone(), timeframe: meta.timeframe.clone(), bars });
        }
    }
    if !verdict.suspects.is_empty() {
        ctx.emit(Event::SuspectBars { row: None, ticker: "grouped daily".into(), bars: verdict.suspects });
    }
    if store(ctx, WriteMsg::Page { groups, finished }).await.is_err() {
        return WorkEnd::Cancelled;
    }
    WorkEnd::Done
}

/// The answer's bars for the rows asked for, stamped as range day bars are (stocks at
/// 00:00 New York where grouped bars carry 16:00; forex at 00:00 UTC where they carry the
/// day's last millisecond), so both paths give identical rows. Where the class's stamp
/// is not confirmed, a row keeps the stamp its stored bars carry. Also the rows' bars the
/// check rejected, with why (other tickers' are none of this run's business).
fn spread(ctx: &Ctx, day: Day, rows: &[usize], page: Page, rejected: &[Rejected]) -> Spread {
    let wanted: HashSet<usize> = rows.iter().copied().collect();
    let why: HashMap<usize, &'static str> = rejected.iter().map(|r| (r.index, r.reason)).collect();
    let mut per_row: HashMap<usize, Vec<Bar>> = HashMap::new();
    let mut bad = Vec::new();
    for (i, (ticker, mut bar)) in page.tickers.into_iter().zip(page.bars).enumerate() {
        if let Some(&row) = ctx.daily_rows.get(&ticker)
            && wanted.contains(&row)
        {
            let stamp = ctx.stamp(row).unwrap_or(ctx.rows[row].class.default_stamp());
            ctx.pin_stamp(row, Some(stamp));
            bar.ts = stamp.at(day);
            match why.get(&i) {
                Some(reason) => bad.push((row, bar, *reason)),
                None => per_row.entry(row).or_default().push(bar),
            }
        }
    }
    Spread { per_row, rejected: bad }
}

/// A grouped answer's bars per row asked for, and the rows' rejected bars with why.
struct Spread {
    per_row: HashMap<usize, Vec<Bar>>,
    rejected: Vec<(usize, Bar, &'static str)>,
}
