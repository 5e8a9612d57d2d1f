//! The values of settings that are more than a number: the fixes, fix 3's worker count and
//! the universes. Plain data; `validate` decides what spellings they accept.

use std::fmt;
use std::time::Duration;

use crate::markets::Class;

/// One of the original pipeline's three fixes; the number is the key that toggles it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fix {
    Backoff,
    Batching,
    Parallel,
}

impl Fix {
    pub const ALL: [Fix; 3] = [Fix::Backoff, Fix::Batching, Fix::Parallel];

    pub fn number(self) -> u8 {
        match self {
            Fix::Backoff => 1,
            Fix::Batching => 2,
            Fix::Parallel => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Fix::Backoff => "backoff",
            Fix::Batching => "batching",
            Fix::Parallel => "parallel",
        }
    }

    pub fn from_number(n: u8) -> Option<Fix> {
        Fix::ALL.into_iter().find(|f| f.number() == n)
    }
}

/// Which fixes are on. Serialised as its label (`1,2,3`, `none`), the spelling of `--fixes`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixes {
    pub backoff: bool,
    pub batching: bool,
    pub parallel: bool,
}

impl Fixes {
    pub const ALL: Fixes = Fixes { backoff: true, batching: true, parallel: true };
    pub const NONE: Fixes = Fixes { backoff: false, batching: false, parallel: false };

    pub fn get(self, fix: Fix) -> bool {
        match fix {
            Fix::Backoff => self.backoff,
            Fix::Batching => self.batching,
            Fix::Parallel => self.parallel,
        }
    }

    pub fn set(&mut self, fix: Fix, on: bool) {
        match fix {
            Fix::Backoff => self.backoff = on,
            Fix::Batching => self.batching = on,
            Fix::Parallel => self.parallel = on,
        }
    }

    /// `1,2,3`, `1`, or `none`: the same spelling `--fixes` takes.
    pub fn label(self) -> String {
        let on: Vec<String> = Fix::ALL.into_iter().filter(|f| self.get(*f)).map(|f| f.number().to_string()).collect();
        if on.is_empty() { "none".into() } else { on.join(",") }
    }

    pub fn parse(s: &str) -> Result<Fixes, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("none") {
            return Ok(Fixes::NONE);
        }
        if s.eq_ignore_ascii_case("all") {
            return Ok(Fixes::ALL);
        }
        let mut fixes = Fixes::NONE;
        for part in s.split(',') {
            let fix = part.trim().parse::<u8>().ok().and_then(Fix::from_number).ok_or_else(|| {
                format!(
                    "'{}' is not a fix; use numbers from 1,2,3 (1 backoff, 2 batching, 3 parallel), 'all' or 'none'",
                    part.trim()
                )
            })?;
            fixes.set(fix, true);
        }
        Ok(fixes)
    }
}

impl fmt::Display for Fixes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

impl serde::Serialize for Fixes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Fixes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Fixes::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// How many workers fix 3 runs: `--concurrency auto|N`, `[fixes] concurrency`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Concurrency {
    /// The engine sizes the pool while the run goes (grows while throughput grows, backs off
    /// on 429s or a busy writer). The default.
    #[default]
    Auto,
    /// Exactly this many workers, from 1 to [`Concurrency::MAX`].
    Fixed(u32),
}

impl Concurrency {
    pub const MAX: u32 = 64;
    /// The seed's fix 3: three workers, their starts [`Concurrency::SEED_FIX3_STAGGER`]
    /// apart. Kept as a preset so the bench's progression measures fix 3 as the original
    /// plan proposed it, whatever the defaults become.
    pub const SEED_FIX3: Concurrency = Concurrency::Fixed(3);
    pub const SEED_FIX3_STAGGER: Duration = Duration::from_secs(5);
    /// The fewest workers an `Auto` run starts with: the seed's count.
    pub const AUTO_START: u32 = 3;
    /// The latency of a page assumed before any is measured, for the starting count of a
    /// paced run (Little's law: quota x latency, plus one). Half a second is a full
    /// simulator page; the API's are often longer, and the controller grows from there.
    /// Starting from 3 at 1,200/min, the ramp by doubling took 7 s, half of a 15 s run, while
    /// rows waited (`bench --profile quotas`); a worker too many only waits at the pacer.
    pub const FIRST_LATENCY_S: f64 = 0.5;
    /// Workers an `Auto` run starts with at a paid plan's pace: latency, not the quota,
    /// sets its speed, and a run of seconds would spend most of itself climbing from 3.
    /// On the unlimited bench (2 cores) 16 was the best fixed count, and starting there
    /// took the defaults from 0.77x to 0.84x the bare insert rate (12 before).
    pub const AUTO_START_PAID: u32 = 16;
    /// A quota above this is a paid plan's: those are "unlimited", with the advice to stay
    /// under about 100 requests a second (6000 a minute). A quota of 6000 or less is one
    /// barfill keeps to, where every request costs time, so it is paced and sized as a
    /// quota; above it throughput sets the worker count and rows may be cut.
    pub const PAID_PACE_PER_MIN: u32 = 10_000;

    /// Workers to start the run with; `paced` says fix 2 keeps the quota (without it,
    /// workers beyond the seed's three would only meet 429s sooner).
    pub fn initial_workers(self, quota_per_min: u32, paced: bool) -> u32 {
        match self {
            Concurrency::Auto if quota_per_min >= Concurrency::PAID_PACE_PER_MIN => Concurrency::AUTO_START_PAID,
            Concurrency::Auto if !paced => Concurrency::AUTO_START,
            Concurrency::Auto => {
                let in_flight = (f64::from(quota_per_min) / 60.0 * Concurrency::FIRST_LATENCY_S).ceil() as u32 + 1;
                in_flight.clamp(Concurrency::AUTO_START, Concurrency::AUTO_START_PAID)
            }
            Concurrency::Fixed(n) => n,
        }
    }

    pub fn is_auto(self) -> bool {
        self == Concurrency::Auto
    }

    /// The stagger when none is configured. With `Auto` it is zero: fix 2's shared pacer
    /// already spaces every request, so a stagger only adds dead time before workers
    /// start, and the controller ramps the pool up itself. A fixed count keeps the seed's
    /// stagger, so a configuration that named a count behaves as it did.
    pub fn default_stagger(self) -> Duration {
        match self {
            Concurrency::Auto => Duration::ZERO,
            Concurrency::Fixed(_) => Concurrency::SEED_FIX3_STAGGER,
        }
    }
}

/// `auto` or the count: the spelling `--concurrency` takes.
impl fmt::Display for Concurrency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Concurrency::Auto => f.write_str("auto"),
            Concurrency::Fixed(n) => write!(f, "{n}"),
        }
    }
}

/// A set of tickers named by reference data instead of a list: `--universe`, `universe`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Universe {
    /// Every active common stock and ETF (`/v3/reference/tickers`, market `stocks`, types
    /// `CS` and `ETF`); with `universe_as_of`, those listed on that day, delisted since
    /// included.
    Stocks,
    /// Every crypto pair (market `crypto`).
    Crypto,
    /// Every forex pair (market `fx`).
    Fx,
    /// Every index (market `indices`).
    Indices,
}

impl Universe {
    pub const ALL: [Universe; 4] = [Universe::Stocks, Universe::Crypto, Universe::Fx, Universe::Indices];

    pub fn name(self) -> &'static str {
        self.class().name()
    }

    pub fn describe(self) -> &'static str {
        match self {
            Universe::Stocks => "all active common stocks and ETFs",
            Universe::Crypto => "all crypto pairs",
            Universe::Fx => "all forex pairs",
            Universe::Indices => "all indices",
        }
    }

    /// The asset class its tickers belong to; its name is the reference endpoint's `market`.
    pub fn class(self) -> Class {
        match self {
            Universe::Stocks => Class::Stocks,
            Universe::Crypto => Class::Crypto,
            Universe::Fx => Class::Forex,
            Universe::Indices => Class::Indices,
        }
    }
}

impl fmt::Display for Universe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
