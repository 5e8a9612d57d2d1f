//! A run's events with the second each came, and what the switch and quota profiles read
//! from them: the accepted rate over time, 429s, worker changes, the ETA's error, and an
//! oracle for the run's end.

use std::collections::VecDeque;

use crate::engine::autotune::why;
use crate::engine::{Event, Settings};

/// Events with their second since the run's start.
#[derive(Default)]
pub struct Timeline {
    pub events: Vec<(f64, Event)>,
}

impl Timeline {
    pub fn push(&mut self, at: f64, e: Event) {
        self.events.push((at, e));
    }

    /// The second the run ended (its last event).
    pub fn end(&self) -> f64 {
        self.events.last().map_or(0.0, |(t, _)| *t)
    }

    /// Send times (seconds) of requests the server counted (any answer but a 429), and of
    /// the 429s.
    pub fn sends(&self, t0: std::time::Instant) -> (Vec<f64>, Vec<f64>) {
        let mut ok = Vec::new();
        let mut limited = Vec::new();
        for (_, e) in &self.events {
            if let Event::Request(r) = e {
                let at = r.at.saturating_duration_since(t0).as_secs_f64();
                if r.status == Some(429) { limited.push(at) } else { ok.push(at) }
            }
        }
        ok.sort_by(f64::total_cmp);
        limited.sort_by(f64::total_cmp);
        (ok, limited)
    }

    /// Worker counts auto set (the user's and the start's left out), with their second.
    pub fn auto_changes(&self) -> Vec<(f64, u32)> {
        let mut last: Option<Settings> = None;
        let mut out = Vec::new();
        for (t, e) in &self.events {
            if let Event::Settings(s) = e {
                let by_auto = s.auto && ![why::BY_HAND, why::START, why::AUTO_AGAIN].contains(&s.why);
                if by_auto && last.is_some_and(|l| l.concurrency != s.concurrency) {
                    out.push((*t, s.concurrency));
                }
                last = Some(*s);
            }
        }
        out
    }

    /// The ETA the engine gave last at or before `at`, against the time really left then:
    /// |ETA - truth| / truth.
    pub fn eta_error_at(&self, at: f64) -> Option<f64> {
        let end = self.end();
        let (when, secs) = self.events.iter().rev().find_map(|(t, e)| match e {
            Event::Eta(f) if *t <= at && !f.measuring => f.secs.map(|s| (*t, s)),
            _ => None,
        })?;
        let truth = end - when;
        (truth > 1.0).then(|| (secs - truth).abs() / truth)
    }
}

/// Requests a minute over the `span` seconds before `t`, not reaching back before `from`.
pub fn rate_at(sends: &[f64], t: f64, span: f64, from: f64) -> Option<f64> {
    let lo = (t - span).max(from);
    if t - lo < span / 2.0 {
        return None;
    }
    let n = sends.iter().filter(|s| **s > lo && **s <= t).count();
    Some(n as f64 * 60.0 / (t - lo))
}

/// Seconds from `at` until the accepted rate over the last 15 s is within 5 % of
/// `target` (requests a minute), looked at every half second until `until`.
pub fn secs_to_rate(ok: &[f64], at: f64, target: f64, until: f64) -> Option<f64> {
    let mut t = at + 7.5;
    while t <= until {
        if rate_at(ok, t, 15.0, at).is_some_and(|r| (r - target).abs() <= 0.05 * target) {
            return Some(t - at);
        }
        t += 0.5;
    }
    None
}

/// What limits an oracle at a moment: the server's limit (requests a window), whether
/// sending is held (a pause), and the least gap between sends (one worker's latency).
pub struct Bounds<'a> {
    pub window_s: f64,
    pub limit_at: &'a dyn Fn(f64) -> f64,
    pub held_until: &'a dyn Fn(f64) -> Option<f64>,
    pub min_gap_at: &'a dyn Fn(f64) -> f64,
}

/// The end of the best run the stretches allow: the `before` sends as they were, then `n`
/// more, each as early as a steady pace at the server's limit, the server's window (with
/// everything sent before in it), a pause and a single worker allow; plus one answer's
/// latency.
pub fn oracle_end(before: &[f64], from: f64, n: usize, b: &Bounds, latency_s: f64) -> f64 {
    let mut window: VecDeque<f64> = before.iter().copied().filter(|t| *t > from - b.window_s).collect();
    let mut last = before.last().copied().unwrap_or(f64::NEG_INFINITY);
    let mut t = from;
    for _ in 0..n {
        loop {
            if let Some(resume) = (b.held_until)(t) {
                t = resume;
                continue;
            }
            let limit = (b.limit_at)(t).max(1.0);
            let gap = (b.window_s / limit).max((b.min_gap_at)(t));
            if t < last + gap {
                t = last + gap;
                continue;
            }
            while window.front().is_some_and(|s| *s <= t - b.window_s) {
                window.pop_front();
            }
            if window.len() as f64 >= limit {
                t = window.front().copied().unwrap_or(t) + b.window_s + 1e-6;
                continue;
            }
            break;
        }
        window.push_back(t);
        last = t;
    }
    last + latency_s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steady(limit: f64) -> impl Fn(f64) -> f64 {
        move |_| limit
    }

    #[test]
    fn the_oracle_waits_for_the_window_then_keeps_the_limits_pace() {
        // 150 sent in the first 15 s of a 60 s window of 150: the next may go at 60 s.
        let before: Vec<f64> = (0..150).map(|i| i as f64 * 0.1).collect();
        let limit = steady(150.0);
        let b = Bounds { window_s: 60.0, limit_at: &limit, held_until: &|_| None, min_gap_at: &|_| 0.0 };
        let end = oracle_end(&before, 20.0, 100, &b, 0.5);
        // The 100 go at 0.4 s steps once the window allows each: from 60 s on.
        assert!((99.0..101.0).contains(&end), "{end}");
        // A pause holds it; one worker at 1 s a request slows it.
        let paused = |t: f64| (30.0..60.0).contains(&t).then_some(60.0);
        let b = Bounds { window_s: 60.0, limit_at: &limit, held_until: &paused, min_gap_at: &|_| 1.0 };
        let end = oracle_end(&[], 0.0, 100, &b, 0.0);
        assert!((128.0..130.0).contains(&end), "{end}");
    }

    #[test]
    fn the_rate_is_counted_after_the_switch_only() {
        let sends: Vec<f64> = (0..600).map(|i| i as f64 * 0.4).collect();
        assert_eq!(rate_at(&sends, 100.0, 15.0, 95.0), None, "too little time since the switch");
        let r = rate_at(&sends, 100.0, 15.0, 0.0).unwrap();
        assert!((r - 150.0).abs() < 5.0, "{r}");
        assert_eq!(secs_to_rate(&sends, 50.0, 150.0, 200.0), Some(7.5));
        assert_eq!(secs_to_rate(&sends, 50.0, 75.0, 200.0), None);
    }
}
