//! The symbols list at scale: follow order, filters, search, orders, and the selection
//! that stays on its row while rows move.

use std::time::Instant;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::*;
use crate::engine::events::{Event, RowState};
use crate::ui::fixtures::{self, range};

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn press(app: &mut App, code: KeyCode) {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE), Instant::now());
}

fn set(app: &mut App, row: usize, state: RowState) {
    app.on_event(Event::RowState { row, state }, app.started);
}

/// Row indices in display order, after the frame's refresh.
fn order(app: &mut App) -> Vec<usize> {
    app.fit_symbols(10);
    app.list.shown().iter().map(|&i| i as usize).collect()
}

/// Twelve rows: 0 and 1 done, 2 and 7 fetching, 3 empty, 4 stored earlier, 5 failed,
/// 9 in backoff, the rest queued.
fn mixed() -> App {
    let t0 = Instant::now();
    let mut app = fixtures::many_rows(t0, 12, |i| if i == 4 { 10 } else { 0 });
    for (row, state) in [
        (0, RowState::Done),
        (1, RowState::Done),
        (2, RowState::Fetching),
        (3, RowState::Empty),
        (4, RowState::Done),
        (5, RowState::Failed("403".into())),
        (7, RowState::Fetching),
        (9, RowState::Backoff { secs: 4.0, reason: "429".into() }),
    ] {
        set(&mut app, row, state);
    }
    app
}

#[test]
fn follow_mode_puts_rows_that_need_attention_first() {
    let mut app = mixed();
    assert!(app.live());
    assert_eq!(order(&mut app), [5, 9, 2, 7, 6, 8, 10, 11, 0, 1, 3, 4]);
    assert!(app.list.following());
    assert_eq!(app.list.order(), Order::State);
    let c = *app.list.counts();
    assert_eq!((c.total(), c.done(), c.get(Kind::Stored)), (12, 3, 1));
    assert_eq!((c.get(Kind::Fetching), c.get(Kind::Backoff), c.get(Kind::Queued)), (2, 1, 4));
    assert_eq!((c.get(Kind::Empty), c.get(Kind::Failed)), (1, 1));
    // Once the run ends (and nothing else was chosen) the plan's order is back.
    app.on_event(Event::RunFinished(Box::new(fixtures::report_of_nothing())), app.started);
    assert_eq!(order(&mut app), (0..12).collect::<Vec<_>>());
    assert!(!app.list.following());
}

#[test]
fn at_the_top_the_selection_stays_at_the_top_as_rows_move() {
    let mut app = mixed();
    order(&mut app);
    assert_eq!(app.list.selected(), Some(5), "the failed row is the top");
    set(&mut app, 11, RowState::Failed("403".into()));
    order(&mut app);
    assert_eq!(app.list.selected(), Some(5), "11 fails after 5 but comes after it in plan order");
    set(&mut app, 5, RowState::Queued);
    order(&mut app);
    assert_eq!(app.list.selected(), Some(11), "the top is followed, not row 5");
}

#[test]
fn a_row_moved_to_stays_selected_as_rows_move() {
    let mut app = mixed();
    order(&mut app);
    // Down four: 5, 9, 2, 7, 6 (the first queued row).
    for _ in 0..4 {
        app.on_key(key('j'), app.started);
    }
    app.fit_symbols(10);
    assert_eq!((app.list.selected(), app.list.selected_pos()), (Some(6), Some(4)));
    // Row 6 starts fetching: it moves up, and the selection goes with it.
    set(&mut app, 6, RowState::Fetching);
    assert_eq!(order(&mut app)[..5], [5, 9, 2, 6, 7]);
    assert_eq!((app.list.selected(), app.list.selected_pos()), (Some(6), Some(3)));
    // It ends: to the ended rows at the bottom, still selected, and on screen.
    set(&mut app, 6, RowState::Done);
    order(&mut app);
    assert_eq!(app.list.selected(), Some(6));
    let p = app.list.selected_pos().unwrap();
    assert!((app.list.offset..app.list.offset + 10).contains(&p), "{p} off screen at {}", app.list.offset);
}

#[test]
fn a_selected_row_keeps_its_line_on_screen_as_the_list_moves_under_it() {
    let t0 = Instant::now();
    let mut app = fixtures::many_rows(t0, 200, |_| 0);
    app.fit_symbols(10);
    app.list.select_row(100);
    app.fit_symbols(10);
    let line = app.list.selected_pos().unwrap() - app.list.offset;
    // Three rows below it start fetching and move to the top: row 100 moves down three.
    for row in [150, 160, 170] {
        set(&mut app, row, RowState::Fetching);
    }
    app.fit_symbols(10);
    assert_eq!(app.list.selected_pos(), Some(103));
    assert_eq!(app.list.selected_pos().unwrap() - app.list.offset, line, "same line on screen");
}

#[test]
fn filters_split_the_rows_and_cycle_back_to_all() {
    let mut app = mixed();
    app.on_key(key('f'), app.started);
    assert_eq!(app.list.filter, Filter::Active);
    assert_eq!(order(&mut app), [9, 2, 7, 6, 8, 10, 11]);
    app.on_key(key('f'), app.started);
    assert_eq!(app.list.filter, Filter::Trouble);
    assert_eq!(order(&mut app), [5, 3]);
    app.on_key(key('f'), app.started);
    assert_eq!(app.list.filter, Filter::Done);
    assert_eq!(order(&mut app), [0, 1, 4]);
    app.on_key(key('f'), app.started);
    assert_eq!(app.list.filter, Filter::All);
    assert_eq!(order(&mut app).len(), 12);
    // The counts are of every row, whatever the filter.
    assert_eq!(app.list.counts().total(), 12);
}

#[test]
fn a_filter_that_hides_the_selection_selects_its_top_row() {
    let mut app = mixed();
    order(&mut app);
    app.list.select_row(0);
    app.on_key(key('f'), app.started); // active: row 0 (done) is hidden
    order(&mut app);
    assert_eq!(app.list.selected(), Some(9));
    // A row that leaves the filtered view as it changes hands the selection to the row
    // now in its place.
    app.list.select_row(7);
    order(&mut app);
    set(&mut app, 7, RowState::Done);
    assert_eq!(order(&mut app), [9, 2, 6, 8, 10, 11]);
    assert_eq!(app.list.selected(), Some(6));
}

#[test]
fn orders_cycle_from_the_one_in_force_and_sort_by_their_figure() {
    let mut app = mixed();
    for (row, hits) in [(3, 2), (8, 5), (10, 2)] {
        for _ in 0..hits {
            app.on_event(fixtures::limited(Some(row), "/p"), app.started);
        }
    }
    app.on_event(fixtures::ok(Some(11), "/p", 700, 2.0), app.started);
    app.on_event(fixtures::ok(Some(1), "/p", 900, 0.5), app.started);
    app.on_key(key('o'), app.started);
    assert_eq!(app.list.chosen, Some(Order::Hits));
    assert!(!app.list.following(), "an order chosen ends follow mode");
    assert_eq!(order(&mut app)[..4], [8, 3, 10, 0], "most 429s first, ties in plan order");
    app.on_key(key('o'), app.started);
    assert_eq!(order(&mut app)[..3], [1, 11, 0], "most bars first");
    app.on_key(key('o'), app.started);
    assert_eq!(order(&mut app)[..2], [11, 1], "most seconds in requests first");
    app.on_key(key('o'), app.started);
    assert_eq!(order(&mut app), (0..12).collect::<Vec<_>>(), "plan");
    app.on_key(key('o'), app.started);
    assert_eq!(app.list.chosen, Some(Order::State));
    assert_eq!(order(&mut app)[..4], [5, 9, 2, 7]);
}

#[test]
fn search_narrows_as_you_type_enter_keeps_it_and_esc_clears_it() {
    let t0 = Instant::now();
    let mut app = fixtures::many_rows(t0, 10_000, |_| 0);
    app.fit_symbols(20);
    app.on_key(key('/'), t0);
    assert!(app.list.typing);
    for c in "s98".chars() {
        app.on_key(key(c), t0);
    }
    assert_eq!(app.list.query, "S98");
    assert_eq!(order(&mut app).len(), 10 + 100, "S980..S989, S9800..S9899 (S98 is S098)");
    // Letters while typing are the ticker's, not the keys' (q does not quit).
    app.on_key(key('7'), t0);
    app.on_key(key('6'), t0);
    assert_eq!(order(&mut app), [9876]);
    assert_eq!(app.list.selected(), Some(9876), "the match is selected");
    press(&mut app, KeyCode::Backspace);
    assert_eq!(order(&mut app).len(), 11, "S987, S9870..S9879");
    app.on_key(key('6'), t0);
    press(&mut app, KeyCode::Enter);
    assert!(!app.list.typing);
    assert_eq!(order(&mut app), [9876], "Enter keeps the rows found");
    app.on_key(key('f'), t0);
    assert_eq!(app.list.filter, Filter::Active, "keys are keys again");
    app.on_key(key('f'), t0);
    app.on_key(key('f'), t0);
    app.on_key(key('f'), t0);
    press(&mut app, KeyCode::Esc);
    assert!(app.list.query.is_empty());
    assert_eq!(order(&mut app).len(), 10_000);
    assert_eq!(app.list.selected(), Some(9876), "the row found stays selected");
    let p = app.list.selected_pos().unwrap();
    assert!((app.list.offset..app.list.offset + 20).contains(&p), "and on screen");
}

#[test]
fn esc_while_typing_clears_and_a_search_with_no_match_shows_nothing() {
    let t0 = Instant::now();
    let mut app = fixtures::many_rows(t0, 50, |_| 0);
    app.on_key(key('/'), t0);
    app.on_key(key('x'), t0);
    assert!(order(&mut app).is_empty());
    assert_eq!(app.selected_row().map(|r| r.ticker.as_str()), Some("S000"), "the last selection is kept");
    press(&mut app, KeyCode::Esc);
    assert!(!app.list.typing && app.list.query.is_empty());
    assert_eq!(order(&mut app).len(), 50);
}

#[test]
fn the_view_is_rebuilt_only_when_what_it_shows_changed() {
    let mut app = mixed();
    order(&mut app);
    let built = app.list.rebuilds;
    for _ in 0..10 {
        app.fit_symbols(10);
    }
    app.on_event(fixtures::ok(Some(6), "/p", 100, 0.3), app.started);
    app.fit_symbols(10);
    assert_eq!(app.list.rebuilds, built, "frames and requests leave the state order as it is");
    set(&mut app, 6, RowState::Fetching);
    app.fit_symbols(10);
    assert_eq!(app.list.rebuilds, built + 1);
    app.on_key(key('o'), app.started); // 429s
    app.on_key(key('o'), app.started); // bars
    let built = app.list.rebuilds;
    app.on_event(fixtures::ok(Some(6), "/p", 100, 0.3), app.started);
    app.on_event(fixtures::ok(Some(7), "/p", 100, 0.3), app.started);
    app.fit_symbols(10);
    assert_eq!(app.list.rebuilds, built + 1, "bars changed: one rebuild for the frame");
}

#[test]
fn empty_rows_and_first_and_last_days_read_as_text() {
    let (mut app, now) = fixtures::running();
    let r = range("2024-01-02", "2024-05-07");
    app.on_event(Event::RowState { row: 0, state: RowState::Empty }, now);
    assert_eq!(app.rows[0].kind(), Kind::Empty);
    let listed = crate::calendar::parse_date("2024-03-14").unwrap();
    let delisted = crate::calendar::parse_date("2024-04-19").unwrap();
    app.on_event(Event::RowBounds { row: 2, first: listed, last: r.to }, now);
    assert_eq!(app.rows[2].bounds_note(Some(r)).as_deref(), Some("from 2024-03-14"));
    app.on_event(Event::RowBounds { row: 2, first: r.from, last: delisted }, now);
    assert_eq!(app.rows[2].bounds_note(Some(r)).as_deref(), Some("to 2024-04-19"));
    app.on_event(Event::RowBounds { row: 2, first: listed, last: delisted }, now);
    assert_eq!(app.rows[2].bounds_note(Some(r)).as_deref(), Some("from 2024-03-14 to 2024-04-19"));
    // A first day on the range's first session is not a start inside it, even when the
    // range begins on a holiday (2024-01-01).
    let with_holiday = range("2024-01-01", "2024-05-07");
    app.on_event(Event::RowBounds { row: 2, first: r.from, last: r.to }, now);
    assert_eq!(app.rows[2].bounds_note(Some(with_holiday)), None);
    assert_eq!(app.rows[2].bounds_note(None).as_deref(), Some("from 2024-01-02 to 2024-05-07"));
}
