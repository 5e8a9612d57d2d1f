//! Automatic concurrency in a running backfill: once a second the run's figures over the
//! last window go to the [`Controller`], and the count it asks for is sent to the workers
//! like any other setting, with the reason the faces show. It also tells the scheduler
//! whether rows may be cut into pieces: only when measurements show the quota is not
//! what limits the run.

use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::autotune::{Controller, Sample};
use super::ctx::Ctx;
use super::events::{Event, Level, Settings};
use super::tally::Tally;
use crate::clock;
use crate::config::Concurrency;

/// Long enough for a window to hold several pages at a paid plan's pace, short enough
/// that a run of half a minute settles within its first third.
const WINDOW: Duration = Duration::from_secs(2);

/// The running totals a window is the difference of.
#[derive(Clone, Copy, Default)]
struct Totals {
    bars: u64,
    requests: u64,
    ok_requests: u64,
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
            ok_requests: t.ok_requests,
            rate_limited: t.rate_limit_hits,
            writer_blocked_s: t.writer_blocked_s,
            limiter_s: t.limiter_s,
            api_s: t.api_s,
        }
    }

    fn since(&self, before: &Totals, secs: f64) -> Sample {
        Sample {
            secs,
            bars: self.bars.saturating_sub(before.bars),
            requests: self.requests.saturating_sub(before.requests),
            ok_requests: self.ok_requests.saturating_sub(before.ok_requests),
            rate_limited: self.rate_limited.saturating_sub(before.rate_limited),
            writer_blocked_s: (self.writer_blocked_s - before.writer_blocked_s).max(0.0),
            limiter_s: (self.limiter_s - before.limiter_s).max(0.0),
            api_s: (self.api_s - before.api_s).max(0.0),
            ..Sample::default()
        }
    }
}

pub(super) struct Tuning {
    control: Controller,
    started: Instant,
    from: Instant,
    base: Totals,
    /// The settings the window began under: a window that saw a change by hand, a pause
    /// or a switch measures two regimes and is thrown away.
    under: Settings,
    /// The quota left room in the last window with requests: rows may then be cut into
    /// pieces for idle workers.
    quota_room: bool,
}

impl Tuning {
    pub fn new(ctx: &Ctx) -> Tuning {
        let now = clock::now();
        let t = Tuning {
            control: Controller::new(),
            started: now,
            from: now,
            base: Totals::of(&ctx.emitter.tally()),
            under: ctx.settings(),
            quota_room: paid(ctx.pacer.rate_per_min()),
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
        let tally = ctx.emitter.tally();
        let now = Totals::of(&tally);
        let pace = ctx.pacer.rate_per_min();
        let sample = Sample {
            pace_per_min: pace,
            latency_s: tally.latency_s,
            latency_samples: tally.latency_samples,
            paced: s.fixes.batching,
            held: ctx.pacer.gate_until().is_some(),
            ..now.since(&self.base, secs)
        };
        self.from = clock::now();
        self.base = now;
        if sample.requests > 0 {
            self.quota_room = self.has_room(&sample, s);
        }
        if !s.auto || !s.fixes.parallel {
            return false;
        }
        let at = clock::since(self.started).as_secs_f64();
        let Some((workers, why)) = self.control.decide(at, s.concurrency, &sample) else { return false };
        let next = Settings { concurrency: workers, why, ..s };
        tracing::debug!(bars_per_s = sample.bars as f64 / secs, "throughput over the window");
        let _ = settings_tx.send(next);
        ctx.emit(Event::Settings(next));
        ctx.emitter.notice(Level::Info, format!("workers {} -> {workers}: {why}", s.concurrency));
        self.under = next;
        true
    }

    /// Whether the quota left room over the window. Below a paid plan's pace every
    /// request costs time at the quota, so a cut that adds one is never worth it there:
    /// requests stay the fewest the bars allow. At a paid plan's pace, room means neither
    /// 429s nor the pacer held the workers.
    fn has_room(&self, sample: &Sample, s: Settings) -> bool {
        paid(sample.pace_per_min) && sample.rate_limited == 0 && !sample.held && !sample.quota_binds(s.workers())
    }

    /// Lets the scheduler cut rows into pieces while several workers run, fix 2 is on
    /// and the quota leaves room: requests a chain would not make then cost no time.
    fn share_rows(&self, ctx: &Ctx, s: Settings) {
        let on = self.quota_room && s.fixes.batching && s.fixes.parallel && !s.paused;
        let mut sched = ctx.sched.lock();
        sched.set_split(on.then(|| s.workers()));
        sched.set_workers(s.workers());
    }

    fn restart(&mut self, ctx: &Ctx, s: Settings) {
        if s.fixes != self.under.fixes || s.paused != self.under.paused || s.auto != self.under.auto {
            self.control.user_switched(clock::since(self.started).as_secs_f64());
        }
        self.under = s;
        self.from = clock::now();
        self.base = Totals::of(&ctx.emitter.tally());
    }
}

fn paid(pace_per_min: f64) -> bool {
    pace_per_min >= Concurrency::PAID_PACE_PER_MIN as f64
}
