//! What an asset class is, in one place: the prefix that names it, the days it trades and
//! how a day is bounded, how its day bars are stamped, which grouped-daily endpoint holds
//! it, and what its bars carry. The planner, the scheduler, the page checks, the store's
//! days and coverage, and the simulator ask this module instead of assuming NYSE
//! sessions. Plain data and rules, beside `calendar`; facts and sources are in
//! `docs/markets.md`.

mod days;
mod options;

use std::fmt;

pub use days::{DayStamp, DayZone};
pub use options::{ContractType, OptionContract};

use crate::calendar::{self, Day, Range};

/// An asset class the aggregates endpoints serve, told apart by the ticker's prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// US stocks and ETFs: no prefix.
    Stocks,
    /// `X:BTCUSD`.
    Crypto,
    /// `C:EURUSD`.
    Forex,
    /// `I:SPX`.
    Indices,
    /// `O:` and an OCC symbol, e.g. `O:SPY251219C00650000`.
    Options,
}

/// The grouped-daily endpoint of a class: `/v2/aggs/grouped/locale/{locale}/market/{market}/{date}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Grouped {
    pub locale: &'static str,
    pub market: &'static str,
}

impl Class {
    pub const ALL: [Class; 5] = [Class::Stocks, Class::Crypto, Class::Forex, Class::Indices, Class::Options];

    /// The class a ticker's prefix names. An unknown prefix or an option ticker that is
    /// not an OCC symbol is refused, naming the ticker and what was expected.
    pub fn of(ticker: &str) -> Result<Class, String> {
        let Some((prefix, body)) = ticker.split_once(':') else { return Ok(Class::Stocks) };
        let class = match prefix {
            "X" => Class::Crypto,
            "C" => Class::Forex,
            "I" => Class::Indices,
            "O" => Class::Options,
            _ => {
                return Err(format!(
                    "'{ticker}' has the prefix '{prefix}:', which names no asset class; known: none (US stocks), \
                     X: (crypto), C: (forex), I: (indices), O: (options)"
                ));
            }
        };
        if body.is_empty() || body.contains(':') {
            return Err(format!("'{ticker}' has nothing after its prefix '{prefix}:' but a symbol may follow it"));
        }
        if class == Class::Options {
            OptionContract::parse(ticker)?;
        }
        Ok(class)
    }

    /// The class of a ticker already checked by [`Class::of`]; a ticker that never was
    /// (a name from reference data) is taken by its prefix alone, stocks when it has none
    /// barfill knows.
    pub fn of_checked(ticker: &str) -> Class {
        match ticker.split_once(':').map(|(p, _)| p) {
            Some("X") => Class::Crypto,
            Some("C") => Class::Forex,
            Some("I") => Class::Indices,
            Some("O") => Class::Options,
            _ => Class::Stocks,
        }
    }

    /// The API's own name for the class (`market=` of the reference endpoints).
    pub fn name(self) -> &'static str {
        match self {
            Class::Stocks => "stocks",
            Class::Crypto => "crypto",
            Class::Forex => "fx",
            Class::Indices => "indices",
            Class::Options => "options",
        }
    }

    /// A short label for screens: `stock`, `crypto`, `fx`, `index`, `option`.
    pub fn label(self) -> &'static str {
        match self {
            Class::Stocks => "stock",
            Class::Crypto => "crypto",
            Class::Forex => "fx",
            Class::Indices => "index",
            Class::Options => "option",
        }
    }

    /// What the class's days are, for messages and the plan's header.
    pub fn days_name(self) -> &'static str {
        match self {
            Class::Stocks => "NYSE sessions",
            Class::Crypto => "calendar days (UTC)",
            Class::Forex => "forex days (Sunday to Friday, UTC)",
            Class::Indices => "weekdays",
            Class::Options => "NYSE sessions, up to each contract's expiration",
        }
    }

    /// Where a day begins and ends for the class's bars.
    pub fn zone(self) -> DayZone {
        match self {
            Class::Crypto | Class::Forex => DayZone::Utc,
            _ => DayZone::NewYork,
        }
    }

    /// A day the class may have bars: crypto every day; forex from Sunday 17:00 to Friday
    /// 17:00 New York, which in UTC days is Sunday to Friday; indices every weekday (some
    /// print on NYSE holidays); stocks and options the NYSE sessions.
    pub fn is_day(self, day: Day) -> bool {
        match self {
            Class::Stocks | Class::Options => calendar::is_session(day),
            Class::Crypto => true,
            Class::Forex => calendar::weekday_index(day) != 5,
            Class::Indices => calendar::is_weekday(day),
        }
    }

    /// A day that should hold bars, so that coverage calls it missing without them: the
    /// class's days, except that an index need not print on an NYSE holiday.
    pub fn expects(self, day: Day) -> bool {
        match self {
            Class::Indices => calendar::is_session(day),
            _ => self.is_day(day),
        }
    }

    /// The class's days in `[from, to]`, both inclusive.
    pub fn days_between(self, from: Day, to: Day) -> u32 {
        if to < from {
            return 0;
        }
        match self {
            Class::Stocks | Class::Options => calendar::sessions_between(from, to),
            Class::Crypto => (to - from + 1) as u32,
            Class::Forex | Class::Indices => days::weekly_days(from, to, |w| self.is_day(w)),
        }
    }

    pub fn days_in(self, range: Range) -> u32 {
        self.days_between(range.from, range.to)
    }

    /// Days that should hold bars in `[from, to]` (see [`Class::expects`]).
    pub fn expected_between(self, from: Day, to: Day) -> u32 {
        match self {
            Class::Indices => calendar::sessions_between(from, to),
            _ => self.days_between(from, to),
        }
    }

    /// The `n`th day of the class from `from`, counting `from` itself when it is one.
    pub fn nth_day_from(self, from: Day, n: u32) -> Day {
        match self {
            Class::Stocks | Class::Options => calendar::nth_session_from(from, n),
            Class::Crypto => from + n.max(1) as i32 - 1,
            _ => {
                let mut d = from;
                let mut seen = 0;
                loop {
                    if self.is_day(d) {
                        seen += 1;
                        if seen >= n {
                            return d;
                        }
                    }
                    d += 1;
                }
            }
        }
    }

    /// Why the class has no bars on `day`, or `None` when it may.
    pub fn closure_reason(self, day: Day) -> Option<&'static str> {
        match self {
            Class::Stocks | Class::Options => calendar::closure_reason(day),
            Class::Crypto => None,
            Class::Forex => (!self.is_day(day)).then_some("a Saturday, when forex does not trade"),
            Class::Indices => match calendar::weekday_index(day) {
                5 => Some("a Saturday"),
                6 => Some("a Sunday"),
                _ => None,
            },
        }
    }

    /// Minute bars a day can hold at most: what a window of minute bars is sized by.
    /// Stocks and indices 04:00-20:00 New York (some indices print outside regular hours);
    /// options 09:30-16:15 (index options trade to 16:15); crypto and forex the whole day.
    pub fn minutes_per_day(self) -> u32 {
        match self {
            Class::Stocks | Class::Indices => 16 * 60,
            Class::Options => 405,
            Class::Crypto | Class::Forex => 24 * 60,
        }
    }

    /// The grouped-daily endpoint holding the class, if any: options and indices have none.
    pub fn grouped(self) -> Option<Grouped> {
        match self {
            Class::Stocks => Some(Grouped { locale: "us", market: "stocks" }),
            Class::Crypto => Some(Grouped { locale: "global", market: "crypto" }),
            Class::Forex => Some(Grouped { locale: "global", market: "fx" }),
            Class::Indices | Class::Options => None,
        }
    }

    /// Indices are values, not trades: their bars carry no volume, vwap or count.
    pub fn has_volume(self) -> bool {
        self != Class::Indices
    }

    /// Whether the aggregates endpoints take `adjusted` for the class (not for indices).
    pub fn takes_adjusted(self) -> bool {
        self != Class::Indices
    }

    /// Only stocks split; the splits endpoint is asked about nothing else.
    pub fn has_splits(self) -> bool {
        self == Class::Stocks
    }

    /// The stamps a day bar of the class may carry. One where the API's is known (stocks
    /// and options at New York midnight, forex at UTC midnight); the candidates where it
    /// is not (crypto, indices), of which a page must use one throughout.
    pub fn day_stamps(self) -> &'static [DayStamp] {
        match self {
            Class::Stocks | Class::Options => &[DayStamp::NewYorkMidnight],
            Class::Forex => &[DayStamp::UtcMidnight],
            Class::Crypto => &[DayStamp::UtcMidnight, DayStamp::NewYorkMidnight],
            Class::Indices => &[DayStamp::NewYorkMidnight, DayStamp::ChicagoMidnight],
        }
    }

    /// The stamp a day bar gets when barfill sets it (grouped answers, stamped at the
    /// day's end): the class's first candidate.
    pub fn default_stamp(self) -> DayStamp {
        self.day_stamps()[0]
    }

    /// The candidate stamp `ts` is, for a bar of the class's day it falls on.
    pub fn stamp_of(self, ts: i64) -> Option<DayStamp> {
        let day = self.zone().day_of_ms(ts)?;
        self.day_stamps().iter().copied().find(|s| s.at(day) == ts)
    }

    /// The last day a ticker of the class can have bars: an option's expiration.
    pub fn last_day_of(self, ticker: &str) -> Option<Day> {
        match self {
            Class::Options => OptionContract::parse(ticker).ok().map(|c| c.expiration),
            _ => None,
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The part of `range` a ticker can have bars in: an option's range ends at its expiration.
pub fn life_range(ticker: &str, range: Range) -> Range {
    match Class::of_checked(ticker).last_day_of(ticker) {
        Some(last) => Range { from: range.from, to: range.to.min(last) },
        None => range,
    }
}

#[cfg(test)]
mod tests;
