//! Live changes while a run goes, at random: fixes 2 and 3 on and off, workers up and
//! down, pause and resume. Every run must end with exactly the simulator's bars, each
//! trading day of each row recorded once: no hang, no window twice or never.
//!
//! The changes are drawn from a seeded generator, one draw per event the run sends, so
//! they follow the run's own progress rather than a wall clock: a seed replays the same
//! sequence of commands at the same points of the run (`BARFILL_LIVE_SEED=N cargo test
//! live_changes` replays one). Every failure names its seed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use barfill::calendar::{self, Day};
use barfill::config::{Concurrency, Fix};
use barfill::engine::{self, Command, Event};
use barfill::report::RunStatus;
use tokio::sync::mpsc::UnboundedSender;

use crate::common::*;

/// A run here takes seconds; this is for a run that never ends.
const DEADLINE: Duration = Duration::from_secs(180);

/// Where our pause is.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pause {
    Off,
    /// Sent; held for `hold` more events once the engine says it applied it.
    Asked {
        hold: u64,
    },
    Held {
        left: u64,
    },
}

/// Chooses the commands, from the seed and the events seen so far.
struct Changes {
    rng: fastrand::Rng,
    events: u64,
    pause: Pause,
    /// Each command with the number of events seen when it was sent.
    sent: Vec<(u64, Command)>,
}

impl Changes {
    fn new(seed: u64) -> Changes {
        Changes { rng: fastrand::Rng::with_seed(seed), events: 0, pause: Pause::Off, sent: Vec::new() }
    }

    fn on_event(&mut self, e: &Event, commands: &UnboundedSender<Command>) {
        self.events += 1;
        // Events still come while paused: answers in flight, and the engine's resource
        // sample every second.
        self.pause = match self.pause {
            Pause::Asked { hold } if matches!(e, Event::Settings(s) if s.paused) => Pause::Held { left: hold },
            Pause::Held { left } => Pause::Held { left: left.saturating_sub(1) },
            p => p,
        };
        if self.pause == (Pause::Held { left: 0 }) {
            self.pause = Pause::Off;
            self.send(Command::Resume, commands);
        }
        // Every other event, on average, changes something.
        let cmd = match self.rng.u8(0..10) {
            0 | 1 => Command::ToggleFix(Fix::Batching),
            2 => Command::ToggleFix(Fix::Parallel),
            3 | 4 => Command::SetConcurrency(self.rng.u32(1..6)),
            5 if self.pause == Pause::Off && self.rng.u8(0..4) == 0 => {
                self.pause = Pause::Asked { hold: self.rng.u64(0..3) };
                Command::Pause
            }
            _ => return,
        };
        self.send(cmd, commands);
    }

    fn send(&mut self, cmd: Command, commands: &UnboundedSender<Command>) {
        self.sent.push((self.events, cmd.clone()));
        let _ = commands.send(cmd);
    }
}

/// One run with live changes drawn from `seed`, then every check.
async fn live_changes_lose_nothing(seed: u64) {
    let grouped = seed % 2 == 1;
    let mut opts = barfill::sim::SimOptions::fast();
    opts.latency_ms = 3;
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let syms = symbols(if grouped { 40 } else { 12 });
    let tfs: &[&str] = if grouped { &["1/hour", "1/day"] } else { &["1/minute", "1/hour", "1/day"] };
    let (from, to) = if grouped { ("2024-03-04", "2024-03-29") } else { ("2024-01-01", "2024-06-28") };
    let mut c = config(&dir, &syms, tfs, from, to);
    c.concurrency = Concurrency::Fixed(3);
    let (store, plan) = engine::prepare(&c).unwrap();
    let handle = engine::start(Arc::new(c.clone()), source(&sim), store, plan).unwrap();
    let mut changes = Changes::new(seed);
    let driven = tokio::time::timeout(DEADLINE, handle.drive(|e, commands| changes.on_event(&e, commands))).await;
    let Ok(report) = driven else {
        panic!(
            "seed {seed}: the run did not end within {DEADLINE:?}; {} events seen, pause {:?}, last commands: {:?}",
            changes.events,
            changes.pause,
            &changes.sent[changes.sent.len().saturating_sub(10)..]
        );
    };
    let report = report.unwrap_or_else(|e| panic!("seed {seed}: {e}"));
    assert!(changes.sent.len() >= 20, "seed {seed}: only {} commands sent", changes.sent.len());
    assert_eq!(report.status, RunStatus::Done, "seed {seed}: {}", report.to_text());
    assert_eq!(report.failed_jobs, 0, "seed {seed}");
    for s in &syms {
        for &tf in tfs {
            assert_eq!(count(&c.db, s, tf), expected(s, tf, from, to), "seed {seed}: {s} {tf}");
        }
    }
    // Each session of each row is covered by exactly one progress row.
    let prog = progress(&c.db);
    let want = calendar::sessions_between(day(from), day(to)) as usize;
    for s in &syms {
        for &tf in tfs {
            let mut days = BTreeMap::new();
            for (t, f, a, b, _) in &prog {
                if t == s && f == tf {
                    for d in (day(a)..=day(b)).filter(|d| calendar::is_session(*d)) {
                        *days.entry(d).or_insert(0) += 1;
                    }
                }
            }
            assert_eq!(days.len(), want, "seed {seed}: {s} {tf} covered days");
            assert!(days.values().all(|n| *n == 1), "seed {seed}: {s} {tf} a day fetched twice");
        }
    }
}

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

/// `BARFILL_LIVE_SEED` replaces the seed of every case, to replay a failure.
fn seed(default: u64) -> u64 {
    match std::env::var("BARFILL_LIVE_SEED") {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("BARFILL_LIVE_SEED={v}: expected a number")),
        Err(_) => default,
    }
}

// Even seeds: 12 symbols x 3 timeframes over six months, per-ticker ranges. Odd seeds:
// 40 symbols x 2 timeframes over a month, where fix 2 groups the daily row. One test a
// seed, so they run side by side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_0() {
    live_changes_lose_nothing(seed(0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_1() {
    live_changes_lose_nothing(seed(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_2() {
    live_changes_lose_nothing(seed(2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_3() {
    live_changes_lose_nothing(seed(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_4() {
    live_changes_lose_nothing(seed(4)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_5() {
    live_changes_lose_nothing(seed(5)).await;
}
