//! What the engine tells its faces, and what they may ask of it. Every number a face
//! shows is folded from these events, so the dashboard and the headless report agree.

use super::eta::EtaFigures;
use crate::calendar::{Day, Range};
use crate::config::{Fix, Fixes};
use crate::markets::Class;
use crate::pace::PaceFigures;
use crate::plan::Estimate;
use crate::polygon::check::Suspect;
use crate::polygon::outcome::ErrorKind;
use crate::report::{Report, SplitNews};
pub use crate::store::writer::WindowDone;
use crate::store::writer::WriterEvent;
use crate::timeframe::Timeframe;

/// Live settings: the three fixes and the knobs of fix 3.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    pub fixes: Fixes,
    /// Workers when fix 3 is on.
    pub concurrency: u32,
    /// Seconds between worker starts when fix 3 is on.
    pub stagger_secs: f64,
    pub paused: bool,
    /// The engine sets the count as the run goes (`--concurrency auto`); a count set by
    /// hand turns this off until auto is asked for again.
    pub auto: bool,
    /// Why the count last changed, in words the faces show as they are.
    pub why: &'static str,
}

impl Settings {
    /// Workers actually running: one without fix 3.
    pub fn workers(&self) -> u32 {
        if self.fixes.parallel { self.concurrency.max(1) } else { 1 }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    ToggleFix(Fix),
    SetFix(Fix, bool),
    /// A count set by hand: it sticks until [`Command::Auto`].
    SetConcurrency(u32),
    /// Hand the count back to the engine.
    Auto,
    SetStagger(f64),
    Pause,
    Resume,
    /// Finish what is in hand, write it, record the run as stopped.
    Stop,
}

#[derive(Clone, Debug, PartialEq)]
pub enum RowState {
    Queued,
    Fetching,
    /// Waiting before a retry, or held by the shared gate after someone's 429.
    Backoff {
        secs: f64,
        reason: String,
    },
    Done,
    /// Finished, and the whole range held no bar: the ticker is unknown to the server,
    /// renamed, or was not trading then.
    Empty,
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct RowInfo {
    pub ticker: String,
    pub timeframe: Timeframe,
    /// The ticker's class, whose days `sessions` counts.
    pub class: Class,
    pub sessions: u32,
    pub covered_sessions: u32,
}

#[derive(Clone, Debug)]
pub struct RunInfo {
    pub run_id: i64,
    /// "simulator" or "live API".
    pub source: String,
    /// Base URL, never with a key.
    pub base_url: String,
    pub db: String,
    pub rows: Vec<RowInfo>,
    pub settings: Settings,
    pub quota_per_min: u32,
    /// The span over which the server counts its quota.
    pub quota_window_s: f64,
    pub pace_per_min: f64,
    /// Requests the remaining work needs with the starting fixes.
    pub estimate: Estimate,
    /// Fewest requests the remaining work can take, and the time the quota needs for them.
    pub floor_requests: u64,
    pub floor_s: f64,
    pub max_attempts: u32,
    /// Full jitter on fix 1's waits.
    pub jitter: bool,
    /// Stored windows are fetched again.
    pub refetch: bool,
    /// Pages of reference data this run took before its rows (a universe's list).
    pub reference_requests: u64,
    /// Pages of splits this run took for its tickers (known once they are fetched).
    pub split_requests: u64,
}

/// One answered (or failed) request.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub row: Option<usize>,
    /// Path only: a query could carry a cursor or, from some servers, a key.
    pub path: String,
    /// HTTP status, or `None` for timeouts, resets and malformed bodies.
    pub status: Option<u16>,
    /// `None` when the request succeeded, else the kind of failure (`429`, `5xx` ...).
    pub error: Option<ErrorKind>,
    pub message: Option<String>,
    /// When it was sent: the server counts its quota by arrival.
    pub at: std::time::Instant,
    pub secs: f64,
    pub bytes: u64,
    pub bars: u64,
    /// The first try of its page, not a retry: only those measure latency cleanly.
    pub first: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

#[derive(Clone, Debug)]
pub enum Event {
    RunStarted(Box<RunInfo>),
    Settings(Settings),
    RowState {
        row: usize,
        state: RowState,
    },
    /// The first and last trading day with bars that a finished row's range holds, for a
    /// row whose bars start or end inside the range (listed or delisted then).
    RowBounds {
        row: usize,
        first: Day,
        last: Day,
    },
    Request(RequestRecord),
    /// A wait before retrying (`held` when the shared gate holds a worker after another
    /// worker's 429). `row` is `None` for grouped-daily requests, which serve many rows.
    Backoff {
        row: Option<usize>,
        secs: f64,
        reason: String,
        held: bool,
    },
    LimiterWait {
        secs: f64,
    },
    /// Workers waited this long for room in the writer's queue: the database on the
    /// critical path.
    WriterBlocked {
        secs: f64,
    },
    /// A page committed: rows written (`changed` of them new or different from what was
    /// stored), seconds in the transaction, windows it finished.
    Stored {
        rows: u64,
        changed: u64,
        secs: f64,
        windows: Vec<WindowDone>,
    },
    /// Bars stored although odd (a high below the open, a vwap outside the bar): named so
    /// a user sees a data problem instead of trusting it.
    SuspectBars {
        row: Option<usize>,
        ticker: String,
        bars: Vec<Suspect>,
    },
    /// Bars left out of their pages as impossible (the rest of each page stored), each
    /// with its time and why; their days are asked again by the next run.
    RejectedBars {
        row: Option<usize>,
        ticker: String,
        timeframe: String,
        bars: Vec<(i64, &'static str)>,
    },
    /// A split the database had not seen, after bars it already held: their adjusted
    /// reading changes, no stored row does.
    NewSplit(SplitNews),
    WindowFailed {
        row: usize,
        range: Range,
        reason: String,
    },
    /// The pacer's figures: its rate, the limit it learned, what the server accepted, and
    /// its 429s by what they taught.
    Pace(PaceFigures),
    Resources {
        cpu_pct: f64,
        rss_mb: f64,
    },
    /// Time left, as the engine works it out once a second.
    Eta(EtaFigures),
    Notice {
        level: Level,
        text: String,
    },
    RunFinished(Box<Report>),
}

impl Event {
    /// The writer's news in the engine's terms.
    pub fn from_writer(e: WriterEvent) -> Event {
        match e {
            WriterEvent::Committed { rows, changed, secs, windows, .. } => {
                Event::Stored { rows, changed, secs, windows }
            }
            WriterEvent::Failed(message) => {
                Event::Notice { level: Level::Error, text: format!("database write failed: {message}") }
            }
            // The engine marks a row when its work ends (`worker::settle_row`).
            WriterEvent::Marked(row) => Event::RowState { row, state: RowState::Done },
        }
    }
}
