//! The simulator's option chains, made on demand rather than held: a few underlyings,
//! each with a contract for every expiration (every Friday, Thursday when Friday is an
//! NYSE holiday), every strike of its grid and both types. A monthly expiration (the
//! third Friday) is listed a year ahead, a weekly eight weeks ahead; strikes off the
//! grid's round tens are added later (three weeks before a weekly expires, nine before a
//! monthly), so a chain asked for as of an earlier day holds fewer of them, as the real
//! one does. A contract trades only regular hours, thinly (most minutes have no trade).

use super::universe::{TickerInfo, identifiers, splitmix, ticker_seed, unit, ymd};
use crate::calendar::{self, Day};
use crate::markets::{Class, ContractType, OptionContract};

/// `(underlying, lowest strike, highest strike, step)`, in dollars.
const CHAINS: [(&str, u64, u64, u64); 4] =
    [("SPY", 300, 800, 5), ("QQQ", 250, 650, 5), ("IWM", 120, 300, 5), ("AAPL", 100, 300, 5)];

/// The underlyings that have chains.
pub fn underlyings() -> impl Iterator<Item = &'static str> {
    CHAINS.iter().map(|c| c.0)
}

/// The last expiration the simulator lists.
fn last_expiration() -> Day {
    ymd(2030, 12, 31)
}

/// The expiration of the week of `friday`: that Friday, or the session before it when it
/// is a holiday (Good Friday moves it to Thursday).
fn expiration_of(friday: Day) -> Day {
    let mut d = friday;
    while !calendar::is_session(d) {
        d -= 1;
    }
    d
}

/// The third Friday of its month: a monthly expiration.
fn is_monthly(friday: Day) -> bool {
    let date = calendar::date_of(friday);
    (15..=21).contains(&date.day())
}

/// Every expiration in `[from, to]`, with the Friday it stands for, oldest first.
pub fn expirations(from: Day, to: Day) -> Vec<(Day, Day)> {
    let start = from.max(super::markets::history_start(Class::Options));
    let to = to.min(last_expiration());
    // Fridays are weekday 4 (Monday 0).
    let mut friday = start + (4 - calendar::weekday_index(start)).rem_euclid(7);
    let mut out = Vec::new();
    while expiration_of(friday) <= to {
        let e = expiration_of(friday);
        if e >= start {
            out.push((e, friday));
        }
        friday += 7;
    }
    out
}

/// One contract as the reference endpoint lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Listed {
    pub contract: OptionContract,
    pub underlying: &'static str,
    /// The first day it appears in the chain.
    pub list_date: Day,
}

impl Listed {
    pub fn ticker(&self) -> String {
        self.contract.ticker()
    }
}

/// The day a contract of `friday`'s expiration with strike `strike` (dollars) is listed.
fn list_date(friday: Day, strike: u64) -> Day {
    let monthly = is_monthly(friday);
    let lead = match (monthly, strike.is_multiple_of(10)) {
        (true, true) => 364,
        (true, false) => 63,
        (false, true) => 56,
        (false, false) => 21,
    };
    let mut d = friday - lead;
    while !calendar::is_session(d) {
        d += 1;
    }
    d
}

/// The contracts of `underlying` expiring in `[from, to]` with strikes in `[lo, hi]`
/// (dollars), of `kind` or both, in the order expiration, strike, call before put.
pub fn chain(underlying: &str, from: Day, to: Day, lo: f64, hi: f64, kind: Option<ContractType>) -> Vec<Listed> {
    let Some(&(root, first, last, step)) = CHAINS.iter().find(|c| c.0 == underlying) else { return Vec::new() };
    let mut out = Vec::new();
    for (expiration, friday) in expirations(from, to) {
        for strike in (first..=last).step_by(step as usize).filter(|&k| (lo..=hi).contains(&(k as f64))) {
            for k in [ContractType::Call, ContractType::Put].into_iter().filter(|k| kind.is_none_or(|x| x == *k)) {
                out.push(Listed {
                    contract: OptionContract {
                        root: root.to_string(),
                        expiration,
                        kind: k,
                        strike_milli: strike * 1000,
                    },
                    underlying: root,
                    list_date: list_date(friday, strike),
                });
            }
        }
    }
    out
}

/// The contract named `ticker`, if the simulator's chains hold it.
pub fn listed(ticker: &str) -> Option<Listed> {
    let c = OptionContract::parse(ticker).ok()?;
    let &(root, first, last, step) = CHAINS.iter().find(|x| x.0 == c.root)?;
    let strike = c.strike_milli / 1000;
    if !c.strike_milli.is_multiple_of(1000) || strike < first || strike > last || !(strike - first).is_multiple_of(step)
    {
        return None;
    }
    let (_, friday) = expirations(c.expiration, c.expiration).into_iter().next()?;
    Some(Listed { list_date: list_date(friday, strike), underlying: root, contract: c })
}

/// A contract as a ticker with bars: its life from listing to expiration, a thin trade
/// (most contracts trade a few minutes a day, a few trade often) and its own price path.
pub fn contract(_universe: &super::universe::Universe, ticker: &str) -> Option<TickerInfo> {
    let l = listed(ticker)?;
    let seed = ticker_seed(ticker);
    let busy = unit(splitmix(seed ^ 0x0B7));
    let (cik, composite_figi, share_class_figi) = identifiers(seed);
    Some(TickerInfo {
        ticker: ticker.to_string(),
        class: Class::Options,
        holidays: false,
        name: ticker.to_string(),
        kind: "OPTION",
        otc: false,
        primary_exchange: None,
        cik,
        composite_figi,
        share_class_figi,
        list_date: l.list_date,
        last_day: Some(l.contract.expiration),
        density: 0.003 + 0.3 * busy * busy * busy,
        path_seed: seed,
        price_base: 0.5 + 30.0 * unit(splitmix(seed ^ 0x0B8)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> Day {
        calendar::parse_date(s).unwrap()
    }

    #[test]
    fn expirations_are_fridays_or_the_thursday_before_a_holiday() {
        let e: Vec<Day> = expirations(day("2025-04-01"), day("2025-04-30")).into_iter().map(|(e, _)| e).collect();
        // Good Friday 2025-04-18: that week's contracts expire on Thursday the 17th.
        assert_eq!(e, ["2025-04-04", "2025-04-11", "2025-04-17", "2025-04-25"].map(day));
        assert!(is_monthly(day("2025-04-18")) && !is_monthly(day("2025-04-25")));
    }

    #[test]
    fn chains_list_their_contracts_with_listing_dates() {
        let c = chain("SPY", day("2025-01-01"), day("2025-03-31"), 480.0, 520.0, None);
        // 13 expirations, 9 strikes, calls and puts.
        assert_eq!(c.len(), 13 * 9 * 2);
        assert_eq!(c[0].ticker(), "O:SPY250103C00480000");
        let l = listed("O:SPY250117P00485000").unwrap();
        assert_eq!(l.list_date, day("2024-11-15"), "a monthly's off-ten strike, nine weeks ahead");
        assert_eq!(listed("O:SPY250117P00480000").unwrap().list_date, day("2024-01-19"), "a monthly, a year ahead");
        assert!(listed("O:SPY250116P00480000").is_none(), "not an expiration");
        assert!(listed("O:SPY250117P00481000").is_none(), "off the strike grid");
        assert!(listed("O:XYZ250117P00480000").is_none(), "no chain");
        let info = contract(&super::super::universe::Universe::new(0), "O:SPY250117P00480000").unwrap();
        assert_eq!(
            (info.class, info.last_day, info.first_day()),
            (Class::Options, Some(day("2025-01-17")), day("2024-01-19"))
        );
    }
}
