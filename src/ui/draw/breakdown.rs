//! Where the workers' time went, in the baseline report's terms: `Polygon API 312.1s (64%)`.
//! The numbers come from the same `Tally` the headless report prints, so they agree.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{dim, pane};
use crate::report::share;
use crate::ui::app::App;
use crate::ui::format::{bar, duration};

const COLOURS: [Color; 4] = [Color::Cyan, Color::Magenta, Color::Yellow, Color::Blue];

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let title = if area.width >= 40 { " Time breakdown (worker seconds) " } else { " Time breakdown " };
    let block = pane(title, false);
    let inner = block.inner(area);
    let parts = app.breakdown();
    let total: f64 = parts.iter().map(|(_, s)| s).sum();
    let shares: Vec<String> = parts.iter().map(|(_, s)| share(*s, total)).collect();
    let share_w = shares.iter().map(|s| s.len()).max().unwrap_or(0);
    let label_w = 13;
    let bar_w = (inner.width as usize).saturating_sub(label_w + share_w + 2);
    let mut lines: Vec<Line> = parts
        .iter()
        .zip(&shares)
        .zip(COLOURS)
        .map(|(((name, secs), text), colour)| {
            let ratio = if total > 0.0 { secs / total } else { 0.0 };
            Line::from(vec![
                Span::raw(format!("{name:<label_w$} ")),
                Span::styled(bar(ratio, bar_w), Style::new().fg(colour)),
                Span::raw(format!(" {text:>share_w$}")),
            ])
        })
        .collect();
    let writer = app.report.as_ref().map(|r| r.writer_blocked_s).unwrap_or(app.tally.writer_blocked_s);
    lines.push(Line::styled(
        format!("wall {} · writer held workers {}", duration(app.elapsed(now)), duration(writer)),
        dim(),
    ));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
