//! Live changes while a run goes, at random: fixes 2 and 3 on and off, workers up and
//! down, pause and resume. Every run must end with exactly the simulator's bars, each
//! trading day of each row recorded once: no hang, no window twice or never.

mod common;

use std::sync::Arc;
use std::time::Duration;

use barfill::config::Fix;
use barfill::engine;
use barfill::report::RunStatus;
use common::*;

/// Live changes while a run goes: fixes 2 and 3 on and off, workers up and down, pause
/// and resume. The run must end, with exactly the simulator's bars and no window twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_changes_lose_nothing() {
    use barfill::engine::Command;
    for seed in 0..6u64 {
        let grouped = seed % 2 == 1;
        let mut opts = barfill::sim::SimOptions::fast();
        opts.latency_ms = 3;
        let sim = barfill::sim::Sim::start_local(opts).await.unwrap();
        let (_t, dir) = tmp();
        let syms = symbols(if grouped { 40 } else { 12 });
        let tfs: &[&str] = if grouped { &["1/hour", "1/day"] } else { &["1/minute", "1/hour", "1/day"] };
        let (from, to) = if grouped { ("2024-03-04", "2024-03-29") } else { ("2024-01-01", "2024-06-28") };
        let mut c = config(&dir, &syms, tfs, from, to);
        c.concurrency = barfill::config::Concurrency::Fixed(3);
        let (store, plan) = engine::prepare(&c).unwrap();
        let mut handle = engine::start(Arc::new(c.clone()), source(&sim), store, plan).unwrap();
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut tick = tokio::time::interval(Duration::from_millis(7));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        let mut paused = false;
        let report = loop {
            tokio::select! {
                Some(_) = handle.events.recv() => {}
                r = &mut handle.done => break r.unwrap(),
                _ = tick.tick() => {
                    assert!(tokio::time::Instant::now() < deadline, "seed {seed}: the run hangs");
                    let cmd = match rng.u8(0..6) {
                        0 => Command::ToggleFix(Fix::Batching),
                        1 => Command::ToggleFix(Fix::Parallel),
                        2 => Command::SetConcurrency(rng.u32(1..6)),
                        3 if !paused => { paused = true; Command::Pause }
                        _ => { paused = false; Command::Resume }
                    };
                    let _ = handle.commands.send(cmd);
                }
            }
        };
        assert_eq!(report.status, RunStatus::Done, "seed {seed}: {}", report.to_text());
        assert_eq!(report.failed_jobs, 0, "seed {seed}");
        for s in &syms {
            for &tf in tfs {
                assert_eq!(count(&c.db, s, tf), expected(s, tf, from, to), "seed {seed}: {s} {tf}");
            }
        }
        // Each session of each row is covered by exactly one progress row.
        let prog = progress(&c.db);
        for s in &syms {
            for &tf in tfs {
                let mut days = std::collections::BTreeMap::new();
                for (t, f, a, b, _) in &prog {
                    if t == s && f == tf {
                        let (a, b) =
                            (barfill::calendar::parse_date(a).unwrap(), barfill::calendar::parse_date(b).unwrap());
                        for d in (a..=b).filter(|d| barfill::calendar::is_session(*d)) {
                            *days.entry(d).or_insert(0) += 1;
                        }
                    }
                }
                let want = barfill::calendar::sessions_between(
                    barfill::calendar::parse_date(from).unwrap(),
                    barfill::calendar::parse_date(to).unwrap(),
                ) as usize;
                assert_eq!(days.len(), want, "seed {seed}: {s} {tf} covered days");
                assert!(days.values().all(|n| *n == 1), "seed {seed}: {s} {tf} a day fetched twice");
            }
        }
    }
}
