use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::config::Fix;
use crate::engine::events::{Event, RowState};
use crate::report::share;
use crate::ui::fixtures::{self, range, secs};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn events_fold_into_per_row_numbers() {
    let (app, now) = fixtures::running();
    let aapl_min = &app.rows[0];
    assert_eq!(aapl_min.bars(), 49_920);
    assert_eq!(aapl_min.requests(), 2);
    assert_eq!(aapl_min.rate_limited, 1);
    assert_eq!(aapl_min.days_done, range("2024-01-02", "2024-03-12").sessions());
    assert_eq!(aapl_min.recent.len(), 2);
    // An 8 s backoff that began 2 s in, seen 6 s in: 4 s left.
    assert_eq!(aapl_min.backoff_left(now), Some(4.0));

    let msft_min = &app.rows[2];
    assert_eq!(msft_min.days_done, 37 + range("2024-02-26", "2024-05-07").sessions());
    assert_eq!(msft_min.state, RowState::Done);
    assert_eq!(app.rows[3].progress(), 1.0);
    assert_eq!(app.rows[1].state, RowState::Failed("403 not authorized".into()));
    assert_eq!(app.rows[1].failed_windows, 1);

    assert_eq!(app.tally.requests, 4);
    assert_eq!(app.tally.rate_limit_hits, 2);
    assert_eq!(app.bars_stored(), 99_840);
    assert_eq!(app.hits_last_minute(now), 2);
    assert_eq!(app.requests_last_minute(now), 4);
    assert_eq!(app.rate.limiter_waits, 1);
    assert_eq!(app.backoff.histogram, [0, 0, 1, 0, 1, 0, 0, 0]);
    assert_eq!(app.backoff.held_waits, 1);
    assert!(!app.settings.fixes.backoff, "the Settings event turned fix 1 off");
    assert_eq!(app.cpu_pct, Some(12.5));
    assert_eq!(app.status(), "running");
}

#[test]
fn waits_count_down_and_end() {
    let (app, now) = fixtures::running();
    let waits = app.waits(now);
    assert_eq!(
        waits,
        vec![Wait { who: "AAPL 1/minute".into(), reason: "429".into(), left: 4.0 }],
        "the grouped 3 s wait from 3 s in is over at 6 s"
    );
    let earlier = app.started + secs(4.0);
    let waits = app.waits(earlier);
    assert_eq!(waits.len(), 2);
    assert_eq!(waits[1], Wait { who: "grouped daily".into(), reason: "429".into(), left: 2.0 });
    assert!(app.waits(app.started + secs(10.5)).is_empty());
}

#[test]
fn breakdown_equals_the_tally_and_the_report() {
    let (app, _) = fixtures::running();
    let mut tally = Tally::default();
    for (_, e) in fixtures::script() {
        tally.apply(&e);
    }
    assert_eq!(app.breakdown(), tally.breakdown());
    assert_eq!(app.breakdown()[0], ("Polygon API", 0.42 + 0.05 + 0.05 + 0.40));
    assert_eq!(app.breakdown()[2].1, 8.0 + 3.0 + 1.5);
    let total: f64 = app.breakdown().iter().map(|p| p.1).sum();
    assert_eq!(share(app.breakdown()[2].1, total), "12.5s (90%)");

    let (done, _) = fixtures::finished();
    assert_eq!(done.breakdown(), fixtures::report_of(&done).breakdown());
    assert_eq!(done.breakdown(), tally.breakdown());
    assert_eq!(done.status(), "done");
    assert_eq!(done.elapsed(done.started + secs(100.0)), 9.0, "a finished run shows its wall time");
}

#[test]
fn eta_is_the_engines_counted_down_and_a_worker_change_does_not_reset_it() {
    use crate::engine::eta::EtaFigures;
    let t0 = Instant::now();
    let mut app = App::new(t0, "simulator", "", "", fixtures::settings());
    app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
    // Nothing told yet: the quota alone needs the plan's floor.
    let floor = fixtures::info().floor_s;
    let expect = if floor >= 1.0 { Some(floor) } else { None };
    assert_eq!(app.eta(t0 + secs(0.5)), Some(Eta::Measuring { at_least: expect }));
    let told = EtaFigures { secs: Some(40.0), measuring: false, requests_left: 100.0, rate_per_min: 150.0 };
    app.on_event(Event::Eta(told), t0 + secs(2.0));
    assert_eq!(app.eta(t0 + secs(5.0)), Some(Eta::About(37.0)), "counted down between the engine's words");
    // Auto changes the worker count: the estimate stands.
    app.on_event(Event::Settings(Settings { concurrency: 7, ..app.settings }), t0 + secs(6.0));
    assert_eq!(app.eta(t0 + secs(7.0)), Some(Eta::About(35.0)));
    // Still measuring (a switch without fix 2): at least what the quota needs for what is left.
    let measuring = EtaFigures { secs: None, measuring: true, requests_left: 75.0, rate_per_min: 0.0 };
    app.on_event(Event::Eta(measuring), t0 + secs(8.0));
    assert_eq!(app.eta(t0 + secs(8.0)), Some(Eta::Measuring { at_least: Some(30.0) }));
    // Paused, it says so.
    app.on_event(Event::Settings(Settings { paused: true, ..app.settings }), t0 + secs(9.0));
    assert_eq!(app.eta(t0 + secs(9.0)), Some(Eta::Paused));
}

#[test]
fn rate_series_buckets_requests_by_arrival() {
    let t0 = Instant::now();
    let mut app = App::new(t0, "simulator", "", "", fixtures::settings());
    app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
    for i in 0..30 {
        // One request every 2 s for a minute.
        app.on_event(fixtures::ok(Some(0), "/p", 1, 0.1), t0 + secs(i as f64 * 2.0 + 0.5));
    }
    let series = app.rate_series(t0 + secs(60.0));
    assert_eq!(series.len(), 13, "12 whole buckets and the present");
    assert_eq!(series[0], (5.0, 3.0));
    assert_eq!(series[5], (30.0, 15.0));
    assert_eq!(series[11], (60.0, 30.0));
    assert_eq!(series[12], (60.0, 30.0));
    // A window slides: at 90 s only the requests after 30 s count.
    let later = app.rate_series(t0 + secs(90.0));
    assert_eq!(later[17], (90.0, 15.0));
    // A minute later with no requests the rate falls to zero.
    assert_eq!(app.requests_last_minute(t0 + secs(130.0)), 0);
}

#[test]
fn keys_send_the_right_commands() {
    let (mut app, now) = fixtures::running();
    assert_eq!(app.on_key(key('1'), now), Some(Effect::Engine(Command::ToggleFix(Fix::Backoff))));
    assert_eq!(app.on_key(key('2'), now), Some(Effect::Engine(Command::ToggleFix(Fix::Batching))));
    assert_eq!(app.on_key(key('3'), now), Some(Effect::Engine(Command::ToggleFix(Fix::Parallel))));
    assert_eq!(app.on_key(key('+'), now), Some(Effect::Engine(Command::SetConcurrency(4))));
    assert_eq!(app.on_key(key('+'), now), Some(Effect::Engine(Command::SetConcurrency(5))), "no lost press");
    assert_eq!(app.on_key(key('-'), now), Some(Effect::Engine(Command::SetConcurrency(4))));
    assert!(!app.settings.auto, "a count set by hand turns auto off");
    assert_eq!(app.on_key(key('a'), now), Some(Effect::Engine(Command::Auto)));
    assert!(app.settings.auto);
    assert_eq!(app.on_key(key(']'), now), Some(Effect::Engine(Command::SetStagger(1.0))));
    assert_eq!(app.on_key(key('['), now), Some(Effect::Engine(Command::SetStagger(0.0))));
    assert_eq!(app.on_key(key('p'), now), Some(Effect::Engine(Command::Pause)));
    assert_eq!(app.status(), "paused");
    assert_eq!(app.on_key(key('p'), now), Some(Effect::Engine(Command::Resume)));
    assert_eq!(app.on_key(key('r'), now), None, "no new run while one goes on");
    assert!(app.log.back().unwrap().text.contains("press s"));
    assert_eq!(app.on_key(key('s'), now), Some(Effect::Engine(Command::Stop)));
    assert_eq!(app.status(), "stopping");
    assert_eq!(app.on_key(key('s'), now), None, "stop is sent once");
    assert_eq!(app.on_key(key('p'), now), None, "no pausing a stopping run");
    assert_eq!(app.on_key(key('q'), now), Some(Effect::Quit));
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL), now),
        Some(Effect::ForceQuit),
        "asked twice: leave without waiting"
    );
}

#[test]
fn concurrency_and_stagger_stay_in_the_engine_bounds() {
    let (mut app, now) = fixtures::running();
    app.settings.concurrency = 64;
    assert_eq!(app.on_key(key('+'), now), Some(Effect::Engine(Command::SetConcurrency(64))));
    app.settings.concurrency = 1;
    assert_eq!(app.on_key(key('-'), now), Some(Effect::Engine(Command::SetConcurrency(1))));
    app.settings.stagger_secs = 0.5;
    assert_eq!(app.on_key(key('['), now), Some(Effect::Engine(Command::SetStagger(0.0))));
}

#[test]
fn after_a_run_the_switches_change_locally_and_r_starts_the_next() {
    let (mut app, now) = fixtures::finished();
    assert!(!app.live());
    assert_eq!(app.on_key(key('3'), now), None);
    assert!(!app.settings.fixes.parallel);
    assert!(app.log.back().unwrap().text.contains("fix 3 (parallel) OFF for the next run"));
    assert_eq!(app.on_key(key('+'), now), None);
    assert_eq!(app.on_key(key('p'), now), None);
    assert_eq!(app.on_key(key('s'), now), None);
    let Some(Effect::NewRun { settings: s, refetch: false }) = app.on_key(key('r'), now) else {
        panic!("r starts a run over what is not stored yet")
    };
    assert_eq!(s.concurrency, 4);
    assert!(!s.fixes.parallel && !s.fixes.backoff && s.fixes.batching);
    assert_eq!(app.status(), "starting");
    assert_eq!(app.on_key(key('r'), now), None, "one new run at a time");
    // The new run's first event resets the run's figures.
    app.on_event(Event::RunStarted(Box::new(fixtures::info())), now);
    assert_eq!(app.tally.requests, 0);
    assert_eq!(app.rows[0].requests(), 0);
    assert_eq!(app.status(), "running");
    assert_eq!(app.on_key(key('q'), now), Some(Effect::Quit));
}

#[test]
fn a_run_without_a_report_shows_as_failed() {
    let (mut app, now) = fixtures::running();
    app.run_failed("the run task failed: panicked", now);
    assert_eq!(app.status(), "failed");
    assert!(!app.live());
    assert_eq!(app.log.back().unwrap().level, Level::Error);
    let (mut done, now) = fixtures::finished();
    assert!(matches!(done.on_key(key('r'), now), Some(Effect::NewRun { .. })));
    done.run_failed("cannot start a new run: database in use", now);
    assert_eq!(done.status(), "done", "the screen still shows the last run");
    assert!(matches!(done.on_key(key('r'), now), Some(Effect::NewRun { .. })), "and r can try again");
}

#[test]
fn capital_r_starts_a_run_that_fetches_everything_again() {
    let (mut app, now) = fixtures::running();
    assert_eq!(app.on_key(key('R'), now), None, "not while a run is going");
    assert!(app.log.back().unwrap().text.contains("then r or R"));
    let (mut done, now) = fixtures::finished();
    let Some(Effect::NewRun { settings, refetch: true }) = done.on_key(key('R'), now) else {
        panic!("R starts a refetching run")
    };
    assert_eq!(settings, done.settings);
    let mut info = fixtures::info();
    info.refetch = true;
    done.on_event(Event::RunStarted(Box::new(info)), now);
    assert!(done.log.back().unwrap().text.contains("fetching every window again"));
}

#[test]
fn quitting_an_ended_run_asks_nothing_of_the_engine() {
    let (mut app, now) = fixtures::finished();
    assert_eq!(app.on_key(key('q'), now), Some(Effect::Quit));
    assert!(!app.stop_requested);
}

#[test]
fn navigation_selects_scrolls_and_opens() {
    let t0 = Instant::now();
    let mut app = fixtures::many_rows(t0, 500, |_| 0);
    app.fit_symbols(20);
    let down = KeyEvent::new(KeyCode::Down, KeyModifiers::NONE);
    for _ in 0..25 {
        app.on_key(down, t0);
    }
    app.fit_symbols(20);
    assert_eq!((app.list.selected_pos().unwrap(), app.list.offset), (25, 6));
    app.on_key(key('k'), t0);
    app.fit_symbols(20);
    assert_eq!(
        (app.list.selected_pos().unwrap(), app.list.offset),
        (24, 6),
        "moving up inside the page does not scroll"
    );
    app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE), t0);
    app.fit_symbols(20);
    assert_eq!((app.list.selected_pos().unwrap(), app.list.offset), (499, 480));
    app.on_key(KeyEvent::new(KeyCode::PageUp, KeyModifiers::NONE), t0);
    app.fit_symbols(20);
    assert_eq!(app.list.selected_pos(), Some(479));
    app.on_key(key('g'), t0);
    app.fit_symbols(20);
    assert_eq!((app.list.selected_pos().unwrap(), app.list.offset), (0, 0));

    let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
    app.on_key(enter, t0);
    assert_eq!(app.view.overlay, Overlay::Detail);
    app.on_key(KeyEvent::new(KeyCode::Esc, KeyModifiers::NONE), t0);
    assert_eq!(app.view.overlay, Overlay::None);
    app.on_key(key('?'), t0);
    assert_eq!(app.view.overlay, Overlay::Help);
    app.on_key(key('?'), t0);
    assert_eq!(app.view.overlay, Overlay::None);

    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    app.on_key(tab, t0);
    assert_eq!(app.view.focus, Focus::Log);
    app.on_key(enter, t0);
    assert_eq!(app.view.overlay, Overlay::None, "Enter opens symbol rows only");
    app.on_key(tab, t0);
    assert_eq!(app.view.focus, Focus::Runs);
    app.on_key(tab, t0);
    assert_eq!(app.view.focus, Focus::Symbols);
    app.on_key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT), t0);
    assert_eq!(app.view.focus, Focus::Runs);
}

#[test]
fn the_log_scrolls_back_and_holds_its_place() {
    let (mut app, now) = fixtures::running();
    for i in 0..10 {
        app.push_log(LogLine { at: now, level: Level::Info, text: format!("line {i}") });
    }
    app.view.focus = Focus::Log;
    app.on_key(key('k'), now);
    app.on_key(key('k'), now);
    assert_eq!(app.view.log_scroll, 2);
    app.push_log(LogLine { at: now, level: Level::Info, text: "new".into() });
    assert_eq!(app.view.log_scroll, 3, "the lines being read stay on screen");
    app.on_key(KeyEvent::new(KeyCode::End, KeyModifiers::NONE), now);
    assert_eq!(app.view.log_scroll, 0, "End follows the tail again");
}

#[test]
fn notices_reach_the_log_only_without_the_tracing_feed() {
    let (app, _) = fixtures::running();
    assert!(app.log.iter().any(|l| l.text == "fix 1 (backoff) OFF"));
    let t0 = Instant::now();
    let mut fed = App::new(t0, "simulator", "", "", fixtures::settings());
    fed.notices_to_log = false;
    fed.on_event(Event::Notice { level: Level::Info, text: "fix 1 (backoff) OFF".into() }, t0);
    assert!(fed.log.is_empty());
}

#[test]
fn a_new_split_is_a_log_line_and_a_figure_of_the_run() {
    let t0 = Instant::now();
    let split = crate::report::SplitNews {
        ticker: "AAPL".into(),
        execution_date: "2020-08-31".into(),
        split_from: 1.0,
        split_to: 4.0,
    };
    for fed_from_tracing in [false, true] {
        let mut app = App::new(t0, "simulator", "", "", fixtures::settings());
        app.notices_to_log = !fed_from_tracing;
        app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
        app.on_event(Event::NewSplit(split.clone()), t0);
        let line = "new split: AAPL 4-for-1 on 2020-08-31; bars_adjusted follows, nothing refetched";
        // With the tracing feed the engine's own log line is the one shown: never twice.
        assert_eq!(app.log.iter().any(|l| l.text == line), !fed_from_tracing);
        assert_eq!(app.tally.new_splits, std::slice::from_ref(&split));
    }
}

#[test]
fn a_key_in_server_text_is_never_kept() {
    let t0 = Instant::now();
    let mut app = App::new(t0, "live API", "", "", fixtures::settings())
        .with_secret(Some(crate::secret::ApiKey::new("sekret123")));
    app.on_event(Event::RunStarted(Box::new(fixtures::info())), t0);
    let mut req = fixtures::limited(Some(0), "/v2/x?apiKey=sekret123");
    if let Event::Request(r) = &mut req {
        r.message = Some("bad key sekret123".into());
    }
    app.on_event(req, t0);
    app.on_event(Event::Notice { level: Level::Warn, text: "key sekret123 rejected".into() }, t0);
    app.on_event(Event::RowState { row: 1, state: RowState::Failed("sekret123".into()) }, t0);
    let (_, r) = app.rows[0].recent.back().unwrap();
    assert!(!r.path.contains("sekret123") && !r.message.as_ref().unwrap().contains("sekret123"));
    assert!(!app.log.iter().any(|l| l.text.contains("sekret123")));
    assert_eq!(app.rows[1].state, RowState::Failed("***".into()));
}

#[test]
fn an_ended_run_costs_a_frame_only_when_something_changed() {
    let (mut app, now) = fixtures::finished();
    let later = now + secs(5.0);
    let since = secs(5.0);
    assert!(app.needs_frame(later, since), "the report just came");
    app.redraw = false;
    assert!(!app.needs_frame(later, since), "nothing on an ended run's screen moves by itself");
    app.on_key(key('x'), now);
    assert!(!app.needs_frame(later, since), "a key bound to nothing changes nothing");
    app.on_key(key('f'), now);
    assert!(app.needs_frame(later, since));
    app.redraw = false;
    app.set_runs(Ok(fixtures::runs()));
    assert!(app.needs_frame(later, since));
    app.redraw = false;
    app.push_log(LogLine { at: now, level: Level::Info, text: "a line".into() });
    assert!(app.needs_frame(later, since));
}

#[test]
fn a_quiet_live_run_draws_as_often_as_its_clock_shows() {
    let (mut app, now) = fixtures::running();
    app.redraw = false;
    let tick = secs(0.1);
    assert!(app.needs_frame(now, tick), "6 s in, the clock shows tenths");
    let two_minutes = app.started + secs(120.0);
    assert!(!app.needs_frame(two_minutes, tick), "past a minute, with no wait, whole seconds");
    assert!(app.needs_frame(two_minutes, secs(1.0)), "once a second");
    let wait = RowState::Backoff { secs: 8.0, reason: "429".into() };
    app.on_event(Event::RowState { row: 0, state: wait }, two_minutes);
    assert!(app.needs_frame(two_minutes, tick), "an event: at once");
    app.redraw = false;
    assert!(app.needs_frame(two_minutes + secs(1.0), tick), "a countdown shows tenths");
    assert!(!app.needs_frame(two_minutes + secs(9.0), tick), "until it is over");
}

#[test]
fn the_report_says_when_the_simulator_shares_the_process() {
    let mut report = fixtures::report_of_nothing();
    report.requests = 3;
    report.source = crate::report::EMBEDDED_SIMULATOR.into();
    assert!(report.to_text().contains("of one core (the simulator's included)"), "{}", report.to_text());
    report.source = "live API".into();
    let text = report.to_text();
    assert!(text.contains("Peak memory:") && !text.contains("simulator's included"), "{text}");
}
