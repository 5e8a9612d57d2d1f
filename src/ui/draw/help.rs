//! The `?` overlay: every binding from the key tables, scrolled when the screen is short.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Cell, Clear, Row, Table};

use super::{centered, dim, pane};
use crate::ui::app::App;
use crate::ui::keys::{BINDINGS, SEARCH_BINDINGS, SEARCH_TYPING};

/// Lines of the help: the dashboard's keys, then the keys while a search is typed.
fn lines() -> Vec<(&'static str, &'static str)> {
    let mut lines: Vec<(&str, &str)> = BINDINGS.iter().map(|b| (b.label, b.help)).collect();
    lines.push(("", ""));
    lines.push(("", "while searching (after /):"));
    lines.push(SEARCH_TYPING);
    lines.extend(SEARCH_BINDINGS.iter().map(|b| (b.label, b.help)));
    lines
}

fn popup(area: Rect) -> Rect {
    let lines = lines();
    let widest = lines.iter().map(|(_, help)| help.chars().count()).max().unwrap_or(0);
    centered(area, 0, 0, (widest + 9 + 2 + 2) as u16, lines.len() as u16 + 2)
}

/// Lines below the first one shown, at most.
pub fn max_scroll(area: Rect) -> usize {
    lines().len().saturating_sub(popup(area).height.saturating_sub(2) as usize)
}

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let popup = popup(area);
    let hint = if max_scroll(area) > 0 { " Up/Down scroll · Esc or ? closes " } else { " Esc or ? closes " };
    let block = pane(" Keys ", true).title_bottom(Line::styled(hint, dim()).right_aligned());
    let key_style = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let rows = lines().into_iter().skip(app.view.overlay_scroll).map(|(label, help)| {
        let help = if label.is_empty() {
            Cell::from(help).style(Style::new().add_modifier(Modifier::BOLD))
        } else {
            Cell::from(help)
        };
        Row::new([Cell::from(label).style(key_style), help])
    });
    let table = Table::new(rows, [Constraint::Length(9), Constraint::Fill(1)]).column_spacing(2).block(block);
    frame.render_widget(Clear, popup);
    frame.render_widget(table, popup);
}
