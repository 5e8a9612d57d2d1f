//! One row per symbol x timeframe: state, trading days done, bars, requests, 429s. Only
//! the rows on screen are built, so a plan of hundreds of rows costs what ten do.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};

use super::{bad, dim, focused, good, pane, warn};
use crate::engine::events::RowState;
use crate::ui::app::{App, Focus, RowView};
use crate::ui::format::{bar, clip, compact, thousands};

/// Rows of data that fit in the pane (borders and the column header taken off).
pub fn visible_rows(area: Rect) -> usize {
    area.height.saturating_sub(3) as usize
}

struct Columns {
    constraints: Vec<Constraint>,
    wide: bool,
    state_w: usize,
}

fn columns(width: u16) -> Columns {
    let wide = width >= 63;
    let state_w = if wide { 16 } else { 10 };
    let constraints = if wide {
        vec![
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(state_w as u16),
            Constraint::Min(8),
            Constraint::Length(9),
            Constraint::Length(5),
            Constraint::Length(4),
        ]
    } else {
        vec![
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(state_w as u16),
            Constraint::Min(4),
            Constraint::Length(7),
            Constraint::Length(3),
        ]
    };
    Columns { constraints, wide, state_w }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let total = app.rows.len();
    let done = app.rows.iter().filter(|r| r.state == RowState::Done).count();
    let failed = app.rows.iter().filter(|r| matches!(r.state, RowState::Failed(_))).count();
    let title = Line::from(vec![
        Span::raw(" Symbols "),
        Span::styled(format!("{done}/{total} done"), dim()),
        if failed > 0 { Span::styled(format!(", {failed} failed "), bad()) } else { Span::raw(" ") },
    ]);
    let visible = visible_rows(area);
    let first = app.view.offset.min(total);
    let last = (first + visible).min(total);
    let mut block = pane(title, focused(app, Focus::Symbols));
    if total > visible {
        block = block.title_top(Line::styled(format!(" {}-{} of {total} ", first + 1, last), dim()).right_aligned());
    }
    let inner = block.inner(area);
    let cols = columns(inner.width);
    // The gauge is text, so it needs its column's width before the table lays it out.
    let widths = Layout::horizontal(cols.constraints.clone()).spacing(1).split(Rect { height: 1, ..inner });
    let gauge_w = widths.get(3).map(|r| r.width as usize).unwrap_or(8).saturating_sub(5);

    let days = if gauge_w + 5 >= 12 { "trading days" } else { "days" };
    let header = if cols.wide {
        vec!["symbol", "timeframe", "state", days, "bars", "req", "429"]
    } else {
        vec!["sym", "tf", "state", "days", "bars", "429"]
    };
    let header = Row::new(header.into_iter().map(Cell::from)).style(dim().add_modifier(Modifier::BOLD));

    let rows = app.rows[first..last].iter().enumerate().map(|(i, r)| {
        let (state, style) = state_text(r, now, cols.wide);
        let mut cells = vec![
            Cell::from(r.ticker.clone()),
            Cell::from(r.timeframe.clone()),
            Cell::from(Span::styled(clip(&state, cols.state_w), style)),
            Cell::from(if gauge_w >= 3 {
                Line::from(vec![
                    Span::styled(bar(r.progress(), gauge_w), if r.progress() >= 1.0 { good() } else { Style::new() }),
                    Span::raw(format!("{:>4.0}%", r.progress() * 100.0)),
                ])
            } else {
                Line::from(format!("{:.0}%", r.progress() * 100.0)).right_aligned()
            }),
            Cell::from(Line::from(if cols.wide { thousands(r.bars()) } else { compact(r.bars()) }).right_aligned()),
        ];
        if cols.wide {
            cells.push(Cell::from(Line::from(r.requests().to_string()).right_aligned()));
        }
        let hits = Span::styled(r.rate_limited.to_string(), if r.rate_limited > 0 { warn() } else { dim() });
        cells.push(Cell::from(Line::from(hits).right_aligned()));
        let mut row = Row::new(cells);
        if first + i == app.view.selected {
            let bg = if focused(app, Focus::Symbols) { Color::Blue } else { Color::DarkGray };
            row = row.style(Style::new().bg(bg).add_modifier(Modifier::BOLD));
        }
        row
    });
    let table = Table::new(rows, cols.constraints).header(header).column_spacing(1).block(block);
    frame.render_widget(table, area);
}

/// The row's state in words, and its colour; `full` adds the reason where it fits.
pub fn state_text(r: &RowView, now: Instant, full: bool) -> (String, Style) {
    match &r.state {
        RowState::Queued => ("queued".into(), dim()),
        RowState::Fetching => ("fetching".into(), Style::new().fg(Color::Cyan)),
        RowState::Backoff { reason, .. } => {
            let left = r.backoff_left(now).unwrap_or(0.0);
            let why = if reason.starts_with("held") { "held" } else { reason.as_str() };
            let text = if full { format!("backoff {left:.0}s {why}") } else { format!("backoff {left:.0}s") };
            (text, warn())
        }
        RowState::Done if r.failed_windows > 0 => {
            let text = if full { format!("done, {} failed", r.failed_windows) } else { "partial".into() };
            (text, warn())
        }
        // The bars column counts this run; a row stored by earlier runs says so rather
        // than look like a row that fetched nothing.
        RowState::Done if r.sessions > 0 && r.covered_at_start >= r.sessions => {
            (if full { "stored earlier" } else { "stored" }.into(), good().add_modifier(Modifier::DIM))
        }
        RowState::Done => ("done".into(), good()),
        RowState::Empty => ("empty: no bars in range".into(), warn()),
        RowState::Failed(reason) if full => (format!("failed: {reason}"), bad()),
        RowState::Failed(_) => ("failed".into(), bad()),
    }
}
