//! What a step measures beside the run's report: the process's CPU (the simulator's own
//! threads left out by the caller), the database's size, and the bare SQLite insert rate
//! the writer is judged against.

use std::path::Path;
use std::time::Instant;

use rusqlite::{Connection, params};

/// `/proc` reports times in clock ticks of `USER_HZ`, 100 on every Linux user space.
const TICKS_PER_SECOND: f64 = 100.0;
const PAGE: u64 = 50_000;
const SERIES: u64 = 10;

/// User plus system CPU time of this whole process so far, in seconds (Linux; 0 elsewhere).
pub fn process_cpu_s() -> f64 {
    std::fs::read_to_string("/proc/self/stat").ok().and_then(|s| stat_ticks(&s)).unwrap_or(0) as f64 / TICKS_PER_SECOND
}

/// User plus system CPU time of another process so far, in seconds (Linux; 0 elsewhere).
pub fn pid_cpu_s(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().and_then(|s| stat_ticks(&s)).unwrap_or(0) as f64
        / TICKS_PER_SECOND
}

/// utime + stime (fields 14 and 15) of a stat line, counted after the command's last `)`.
fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Linux lets a process reset its peak-RSS mark, so each step reports its own peak.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The database's bytes once its WAL is checkpointed into it (whatever the schema).
pub fn db_bytes(path: &Path) -> anyhow::Result<u64> {
    let conn = Connection::open(path)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    drop(conn);
    let wal = path.with_extension("db-wal");
    Ok(std::fs::metadata(path)?.len() + std::fs::metadata(wal).map(|m| m.len()).unwrap_or(0))
}

/// One minute bar as the bare loop binds it: ts, open, high, low, close, volume, vwap, trades.
type Row = (i64, f64, f64, f64, f64, f64, f64, Option<i64>);

/// Page `n`: 50,000 minute bars of series `n % 10`, following that series' last page,
/// with four-decimal prices and whole volumes as the API sends them.
fn page(n: u64) -> (i64, Vec<Row>) {
    let start = 1_700_000_000_000 + (n / SERIES * PAGE) as i64 * 60_000;
    let rows = (0..PAGE as i64)
        .map(|i| {
            let p = 100.0 + (i % 997) as f64 * 0.0001;
            let trades = (i % 100 != 0).then_some(1 + i % 300);
            (start + i * 60_000, p, p + 0.05, p - 0.05, p + 0.01, (1_000 + i * 37 % 50_000) as f64, p, trades)
        })
        .collect();
    ((n % SERIES) as i64 + 1, rows)
}

/// Rows per second SQLite takes with nothing of barfill's around it: one prepared INSERT
/// per row into a table keyed `(series INTEGER, ts)` WITHOUT ROWID, one transaction per
/// 50,000-row page, pages to 10 series in turn, WAL and `synchronous=NORMAL`, on a fresh
/// file in `dir`. The rows are built before the clock starts.
pub fn bare_insert_rate(dir: &Path, rows: u64) -> anyhow::Result<f64> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("bare.db");
    let _ = std::fs::remove_file(&path);
    let conn = Connection::open(&path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(
        "CREATE TABLE bare(series INTEGER NOT NULL, ts INTEGER NOT NULL, open REAL, high REAL, low REAL, \
         close REAL, volume REAL, vwap REAL, trades INTEGER, PRIMARY KEY(series, ts)) WITHOUT ROWID;",
    )?;
    let pages: Vec<(i64, Vec<Row>)> = (0..rows.div_ceil(PAGE).max(1)).map(page).collect();
    let started = Instant::now();
    for (series, rows) in &pages {
        let tx = conn.unchecked_transaction()?;
        {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO bare(series, ts, open, high, low, close, volume, vwap, trades) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for r in rows {
                stmt.execute(params![series, r.0, r.1, r.2, r.3, r.4, r.5, r.6, r.7])?;
            }
        }
        tx.commit()?;
    }
    let secs = started.elapsed().as_secs_f64();
    drop(conn);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(dir.join("bare.db-wal"));
    let _ = std::fs::remove_file(dir.join("bare.db-shm"));
    Ok(pages.len() as f64 * PAGE as f64 / secs.max(1e-9))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_ticks_skip_an_awkward_name() {
        let line = "4242 (a (b) c) S 1 2 3 4 5 6 7 8 9 10 170 30 0 0 20 0 1 0 100 0 0";
        assert_eq!(stat_ticks(line), Some(200));
        assert_eq!(stat_ticks("garbage"), None);
    }

    #[test]
    fn pages_are_distinct_and_the_bare_loop_stores_them() {
        let (a, b) = (page(0), page(SERIES));
        assert_eq!(a.0, b.0);
        assert!(b.1[0].0 > a.1.last().unwrap().0);
        let dir = tempfile::tempdir().unwrap();
        assert!(bare_insert_rate(dir.path(), 1).unwrap() > 0.0);
    }
}
