//! `barfill export`: the store's bars out as Parquet (or CSV) files in hive-style
//! partitions, for DuckDB, polars, pyarrow, Spark and the like. The database stays the
//! source of truth: it is opened read-only, and an export can be made again at any time.
//!
//! Threads reading the store a ticker at a time hand their rows to the caller's thread,
//! which puts them in file order and encodes and writes them (`pipeline`); memory is
//! bounded by the row group size, whatever the database holds. See docs/export.md for the
//! layout, the types and the figures.

mod batch;
mod layout;
mod pipeline;
mod read;
mod scan;
mod to_csv;
mod to_parquet;

use std::path::{Path, PathBuf};

use thiserror::Error;

use batch::Batch;
pub use layout::{Partition, timeframe_value};
pub use read::{Selection, View};
pub use to_csv::HEADER as CSV_HEADER;

use crate::store::{self, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Parquet,
    Csv,
}

impl Format {
    pub const ALL: [Format; 2] = [Format::Parquet, Format::Csv];

    pub fn extension(self) -> &'static str {
        match self {
            Format::Parquet => "parquet",
            Format::Csv => "csv",
        }
    }

    fn create(self, path: &Path, zstd_level: i32) -> Result<Box<dyn PartWriter>, ExportError> {
        Ok(match self {
            Format::Parquet => Box::new(to_parquet::ParquetPart::create(path, zstd_level)?),
            Format::Csv => Box::new(to_csv::CsvPart::create(path)?),
        })
    }
}

/// How the rows are cut into row groups and files.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Rows per row group (a CSV part takes as many rows per batch). The writer holds one
    /// of these, at about 70 bytes a row, beside the readers' chunks.
    pub row_group_rows: usize,
    /// Row groups per part file; a partition with more rows gets more parts.
    pub row_groups_per_file: usize,
    /// Threads reading the store, each with its own connection (see `pipeline`).
    pub readers: usize,
}

impl Shape {
    /// Row groups of 256 Ki rows (about 18 MB), parts of up to 16 Mi rows, two readers.
    pub const DEFAULT: Shape = Shape { row_group_rows: 1 << 18, row_groups_per_file: 64, readers: 2 };
}

/// One export.
#[derive(Clone, Debug)]
pub struct Request {
    pub db: PathBuf,
    pub out: PathBuf,
    pub format: Format,
    pub view: View,
    pub selection: Selection,
    pub shape: Shape,
    /// ZSTD's level for Parquet, 1 to 22: higher is smaller and slower.
    pub zstd_level: i32,
}

/// ZSTD's level unless asked otherwise. docs/export.md has the levels measured.
pub const DEFAULT_ZSTD_LEVEL: i32 = 3;

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Summary {
    pub bars: u64,
    pub partitions: usize,
    pub files: usize,
    pub bytes: u64,
}

#[derive(Debug, Error)]
pub enum ExportError {
    /// The database cannot be read as a barfill database: bad input, nothing written.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading {db}: {message}")]
    Read { db: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> ExportError + '_ {
    move |source| ExportError::Io { path: path.to_path_buf(), source }
}

/// A file being written, one batch at a time.
pub(crate) trait PartWriter: Send {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError>;
    /// Completes the file and syncs it to disk.
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

/// Where an export reports how far it is.
pub trait Progress: Sync {
    /// Whether the bars should be counted before they are read, for [`Progress::total`]:
    /// a scan of the selection's keys, worth it only when someone watches.
    fn wants_total(&self) -> bool {
        false
    }
    fn total(&self, _bars: u64) {}
    fn written(&self, _bars: u64) {}
}

/// Reports nowhere.
pub struct Quiet;

impl Progress for Quiet {}

/// Runs the export. The selection's partitions are replaced in `out`; others there are
/// left as they are.
pub fn export(request: &Request, progress: &dyn Progress) -> Result<Summary, ExportError> {
    let conn = store::open_for_reading(&request.db)?;
    let read_error = |e: rusqlite::Error| ExportError::Read { db: request.db.clone(), message: store::explain(&e) };
    let plans = read::plan(&conn, &request.selection).map_err(read_error)?;
    if progress.wants_total() {
        let mut total = 0;
        for plan in &plans {
            for ticker in &plan.tickers {
                total += read::count(&conn, ticker, plan.partition.timeframe, plan.window).map_err(read_error)?;
            }
        }
        progress.total(total);
    }
    let mut connections = vec![conn];
    while connections.len() < request.shape.readers.max(1) {
        connections.push(store::open_for_reading(&request.db)?);
    }
    std::fs::create_dir_all(&request.out).map_err(io_error(&request.out))?;
    pipeline::run(request, &plans, connections, progress)
}
