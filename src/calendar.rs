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

/// Monday..Friday.
pub fn is_weekday(day: Day) -> bool {
    // 1970-01-01 was a Thursday (index 3 when Monday is 0).
    (day + 3).rem_euclid(7) < 5
}

/// Monday = 0 .. Sunday = 6.
pub fn weekday_index(day: Day) -> i32 {
    (day + 3).rem_euclid(7)
}

/// A day the US stock market trades: a weekday that is not an NYSE holiday. The planner
/// packs windows with these and asks the grouped endpoint only for these, because the API
/// has no bars on the other days and a request for one is a request wasted.
pub fn is_session(day: Day) -> bool {
    is_weekday(day) && holidays().binary_search(&day).is_err()
}

/// Sessions in `[from, to]`, both inclusive.
pub fn sessions_between(from: Day, to: Day) -> u32 {
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
    let h = holidays();
    let closed = h.partition_point(|&x| x <= to) - h.partition_point(|&x| x < from);
    count as u32 - closed as u32
}

/// The day that is the `n`th session from `from`, counting `from` itself when it is one:
/// `nth_session_from(mon, 1) == mon` for a Monday that trades.
pub fn nth_session_from(from: Day, n: u32) -> Day {
    let mut d = from;
    let mut seen = 0;
    loop {
        if is_session(d) {
            seen += 1;
            if seen == n {
                return d;
            }
        }
        d += 1;
    }
}

/// Full-day closures the rules below cannot derive (national days of mourning, storms,
/// 9/11), from NYSE's own notices.
const SPECIAL_CLOSURES: [(i16, i8, i8, &str); 11] = [
    (1994, 4, 27, "President Nixon's day of mourning"),
    (2001, 9, 11, "the September 11 attacks"),
    (2001, 9, 12, "the September 11 attacks"),
    (2001, 9, 13, "the September 11 attacks"),
    (2001, 9, 14, "the September 11 attacks"),
    (2004, 6, 11, "President Reagan's day of mourning"),
    (2007, 1, 2, "President Ford's day of mourning"),
    (2012, 10, 29, "Hurricane Sandy"),
    (2012, 10, 30, "Hurricane Sandy"),
    (2018, 12, 5, "President George H. W. Bush's day of mourning"),
    (2025, 1, 9, "President Carter's day of mourning"),
];

/// The years whose NYSE holidays the calendar holds. Outside them every weekday would count
/// as a session, so configuration refuses earlier dates rather than plan sessions that
/// were holidays.
pub const FIRST_YEAR: i16 = 1990;
pub const LAST_YEAR: i16 = 2199;

/// The first day of [`FIRST_YEAR`].
pub fn first_day() -> Day {
    ymd(FIRST_YEAR, 1, 1)
}

/// NYSE full-day holidays on weekdays, sorted, from [`FIRST_YEAR`] to [`LAST_YEAR`]. Built
/// once from the exchange's rules, so any year in that span is covered; a closure announced
/// at short notice (the last was 2025-01-09) is only known once added here, and until then
/// costs one empty request, no missing bar.
fn holidays() -> &'static [Day] {
    static DAYS: OnceLock<Vec<Day>> = OnceLock::new();
    DAYS.get_or_init(|| {
        let mut days: Vec<Day> = (FIRST_YEAR..=LAST_YEAR).flat_map(holidays_of).map(|(d, _)| d).collect();
        days.extend(SPECIAL_CLOSURES.iter().map(|&(y, m, d, _)| ymd(y, m, d)));
        days.retain(|&d| is_weekday(d));
        days.sort_unstable();
        days.dedup();
        days
    })
}

/// Why the exchange is closed on `day` ("a Saturday", "Christmas Day", ...), or `None` when
/// it trades: for messages that tell a user why a range holds no session.
pub fn closure_reason(day: Day) -> Option<&'static str> {
    match weekday_index(day) {
        5 => return Some("a Saturday"),
        6 => return Some("a Sunday"),
        _ if is_session(day) => return None,
        _ => {}
    }
    let year = date_of(day).year();
    let special = SPECIAL_CLOSURES.iter().find(|&&(y, m, d, _)| ymd(y, m, d) == day).map(|&(.., name)| name);
    special.or_else(|| holidays_of(year).into_iter().find(|&(d, _)| d == day).map(|(_, name)| name))
}

fn ymd(y: i16, m: i8, d: i8) -> Day {
    day_of(Date::new(y, m, d).expect("valid date"))
}

/// The `n`th (1-based) Monday..Sunday `weekday` of a month; `n = -1` is the last.
fn nth_weekday_of_month(y: i16, m: i8, weekday: i32, n: i32) -> Day {
    if n > 0 {
        let first = ymd(y, m, 1);
        first + (weekday - weekday_index(first)).rem_euclid(7) + (n - 1) * 7
    } else {
        let last = day_of(Date::new(y, m, 1).expect("valid date").last_of_month());
        last - (weekday_index(last) - weekday).rem_euclid(7)
    }
}

/// A fixed-date holiday as NYSE observes it: Saturday moves to Friday, Sunday to Monday.
fn observed(day: Day) -> Day {
    match weekday_index(day) {
        5 => day - 1,
        6 => day + 1,
        _ => day,
    }
}

/// Easter Sunday (Gregorian, the anonymous computus).
fn easter(y: i16) -> Day {
    let y = y as i32;
    let (a, b, c) = (y % 19, y / 100, y % 100);
    let (d, e) = (b / 4, b % 4);
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let (i, k) = (c / 4, c % 4);
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    ymd(y as i16, month as i8, day as i8)
}

fn holidays_of(y: i16) -> Vec<(Day, &'static str)> {
    const MON: i32 = 0;
    const THU: i32 = 3;
    // A fixed-date holiday on a weekend is closed on the nearest weekday, named as observed.
    let fixed = |day: Day, name: &'static str, observed_name: &'static str| {
        let on = observed(day);
        (on, if on == day { name } else { observed_name })
    };
    let mut out = Vec::with_capacity(10);
    // New Year's Day on a Saturday is not moved back: Friday Dec 31 closes a year's books.
    let new_year = ymd(y, 1, 1);
    if weekday_index(new_year) != 5 {
        out.push(fixed(new_year, "New Year's Day", "New Year's Day (observed)"));
    }
    if y >= 1998 {
        out.push((nth_weekday_of_month(y, 1, MON, 3), "Martin Luther King Jr. Day"));
    }
    out.push((nth_weekday_of_month(y, 2, MON, 3), "Washington's Birthday"));
    out.push((easter(y) - 2, "Good Friday"));
    out.push((nth_weekday_of_month(y, 5, MON, -1), "Memorial Day"));
    if y >= 2022 {
        out.push(fixed(ymd(y, 6, 19), "Juneteenth", "Juneteenth (observed)"));
    }
    out.push(fixed(ymd(y, 7, 4), "Independence Day", "Independence Day (observed)"));
    out.push((nth_weekday_of_month(y, 9, MON, 1), "Labor Day"));
    out.push((nth_weekday_of_month(y, 11, THU, 4), "Thanksgiving Day"));
    out.push(fixed(ymd(y, 12, 25), "Christmas Day", "Christmas Day (observed)"));
    out
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

/// A date range `[from, to]`, both inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Range {
    pub from: Day,
    pub to: Day,
}

impl Range {
    pub fn sessions(self) -> u32 {
        sessions_between(self.from, self.to)
    }
}

impl std::fmt::Display for Range {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", format_day(self.from), format_day(self.to))
    }
}

/// Timestamps the time zone code can place (years 1900..9000). A bar outside them
/// (a server's garbage) is stored but records no day, rather than stopping the writer.
const MIN_MS: i64 = -2_208_988_800_000;
const MAX_MS: i64 = 221_845_392_000_000;

/// One New York civil day and its bounds in epoch milliseconds, `[start_ms, end_ms)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DaySpan {
    pub day: Day,
    pub start_ms: i64,
    pub end_ms: i64,
}

impl DaySpan {
    pub fn of(ts: i64) -> Option<DaySpan> {
        if !(MIN_MS..=MAX_MS).contains(&ts) {
            return None;
        }
        let day = ny_day_of_ms(ts);
        Some(DaySpan { day, start_ms: ny_midnight_ms(day), end_ms: ny_midnight_ms(day + 1) })
    }

    pub fn contains(&self, ts: i64) -> bool {
        self.start_ms <= ts && ts < self.end_ms
    }
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
        assert!(!is_session(d), "New Year's Day");
        assert_eq!(sessions_between(d, d + 6), 4);
        assert_eq!(sessions_between(d, d + 13), 9);
        assert_eq!(sessions_between(d + 5, d + 6), 0);
        assert_eq!(nth_session_from(d, 6), d + 8);
    }

    fn days(list: &[&str]) -> Vec<Day> {
        list.iter().map(|d| parse_date(d).unwrap()).collect()
    }

    fn closed_in(year: i16) -> Vec<Day> {
        (ymd(year, 1, 1)..=ymd(year, 12, 31)).filter(|&d| is_weekday(d) && !is_session(d)).collect()
    }

    #[test]
    fn nyse_holidays_match_the_exchanges_published_calendars() {
        // NYSE's holiday pages for these years.
        let y2023 = [
            "2023-01-02",
            "2023-01-16",
            "2023-02-20",
            "2023-04-07",
            "2023-05-29",
            "2023-06-19",
            "2023-07-04",
            "2023-09-04",
            "2023-11-23",
            "2023-12-25",
        ];
        let y2024 = [
            "2024-01-01",
            "2024-01-15",
            "2024-02-19",
            "2024-03-29",
            "2024-05-27",
            "2024-06-19",
            "2024-07-04",
            "2024-09-02",
            "2024-11-28",
            "2024-12-25",
        ];
        let y2025 = [
            "2025-01-01",
            "2025-01-09",
            "2025-01-20",
            "2025-02-17",
            "2025-04-18",
            "2025-05-26",
            "2025-06-19",
            "2025-07-04",
            "2025-09-01",
            "2025-11-27",
            "2025-12-25",
        ];
        let y2026 = [
            "2026-01-01",
            "2026-01-19",
            "2026-02-16",
            "2026-04-03",
            "2026-05-25",
            "2026-06-19",
            "2026-07-03",
            "2026-09-07",
            "2026-11-26",
            "2026-12-25",
        ];
        let y2027 = [
            "2027-01-01",
            "2027-01-18",
            "2027-02-15",
            "2027-03-26",
            "2027-05-31",
            "2027-06-18",
            "2027-07-05",
            "2027-09-06",
            "2027-11-25",
            "2027-12-24",
        ];
        // 2022: New Year's Day on a Saturday is not observed; Christmas on Sunday moves to Monday.
        let y2022 = [
            "2022-01-17",
            "2022-02-21",
            "2022-04-15",
            "2022-05-30",
            "2022-06-20",
            "2022-07-04",
            "2022-09-05",
            "2022-11-24",
            "2022-12-26",
        ];
        // 2012: Hurricane Sandy; 2018: President Bush's day of mourning.
        let y2012 = [
            "2012-01-02",
            "2012-01-16",
            "2012-02-20",
            "2012-04-06",
            "2012-05-28",
            "2012-07-04",
            "2012-09-03",
            "2012-10-29",
            "2012-10-30",
            "2012-11-22",
            "2012-12-25",
        ];
        for (year, want) in [
            (2012, &y2012[..]),
            (2022, &y2022[..]),
            (2023, &y2023[..]),
            (2024, &y2024[..]),
            (2025, &y2025[..]),
            (2026, &y2026[..]),
            (2027, &y2027[..]),
        ] {
            assert_eq!(closed_in(year), days(want), "{year}");
        }
        assert!(!is_session(parse_date("2018-12-05").unwrap()));
        assert!(is_session(parse_date("2021-12-31").unwrap()), "Friday before a Saturday New Year trades");
        // 252 sessions in 2024: 262 weekdays less 10 holidays.
        assert_eq!(sessions_between(ymd(2024, 1, 1), ymd(2024, 12, 31)), 252);
    }

    #[test]
    fn session_counting_agrees_with_day_by_day() {
        let from = ymd(2019, 12, 20);
        for len in 0..400 {
            let to = from + len;
            let slow = (from..=to).filter(|&d| is_session(d)).count() as u32;
            assert_eq!(sessions_between(from, to), slow, "{}..{}", format_day(from), format_day(to));
        }
        // 2024-03-28 (Thursday) then Good Friday: the second session is Monday.
        assert_eq!(nth_session_from(ymd(2024, 3, 28), 2), ymd(2024, 4, 1));
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
    fn closures_are_named() {
        let reason = |d: &str| closure_reason(parse_date(d).unwrap());
        assert_eq!(reason("2024-12-25"), Some("Christmas Day"));
        assert_eq!(reason("2022-12-26"), Some("Christmas Day (observed)"));
        assert_eq!(reason("2024-12-28"), Some("a Saturday"));
        assert_eq!(reason("2024-12-29"), Some("a Sunday"));
        assert_eq!(reason("2012-10-29"), Some("Hurricane Sandy"));
        assert_eq!(reason("2024-03-29"), Some("Good Friday"));
        assert_eq!(reason("2024-12-24"), None);
        // Every weekday closure the calendar knows has a name.
        for d in first_day()..ymd(2030, 1, 1) {
            assert_eq!(closure_reason(d).is_some(), !is_session(d), "{}", format_day(d));
        }
    }

    #[test]
    fn rejects_impossible_dates() {
        assert!(parse_date("2024-02-30").is_err());
        assert!(parse_date("2024-13-01").is_err());
        assert!(parse_date("24-01-01").is_err());
        assert!(parse_date("2024-1-01").is_err());
    }
}
