//! Request rate over time and the waits of the run: what the rate-limit and backoff panes
//! draw, kept as counts per bucket and short queues, never as every request.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Width of a request-rate bucket, in seconds.
pub const BUCKET_S: f64 = 5.0;
/// Lower edges of the wait-length histogram, in seconds.
pub const WAIT_EDGES: [f64; 8] = [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];

/// A wait in progress, for the backoff pane.
#[derive(Clone, Debug, PartialEq)]
pub struct Wait {
    pub who: String,
    pub reason: String,
    pub left: f64,
}

#[derive(Clone, Debug, Default)]
pub struct RateHistory {
    /// Requests answered per `BUCKET_S` since the run started.
    pub buckets: Vec<u32>,
    /// Arrival of requests and of 429s in about the last minute.
    pub(super) recent: VecDeque<Instant>,
    pub(super) recent_429: VecDeque<Instant>,
    pub limiter_waits: u64,
}

#[derive(Clone, Debug, Default)]
pub struct BackoffStats {
    /// Own retry waits by length, with `WAIT_EDGES` as lower edges.
    pub histogram: [u64; WAIT_EDGES.len()],
    pub longest_s: f64,
    pub held_waits: u64,
    /// Retry waits of requests that belong to no row (grouped daily): start and length.
    pub(super) other: Vec<(Instant, f64, String)>,
}

impl RateHistory {
    pub(super) fn on_request(&mut self, at: Instant, rate_limited: bool) {
        let minute_ago = at.checked_sub(Duration::from_secs(60));
        for q in [&mut self.recent, &mut self.recent_429] {
            while q.front().is_some_and(|t| Some(*t) < minute_ago) {
                q.pop_front();
            }
        }
        self.recent.push_back(at);
        if rate_limited {
            self.recent_429.push_back(at);
        }
    }

    pub(super) fn bucket(&mut self, index: usize) {
        if self.buckets.len() <= index {
            self.buckets.resize(index + 1, 0);
        }
        self.buckets[index] += 1;
    }
}

impl BackoffStats {
    /// A retry wait began (or a worker was held by the shared gate); `other` when it
    /// belongs to no row, so the pane can still count it down.
    pub(super) fn on_wait(&mut self, at: Instant, secs: f64, held: bool, other: Option<String>) {
        self.other.retain(|(t, s, _)| at.saturating_duration_since(*t).as_secs_f64() < *s);
        if held {
            self.held_waits += 1;
            return;
        }
        let i = WAIT_EDGES.iter().rposition(|edge| secs >= *edge).unwrap_or(0);
        self.histogram[i] += 1;
        self.longest_s = self.longest_s.max(secs);
        if let Some(reason) = other {
            self.other.push((at, secs, reason));
        }
    }
}

pub(super) fn within_minute(q: &VecDeque<Instant>, now: Instant) -> usize {
    q.iter().rev().take_while(|t| now.saturating_duration_since(**t) <= Duration::from_secs(60)).count()
}
