//! What every worker of a run shares: the client, the pacer, the scheduler, the writer's
//! queue, the settings in force, and what each row has shown so far.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::emitter::Emitter;
use super::events::{Event, Level, Settings};
use super::scheduler::Scheduler;
use crate::calendar::{self, Range};
use crate::markets::{Class, DayStamp};
use crate::pace::Pacer;
use crate::polygon::Client;
use crate::retry::RetryBudget;
use crate::store::writer::WriteMsg;
use crate::timeframe::Timeframe;

pub struct RowMeta {
    pub ticker: Arc<str>,
    pub timeframe: Arc<str>,
    pub tf: Timeframe,
    pub class: Class,
}

/// What a row's bars have shown in this run: its first and last bar, and the base bars
/// the server counted for it (the measure of the fewest requests it could have taken).
#[derive(Clone, Copy, Debug, Default)]
pub struct Seen {
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    pub base: u64,
}

impl Seen {
    pub fn add(&mut self, first: Option<i64>, last: Option<i64>, base: u64) {
        if let Some(f) = first {
            self.first_ts = Some(self.first_ts.map_or(f, |x| x.min(f)));
        }
        if let Some(l) = last {
            self.last_ts = Some(self.last_ts.map_or(l, |x| x.max(l)));
        }
        self.base += base;
    }
}

/// What any request of a run needs, before and while rows are fetched: the client, the
/// pacer, the retry budget and policy, the settings in force, and where events go.
pub struct Net {
    pub client: Client,
    pub pacer: Pacer,
    pub budget: RetryBudget,
    pub settings: watch::Receiver<Settings>,
    pub emitter: Arc<Emitter>,
    /// Cancelled on stop, on a fatal error, and when the run is over.
    pub cancel: CancellationToken,
    pub max_attempts: u32,
    /// Jitter on fix 1's waits, and the scale of every wait (see `retry::Policy`).
    pub jitter: bool,
    pub wait_scale: f64,
    /// Why the run had to stop, when it had to.
    pub fatal: Mutex<Option<String>>,
}

impl Net {
    pub fn settings(&self) -> Settings {
        *self.settings.borrow()
    }

    pub fn emit(&self, e: Event) {
        self.emitter.emit(e);
    }

    /// Stops the run for a reason no retry can fix. The first reason wins.
    pub fn fail_run(&self, reason: String) {
        let mut f = self.fatal.lock();
        if f.is_none() {
            self.emitter.notice(Level::Error, format!("stopping the run: {reason}"));
            *f = Some(reason);
        }
        self.cancel.cancel();
    }
}

/// What every worker of a run shares: the network side, the scheduler, the writer's
/// queue, and what each row has shown so far.
pub struct Ctx {
    pub net: Arc<Net>,
    pub sched: Mutex<Scheduler>,
    pub work_changed: Notify,
    pub writer: mpsc::Sender<WriteMsg>,
    pub rows: Vec<RowMeta>,
    pub seen: Mutex<Vec<Seen>>,
    /// Ticker -> its `1/day` row, for spreading grouped-daily answers.
    pub daily_rows: HashMap<String, usize>,
    /// The stamp each row's day-based bars carry, once stored bars or a page showed it:
    /// where the API's stamp for a class is not confirmed, every later page must agree.
    pub stamps: Mutex<Vec<Option<DayStamp>>>,
    pub adjusted: bool,
    /// The last day whose bars the API no longer revises (see `calendar::settled_through`).
    pub settled_through: calendar::Day,
    /// The range the run asks for, for telling rows that begin or end inside it.
    pub range: Range,
}

/// Workers reach the network side through their run's context.
impl std::ops::Deref for Ctx {
    type Target = Net;
    fn deref(&self) -> &Net {
        &self.net
    }
}

impl Ctx {
    /// How much of a finished range may be recorded as finished.
    pub fn settled(&self, range: Range) -> Option<calendar::Day> {
        (range.from <= self.settled_through && range.from <= range.to).then(|| range.to.min(self.settled_through))
    }

    pub fn stamp(&self, row: usize) -> Option<DayStamp> {
        self.stamps.lock()[row]
    }

    /// Records the stamp a row's stored day bars carry; the first one stays.
    pub fn pin_stamp(&self, row: usize, stamp: Option<DayStamp>) {
        let mut stamps = self.stamps.lock();
        stamps[row] = stamps[row].or(stamp);
    }
}
