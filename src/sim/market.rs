//! The simulator's market: deterministic bars for every day each ticker's class trades in
//! its life, aggregated the way the API does and cut at `limit` base bars.
//!
//! Minute bars cover the class's hours ([`hours`]): stocks 04:00-20:00 New York, options
//! and indices 09:30-16:00, crypto the whole UTC day, forex Sunday 17:00 to Friday 17:00
//! New York in UTC days. Buckets never cross the midnight that begins the class's day, so
//! a bar is the same whichever window or page asked for it. No bars before the class's
//! history start (stocks 2003-09-10), before a ticker's listing or after its last day.
//! Indices carry no volume; a forex bar's volume is its count of quotes.
//!
//! Splits: each ticker follows one economic price path. Its **raw** bar on day `d` is that
//! path divided by `raw_factor(d)`, the product of `split_to / split_from` of every split
//! executed on or before `d` (volume multiplied by it), so a split dated `D` changes raw
//! bars on and after `D` only. An **adjusted** bar is the raw bar passed through
//! [`adjust`] with [`SplitView::adjustment`]: the product of the ratios of the *known*
//! splits executed after the bar's day.

use std::ops::Range;

use super::universe::unit;
pub use super::universe::{DayStamps, Split, TickerInfo, Universe, history_start, splitmix};
use crate::calendar::{self, Day, MS_PER_MINUTE};
use crate::markets::{Class, DayStamp};
use crate::timeframe::{BaseUnit, Timeframe, Timespan};

const REGULAR_HOURS: Range<u32> = 570..960;

/// The minutes of `day` a ticker of `class` can have bars in: the midnight that begins
/// the day in the class's zone, and the minutes after it, `[start, end)`.
pub fn hours(class: Class, day: Day) -> (i64, Range<u32>) {
    let midnight = class.zone().start_ms(day);
    let minutes = match class {
        Class::Stocks => 240..1200,
        Class::Options | Class::Indices => REGULAR_HOURS,
        Class::Crypto => 0..1440,
        Class::Forex => {
            // Sunday 17:00 to Friday 17:00 New York: 21:00 or 22:00 UTC.
            let five_pm = ((calendar::ny_local_ms(day, 17, 0) - midnight) / MS_PER_MINUTE) as u32;
            match calendar::weekday_index(day) {
                6 => five_pm..1440,
                4 => 0..five_pm,
                5 => 0..0,
                _ => 0..1440,
            }
        }
    };
    (midnight, minutes)
}
/// The API's largest `limit`, the page size a perfect client asks for.
pub const MAX_LIMIT: u64 = 50_000;

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

/// Rounds half away from zero to `places` decimals (`f64::round` on the scaled value).
pub fn round_to(x: f64, places: i32) -> f64 {
    let m = 10f64.powi(places);
    (x * m).round() / m
}

/// The splits that shape one ticker's bars, oldest first, as `(execution day, ratio)`.
#[derive(Clone, Debug, Default)]
pub struct SplitView {
    every: Vec<(Day, f64)>,
    known: Vec<(Day, f64)>,
}

impl SplitView {
    pub fn new(splits: &[Split]) -> SplitView {
        let mut every: Vec<(Day, f64)> = splits.iter().map(|s| (s.execution_date, s.ratio())).collect();
        every.sort_by_key(|(d, _)| *d);
        let mut known: Vec<(Day, f64)> =
            splits.iter().filter(|s| s.known).map(|s| (s.execution_date, s.ratio())).collect();
        known.sort_by_key(|(d, _)| *d);
        SplitView { every, known }
    }

    pub fn of(universe: &Universe, ticker: &str) -> SplitView {
        SplitView::new(&universe.splits_of(ticker))
    }

    /// Product of every split executed on or before `day`, known or not, multiplied oldest
    /// first: the raw price is the path divided by it.
    pub fn raw_factor(&self, day: Day) -> f64 {
        self.every.iter().filter(|(d, _)| *d <= day).fold(1.0, |f, (_, r)| f * r)
    }

    /// `F` for a bar of `day`: the product of `split_to / split_from` (each ratio computed
    /// as one f64 division) of every known split executed after `day`, multiplied oldest
    /// first. 1.0 when none.
    pub fn adjustment(&self, day: Day) -> f64 {
        self.known.iter().filter(|(d, _)| *d > day).fold(1.0, |f, (_, r)| f * r)
    }
}

/// The adjusted form of a raw bar, given its `F` ([`SplitView::adjustment`]). This is the
/// API's rounding as the simulator defines it: `o`, `h`, `l`, `c` and `vw` are divided by
/// `F` and rounded to 4 decimals, `v` is multiplied by `F` and rounded to 6 decimals (both
/// with [`round_to`], half away from zero); `n` and `t` are unchanged. With `F == 1.0` the
/// bar is returned as it is.
pub fn adjust(bar: &SimBar, factor: f64) -> SimBar {
    if factor == 1.0 {
        return bar.clone();
    }
    let p = |x: f64| round_to(x / factor, 4);
    SimBar {
        t: bar.t,
        o: p(bar.o),
        h: p(bar.h),
        l: p(bar.l),
        c: p(bar.c),
        v: round_to(bar.v * factor, 6),
        vw: p(bar.vw),
        n: bar.n,
    }
}

/// `F` for a bar of `ticker` on `day`, with the splits the server knows now.
pub fn adjustment_factor(universe: &Universe, ticker: &str, day: Day) -> f64 {
    SplitView::of(universe, ticker).adjustment(day)
}

/// What an adjusted answer holds for a stored raw bar: `adjust(raw, F)` for the New York
/// day of `raw.t` (only stocks split). Exact for minute, hour and day bars (range or grouped) and for longer
/// buckets without a split inside them; a week or month that spans a split is aggregated
/// from adjusted days instead, so it cannot be derived from its raw form.
pub fn adjusted_bar(universe: &Universe, ticker: &str, raw: &SimBar) -> SimBar {
    adjust(raw, adjustment_factor(universe, ticker, calendar::ny_day_of_ms(raw.t)))
}

/// The deterministic price path of one ticker.
struct Series {
    class: Class,
    seed: u64,
    base: f64,
    liquid: bool,
    density: f64,
    /// Chance that a regular-hours minute has a bar; extended hours get what keeps the
    /// session's average at `density`.
    p_regular: f64,
    p_extended: f64,
}

impl Series {
    fn new(info: &TickerInfo) -> Series {
        let d = info.density;
        // Only stocks trade outside regular hours, less than inside; the other classes'
        // minutes are alike.
        let (p_regular, p_extended) = if info.class == Class::Stocks {
            let p_regular = (1.5 * d).min(1.0);
            (p_regular, ((960.0 * d - 390.0 * p_regular) / 570.0).clamp(0.0, 1.0))
        } else {
            (d.min(1.0), d.min(1.0))
        };
        Series {
            class: info.class,
            seed: info.path_seed,
            base: info.price_base,
            liquid: d >= 1.0,
            density: d,
            p_regular,
            p_extended,
        }
    }

    fn h(&self, salt: u64, x: i64) -> u64 {
        splitmix(self.seed ^ salt.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (x as u64))
    }

    /// The economic price at an absolute minute (minutes since the epoch), unrounded.
    fn price(&self, minute: i64) -> f64 {
        let x = minute as f64;
        let phase = (self.seed % 1000) as f64;
        let slow = 0.25 * (x / 180_000.0 + phase).sin();
        let mid = 0.04 * (x / 4_000.0 + phase * 0.3).sin();
        let noise = 0.002 * (unit(self.h(1, minute)) - 0.5);
        self.base * (slow + mid + noise).exp()
    }

    fn has_minute(&self, abs_minute: i64, minute_of_day: u32) -> bool {
        if self.liquid {
            return true;
        }
        let p = if REGULAR_HOURS.contains(&minute_of_day) { self.p_regular } else { self.p_extended };
        unit(self.h(2, abs_minute)) < p
    }

    /// Minutes of a day that have a bar.
    fn minutes_on(&self, day: Day) -> u64 {
        let (midnight_ms, minutes) = hours(self.class, day);
        if self.liquid {
            return minutes.len() as u64;
        }
        minutes.filter(|&m| self.has_minute(midnight_ms / MS_PER_MINUTE + m as i64, m)).count() as u64
    }

    /// The raw minute bar, if one traded; `cum` is the day's `raw_factor`.
    fn minute_bar(&self, midnight_ms: i64, minute_of_day: u32, cum: f64) -> Option<SimBar> {
        let t = midnight_ms + minute_of_day as i64 * MS_PER_MINUTE;
        let abs = t / MS_PER_MINUTE;
        if !self.has_minute(abs, minute_of_day) {
            return None; // no eligible trade in this minute: no bar at all
        }
        let (o, c) = (round_to(self.price(abs) / cum, 4), round_to(self.price(abs + 1) / cum, 4));
        let r = self.h(3, abs);
        let h = round_to(o.max(c) * (1.0 + 0.0008 * unit(r)), 4);
        let l = round_to(o.min(c) * (1.0 - 0.0008 * unit(splitmix(r))), 4);
        let regular = self.class != Class::Stocks || REGULAR_HOURS.contains(&minute_of_day);
        let scale = if regular { 1.0 } else { 0.1 } * self.density;
        let shares = (200.0 + 40_000.0 * unit(splitmix(r ^ 7))) * scale;
        let v = if r.is_multiple_of(10) { round_to(shares * cum, 6) } else { (shares * cum).round() };
        let n = (!r.is_multiple_of(100)).then_some(1 + (shares as u64) / 90);
        Some(self.carry(SimBar { t, o, h, l, c, v, vw: round_to((o + h + l + c) / 4.0, 4), n }))
    }

    /// What a bar of the class carries: an index no volume and no count; forex a volume
    /// that is its count of quotes.
    fn carry(&self, mut bar: SimBar) -> SimBar {
        match self.class {
            Class::Indices => {
                bar.v = 0.0;
                bar.n = None;
            }
            Class::Forex => {
                let quotes = bar.n.unwrap_or(1 + bar.v as u64 / 90);
                bar.n = Some(quotes);
                bar.v = quotes as f64;
            }
            _ => {}
        }
        bar
    }

    /// The bar of `day`, stamped `stamp.at(day)`; its open and close are the price at the
    /// start and end of the class's hours (stocks: the regular session).
    fn day_bar(&self, day: Day, cum: f64, stamp: DayStamp) -> SimBar {
        let t = stamp.at(day);
        let (midnight, mut minutes) = hours(self.class, day);
        if self.class == Class::Stocks {
            minutes = REGULAR_HOURS;
        }
        let open_min = midnight / MS_PER_MINUTE + minutes.start as i64;
        let close_min = midnight / MS_PER_MINUTE + minutes.end as i64;
        let (o, c) = (round_to(self.price(open_min) / cum, 4), round_to(self.price(close_min) / cum, 4));
        let r = self.h(4, day as i64);
        let h = round_to(o.max(c) * (1.0 + 0.012 * unit(r)), 4);
        let l = round_to(o.min(c) * (1.0 - 0.012 * unit(splitmix(r))), 4);
        let shares = (500_000.0 + 60_000_000.0 * unit(splitmix(r ^ 9))) * self.density;
        let v = round_to(shares * cum, 6);
        let n = (!r.is_multiple_of(50)).then_some(2_000 + (shares as u64) / 400);
        self.carry(SimBar { t, o, h, l, c, v, vw: round_to((o + h + l + c) / 4.0, 4), n })
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
    pub adjusted: bool,
}

pub struct Answer {
    pub bars: Vec<SimBar>,
    /// Base bars consumed (the API's `queryCount`).
    pub base: u64,
    /// Where the next page starts (asc: its `from` in ms; desc: its `to` in ms).
    pub next: Option<i64>,
}

/// The days of `[from, to]` inside a ticker's life that its class trades.
fn life_days(info: &TickerInfo, from: Day, to: Day) -> impl DoubleEndedIterator<Item = Day> + '_ {
    let first = from.max(info.first_day());
    let last = info.last_day.map_or(to, |l| to.min(l));
    (first..=last).filter(|d| info.trades_on_class_day(*d))
}

/// Cuts through the range bucket by bucket until `limit` base bars are used up; a
/// bucket that would not fit whole is left for the next page.
pub fn range(universe: &Universe, ticker: &str, q: &Query) -> Answer {
    let mut answer = Answer { bars: Vec::new(), base: 0, next: None };
    let Some(info) = universe.lookup(ticker) else { return answer };
    if q.from_ms > q.to_ms {
        return answer;
    }
    let series = Series::new(&info);
    let splits = SplitView::of(universe, ticker);
    let zone = info.class.zone();
    let (Some(first_day), Some(last_day)) = (zone.day_of_ms(q.from_ms), zone.day_of_ms(q.to_ms)) else { return answer };
    let mut emit = |b: Bucket| -> bool {
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
            let days = life_days(&info, first_day, last_day);
            let days: Box<dyn Iterator<Item = Day>> = if q.desc { Box::new(days.rev()) } else { Box::new(days) };
            for day in days {
                let factor = if q.adjusted { splits.adjustment(day) } else { 1.0 };
                let mut buckets = minute_buckets(&series, day, width, splits.raw_factor(day), factor);
                buckets.retain(|b| b.bar.t + width as i64 * MS_PER_MINUTE > q.from_ms && b.bar.t <= q.to_ms);
                if q.desc {
                    buckets.reverse();
                }
                if !buckets.into_iter().all(&mut emit) {
                    break;
                }
            }
        }
        BaseUnit::Day => {
            let stamp = universe.stamps.of(info.class);
            let buckets = day_buckets(&series, &info, &splits, (q, stamp), first_day, last_day);
            let mut iter: Box<dyn Iterator<Item = Bucket>> =
                if q.desc { Box::new(buckets.into_iter().rev()) } else { Box::new(buckets.into_iter()) };
            let _ = iter.all(&mut emit);
        }
    }
    answer
}

fn minute_buckets(series: &Series, day: Day, width: u32, cum: f64, factor: f64) -> Vec<Bucket> {
    let (midnight, minutes) = hours(series.class, day);
    let mut out = Vec::new();
    let mut current: Vec<SimBar> = Vec::new();
    let mut current_start = u32::MAX;
    let mut flush = |start: u32, bars: &mut Vec<SimBar>| {
        if !bars.is_empty() {
            let t = midnight + start as i64 * MS_PER_MINUTE;
            // A bucket lies inside one day, so one factor applies to all of it.
            out.push(Bucket { bar: adjust(&aggregate(t, bars), factor), base: bars.len() as u64 });
            bars.clear();
        }
    };
    for m in minutes {
        let start = m / width * width;
        if start != current_start {
            flush(current_start, &mut current);
        }
        current_start = start;
        if let Some(b) = series.minute_bar(midnight, m, cum) {
            current.push(b);
        }
    }
    flush(current_start, &mut current);
    out
}

/// The first day of the period that holds `day`, snapped as the API snaps `from`.
fn period_start(tf: Timeframe, day: Day) -> Day {
    let m = tf.multiplier as i32;
    match tf.timespan {
        Timespan::Day => day - day.rem_euclid(m),
        Timespan::Week => {
            let sunday = day - (calendar::weekday_index(day) + 1) % 7;
            // 1970-01-04 (day 3) was a Sunday.
            sunday - (sunday - 3).div_euclid(7).rem_euclid(m) * 7
        }
        Timespan::Month | Timespan::Quarter | Timespan::Year => {
            let date = calendar::date_of(day);
            let months = months_per(tf);
            let index = date.year() as i32 * 12 + date.month() as i32 - 1;
            month_start(index - index.rem_euclid(months))
        }
        _ => day,
    }
}

fn months_per(tf: Timeframe) -> i32 {
    let m = tf.multiplier as i32;
    match tf.timespan {
        Timespan::Month => m,
        Timespan::Quarter => 3 * m,
        _ => 12 * m,
    }
}

fn month_start(index: i32) -> Day {
    calendar::day_of(jiff::civil::Date::new((index / 12) as i16, (index % 12 + 1) as i8, 1).expect("valid"))
}

/// The last day of the period that holds `day`: `to` snaps to the end of its window.
pub(super) fn period_end(tf: Timeframe, day: Day) -> Day {
    let start = period_start(tf, day);
    let m = tf.multiplier as i32;
    match tf.timespan {
        Timespan::Day => start + m - 1,
        Timespan::Week => start + 7 * m - 1,
        Timespan::Month | Timespan::Quarter | Timespan::Year => {
            let date = calendar::date_of(start);
            month_start(date.year() as i32 * 12 + date.month() as i32 - 1 + months_per(tf)) - 1
        }
        _ => day,
    }
}

/// A contract's day bar: its minutes folded, on a day with any (a thin contract trades
/// on some days only, and no trade is no bar).
fn folded_day(series: &Series, day: Day, stamp: DayStamp) -> Option<SimBar> {
    let (midnight, minutes) = hours(series.class, day);
    let bars: Vec<SimBar> = minutes.filter_map(|m| series.minute_bar(midnight, m, 1.0)).collect();
    (!bars.is_empty()).then(|| aggregate(stamp.at(day), &bars))
}

/// The bar of one day, if the ticker has one: option bars fold the day's minutes.
fn one_day(series: &Series, day: Day, cum: f64, stamp: DayStamp) -> Option<SimBar> {
    match series.class {
        Class::Options => folded_day(series, day, stamp),
        _ => Some(series.day_bar(day, cum, stamp)),
    }
}

fn day_buckets(
    series: &Series,
    info: &TickerInfo,
    splits: &SplitView,
    (q, stamp): (&Query, DayStamp),
    first: Day,
    last: Day,
) -> Vec<Bucket> {
    let tf = q.timeframe;
    let mut periods: Vec<(Day, Vec<(SimBar, f64)>)> = Vec::new();
    for d in life_days(info, period_start(tf, first), period_end(tf, last)) {
        let key = period_start(tf, d);
        let factor = if q.adjusted { splits.adjustment(d) } else { 1.0 };
        let Some(bar) = one_day(series, d, splits.raw_factor(d), stamp) else { continue };
        match periods.last_mut() {
            Some((k, bars)) if *k == key => bars.push((bar, factor)),
            _ => periods.push((key, vec![(bar, factor)])),
        }
    }
    periods
        .into_iter()
        .map(|(key, bars)| {
            let t = stamp.at(key);
            let raw: Vec<SimBar> = bars.iter().map(|(b, _)| b.clone()).collect();
            let one_factor = bars.iter().all(|(_, f)| *f == bars[0].1);
            // Adjust the bucket as a whole when one factor covers it, as the engine can
            // from a stored raw bar; a bucket that spans a split sums adjusted days.
            let bar = if one_factor {
                adjust(&aggregate(t, &raw), bars[0].1)
            } else {
                aggregate(t, &bars.iter().map(|(b, f)| adjust(b, *f)).collect::<Vec<_>>())
            };
            Bucket { bar, base: raw.len() as u64 }
        })
        .collect()
}

/// Every listed ticker's day bar for `day`, stamped 16:00 New York (the end of the
/// session), as the grouped endpoint stamps them. OTC tickers only with `include_otc`,
/// as the real endpoint does; tickers outside their life are absent.
pub fn grouped(universe: &Universe, day: Day, include_otc: bool, adjusted: bool) -> Vec<(String, SimBar)> {
    if !calendar::is_session(day) {
        return Vec::new();
    }
    let close = calendar::ny_local_ms(day, 16, 0);
    let all_splits = universe.splits_read();
    universe
        .tickers()
        .iter()
        .filter(|t| (include_otc || !t.otc) && t.trades_on(day))
        .map(|t| {
            let splits = all_splits.get(&t.ticker).map(|l| SplitView::new(l)).unwrap_or_default();
            let factor = if adjusted { splits.adjustment(day) } else { 1.0 };
            let stamp = Class::Stocks.default_stamp();
            let mut bar = adjust(&Series::new(t).day_bar(day, splits.raw_factor(day), stamp), factor);
            bar.t = close;
            (t.ticker.clone(), bar)
        })
        .collect()
}

/// Every pair of `class` (crypto or forex) with a bar on the UTC day `day`, as the global
/// grouped endpoints answer: stamped at the day's last millisecond, as the API's forex
/// examples are.
pub fn grouped_global(universe: &Universe, class: Class, day: Day) -> Vec<(String, SimBar)> {
    let end = class.zone().start_ms(day + 1) - 1;
    universe
        .others()
        .iter()
        .filter(|t| t.class == class && t.trades_on(day))
        .map(|t| {
            let mut bar = Series::new(t).day_bar(day, 1.0, universe.stamps.of(class));
            bar.t = end;
            (t.ticker.clone(), bar)
        })
        .collect()
}

/// The tickers of `underlying`'s chain expiring in `expiring` with strikes in `strikes`
/// (both types), in the chain's order: what the options endpoint would list.
pub fn option_chain(underlying: &str, expiring: crate::calendar::Range, strikes: (f64, f64)) -> Vec<String> {
    super::options::chain(underlying, expiring.from, expiring.to, strikes.0, strikes.1, None)
        .iter()
        .map(|c| c.ticker())
        .collect()
}

/// Bars a range holds in all, for tests that check every bar lands exactly once.
pub fn count_bars(universe: &Universe, ticker: &str, tf: Timeframe, from: Day, to: Day) -> u64 {
    range(universe, ticker, &whole_days(ticker, tf, from, to)).bars.len() as u64
}

/// The query for every bar of `[from, to]` as the ticker's class bounds its days, in one
/// answer: what tests compare a database with.
pub fn whole_days(ticker: &str, tf: Timeframe, from: Day, to: Day) -> Query {
    let (from_ms, to_ms) = Class::of_checked(ticker).zone().bounds(from, to);
    Query { timeframe: tf, from_ms, to_ms, limit: u64::MAX, desc: false, adjusted: true }
}

/// The base bars the API counts against `limit` for the whole of `[from, to]` at `tf`:
/// minute bars for minute and hour timeframes, day bars otherwise (over the range snapped
/// to whole periods, as the API snaps it). 0 for an unknown ticker or one not alive then.
pub fn base_bars(universe: &Universe, ticker: &str, tf: Timeframe, from: Day, to: Day) -> u64 {
    let Some(info) = universe.lookup(ticker) else { return 0 };
    let series = Series::new(&info);
    match tf.base() {
        BaseUnit::Minute => life_days(&info, from, to).map(|d| series.minutes_on(d)).sum(),
        // A thin contract has day bars only on the days it traded.
        BaseUnit::Day if info.class == Class::Options => life_days(&info, period_start(tf, from), period_end(tf, to))
            .filter(|&d| series.minutes_on(d) > 0)
            .count() as u64,
        BaseUnit::Day => life_days(&info, period_start(tf, from), period_end(tf, to)).count() as u64,
    }
}

/// The fewest requests a perfect client could make for every (ticker, timeframe) row over
/// `[from, to]`, each page holding `MAX_LIMIT` base bars:
///
/// - a row costs `max(1, ceil(base_bars / 50_000))` (even an empty row costs its one
///   request: the client cannot know it is empty without asking);
/// - the `1/day` rows of a class with a grouped endpoint (stocks, crypto, forex) together
///   cost `min(sum of their row costs, the class's days in [from, to])`, since one
///   grouped-daily request per day serves all of them; options and indices have none.
pub fn fewest_requests(universe: &Universe, tickers: &[&str], timeframes: &[Timeframe], from: Day, to: Day) -> u64 {
    let row = |t: &str, tf: Timeframe| base_bars(universe, t, tf, from, to).div_ceil(MAX_LIMIT).max(1);
    let mut total = 0;
    for &tf in timeframes {
        for class in Class::ALL {
            let rows: u64 = tickers.iter().filter(|t| Class::of_checked(t) == class).map(|t| row(t, tf)).sum();
            let grouped = tf.is_daily() && class.grouped().is_some();
            total += if grouped { rows.min(class.days_between(from, to) as u64) } else { rows };
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::markets::DayStamp;

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
            adjusted: true,
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
        let grouped = grouped(&u, d, true, true);
        let (_, g) = grouped.iter().find(|(t, _)| t == "AAPL").unwrap();
        let r = &range(&u, "AAPL", &q("1/day", "2023-01-09", "2023-01-09", 50_000)).bars[0];
        // 2023-01-09: range bars start 00:00 ET (05:00Z), grouped bars 16:00 ET (21:00Z).
        assert_eq!(r.t, 1_673_240_400_000);
        assert_eq!(g.t, 1_673_298_000_000);
        assert_eq!((g.o, g.h, g.l, g.c, g.v, g.vw, g.n), (r.o, r.h, r.l, r.c, r.v, r.vw, r.n));
        assert!(grouped.len() > 100);
        assert!(super::grouped(&u, day("2023-01-08"), true, true).is_empty());
        // OTC tickers (the synthetic thin ones) only when asked for.
        assert!(grouped.iter().any(|(t, _)| u.is_otc(t)));
        assert!(!super::grouped(&u, d, false, true).iter().any(|(t, _)| u.is_otc(t)));
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

    fn tf(s: &str) -> Timeframe {
        s.parse().unwrap()
    }

    fn raw(mut query: Query) -> Query {
        query.adjusted = false;
        query
    }

    #[test]
    fn liquid_names_trade_every_minute_and_thin_ones_their_share() {
        let u = Universe::new(300);
        let (from, to) = (day("2024-03-01"), calendar::nth_session_from(day("2024-03-01"), 52));
        assert_eq!(base_bars(&u, "AAPL", tf("1/minute"), from, to), 52 * 960);
        let mut thin = 0;
        for t in u.tickers().iter().filter(|t| t.density < 1.0 && t.trades_on(from) && t.trades_on(to)) {
            let n = base_bars(&u, &t.ticker, tf("1/minute"), from, to);
            let expect = t.density * 52.0 * 960.0;
            assert!((n as f64 - expect).abs() < 0.05 * 52.0 * 960.0, "{} {n} vs {expect}", t.ticker);
            assert_eq!(n, count_bars(&u, &t.ticker, tf("1/minute"), from, to));
            if t.density < 0.3 {
                thin += 1;
                assert!(n < 20_000, "{} {n}", t.ticker);
            }
            let bars = range(&u, &t.ticker, &q("1/minute", "2024-03-04", "2024-03-04", 50_000)).bars;
            let regular = bars.iter().filter(|b| (570..960).contains(&((b.t - bars[0].t) / 60_000 + 240))).count();
            let extended = bars.len() - regular;
            assert!(regular as f64 / 390.0 >= extended as f64 / 570.0, "{}: regular hours are the busier", t.ticker);
        }
        assert!(thin > 5, "{thin} thin names");
    }

    #[test]
    fn no_bars_before_the_history_start_or_outside_a_life() {
        let u = Universe::new(2000);
        let days_of = |t: &str, from: &str, to: &str| -> Vec<Day> {
            let bars = range(&u, t, &q("1/day", from, to, 50_000)).bars;
            bars.iter().map(|b| calendar::ny_day_of_ms(b.t)).collect()
        };
        assert_eq!(days_of("AAPL", "2003-09-01", "2003-09-12")[0], day("2003-09-10"));
        assert_eq!(*days_of("FB", "2022-06-01", "2022-06-30").last().unwrap(), day("2022-06-08"));
        assert_eq!(days_of("META", "2022-06-01", "2022-06-30")[0], day("2022-06-09"));
        assert_eq!(days_of("FB", "2022-06-09", "2022-06-30"), Vec::<Day>::new());
        assert_eq!(count_bars(&u, "META", tf("1/minute"), day("2022-06-08"), day("2022-06-08")), 0);
        let has = |d: &str, t: &str| grouped(&u, day(d), true, true).iter().any(|(x, _)| x == t);
        assert!(has("2022-06-08", "FB") && !has("2022-06-08", "META"));
        assert!(!has("2022-06-09", "FB") && has("2022-06-09", "META"));
        // A name listed in 2025 and one delisted in 2025, both ways of asking.
        let in_2025 = |d: Day| (day("2025-01-01")..=day("2025-12-31")).contains(&d);
        let listed = u.tickers().iter().find(|t| in_2025(t.list_date) && t.last_day.is_none()).unwrap();
        let gone = u.tickers().iter().find(|t| t.last_day.is_some_and(in_2025)).unwrap();
        for t in [listed, gone] {
            let bars = range(&u, &t.ticker, &q("1/day", "2024-06-01", "2026-06-30", 50_000)).bars;
            let first = calendar::ny_day_of_ms(bars[0].t);
            let last = calendar::ny_day_of_ms(bars.last().unwrap().t);
            assert_eq!((first, Some(last)), (t.first_day().max(day("2024-06-03")), Some(t.last_day.unwrap_or(last))));
            assert_eq!(u.life(&t.ticker), Some((t.first_day(), t.last_day)));
            let before = t.first_day() - 1;
            let after = t.last_day.map_or(t.first_day(), |l| l + 1);
            for d in [before, after] {
                if calendar::is_session(d) && !t.trades_on(d) {
                    assert!(!grouped(&u, d, true, true).iter().any(|(x, _)| *x == t.ticker));
                }
            }
        }
    }

    #[test]
    fn raw_bars_change_from_a_split_on_and_adjusted_ones_before_it() {
        let u = Universe::new(0);
        let (before, split, after) = (day("2025-03-03"), day("2025-03-04"), day("2025-03-05"));
        let minute_q = || q("1/minute", "2025-03-03", "2025-03-05", 50_000);
        let day_of = |b: &SimBar| calendar::ny_day_of_ms(b.t);
        let raw0 = range(&u, "MSFT", &raw(minute_q())).bars;
        assert_eq!(raw0, range(&u, "MSFT", &minute_q()).bars, "no splits: raw and adjusted agree");

        u.add_split("MSFT", split, 1.0, 2.0, false).unwrap();
        let raw1 = range(&u, "MSFT", &raw(minute_q())).bars;
        let adj1 = range(&u, "MSFT", &minute_q()).bars;
        assert_eq!(raw1.len(), raw0.len());
        for (a, b) in raw0.iter().zip(&raw1) {
            if day_of(a) == before {
                assert_eq!(a, b, "bars before the split do not change");
            } else {
                // Volumes round to whole shares on both sides of the split.
                assert!((a.c / b.c - 2.0).abs() < 0.01 && (b.v - 2.0 * a.v).abs() <= 2.0, "{a:?} {b:?}");
            }
        }
        assert_eq!(adj1, raw1, "a split not yet known is in the raw series only");

        assert!(u.reveal_split("MSFT", split));
        let adj2 = range(&u, "MSFT", &minute_q()).bars;
        for (r, a) in raw1.iter().zip(&adj2) {
            let f = if day_of(r) == before { 2.0 } else { 1.0 };
            assert_eq!(*a, adjust(r, f));
            assert_eq!(*a, adjusted_bar(&u, "MSFT", r));
        }
        // Hours, days and grouped answers agree with adjust() on their raw forms too.
        for frame in ["1/hour", "1/day"] {
            let mut hq = q(frame, "2025-03-03", "2025-03-05", 50_000);
            let adj = range(&u, "MSFT", &hq).bars;
            hq.adjusted = false;
            let raws = range(&u, "MSFT", &hq).bars;
            assert!(raws.iter().zip(&adj).all(|(r, a)| adjusted_bar(&u, "MSFT", r) == *a), "{frame}");
        }
        let g = |adjusted| grouped(&u, before, false, adjusted).into_iter().find(|(t, _)| t == "MSFT").unwrap().1;
        assert_eq!(adjusted_bar(&u, "MSFT", &g(false)), g(true));
        assert_eq!(g(true).c, round_to(g(false).c / 2.0, 4));
        let _ = after;
    }

    #[test]
    fn a_week_across_a_split_sums_adjusted_days() {
        let u = Universe::new(0);
        // NVDA 10-for-1 on Monday 2024-06-10: the week of Sunday 06-09 starts on the split.
        let adj_days = range(&u, "NVDA", &q("1/day", "2024-06-03", "2024-06-14", 50_000)).bars;
        let weeks = range(&u, "NVDA", &q("1/week", "2024-06-03", "2024-06-14", 50_000)).bars;
        assert_eq!(weeks.len(), 2);
        assert_eq!(weeks[0].o, adj_days[0].o);
        assert_eq!(weeks[1].c, adj_days.last().unwrap().c);
        let raw_days = range(&u, "NVDA", &raw(q("1/day", "2024-06-03", "2024-06-14", 50_000))).bars;
        let ratio = raw_days[4].c / raw_days[5].o;
        assert!((ratio - 10.0).abs() < 0.5, "raw prices fall tenfold on the split: {ratio}");
        let adj_ratio = adj_days[4].c / adj_days[5].o;
        assert!((adj_ratio - 1.0).abs() < 0.05, "adjusted prices are continuous: {adj_ratio}");
    }

    #[test]
    fn base_bars_and_the_fewest_requests() {
        let u = Universe::new(50);
        let (from, to) = (day("2024-01-01"), day("2024-04-30"));
        let sessions = calendar::sessions_between(from, to) as u64;
        assert_eq!(base_bars(&u, "AAPL", tf("1/minute"), from, to), sessions * 960);
        assert_eq!(base_bars(&u, "AAPL", tf("1/hour"), from, to), sessions * 960);
        assert_eq!(base_bars(&u, "AAPL", tf("1/day"), from, to), sessions);
        // Weeks snap to whole weeks: Sunday 2023-12-31 to Saturday 2024-05-04.
        assert_eq!(
            base_bars(&u, "AAPL", tf("1/week"), from, to),
            calendar::sessions_between(from, day("2024-05-04")) as u64
        );
        assert_eq!(base_bars(&u, "NOPE", tf("1/minute"), from, to), 0);
        assert_eq!(base_bars(&u, "META", tf("1/day"), day("2022-01-03"), day("2022-06-08")), 0);

        let minute_rows = 2 * (sessions * 960).div_ceil(50_000);
        let two = ["AAPL", "MSFT"];
        assert_eq!(fewest_requests(&u, &two, &[tf("1/minute"), tf("1/day")], from, to), minute_rows + 2);
        assert_eq!(fewest_requests(&u, &["NOPE"], &[tf("1/minute")], from, to), 1);
        // 40 daily rows over one week of 5 sessions: grouped daily, 5 requests.
        let many: Vec<&str> = u.names()[..40].iter().map(String::as_str).collect();
        assert_eq!(fewest_requests(&u, &many, &[tf("1/day")], day("2024-03-04"), day("2024-03-08")), 5);
        assert_eq!(fewest_requests(&u, &many[..3], &[tf("1/day")], day("2024-03-04"), day("2024-03-08")), 3);
    }

    fn whole(ticker: &str, tf_: &str, from: &str, to: &str) -> Vec<SimBar> {
        range(&Universe::new(0), ticker, &whole_days(ticker, tf(tf_), day(from), day(to))).bars
    }

    #[test]
    fn crypto_trades_every_minute_of_every_utc_day() {
        // Friday to Monday, Christmas 2024 in the middle: four whole UTC days.
        let bars = whole("X:BTCUSD", "1/minute", "2024-12-24", "2024-12-27");
        assert_eq!(bars.len(), 4 * 1440);
        assert_eq!(bars[0].t, day("2024-12-24") as i64 * calendar::MS_PER_DAY);
        let days = whole("X:BTCUSD", "1/day", "2024-12-21", "2024-12-27");
        assert_eq!(days.len(), 7, "weekends and Christmas too");
        assert!(days.iter().all(|b| b.t % calendar::MS_PER_DAY == 0), "stamped at UTC midnight");
        let ny = Universe::new(0).with_stamps(DayStamps { crypto: DayStamp::NewYorkMidnight, ..DayStamps::default() });
        let q = whole_days("X:BTCUSD", tf("1/day"), day("2024-12-21"), day("2024-12-27"));
        assert_eq!(range(&ny, "X:BTCUSD", &q).bars[0].t, calendar::ny_midnight_ms(day("2024-12-21")));
    }

    #[test]
    fn forex_trades_from_sunday_five_pm_to_friday_five_pm_new_york() {
        // Friday 2025-01-03 to Monday 2025-01-06 (winter: 17:00 New York is 22:00 UTC).
        let bars = whole("C:EURUSD", "1/minute", "2025-01-03", "2025-01-06");
        let fri = day("2025-01-03") as i64 * calendar::MS_PER_DAY;
        let per_day = |d: &str| {
            let start = day(d) as i64 * calendar::MS_PER_DAY;
            bars.iter().filter(|b| b.t >= start && b.t < start + calendar::MS_PER_DAY).count()
        };
        assert_eq!((per_day("2025-01-03"), per_day("2025-01-04"), per_day("2025-01-05")), (22 * 60, 0, 2 * 60));
        assert_eq!(per_day("2025-01-06"), 1440);
        assert_eq!(
            bars.iter().find(|b| b.t >= fri + calendar::MS_PER_DAY).unwrap().t,
            fri + 2 * calendar::MS_PER_DAY + 22 * 3_600_000
        );
        // A forex bar's volume is its count of quotes.
        assert!(bars.iter().all(|b| b.n == Some(b.v as u64)));
        let days = whole("C:EURUSD", "1/day", "2025-01-03", "2025-01-06");
        assert_eq!(days.len(), 3, "Friday, Sunday, Monday");
    }

    #[test]
    fn indices_print_regular_hours_without_volume_and_some_on_holidays() {
        // MLK Day 2025-01-20: I:SPX does not print, I:AAVE100 does.
        let spx = whole("I:SPX", "1/day", "2025-01-17", "2025-01-21");
        let aave = whole("I:AAVE100", "1/day", "2025-01-17", "2025-01-21");
        assert_eq!((spx.len(), aave.len()), (2, 3));
        assert!(spx.iter().all(|b| b.v == 0.0 && b.n.is_none()));
        assert_eq!(whole("I:SPX", "1/minute", "2025-01-17", "2025-01-17").len(), 390);
    }

    #[test]
    fn an_option_trades_thinly_and_only_in_its_life() {
        let u = Universe::new(0);
        let t = "O:SPY250117C00500000";
        let info = u.lookup(t).unwrap();
        let (list, exp) = (info.first_day(), day("2025-01-17"));
        let minutes = whole(t, "1/minute", "2023-12-01", "2025-02-28");
        let days: Vec<Day> = minutes.iter().map(|b| calendar::ny_day_of_ms(b.t)).collect();
        assert!(days.iter().all(|d| (list..=exp).contains(d) && calendar::is_session(*d)));
        assert!(minutes.len() < 250 * 390 / 3, "thin: {} minutes", minutes.len());
        // A day bar only on a day with a trade, and it folds that day's minutes.
        let day_bars = whole(t, "1/day", "2023-12-01", "2025-02-28");
        let traded: std::collections::BTreeSet<Day> = days.iter().copied().collect();
        assert_eq!(day_bars.len(), traded.len());
        assert_eq!(base_bars(&u, t, tf("1/day"), day("2023-12-01"), day("2025-02-28")), traded.len() as u64);
        assert_eq!(base_bars(&u, t, tf("1/minute"), day("2023-12-01"), day("2025-02-28")), minutes.len() as u64);
        assert!(u.lookup("O:SPY250117C00500500").is_none());
    }

    #[test]
    fn global_grouped_answers_hold_their_class_only() {
        let u = Universe::new(0);
        let sat = day("2025-01-04");
        let crypto = grouped_global(&u, Class::Crypto, sat);
        assert!(crypto.len() >= 8 && crypto.iter().all(|(t, _)| t.starts_with("X:")));
        assert!(grouped_global(&u, Class::Forex, sat).is_empty(), "no forex on Saturday");
        let fx = grouped_global(&u, Class::Forex, sat + 1);
        assert!(fx.iter().all(|(t, b)| t.starts_with("C:") && b.t == (sat as i64 + 2) * calendar::MS_PER_DAY - 1));
        assert!(!grouped(&u, day("2025-01-06"), true, true).iter().any(|(t, _)| t.contains(':')));
        // Range and grouped day bars agree but for the stamp.
        let (_, g) = crypto.iter().find(|(t, _)| t == "X:BTCUSD").unwrap();
        let r = &whole("X:BTCUSD", "1/day", "2025-01-04", "2025-01-04")[0];
        assert_eq!((g.o, g.h, g.l, g.c, g.v, g.vw, g.n), (r.o, r.h, r.l, r.c, r.v, r.vw, r.n));
    }

    #[test]
    fn the_fewest_requests_per_class() {
        let u = Universe::new(0);
        let (from, to) = (day("2025-01-01"), day("2025-01-31"));
        // 10 crypto pairs would need 10 daily requests; 31 grouped days are more. 31 x 1440
        // minutes of BTC are one page; the index and the thin option one request each.
        let crypto: Vec<&str> =
            u.others().iter().filter(|t| t.class == Class::Crypto).map(|t| t.ticker.as_str()).collect();
        assert_eq!(fewest_requests(&u, &crypto, &[tf("1/day")], from, to), crypto.len() as u64);
        assert_eq!(fewest_requests(&u, &["X:BTCUSD", "I:SPX", "O:SPY250117C00500000"], &[tf("1/minute")], from, to), 3);
    }
}
