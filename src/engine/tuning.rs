//! Automatic concurrency in a running backfill: every few seconds the run's figures
//! over the last window go to the [`Tuner`], and the count it asks for is sent to the
//! workers like any other setting, with the reason the faces show.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::autotune::{Sample, Tuner};
use super::ctx::Ctx;
use super::events::{Event, Level, Settings};
use super::tally::Tally;
use crate::clock;

/// Long enough for a window to hold several pages at a paid plan's pace, short enough
/// that a run of half a minute settles within its first third.
const WINDOW: Duration = Duration::from_secs(2);

/// The running totals a window is the difference of.
#[derive(Clone, Copy, Default)]
struct Totals {
    bars: u64,
    requests: u64,
    rate_limited: u64,
    writer_blocked_s: f64,
    limiter_s: f64,
    api_s: f64,
}

impl Totals {
    fn of(t: &Tally) -> Totals {
        Totals {
            bars: t.bars,
            requests: t.requests,
            rate_limited: t.rate_limit_hits,
            writer_blocked_s: t.writer_blocked_s,
            limiter_s: t.limiter_s,
            api_s: t.api_s,
        }
    }

    fn since(&self, before: &Totals, secs: f64, pace_per_min: f64) -> Sample {
        Sample {
            secs,
            bars: self.bars.saturating_sub(before.bars),
            requests: self.requests.saturating_sub(before.requests),
            rate_limited: self.rate_limited.saturating_sub(before.rate_limited),
            writer_blocked_s: (self.writer_blocked_s - before.writer_blocked_s).max(0.0),
            limiter_s: (self.limiter_s - before.limiter_s).max(0.0),
            api_s: (self.api_s - before.api_s).max(0.0),
            pace_per_min,
        }
    }
}

pub(super) struct Tuning {
    tuner: Tuner,
    from: Instant,
    base: Totals,
    /// The settings the window began under: a window that saw a change by hand, a pause
    /// or a switch measures two regimes and is thrown away.
    under: Settings,
    /// The quota left room in the last window with requests (before one, whether its pace
    /// is a paid plan's): rows may then be cut into pieces for idle workers.
    quota_room: bool,
}

impl Tuning {
    pub fn new(ctx: &Ctx) -> Tuning {
        let t = Tuning {
            tuner: Tuner::new(),
            from: clock::now(),
            base: Totals::of(&ctx.emitter.tally()),
            under: ctx.settings(),
            quota_room: ctx.pacer.rate_per_min() >= crate::config::Concurrency::PAID_PACE_PER_MIN as f64,
        };
        t.share_rows(ctx, t.under);
        t
    }

    /// Called once a second; returns whether the count changed (workers to spawn). The
    /// scheduler then learns whether rows may be shared under the settings now in force.
    pub fn tick(&mut self, ctx: &Ctx, settings_tx: &watch::Sender<Settings>) -> bool {
        let changed = self.window(ctx, settings_tx);
        self.share_rows(ctx, ctx.settings());
        changed
    }

    /// Closes a window once it is long enough: the quota's verdict, then auto's count.
    fn window(&mut self, ctx: &Ctx, settings_tx: &watch::Sender<Settings>) -> bool {
        let s = ctx.settings();
        if s != self.under || s.paused {
            self.restart(ctx, s);
            return false;
        }
        let secs = clock::since(self.from).as_secs_f64();
        if secs < WINDOW.as_secs_f64() {
            return false;
        }
        let now = Totals::of(&ctx.emitter.tally());
        let sample = now.since(&self.base, secs, ctx.pacer.rate_per_min());
        self.from = clock::now();
        self.base = now;
        if sample.requests > 0 {
            self.quota_room = sample.rate_limited == 0 && !sample.quota_binds(s.workers());
        }
        if !s.auto || !s.fixes.parallel {
            return false;
        }
        let change = self.tuner.observe(s.concurrency, &sample);
        let Some((workers, why)) = change else { return false };
        let next = Settings { concurrency: workers, why, ..s };
        tracing::debug!(bars_per_s = sample.bars as f64 / secs, "throughput over the window");
        let _ = settings_tx.send(next);
        ctx.emit(Event::Settings(next));
        ctx.emitter.notice(Level::Info, format!("workers {} -> {workers}: {why}", s.concurrency));
        self.under = next;
        true
    }

    /// Lets the scheduler cut rows into pieces while several workers run, fix 2 is on
    /// and the quota leaves room: requests a chain would not make then cost no time.
    fn share_rows(&self, ctx: &Ctx, s: Settings) {
        let on = self.quota_room && s.fixes.batching && s.fixes.parallel && !s.paused;
        ctx.sched.lock().set_split(on.then(|| s.workers()));
    }

    fn restart(&mut self, ctx: &Ctx, s: Settings) {
        if s.concurrency != self.under.concurrency || s.fixes != self.under.fixes {
            self.tuner.forget();
        }
        self.under = s;
        self.from = clock::now();
        self.base = Totals::of(&ctx.emitter.tally());
    }
}
