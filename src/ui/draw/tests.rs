//! Each pane rendered into a `TestBackend` from a known state, compared with a snapshot.

use std::time::Instant;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

use super::*;
use crate::ui::app::{App, Overlay};
use crate::ui::fixtures;

fn screen(width: u16, height: u16, draw_fn: impl FnOnce(&mut Frame)) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(draw_fn).unwrap();
    terminal.backend().to_string()
}

fn pane_at(width: u16, height: u16, render: impl FnOnce(&mut Frame, Rect)) -> String {
    screen(width, height, |f| {
        let area = f.area();
        render(f, area)
    })
}

fn whole(app: &mut App, now: Instant, width: u16, height: u16) -> String {
    prepare(app, Rect::new(0, 0, width, height));
    screen(width, height, |f| draw(f, app, now))
}

#[test]
fn header_running() {
    let (app, now) = fixtures::running();
    insta::assert_snapshot!(pane_at(100, 4, |f, a| header::render(f, a, &app, now)));
}

#[test]
fn header_narrow_keeps_the_fixes() {
    let (app, now) = fixtures::running();
    let text = pane_at(80, 4, |f, a| header::render(f, a, &app, now));
    assert!(text.contains("[1] backoff  OFF") && text.contains("[3] parallel  ON"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn header_finished() {
    let (app, now) = fixtures::finished();
    insta::assert_snapshot!(pane_at(100, 4, |f, a| header::render(f, a, &app, now)));
}

#[test]
fn symbols_wide() {
    let (app, now) = fixtures::running();
    let text = pane_at(90, 8, |f, a| symbols::render(f, a, &app, now));
    // MSFT's day bars were all stored before this run; its minute bars finished in it.
    assert!(text.contains("MSFT   1/day     stored earlier"), "{text}");
    assert!(text.contains("MSFT   1/minute  done"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn symbols_narrow() {
    let (app, now) = fixtures::running();
    insta::assert_snapshot!(pane_at(46, 8, |f, a| symbols::render(f, a, &app, now)));
}

#[test]
fn symbols_build_only_the_rows_on_screen() {
    let t0 = Instant::now();
    let mut app = fixtures::many_rows(t0, 500, |i| i % 11);
    app.fit_symbols(5);
    app.list.select_row(250);
    app.fit_symbols(5);
    let text = pane_at(90, 8, |f, a| symbols::render(f, a, &app, t0));
    // Positions count from 1; the tickers from 0.
    assert!(text.contains("247-251 of 500"), "{text}");
    assert!(text.contains("S250") && text.contains("S246") && !text.contains("S245") && !text.contains("S251"));
}

#[test]
fn rate_limit_with_chart() {
    let (app, now) = fixtures::running();
    insta::assert_snapshot!(pane_at(60, 12, |f, a| rate_limit::render(f, a, &app, now)));
}

#[test]
fn backoff_with_waits_and_histogram() {
    let (app, _) = fixtures::running();
    let now = app.started + fixtures::secs(4.0);
    insta::assert_snapshot!(pane_at(76, 10, |f, a| backoff::render(f, a, &app, now)));
}

#[test]
fn breakdown_in_the_report_terms() {
    let (app, now) = fixtures::running();
    let text = pane_at(56, 7, |f, a| breakdown::render(f, a, &app, now));
    let total: f64 = app.tally.breakdown().iter().map(|p| p.1).sum();
    for (name, secs) in app.tally.breakdown() {
        let figure = crate::report::share(secs, total);
        assert!(text.lines().any(|l| l.contains(name) && l.contains(&figure)), "{name} {figure}\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn breakdown_equals_the_printed_report_at_the_end() {
    let (app, now) = fixtures::finished();
    let text = pane_at(56, 7, |f, a| breakdown::render(f, a, &app, now));
    let printed = fixtures::report_of(&app).to_text();
    for line in printed.lines().skip(2).take(4) {
        // "  Polygon API:    1.0s (7%)" -> name and figure
        let (name, figure) = line.trim().split_once(':').unwrap();
        assert!(
            text.lines().any(|l| l.contains(name) && l.contains(figure.trim())),
            "{name}: {figure} missing\n{text}"
        );
    }
}

#[test]
fn resources_against_the_criteria() {
    let (app, _) = fixtures::running();
    insta::assert_snapshot!(pane_at(30, 6, |f, a| resources::render(f, a, &app)));
}

#[test]
fn runs_from_the_database() {
    let (app, _) = fixtures::running();
    insta::assert_snapshot!(pane_at(70, 7, |f, a| runs::render(f, a, &app)));
}

#[test]
fn the_run_going_on_shows_its_live_worker_count_not_the_one_it_started_with() {
    let (mut app, _) = fixtures::running();
    app.settings.concurrency = 9;
    let text = pane_at(70, 7, |f, a| runs::render(f, a, &app));
    let cells = |status: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.contains(status)).unwrap();
        line.split_whitespace().map(|c| c.trim_matches(['"', '│']).to_string()).filter(|c| !c.is_empty()).collect()
    };
    assert_eq!(cells("running").last().map(String::as_str), Some("9"), "{text}");
    assert_eq!(cells("stopped").last().map(String::as_str), Some("1"), "a finished run keeps its record: {text}");
}

#[test]
fn runs_narrow_drops_columns_from_the_right() {
    let (app, _) = fixtures::running();
    insta::assert_snapshot!(pane_at(32, 7, |f, a| runs::render(f, a, &app)));
}

#[test]
fn log_marks_warnings_and_errors() {
    let (app, _) = fixtures::running();
    let text = pane_at(80, 8, |f, a| log::render(f, a, &app));
    assert!(text.contains("WARN  429 on a paced request"), "{text}");
    assert!(text.contains("ERROR a worker panicked"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn footer_from_the_key_table() {
    let (app, _) = fixtures::running();
    insta::assert_snapshot!(pane_at(120, 1, |f, a| footer::render(f, a, &app)));
}

#[test]
fn help_overlay_lists_every_binding() {
    let (mut app, now) = fixtures::running();
    app.view.overlay = Overlay::Help;
    let text = whole(&mut app, now, 100, 45);
    for b in crate::ui::keys::BINDINGS.iter().chain(crate::ui::keys::SEARCH_BINDINGS) {
        assert!(text.contains(b.help), "{} missing", b.help);
    }
    assert!(text.contains("while searching (after /):"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn detail_popup_shows_the_rows_requests() {
    let (mut app, now) = fixtures::running();
    app.list.select_row(0);
    app.view.overlay = Overlay::Detail;
    let text = whole(&mut app, now, 120, 30);
    assert!(text.contains("AAPL 1/minute · recent requests"), "{text}");
    assert!(text.contains("2024-03-13/2024-05-07  429 rate limited"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn whole_screen_wide() {
    let (mut app, now) = fixtures::running();
    insta::assert_snapshot!(whole(&mut app, now, 140, 40));
}

#[test]
fn whole_screen_at_the_minimum() {
    let (mut app, now) = fixtures::running();
    insta::assert_snapshot!(whole(&mut app, now, 80, 24));
}

#[test]
fn whole_screen_finished() {
    let (mut app, now) = fixtures::finished();
    insta::assert_snapshot!(whole(&mut app, now, 120, 36));
}

#[test]
fn too_small_says_so() {
    let (mut app, now) = fixtures::running();
    let text = whole(&mut app, now, 60, 12);
    assert!(text.contains("terminal too small (need 80x24, have 60x12)"), "{text}");
    insta::assert_snapshot!(text);
    let text = whole(&mut app, now, 79, 40);
    assert!(text.contains("have 79x40"), "{text}");
}

#[test]
fn a_tiny_terminal_does_not_panic() {
    let (mut app, now) = fixtures::running();
    for overlay in [Overlay::None, Overlay::Help, Overlay::Detail, Overlay::Overview] {
        app.view.overlay = overlay;
        app.view.overlay_scroll = 1000;
        for (w, h) in [(1, 1), (10, 2), (0, 0), (80, 1), (1, 24), (80, 24), (81, 25)] {
            prepare(&mut app, Rect::new(0, 0, w, h));
            let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
            terminal.draw(|f| draw(f, &app, now)).unwrap();
        }
    }
}

/// Whether any cell of the frame has a colour of its own.
fn coloured_cells(app: &mut App, now: Instant, width: u16, height: u16) -> usize {
    prepare(app, Rect::new(0, 0, width, height));
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| draw(f, app, now)).unwrap();
    let reset = ratatui::style::Color::Reset;
    terminal.backend().buffer().content.iter().filter(|c| c.fg != reset || c.bg != reset).count()
}

#[test]
fn symbols_follow_a_thousand_rows_with_the_ones_needing_attention_on_top() {
    let t0 = Instant::now();
    let mut app = fixtures::universe(t0, 500);
    app.fit_symbols(11);
    let text = pane_at(100, 14, |f, a| symbols::render(f, a, &app, t0 + fixtures::secs(4.0)));
    assert!(text.contains("1,000 rows: 626 done, 51 fetching, 10 backoff, 292 queued, 10 empty, 11 failed"), "{text}");
    assert!(text.contains("order: state, following the run"), "{text}");
    let states: Vec<&str> = text.lines().skip(2).take(11).collect();
    assert!(states[..8].iter().all(|l| l.contains("failed: 403")), "failed rows first:\n{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn symbols_filtered_to_the_failed_and_empty_rows() {
    let t0 = Instant::now();
    let mut app = fixtures::universe(t0, 500);
    app.list.cycle_filter();
    app.list.cycle_filter();
    app.fit_symbols(11);
    let text = pane_at(100, 14, |f, a| symbols::render(f, a, &app, t0));
    assert!(text.contains("filter: failed or empty") && text.contains("1-11 of 21"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn symbols_while_a_search_is_typed_and_once_kept() {
    let t0 = Instant::now();
    let mut app = fixtures::universe(t0, 500);
    for key in "/zas".chars() {
        app.on_key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char(key)), t0);
    }
    app.fit_symbols(5);
    let typing = pane_at(100, 8, |f, a| symbols::render(f, a, &app, t0));
    assert!(typing.contains("search: /ZAS▏") && typing.contains("of 52"), "{typing}");
    let footer = pane_at(100, 1, |f, a| footer::render(f, a, &app));
    assert!(footer.contains("search /ZAS▏") && footer.contains("Enter keep  Esc clear"), "{footer}");
    app.on_key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Enter), t0);
    app.fit_symbols(5);
    let kept = pane_at(100, 8, |f, a| symbols::render(f, a, &app, t0));
    assert!(kept.contains("search: /ZAS (Esc clears)"), "{kept}");
    insta::assert_snapshot!(format!("{typing}\n{footer}\n{kept}"));
}

#[test]
fn overview_shows_every_row_as_one_cell() {
    let t0 = Instant::now();
    let mut app = fixtures::universe(t0, 500);
    app.view.overlay = Overlay::Overview;
    let text = whole(&mut app, t0, 120, 30);
    // Alone on a blank screen: the grid's lines follow the legend's two.
    let alone = pane_at(120, 30, |f, a| overview::render(f, a, &app));
    let grid = alone.lines().skip_while(|l| !l.contains("the reversed cell")).skip(1);
    let grid = grid.take_while(|l| !l.contains("Esc or v closes"));
    let cells: usize = grid.map(|l| l.chars().filter(|c| "X!>·#=o".contains(*c)).count()).sum();
    assert_eq!(cells, 1000, "{alone}");
    insta::assert_snapshot!(text);
}

#[test]
fn overview_scrolls_when_the_rows_outnumber_the_cells() {
    let t0 = Instant::now();
    let mut app = fixtures::universe(t0, 5000);
    app.view.overlay = Overlay::Overview;
    app.view.overlay_scroll = usize::MAX;
    let text = whole(&mut app, t0, 80, 24);
    // 74 cells a line, 16 lines below a legend of three: scrolled to the end, the last 16
    // lines of 136.
    assert!(text.contains("rows 8,881-10,000 · Up/Down scroll"), "{text}");
}

#[test]
fn no_color_leaves_no_colour_and_every_state_in_words() {
    let (mut app, now) = fixtures::running();
    assert!(coloured_cells(&mut app, now, 120, 36) > 0, "colours by default");
    app.view.colour = false;
    assert_eq!(coloured_cells(&mut app, now, 120, 36), 0);
    let text = whole(&mut app, now, 120, 36);
    for words in ["failed: 403", "backoff 4s", "stored earlier", "done", "[1] backoff  OFF", "ERROR", "WARN"] {
        assert!(text.contains(words), "{words}\n{text}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn no_color_overview_tells_states_by_character() {
    let t0 = Instant::now();
    let mut app = fixtures::universe(t0, 500);
    app.view.colour = false;
    app.view.overlay = Overlay::Overview;
    assert_eq!(coloured_cells(&mut app, t0, 120, 30), 0);
    let text = whole(&mut app, t0, 120, 30);
    for legend in [
        "X failed 11",
        "! backoff 10",
        "> fetching 51",
        "· queued 292",
        "# done 526",
        "= stored earlier 100",
        "o empty 10",
    ] {
        assert!(text.contains(legend), "{legend}\n{text}");
    }
}

#[test]
fn no_color_means_present_and_not_empty() {
    assert!(colour_from_env(None));
    assert!(colour_from_env(Some("".into())));
    assert!(!colour_from_env(Some("1".into())));
    assert!(!colour_from_env(Some("0".into())), "any value but the empty one");
}

#[test]
fn coverage_lists_the_rows_with_holes_first() {
    use crate::store::coverage::{Missing, RowCoverage};
    let t0 = Instant::now();
    let (mut app, _) = fixtures::running();
    let d = |s: &str| crate::calendar::parse_date(s).unwrap();
    let row = |ticker: &str, tf: &str, stored: u32, missing: Vec<Missing>| RowCoverage {
        class: crate::markets::Class::Stocks,
        ticker: ticker.into(),
        timeframe: tf.into(),
        first_ts: None,
        last_ts: None,
        first_day: Some(d("2024-01-02")),
        last_day: Some(d("2024-05-07")),
        sessions_expected: 88,
        sessions_stored: stored,
        missing,
        listed: None,
        delisted: None,
        last_run: Some(3),
    };
    let hole = |from: &str, to: &str, sessions| Missing { from: d(from), to: d(to), sessions };
    let five: Vec<Missing> = (1..=5).map(|i| hole(&format!("2024-04-0{i}"), &format!("2024-04-0{i}"), 1)).collect();
    // Given in key order; the overlay puts the rows with holes on top.
    app.set_coverage(Ok(vec![
        row("AAPL", "1/day", 88, vec![]),
        row("AAPL", "1/minute", 85, vec![hole("2024-03-04", "2024-03-06", 3)]),
        row("MSFT", "1/minute", 83, five),
    ]));
    app.view.overlay = Overlay::Coverage;
    let text = whole(&mut app, t0, 120, 30);
    let aapl_minute = text.find("AAPL     1/minute").expect(&text);
    let aapl_day = text.find("AAPL     1/day").expect(&text);
    assert!(aapl_minute < aapl_day, "holes first:\n{text}");
    assert!(text.contains("2024-03-04..03-06"), "{text}");
    assert!(text.contains("2024-04-01, 2024-04-02, 2024-04-03 +2 more (2 sessions)"), "{text}");
    assert!(text.contains("complete"), "{text}");
    assert!(text.contains("3 rows in the database, 2 with missing sessions"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn coverage_says_it_is_reading_until_the_answer_comes() {
    let t0 = Instant::now();
    let (mut app, now) = fixtures::running();
    let effect = app.on_key(crossterm::event::KeyEvent::from(crossterm::event::KeyCode::Char('c')), now);
    assert_eq!(effect, Some(crate::ui::app::Effect::ReadCoverage), "the file is read off the loop");
    let text = whole(&mut app, t0, 120, 30);
    assert!(text.contains("reading the database"), "{text}");
    app.set_coverage(Err("no such table: series".into()));
    let text = whole(&mut app, t0, 120, 30);
    assert!(text.contains("cannot read the database: no such table"), "{text}");
}

#[test]
fn rows_of_other_classes_show_their_class_whole_tickers_and_days() {
    use crate::markets::Class;
    let (mut app, now) = fixtures::running();
    app.rows[0].ticker = "O:SPY250110C00500000".into();
    app.rows[0].class = Class::Options;
    app.rows[1].ticker = "X:BTCUSD".into();
    app.rows[1].class = Class::Crypto;
    let list = pane_at(110, 8, |f, a| symbols::render(f, a, &app, now));
    assert!(list.contains("O:SPY250110C00500000 1/minute"), "{list}");
    assert!(list.contains("X:BTCUSD             1/day"), "{list}");
    app.list.select_row(1);
    app.view.overlay = Overlay::Detail;
    let detail = whole(&mut app, now, 120, 30);
    assert!(detail.contains("class crypto") && detail.contains("calendar days (UTC) "), "{detail}");
    app.view.overlay = Overlay::Overview;
    let overview = whole(&mut app, now, 120, 30);
    assert!(overview.contains("the reversed cell: X:BTCUSD 1/day (crypto)"), "{overview}");
}
