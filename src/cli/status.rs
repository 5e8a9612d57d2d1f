//! `barfill status`: what the database holds and where the holes are, per ticker and
//! timeframe, from the database alone (read-only; never the API).

use std::fmt::Write;
use std::process::ExitCode;

use serde::Serialize;

use super::{Flags, exit, load_config};
use crate::calendar::{self, Range};
use crate::markets::Class;
use crate::store::coverage::{Query, RowCoverage, read_coverage};

/// Missing ranges a table line shows before it abbreviates.
const RANGES_SHOWN: usize = 3;

/// The JSON document: stable keys, one object per row.
#[derive(Serialize)]
struct StatusJson<'a> {
    db: String,
    from: String,
    to: String,
    sessions: u32,
    rows: &'a [RowCoverage],
    rejected_bars: &'a [RejectedSeries],
}

/// Bars of a ticker and timeframe left out as impossible: how many, the first one's time
/// (New York) and why.
#[derive(Serialize, Debug, PartialEq)]
pub struct RejectedSeries {
    pub ticker: String,
    pub timeframe: String,
    pub bars: u64,
    pub first: String,
    pub reason: String,
}

/// The database's rejected bars per ticker and timeframe (none when it cannot be read).
pub fn rejected_series(db: &std::path::Path) -> Vec<RejectedSeries> {
    let read = crate::store::open_for_reading(db)
        .map_err(|e| e.to_string())
        .and_then(|conn| crate::store::rejected::by_series(&conn).map_err(|e| crate::store::explain(&e)));
    match read {
        Ok(rows) => rows
            .into_iter()
            .map(|r| RejectedSeries {
                first: calendar::format_ny_ms(r.first_ts),
                ticker: r.ticker,
                timeframe: r.timeframe,
                bars: r.bars,
                reason: r.reason,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "could not read rejected bars");
            Vec::new()
        }
    }
}

pub(super) fn status_command(flags: &Flags, json: bool) -> ExitCode {
    let config = match load_config(flags) {
        Ok(c) => c,
        Err(code) => return code,
    };
    // Without --symbols or --timeframes, every row the database holds: the question is
    // "what do I have", not "what does my config ask for".
    let tickers = (flags.symbols.is_some() || flags.symbols_file.is_some()).then(|| config.symbols.clone());
    let timeframes: Option<Vec<String>> =
        flags.timeframes.as_ref().map(|_| config.timeframes.iter().map(|t| t.to_string()).collect());
    let range = Range { from: config.from, to: config.to };
    let query = Query { range, tickers: tickers.as_deref(), timeframes: timeframes.as_deref() };
    let rows = match read_coverage(&config.db, &query) {
        Ok(rows) => rows,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::BAD_INPUT);
        }
    };
    let rejected = rejected_series(&config.db);
    if json {
        let doc = StatusJson {
            db: config.db.display().to_string(),
            from: calendar::format_day(range.from),
            to: calendar::format_day(range.to),
            sessions: Class::Stocks.days_in(range),
            rows: &rows,
            rejected_bars: &rejected,
        };
        match serde_json::to_string_pretty(&doc) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(exit::FAILED);
            }
        }
    } else {
        print!("{}", describe_status(&config.db.display().to_string(), range, &rows));
        print!("{}", describe_rejected(&rejected));
    }
    ExitCode::SUCCESS
}

/// The range's days as the rows' classes count them: `21 NYSE sessions` for stocks
/// alone, each class named when there are others.
fn days_per_class(range: Range, rows: &[RowCoverage]) -> String {
    let mut classes: Vec<Class> = rows.iter().map(|r| r.class).collect();
    classes.sort_unstable();
    classes.dedup();
    let days = |c: Class| format!("{} {}", c.expected_between(range.from, range.to), c.days_name());
    match classes.as_slice() {
        [] | [Class::Stocks] => days(Class::Stocks),
        many => many.iter().map(|&c| format!("{c} {}", days(c))).collect::<Vec<_>>().join(", "),
    }
}

/// The table: one line per row, then a summary. A table of other classes than stocks
/// names each row's class; its days are that class's.
pub fn describe_status(db: &str, range: Range, rows: &[RowCoverage]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "Stored in {db}, against {range} ({})", days_per_class(range, rows));
    if rows.is_empty() {
        let _ = writeln!(s, "No rows stored yet (or none match --symbols / --timeframes).");
        return s;
    }
    let classes = rows.iter().any(|r| r.class != Class::Stocks);
    let width = rows.iter().map(|r| r.ticker.len()).max().unwrap_or(0).max(10);
    let class = |label: &str| if classes { format!("{label:<7} ") } else { String::new() };
    let _ = writeln!(
        s,
        "{:<width$} {}{:<10} {:<10} {:<10} {:>11} {:>8}  missing",
        "ticker",
        class("class"),
        "timeframe",
        "first",
        "last",
        if classes { "days" } else { "sessions" },
        "last run"
    );
    let day = |d: Option<calendar::Day>| d.map(calendar::format_day).unwrap_or_else(|| "-".into());
    for r in rows {
        let _ = writeln!(
            s,
            "{:<width$} {}{:<10} {:<10} {:<10} {:>11} {:>8}  {}",
            r.ticker,
            class(r.class.label()),
            r.timeframe,
            day(r.first_day),
            day(r.last_day),
            format!("{}/{}", r.sessions_stored, r.sessions_expected),
            r.last_run.map(|id| format!("#{id}")).unwrap_or_else(|| "-".into()),
            r.missing_text(RANGES_SHOWN).unwrap_or_else(|| "-".into())
        );
    }
    let complete = rows.iter().filter(|r| r.missing.is_empty()).count();
    let empty = rows.iter().filter(|r| r.first_ts.is_none()).count();
    let _ = writeln!(
        s,
        "{} rows: {complete} complete, {} with gaps ({empty} with no bars at all)",
        rows.len(),
        rows.len() - complete
    );
    s
}

/// Rejected bars, per ticker and timeframe, under the table.
pub fn describe_rejected(rejected: &[RejectedSeries]) -> String {
    let mut s = String::new();
    if rejected.is_empty() {
        return s;
    }
    let total: u64 = rejected.iter().map(|r| r.bars).sum();
    let _ = writeln!(
        s,
        "{total} bars rejected as impossible and left out (table rejected_bars; the next run asks their days again):"
    );
    for r in rejected {
        let _ = writeln!(s, "  {} {}: {} (first {}: {})", r.ticker, r.timeframe, r.bars, r.first, r.reason);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::coverage::Missing;

    fn day(s: &str) -> calendar::Day {
        calendar::parse_date(s).unwrap()
    }

    fn row(missing: Vec<Missing>) -> RowCoverage {
        RowCoverage {
            ticker: "AAPL".into(),
            timeframe: "1/minute".into(),
            class: Class::Stocks,
            first_ts: Some(calendar::ny_midnight_ms(day("2024-01-02"))),
            last_ts: Some(calendar::ny_midnight_ms(day("2024-01-31"))),
            first_day: Some(day("2024-01-02")),
            last_day: Some(day("2024-01-31")),
            sessions_expected: 21,
            sessions_stored: 21 - missing.iter().map(|m| m.sessions).sum::<u32>(),
            missing,
            listed: None,
            delisted: None,
            last_run: Some(3),
        }
    }

    fn gap(from: &str, to: &str, sessions: u32) -> Missing {
        Missing { from: day(from), to: day(to), sessions }
    }

    #[test]
    fn a_line_per_row_with_missing_ranges_abbreviated() {
        let range = Range { from: day("2024-01-01"), to: day("2024-01-31") };
        let rows = vec![
            row(vec![]),
            row(vec![
                gap("2024-01-03", "2024-01-03", 1),
                gap("2024-01-08", "2024-01-10", 3),
                gap("2024-01-12", "2024-01-16", 2),
                gap("2024-01-18", "2024-01-18", 1),
                gap("2024-01-22", "2024-01-23", 2),
            ]),
        ];
        let text = describe_status("b.db", range, &rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Stored in b.db, against 2024-01-01..2024-01-31 (21 NYSE sessions)");
        assert!(lines[2].ends_with("21/21       #3  -"), "{}", lines[2]);
        assert!(
            lines[3].ends_with("12/21       #3  2024-01-03, 2024-01-08..01-10, 2024-01-12..01-16 +2 more (3 sessions)"),
            "{}",
            lines[3]
        );
        assert_eq!(lines[4], "2 rows: 1 complete, 1 with gaps (0 with no bars at all)");
    }

    #[test]
    fn other_classes_are_named_with_their_own_days() {
        let range = Range { from: day("2025-01-01"), to: day("2025-01-31") };
        let btc = RowCoverage { ticker: "X:BTCUSD".into(), class: Class::Crypto, ..row(vec![]) };
        let text = describe_status("b.db", range, &[row(vec![]), btc]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "Stored in b.db, against 2025-01-01..2025-01-31 (stocks 20 NYSE sessions, crypto 31 calendar days (UTC))"
        );
        assert!(lines[1].starts_with("ticker     class   timeframe") && lines[1].contains(" days "), "{}", lines[1]);
        assert!(lines[3].starts_with("X:BTCUSD   crypto  1/minute"), "{}", lines[3]);
    }
}
