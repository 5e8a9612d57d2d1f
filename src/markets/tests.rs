use super::*;

fn day(s: &str) -> Day {
    calendar::parse_date(s).unwrap()
}

#[test]
fn the_prefix_names_the_class() {
    assert_eq!(Class::of("AAPL"), Ok(Class::Stocks));
    assert_eq!(Class::of("BRK.B"), Ok(Class::Stocks));
    assert_eq!(Class::of("X:BTCUSD"), Ok(Class::Crypto));
    assert_eq!(Class::of("C:EURUSD"), Ok(Class::Forex));
    assert_eq!(Class::of("I:SPX"), Ok(Class::Indices));
    assert_eq!(Class::of("O:SPY251219C00650000"), Ok(Class::Options));
    for t in ["AAPL", "X:BTCUSD", "C:EURUSD", "I:SPX", "O:SPY251219C00650000"] {
        assert_eq!(Class::of_checked(t), Class::of(t).unwrap(), "{t}");
    }
}

#[test]
fn unknown_prefixes_and_malformed_options_are_named() {
    let e = Class::of("Z:FOO").unwrap_err();
    assert!(e.contains("'Z:FOO'") && e.contains("prefix 'Z:'") && e.contains("X: (crypto)"), "{e}");
    assert!(Class::of("X:").unwrap_err().contains("nothing after"));
    assert!(Class::of("X:BTC:USD").is_err());
    for (t, why) in [
        ("O:SPY", "too short"),
        ("O:SPY251319C00650000", "not a date"),
        ("O:SPY251219X00650000", "'X' where C"),
        ("O:SPY2512A9C00650000", "not YYMMDD"),
        ("O:SPY251219C0065000A", "not 8 digits"),
        ("O:SPY251219C00000000", "zero"),
        ("O:TOOLONGR251219C00650000", "root"),
        ("O:1SPY251219C00650000", "root"),
    ] {
        let e = Class::of(t).unwrap_err();
        assert!(e.contains(&format!("'{t}'")) && e.contains(why), "{t}: {e}");
    }
}

#[test]
fn occ_symbols_read_from_the_right() {
    let c = OptionContract::parse("O:SPY251219C00650000").unwrap();
    assert_eq!(
        (c.root.as_str(), c.expiration, c.kind, c.strike()),
        ("SPY", day("2025-12-19"), ContractType::Call, 650.0)
    );
    assert_eq!(c.ticker(), "O:SPY251219C00650000");
    // A root changed by a reverse split carries a digit; a strike may have cents.
    let c = OptionContract::parse("O:SDS1220204P00003500").unwrap();
    assert_eq!((c.root.as_str(), c.kind, c.strike()), ("SDS1", ContractType::Put, 3.5));
    assert_eq!(c.ticker(), "O:SDS1220204P00003500");
    assert_eq!(Class::Options.last_day_of("O:SPY251219C00650000"), Some(day("2025-12-19")));
    let range = Range { from: day("2025-12-01"), to: day("2025-12-31") };
    assert_eq!(life_range("O:SPY251219C00650000", range).to, day("2025-12-19"));
    assert_eq!(life_range("AAPL", range), range);
}

#[test]
fn each_class_counts_its_own_days_in_january_2025() {
    let (from, to) = (day("2025-01-01"), day("2025-01-31"));
    // NYSE: 23 weekdays less New Year's Day, President Carter's day of mourning and MLK Day.
    assert_eq!(Class::Stocks.days_between(from, to), 20);
    assert_eq!(Class::Options.days_between(from, to), 20);
    assert_eq!(Class::Crypto.days_between(from, to), 31);
    // Sunday to Friday in UTC days: every day but the four Saturdays.
    assert_eq!(Class::Forex.days_between(from, to), 27);
    assert_eq!(Class::Indices.days_between(from, to), 23);
    assert_eq!(Class::Indices.expected_between(from, to), 20);
    for class in Class::ALL {
        let slow = (from..=to).filter(|&d| class.is_day(d)).count() as u32;
        assert_eq!(class.days_between(from, to), slow, "{class}");
        for len in 0..40 {
            let d = from + len;
            let fast = class.days_between(from, d);
            if fast > 0 {
                let nth = class.nth_day_from(from, fast);
                assert!(class.is_day(nth) && class.days_between(from, nth) == fast, "{class} {len}");
            }
        }
    }
}

#[test]
fn closures_are_named_per_class() {
    let saturday = day("2025-01-04");
    assert_eq!(Class::Crypto.closure_reason(saturday), None);
    assert!(Class::Forex.closure_reason(saturday).unwrap().contains("forex"));
    assert_eq!(Class::Forex.closure_reason(day("2025-01-05")), None, "Sunday evening trades");
    assert_eq!(Class::Stocks.closure_reason(day("2025-01-20")), Some("Martin Luther King Jr. Day"));
    assert_eq!(Class::Indices.closure_reason(day("2025-01-20")), None, "some indices print on NYSE holidays");
    assert!(!Class::Indices.expects(day("2025-01-20")));
}

#[test]
fn days_begin_at_the_class_midnight() {
    let d = day("2025-01-06");
    assert_eq!(Class::Crypto.zone().start_ms(d), 1_736_121_600_000);
    assert_eq!(Class::Stocks.zone().start_ms(d), 1_736_121_600_000 + 5 * 3_600_000);
    let late = 1_736_121_600_000 + 23 * 3_600_000; // 23:00Z, 18:00 New York
    assert_eq!(Class::Crypto.zone().day_of_ms(late), Some(d));
    assert_eq!(Class::Stocks.zone().day_of_ms(late), Some(d));
    assert_eq!(Class::Crypto.zone().day_of_ms(late + 3_600_000), Some(d + 1));
    assert_eq!(Class::Stocks.zone().day_of_ms(late + 3_600_000), Some(d));
    assert_eq!(DayZone::Utc.span_of(i64::MAX), None);
}

#[test]
fn day_stamps_are_recognised_per_class() {
    let winter = day("2025-01-06");
    let summer = day("2025-07-07");
    assert_eq!(DayStamp::ChicagoMidnight.at(winter) - DayStamp::UtcMidnight.at(winter), 6 * 3_600_000);
    assert_eq!(DayStamp::ChicagoMidnight.at(summer) - DayStamp::UtcMidnight.at(summer), 5 * 3_600_000);
    assert_eq!(DayStamp::NewYorkMidnight.at(summer) - DayStamp::UtcMidnight.at(summer), 4 * 3_600_000);
    for d in [winter, summer] {
        assert_eq!(Class::Crypto.stamp_of(DayStamp::UtcMidnight.at(d)), Some(DayStamp::UtcMidnight));
        assert_eq!(Class::Crypto.stamp_of(DayStamp::NewYorkMidnight.at(d)), Some(DayStamp::NewYorkMidnight));
        assert_eq!(Class::Crypto.stamp_of(DayStamp::ChicagoMidnight.at(d)), None);
        assert_eq!(Class::Indices.stamp_of(DayStamp::ChicagoMidnight.at(d)), Some(DayStamp::ChicagoMidnight));
        assert_eq!(Class::Indices.stamp_of(DayStamp::UtcMidnight.at(d)), None);
        assert_eq!(Class::Forex.stamp_of(DayStamp::NewYorkMidnight.at(d)), None);
        assert_eq!(Class::Stocks.stamp_of(DayStamp::NewYorkMidnight.at(d)), Some(DayStamp::NewYorkMidnight));
    }
    assert_eq!(DayStamp::describe(DayStamp::UtcMidnight.at(winter)), "2025-01-06 00:00 UTC");
}

#[test]
fn grouped_endpoints_and_fields_per_class() {
    assert_eq!(Class::Stocks.grouped(), Some(Grouped { locale: "us", market: "stocks" }));
    assert_eq!(Class::Crypto.grouped(), Some(Grouped { locale: "global", market: "crypto" }));
    assert_eq!(Class::Forex.grouped(), Some(Grouped { locale: "global", market: "fx" }));
    assert_eq!((Class::Indices.grouped(), Class::Options.grouped()), (None, None));
    assert!(!Class::Indices.has_volume() && !Class::Indices.takes_adjusted());
    assert!(Class::ALL.iter().filter(|c| c.has_splits()).eq([Class::Stocks].iter()));
}
