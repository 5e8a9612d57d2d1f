//! One series' bars read through SQLite's C API. rusqlite's checked getters make three
//! calls into SQLite a column (the count, the type, the value) and were a tenth of an
//! export's CPU by `perf`; here the columns the schema declares `NOT NULL` (`ts` and the
//! four prices) are one call each, and only the nullable ones ask their type. This is the
//! only unsafe code of the export: a statement prepared, bound, stepped and finalized on
//! the connection's own handle, on the thread that owns the connection.

use std::ffi::{CStr, c_int};
use std::ptr;

use rusqlite::{Connection, ffi};

use crate::bar::Bar;

/// A prepared statement, finalized on drop.
struct Stmt {
    db: *mut ffi::sqlite3,
    raw: *mut ffi::sqlite3_stmt,
}

impl Drop for Stmt {
    fn drop(&mut self) {
        // SAFETY: `raw` came from a successful prepare on `db` and is finalized once.
        unsafe { ffi::sqlite3_finalize(self.raw) };
    }
}

impl Stmt {
    fn prepare(conn: &Connection, sql: &str) -> rusqlite::Result<Stmt> {
        // SAFETY: the handle is the live connection's, used on this thread only while
        // `conn` is borrowed; SQLite copies nothing from `sql` past the call.
        unsafe {
            let db = conn.handle();
            let mut raw = ptr::null_mut();
            let rc = ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast(), sql.len() as c_int, &mut raw, ptr::null_mut());
            check(db, rc)?;
            Ok(Stmt { db, raw })
        }
    }

    fn bind_text(&self, i: c_int, text: &str) -> rusqlite::Result<()> {
        // SAFETY: SQLITE_TRANSIENT makes SQLite copy the text before the call returns.
        let rc = unsafe {
            ffi::sqlite3_bind_text(self.raw, i, text.as_ptr().cast(), text.len() as c_int, ffi::SQLITE_TRANSIENT())
        };
        check(self.db, rc)
    }

    fn bind_int(&self, i: c_int, v: i64) -> rusqlite::Result<()> {
        // SAFETY: a valid statement and a parameter index within its count.
        check(self.db, unsafe { ffi::sqlite3_bind_int64(self.raw, i, v) })
    }

    /// The next row, if any.
    fn step(&self) -> rusqlite::Result<bool> {
        // SAFETY: a valid statement, stepped on the connection's thread.
        match unsafe { ffi::sqlite3_step(self.raw) } {
            ffi::SQLITE_ROW => Ok(true),
            ffi::SQLITE_DONE => Ok(false),
            rc => check(self.db, rc).map(|_| false),
        }
    }

    /// The row's bar; columns in `ts, open, high, low, close, volume, vwap, trades` order.
    fn bar(&self) -> Bar {
        // SAFETY: called only after `step` returned a row of the query's eight columns.
        unsafe {
            let null = |i| ffi::sqlite3_column_type(self.raw, i) == ffi::SQLITE_NULL;
            let double = |i| ffi::sqlite3_column_double(self.raw, i);
            Bar {
                ts: ffi::sqlite3_column_int64(self.raw, 0),
                open: double(1),
                high: double(2),
                low: double(3),
                close: double(4),
                volume: (!null(5)).then(|| double(5)),
                vwap: (!null(6)).then(|| double(6)),
                trades: (!null(7)).then(|| ffi::sqlite3_column_int64(self.raw, 7)),
            }
        }
    }
}

fn check(db: *mut ffi::sqlite3, rc: c_int) -> rusqlite::Result<()> {
    if rc == ffi::SQLITE_OK {
        return Ok(());
    }
    // SAFETY: `db` is a live connection; its message is copied before any other call.
    let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }.to_string_lossy().into_owned();
    Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), Some(message)))
}

/// Runs `sql` (eight columns as [`Stmt::bar`] reads them; parameters ticker, timeframe,
/// first and end ts) and hands each bar to `each`; an error from `each` stops the scan.
pub fn bars<E: From<rusqlite::Error>>(
    conn: &Connection,
    sql: &str,
    (ticker, timeframe): (&str, &str),
    (from_ms, to_ms): (i64, i64),
    mut each: impl FnMut(Bar) -> Result<(), E>,
) -> Result<(), E> {
    let stmt = Stmt::prepare(conn, sql)?;
    stmt.bind_text(1, ticker)?;
    stmt.bind_text(2, timeframe)?;
    stmt.bind_int(3, from_ms)?;
    stmt.bind_int(4, to_ms)?;
    while stmt.step()? {
        each(stmt.bar())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_column_nulls_included_and_names_a_bad_query() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE b(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades);
             INSERT INTO b VALUES ('I:SPX', '1/day', 1, 1.5, 2.5, 0.5, 2.0, NULL, NULL, NULL),
                                  ('I:SPX', '1/day', 2, 2.0, 3.0, 1.0, 2.5, 10.0, 2.25, 7),
                                  ('AAPL', '1/day', 2, 9.0, 9.0, 9.0, 9.0, 1.0, 9.0, 1);",
        )
        .unwrap();
        let sql = "SELECT ts, open, high, low, close, volume, vwap, trades FROM b
                   WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts";
        let mut got = Vec::new();
        bars::<rusqlite::Error>(&conn, sql, ("I:SPX", "1/day"), (0, 10), |b| {
            got.push(b);
            Ok(())
        })
        .unwrap();
        let first = Bar { ts: 1, open: 1.5, high: 2.5, low: 0.5, close: 2.0, volume: None, vwap: None, trades: None };
        let second = Bar {
            ts: 2,
            open: 2.0,
            high: 3.0,
            low: 1.0,
            close: 2.5,
            volume: Some(10.0),
            vwap: Some(2.25),
            trades: Some(7),
        };
        assert_eq!(got, [first, second]);
        let err = bars::<rusqlite::Error>(&conn, "SELECT nope FROM b", ("", ""), (0, 0), |_| Ok(())).unwrap_err();
        assert!(err.to_string().contains("no such column: nope"), "{err}");
    }
}
