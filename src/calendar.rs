//! Dates as the API sees them: trading days are civil dates in New York, and every
//! boundary (day bars, date windows, grouped bars) is midnight New York time.
//!
//! Days are carried as `Day` (days since 1970-01-01) so the hot loops in the planner
//! and the simulator do integer arithmetic; jiff is used at the edges.

use std::sync::OnceLock;

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Unit};

/// A civil date as a count of days since 1970-01-01.
pub type Day = i32;

pub const MS_PER_MINUTE: i64 = 60_000;
pub const MS_PER_DAY: i64 = 86_400_000;

fn new_york() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("America/New_York").expect("tzdb is bundled"))
}

pub fn day_of(date: Date) -> Day {
    date.since((Unit::Day, Date::constant(1970, 1, 1))).expect("date within jiff range").get_days()
}

pub fn date_of(day: Day) -> Date {
    Date::constant(1970, 1, 1).checked_add(jiff::Span::new().days(day)).expect("day within jiff range")
}

pub fn parse_date(s: &str) -> Result<Day, String> {
    let bytes = s.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes.iter().enumerate().all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(format!("'{s}' is not a date of the form YYYY-MM-DD"));
    }
    let date: Date = s.parse().map_err(|e| format!("'{s}' is not a valid date: {e}"))?;
    Ok(day_of(date))
}

pub fn format_day(day: Day) -> String {
    date_of(day).to_string()
}

/// Monday..Friday. Exchange holidays are not modelled: the real API simply returns no
/// bars for them, which costs nothing but a slightly emptier window.
pub fn is_weekday(day: Day) -> bool {
    // 1970-01-01 was a Thursday (index 3 when Monday is 0).
    (day + 3).rem_euclid(7) < 5
}

/// Monday = 0 .. Sunday = 6.
pub fn weekday_index(day: Day) -> i32 {
    (day + 3).rem_euclid(7)
}

/// Weekdays in `[from, to]`, both inclusive.
pub fn weekdays_between(from: Day, to: Day) -> u32 {
    if to < from {
        return 0;
    }
    let full_weeks = (to - from + 1) / 7;
    let mut count = full_weeks * 5;
    let mut d = from + full_weeks * 7;
    while d <= to {
        if is_weekday(d) {
            count += 1;
        }
        d += 1;
    }
    count as u32
}

/// The day that is `n` weekdays after `from` counting `from` itself when it is one:
/// `nth_weekday_from(mon, 1) == mon`.
pub fn nth_weekday_from(from: Day, n: u32) -> Day {
    let mut d = from;
    let mut seen = 0;
    loop {
        if is_weekday(d) {
            seen += 1;
            if seen == n {
                return d;
            }
        }
        d += 1;
    }
}

/// Epoch milliseconds of 00:00 New York time on `day`.
pub fn ny_midnight_ms(day: Day) -> i64 {
    ny_local_ms(day, 0, 0)
}

/// Epoch milliseconds of a New York wall-clock time on `day`.
pub fn ny_local_ms(day: Day, hour: i8, minute: i8) -> i64 {
    let dt = DateTime::from_parts(date_of(day), Time::constant(hour, minute, 0, 0));
    new_york().to_timestamp(dt).expect("timestamp within range").as_millisecond()
}

/// The New York civil day that contains the instant `ms`.
pub fn ny_day_of_ms(ms: i64) -> Day {
    let ts = Timestamp::from_millisecond(ms).expect("timestamp within range");
    day_of(new_york().to_datetime(ts).date())
}

/// Today in New York.
pub fn today_ny() -> Day {
    ny_day_of_ms(jiff::Timestamp::now().as_millisecond())
}

/// The API revises the latest sessions after the close (late trades, corrections), so
/// windows reaching past this day are stored but not marked finished: the next run
/// fetches them again.
pub fn settled_through(today: Day) -> Day {
    today - 2
}

/// A timestamp rendered in New York time, for messages.
pub fn format_ny_ms(ms: i64) -> String {
    match Timestamp::from_millisecond(ms) {
        Ok(ts) => new_york().to_datetime(ts).strftime("%Y-%m-%d %H:%M ET").to_string(),
        Err(_) => ms.to_string(),
    }
}

/// Accepts what the API accepts in a path: `YYYY-MM-DD` or epoch milliseconds.
pub enum PathTime {
    Date(Day),
    Millis(i64),
}

pub fn parse_path_time(s: &str) -> Option<PathTime> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() > 8 {
        return s.parse().ok().map(PathTime::Millis);
    }
    parse_date(s).ok().map(PathTime::Date)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_round_trip_and_weekdays() {
        let d = parse_date("2024-01-01").unwrap();
        assert_eq!(format_day(d), "2024-01-01");
        assert!(is_weekday(d)); // Monday
        assert_eq!(weekday_index(d), 0);
        assert!(!is_weekday(parse_date("2024-01-06").unwrap()));
        assert_eq!(weekdays_between(d, d + 6), 5);
        assert_eq!(weekdays_between(d, d + 13), 10);
        assert_eq!(weekdays_between(d + 5, d + 6), 0);
        assert_eq!(nth_weekday_from(d, 6), d + 7);
    }

    #[test]
    fn new_york_midnight_follows_daylight_saving() {
        // Winter: 05:00Z. Summer: 04:00Z. Values match the recorded API fixtures.
        let winter = parse_date("2020-01-02").unwrap();
        assert_eq!(ny_midnight_ms(winter), 1_577_941_200_000);
        let summer = parse_date("2005-04-04").unwrap();
        assert_eq!(ny_midnight_ms(summer), 1_112_587_200_000);
        assert_eq!(ny_day_of_ms(1_112_587_200_000 + 16 * 3_600_000), summer);
    }

    #[test]
    fn rejects_impossible_dates() {
        assert!(parse_date("2024-02-30").is_err());
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("24-01-01").is_err());
        assert!(parse_date("2024-1-01").is_err());
    }
}
