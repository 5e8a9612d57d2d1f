//! The overview (`v`): every row as one cell, in plan order, by state, so a run of
//! thousands of rows is seen at a glance. Each state has its own character as well as
//! its own colour, so the grid reads the same with `NO_COLOR`.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{bad, centered, dim, flow, good, pane, warn};
use crate::ui::app::{App, Kind};
use crate::ui::format::thousands;

/// The character and colour of each kind, in the order of the legend.
pub const GLYPHS: [(Kind, char, &str); 7] = [
    (Kind::Failed, 'X', "failed"),
    (Kind::Backoff, '!', "backoff"),
    (Kind::Fetching, '>', "fetching"),
    (Kind::Queued, '·', "queued"),
    (Kind::Done, '#', "done"),
    (Kind::Stored, '=', "stored earlier"),
    (Kind::Empty, 'o', "empty"),
];

pub fn glyph(kind: Kind) -> char {
    GLYPHS.iter().find(|g| g.0 == kind).map(|g| g.1).unwrap_or('?')
}

pub fn style(kind: Kind) -> Style {
    match kind {
        Kind::Failed => bad().add_modifier(Modifier::BOLD),
        Kind::Backoff => warn().add_modifier(Modifier::BOLD),
        Kind::Fetching => Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD),
        Kind::Queued => dim(),
        Kind::Done => good(),
        Kind::Stored => good().add_modifier(Modifier::DIM),
        Kind::Empty => Style::new().fg(Color::Magenta),
    }
}

/// The popup (as tall as the grid needs, up to most of the screen), the legend, the grid,
/// and the cells per line: a multiple of the timeframes, so each timeframe keeps to its
/// own columns.
fn layout(area: Rect, app: &App) -> (Rect, Rect, Rect, usize) {
    let width = (area.width as usize * 96 / 100).saturating_sub(2).max(1);
    let timeframes = app.rows.iter().take_while(|r| r.ticker == app.rows[0].ticker).count().max(1);
    let per_line = if width >= timeframes { width / timeframes * timeframes } else { width };
    let lines = app.rows.len().div_ceil(per_line);
    let legend_h = legend(app, width as u16).len();
    let height = (lines + legend_h + 2).min(area.height as usize * 9 / 10).max(12);
    let popup = centered(area, 96, 0, 60, height as u16);
    let inner = pane("", true).inner(popup);
    let [legend, grid] = inner.layout(&Layout::vertical([Constraint::Length(legend_h as u16), Constraint::Fill(1)]));
    (popup, legend, grid, per_line.min(grid.width.max(1) as usize))
}

/// Lines of the grid below the first one on screen, at most: how far it scrolls.
pub fn max_scroll(area: Rect, app: &App) -> usize {
    let (_, _, grid, per_line) = layout(area, app);
    app.rows.len().div_ceil(per_line).saturating_sub(grid.height as usize)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let (popup, legend_area, grid, per_line) = layout(area, app);
    let first = app.view.overlay_scroll * per_line;
    let last = (first + per_line * grid.height as usize).min(app.rows.len());
    let mut block =
        pane(format!(" Overview · {} rows, one cell each, in plan order ", thousands(app.rows.len() as u64)), true)
            .title_bottom(Line::styled(" Esc or v closes ", dim()).right_aligned());
    if last - first.min(last) < app.rows.len() {
        let shown = format!(" rows {}-{} · Up/Down scroll ", thousands(first as u64 + 1), thousands(last as u64));
        block = block.title_bottom(Line::styled(shown, dim()));
    }
    frame.render_widget(Clear, popup);
    frame.render_widget(block, popup);
    frame.render_widget(Paragraph::new(legend(app, legend_area.width)), legend_area);

    // One cell a row, written straight into the frame: ten thousand spans would cost more
    // than the rest of the screen.
    let selected = app.list.selected();
    let buffer = frame.buffer_mut();
    for (n, i) in (first..last).enumerate() {
        let (x, y) = (grid.x + (n % per_line) as u16, grid.y + (n / per_line) as u16);
        let kind = app.rows[i].kind();
        let mut s = style(kind);
        if Some(i) == selected {
            s = s.add_modifier(Modifier::REVERSED);
        }
        if let Some(cell) = buffer.cell_mut((x, y)) {
            cell.set_char(glyph(kind)).set_style(s);
        }
    }
}

/// Each character with what it means and how many rows show it, over as many lines as
/// `width` needs, then which row the reversed cell is.
fn legend(app: &App, width: u16) -> Vec<Line<'static>> {
    let counts = app.list.counts();
    let items = GLYPHS
        .iter()
        .map(|&(kind, c, label)| {
            vec![
                Span::styled(c.to_string(), style(kind)),
                Span::raw(format!(" {label} {}", thousands(counts.get(kind) as u64))),
            ]
        })
        .collect();
    let mut lines = flow(items, width);
    let selected = app.selected_row().map(|r| {
        let class = if r.class == crate::markets::Class::Stocks { String::new() } else { format!(" ({})", r.class) };
        format!("the reversed cell: {} {}{class}", r.ticker, r.timeframe)
    });
    lines.push(Line::styled(selected.unwrap_or_default(), dim()));
    lines
}
