//! Live changes while a run goes, at random: fixes 2 and 3 on and off, workers up and
//! down, pause and resume. Every run must end with exactly the simulator's bars, each
//! trading day of each row recorded once: no hang, no window twice or never.
//!
//! A seed makes the whole script of commands before the run starts, so a seed always sends
//! the same commands in the same order. Each command waits for a number of the run's own
//! events rather than for a wall clock, so it lands at about the same point of the run on
//! a fast machine or a loaded one. Every failure names its seed and the commands sent;
//! `BARFILL_LIVE_SEED=N cargo test live_changes::seed_0` replays seed N.

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

/// A command and the number of the run's events to let pass before it is sent (counted
/// from the step before). A `Resume` counts from the moment the engine says it paused.
#[derive(Clone, Debug)]
struct Step {
    after: u32,
    cmd: Command,
}

/// The commands a seed sends, in order. Every pause is followed by its resume, so no
/// script leaves a run paused for ever.
fn script(seed: u64, len: usize) -> Vec<Step> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut steps = Vec::with_capacity(len + 1);
    while steps.len() < len {
        // A few events apart, about one command per answer; now and then two back to back.
        let after = rng.u32(0..8);
        let cmd = match rng.u8(0..20) {
            0..=6 => Command::ToggleFix(Fix::Batching),
            7..=9 => Command::ToggleFix(Fix::Parallel),
            10..=16 => Command::SetConcurrency(rng.u32(1..6)),
            17 | 18 => Command::SetFix(Fix::Batching, rng.bool()),
            _ => {
                steps.push(Step { after, cmd: Command::Pause });
                // Mostly resumed at once; now and then after one more event, which may be
                // an answer still in flight or only the engine's resource sample a second on.
                steps.push(Step { after: u32::from(rng.u8(0..4) == 0), cmd: Command::Resume });
                continue;
            }
        };
        steps.push(Step { after, cmd });
    }
    steps
}

/// Plays a script against the run's events.
struct Player {
    steps: Vec<Step>,
    next: usize,
    /// Events counted towards the next step.
    counted: u32,
    /// Whether the engine has said the last pause took effect.
    paused: bool,
    events: u64,
    /// Each command sent, with the number of events seen by then.
    sent: Vec<(u64, Command)>,
}

impl Player {
    fn new(steps: Vec<Step>) -> Player {
        Player { steps, next: 0, counted: 0, paused: false, events: 0, sent: Vec::new() }
    }

    fn on_event(&mut self, e: &Event, commands: &UnboundedSender<Command>) {
        self.events += 1;
        let waiting_for_resume = self.steps.get(self.next).is_some_and(|s| matches!(s.cmd, Command::Resume));
        match e {
            Event::Settings(s) if waiting_for_resume && s.paused && !self.paused => {
                self.paused = true;
                self.counted = 0;
            }
            // The resource sample comes once a second: counted only while paused, when
            // little else comes, so the points of the other commands follow the work.
            Event::Resources { .. } if !waiting_for_resume => {}
            _ => self.counted += 1,
        }
        while let Some(step) = self.steps.get(self.next) {
            let due = match step.cmd {
                Command::Resume => self.paused && self.counted >= step.after,
                _ => self.counted >= step.after,
            };
            if !due {
                break;
            }
            if matches!(step.cmd, Command::Resume) {
                self.paused = false;
            }
            self.sent.push((self.events, step.cmd.clone()));
            let _ = commands.send(step.cmd.clone());
            self.next += 1;
            self.counted = 0;
        }
    }

    /// The last commands sent, for a failure message.
    fn last_sent(&self) -> &[(u64, Command)] {
        &self.sent[self.sent.len().saturating_sub(12)..]
    }
}

/// One run with live changes drawn from `seed`, then every check.
async fn live_changes_lose_nothing(seed: u64) {
    let grouped = seed % 2 == 1;
    let mut opts = barfill::sim::SimOptions::fast();
    opts.latency_ms = 3;
    let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
    let (_t, dir) = tmp();
    let syms = symbols(if grouped { 40 } else { 8 });
    // `5/minute` pages like `1/minute` (the limit counts base minute bars), with a fifth of
    // the bars.
    let tfs: &[&str] = if grouped { &["1/hour", "1/day"] } else { &["5/minute", "1/hour", "1/day"] };
    let (from, to) = if grouped { ("2024-03-04", "2024-03-29") } else { ("2024-01-01", "2024-03-28") };
    let mut c = config(&dir, &syms, tfs, from, to);
    c.concurrency = Concurrency::Fixed(3);
    let (store, plan) = engine::prepare(&c).unwrap();
    let handle = engine::start(Arc::new(c.clone()), source(&sim), store, plan).unwrap();
    let mut player = Player::new(script(seed, 2000));
    let driven = tokio::time::timeout(DEADLINE, handle.drive(|e, commands| player.on_event(&e, commands))).await;
    let Ok(report) = driven else {
        panic!(
            "seed {seed}: the run did not end within {DEADLINE:?}; {} events seen, {} commands sent, the last \
             (events seen, command): {:?}",
            player.events,
            player.sent.len(),
            player.last_sent()
        );
    };
    // Every message below names the seed and what was sent last before the run ended.
    let seed = format!("seed {seed} ({} commands sent, the last: {:?})", player.sent.len(), player.last_sent());
    let report = report.unwrap_or_else(|e| panic!("{seed}: {e}"));
    assert!(player.sent.len() >= 20, "{seed}: too few commands to test anything");
    assert_eq!(report.status, RunStatus::Done, "{seed}: {}", report.to_text());
    assert_eq!(report.failed_jobs, 0, "{seed}");
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

// Even seeds: 8 symbols x 3 timeframes over three months, per-ticker ranges. Odd seeds:
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
