//! Source, run state, time, progress, and the three fixes with their keys.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bad, bold, dim, field, flow, good, pane, warn};
use crate::config::Fix;
use crate::ui::app::{App, Eta};
use crate::ui::format::{duration, thousands};

pub fn render(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let mut title = vec![Span::styled(" barfill ", bold()), Span::styled("· ", dim()), Span::raw(app.source.clone())];
    if !app.base_url.is_empty() {
        title.push(Span::styled(" · ", dim()));
        title.push(Span::raw(app.base_url.clone()));
    }
    if let Some(info) = &app.info {
        title.push(Span::styled(format!(" · run #{} ", info.run_id), dim()));
    } else {
        title.push(Span::raw(" "));
    }
    let block = pane(Line::from(title), false);
    let width = block.inner(area).width;
    // One line each; what does not fit on a narrow screen is left out, least important last.
    let lines: Vec<Line> = [figures(app, now), switches(app)]
        .into_iter()
        .filter_map(|items| flow(items, width).into_iter().next())
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// The run's state, time, ETA, bars and success rate.
fn figures(app: &App, now: Instant) -> Vec<Vec<Span<'static>>> {
    let status = app.status();
    let status_style = match status {
        "running" | "done" => good(),
        "failed" => bad(),
        _ => warn(),
    }
    .add_modifier(Modifier::BOLD);
    let mut figures: Vec<Vec<Span>> = vec![vec![Span::styled(format!("● {}", status.to_uppercase()), status_style)]];
    if app.quitting {
        figures.push(vec![Span::styled("quitting: writing what was fetched…", warn())]);
    }
    figures.push(field("elapsed ", duration(app.elapsed(now)), bold()).to_vec());
    figures.push(match (app.eta(now), &app.report) {
        (Some(Eta::About(secs)), _) => field("ETA ", format!("~{}", duration(secs)), Style::new()).to_vec(),
        (Some(Eta::Measuring { at_least: Some(secs) }), _) => {
            field("ETA ", format!("≥{} (measuring)", duration(secs)), Style::new()).to_vec()
        }
        (Some(Eta::Measuring { at_least: None }), _) => field("ETA ", "measuring".into(), Style::new()).to_vec(),
        (Some(Eta::Paused), _) => field("ETA ", "paused".into(), Style::new()).to_vec(),
        (None, Some(_)) if !app.quitting => vec![Span::styled("r: new run", dim())],
        (None, _) => field("ETA ", "-".into(), Style::new()).to_vec(),
    });
    figures.push(field("bars ", thousands(app.bars_stored()), bold()).to_vec());
    let rate = app.report.as_ref().map(|r| r.success_rate).unwrap_or_else(|| app.tally.success_rate());
    let rate_style = if rate < 1.0 { warn() } else { Style::new() };
    figures.push(field("success ", format!("{:.1}%", rate * 100.0), rate_style).to_vec());
    figures
}

/// The three fixes as ON/OFF badges with their keys, and the knobs of fix 3.
fn switches(app: &App) -> Vec<Vec<Span<'static>>> {
    let s = &app.settings;
    let mut switches: Vec<Vec<Span>> = Vec::new();
    for fix in Fix::ALL {
        let (n, name) = (fix.number(), fix.name());
        let badge = if s.fixes.get(fix) {
            Span::styled(" ON ", Style::new().fg(Color::Black).bg(Color::Green).add_modifier(Modifier::BOLD))
        } else {
            Span::styled(" OFF ", Style::new().fg(Color::White).bg(Color::Red).add_modifier(Modifier::BOLD))
        };
        let key = Span::styled(format!("[{n}]"), Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD));
        switches.push(vec![key, Span::raw(format!(" {name} ")), badge]);
    }
    let count = if s.fixes.parallel && s.auto { format!("{} auto", s.workers()) } else { s.workers().to_string() };
    switches.push(field("workers ", count, Style::new()).to_vec());
    if s.fixes.parallel {
        switches.push(field("stagger ", format!("{}s", trim(s.stagger_secs)), Style::new()).to_vec());
        if !s.why.is_empty() {
            switches.push(vec![Span::styled(format!("({})", s.why), dim())]);
        }
    } else {
        // The knobs of fix 3 still change with + - [ ]; say what they are set to.
        switches.push(vec![Span::styled(
            format!("(fix 3: {} workers, stagger {}s)", s.concurrency, trim(s.stagger_secs)),
            dim(),
        )]);
    }
    switches
}

/// `5`, `2.5`: whole seconds without a fraction.
fn trim(secs: f64) -> String {
    if secs.fract() == 0.0 { format!("{secs:.0}") } else { format!("{secs:.1}") }
}
