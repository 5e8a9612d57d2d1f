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
    pub volume: Vec<f64>,
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
            volume: Vec::with_capacity(rows),
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

    pub fn push(&mut self, ticker: &Arc<str>, bar: &Bar) {
        match self.tickers.last_mut() {
            Some((t, n)) if Arc::ptr_eq(t, ticker) || **t == **ticker => *n += 1,
            _ => self.tickers.push((ticker.clone(), 1)),
        }
        self.ts.push(bar.ts);
        self.open.push(bar.open);
        self.high.push(bar.high);
        self.low.push(bar.low);
        self.close.push(bar.close);
        self.volume.push(bar.volume);
        self.vwap.push(bar.vwap);
        self.trades.push(bar.trades);
    }

    /// The ticker of every row, in order.
    pub fn ticker_rows(&self) -> impl Iterator<Item = &Arc<str>> + '_ {
        self.tickers.iter().flat_map(|(t, n)| std::iter::repeat_n(t, *n))
    }

    /// Row `i` as a bar, for writers that go row by row.
    pub fn bars(&self) -> impl Iterator<Item = Bar> + '_ {
        self.vwap.rows().zip(self.trades.rows()).enumerate().map(|(i, (vwap, trades))| Bar {
            ts: self.ts[i],
            open: self.open[i],
            high: self.high[i],
            low: self.low[i],
            close: self.close[i],
            volume: self.volume[i],
            vwap,
            trades,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(ts: i64, vwap: Option<f64>, trades: Option<i64>) -> Bar {
        Bar { ts, open: 1.0, high: 2.0, low: 0.5, close: 1.5, volume: 10.0, vwap, trades }
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
}
