//! What is stored, and where the holes are: per ticker and timeframe, the days of a
//! range that hold bars against the days its class trades (`markets`: NYSE sessions for
//! stocks and options, every UTC day for crypto, Sunday to Friday for forex, NYSE
//! sessions for indices, plus any weekday an index did print). Reads only `series`,
//! `series_days`, `progress` and `tickers` (never a scan of the bars), through a
//! read-only connection. ("Sessions" in names and JSON keys are the class's days.)
//!
//! A day is stored when a bar of the row covers it:
//! - minute and hour rows: a bar on that day (a New York day, or a UTC day for crypto and forex);
//! - day rows (`k/day`): a bar on that day or up to `k - 1` days before it;
//! - week, month, quarter and year rows: a bar in the same period (weeks run Sunday to
//!   Saturday, so a bar stamped on the Sunday that opens a week counts for it), or in
//!   one of the `k - 1` periods before it for `k/week` and so on.
//!
//! Days are expected only within the ticker's life when the `tickers` table knows it
//! (listed on `list_date`, last traded on `delisted_date`), and for an option up to its
//! expiration.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::tickers::ticker_life;
use super::{StoreError, explain, open_for_reading};
use crate::calendar::{self, Day, Range};
use crate::markets::{self, Class};
use crate::timeframe::{Timeframe, Timespan};

/// Which rows and which days to look at.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    pub range: Range,
    /// Only these tickers; `None` for every ticker stored.
    pub tickers: Option<&'a [String]>,
    /// Only these timeframes, spelled as in the config (`1/minute`); `None` for all.
    pub timeframes: Option<&'a [String]>,
}

/// The coverage of one ticker and timeframe. Field names are the stable JSON keys.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RowCoverage {
    pub ticker: String,
    pub timeframe: String,
    /// The ticker's class (`stocks`, `crypto`, `fx`, `indices`, `options`), whose days are counted.
    #[serde(serialize_with = "class_name")]
    pub class: Class,
    /// First and last bar stored (any date, not only the range's): epoch ms and the class's day.
    pub first_ts: Option<i64>,
    pub last_ts: Option<i64>,
    #[serde(serialize_with = "opt_day")]
    pub first_day: Option<Day>,
    #[serde(serialize_with = "opt_day")]
    pub last_day: Option<Day>,
    /// The class's days of the range (within the ticker's life, when known).
    pub sessions_expected: u32,
    /// Of those, the days that hold bars.
    pub sessions_stored: u32,
    /// The other days, merged into ranges of consecutive days.
    pub missing: Vec<Missing>,
    #[serde(serialize_with = "opt_day")]
    pub listed: Option<Day>,
    #[serde(serialize_with = "opt_day")]
    pub delisted: Option<Day>,
    /// The last run that wrote bars or finished a window of this row.
    pub last_run: Option<i64>,
}

impl RowCoverage {
    /// The missing ranges in words, the first `shown` written out and the rest counted:
    /// `2024-03-01, 2024-04-02..04-05 +2 more (9 sessions)`; `None` when nothing is missing.
    /// One spelling for `barfill status` and the dashboard's coverage overlay.
    pub fn missing_text(&self, shown: usize) -> Option<String> {
        if self.missing.is_empty() {
            return None;
        }
        let written: Vec<String> = self.missing.iter().take(shown).map(Missing::text).collect();
        let mut text = written.join(", ");
        if self.missing.len() > shown {
            let rest = &self.missing[shown..];
            let sessions: u32 = rest.iter().map(|m| m.sessions).sum();
            text.push_str(&format!(" +{} more ({sessions} sessions)", rest.len()));
        }
        Some(text)
    }
}

/// Consecutive missing sessions, `from` and `to` both missing and inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Missing {
    #[serde(serialize_with = "day")]
    pub from: Day,
    #[serde(serialize_with = "day")]
    pub to: Day,
    pub sessions: u32,
}

impl Missing {
    pub fn range(&self) -> Range {
        Range { from: self.from, to: self.to }
    }

    /// `2024-03-01`, `2024-04-02..04-05` (the year once when both ends share it), or
    /// `2024-12-30..2025-01-03`.
    fn text(&self) -> String {
        let (from, to) = (calendar::format_day(self.from), calendar::format_day(self.to));
        if self.from == self.to {
            from
        } else if from[..4] == to[..4] {
            format!("{from}..{}", &to[5..])
        } else {
            format!("{from}..{to}")
        }
    }
}

fn class_name<S: serde::Serializer>(c: &Class, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.name())
}

fn day<S: serde::Serializer>(d: &Day, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&calendar::format_day(*d))
}

fn opt_day<S: serde::Serializer>(d: &Option<Day>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(&calendar::format_day(*d)),
        None => s.serialize_none(),
    }
}

/// Coverage of the database at `path`, opened read-only.
pub fn read_coverage(path: &Path, query: &Query) -> Result<Vec<RowCoverage>, StoreError> {
    let conn = open_for_reading(path)?;
    coverage(&conn, query).map_err(|e| StoreError::Open { path: path.to_path_buf(), message: explain(&e) })
}

/// Coverage of every row the query selects, ordered by ticker and timeframe. When both
/// tickers and timeframes are given, every pair is listed, stored or not.
pub fn coverage(conn: &Connection, query: &Query) -> rusqlite::Result<Vec<RowCoverage>> {
    let mut rows = Vec::new();
    for (id, ticker, timeframe) in selected_rows(conn, query)? {
        rows.push(row_coverage(conn, query.range, id, ticker, timeframe)?);
    }
    Ok(rows)
}

type RowKey = (Option<i64>, String, String);

fn selected_rows(conn: &Connection, query: &Query) -> rusqlite::Result<Vec<RowKey>> {
    let stored: Vec<RowKey> = conn
        .prepare("SELECT id, ticker, timeframe FROM series ORDER BY ticker, timeframe")?
        .query_map([], |r| Ok((Some(r.get(0)?), r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let wanted = |list: Option<&[String]>, v: &str| list.is_none_or(|l| l.iter().any(|x| x == v));
    let mut rows: Vec<RowKey> =
        stored.into_iter().filter(|(_, t, tf)| wanted(query.tickers, t) && wanted(query.timeframes, tf)).collect();
    if let (Some(tickers), Some(timeframes)) = (query.tickers, query.timeframes) {
        for t in tickers {
            for tf in timeframes {
                if !rows.iter().any(|(_, a, b)| a == t && b == tf) {
                    rows.push((None, t.clone(), tf.clone()));
                }
            }
        }
        rows.sort_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
    }
    Ok(rows)
}

fn row_coverage(
    conn: &Connection,
    range: Range,
    id: Option<i64>,
    ticker: String,
    timeframe: String,
) -> rusqlite::Result<RowCoverage> {
    let life = ticker_life(conn, &ticker)?;
    let class = Class::of_checked(&ticker);
    let span = match life {
        Some(l) => Range { from: range.from.max(l.from), to: range.to.min(l.to) },
        None => range,
    };
    let span = markets::life_range(&ticker, span);
    let tf: Option<Timeframe> = timeframe.parse().ok();
    let (first_ts, last_ts, days) = match id {
        Some(id) => (edge(conn, id, "ASC")?, edge(conn, id, "DESC")?, stored_days(conn, id, span, tf)?),
        None => (None, None, Vec::new()),
    };
    let covered = covered_spans(&days, tf);
    let (expected, stored, missing) = tally_sessions(class, span, &covered, &days);
    let last_run: Option<i64> = conn.query_row(
        "SELECT max(coalesce((SELECT last_run FROM series WHERE ticker = ?1 AND timeframe = ?2), 0),
                    coalesce((SELECT max(run_id) FROM progress WHERE ticker = ?1 AND timeframe = ?2), 0))",
        params![ticker, timeframe],
        |r| r.get::<_, i64>(0).map(|v| (v > 0).then_some(v)),
    )?;
    let zone = class.zone();
    Ok(RowCoverage {
        first_day: first_ts.and_then(|t| zone.day_of_ms(t)),
        last_day: last_ts.and_then(|t| zone.day_of_ms(t)),
        ticker,
        timeframe,
        class,
        first_ts,
        last_ts,
        sessions_expected: expected,
        sessions_stored: stored,
        missing,
        listed: life.map(|l| l.from).filter(|&d| d != Day::MIN),
        delisted: life.map(|l| l.to).filter(|&d| d != Day::MAX),
        last_run,
    })
}

/// The first or last bar of a series: one seek on the primary key each.
fn edge(conn: &Connection, id: i64, order: &str) -> rusqlite::Result<Option<i64>> {
    conn.prepare_cached(&format!("SELECT ts FROM series_bars WHERE series_id = ?1 ORDER BY ts {order} LIMIT 1"))?
        .query_row([id], |r| r.get(0))
        .optional()
}

/// How far before a session a bar of this timeframe can start and still cover it.
fn lookback_days(tf: Option<Timeframe>) -> i32 {
    let Some(tf) = tf else { return 0 };
    let k = tf.multiplier.min(10_000) as i32;
    match tf.timespan {
        Timespan::Minute | Timespan::Hour => 0,
        Timespan::Day => k,
        Timespan::Week => 7 * k,
        Timespan::Month => 31 * k,
        Timespan::Quarter => 92 * k,
        Timespan::Year => 366 * k,
    }
}

fn stored_days(conn: &Connection, id: i64, span: Range, tf: Option<Timeframe>) -> rusqlite::Result<Vec<Day>> {
    if span.to < span.from {
        return Ok(Vec::new());
    }
    let from = span.from.saturating_sub(lookback_days(tf));
    conn.prepare_cached("SELECT day FROM series_days WHERE series_id = ?1 AND day BETWEEN ?2 AND ?3 ORDER BY day")?
        .query_map(params![id, from, span.to], |r| r.get(0))?
        .collect()
}

/// The calendar days each stored day's bar covers, `[start, end)`, merged and sorted.
fn covered_spans(days: &[Day], tf: Option<Timeframe>) -> Vec<(Day, Day)> {
    let mut spans: Vec<(Day, Day)> = days.iter().map(|&d| period_of(d, tf)).collect();
    spans.sort_unstable();
    let mut merged: Vec<(Day, Day)> = Vec::with_capacity(spans.len());
    for (s, e) in spans {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// The days `[start, end)` a bar on day `d` stands for.
fn period_of(d: Day, tf: Option<Timeframe>) -> (Day, Day) {
    let Some(tf) = tf else { return (d, d + 1) };
    let k = tf.multiplier.min(10_000) as i32;
    let months = |start: jiff::civil::Date, n: i32| {
        let end = start.checked_add(jiff::Span::new().months(n)).unwrap_or(start);
        (calendar::day_of(start), calendar::day_of(end))
    };
    let date = calendar::date_of(d);
    match tf.timespan {
        Timespan::Minute | Timespan::Hour => (d, d + 1),
        Timespan::Day => (d, d + k),
        Timespan::Week => {
            // Sunday opens the week: Monday is weekday 0, so Sunday is 6.
            let start = d - (calendar::weekday_index(d) + 1) % 7;
            (start, start + 7 * k)
        }
        Timespan::Month => months(date.first_of_month(), k),
        Timespan::Quarter => {
            let first = jiff::civil::Date::new(date.year(), (date.month() - 1) / 3 * 3 + 1, 1).unwrap_or(date);
            months(first, 3 * k)
        }
        Timespan::Year => months(date.first_of_year(), 12 * k),
    }
}

/// The class's days expected and stored in `span`, and the missing ones merged into
/// ranges. A day the class need not trade on (an NYSE holiday, for an index) counts when
/// a bar was stored on it (`days`, sorted).
fn tally_sessions(class: Class, span: Range, covered: &[(Day, Day)], days: &[Day]) -> (u32, u32, Vec<Missing>) {
    let (mut expected, mut stored) = (0u32, 0u32);
    let mut missing: Vec<Missing> = Vec::new();
    let mut open = false; // the last session seen was missing
    let mut next = 0; // first covered span that may still contain a later day
    let mut d = span.from;
    while d <= span.to {
        if class.expects(d) || (class.is_day(d) && days.binary_search(&d).is_ok()) {
            expected += 1;
            while next < covered.len() && covered[next].1 <= d {
                next += 1;
            }
            if next < covered.len() && covered[next].0 <= d {
                stored += 1;
                open = false;
            } else {
                match missing.last_mut() {
                    Some(m) if open => {
                        m.to = d;
                        m.sessions += 1;
                    }
                    _ => missing.push(Missing { from: d, to: d, sessions: 1 }),
                }
                open = true;
            }
        }
        d += 1;
    }
    (expected, stored, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    fn tf(s: &str) -> Option<Timeframe> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn missing_sessions_merge_across_weekends_and_holidays() {
        // 2024-03-25..04-05: Good Friday (03-29) is closed.
        let span = Range { from: day("2024-03-25"), to: day("2024-04-05") };
        let stored: Vec<Day> = ["2024-03-25", "2024-03-26", "2024-04-03", "2024-04-05"].map(day).to_vec();
        let (expected, got, missing) =
            tally_sessions(Class::Stocks, span, &covered_spans(&stored, tf("1/minute")), &stored);
        assert_eq!((expected, got), (9, 4));
        let ranges: Vec<String> = missing.iter().map(|m| m.range().to_string()).collect();
        assert_eq!(ranges, ["2024-03-27..2024-04-02", "2024-04-04..2024-04-04"]);
        assert_eq!(missing[0].sessions, 4);
    }

    #[test]
    fn longer_bars_cover_their_whole_period() {
        let span = Range { from: day("2024-01-01"), to: day("2024-03-31") };
        // Monthly bars stamped on the first of January and March: February is missing.
        let months = covered_spans(&[day("2024-01-01"), day("2024-03-01")], tf("1/month"));
        let (_, _, missing) = tally_sessions(Class::Stocks, span, &months, &[]);
        assert_eq!(missing.iter().map(|m| m.range().to_string()).collect::<Vec<_>>(), ["2024-02-01..2024-02-29"]);
        // A weekly bar stamped on Sunday 2024-01-07 covers Monday 8 to Friday 12.
        let weeks = covered_spans(&[day("2024-01-07")], tf("1/week"));
        assert_eq!(weeks, vec![(day("2024-01-07"), day("2024-01-14"))]);
        // 2/day: a bar on the 2nd covers the 3rd as well.
        assert_eq!(covered_spans(&[day("2024-01-02")], tf("2/day")), vec![(day("2024-01-02"), day("2024-01-04"))]);
        assert_eq!(period_of(day("2024-05-15"), tf("1/quarter")), (day("2024-04-01"), day("2024-07-01")));
        assert_eq!(period_of(day("2024-05-15"), tf("1/year")), (day("2024-01-01"), day("2025-01-01")));
    }

    #[test]
    fn each_class_expects_its_own_days() {
        // Friday 2025-01-17 to Tuesday 2025-01-21, MLK Day on the Monday.
        let span = Range { from: day("2025-01-17"), to: day("2025-01-21") };
        let stored = [day("2025-01-17"), day("2025-01-21")];
        let count = |class: Class, days: &[Day]| {
            let (expected, got, missing) = tally_sessions(class, span, &covered_spans(days, tf("1/day")), days);
            (expected, got, missing.iter().map(|m| m.sessions).sum::<u32>())
        };
        assert_eq!(count(Class::Stocks, &stored), (2, 2, 0));
        assert_eq!(count(Class::Crypto, &stored), (5, 2, 3));
        // Forex: no Saturday; Sunday is a day.
        assert_eq!(count(Class::Forex, &stored), (4, 2, 2));
        // An index need not print on MLK Day; when it does, the day counts.
        assert_eq!(count(Class::Indices, &stored), (2, 2, 0));
        let with_holiday = [day("2025-01-17"), day("2025-01-20"), day("2025-01-21")];
        assert_eq!(count(Class::Indices, &with_holiday), (3, 3, 0));
    }
}
