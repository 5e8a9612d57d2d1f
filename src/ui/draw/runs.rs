//! Earlier runs from the database, newest first, so the baseline and each fix sit side by
//! side. The list is read off the draw path, at start and after each run.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Paragraph, Row, Table};

use super::{bad, dim, focused, good, pane, warn};
use crate::store::RunRecord;
use crate::ui::app::{App, Focus};
use crate::ui::format::{duration, thousands};

type Column = (&'static str, u16, fn(&RunRecord) -> String);

/// Columns in the order they are given up when the pane is narrow (last first).
const COLUMNS: [Column; 9] = [
    ("#", 3, |r| r.id.to_string()),
    ("status", 7, |r| r.status.clone()),
    ("fixes", 5, |r| r.fixes.clone()),
    ("wall", 7, |r| r.wall_s.map(duration).unwrap_or_else(|| "-".into())),
    ("req", 5, |r| r.requests.map(|n| n.to_string()).unwrap_or_else(|| "-".into())),
    ("429", 4, |r| r.rate_limit_hits.map(|n| n.to_string()).unwrap_or_else(|| "-".into())),
    ("bars", 9, |r| r.bars.map(|b| thousands(b.max(0) as u64)).unwrap_or_else(|| "-".into())),
    ("bars/s", 7, bars_per_s),
    ("w", 2, |r| r.concurrency.to_string()),
];

fn bars_per_s(r: &RunRecord) -> String {
    match (r.bars, r.wall_s) {
        (Some(b), Some(w)) if w > 0.0 => format!("{:.0}", b as f64 / w),
        _ => "-".into(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let block = pane(" Runs ", focused(app, Focus::Runs));
    let inner = block.inner(area);
    if let Some(e) = &app.runs.error {
        frame.render_widget(Paragraph::new(Line::styled(format!("cannot read runs: {e}"), bad())).block(block), area);
        return;
    }
    if app.runs.list.is_empty() {
        let text = if app.runs.loaded { "no runs recorded yet" } else { "reading…" };
        frame.render_widget(Paragraph::new(Line::styled(text, dim())).block(block), area);
        return;
    }
    let mut used = 0u16;
    let cols: Vec<&Column> = COLUMNS
        .iter()
        .take_while(|c| {
            used += c.1 + 1;
            used <= inner.width + 1
        })
        .collect();
    let current = app.info.as_ref().map(|i| i.run_id);
    let visible = inner.height.saturating_sub(1) as usize;
    let first = app.view.runs_scroll.min(app.runs.list.len().saturating_sub(visible.max(1)));
    let rows = app.runs.list.iter().skip(first).take(visible).map(|r| {
        // Runs that found everything stored would crowd out the ones worth comparing.
        let idle = r.requests == Some(0);
        let status_style = match r.status.as_str() {
            "done" if idle => dim(),
            "done" => good(),
            "failed" | "interrupted" => bad(),
            _ => warn(),
        };
        let cells = cols.iter().map(|(name, _, f)| {
            // The run going on has recorded only its starting count: show the live one.
            let live = *name == "w" && Some(r.id) == current && r.status == "running";
            let text = if live { app.settings.workers().to_string() } else { f(r) };
            if *name == "status" { Cell::from(text).style(status_style) } else { Cell::from(text) }
        });
        let row = if idle { Row::new(cells).style(dim()) } else { Row::new(cells) };
        if Some(r.id) == current { row.style(Style::new().add_modifier(Modifier::BOLD)) } else { row }
    });
    let header = Row::new(cols.iter().map(|c| Cell::from(c.0))).style(dim().add_modifier(Modifier::BOLD));
    let widths: Vec<Constraint> = cols.iter().map(|c| Constraint::Length(c.1)).collect();
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1).block(block), area);
}
