//! A scripted server for unit tests: answers by URL, in order, without a socket. Each
//! path (or path and query) has a queue of replies; the last one repeats. A reply may
//! take time (on tokio's clock, so paused time runs it at once) or panic the caller.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use reqwest::Url;

/// One answer: a status, an optional `Retry-After`, a body, and how long it takes.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub retry_after: Option<String>,
    pub body: Vec<u8>,
    pub delay: Duration,
    panic: bool,
}

impl Reply {
    /// A 200 with this JSON.
    pub fn json(value: serde_json::Value) -> Reply {
        Reply::raw(200, value.to_string())
    }

    /// Any status with this body, as is (a malformed 200 too).
    pub fn raw(status: u16, body: impl Into<String>) -> Reply {
        let body = body.into().into_bytes();
        Reply { status, retry_after: None, body, delay: Duration::ZERO, panic: false }
    }

    /// An error status with the API's error envelope.
    pub fn error(status: u16, message: &str) -> Reply {
        Reply::json(serde_json::json!({ "status": "ERROR", "error": message })).with_status(status)
    }

    /// A 429 asking for `secs` seconds of patience.
    pub fn rate_limited(secs: u64) -> Reply {
        Reply { retry_after: Some(secs.to_string()), ..Reply::error(429, "exceeded the maximum requests per minute") }
    }

    /// Panics the task that asked, as a bug in a worker would.
    pub fn panic() -> Reply {
        Reply { panic: true, ..Reply::raw(500, "") }
    }

    /// The same answer, after `delay`.
    pub fn after(self, delay: Duration) -> Reply {
        Reply { delay, ..self }
    }

    fn with_status(self, status: u16) -> Reply {
        Reply { status, ..self }
    }
}

/// A request the server saw: what was asked (path and query), when on tokio's clock,
/// and whether it carried an `Authorization` header.
#[derive(Clone, Debug)]
pub struct Asked {
    pub url: String,
    pub at: tokio::time::Instant,
    pub authorized: bool,
    /// Turned away by the server's quota with a 429.
    pub limited: bool,
}

/// A fixed-window quota, as a server may count it: at most `limit` requests in each
/// `window` from the server's start, the rest answered 429 without `Retry-After`.
struct FixedWindow {
    start: tokio::time::Instant,
    window: Duration,
    limit: u32,
    counts: HashMap<u64, u32>,
}

#[derive(Default)]
pub struct FakeServer {
    script: Mutex<HashMap<String, VecDeque<Reply>>>,
    asked: Mutex<Vec<Asked>>,
    quota: Mutex<Option<FixedWindow>>,
}

impl FakeServer {
    pub fn new() -> Arc<FakeServer> {
        Arc::new(FakeServer::default())
    }

    /// A server that takes `limit` requests in each fixed `window` from now.
    pub fn with_quota(limit: u32, window: Duration) -> Arc<FakeServer> {
        let server = FakeServer::new();
        *server.quota.lock() =
            Some(FixedWindow { start: tokio::time::Instant::now(), window, limit, counts: HashMap::new() });
        server
    }

    /// Changes the quota's limit from the next request on.
    pub fn set_limit(&self, limit: u32) {
        if let Some(q) = self.quota.lock().as_mut() {
            q.limit = limit;
        }
    }

    /// Requests the quota took in each fixed window, oldest first.
    pub fn accepted_per_window(&self) -> Vec<u32> {
        let quota = self.quota.lock();
        let Some(q) = quota.as_ref() else { return Vec::new() };
        let last = q.counts.keys().max().copied().unwrap_or(0);
        (0..=last).map(|i| q.counts.get(&i).copied().unwrap_or(0)).collect()
    }

    /// Whether the quota turns this request away (it counts the request when not).
    fn over_quota(&self, at: tokio::time::Instant) -> bool {
        let mut quota = self.quota.lock();
        let Some(q) = quota.as_mut() else { return false };
        let index = (at - q.start).as_nanos() / q.window.as_nanos().max(1);
        let count = q.counts.entry(index as u64).or_default();
        if *count >= q.limit {
            return true;
        }
        *count += 1;
        false
    }

    /// Queues replies for `target`: a path with its query (matched first) or a path alone.
    pub fn on(&self, target: &str, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().entry(target.to_string()).or_default().extend(replies);
    }

    /// Every request so far, in order.
    pub fn asked(&self) -> Vec<Asked> {
        self.asked.lock().clone()
    }

    /// Requests so far whose path and query start with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.asked.lock().iter().filter(|a| a.url.starts_with(prefix)).count()
    }

    pub(super) async fn answer(&self, url: &Url, authorized: bool) -> Reply {
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let at = tokio::time::Instant::now();
        let limited = self.over_quota(at);
        self.asked.lock().push(Asked { url: target.clone(), at, authorized, limited });
        if limited {
            return Reply::error(429, "You've exceeded the maximum requests per minute");
        }
        let reply = self.next_reply(&target, url.path());
        if !reply.delay.is_zero() {
            tokio::time::sleep(reply.delay).await;
        }
        if reply.panic {
            panic!("the fake server was told to panic on {target}");
        }
        reply
    }

    fn next_reply(&self, target: &str, path: &str) -> Reply {
        let mut script = self.script.lock();
        let queue = match script.get_mut(target) {
            Some(q) => Some(q),
            None => script.get_mut(path),
        };
        match queue {
            Some(q) if q.len() > 1 => q.pop_front().expect("not empty"),
            Some(q) if !q.is_empty() => q[0].clone(),
            _ => {
                Reply::json(serde_json::json!({ "status": "NOT_FOUND", "message": format!("no script for {target}") }))
                    .with_status(404)
            }
        }
    }
}
