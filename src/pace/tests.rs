//! The pacer on paused time: what it lets through and when, and what each kind of 429
//! does to the pace.

use std::time::Duration;

use tokio::time::{Instant, advance};
use tokio_util::sync::CancellationToken;

use super::*;

const MINUTE: Duration = Duration::from_secs(60);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Sends `n` requests through the pacer, each answered at once as `answer`; returns
/// their send times in seconds from `t0`.
async fn send(p: &Pacer, n: usize, answer: Answer, t0: Instant) -> Vec<f64> {
    let cancel = CancellationToken::new();
    let mut at = Vec::new();
    for _ in 0..n {
        p.acquire(&cancel).await.unwrap();
        let sent = p.sent(true);
        at.push((Instant::from_std(sent.at) - t0).as_secs_f64());
        p.on_answer(sent, answer);
    }
    at
}

/// Unpaced requests, one every `gap`, all counted by the server.
async fn unpaced(p: &Pacer, n: usize, gap: Duration) {
    for _ in 0..n {
        let sent = p.sent(false);
        p.on_answer(sent, Answer::Counted);
        advance(gap).await;
    }
}

fn most_in_any(window: f64, at: &[f64]) -> usize {
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..at.len() {
        while at[hi] - at[lo] >= window - 1e-9 {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

const LIMITED: Answer = Answer::RateLimited { retry_after: None };

#[tokio::test(start_paused = true)]
async fn the_pace_never_puts_more_than_the_ceiling_in_any_window_and_idle_time_is_no_burst() {
    let p = Pacer::new(150, 2.0, MINUTE);
    let t0 = Instant::now();
    let mut at = send(&p, 200, Answer::Counted, t0).await;
    assert_eq!(most_in_any(60.0, &at), 147);
    // Half a minute with nothing to send, then more: no catching up.
    advance(secs(30.0)).await;
    at.extend(send(&p, 20, Answer::Counted, t0).await);
    assert_eq!(most_in_any(60.0, &at), 147);
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    // Timers fire on whole milliseconds: a gap may be a millisecond short of the pace's
    // interval, never the grid.
    assert!(gaps.iter().all(|g| *g >= 60.0 / 147.0 - 0.001), "{gaps:?}");
}

#[tokio::test(start_paused = true)]
async fn pacing_on_after_a_baseline_burst_waits_for_the_window_instead_of_sending_into_it() {
    let p = Pacer::new(150, 0.0, MINUTE);
    p.set_pacing(false);
    let t0 = Instant::now();
    // The baseline filled the server's window in its first 15 s, then got 429s.
    unpaced(&p, 150, secs(0.1)).await;
    advance(secs(5.0)).await;
    let news = p.set_pacing(true);
    let Some(News::Held { hold: Hold::Drain, secs: wait }) = news else { panic!("{news:?}") };
    // The first of those 150 leaves the window at 60 s (plus the arrival slack); a
    // steady pace from then on never meets more than 150 in a window.
    assert!((40.0..=42.0).contains(&wait), "{wait}");
    let at = send(&p, 60, Answer::Counted, t0).await;
    assert!(at[0] >= 60.0, "{at:?}");
    assert_eq!(p.figures().cuts, 0);
    assert_eq!(p.rate_per_min(), 150.0);
}

#[tokio::test(start_paused = true)]
async fn a_429_from_a_window_still_full_holds_with_sparse_probes_and_never_cuts() {
    let p = Pacer::new(150, 0.0, MINUTE);
    p.set_pacing(false);
    let t0 = Instant::now();
    // A baseline whose accepted requests the client did not see counted (say another
    // process of the same key): the window is full although the log says otherwise.
    unpaced(&p, 5, secs(1.0)).await;
    assert_eq!(p.set_pacing(true), None, "the log leaves room at once (or within a second)");
    let mut at = Vec::new();
    for _ in 0..10 {
        at.extend(send(&p, 1, LIMITED, t0).await);
    }
    assert!(at[9] < 66.0, "all before the horizon: {at:?}");
    let f = p.figures();
    assert_eq!((f.cuts, f.taught_429, f.stale_429), (0, 0, 10));
    assert_eq!(f.rate_per_min, 150.0);
    // Held until the horizon (last unpaced + 60 s + 2 s), a probe every 6 s meanwhile.
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 6.0 - 0.001), "probes are sparse: {at:?}");
    // Once a probe succeeds the gate opens and the pace is the quota's.
    let at = send(&p, 6, Answer::Counted, t0).await;
    assert!((at[5] - at[1] - 4.0 * 0.4).abs() < 1e-3, "{at:?}");
    assert_eq!(p.figures().cuts, 0);
}

#[tokio::test(start_paused = true)]
async fn a_lower_limit_is_cut_once_per_episode_and_climbed_back_within_half_a_window() {
    let p = Pacer::new(150, 0.0, MINUTE);
    let t0 = Instant::now();
    // The server took 100 in its window, then said 429.
    send(&p, 100, Answer::Counted, t0).await;
    let news = p.on_answer(p.sent(true), LIMITED);
    assert_eq!(news, Some(News::Cut { from: 150.0, to: 75.0, accepted: 100.0 }), "0.7 x 100 under the floor of Q/2");
    // More 429s in the same episode teach nothing more.
    for _ in 0..5 {
        assert_eq!(p.on_answer(p.sent(true), LIMITED), None);
    }
    let f = p.figures();
    assert_eq!((f.cuts, f.taught_429, f.stale_429), (1, 1, 5));
    // Half a window on, the pace is back at what the server accepted, and stays there
    // while the episode is open.
    advance(secs(30.0)).await;
    assert!((p.rate_per_min() - 100.0).abs() < 0.5, "{}", p.rate_per_min());
    advance(secs(25.0)).await;
    assert!(p.rate_per_min() <= 100.0 + 1e-9);
    // A window after the cut, a success closes the episode and the probe above begins.
    advance(secs(6.0)).await;
    p.on_answer(p.sent(true), Answer::Counted);
    advance(secs(40.0)).await;
    assert!(p.rate_per_min() > 120.0, "{}", p.rate_per_min());
    assert!(p.figures().learned_per_min.is_none());
    assert!(!p.figures().limit_is_lower());
}

#[tokio::test(start_paused = true)]
async fn two_separate_episodes_that_agree_teach_the_limit_and_later_cuts_stay_near_it() {
    let p = Pacer::new(150, 0.0, MINUTE);
    let t0 = Instant::now();
    send(&p, 100, Answer::Counted, t0).await;
    p.on_answer(p.sent(true), LIMITED);
    // The next window: the server accepts 100 again, then 429.
    advance(secs(20.0)).await;
    send(&p, 100, Answer::Counted, t0).await;
    let news = p.on_answer(p.sent(true), LIMITED);
    let Some(News::Learned { limit }) = news else { panic!("{news:?}") };
    assert!((limit - 100.0).abs() < 2.0, "{limit}");
    let f = p.figures();
    assert_eq!(f.learned_per_min, Some(limit));
    assert!(f.limit_is_lower());
    assert!((f.rate_per_min - 0.9 * limit).abs() < 1e-9, "the floor is now 0.9 x the agreed limit: {f:?}");
}

#[tokio::test(start_paused = true)]
async fn a_free_key_never_probes_faster_than_its_pace() {
    let p = Pacer::new(5, 2.0, MINUTE);
    p.set_pacing(false);
    unpaced(&p, 1, secs(1.0)).await;
    p.set_pacing(true);
    let t0 = Instant::now();
    let at = send(&p, 6, LIMITED, t0).await;
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.iter().all(|g| *g >= 60.0 / 4.9 - 0.001), "{gaps:?}");
    assert_eq!(p.rate_per_min(), 4.9, "5/min is the floor: nothing lower is ever tried");
}

#[tokio::test(start_paused = true)]
async fn a_429_on_an_unpaced_request_changes_nothing() {
    let p = Pacer::new(150, 0.0, MINUTE);
    p.set_pacing(false);
    assert_eq!(p.on_answer(p.sent(false), LIMITED), None);
    let f = p.figures();
    assert_eq!((f.cuts, f.unpaced_429, f.held_s), (0, 1, None));
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_every_worker_that_long_without_probes() {
    let p = Pacer::new(150, 0.0, MINUTE);
    let t0 = Instant::now();
    send(&p, 10, Answer::Counted, t0).await;
    // Stale by the episode rule: one cut first, then a 429 with Retry-After.
    p.on_answer(p.sent(true), LIMITED);
    advance(secs(1.0)).await;
    p.on_answer(p.sent(true), Answer::RateLimited { retry_after: Some(secs(20.0)) });
    let at = send(&p, 1, Answer::Counted, t0).await;
    assert!(at[0] >= 21.0 - 1e-6, "{at:?}");
}

#[tokio::test(start_paused = true)]
async fn a_pause_stops_the_climb_clock() {
    let p = Pacer::new(150, 0.0, MINUTE);
    let t0 = Instant::now();
    send(&p, 100, Answer::Counted, t0).await;
    p.on_answer(p.sent(true), LIMITED);
    p.set_paused(true);
    advance(secs(300.0)).await;
    p.set_paused(false);
    assert_eq!(p.rate_per_min(), 75.0, "still at the cut: no time ran");
    advance(secs(30.0)).await;
    assert!((p.rate_per_min() - 100.0).abs() < 0.5);
}
