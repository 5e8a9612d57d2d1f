//! The writer thread: the only owner of the connection during a run. A page commits in
//! one transaction with its windows' progress rows, so a window is either wholly recorded
//! or fetched again. When pages queue up faster than they commit, the writer takes every
//! queued page into one transaction (up to `WriterOptions::batch_rows` bars): fewer
//! commits, the same guarantee per page.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use super::checkpoint::Checkpointer;
use super::pages::{PageRef, SeriesIds, Written, write_pages};
use super::splits::{NewSplit, SplitRecord, store_new_splits};
use super::tickers::{TickerRecord, upsert_tickers};
use super::{Store, explain, explain_on, now_ms};
use crate::bar::Bar;
use crate::calendar::Range;
use crate::priority;
use crate::report::Report;

/// Messages queued to the writer before a worker waits. Small: a full queue means the
/// database is behind, and the wait is what the report calls "writer held workers". The
/// writer drains the queue into its transaction, so up to `QUEUE_PAGES` pages wait in
/// the queue and up to `batch_rows` bars in the transaction being written. Two keep the
/// writer fed (a worker with a decoded page is ready behind them) while bounding memory:
/// at eight, a paid plan's run peaked at 160-170 MB against 116-124 MB at two, at the
/// same speed.
pub const QUEUE_PAGES: usize = 2;

/// Bars one transaction takes at most when pages queue up (four full 50,000-bar pages):
/// bounds the memory held and the time before a batch's windows are reported.
pub const BATCH_ROWS: usize = 200_000;

pub struct BarGroup {
    pub ticker: Arc<str>,
    pub timeframe: Arc<str>,
    pub bars: Vec<Bar>,
}

/// Days of a row a committed page finished, and what it took. `row` is the caller's tag
/// for it; `last` marks the page that ended a piece of work (the others are progress).
#[derive(Clone, Debug, PartialEq)]
pub struct WindowDone {
    pub row: usize,
    pub range: Range,
    pub bars: u64,
    pub requests: u32,
    pub last: bool,
}

/// What the writer tells its owner.
#[derive(Clone, Debug, PartialEq)]
pub enum WriterEvent {
    /// One transaction committed: bars written and bars actually inserted or changed
    /// (an identical re-sent bar is not), the pages it held, seconds in it, and the
    /// windows it finished.
    Committed { rows: u64, changed: u64, pages: usize, secs: f64, windows: Vec<WindowDone> },
    /// A page could not be written; the writer stops, and later sends fail.
    Failed(String),
    /// A [`WriteMsg::Mark`] reached: what was queued before it is committed.
    Marked(usize),
}

/// Window identity as the progress table keys it.
pub struct Finished {
    pub ticker: Arc<str>,
    pub timeframe: Arc<str>,
    pub done: WindowDone,
    /// The last day recorded as finished: the window's end, or less when it reaches
    /// sessions the API may still revise; `None` records nothing.
    pub record_to: Option<crate::calendar::Day>,
}

pub enum WriteMsg {
    Page {
        groups: Vec<BarGroup>,
        finished: Vec<Finished>,
    },
    /// Answered once everything queued before it is committed.
    Flush(oneshot::Sender<()>),
    /// Handed back as [`WriterEvent::Marked`] once everything queued before it is
    /// committed: the engine's way to say a row is done only when its bars are in.
    Mark(usize),
    /// The run's final figures, for the runs table.
    Finish(Box<Report>),
    /// Splits from the API, upserted; the answer lists those the database had not seen
    /// and whether it held bars before them (`store_new_splits`), or the database error
    /// in words.
    Splits {
        splits: Vec<SplitRecord>,
        reply: oneshot::Sender<Result<Vec<NewSplit>, String>>,
    },
    /// Bars left out of their pages as impossible, to record with why.
    Rejected(Vec<super::rejected::RejectedBar>),
    /// These tickers' splits were asked for completely on this day.
    SplitsChecked {
        tickers: Vec<String>,
        day: crate::calendar::Day,
    },
    /// Reference data for tickers, upserted; the answer is the rows changed.
    Tickers {
        tickers: Vec<TickerRecord>,
        reply: oneshot::Sender<Result<usize, String>>,
    },
}

/// How the writer works; `Default` is what a run uses.
#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Test knob: sleep this long per page before writing it, to play a slow disk.
    pub slow_per_page: Duration,
    /// Most bars one transaction takes when pages queue up; 0 writes each page alone.
    pub batch_rows: usize,
    /// Messages the queue holds before a sender waits.
    pub queue_pages: usize,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions { slow_per_page: Duration::ZERO, batch_rows: BATCH_ROWS, queue_pages: QUEUE_PAGES }
    }
}

pub struct Writer {
    handle: JoinHandle<Result<(), String>>,
}

impl Writer {
    /// Moves the store's connection to a new thread and returns the queue into it.
    /// `emit` reports each commit.
    pub fn spawn(
        store: Store,
        run_id: i64,
        emit: impl Fn(WriterEvent) + Send + 'static,
    ) -> std::io::Result<(Writer, mpsc::Sender<WriteMsg>)> {
        Writer::spawn_with(store, run_id, WriterOptions::default(), emit)
    }

    /// `spawn` with options (a slowed writer for tests, the batch size).
    pub fn spawn_with(
        store: Store,
        run_id: i64,
        options: WriterOptions,
        emit: impl Fn(WriterEvent) + Send + 'static,
    ) -> std::io::Result<(Writer, mpsc::Sender<WriteMsg>)> {
        let (tx, rx) = mpsc::channel(options.queue_pages.max(1));
        // The one stage no number of workers can share: it keeps the process's priority.
        let handle =
            priority::spawn_unlowered("barfill-writer", move || writer_loop(store, run_id, rx, options, emit))?;
        Ok((Writer { handle }, tx))
    }

    /// Waits until every sender is gone and everything queued is committed.
    pub fn finish(self) -> Result<(), String> {
        self.handle.join().unwrap_or_else(|_| Err("the writer thread panicked".into()))
    }
}

type Owned = (Vec<BarGroup>, Vec<Finished>);

fn writer_loop(
    mut store: Store,
    run_id: i64,
    mut rx: mpsc::Receiver<WriteMsg>,
    options: WriterOptions,
    emit: impl Fn(WriterEvent),
) -> Result<(), String> {
    // Without the background copier the writer checkpoints itself (SQLite's default).
    let checkpointer = Checkpointer::attach(&mut store.conn, &store.path)
        .inspect_err(|e| tracing::warn!(error = %e, "no background checkpoints; the writer copies the WAL itself"))
        .ok();
    let conn = &store.conn;
    let mut ids = SeriesIds::default();
    let mut next: Option<WriteMsg> = None;
    // Rejections a good bar has replaced are forgotten at the end, when any may exist.
    let mut rejected_any = super::rejected::by_series(conn).map(|r| !r.is_empty()).unwrap_or(false);
    loop {
        let msg = match next.take() {
            Some(m) => m,
            None => match rx.blocking_recv() {
                Some(m) => m,
                None => break,
            },
        };
        match msg {
            WriteMsg::Page { groups, finished } => {
                let mut batch = vec![(groups, finished)];
                next = gather(&mut rx, &mut batch, options.batch_rows);
                // On failure, returning drops the receiver: every worker's next send fails.
                store_batch(conn, run_id, &mut ids, &options, &batch, &emit)?;
                if let Some(c) = &checkpointer {
                    c.between_transactions(conn);
                }
            }
            WriteMsg::Flush(done) => {
                let _ = done.send(());
            }
            WriteMsg::Mark(tag) => emit(WriterEvent::Marked(tag)),
            WriteMsg::Finish(report) => {
                if let Err(e) = finish_run(conn, &report) {
                    tracing::error!(error = %explain(&e), "could not record the run");
                }
            }
            WriteMsg::Splits { splits, reply } => {
                let _ = reply.send(store_new_splits(conn, run_id, &splits).map_err(|e| explain_on(conn, &e)));
            }
            WriteMsg::Tickers { tickers, reply } => {
                let _ = reply.send(upsert_tickers(conn, &tickers).map_err(|e| explain_on(conn, &e)));
            }
            WriteMsg::Rejected(bars) => {
                rejected_any = true;
                if let Err(e) = super::rejected::record(conn, run_id, &bars) {
                    tracing::warn!(error = %explain_on(conn, &e), "could not record rejected bars");
                }
            }
            WriteMsg::SplitsChecked { tickers, day } => {
                if let Err(e) = super::splits::mark_checked(conn, &tickers, day) {
                    // Only costs a request next run: the splits themselves are stored.
                    tracing::warn!(error = %explain_on(conn, &e), "could not record that splits were asked for");
                }
            }
        }
    }
    if rejected_any && let Err(e) = super::rejected::clear_superseded(conn) {
        tracing::warn!(error = %explain_on(conn, &e), "could not clear rejections good bars replaced");
    }
    let _ = conn.execute_batch("PRAGMA optimize;");
    drop(checkpointer);
    Ok(())
}

/// Takes the pages already queued behind the first, up to `max_rows` bars; returns the
/// first other message met, which must wait until these pages commit.
fn gather(rx: &mut mpsc::Receiver<WriteMsg>, batch: &mut Vec<Owned>, max_rows: usize) -> Option<WriteMsg> {
    let rows = |p: &Owned| p.0.iter().map(|g| g.bars.len()).sum::<usize>();
    let mut held: usize = batch.iter().map(rows).sum();
    while held < max_rows {
        match rx.try_recv() {
            Ok(WriteMsg::Page { groups, finished }) => {
                let page = (groups, finished);
                held += rows(&page);
                batch.push(page);
            }
            Ok(other) => return Some(other),
            Err(_) => return None,
        }
    }
    None
}

/// Writes a batch in one transaction. If that fails, the pages are written one per
/// transaction, so every page before the failing one is kept, as when each page was
/// its own transaction. Returns the failure in words after reporting it.
fn store_batch(
    conn: &Connection,
    run_id: i64,
    ids: &mut SeriesIds,
    options: &WriterOptions,
    batch: &[Owned],
    emit: &impl Fn(WriterEvent),
) -> Result<(), String> {
    let pages: Vec<PageRef> = batch.iter().map(|(g, f)| PageRef { groups: g, finished: f }).collect();
    let started = Instant::now();
    if !options.slow_per_page.is_zero() {
        std::thread::sleep(options.slow_per_page * pages.len() as u32);
    }
    let first = write_pages(conn, run_id, ids, &pages);
    let retry = match first {
        Ok(w) => {
            tracing::debug!(rows = w.rows, pages = pages.len(), secs = started.elapsed().as_secs_f64(), "committed");
            emit(committed(w, &pages, started));
            return Ok(());
        }
        Err(e) if pages.len() > 1 => e,
        Err(e) => return Err(failed(conn, &e, emit)),
    };
    tracing::warn!(error = %explain_on(conn, &retry), pages = pages.len(), "a batch failed; writing its pages one at a time");
    for page in pages {
        let started = Instant::now();
        match write_pages(conn, run_id, ids, &[page]) {
            Ok(w) => emit(committed(w, &[page], started)),
            Err(e) => return Err(failed(conn, &e, emit)),
        }
    }
    Ok(())
}

fn committed(w: Written, pages: &[PageRef], started: Instant) -> WriterEvent {
    WriterEvent::Committed {
        rows: w.rows,
        changed: w.changed,
        pages: pages.len(),
        secs: started.elapsed().as_secs_f64(),
        windows: pages.iter().flat_map(|p| p.finished.iter().map(|f| f.done.clone())).collect(),
    }
}

fn failed(conn: &Connection, e: &rusqlite::Error, emit: &impl Fn(WriterEvent)) -> String {
    let message = explain_on(conn, e);
    tracing::error!(%message, "page not written; the run stops");
    emit(WriterEvent::Failed(message.clone()));
    message
}

/// One page in one transaction; returns the bars written and changed. For callers
/// without a writer thread (tests, benchmarks, tools).
pub fn write_page(
    conn: &Connection,
    run_id: i64,
    groups: &[BarGroup],
    finished: &[Finished],
) -> rusqlite::Result<Written> {
    write_pages(conn, run_id, &mut SeriesIds::default(), &[PageRef { groups, finished }])
}

fn finish_run(conn: &Connection, r: &Report) -> rusqlite::Result<()> {
    let json = serde_json::to_string(r).unwrap_or_default();
    conn.execute(
        "UPDATE runs SET finished_at = ?2, status = ?3, fixes = ?4, concurrency = ?5, wall_s = ?6, api_s = ?7,
            db_s = ?8, backoff_s = ?9, limiter_s = ?10, requests = ?11, rate_limit_hits = ?12, retries = ?13,
            failed_jobs = ?14, bars = ?15, success_rate = ?16, note = ?17, report = ?18
         WHERE id = ?1",
        params![
            r.run_id,
            now_ms(),
            r.status.as_str(),
            r.fixes.label(),
            r.concurrency,
            r.wall_s,
            r.api_s,
            r.db_s,
            r.backoff_s,
            r.limiter_s,
            r.requests as i64,
            r.rate_limit_hits as i64,
            r.retries as i64,
            r.failed_jobs as i64,
            r.bars as i64,
            r.success_rate,
            r.note,
            json
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar;

    fn bar(ts: i64, close: f64) -> Bar {
        Bar { ts, open: 1.0, high: 2.0, low: 0.5, close, volume: Some(10.5), vwap: Some(1.2), trades: None }
    }

    fn group(bars: Vec<Bar>) -> Vec<BarGroup> {
        vec![BarGroup { ticker: "AAPL".into(), timeframe: "1/day".into(), bars }]
    }

    fn finished(from: &str, to: &str) -> Finished {
        Finished {
            ticker: "AAPL".into(),
            timeframe: "1/day".into(),
            done: WindowDone {
                row: 0,
                range: Range { from: calendar::parse_date(from).unwrap(), to: calendar::parse_date(to).unwrap() },
                bars: 2,
                requests: 1,
                last: true,
            },
            record_to: Some(calendar::parse_date(to).unwrap()),
        }
    }

    fn count(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM bars", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn upsert_never_duplicates_and_takes_new_values() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("b.db"), true, false).unwrap();
        let c = &store.conn;
        assert_eq!(
            write_page(c, 1, &group(vec![bar(1, 1.0), bar(2, 1.0)]), &[]).unwrap(),
            Written { rows: 2, changed: 2 }
        );
        assert_eq!(
            write_page(c, 1, &group(vec![bar(2, 1.5), bar(3, 1.0)]), &[]).unwrap(),
            Written { rows: 2, changed: 2 }
        );
        // Sent again unchanged: written, not rewritten.
        assert_eq!(
            write_page(c, 1, &group(vec![bar(2, 1.5), bar(3, 1.0)]), &[]).unwrap(),
            Written { rows: 2, changed: 0 }
        );
        assert_eq!(count(c), 3);
        let close: f64 = c.query_row("SELECT close FROM bars WHERE ts = 2", [], |r| r.get(0)).unwrap();
        assert_eq!(close, 1.5);
        let trades: Option<i64> = c.query_row("SELECT trades FROM bars WHERE ts = 1", [], |r| r.get(0)).unwrap();
        assert_eq!(trades, None);
    }

    #[test]
    fn finished_windows_are_what_resume_skips() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.db");
        {
            let store = Store::open(&path, true, false).unwrap();
            write_page(&store.conn, 1, &group(vec![bar(1, 1.0)]), &[]).unwrap();
            write_page(&store.conn, 1, &group(vec![bar(2, 1.0)]), &[finished("2024-01-01", "2024-01-31")]).unwrap();
        }
        let store = Store::open(&path, true, false).unwrap();
        let covered = store.covered().unwrap();
        let ranges = &covered[&("AAPL".to_string(), "1/day".to_string())];
        assert_eq!(ranges.len(), 1);
        assert_eq!(calendar::format_day(ranges[0].from), "2024-01-01");
    }

    #[test]
    fn a_full_disk_loses_nothing_already_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("b.db"), true, false).unwrap();
        let c = &store.conn;
        write_page(c, 1, &group((0..100).map(|i| bar(i, 1.0)).collect()), &[finished("2024-01-01", "2024-01-05")])
            .unwrap();
        // Cap the file at its current size: the next big page cannot fit, as on a full disk.
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        c.pragma_update(None, "max_page_count", pages).unwrap();
        let big: Vec<Bar> = (1000..60_000).map(|i| bar(i, 1.0)).collect();
        let err = write_page(c, 1, &group(big), &[finished("2024-01-08", "2024-01-12")]).unwrap_err();
        assert!(explain(&err).contains("disk is full"), "{}", explain(&err));
        assert_eq!(count(c), 100);
        let windows: i64 = c.query_row("SELECT count(*) FROM progress", [], |r| r.get(0)).unwrap();
        assert_eq!(windows, 1);
    }
}
