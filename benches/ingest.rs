//! SQLite ingest: barfill's writer beside a bare rusqlite loop inserting the same rows
//! into the same schema, in the same run, so the writer's overhead is a ratio.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use barfill::bar::Bar;
use barfill::calendar::Range;
use barfill::engine::events::WindowDone;
use barfill::store::Store;
use barfill::store::writer::{BarGroup, Finished, WriteMsg, Writer, write_page};
use divan::Bencher;
use divan::counter::ItemsCount;

const PAGE: usize = 50_000;

fn main() {
    divan::main();
}

/// Pages of distinct bars: each call gets timestamps no other page has.
fn page(next: &AtomicI64) -> Vec<Bar> {
    let start = next.fetch_add(PAGE as i64 * 60_000, Ordering::Relaxed);
    (0..PAGE as i64)
        .map(|i| Bar {
            ts: start + i * 60_000,
            open: 100.0 + i as f64 * 0.01,
            high: 101.0,
            low: 99.0,
            close: 100.5,
            volume: 12_345.0 + i as f64,
            vwap: Some(100.2),
            trades: if i % 100 == 0 { None } else { Some(42) },
        })
        .collect()
}

fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db"), true, false).unwrap();
    (dir, store)
}

fn finished(i: i64) -> Finished {
    Finished {
        ticker: "AAPL".into(),
        timeframe: "1/minute".into(),
        done: WindowDone {
            row: 0,
            range: Range { from: i as i32, to: i as i32 },
            bars: PAGE as u64,
            requests: 1,
            last: true,
        },
        record_to: Some(i as i32),
    }
}

/// The floor: one prepared plain INSERT per row, one transaction per page.
#[divan::bench(sample_count = 20)]
fn bare_rusqlite_insert(bencher: Bencher) {
    let (_dir, store) = fresh_store();
    let next = AtomicI64::new(0);
    bencher.counter(ItemsCount::new(PAGE)).with_inputs(|| page(&next)).bench_local_values(|bars| {
        let tx = store.conn.unchecked_transaction().unwrap();
        {
            let mut stmt = tx
                .prepare_cached(
                    "INSERT INTO bars(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .unwrap();
            for b in &bars {
                stmt.execute(rusqlite::params!["AAPL", "1/minute", b.ts, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades])
                    .unwrap();
            }
        }
        tx.commit().unwrap();
    });
}

/// barfill's page write: upsert plus the window's progress row, one transaction.
#[divan::bench(sample_count = 20)]
fn barfill_write_page(bencher: Bencher) {
    let (_dir, store) = fresh_store();
    let next = AtomicI64::new(0);
    let n = AtomicI64::new(0);
    bencher.counter(ItemsCount::new(PAGE)).with_inputs(|| page(&next)).bench_local_values(|bars| {
        let groups = [BarGroup { ticker: "AAPL".into(), timeframe: "1/minute".into(), bars }];
        write_page(&store.conn, 1, &groups, &[finished(n.fetch_add(1, Ordering::Relaxed))]).unwrap();
    });
}

/// The whole path a worker uses: the bounded queue into the writer thread, waiting
/// until the page is committed.
#[divan::bench(sample_count = 20)]
fn barfill_writer_thread(bencher: Bencher) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (_dir, store) = fresh_store();
    let (writer, tx) = Writer::spawn(store, 1, |_| {}).unwrap();
    let next = AtomicI64::new(0);
    let n = AtomicI64::new(0);
    let ticker: Arc<str> = "AAPL".into();
    bencher.counter(ItemsCount::new(PAGE)).with_inputs(|| page(&next)).bench_local_values(|bars| {
        runtime.block_on(async {
            let groups = vec![BarGroup { ticker: ticker.clone(), timeframe: "1/minute".into(), bars }];
            let finished = vec![finished(n.fetch_add(1, Ordering::Relaxed))];
            tx.send(WriteMsg::Page { groups, finished }).await.unwrap();
            let (done_tx, done_rx) = tokio::sync::oneshot::channel();
            tx.send(WriteMsg::Flush(done_tx)).await.unwrap();
            done_rx.await.unwrap();
        })
    });
    drop(tx);
    writer.finish().unwrap();
}
