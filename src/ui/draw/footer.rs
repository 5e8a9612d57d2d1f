//! The main keys, from the binding table, and which pane has the focus.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::dim;
use crate::ui::app::{App, Focus};
use crate::ui::keys;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let focus = match app.view.focus {
        Focus::Symbols => "symbols",
        Focus::Log => "log",
        Focus::Runs => "runs",
    };
    let right = Line::from(vec![Span::styled("Tab ", dim()), Span::raw(format!("focus: {focus} "))]).right_aligned();
    let room = (area.width as usize).saturating_sub(right.width() + 1);
    let mut spans = Vec::new();
    let mut used = 0;
    if app.list.typing {
        let query = format!(" search /{}▏ ", app.list.query);
        used += query.chars().count() + 1;
        spans.push(Span::styled(query, Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)));
        spans.push(Span::raw(" "));
    }
    for (key, what) in keys::footer_hints(app.list.typing) {
        let text = format!(" {what}  ");
        let w = key.chars().count() + text.chars().count();
        if used + w > room {
            break; // a narrow screen shows the first hints; `?` lists them all
        }
        used += w;
        spans.push(Span::styled(key, Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)));
        spans.push(Span::raw(text));
    }
    let [left_area, right_area] =
        area.layout(&Layout::horizontal([Constraint::Fill(1), Constraint::Length(right.width() as u16)]));
    frame.render_widget(Line::from(spans), left_area);
    frame.render_widget(right, right_area);
}
