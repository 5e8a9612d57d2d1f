//! The coverage overlay (`c`): what the database holds per ticker and timeframe, read
//! from the file (never the API): first and last bar, sessions stored against the NYSE
//! sessions of the range (within the ticker's life where it is known), the missing
//! sessions as date ranges, and the last run that touched the row. Rows with holes come
//! first, so the thousandth row with a gap is on the first screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table};

use super::{bold, centered, dim, good, pane, warn};
use crate::calendar;
use crate::store::coverage::RowCoverage;
use crate::ui::app::{App, CoverageView};
use crate::ui::format::thousands;

/// Missing ranges written out per row; the rest are counted.
const HOLES_SHOWN: usize = 3;

fn popup(area: Rect) -> Rect {
    centered(area, 96, 90, 60, 12)
}

/// Table lines below the first one shown, at most.
pub fn max_scroll(area: Rect, app: &App) -> usize {
    let CoverageView::Read(rows) = &app.coverage else { return 0 };
    rows.len().saturating_sub(popup(area).height.saturating_sub(4) as usize)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let popup = popup(area);
    frame.render_widget(Clear, popup);
    let block = |title: String| {
        pane(title, true).title_bottom(Line::styled(" Up/Down scroll · Esc or c closes ", dim()).right_aligned())
    };
    let rows = match &app.coverage {
        CoverageView::Read(rows) => rows,
        CoverageView::NotRead | CoverageView::Reading => {
            let text = Paragraph::new(Line::styled("reading the database…", dim()));
            frame.render_widget(text.block(block(" Coverage ".into())), popup);
            return;
        }
        CoverageView::Failed(e) => {
            let text = Paragraph::new(Line::styled(format!("cannot read the database: {e}"), warn()));
            frame.render_widget(text.block(block(" Coverage ".into())), popup);
            return;
        }
    };
    let with_holes = rows.iter().filter(|r| !r.missing.is_empty()).count();
    let title = format!(
        " Coverage · {} rows in the database, {} with missing sessions · {} ",
        thousands(rows.len() as u64),
        thousands(with_holes as u64),
        app.db
    );
    let header = Row::new(["ticker", "tf", "first", "last", "sessions", "missing", "run"]).style(bold());
    let table_rows = rows.iter().skip(app.view.overlay_scroll).map(row);
    let widths = [
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(11),
        Constraint::Fill(1),
        Constraint::Length(5),
    ];
    let table = Table::new(table_rows, widths).header(header).block(block(title)).column_spacing(1);
    frame.render_widget(table, popup);
}

fn row(r: &RowCoverage) -> Row<'static> {
    let day = |d: Option<calendar::Day>| d.map(calendar::format_day).unwrap_or_else(|| "-".into());
    let sessions = format!("{}/{}", thousands(r.sessions_stored as u64), thousands(r.sessions_expected as u64));
    let (missing, style) = match r.missing_text(HOLES_SHOWN) {
        None => ("complete".to_string(), good()),
        Some(holes) => (holes, warn().add_modifier(Modifier::BOLD)),
    };
    Row::new([
        Cell::from(r.ticker.clone()),
        Cell::from(r.timeframe.clone()),
        Cell::from(day(r.first_day)),
        Cell::from(day(r.last_day)),
        Cell::from(sessions),
        Cell::from(missing).style(style),
        Cell::from(r.last_run.map(|id| format!("#{id}")).unwrap_or_else(|| "-".into())).style(Style::new()),
    ])
}
