//! The pacer in whole runs against a server with a fixed-window quota, on paused time:
//! switching fix 2 on after a baseline burst, a server whose real limit is below the
//! configured quota, and a free key.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::coordinator::{Ran, run};
use super::kit::{self, page};
use crate::config::{Concurrency, Config, Fix, Fixes};
use crate::engine::events::{Command, Event};
use crate::polygon::fake::{Asked, FakeServer};
use crate::report::RunStatus;

const MINUTE: Duration = Duration::from_secs(60);

/// `n` tickers whose daily rows over 2019-2024 each take one request (fewer tickers
/// than sessions, so no grouped-daily), answered after `latency` by a server that
/// takes `limit` requests a fixed minute.
fn daily_rows(dir: &std::path::Path, n: usize, limit: u32, latency: Duration) -> (Config, Arc<FakeServer>) {
    let server = FakeServer::with_quota(limit, MINUTE);
    let tickers: Vec<String> = (0..n).map(|i| format!("T{i:03}")).collect();
    for t in &tickers {
        let path = format!("/v2/aggs/ticker/{t}/range/1/day/2019-01-02/2024-12-31");
        server.on(&path, [page(t, &["2024-01-02"], None).after(latency)]);
    }
    let names: Vec<&str> = tickers.iter().map(String::as_str).collect();
    let mut config = kit::config(dir, &names, "2019-01-02", "2024-12-31", 3);
    config.quota_per_min = 150;
    config.quota_window = MINUTE;
    (config, server)
}

fn seconds(asked: &[Asked], t0: Instant) -> Vec<f64> {
    asked.iter().map(|a| (a.at - t0).as_secs_f64()).collect()
}

fn ended_well(ran: &Ran, rows: usize) {
    assert_eq!(ran.report.status, RunStatus::Done, "{:?}", ran.report.note);
    assert_eq!(ran.bars.len(), rows, "every row stored");
}

#[tokio::test(start_paused = true)]
async fn fix_2_after_a_baseline_burst_waits_out_the_window_then_runs_at_the_quota_without_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, server) = daily_rows(dir.path(), 250, 150, Duration::from_millis(100));
    config.fixes = Fixes::NONE;
    let t0 = Instant::now();
    let ran = run(config, &server, move |tx| async move {
        sleep_until(t0 + Duration::from_secs(20)).await;
        tx.send(Command::SetFix(Fix::Batching, true)).unwrap();
        tx.send(Command::SetFix(Fix::Parallel, true)).unwrap();
    })
    .await;

    ended_well(&ran, 250);
    let r = &ran.report;
    // The baseline filled the server's first window in 15 s and met 429s; none of them,
    // nor any later one, taught the pacer a lower limit.
    assert_eq!((r.pace_cuts, r.taught_429, r.learned_per_min), (0, 0, None), "{}", r.pace_line());
    assert!(r.unpaced_429 > 0);
    let asked = server.asked();
    let paced: Vec<&Asked> = asked.iter().filter(|a| a.at >= t0 + Duration::from_secs(21)).collect();
    // Nothing paced went into the full window: the first paced request waits for it to
    // clear, and none after it is turned away.
    let first = (paced[0].at - t0).as_secs_f64();
    assert!((60.0..63.0).contains(&first), "first paced request at {first}s");
    assert!(paced.iter().all(|a| !a.limited), "a paced request met a 429");
    // From then on, the quota's pace: 147 a minute (150 less 2 % headroom).
    let at = seconds(&asked, t0);
    let in_half_minute = at.iter().filter(|s| (first..first + 30.0).contains(*s)).count();
    assert!((72..=75).contains(&in_half_minute), "{in_half_minute} requests in the half minute after the gate opened");
}

#[tokio::test(start_paused = true)]
async fn a_server_limit_below_the_quota_settles_at_90_to_100_percent_of_it_within_three_windows() {
    let dir = tempfile::tempdir().unwrap();
    let (config, server) = daily_rows(dir.path(), 500, 100, Duration::from_millis(200));
    let ran = run(config, &server, |_| async {}).await;

    ended_well(&ran, 500);
    let windows = server.accepted_per_window();
    // The last window is the run's tail, not a full one.
    let full = &windows[..windows.len() - 1];
    assert!(full.len() >= 5, "{windows:?}");
    assert!(full.iter().all(|n| *n >= 70), "never below 70 % of the real limit: {windows:?}");
    assert!(full[3..].iter().all(|n| *n >= 90), "90-100 % from the fourth window on: {windows:?}");
    let r = &ran.report;
    let learned = r.learned_per_min.expect("two episodes agreed");
    assert!((90.0..=110.0).contains(&learned), "{}", r.pace_line());
    assert!(r.limit_is_lower, "{}", r.pace_line());
    // At most one cut per window.
    let minutes = (r.wall_s / 60.0).ceil() as u32;
    assert!(r.pace_cuts <= minutes, "{} cuts in {minutes} windows", r.pace_cuts);
}

#[tokio::test(start_paused = true)]
async fn a_free_key_is_paced_under_its_5_a_minute_with_no_429_and_no_wasted_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, server) = daily_rows(dir.path(), 10, 5, Duration::from_millis(300));
    config.quota_per_min = 5;
    config.concurrency = Concurrency::Auto;
    let t0 = Instant::now();
    let ran = run(config, &server, |_| async {}).await;

    ended_well(&ran, 10);
    let asked = server.asked();
    assert_eq!(asked.len(), 10, "one request a row, none turned away");
    let at = seconds(&asked, t0);
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 60.0 / 4.9 - 0.001), "{gaps:?}");
    assert_eq!(ran.report.pace_cuts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_free_key_switched_to_fix_2_after_a_burst_cuts_nothing_and_probes_no_faster_than_its_pace() {
    let dir = tempfile::tempdir().unwrap();
    let (mut config, server) = daily_rows(dir.path(), 12, 5, Duration::from_millis(300));
    config.quota_per_min = 5;
    config.fixes = Fixes::NONE;
    let t0 = Instant::now();
    let ran = run(config, &server, move |tx| async move {
        sleep_until(t0 + Duration::from_secs(5)).await;
        tx.send(Command::SetFix(Fix::Batching, true)).unwrap();
    })
    .await;

    ended_well(&ran, 12);
    let r = &ran.report;
    assert_eq!((r.pace_cuts, r.taught_429), (0, 0), "{}", r.pace_line());
    assert!((r.pace_per_min - 4.9).abs() < 1e-9);
    let asked = server.asked();
    let paced = seconds(&asked, t0).into_iter().filter(|s| *s >= 6.0).collect::<Vec<_>>();
    let gaps: Vec<f64> = paced.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 60.0 / 4.9 - 0.001), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn a_steady_run_keeps_its_worker_count_and_its_eta_tells_the_truth_through_auto_changes() {
    let dir = tempfile::tempdir().unwrap();
    // Ten minutes of work at 150/min; a page takes 1.5 s, so the pace needs
    // ceil(2.45 x 1.5) + 1 = 5 workers where auto starts with 3.
    let (mut config, server) = daily_rows(dir.path(), 1500, 1000, Duration::from_millis(1500));
    config.concurrency = Concurrency::Auto;
    let t0 = Instant::now();
    let ran = run(config, &server, |_| async {}).await;

    ended_well(&ran, 1500);
    let counts: Vec<(f64, u32)> = ran
        .events
        .iter()
        .zip(&ran.times)
        .filter_map(|(e, at)| match e {
            Event::Settings(s) => Some(((*at - t0).as_secs_f64(), s.concurrency)),
            _ => None,
        })
        .collect();
    assert!(counts.len() <= 3, "{} changes in a steady run: {counts:?}", counts.len());
    assert!(counts.first().is_some_and(|(t, n)| *t < 10.0 && *n == 5), "{counts:?}");
    // The ETA from 15 s in: never measuring, always within 20 % of the time really left.
    let end = *ran.times.last().unwrap();
    let mut checked = 0;
    for (e, at) in ran.events.iter().zip(&ran.times) {
        let Event::Eta(eta) = e else { continue };
        let (since, left) = ((*at - t0).as_secs_f64(), (end - *at).as_secs_f64());
        if since < 15.0 || left < 30.0 {
            continue;
        }
        let secs = eta.secs.expect("an ETA");
        assert!(!eta.measuring, "measuring at {since}s");
        assert!((secs - left).abs() <= 0.2 * left, "at {since:.0}s the ETA said {secs:.0}s, {left:.0}s were left");
        checked += 1;
    }
    assert!(checked > 500, "{checked} ETAs checked");
}
