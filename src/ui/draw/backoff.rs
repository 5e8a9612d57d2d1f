//! Waits in progress with countdowns, the time spent waiting, how long the waits were,
//! and the policy that chose them.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Paragraph};

use super::{bold, dim, field, flow, pane, warn};
use crate::retry::Policy;
use crate::ui::app::{App, WAIT_EDGES};
use crate::ui::format::{clip, duration};

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let block = pane(" Backoff ", false);
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let fix = app.settings.fixes.backoff;
    let t = &app.tally;
    let items: Vec<Vec<Span>> = vec![
        vec![
            Span::styled("policy ", dim()),
            Span::raw(Policy::for_fix(fix, app.info.as_ref().is_some_and(|i| i.jitter), 1.0).describe()),
        ],
        vec![Span::styled(if fix { "(fix 1)" } else { "(baseline)" }, dim())],
        field("waited ", duration(t.all_backoff_s()), bold()).to_vec(),
        field("own ", format!("{} in {} retries", duration(t.backoff_s), t.retries), Style::new()).to_vec(),
        field("held by the gate ", duration(t.held_s), Style::new()).to_vec(),
        field("longest ", duration(app.backoff.longest_s), Style::new()).to_vec(),
    ];
    let lines = flow(items, inner.width);
    let [text, rest] = inner.layout(&Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Fill(1)]));
    frame.render_widget(Paragraph::new(lines), text);
    if rest.height == 0 {
        return;
    }

    let show_histogram = rest.height >= 4 && rest.width >= 50;
    let [waits_area, hist_area] = if show_histogram {
        rest.layout(&Layout::horizontal([Constraint::Fill(1), Constraint::Length(34)]).spacing(1))
    } else {
        [rest, Rect::default()]
    };
    frame.render_widget(Paragraph::new(waits(app, now, waits_area)), waits_area);
    if show_histogram {
        histogram(frame, hist_area, app);
    }
}

/// Waits in progress, longest left first, as many as fit.
fn waits(app: &App, now: Instant, area: Rect) -> Vec<Line<'static>> {
    let waits = app.waits(now);
    let mut lines = Vec::new();
    if waits.is_empty() {
        lines.push(Line::styled("no wait in progress", dim()));
        return lines;
    }
    let room = area.height as usize;
    let shown = if waits.len() > room { room.saturating_sub(1) } else { waits.len() };
    for w in waits.iter().take(shown) {
        let text = format!("{:>5.1}s  {} ({})", w.left, w.who, w.reason);
        lines.push(Line::styled(clip(&text, area.width as usize), warn()));
    }
    if waits.len() > shown {
        lines.push(Line::styled(format!("… {} more waiting", waits.len() - shown), dim()));
    }
    lines
}

/// Retry waits by length.
fn histogram(frame: &mut Frame, area: Rect, app: &App) {
    let bars: Vec<Bar> = WAIT_EDGES
        .iter()
        .zip(app.backoff.histogram)
        .map(|(edge, n)| Bar::new(n).label(Line::from(format!("{edge:.0}s"))).text_value(n.to_string()))
        .collect();
    let chart = BarChart::default()
        .data(BarGroup::default().bars(&bars))
        .bar_width(3)
        .bar_gap(1)
        .bar_style(Style::new().fg(Color::Yellow))
        .value_style(Style::new().fg(Color::Black).bg(Color::Yellow));
    let [label, chart_area] = area.layout(&Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]));
    frame.render_widget(Line::styled("retry waits by length (≥)", dim()), label);
    frame.render_widget(chart, chart_area);
}
