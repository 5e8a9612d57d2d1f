//! Reference data about tickers (`GET /v3/reference/tickers`, ticker details), kept so
//! coverage can count sessions within a ticker's life.

use rusqlite::{Connection, OptionalExtension, params};

use super::now_ms;
use crate::calendar::{self, Day, Range};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TickerRecord {
    pub ticker: String,
    pub name: Option<String>,
    /// The API's `type` (CS, ETF, ADRC, ...).
    pub kind: Option<String>,
    pub market: Option<String>,
    pub active: Option<bool>,
    /// First day listed (ticker details' `list_date`).
    pub list_date: Option<Day>,
    /// Last day traded (the New York day of `delisted_utc`).
    pub delisted_date: Option<Day>,
}

/// Upserts tickers in one transaction; returns the rows inserted or updated. A field the
/// answer lacks (the list endpoint has no `list_date`) keeps what an earlier answer said;
/// an active ticker loses its delisting date (a symbol can be reused).
pub fn upsert_tickers(conn: &Connection, tickers: &[TickerRecord]) -> rusqlite::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let mut changed = 0;
    {
        let mut stmt = tx.prepare_cached(
            "INSERT INTO tickers(ticker, name, type, market, active, list_date, delisted_date, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT(ticker) DO UPDATE SET
                name = coalesce(excluded.name, name),
                type = coalesce(excluded.type, type),
                market = coalesce(excluded.market, market),
                active = coalesce(excluded.active, active),
                list_date = coalesce(excluded.list_date, list_date),
                delisted_date = CASE WHEN excluded.active = 1 THEN excluded.delisted_date
                                     ELSE coalesce(excluded.delisted_date, delisted_date) END,
                updated_at = excluded.updated_at",
        )?;
        let now = now_ms();
        for t in tickers {
            changed += stmt.execute(params![
                t.ticker,
                t.name,
                t.kind,
                t.market,
                t.active,
                t.list_date.map(calendar::format_day),
                t.delisted_date.map(calendar::format_day),
                now
            ])?;
        }
    }
    tx.commit()?;
    Ok(changed)
}

/// The days a ticker traded, as far as the tickers table knows: from its listing (or
/// the dawn of time) to its delisting (or forever); `None` when it knows neither.
pub fn ticker_life(conn: &Connection, ticker: &str) -> rusqlite::Result<Option<Range>> {
    let row: Option<(Option<String>, Option<String>)> = conn
        .prepare_cached("SELECT list_date, delisted_date FROM tickers WHERE ticker = ?1")?
        .query_row([ticker], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((listed, delisted)) = row else { return Ok(None) };
    let parse = |s: Option<String>| s.and_then(|s| calendar::parse_date(&s).ok());
    let (from, to) = (parse(listed), parse(delisted));
    if from.is_none() && to.is_none() {
        return Ok(None);
    }
    Ok(Some(Range { from: from.unwrap_or(Day::MIN), to: to.unwrap_or(Day::MAX) }))
}
