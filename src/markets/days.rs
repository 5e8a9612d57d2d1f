//! How a class bounds its days and stamps its day bars.

use std::sync::OnceLock;

use jiff::Timestamp;
use jiff::civil::{DateTime, Time};
use jiff::tz::TimeZone;

use crate::calendar::{self, Day, DaySpan, MS_PER_DAY};

/// Where a class's day begins: New York midnight (stocks, options, indices) or UTC
/// midnight (crypto and forex, which the API describes in UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DayZone {
    NewYork,
    Utc,
}

impl DayZone {
    /// Epoch milliseconds at which `day` begins.
    pub fn start_ms(self, day: Day) -> i64 {
        match self {
            DayZone::NewYork => calendar::ny_midnight_ms(day),
            DayZone::Utc => day as i64 * MS_PER_DAY,
        }
    }

    /// The day holding the instant `ms`, and its bounds; `None` for an instant the time
    /// zone code cannot place (a server's garbage).
    pub fn span_of(self, ms: i64) -> Option<DaySpan> {
        match self {
            DayZone::NewYork => DaySpan::of(ms),
            DayZone::Utc => {
                let day = Day::try_from(ms.div_euclid(MS_PER_DAY)).ok()?;
                Some(DaySpan { day, start_ms: self.start_ms(day), end_ms: self.start_ms(day + 1) })
            }
        }
    }

    /// The day holding `ms`; `None` as for [`DayZone::span_of`].
    pub fn day_of_ms(self, ms: i64) -> Option<Day> {
        self.span_of(ms).map(|s| s.day)
    }

    /// `[start, end]` in epoch ms of the days `from..=to`, both ends inclusive.
    pub fn bounds(self, from: Day, to: Day) -> (i64, i64) {
        (self.start_ms(from), self.start_ms(to + 1) - 1)
    }

    pub fn name(self) -> &'static str {
        match self {
            DayZone::NewYork => "New York",
            DayZone::Utc => "UTC",
        }
    }
}

/// The instant a day bar is stamped with, relative to the day it stands for. The API's
/// rule is the bar's start, but where it starts is known only for some classes: the
/// candidates are the midnights the official examples show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DayStamp {
    UtcMidnight,
    NewYorkMidnight,
    /// 00:00 Central time: both official index day-bar examples sit at 06:00Z in winter.
    ChicagoMidnight,
}

impl DayStamp {
    /// The stamp of the bar for `day`.
    pub fn at(self, day: Day) -> i64 {
        match self {
            DayStamp::UtcMidnight => DayZone::Utc.start_ms(day),
            DayStamp::NewYorkMidnight => calendar::ny_midnight_ms(day),
            DayStamp::ChicagoMidnight => {
                let dt = DateTime::from_parts(calendar::date_of(day), Time::midnight());
                chicago().to_timestamp(dt).expect("timestamp within range").as_millisecond()
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DayStamp::UtcMidnight => "UTC midnight",
            DayStamp::NewYorkMidnight => "New York midnight",
            DayStamp::ChicagoMidnight => "Chicago midnight",
        }
    }

    /// `ts` as a reader checks a stamp: its UTC time of day.
    pub fn describe(ts: i64) -> String {
        match Timestamp::from_millisecond(ts) {
            Ok(t) => t.strftime("%Y-%m-%d %H:%M UTC").to_string(),
            Err(_) => ts.to_string(),
        }
    }
}

fn chicago() -> &'static TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| TimeZone::get("America/Chicago").expect("tzdb is bundled"))
}

/// Days in `[from, to]` for which `is_day` holds, when it depends on the weekday alone:
/// whole weeks counted at once.
pub(super) fn weekly_days(from: Day, to: Day, is_day: impl Fn(Day) -> bool) -> u32 {
    let per_week = (from..from + 7).filter(|&d| is_day(d)).count() as u32;
    let weeks = (to - from + 1) / 7;
    let rest = (from + weeks * 7..=to).filter(|&d| is_day(d)).count() as u32;
    weeks as u32 * per_week + rest
}
