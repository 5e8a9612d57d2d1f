//! Requests per minute over time against the quota line, and what the quota cost: 429s
//! and the pacer's waits.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::symbols::Marker;
use ratatui::text::Span;
use ratatui::widgets::{Axis, Chart, Dataset, GraphType, Paragraph};

use super::{bold, dim, field, flow, pane, warn};
use crate::ui::app::App;
use crate::ui::format::duration;

/// The chart shows this much of the recent past.
const SPAN_S: f64 = 600.0;

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let block = pane(" Rate limit ", false);
    let inner = block.inner(area);
    frame.render_widget(block, area);

    let quota = app.quota_per_min() as f64;
    let t = &app.tally;
    // The line's colour, so the figure reads as the chart's legend.
    let style = bold().fg(Color::Cyan);
    let rate = match &app.report {
        // Over a short run an average per minute would be an extrapolation; say what happened.
        Some(r) if r.wall_s < 60.0 => field("requests ", format!("{} in {}", r.requests, duration(r.wall_s)), style),
        Some(r) => field("average ", format!("{:.0}/min", r.requests_per_min), style),
        None => field("last 60s ", app.requests_last_minute(now).to_string(), style),
    };
    let hits_now = app.hits_last_minute(now);
    let mut items: Vec<Vec<Span>> = Vec::new();
    items.push(rate.to_vec());
    items.push(field("quota ", format!("{quota:.0}/min"), Style::new().fg(Color::Red)).to_vec());
    let pace = &t.pace;
    if app.settings.fixes.batching {
        let mut line = field("pace ", format!("{:.0}/min", t.pace_per_min), Style::new().fg(Color::Yellow)).to_vec();
        let left = app.held_until.map(|u| u.saturating_duration_since(now).as_secs_f64()).filter(|l| *l > 0.0);
        if let (Some(left), Some(hold)) = (left, pace.hold) {
            line.push(Span::styled(format!(" (held {}: {})", duration(left), hold_words(hold)), warn()));
        }
        items.push(line);
    } else {
        items.push(vec![Span::styled("unpaced (fix 2 off)", dim())]);
    }
    // Side by side, so a cut is read against what the server really took.
    let learned = match pace.learned_per_min {
        Some(l) if pace.limit_is_lower() => field("server limit ", format!("~{l:.0}/min"), warn()).to_vec(),
        Some(l) => field("learned ", format!("~{l:.0}/min"), Style::new()).to_vec(),
        None => field("learned ", "none".into(), dim()).to_vec(),
    };
    items.push(learned);
    items.push(field("accepted ", format!("{:.0}/min", pace.accepted_per_min), Style::new()).to_vec());
    let hits_style = if t.rate_limit_hits > 0 { warn() } else { Style::new() };
    let mut hits = field("429s ", t.rate_limit_hits.to_string(), hits_style).to_vec();
    hits.push(Span::styled(format!(" ({hits_now} in the last min)"), if hits_now > 0 { warn() } else { dim() }));
    items.push(hits);
    if t.rate_limit_hits > 0 {
        let unpaced = t.rate_limit_hits.saturating_sub(pace.taught_429 + pace.stale_429);
        let taught = if pace.taught_429 > 0 { warn() } else { dim() };
        items.push(vec![
            Span::styled(format!("{} taught", pace.taught_429), taught),
            Span::styled(format!(" · {} stale · {unpaced} unpaced", pace.stale_429), dim()),
        ]);
    }
    let mut waits = field("limiter waits ", app.rate.limiter_waits.to_string(), Style::new()).to_vec();
    waits.push(Span::styled(format!(" ({})", duration(t.limiter_s)), dim()));
    items.push(waits);
    if app.report.is_none() {
        items.push(field("requests ", t.requests.to_string(), Style::new()).to_vec());
    }

    let lines = flow(items, inner.width);
    let [text, chart_area] =
        inner.layout(&Layout::vertical([Constraint::Length(lines.len() as u16), Constraint::Fill(1)]));
    frame.render_widget(Paragraph::new(lines), text);
    if chart_area.height >= 4 {
        render_chart(frame, chart_area, app, now, quota);
    }
}

/// Why the pacer's gate holds every worker, in a few words.
fn hold_words(hold: crate::pace::Hold) -> &'static str {
    match hold {
        crate::pace::Hold::Drain => "window still full of unpaced requests",
        crate::pace::Hold::Stale => "window still full",
        crate::pace::Hold::Limit => "after a cut",
        crate::pace::Hold::RetryAfter => "Retry-After",
    }
}

fn render_chart(frame: &mut Frame, area: Rect, app: &App, now: Instant, quota: f64) {
    let series = app.rate_series(now);
    let end = series.last().map(|p| p.0).unwrap_or(0.0).max(60.0);
    let start = (end - SPAN_S).max(0.0);
    let shown: Vec<(f64, f64)> = series.into_iter().filter(|p| p.0 >= start).collect();
    // The quota is the top line unless the rate went over it, so the top label reads as it.
    let top = shown.iter().map(|p| p.1).fold(quota, f64::max);
    let top = if top > 0.0 { top } else { 1.0 };
    let quota_line = [(start, quota), (end, quota)];
    let pace_line = [(start, app.tally.pace_per_min), (end, app.tally.pace_per_min)];
    // Without colours the three lines differ by their dots: the quota is drawn in bullets,
    // the pace in bars, the requests in braille.
    let (quota_marker, pace_marker) =
        if app.view.colour { (Marker::Braille, Marker::Braille) } else { (Marker::Dot, Marker::Bar) };
    let mut datasets = vec![
        Dataset::default()
            .marker(quota_marker)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Red))
            .data(&quota_line),
    ];
    if app.settings.fixes.batching && app.tally.pace_per_min > 0.0 {
        datasets.push(
            Dataset::default()
                .marker(pace_marker)
                .graph_type(GraphType::Line)
                .style(Style::new().fg(Color::Yellow))
                .data(&pace_line),
        );
    }
    datasets.push(
        Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(Color::Cyan))
            .data(&shown),
    );
    let x_labels = vec![Span::styled(format!("{:.0}s", start), dim()), Span::styled(format!("{:.0}s", end), dim())];
    let y_labels = vec![
        Span::styled("0", dim()),
        Span::styled(format!("{:.0}", top / 2.0), dim()),
        Span::styled(format!("{:.0}", top), dim()),
    ];
    let chart = Chart::new(datasets)
        .x_axis(Axis::default().bounds([start, end]).labels(x_labels))
        .y_axis(Axis::default().bounds([0.0, top]).labels(y_labels))
        .legend_position(None);
    frame.render_widget(chart, area);
}
