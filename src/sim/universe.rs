//! The simulator's tickers: the real liquid names of `assets/universe.txt`, one renamed
//! company (FB until 2022-06-08, META from 2022-06-09) and synthetic names, each with a
//! type, a market, a listing venue, identifiers, a life (listed, maybe delisted), a
//! liquidity (the share of minutes that trade) and splits; beside the stocks, crypto
//! pairs, forex pairs and indices (`markets`), and option chains made on demand
//! (`options`). Everything is derived from the ticker's name, so two universes of the
//! same size are the same universe; only `add_split` and `reveal_split` change one after
//! it is built.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use jiff::civil::Date;

use super::markets;
use crate::calendar::{self, Day};
use crate::markets::{Class, DayStamp};

const REAL_NAMES: &str = include_str!("../../assets/universe.txt");
const REAL_REF: &str = include_str!("../../assets/universe_ref.txt");

/// The first session with stock history, as the API's: no bars before it.
pub fn history_start() -> Day {
    ymd(2003, 9, 10)
}

pub(super) fn ymd(y: i16, m: i8, d: i8) -> Day {
    calendar::day_of(Date::new(y, m, d).expect("a valid constant date"))
}

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform draw in [0, 1) from 53 bits of `x`.
pub(super) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

pub(super) fn ticker_seed(ticker: &str) -> u64 {
    ticker.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn draw(seed: u64, salt: u64) -> f64 {
    unit(splitmix(seed ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93)))
}

fn day_between(seed: u64, salt: u64, from: Day, to: Day) -> Day {
    from + (draw(seed, salt) * (to - from + 1) as f64) as Day
}

fn session_on_or_after(mut d: Day) -> Day {
    while !calendar::is_session(d) {
        d += 1;
    }
    d
}

fn session_on_or_before(mut d: Day) -> Day {
    while !calendar::is_session(d) {
        d -= 1;
    }
    d
}

/// One ticker as the reference endpoints describe it, with what its bars need.
#[derive(Clone, Debug)]
pub struct TickerInfo {
    pub ticker: String,
    pub class: Class,
    /// An index that prints on NYSE holidays as well (some do, the API's files show).
    pub holidays: bool,
    pub name: String,
    /// `CS`, `ETF`, `ADRC`, `PFD` or `WARRANT`.
    pub kind: &'static str,
    /// Over the counter: grouped answers leave it out unless `include_otc=true`.
    pub otc: bool,
    /// ISO 10383 MIC; OTC names have none.
    pub primary_exchange: Option<&'static str>,
    pub cik: String,
    pub composite_figi: String,
    pub share_class_figi: String,
    /// The day it was listed (may be before the history start).
    pub list_date: Day,
    /// The last session it traded; `None` while it trades.
    pub last_day: Option<Day>,
    /// Share of the 960 minutes from 04:00 to 20:00 New York that have a bar: 1.0 for the
    /// liquid names, 0.1 to 0.9 for the synthetic ones.
    pub density: f64,
    /// Seeds the price path; FB and META share one, being one company.
    pub(super) path_seed: u64,
    /// The price path's level, scaled by the splits the universe was built with so that
    /// today's raw prices look like prices.
    pub(super) price_base: f64,
}

impl TickerInfo {
    /// The first day with bars: its listing, or its class's history start if it was listed before.
    pub fn first_day(&self) -> Day {
        let mut d = self.list_date.max(markets::history_start(self.class));
        while !self.trades_on_class_day(d) {
            d += 1;
        }
        d
    }

    /// Whether `day` has bars for this ticker.
    pub fn trades_on(&self, day: Day) -> bool {
        day >= self.first_day() && self.last_day.is_none_or(|l| day <= l) && self.trades_on_class_day(day)
    }

    /// A day its class trades, as this ticker sees it: an index prints on NYSE sessions,
    /// or on every weekday when it prints on holidays too.
    pub fn trades_on_class_day(&self, day: Day) -> bool {
        match self.class {
            Class::Indices if !self.holidays => calendar::is_session(day),
            class => class.is_day(day),
        }
    }

    /// Listed on `day` under this symbol (a point-in-time universe), sessions or not.
    pub fn listed_on(&self, day: Day) -> bool {
        self.list_date <= day && self.last_day.is_none_or(|l| day <= l)
    }

    /// The day the listing ended (the day after its last session), for `delisted_utc`.
    pub fn delisted(&self) -> Option<Day> {
        self.last_day.map(|d| d + 1)
    }

    pub fn market(&self) -> &'static str {
        if self.otc { "otc" } else { self.class.name() }
    }
}

/// A split, forward or reverse, or a stock dividend: on `execution_date` every price is
/// divided by `split_to / split_from` and every volume multiplied by it.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub ticker: String,
    pub execution_date: Day,
    pub split_from: f64,
    pub split_to: f64,
    /// `forward_split`, `reverse_split` or `stock_dividend`.
    pub adjustment_type: &'static str,
    /// Listed by the splits endpoint and applied to adjusted answers. A split not yet
    /// known is already in the raw series, as a split the vendor learns of late is.
    pub known: bool,
}

impl Split {
    pub fn ratio(&self) -> f64 {
        self.split_to / self.split_from
    }

    /// A stable id in the API's style (`E` and 64 hex digits).
    pub fn id(&self) -> String {
        let a = splitmix(ticker_seed(&self.ticker) ^ self.execution_date as u64);
        let (b, c, d) = (splitmix(a), splitmix(a ^ 1), splitmix(a ^ 2));
        format!("E{a:016x}{b:016x}{c:016x}{d:016x}")
    }

    fn new(ticker: &str, day: Day, from: f64, to: f64, kind: Option<&'static str>) -> Split {
        let adjustment_type = kind.unwrap_or(if to >= from { "forward_split" } else { "reverse_split" });
        Split {
            ticker: ticker.to_string(),
            execution_date: day,
            split_from: from,
            split_to: to,
            adjustment_type,
            known: true,
        }
    }
}

/// A calendar date as written: year, month, day.
type Ymd = (i16, i8, i8);

/// Splits of the real names, as they happened (execution dates and ratios).
const REAL_SPLITS: [(&str, Ymd, f64, f64); 12] = [
    ("AAPL", (2005, 2, 28), 1.0, 2.0),
    ("AAPL", (2014, 6, 9), 1.0, 7.0),
    ("AAPL", (2020, 8, 31), 1.0, 4.0),
    ("NVDA", (2021, 7, 20), 1.0, 4.0),
    ("NVDA", (2024, 6, 10), 1.0, 10.0),
    ("TSLA", (2020, 8, 31), 1.0, 5.0),
    ("TSLA", (2022, 8, 25), 1.0, 3.0),
    ("AMZN", (2022, 6, 6), 1.0, 20.0),
    ("GOOGL", (2022, 7, 18), 1.0, 20.0),
    ("GOOG", (2022, 7, 18), 1.0, 20.0),
    ("WMT", (2024, 2, 26), 1.0, 3.0),
    ("AVGO", (2024, 7, 15), 1.0, 10.0),
];

/// Listing dates of real names that listed after 1990; the others get a date before the
/// history start drawn from their seed.
const REAL_LIST_DATES: [(&str, Ymd); 12] = [
    ("AAPL", (1980, 12, 12)),
    ("GOOGL", (2004, 8, 19)),
    ("GOOG", (2014, 4, 3)),
    ("FB", (2012, 5, 18)),
    ("META", (2022, 6, 9)),
    ("TSLA", (2010, 6, 29)),
    ("V", (2008, 3, 19)),
    ("MA", (2006, 5, 25)),
    ("ABBV", (2013, 1, 2)),
    ("PM", (2008, 3, 17)),
    ("AVGO", (2009, 8, 6)),
    ("ZTS", (2013, 2, 1)),
];

/// The FIGI check digit: letters count from 10 (A) up, every second value is doubled, and
/// the digits of all values are summed.
fn figi(seed: u64, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXYZ0123456789";
    let mut body = prefix.to_string();
    let mut x = seed;
    while body.len() < 11 {
        x = splitmix(x);
        body.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
    }
    let sum: u32 = body
        .chars()
        .enumerate()
        .map(|(i, ch)| {
            let v = ch.to_digit(36).expect("alphanumeric");
            let v = if i % 2 == 1 { v * 2 } else { v };
            v / 10 + v % 10
        })
        .sum();
    body.push(char::from_digit((10 - sum % 10) % 10, 10).expect("a digit"));
    body
}

pub(super) fn identifiers(seed: u64) -> (String, String, String) {
    (
        format!("{:010}", 1_000_000 + splitmix(seed ^ 0xC1) % 1_900_000),
        figi(seed ^ 0xF1, "BBG000"),
        figi(seed ^ 0xF2, "BBG001"),
    )
}

fn real_ticker(line: &str) -> Option<TickerInfo> {
    let mut parts = line.splitn(4, '|');
    let (ticker, kind, mic, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let kind = if kind == "ETF" { "ETF" } else { "CS" };
    let mic: &'static str = match mic {
        "XNAS" => "XNAS",
        "ARCX" => "ARCX",
        _ => "XNYS",
    };
    // One company, one path: FB's bars continue as META's.
    let path_seed = ticker_seed(if ticker == "FB" { "META" } else { ticker });
    let list_date = REAL_LIST_DATES
        .iter()
        .find(|(t, _)| *t == ticker)
        .map(|(_, (y, m, d))| ymd(*y, *m, *d))
        .unwrap_or_else(|| day_between(path_seed, 11, ymd(1990, 1, 2), ymd(2003, 9, 9)));
    let last_day = (ticker == "FB").then(|| ymd(2022, 6, 8));
    let (cik, composite_figi, share_class_figi) = identifiers(path_seed);
    Some(TickerInfo {
        ticker: ticker.to_string(),
        class: Class::Stocks,
        holidays: false,
        name: name.to_string(),
        kind,
        otc: false,
        primary_exchange: Some(mic),
        cik,
        composite_figi,
        share_class_figi,
        list_date,
        last_day,
        density: 1.0,
        path_seed,
        price_base: 0.0,
    })
}

/// A synthetic name's life: most trade through the whole history, a few per hundred list
/// or delist in each of 2024, 2025 and 2026 (up to October), the rest at other times.
fn synthetic_life(seed: u64) -> (Day, Option<Day>) {
    let year = |y: i16| (ymd(y, 1, 2), if y == 2026 { ymd(2026, 10, 30) } else { ymd(y, 12, 31) });
    let l = draw(seed, 21);
    let (from, to) = match l {
        x if x < 0.55 => (ymd(1985, 1, 2), ymd(2003, 9, 9)),
        x if x < 0.59 => year(2024),
        x if x < 0.63 => year(2025),
        x if x < 0.67 => year(2026),
        _ => (ymd(2003, 9, 10), ymd(2023, 12, 31)),
    };
    let list = session_on_or_after(day_between(seed, 22, from, to));
    let d = draw(seed, 23);
    let (from, to) = match d {
        x if x < 0.04 => year(2024),
        x if x < 0.08 => year(2025),
        x if x < 0.11 => year(2026),
        x if x < 0.22 => (ymd(2004, 1, 2), ymd(2023, 12, 31)),
        _ => return (list, None),
    };
    let last = session_on_or_before(day_between(seed, 24, from, to));
    // A delisting drawn before (or right after) the listing would leave no life: it trades on.
    if last < list.max(history_start()) + 30 { (list, None) } else { (list, Some(last)) }
}

/// Synthetic splits: some in 2024-2026, a few older ones, forward and reverse (more
/// reverse among the thin OTC names) and the odd stock dividend, always inside the life.
fn synthetic_splits(info: &TickerInfo, seed: u64) -> Vec<Split> {
    let first = info.first_day();
    let last = info.last_day.unwrap_or(ymd(2026, 10, 30));
    let mut out = Vec::new();
    for (salt, chance, from, to) in
        [(31, 0.08, ymd(2024, 1, 2), ymd(2026, 10, 30)), (32, 0.06, ymd(2004, 1, 2), ymd(2023, 12, 29))]
    {
        if draw(seed, salt) >= chance {
            continue;
        }
        let day = session_on_or_after(day_between(seed, salt + 100, from.max(first + 5), to.min(last)));
        if day <= first || day > last {
            continue;
        }
        let r = draw(seed, salt + 200);
        let reverse_odds = if info.otc { 0.6 } else { 0.3 };
        let (f, t, kind) = match r {
            x if x < reverse_odds => ([10.0, 5.0, 20.0][(x * 30.0) as usize % 3], 1.0, None),
            x if x < 0.93 => (1.0, [2.0, 3.0, 4.0][(x * 300.0) as usize % 3], None),
            x if x < 0.97 => (2.0, 3.0, None),
            _ => (1.0, 1.05, Some("stock_dividend")),
        };
        out.push(Split::new(&info.ticker, day, f, t, kind));
    }
    out
}

fn synthetic_ticker(i: u32) -> TickerInfo {
    let letters: String = [i / 676, (i / 26) % 26, i % 26].iter().map(|k| (b'A' + *k as u8) as char).collect();
    let ticker = format!("Z{letters}");
    let seed = ticker_seed(&ticker);
    let otc = draw(seed, 1) < 0.3;
    let k = draw(seed, 2);
    let kind = match k {
        _ if otc => {
            if k < 0.75 {
                "CS"
            } else {
                "ADRC"
            }
        }
        x if x < 0.72 => "CS",
        x if x < 0.84 => "ETF",
        x if x < 0.91 => "ADRC",
        x if x < 0.96 => "PFD",
        _ => "WARRANT",
    };
    let primary_exchange = match (otc, kind, draw(seed, 3)) {
        (true, _, _) => None,
        (_, "ETF", x) if x < 0.7 => Some("ARCX"),
        (_, "ETF", _) => Some("BATS"),
        (_, _, x) if x < 0.55 => Some("XNAS"),
        (_, _, x) if x < 0.92 => Some("XNYS"),
        _ => Some("XASE"),
    };
    let (list_date, last_day) = synthetic_life(seed);
    let (cik, composite_figi, share_class_figi) = identifiers(seed);
    let suffix = match kind {
        "ETF" => " Sector ETF",
        "ADRC" => " Holdings ADR",
        "PFD" => " Corp Preferred Series A",
        "WARRANT" => " Acquisition Corp Warrant",
        _ => {
            if otc {
                " Resources Inc"
            } else {
                " Corp"
            }
        }
    };
    let name = format!("{}{}{suffix}", &ticker[..1], letters.to_lowercase());
    TickerInfo {
        ticker,
        class: Class::Stocks,
        holidays: false,
        name,
        kind,
        otc,
        primary_exchange,
        cik,
        composite_figi,
        share_class_figi,
        list_date,
        last_day,
        density: 0.1 + 0.8 * draw(seed, 4),
        path_seed: seed,
        price_base: 0.0,
    }
}

/// How the simulator stamps the day bars of the classes whose stamp the real API has
/// not confirmed: the first candidate of each by default; tests choose another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayStamps {
    pub crypto: DayStamp,
    pub indices: DayStamp,
}

impl Default for DayStamps {
    fn default() -> Self {
        DayStamps { crypto: Class::Crypto.default_stamp(), indices: Class::Indices.default_stamp() }
    }
}

impl DayStamps {
    /// The stamp of a day bar of `class`.
    pub fn of(&self, class: Class) -> DayStamp {
        match class {
            Class::Crypto => self.crypto,
            Class::Indices => self.indices,
            other => other.default_stamp(),
        }
    }
}

/// Tickers the simulator knows and their splits.
pub struct Universe {
    /// The stocks; `others` hold the crypto pairs, forex pairs and indices.
    tickers: Vec<TickerInfo>,
    others: Vec<TickerInfo>,
    index: HashMap<String, usize>,
    names: Vec<String>,
    /// Every split by ticker, oldest first.
    splits: RwLock<BTreeMap<String, Vec<Split>>>,
    pub stamps: DayStamps,
}

impl Universe {
    /// The real names, FB, and `extra` synthetic ones (`ZAAA`, `ZAAB`, ..., at most 17,576).
    pub fn new(extra: u32) -> Universe {
        let listed: Vec<&str> =
            REAL_NAMES.lines().filter(|l| !l.trim_start().starts_with('#')).flat_map(str::split_whitespace).collect();
        let reference: HashMap<&str, &str> = REAL_REF
            .lines()
            .filter(|l| !l.trim_start().starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| Some((l.split('|').next()?, l)))
            .collect();
        let mut tickers: Vec<TickerInfo> = listed
            .iter()
            .chain(std::iter::once(&"FB"))
            .map(|t| match reference.get(t) {
                Some(line) => real_ticker(line).expect("a well-formed reference line"),
                None => real_ticker(&format!("{t}|CS|XNYS|{t} Inc.")).expect("well-formed"),
            })
            .collect();
        let mut splits: BTreeMap<String, Vec<Split>> = BTreeMap::new();
        for (t, (y, m, d), from, to) in REAL_SPLITS {
            splits.entry(t.to_string()).or_default().push(Split::new(t, ymd(y, m, d), from, to, None));
        }
        for i in 0..extra.min(17_576) {
            let info = synthetic_ticker(i);
            let own = synthetic_splits(&info, info.path_seed);
            if !own.is_empty() {
                splits.insert(info.ticker.clone(), own);
            }
            tickers.push(info);
        }
        for t in &mut tickers {
            let grown: f64 = splits.get(&t.ticker).map_or(1.0, |l| l.iter().map(Split::ratio).product());
            t.price_base = (5.0 + (t.path_seed % 60_000) as f64 / 100.0) * grown;
        }
        let others = markets::tickers();
        let index = tickers.iter().chain(&others).enumerate().map(|(i, t)| (t.ticker.clone(), i)).collect();
        let names = tickers.iter().map(|t| t.ticker.clone()).collect();
        Universe { tickers, others, index, names, splits: RwLock::new(splits), stamps: DayStamps::default() }
    }

    /// This universe, stamping day bars as `stamps` says.
    pub fn with_stamps(mut self, stamps: DayStamps) -> Universe {
        self.stamps = stamps;
        self
    }

    /// A stock, crypto pair, forex pair or index the server knows (options are made on
    /// demand: see [`Universe::lookup`]).
    pub fn contains(&self, ticker: &str) -> bool {
        self.index.contains_key(ticker)
    }

    /// The crypto pairs, forex pairs and indices.
    pub fn others(&self) -> &[TickerInfo] {
        &self.others
    }

    /// Any ticker the server serves bars for, an option contract of a chain included.
    pub fn lookup(&self, ticker: &str) -> Option<std::borrow::Cow<'_, TickerInfo>> {
        match self.info(ticker) {
            Some(t) => Some(std::borrow::Cow::Borrowed(t)),
            None => super::options::contract(self, ticker).map(std::borrow::Cow::Owned),
        }
    }

    /// Every ticker, the real names first.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn tickers(&self) -> &[TickerInfo] {
        &self.tickers
    }

    pub fn info(&self, ticker: &str) -> Option<&TickerInfo> {
        self.index.get(ticker).map(|&i| self.tickers.get(i).unwrap_or_else(|| &self.others[i - self.tickers.len()]))
    }

    pub fn is_otc(&self, ticker: &str) -> bool {
        self.info(ticker).is_some_and(|t| t.otc)
    }

    /// First and last session with bars: `(first, None)` while it still trades.
    pub fn life(&self, ticker: &str) -> Option<(Day, Option<Day>)> {
        self.info(ticker).map(|t| (t.first_day(), t.last_day))
    }

    /// A ticker's splits, oldest first, known or not.
    pub fn splits_of(&self, ticker: &str) -> Vec<Split> {
        self.splits.read().expect("splits lock").get(ticker).cloned().unwrap_or_default()
    }

    /// Every ticker's splits at once, for answers that cover many tickers.
    pub(super) fn splits_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Vec<Split>>> {
        self.splits.read().expect("splits lock")
    }

    /// Every split of every ticker, by ticker then date.
    pub fn all_splits(&self) -> Vec<Split> {
        self.splits.read().expect("splits lock").values().flatten().cloned().collect()
    }

    /// Adds a split (or replaces the one on the same day). `known: false` puts it in the raw
    /// series only, until `reveal_split`.
    pub fn add_split(&self, ticker: &str, day: Day, split_from: f64, split_to: f64, known: bool) -> Result<(), String> {
        if !self.contains(ticker) {
            return Err(format!("unknown ticker '{ticker}'"));
        }
        let valid = |x: f64| x.is_finite() && x > 0.0 && x < 1e6;
        if !valid(split_from) || !valid(split_to) {
            return Err(format!("split {split_from}-for-{split_to}: both sides must be positive"));
        }
        let mut split = Split::new(ticker, day, split_from, split_to, None);
        split.known = known;
        let mut all = self.splits.write().expect("splits lock");
        let list = all.entry(ticker.to_string()).or_default();
        list.retain(|s| s.execution_date != day);
        list.push(split);
        list.sort_by_key(|s| s.execution_date);
        Ok(())
    }

    /// Makes a late split known: listed, and applied to adjusted answers. False if there is
    /// no split of `ticker` on `day`.
    pub fn reveal_split(&self, ticker: &str, day: Day) -> bool {
        let mut all = self.splits.write().expect("splits lock");
        match all.get_mut(ticker).and_then(|l| l.iter_mut().find(|s| s.execution_date == day)) {
            Some(s) => {
                s.known = true;
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    fn synthetic(t: &str) -> bool {
        t.len() == 4 && t.starts_with('Z')
    }

    #[test]
    fn fb_becomes_meta_on_2022_06_09() {
        let u = Universe::new(0);
        let fb = u.info("FB").unwrap();
        let meta = u.info("META").unwrap();
        assert_eq!(u.life("FB"), Some((day("2012-05-18"), Some(day("2022-06-08")))));
        assert_eq!(u.life("META"), Some((day("2022-06-09"), None)));
        assert_eq!(fb.delisted(), Some(day("2022-06-09")));
        assert_eq!((fb.path_seed, &fb.cik, &fb.composite_figi), (meta.path_seed, &meta.cik, &meta.composite_figi));
        assert!(fb.listed_on(day("2022-06-08")) && !fb.listed_on(day("2022-06-09")));
        assert!(!meta.listed_on(day("2022-06-08")) && meta.listed_on(day("2022-06-09")));
    }

    #[test]
    fn synthetic_names_have_lives_types_and_densities_spread_out() {
        let u = Universe::new(2000);
        let synth: Vec<&TickerInfo> = u.tickers().iter().filter(|t| synthetic(&t.ticker)).collect();
        assert_eq!(synth.len(), 2000);
        let in_year = |d: Day, y: i16| d >= ymd(y, 1, 1) && d <= ymd(y, 12, 31);
        for y in [2024, 2025, 2026] {
            let listed = synth.iter().filter(|t| in_year(t.list_date, y)).count();
            let delisted = synth.iter().filter(|t| t.last_day.is_some_and(|d| in_year(d, y))).count();
            // A few per hundred each year.
            assert!((20..=160).contains(&listed), "{y}: {listed} listed");
            assert!((20..=160).contains(&delisted), "{y}: {delisted} delisted");
        }
        for kind in ["CS", "ETF", "ADRC", "PFD", "WARRANT"] {
            assert!(synth.iter().any(|t| t.kind == kind), "{kind}");
        }
        let otc = synth.iter().filter(|t| t.otc).count();
        assert!((400..800).contains(&otc), "{otc}");
        assert!(synth.iter().all(|t| t.otc == t.primary_exchange.is_none()));
        let (lo, hi) = synth.iter().fold((1.0f64, 0.0f64), |(lo, hi), t| (lo.min(t.density), hi.max(t.density)));
        assert!(lo < 0.15 && hi > 0.85 && lo >= 0.1 && hi <= 0.9, "{lo} {hi}");
        for t in &synth {
            assert!(t.first_day() >= history_start());
            assert!(t.last_day.is_none_or(|l| l >= t.first_day()), "{}", t.ticker);
        }
        // The same names, the same universe.
        let again = Universe::new(2000);
        assert_eq!(again.info("ZBCD").unwrap().list_date, u.info("ZBCD").unwrap().list_date);
        assert_eq!(again.all_splits(), u.all_splits());
    }

    #[test]
    fn splits_real_and_synthetic_and_late_ones() {
        let u = Universe::new(2000);
        let nvda = u.splits_of("NVDA");
        assert!(nvda.iter().any(|s| s.execution_date == day("2024-06-10") && s.ratio() == 10.0));
        let all = u.all_splits();
        let recent = |s: &&Split| s.execution_date >= ymd(2024, 1, 1) && synthetic(&s.ticker);
        assert!(all.iter().filter(recent).any(|s| s.adjustment_type == "forward_split"));
        assert!(all.iter().filter(recent).any(|s| s.adjustment_type == "reverse_split"));
        for s in all.iter().filter(|s| synthetic(&s.ticker)) {
            assert!(u.info(&s.ticker).unwrap().trades_on(s.execution_date), "{s:?}");
        }
        u.add_split("MSFT", day("2025-03-03"), 1.0, 2.0, false).unwrap();
        assert!(!u.splits_of("MSFT")[0].known);
        assert!(u.reveal_split("MSFT", day("2025-03-03")));
        assert!(u.splits_of("MSFT")[0].known);
        assert!(!u.reveal_split("MSFT", day("2025-03-04")));
        assert!(u.add_split("NOPE", day("2025-03-03"), 1.0, 2.0, true).is_err());
        assert!(u.add_split("MSFT", day("2025-03-03"), 0.0, 2.0, true).is_err());
    }

    #[test]
    fn figis_carry_a_valid_check_digit() {
        // Apple's composite FIGI, as published, passes the same check.
        let check = |s: &str| {
            let body = &s[..11];
            let mut f = figi(0, body);
            f.truncate(12);
            f == s
        };
        assert!(check("BBG000B9XRY4"));
        let u = Universe::new(10);
        assert!(u.tickers().iter().all(|t| check(&t.composite_figi) && t.composite_figi.len() == 12));
    }
}
