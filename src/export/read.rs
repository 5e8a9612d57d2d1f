//! What an export reads from the store: the series its filters select, the partitions
//! their bars fall in, and the bars in file order (ticker, then time) from the `bars`
//! view or `bars_adjusted`. Each ticker's bars come from one range scan of the store's
//! primary key, so nothing is sorted and nothing is held beyond the row being read.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::{Connection, params};

use super::layout::{Partition, year_of_ms};
use crate::bar::Bar;
use crate::calendar::{self, Day};
use crate::timeframe::Timeframe;

/// What the filters name; `None` selects everything the database holds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Selection {
    pub tickers: Option<Vec<String>>,
    pub timeframes: Option<Vec<Timeframe>>,
    /// First New York trading day, inclusive.
    pub from: Option<Day>,
    /// Last New York trading day, inclusive.
    pub to: Option<Day>,
}

impl Selection {
    /// Epoch ms from the New York midnight that starts `from` (inclusive) to the one that
    /// ends `to` (exclusive): the days in New York, as the API and the store count them.
    pub fn window_ms(&self) -> (i64, i64) {
        (
            self.from.map_or(i64::MIN, calendar::ny_midnight_ms),
            self.to.map_or(i64::MAX, |d| calendar::ny_midnight_ms(d + 1)),
        )
    }

    fn wants(&self, ticker: &str, timeframe: Timeframe) -> bool {
        self.tickers.as_ref().is_none_or(|l| l.iter().any(|t| t == ticker))
            && self.timeframes.as_ref().is_none_or(|l| l.contains(&timeframe))
    }
}

/// The view an export reads.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum View {
    Bars,
    Adjusted,
}

impl View {
    fn name(self) -> &'static str {
        match self {
            View::Bars => "bars",
            View::Adjusted => "bars_adjusted",
        }
    }
}

/// A partition and what goes in it.
#[derive(Clone, Debug, PartialEq)]
pub struct PartitionPlan {
    pub partition: Partition,
    /// The tickers with bars in it, in byte order: the order of the rows.
    pub tickers: Vec<Arc<str>>,
    /// The bars' epoch ms, start inclusive, end exclusive: the year cut to the selection.
    pub window: (i64, i64),
}

/// The partitions to write, in order, with their tickers. Reads two bars per series.
pub fn plan(conn: &Connection, selection: &Selection) -> rusqlite::Result<Vec<PartitionPlan>> {
    let (from_ms, to_ms) = selection.window_ms();
    let mut partitions: BTreeMap<Partition, Vec<Arc<str>>> = BTreeMap::new();
    for (ticker, timeframe) in series(conn)? {
        if !selection.wants(&ticker, timeframe) {
            continue;
        }
        let Some((first, last)) = bounds(conn, &ticker, timeframe, (from_ms, to_ms))? else { continue };
        let ticker: Arc<str> = ticker.into();
        for year in year_of_ms(first)..=year_of_ms(last) {
            partitions.entry(Partition { timeframe, year }).or_default().push(ticker.clone());
        }
    }
    Ok(partitions
        .into_iter()
        .map(|(partition, mut tickers)| {
            tickers.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let (start, end) = partition.span_ms();
            PartitionPlan { partition, tickers, window: (start.max(from_ms), end.min(to_ms)) }
        })
        .collect())
}

/// Every (ticker, timeframe) the store has a series for. A timeframe the store holds but
/// this barfill cannot parse is an error, not a silent gap in the export.
fn series(conn: &Connection) -> rusqlite::Result<Vec<(String, Timeframe)>> {
    let mut stmt = conn.prepare("SELECT ticker, timeframe FROM series")?;
    let rows = stmt.query_map([], |r| {
        let tf: String = r.get(1)?;
        let parsed = tf.parse::<Timeframe>().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(
                1,
                rusqlite::types::Type::Text,
                format!("timeframe {tf}: {e}").into(),
            )
        })?;
        Ok((r.get(0)?, parsed))
    })?;
    rows.collect()
}

/// The first and last bar's ts of a series inside `window`. Read from `bars` whatever
/// the export reads: `bars_adjusted` holds the same rows.
fn bounds(conn: &Connection, ticker: &str, tf: Timeframe, window: (i64, i64)) -> rusqlite::Result<Option<(i64, i64)>> {
    let edge = |order: &str| -> rusqlite::Result<Option<i64>> {
        let sql = format!(
            "SELECT ts FROM bars WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts {order} LIMIT 1"
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params![ticker, tf.to_string(), window.0, window.1])?;
        rows.next()?.map(|r| r.get(0)).transpose()
    };
    Ok(edge("ASC")?.zip(edge("DESC")?))
}

/// How many bars of the series fall in `window`, for a progress bar's length.
pub fn count(conn: &Connection, ticker: &str, tf: Timeframe, window: (i64, i64)) -> rusqlite::Result<u64> {
    let mut stmt =
        conn.prepare_cached("SELECT count(*) FROM bars WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts < ?4")?;
    stmt.query_row(params![ticker, tf.to_string(), window.0, window.1], |r| r.get::<_, i64>(0)).map(|n| n as u64)
}

/// Each bar of the series in `window`, in time order, handed to `each`; an error from
/// `each` stops the scan and is returned.
pub fn for_each_bar<E: From<rusqlite::Error>>(
    conn: &Connection,
    view: View,
    ticker: &str,
    tf: Timeframe,
    window: (i64, i64),
    each: impl FnMut(Bar) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!(
        "SELECT ts, open, high, low, close, volume, vwap, trades FROM {}
         WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts < ?4 ORDER BY ts",
        view.name()
    );
    super::scan::bars(conn, &sql, (ticker, &tf.to_string()), window, each)
}
