//! `barfill export`: the files read back (with the `parquet` and `csv` crates) equal the
//! views they came from, the filters take exactly what they name, a partition written
//! again replaces its old files, and a killed export leaves no file that reads as whole.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;
use barfill::calendar;
use barfill::export::{self, Format, Request, Selection, Shape, Summary, View};
use barfill::report::RunStatus;
use parquet::basic::{Compression, LogicalType, TimeUnit, TimestampType};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use rusqlite::Connection;

const BIN: &str = env!("CARGO_BIN_EXE_barfill");

const TICKERS: [&str; 3] = ["AAPL", "KO", "MSFT"];
const TIMEFRAMES: [&str; 3] = ["1/minute", "1/hour", "1/day"];
/// Across New Year, so every timeframe has two year partitions.
const FROM: &str = "2023-12-27";
const TO: &str = "2024-01-05";

/// Small row groups and parts, so a few thousand bars make several of each.
const SMALL: Shape = Shape { row_group_rows: 1000, row_groups_per_file: 3, readers: 2 };

/// A database filled from the simulator: [`TICKERS`] x [`TIMEFRAMES`] over [`FROM`]..[`TO`].
async fn stored(dir: &Path) -> PathBuf {
    let sim = fast_sim().await;
    let c = config(dir, &TICKERS, &TIMEFRAMES, FROM, TO);
    let (report, _) = run(&c, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    c.db
}

fn request(db: &Path, out: &Path, selection: Selection) -> Request {
    Request {
        db: db.to_path_buf(),
        out: out.to_path_buf(),
        format: Format::Parquet,
        view: View::Bars,
        selection,
        shape: SMALL,
        zstd_level: export::DEFAULT_ZSTD_LEVEL,
    }
}

fn export_quietly(request: &Request) -> Summary {
    export::export(request, &export::Quiet).expect("export")
}

/// Every file under `dir`, depth first, in name order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return out };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() { out.extend(files(&p)) } else { out.push(p) }
    }
    out
}

fn name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}

/// The partition a part file is in: its timeframe as the store writes it (`1/minute`),
/// and its year.
fn partition_of(path: &Path) -> (String, i16) {
    let year_dir = path.parent().unwrap();
    let year = name(year_dir).strip_prefix("year=").expect("a year= directory").parse().unwrap();
    let tf = name(year_dir.parent().unwrap()).strip_prefix("timeframe=").expect("a timeframe= directory");
    (tf.replacen('_', "/", 1), year)
}

fn field_f64(f: &Field) -> f64 {
    match f {
        Field::Double(v) => *v,
        other => panic!("a double expected, got {other:?}"),
    }
}

/// The rows of one Parquet file, the timeframe taken from its directory. Panics unless
/// the file reads whole.
fn parquet_rows(path: &Path) -> Vec<Row> {
    let (tf, _) = partition_of(path);
    let reader = SerializedFileReader::new(File::open(path).unwrap()).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let declared = reader.metadata().file_metadata().num_rows();
    let rows: Vec<Row> = reader
        .get_row_iter(None)
        .unwrap()
        .map(|row| {
            let row = row.unwrap_or_else(|e| panic!("{path:?}: {e}"));
            let f: Vec<&Field> = row.get_column_iter().map(|(_, f)| f).collect();
            let Field::Str(ticker) = f[0] else { panic!("ticker: {:?}", f[0]) };
            let Field::TimestampMillis(ts) = f[1] else { panic!("ts: {:?}", f[1]) };
            let volume = (!matches!(f[6], Field::Null)).then(|| field_f64(f[6]));
            let vwap = (!matches!(f[7], Field::Null)).then(|| field_f64(f[7]));
            let trades = match f[8] {
                Field::Null => None,
                Field::Long(n) => Some(*n),
                other => panic!("trades: {other:?}"),
            };
            let (o, h, l, c) = (field_f64(f[2]), field_f64(f[3]), field_f64(f[4]), field_f64(f[5]));
            (ticker.clone(), tf.clone(), *ts, o, h, l, c, volume, vwap, trades)
        })
        .collect();
    assert_eq!(rows.len() as i64, declared, "{path:?}");
    rows
}

/// Every row of every part under `out`, in key order (ticker, timeframe, ts), after
/// checking what the layout promises: part files numbered from 0 in each partition, rows
/// sorted by ticker then ts within a file, each row in its New York year's partition.
fn read_tree(out: &Path, format: Format) -> Vec<Row> {
    let mut all = Vec::new();
    let parts: Vec<PathBuf> =
        files(out).into_iter().filter(|p| p.extension().is_some_and(|e| e == format.extension())).collect();
    for part in &parts {
        let siblings = parts.iter().filter(|p| p.parent() == part.parent()).count();
        let numbered: Vec<String> = (0..siblings).map(|n| format!("part-{n}.{}", format.extension())).collect();
        assert!(numbered.iter().any(|n| n == name(part)), "{part:?} among {siblings} parts");
        let rows = match format {
            Format::Parquet => parquet_rows(part),
            Format::Csv => csv_rows(part),
        };
        let (_, year) = partition_of(part);
        for pair in rows.windows(2) {
            assert!((&pair[0].0, pair[0].2) < (&pair[1].0, pair[1].2), "{part:?}: {pair:?} out of order");
        }
        for r in &rows {
            let day = calendar::ny_day_of_ms(r.2);
            assert_eq!(calendar::date_of(day).year(), year, "{part:?}: {r:?}");
        }
        all.extend(rows);
    }
    all.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
    all
}

/// A view's rows in key order.
fn view_rows(db: &Path, view: &str) -> Vec<Row> {
    let conn = Connection::open(db).unwrap();
    let sql = format!(
        "SELECT ticker, timeframe, ts, open, high, low, close, volume, vwap, trades FROM {view} ORDER BY ticker, timeframe, ts"
    );
    let mut stmt = conn.prepare(&sql).unwrap();
    stmt.query_map([], read_row).unwrap().collect::<Result<_, _>>().unwrap()
}

fn ms(day: &str) -> i64 {
    calendar::ny_midnight_ms(calendar::parse_date(day).unwrap())
}

#[tokio::test]
async fn a_parquet_export_reads_back_as_the_bars_row_for_row() {
    let (_t, dir) = tmp();
    let db = stored(&dir).await;
    let out = dir.join("out");
    let summary = export_quietly(&request(&db, &out, Selection::default()));
    let want = dump(&db);
    assert_same_rows(&read_tree(&out, Format::Parquet), &want, "the export against bars");

    let parts = files(&out);
    assert_eq!(summary, Summary { bars: want.len() as u64, partitions: 6, files: parts.len(), bytes: summary.bytes });
    assert_eq!(summary.bytes, parts.iter().map(|p| p.metadata().unwrap().len()).sum::<u64>());
    let minute_2024 = out.join("timeframe=1_minute/year=2024");
    assert!(minute_2024.join("part-1.parquet").exists(), "more rows than a part holds make more parts: {parts:?}");

    // The types readers map without casting, ZSTD, row groups of the shape's size.
    let reader = SerializedFileReader::new(File::open(minute_2024.join("part-0.parquet")).unwrap()).unwrap();
    let meta = reader.metadata();
    let columns = meta.file_metadata().schema_descr().columns().to_vec();
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["ticker", "ts", "open", "high", "low", "close", "volume", "vwap", "trades"]);
    assert_eq!(columns[0].logical_type_ref(), Some(&LogicalType::String));
    assert_eq!(
        columns[1].logical_type_ref(),
        Some(&LogicalType::Timestamp(TimestampType { is_adjusted_to_u_t_c: true, unit: TimeUnit::MILLIS }))
    );
    let nullable: Vec<bool> = columns.iter().map(|c| c.self_type().is_optional()).collect();
    // volume, vwap and trades may be missing: index bars carry no volume.
    assert_eq!(nullable, [false, false, false, false, false, false, true, true, true]);
    assert_eq!(meta.num_row_groups(), SMALL.row_groups_per_file);
    for rg in meta.row_groups() {
        assert_eq!(rg.num_rows() as usize, SMALL.row_group_rows);
        assert!(rg.columns().iter().all(|c| matches!(c.compression(), Compression::ZSTD(_))));
    }
}

#[tokio::test]
async fn an_adjusted_export_reads_back_as_bars_adjusted_across_a_split() {
    let (_t, dir) = tmp();
    let sim = fast_sim().await;
    // NVDA's 10-for-1 of 2024-06-10, which the simulator knows.
    let mut c = config(&dir, &["NVDA", "MSFT"], &["1/day", "1/hour"], "2024-06-03", "2024-06-14");
    c.fetch_splits = true;
    let (report, _) = run(&c, source(&sim)).await;
    assert_eq!(report.status, RunStatus::Done, "{}", report.to_text());
    let (raw, adjusted) = (view_rows(&c.db, "bars"), view_rows(&c.db, "bars_adjusted"));
    assert_ne!(raw, adjusted, "the split makes the views differ");

    let out = dir.join("adjusted");
    let req = Request { view: View::Adjusted, ..request(&c.db, &out, Selection::default()) };
    export_quietly(&req);
    assert_same_rows(&read_tree(&out, Format::Parquet), &adjusted, "the export against bars_adjusted");

    let out = dir.join("raw");
    export_quietly(&request(&c.db, &out, Selection::default()));
    assert_same_rows(&read_tree(&out, Format::Parquet), &raw, "the export against bars");
}

#[tokio::test]
async fn filters_export_exactly_what_they_name() {
    let (_t, dir) = tmp();
    let db = stored(&dir).await;
    let all = dump(&db);
    let day = |s: &str| Some(calendar::parse_date(s).unwrap());
    let strings = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let timeframes = |l: &[&str]| Some(l.iter().map(|s| s.parse().unwrap()).collect::<Vec<_>>());
    let cases = [
        Selection { tickers: strings(&["MSFT"]), ..Selection::default() },
        Selection { tickers: strings(&["KO", "AAPL", "NOTSTORED"]), ..Selection::default() },
        Selection { timeframes: timeframes(&["1/hour"]), ..Selection::default() },
        Selection { from: day("2024-01-02"), to: day("2024-01-03"), ..Selection::default() },
        Selection { to: day("2023-12-28"), ..Selection::default() },
        Selection {
            tickers: strings(&["AAPL", "KO"]),
            timeframes: timeframes(&["1/minute", "1/day"]),
            from: day("2023-12-29"),
            to: day("2024-01-02"),
        },
    ];
    for (i, selection) in cases.into_iter().enumerate() {
        let (start, end) = (
            selection.from.map_or(i64::MIN, calendar::ny_midnight_ms),
            selection.to.map_or(i64::MAX, |d| calendar::ny_midnight_ms(d + 1)),
        );
        let want: Vec<Row> = all
            .iter()
            .filter(|r| selection.tickers.as_ref().is_none_or(|t| t.contains(&r.0)))
            .filter(|r| selection.timeframes.as_ref().is_none_or(|t| t.iter().any(|tf| tf.to_string() == r.1)))
            .filter(|r| start <= r.2 && r.2 < end)
            .cloned()
            .collect();
        assert!(!want.is_empty() && want.len() < all.len(), "case {i} selects some rows, not all");
        let out = dir.join(format!("out{i}"));
        let summary = export_quietly(&request(&db, &out, selection.clone()));
        assert_same_rows(&read_tree(&out, Format::Parquet), &want, &format!("case {i}: {selection:?}"));
        assert_eq!(summary.bars, want.len() as u64);
        // No partition without a row in it.
        let mut partitions: Vec<(String, i16)> = files(&out).iter().map(|p| partition_of(p)).collect();
        partitions.dedup();
        let mut wanted: Vec<(String, i16)> =
            want.iter().map(|r| (r.1.clone(), calendar::date_of(calendar::ny_day_of_ms(r.2)).year())).collect();
        wanted.sort();
        wanted.dedup();
        partitions.sort();
        assert_eq!(partitions, wanted, "case {i}");
    }
}

/// The rows of a CSV part, parsed back as its reader would.
fn csv_rows(path: &Path) -> Vec<Row> {
    let (tf, _) = partition_of(path);
    let mut reader = csv::Reader::from_path(path).unwrap();
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), export::CSV_HEADER);
    let number = |s: &str| -> f64 { s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}")) };
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let ts: jiff::Timestamp = r[1].parse().unwrap();
            assert!(r[1].ends_with(".000Z") || r[1].ends_with('Z'), "UTC, with milliseconds: {}", &r[1]);
            let volume = (!r[6].is_empty()).then(|| number(&r[6]));
            let vwap = (!r[7].is_empty()).then(|| number(&r[7]));
            let trades = (!r[8].is_empty()).then(|| r[8].parse::<i64>().unwrap());
            let (o, h, l, c) = (number(&r[2]), number(&r[3]), number(&r[4]), number(&r[5]));
            (r[0].to_string(), tf.clone(), ts.as_millisecond(), o, h, l, c, volume, vwap, trades)
        })
        .collect()
}

#[tokio::test]
async fn a_csv_export_round_trips() {
    let (_t, dir) = tmp();
    let db = stored(&dir).await;
    let out = dir.join("csv");
    export_quietly(&Request { format: Format::Csv, ..request(&db, &out, Selection::default()) });
    let want = dump(&db);
    assert!(want.iter().any(|r| r.9.is_none()), "the simulator leaves some trades null, which must round-trip");
    assert_same_rows(&read_tree(&out, Format::Csv), &want, "the CSV export against bars");
    let first = std::fs::read_to_string(out.join("timeframe=1_day/year=2024/part-0.csv")).unwrap();
    let line = first.lines().nth(1).unwrap();
    assert!(line.starts_with("AAPL,2024-01-02T05:00:00.000Z,"), "{line}");
}

#[tokio::test]
async fn a_partition_exported_again_holds_only_the_new_files_and_others_are_left_alone() {
    let (_t, dir) = tmp();
    let db = stored(&dir).await;
    let out = dir.join("out");
    export_quietly(&request(&db, &out, Selection::default()));
    let minute_2024 = out.join("timeframe=1_minute/year=2024");
    assert!(minute_2024.join("part-2.parquet").exists());
    let before_2023: Vec<(PathBuf, Vec<u8>)> = files(&out)
        .into_iter()
        .filter(|p| p.to_str().unwrap().contains("year=2023"))
        .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
        .collect();
    // What a killed export leaves, and a file that is not the export's.
    std::fs::write(minute_2024.join(".part-7.parquet.tmp"), b"half a file").unwrap();
    std::fs::write(minute_2024.join("notes.txt"), b"mine").unwrap();

    let selection = Selection {
        tickers: Some(vec!["KO".into()]),
        from: Some(calendar::parse_date("2024-01-01").unwrap()),
        ..Selection::default()
    };
    let big = Shape { row_group_rows: 100_000, row_groups_per_file: 4, readers: 1 };
    export_quietly(&Request { shape: big, ..request(&db, &out, selection) });

    let left: Vec<String> = files(&minute_2024).iter().map(|p| name(p).to_string()).collect();
    assert_eq!(left, ["notes.txt", "part-0.parquet"]);
    let ko_2024: Vec<Row> =
        dump(&db).into_iter().filter(|r| r.0 == "KO" && r.1 == "1/minute" && r.2 >= ms("2024-01-01")).collect();
    assert_same_rows(&parquet_rows(&minute_2024.join("part-0.parquet")), &ko_2024, "the partition written again");
    for (path, bytes) in before_2023 {
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{path:?} is outside the second export: untouched");
    }
}

/// The binary with HOME and the XDG dirs inside `dir`, so no real config is read.
fn barfill(dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("HOME", dir.join("home"))
        .env("XDG_CONFIG_HOME", dir.join("home/.config"))
        .env("XDG_DATA_HOME", dir.join("home/.local/share"))
        .env_remove("BARFILL_TEST_EXPORT_ROW_GROUP_ROWS")
        .env_remove("BARFILL_TEST_EXPORT_STALL_AFTER")
        .stdin(Stdio::null());
    cmd
}

/// Runs an export of `db` into `out` that stalls after `row_groups` row groups of 500
/// rows, waits until it says so, and kills it (SIGKILL).
fn export_killed_after(dir: &Path, db: &Path, out: &Path, row_groups: u32) {
    let mut child = barfill(dir)
        .args(["export", "--db", db.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .env("BARFILL_TEST_EXPORT_ROW_GROUP_ROWS", "500")
        .env("BARFILL_TEST_EXPORT_STALL_AFTER", row_groups.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut said = Vec::new();
    for line in stderr.lines() {
        let line = line.unwrap();
        if line == "export stalled" {
            child.kill().unwrap();
            child.wait().unwrap();
            return;
        }
        said.push(line);
    }
    panic!("the export ended without stalling ({}): {said:?}", child.wait().unwrap());
}

#[tokio::test]
async fn an_export_killed_mid_way_leaves_no_file_that_reads_as_whole() {
    let (_t, dir) = tmp();
    let db = stored(&dir).await;
    let want = dump(&db);
    let out = dir.join("out");
    // Stalled at the second row group of 500 bars in 1/minute's 2024 partition (its
    // 2023 one is the first written): one partition in place, the next half written.
    let in_2023: Vec<Row> = want.iter().filter(|r| r.1 == "1/minute" && r.2 < ms("2024-01-01")).cloned().collect();
    let stall_at = in_2023.len().div_ceil(500) as u32 + 2;
    export_killed_after(&dir, &db, &out, stall_at);
    let minute_2023 = out.join("timeframe=1_minute/year=2023");
    let minute_2024 = out.join("timeframe=1_minute/year=2024");
    assert_eq!(files(&minute_2023).iter().map(|p| name(p)).collect::<Vec<_>>(), ["part-0.parquet"]);
    assert_eq!(files(&minute_2024).iter().map(|p| name(p)).collect::<Vec<_>>(), [".part-0.parquet.tmp"]);
    assert_same_rows(&read_tree(&out, Format::Parquet), &in_2023, "the one partition finished");

    // Run again: everything, and the temporary file is gone.
    let status =
        barfill(&dir).args(["export", "--db", db.to_str().unwrap(), "--out", out.to_str().unwrap()]).output().unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(files(&out).iter().all(|p| !name(p).ends_with(".tmp")), "{:?}", files(&out));
    assert_same_rows(&read_tree(&out, Format::Parquet), &want, "the export run again");

    // Killed while writing over a whole export: the old files stay whole beside the new.
    export_killed_after(&dir, &db, &out, stall_at);
    assert!(files(&minute_2024).iter().any(|p| name(p).ends_with(".tmp")));
    assert_same_rows(&read_tree(&out, Format::Parquet), &want, "old and new partitions, each whole");
}

#[test]
fn bad_export_input_exits_2_naming_the_flag_and_writes_nothing() {
    let (_t, dir) = tmp();
    let db = dir.join("bars.db");
    let out = dir.join("out");
    let a_file = dir.join("a-file");
    std::fs::write(&a_file, b"").unwrap();
    let (db, out_s) = (db.to_str().unwrap(), out.to_str().unwrap());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["export", "--db", db], "--out"),
        (vec!["export", "--db", db, "--out", out_s, "--format", "xml"], "--format"),
        (
            vec!["export", "--db", db, "--out", out_s, "--from", "2024-02-30"],
            "--from: '2024-02-30' is not a valid date",
        ),
        (
            vec!["export", "--db", db, "--out", out_s, "--from", "2024-03-01", "--to", "2024-02-01"],
            "--to: 2024-02-01 is before --from",
        ),
        (vec!["export", "--db", db, "--out", out_s, "--timeframes", "1/fortnight"], "--timeframes"),
        (vec!["export", "--db", db, "--out", out_s, "--symbols", ""], "--symbols"),
        (vec!["export", "--db", db, "--out", out_s, "--zstd-level", "0"], "--zstd-level: 0 is not a level"),
        (vec!["export", "--db", db, "--out", a_file.to_str().unwrap()], "--out: "),
        (vec!["export", "--db", db, "--out", out_s], "does not exist"),
    ];
    for (args, needle) in cases {
        let got = barfill(&dir).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&got.stderr);
        assert_eq!(got.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: stderr lacks {needle:?}: {err}");
        assert!(!out.exists(), "{args:?} wrote {out:?}");
    }
}

#[test]
fn completions_for_each_shell_and_the_man_page_cover_the_commands() {
    let (_t, dir) = tmp();
    for shell in ["bash", "zsh", "fish"] {
        let got = barfill(&dir).args(["completions", shell]).output().unwrap();
        assert!(got.status.success(), "{shell}: {}", String::from_utf8_lossy(&got.stderr));
        let script = String::from_utf8(got.stdout).unwrap();
        for word in ["export", "status", "completions", "adjusted"] {
            assert!(script.contains(word), "{shell}'s completions lack {word}");
        }
    }
    let got = barfill(&dir).arg("man").output().unwrap();
    assert!(got.status.success());
    let page = String::from_utf8(got.stdout).unwrap();
    assert!(page.contains("\n.TH barfill"), "a roff title line: {}", &page[..page.len().min(300)]);
    assert!(page.contains("export") && page.contains("completions"), "the subcommands are listed");
    let got = barfill(&dir).args(["man", "export"]).output().unwrap();
    let page = String::from_utf8(got.stdout).unwrap();
    assert!(page.contains("\n.TH barfill-export") && page.contains("adjusted"), "export's own page: {page}");
    let got = barfill(&dir).args(["man", "exprot"]).output().unwrap();
    assert_eq!(got.status.code(), Some(2));
}
