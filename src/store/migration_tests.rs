//! Schema 1 to 2, tested on files written exactly as the previous release wrote them.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{Connection, OpenFlags};

use super::writer::{BarGroup, Finished, WindowDone};
use super::*;
use crate::bar::Bar;
use crate::calendar::{self, Day};

pub(crate) type Row = (String, String, i64, f64, f64, f64, f64, Option<f64>, Option<f64>, Option<i64>);

pub(crate) fn dump(conn: &Connection, table: &str) -> Vec<Row> {
    let sql = format!(
        "SELECT ticker, timeframe, ts, open, high, low, close, volume, vwap, trades FROM {table} ORDER BY ticker, timeframe, ts"
    );
    conn.prepare(&sql)
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn strings(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        Ok((0..n)
            .map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap()))
            .collect::<Vec<_>>()
            .join("|"))
    })
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap()
}

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

/// Minute bars on the sessions of `from..=to`, a few per session, some without vwap or
/// trades, prices with four decimals.
fn minute_bars(seed: i64, from: Day, to: Day) -> Vec<Bar> {
    let mut out = Vec::new();
    for d in (from..=to).filter(|&d| calendar::is_session(d)) {
        for (i, (h, m)) in [(4, 0), (9, 30), (15, 59), (19, 59)].into_iter().enumerate() {
            let k = seed * 7 + d as i64 + i as i64;
            out.push(Bar {
                ts: calendar::ny_local_ms(d, h, m),
                open: 100.0 + (k % 997) as f64 / 10_000.0,
                high: 101.0 + (k % 13) as f64,
                low: 99.5,
                close: 100.25,
                volume: Some((1000 + k * 37 % 5000) as f64),
                vwap: if k % 5 == 0 { None } else { Some(100.1) },
                trades: if k % 7 == 0 { None } else { Some(k % 300) },
            });
        }
    }
    out
}

fn day_bars(from: Day, to: Day) -> Vec<Bar> {
    (from..=to)
        .filter(|&d| calendar::is_session(d))
        .map(|d| Bar {
            ts: calendar::ny_midnight_ms(d),
            open: 50.0 + d as f64 / 1000.0,
            high: 51.0,
            low: 49.0,
            close: 50.5,
            volume: Some(1e6 + d as f64),
            vwap: Some(50.2),
            trades: Some(1000),
        })
        .collect()
}

fn group(ticker: &str, timeframe: &str, bars: Vec<Bar>) -> BarGroup {
    BarGroup { ticker: ticker.into(), timeframe: timeframe.into(), bars }
}

fn finished(ticker: &str, timeframe: &str, from: Day, to: Day) -> Finished {
    Finished {
        ticker: Arc::from(ticker),
        timeframe: Arc::from(timeframe),
        done: WindowDone { row: 0, range: Range { from, to }, bars: 1, requests: 1, last: true },
        record_to: Some(to),
    }
}

/// A schema-1 file as the previous release left it after two runs: pages, re-sent pages,
/// progress rows, an empty row, runs.
pub(crate) fn write_v1(path: &Path, adjusted: bool) {
    let conn = Connection::open(path).unwrap();
    v1::create(&conn, adjusted).unwrap();
    let (a, b) = (day("2024-02-26"), day("2024-03-15"));
    conn.execute("INSERT INTO runs(started_at, status, source, fixes, concurrency, quota_per_min) VALUES (1, 'done', 'simulator', '1+2+3', 3, 150)", []).unwrap();
    v1::write_page(&conn, 1, &[group("AAPL", "1/minute", minute_bars(1, a, b))], &[finished("AAPL", "1/minute", a, b)])
        .unwrap();
    v1::write_page(
        &conn,
        1,
        &[group("AAPL", "1/day", day_bars(a, b)), group("MSFT", "1/day", day_bars(a, b))],
        &[finished("AAPL", "1/day", a, b), finished("MSFT", "1/day", a, b), finished("NOSUCH", "1/day", a, b)],
    )
    .unwrap();
    // A second run re-sends some bars with one changed value.
    let mut again = minute_bars(1, a, a + 3);
    again[0].close = 123.4567;
    v1::write_page(&conn, 2, &[group("AAPL", "1/minute", again)], &[]).unwrap();
    v1::write_page(&conn, 2, &[group("MSFT", "1/minute", minute_bars(2, a, a + 8))], &[]).unwrap();
}

fn open_raw_or_adjusted(path: &Path) -> Store {
    Store::open_with(path, OpenOptions { adjusted: false, require_kind: false, create_dir: false }).unwrap()
}

#[test]
fn a_v1_database_migrates_in_place_keeping_every_row() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v1.db");
    write_v1(&path, true);
    let before = Connection::open(&path).unwrap();
    let bars = dump(&before, "bars");
    let progress = strings(&before, "SELECT * FROM progress ORDER BY ticker, timeframe, from_date");
    let runs = strings(&before, "SELECT * FROM runs ORDER BY id");
    let want_days: std::collections::BTreeSet<(String, String, Day)> =
        bars.iter().map(|r| (r.0.clone(), r.1.clone(), calendar::ny_day_of_ms(r.2))).collect();
    drop(before);
    assert_eq!(bars.len(), 15 * 4 + 2 * 15 + 7 * 4);

    let store = open_raw_or_adjusted(&path);
    let m = store.migrated().expect("migrated");
    assert_eq!((m.from_version, m.bars as usize, m.series), (1, bars.len(), 5), "4 rows with bars and NOSUCH");
    let c = &store.conn;
    assert_eq!(dump(c, "bars"), bars, "every row, every value, through the view");
    assert_eq!(strings(c, "SELECT * FROM progress ORDER BY ticker, timeframe, from_date"), progress);
    assert_eq!(strings(c, "SELECT * FROM runs ORDER BY id"), runs);
    let days: std::collections::BTreeSet<(String, String, Day)> = c
        .prepare("SELECT s.ticker, s.timeframe, d.day FROM series_days d JOIN series s ON s.id = d.series_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(days, want_days);
    assert_eq!(
        strings(c, "SELECT ticker, timeframe, last_run FROM series ORDER BY ticker, timeframe"),
        [
            "Text(\"AAPL\")|Text(\"1/day\")|Integer(1)",
            "Text(\"AAPL\")|Text(\"1/minute\")|Integer(1)",
            "Text(\"MSFT\")|Text(\"1/day\")|Integer(1)",
            "Text(\"MSFT\")|Text(\"1/minute\")|Null",
            "Text(\"NOSUCH\")|Text(\"1/day\")|Integer(1)",
        ]
    );
    // An adjusted file stays adjusted, its view is the bars themselves, and it says so once.
    assert!(store.adjusted());
    assert_eq!(dump(c, "bars_adjusted"), bars);
    assert!(store.adjusted_notice().is_some());
    let schema_version: String =
        c.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0)).unwrap();
    assert_eq!(schema_version, "3");
    let mut store = store;
    store.acknowledge_adjusted_notice().unwrap();
    drop(store);
    let again = open_raw_or_adjusted(&path);
    assert!(again.migrated().is_none() && again.adjusted_notice().is_none() && again.adjusted());
    assert_eq!(dump(&again.conn, "bars"), bars);
}

#[test]
fn a_migrated_database_keeps_taking_pages_as_a_new_one_does() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old.db"), tmp.path().join("new.db"));
    write_v1(&old, false);
    let pages = || {
        let (a, b) = (day("2024-03-18"), day("2024-03-22"));
        vec![group("AAPL", "1/minute", minute_bars(1, a - 21, b)), group("TSLA", "1/minute", minute_bars(3, a, b))]
    };
    let migrated = Store::open(&old, false, false).unwrap();
    let fresh = Store::open(&new, false, false).unwrap();
    // The same bars into both: rows the v1 file holds are not rewritten.
    let w_old = writer::write_page(&migrated.conn, 3, &pages(), &[]).unwrap();
    let w_new = writer::write_page(&fresh.conn, 3, &pages(), &[]).unwrap();
    assert_eq!(w_old.rows, w_new.rows);
    assert_eq!(w_new.changed, w_new.rows);
    // 15 sessions x 4 bars were stored identical by v1; one of them had a changed close.
    assert_eq!(w_old.changed, w_new.changed - 60 + 1);
    let minute = |c: &Connection| -> Vec<Row> {
        dump(c, "bars").into_iter().filter(|r| r.1 == "1/minute" && r.0 != "MSFT").collect()
    };
    assert_eq!(minute(&migrated.conn), minute(&fresh.conn));
}

#[test]
fn a_failed_migration_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v1.db");
    write_v1(&path, false);
    let conn = Connection::open(&path).unwrap();
    let bars = dump(&conn, "bars");
    // No room to copy the bars: the file may not grow.
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    conn.pragma_update(None, "max_page_count", pages).unwrap();
    let e = schema::migrate_v1(&conn, false).unwrap_err();
    assert!(explain(&e).contains("disk is full"), "{}", explain(&e));
    drop(conn);
    let conn = Connection::open(&path).unwrap();
    assert_eq!(schema::held(&conn).unwrap().unwrap().version, 1);
    assert_eq!(dump(&conn, "bars"), bars);
}

#[test]
fn reading_never_migrates_and_a_newer_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v1.db");
    write_v1(&path, false);
    let ro = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap();
    ro.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    drop(ro);
    let bytes = std::fs::read(&path).unwrap();
    // plan reads schema 1 as it is; status asks for one run first.
    let covered = read_covered(&path).unwrap();
    assert_eq!(covered[&("AAPL".to_string(), "1/minute".to_string())].len(), 1);
    let e = open_for_reading(&path).err().unwrap().to_string();
    assert!(e.contains("schema 1") && e.contains("barfill run"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing written by reads");

    Connection::open(&path).unwrap().execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'", []).unwrap();
    for e in [
        Store::open(&path, false, false).err().unwrap().to_string(),
        read_covered(&path).err().unwrap().to_string(),
        open_for_reading(&path).err().unwrap().to_string(),
    ] {
        assert!(e.contains("newer barfill (schema 4; this one knows 3)"), "{e}");
    }
    assert!(!lock_path(&path).exists(), "a refused file gets nothing beside it");
}

#[test]
fn the_kind_of_bars_comes_from_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("raw.db");
    let store = Store::open(&raw, false, false).unwrap();
    assert!(!store.adjusted() && store.adjusted_notice().is_none());
    drop(store);
    // Asking for adjusted bars of a raw file: refused when the kind is required...
    let e = Store::open(&raw, true, false).err().unwrap().to_string();
    assert!(e.contains("holds unadjusted bars"), "{e}");
    // ...opened as it is otherwise.
    let s = Store::open_with(&raw, OpenOptions { adjusted: true, require_kind: false, create_dir: false }).unwrap();
    assert!(!s.adjusted());
    drop(s);
    let adj = tmp.path().join("adj.db");
    drop(Store::open(&adj, true, false).unwrap());
    let s = open_raw_or_adjusted(&adj);
    assert!(s.adjusted() && s.adjusted_notice().is_some());
}

/// Schema 2's days trigger, as the previous release created it: New York days only.
const V2_DAYS_TRIGGER: &str = "
CREATE TRIGGER series_days_follow_deletes AFTER DELETE ON series_bars BEGIN
    DELETE FROM series_days
    WHERE series_id = OLD.series_id
      AND day IN ((OLD.ts - 18000000) / 86400000, (OLD.ts - 14400000) / 86400000)
      AND start_ms <= OLD.ts AND OLD.ts < end_ms
      AND NOT EXISTS (
          SELECT 1 FROM series_bars AS b
          WHERE b.series_id = OLD.series_id AND b.ts >= series_days.start_ms AND b.ts < series_days.end_ms
      );
END;
";

/// A schema-2 file as the previous release left it: written through this schema, then
/// given back schema 2's definitions (a volume that may not be NULL, the New York days
/// trigger) and version.
fn write_v2(path: &Path) {
    let store = Store::open(path, false, false).unwrap();
    let (a, b) = (day("2024-02-26"), day("2024-03-15"));
    writer::write_page(&store.conn, 1, &[group("AAPL", "1/minute", minute_bars(1, a, b))], &[]).unwrap();
    writer::write_page(&store.conn, 1, &[group("AAPL", "1/day", day_bars(a, b))], &[]).unwrap();
    drop(store);
    let conn = Connection::open(path).unwrap();
    let version: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).unwrap();
    conn.execute_batch(&format!(
        "BEGIN;
         PRAGMA writable_schema = ON;
         UPDATE sqlite_schema SET sql = replace(sql, 'volume NUMERIC,', 'volume NUMERIC NOT NULL,') WHERE name = 'series_bars';
         PRAGMA schema_version = {};
         PRAGMA writable_schema = OFF;
         DROP TRIGGER series_days_follow_deletes;
         {V2_DAYS_TRIGGER}
         UPDATE meta SET value = '2' WHERE key = 'schema_version';
         COMMIT;",
        version + 1
    ))
    .unwrap();
}

#[test]
fn a_v2_database_migrates_in_place_and_then_holds_index_and_crypto_bars() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("v2.db");
    write_v2(&path);
    let conn = Connection::open(&path).unwrap();
    let bars = dump(&conn, "bars");
    let null_volume = "INSERT INTO series_bars(series_id, ts, open, high, low, close) VALUES (1, 1, 1, 1, 1, 1)";
    assert!(conn.execute(null_volume, []).is_err(), "schema 2 refuses a bar without volume");
    drop(conn);
    // Reading a schema-2 file needs no migration; a run migrates it, keeping every bar.
    assert!(open_for_reading(&path).is_ok());
    let store = Store::open(&path, false, false).unwrap();
    let m = store.migrated().unwrap();
    assert_eq!((m.from_version, m.bars as usize), (2, bars.len()));
    assert_eq!(dump(&store.conn, "bars"), bars);
    let ok: String = store.conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    // An index bar has no volume; a crypto bar at 00:30 UTC is on that UTC day.
    let d = day("2024-03-18");
    let index = Bar { ts: calendar::ny_midnight_ms(d), volume: None, vwap: None, trades: None, ..day_bars(d, d)[0] };
    let crypto_ts = d as i64 * calendar::MS_PER_DAY + 1_800_000;
    let crypto = Bar { ts: crypto_ts, ..minute_bars(1, d, d)[0].clone() };
    writer::write_page(
        &store.conn,
        2,
        &[group("I:SPX", "1/day", vec![index]), group("X:BTCUSD", "1/minute", vec![crypto])],
        &[],
    )
    .unwrap();
    let spx: Vec<Row> = dump(&store.conn, "bars").into_iter().filter(|r| r.0 == "I:SPX").collect();
    assert_eq!((spx[0].7, spx[0].8, spx[0].9), (None, None, None));
    let days = |c: &Connection| -> Vec<i64> {
        c.prepare(
            "SELECT d.day FROM series_days AS d JOIN series AS s ON s.id = d.series_id WHERE s.ticker = 'X:BTCUSD'",
        )
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
    };
    assert_eq!(days(&store.conn), [d as i64], "the UTC day, not New York's day before");
    // Deleting it by hand leaves its UTC day, which the trigger now finds.
    store.conn.execute("DELETE FROM bars WHERE ticker = 'X:BTCUSD'", []).unwrap();
    assert!(days(&store.conn).is_empty());
}
