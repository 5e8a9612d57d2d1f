//! The tree an export writes: a hive-style directory per partition
//! (`timeframe=1_minute/year=2024/`), numbered part files in it, and how a partition's new
//! files replace the old ones.
//!
//! A part is written under a hidden temporary name (`.part-0.parquet.tmp`), which every
//! reader skips (DuckDB's and polars' `*.parquet` globs do not match it; pyarrow and
//! Spark ignore names starting with a dot), synced, and renamed only when the whole
//! partition is written. So a file named `part-N.parquet` is always complete.

use std::path::{Path, PathBuf};

use jiff::civil::date;

use super::batch::Batch;
use super::{ExportError, Format, PartWriter, Request, io_error};
use crate::calendar;
use crate::timeframe::Timeframe;

/// One directory of the tree: a timeframe's bars of one year, the year being the New
/// York trading day's (the day `--from` and `--to` count in), not the UTC date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub timeframe: Timeframe,
    pub year: i16,
}

impl Partition {
    /// `timeframe=1_minute/year=2024`, relative to the export's directory.
    pub fn path(&self) -> PathBuf {
        Path::new(&format!("timeframe={}", timeframe_value(self.timeframe))).join(format!("year={}", self.year))
    }

    /// Epoch ms of the year's first New York midnight and of the next year's: the
    /// partition holds bars from the first, inclusive, to the second.
    pub fn span_ms(&self) -> (i64, i64) {
        (year_start_ms(self.year), year_start_ms(self.year + 1))
    }
}

/// The year (in New York) of the instant `ms`.
pub fn year_of_ms(ms: i64) -> i16 {
    calendar::date_of(calendar::ny_day_of_ms(ms)).year()
}

fn year_start_ms(year: i16) -> i64 {
    calendar::ny_midnight_ms(calendar::day_of(date(year, 1, 1)))
}

/// A timeframe as a directory name's value: `1/minute` cannot be one (the slash would
/// nest directories), and `%2F` is decoded by some readers and not others, so the slash
/// becomes an underscore: `1_minute`, `5_minute`, `1_day`.
pub fn timeframe_value(tf: Timeframe) -> String {
    format!("{}_{}", tf.multiplier, tf.timespan.as_str())
}

fn part_name(n: usize, format: Format) -> String {
    format!("part-{n}.{}", format.extension())
}

fn temp_name(n: usize, format: Format) -> String {
    format!(".{}.tmp", part_name(n, format))
}

/// A part file an export of either format names, `part-N.parquet` or `part-N.csv`.
fn is_part_file(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("part-") else { return false };
    let number = Format::ALL.iter().find_map(|f| rest.strip_suffix(&format!(".{}", f.extension())));
    number.is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A temporary part left by an export that was killed.
fn is_temp_file(name: &str) -> bool {
    name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")).is_some_and(is_part_file)
}

/// What a committed partition holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Committed {
    pub files: usize,
    pub bytes: u64,
}

/// One partition being written: its parts under temporary names until [`commit`].
/// Dropped without a commit (an error on the way), it removes the temporary files.
///
/// [`commit`]: PartitionFiles::commit
pub struct PartitionFiles {
    dir: PathBuf,
    format: Format,
    zstd_level: i32,
    row_groups_per_file: usize,
    /// Parts written and synced, by number, under their temporary names.
    finished: Vec<PathBuf>,
    open: Option<OpenPart>,
}

struct OpenPart {
    writer: Box<dyn PartWriter>,
    path: PathBuf,
    row_groups: usize,
}

impl PartitionFiles {
    /// Makes the partition's directory and removes the temporary files an export killed
    /// there left behind.
    pub fn begin(request: &Request, partition: Partition) -> Result<Self, ExportError> {
        let dir = request.out.join(partition.path());
        std::fs::create_dir_all(&dir).map_err(io_error(&dir))?;
        for name in file_names(&dir)? {
            if is_temp_file(&name) {
                let path = dir.join(&name);
                std::fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        Ok(PartitionFiles {
            dir,
            format: request.format,
            zstd_level: request.zstd_level,
            row_groups_per_file: request.shape.row_groups_per_file.max(1),
            finished: Vec::new(),
            open: None,
        })
    }

    /// Writes the batch as one row group, in a new part when the open one is full.
    pub fn write(&mut self, batch: &Batch) -> Result<(), ExportError> {
        if self.open.as_ref().is_some_and(|p| p.row_groups >= self.row_groups_per_file) {
            self.finish_open()?;
        }
        let open = match &mut self.open {
            Some(open) => open,
            None => {
                let path = self.dir.join(temp_name(self.finished.len(), self.format));
                let writer = self.format.create(&path, self.zstd_level)?;
                self.open.insert(OpenPart { writer, path, row_groups: 0 })
            }
        };
        open.writer.write(batch)?;
        open.row_groups += 1;
        crate::testhooks::export_row_group_written();
        Ok(())
    }

    fn finish_open(&mut self) -> Result<(), ExportError> {
        if let Some(open) = self.open.take() {
            // Recorded before finishing, so that Drop removes the file if finishing fails.
            self.finished.push(open.path);
            open.writer.finish()?;
        }
        Ok(())
    }

    /// Puts the new parts in place of the partition's old ones. Old parts that no new part
    /// replaces are deleted first: a kill between the steps can leave the partition short
    /// of parts (an export run again completes it), never holding a row twice.
    pub fn commit(mut self) -> Result<Committed, ExportError> {
        self.finish_open()?;
        let keep: Vec<String> = (0..self.finished.len()).map(|n| part_name(n, self.format)).collect();
        for name in file_names(&self.dir)? {
            if is_part_file(&name) && !keep.contains(&name) {
                let path = self.dir.join(&name);
                std::fs::remove_file(&path).map_err(io_error(&path))?;
            }
        }
        let mut committed = Committed::default();
        for (temp, name) in std::mem::take(&mut self.finished).iter().zip(&keep) {
            let path = self.dir.join(name);
            std::fs::rename(temp, &path).map_err(io_error(&path))?;
            committed.files += 1;
            committed.bytes += std::fs::metadata(&path).map_err(io_error(&path))?.len();
        }
        // The renames are durable only once the directory is.
        std::fs::File::open(&self.dir).and_then(|d| d.sync_all()).map_err(io_error(&self.dir))?;
        Ok(committed)
    }
}

impl Drop for PartitionFiles {
    fn drop(&mut self) {
        let open = self.open.take().map(|o| o.path);
        for path in self.finished.iter().chain(&open) {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn file_names(dir: &Path) -> Result<Vec<String>, ExportError> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timeframe::Timespan;

    #[test]
    fn partition_paths_are_hive_style_with_a_slash_free_timeframe() {
        let p = Partition { timeframe: Timeframe::new(1, Timespan::Minute), year: 2024 };
        assert_eq!(p.path(), Path::new("timeframe=1_minute/year=2024"));
        let p = Partition { timeframe: Timeframe::new(5, Timespan::Minute), year: 1999 };
        assert_eq!(p.path(), Path::new("timeframe=5_minute/year=1999"));
        assert_eq!(timeframe_value(Timeframe::new(1, Timespan::Day)), "1_day");
    }

    #[test]
    fn a_year_spans_new_york_midnight_to_new_york_midnight() {
        let p = Partition { timeframe: Timeframe::new(1, Timespan::Day), year: 2024 };
        let (start, end) = p.span_ms();
        assert_eq!(start, calendar::ny_midnight_ms(calendar::parse_date("2024-01-01").unwrap()));
        assert_eq!(end, calendar::ny_midnight_ms(calendar::parse_date("2025-01-01").unwrap()));
        assert_eq!(year_of_ms(start), 2024);
        assert_eq!(year_of_ms(start - 1), 2023);
        // 19:59 New York on New Year's Eve is already the next year in UTC.
        let late = calendar::ny_local_ms(calendar::parse_date("2024-12-31").unwrap(), 19, 59);
        assert_eq!(year_of_ms(late), 2024);
        assert_eq!(year_of_ms(end - 1), 2024);
    }

    #[test]
    fn only_part_files_and_their_temporaries_are_recognised() {
        for name in ["part-0.parquet", "part-12.csv"] {
            assert!(is_part_file(name), "{name}");
            assert!(is_temp_file(&format!(".{name}.tmp")), "{name}");
        }
        for name in
            ["part-.parquet", "part-x.csv", "notes.parquet", "part-0.parquet.tmp", ".part-0.parquet", "part-0.json"]
        {
            assert!(!is_part_file(name) && !is_temp_file(name), "{name}");
        }
        assert_eq!(temp_name(3, Format::Parquet), ".part-3.parquet.tmp");
    }
}
