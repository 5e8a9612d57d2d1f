//! WAL checkpoints off the writer's thread. A checkpoint copies committed pages from the
//! WAL into the database file and syncs both; on the writer's thread (SQLite's
//! autocheckpoint) that copy is a sixth of every stored bar's cost, and the writer is the
//! one part of a paid plan's run that does not scale. Here a second connection copies
//! after each commit while the writer goes on with the next transaction.
//!
//! SQLite restarts the WAL from its start only when a write transaction begins with every
//! frame copied, which a background copy racing a busy writer rarely allows. So once the
//! WAL holds `RESTART_FRAMES`, the writer copies what is left itself (a page or two, since
//! the background kept up) and its next transaction starts the WAL over: the file stays
//! bounded as with the autocheckpoint.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use rusqlite::{Connection, OpenFlags};

/// WAL frames (database pages) at which the writer finishes the copy and the WAL starts
/// over: 32 MiB at 4 KiB pages, under `journal_size_limit`, so the file is reused rather
/// than cut back each time.
pub const RESTART_FRAMES: u32 = 8_192;

/// Frames committed since the last copy before the background copies again: about one
/// 50,000-bar page, so each copy is one commit's pages, fresh in the OS cache.
const COPY_FRAMES: u32 = 512;

#[derive(Default)]
struct State {
    /// Frames in the WAL after the latest commit (SQLite's count, from the WAL hook).
    frames: u32,
    /// `frames` when the background last copied.
    copied: u32,
    stop: bool,
}

struct Shared {
    restart_frames: u32,
    copy_frames: u32,
    state: Mutex<State>,
    wake: Condvar,
    /// Held by whichever connection checkpoints: SQLite lets one checkpoint run at a time
    /// and answers a second with SQLITE_BUSY instead of waiting.
    copying: Mutex<()>,
}

/// The background copier of one writer connection. Dropping it stops the thread; the
/// writer's connection, closed last, copies whatever remains.
pub struct Checkpointer {
    shared: Arc<Shared>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Turns off `conn`'s autocheckpoint and starts the copier on a connection of its own
    /// to `path`. `conn` must be in WAL mode.
    pub fn attach(conn: &mut Connection, path: &Path) -> std::io::Result<Checkpointer> {
        Checkpointer::attach_with(conn, path, RESTART_FRAMES, COPY_FRAMES)
    }

    fn attach_with(
        conn: &mut Connection,
        path: &Path,
        restart_frames: u32,
        copy_frames: u32,
    ) -> std::io::Result<Checkpointer> {
        let own =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(std::io::Error::other)?;
        let shared = Arc::new(Shared {
            restart_frames,
            copy_frames,
            state: Mutex::default(),
            wake: Condvar::new(),
            copying: Mutex::new(()),
        });
        let background = shared.clone();
        // Started before the hook goes in, so a connection never loses its checkpoints.
        let handle =
            std::thread::Builder::new().name("barfill-checkpoint".into()).spawn(move || copy_loop(own, &background))?;
        let checkpointer = Checkpointer { shared: shared.clone(), handle: Some(handle) };
        let hook = shared.clone();
        // Replaces the autocheckpoint, which SQLite also implements as a WAL hook.
        conn.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, frames: std::ffi::c_int| {
            let mut s = hook.state.lock();
            s.frames = frames.max(0) as u32;
            if s.frames < s.copied || s.frames >= s.copied + hook.copy_frames {
                hook.wake.notify_one();
            }
            Ok(())
        }))
        .map_err(std::io::Error::other)?;
        Ok(checkpointer)
    }

    /// Called by the writer between transactions: once the WAL is long, copies what the
    /// background has not (waiting for a copy in progress), so the next transaction
    /// starts the WAL over. A failure is logged: the data is safe in the WAL, which the
    /// next copy or the close checkpoints.
    pub fn between_transactions(&self, conn: &Connection) {
        if self.shared.state.lock().frames < self.shared.restart_frames {
            return;
        }
        let _copying = self.shared.copying.lock();
        if let Err(e) = passive(conn) {
            tracing::warn!(error = %e, "checkpoint on the writer failed; the WAL grows until the next one");
            return;
        }
        let mut s = self.shared.state.lock();
        s.frames = 0;
        s.copied = 0;
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn copy_loop(conn: Connection, shared: &Shared) {
    loop {
        {
            let mut s = shared.state.lock();
            while !s.stop && s.frames >= s.copied && s.frames < s.copied + shared.copy_frames {
                shared.wake.wait(&mut s);
            }
            if s.stop {
                return;
            }
            s.copied = s.frames;
        }
        let _copying = shared.copying.lock();
        if let Err(e) = passive(&conn) {
            tracing::warn!(error = %e, "background checkpoint failed; the writer's own copy covers it");
        }
    }
}

/// Copies every frame no reader still needs, without waiting on the writer.
fn passive(conn: &Connection) -> rusqlite::Result<()> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bar::Bar;
    use crate::store::Store;
    use crate::store::writer::{BarGroup, write_page};

    fn page(n: i64) -> Vec<BarGroup> {
        let bars = (0..5_000)
            .map(|i| {
                let p = 100.0 + (i % 97) as f64 * 0.01;
                Bar {
                    ts: (n * 5_000 + i) * 60_000,
                    open: p,
                    high: p,
                    low: p,
                    close: p,
                    volume: Some(1.0),
                    vwap: None,
                    trades: None,
                }
            })
            .collect();
        vec![BarGroup { ticker: "AAPL".into(), timeframe: "1/minute".into(), bars }]
    }

    #[test]
    fn the_wal_stays_bounded_and_every_row_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bars.db");
        let wal = dir.path().join("bars.db-wal");
        let mut store = Store::open(&path, false, false).unwrap();
        // A page of 5,000 bars is about 90 frames: the WAL starts over every few pages.
        let checkpointer = Checkpointer::attach_with(&mut store.conn, &path, 256, 64).unwrap();
        let mut longest = 0;
        for n in 0..40 {
            write_page(&store.conn, 1, &page(n), &[]).unwrap();
            checkpointer.between_transactions(&store.conn);
            longest = longest.max(std::fs::metadata(&wal).unwrap().len());
        }
        // Without the writer's own copy the WAL would hold all 200,000 bars (about 14 MB).
        assert!(longest < 3_000_000, "the WAL reached {longest} bytes");
        drop(checkpointer);
        drop(store);
        let conn = Connection::open(&path).unwrap();
        let rows: i64 = conn.query_row("SELECT count(*) FROM bars", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 200_000);
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok");
    }
}
