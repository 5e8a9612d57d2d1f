//! One worker: takes a window, fetches its pages (pacing, retrying), hands each page to
//! the writer and goes on. Every wait it makes is reported, so the faces can say where
//! the time went.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backon::Retryable;
use reqwest::Url;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::events::{Event, Level, RequestRecord, RowState, Settings, WindowDone};
use super::scheduler::{RowAfter, Scheduler, Work};
use super::tally::Tally;
use crate::calendar;
use crate::calendar::Range;
use crate::pace::Pacer;
use crate::polygon::client::RangeRequest;
use crate::polygon::outcome::Disposition;
use crate::polygon::{Client, FetchError, Page};
use crate::retry::{Policy, RetryBudget};
use crate::store::writer::{BarGroup, Finished, WriteMsg};
use crate::timeframe::Timeframe;

/// A window that keeps handing out `next_url`s past this many pages is not converging.
const MAX_PAGES_PER_WINDOW: usize = 5_000;

/// Sends events to the face and folds them into the run's own tally, so the final report
/// and what the face shows are sums of the same events.
pub struct Emitter {
    tx: mpsc::UnboundedSender<Event>,
    tally: Mutex<Tally>,
}

impl Emitter {
    pub fn new(tx: mpsc::UnboundedSender<Event>) -> Emitter {
        Emitter { tx, tally: Mutex::new(Tally::default()) }
    }

    pub fn emit(&self, event: Event) {
        self.tally.lock().unwrap().apply(&event);
        let _ = self.tx.send(event);
    }

    pub fn notice(&self, level: Level, text: impl Into<String>) {
        let text = text.into();
        match level {
            Level::Info => tracing::info!("{text}"),
            Level::Warn => tracing::warn!("{text}"),
            Level::Error => tracing::error!("{text}"),
        }
        self.emit(Event::Notice { level, text });
    }

    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap().clone()
    }
}

pub struct RowMeta {
    pub ticker: Arc<str>,
    pub timeframe: Arc<str>,
    pub tf: Timeframe,
}

/// What every worker shares.
pub struct Ctx {
    pub client: Client,
    pub pacer: Pacer,
    pub budget: RetryBudget,
    pub settings: watch::Receiver<Settings>,
    pub sched: Mutex<Scheduler>,
    pub work_changed: Notify,
    pub emitter: Arc<Emitter>,
    pub writer: mpsc::Sender<WriteMsg>,
    /// Cancelled on stop, on a fatal error, and when the run is over.
    pub cancel: CancellationToken,
    pub rows: Vec<RowMeta>,
    /// Ticker -> its `1/day` row, for spreading grouped-daily answers.
    pub daily_rows: HashMap<String, usize>,
    pub adjusted: bool,
    pub max_attempts: u32,
    /// Why the run had to stop, when it had to.
    pub fatal: Mutex<Option<String>>,
    /// The last day whose bars the API no longer revises (see `calendar::settled_through`).
    pub settled_through: calendar::Day,
}

enum WorkEnd {
    Done,
    Failed(String),
    Cancelled,
}

#[derive(Debug)]
enum Attempt {
    Fetch(FetchError),
    Cancelled,
}

impl Ctx {
    pub fn settings(&self) -> Settings {
        *self.settings.borrow()
    }

    /// How much of a finished window may be recorded as finished.
    fn settled(&self, range: Range) -> Option<calendar::Day> {
        (range.from <= self.settled_through).then(|| range.to.min(self.settled_through))
    }

    fn emit(&self, e: Event) {
        self.emitter.emit(e);
    }

    /// Stops the run for a reason no retry can fix. The first reason wins.
    pub fn fail_run(&self, reason: String) {
        let mut f = self.fatal.lock().unwrap();
        if f.is_none() {
            self.emitter.notice(Level::Error, format!("stopping the run: {reason}"));
            *f = Some(reason);
        }
        self.cancel.cancel();
    }
}

/// A worker's life: an optional staggered start, then windows until there are none, the
/// run stops, or the worker is no longer needed.
pub async fn run_worker(ctx: Arc<Ctx>, slot: usize, start_after: Duration) {
    // A staggered worker whose turn never comes (the work ran out first) must not hold
    // the run open until its start time.
    let start_at = tokio::time::Instant::now() + start_after;
    while tokio::time::Instant::now() < start_at {
        let notified = ctx.work_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if ctx.sched.lock().unwrap().is_empty() {
            break;
        }
        tokio::select! {
            _ = ctx.cancel.cancelled() => break,
            _ = tokio::time::sleep_until(start_at) => break,
            _ = &mut notified => {}
        }
    }
    loop {
        if ctx.cancel.is_cancelled() {
            break;
        }
        let settings = ctx.settings();
        if slot as u32 >= settings.workers() {
            break; // concurrency went down: retire
        }
        let notified = ctx.work_changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let work = {
            let mut sched = ctx.sched.lock().unwrap();
            match sched.next(slot, settings.fixes.batching, settings.fixes.parallel) {
                Some(w) => Some(w),
                None if sched.is_empty() => break,
                None => None,
            }
        };
        let Some(work) = work else {
            // Work remains but is held by other workers; wait for something to change.
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                _ = &mut notified => continue,
            }
        };
        let rows = work.rows();
        for &row in &rows {
            ctx.emit(Event::RowState { row, state: RowState::Fetching });
        }
        let end = match &work {
            Work::Range { row, range, limit } => fetch_range(&ctx, *row, *range, *limit).await,
            Work::Grouped { day, rows } => fetch_grouped(&ctx, *day, rows).await,
        };
        let failure = match end {
            WorkEnd::Done => None,
            WorkEnd::Failed(reason) => {
                if let Work::Range { row, range, .. } = &work {
                    ctx.emit(Event::WindowFailed { row: *row, range: *range, reason: reason.clone() });
                } else if let Work::Grouped { day, rows } = &work {
                    for &row in rows {
                        ctx.emit(Event::WindowFailed {
                            row,
                            range: Range { from: *day, to: *day },
                            reason: reason.clone(),
                        });
                    }
                }
                Some(reason)
            }
            WorkEnd::Cancelled => {
                for &row in &rows {
                    ctx.sched.lock().unwrap().finish(row, None);
                    ctx.emit(Event::RowState { row, state: RowState::Queued });
                }
                break;
            }
        };
        for &row in &rows {
            let after = ctx.sched.lock().unwrap().finish(row, failure.clone());
            let state = match after {
                RowAfter::Busy => continue,
                RowAfter::Queued => RowState::Queued,
                RowAfter::Done => RowState::Done,
                RowAfter::Failed(f) => RowState::Failed(f),
            };
            ctx.emit(Event::RowState { row, state });
        }
        ctx.work_changed.notify_waiters();
    }
    ctx.sched.lock().unwrap().release(slot);
    ctx.work_changed.notify_waiters();
}

/// Hands a page to the writer; the time spent waiting for room is the database on the
/// critical path.
async fn store(ctx: &Ctx, msg: WriteMsg) -> Result<(), ()> {
    let started = Instant::now();
    let sent = ctx.writer.send(msg).await;
    let secs = started.elapsed().as_secs_f64();
    if secs > 0.000_5 {
        ctx.emit(Event::WriterBlocked { secs });
    }
    sent.map_err(|_| ctx.fail_run("the database writer stopped (see the error above)".into()))
}

async fn fetch_range(ctx: &Ctx, row: usize, range: Range, limit: Option<u32>) -> WorkEnd {
    let meta = &ctx.rows[row];
    let first = ctx.client.range_url(&RangeRequest {
        ticker: &meta.ticker,
        timeframe: meta.tf,
        from: range.from,
        to: range.to,
        adjusted: ctx.adjusted,
        limit,
    });
    let mut url = first;
    let mut visited: HashSet<String> = HashSet::from([url.to_string()]);
    let mut bars = 0u64;
    let mut requests = 0u32;
    loop {
        let (page, attempts) = match fetch_page(ctx, Some(row), &url, &visited).await {
            Ok(p) => p,
            Err(end) => return end,
        };
        requests += attempts;
        let next = match page.next_url.as_deref().map(|n| ctx.client.resolve_next(n)).transpose() {
            Ok(n) => n,
            Err(e) => return WorkEnd::Failed(e.to_string()),
        };
        bars += page.bars.len() as u64;
        let finished = next.is_none().then(|| Finished {
            ticker: meta.ticker.clone(),
            timeframe: meta.timeframe.clone(),
            done: WindowDone { row, range, bars, requests },
            record_to: ctx.settled(range),
        });
        let msg = WriteMsg::Page {
            groups: vec![BarGroup { ticker: meta.ticker.clone(), timeframe: meta.timeframe.clone(), bars: page.bars }],
            finished: finished.into_iter().collect(),
        };
        if store(ctx, msg).await.is_err() {
            return WorkEnd::Cancelled;
        }
        #[cfg(debug_assertions)]
        panic_after_page_for_tests();
        match next {
            None => return WorkEnd::Done,
            Some(n) => {
                tracing::debug!(row, next = %Client::show(&n), "following next_url");
                visited.insert(n.to_string());
                url = n;
            }
        }
        if visited.len() > MAX_PAGES_PER_WINDOW {
            return WorkEnd::Failed(format!(
                "gave up after {MAX_PAGES_PER_WINDOW} pages: the server keeps sending next_url"
            ));
        }
    }
}

/// Debug builds only: `BARFILL_TEST_PANIC_WORKER=N` panics the worker that hands the
/// writer the Nth page, so a test can prove a worker's panic fails the run and loses
/// nothing already handed over.
#[cfg(debug_assertions)]
fn panic_after_page_for_tests() {
    use std::sync::atomic::{AtomicU64, Ordering};
    static PAGES: AtomicU64 = AtomicU64::new(0);
    let Some(n) = std::env::var("BARFILL_TEST_PANIC_WORKER").ok().and_then(|v| v.parse::<u64>().ok()) else {
        return;
    };
    if PAGES.fetch_add(1, Ordering::Relaxed) + 1 == n {
        panic!("BARFILL_TEST_PANIC_WORKER={n}: panicking after page {n}");
    }
}

async fn fetch_grouped(ctx: &Ctx, day: calendar::Day, rows: &[usize]) -> WorkEnd {
    let url = ctx.client.grouped_url(day, ctx.adjusted);
    let (page, _) = match fetch_page(ctx, None, &url, &HashSet::new()).await {
        Ok(p) => p,
        Err(end) => return end,
    };
    let wanted: HashSet<usize> = rows.iter().copied().collect();
    // Grouped bars are stamped 16:00 New York; range day bars 00:00. Store the range
    // stamp, so both paths give identical rows.
    let midnight = calendar::ny_midnight_ms(day);
    let market_open = !page.bars.is_empty();
    let mut per_row: HashMap<usize, Vec<crate::bar::Bar>> = HashMap::new();
    for (ticker, mut bar) in page.tickers.into_iter().zip(page.bars) {
        if let Some(&row) = ctx.daily_rows.get(&ticker)
            && wanted.contains(&row)
        {
            bar.ts = midnight;
            per_row.entry(row).or_default().push(bar);
        }
    }
    // An answer with bars that lacks a ticker says nothing about that ticker's day (it may
    // be one the grouped endpoint leaves out): ask the per-ticker endpoint instead of
    // recording the day as fetched. An empty answer is a closed market for everyone.
    let mut groups = Vec::new();
    let mut finished = Vec::new();
    for &row in rows {
        let meta = &ctx.rows[row];
        let bars = per_row.remove(&row).unwrap_or_default();
        let range = Range { from: day, to: day };
        if market_open && bars.is_empty() {
            tracing::info!(ticker = %meta.ticker, day = %calendar::format_day(day), "not in the grouped answer; asking per ticker");
            ctx.sched.lock().unwrap().requeue(row, range);
            continue;
        }
        finished.push(Finished {
            ticker: meta.ticker.clone(),
            timeframe: meta.timeframe.clone(),
            done: WindowDone { row, range, bars: bars.len() as u64, requests: 1 },
            record_to: ctx.settled(range),
        });
        if !bars.is_empty() {
            groups.push(BarGroup { ticker: meta.ticker.clone(), timeframe: meta.timeframe.clone(), bars });
        }
    }
    if store(ctx, WriteMsg::Page { groups, finished }).await.is_err() {
        return WorkEnd::Cancelled;
    }
    WorkEnd::Done
}

/// Waits for its turn (pause, the shared gate, the pacer), then makes the request.
/// `retrying` says a backoff wait came before: the row shows fetching again.
async fn attempt(
    ctx: &Ctx,
    row: Option<usize>,
    url: &Url,
    visited: &HashSet<String>,
    retrying: bool,
) -> Result<Page, Attempt> {
    let mut settings = ctx.settings();
    if settings.paused {
        let mut rx = ctx.settings.clone();
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(Attempt::Cancelled),
            r = rx.wait_for(|s| !s.paused) => if r.is_err() { return Err(Attempt::Cancelled) },
        }
        settings = ctx.settings();
    }
    let mut held = false;
    if settings.fixes.batching {
        if let (Some(row), Some(until)) = (row, ctx.pacer.gate_until()) {
            let secs = until.saturating_duration_since(Instant::now()).as_secs_f64();
            ctx.emit(Event::RowState { row, state: RowState::Backoff { secs, reason: "held after a 429".into() } });
        }
        let Some(waited) = ctx.pacer.acquire(&ctx.cancel).await else {
            return Err(Attempt::Cancelled);
        };
        if !waited.gate.is_zero() {
            ctx.emit(Event::Backoff {
                row,
                secs: waited.gate.as_secs_f64(),
                reason: "held after a 429".into(),
                held: true,
            });
        }
        if !waited.limiter.is_zero() {
            ctx.emit(Event::LimiterWait { secs: waited.limiter.as_secs_f64() });
        }
        held = !waited.gate.is_zero();
    }
    if let Some(row) = row
        && (held || retrying)
    {
        ctx.emit(Event::RowState { row, state: RowState::Fetching });
    }
    let started = Instant::now();
    let result = tokio::select! {
        _ = ctx.cancel.cancelled() => return Err(Attempt::Cancelled),
        r = ctx.client.get(url) => r,
    };
    let secs = started.elapsed().as_secs_f64();
    let mut result = result.and_then(|page| {
        // A next_url that leads back to a page already fetched would loop for ever.
        match page.next_url.as_deref().map(|n| ctx.client.resolve_next(n)).transpose()? {
            Some(n) if visited.contains(n.as_str()) => Err(FetchError::Malformed(format!(
                "next_url points back at a page already fetched ({})",
                Client::show(&n)
            ))),
            _ => Ok(page),
        }
    });
    if let Err(e) = &mut result
        && let FetchError::Timeout(t) = e
    {
        *t = secs;
    }
    ctx.emit(Event::Request(RequestRecord {
        row,
        path: Client::show(url),
        status: match &result {
            Ok(_) => Some(200),
            Err(e) => e.status(),
        },
        error: result.as_ref().err().map(FetchError::kind),
        message: result.as_ref().err().map(|e| e.to_string()),
        secs,
        bytes: result.as_ref().map(|p| p.bytes as u64).unwrap_or(0),
        bars: result.as_ref().map(|p| p.bars.len() as u64).unwrap_or(0),
    }));
    match result {
        Ok(page) => {
            ctx.budget.on_success();
            if settings.fixes.batching
                && let Some(rate) = ctx.pacer.on_success()
            {
                ctx.emit(Event::Pace { per_min: rate });
                ctx.emitter.notice(Level::Info, format!("no 429 for a while: pace raised to {rate:.1}/min"));
            }
            Ok(page)
        }
        Err(e) => {
            if e.is_rate_limit()
                && settings.fixes.batching
                && let Some(rate) = ctx.pacer.on_rate_limited(started)
            {
                ctx.emit(Event::Pace { per_min: rate });
                ctx.emitter.notice(
                    Level::Warn,
                    format!(
                        "429 while pacing: the server's limit is below the configured quota; pace now {rate:.1}/min"
                    ),
                );
            }
            Err(Attempt::Fetch(e))
        }
    }
}

/// One page with retries under the backoff policy in force. Returns the page and the
/// number of requests it took.
async fn fetch_page(
    ctx: &Ctx,
    row: Option<usize>,
    url: &Url,
    visited: &HashSet<String>,
) -> Result<(Page, u32), WorkEnd> {
    let settings = ctx.settings();
    let policy = Policy::for_fix(settings.fixes.backoff);
    let batching = settings.fixes.batching;
    let attempts = AtomicU32::new(0);
    let budget_spent = AtomicBool::new(false);
    let cancel = ctx.cancel.clone();
    let result = (|| async {
        let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        attempt(ctx, row, url, visited, n > 1).await
    })
    .retry(policy.schedule(ctx.max_attempts))
    .sleep(move |d: Duration| {
        let cancel = cancel.clone();
        async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(d) => {}
            }
        }
    })
    .when(|e: &Attempt| matches!(e, Attempt::Fetch(f) if f.disposition() == Disposition::Retry))
    .adjust(|e: &Attempt, proposed: Option<Duration>| {
        let Attempt::Fetch(err) = e else { return None };
        let wait = policy.adjust(err.retry_after(), proposed?);
        // A 429 is the server asking for patience, not failing: it costs a quarter.
        let cost = if err.is_rate_limit() { 0.25 } else { 1.0 };
        if !ctx.budget.try_spend(cost) {
            budget_spent.store(true, Ordering::Relaxed);
            return None;
        }
        Some(wait)
    })
    .notify(|e: &Attempt, wait: Duration| {
        let Attempt::Fetch(err) = e else { return };
        let reason = err.kind().to_string();
        if let Some(row) = row {
            ctx.emit(Event::RowState {
                row,
                state: RowState::Backoff { secs: wait.as_secs_f64(), reason: reason.clone() },
            });
        }
        ctx.emit(Event::Backoff { row, secs: wait.as_secs_f64(), reason, held: false });
        tracing::warn!(error = %err, wait_s = wait.as_secs_f64(), "retrying {}", Client::show(url));
        // With fix 2 every worker waits out a 429 together, instead of the others
        // spending the quota that is not there.
        if batching && err.is_rate_limit() {
            ctx.pacer.hold_all(wait);
        }
    })
    .await;
    match result {
        Ok(page) => Ok((page, attempts.load(Ordering::Relaxed))),
        Err(Attempt::Cancelled) => Err(WorkEnd::Cancelled),
        Err(Attempt::Fetch(err)) => {
            let what = Client::show(url);
            match err.disposition() {
                Disposition::StopRun => {
                    ctx.fail_run(format!("{err} (no request can succeed with this key; nothing was retried)"));
                    Err(WorkEnd::Cancelled)
                }
                Disposition::FailJob => Err(WorkEnd::Failed(err.to_string())),
                Disposition::Retry if budget_spent.load(Ordering::Relaxed) => {
                    ctx.fail_run(format!("retry budget exhausted: the service keeps failing (last: {err} on {what})"));
                    Err(WorkEnd::Cancelled)
                }
                Disposition::Retry => {
                    Err(WorkEnd::Failed(format!("gave up after {} attempts: {err}", attempts.load(Ordering::Relaxed))))
                }
            }
        }
    }
}
