//! The simulator's market: deterministic bars for every trading session, seeded by ticker and
//! time, aggregated the way the API does and cut at `limit` base bars.
//!
//! Minute bars cover 04:00-20:00 New York time; buckets never cross midnight, so a
//! bar is the same whichever window or page asked for it.

use std::collections::HashSet;

use crate::calendar::{self, Day, MS_PER_MINUTE};
use crate::timeframe::{BaseUnit, Timeframe, Timespan};

const SESSION_START_MIN: u32 = 4 * 60;
const SESSION_END_MIN: u32 = 20 * 60;
const REAL_NAMES: &str = include_str!("../../assets/universe.txt");

/// A bar the simulator serves; its own type, not the client's.
#[derive(Clone, Debug, PartialEq)]
pub struct SimBar {
    pub t: i64,
    pub o: f64,
    pub h: f64,
    pub l: f64,
    pub c: f64,
    pub v: f64,
    pub vw: f64,
    pub n: Option<u64>,
}

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn unit(x: u64) -> f64 {
    (x >> 11) as f64 / (1u64 << 53) as f64
}

fn ticker_seed(ticker: &str) -> u64 {
    ticker.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

fn round_to(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

/// Tickers the simulator knows: real liquid names plus synthetic thin ones, which trade
/// over the counter (so grouped-daily answers leave them out unless asked).
pub struct Universe {
    names: Vec<String>,
    known: HashSet<String>,
    thin: HashSet<String>,
}

impl Universe {
    pub fn new(extra: u32) -> Universe {
        let mut names: Vec<String> = REAL_NAMES
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split_whitespace())
            .map(str::to_string)
            .collect();
        let mut thin = HashSet::new();
        for i in 0..extra.min(17_576) {
            let letters: String = [i / 676, (i / 26) % 26, i % 26].iter().map(|k| (b'A' + *k as u8) as char).collect();
            let name = format!("Z{letters}");
            thin.insert(name.clone());
            names.push(name);
        }
        let known = names.iter().cloned().collect();
        Universe { names, known, thin }
    }

    pub fn contains(&self, ticker: &str) -> bool {
        self.known.contains(ticker)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn is_otc(&self, ticker: &str) -> bool {
        self.thin.contains(ticker)
    }

    fn series(&self, ticker: &str) -> Series {
        let seed = ticker_seed(ticker);
        Series { seed, base: 5.0 + (seed % 60_000) as f64 / 100.0, thin: self.thin.contains(ticker) }
    }
}

/// The deterministic price path of one ticker.
struct Series {
    seed: u64,
    base: f64,
    thin: bool,
}

impl Series {
    fn h(&self, salt: u64, x: i64) -> u64 {
        splitmix(self.seed ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (x as u64))
    }

    /// Price at an absolute minute (minutes since the epoch).
    fn price(&self, minute: i64) -> f64 {
        let x = minute as f64;
        let phase = (self.seed % 1000) as f64;
        let slow = 0.25 * (x / 180_000.0 + phase).sin();
        let mid = 0.04 * (x / 4_000.0 + phase * 0.3).sin();
        let noise = 0.002 * (unit(self.h(1, minute)) - 0.5);
        round_to(self.base * (slow + mid + noise).exp(), 4)
    }

    fn minute_bar(&self, day: Day, minute_of_day: u32) -> Option<SimBar> {
        let t = calendar::ny_midnight_ms(day) + minute_of_day as i64 * MS_PER_MINUTE;
        let abs = t / MS_PER_MINUTE;
        let extended = !(570..960).contains(&minute_of_day);
        if self.thin && extended && unit(self.h(2, abs)) < 0.3 {
            return None; // no eligible trade in this minute: no bar at all
        }
        let (o, c) = (self.price(abs), self.price(abs + 1));
        let r = self.h(3, abs);
        let h = round_to(o.max(c) * (1.0 + 0.0008 * unit(r)), 4);
        let l = round_to(o.min(c) * (1.0 - 0.0008 * unit(splitmix(r))), 4);
        let scale = if extended { 0.1 } else { 1.0 };
        let mut v = (200.0 + 40_000.0 * unit(splitmix(r ^ 7))) * scale;
        v = if r.is_multiple_of(10) { round_to(v, 6) } else { v.round() };
        let n = (!r.is_multiple_of(100)).then_some(1 + (v as u64) / 90);
        Some(SimBar { t, o, h, l, c, v, vw: round_to((o + h + l + c) / 4.0, 4), n })
    }

    fn day_bar(&self, day: Day) -> SimBar {
        let t = calendar::ny_midnight_ms(day);
        let open_min = (t + 570 * MS_PER_MINUTE) / MS_PER_MINUTE;
        let close_min = (t + 960 * MS_PER_MINUTE) / MS_PER_MINUTE;
        let (o, c) = (self.price(open_min), self.price(close_min));
        let r = self.h(4, day as i64);
        let h = round_to(o.max(c) * (1.0 + 0.012 * unit(r)), 4);
        let l = round_to(o.min(c) * (1.0 - 0.012 * unit(splitmix(r))), 4);
        let v = round_to(500_000.0 + 60_000_000.0 * unit(splitmix(r ^ 9)), 6);
        let n = (!r.is_multiple_of(50)).then_some(2_000 + (v as u64) / 400);
        SimBar { t, o, h, l, c, v, vw: round_to((o + h + l + c) / 4.0, 4), n }
    }
}

/// Folds base bars into one bar stamped `t`.
fn aggregate(t: i64, bars: &[SimBar]) -> SimBar {
    let first = &bars[0];
    let last = &bars[bars.len() - 1];
    let v: f64 = bars.iter().map(|b| b.v).sum();
    let vw = if v > 0.0 { bars.iter().map(|b| b.vw * b.v).sum::<f64>() / v } else { first.vw };
    let n = bars.iter().map(|b| b.n).sum::<Option<u64>>();
    SimBar {
        t,
        o: first.o,
        h: bars.iter().map(|b| b.h).fold(f64::MIN, f64::max),
        l: bars.iter().map(|b| b.l).fold(f64::MAX, f64::min),
        c: last.c,
        v: round_to(v, 6),
        vw: round_to(vw, 4),
        n,
    }
}

/// One bucket: the bar and how many base bars it consumed.
struct Bucket {
    bar: SimBar,
    base: u64,
}

pub struct Query {
    pub timeframe: Timeframe,
    /// Epoch ms, inclusive: bars whose window contains or follows `from_ms`.
    pub from_ms: i64,
    /// Epoch ms, inclusive: bars starting at or before `to_ms`.
    pub to_ms: i64,
    pub limit: u64,
    pub desc: bool,
}

pub struct Answer {
    pub bars: Vec<SimBar>,
    /// Base bars consumed (the API's `queryCount`).
    pub base: u64,
    /// Where the next page starts (asc: its `from` in ms; desc: its `to` in ms).
    pub next: Option<i64>,
}

/// Cuts through the range bucket by bucket until `limit` base bars are used up; a
/// bucket that would not fit whole is left for the next page.
pub fn range(universe: &Universe, ticker: &str, q: &Query) -> Answer {
    let mut answer = Answer { bars: Vec::new(), base: 0, next: None };
    if !universe.contains(ticker) || q.from_ms > q.to_ms {
        return answer;
    }
    let series = universe.series(ticker);
    let first_day = calendar::ny_day_of_ms(q.from_ms);
    let last_day = calendar::ny_day_of_ms(q.to_ms);
    let emit = |b: Bucket, answer: &mut Answer| -> bool {
        if !answer.bars.is_empty() && answer.base + b.base > q.limit {
            // asc: the next page starts at this bucket; desc: it ends just before the
            // oldest bar returned, as the real API's cursors do.
            answer.next = Some(if q.desc { answer.bars[answer.bars.len() - 1].t - 1 } else { b.bar.t });
            return false;
        }
        answer.base += b.base;
        answer.bars.push(b.bar);
        true
    };
    match q.timeframe.base() {
        BaseUnit::Minute => {
            let width = q.timeframe.minutes().expect("intraday");
            let days: Box<dyn Iterator<Item = Day>> =
                if q.desc { Box::new((first_day..=last_day).rev()) } else { Box::new(first_day..=last_day) };
            for day in days.filter(|d| calendar::is_session(*d)) {
                let mut buckets = minute_buckets(&series, day, width);
                buckets.retain(|b| b.bar.t + width as i64 * MS_PER_MINUTE > q.from_ms && b.bar.t <= q.to_ms);
                if q.desc {
                    buckets.reverse();
                }
                for b in buckets {
                    if !emit(b, &mut answer) {
                        return answer;
                    }
                }
            }
        }
        BaseUnit::Day => {
            let buckets = day_buckets(&series, q.timeframe, first_day, last_day);
            let iter: Box<dyn Iterator<Item = Bucket>> =
                if q.desc { Box::new(buckets.into_iter().rev()) } else { Box::new(buckets.into_iter()) };
            for b in iter {
                if !emit(b, &mut answer) {
                    return answer;
                }
            }
        }
    }
    answer
}

fn minute_buckets(series: &Series, day: Day, width: u32) -> Vec<Bucket> {
    let midnight = calendar::ny_midnight_ms(day);
    let mut out = Vec::new();
    let mut current: Vec<SimBar> = Vec::new();
    let mut current_start = u32::MAX;
    for m in SESSION_START_MIN..SESSION_END_MIN {
        let start = m / width * width;
        if start != current_start && !current.is_empty() {
            let t = midnight + current_start as i64 * MS_PER_MINUTE;
            out.push(Bucket { bar: aggregate(t, &current), base: current.len() as u64 });
            current.clear();
        }
        current_start = start;
        if let Some(b) = series.minute_bar(day, m) {
            current.push(b);
        }
    }
    if !current.is_empty() {
        let t = midnight + current_start as i64 * MS_PER_MINUTE;
        out.push(Bucket { bar: aggregate(t, &current), base: current.len() as u64 });
    }
    out
}

/// The first day of the period that holds `day`, snapped as the API snaps `from`.
fn period_start(tf: Timeframe, day: Day) -> Day {
    let date = calendar::date_of(day);
    let m = tf.multiplier as i32;
    match tf.timespan {
        Timespan::Day => day - day.rem_euclid(m),
        Timespan::Week => {
            let sunday = day - (calendar::weekday_index(day) + 1) % 7;
            // 1970-01-04 (day 3) was a Sunday.
            sunday - (sunday - 3).div_euclid(7).rem_euclid(m) * 7
        }
        Timespan::Month | Timespan::Quarter | Timespan::Year => {
            let months_per = match tf.timespan {
                Timespan::Month => m,
                Timespan::Quarter => 3 * m,
                _ => 12 * m,
            };
            let index = date.year() as i32 * 12 + date.month() as i32 - 1;
            let start = index - index.rem_euclid(months_per);
            let first = jiff::civil::Date::new((start / 12) as i16, (start % 12 + 1) as i8, 1).expect("valid");
            calendar::day_of(first)
        }
        _ => day,
    }
}

fn day_buckets(series: &Series, tf: Timeframe, first: Day, last: Day) -> Vec<Bucket> {
    let mut out: Vec<Bucket> = Vec::new();
    let from = period_start(tf, first);
    let mut current: Vec<SimBar> = Vec::new();
    let mut key = Day::MIN;
    let mut d = from;
    // The last period runs to its end: `to` snaps to the end of its window.
    let end = {
        let mut e = last;
        while period_start(tf, e + 1) == period_start(tf, last) {
            e += 1;
        }
        e
    };
    while d <= end {
        let k = period_start(tf, d);
        if k != key && !current.is_empty() {
            out.push(Bucket { bar: aggregate(calendar::ny_midnight_ms(key), &current), base: current.len() as u64 });
            current.clear();
        }
        key = k;
        if calendar::is_session(d) {
            current.push(series.day_bar(d));
        }
        d += 1;
    }
    if !current.is_empty() {
        out.push(Bucket { bar: aggregate(calendar::ny_midnight_ms(key), &current), base: current.len() as u64 });
    }
    out
}

/// Every known ticker's day bar for `day`, stamped 16:00 New York (the end of the
/// session), as the grouped endpoint stamps them. OTC tickers only with `include_otc`,
/// as the real endpoint does.
pub fn grouped(universe: &Universe, day: Day, include_otc: bool) -> Vec<(String, SimBar)> {
    if !calendar::is_session(day) {
        return Vec::new();
    }
    let close = calendar::ny_local_ms(day, 16, 0);
    universe
        .names()
        .iter()
        .filter(|t| include_otc || !universe.is_otc(t))
        .map(|t| {
            let mut bar = universe.series(t).day_bar(day);
            bar.t = close;
            (t.clone(), bar)
        })
        .collect()
}

/// Bars a range holds in all, for tests that check every bar lands exactly once.
pub fn count_bars(universe: &Universe, ticker: &str, tf: Timeframe, from: Day, to: Day) -> u64 {
    let q = Query {
        timeframe: tf,
        from_ms: calendar::ny_midnight_ms(from),
        to_ms: calendar::ny_midnight_ms(to + 1) - 1,
        limit: u64::MAX,
        desc: false,
    };
    range(universe, ticker, &q).bars.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    fn q(tf: &str, from: &str, to: &str, limit: u64) -> Query {
        Query {
            timeframe: tf.parse().unwrap(),
            from_ms: calendar::ny_midnight_ms(day(from)),
            to_ms: calendar::ny_midnight_ms(day(to) + 1) - 1,
            limit,
            desc: false,
        }
    }

    #[test]
    fn same_request_same_bars() {
        let u = Universe::new(10);
        let a = range(&u, "AAPL", &q("1/minute", "2024-03-01", "2024-03-05", 50_000));
        let b = range(&u, "AAPL", &q("1/minute", "2024-03-01", "2024-03-05", 50_000));
        assert_eq!(a.bars, b.bars);
        // Friday, Monday, Tuesday: 3 sessions of 960 minutes.
        assert_eq!(a.bars.len(), 3 * 960);
        assert!(a.bars.windows(2).all(|w| w[0].t < w[1].t));
        assert!(a.bars.iter().all(|b| b.l <= b.o.min(b.c) && b.h >= b.o.max(b.c)));
        assert!(a.next.is_none());
    }

    #[test]
    fn unknown_tickers_have_no_bars() {
        let u = Universe::new(0);
        assert!(range(&u, "NOPE", &q("1/day", "2024-03-01", "2024-03-05", 50_000)).bars.is_empty());
    }

    #[test]
    fn limit_counts_base_bars_and_keeps_buckets_whole() {
        let u = Universe::new(0);
        // 100 minute bars allow one full hour (60), not a partial second one.
        let a = range(&u, "AAPL", &q("1/hour", "2024-03-04", "2024-03-04", 100));
        assert_eq!(a.bars.len(), 1);
        assert_eq!(a.base, 60);
        assert_eq!(a.next, Some(a.bars[0].t + 3_600_000));
        // Following the cursor gives the rest, and the pages join up exactly.
        let all = range(&u, "AAPL", &q("1/hour", "2024-03-04", "2024-03-04", 50_000));
        assert_eq!(all.bars.len(), 16);
        let mut paged = Vec::new();
        let mut from_ms = calendar::ny_midnight_ms(day("2024-03-04"));
        loop {
            let mut query = q("1/hour", "2024-03-04", "2024-03-04", 100);
            query.from_ms = from_ms;
            let page = range(&u, "AAPL", &query);
            paged.extend(page.bars);
            match page.next {
                Some(n) => from_ms = n,
                None => break,
            }
        }
        assert_eq!(paged, all.bars);
    }

    #[test]
    fn five_minute_bars_aggregate_minutes() {
        let u = Universe::new(0);
        let mins = range(&u, "MSFT", &q("1/minute", "2024-03-04", "2024-03-04", 50_000)).bars;
        let fives = range(&u, "MSFT", &q("5/minute", "2024-03-04", "2024-03-04", 50_000)).bars;
        assert_eq!(fives.len(), 960 / 5);
        assert_eq!(fives[0].o, mins[0].o);
        assert_eq!(fives[0].c, mins[4].c);
        assert_eq!(fives[0].t, mins[0].t);
    }

    #[test]
    fn grouped_matches_range_day_bars_but_for_the_stamp() {
        let u = Universe::new(5);
        let d = day("2023-01-09");
        let grouped = grouped(&u, d, true);
        let (_, g) = grouped.iter().find(|(t, _)| t == "AAPL").unwrap();
        let r = &range(&u, "AAPL", &q("1/day", "2023-01-09", "2023-01-09", 50_000)).bars[0];
        // 2023-01-09: range bars start 00:00 ET (05:00Z), grouped bars 16:00 ET (21:00Z).
        assert_eq!(r.t, 1_673_240_400_000);
        assert_eq!(g.t, 1_673_298_000_000);
        assert_eq!((g.o, g.h, g.l, g.c, g.v, g.vw, g.n), (r.o, r.h, r.l, r.c, r.v, r.vw, r.n));
        assert!(grouped.len() > 100);
        assert!(super::grouped(&u, day("2023-01-08"), true).is_empty());
        // OTC tickers (the synthetic thin ones) only when asked for.
        assert!(grouped.iter().any(|(t, _)| u.is_otc(t)));
        assert!(!super::grouped(&u, d, false).iter().any(|(t, _)| u.is_otc(t)));
    }

    #[test]
    fn weeks_and_months_snap_to_their_start() {
        let u = Universe::new(0);
        let weeks = range(&u, "SPY", &q("1/week", "2024-03-06", "2024-03-20", 50_000)).bars;
        assert_eq!(weeks.len(), 3);
        assert_eq!(calendar::ny_day_of_ms(weeks[0].t), day("2024-03-03")); // a Sunday
        let months = range(&u, "SPY", &q("1/month", "2024-02-10", "2024-03-05", 50_000)).bars;
        assert_eq!(months.len(), 2);
        assert_eq!(calendar::ny_day_of_ms(months[1].t), day("2024-03-01"));
    }

    #[test]
    fn thin_tickers_miss_some_extended_hours_minutes() {
        let u = Universe::new(3);
        let n = count_bars(&u, "ZAAB", "1/minute".parse().unwrap(), day("2024-03-04"), day("2024-03-04"));
        assert!(n < 960 && n > 390, "{n}");
    }
}
