//! A row's range as a chain of pages: ask for the whole range at the page size of the
//! fixes in force and follow `next_url`, storing each page with the days it finished, so
//! a stopped run resumes after the last stored bar. A switch of fix 2 takes effect at
//! the next page: the chain stops and hands the rest back under the new setting.

use std::collections::HashSet;

use super::ctx::Ctx;
use super::events::{Event, WindowDone};
use super::fetch::{Fetched, WorkEnd, fetch_page};
use super::worker::store;
use crate::bar::Bar;
use crate::calendar::{Day, MS_PER_MINUTE, Range};
use crate::markets::Class;
use crate::polygon::check::{Expect, Rejected, check_range_page};
use crate::polygon::client::RangeRequest;
use crate::polygon::{Client, Page};
use crate::store::rejected::RejectedBar;
use crate::store::writer::{BarGroup, Finished, WriteMsg};
use crate::timeframe::Timeframe;

/// A chain that keeps handing out `next_url`s past this many pages is not converging.
const MAX_PAGES_PER_CHAIN: usize = 5_000;

/// A range to page through: the `Work::Range` a worker took.
pub struct RangeWork {
    pub row: usize,
    pub range: Range,
    pub from_ms: Option<i64>,
    pub limit: Option<u32>,
    pub held: Option<Range>,
}

pub async fn fetch_range(ctx: &Ctx, work: RangeWork) -> WorkEnd {
    let RangeWork { row, range, from_ms, limit, mut held } = work;
    let meta = &ctx.rows[row];
    let (start_ms, to_ms) = bounds(meta.class, meta.tf, range);
    let expect =
        Expect { timeframe: meta.tf, class: meta.class, stamp: None, from_ms: from_ms.unwrap_or(start_ms), to_ms };
    // The stamp is read when a page comes: the chain's own earlier pages may have set it.
    let check = move |p: &Page| check_range_page(&p.bars, &Expect { stamp: ctx.stamp(row), ..expect });
    let mut url = ctx.client.range_url(&RangeRequest {
        ticker: &meta.ticker,
        class: meta.class,
        timeframe: meta.tf,
        from: range.from,
        from_ms,
        to: range.to,
        adjusted: ctx.adjusted,
        limit,
    });
    let mut visited: HashSet<String> = HashSet::from([url.to_string()]);
    let mut chain = Chain {
        row,
        range,
        from_ms,
        tf: meta.tf,
        class: meta.class,
        seg_from: range.from,
        last_ts: None,
        first_ts: None,
        base: 0,
        kept: 0,
    };
    loop {
        let fetched = match fetch_page(ctx, Some(row), &url, &visited, &check).await {
            Ok(f) => f,
            // Only a first page can meet the plan's history limit; later ones are newer.
            Err(WorkEnd::PlanLimited(m)) if visited.len() > 1 => return WorkEnd::Failed(m),
            Err(end) => return end,
        };
        if let Some(h) = held.take() {
            // The plan covers this range's start, so the history held back may be in it too.
            ctx.sched.lock().put_back(row, h, None);
            ctx.work_changed.notify_waiters();
        }
        let next = match fetched.page.next_url.as_deref().map(|n| ctx.client.resolve_next(n)).transpose() {
            Ok(n) => n,
            Err(e) => return WorkEnd::Failed(e.to_string()),
        };
        if let Err(end) = chain.store_page(ctx, fetched, next.is_none()).await {
            return end;
        }
        crate::testhooks::page_handed_over();
        let Some(next) = next else { return WorkEnd::Done };
        if ctx.settings().fixes.batching != limit.is_some() || chain.wants_pieces(ctx) || chain.yields(ctx, limit) {
            chain.put_back(ctx);
            return WorkEnd::PutBack;
        }
        tracing::debug!(row, next = %Client::show(&next), "following next_url");
        visited.insert(next.to_string());
        url = next;
        if visited.len() > MAX_PAGES_PER_CHAIN {
            return WorkEnd::Failed(format!(
                "gave up after {MAX_PAGES_PER_CHAIN} pages: the server keeps sending next_url"
            ));
        }
    }
}

/// The first and last instant a page of `range` may hold: the class's day bounds, and
/// for day-based bars whichever stamp of the class's candidates is earliest and latest.
fn bounds(class: Class, tf: Timeframe, range: Range) -> (i64, i64) {
    let (mut from, mut to) = class.zone().bounds(range.from, range.to);
    if tf.minutes().is_none() {
        for s in class.day_stamps() {
            from = from.min(s.at(range.from));
            to = to.max(s.at(range.to));
        }
    }
    (from, to)
}

/// The page's bars less the rejected ones (by their place in the page), and those.
pub fn without_rejected(bars: Vec<Bar>, rejected: &[Rejected]) -> (Vec<Bar>, Vec<(Bar, &'static str)>) {
    if rejected.is_empty() {
        return (bars, Vec::new());
    }
    let mut out = Vec::with_capacity(rejected.len());
    let mut next = rejected.iter().peekable();
    let mut kept = Vec::with_capacity(bars.len() - rejected.len());
    for (i, b) in bars.into_iter().enumerate() {
        match next.peek() {
            Some(r) if r.index == i => {
                out.push((b, r.reason));
                next.next();
            }
            _ => kept.push(b),
        }
    }
    (kept, out)
}

/// Names rejected bars to the faces and hands them to the writer to record.
pub async fn tell_rejected(ctx: &Ctx, row: Option<usize>, rejected: &[(Bar, &'static str)]) -> Result<(), WorkEnd> {
    let Some(row_meta) = row.map(|r| &ctx.rows[r]) else { return Ok(()) };
    ctx.emit(Event::RejectedBars {
        row,
        ticker: row_meta.ticker.to_string(),
        timeframe: row_meta.timeframe.to_string(),
        bars: rejected.iter().map(|(b, why)| (b.ts, *why)).collect(),
    });
    let bars = rejected
        .iter()
        .map(|(b, why)| RejectedBar {
            ticker: row_meta.ticker.clone(),
            timeframe: row_meta.timeframe.clone(),
            bar: b.clone(),
            reason: why,
        })
        .collect();
    store(ctx, WriteMsg::Rejected(bars)).await.map_err(|_| WorkEnd::Cancelled)
}

/// Where a chain stands: the first day not yet recorded, and the last bar stored.
struct Chain {
    row: usize,
    range: Range,
    from_ms: Option<i64>,
    tf: Timeframe,
    class: Class,
    seg_from: Day,
    last_ts: Option<i64>,
    /// The chain's first bar, and the base bars and bars of its pages: how dense the row is.
    first_ts: Option<i64>,
    base: u64,
    kept: u64,
}

impl Chain {
    /// Stores a page with the days it finished: every day before its last bar's day
    /// (which the next page may continue), or the whole rest of the range on the last page.
    /// A day that held a rejected bar is left unfinished, so the next run asks it again.
    async fn store_page(&mut self, ctx: &Ctx, fetched: Fetched, last: bool) -> Result<(), WorkEnd> {
        let Fetched { page, attempts, verdict, room } = fetched;
        let (mut bars, rejected) = without_rejected(page.bars, &verdict.rejected);
        let rejected: Vec<(Bar, &'static str)> =
            rejected.into_iter().filter(|(b, _)| self.last_ts.is_none_or(|l| b.ts > l)).collect();
        bars = self.fresh(bars);
        let (first, newest) = (bars.first().map(|b| b.ts), bars.last().map(|b| b.ts));
        // The last bar's day may go on in the next page: only the days before it are whole.
        let on_last_day = newest.map_or(0, |ts| {
            let midnight = self.class.zone().span_of(ts).map_or(ts, |d| d.start_ms);
            bars.len() - bars.partition_point(|b| b.ts < midnight)
        });
        if self.tf.minutes().is_none() {
            ctx.pin_stamp(self.row, first.and_then(|ts| self.class.stamp_of(ts)));
        }
        self.last_ts = newest.max(rejected.last().map(|(b, _)| b.ts)).or(self.last_ts);
        let through = if last { self.range.to } else { self.finished_through() };
        let segment = Range { from: self.seg_from, to: through };
        self.seg_from = self.seg_from.max(through + 1);
        let meta = &ctx.rows[self.row];
        let kept = bars.len() as u64;
        let zone = self.class.zone();
        let bad_days: Vec<Range> =
            rejected.iter().filter_map(|(b, _)| zone.day_of_ms(b.ts)).map(|d| Range { from: d, to: d }).collect();
        let finished = self.finished(ctx, segment, &bad_days, kept, attempts, last);
        if !rejected.is_empty() {
            tell_rejected(ctx, Some(self.row), &rejected).await?;
        }
        let msg = WriteMsg::Page {
            groups: vec![BarGroup { ticker: meta.ticker.clone(), timeframe: meta.timeframe.clone(), bars }],
            finished,
        };
        store(ctx, msg).await.map_err(|_| WorkEnd::Cancelled)?;
        drop(room);
        ctx.seen.lock()[self.row].add(first, newest, page.base);
        self.first_ts = self.first_ts.or(first);
        self.base += page.base;
        self.kept += kept;
        let density = self.density(on_last_day as u64);
        let mut sched = ctx.sched.lock();
        sched.add_bars(self.row, kept);
        if let Some((base, sessions)) = density {
            sched.note_density(self.row, base, sessions);
        }
        drop(sched);
        if !verdict.suspects.is_empty() {
            ctx.emit(Event::SuspectBars {
                row: Some(self.row),
                ticker: meta.ticker.to_string(),
                bars: verdict.suspects,
            });
        }
        Ok(())
    }

    /// The windows a page finished: `segment` less the days of rejected bars, the page's
    /// bars and requests on the first, and the end of the piece of work on the last (an
    /// empty range when a rejected day ends it, so the end is still told).
    fn finished(
        &self,
        ctx: &Ctx,
        segment: Range,
        bad_days: &[Range],
        kept: u64,
        attempts: u32,
        last: bool,
    ) -> Vec<Finished> {
        let meta = &ctx.rows[self.row];
        let mut pieces =
            if bad_days.is_empty() { vec![segment] } else { crate::plan::subtract(self.class, segment, bad_days) };
        if pieces.is_empty() || (last && pieces.last().is_some_and(|p| p.to < segment.to)) {
            pieces.push(Range { from: segment.to + 1, to: segment.to });
        }
        let n = pieces.len();
        pieces
            .into_iter()
            .enumerate()
            .map(|(i, range)| Finished {
                ticker: meta.ticker.clone(),
                timeframe: meta.timeframe.clone(),
                done: WindowDone {
                    row: self.row,
                    range,
                    bars: if i == 0 { kept } else { 0 },
                    requests: if i == 0 { attempts } else { 0 },
                    last: last && i + 1 == n,
                },
                record_to: ctx.settled(range),
            })
            .collect()
    }

    /// Base bars over the whole sessions the chain has stored, from its first bar's day
    /// to the day before its last bar's (`on_last_day` bars fall on that last day).
    fn density(&self, on_last_day: u64) -> Option<(u64, u32)> {
        let (first, last) = (self.day_of(self.first_ts?), self.day_of(self.last_ts?));
        let sessions = self.class.days_between(first, last - 1);
        let whole = self.kept.checked_sub(on_last_day).filter(|&n| n > 0 && sessions > 0)?;
        // Hour bars count their minutes against the limit: scale bars to base bars.
        Some(((whole as f64 * self.base as f64 / self.kept as f64).round() as u64, sessions))
    }

    /// Drops bars a server sent again at the start of a page (the last bar of the page
    /// before): each bar is stored and counted once.
    fn fresh(&self, mut bars: Vec<Bar>) -> Vec<Bar> {
        if let Some(last) = self.last_ts {
            let again = bars.iter().take_while(|b| b.ts <= last).count();
            if again > 0 {
                tracing::debug!(row = self.row, again, "dropping bars the server sent again");
                bars.drain(..again);
            }
        }
        bars
    }

    /// The class's day of a bar (a day bar's stamp, of any candidate, falls on its own day).
    fn day_of(&self, ts: i64) -> Day {
        self.class.zone().day_of_ms(ts).unwrap_or(self.seg_from)
    }

    /// Days wholly stored: intraday bars may continue on the last bar's day.
    fn finished_through(&self) -> Day {
        match (self.last_ts, self.tf.minutes()) {
            (None, _) => self.seg_from - 1,
            (Some(ts), Some(_)) => self.day_of(ts) - 1,
            (Some(ts), None) => self.day_of(ts),
        }
    }

    /// A longer chain waits for a worker while this one has little left (fix 2's pages
    /// only: without it the original order holds).
    fn yields(&self, ctx: &Ctx, limit: Option<u32>) -> bool {
        let (from, _) = self.rest();
        limit.is_some()
            && self.tf.minutes().is_some()
            && ctx.sched.lock().yields(self.row, Range { from, to: self.range.to })
    }

    /// Idle workers could share the rest of this chain (see `Scheduler::wants_pieces`).
    fn wants_pieces(&self, ctx: &Ctx) -> bool {
        let (from, _) = self.rest();
        ctx.sched.lock().wants_pieces(self.row, Range { from, to: self.range.to })
    }

    /// Where the rest of the range starts: just after the last stored bar.
    fn rest(&self) -> (Day, Option<i64>) {
        match (self.last_ts, self.tf.minutes()) {
            (Some(ts), Some(width)) => (self.day_of(ts), Some(ts + width as i64 * MS_PER_MINUTE)),
            (Some(ts), None) => (self.day_of(ts) + 1, None),
            (None, _) => (self.seg_from, if self.seg_from == self.range.from { self.from_ms } else { None }),
        }
    }

    /// Hands the rest of the range back, to go on just after the last stored bar.
    fn put_back(&self, ctx: &Ctx) {
        let (from, from_ms) = self.rest();
        if from <= self.range.to {
            ctx.sched.lock().put_back(self.row, Range { from, to: self.range.to }, from_ms);
        }
        ctx.work_changed.notify_waiters();
    }
}
