//! A part in Parquet, through the `parquet` crate's column writers (no Arrow in between):
//! the schema, an encoding per column, ZSTD, a row group per batch.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::data_type::{ByteArray, ByteArrayType, DataType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{WriterProperties, WriterVersion};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::parser::parse_message_type;
use parquet::schema::types::ColumnPath;

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
    REQUIRED DOUBLE volume;
    OPTIONAL DOUBLE vwap;
    OPTIONAL INT64 trades;
}";

/// ZSTD's level: see docs/export.md for the levels measured against each other.
const ZSTD_LEVEL: i32 = 3;

/// Tickers handed to the column writer at a time: they are expanded from runs, and a
/// whole row group of them would be a second copy of the batch.
const TICKER_CHUNK: usize = 8192;

pub struct ParquetPart {
    writer: SerializedFileWriter<BufWriter<File>>,
    path: PathBuf,
}

fn properties() -> Result<WriterProperties, ParquetError> {
    let column = |name: &str| ColumnPath::from(name);
    let mut props = WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(ZSTD_LEVEL)?))
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
        .set_column_encoding(column("trades"), Encoding::DELTA_BINARY_PACKED);
    // The bytes of a double split into streams: the sign, exponent and top mantissa
    // bytes of nearby prices are nearly constant, which ZSTD then finds.
    for name in ["open", "high", "low", "close", "volume", "vwap"] {
        props = props.set_column_encoding(column(name), Encoding::BYTE_STREAM_SPLIT);
    }
    Ok(props.build())
}

impl ParquetPart {
    pub fn create(path: &Path) -> Result<ParquetPart, ExportError> {
        let fail = parquet_error(path);
        let file = File::create(path).map_err(io_error(path))?;
        let schema = Arc::new(parse_message_type(SCHEMA).map_err(&fail)?);
        let props = Arc::new(properties().map_err(&fail)?);
        let writer =
            SerializedFileWriter::new(BufWriter::with_capacity(1 << 20, file), schema, props).map_err(&fail)?;
        Ok(ParquetPart { writer, path: path.to_path_buf() })
    }

    fn row_group(&mut self, b: &Batch) -> Result<(), ParquetError> {
        let mut rg = self.writer.next_row_group()?;
        write_tickers(&mut rg, b)?;
        write::<Int64Type>(&mut rg, &b.ts, None)?;
        for prices in [&b.open, &b.high, &b.low, &b.close, &b.volume] {
            write::<DoubleType>(&mut rg, prices, None)?;
        }
        write::<DoubleType>(&mut rg, &b.vwap.values, Some(&b.vwap.levels))?;
        write::<Int64Type>(&mut rg, &b.trades.values, Some(&b.trades.levels))?;
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

/// The next column of the row group, which must be of type `T`.
fn write<T: DataType>(
    rg: &mut SerializedRowGroupWriter<'_, BufWriter<File>>,
    values: &[T::T],
    levels: Option<&[i16]>,
) -> Result<(), ParquetError> {
    let mut column = rg.next_column()?.ok_or_else(|| ParquetError::General("more columns than the schema".into()))?;
    column.typed::<T>().write_batch(values, levels, None)?;
    column.close()
}

fn write_tickers(rg: &mut SerializedRowGroupWriter<'_, BufWriter<File>>, b: &Batch) -> Result<(), ParquetError> {
    let mut column = rg.next_column()?.ok_or_else(|| ParquetError::General("no ticker column".into()))?;
    let writer = column.typed::<ByteArrayType>();
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
    column.close()
}

fn parquet_error(path: &Path) -> impl Fn(ParquetError) -> ExportError + '_ {
    move |e| ExportError::Write { path: path.to_path_buf(), message: e.to_string() }
}
