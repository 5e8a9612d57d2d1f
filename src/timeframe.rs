//! Timeframes as written in the config (`1/minute`, `5/minute`, `1/hour`, `1/day`) and
//! the arithmetic the API's `limit` imposes on them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Minute bars are built only from 04:00 to 20:00 New York time.
pub const MINUTES_PER_SESSION: u32 = 16 * 60;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timespan {
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

/// The bars the server counts against `limit` when it builds a timeframe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseUnit {
    Minute,
    Day,
}

impl Timespan {
    pub const ALL: [Timespan; 7] = [
        Timespan::Minute,
        Timespan::Hour,
        Timespan::Day,
        Timespan::Week,
        Timespan::Month,
        Timespan::Quarter,
        Timespan::Year,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Timespan::Minute => "minute",
            Timespan::Hour => "hour",
            Timespan::Day => "day",
            Timespan::Week => "week",
            Timespan::Month => "month",
            Timespan::Quarter => "quarter",
            Timespan::Year => "year",
        }
    }

    pub fn base(self) -> BaseUnit {
        match self {
            Timespan::Minute | Timespan::Hour => BaseUnit::Minute,
            _ => BaseUnit::Day,
        }
    }
}

impl FromStr for Timespan {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Timespan::ALL.into_iter().find(|t| t.as_str() == s).ok_or_else(|| {
            let hint = if s == "second" {
                " (second bars are not supported: a year of them is ~15M rows per symbol)"
            } else {
                ""
            };
            format!("unknown timespan '{s}'{hint}; expected one of minute, hour, day, week, month, quarter, year")
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timeframe {
    pub multiplier: u32,
    pub timespan: Timespan,
}

impl Timeframe {
    pub const fn new(multiplier: u32, timespan: Timespan) -> Self {
        Timeframe { multiplier, timespan }
    }

    pub fn base(self) -> BaseUnit {
        self.timespan.base()
    }

    /// Bucket width in minutes for intraday timeframes.
    pub fn minutes(self) -> Option<u32> {
        match self.timespan {
            Timespan::Minute => Some(self.multiplier),
            Timespan::Hour => Some(self.multiplier * 60),
            _ => None,
        }
    }

    /// The one timeframe the grouped-daily endpoint can serve.
    pub fn is_daily(self) -> bool {
        self.multiplier == 1 && self.timespan == Timespan::Day
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.multiplier, self.timespan.as_str())
    }
}

impl FromStr for Timeframe {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (m, span) = s
            .split_once('/')
            .ok_or_else(|| format!("timeframe '{s}' must be MULTIPLIER/TIMESPAN, for example 1/minute or 1/day"))?;
        let multiplier: u32 = m
            .trim()
            .parse()
            .map_err(|_| format!("timeframe '{s}': multiplier '{m}' is not a positive whole number"))?;
        if multiplier == 0 {
            return Err(format!("timeframe '{s}': multiplier must be at least 1"));
        }
        let timespan: Timespan = span.trim().parse().map_err(|e| format!("timeframe '{s}': {e}"))?;
        let tf = Timeframe { multiplier, timespan };
        if let Some(minutes) = tf.minutes()
            && minutes > 24 * 60
        {
            return Err(format!("timeframe '{s}' is longer than a day; use a day-based timespan instead"));
        }
        Ok(tf)
    }
}

impl Serialize for Timeframe {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_as_written() {
        for s in ["1/minute", "5/minute", "1/hour", "1/day", "1/week", "3/month"] {
            let tf: Timeframe = s.parse().unwrap();
            assert_eq!(tf.to_string(), s);
        }
        assert_eq!("1/hour".parse::<Timeframe>().unwrap().base(), BaseUnit::Minute);
        assert_eq!("1/week".parse::<Timeframe>().unwrap().base(), BaseUnit::Day);
    }

    #[test]
    fn names_what_is_wrong() {
        let e = "1/minutes".parse::<Timeframe>().unwrap_err();
        assert!(e.contains("unknown timespan 'minutes'"), "{e}");
        assert!("0/day".parse::<Timeframe>().unwrap_err().contains("at least 1"));
        assert!("minute".parse::<Timeframe>().unwrap_err().contains("MULTIPLIER/TIMESPAN"));
        assert!("x/day".parse::<Timeframe>().unwrap_err().contains("not a positive"));
        assert!("1/second".parse::<Timeframe>().unwrap_err().contains("not supported"));
    }
}
