//! A tracing layer that hands log lines to the dashboard's log pane. Lines wait in a small
//! shared queue until the next frame takes them; the file layer writes them as usual.

use std::collections::VecDeque;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::Context;

use super::app::LogLine;
use crate::engine::events::Level;

/// Lines waiting for a frame; beyond this the oldest go (the file keeps them).
const PENDING_MAX: usize = 1_000;

#[derive(Clone, Default)]
pub struct LogFeed {
    pending: Arc<Mutex<VecDeque<LogLine>>>,
}

impl LogFeed {
    pub fn new() -> LogFeed {
        LogFeed::default()
    }

    /// The layer to pass to `logging::init`: barfill's own lines at info and above, so
    /// the libraries' debug chatter is neither shown nor even formatted.
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        Capture { pending: self.pending.clone() }.with_filter(Targets::new().with_target("barfill", LevelFilter::INFO))
    }

    /// Everything logged since the last call.
    pub fn take(&self) -> Vec<LogLine> {
        self.pending.lock().drain(..).collect()
    }
}

struct Capture {
    pending: Arc<Mutex<VecDeque<LogLine>>>,
}

impl<S: tracing::Subscriber> Layer<S> for Capture {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = match *meta.level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            _ => Level::Info,
        };
        let mut text = Text::default();
        event.record(&mut text);
        let line = LogLine { at: Instant::now(), level, text: text.finish() };
        // A busy queue must never block or take the program down with it.
        if let Some(mut q) = self.pending.try_lock() {
            if q.len() >= PENDING_MAX {
                q.pop_front();
            }
            q.push_back(line);
        }
    }
}

/// The message first, then the other fields as `name=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Text {
    fn finish(self) -> String {
        if self.fields.is_empty() { self.message } else { format!("{}{}", self.message, self.fields) }
    }
}

impl Visit for Text {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        let _ = write!(self.fields, " {}={value:.3}", field.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn captures_barfill_lines_at_info_and_above_only() {
        let feed = LogFeed::new();
        let subscriber = tracing_subscriber::registry().with(feed.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "barfill::engine", wait_s = 2.5, "retrying {}", "/v2/x");
            tracing::debug!(target: "barfill::engine", "too chatty");
            tracing::warn!(target: "hyper", "not ours");
            tracing::error!(target: "barfill", "boom");
        });
        let lines = feed.take();
        let texts: Vec<(Level, String)> = lines.into_iter().map(|l| (l.level, l.text)).collect();
        assert_eq!(
            texts,
            vec![(Level::Info, "retrying /v2/x wait_s=2.500".to_string()), (Level::Error, "boom".to_string())]
        );
        assert!(feed.take().is_empty());
    }
}
