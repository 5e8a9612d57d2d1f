//! The days of bar timestamps, for `series_days`, as the series' class bounds them (New
//! York days, or UTC days for crypto and forex): computed once per day, not per bar, since
//! a page's bars come in time order and a day holds hundreds of them.

pub use crate::calendar::DaySpan;
use crate::markets::DayZone;

/// Collects the distinct days of a run of timestamps, cheaply when they are in order.
pub struct DayCollector {
    zone: DayZone,
    current: Option<DaySpan>,
    pub spans: Vec<DaySpan>,
}

impl Default for DayCollector {
    fn default() -> Self {
        DayCollector::in_zone(DayZone::NewYork)
    }
}

impl DayCollector {
    pub fn in_zone(zone: DayZone) -> DayCollector {
        DayCollector { zone, current: None, spans: Vec::new() }
    }

    /// Days from here on are bounded by `zone`.
    pub fn set_zone(&mut self, zone: DayZone) {
        if zone != self.zone {
            self.zone = zone;
            self.current = None;
        }
    }

    #[inline]
    pub fn see(&mut self, ts: i64) {
        if let Some(span) = self.current
            && span.contains(ts)
        {
            return;
        }
        if let Some(span) = self.zone.span_of(ts) {
            self.spans.push(span);
            self.current = Some(span);
        }
    }

    /// The distinct days seen, sorted (bars out of order may have repeated a day).
    pub fn take(&mut self) -> Vec<DaySpan> {
        self.current = None;
        let mut spans = std::mem::take(&mut self.spans);
        spans.sort_unstable();
        spans.dedup();
        spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::{self, Day};

    #[test]
    fn days_follow_new_york_midnight_across_daylight_saving() {
        // 2024-03-10 is 23 hours long in New York, 2024-11-03 is 25.
        for date in ["2024-03-10", "2024-11-03", "2024-07-01", "2024-01-02"] {
            let day = calendar::parse_date(date).unwrap();
            let start = calendar::ny_midnight_ms(day);
            let end = calendar::ny_midnight_ms(day + 1);
            for ts in [start, start + 1, end - 1] {
                assert_eq!(DaySpan::of(ts).unwrap(), DaySpan { day, start_ms: start, end_ms: end }, "{date}");
            }
            assert_eq!(DaySpan::of(end).unwrap().day, day + 1);
        }
        assert_eq!(DaySpan::of(i64::MAX), None);
    }

    #[test]
    fn collector_dedups_days_seen_out_of_order() {
        let d = calendar::parse_date("2024-01-02").unwrap();
        let at = |day: Day, h: i8| calendar::ny_local_ms(day, h, 0);
        let mut c = DayCollector::default();
        for ts in [at(d, 9), at(d, 10), at(d + 1, 9), at(d, 11), at(d + 1, 4)] {
            c.see(ts);
        }
        let days: Vec<Day> = c.take().iter().map(|s| s.day).collect();
        assert_eq!(days, vec![d, d + 1]);
        assert!(c.take().is_empty());
    }

    #[test]
    fn utc_days_for_crypto_and_forex() {
        let d = calendar::parse_date("2025-01-04").unwrap();
        let utc = d as i64 * calendar::MS_PER_DAY;
        let mut c = DayCollector::in_zone(DayZone::Utc);
        // 23:30 and 00:30 UTC are two UTC days, one New York day.
        for ts in [utc + 23 * 3_600_000 + 1_800_000, utc + 24 * 3_600_000 + 1_800_000] {
            c.see(ts);
        }
        let spans = c.take();
        assert_eq!(spans.iter().map(|s| s.day).collect::<Vec<_>>(), vec![d, d + 1]);
        assert_eq!((spans[0].start_ms, spans[0].end_ms), (utc, utc + calendar::MS_PER_DAY));
    }
}
