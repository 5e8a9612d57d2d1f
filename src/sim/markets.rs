//! The simulator's tickers beyond US stocks: crypto pairs, forex pairs and indices, with
//! the day each one's history starts. Names and rough price levels are real; lives,
//! liquidity and paths are the simulator's own.

use super::universe::{TickerInfo, identifiers, ticker_seed, ymd};
use crate::calendar::Day;
use crate::markets::Class;

/// Where each class's history starts in the simulator: stocks as the API's (2003-09-10),
/// crypto at the API's first records (2013-11-01), options at theirs (2014-06-02); forex
/// and indices, whose first dates the API does not state, at the stocks'.
pub fn history_start(class: Class) -> Day {
    match class {
        Class::Crypto => ymd(2013, 11, 1),
        Class::Options => ymd(2014, 6, 2),
        _ => ymd(2003, 9, 10),
    }
}

/// `(ticker, name, listed, share of minutes with a bar, price level)`.
type Line = (&'static str, &'static str, (i16, i8, i8), f64, f64);

const CRYPTO: [Line; 8] = [
    ("X:BTCUSD", "Bitcoin - United States Dollar", (2013, 11, 1), 1.0, 30_000.0),
    ("X:ETHUSD", "Ethereum - United States Dollar", (2016, 5, 9), 1.0, 2_000.0),
    ("X:LTCUSD", "Litecoin - United States Dollar", (2013, 11, 1), 0.9, 80.0),
    ("X:XRPUSD", "XRP - United States Dollar", (2017, 5, 18), 0.8, 0.5),
    ("X:ADAUSD", "Cardano - United States Dollar", (2018, 2, 9), 0.7, 0.4),
    ("X:DOGEUSD", "Dogecoin - United States Dollar", (2019, 7, 5), 0.6, 0.1),
    ("X:SOLUSD", "Solana - United States Dollar", (2020, 4, 10), 0.8, 100.0),
    ("X:AVAXUSD", "Avalanche - United States Dollar", (2020, 9, 22), 0.5, 30.0),
];

const FOREX: [Line; 10] = [
    ("C:EURUSD", "Euro - United States Dollar", (2003, 9, 10), 1.0, 1.1),
    ("C:GBPUSD", "British Pound - United States Dollar", (2003, 9, 10), 1.0, 1.3),
    ("C:USDJPY", "United States Dollar - Japanese Yen", (2003, 9, 10), 1.0, 140.0),
    ("C:AUDUSD", "Australian Dollar - United States Dollar", (2003, 9, 10), 1.0, 0.7),
    ("C:USDCAD", "United States Dollar - Canadian Dollar", (2003, 9, 10), 1.0, 1.35),
    ("C:USDCHF", "United States Dollar - Swiss Franc", (2003, 9, 10), 1.0, 0.9),
    ("C:NZDUSD", "New Zealand Dollar - United States Dollar", (2003, 9, 10), 0.9, 0.62),
    ("C:EURGBP", "Euro - British Pound", (2003, 9, 10), 0.9, 0.86),
    ("C:EURJPY", "Euro - Japanese Yen", (2003, 9, 10), 0.9, 150.0),
    ("C:USDMXN", "United States Dollar - Mexican Peso", (2003, 9, 10), 0.7, 18.0),
];

const INDICES: [Line; 6] = [
    ("I:SPX", "Standard & Poor's 500", (2003, 9, 10), 1.0, 4_500.0),
    ("I:NDX", "Nasdaq-100", (2003, 9, 10), 1.0, 15_000.0),
    ("I:DJI", "Dow Jones Industrial Average", (2003, 9, 10), 1.0, 35_000.0),
    ("I:VIX", "Cboe Volatility Index", (2003, 9, 10), 1.0, 18.0),
    ("I:RUT", "Russell 2000 Index", (2003, 9, 10), 1.0, 2_000.0),
    // A crypto reference index: such indices print on NYSE holidays as well.
    ("I:AAVE100", "AAVE Reference Rate Index", (2021, 1, 4), 1.0, 100.0),
];

/// Every crypto pair, forex pair and index, in that order.
pub fn tickers() -> Vec<TickerInfo> {
    let mut out = Vec::new();
    for (class, lines, kind) in [
        (Class::Crypto, &CRYPTO[..], "CRYPTO"),
        (Class::Forex, &FOREX[..], "FX"),
        (Class::Indices, &INDICES[..], "INDEX"),
    ] {
        for &(ticker, name, (y, m, d), density, price) in lines {
            let seed = ticker_seed(ticker);
            let (cik, composite_figi, share_class_figi) = identifiers(seed);
            out.push(TickerInfo {
                ticker: ticker.to_string(),
                class,
                holidays: ticker == "I:AAVE100",
                name: name.to_string(),
                kind,
                otc: false,
                primary_exchange: None,
                cik,
                composite_figi,
                share_class_figi,
                list_date: ymd(y, m, d),
                last_day: None,
                density,
                path_seed: seed,
                price_base: price,
            });
        }
    }
    out
}
