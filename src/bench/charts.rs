//! The bench's pictures, written beside its tables: requests a minute over each step's run
//! against the quota line, and each step's wall time against its floor. SVG, drawn with
//! plotters' SVG backend (no system library).

use std::path::Path;

use plotters::prelude::*;

/// Requests a minute at each second of a run, counted as the server counts them: the
/// requests sent in the trailing window, scaled to a minute.
pub fn rate_series(sent: &[f64], window_s: f64, end_s: f64) -> Vec<(f64, f64)> {
    let mut sorted = sent.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (mut lo, mut hi) = (0, 0);
    let mut out = Vec::new();
    let mut t = 0.0;
    while t <= end_s.ceil() {
        while hi < sorted.len() && sorted[hi] <= t {
            hi += 1;
        }
        while lo < hi && sorted[lo] <= t - window_s {
            lo += 1;
        }
        out.push((t, (hi - lo) as f64 * 60.0 / window_s));
        t += 1.0;
    }
    out
}

/// One run's requests a minute over time, the quota as a line, and the moments named in
/// `marks` (a switch, a pause) as vertical rules.
pub fn rate_chart(
    path: &Path,
    title: &str,
    series: &[(f64, f64)],
    quota: f64,
    over_s: f64,
    marks: &[(f64, String)],
) -> anyhow::Result<()> {
    let end = series.last().map_or(60.0, |p| p.0).max(1.0);
    let top = series.iter().map(|p| p.1).fold(quota, f64::max) * 1.15;
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..end, 0.0..top)?;
    chart
        .configure_mesh()
        .x_desc("seconds into the run")
        .y_desc("requests a minute")
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    chart
        .draw_series(LineSeries::new([(0.0, quota), (end, quota)], RED.stroke_width(2)))?
        .label(format!("quota {quota:.0}/min"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], RED.stroke_width(2)));
    chart
        .draw_series(LineSeries::new(series.iter().copied(), BLUE.stroke_width(2)))?
        .label(format!("requests in the last {over_s:.0} s, a minute"))
        .legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
    for (at, what) in marks {
        chart.draw_series(LineSeries::new([(*at, 0.0), (*at, top)], BLACK.mix(0.4)))?;
        chart.draw_series([Text::new(what.clone(), (*at, top * 0.97), ("sans-serif", 13))])?;
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK.mix(0.3)).draw()?;
    root.present()?;
    Ok(())
}

/// Each step's wall time beside its floor (or oracle), as bars.
pub fn wall_chart(path: &Path, title: &str, floor_name: &str, steps: &[(String, f64, f64)]) -> anyhow::Result<()> {
    let top = steps.iter().map(|s| s.1.max(s.2)).fold(1.0, f64::max) * 1.15;
    let n = steps.len().max(1);
    let root = SVGBackend::new(path, (900, 360)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(60)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..n as f64, 0.0..top)?;
    // Each group is named over its bars: an axis would label only the round positions.
    chart.configure_mesh().disable_x_mesh().x_labels(0).y_desc("seconds").draw()?;
    for (i, (name, wall, floor)) in steps.iter().enumerate() {
        let x = i as f64;
        chart.draw_series([Text::new(name.clone(), (x + 0.15, top * 0.95), ("sans-serif", 13))])?;
        chart.draw_series([Rectangle::new([(x + 0.15, 0.0), (x + 0.48, *wall)], BLUE.filled())])?;
        chart.draw_series([Rectangle::new([(x + 0.52, 0.0), (x + 0.85, *floor)], RED.mix(0.6).filled())])?;
        let ratio = if *floor > 0.0 { wall / floor } else { 0.0 };
        chart.draw_series([Text::new(format!("{ratio:.2}x"), (x + 0.2, wall + top * 0.03), ("sans-serif", 13))])?;
    }
    chart
        .draw_series([Rectangle::new([(0.0, 0.0), (0.0, 0.0)], BLUE.filled())])?
        .label("wall")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], BLUE.filled()));
    chart
        .draw_series([Rectangle::new([(0.0, 0.0), (0.0, 0.0)], RED.mix(0.6).filled())])?
        .label(floor_name.to_string())
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], RED.mix(0.6).filled()));
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK.mix(0.3)).draw()?;
    root.present()?;
    Ok(())
}

/// A file name from a step's name.
pub fn file_name(prefix: &str, step: &str) -> String {
    let clean: String = step.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    format!("{prefix}-{clean}.svg")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_what_the_trailing_window_held() {
        let sent: Vec<f64> = (0..300).map(|i| i as f64 * 0.4).collect();
        let s = rate_series(&sent, 60.0, 120.0);
        assert_eq!(s[0], (0.0, 1.0));
        assert_eq!(s[60].1, 150.0, "{:?}", &s[55..65]);
        assert_eq!(s.last().map(|p| p.0), Some(120.0));
    }

    #[test]
    fn charts_are_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        let rate = dir.path().join(file_name("rate", "fix1+2"));
        rate_chart(&rate, "t", &rate_series(&[1.0, 2.0, 3.0], 60.0, 10.0), 150.0, 60.0, &[(5.0, "2 on".into())])
            .unwrap();
        let wall = dir.path().join("wall.svg");
        wall_chart(&wall, "t", "floor", &[("a".into(), 10.0, 9.0), ("b".into(), 5.0, 4.0)]).unwrap();
        for p in [rate, wall] {
            let s = std::fs::read_to_string(&p).unwrap();
            assert!(s.starts_with("<svg") && s.contains("</svg>"), "{p:?}");
        }
        assert!(dir.path().join("rate-fix1_2.svg").exists());
    }
}
