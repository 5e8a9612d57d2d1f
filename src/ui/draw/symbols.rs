//! One row per symbol x timeframe: state, trading days done, bars, requests, 429s, in the
//! list's order, filter and search. Only the rows on screen are built, and the view they
//! come from is rebuilt before the frame only when it changed, so a plan of ten thousand
//! rows costs what ten do.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{bad, dim, focused, good, pane, selection, warn};
use crate::engine::events::RowState;
use crate::ui::app::{App, Counts, Filter, Focus, Kind, RowView};
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

/// The column widths at `width`; `symbol` is the longest ticker on screen, for which a
/// wide table makes room (an option's is 20 characters) out of the state column's.
fn columns(width: u16, symbol: usize) -> Columns {
    let wide = width >= 63;
    if !wide {
        let constraints = vec![
            Constraint::Length(5),
            Constraint::Length(8),
            Constraint::Length(10),
            Constraint::Min(4),
            Constraint::Length(7),
            Constraint::Length(3),
        ];
        return Columns { constraints, wide, state_w: 10 };
    }
    // The state column takes what the gauge can spare, for reasons and first/last days.
    let symbol = symbol.clamp(6, 20);
    let state_w = (width as usize).saturating_sub(39 + 20 + symbol - 6).clamp(16, 28);
    let constraints = vec![
        Constraint::Length(symbol as u16),
        Constraint::Length(9),
        Constraint::Length(state_w as u16),
        Constraint::Min(8),
        Constraint::Length(9),
        Constraint::Length(5),
        Constraint::Length(4),
    ];
    Columns { constraints, wide, state_w }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let shown = app.list.shown();
    let visible = visible_rows(area);
    let first = app.list.offset.min(shown.len());
    let last = (first + visible).min(shown.len());
    let range = match shown.len() {
        0 if !app.rows.is_empty() => " none shown ".to_string(),
        n if n > visible || n < app.rows.len() => format!(" {}-{} of {} ", first + 1, last, thousands(n as u64)),
        _ => String::new(),
    };
    let room = (area.width as usize).saturating_sub(4 + range.len());
    let block = pane(title(app.list.counts(), room), focused(app, Focus::Symbols))
        .title_bottom(bottom_title(app))
        .title_top(Line::styled(range, dim()).right_aligned());
    if shown.is_empty() {
        let text = if app.rows.is_empty() {
            "waiting for the plan…"
        } else {
            "no row matches: f changes the filter, Esc clears the search"
        };
        frame.render_widget(Paragraph::new(Line::styled(text, dim())).block(block), area);
        return;
    }
    let inner = block.inner(area);
    let longest = shown[first..last].iter().filter_map(|&i| app.rows.get(i as usize)).map(|r| r.ticker.len()).max();
    let cols = columns(inner.width, longest.unwrap_or(0));
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
    let selected = app.list.selected();
    let rows = shown[first..last].iter().filter_map(|&i| app.rows.get(i as usize).map(|r| (i as usize, r)));
    let rows = rows.map(|(i, r)| {
        let row = table_row(app, r, now, &cols, gauge_w);
        if Some(i) == selected { row.style(selection(app, focused(app, Focus::Symbols))) } else { row }
    });
    let table = Table::new(rows, cols.constraints.clone()).header(header).column_spacing(1).block(block);
    frame.render_widget(table, area);
}

fn table_row<'a>(app: &App, r: &'a RowView, now: Instant, cols: &Columns, gauge_w: usize) -> Row<'a> {
    let (state, style) = state_text(app, r, now, cols.wide);
    let progress = r.progress();
    let mut cells = vec![
        Cell::from(r.ticker.as_str()),
        Cell::from(r.timeframe.as_str()),
        Cell::from(Span::styled(clip(&state, cols.state_w), style)),
        Cell::from(if gauge_w >= 3 {
            Line::from(vec![
                Span::styled(bar(progress, gauge_w), if progress >= 1.0 { good() } else { Style::new() }),
                Span::raw(format!("{:>4.0}%", progress * 100.0)),
            ])
        } else {
            Line::from(format!("{:.0}%", progress * 100.0)).right_aligned()
        }),
        Cell::from(Line::from(if cols.wide { thousands(r.bars()) } else { compact(r.bars()) }).right_aligned()),
    ];
    if cols.wide {
        cells.push(Cell::from(Line::from(r.requests().to_string()).right_aligned()));
    }
    let hits = Span::styled(r.rate_limited.to_string(), if r.rate_limited > 0 { warn() } else { dim() });
    cells.push(Cell::from(Line::from(hits).right_aligned()));
    Row::new(cells)
}

/// `1000 rows: 612 done, 3 fetching, 1 backoff, 380 queued, 4 empty, 0 failed`, shortened
/// to what fits in `room` columns: the pane's name goes first, then zero counts, then all
/// but done and failed.
pub fn title(counts: &Counts, room: usize) -> Line<'static> {
    let items = [
        (counts.done(), "done", good()),
        (counts.get(Kind::Fetching), "fetching", Style::new().fg(Color::Cyan)),
        (counts.get(Kind::Backoff), "backoff", warn()),
        (counts.get(Kind::Queued), "queued", Style::new()),
        (counts.get(Kind::Empty), "empty", warn()),
        (counts.get(Kind::Failed), "failed", bad()),
    ];
    let rows = format!("{} rows: ", thousands(counts.total() as u64));
    // How much is kept: every count; the counts above zero; done and failed.
    let keep = |level: u8, count: u32, label: &str| match level {
        0 => true,
        1 => count > 0,
        _ => label == "done" || (label == "failed" && count > 0),
    };
    let mut spans = Vec::new();
    for (named, level) in [(true, 0), (false, 0), (false, 1), (false, 2)] {
        spans = vec![Span::raw(if named { format!(" Symbols · {rows}") } else { format!(" {rows}") })];
        for (n, (count, label, style)) in items.iter().filter(|i| keep(level, i.0, i.1)).enumerate() {
            if n > 0 {
                spans.push(Span::raw(", "));
            }
            let style = if *count > 0 { *style } else { dim() };
            spans.push(Span::styled(format!("{} {label}", thousands(*count as u64)), style));
        }
        spans.push(Span::raw(" "));
        if spans.iter().map(|s| s.width()).sum::<usize>() <= room {
            break;
        }
    }
    Line::from(spans)
}

/// Order, filter and search, on the bottom border; while typing, the query and a cursor.
fn bottom_title(app: &App) -> Line<'static> {
    let l = &app.list;
    let mut spans = vec![Span::styled(" order: ", dim()), Span::raw(l.order().label())];
    if l.following() {
        spans.push(Span::styled(", following the run", dim()));
    }
    if l.filter != Filter::All {
        spans.push(Span::styled(" · filter: ", dim()));
        spans.push(Span::styled(l.filter.label(), warn().add_modifier(Modifier::BOLD)));
    }
    if l.typing {
        spans.push(Span::styled(" · search: ", dim()));
        spans.push(Span::styled(format!("/{}▏", l.query), Style::new().add_modifier(Modifier::BOLD)));
    } else if !l.query.is_empty() {
        spans.push(Span::styled(" · search: ", dim()));
        spans.push(Span::styled(format!("/{}", l.query), warn().add_modifier(Modifier::BOLD)));
        spans.push(Span::styled(" (Esc clears)", dim()));
    }
    spans.push(Span::raw(" "));
    Line::from(spans)
}

/// The row's state in words, and its colour; `full` adds the reason, and where the bars
/// start or end inside the range, where it fits.
pub fn state_text(app: &App, r: &RowView, now: Instant, full: bool) -> (String, Style) {
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
        RowState::Done if r.kind() == Kind::Stored => {
            (if full { "stored earlier" } else { "stored" }.into(), good().add_modifier(Modifier::DIM))
        }
        RowState::Done => match r.bounds_note(app.range).filter(|_| full) {
            Some(note) => (format!("done, {note}"), good()),
            None => ("done".into(), good()),
        },
        RowState::Empty if full => ("empty: no bars in range".into(), warn()),
        RowState::Empty => ("empty".into(), warn()),
        RowState::Failed(reason) if full => (format!("failed: {reason}"), bad()),
        RowState::Failed(_) => ("failed".into(), bad()),
    }
}
