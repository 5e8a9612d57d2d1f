//! One worker's life: an optional staggered start, then pieces of work until there are
//! none, the run stops, or the worker is no longer needed.

use std::sync::Arc;
use std::time::Duration;

use super::ctx::Ctx;
use super::events::{Event, RowState};
use super::fetch::WorkEnd;
use super::grouped::fetch_grouped;
use super::range::{RangeWork, fetch_range};
use super::scheduler::{RowAfter, Work};
use crate::calendar::{self, Range};
use crate::clock;
use crate::store::writer::WriteMsg;

pub async fn run_worker(ctx: Arc<Ctx>, slot: usize, start_after: Duration) {
    if !staggered_start(&ctx, start_after).await {
        return finish_worker(&ctx, slot);
    }
    while !ctx.cancel.is_cancelled() {
        let settings = ctx.settings();
        if slot as u32 >= settings.workers() {
            break; // concurrency went down: retire
        }
        let notified = ctx.work_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let work = {
            let mut sched = ctx.sched.lock();
            match sched.next(slot, settings.fixes.batching, settings.fixes.parallel) {
                Some(w) => Some(w),
                None if sched.is_done() => break,
                None => None,
            }
        };
        let Some(work) = work else {
            // Work remains but is held by other workers, who may hand part of it back.
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                _ = &mut notified => continue,
            }
        };
        if !do_work(&ctx, work).await {
            break;
        }
        ctx.work_changed.notify_waiters();
    }
    finish_worker(&ctx, slot);
}

fn finish_worker(ctx: &Ctx, slot: usize) {
    ctx.sched.lock().release(slot);
    ctx.work_changed.notify_waiters();
}

/// A staggered worker whose turn never comes (the work ran out first) must not hold the
/// run open until its start time. Returns false when the worker should not start.
async fn staggered_start(ctx: &Ctx, start_after: Duration) -> bool {
    let start_at = tokio::time::Instant::now() + start_after;
    while tokio::time::Instant::now() < start_at {
        let notified = ctx.work_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if ctx.sched.lock().is_done() {
            return false;
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => return false,
            _ = tokio::time::sleep_until(start_at) => break,
            _ = &mut notified => {}
        }
    }
    true
}

/// Fetches one piece of work and settles its rows. Returns false when the run stopped.
async fn do_work(ctx: &Ctx, work: Work) -> bool {
    let rows = work.rows();
    for &row in &rows {
        ctx.emit(Event::RowState { row, state: RowState::Fetching });
    }
    let end = match &work {
        Work::Range { row, range, from_ms, limit, held } => {
            let work = RangeWork { row: *row, range: *range, from_ms: *from_ms, limit: *limit, held: *held };
            fetch_range(ctx, work).await
        }
        Work::Grouped { day, market, rows } => fetch_grouped(ctx, *market, *day, rows).await,
    };
    let failure = match end {
        WorkEnd::Done | WorkEnd::PutBack => None,
        WorkEnd::Failed(reason) => {
            report_failure(ctx, &work, &reason);
            Some(reason)
        }
        WorkEnd::PlanLimited(reason) => {
            if let Work::Range { row, range, held, .. } = &work {
                let failed = ctx.sched.lock().plan_limited(*row, *range, *held, &reason);
                for range in failed {
                    ctx.emit(Event::WindowFailed { row: *row, range, reason: reason.clone() });
                }
                None
            } else {
                report_failure(ctx, &work, &reason);
                Some(reason)
            }
        }
        WorkEnd::Cancelled => {
            for &row in &rows {
                ctx.sched.lock().abandon(row);
                ctx.emit(Event::RowState { row, state: RowState::Queued });
            }
            return false;
        }
    };
    for &row in &rows {
        let after = ctx.sched.lock().finish(row, failure.clone());
        settle_row(ctx, row, after).await;
    }
    true
}

fn report_failure(ctx: &Ctx, work: &Work, reason: &str) {
    let failed: Vec<(usize, Range)> = match work {
        Work::Range { row, range, .. } => vec![(*row, *range)],
        Work::Grouped { day, rows, .. } => rows.iter().map(|r| (*r, Range { from: *day, to: *day })).collect(),
    };
    for (row, range) in failed {
        ctx.emit(Event::WindowFailed { row, range, reason: reason.to_string() });
    }
}

/// Tells the faces how a row stands; a finished row also says where its bars begin and
/// end, so a ticker listed or delisted inside the range shows it. A row is shown done
/// once the writer has committed its last pages (a mark behind them in the queue), not
/// when they were handed over: until then its stored days are still short of the range.
async fn settle_row(ctx: &Ctx, row: usize, after: RowAfter) {
    let state = match after {
        RowAfter::Busy => return,
        RowAfter::Queued => RowState::Queued,
        RowAfter::Done => RowState::Done,
        RowAfter::Empty => RowState::Empty,
        RowAfter::Failed(f) => RowState::Failed(f),
    };
    if state == RowState::Done {
        let seen = ctx.seen.lock()[row];
        let zone = ctx.rows[row].class.zone();
        if let (Some(first), Some(last)) =
            (seen.first_ts.and_then(|t| zone.day_of_ms(t)), seen.last_ts.and_then(|t| zone.day_of_ms(t)))
        {
            ctx.emit(Event::RowBounds { row, first, last });
            log_life(ctx, row, first, last);
        }
        if store(ctx, WriteMsg::Mark(row)).await.is_ok() {
            return;
        }
    }
    ctx.emit(Event::RowState { row, state });
}

/// A row whose bars begin or end inside the range: listed, delisted or renamed then.
fn log_life(ctx: &Ctx, row: usize, first: calendar::Day, last: calendar::Day) {
    let meta = &ctx.rows[row];
    let opens = meta.class.nth_day_from(ctx.range.from, 1);
    if meta.tf.is_daily() && first > opens {
        tracing::info!(ticker = %meta.ticker, first = %calendar::format_day(first), "bars begin inside the range");
    }
    if meta.tf.is_daily()
        && last < ctx.range.to.min(ctx.settled_through)
        && meta.class.days_between(last + 1, ctx.range.to.min(ctx.settled_through)) > 0
    {
        tracing::info!(ticker = %meta.ticker, last = %calendar::format_day(last), "bars end inside the range");
    }
}

/// Hands a page to the writer; the time spent waiting for room is the database on the
/// critical path.
pub async fn store(ctx: &Ctx, msg: WriteMsg) -> Result<(), ()> {
    let started = clock::now();
    let sent = ctx.writer.send(msg).await;
    let secs = clock::since(started).as_secs_f64();
    if secs > 0.000_5 {
        ctx.emit(Event::WriterBlocked { secs });
    }
    sent.map_err(|_| ctx.fail_run("the database writer stopped (see the error above)".into()))
}
