//! `barfill screenshot`: the README's picture, made by barfill itself. A real run on the
//! embedded simulator (never the live API: a picture must not spend a key's quota) is
//! folded into the dashboard's state as the dashboard folds it, keys are pressed on the
//! way as a user would press them, and at the moment asked the dashboard's own drawing
//! code renders one frame into an SVG.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::{ScreenshotArgs, exit, load_config};
use crate::calendar::Range;
use crate::engine::{self, Command, EMBEDDED_SIMULATOR, Source};
use crate::sim::Sim;
use crate::ui::app::App;
use crate::ui::{draw, svg};

/// A key pressed at a second of the run: `1`, `2`, `3` toggle a fix, `p` pauses or resumes.
fn parse_keys(s: &str) -> Result<Vec<(f64, char)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (at, key) = p.split_once(':').ok_or_else(|| format!("'{p}' must be SECS:KEY, e.g. 20:2"))?;
            let at: f64 = at.trim().parse().map_err(|_| format!("'{at}' in '{p}' is not a number of seconds"))?;
            let key = key.trim();
            match key {
                "1" | "2" | "3" | "p" => Ok((at, key.chars().next().unwrap_or('p'))),
                _ => Err(format!("key '{key}' in '{p}': use 1, 2, 3 or p")),
            }
        })
        .collect()
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s.split_once('x').ok_or_else(|| format!("'{s}' must be WIDTHxHEIGHT, e.g. 160x45"))?;
    let (w, h): (u16, u16) = (
        w.parse().map_err(|_| format!("'{w}' is not a width"))?,
        h.parse().map_err(|_| format!("'{h}' is not a height"))?,
    );
    if w < draw::MIN_WIDTH || h < draw::MIN_HEIGHT {
        return Err(format!("{w}x{h} is below the dashboard's {}x{}", draw::MIN_WIDTH, draw::MIN_HEIGHT));
    }
    Ok((w, h))
}

pub(super) async fn screenshot_command(args: &ScreenshotArgs) -> ExitCode {
    let bad = |what: &str, e: String| {
        eprintln!("error: {what}: {e}");
        ExitCode::from(exit::BAD_INPUT)
    };
    let keys = match parse_keys(&args.keys) {
        Ok(k) => k,
        Err(e) => return bad("--keys", e),
    };
    let (width, height) = match parse_size(&args.size) {
        Ok(s) => s,
        Err(e) => return bad("--size", e),
    };
    if !args.at.is_finite() || args.at <= 0.0 {
        return bad("--at", format!("must be a positive number of seconds, got {}", args.at));
    }
    let mut config = match load_config(&args.flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // A database of its own unless one is named: the picture's run must not touch a user's.
    let scratch = tempfile_dir();
    if args.flags.db.is_none() {
        config.db = scratch.join("screenshot.db");
        config.db_is_default = false;
    }
    let (store, plan) = match engine::prepare(&config) {
        Ok(x) => x,
        Err(e) => return bad("database", e.to_string()),
    };
    let sim = match Sim::start_local(config.sim_options()).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot start the embedded simulator: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let source = Source { label: EMBEDDED_SIMULATOR.into(), base_url: sim.base_url(), key: None };
    let db = config.db.display().to_string();
    let mut app = App::new(Instant::now(), &source.label, &source.base_url, &db, engine::initial_settings(&config))
        .with_range(Range { from: config.from, to: config.to });
    app.notices_to_log = true;
    let config = Arc::new(config);
    let handle = match engine::start(config.clone(), source, store, plan) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let frame = capture(handle, &mut app, &keys, args.at, (width, height), &config.db).await;
    sim.stop().await;
    let _ = std::fs::remove_dir_all(&scratch);
    let svg = match frame {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty())
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        eprintln!("error: --out {}: {e}", args.out.display());
        return ExitCode::from(exit::FAILED);
    }
    match std::fs::write(&args.out, svg) {
        Ok(()) => {
            eprintln!("wrote {} ({width}x{height} cells, {:.0}s into the run)", args.out.display(), args.at);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: --out {}: {e}", args.out.display());
            ExitCode::from(exit::FAILED)
        }
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("barfill-screenshot-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Folds the run into `app`, pressing `keys` on the way, and draws the frame at `at`
/// seconds (or the last one, if the run ends first); then stops the run.
async fn capture(
    mut handle: engine::RunHandle,
    app: &mut App,
    keys: &[(f64, char)],
    at: f64,
    size: (u16, u16),
    db: &std::path::Path,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(at);
    let mut pending: Vec<(f64, char)> = keys.to_vec();
    pending.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut pending = pending.into_iter().peekable();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            e = handle.events.recv() => match e {
                Some(e) => app.on_event(e, Instant::now()),
                None => break,
            },
            _ = tick.tick() => {
                while let Some((_, key)) = pending.next_if(|(t, _)| started + Duration::from_secs_f64(*t) <= Instant::now()) {
                    let _ = handle.commands.send(command(key, app));
                }
                if Instant::now() >= deadline {
                    break;
                }
            }
        }
    }
    let runs = crate::store::recent_runs(db, 10).map_err(|e| crate::store::explain(&e));
    app.set_runs(runs);
    let mut terminal = Terminal::new(TestBackend::new(size.0, size.1))?;
    draw::prepare(app, ratatui::layout::Rect::new(0, 0, size.0, size.1));
    terminal.draw(|f| draw::draw(f, app, Instant::now()))?;
    let svg = svg::to_svg(terminal.backend().buffer());
    let _ = handle.commands.send(Command::Stop);
    let _ = tokio::time::timeout(Duration::from_secs(30), handle.done).await;
    Ok(svg)
}

/// What a key asks of the engine, as the dashboard's key table has it.
fn command(key: char, app: &App) -> Command {
    use crate::config::Fix;
    match key {
        '1' => Command::ToggleFix(Fix::Backoff),
        '2' => Command::ToggleFix(Fix::Batching),
        '3' => Command::ToggleFix(Fix::Parallel),
        _ if app.settings.paused => Command::Resume,
        _ => Command::Pause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_sizes_are_read_or_refused_by_name() {
        assert_eq!(parse_keys("20:2, 21:3,40:p").unwrap(), [(20.0, '2'), (21.0, '3'), (40.0, 'p')]);
        assert!(parse_keys("20").unwrap_err().contains("SECS:KEY"));
        assert!(parse_keys("20:q").unwrap_err().contains("use 1, 2, 3 or p"));
        assert_eq!(parse_size("160x45"), Ok((160, 45)));
        assert!(parse_size("60x10").unwrap_err().contains("below"));
    }
}
