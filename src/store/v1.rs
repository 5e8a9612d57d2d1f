//! Schema 1, as the release before v2 wrote it: the source of the in-place migration, and
//! a way for tests to build a database exactly as that release did (its schema and its
//! writer's statements, verbatim), so the migration is tested on real v1 files.

use rusqlite::{Connection, params};

use super::writer::{BarGroup, Finished};
use super::{APP_ID, now_ms};
use crate::calendar;

/// The v1 schema, verbatim.
pub const SCHEMA: &str = "
CREATE TABLE meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE bars(
    ticker TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    ts INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    vwap REAL,
    trades INTEGER,
    PRIMARY KEY (ticker, timeframe, ts)
) WITHOUT ROWID;
CREATE TABLE progress(
    ticker TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    from_date TEXT NOT NULL,
    to_date TEXT NOT NULL,
    bars INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    run_id INTEGER,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (ticker, timeframe, from_date, to_date)
) WITHOUT ROWID;
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    fixes TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    quota_per_min INTEGER NOT NULL,
    wall_s REAL,
    api_s REAL,
    db_s REAL,
    backoff_s REAL,
    limiter_s REAL,
    requests INTEGER,
    rate_limit_hits INTEGER,
    retries INTEGER,
    failed_jobs INTEGER,
    bars INTEGER,
    success_rate REAL,
    note TEXT,
    report TEXT
);
";

/// The v1 writer's upsert, verbatim.
pub const UPSERT: &str = "INSERT INTO bars(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
ON CONFLICT(ticker, timeframe, ts) DO UPDATE SET
    open = excluded.open, high = excluded.high, low = excluded.low, close = excluded.close,
    volume = excluded.volume, vwap = excluded.vwap, trades = excluded.trades
WHERE bars.open IS NOT excluded.open OR bars.high IS NOT excluded.high OR bars.low IS NOT excluded.low
    OR bars.close IS NOT excluded.close OR bars.volume IS NOT excluded.volume
    OR bars.vwap IS NOT excluded.vwap OR bars.trades IS NOT excluded.trades";

/// Creates a v1 database on an empty connection, as `Store::open` of that release did.
pub fn create(conn: &Connection, adjusted: bool) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(SCHEMA)?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('app', ?1)", [APP_ID])?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?1)", ["1"])?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('adjusted', ?1)", [adjusted.to_string()])?;
    tx.commit()
}

/// One page as the v1 writer stored it: the upsert per bar, the progress rows, one
/// transaction. Returns the rows written.
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
