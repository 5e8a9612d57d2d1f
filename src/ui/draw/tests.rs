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
    app.fit_symbols(symbol_rows_visible(Rect::new(0, 0, width, height)));
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
    app.view.selected = 250;
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
fn runs_narrow_drops_columns_from_the_right() {
    let (app, _) = fixtures::running();
    insta::assert_snapshot!(pane_at(32, 7, |f, a| runs::render(f, a, &app)));
}

#[test]
fn log_marks_warnings_and_errors() {
    let (app, _) = fixtures::running();
    let text = pane_at(80, 8, |f, a| log::render(f, a, &app));
    assert!(text.contains("WARN  429 while pacing"), "{text}");
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
    let text = whole(&mut app, now, 100, 30);
    for b in crate::ui::keys::BINDINGS {
        assert!(text.contains(b.help), "{} missing", b.help);
    }
    insta::assert_snapshot!(text);
}

#[test]
fn detail_popup_shows_the_rows_requests() {
    let (mut app, now) = fixtures::running();
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
    for (w, h) in [(1, 1), (10, 2), (0, 0), (80, 1), (1, 24), (80, 24), (81, 25)] {
        app.fit_symbols(symbol_rows_visible(Rect::new(0, 0, w, h)));
        let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
        terminal.draw(|f| draw(f, &app, now)).unwrap();
    }
}
