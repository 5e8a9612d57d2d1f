//! Every page is checked before anything of it is stored. A 200 answer can still be
//! wrong (timestamps in seconds, bars outside the range asked for, off the timeframe's
//! grid, out of order): such a page is wrong, and the whole page is refused. A bar whose
//! values are impossible (a high below the low, a price not positive) is rejected alone,
//! named with its reason, and the rest of its page kept: one bad bar must not cost a
//! page of good ones. A page mostly of impossible bars is refused whole. Bars that are
//! odd but possible (a high below the open, a vwap outside the bar) are kept and named,
//! so a user sees a data problem instead of trusting it.

use crate::bar::Bar;
use crate::calendar::{self, DaySpan, MS_PER_MINUTE};
use crate::markets::{Class, DayStamp};
use crate::timeframe::{BaseUnit, Timeframe};

/// What a page of a range request may hold.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    pub timeframe: Timeframe,
    /// The ticker's class: where its days begin and how its day bars are stamped.
    pub class: Class,
    /// The stamp the row's day-based bars carry, once a page (or a stored bar) showed it.
    pub stamp: Option<DayStamp>,
    /// Epoch ms, inclusive: the start of the range asked for.
    pub from_ms: i64,
    /// Epoch ms, inclusive: the end of the range asked for.
    pub to_ms: i64,
}

/// A bar kept but worth a look.
#[derive(Clone, Debug, PartialEq)]
pub struct Suspect {
    pub ts: i64,
    pub what: &'static str,
}

/// A bar that cannot be right, left out of the page: its place in the page, its time
/// and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejected {
    pub index: usize,
    pub ts: i64,
    pub reason: &'static str,
}

/// What a page that may be stored holds besides good bars.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Verdict {
    pub suspects: Vec<Suspect>,
    pub rejected: Vec<Rejected>,
}

impl Verdict {
    /// The page is refused when more than half of its bars are impossible: then it is
    /// the answer that is wrong, not a bar in it. `first` names the first bad bar.
    fn judge(self, bars: usize, first: Option<String>) -> Result<Verdict, String> {
        match first {
            Some(first) if self.rejected.len() * 2 > bars => {
                Err(format!("{first} ({} of {bars} bars impossible)", self.rejected.len()))
            }
            _ => Ok(self),
        }
    }
}

/// Checks a range page; returns its suspect and rejected bars, or why the page cannot be
/// stored, naming its first bad bar.
pub fn check_range_page(bars: &[Bar], e: &Expect) -> Result<Verdict, String> {
    let lowest = lowest_start(e);
    let zone = e.class.zone();
    let mut previous: Option<i64> = None;
    let mut verdict = Verdict::default();
    let mut first = None;
    // The time-zone lookup is the costly part of a check: done once per day of bars.
    let mut day: Option<DaySpan> = None;
    let mut stamp = e.stamp.map(|s| (s, "this row's earlier bars are"));
    for (i, b) in bars.iter().enumerate() {
        let bad = |why: String| format!("bar {} of {} ({}): {why}", i + 1, bars.len(), describe_ts(b.ts));
        if b.ts < lowest || b.ts > e.to_ms {
            return Err(bad(format!(
                "outside the range asked for ({}..{})",
                calendar::format_ny_ms(e.from_ms),
                calendar::format_ny_ms(e.to_ms)
            )));
        }
        if e.timeframe.minutes().is_none() {
            let s = day_stamp(b.ts, e, stamp).map_err(&bad)?;
            stamp = stamp.or(Some((s, "the page's first bar is")));
        } else {
            if !day.is_some_and(|d| d.contains(b.ts)) {
                day = zone.span_of(b.ts);
            }
            if !day.is_some_and(|d| on_grid(b.ts, d.start_ms, e.timeframe)) {
                return Err(bad(format!("not on the {} grid", e.timeframe)));
            }
        }
        if let Some(p) = previous
            && b.ts <= p
        {
            let order = if b.ts == p { "repeats the bar before it" } else { "comes before the bar before it" };
            return Err(bad(order.to_string()));
        }
        previous = Some(b.ts);
        verdict.note(i, b, || bad(String::new()), &mut first);
    }
    verdict.judge(bars.len(), first)
}

/// The stamp of a day-based bar: one the class's day bars may carry, and the same as the
/// stamp before it (`first`, and what showed it, with its verb), since the API's is not confirmed for
/// every class and a page that mixes two would store one day twice.
fn day_stamp(ts: i64, e: &Expect, first: Option<(DayStamp, &str)>) -> Result<DayStamp, String> {
    let class = e.class;
    let Some(stamp) = class.stamp_of(ts) else {
        if let [only] = class.day_stamps() {
            return Err(format!("not on the {} grid ({class} day bars start at {})", e.timeframe, only.name()));
        }
        let known: Vec<&str> = class.day_stamps().iter().map(|s| s.name()).collect();
        return Err(format!(
            "{class} day bars: stamped {}, none of the stamps barfill knows for {class} ({})",
            DayStamp::describe(ts),
            known.join(", ")
        ));
    };
    match first {
        Some((s, by)) if s != stamp => Err(format!(
            "{class} day bars: stamped at {} where {by} stamped at {}; a page that mixes stamps is refused \
             (the API's stamp for {class} days is not confirmed, and two stamps would store one day twice)",
            stamp.name(),
            s.name()
        )),
        _ => Ok(stamp),
    }
}

/// Checks a grouped-daily page of `class` for `day`: every bar within that day as the
/// class bounds it. Returns the suspect and rejected bars.
pub fn check_grouped_page(bars: &[Bar], class: Class, day: calendar::Day) -> Result<Verdict, String> {
    let (start, end) = class.zone().bounds(day, day);
    let mut verdict = Verdict::default();
    let mut first = None;
    for (i, b) in bars.iter().enumerate() {
        let bad = |why: &str| format!("bar {} of {} ({}): {why}", i + 1, bars.len(), describe_ts(b.ts));
        if b.ts < start || b.ts > end {
            return Err(bad(&format!("not on {}, the day asked for", calendar::format_day(day))));
        }
        verdict.note(i, b, || bad(""), &mut first);
    }
    verdict.judge(bars.len(), first)
}

impl Verdict {
    /// A bar that passed the page's checks: rejected if impossible (the first such named
    /// through `name`, which ends in the reason's place), named if odd.
    fn note(&mut self, i: usize, b: &Bar, name: impl Fn() -> String, first: &mut Option<String>) {
        if let Err(reason) = check_values(b) {
            if first.is_none() {
                *first = Some(format!("{}{reason}", name()));
            }
            self.rejected.push(Rejected { index: i, ts: b.ts, reason });
        } else if let Some(what) = oddity(b) {
            self.suspects.push(Suspect { ts: b.ts, what });
        }
    }
}

/// Bars of multi-day timeframes start at their period's start, which can precede `from`.
fn lowest_start(e: &Expect) -> i64 {
    match e.timeframe.base() {
        BaseUnit::Minute => e.from_ms,
        BaseUnit::Day if e.timeframe.is_daily() => e.from_ms,
        BaseUnit::Day => e.from_ms - 400 * calendar::MS_PER_DAY,
    }
}

/// Minute and hour bars start on their width from the midnight that begins their day
/// (New York's, or UTC's for crypto and forex).
fn on_grid(ts: i64, midnight: i64, tf: Timeframe) -> bool {
    tf.minutes().is_some_and(|width| (ts - midnight) % (width as i64 * MS_PER_MINUTE) == 0)
}

fn check_values(b: &Bar) -> Result<(), &'static str> {
    let prices = [b.open, b.high, b.low, b.close];
    if prices.iter().any(|p| !p.is_finite() || *p <= 0.0) {
        return Err("a price is not a positive number");
    }
    if b.vwap.is_some_and(|v| !v.is_finite() || v <= 0.0) {
        return Err("vwap is not a positive number");
    }
    if b.volume.is_some_and(|v| !v.is_finite() || v < 0.0) {
        return Err("volume is negative or not a number");
    }
    if b.trades.is_some_and(|n| n < 0) {
        return Err("the trade count is negative");
    }
    if b.high < b.low {
        return Err("high is below low");
    }
    Ok(())
}

/// Possible but unusual: prints outside the bar's own range (late or corrected trades
/// can do this), or a vwap outside [low, high].
fn oddity(b: &Bar) -> Option<&'static str> {
    if b.high < b.open.max(b.close) {
        return Some("high below the open or close");
    }
    if b.low > b.open.min(b.close) {
        return Some("low above the open or close");
    }
    // Rounding to 4 decimals can put a vwap a hair outside the bar.
    let slack = 1e-4 + b.high * 1e-9;
    if b.vwap.is_some_and(|v| v < b.low - slack || v > b.high + slack) {
        return Some("vwap outside [low, high]");
    }
    None
}

/// A timestamp as a reader can check it: the raw number and, when it is a plausible
/// millisecond time, New York time.
fn describe_ts(ts: i64) -> String {
    if (0..=4_102_444_800_000).contains(&ts) {
        format!("t={ts}, {}", calendar::format_ny_ms(ts))
    } else {
        format!("t={ts}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64) -> Bar {
        Bar {
            ts,
            open: 10.0,
            high: 11.0,
            low: 9.0,
            close: 10.5,
            volume: Some(100.0),
            vwap: Some(10.2),
            trades: Some(3),
        }
    }

    fn minute_expect() -> (Expect, i64) {
        let day = calendar::parse_date("2024-03-04").unwrap();
        let start = calendar::ny_midnight_ms(day);
        let e = Expect {
            timeframe: "1/minute".parse().unwrap(),
            class: Class::Stocks,
            stamp: None,
            from_ms: start,
            to_ms: calendar::ny_midnight_ms(day + 1) - 1,
        };
        (e, start + 4 * 3_600_000)
    }

    #[test]
    fn a_good_page_passes() {
        let (e, t) = minute_expect();
        let bars: Vec<Bar> = (0..5).map(|i| bar(t + i * 60_000)).collect();
        assert_eq!(check_range_page(&bars, &e), Ok(Verdict::default()));
    }

    #[test]
    fn seconds_instead_of_milliseconds_are_outside_the_range() {
        let (e, t) = minute_expect();
        let err = check_range_page(&[bar(t / 1000)], &e).unwrap_err();
        assert!(err.starts_with("bar 1 of 1 (t=1709542800"), "{err}");
        assert!(err.contains("outside the range"), "{err}");
    }

    #[test]
    fn off_grid_out_of_order_and_repeats_are_refused() {
        let (e, t) = minute_expect();
        assert!(check_range_page(&[bar(t + 17_000)], &e).unwrap_err().contains("not on the 1/minute grid"));
        let err = check_range_page(&[bar(t + 60_000), bar(t)], &e).unwrap_err();
        assert!(err.starts_with("bar 2 of 2") && err.contains("comes before"), "{err}");
        assert!(check_range_page(&[bar(t), bar(t)], &e).unwrap_err().contains("repeats"));
        let day: Expect = Expect { timeframe: "1/day".parse().unwrap(), ..e };
        assert!(check_range_page(&[bar(e.from_ms)], &day).is_ok());
        assert!(check_range_page(&[bar(e.from_ms + 16 * 3_600_000)], &day).unwrap_err().contains("grid"));
    }

    #[test]
    fn a_page_of_impossible_values_is_refused_and_odd_ones_named() {
        let (e, t) = minute_expect();
        let swapped = Bar { high: 9.0, low: 11.0, ..bar(t) };
        let err = check_range_page(&[swapped], &e).unwrap_err();
        assert!(err.contains("high is below low") && err.contains("(1 of 1 bars impossible)"), "{err}");
        let nan = Bar { close: f64::NAN, ..bar(t) };
        assert!(check_range_page(&[nan], &e).unwrap_err().contains("price"));
        let negative = Bar { volume: Some(-1.0), ..bar(t) };
        assert!(check_range_page(&[negative], &e).unwrap_err().contains("volume"));
        let odd = Bar { high: 10.4, ..bar(t) };
        assert_eq!(
            check_range_page(&[odd], &e).unwrap().suspects,
            [Suspect { ts: t, what: "high below the open or close" }]
        );
        let vwap = Bar { vwap: Some(12.0), ..bar(t) };
        assert_eq!(check_range_page(&[vwap], &e).unwrap().suspects[0].what, "vwap outside [low, high]");
    }

    #[test]
    fn a_few_impossible_bars_are_rejected_alone_and_the_page_kept() {
        let (e, t) = minute_expect();
        let mut bars: Vec<Bar> = (0..600).map(|i| bar(t + i * 60_000)).collect();
        bars[17] = Bar { high: 9.0, low: 11.0, ..bars[17] };
        bars[300] = Bar { open: 0.0, ..bars[300] };
        let v = check_range_page(&bars, &e).unwrap();
        assert_eq!(
            v.rejected,
            [
                Rejected { index: 17, ts: t + 17 * 60_000, reason: "high is below low" },
                Rejected { index: 300, ts: t + 300 * 60_000, reason: "a price is not a positive number" },
            ]
        );
        // Mostly impossible: the answer is wrong, not a bar in it.
        let swapped: Vec<Bar> = bars.iter().map(|b| Bar { high: b.low, low: b.high, ..*b }).collect();
        let err = check_range_page(&swapped, &e).unwrap_err();
        assert!(err.starts_with("bar 1 of 600") && err.contains("high is below low"), "{err}");
        // The same on a grouped answer.
        let day = calendar::parse_date("2023-01-09").unwrap();
        let close = calendar::ny_local_ms(day, 16, 0);
        let grouped = [bar(close), Bar { low: 12.0, ..bar(close) }, bar(close)];
        assert_eq!(check_grouped_page(&grouped, Class::Stocks, day).unwrap().rejected[0].index, 1);
    }

    #[test]
    fn grouped_bars_belong_to_the_day_asked_for() {
        let day = calendar::parse_date("2023-01-09").unwrap();
        let close = calendar::ny_local_ms(day, 16, 0);
        assert!(check_grouped_page(&[bar(close)], Class::Stocks, day).is_ok());
        assert!(
            check_grouped_page(&[bar(close / 1000)], Class::Stocks, day).unwrap_err().contains("not on 2023-01-09")
        );
        // Forex grouped bars are stamped at the end of the UTC day.
        let end_of_utc_day = (day as i64 + 1) * calendar::MS_PER_DAY - 1;
        assert!(check_grouped_page(&[bar(end_of_utc_day)], Class::Forex, day).is_ok());
        assert!(check_grouped_page(&[bar(end_of_utc_day + 1)], Class::Forex, day).is_err());
    }

    fn day_expect(class: Class, stamp: Option<DayStamp>) -> Expect {
        let from = calendar::parse_date("2025-01-03").unwrap();
        let zone = class.zone();
        Expect {
            timeframe: "1/day".parse().unwrap(),
            class,
            stamp,
            from_ms: zone.start_ms(from),
            to_ms: zone.start_ms(from + 5) + 6 * 3_600_000,
        }
    }

    #[test]
    fn day_bars_of_a_class_whose_stamp_is_open_may_use_one_stamp_only() {
        let d = calendar::parse_date("2025-01-03").unwrap();
        let (utc, ny) = (DayStamp::UtcMidnight, DayStamp::NewYorkMidnight);
        let crypto = day_expect(Class::Crypto, None);
        // Either candidate alone passes.
        assert!(check_range_page(&[bar(utc.at(d)), bar(utc.at(d + 1))], &crypto).is_ok());
        assert!(check_range_page(&[bar(ny.at(d)), bar(ny.at(d + 1))], &crypto).is_ok());
        // Both in one page: refused, naming the class and the stamps.
        let err = check_range_page(&[bar(utc.at(d)), bar(ny.at(d + 1))], &crypto).unwrap_err();
        assert!(
            err.starts_with("bar 2 of 2") && err.contains("crypto day bars: stamped at New York midnight"),
            "{err}"
        );
        assert!(err.contains("the page's first bar is stamped at UTC midnight"), "{err}");
        // A stamp the row showed before binds the next page.
        let pinned = day_expect(Class::Crypto, Some(utc));
        let err = check_range_page(&[bar(ny.at(d))], &pinned).unwrap_err();
        assert!(err.contains("this row's earlier bars are stamped at UTC midnight"), "{err}");
        // A stamp that is none of the candidates is named with them.
        let err = check_range_page(&[bar(DayStamp::ChicagoMidnight.at(d))], &crypto).unwrap_err();
        assert!(err.contains("stamped 2025-01-03 06:00 UTC, none of the stamps barfill knows for crypto"), "{err}");
        let index = day_expect(Class::Indices, None);
        assert!(check_range_page(&[bar(DayStamp::ChicagoMidnight.at(d))], &index).is_ok());
        // Forex's stamp is known: anything else is off the grid.
        let fx = day_expect(Class::Forex, None);
        assert!(check_range_page(&[bar(utc.at(d))], &fx).is_ok());
        assert!(check_range_page(&[bar(ny.at(d))], &fx).unwrap_err().contains("not on the 1/day grid"));
    }

    #[test]
    fn minute_bars_of_utc_classes_sit_on_a_grid_from_utc_midnight() {
        let d = calendar::parse_date("2025-01-04").unwrap();
        let midnight = DayStamp::UtcMidnight.at(d);
        let e = Expect {
            timeframe: "7/minute".parse().unwrap(),
            class: Class::Crypto,
            stamp: None,
            from_ms: midnight,
            to_ms: midnight + calendar::MS_PER_DAY - 1,
        };
        assert!(check_range_page(&[bar(midnight), bar(midnight + 7 * 60_000)], &e).is_ok());
        let ny_grid = calendar::ny_midnight_ms(d) + 7 * 60_000;
        assert!(check_range_page(&[bar(ny_grid)], &e).unwrap_err().contains("grid"));
    }
}
