//! A part in Parquet, through the `parquet` crate's column writers (no Arrow in between):
//! the schema, an encoding per column, ZSTD, a row group per batch. The columns of a row
//! group are encoded in memory on two threads, ZSTD being most of the writer's work, and
//! then appended to the file in schema order.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::column::writer::{ColumnCloseResult, ColumnWriter, get_column_writer, get_typed_column_writer_mut};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr, WriterVersion};
use parquet::file::writer::{SerializedFileWriter, SerializedPageWriter, TrackedWrite};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::{ColumnDescPtr, ColumnPath};

use super::batch::Batch;
use super::{ExportError, PartWriter, io_error};

/// The columns, in file order. `timeframe` is not among them: it is a partition key, read
/// from the directory names. The store's NOT NULL columns are REQUIRED.
const SCHEMA: &str = "
message bar {
    REQUIRED BYTE_ARRAY ticker (STRING);
    REQUIRED INT64 ts (TIMESTAMP(MILLIS, true));
    REQUIRED DOUBLE open;
    REQUIRED DOUBLE high;
    REQUIRED DOUBLE low;
    REQUIRED DOUBLE close;
    OPTIONAL DOUBLE volume;
    OPTIONAL DOUBLE vwap;
    OPTIONAL INT64 trades;
}";

/// Threads encoding a row group's columns, the writer's own among them.
const ENCODERS: usize = 2;

/// Tickers handed to the column writer at a time: they are expanded from runs, and a
/// whole row group of them would be a second copy of the batch.
const TICKER_CHUNK: usize = 8192;

pub struct ParquetPart {
    writer: SerializedFileWriter<BufWriter<File>>,
    columns: Vec<ColumnDescPtr>,
    props: WriterPropertiesPtr,
    path: PathBuf,
}

fn properties(zstd_level: i32) -> Result<WriterProperties, ParquetError> {
    let column = |name: &str| ColumnPath::from(name);
    Ok(WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level)?))
        // Pages end at 1 MiB, not at the default 20,000 rows: ZSTD compresses each page on
        // its own, and a price's low bytes (which its 4 decimals fix) are found again
        // more often in a longer page (20.4 bytes a bar against 22.0).
        .set_data_page_row_count_limit(usize::MAX)
        // Readers skip row groups and pages by ticker and time with these.
        .set_sorting_columns(Some(vec![
            SortingColumn { column_idx: 0, descending: false, nulls_first: false },
            SortingColumn { column_idx: 1, descending: false, nulls_first: false },
        ]))
        // The ticker repeats in long runs: its dictionary indices run-length encode to
        // almost nothing. Every other column has too many distinct values for one.
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(column("ticker"), true)
        // Timestamps a minute apart, and small counts, delta-encode to a few bits each.
        .set_column_encoding(column("ts"), Encoding::DELTA_BINARY_PACKED)
        .set_column_encoding(column("trades"), Encoding::DELTA_BINARY_PACKED)
        // Prices stay PLAIN: ZSTD finds their repeated low bytes whole, which a byte
        // stream split would scatter (34.8 bytes a bar with it). Volumes are mostly whole
        // numbers, whose low bytes are zero: split, those bytes make long runs.
        .set_column_encoding(column("volume"), Encoding::BYTE_STREAM_SPLIT)
        .build())
}

impl ParquetPart {
    pub fn create(path: &Path, zstd_level: i32) -> Result<ParquetPart, ExportError> {
        let fail = parquet_error(path);
        let file = File::create(path).map_err(io_error(path))?;
        let schema = Arc::new(parse_message_type(SCHEMA).map_err(&fail)?);
        let props = Arc::new(properties(zstd_level).map_err(&fail)?);
        let writer =
            SerializedFileWriter::new(BufWriter::with_capacity(1 << 20, file), schema, props.clone()).map_err(&fail)?;
        let columns = writer.schema_descr().columns().to_vec();
        Ok(ParquetPart { writer, columns, props, path: path.to_path_buf() })
    }

    fn row_group(&mut self, b: &Batch) -> Result<(), ParquetError> {
        let encoded = encode_columns(&self.columns, &self.props, b)?;
        let mut rg = self.writer.next_row_group()?;
        for (bytes, close) in encoded {
            rg.append_column(&bytes, close)?;
        }
        rg.close()?;
        Ok(())
    }
}

impl PartWriter for ParquetPart {
    fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.row_group(batch).map_err(parquet_error(&self.path))
    }

    fn finish(self: Box<Self>) -> Result<(), ExportError> {
        let path = self.path;
        let buffered = self.writer.into_inner().map_err(parquet_error(&path))?;
        let file = buffered.into_inner().map_err(|e| io_error(&path)(e.into_error()))?;
        file.sync_all().map_err(io_error(&path))
    }
}

type Encoded = (Bytes, ColumnCloseResult);

/// Every column of the batch encoded and compressed in memory, in schema order. The
/// threads take the columns one at a time, in schema order.
fn encode_columns(
    columns: &[ColumnDescPtr],
    props: &WriterPropertiesPtr,
    b: &Batch,
) -> Result<Vec<Encoded>, ParquetError> {
    let next = AtomicUsize::new(0);
    let done: Vec<Mutex<Option<Result<Encoded, ParquetError>>>> = columns.iter().map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(descr) = columns.get(i) else { break };
            let encoded = encode_column(i, descr, props, b);
            *done[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(encoded);
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..ENCODERS {
            scope.spawn(work);
        }
        work();
    });
    done.into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Err(ParquetError::General("a column was not encoded".into())))
        })
        .collect()
}

/// Column `i` of the schema, from the batch.
fn encode_column(
    i: usize,
    descr: &ColumnDescPtr,
    props: &WriterPropertiesPtr,
    b: &Batch,
) -> Result<Encoded, ParquetError> {
    let mut buf = TrackedWrite::new(Vec::new());
    let mut writer = get_column_writer(descr.clone(), props.clone(), Box::new(SerializedPageWriter::new(&mut buf)));
    match i {
        0 => write_tickers(&mut writer, b)?,
        1 => write::<Int64Type>(&mut writer, &b.ts, None)?,
        2 => write::<DoubleType>(&mut writer, &b.open, None)?,
        3 => write::<DoubleType>(&mut writer, &b.high, None)?,
        4 => write::<DoubleType>(&mut writer, &b.low, None)?,
        5 => write::<DoubleType>(&mut writer, &b.close, None)?,
        6 => write::<DoubleType>(&mut writer, &b.volume.values, Some(&b.volume.levels))?,
        7 => write::<DoubleType>(&mut writer, &b.vwap.values, Some(&b.vwap.levels))?,
        8 => write::<Int64Type>(&mut writer, &b.trades.values, Some(&b.trades.levels))?,
        _ => return Err(ParquetError::General(format!("no column {i} in the schema"))),
    }
    let close = writer.close()?;
    Ok((Bytes::from(buf.into_inner()?), close))
}

fn write<T: DataType>(
    writer: &mut ColumnWriter<'_>,
    values: &[T::T],
    levels: Option<&[i16]>,
) -> Result<(), ParquetError> {
    get_typed_column_writer_mut::<T>(writer).write_batch(values, levels, None)?;
    Ok(())
}

fn write_tickers(writer: &mut ColumnWriter<'_>, b: &Batch) -> Result<(), ParquetError> {
    let writer = get_typed_column_writer_mut::<ByteArrayType>(writer);
    let runs: Vec<ByteArray> = b.tickers.iter().map(|(t, _)| ByteArray::from(t.as_bytes().to_vec())).collect();
    let mut chunk = Vec::with_capacity(TICKER_CHUNK);
    for (ticker, (_, n)) in runs.iter().zip(&b.tickers) {
        for _ in 0..*n {
            // A clone shares the bytes.
            chunk.push(ticker.clone());
            if chunk.len() == TICKER_CHUNK {
                writer.write_batch(&chunk, None, None)?;
                chunk.clear();
            }
        }
    }
    writer.write_batch(&chunk, None, None)?;
    Ok(())
}

fn parquet_error(path: &Path) -> impl Fn(ParquetError) -> ExportError + '_ {
    move |e| ExportError::Write { path: path.to_path_buf(), message: e.to_string() }
}
