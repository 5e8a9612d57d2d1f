//! The newest log lines, warnings and errors marked; scrolls back when focused.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, focused, level_style, pane, stamp};
use crate::engine::events::Level;
use crate::ui::app::{App, Focus};
use crate::ui::format::clip;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let mut title = vec![Span::raw(" Log ")];
    if app.view.log_scroll > 0 {
        title.push(Span::styled(format!("(scrolled back {}, End follows) ", app.view.log_scroll), dim()));
    }
    let block = pane(Line::from(title), focused(app, Focus::Log));
    let inner = block.inner(area);
    let room = inner.height as usize;
    let end = app.log.len().saturating_sub(app.view.log_scroll);
    let start = end.saturating_sub(room);
    let width = inner.width as usize;
    let lines: Vec<Line> = app
        .log
        .range(start..end)
        .map(|l| {
            let tag = match l.level {
                Level::Info => "     ",
                Level::Warn => "WARN ",
                Level::Error => "ERROR",
            };
            let text = clip(&l.text, width.saturating_sub(13));
            Line::from(vec![
                Span::styled(stamp(app, l.at), dim()),
                Span::raw(" "),
                Span::styled(tag, level_style(l.level)),
                Span::raw(" "),
                Span::styled(text, level_style(l.level)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
