//! Decoding a full `limit=50000` page of minute bars, and checking it, the way the client does.

use divan::counter::{BytesCount, ItemsCount};
use divan::{Bencher, black_box};

fn main() {
    divan::main();
}

#[divan::bench]
fn decode_50k_bar_page(bencher: Bencher) {
    // 52 sessions x 960 minutes = 49,920 bars, ~5 MB of JSON.
    let body = barfill::sim::sample_range_body(52);
    let bars = barfill::polygon::client::parse_page(&body).unwrap().bars.len();
    bencher
        .counter(BytesCount::new(body.len()))
        .counter(ItemsCount::new(bars))
        .bench(|| barfill::polygon::client::parse_page(black_box(&body)).unwrap());
}

#[divan::bench]
fn check_50k_bar_page(bencher: Bencher) {
    use barfill::calendar;
    use barfill::polygon::check::{Expect, check_range_page};
    let body = barfill::sim::sample_range_body(52);
    let bars = barfill::polygon::client::parse_page(&body).unwrap().bars;
    let from = calendar::parse_date("2024-01-02").unwrap();
    let expect = Expect {
        timeframe: "1/minute".parse().unwrap(),
        class: barfill::markets::Class::Stocks,
        stamp: None,
        from_ms: calendar::ny_midnight_ms(from),
        to_ms: calendar::ny_midnight_ms(calendar::nth_session_from(from, 53)) - 1,
    };
    assert!(check_range_page(&bars, &expect).is_ok());
    bencher.counter(ItemsCount::new(bars.len())).bench(|| check_range_page(black_box(&bars), black_box(&expect)));
}
