//! Bars a page carried that cannot be right, kept out of `bars` with the reason: what
//! the report, `barfill status` and the dashboard name, and what a later run's good bar
//! for the same time replaces.

use std::sync::Arc;

use rusqlite::{Connection, params};

use crate::bar::Bar;

/// One bar left out of its page, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct RejectedBar {
    pub ticker: Arc<str>,
    pub timeframe: Arc<str>,
    pub bar: Bar,
    pub reason: &'static str,
}

/// Records `bars` as rejected by run `run_id` (the latest reason wins).
pub fn record(conn: &Connection, run_id: i64, bars: &[RejectedBar]) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT OR REPLACE INTO rejected_bars(ticker, timeframe, ts, reason, open, high, low, close, volume,
                vwap, trades, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )?;
        for r in bars {
            let b = &r.bar;
            stmt.execute(params![
                &*r.ticker,
                &*r.timeframe,
                b.ts,
                r.reason,
                b.open,
                b.high,
                b.low,
                b.close,
                b.volume,
                b.vwap,
                b.trades,
                run_id
            ])?;
        }
    }
    tx.commit()
}

/// Forgets rejections whose time now holds a good bar. Returns how many went.
pub fn clear_superseded(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "DELETE FROM rejected_bars WHERE EXISTS (
            SELECT 1 FROM series s JOIN series_bars b ON b.series_id = s.id
            WHERE s.ticker = rejected_bars.ticker AND s.timeframe = rejected_bars.timeframe
              AND b.ts = rejected_bars.ts)",
        [],
    )
}

/// The rejected bars of one ticker and timeframe: how many, the first one's time, why.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRejected {
    pub ticker: String,
    pub timeframe: String,
    pub bars: u64,
    pub first_ts: i64,
    pub reason: String,
}

/// Rejected bars per ticker and timeframe.
pub fn by_series(conn: &Connection) -> rusqlite::Result<Vec<SeriesRejected>> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'rejected_bars')",
        [],
        |r| r.get(0),
    )?;
    if !exists {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT ticker, timeframe, count(*), min(ts),
            (SELECT reason FROM rejected_bars r2 WHERE r2.ticker = r.ticker AND r2.timeframe = r.timeframe
             ORDER BY ts LIMIT 1)
         FROM rejected_bars r GROUP BY ticker, timeframe ORDER BY ticker, timeframe",
    )?;
    stmt.query_map([], |r| {
        Ok(SeriesRejected {
            ticker: r.get(0)?,
            timeframe: r.get(1)?,
            bars: r.get::<_, i64>(2)? as u64,
            first_ts: r.get(3)?,
            reason: r.get(4)?,
        })
    })?
    .collect()
}
