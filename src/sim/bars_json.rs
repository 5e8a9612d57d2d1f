//! Bar lists written straight into the body. A paid plan's page is 50,000 bars, and the
//! simulator shares the machine with the client it serves: serde's shortest-float search
//! took 28 % of its CPU, yet every price it sends is a whole number of 1/10,000ths (and
//! every volume of 1/1,000,000ths), which prints as an integer with a decimal point put
//! in. Values that are not fall back to serde's writer; either way a client parses the
//! same f64.

use super::market::SimBar;

/// Prices: `round_to(x, 4)` in the market.
const PRICE_PLACES: u32 = 4;
/// Volumes: `round_to(x, 6)` in the market.
const VOLUME_PLACES: u32 = 6;
/// Beyond this a scaled value nears 2^53 and stops being exact.
const FAST_LIMIT: f64 = 1e9;

/// `"results":[...]` for `bars`, each with `T` when `ticker_of` names one; without `v`,
/// `vw` and `n` when the bars carry no `volume` (an index's).
pub fn write_results<'a>(
    out: &mut Vec<u8>,
    bars: impl ExactSizeIterator<Item = (Option<&'a str>, &'a SimBar)>,
    volume: bool,
) {
    out.reserve(bars.len() * 112);
    out.extend_from_slice(b"\"results\":[");
    for (i, (ticker, b)) in bars.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'{');
        if let Some(t) = ticker {
            out.extend_from_slice(b"\"T\":");
            write_str(out, t);
            out.push(b',');
        }
        if volume {
            out.extend_from_slice(b"\"v\":");
            write_decimal(out, b.v, VOLUME_PLACES);
            out.extend_from_slice(b",\"vw\":");
            write_decimal(out, b.vw, PRICE_PLACES);
            out.push(b',');
        }
        for (i, (key, x)) in
            [(&b"\"o\":"[..], b.o), (b"\"c\":", b.c), (b"\"h\":", b.h), (b"\"l\":", b.l)].into_iter().enumerate()
        {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(key);
            write_decimal(out, x, PRICE_PLACES);
        }
        out.extend_from_slice(b",\"t\":");
        write_int(out, b.t.unsigned_abs(), b.t < 0);
        if let Some(n) = b.n.filter(|_| volume) {
            out.extend_from_slice(b",\"n\":");
            write_int(out, n, false);
        }
        out.push(b'}');
    }
    out.push(b']');
}

/// A JSON string, escaped by serde.
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(&mut *out, s).expect("a string always serialises");
}

/// `x` as JSON: fixed-point when it is a whole number of 10^-places, serde's otherwise.
fn write_decimal(out: &mut Vec<u8>, x: f64, places: u32) {
    let scale = 10u64.pow(places);
    let scaled = (x * scale as f64).round();
    if x.abs() < FAST_LIMIT && scaled / scale as f64 == x && x != 0.0 {
        let k = scaled.abs() as u64;
        write_int(out, k / scale, x < 0.0);
        out.push(b'.');
        let frac = k % scale;
        if frac == 0 {
            out.push(b'0');
            return;
        }
        let mut digits = [b'0'; 8];
        let mut f = frac;
        for d in digits[..places as usize].iter_mut().rev() {
            *d = b'0' + (f % 10) as u8;
            f /= 10;
        }
        let used = digits[..places as usize].iter().rposition(|&d| d != b'0').map_or(0, |i| i + 1);
        out.extend_from_slice(&digits[..used]);
    } else {
        serde_json::to_writer(&mut *out, &x).expect("an f64 always serialises");
    }
}

fn write_int(out: &mut Vec<u8>, mut n: u64, negative: bool) {
    if negative {
        out.push(b'-');
    }
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(x: f64, places: u32) -> String {
        let mut out = Vec::new();
        write_decimal(&mut out, x, places);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn decimals_print_short_and_parse_back_to_the_same_f64() {
        assert_eq!(written(123.4567, 4), "123.4567");
        assert_eq!(written(123.45, 4), "123.45");
        assert_eq!(written(100.0, 4), "100.0");
        assert_eq!(written(0.0001, 4), "0.0001");
        assert_eq!(written(-2.5, 4), "-2.5");
        assert_eq!(written(70_243_000.0, 6), "70243000.0");
        assert_eq!(written(1234.000001, 6), "1234.000001");
        // Not a whole number of 1/10,000ths, out of range, or zero: serde writes them.
        assert_eq!(written(0.1 + 0.2, 4), serde_json::to_string(&(0.1 + 0.2)).unwrap());
        assert_eq!(written(3e12, 4), serde_json::to_string(&3e12).unwrap());
        assert_eq!(written(0.0, 4), "0.0");
        for k in [1u64, 7, 99, 12_345, 999_999, 1_000_000_007] {
            for places in [4, 6] {
                let x = k as f64 / 10f64.powi(places as i32);
                let back: f64 = written(x, places).parse().unwrap();
                assert_eq!(back.to_bits(), x.to_bits(), "{x}");
            }
        }
    }
}
