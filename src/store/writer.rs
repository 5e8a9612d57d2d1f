//! The writer thread: the only owner of the connection during a run. Each page is one
//! transaction; a window's progress row commits with its last page, so a window is either
//! wholly recorded or fetched again.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use rusqlite::{Connection, params};
use tokio::sync::{mpsc, oneshot};

use super::{Store, explain, explain_on, now_ms};
use crate::bar::Bar;
use crate::calendar::{self, Range};
use crate::report::Report;

/// Pages in flight to the writer before a worker waits. Small: SQLite is ~1M rows/s,
/// the API a few pages a second, so a full queue means the disk is in trouble.
pub const QUEUE_PAGES: usize = 8;

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
    /// A page committed: rows written, seconds in the transaction, windows it finished.
    Committed { rows: u64, secs: f64, windows: Vec<WindowDone> },
    /// A page could not be written; the writer stops, and later sends fail.
    Failed(String),
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
    /// The run's final figures, for the runs table.
    Finish(Box<Report>),
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
        let (tx, rx) = mpsc::channel(QUEUE_PAGES);
        let handle = std::thread::Builder::new()
            .name("barfill-writer".into())
            .spawn(move || writer_loop(store, run_id, rx, emit))?;
        Ok((Writer { handle }, tx))
    }

    /// Waits until every sender is gone and everything queued is committed.
    pub fn finish(self) -> Result<(), String> {
        self.handle.join().unwrap_or_else(|_| Err("the writer thread panicked".into()))
    }
}

fn writer_loop(
    store: Store,
    run_id: i64,
    mut rx: mpsc::Receiver<WriteMsg>,
    emit: impl Fn(WriterEvent),
) -> Result<(), String> {
    let conn = &store.conn;
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            WriteMsg::Page { groups, finished } => {
                let started = Instant::now();
                match write_page(conn, run_id, &groups, &finished) {
                    Ok(rows) => emit(WriterEvent::Committed {
                        rows,
                        secs: started.elapsed().as_secs_f64(),
                        windows: finished.into_iter().map(|f| f.done).collect(),
                    }),
                    Err(e) => {
                        let message = explain_on(conn, &e);
                        tracing::error!(%message, "page not written; the run stops");
                        emit(WriterEvent::Failed(message.clone()));
                        // Dropping the receiver makes every worker's next send fail.
                        return Err(message);
                    }
                }
            }
            WriteMsg::Flush(done) => {
                let _ = done.send(());
            }
            WriteMsg::Finish(report) => {
                if let Err(e) = finish_run(conn, &report) {
                    tracing::error!(error = %explain(&e), "could not record the run");
                }
            }
        }
    }
    let _ = conn.execute_batch("PRAGMA optimize;");
    Ok(())
}

const UPSERT: &str = "INSERT INTO bars(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT(ticker, timeframe, ts) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, vwap = excluded.vwap, trades = excluded.trades
WHERE bars.open IS NOT excluded.open OR bars.high IS NOT excluded.high OR bars.low IS NOT excluded.low
    OR bars.close IS NOT excluded.close OR bars.volume IS NOT excluded.volume
    OR bars.vwap IS NOT excluded.vwap OR bars.trades IS NOT excluded.trades";

/// One page in one transaction; returns the rows written.
pub fn write_page(conn: &Connection, run_id: i64, groups: &[BarGroup], finished: &[Finished]) -> rusqlite::Result<u64> {
    let tx = conn.unchecked_transaction()?;
    let mut rows = 0u64;
    {
        let mut stmt = tx.prepare_cached(UPSERT)?;
        for g in groups {
            for b in &g.bars {
                stmt.execute(params![
                    &*g.ticker,
                    &*g.timeframe,
                    b.ts,
                    b.open,
                    b.high,
                    b.low,
                    b.close,
                    b.volume,
                    b.vwap,
                    b.trades
                ])?;
                rows += 1;
            }
        }
        let mut progress = tx.prepare_cached(
            "INSERT OR REPLACE INTO progress(ticker, timeframe, from_date, to_date, bars, requests, run_id, finished_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        let now = now_ms();
        for f in finished {
            let Some(to) = f.record_to else { continue };
            progress.execute(params![
                &*f.ticker,
                &*f.timeframe,
                calendar::format_day(f.done.range.from),
                calendar::format_day(to),
                f.done.bars as i64,
                f.done.requests,
                run_id,
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(rows)
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

    fn bar(ts: i64, close: f64) -> Bar {
        Bar { ts, open: 1.0, high: 2.0, low: 0.5, close, volume: 10.5, vwap: Some(1.2), trades: None }
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
        assert_eq!(write_page(c, 1, &group(vec![bar(1, 1.0), bar(2, 1.0)]), &[]).unwrap(), 2);
        assert_eq!(write_page(c, 1, &group(vec![bar(2, 1.5), bar(3, 1.0)]), &[]).unwrap(), 2);
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
