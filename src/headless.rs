//! The headless face: progress on stderr (bars on a terminal, a status line every few
//! seconds otherwise), the report on stdout at the end, JSON on request.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::engine::Tally;
use crate::engine::eta::EtaFigures;
use crate::engine::events::{Event, Level, RunInfo};
use crate::engine::{Command, RunHandle};
use crate::report::Report;

/// Sessions to fetch and fetched, per timeframe.
struct Progress {
    info: Option<RunInfo>,
    /// Index into `bars` for each row.
    row_bar: Vec<usize>,
    bars: Vec<(ProgressBar, u64, u64)>,
}

pub struct Headless {
    multi: MultiProgress,
    overall: ProgressBar,
    progress: Progress,
    tally: Tally,
    started: Instant,
    interactive: bool,
    last_line: Instant,
    /// Request times in the last minute, for requests/min.
    recent: std::collections::VecDeque<Instant>,
    /// The engine's last word on the time left.
    eta: Option<EtaFigures>,
}

impl Headless {
    pub fn new() -> Headless {
        let interactive = std::io::stderr().is_terminal();
        let target = if interactive { ProgressDrawTarget::stderr_with_hz(8) } else { ProgressDrawTarget::hidden() };
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(0).with_style(style()).with_prefix("all"));
        Headless {
            multi,
            overall,
            progress: Progress { info: None, row_bar: Vec::new(), bars: Vec::new() },
            tally: Tally::default(),
            started: Instant::now(),
            interactive,
            last_line: Instant::now(),
            recent: Default::default(),
            eta: None,
        }
    }

    fn say(&self, text: &str) {
        if self.interactive {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    /// Requests a minute over the last minute, or over the run so far when it is younger.
    fn per_min(&mut self) -> usize {
        let now = Instant::now();
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60)) {
            self.recent.pop_front();
        }
        let span = self.started.elapsed().as_secs_f64().clamp(1.0, 60.0);
        (self.recent.len() as f64 * 60.0 / span).round() as usize
    }

    fn status(&mut self) -> String {
        let rpm = self.per_min();
        let quota = self.progress.info.as_ref().map(|i| i.quota_per_min).unwrap_or(0);
        let eta = match self.eta {
            Some(EtaFigures { secs: Some(s), measuring: false, .. }) => {
                format!(", ETA ~{}:{:02}", (s / 60.0) as u64, (s % 60.0) as u64)
            }
            Some(_) => ", ETA measuring".to_string(),
            None => String::new(),
        };
        format!(
            "{rpm}/min of {quota}, 429s {}, retries {}, bars {}{eta}",
            self.tally.rate_limit_hits, self.tally.retries, self.tally.bars
        )
    }

    pub fn on_event(&mut self, event: &Event) {
        self.tally.apply(event);
        match event {
            Event::RunStarted(info) => self.run_started(info),
            Event::Request(_) => self.recent.push_back(Instant::now()),
            Event::Stored { windows, .. } => {
                for w in windows {
                    let class = self.progress.info.as_ref().and_then(|i| i.rows.get(w.row)).map(|r| r.class);
                    if let (Some(&idx), Some(class)) = (self.progress.row_bar.get(w.row), class) {
                        let days = class.days_in(w.range) as u64;
                        self.progress.bars[idx].0.inc(days);
                        self.overall.inc(days);
                    }
                }
            }
            Event::WindowFailed { row, range, reason } => {
                let name = self
                    .progress
                    .info
                    .as_ref()
                    .and_then(|i| i.rows.get(*row))
                    .map(|r| format!("{} {}", r.ticker, r.timeframe))
                    .unwrap_or_default();
                self.say(&format!("failed: {name} {range}: {reason}"));
            }
            Event::NewSplit(news) => self.say(&news.line()),
            Event::Eta(told) => self.eta = Some(*told),
            Event::Notice { level, text } => {
                let tag = match level {
                    Level::Info => "",
                    Level::Warn => "warning: ",
                    Level::Error => "error: ",
                };
                self.say(&format!("{tag}{text}"));
            }
            _ => {}
        }
        self.show_status();
    }

    /// One progress bar per timeframe, sized in trading days, and the run's first line.
    fn run_started(&mut self, info: &RunInfo) {
        let mut per_tf: BTreeMap<String, usize> = BTreeMap::new();
        for row in &info.rows {
            let key = row.timeframe.to_string();
            let next = self.progress.bars.len();
            let idx = *per_tf.entry(key.clone()).or_insert_with(|| {
                let pb = self.multi.add(ProgressBar::new(0).with_style(style()).with_prefix(key));
                self.progress.bars.push((pb, 0, 0));
                next
            });
            self.progress.row_bar.push(idx);
            let b = &mut self.progress.bars[idx];
            b.1 += row.sessions as u64;
            b.2 += row.covered_sessions as u64;
        }
        let mut total = (0, 0);
        for (pb, len, pos) in &self.progress.bars {
            pb.set_length(*len);
            pb.set_position(*pos);
            total.0 += len;
            total.1 += pos;
        }
        self.overall.set_length(total.0);
        self.overall.set_position(total.1);
        let est = &info.estimate;
        self.say(&format!(
            "barfill run #{} on the {} ({}), fixes {}, {} worker(s): {} windows, ~{} requests; floor {:.0}s at {}/min",
            info.run_id,
            info.source,
            info.base_url,
            info.settings.fixes.label(),
            info.settings.workers(),
            est.windows,
            est.requests,
            info.floor_s,
            info.quota_per_min
        ));
        self.progress.info = Some(info.clone());
    }

    /// The status on the overall bar, and every 5 s a line when stderr is not a terminal.
    fn show_status(&mut self) {
        let status = self.status();
        self.overall.set_message(status.clone());
        if !self.interactive && self.last_line.elapsed() >= Duration::from_secs(5) {
            self.last_line = Instant::now();
            eprintln!(
                "[{:>5.0}s] {}/{} trading days, {status}",
                self.started.elapsed().as_secs_f64(),
                self.overall.position(),
                self.overall.length().unwrap_or(0)
            );
        }
    }

    pub fn finish(&self) {
        for (pb, _, _) in &self.progress.bars {
            pb.finish();
        }
        self.overall.finish();
    }
}

impl Default for Headless {
    fn default() -> Self {
        Headless::new()
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>9} [{bar:30}] {percent:>3}% {msg}")
        .expect("valid template")
        .progress_chars("=> ")
}

/// Drives a run to its end: events to the screen, Ctrl-C / SIGTERM to a clean stop.
pub async fn drive(handle: RunHandle) -> anyhow::Result<Report> {
    let mut face = Headless::new();
    let commands = handle.commands.clone();
    let stop_signal = tokio::spawn(async move {
        wait_for_signal().await;
        let _ = commands.send(Command::Stop);
        // A second signal means: do not wait.
        wait_for_signal().await;
        eprintln!("barfill: interrupted twice, exiting without waiting for the writer");
        std::process::exit(130);
    });
    let report = handle.drive(|e, _| face.on_event(&e)).await;
    face.finish();
    stop_signal.abort();
    report
}

pub async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn write_json(path: &Path, report: &Report) -> std::io::Result<()> {
    let json = serde_json::to_string_pretty(report).expect("serialisable");
    std::fs::write(path, json + "\n")
}
