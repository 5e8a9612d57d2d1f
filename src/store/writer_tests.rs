//! The writer thread: queued pages share a transaction, a failure keeps every page before
//! it, the test knob slows it, and reference data goes through it.

use std::sync::Mutex;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::splits::SplitRecord;
use super::tickers::TickerRecord;
use super::writer::*;
use super::{Store, calendar};
use crate::bar::Bar;
use crate::calendar::Range;

fn bars(page: usize, len: usize, open: f64) -> Vec<Bar> {
    let start = calendar::ny_local_ms(calendar::parse_date("2024-01-02").unwrap() + page as i32, 9, 30);
    (0..len as i64)
        .map(|i| Bar {
            ts: start + i * 60_000,
            open,
            high: 2.0,
            low: 0.5,
            close: 1.5,
            volume: Some(100.0),
            vwap: None,
            trades: Some(3),
        })
        .collect()
}

fn page_msg(page: usize, open: f64) -> WriteMsg {
    let day = calendar::parse_date("2024-01-02").unwrap() + page as i32;
    WriteMsg::Page {
        groups: vec![BarGroup { ticker: "AAPL".into(), timeframe: "1/minute".into(), bars: bars(page, 10, open) }],
        finished: vec![Finished {
            ticker: "AAPL".into(),
            timeframe: "1/minute".into(),
            done: WindowDone { row: page, range: Range { from: day, to: day }, bars: 10, requests: 1, last: true },
            record_to: Some(day),
        }],
    }
}

/// A writer whose first event blocks (after saying so on `entered`) until `release` is
/// dropped or sent to, so the test can queue pages behind it; events arrive on `events`.
struct Held {
    tx: mpsc::Sender<WriteMsg>,
    writer: Writer,
    events: std_mpsc::Receiver<WriterEvent>,
    entered: std_mpsc::Receiver<()>,
    release: std_mpsc::Sender<()>,
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
}

/// A writer held in its first report; its queue takes the eight messages these tests
/// line up behind it.
fn held_writer(options: WriterOptions) -> Held {
    let options = WriterOptions { queue_pages: 8, ..options };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.db");
    let store = Store::open(&path, false, false).unwrap();
    let (ev_tx, events) = std_mpsc::channel();
    let (release, gate) = std_mpsc::channel::<()>();
    let (enter, entered) = std_mpsc::channel::<()>();
    let gate = Mutex::new(Some((gate, enter)));
    let (writer, tx) = Writer::spawn_with(store, 1, options, move |e| {
        if let Some((g, enter)) = gate.lock().unwrap().take() {
            let _ = enter.send(());
            let _ = g.recv();
        }
        ev_tx.send(e).unwrap();
    })
    .unwrap();
    Held { tx, writer, events, entered, release, _dir: dir, path }
}

fn progress_days(path: &std::path::Path) -> Vec<String> {
    let c = Connection::open(path).unwrap();
    c.prepare("SELECT from_date FROM progress ORDER BY from_date")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn bar_count(path: &std::path::Path) -> i64 {
    Connection::open(path).unwrap().query_row("SELECT count(*) FROM bars", [], |r| r.get(0)).unwrap()
}

#[test]
fn queued_pages_share_one_transaction_each_with_its_progress() {
    let h = held_writer(WriterOptions::default());
    h.tx.blocking_send(page_msg(0, 1.0)).unwrap();
    h.entered.recv().unwrap();
    // While the writer waits in its first report, five more pages, a mark and a flush
    // queue up.
    for p in 1..=5 {
        h.tx.blocking_send(page_msg(p, 1.0)).unwrap();
    }
    h.tx.blocking_send(WriteMsg::Mark(7)).unwrap();
    let (done_tx, done_rx) = oneshot::channel();
    h.tx.blocking_send(WriteMsg::Flush(done_tx)).unwrap();
    h.release.send(()).unwrap();
    done_rx.blocking_recv().unwrap();
    let events: Vec<WriterEvent> = h.events.try_iter().collect();
    let shape: Vec<(u64, u64, usize, usize)> = events
        .iter()
        .map(|e| match e {
            WriterEvent::Committed { rows, changed, pages, windows, .. } => (*rows, *changed, *pages, windows.len()),
            WriterEvent::Failed(m) => panic!("{m}"),
            // The mark comes back after the pages queued before it are committed.
            WriterEvent::Marked(tag) => (0, 0, 0, *tag),
        })
        .collect();
    assert_eq!(shape, vec![(10, 10, 1, 1), (50, 50, 5, 5), (0, 0, 0, 7)], "the five queued pages in one transaction");
    assert_eq!(bar_count(&h.path), 60);
    assert_eq!(progress_days(&h.path).len(), 6);
    drop(h.tx);
    h.writer.finish().unwrap();
}

#[test]
fn a_failing_page_keeps_every_page_before_it() {
    let h = held_writer(WriterOptions::default());
    h.tx.blocking_send(page_msg(0, 1.0)).unwrap();
    h.tx.blocking_send(page_msg(1, 1.0)).unwrap();
    // SQLite stores NaN as NULL, which `open NOT NULL` refuses: this page cannot be written.
    h.tx.blocking_send(page_msg(2, f64::NAN)).unwrap();
    h.tx.blocking_send(page_msg(3, 1.0)).unwrap();
    h.release.send(()).unwrap();
    let err = h.writer.finish().unwrap_err();
    assert!(err.contains("NOT NULL"), "{err}");
    let events: Vec<WriterEvent> = h.events.try_iter().collect();
    let committed: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            WriterEvent::Committed { windows, .. } => Some(windows.iter().map(|w| w.row)),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(committed, vec![0, 1], "pages 0 and 1 are kept, whichever batches they were taken in");
    assert!(matches!(events.last(), Some(WriterEvent::Failed(_))));
    assert_eq!(bar_count(&h.path), 20);
    assert_eq!(progress_days(&h.path), vec!["2024-01-02", "2024-01-03"]);
    assert!(h.tx.blocking_send(page_msg(4, 1.0)).is_err(), "later sends fail");
}

#[test]
fn the_slow_knob_delays_each_page_and_loses_nothing() {
    let slow = Duration::from_millis(30);
    let h = held_writer(WriterOptions { slow_per_page: slow, batch_rows: 0, ..WriterOptions::default() });
    drop(h.release);
    for p in 0..3 {
        h.tx.blocking_send(page_msg(p, 1.0)).unwrap();
    }
    drop(h.tx);
    h.writer.finish().unwrap();
    let events: Vec<WriterEvent> = h.events.try_iter().collect();
    assert_eq!(events.len(), 3, "batch_rows 0: one page per transaction");
    for e in events {
        let WriterEvent::Committed { secs, pages, .. } = e else { panic!("{e:?}") };
        assert_eq!(pages, 1);
        assert!(secs >= slow.as_secs_f64(), "{secs}");
    }
    assert_eq!(bar_count(&h.path), 30);
}

#[test]
fn splits_and_tickers_go_through_the_writer() {
    let h = held_writer(WriterOptions::default());
    drop(h.release);
    let split = SplitRecord {
        id: "s".into(),
        ticker: "AAPL".into(),
        execution_date: calendar::parse_date("2024-01-04").unwrap(),
        split_from: 1.0,
        split_to: 2.0,
        adjustment_type: None,
    };
    h.tx.blocking_send(page_msg(0, 1.0)).unwrap();
    for expect_new in [1, 0] {
        let (reply, answer) = oneshot::channel();
        h.tx.blocking_send(WriteMsg::Splits { splits: vec![split.clone()], reply }).unwrap();
        assert_eq!(answer.blocking_recv().unwrap().unwrap().len(), expect_new);
    }
    let (reply, answer) = oneshot::channel();
    let t = TickerRecord { ticker: "AAPL".into(), active: Some(true), ..Default::default() };
    h.tx.blocking_send(WriteMsg::Tickers { tickers: vec![t], reply }).unwrap();
    assert_eq!(answer.blocking_recv().unwrap().unwrap(), 1);
    drop(h.tx);
    h.writer.finish().unwrap();
    let c = Connection::open(&h.path).unwrap();
    let halves: f64 = c.query_row("SELECT open FROM bars_adjusted LIMIT 1", [], |r| r.get(0)).unwrap();
    assert_eq!(halves, 0.5, "a bar before the 2-for-1 split reads halved");
}
