//! Up to a row group of bars held column by column, the shape both file writers take.

use std::sync::Arc;

use crate::bar::Bar;

/// A nullable column: the present values only, and a definition level per row (1 present,
/// 0 null), as Parquet takes them.
#[derive(Debug, Default, PartialEq)]
pub struct Nullable<T> {
    pub values: Vec<T>,
    pub levels: Vec<i16>,
}

impl<T: Copy> Nullable<T> {
    fn with_capacity(rows: usize) -> Self {
        Nullable { values: Vec::with_capacity(rows), levels: Vec::with_capacity(rows) }
    }

    fn push(&mut self, v: Option<T>) {
        match v {
            Some(v) => {
                self.values.push(v);
                self.levels.push(1);
            }
            None => self.levels.push(0),
        }
    }

    /// Rows `rows` of `other` appended.
    fn extend_from(&mut self, other: &Nullable<T>, rows: std::ops::Range<usize>) {
        let present = |levels: &[i16]| levels.iter().filter(|&&l| l == 1).count();
        let first = present(&other.levels[..rows.start]);
        let n = present(&other.levels[rows.clone()]);
        self.values.extend_from_slice(&other.values[first..first + n]);
        self.levels.extend_from_slice(&other.levels[rows]);
    }

    fn clear(&mut self) {
        self.values.clear();
        self.levels.clear();
    }

    /// Row by row, `None` where the column is null.
    pub fn rows(&self) -> impl Iterator<Item = Option<T>> + '_ {
        let mut values = self.values.iter();
        self.levels.iter().map(move |&l| if l == 1 { values.next().copied() } else { None })
    }
}

/// Bars of one partition in file order (ticker, then ts). The ticker is kept once per
/// run of rows, not once per row: a file holds few tickers in long runs.
#[derive(Debug, Default)]
pub struct Batch {
    pub tickers: Vec<(Arc<str>, usize)>,
    pub ts: Vec<i64>,
    pub open: Vec<f64>,
    pub high: Vec<f64>,
    pub low: Vec<f64>,
    pub close: Vec<f64>,
    /// Index bars carry no volume.
    pub volume: Nullable<f64>,
    pub vwap: Nullable<f64>,
    pub trades: Nullable<i64>,
}

impl Batch {
    pub fn with_capacity(rows: usize) -> Batch {
        Batch {
            tickers: Vec::new(),
            ts: Vec::with_capacity(rows),
            open: Vec::with_capacity(rows),
            high: Vec::with_capacity(rows),
            low: Vec::with_capacity(rows),
            close: Vec::with_capacity(rows),
            volume: Nullable::with_capacity(rows),
            vwap: Nullable::with_capacity(rows),
            trades: Nullable::with_capacity(rows),
        }
    }

    pub fn len(&self) -> usize {
        self.ts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Empty, keeping the memory.
    pub fn clear(&mut self) {
        self.tickers.clear();
        for v in [&mut self.open, &mut self.high, &mut self.low, &mut self.close] {
            v.clear();
        }
        self.ts.clear();
        self.volume.clear();
        self.vwap.clear();
        self.trades.clear();
    }

    fn add_ticker_rows(&mut self, ticker: &Arc<str>, n: usize) {
        match self.tickers.last_mut() {
            Some((t, count)) if Arc::ptr_eq(t, ticker) || **t == **ticker => *count += n,
            _ => self.tickers.push((ticker.clone(), n)),
        }
    }

    pub fn push(&mut self, ticker: &Arc<str>, bar: &Bar) {
        self.add_ticker_rows(ticker, 1);
        self.ts.push(bar.ts);
        self.open.push(bar.open);
        self.high.push(bar.high);
        self.low.push(bar.low);
        self.close.push(bar.close);
        self.volume.push(bar.volume);
        self.vwap.push(bar.vwap);
        self.trades.push(bar.trades);
    }

    /// Rows `rows` of `other` appended.
    pub fn extend_from(&mut self, other: &Batch, rows: std::ops::Range<usize>) {
        let mut start = 0;
        for (ticker, n) in &other.tickers {
            let (from, to) = (start.max(rows.start), (start + n).min(rows.end));
            if from < to {
                self.add_ticker_rows(ticker, to - from);
            }
            start += n;
        }
        let r = rows.clone();
        self.ts.extend_from_slice(&other.ts[r.clone()]);
        self.open.extend_from_slice(&other.open[r.clone()]);
        self.high.extend_from_slice(&other.high[r.clone()]);
        self.low.extend_from_slice(&other.low[r.clone()]);
        self.close.extend_from_slice(&other.close[r]);
        self.volume.extend_from(&other.volume, rows.clone());
        self.vwap.extend_from(&other.vwap, rows.clone());
        self.trades.extend_from(&other.trades, rows);
    }

    /// The ticker of every row, in order.
    pub fn ticker_rows(&self) -> impl Iterator<Item = &Arc<str>> + '_ {
        self.tickers.iter().flat_map(|(t, n)| std::iter::repeat_n(t, *n))
    }

    /// Row `i` as a bar, for writers that go row by row.
    pub fn bars(&self) -> impl Iterator<Item = Bar> + '_ {
        let nullable = self.volume.rows().zip(self.vwap.rows()).zip(self.trades.rows());
        nullable.enumerate().map(|(i, ((volume, vwap), trades))| Bar {
            ts: self.ts[i],
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume,
            vwap,
            trades,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, vwap: Option<f64>, trades: Option<i64>) -> Bar {
        Bar { ts, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: Some(10.0), vwap, trades }
    }

    #[test]
    fn rows_come_back_as_pushed_with_tickers_in_runs_and_nulls_in_place() {
        let (a, b): (Arc<str>, Arc<str>) = ("A".into(), "B".into());
        let bars = [bar(1, Some(1.2), None), bar(2, None, Some(7)), bar(3, Some(1.3), Some(8))];
        let mut batch = Batch::with_capacity(4);
        batch.push(&a, &bars[0]);
        batch.push(&a, &bars[1]);
        batch.push(&b, &bars[2]);
        assert_eq!(batch.len(), 3);
        assert_eq!(batch.tickers, [(a.clone(), 2), (b.clone(), 1)]);
        assert_eq!(batch.vwap, Nullable { values: vec![1.2, 1.3], levels: vec![1, 0, 1] });
        assert_eq!(batch.trades, Nullable { values: vec![7, 8], levels: vec![0, 1, 1] });
        assert_eq!(batch.bars().collect::<Vec<_>>(), bars);
        let tickers: Vec<&str> = batch.ticker_rows().map(|t| &**t).collect();
        assert_eq!(tickers, ["A", "A", "B"]);
    }

    #[test]
    fn rows_extended_from_another_batch_are_those_rows_and_tickers_merge_their_runs() {
        let (a, b): (Arc<str>, Arc<str>) = ("A".into(), "B".into());
        let bars: Vec<Bar> =
            (0..6).map(|i| bar(i, (i % 2 == 0).then_some(i as f64), (i % 3 == 0).then_some(i))).collect();
        let mut source = Batch::with_capacity(6);
        for (i, bar) in bars.iter().enumerate() {
            source.push(if i < 4 { &a } else { &b }, bar);
        }
        let mut out = Batch::with_capacity(6);
        out.push(&a, &bars[0]);
        out.extend_from(&source, 1..3);
        out.extend_from(&source, 3..6);
        assert_eq!(out.bars().collect::<Vec<_>>(), bars);
        assert_eq!(out.tickers, [(a.clone(), 4), (b.clone(), 2)]);
        out.clear();
        assert!(out.is_empty() && out.tickers.is_empty() && out.vwap.levels.is_empty());
        out.extend_from(&source, 2..5);
        assert_eq!(out.bars().collect::<Vec<_>>(), bars[2..5]);
        assert_eq!(out.tickers, [(a, 2), (b, 1)]);
    }
}
