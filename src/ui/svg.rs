//! A drawn frame as an SVG picture: the same cells the terminal gets, each run of cells of
//! one style a `<text>` at its column, so the README's picture is the dashboard's own
//! drawing, not a mock-up.

use std::fmt::Write as _;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

/// A cell's size in pixels at the font size below (a monospace advance of 0.6 em).
const CELL_W: f64 = 8.4;
const CELL_H: f64 = 17.0;
const FONT_PX: f64 = 14.0;
/// The terminal's own colours, from a dark theme.
const BACKGROUND: &str = "#1e1e2e";
const FOREGROUND: &str = "#cdd6f4";

pub fn to_svg(buf: &Buffer) -> String {
    let (w, h) = (buf.area.width as usize, buf.area.height as usize);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" viewBox="0 0 {:.0} {:.0}">"#,
        w as f64 * CELL_W + 16.0,
        h as f64 * CELL_H + 16.0,
        w as f64 * CELL_W + 16.0,
        h as f64 * CELL_H + 16.0
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" rx="6" fill="{BACKGROUND}"/>"#);
    let _ = writeln!(
        s,
        r#"<g transform="translate(8 8)" font-family="'DejaVu Sans Mono', Menlo, Consolas, monospace" font-size="{FONT_PX}" xml:space="preserve">"#
    );
    for y in 0..h {
        let runs = row_runs(buf, y as u16);
        for r in runs.iter().filter(|r| r.bg.is_some()) {
            let _ = writeln!(
                s,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{CELL_H}" fill="{}"/>"#,
                r.x as f64 * CELL_W,
                y as f64 * CELL_H,
                r.width as f64 * CELL_W,
                r.bg.as_deref().unwrap_or(BACKGROUND)
            );
        }
        for r in runs.iter().filter(|r| r.glyphs.iter().any(|(_, g)| !g.trim().is_empty())) {
            let mut attrs = format!(r#" fill="{}""#, r.fg);
            if r.bold {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if r.dim {
                attrs.push_str(r#" fill-opacity="0.6""#);
            }
            // Braille (the charts) as dots: few fonts carry it, and a fallback's boxes
            // would draw no line.
            for (x, g) in &r.glyphs {
                braille_dots(&mut s, *x, y as u16, g, &r.fg);
            }
            // Every glyph at its own cell, whatever the viewer's font advances by (a
            // fallback font for box drawing may be wider or narrower).
            let glyphs: Vec<&(u16, String)> =
                r.glyphs.iter().filter(|(_, g)| !g.trim().is_empty() && braille(g).is_none()).collect();
            if glyphs.is_empty() {
                continue;
            }
            let xs: Vec<String> = glyphs.iter().map(|(x, _)| format!("{:.1}", *x as f64 * CELL_W)).collect();
            let text: String = glyphs.iter().map(|(_, g)| g.as_str()).collect();
            let _ = writeln!(
                s,
                r#"<text x="{}" y="{:.1}"{attrs}>{}</text>"#,
                xs.join(" "),
                y as f64 * CELL_H + CELL_H * 0.78,
                escape(&text)
            );
        }
    }
    s.push_str("</g>\n</svg>\n");
    s
}

/// Cells of one row that share a style: their glyphs at their columns, one piece of text.
struct Run {
    x: u16,
    width: u16,
    glyphs: Vec<(u16, String)>,
    fg: String,
    bg: Option<String>,
    bold: bool,
    dim: bool,
}

fn row_runs(buf: &Buffer, y: u16) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for x in 0..buf.area.width {
        let cell = &buf[(x, y)];
        let reversed = cell.modifier.contains(Modifier::REVERSED);
        let (fg, bg) = if reversed { (cell.bg, cell.fg) } else { (cell.fg, cell.bg) };
        let fg = hex(fg).unwrap_or_else(|| (if reversed { BACKGROUND } else { FOREGROUND }).to_string());
        let bg = hex(bg).or_else(|| reversed.then(|| FOREGROUND.to_string()));
        let bold = cell.modifier.contains(Modifier::BOLD);
        let dim = cell.modifier.contains(Modifier::DIM);
        let symbol = cell.symbol();
        match runs.last_mut() {
            Some(r) if r.fg == fg && r.bg == bg && r.bold == bold && r.dim == dim => {
                r.glyphs.push((x, symbol.to_string()));
                r.width += 1;
            }
            _ => runs.push(Run { x, width: 1, glyphs: vec![(x, symbol.to_string())], fg, bg, bold, dim }),
        }
    }
    runs
}

/// A colour as the picture paints it; `None` for the terminal's own.
fn hex(c: Color) -> Option<String> {
    let rgb = match c {
        Color::Reset => return None,
        Color::Black => (0x45, 0x47, 0x5a),
        Color::Red => (0xf3, 0x8b, 0xa8),
        Color::Green => (0xa6, 0xe3, 0xa1),
        Color::Yellow => (0xf9, 0xe2, 0xaf),
        Color::Blue => (0x89, 0xb4, 0xfa),
        Color::Magenta => (0xf5, 0xc2, 0xe7),
        Color::Cyan => (0x94, 0xe2, 0xd5),
        Color::Gray => (0xba, 0xc2, 0xde),
        Color::DarkGray => (0x6c, 0x70, 0x86),
        Color::LightRed => (0xf3, 0x8b, 0xa8),
        Color::LightGreen => (0xa6, 0xe3, 0xa1),
        Color::LightYellow => (0xf9, 0xe2, 0xaf),
        Color::LightBlue => (0x89, 0xb4, 0xfa),
        Color::LightMagenta => (0xf5, 0xc2, 0xe7),
        Color::LightCyan => (0x94, 0xe2, 0xd5),
        Color::White => (0xcd, 0xd6, 0xf4),
        Color::Rgb(r, g, b) => (r, g, b),
        Color::Indexed(i) => return Some(indexed(i)),
    };
    Some(format!("#{:02x}{:02x}{:02x}", rgb.0, rgb.1, rgb.2))
}

/// xterm's 256 colours: the cube and the grey ramp (the first 16 as named above).
fn indexed(i: u8) -> String {
    let (r, g, b) = match i {
        0..=15 => return hex(named(i)).unwrap_or_else(|| FOREGROUND.to_string()),
        16..=231 => {
            let n = i - 16;
            let level = |v: u8| if v == 0 { 0 } else { 55 + v * 40 };
            (level(n / 36), level((n / 6) % 6), level(n % 6))
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            (v, v, v)
        }
    };
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn named(i: u8) -> Color {
    [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ][i as usize]
}

/// The dots of a braille cell, as a bit per dot (Unicode's order), if `g` is one.
fn braille(g: &str) -> Option<u8> {
    let mut chars = g.chars();
    let c = chars.next()?;
    (chars.next().is_none() && ('\u{2800}'..='\u{28FF}').contains(&c)).then(|| (c as u32 - 0x2800) as u8)
}

/// A braille cell's dots as circles: two columns of four in the cell.
fn braille_dots(s: &mut String, x: u16, y: u16, g: &str, fill: &str) {
    let Some(bits) = braille(g) else { return };
    // Unicode's dot numbering: 1-3 down the left column, 4-6 down the right, 7 and 8 below.
    const DOTS: [(u8, u8); 8] = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2), (0, 3), (1, 3)];
    for (i, (col, row)) in DOTS.iter().enumerate() {
        if bits & (1 << i) != 0 {
            let cx = x as f64 * CELL_W + (*col as f64 + 0.5) * CELL_W / 2.0;
            let cy = y as f64 * CELL_H + (*row as f64 + 0.5) * CELL_H / 4.0;
            let _ = writeln!(s, r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="1.3" fill="{fill}"/>"#);
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::style::Style;
    use ratatui::text::Span;

    use super::*;

    #[test]
    fn each_run_of_one_style_is_one_text_at_its_column_escaped() {
        let mut t = ratatui::Terminal::new(TestBackend::new(12, 2)).unwrap();
        t.draw(|f| {
            f.render_widget(Span::styled("a<b", Style::new().fg(Color::Red)), ratatui::layout::Rect::new(0, 0, 3, 1));
            f.render_widget(Span::raw("ok"), ratatui::layout::Rect::new(5, 1, 2, 1));
        })
        .unwrap();
        let svg = to_svg(t.backend().buffer());
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(r##"<text x="0.0 8.4 16.8" y="13.3" fill="#f38ba8">a&lt;b</text>"##), "{svg}");
        assert!(svg.contains(r#"<text x="42.0 50.4" y="30.3""#) && svg.contains(">ok</text>"), "{svg}");
        // A braille cell is drawn as its dots.
        let mut dots = String::new();
        braille_dots(&mut dots, 1, 0, "\u{2801}", "#fff");
        assert_eq!(dots, "<circle cx=\"10.5\" cy=\"2.1\" r=\"1.3\" fill=\"#fff\"/>\n");
    }
}
