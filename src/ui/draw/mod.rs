//! Drawing: a pure function of the state (and of `now`, for countdowns), one file per pane.
//!
//! ```text
//! ┌ header: source, state, elapsed, ETA, bars, success, fixes ──────────────┐
//! ┌ symbols (one row per symbol x timeframe) ┐┌ rate limit (chart) ─────────┐
//! │                                          │└─────────────────────────────┘
//! │                                          │┌ backoff (waits, histogram) ─┐
//! └──────────────────────────────────────────┘└─────────────────────────────┘
//! ┌ time breakdown ──┐┌ resources ─┐┌ runs (earlier runs from the database) ┐
//! ┌ log ────────────────────────────────────────────────────────────────────┐
//!  footer: the main keys
//! ```
//!
//! Overlays on keys: `?` the keys, `Enter` a row's requests, `v` the overview of every
//! row. With `NO_COLOR` set, the finished frame loses its colours in one last pass;
//! nothing on screen is told by colour alone (states are words, the overview has a
//! character per state, the selection is reversed).

pub mod backoff;
pub mod breakdown;
mod coverage;
pub mod detail;
pub mod footer;
pub mod header;
pub mod help;
pub mod log;
pub mod overview;
pub mod rate_limit;
pub mod resources;
pub mod runs;
pub mod symbols;

use std::time::Instant;

use ratatui::Frame;
use ratatui::buffer::Buffer;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Paragraph, Wrap};

use super::app::{App, Focus, Overlay};
use crate::engine::events::Level;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub struct Areas {
    pub header: Rect,
    pub symbols: Rect,
    pub rate_limit: Rect,
    pub backoff: Rect,
    pub breakdown: Rect,
    pub resources: Rect,
    pub runs: Rect,
    pub log: Rect,
    pub footer: Rect,
}

/// Where each pane goes on a screen of at least `MIN_WIDTH` x `MIN_HEIGHT`.
pub fn areas(area: Rect) -> Areas {
    let [header, body, footer] =
        area.layout(&Layout::vertical([Constraint::Length(4), Constraint::Fill(1), Constraint::Length(1)]));
    let middle = (body.height / 4).clamp(6, 9);
    let rest = body.height.saturating_sub(middle);
    let top = rest.saturating_sub((rest / 3).max(4));
    let [top, middle, log] =
        body.layout(&Layout::vertical([Constraint::Length(top), Constraint::Length(middle), Constraint::Fill(1)]));
    // Narrow screens give the symbols a larger share: their columns cannot shrink much.
    let share = if area.width < 120 { 58 } else { 55 };
    let [symbols, right] = top.layout(&Layout::horizontal([Constraint::Percentage(share), Constraint::Fill(1)]));
    let [rate_limit, backoff] = right.layout(&Layout::vertical([Constraint::Percentage(55), Constraint::Fill(1)]));
    let [breakdown, resources, runs] = middle.layout(&Layout::horizontal([
        Constraint::Percentage(37),
        Constraint::Percentage(23),
        Constraint::Fill(1),
    ]));
    Areas { header, symbols, rate_limit, backoff, breakdown, resources, runs, log, footer }
}

pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Symbol rows that fit, for keeping the selection in view before a frame is drawn.
pub fn symbol_rows_visible(area: Rect) -> usize {
    if too_small(area) {
        return 1;
    }
    symbols::visible_rows(areas(area).symbols)
}

/// Before a frame of `area`: the symbols list brought up to date with its selection on
/// screen, and an overlay's scrolling kept within what it has to show. Drawing itself
/// only reads the state.
pub fn prepare(app: &mut App, area: Rect) {
    app.fit_symbols(symbol_rows_visible(area));
    let max = match app.view.overlay {
        Overlay::Help => help::max_scroll(area),
        Overlay::Overview => overview::max_scroll(area, app),
        Overlay::Coverage => coverage::max_scroll(area, app),
        Overlay::None | Overlay::Detail => 0,
    };
    app.view.overlay_scroll = app.view.overlay_scroll.min(max);
}

pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let area = frame.area();
    if too_small(area) {
        draw_too_small(frame, area);
    } else {
        draw_panes(frame, area, app, now);
    }
    if !app.view.colour {
        strip_colour(frame.buffer_mut());
    }
}

fn draw_panes(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let a = areas(area);
    header::render(frame, a.header, app, now);
    symbols::render(frame, a.symbols, app, now);
    rate_limit::render(frame, a.rate_limit, app, now);
    backoff::render(frame, a.backoff, app, now);
    breakdown::render(frame, a.breakdown, app, now);
    resources::render(frame, a.resources, app);
    runs::render(frame, a.runs, app);
    log::render(frame, a.log, app);
    footer::render(frame, a.footer, app);
    match app.view.overlay {
        Overlay::Help => help::render(frame, area, app),
        Overlay::Detail => detail::render(frame, area, app, now),
        Overlay::Overview => overview::render(frame, area, app),
        Overlay::Coverage => coverage::render(frame, area, app),
        Overlay::None => {}
    }
}

/// `NO_COLOR` (https://no-color.org): every cell back to the terminal's own colours;
/// bold, dim and reverse stay.
pub fn strip_colour(buffer: &mut Buffer) {
    for cell in buffer.content.iter_mut() {
        cell.set_fg(Color::Reset).set_bg(Color::Reset);
    }
}

/// Whether `NO_COLOR` asks for no colour: present and not empty.
pub fn colour_from_env(no_color: Option<std::ffi::OsString>) -> bool {
    no_color.is_none_or(|v| v.is_empty())
}

/// The selected row: a background colour, or reversed without colours.
pub fn selection(app: &App, focused: bool) -> Style {
    let style = Style::new().add_modifier(Modifier::BOLD);
    match (app.view.colour, focused) {
        (false, _) => style.add_modifier(Modifier::REVERSED),
        (true, true) => style.bg(Color::Blue),
        (true, false) => style.bg(Color::DarkGray),
    }
}

pub fn draw_too_small(frame: &mut Frame, area: Rect) {
    let text = format!(
        "terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{})\nenlarge the window, or press q to quit",
        area.width, area.height
    );
    let height = 2.min(area.height);
    let y = area.y + area.height.saturating_sub(height) / 2;
    frame.render_widget(
        Paragraph::new(text).alignment(Alignment::Center).wrap(Wrap { trim: true }).style(warn()),
        Rect { y, height, ..area },
    );
}

/// A pane's frame; the focused pane's border stands out.
pub fn pane<'a>(title: impl Into<Line<'a>>, focused: bool) -> Block<'a> {
    let border = if focused { Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD) } else { dim() };
    Block::bordered().border_type(BorderType::Rounded).border_style(border).title(title.into().style(bold()))
}

pub fn focused(app: &App, focus: Focus) -> bool {
    app.view.focus == focus && app.view.overlay == Overlay::None
}

pub fn bold() -> Style {
    Style::new().add_modifier(Modifier::BOLD)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn good() -> Style {
    Style::new().fg(Color::Green)
}

pub fn warn() -> Style {
    Style::new().fg(Color::Yellow)
}

pub fn bad() -> Style {
    Style::new().fg(Color::Red)
}

pub fn level_style(level: Level) -> Style {
    match level {
        Level::Info => Style::new(),
        Level::Warn => warn().add_modifier(Modifier::BOLD),
        Level::Error => bad().add_modifier(Modifier::BOLD),
    }
}

/// `label value` with the label dimmed.
pub fn field<'a>(label: &'a str, value: String, style: Style) -> [Span<'a>; 2] {
    [Span::styled(label, dim()), Span::styled(value, style)]
}

/// Lays out `items` (each a few spans that belong together) left to right, starting a
/// new line when the next would not fit: the panes stay readable from 80 columns up.
pub fn flow<'a>(items: Vec<Vec<Span<'a>>>, width: u16) -> Vec<Line<'a>> {
    const GAP: usize = 2;
    let width = width as usize;
    let mut lines: Vec<Line> = Vec::new();
    let mut current: Vec<Span> = Vec::new();
    let mut used = 0;
    for item in items {
        let w: usize = item.iter().map(|s| s.width()).sum();
        if !current.is_empty() && used + GAP + w > width {
            lines.push(Line::from(std::mem::take(&mut current)));
            used = 0;
        }
        if !current.is_empty() {
            current.push(Span::raw(" ".repeat(GAP)));
            used += GAP;
        }
        current.extend(item);
        used += w;
    }
    if !current.is_empty() {
        lines.push(Line::from(current));
    }
    lines
}

/// A centred rectangle `pct_w` x `pct_h` percent of `area`, at least `min_w` x `min_h`.
pub fn centered(area: Rect, pct_w: u16, pct_h: u16, min_w: u16, min_h: u16) -> Rect {
    let w = (area.width * pct_w / 100).max(min_w).min(area.width);
    let h = (area.height * pct_h / 100).max(min_h).min(area.height);
    Rect { x: area.x + (area.width - w) / 2, y: area.y + (area.height - h) / 2, width: w, height: h }
}

/// `mm:ss` since the dashboard opened, for log lines and requests.
pub fn stamp(app: &App, at: Instant) -> String {
    let s = at.saturating_duration_since(app.started).as_secs();
    format!("{:02}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests;
