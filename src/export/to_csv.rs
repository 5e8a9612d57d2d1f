//! A part in CSV: a header, then a line per bar with the Parquet files' columns. `ts` is
//! ISO-8601 in UTC with milliseconds (`2024-01-02T14:30:00.000Z`), which DuckDB, pandas
//! and polars parse as a timestamp; numbers are written in the shortest form that reads
//! back to the same double; a null is an empty field.

use std::fmt::Write as _;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::batch::Batch;
use super::{ExportError, PartWriter, io_error};

pub const HEADER: [&str; 9] = ["ticker", "ts", "open", "high", "low", "close", "volume", "vwap", "trades"];

pub struct CsvPart {
    writer: csv::Writer<BufWriter<File>>,
    path: PathBuf,
    field: String,
}

impl CsvPart {
    pub fn create(path: &Path) -> Result<CsvPart, ExportError> {
        let file = File::create(path).map_err(io_error(path))?;
        let mut part = CsvPart {
            writer: csv::Writer::from_writer(BufWriter::with_capacity(1 << 20, file)),
            path: path.to_path_buf(),
            field: String::new(),
        };
        part.writer.write_record(HEADER).map_err(csv_error(path))?;
        Ok(part)
    }

    fn rows(&mut self, b: &Batch) -> Result<(), csv::Error> {
        for (ticker, bar) in b.ticker_rows().zip(b.bars()) {
            self.writer.write_field(ticker.as_bytes())?;
            self.field.clear();
            let ts = jiff::Timestamp::from_millisecond(bar.ts).map_err(|e| std::io::Error::other(e.to_string()))?;
            let _ = write!(self.field, "{ts:.3}");
            self.writer.write_field(&self.field)?;
            for v in [bar.open, bar.high, bar.low, bar.close] {
                self.number(v)?;
            }
            match bar.volume {
                Some(v) => self.number(v)?,
                None => self.writer.write_field("")?,
            }
            match bar.vwap {
                Some(v) => self.number(v)?,
                None => self.writer.write_field("")?,
            }
            match bar.trades {
                Some(n) => self.number(n)?,
                None => self.writer.write_field("")?,
            }
            self.writer.write_record(None::<&[u8]>)?;
        }
        Ok(())
    }

    fn number(&mut self, v: impl std::fmt::Display) -> Result<(), csv::Error> {
        self.field.clear();
        let _ = write!(self.field, "{v}");
        self.writer.write_field(&self.field)
    }
}

impl PartWriter for CsvPart {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.rows(batch).map_err(csv_error(&self.path))
    }

    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let path = self.path;
        let buffered = self.writer.into_inner().map_err(|e| io_error(&path)(std::io::Error::other(e.to_string())))?;
        let file = buffered.into_inner().map_err(|e| io_error(&path)(e.into_error()))?;
        file.sync_all().map_err(io_error(&path))
    }
}

fn csv_error(path: &Path) -> impl Fn(csv::Error) -> ExportError + '_ {
    move |e| ExportError::Write { path: path.to_path_buf(), message: e.to_string() }
}
