//! SQLite ingest on schema 2: a bare rusqlite loop, barfill's page write and the writer
//! thread put the same rows into the same file in one run, so the overheads are ratios;
//! schema 1's writer (`store::v1`, the previous release's) runs beside them for the
//! before and after. Then reads through `bars` and `bars_adjusted`. `main` first prints
//! the bytes per bar of a file written by each schema.
//!
//! Pages go to 8 series in turn, as concurrent workers' pages do.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use barfill::bar::Bar;
use barfill::calendar::{self, Range};
use barfill::engine::events::WindowDone;
use barfill::store::splits::{SplitRecord, store_splits};
use barfill::store::writer::{BarGroup, Finished, QUEUE_PAGES, WriteMsg, Writer, write_page};
use barfill::store::{Store, v1};
use divan::Bencher;
use divan::counter::ItemsCount;
use rusqlite::Connection;

const PAGE: usize = 50_000;
const SERIES: usize = 8;
const SMALL_PAGE: usize = 1_000;

fn main() {
    print_bytes_per_bar();
    divan::main();
}

/// Page `n` of the run: minute bars of series `n % SERIES`, following that series' last
/// page, with four-decimal prices and whole volumes as the API sends them.
fn page(n: usize, len: usize) -> (usize, Vec<Bar>) {
    let start = 1_600_000_000_000 + (n / SERIES * len) as i64 * 60_000;
    let bars = (0..len as i64)
        .map(|i| Bar {
            ts: start + i * 60_000,
            open: 100.0 + (i % 997) as f64 * 0.0001,
            high: 101.0 + (i % 13) as f64 * 0.01,
            low: 99.0 + (i % 7) as f64 * 0.01,
            close: 100.5 + (i % 11) as f64 * 0.01,
            volume: Some((1_000 + i * 37 % 50_000) as f64),
            vwap: Some(100.2 + (i % 5) as f64 * 0.001),
            trades: if i % 100 == 0 { None } else { Some(1 + i % 300) },
        })
        .collect();
    (n % SERIES, bars)
}

fn ticker(series: usize) -> Arc<str> {
    format!("T{series}").into()
}

fn fresh_store(dir: &Path) -> Store {
    Store::open(&dir.join("bench.db"), false, false).unwrap()
}

fn fresh_v1(dir: &Path) -> Connection {
    let conn = Connection::open(dir.join("v1.db")).unwrap();
    v1::create(&conn, false).unwrap();
    conn.pragma_update(None, "synchronous", "NORMAL").unwrap();
    conn
}

fn finished(series: usize, n: usize, bars: usize) -> Finished {
    let day = n as i32;
    Finished {
        ticker: ticker(series),
        timeframe: "1/minute".into(),
        done: WindowDone {
            row: series,
            range: Range { from: day, to: day },
            bars: bars as u64,
            requests: 1,
            last: true,
        },
        record_to: Some(day),
    }
}

fn groups(series: usize, bars: Vec<Bar>) -> Vec<BarGroup> {
    vec![BarGroup { ticker: ticker(series), timeframe: "1/minute".into(), bars }]
}

/// File bytes per bar (database after a checkpoint) for 1 M bars in 8 series.
fn print_bytes_per_bar() {
    let dir = tempfile::tempdir().unwrap();
    let pages = 20;
    let v1c = fresh_v1(dir.path());
    let v2 = fresh_store(dir.path());
    for n in 0..pages {
        let (s, bars) = page(n, PAGE);
        v1::write_page(&v1c, 1, &groups(s, bars.clone()), &[]).unwrap();
        write_page(&v2.conn, 1, &groups(s, bars), &[]).unwrap();
    }
    let per_bar = |conn: &Connection, file: &str| {
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        std::fs::metadata(dir.path().join(file)).unwrap().len() as f64 / (pages * PAGE) as f64
    };
    println!(
        "bytes per bar, 1 M minute bars in 8 series: schema 1 {:.1}, schema 2 {:.1}",
        per_bar(&v1c, "v1.db"),
        per_bar(&v2.conn, "bench.db")
    );
}

/// Schema 1's writer as the previous release ran it: text keys, one row per statement.
#[divan::bench(sample_count = 20)]
fn schema1_write_page(bencher: Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let conn = fresh_v1(dir.path());
    let next = AtomicUsize::new(0);
    bencher
        .counter(ItemsCount::new(PAGE))
        .with_inputs(|| page(next.fetch_add(1, Ordering::Relaxed), PAGE))
        .bench_local_values(|(s, bars)| {
            v1::write_page(&conn, 1, &groups(s, bars), &[]).unwrap();
        });
}

/// The floor: one prepared plain INSERT per row into schema 2's table, one transaction
/// per page.
#[divan::bench(sample_count = 20)]
fn bare_rusqlite_insert(bencher: Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(dir.path());
    for s in 0..SERIES {
        store.conn.execute("INSERT INTO series(ticker, timeframe) VALUES (?1, '1/minute')", [&*ticker(s)]).unwrap();
    }
    let next = AtomicUsize::new(0);
    bencher.counter(ItemsCount::new(PAGE)).with_inputs(|| page(next.fetch_add(1, Ordering::Relaxed), PAGE)).bench_local_values(
        |(s, bars)| {
            let tx = store.conn.unchecked_transaction().unwrap();
            {
                let mut stmt = tx
                    .prepare_cached(
                        "INSERT INTO series_bars(series_id, ts, open, high, low, close, volume, vwap, trades) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    )
                    .unwrap();
                let id = s as i64 + 1;
                for b in &bars {
                    stmt.execute(rusqlite::params![id, b.ts, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades])
                        .unwrap();
                }
            }
            tx.commit().unwrap();
        },
    );
}

/// barfill's page write: upsert, days, the window's progress row, one transaction.
#[divan::bench(sample_count = 20)]
fn barfill_write_page(bencher: Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(dir.path());
    let next = AtomicUsize::new(0);
    bencher
        .counter(ItemsCount::new(PAGE))
        .with_inputs(|| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            (n, page(n, PAGE))
        })
        .bench_local_values(|(n, (s, bars))| {
            write_page(&store.conn, 1, &groups(s, bars), &[finished(s, n, PAGE)]).unwrap();
        });
}

/// A refetch: every bar of the page is already stored, identical, and is not rewritten.
#[divan::bench(sample_count = 20)]
fn barfill_write_page_resent(bencher: Bencher) {
    let dir = tempfile::tempdir().unwrap();
    let store = fresh_store(dir.path());
    let next = AtomicUsize::new(0);
    bencher
        .counter(ItemsCount::new(PAGE))
        .with_inputs(|| {
            let (s, bars) = page(next.fetch_add(1, Ordering::Relaxed), PAGE);
            write_page(&store.conn, 1, &groups(s, bars.clone()), &[]).unwrap();
            (s, bars)
        })
        .bench_local_values(|(s, bars)| {
            let w = write_page(&store.conn, 2, &groups(s, bars), &[]).unwrap();
            assert_eq!(w.changed, 0);
        });
}

/// The whole path a worker uses: the bounded queue into the writer thread, waiting
/// until the page is committed.
#[divan::bench(sample_count = 20)]
fn barfill_writer_thread(bencher: Bencher) {
    writer_thread(bencher, PAGE, 1);
}

/// Pages of 1,000 bars (a thin ticker's windows, grouped daily), each awaited: one
/// transaction per page.
#[divan::bench(sample_count = 20)]
fn barfill_writer_small_pages_one_by_one(bencher: Bencher) {
    writer_thread(bencher, SMALL_PAGE, 1);
}

/// The same pages sent `QUEUE_PAGES` at a time, as busy workers send them: the writer
/// takes the queued pages into one transaction.
#[divan::bench(sample_count = 20)]
fn barfill_writer_small_pages_queued(bencher: Bencher) {
    writer_thread(bencher, SMALL_PAGE, QUEUE_PAGES);
}

fn writer_thread(bencher: Bencher, len: usize, at_once: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (writer, tx) = Writer::spawn(fresh_store(dir.path()), 1, |_| {}).unwrap();
    let next = AtomicUsize::new(0);
    bencher
        .counter(ItemsCount::new(len * at_once))
        .with_inputs(|| {
            (0..at_once).map(|_| next.fetch_add(1, Ordering::Relaxed)).map(|n| (n, page(n, len))).collect::<Vec<_>>()
        })
        .bench_local_values(|pages| {
            runtime.block_on(async {
                for (n, (s, bars)) in pages {
                    let finished = vec![finished(s, n, len)];
                    tx.send(WriteMsg::Page { groups: groups(s, bars), finished }).await.unwrap();
                }
                let (done_tx, done_rx) = tokio::sync::oneshot::channel();
                tx.send(WriteMsg::Flush(done_tx)).await.unwrap();
                done_rx.await.unwrap();
            })
        });
    drop(tx);
    writer.finish().unwrap();
}

const READ_PAGES: usize = 48;

/// 2.4 M minute bars in 8 series, half of them split twice (a 4-for-1 and a 1-for-10).
fn read_db() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, std::path::PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = fresh_store(dir.path());
        for n in 0..READ_PAGES {
            let (s, bars) = page(n, PAGE);
            write_page(&store.conn, 1, &groups(s, bars), &[]).unwrap();
        }
        let day_of = |n: usize| calendar::ny_day_of_ms(page(n, 1).1[0].ts);
        let splits: Vec<SplitRecord> = (0..SERIES / 2)
            .flat_map(|s| {
                [(8 + s, 1.0, 4.0), (24 + s, 10.0, 1.0)].map(|(n, from, to)| SplitRecord {
                    id: format!("{s}-{n}"),
                    ticker: ticker(s).to_string(),
                    execution_date: day_of(n),
                    split_from: from,
                    split_to: to,
                    adjustment_type: None,
                })
            })
            .collect();
        store_splits(&store.conn, 1, &splits).unwrap();
        store.conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA optimize;").unwrap();
        let path = store.path.clone();
        (dir, path)
    })
    .1
}

fn scan(bencher: Bencher, sql: &str, rows: usize) {
    let conn = Connection::open_with_flags(read_db(), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    bencher.counter(ItemsCount::new(rows)).bench_local(|| {
        let (n, sum): (i64, f64) = conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
        assert!(sum > 0.0);
        assert_eq!(n as usize, rows);
    });
}

/// Every row through the `bars` view (a join with `series`).
#[divan::bench(sample_count = 5)]
fn read_all_bars(bencher: Bencher) {
    scan(bencher, "SELECT count(*), sum(open + close + volume) FROM bars", READ_PAGES * PAGE);
}

/// Every row through `bars_adjusted` (and a factor lookup per bar).
#[divan::bench(sample_count = 5)]
fn read_all_bars_adjusted(bencher: Bencher) {
    scan(bencher, "SELECT count(*), sum(open + close + volume) FROM bars_adjusted", READ_PAGES * PAGE);
}

/// One split ticker's bars, the way a user reads a series.
#[divan::bench(sample_count = 10)]
fn read_one_ticker_adjusted(bencher: Bencher) {
    scan(
        bencher,
        "SELECT count(*), sum(open + close + volume) FROM bars_adjusted WHERE ticker = 'T1' AND timeframe = '1/minute'",
        READ_PAGES / SERIES * PAGE,
    );
}
