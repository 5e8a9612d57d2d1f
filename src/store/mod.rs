//! The SQLite file: schema, opening with clear errors, and reads. Writes happen on the
//! writer thread (`writer`), which owns the connection while a run goes on.

pub mod writer;

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use thiserror::Error;

use crate::calendar::{self, Range};

/// Covered ranges read from the progress table, per symbol and timeframe.
pub type Covered = std::collections::HashMap<(String, String), Vec<Range>>;

pub const APP_ID: &str = "barfill";
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE meta(
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE bars(
    ticker TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    ts INTEGER NOT NULL,
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    vwap REAL,
    trades INTEGER,
    PRIMARY KEY (ticker, timeframe, ts)
) WITHOUT ROWID;
CREATE TABLE progress(
    ticker TEXT NOT NULL,
    timeframe TEXT NOT NULL,
    from_date TEXT NOT NULL,
    to_date TEXT NOT NULL,
    bars INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    run_id INTEGER,
    finished_at INTEGER NOT NULL,
    PRIMARY KEY (ticker, timeframe, from_date, to_date)
) WITHOUT ROWID;
CREATE TABLE runs(
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    finished_at INTEGER,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    fixes TEXT NOT NULL,
    concurrency INTEGER NOT NULL,
    quota_per_min INTEGER NOT NULL,
    wall_s REAL,
    api_s REAL,
    db_s REAL,
    backoff_s REAL,
    limiter_s REAL,
    requests INTEGER,
    rate_limit_hits INTEGER,
    retries INTEGER,
    failed_jobs INTEGER,
    bars INTEGER,
    success_rate REAL,
    note TEXT,
    report TEXT
);
";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("database {path} was not made by barfill (it holds tables {tables}); choose another file with --db")]
    Foreign { path: PathBuf, tables: String },
    #[error("database {path} holds {held} bars and this run asks for {asked} ones; use another --db")]
    AdjustedMismatch { path: PathBuf, held: String, asked: String },
    #[error("database {path} is in use by another barfill run; wait for it or use another --db")]
    InUse { path: PathBuf },
    #[error("database write failed: {0}")]
    Write(String),
}

/// Turns SQLite's codes into words a user can act on.
pub fn explain(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::DiskFull) => "the disk is full; nothing after the last committed page was written".into(),
        Some(ErrorCode::ReadOnly) => "the file is read-only".into(),
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
            "the database is locked by another program".into()
        }
        Some(ErrorCode::NotADatabase) => "the file is not an SQLite database".into(),
        Some(ErrorCode::DatabaseCorrupt) => "the file is corrupt (SQLite reports a malformed image)".into(),
        Some(ErrorCode::CannotOpen) => "cannot open the file (missing directory or no permission)".into(),
        Some(ErrorCode::PermissionDenied) => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Like `explain`, with the operating system's reason for an I/O error when SQLite kept
/// it: a full disk shows up as "disk I/O error" otherwise.
pub fn explain_on(conn: &Connection, e: &rusqlite::Error) -> String {
    if e.sqlite_error_code() == Some(ErrorCode::SystemIoFailure) {
        // SAFETY: the handle belongs to `conn`, which outlives this call, and
        // sqlite3_system_errno only reads the connection's last OS error code.
        let errno = unsafe { rusqlite::ffi::sqlite3_system_errno(conn.handle()) };
        if errno != 0 {
            let os = std::io::Error::from_raw_os_error(errno);
            let what = match os.kind() {
                std::io::ErrorKind::StorageFull
                | std::io::ErrorKind::FileTooLarge
                | std::io::ErrorKind::QuotaExceeded => {
                    "the disk is full; nothing after the last committed page was written"
                }
                _ => "disk I/O error",
            };
            return format!("{what} ({os})");
        }
    }
    explain(e)
}

/// An open database, checked, with the run lock held.
pub struct Store {
    pub path: PathBuf,
    pub conn: Connection,
    _lock: File,
}

impl Store {
    /// Opens (creating if new) and checks the database. `create_dir` creates a missing
    /// parent directory (only for the default location; a typo in `--db` is an error).
    pub fn open(path: &Path, adjusted: bool, create_dir: bool) -> Result<Store, StoreError> {
        let err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
        if path.is_dir() {
            return Err(err("is a directory; give a file path".into()));
        }
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !parent.exists() {
            if create_dir {
                std::fs::create_dir_all(parent)
                    .map_err(|e| err(format!("cannot create directory {}: {e}", parent.display())))?;
            } else {
                return Err(err(format!("directory {} does not exist", parent.display())));
            }
        }
        // An existing file is checked through a read-only handle first, so a database that
        // is refused (foreign, corrupt, the other kind of bars) gets nothing written to it
        // or beside it.
        if path.exists() {
            let ro =
                Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                    .map_err(|e| err(explain(&e)))?;
            ro.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(explain(&e)))?;
            check_existing(&ro, path, adjusted)?;
        }
        let lock_path = lock_path(path);
        // Another user's lock file can still be locked through a read-only handle.
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .or_else(|e| if lock_path.exists() { File::open(&lock_path) } else { Err(e) })
            .map_err(|e| err(format!("cannot create lock file {}: {e}", lock_path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Err(StoreError::InUse { path: path.to_path_buf() }),
            Err(std::fs::TryLockError::Error(e)) => return Err(err(format!("cannot lock: {e}"))),
        }
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(explain(&e)))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(explain(&e)))?;
        let tables = table_names(&conn).map_err(|e| err(explain(&e)))?;
        if tables.is_empty() {
            conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| err(explain(&e)))?;
            let tx = conn.unchecked_transaction().map_err(|e| err(explain(&e)))?;
            tx.execute_batch(SCHEMA).map_err(|e| err(explain(&e)))?;
            tx.execute("INSERT INTO meta(key, value) VALUES ('app', ?1)", [APP_ID]).map_err(|e| err(explain(&e)))?;
            tx.execute("INSERT INTO meta(key, value) VALUES ('schema_version', ?1)", [SCHEMA_VERSION.to_string()])
                .map_err(|e| err(explain(&e)))?;
            tx.execute("INSERT INTO meta(key, value) VALUES ('adjusted', ?1)", [adjusted.to_string()])
                .map_err(|e| err(explain(&e)))?;
            tx.commit().map_err(|e| err(explain(&e)))?;
        } else {
            check_existing(&conn, path, adjusted)?;
            conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| err(explain(&e)))?;
            // Prove we can write before any request is made.
            conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(|e| err(explain(&e)))?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(|e| err(explain(&e)))?;
        Ok(Store { path: path.to_path_buf(), conn, _lock: lock })
    }

    /// Ranges finished by earlier runs, merged per symbol and timeframe.
    pub fn covered(&self) -> rusqlite::Result<Covered> {
        Store::covered_from(&self.conn)
    }

    fn covered_from(conn: &Connection) -> rusqlite::Result<Covered> {
        let mut stmt = conn.prepare("SELECT ticker, timeframe, from_date, to_date FROM progress")?;
        let mut covered = Covered::new();
        let rows = stmt.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })?;
        for row in rows {
            let (ticker, tf, from, to) = row?;
            if let (Ok(from), Ok(to)) = (calendar::parse_date(&from), calendar::parse_date(&to)) {
                covered.entry((ticker, tf)).or_default().push(Range { from, to });
            }
        }
        Ok(covered)
    }

    /// Bars earlier runs stored, per symbol and timeframe, from their progress rows.
    pub fn stored_bars(&self) -> rusqlite::Result<std::collections::HashMap<(String, String), u64>> {
        let mut stmt =
            self.conn.prepare("SELECT ticker, timeframe, sum(bars) FROM progress GROUP BY ticker, timeframe")?;
        let rows = stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get::<_, i64>(2)?.max(0) as u64)))?;
        rows.collect()
    }

    /// The last bar stored for a symbol and timeframe on New York day `day`, if any.
    pub fn last_bar_on(&self, ticker: &str, timeframe: &str, day: calendar::Day) -> rusqlite::Result<Option<i64>> {
        self.conn.query_row(
            "SELECT max(ts) FROM bars WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts < ?4",
            params![ticker, timeframe, calendar::ny_midnight_ms(day), calendar::ny_midnight_ms(day + 1)],
            |r| r.get(0),
        )
    }

    /// Runs left as `running` by a process that died are marked `interrupted`.
    pub fn close_stale_runs(&self) -> rusqlite::Result<usize> {
        self.conn.execute(
            "UPDATE runs SET status = 'interrupted', note = 'the process ended without recording the run' WHERE status = 'running'",
            [],
        )
    }

    /// Records a run as started; returns its id.
    pub fn start_run(&self, start: &RunStart) -> rusqlite::Result<i64> {
        self.conn.execute(
            "INSERT INTO runs(started_at, status, source, fixes, concurrency, quota_per_min) VALUES (?1, 'running', ?2, ?3, ?4, ?5)",
            params![start.started_at_ms, start.source, start.fixes, start.concurrency, start.quota_per_min],
        )?;
        Ok(self.conn.last_insert_rowid())
    }
}

/// Progress of an existing database, read-only; an absent file has none. For `plan`,
/// which must not create or change anything.
pub fn read_covered(path: &Path) -> Result<Covered, StoreError> {
    if !path.exists() {
        return Ok(Covered::new());
    }
    let err = |e: rusqlite::Error| StoreError::Open { path: path.to_path_buf(), message: explain(&e) };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(err)?;
    let tables = table_names(&conn).map_err(err)?;
    if !tables.iter().any(|t| t == "meta") || !tables.iter().any(|t| t == "progress") {
        return Err(StoreError::Foreign { path: path.to_path_buf(), tables: tables.join(", ") });
    }
    let store_like = Store::covered_from(&conn).map_err(err)?;
    Ok(store_like)
}

/// Marks a run failed when its writer could not (the disk was full, say).
pub fn record_failed_run(path: &Path, run_id: i64, note: &str) -> rusqlite::Result<()> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    conn.execute(
        "UPDATE runs SET status = 'failed', finished_at = ?2, note = ?3 WHERE id = ?1",
        params![run_id, now_ms(), note],
    )?;
    Ok(())
}

/// A database barfill may use: its own schema and version, and the same kind of bars.
fn check_existing(conn: &Connection, path: &Path, adjusted: bool) -> Result<(), StoreError> {
    let err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
    let tables = table_names(conn).map_err(|e| err(explain(&e)))?;
    if tables.is_empty() {
        return Ok(()); // an empty file: it becomes a barfill database
    }
    let app: Option<String> = if tables.iter().any(|t| t == "meta") {
        conn.query_row("SELECT value FROM meta WHERE key = 'app'", [], |r| r.get(0))
            .optional()
            .map_err(|e| err(explain(&e)))?
    } else {
        None
    };
    if app.as_deref() != Some(APP_ID) {
        return Err(StoreError::Foreign { path: path.to_path_buf(), tables: tables.join(", ") });
    }
    let version: i64 = conn
        .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get::<_, String>(0))
        .map_err(|e| err(explain(&e)))?
        .parse()
        .unwrap_or(0);
    if version != SCHEMA_VERSION {
        return Err(err(format!("schema version {version} is not the {SCHEMA_VERSION} this barfill knows")));
    }
    let held: String = conn
        .query_row("SELECT value FROM meta WHERE key = 'adjusted'", [], |r| r.get(0))
        .map_err(|e| err(explain(&e)))?;
    if held != adjusted.to_string() {
        let word = |a: &str| if a == "true" { "split-adjusted" } else { "unadjusted" }.to_string();
        return Err(StoreError::AdjustedMismatch {
            path: path.to_path_buf(),
            held: word(&held),
            asked: word(&adjusted.to_string()),
        });
    }
    Ok(())
}

pub fn lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

fn table_names(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

pub struct RunStart {
    pub started_at_ms: i64,
    pub source: String,
    pub fixes: String,
    pub concurrency: u32,
    pub quota_per_min: u32,
}

/// A finished run as the dashboard's Runs pane lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    pub id: i64,
    pub started_at_ms: i64,
    pub status: String,
    pub source: String,
    pub fixes: String,
    pub concurrency: i64,
    pub wall_s: Option<f64>,
    pub requests: Option<i64>,
    pub rate_limit_hits: Option<i64>,
    pub bars: Option<i64>,
    pub success_rate: Option<f64>,
}

/// Reads the latest runs through a separate read-only connection (WAL lets it read while
/// the writer writes).
pub fn recent_runs(path: &Path, limit: usize) -> rusqlite::Result<Vec<RunRecord>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    let mut stmt = conn.prepare(
        "SELECT id, started_at, status, source, fixes, concurrency, wall_s, requests, rate_limit_hits, bars, success_rate
         FROM runs ORDER BY id DESC LIMIT ?1",
    )?;
    stmt.query_map([limit as i64], |r| {
        Ok(RunRecord {
            id: r.get(0)?,
            started_at_ms: r.get(1)?,
            status: r.get(2)?,
            source: r.get(3)?,
            fixes: r.get(4)?,
            concurrency: r.get(5)?,
            wall_s: r.get(6)?,
            requests: r.get(7)?,
            rate_limit_hits: r.get(8)?,
            bars: r.get(9)?,
            success_rate: r.get(10)?,
        })
    })?
    .collect()
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_then_reopens() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.db");
        drop(Store::open(&path, true, false).unwrap());
        let s = Store::open(&path, true, false).unwrap();
        assert!(s.covered().unwrap().is_empty());
    }

    #[test]
    fn refuses_a_second_writer() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.db");
        let _first = Store::open(&path, true, false).unwrap();
        assert!(matches!(Store::open(&path, true, false), Err(StoreError::InUse { .. })));
    }

    #[test]
    fn refuses_other_schemas_and_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("other.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE bars(x INTEGER); CREATE TABLE quotes(y);")
            .unwrap();
        let e = Store::open(&path, true, false).err().unwrap().to_string();
        assert!(e.contains("was not made by barfill") && e.contains("bars, quotes"), "{e}");

        let junk = tmp.path().join("junk.db");
        std::fs::write(
            &junk,
            b"this is not a database, just some text that is long enough.............................................",
        )
        .unwrap();
        let e = Store::open(&junk, true, false).err().unwrap().to_string();
        assert!(e.contains("not an SQLite database"), "{e}");

        let e = Store::open(tmp.path(), true, false).err().unwrap().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let e = Store::open(&tmp.path().join("missing/dir/b.db"), true, false).err().unwrap().to_string();
        assert!(e.contains("does not exist"), "{e}");
    }

    #[test]
    fn refuses_to_mix_adjusted_and_unadjusted() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.db");
        drop(Store::open(&path, true, false).unwrap());
        let e = Store::open(&path, false, false).err().unwrap().to_string();
        assert!(e.contains("split-adjusted") && e.contains("unadjusted"), "{e}");
    }

    #[test]
    fn sqlite_failures_are_put_in_words() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("b.db");
        drop(Store::open(&path, true, false).unwrap());
        // A write through a read-only handle gives the same code as a read-only file.
        let ro = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let e = ro.execute("DELETE FROM runs", []).unwrap_err();
        assert_eq!(explain(&e), "the file is read-only");
    }
}
