//! Wrong data in a 200 answer: the checks a client makes before it stores a page are
//! tested against these. Each returns whether it changed anything, so only faults that
//! happened are counted.

use super::market::{self, Query, SimBar, Universe};
use crate::calendar::{self, Day, MS_PER_MINUTE};
use crate::timeframe::BaseUnit;

/// How far an off-grid bar is moved: a minute bar at :17 seconds.
const OFF_GRID_MS: i64 = 17_000;

/// What a range page was asked for.
pub struct PageContext<'a> {
    pub ticker: &'a str,
    pub query: &'a Query,
    /// The request came from a `next_url`, so a previous page exists.
    pub continuation: bool,
}

/// Spoils a range page the way `kind` says; false when `kind` is not a wrong-data fault
/// or has nothing to act on (an empty page, a first page for `dup_boundary`).
pub fn spoil_range(kind: &str, universe: &Universe, page: &PageContext<'_>, bars: &mut Vec<SimBar>) -> bool {
    match kind {
        "dup_boundary" => {
            let Some(prev) = page.continuation.then(|| previous_page_last(universe, page)).flatten() else {
                return false;
            };
            if page.query.desc {
                bars.push(prev)
            } else {
                bars.insert(0, prev)
            }
            true
        }
        "out_of_range" => {
            let Some(mut extra) = bars.last().cloned() else { return false };
            extra.t = after_range(page.query);
            if page.query.desc {
                bars.insert(0, extra)
            } else {
                bars.push(extra)
            }
            true
        }
        _ => spoil_bars(kind, bars),
    }
}

/// Spoils a grouped answer: the per-bar faults, or (`out_of_range`) one row stamped with
/// the next day's close.
pub fn spoil_grouped(kind: &str, day: Day, rows: &mut [(String, SimBar)]) -> bool {
    if kind == "out_of_range" {
        let Some((_, bar)) = rows.first_mut() else { return false };
        bar.t = calendar::ny_local_ms(day + 1, 16, 0);
        return true;
    }
    if kind == "dup_boundary" {
        return false;
    }
    let mut bars: Vec<SimBar> = rows.iter().map(|(_, b)| b.clone()).collect();
    if !spoil_bars(kind, &mut bars) {
        return false;
    }
    for ((_, row), bar) in rows.iter_mut().zip(bars) {
        *row = bar;
    }
    true
}

fn spoil_bars(kind: &str, bars: &mut [SimBar]) -> bool {
    if bars.is_empty() {
        return false;
    }
    match kind {
        "seconds_ts" => bars.iter_mut().for_each(|b| b.t /= 1000),
        "swap_hl" => bars.iter_mut().for_each(|b| std::mem::swap(&mut b.h, &mut b.l)),
        "off_grid" => {
            let mid = bars.len() / 2;
            bars[mid].t += OFF_GRID_MS;
        }
        "bad_bar" => {
            let mid = bars.len() / 2;
            std::mem::swap(&mut bars[mid].h, &mut bars[mid].l);
        }
        _ => return false,
    }
    true
}

/// The bar just before this page: the last bar of the page that pointed here.
fn previous_page_last(universe: &Universe, page: &PageContext<'_>) -> Option<SimBar> {
    let q = page.query;
    let one = |from_ms: i64, to_ms: i64, desc: bool| {
        let probe = Query { timeframe: q.timeframe, from_ms, to_ms, limit: 1, desc, adjusted: q.adjusted };
        market::range(universe, page.ticker, &probe).bars.into_iter().next()
    };
    if q.desc {
        // A descending page ends just before the oldest bar of the one that pointed here.
        one(q.to_ms + 1, q.to_ms + 366 * calendar::MS_PER_DAY, false)
    } else {
        one(q.from_ms.saturating_sub(366 * calendar::MS_PER_DAY).max(0), q.from_ms - 1, true)
    }
}

/// A stamp on the timeframe's grid, after the requested range.
fn after_range(q: &Query) -> i64 {
    match q.timeframe.base() {
        BaseUnit::Minute => {
            let width = q.timeframe.minutes().expect("intraday") as i64 * MS_PER_MINUTE;
            let midnight = calendar::ny_midnight_ms(calendar::ny_day_of_ms(q.to_ms + 1));
            midnight + (q.to_ms + 1 - midnight).div_euclid(width) * width + width
        }
        BaseUnit::Day => {
            let last = calendar::ny_day_of_ms(q.to_ms);
            calendar::ny_midnight_ms(market::period_end(q.timeframe, last) + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(tf: &str, from: &str, to: &str, limit: u64) -> Query {
        let d = |s: &str| calendar::parse_date(s).unwrap();
        Query {
            timeframe: tf.parse().unwrap(),
            from_ms: calendar::ny_midnight_ms(d(from)),
            to_ms: calendar::ny_midnight_ms(d(to) + 1) - 1,
            limit,
            desc: false,
            adjusted: true,
        }
    }

    #[test]
    fn each_fault_spoils_a_page_the_way_it_says() {
        let u = Universe::new(0);
        let q = query("1/minute", "2024-03-04", "2024-03-05", 1000);
        let first = market::range(&u, "AAPL", &q);
        let mut second_q = query("1/minute", "2024-03-04", "2024-03-05", 1000);
        second_q.from_ms = first.next.unwrap();
        let second = market::range(&u, "AAPL", &second_q).bars;
        let page = PageContext { ticker: "AAPL", query: &second_q, continuation: true };

        let mut bars = second.clone();
        assert!(spoil_range("dup_boundary", &u, &page, &mut bars));
        assert_eq!(bars[0], *first.bars.last().unwrap());
        assert_eq!(&bars[1..], &second[..]);

        let mut bars = second.clone();
        assert!(spoil_range("out_of_range", &u, &page, &mut bars));
        let extra = bars.last().unwrap().t;
        assert!(extra > second_q.to_ms && extra % MS_PER_MINUTE == 0);

        let mut bars = second.clone();
        assert!(spoil_range("swap_hl", &u, &page, &mut bars));
        assert!(bars.iter().zip(&second).all(|(b, s)| b.h == s.l && b.l == s.h));

        let mut bars = second.clone();
        assert!(spoil_range("seconds_ts", &u, &page, &mut bars));
        assert!(bars.iter().zip(&second).all(|(b, s)| b.t * 1000 == s.t));

        let mut bars = second.clone();
        assert!(spoil_range("off_grid", &u, &page, &mut bars));
        assert_eq!(bars.iter().filter(|b| b.t % MS_PER_MINUTE == 17_000).count(), 1);

        // Nothing to duplicate on a first page; nothing to stamp on an empty one.
        let first_page = PageContext { ticker: "AAPL", query: &q, continuation: false };
        assert!(!spoil_range("dup_boundary", &u, &first_page, &mut second.clone()));
        assert!(!spoil_range("out_of_range", &u, &first_page, &mut Vec::new()));
        assert!(!spoil_range("server_error", &u, &first_page, &mut second.clone()));
    }

    #[test]
    fn out_of_range_day_bars_land_on_the_next_period() {
        let q = query("1/week", "2024-03-06", "2024-03-13", 50_000);
        // The week of 2024-03-10 ends on Saturday 03-16: the next starts Sunday 03-17.
        assert_eq!(calendar::ny_day_of_ms(after_range(&q)), calendar::parse_date("2024-03-17").unwrap());
        let q = query("1/day", "2024-03-06", "2024-03-13", 50_000);
        assert_eq!(after_range(&q), calendar::ny_midnight_ms(calendar::parse_date("2024-03-14").unwrap()));
    }

    #[test]
    fn grouped_rows_get_the_faults_that_make_sense_for_them() {
        let u = Universe::new(5);
        let day = calendar::parse_date("2024-03-04").unwrap();
        let clean = market::grouped(&u, day, true, true);
        let mut rows = clean.clone();
        assert!(spoil_grouped("out_of_range", day, &mut rows));
        assert_eq!(calendar::ny_day_of_ms(rows[0].1.t), day + 1);
        let mut rows = clean.clone();
        assert!(!spoil_grouped("dup_boundary", day, &mut rows));
        assert!(spoil_grouped("seconds_ts", day, &mut rows));
        assert!(rows.iter().zip(&clean).all(|(a, b)| a.0 == b.0 && a.1.t * 1000 == b.1.t));
    }
}
