//! One page: wait for its turn (pause, the shared gate after a 429, the pacer), ask,
//! check what came back, and retry under the backoff policy in force. Every wait is
//! reported, so the faces can say where the time went.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use backon::Retryable;
use reqwest::Url;
use tokio::sync::OwnedSemaphorePermit;

use super::ctx::Net;
use super::events::{Event, Level, RequestRecord, RowState};
use crate::clock;
use crate::pace;
use crate::polygon::check::Verdict;
use crate::polygon::client::Answered;
use crate::polygon::outcome::Disposition;
use crate::polygon::{Answer, Client, FetchError, Page};
use crate::retry::Policy;

/// How a piece of work ended.
pub enum WorkEnd {
    Done,
    Failed(String),
    /// The rest was handed back to the scheduler (a switch of fix 2 came mid-chain).
    PutBack,
    /// A 403 for history the plan does not cover.
    PlanLimited(String),
    Cancelled,
}

#[derive(Debug)]
enum Attempt {
    Fetch(FetchError),
    /// The same wrong answer as the attempt before: asking again this run would bring it
    /// a third time.
    Repeated(FetchError),
    Cancelled,
}

/// What a page's answer must satisfy before anything of it is stored; it returns the
/// bars worth naming and those to leave out, or why the page is wrong (a wrong page is
/// retried like a malformed one).
pub type Check<'a, T> = &'a (dyn Fn(&T) -> Result<Verdict, String> + Sync);

/// How one kind of answer is asked for: decoded by `parse`, then checked.
pub struct Ask<'a, T> {
    pub row: Option<usize>,
    pub url: &'a Url,
    /// Pages of the chain so far: a `next_url` back to one of them would loop for ever.
    pub visited: &'a HashSet<String>,
    pub parse: fn(&[u8]) -> Result<T, FetchError>,
    pub check: Check<'a, T>,
}

/// A page that passed its check, with the requests it took and its suspect bars.
pub struct Fetched<T = Page> {
    pub page: T,
    pub attempts: u32,
    /// Bars odd but kept, and bars impossible and left out.
    pub verdict: Verdict,
    /// The page's room in memory: dropped once the page is handed to the writer.
    pub room: Option<OwnedSemaphorePermit>,
}

/// A page that passed its check, before the retry loop counts its attempts.
struct Checked<T> {
    page: T,
    verdict: Verdict,
    room: Option<OwnedSemaphorePermit>,
}

/// One page of aggregates with retries under the backoff policy in force.
pub async fn fetch_page(
    ctx: &Net,
    row: Option<usize>,
    url: &Url,
    visited: &HashSet<String>,
    check: Check<'_, Page>,
) -> Result<Fetched, WorkEnd> {
    fetch_answer(ctx, Ask { row, url, visited, parse: crate::polygon::client::parse_page, check }).await
}

/// One page of any answer with retries under the backoff policy in force.
pub async fn fetch_answer<T: Answer>(ctx: &Net, ask: Ask<'_, T>) -> Result<Fetched<T>, WorkEnd> {
    let Ask { row, url, visited, parse, check } = ask;
    let settings = ctx.settings();
    let policy = Policy::for_fix(settings.fixes.backoff, ctx.jitter, ctx.wait_scale);
    let attempts = AtomicU32::new(0);
    let budget_spent = AtomicBool::new(false);
    let last_wrong: Mutex<Option<String>> = Mutex::new(None);
    let cancel = ctx.cancel.clone();
    let result = (|| async {
        let n = attempts.fetch_add(1, Ordering::Relaxed) + 1;
        match attempt(ctx, Ask { row, url, visited, parse, check }, n > 1).await {
            // A transport's garbage differs from try to try; wrong bars that come back
            // the same are the server's answer, and a third ask would bring them again.
            Err(Attempt::Fetch(FetchError::WrongData(m))) => {
                let repeated = last_wrong.lock().replace(m.clone()).is_some_and(|before| before == m);
                let err = FetchError::WrongData(m);
                Err(if repeated { Attempt::Repeated(err) } else { Attempt::Fetch(err) })
            }
            other => other,
        }
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
        if let Attempt::Fetch(err) = e {
            before_retry(ctx, row, url, err, wait);
        }
    })
    .await;
    let attempts = attempts.load(Ordering::Relaxed);
    match result {
        Ok(Checked { page, verdict, room }) => Ok(Fetched { page, attempts, verdict, room }),
        Err(Attempt::Cancelled) => Err(WorkEnd::Cancelled),
        Err(Attempt::Repeated(err)) => Err(WorkEnd::Failed(format!(
            "{err} (the same wrong answer twice: not asked again this run; the next run asks again)"
        ))),
        Err(Attempt::Fetch(err)) => Err(give_up(ctx, url, err, attempts, budget_spent.load(Ordering::Relaxed))),
    }
}

fn before_retry(ctx: &Net, row: Option<usize>, url: &Url, err: &FetchError, wait: Duration) {
    let reason = err.kind().label().to_string();
    if let Some(row) = row {
        ctx.emit(Event::RowState {
            row,
            state: RowState::Backoff { secs: wait.as_secs_f64(), reason: reason.clone() },
        });
    }
    ctx.emit(Event::Backoff { row, secs: wait.as_secs_f64(), reason, held: false });
    tracing::warn!(error = %err, wait_s = wait.as_secs_f64(), "retrying {}", Client::show(url));
}

fn give_up(ctx: &Net, url: &Url, err: FetchError, attempts: u32, budget_spent: bool) -> WorkEnd {
    match err.disposition() {
        Disposition::StopRun => {
            ctx.fail_run(format!("{err} (no request can succeed with this key; nothing was retried)"));
            WorkEnd::Cancelled
        }
        Disposition::FailJob if matches!(err, FetchError::PlanLimit { .. }) => WorkEnd::PlanLimited(err.to_string()),
        Disposition::FailJob => WorkEnd::Failed(err.to_string()),
        Disposition::Retry if budget_spent => {
            let what = Client::show(url);
            ctx.fail_run(format!("retry budget exhausted: the service keeps failing (last: {err} on {what})"));
            WorkEnd::Cancelled
        }
        Disposition::Retry => WorkEnd::Failed(format!("gave up after {attempts} attempts: {err}")),
    }
}

/// Waits for its turn, then makes the request. `retrying` says a backoff wait came
/// before: the row shows fetching again. A 429 on a paced request is waited out at the
/// pacer's gate, with every other worker, rather than by the backoff policy: it is the
/// window being full, not this request failing.
async fn attempt<T: Answer>(ctx: &Net, ask: Ask<'_, T>, retrying: bool) -> Result<Checked<T>, Attempt> {
    let Ask { row, url, visited, parse, check } = ask;
    let mut first = !retrying;
    loop {
        let (held, paced) = wait_turn(ctx, row).await?;
        if let Some(row) = row
            && (held || !first)
        {
            ctx.emit(Event::RowState { row, state: RowState::Fetching });
        }
        let sent = ctx.pacer.sent(paced);
        let result = tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(Attempt::Cancelled),
            r = ctx.client.get_as(url, parse) => r,
        };
        let secs = clock::since(sent.at).as_secs_f64();
        let bytes = result.as_ref().map(|a| a.bytes as u64).unwrap_or(0);
        let result = result.and_then(|a| accept(ctx, a, visited, check)).map_err(|mut e| {
            if let FetchError::Timeout(t) = &mut e {
                *t = secs;
            }
            e
        });
        report(ctx, row, url, &result, Sent { at: sent.at, secs, bytes, first });
        after_answer(ctx, &result, sent);
        match result {
            Err(e) if paced && e.is_rate_limit() && ctx.settings().fixes.batching => {
                // Patience costs a quarter of a retry: a server that never stops saying
                // 429 still ends the run through the budget.
                if !ctx.budget.try_spend(0.25) {
                    return Err(Attempt::Fetch(e));
                }
                first = false;
            }
            result => return result.map_err(Attempt::Fetch),
        }
    }
}

/// Pause, the shared gate after a 429 and the pacer (fix 2). Returns whether the gate
/// held this worker, and whether the request is paced.
async fn wait_turn(ctx: &Net, row: Option<usize>) -> Result<(bool, bool), Attempt> {
    let mut settings = ctx.settings();
    if settings.paused {
        let mut rx = ctx.settings.clone();
        tokio::select! {
            _ = ctx.cancel.cancelled() => return Err(Attempt::Cancelled),
            r = rx.wait_for(|s| !s.paused) => if r.is_err() { return Err(Attempt::Cancelled) },
        }
        settings = ctx.settings();
    }
    if !settings.fixes.batching {
        return Ok((false, false));
    }
    if let (Some(row), Some(until)) = (row, ctx.pacer.gate_until()) {
        let secs = until.saturating_duration_since(clock::now()).as_secs_f64();
        ctx.emit(Event::RowState { row, state: RowState::Backoff { secs, reason: HELD.into() } });
    }
    let Some(waited) = ctx.pacer.acquire(&ctx.cancel).await else {
        return Err(Attempt::Cancelled);
    };
    if !waited.gate.is_zero() {
        ctx.emit(Event::Backoff { row, secs: waited.gate.as_secs_f64(), reason: HELD.into(), held: true });
    }
    if !waited.limiter.is_zero() {
        ctx.emit(Event::LimiterWait { secs: waited.limiter.as_secs_f64() });
    }
    // A switch of fix 2 while this worker waited: it goes unpaced after all.
    let paced = ctx.settings().fixes.batching;
    Ok((!waited.gate.is_zero(), paced))
}

/// The reason a row shows while the pacer's gate holds it.
const HELD: &str = "held for the quota window";

/// A page is taken only if its `next_url` does not lead back to a page already fetched
/// (that would loop for ever) and its bars pass the check.
fn accept<T: Answer>(
    ctx: &Net,
    answered: Answered<T>,
    visited: &HashSet<String>,
    check: Check<'_, T>,
) -> Result<Checked<T>, FetchError> {
    let Answered { value: page, room, .. } = answered;
    if let Some(n) = page.next_url().map(|n| ctx.client.resolve_next(n)).transpose()?
        && visited.contains(n.as_str())
    {
        return Err(FetchError::Malformed(format!(
            "next_url points back at a page already fetched ({})",
            Client::show(&n)
        )));
    }
    let verdict = check(&page).map_err(FetchError::WrongData)?;
    Ok(Checked { page, verdict, room })
}

/// When a request went, how long it took, how big its answer was, and whether it was
/// the first try of its page (a retry's time says nothing clean about latency).
struct Sent {
    at: Instant,
    secs: f64,
    bytes: u64,
    first: bool,
}

fn report<T: Answer>(ctx: &Net, row: Option<usize>, url: &Url, result: &Result<Checked<T>, FetchError>, sent: Sent) {
    let page = result.as_ref().ok().map(|c| &c.page);
    ctx.emit(Event::Request(RequestRecord {
        row,
        path: Client::show(url),
        status: match result {
            Ok(_) => Some(200),
            Err(e) => e.status(),
        },
        error: result.as_ref().err().map(FetchError::kind),
        message: result.as_ref().err().map(|e| e.to_string()),
        at: sent.at,
        secs: sent.secs,
        bytes: sent.bytes,
        bars: page.map(|p| p.items()).unwrap_or(0),
        first: sent.first,
    }));
}

/// The pacer learns from every answer, and says what a face should show.
fn after_answer<T>(ctx: &Net, result: &Result<T, FetchError>, sent: pace::Sent) {
    let answer = match result {
        Ok(_) => {
            ctx.budget.on_success();
            pace::Answer::Counted
        }
        // The gate honours Retry-After as fix 1 does: the original pipeline ignored it.
        Err(e) if e.is_rate_limit() => {
            pace::Answer::RateLimited { retry_after: e.retry_after().filter(|_| ctx.settings().fixes.backoff) }
        }
        Err(FetchError::Timeout(_) | FetchError::Transport(_)) => pace::Answer::Lost,
        Err(_) => pace::Answer::Counted,
    };
    if let Some(news) = ctx.pacer.on_answer(sent, answer) {
        tell_pace(ctx, news);
    }
}

/// The pacer's news as the faces show it: a notice, and its figures.
pub fn tell_pace(ctx: &Net, news: pace::News) {
    let window = ctx.pacer.window().as_secs_f64();
    let (level, text) = match news {
        pace::News::Held { hold: pace::Hold::Drain, secs } => (
            Level::Info,
            format!(
                "pacing on: the server's window still holds earlier unpaced requests; paced requests start in {secs:.0}s"
            ),
        ),
        pace::News::Held { hold: pace::Hold::Stale, secs } => (
            Level::Info,
            format!(
                "429 from a window still full of earlier requests: holding up to {secs:.0}s with sparse probes; the pace stays"
            ),
        ),
        pace::News::Held { hold: pace::Hold::RetryAfter, secs } => {
            (Level::Info, format!("429 with Retry-After: every worker holds {secs:.0}s"))
        }
        pace::News::Held { hold: pace::Hold::Limit, .. } => return emit_figures(ctx),
        pace::News::Cut { from, to, accepted } => (
            Level::Warn,
            format!(
                "429 on a paced request after the window cleared: the server accepted {accepted:.0}/min; pace cut once, \
                 {from:.0} -> {to:.0}/min, back to {accepted:.0} within {:.0}s",
                window / 2.0
            ),
        ),
        pace::News::Learned { limit } => (
            Level::Warn,
            format!(
                "two separate 429 episodes agree: the server accepts about {limit:.0}/min (configured {:.0}/min)",
                ctx.pacer.figures().quota_per_min
            ),
        ),
        pace::News::Forgot { accepted } => (
            Level::Info,
            format!(
                "the server accepted {accepted:.0}/min, more than the limit learned: probing up to the quota again"
            ),
        ),
    };
    ctx.emitter.notice(level, text);
    emit_figures(ctx);
}

/// The pacer's figures for the faces.
pub fn emit_figures(ctx: &Net) {
    ctx.emit(Event::Pace(ctx.pacer.figures()));
}
