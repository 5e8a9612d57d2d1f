//! Schema 3: bars keyed by an integer series id, the views users query, the tables the
//! writer keeps beside the bars (trading days held, splits and their factors, reference
//! tickers), and the in-place migrations from schemas 1 and 2. Schema 3 is schema 2 with
//! a volume that may be NULL (index bars carry none) and days that may be UTC days
//! (crypto and forex).

use rusqlite::{Connection, OptionalExtension, params};

use super::{APP_ID, days};

pub const SCHEMA_VERSION: i64 = 3;

/// Page size of new files. 4096 is SQLite's default; see README "Storage" for the
/// figures that chose it.
pub const PAGE_SIZE: u32 = 4096;

const META: &str = "
CREATE TABLE meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
";

/// Unchanged from schema 1: a window's progress row is keyed by the text a user reads.
/// There are few of them (one per window), so the text key costs nothing that matters.
const PROGRESS_AND_RUNS: &str = "
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

/// The tables new in schema 2 (as schema 3 has them). `volume` has NUMERIC affinity so
/// that a whole number of shares (nearly every bar's) is stored as an integer of 1 to 4
/// bytes instead of an 8-byte float; the views read it back as REAL, the type users
/// always got. It is NULL for bars that carry none (an index's).
/// No FOREIGN KEY clauses: the bundled SQLite enforces them
/// by default, which would add a lookup to every bar inserted, and the writer is the only
/// one that creates series.
const TABLES_V2: &str = "
CREATE TABLE series(
    id INTEGER PRIMARY KEY,
    ticker TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    last_run INTEGER,
    UNIQUE (ticker, timeframe)
);
CREATE TABLE series_bars(
    series_id INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume NUMERIC,
    vwap REAL,
    trades INTEGER,
    PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;
-- One row per trading day holding at least one bar of the series, as its class bounds
-- days (New York days; UTC days for crypto and forex). `day` counts days since
-- 1970-01-01; start_ms..end_ms is that day's midnight to the next, kept so the trigger
-- below can find the day of a deleted bar without a time zone table.
CREATE TABLE series_days(
    series_id INTEGER NOT NULL,
    day INTEGER NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    PRIMARY KEY (series_id, day)
) WITHOUT ROWID;
CREATE TABLE tickers(
    ticker TEXT PRIMARY KEY,
    name TEXT,
    type TEXT,
    market TEXT,
    active INTEGER,
    list_date TEXT,
    delisted_date TEXT,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE splits(
    id TEXT PRIMARY KEY,
    ticker TEXT NOT NULL,
    execution_date TEXT NOT NULL,
    execution_ms INTEGER NOT NULL,
    split_from REAL NOT NULL,
    split_to REAL NOT NULL,
    adjustment_type TEXT,
    first_seen_run INTEGER
) WITHOUT ROWID;
CREATE INDEX splits_by_ticker ON splits(ticker, execution_ms);
-- Derived from `splits` by the writer (store::splits): bars of `ticker` with
-- from_ms <= ts < until_ms are divided (prices) or multiplied (volume) by `factor`.
-- Only intervals whose factor is not 1 are stored. Dividends, when they come, add a
-- `price_factor` column here built the same way from a dividends table (they scale
-- prices, not volume), and bars_adjusted multiplies prices by it.
CREATE TABLE split_factors(
    ticker TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    from_ms INTEGER NOT NULL,
    factor REAL NOT NULL,
    PRIMARY KEY (ticker, until_ms)
) WITHOUT ROWID;
";

/// The view with exactly the columns schema 1's table had, and the triggers that keep
/// hand deletions working: `DELETE FROM bars WHERE ...` deletes the stored bars, and a
/// day left without bars leaves `series_days`, so coverage shows it as missing.
const VIEWS_V2: &str = "
CREATE VIEW bars(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades) AS
SELECT s.ticker, s.timeframe, b.ts, b.open, b.high, b.low, b.close, CAST(b.volume AS REAL), b.vwap, b.trades
FROM series_bars AS b JOIN series AS s ON s.id = b.series_id;
CREATE TRIGGER bars_delete INSTEAD OF DELETE ON bars BEGIN
    DELETE FROM series_bars
    WHERE series_id = (SELECT id FROM series WHERE ticker = OLD.ticker AND timeframe = OLD.timeframe)
      AND ts = OLD.ts;
END;
";

/// A bar's day is one of three candidates: New York is 5 or 4 hours behind UTC, and a
/// crypto or forex day is the UTC day; the stored bounds pick the right one.
const DAYS_TRIGGER: &str = "
CREATE TRIGGER series_days_follow_deletes AFTER DELETE ON series_bars BEGIN
    DELETE FROM series_days
    WHERE series_id = OLD.series_id
      AND day IN ((OLD.ts - 18000000) / 86400000, (OLD.ts - 14400000) / 86400000, OLD.ts / 86400000)
      AND start_ms <= OLD.ts AND OLD.ts < end_ms
      AND NOT EXISTS (
          SELECT 1 FROM series_bars AS b
          WHERE b.series_id = OLD.series_id AND b.ts >= series_days.start_ms AND b.ts < series_days.end_ms
      );
END;
";

/// Split-adjusted bars from raw ones, as the API's `adjusted=true` rounds them (and the
/// simulator, `sim::market::adjust`): prices divided by the factor and rounded half away
/// from zero to 4 decimals, volume multiplied by it and rounded to 6; a bar with no
/// factor is returned as stored. `round(x * 1e4) / 1e4` rather than `round(x, 4)`:
/// SQLite's two-argument round goes through text and rounds ties differently.
const ADJUSTED_VIEW_RAW: &str = "
CREATE VIEW bars_adjusted(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades) AS
SELECT s.ticker, s.timeframe, b.ts,
    CAST(CASE WHEN f.factor IS NULL THEN b.open ELSE round(b.open / f.factor * 10000.0) / 10000.0 END AS REAL),
    CAST(CASE WHEN f.factor IS NULL THEN b.high ELSE round(b.high / f.factor * 10000.0) / 10000.0 END AS REAL),
    CAST(CASE WHEN f.factor IS NULL THEN b.low ELSE round(b.low / f.factor * 10000.0) / 10000.0 END AS REAL),
    CAST(CASE WHEN f.factor IS NULL THEN b.close ELSE round(b.close / f.factor * 10000.0) / 10000.0 END AS REAL),
    CAST(CASE WHEN f.factor IS NULL THEN b.volume ELSE round(b.volume * f.factor * 1000000.0) / 1000000.0 END AS REAL),
    CAST(CASE WHEN f.factor IS NULL THEN b.vwap ELSE round(b.vwap / f.factor * 10000.0) / 10000.0 END AS REAL),
    b.trades
FROM series_bars AS b
JOIN series AS s ON s.id = b.series_id
LEFT JOIN split_factors AS f ON f.ticker = s.ticker AND f.until_ms > b.ts AND f.from_ms <= b.ts;
";

/// A database of adjusted bars (schema 1's default) already holds what the view computes.
const ADJUSTED_VIEW_ADJUSTED: &str = "
CREATE VIEW bars_adjusted(ticker, timeframe, ts, open, high, low, close, volume, vwap, trades) AS
SELECT ticker, timeframe, ts, open, high, low, close, volume, vwap, trades FROM bars;
";

/// Schema 2 on an empty connection, in one transaction. `page_size` only takes effect
/// before the first table exists, so it is set here and nowhere else.
pub fn create(conn: &Connection, adjusted: bool) -> rusqlite::Result<()> {
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(META)?;
    tx.execute_batch(PROGRESS_AND_RUNS)?;
    add_v2_objects(&tx, adjusted)?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('app', ?1)", [APP_ID])?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?1)", [SCHEMA_VERSION.to_string()])?;
    tx.execute("INSERT INTO meta(key, value) VALUES ('adjusted', ?1)", [adjusted.to_string()])?;
    tx.commit()
}

/// Tables added within schema 2: an earlier barfill of the same schema ignores them, and
/// every open that may write adds them, so no version bump is needed.
/// - `splits_checked`: the New York day each ticker's splits were last asked for
///   completely; splits are asked at most once a day for the same tickers.
/// - `rejected_bars`: bars a page carried that cannot be right (a high below the low, a
///   price not positive), kept out of `bars` with the reason, while the good bars of the
///   same page are stored. A later good bar for the same time removes its row here.
const ADDITIONS: &str = "
CREATE TABLE IF NOT EXISTS splits_checked(
    ticker TEXT PRIMARY KEY,
    day TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected_bars(
    ticker TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    ts INTEGER NOT NULL,
    reason TEXT NOT NULL,
    open REAL,
    high REAL,
    low REAL,
    close REAL,
    volume REAL,
    vwap REAL,
    trades INTEGER,
    run_id INTEGER,
    PRIMARY KEY (ticker, timeframe, ts)
) WITHOUT ROWID;
";

/// Adds the tables of [`ADDITIONS`] a database lacks.
pub fn add_missing(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(ADDITIONS)
}

fn add_v2_objects(conn: &Connection, adjusted: bool) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES_V2)?;
    conn.execute_batch(VIEWS_V2)?;
    conn.execute_batch(DAYS_TRIGGER)?;
    conn.execute_batch(if adjusted { ADJUSTED_VIEW_ADJUSTED } else { ADJUSTED_VIEW_RAW })
}

/// What a migration did, for the log and the engine's notice.
#[derive(Clone, Debug, PartialEq)]
pub struct Migrated {
    pub from_version: i64,
    pub bars: u64,
    pub series: u64,
}

/// Schema 1 to 2 in place, in one transaction: every bar is copied into `series_bars`
/// under its series id, the days it covers are recorded, and `bars` becomes the view.
/// Any failure rolls everything back and leaves the schema-1 file as it was.
pub fn migrate_v1(conn: &Connection, adjusted: bool) -> rusqlite::Result<Migrated> {
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(TABLES_V2)?;
    // Series ids in key order, so the copy below appends to series_bars in key order
    // whichever table the planner scans first (no ORDER BY: it could sort every bar).
    tx.execute_batch(
        "INSERT INTO series(ticker, timeframe)
            SELECT ticker, timeframe FROM bars GROUP BY ticker, timeframe
            UNION SELECT ticker, timeframe FROM progress
            ORDER BY 1, 2;
         INSERT INTO series_bars(series_id, ts, open, high, low, close, volume, vwap, trades)
            SELECT s.id, b.ts, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades
            FROM series AS s JOIN bars AS b ON b.ticker = s.ticker AND b.timeframe = s.timeframe;
         UPDATE series SET last_run = (
            SELECT max(p.run_id) FROM progress AS p WHERE p.ticker = series.ticker AND p.timeframe = series.timeframe);",
    )?;
    let copied: i64 = tx.query_row("SELECT count(*) FROM series_bars", [], |r| r.get(0))?;
    let held: i64 = tx.query_row("SELECT count(*) FROM bars", [], |r| r.get(0))?;
    if copied != held {
        // Cannot happen with the join above; checked because a lost row must never commit.
        return Err(rusqlite::Error::ToSqlConversionFailure(
            format!("migration copied {copied} of {held} bars").into(),
        ));
    }
    fill_series_days(&tx)?;
    tx.execute_batch("DROP TABLE bars;")?;
    tx.execute_batch(VIEWS_V2)?;
    tx.execute_batch(DAYS_TRIGGER)?;
    tx.execute_batch(if adjusted { ADJUSTED_VIEW_ADJUSTED } else { ADJUSTED_VIEW_RAW })?;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'schema_version'", [SCHEMA_VERSION.to_string()])?;
    let series: i64 = tx.query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(Migrated { from_version: 1, bars: copied as u64, series: series as u64 })
}

/// Schema 2 to 3 in place, in one transaction, touching no bar: `volume` loses its NOT
/// NULL, and the days trigger learns UTC days. SQLite cannot alter a column, and copying
/// every bar to drop a constraint would take minutes on a large file; its documented way
/// to remove a NOT NULL constraint (<https://www.sqlite.org/lang_altertable.html#otheralter>)
/// edits the table's stored definition and bumps the schema version, and the bars as
/// stored satisfy both definitions.
pub fn migrate_v2(conn: &Connection) -> rusqlite::Result<Migrated> {
    let tx = conn.unchecked_transaction()?;
    let version: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
    tx.pragma_update(None, "writable_schema", true)?;
    let edited = tx.execute(
        "UPDATE sqlite_schema SET sql = replace(sql, 'volume NUMERIC NOT NULL,', 'volume NUMERIC,')
         WHERE type = 'table' AND name = 'series_bars' AND sql LIKE '%volume NUMERIC NOT NULL,%'",
        [],
    )?;
    tx.pragma_update(None, "schema_version", version + 1)?;
    tx.pragma_update(None, "writable_schema", false)?;
    if edited != 1 {
        return Err(rusqlite::Error::ToSqlConversionFailure(
            "series_bars does not have the definition schema 2 gave it".into(),
        ));
    }
    tx.execute_batch("DROP TRIGGER series_days_follow_deletes;")?;
    tx.execute_batch(DAYS_TRIGGER)?;
    tx.execute("UPDATE meta SET value = ?1 WHERE key = 'schema_version'", [SCHEMA_VERSION.to_string()])?;
    let bars: i64 = tx.query_row("SELECT count(*) FROM series_bars", [], |r| r.get(0))?;
    let series: i64 = tx.query_row("SELECT count(*) FROM series", [], |r| r.get(0))?;
    tx.commit()?;
    Ok(Migrated { from_version: 2, bars: bars as u64, series: series as u64 })
}

/// The days of every stored bar, computed in Rust (SQLite has no New York time zone).
fn fill_series_days(conn: &Connection) -> rusqlite::Result<()> {
    let mut read = conn.prepare("SELECT series_id, ts FROM series_bars ORDER BY series_id, ts")?;
    let mut insert =
        conn.prepare("INSERT OR IGNORE INTO series_days(series_id, day, start_ms, end_ms) VALUES (?1, ?2, ?3, ?4)")?;
    let mut rows = read.query([])?;
    let mut current: Option<(i64, days::DaySpan)> = None;
    while let Some(row) = rows.next()? {
        let (series, ts): (i64, i64) = (row.get(0)?, row.get(1)?);
        if let Some((s, span)) = current
            && s == series
            && span.contains(ts)
        {
            continue;
        }
        let Some(span) = days::DaySpan::of(ts) else { continue };
        insert.execute(params![series, span.day, span.start_ms, span.end_ms])?;
        current = Some((series, span));
    }
    Ok(())
}

/// The schema version and kind of bars a barfill database holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Held {
    pub version: i64,
    pub adjusted: bool,
}

/// Reads `meta`; `None` when the file has no barfill meta table (foreign or empty).
pub fn held(conn: &Connection) -> rusqlite::Result<Option<Held>> {
    let has_meta: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'meta'", [], |r| {
            r.get(0)
        })?;
    if !has_meta {
        return Ok(None);
    }
    let get = |key: &str| -> rusqlite::Result<Option<String>> {
        conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
    };
    if get("app")?.as_deref() != Some(APP_ID) {
        return Ok(None);
    }
    let version = get("schema_version")?.and_then(|v| v.parse().ok()).unwrap_or(0);
    let adjusted = get("adjusted")?.as_deref() == Some("true");
    Ok(Some(Held { version, adjusted }))
}
