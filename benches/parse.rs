//! Decoding a full `limit=50000` page of minute bars, the way the client does.

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
