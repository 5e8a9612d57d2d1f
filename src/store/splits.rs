//! Splits, and the factors `bars_adjusted` reads. Raw bars never change when a split
//! arrives (early, late, out of order): only the small `split_factors` table of that
//! ticker is rebuilt, in the transaction that stores the split.

use std::collections::BTreeSet;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::calendar::{self, Day};

/// A split as the API lists it (`GET /stocks/v1/splits`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SplitRecord {
    pub id: String,
    pub ticker: String,
    /// The first New York day that trades on the new scale.
    #[serde(serialize_with = "day_as_date")]
    pub execution_date: Day,
    pub split_from: f64,
    pub split_to: f64,
    /// forward_split, reverse_split, stock_dividend.
    pub adjustment_type: Option<String>,
}

fn day_as_date<S: serde::Serializer>(day: &Day, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&calendar::format_day(*day))
}

impl SplitRecord {
    /// The factor a bar before the split is adjusted by: 4 for a 4-for-1.
    pub fn ratio(&self) -> f64 {
        self.split_to / self.split_from
    }

    /// A ratio SQLite can divide by: positive and finite on both sides.
    fn usable(&self) -> bool {
        self.split_from.is_finite() && self.split_to.is_finite() && self.split_from > 0.0 && self.split_to > 0.0
    }
}

/// "AAPL 4-for-1 on 2020-08-31", as the engine reports a new split.
impl std::fmt::Display for SplitRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}-for-{} on {}",
            self.ticker,
            self.split_to,
            self.split_from,
            calendar::format_day(self.execution_date)
        )
    }
}

/// Upserts splits in one transaction and returns those the database had not seen (by
/// id). A known split whose figures changed upstream is updated; either way the
/// affected tickers' factors are rebuilt. A split with a zero or missing ratio is
/// skipped with a warning: no factor can be made of it.
pub fn store_splits(conn: &Connection, run_id: i64, splits: &[SplitRecord]) -> rusqlite::Result<Vec<SplitRecord>> {
    let tx = conn.unchecked_transaction()?;
    let mut new = Vec::new();
    let mut touched = BTreeSet::new();
    for s in splits {
        if !s.usable() {
            tracing::warn!(id = %s.id, ticker = %s.ticker, from = s.split_from, to = s.split_to, "split skipped: its ratio is not usable");
            continue;
        }
        let before: Option<String> =
            tx.query_row("SELECT ticker FROM splits WHERE id = ?1", [&s.id], |r| r.get(0)).optional()?;
        let ms = calendar::ny_midnight_ms(s.execution_date);
        let date = calendar::format_day(s.execution_date);
        match before {
            None => {
                tx.prepare_cached(
                    "INSERT INTO splits(id, ticker, execution_date, execution_ms, split_from, split_to, adjustment_type, first_seen_run)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![s.id, s.ticker, date, ms, s.split_from, s.split_to, s.adjustment_type, run_id])?;
                new.push(s.clone());
                touched.insert(s.ticker.clone());
            }
            Some(old) => {
                let changed = tx
                    .prepare_cached(
                        "UPDATE splits SET ticker = ?2, execution_date = ?3, execution_ms = ?4, split_from = ?5,
                            split_to = ?6, adjustment_type = ?7
                         WHERE id = ?1 AND (ticker IS NOT ?2 OR execution_ms IS NOT ?4 OR split_from IS NOT ?5
                            OR split_to IS NOT ?6 OR adjustment_type IS NOT ?7)",
                    )?
                    .execute(params![s.id, s.ticker, date, ms, s.split_from, s.split_to, s.adjustment_type])?;
                if changed > 0 {
                    touched.insert(old);
                    touched.insert(s.ticker.clone());
                }
            }
        }
    }
    for ticker in &touched {
        rebuild_factors(&tx, ticker)?;
    }
    tx.commit()?;
    Ok(new)
}

/// The factor intervals of one ticker, from all its splits. A bar at `ts` is adjusted by
/// every split executed after it (`execution_ms > ts`); between two split dates that set
/// is fixed, so one row per interval. Each factor multiplies the ratios oldest first, one
/// f64 division per split, exactly as the simulator does (`sim::market::SplitView`), so
/// the view and the simulator's adjusted answers agree to the last bit.
fn rebuild_factors(conn: &Connection, ticker: &str) -> rusqlite::Result<()> {
    let splits: Vec<(i64, f64)> = conn
        .prepare_cached(
            "SELECT execution_ms, split_to / split_from FROM splits WHERE ticker = ?1 ORDER BY execution_ms, id",
        )?
        .query_map([ticker], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    conn.execute("DELETE FROM split_factors WHERE ticker = ?1", [ticker])?;
    let mut insert =
        conn.prepare_cached("INSERT INTO split_factors(ticker, until_ms, from_ms, factor) VALUES (?1, ?2, ?3, ?4)")?;
    let mut from = i64::MIN;
    let mut dates: Vec<i64> = splits.iter().map(|s| s.0).collect();
    dates.dedup();
    for until in dates {
        let factor = splits.iter().filter(|(ms, _)| *ms >= until).fold(1.0, |f, (_, r)| f * r);
        if factor != 1.0 {
            insert.execute(params![ticker, until, from, factor])?;
        }
        from = until;
    }
    Ok(())
}

/// A split the database had not seen, as the writer answers it.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSplit {
    pub split: SplitRecord,
    /// The database held bars of the ticker from before the split, whose adjusted reading
    /// it changes. Without any (a first backfill), the split is history, not news.
    pub over_stored_bars: bool,
}

/// `store_splits`, each new split told with whether stored bars come before it. Asked
/// before the run's own pages are written, so "stored" means stored by earlier runs.
pub fn store_new_splits(conn: &Connection, run_id: i64, splits: &[SplitRecord]) -> rusqlite::Result<Vec<NewSplit>> {
    store_splits(conn, run_id, splits)?
        .into_iter()
        .map(|split| Ok(NewSplit { over_stored_bars: bars_before(conn, &split)?, split }))
        .collect()
}

/// Whether any series of the split's ticker holds a bar older than the split: one seek
/// on each series' primary key.
fn bars_before(conn: &Connection, split: &SplitRecord) -> rusqlite::Result<bool> {
    conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM series s JOIN series_bars b ON b.series_id = s.id
                       WHERE s.ticker = ?1 AND b.ts < ?2)",
    )?
    .query_row(params![split.ticker, calendar::ny_midnight_ms(split.execution_date)], |r| r.get(0))
}

/// Records that `tickers`' splits were asked for completely on `day`.
pub fn mark_checked(conn: &Connection, tickers: &[String], day: calendar::Day) -> rusqlite::Result<()> {
    let tx = conn.unchecked_transaction()?;
    {
        let mut stmt = tx.prepare_cached("INSERT OR REPLACE INTO splits_checked(ticker, day) VALUES (?1, ?2)")?;
        let day = calendar::format_day(day);
        for t in tickers {
            stmt.execute(params![t, day])?;
        }
    }
    tx.commit()
}

/// Every split stored, oldest first: for the engine's report and for tests.
pub fn stored_splits(conn: &Connection, ticker: Option<&str>) -> rusqlite::Result<Vec<SplitRecord>> {
    let mut stmt = conn.prepare(
        "SELECT id, ticker, execution_date, split_from, split_to, adjustment_type FROM splits
         WHERE ?1 IS NULL OR ticker = ?1 ORDER BY ticker, execution_ms, id",
    )?;
    stmt.query_map([ticker], |r| {
        let date: String = r.get(2)?;
        Ok(SplitRecord {
            id: r.get(0)?,
            ticker: r.get(1)?,
            execution_date: calendar::parse_date(&date).unwrap_or_default(),
            split_from: r.get(3)?,
            split_to: r.get(4)?,
            adjustment_type: r.get(5)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bar::Bar;
    use crate::store::Store;
    use crate::store::migration_tests::{Row, dump};
    use crate::store::writer::{BarGroup, write_page};

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    fn split(id: &str, date: &str, from: f64, to: f64) -> SplitRecord {
        SplitRecord {
            id: id.into(),
            ticker: "AAPL".into(),
            execution_date: day(date),
            split_from: from,
            split_to: to,
            adjustment_type: Some(if to > from { "forward_split" } else { "reverse_split" }.into()),
        }
    }

    /// Day bars 2020-08-24..2020-09-11 whose prices have four decimals, so a 4-for-1
    /// split makes exact ties at the fifth.
    fn bars() -> Vec<BarGroup> {
        let bars = (day("2020-08-24")..=day("2020-09-11"))
            .filter(|&d| calendar::is_session(d))
            .map(|d| Bar {
                ts: calendar::ny_midnight_ms(d),
                open: 100.0 + (d % 100) as f64 * 0.0001 + 0.0001,
                high: 101.2345,
                low: 99.0003,
                close: 100.5,
                volume: Some(12_345.0 + d as f64),
                vwap: if d % 3 == 0 { None } else { Some(100.1111) },
                trades: Some(7),
            })
            .collect();
        vec![
            BarGroup { ticker: "AAPL".into(), timeframe: "1/day".into(), bars },
            BarGroup { ticker: "MSFT".into(), timeframe: "1/day".into(), bars: vec![] },
        ]
    }

    /// The simulator's definition of an adjusted bar (`sim::market::adjust`).
    fn adjusted_like_the_simulator(raw: &[Row], splits: &[SplitRecord]) -> Vec<Row> {
        let round = |x: f64, places: i32| {
            let m = 10f64.powi(places);
            (x * m).round() / m
        };
        let mut sorted = splits.to_vec();
        sorted.sort_by_key(|s| s.execution_date);
        raw.iter()
            .map(|r| {
                let d = calendar::ny_day_of_ms(r.2);
                let f = sorted.iter().filter(|s| s.execution_date > d).fold(1.0, |f, s| f * s.ratio());
                if f == 1.0 {
                    return r.clone();
                }
                let p = |x: f64| round(x / f, 4);
                (
                    r.0.clone(),
                    r.1.clone(),
                    r.2,
                    p(r.3),
                    p(r.4),
                    p(r.5),
                    p(r.6),
                    r.7.map(|v| round(v * f, 6)),
                    r.8.map(p),
                    r.9,
                )
            })
            .collect()
    }

    #[test]
    fn bars_adjusted_is_the_same_whatever_order_splits_and_bars_arrive_in() {
        let splits = [split("s1", "2020-08-31", 1.0, 4.0), split("s2", "2020-09-08", 10.0, 1.0)];
        let tmp = tempfile::tempdir().unwrap();
        let mut dumps = Vec::new();
        for (i, order) in ["splits first", "bars first", "splits reversed, around the bars"].iter().enumerate() {
            let store = Store::open(&tmp.path().join(format!("{i}.db")), false, false).unwrap();
            let c = &store.conn;
            match i {
                0 => {
                    store_splits(c, 1, &splits).unwrap();
                    write_page(c, 1, &bars(), &[]).unwrap();
                }
                1 => {
                    write_page(c, 1, &bars(), &[]).unwrap();
                    store_splits(c, 2, &splits).unwrap();
                }
                _ => {
                    store_splits(c, 1, &splits[1..]).unwrap();
                    write_page(c, 1, &bars(), &[]).unwrap();
                    store_splits(c, 2, &splits[..1]).unwrap();
                }
            }
            let raw = dump(c, "bars");
            let adjusted = dump(c, "bars_adjusted");
            assert_eq!(adjusted, adjusted_like_the_simulator(&raw, &splits), "{order}");
            dumps.push(adjusted);
        }
        assert_eq!(dumps[0], dumps[1]);
        assert_eq!(dumps[0], dumps[2]);
        // Before both splits: divided by 4 x 0.1 = 0.4; between them by 0.1; after, as stored.
        let first = &dumps[0][0];
        assert_eq!(first.2, calendar::ny_midnight_ms(day("2020-08-24")));
        assert_eq!((first.4, first.5), (round4(101.2345 / 0.4), round4(99.0003 / 0.4)));
        let after = dumps[0].last().unwrap();
        assert_eq!((after.4, after.5), (101.2345, 99.0003));
    }

    fn round4(x: f64) -> f64 {
        (x * 10_000.0).round() / 10_000.0
    }

    #[test]
    fn only_splits_not_seen_before_are_new() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("b.db"), false, false).unwrap();
        let c = &store.conn;
        write_page(c, 1, &bars(), &[]).unwrap();
        let s1 = split("s1", "2020-08-31", 1.0, 4.0);
        let new = store_splits(c, 1, std::slice::from_ref(&s1)).unwrap();
        assert_eq!(new, vec![s1.clone()]);
        assert_eq!(new[0].to_string(), "AAPL 4-for-1 on 2020-08-31");
        assert!(store_splits(c, 2, std::slice::from_ref(&s1)).unwrap().is_empty(), "seen before");
        // Corrected upstream: not new, but the view follows.
        let corrected = SplitRecord { split_to: 2.0, ..s1.clone() };
        let reverse = split("s2", "2020-09-08", 10.0, 1.0);
        let new = store_splits(c, 3, &[corrected.clone(), reverse.clone()]).unwrap();
        assert_eq!(new, vec![reverse.clone()]);
        assert_eq!(new[0].to_string(), "AAPL 1-for-10 on 2020-09-08");
        assert_eq!(stored_splits(c, Some("AAPL")).unwrap(), vec![corrected.clone(), reverse.clone()]);
        let first_seen: i64 =
            c.query_row("SELECT first_seen_run FROM splits WHERE id = 's1'", [], |r| r.get(0)).unwrap();
        assert_eq!(first_seen, 1);
        let raw = dump(c, "bars");
        assert_eq!(dump(c, "bars_adjusted"), adjusted_like_the_simulator(&raw, &[corrected, reverse]));
        // A ratio no factor can be made of is skipped; the rest is stored.
        let broken = SplitRecord { id: "bad".into(), split_from: 0.0, ..s1 };
        assert!(store_splits(c, 4, &[broken]).unwrap().is_empty());
        assert_eq!(stored_splits(c, None).unwrap().len(), 2);
    }

    #[test]
    fn a_new_split_is_news_only_over_bars_stored_before_it() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("b.db"), false, false).unwrap();
        let c = &store.conn;
        // Bars 2020-08-24..2020-09-11: a split inside or after them reaches back over
        // stored bars; one on their first day or before, or of another ticker, does not.
        write_page(c, 1, &bars(), &[]).unwrap();
        let inside = split("in", "2020-08-31", 1.0, 4.0);
        let after = split("after", "2021-01-04", 1.0, 2.0);
        let first_day = split("first", "2020-08-24", 1.0, 3.0);
        let msft = SplitRecord { id: "m".into(), ticker: "MSFT".into(), ..after.clone() };
        let news = store_new_splits(c, 2, &[inside.clone(), after.clone(), first_day.clone(), msft.clone()]).unwrap();
        let told: Vec<(&str, bool)> = news.iter().map(|n| (n.split.id.as_str(), n.over_stored_bars)).collect();
        assert_eq!(told, [("in", true), ("after", true), ("first", false), ("m", false)]);
        assert!(store_new_splits(c, 3, &[inside]).unwrap().is_empty(), "seen before: no news");
    }

    #[test]
    fn an_adjusted_database_reads_its_bars_as_they_are() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("b.db"), true, false).unwrap();
        let c = &store.conn;
        write_page(c, 1, &bars(), &[]).unwrap();
        store_splits(c, 1, &[split("s1", "2020-08-31", 1.0, 4.0)]).unwrap();
        assert_eq!(dump(c, "bars_adjusted"), dump(c, "bars"));
    }
}
