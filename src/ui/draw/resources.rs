//! The process's CPU and memory against the success criteria.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{bad, dim, good, pane};
use crate::engine::EMBEDDED_SIMULATOR;
use crate::ui::app::App;
use crate::ui::format::bar;

/// The success criteria: CPU under 80 % of one core, memory under 2 GB.
pub const CPU_LIMIT_PCT: f64 = 80.0;
pub const MEMORY_LIMIT_MB: f64 = 2048.0;

pub fn render(frame: &mut Frame, area: Rect, app: &App) {
    let block = pane(" Resources ", false);
    let inner = block.inner(area);
    let t = &app.tally;
    let avg_cpu = if t.cpu_samples > 0 { Some(t.cpu_pct_sum / t.cpu_samples as f64) } else { None };
    let bar_w = (inner.width as usize).saturating_sub(10).min(20);
    let mut lines = Vec::new();
    match (app.cpu_pct, app.rss_mb) {
        (Some(cpu), Some(rss)) => {
            let cpu_style = if cpu < CPU_LIMIT_PCT { good() } else { bad() };
            let mem_style = if rss < MEMORY_LIMIT_MB { good() } else { bad() };
            lines.push(Line::from(vec![
                Span::raw("CPU "),
                Span::styled(bar(cpu / CPU_LIMIT_PCT, bar_w), cpu_style),
                Span::styled(format!(" {cpu:>3.0}%"), cpu_style.add_modifier(Modifier::BOLD)),
            ]));
            lines.push(Line::styled(format!(" avg {:.0}%, <{CPU_LIMIT_PCT:.0}%", avg_cpu.unwrap_or(cpu)), dim()));
            lines.push(Line::from(vec![
                Span::raw("Mem "),
                Span::styled(bar(rss / MEMORY_LIMIT_MB, bar_w), mem_style),
                Span::styled(format!(" {rss:>3.0}MB"), mem_style.add_modifier(Modifier::BOLD)),
            ]));
            lines.push(Line::styled(format!(" peak {:.0}MB, <2GB", t.peak_rss_mb.max(rss)), dim()));
            if app.source == EMBEDDED_SIMULATOR {
                // The simulator's threads and buffers are this process's too.
                lines.push(Line::styled(" simulator included", dim()));
            }
        }
        _ => lines.push(Line::styled("waiting for the first sample", Style::new().patch(dim()))),
    }
    frame.render_widget(Paragraph::new(lines).block(block), area);
}
