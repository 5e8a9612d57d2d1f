//! Sends events to the face and folds them into the run's own tally, so the final report
//! and what the face shows are sums of the same events.

use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::events::{Event, Level};
use super::tally::Tally;

pub struct Emitter {
    tx: mpsc::UnboundedSender<Event>,
    tally: Mutex<Tally>,
}

impl Emitter {
    pub fn new(tx: mpsc::UnboundedSender<Event>) -> Emitter {
        Emitter { tx, tally: Mutex::new(Tally::default()) }
    }

    pub fn emit(&self, event: Event) {
        self.tally.lock().apply(&event);
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
        self.tally.lock().clone()
    }
}
