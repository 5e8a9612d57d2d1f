//! `barfill export`: the store's bars out as Parquet (or CSV) files in hive-style
//! partitions, for DuckDB, polars, pyarrow, Spark and the like. The database stays the
//! source of truth: it is opened read-only, and an export can be made again at any time.
//!
//! Two threads: one reads the store, a ticker at a time in file order, into batches of a
//! row group; the caller's thread encodes and writes them. A batch is handed over only
//! when the writer takes it, so at most two are alive: memory is bounded by the row group
//! size, whatever the database holds. See docs/export.md for the layout and the figures.

mod batch;
mod layout;
pub mod read;
mod to_csv;
mod to_parquet;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use thiserror::Error;

pub use batch::Batch;
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

    fn create(self, path: &Path) -> Result<Box<dyn PartWriter>, ExportError> {
        Ok(match self {
            Format::Parquet => Box::new(to_parquet::ParquetPart::create(path)?),
            Format::Csv => Box::new(to_csv::CsvPart::create(path)?),
        })
    }
}

/// How the rows are cut into row groups and files.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Rows per row group (a CSV part takes as many rows per batch). Two batches of this
    /// many rows, at about 70 bytes a row, are the export's memory.
    pub row_group_rows: usize,
    /// Row groups per part file; a partition with more rows gets more parts.
    pub row_groups_per_file: usize,
}

impl Shape {
    /// 256 Ki rows (about 18 MB a batch); parts of up to 16 Mi rows.
    pub const DEFAULT: Shape = Shape { row_group_rows: 1 << 18, row_groups_per_file: 64 };
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
}

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

/// What the reading thread hands the writing one.
enum Piece {
    Begin(Partition),
    Rows(Box<Batch>),
    End,
}

/// The reader stops on SQLite's error, or because the writer has gone (its error is the
/// one to report).
enum Stop {
    Sql(rusqlite::Error),
    WriterGone,
}

impl From<rusqlite::Error> for Stop {
    fn from(e: rusqlite::Error) -> Self {
        Stop::Sql(e)
    }
}

/// Runs the export. The selection's partitions are replaced in `out`; others there are
/// left as they are.
pub fn export(request: &Request, progress: &dyn Progress) -> Result<Summary, ExportError> {
    let conn = store::open_for_reading(&request.db)?;
    let read_error = |e: rusqlite::Error| ExportError::Read { db: request.db.clone(), message: store::explain(&e) };
    let plans = read::plan(&conn, &request.selection).map_err(read_error)?;
    std::fs::create_dir_all(&request.out).map_err(io_error(&request.out))?;
    // Nothing is handed over until the writer takes it: two batches at most are alive.
    let (tx, rx) = sync_channel::<Result<Piece, ExportError>>(0);
    let plans = &plans;
    std::thread::scope(|scope| {
        // The connection moves to the reader: it is not shared.
        let reader = scope.spawn(move || {
            if let Err(Stop::Sql(e)) = read_all(&conn, request, plans, progress, &tx) {
                let _ = tx.send(Err(read_error(e)));
            }
            // `tx` drops here: the writer's loop ends.
        });
        let written = write_all(request, rx, progress);
        if let Err(panic) = reader.join() {
            std::panic::resume_unwind(panic);
        }
        written.map(|s| Summary { partitions: plans.len(), ..s })
    })
}

fn read_all(
    conn: &rusqlite::Connection,
    request: &Request,
    plans: &[read::PartitionPlan],
    progress: &dyn Progress,
    tx: &SyncSender<Result<Piece, ExportError>>,
) -> Result<(), Stop> {
    let send = |piece: Piece| tx.send(Ok(piece)).map_err(|_| Stop::WriterGone);
    if progress.wants_total() {
        let mut total = 0;
        for plan in plans {
            for ticker in &plan.tickers {
                total += read::count(conn, ticker, plan.partition.timeframe, plan.window)?;
            }
        }
        progress.total(total);
    }
    let rows = request.shape.row_group_rows.max(1);
    for plan in plans {
        send(Piece::Begin(plan.partition))?;
        let mut batch = Batch::with_capacity(rows);
        for ticker in &plan.tickers {
            read::for_each_bar(conn, request.view, ticker, plan.partition.timeframe, plan.window, |bar| {
                batch.push(ticker, &bar);
                if batch.len() >= rows {
                    send(Piece::Rows(Box::new(std::mem::replace(&mut batch, Batch::with_capacity(rows)))))?;
                }
                Ok::<_, Stop>(())
            })?;
        }
        if !batch.is_empty() {
            send(Piece::Rows(Box::new(batch)))?;
        }
        send(Piece::End)?;
    }
    Ok(())
}

/// Writes what the reader sends. A partition is committed only at its end: if the
/// reader stops first, the partition's files are dropped and its old ones stay.
fn write_all(
    request: &Request,
    rx: Receiver<Result<Piece, ExportError>>,
    progress: &dyn Progress,
) -> Result<Summary, ExportError> {
    let mut summary = Summary::default();
    let mut current: Option<layout::PartitionFiles> = None;
    for piece in rx {
        match piece? {
            Piece::Begin(p) => {
                current = Some(layout::PartitionFiles::begin(
                    &request.out,
                    p,
                    request.format,
                    request.shape.row_groups_per_file,
                )?);
            }
            Piece::Rows(batch) => {
                let files = current.as_mut().expect("rows come inside a partition");
                files.write(&batch)?;
                summary.bars += batch.len() as u64;
                progress.written(batch.len() as u64);
            }
            Piece::End => {
                let committed = current.take().expect("a partition ends after it begins").commit()?;
                summary.files += committed.files;
                summary.bytes += committed.bytes;
            }
        }
    }
    Ok(summary)
}
