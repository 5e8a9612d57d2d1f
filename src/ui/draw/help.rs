//! The `?` overlay: every binding from the key table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Clear, Row, Table};

use super::{centered, dim, pane};
use crate::ui::keys::BINDINGS;

pub fn render(frame: &mut Frame, area: Rect) {
    let popup = centered(area, 0, 0, 78, BINDINGS.len() as u16 + 2);
    let block = pane(" Keys ", true).title_bottom(Line::styled(" Esc or ? closes ", dim()).right_aligned());
    let rows = BINDINGS.iter().map(|b| {
        Row::new([
            Cell::from(b.label).style(Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)),
            Cell::from(b.help),
        ])
    });
    let table = Table::new(rows, [Constraint::Length(9), Constraint::Fill(1)]).column_spacing(2).block(block);
    frame.render_widget(Clear, popup);
    frame.render_widget(table, popup);
}
