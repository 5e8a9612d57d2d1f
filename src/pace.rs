//! Fix 2's pacer: the pace every paced request keeps, the shared gate that holds them all
//! after a 429, and what a 429 may teach about the server's real limit.
//!
//! The rules follow `notes/adaptive-pacing.md` (AWS adaptive retry, CUBIC, RFC 9002's one
//! reduction per round trip, Envoy's stale epochs). A per-minute quota's "round trip" is
//! the server's window W: a change in what barfill sends shows in the server's count only
//! a window later. So:
//! - A 429 teaches something only if its request was paced, sent after the server's window
//!   had cleared of the last unpaced traffic (the *horizon*), and after the last cut's
//!   episode closed. Every other 429 holds traffic at the gate and changes no rate.
//! - One cut per episode, to 0.7 of what the server accepted in its last window (never
//!   below a floor), then a CUBIC climb back to that level within half a window, and a
//!   convex probe above it up to the configured ceiling.
//! - When pacing goes on after unpaced traffic, the pacer works out from its own log of
//!   answered requests when a steady pace can start without overfilling the server's
//!   window, and holds the gate until then instead of sending into a full window.
//!
//! Spacing is a next-slot clock rather than a `governor` limiter: the rate moves
//! continuously while it recovers, and a rebuilt limiter forgets when its last cell went.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use crate::clock;

/// A cut keeps this share of what the server accepted (CUBIC's and AWS's beta).
const BETA: f64 = 0.7;
/// Before two episodes agree on a limit, no cut goes below this share of the ceiling.
const FLOOR_SHARE: f64 = 0.5;
/// Nor below this many requests a minute.
const FLOOR_PER_MIN: f64 = 5.0;
/// Once two episodes agree, a cut keeps this share of the agreed limit.
const AGREED_FLOOR_SHARE: f64 = 0.9;
/// Two episodes agree when their accepted rates are within this share of each other.
const AGREEMENT: f64 = 0.15;
/// The gate lets a probe through at most this often, as a share of the window.
const PROBE_SHARE: f64 = 0.1;
/// After pacing goes on, 429s on requests sent up to this long after the window could
/// have cleared are still stale: arrival times differ from send times.
const HORIZON_SLACK: Duration = Duration::from_secs(2);
/// How long an answered request is taken to stay in the server's window beyond W, for
/// the same reason.
const ARRIVAL_SLACK: Duration = Duration::from_secs(1);

/// When a request went out, and whether the pacer let it through.
#[derive(Clone, Copy, Debug)]
pub struct Sent {
    pub at: Instant,
    pub paced: bool,
}

/// How the server answered, as far as its quota is concerned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Answer {
    /// Any answer but a 429: the server counted the request.
    Counted,
    RateLimited {
        retry_after: Option<Duration>,
    },
    /// No answer (a timeout, a reset): whether the server counted it is unknown.
    Lost,
}

/// What the pacer holds traffic for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hold {
    /// Pacing went on while the server's window was still full of unpaced requests.
    Drain,
    /// A 429 that says the window is full, not that the limit is lower.
    Stale,
    /// A 429 that cut the pace.
    Limit,
    /// The server said how long with `Retry-After`.
    RetryAfter,
}

/// Something a face should be told.
#[derive(Clone, Debug, PartialEq)]
pub enum News {
    /// The gate closed until `until` (probes aside), and why.
    Held { hold: Hold, secs: f64 },
    /// The pace was cut from `from` to `to` after the server accepted `accepted` a minute.
    Cut { from: f64, to: f64, accepted: f64 },
    /// Two episodes agree: the server's limit is about this many a minute.
    Learned { limit: f64 },
    /// The server accepted more than the limit learned: it is forgotten.
    Forgot { accepted: f64 },
}

/// The pacer's state as the faces and the report show it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PaceFigures {
    pub quota_per_min: f64,
    /// The quota less headroom: the most the pacer ever sends.
    pub ceiling_per_min: f64,
    pub rate_per_min: f64,
    /// The limit two separate episodes agreed on, while it holds.
    pub learned_per_min: Option<f64>,
    /// What the server accepted over its last window, per minute.
    pub accepted_per_min: f64,
    /// 429s that cut the pace.
    pub taught_429: u64,
    /// 429s on paced requests that taught nothing: a window still full of earlier
    /// traffic, or one more of an episode already answered.
    pub stale_429: u64,
    /// 429s on unpaced requests (fix 2 off).
    pub unpaced_429: u64,
    pub cuts: u32,
    /// Seconds the gate stays closed from when the figures were taken.
    pub held_s: Option<f64>,
    pub hold: Option<Hold>,
}

impl PaceFigures {
    /// Whether the evidence says the server allows less than the configured quota: two
    /// separate episodes agreed on a limit below the ceiling.
    pub fn limit_is_lower(&self) -> bool {
        self.learned_per_min.is_some_and(|l| l < self.ceiling_per_min * 0.95)
    }
}

/// Time a caller spent in [`Pacer::acquire`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Waited {
    /// Held by the shared gate.
    pub gate: Duration,
    /// Held to keep the pace.
    pub limiter: Duration,
}

pub struct Pacer {
    quota: f64,
    ceiling: f64,
    window: Duration,
    state: Mutex<State>,
}

struct Gate {
    until: Instant,
    closed_at: Instant,
    next_probe: Instant,
    hold: Hold,
}

/// A cut and the recovery after it.
#[derive(Clone, Copy, Debug)]
struct Episode {
    cut_at: Instant,
    /// The level the climb returns to: what the server accepted (or the floor).
    w_max: f64,
    cut_to: f64,
    accepted: f64,
    /// An episode closes once a window has passed and a request sent after the cut
    /// succeeded; until then its 429s are answered already. Kept on the episode's own
    /// clock (seconds since the cut, pauses left out), where the climb is drawn.
    closed_at: Option<f64>,
}

struct State {
    rate: f64,
    next_slot: Instant,
    pacing: bool,
    last_unpaced: Option<Instant>,
    /// 429s on requests sent before this are stale.
    horizon: Option<Instant>,
    gate: Option<Gate>,
    /// Send times of requests the server counted, oldest first, over the last two windows,
    /// and the first of them ever: whether the log covers two windows yet.
    counted: VecDeque<Instant>,
    counting_since: Option<Instant>,
    episode: Option<Episode>,
    learned: Option<f64>,
    /// Recovery time does not run while paused.
    paused_since: Option<Instant>,
    frozen: Duration,
    taught: u64,
    stale: u64,
    unpaced: u64,
    cuts: u32,
}

impl Pacer {
    /// Paces at `quota_per_min` less `headroom_pct` percent; `window` is the span over
    /// which the server counts its quota (a minute for Polygon).
    pub fn new(quota_per_min: u32, headroom_pct: f64, window: Duration) -> Pacer {
        let quota = quota_per_min as f64;
        let ceiling = (quota * (1.0 - headroom_pct / 100.0)).max(0.01);
        let now = clock::now();
        Pacer {
            quota,
            ceiling,
            window,
            state: Mutex::new(State {
                rate: ceiling,
                next_slot: now,
                pacing: true,
                last_unpaced: None,
                horizon: None,
                gate: None,
                counted: VecDeque::new(),
                counting_since: None,
                episode: None,
                learned: None,
                paused_since: None,
                frozen: Duration::ZERO,
                taught: 0,
                stale: 0,
                unpaced: 0,
                cuts: 0,
            }),
        }
    }

    pub fn rate_per_min(&self) -> f64 {
        let now = clock::now();
        let mut s = self.state.lock();
        self.refresh(&mut s, now);
        s.rate
    }

    pub fn ceiling_per_min(&self) -> f64 {
        self.ceiling
    }

    pub fn window(&self) -> Duration {
        self.window
    }

    /// How far apart the gate lets probes through at the pace now.
    pub fn probe_spacing(&self) -> Duration {
        self.probe_every(self.rate_per_min())
    }

    /// When the gate opens, if it is closed.
    pub fn gate_until(&self) -> Option<Instant> {
        let now = clock::now();
        self.state.lock().gate.as_ref().map(|g| g.until).filter(|t| *t > now)
    }

    pub fn figures(&self) -> PaceFigures {
        let now = clock::now();
        let mut s = self.state.lock();
        self.refresh(&mut s, now);
        let gate = s.gate.as_ref().filter(|g| g.until > now);
        PaceFigures {
            quota_per_min: self.quota,
            ceiling_per_min: self.ceiling,
            rate_per_min: s.rate,
            learned_per_min: s.learned,
            accepted_per_min: self.accepted_per_min(&s, now),
            taught_429: s.taught,
            stale_429: s.stale,
            unpaced_429: s.unpaced,
            cuts: s.cuts,
            held_s: gate.map(|g| (g.until - now).as_secs_f64()),
            hold: gate.map(|g| g.hold),
        }
    }

    /// Fix 2 went on or off. Going on after unpaced traffic starts a new epoch: 429s on
    /// requests sent before the server's window can have cleared are stale, and the gate
    /// holds until a steady pace fits in what the window still holds.
    pub fn set_pacing(&self, on: bool) -> Option<News> {
        let now = clock::now();
        let mut s = self.state.lock();
        if s.pacing == on {
            return None;
        }
        s.pacing = on;
        if !on {
            s.gate = None;
            return None;
        }
        self.refresh(&mut s, now);
        let last = s.last_unpaced?;
        let horizon = last + self.window + HORIZON_SLACK;
        if horizon <= now {
            return None;
        }
        s.horizon = Some(horizon);
        let start = self.drain_start(&s, now);
        s.next_slot = start;
        if start <= now {
            return None;
        }
        s.gate = Some(Gate { until: start, closed_at: now, next_probe: start, hold: Hold::Drain });
        let secs = (start - now).as_secs_f64();
        (secs >= 1.0).then_some(News::Held { hold: Hold::Drain, secs })
    }

    /// The run paused or resumed: the climb after a cut does not go on meanwhile.
    pub fn set_paused(&self, paused: bool) {
        let now = clock::now();
        let mut s = self.state.lock();
        match (paused, s.paused_since) {
            (true, None) => s.paused_since = Some(now),
            (false, Some(since)) => {
                s.frozen += now - since;
                s.paused_since = None;
            }
            _ => {}
        }
    }

    /// A request is about to go out; `paced` says it came through [`Pacer::acquire`].
    pub fn sent(&self, paced: bool) -> Sent {
        let at = clock::now();
        if !paced {
            self.state.lock().last_unpaced = Some(at);
        }
        Sent { at, paced }
    }

    /// Waits for the gate (or a probe's turn through it), then for the pace's next slot.
    /// `None` if cancelled first.
    pub async fn acquire(&self, cancel: &CancellationToken) -> Option<Waited> {
        let mut waited = Waited::default();
        loop {
            let step = {
                let now = clock::now();
                let mut s = self.state.lock();
                self.step(&mut s, now)
            };
            let (until, gate) = match step {
                Step::Go => return Some(waited),
                Step::Gate(t) => (t, true),
                Step::Slot(t) => (t, false),
            };
            let start = clock::now();
            tokio::select! {
                _ = cancel.cancelled() => return None,
                _ = tokio::time::sleep_until(until.into()) => {}
            }
            if gate {
                waited.gate += clock::since(start);
            } else {
                waited.limiter += clock::since(start);
            }
        }
    }

    fn step(&self, s: &mut State, now: Instant) -> Step {
        if let Some(g) = &mut s.gate {
            if now >= g.until {
                s.gate = None;
            } else if now >= g.next_probe {
                // This caller is the probe: it goes at the pace like any request.
                g.next_probe = now + self.probe_every(s.rate);
            } else {
                return Step::Gate(g.until.min(g.next_probe));
            }
        }
        self.refresh(s, now);
        if s.next_slot > now {
            return Step::Slot(s.next_slot);
        }
        let interval = interval(s.rate);
        // A caller that woke a little late keeps the grid; one after an idle spell
        // starts it afresh, so idle time never turns into a burst.
        s.next_slot = if now - s.next_slot > interval / 4 { now + interval } else { s.next_slot + interval };
        Step::Go
    }

    /// An answer came for a request sent as `sent`. Returns what a face should be told.
    pub fn on_answer(&self, sent: Sent, answer: Answer) -> Option<News> {
        let now = clock::now();
        let mut s = self.state.lock();
        match answer {
            Answer::Lost => None,
            Answer::Counted => {
                self.count(&mut s, sent.at, now);
                self.on_success(&mut s, sent.at, now)
            }
            Answer::RateLimited { retry_after } => {
                if !sent.paced || !s.pacing {
                    s.unpaced += 1;
                    return None;
                }
                self.on_rate_limited(&mut s, sent.at, retry_after, now)
            }
        }
    }

    fn on_success(&self, s: &mut State, sent_at: Instant, now: Instant) -> Option<News> {
        if s.gate.as_ref().is_some_and(|g| sent_at >= g.closed_at && g.hold != Hold::Drain) {
            s.gate = None;
        }
        let clock = s.episode.map(|e| episode_clock(s, &e, now));
        if let (Some(e), Some(clock)) = (&mut s.episode, clock)
            && e.closed_at.is_none()
            && sent_at >= e.cut_at
            && now >= e.cut_at + self.window
        {
            e.closed_at = Some(clock);
        }
        // Counting the log is linear: only a learned limit needs it on every answer.
        let limit = s.learned.filter(|_| self.window_covered(s, now))?;
        let accepted = self.accepted_per_min(s, now);
        (accepted - limit > self.agreement(limit, accepted)).then(|| {
            s.learned = None;
            News::Forgot { accepted }
        })
    }

    fn on_rate_limited(
        &self,
        s: &mut State,
        sent_at: Instant,
        retry_after: Option<Duration>,
        now: Instant,
    ) -> Option<News> {
        self.refresh(s, now);
        let stale = s.horizon.is_some_and(|h| sent_at < h);
        let answered = s.episode.is_some_and(|e| e.closed_at.is_none() || sent_at < e.cut_at);
        if stale || answered {
            s.stale += 1;
            let until = match s.horizon.filter(|_| stale) {
                Some(h) => h.max(now + self.probe_every(s.rate)),
                None => now + self.window,
            };
            return self.hold(s, now, until, retry_after, Hold::Stale);
        }
        let accepted = self.accepted_per_min(s, now);
        if s.learned.is_some_and(|l| (l - accepted).abs() > self.agreement(l, accepted)) {
            s.learned = None;
        }
        // Two episodes in separate windows that saw the server accept about the same
        // are evidence of its limit; one alone may have met other traffic.
        let previous = s.episode;
        let agreed = previous.is_some_and(|p| (p.accepted - accepted).abs() <= self.agreement(p.accepted, accepted));
        let learned = previous.filter(|_| agreed).map(|p| (p.accepted + accepted) / 2.0).or(s.learned);
        let before = s.rate;
        let w_max = before.min(accepted);
        let floor = match learned {
            Some(limit) => limit * AGREED_FLOOR_SHARE,
            None => (self.ceiling * FLOOR_SHARE).max(FLOOR_PER_MIN),
        }
        .min(self.ceiling);
        let cut_to = (BETA * w_max).max(floor).min(before);
        if cut_to >= before {
            // Already at the floor: there is nothing to cut, only a window to wait out.
            s.stale += 1;
            return self.hold(s, now, now + self.window, retry_after, Hold::Stale);
        }
        s.taught += 1;
        s.cuts += 1;
        let newly_learned = s.learned.is_none() && learned.is_some();
        s.learned = learned;
        s.episode = Some(Episode { cut_at: now, w_max: w_max.max(cut_to), cut_to, accepted, closed_at: None });
        s.frozen = Duration::ZERO;
        s.paused_since = s.paused_since.map(|_| now);
        s.rate = cut_to;
        self.hold(s, now, now + self.window, retry_after, Hold::Limit);
        if newly_learned && let Some(limit) = learned {
            return Some(News::Learned { limit });
        }
        Some(News::Cut { from: before, to: cut_to, accepted })
    }

    /// Closes the gate until `until` (or as long as `Retry-After` says), letting a probe
    /// through now and then; returns the news when it was open.
    fn hold(&self, s: &mut State, now: Instant, until: Instant, ra: Option<Duration>, hold: Hold) -> Option<News> {
        let (until, next_probe, hold) = match ra {
            Some(ra) => (now + ra, now + ra, Hold::RetryAfter),
            None => (until, now + self.probe_every(s.rate), hold),
        };
        match &mut s.gate {
            Some(g) if g.until > now => {
                g.until = g.until.max(until);
                g.next_probe = g.next_probe.max(next_probe);
                None
            }
            _ => {
                s.gate = Some(Gate { until, closed_at: now, next_probe, hold });
                Some(News::Held { hold, secs: (until - now).as_secs_f64() })
            }
        }
    }

    /// The pace now: after a cut, a CUBIC climb back to what the server accepted within
    /// half a window, level there while the episode is open, then a convex probe above it
    /// up to the ceiling: slow near the level, fast far from it, so a limit that went back
    /// up is found within a window of the episode's end.
    fn refresh(&self, s: &mut State, now: Instant) {
        let Some(e) = s.episode else {
            s.rate = self.ceiling;
            return;
        };
        let t = episode_clock(s, &e, now);
        let k = self.window.as_secs_f64() / 2.0;
        let c = (1.0 - BETA) * e.w_max / k.powi(3);
        let climb = if t < k { c * (t - k).powi(3) } else { 0.0 };
        let probe = e.closed_at.filter(|from| t > *from).map_or(0.0, |from| c * (t - from).powi(3));
        s.rate = (e.w_max + climb + probe).max(e.cut_to).min(self.ceiling);
    }

    /// What the server accepted over its last window, per minute: the count in the last
    /// window, or, once the log reaches back two windows, the mean of the last two if
    /// lower. A server that counts fixed windows can take up to twice its limit within
    /// one sliding window across a boundary; over two windows it takes at most its limit
    /// a window.
    fn accepted_per_min(&self, s: &State, now: Instant) -> f64 {
        let count = |span: Duration| {
            let from = now.checked_sub(span);
            s.counted.iter().rev().take_while(|t| from.is_none_or(|f| **t > f)).count() as f64
        };
        let mut per_window = count(self.window);
        let two = self.window * 2;
        if s.counting_since.is_some_and(|t| now.saturating_duration_since(t) >= two) {
            per_window = per_window.min(count(two) / 2.0);
        }
        per_window * 60.0 / self.window.as_secs_f64()
    }

    /// Whether the log reaches back a whole window, so `accepted_per_min` is a full count.
    fn window_covered(&self, s: &State, now: Instant) -> bool {
        s.counting_since.is_some_and(|t| now.saturating_duration_since(t) >= self.window)
    }

    fn count(&self, s: &mut State, at: Instant, now: Instant) {
        let keep = self.window * 2 + ARRIVAL_SLACK;
        while s.counted.front().is_some_and(|t| now.saturating_duration_since(*t) > keep) {
            s.counted.pop_front();
        }
        s.counting_since.get_or_insert(at);
        // Answers come back out of order; the log stays sorted by send time.
        let i = s.counted.partition_point(|t| *t <= at);
        s.counted.insert(i, at);
    }

    /// How far apart two accepted rates may be and still agree: a share of them, or a
    /// request and a half a window, whichever is more (a short window counts few).
    fn agreement(&self, a: f64, b: f64) -> f64 {
        (AGREEMENT * a.max(b)).max(1.5 * 60.0 / self.window.as_secs_f64())
    }

    fn probe_every(&self, rate: f64) -> Duration {
        interval(rate).max(self.window.mul_f64(PROBE_SHARE))
    }

    /// The earliest moment from which sending at the pace never puts more in any server
    /// window than the pace allows one, given the counted requests the window still
    /// holds. Feasibility only grows with a later start, so it is found by bisection.
    fn drain_start(&self, s: &State, now: Instant) -> Instant {
        let hold = self.window + ARRIVAL_SLACK;
        let from = now.checked_sub(hold);
        let held: Vec<f64> = s
            .counted
            .iter()
            .filter(|t| from.is_none_or(|f| **t > f))
            .map(|t| -(now.saturating_duration_since(*t).as_secs_f64()))
            .collect();
        let allowance = (s.rate * self.window.as_secs_f64() / 60.0).floor().max(1.0) as usize;
        let tau = interval(s.rate).as_secs_f64();
        let w = hold.as_secs_f64();
        let fits = |start: f64| -> bool {
            // The k-th paced send at start + k·tau: what the window behind it still holds.
            let mut first_inside = 0;
            let mut k = 0usize;
            loop {
                let at = start + k as f64 * tau;
                if at - w > 0.0 {
                    return true;
                }
                while first_inside < held.len() && held[first_inside] <= at - w {
                    first_inside += 1;
                }
                if held.len() - first_inside + (k + 1).min(allowance) > allowance {
                    return false;
                }
                k += 1;
            }
        };
        if fits(0.0) {
            return now;
        }
        let (mut lo, mut hi) = (0.0, w);
        for _ in 0..40 {
            let mid = (lo + hi) / 2.0;
            if fits(mid) { hi = mid } else { lo = mid }
        }
        now + Duration::from_secs_f64(hi)
    }
}

/// Seconds since the episode's cut, the time the run was paused left out.
fn episode_clock(s: &State, e: &Episode, now: Instant) -> f64 {
    let paused = s.paused_since.map_or(Duration::ZERO, |p| now.saturating_duration_since(p));
    now.saturating_duration_since(e.cut_at).saturating_sub(s.frozen + paused).as_secs_f64()
}

enum Step {
    Go,
    Gate(Instant),
    Slot(Instant),
}

/// Rounded up to the nanosecond: rounding down would creep past the pace.
fn interval(per_min: f64) -> Duration {
    Duration::from_nanos((60e9 / per_min.max(0.01)).ceil() as u64)
}

#[cfg(test)]
mod tests;
