//! The SQLite file: schema, opening with clear errors, and reads. Writes happen on the
//! writer thread (`writer`), which owns the connection while a run goes on.
//!
//! Schema 2 (`schema`): bars live in `series_bars`, keyed by an integer series id and the
//! timestamp; `bars` and `bars_adjusted` are views. A schema-1 file is migrated in place
//! when barfill opens it to write; read-only opens (`plan`, `status`) never write.

pub mod checkpoint;
pub mod coverage;
mod days;
pub mod pages;
pub mod rejected;
pub mod schema;
pub mod splits;
pub mod tickers;
#[doc(hidden)]
pub mod v1;
pub mod writer;

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod writer_tests;

use std::fs::File;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, OptionalExtension, params};
use thiserror::Error;

use crate::calendar::{self, Range};
use crate::markets::DayZone;
pub use schema::{Migrated, SCHEMA_VERSION};

/// Covered ranges read from the progress table, per symbol and timeframe.
pub type Covered = std::collections::HashMap<(String, String), Vec<Range>>;

pub const APP_ID: &str = "barfill";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error("database {path} was not made by barfill (it holds tables {tables}); choose another file with --db")]
    Foreign { path: PathBuf, tables: String },
    #[error("database {path} holds {held} bars and this run asks for {asked} ones; use another --db")]
    AdjustedMismatch { path: PathBuf, held: String, asked: String },
    #[error(
        "database {path} was written by a newer barfill (schema {version}; this one knows {SCHEMA_VERSION}); upgrade barfill or use another --db"
    )]
    Newer { path: PathBuf, version: i64 },
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

/// How `Store::open_with` treats the kind of bars (raw or split-adjusted).
#[derive(Clone, Copy, Debug)]
pub struct OpenOptions {
    /// The kind a new file holds: the config's `adjusted` (false by default).
    pub adjusted: bool,
    /// For an existing file: `true` refuses one of the other kind (the rule before schema
    /// 2, for a caller that requests the configured kind); `false` opens it as it is, and
    /// the caller requests what `Store::adjusted()` says.
    pub require_kind: bool,
    /// Create a missing parent directory (only for the default location; a typo in
    /// `--db` is an error).
    pub create_dir: bool,
}

/// What barfill says, once, to the owner of a database of split-adjusted bars.
pub const ADJUSTED_NOTICE: &str = "this database holds split-adjusted bars (the API's default, which barfill used \
before): when a split comes after they were stored, they stay on the old scale while bars fetched later \
come on the new one. barfill keeps filling this file with adjusted bars, never both kinds. New databases \
store raw bars and adjust them on read (the bars_adjusted view), so they never go stale. To move, fetch \
everything again into a new file, which stores raw bars: `barfill run --db barfill-raw.db` (with `adjusted = \
false`, the default; a new file has nothing stored, so every window is fetched, as `--refetch` would). Adjusted bars cannot be turned back into \
raw ones reliably (they were rounded after the division, and the file does not record which splits were \
known when each was fetched), so there is no conversion in place.";

/// An open database, checked and migrated to the current schema, with the run lock held.
pub struct Store {
    pub path: PathBuf,
    pub conn: Connection,
    adjusted: bool,
    notice_pending: bool,
    migrated: Option<Migrated>,
    _lock: File,
}

impl Store {
    /// Opens (creating if new) and checks the database, refusing one that holds the
    /// other kind of bars than `adjusted` asks for (`OpenOptions::require_kind`).
    pub fn open(path: &Path, adjusted: bool, create_dir: bool) -> Result<Store, StoreError> {
        Store::open_with(path, OpenOptions { adjusted, require_kind: true, create_dir })
    }

    /// Opens (creating if new), checks, and migrates a schema-1 file in place.
    pub fn open_with(path: &Path, options: OpenOptions) -> Result<Store, StoreError> {
        let err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
        check_path(path, options.create_dir)?;
        // An existing file is checked through a read-only handle first, so a database that
        // is refused (foreign, corrupt, newer, the other kind of bars) gets nothing written
        // to it or beside it.
        if path.exists() {
            let ro = open_read_only(path)?;
            check_existing(&ro, path, &options)?;
        }
        let lock = take_lock(path)?;
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| err(explain(&e)))?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(|e| err(explain(&e)))?;
        // Before a migration, so its one big transaction's WAL is cut back afterwards.
        tune(&conn).map_err(|e| err(explain(&e)))?;
        let mut migrated = None;
        match check_existing(&conn, path, &options)? {
            None => schema::create(&conn, options.adjusted).map_err(|e| err(explain_on(&conn, &e)))?,
            Some(held) => {
                conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| err(explain(&e)))?;
                // Prove we can write before any request is made.
                conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;").map_err(|e| err(explain(&e)))?;
                if held.version < SCHEMA_VERSION {
                    migrated = Some(migrate(&conn, path, held)?);
                }
            }
        }
        schema::add_missing(&conn).map_err(|e| err(explain_on(&conn, &e)))?;
        let held = schema::held(&conn).map_err(|e| err(explain(&e)))?.ok_or_else(|| err("meta is missing".into()))?;
        let notice_pending = held.adjusted && meta(&conn, "adjusted_notice").map_err(|e| err(explain(&e)))?.is_none();
        Ok(Store { path: path.to_path_buf(), conn, adjusted: held.adjusted, notice_pending, migrated, _lock: lock })
    }

    /// Whether the database holds split-adjusted bars: what the engine must request.
    pub fn adjusted(&self) -> bool {
        self.adjusted
    }

    /// `ADJUSTED_NOTICE` until `acknowledge_adjusted_notice` is called for this file.
    pub fn adjusted_notice(&self) -> Option<&'static str> {
        self.notice_pending.then_some(ADJUSTED_NOTICE)
    }

    /// Records that the notice was shown, so later runs do not repeat it.
    pub fn acknowledge_adjusted_notice(&mut self) -> rusqlite::Result<()> {
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('adjusted_notice', 'shown')", [])?;
        self.notice_pending = false;
        Ok(())
    }

    /// The migration this open performed, if the file was schema 1.
    pub fn migrated(&self) -> Option<&Migrated> {
        self.migrated.as_ref()
    }

    /// Tickers whose splits were asked for completely on `day`.
    pub fn splits_checked_on(&self, day: crate::calendar::Day) -> rusqlite::Result<std::collections::HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT ticker FROM splits_checked WHERE day = ?1")?;
        stmt.query_map([crate::calendar::format_day(day)], |r| r.get(0))?.collect()
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

    /// The last bar stored for a symbol and timeframe on `day`, as `zone` bounds it, before
    /// any bar rejected that day, if any: where a resumed row goes on.
    pub fn last_bar_on(
        &self,
        ticker: &str,
        timeframe: &str,
        zone: DayZone,
        day: calendar::Day,
    ) -> rusqlite::Result<Option<i64>> {
        let (start, end) = zone.bounds(day, day);
        // A bar rejected on that day is asked again: the resume point stays before it.
        self.conn.query_row(
            "SELECT max(ts) FROM bars WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3
                AND ts <= coalesce((SELECT min(ts) - 1 FROM rejected_bars
                                    WHERE ticker = ?1 AND timeframe = ?2 AND ts >= ?3 AND ts <= ?4), ?4)",
            params![ticker, timeframe, start, end],
            |r| r.get(0),
        )
    }

    /// The last bar stored for a symbol and timeframe, if any.
    pub fn last_bar(&self, ticker: &str, timeframe: &str) -> rusqlite::Result<Option<i64>> {
        self.conn
            .query_row(
                "SELECT b.ts FROM series_bars AS b JOIN series AS s ON s.id = b.series_id
             WHERE s.ticker = ?1 AND s.timeframe = ?2 ORDER BY b.ts DESC LIMIT 1",
                params![ticker, timeframe],
                |r| r.get(0),
            )
            .optional()
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

/// Pragmas for the writer's connection, each safe with WAL (README "Storage" has the
/// measurements behind them):
/// - `synchronous=NORMAL`: WAL stays consistent; a commit can be lost to a power cut,
///   never to a crash of barfill, and its window is then simply fetched again.
/// - `wal_autocheckpoint=4096` (16 MiB of WAL instead of 4): a checkpoint syncs the WAL
///   and the file on the writer's thread; this halves those syncs (66 to 30 per 2 M bars).
///   During a run the writer thread hands its checkpoints to a thread of their own
///   (`checkpoint`); this setting covers every other write (a migration, the tools).
/// - `journal_size_limit` (64 MiB): the WAL is cut back after a checkpoint, so one big
///   transaction (the schema-1 migration) does not leave a WAL as big as the data.
///
/// Left at SQLite's defaults, measured or reasoned: `cache_size` (a larger cache gained
/// nothing measurable: appends touch a few pages per series, and the OS caches the rest),
/// `temp_store` (bars into new time need no statement journal, `pages::Insert`; with
/// the upsert's journals held in memory a paid run took more CPU, not less, and a memory
/// temp store would hold a large sort in RAM), `mmap_size` (no gain on
/// this write path, and an I/O error through a mapping is a signal instead of an error).
fn tune(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "wal_autocheckpoint", 4_096)?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

fn migrate(conn: &Connection, path: &Path, held: schema::Held) -> Result<Migrated, StoreError> {
    let started = std::time::Instant::now();
    let from = held.version;
    tracing::info!(db = %path.display(), "migrating the database from schema {from} to {SCHEMA_VERSION}, in place");
    let done = match from {
        1 => schema::migrate_v1(conn, held.adjusted),
        _ => schema::migrate_v2(conn),
    }
    .map_err(|e| StoreError::Open {
        path: path.to_path_buf(),
        message: format!(
            "migrating from schema {from} to {SCHEMA_VERSION} failed, nothing changed: {}",
            explain_on(conn, &e)
        ),
    })?;
    tracing::info!(
        bars = done.bars,
        series = done.series,
        secs = started.elapsed().as_secs_f64(),
        "migrated to schema {SCHEMA_VERSION}"
    );
    Ok(done)
}

fn check_path(path: &Path, create_dir: bool) -> Result<(), StoreError> {
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
    Ok(())
}

fn take_lock(path: &Path) -> Result<File, StoreError> {
    let err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
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
        Ok(()) => Ok(lock),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse { path: path.to_path_buf() }),
        Err(std::fs::TryLockError::Error(e)) => Err(err(format!("cannot lock: {e}"))),
    }
}

fn open_read_only(path: &Path) -> Result<Connection, StoreError> {
    let err = |e: rusqlite::Error| StoreError::Open { path: path.to_path_buf(), message: explain(&e) };
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(err)?;
    Ok(conn)
}

/// Progress of an existing database, read-only; an absent file has none. For `plan`,
/// which must not create or change anything. Schema 1 keeps its progress table as
/// schema 2 does, so it is read as it is, unmigrated.
pub fn read_covered(path: &Path) -> Result<Covered, StoreError> {
    if !path.exists() {
        return Ok(Covered::new());
    }
    let conn = open_read_only(path)?;
    let err = |e: rusqlite::Error| StoreError::Open { path: path.to_path_buf(), message: explain(&e) };
    let tables = table_names(&conn).map_err(err)?;
    if !tables.iter().any(|t| t == "meta") || !tables.iter().any(|t| t == "progress") {
        return Err(StoreError::Foreign { path: path.to_path_buf(), tables: tables.join(", ") });
    }
    if let Some(held) = schema::held(&conn).map_err(err)?
        && held.version > SCHEMA_VERSION
    {
        return Err(StoreError::Newer { path: path.to_path_buf(), version: held.version });
    }
    Store::covered_from(&conn).map_err(err)
}

/// A schema-2 database opened read-only, for reads that need its tables (`status`). A
/// schema-1 file is refused with what to do: reading must not migrate it.
pub fn open_for_reading(path: &Path) -> Result<Connection, StoreError> {
    let err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
    if !path.exists() {
        return Err(err("does not exist; a run creates it".into()));
    }
    let conn = open_read_only(path)?;
    let held = match schema::held(&conn).map_err(|e| err(explain(&e)))? {
        Some(h) => h,
        None => {
            let tables = table_names(&conn).map_err(|e| err(explain(&e)))?;
            return Err(StoreError::Foreign { path: path.to_path_buf(), tables: tables.join(", ") });
        }
    };
    match held.version {
        // Schema 2 reads as 3 does: only a NULL volume and UTC days are new.
        2 | SCHEMA_VERSION => Ok(conn),
        1 => {
            Err(err("was written by an earlier barfill (schema 1). Reading it must not change it: run `barfill run` \
             on it once, which migrates it in place (one transaction, every bar kept), then ask again"
                .into()))
        }
        v if v > SCHEMA_VERSION => Err(StoreError::Newer { path: path.to_path_buf(), version: v }),
        v => Err(err(format!("schema version {v} is not one this barfill knows"))),
    }
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

fn meta(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional()
}

/// A database barfill may use: its own schema, a version it knows, and (when asked) the
/// same kind of bars. `None` for an empty file, which becomes a barfill database.
fn check_existing(conn: &Connection, path: &Path, options: &OpenOptions) -> Result<Option<schema::Held>, StoreError> {
    let err = |message: String| StoreError::Open { path: path.to_path_buf(), message };
    let tables = table_names(conn).map_err(|e| err(explain(&e)))?;
    if tables.is_empty() {
        return Ok(None);
    }
    let Some(held) = schema::held(conn).map_err(|e| err(explain(&e)))? else {
        return Err(StoreError::Foreign { path: path.to_path_buf(), tables: tables.join(", ") });
    };
    if held.version > SCHEMA_VERSION {
        return Err(StoreError::Newer { path: path.to_path_buf(), version: held.version });
    }
    if held.version < 1 {
        return Err(err(format!("schema version {} is not one this barfill knows", held.version)));
    }
    if options.require_kind && held.adjusted != options.adjusted {
        let word = |a: bool| if a { "split-adjusted" } else { "unadjusted" }.to_string();
        return Err(StoreError::AdjustedMismatch {
            path: path.to_path_buf(),
            held: word(held.adjusted),
            asked: word(options.adjusted),
        });
    }
    Ok(Some(held))
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
