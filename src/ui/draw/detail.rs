//! The selected symbol row opened: its state in full and its recent requests.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table, Wrap};

use super::symbols::state_text;
use super::{bad, centered, dim, field, good, pane, stamp, warn};
use crate::calendar::format_day;
use crate::markets::Class;
use crate::polygon::outcome::ErrorKind;
use crate::ui::app::{App, RowView};
use crate::ui::format::{clip, duration, thousands};

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let Some(row) = app.selected_row() else { return };
    let popup = centered(area, 94, 76, 76, 20);
    let title = format!(" {} {} · recent requests (…/range/{}/from/to) ", row.ticker, row.timeframe, row.timeframe);
    let block =
        pane(title, true).title_bottom(Line::styled(" Up/Down other rows · Esc closes ", dim()).right_aligned());
    let inner = block.inner(popup);
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);

    let lines = facts(app, row, now);
    let [top, table_area] =
        inner.layout(&Layout::vertical([Constraint::Length(lines.len() as u16 + 1), Constraint::Fill(1)]));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: true }), top);
    if row.recent.is_empty() {
        frame.render_widget(Line::styled("no request for this row yet", dim()), table_area);
        return;
    }
    requests(frame, table_area, app, row);
}

/// The row's state in full, its figures, and its last failure.
fn facts<'a>(app: &App, row: &RowView, now: Instant) -> Vec<Line<'a>> {
    let (state, style) = state_text(app, row, now, true);
    let hits_style = if row.rate_limited > 0 { warn() } else { Style::new() };
    let mut items = vec![vec![Span::styled(state, style.add_modifier(Modifier::BOLD))]];
    // A stock's days are trading days; any other class says what its days are.
    let days = if row.class == Class::Stocks {
        "trading days ".to_string()
    } else {
        items.push(field("class ", row.class.name().to_string(), Style::new()).to_vec());
        format!("{} ", row.class.days_name())
    };
    items.extend([
        vec![Span::styled(days, dim()), Span::raw(format!("{}/{}", row.days_done, row.sessions))],
        field("bars ", thousands(row.bars()), Style::new()).to_vec(),
        field("requests ", row.requests().to_string(), Style::new()).to_vec(),
        field("429s ", row.rate_limited.to_string(), hits_style).to_vec(),
        field("in requests ", duration(row.api_s), Style::new()).to_vec(),
    ]);
    if let Some((first, last)) = row.bounds {
        items.push(field("bars on ", format!("{} to {}", format_day(first), format_day(last)), Style::new()).to_vec());
    }
    let mut spans: Vec<Span> = Vec::new();
    for item in items {
        if !spans.is_empty() {
            spans.push(Span::raw("  "));
        }
        spans.extend(item);
    }
    let mut lines = vec![Line::from(spans)];
    if let Some(f) = &row.last_failure {
        lines.push(Line::styled(format!("{} failed window(s), last: {f}", row.failed_windows), bad()));
    }
    lines
}

/// The row's recent requests, newest first.
fn requests(frame: &mut Frame, area: Rect, app: &App, row: &RowView) {
    let prefix = format!("/v2/aggs/ticker/{}/range/{}/", row.ticker, row.timeframe);
    let path_w = area.width.saturating_sub(5 + 7 + 6 + 7 + 4) as usize;
    let rows = row.recent.iter().rev().take(area.height.saturating_sub(1) as usize).map(|(at, r)| {
        // The status when there is one, else what went wrong (timeout, reset, malformed).
        let (outcome, style) = match (r.status, r.error) {
            (Some(s), None) => (s.to_string(), good()),
            (Some(s), Some(ErrorKind::RateLimited)) => (s.to_string(), warn()),
            (Some(s), Some(_)) => (s.to_string(), bad()),
            (None, kind) => (kind.map(ErrorKind::label).unwrap_or("-").to_string(), bad()),
        };
        // The row already names the ticker and timeframe; the dates are what tell pages apart.
        let path = r.path.strip_prefix(&prefix).unwrap_or(&r.path);
        let what = match (&r.message, r.error) {
            (Some(m), Some(_)) => format!("{path}  {m}"),
            _ => path.to_string(),
        };
        Row::new([
            Cell::from(stamp(app, *at)),
            Cell::from(clip(&outcome, 7)).style(style),
            Cell::from(Line::from(format!("{:.2}s", r.secs)).right_aligned()),
            Cell::from(Line::from(thousands(r.bars)).right_aligned()),
            Cell::from(clip(&what, path_w)),
        ])
    });
    let header = Row::new(["time", "status", "secs", "bars", "request"]).style(dim().add_modifier(Modifier::BOLD));
    let widths = [
        Constraint::Length(5),
        Constraint::Length(7),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Fill(1),
    ];
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1), area);
}
