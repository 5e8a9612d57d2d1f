//! Knobs for the test suite that drives the real binary as a process, where no config or
//! flag can reach them (they are deliberately not user settings). They exist only in a
//! build with the `test-hooks` cargo feature, which `cargo test` turns on (the package is
//! its own dev-dependency with that feature) and `cargo build` / `cargo run --release`
//! do not: without it every function here is an empty stub and no variable name below
//! is in the binary.
//!
//! - `BARFILL_TEST_WAIT_SCALE=F`: every retry wait is F times as long (see
//!   `RetryConfig::wait_scale`), so fault tests cost milliseconds per retry.
//! - `BARFILL_TEST_PANIC_WORKER=N`: the worker that hands the writer the Nth page panics.
//! - `BARFILL_TEST_PANIC_DASHBOARD=1`: the dashboard's thread panics on its fifth tick.
//! - `BARFILL_TEST_SLOW_WRITER_MS=N`: the database writer sleeps N ms per page before
//!   writing it, as a slow disk would make it.
//! - `BARFILL_TEST_EXPORT_ROW_GROUP_ROWS=N`: an export's row groups hold N rows, so a
//!   small database makes several row groups and parts.
//! - `BARFILL_TEST_EXPORT_STALL_AFTER=N`: after writing its Nth row group, the export says
//!   `export stalled` on stderr and sleeps until it is killed: a process killed mid-way.
//!
//! This module imports nothing from the crate, so any layer may call it.

/// The retry wait scale the test asked for, if any.
pub fn retry_wait_scale() -> Option<f64> {
    imp::retry_wait_scale()
}

/// How long the writer should sleep per page, if the test asked it to play a slow disk.
pub fn slow_writer() -> Option<std::time::Duration> {
    imp::slow_writer()
}

/// Called by a worker each time it has handed the writer a page.
#[inline]
pub fn page_handed_over() {
    imp::page_handed_over()
}

/// Rows per row group the test asked an export to write, if any.
pub fn export_row_group_rows() -> Option<usize> {
    imp::export_row_group_rows()
}

/// Called by an export each time it has written a row group.
#[inline]
pub fn export_row_group_written() {
    imp::export_row_group_written()
}

/// Called by the dashboard's loop once per tick.
#[inline]
pub fn dashboard_ticked() {
    imp::dashboard_ticked()
}

#[cfg(feature = "test-hooks")]
mod imp {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn var(name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }

    pub fn retry_wait_scale() -> Option<f64> {
        let v = var("BARFILL_TEST_WAIT_SCALE")?;
        match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s > 0.0 => Some(s),
            _ => panic!("BARFILL_TEST_WAIT_SCALE={v}: expected a number above 0"),
        }
    }

    pub fn slow_writer() -> Option<std::time::Duration> {
        let v = var("BARFILL_TEST_SLOW_WRITER_MS")?;
        match v.parse::<u64>() {
            Ok(ms) => Some(std::time::Duration::from_millis(ms)),
            Err(_) => panic!("BARFILL_TEST_SLOW_WRITER_MS={v}: expected milliseconds"),
        }
    }

    pub fn page_handed_over() {
        static AT: OnceLock<Option<u64>> = OnceLock::new();
        static PAGES: AtomicU64 = AtomicU64::new(0);
        let at = AT.get_or_init(|| {
            var("BARFILL_TEST_PANIC_WORKER")
                .map(|v| v.parse().unwrap_or_else(|_| panic!("BARFILL_TEST_PANIC_WORKER={v}: expected a page number")))
        });
        if let Some(n) = *at
            && PAGES.fetch_add(1, Ordering::Relaxed) + 1 == n
        {
            panic!("BARFILL_TEST_PANIC_WORKER={n}: panicking after page {n}");
        }
    }

    pub fn export_row_group_rows() -> Option<usize> {
        let v = var("BARFILL_TEST_EXPORT_ROW_GROUP_ROWS")?;
        match v.parse::<usize>() {
            Ok(n) if n > 0 => Some(n),
            _ => panic!("BARFILL_TEST_EXPORT_ROW_GROUP_ROWS={v}: expected a row count above 0"),
        }
    }

    pub fn export_row_group_written() {
        static AT: OnceLock<Option<u64>> = OnceLock::new();
        static GROUPS: AtomicU64 = AtomicU64::new(0);
        let at = AT.get_or_init(|| {
            var("BARFILL_TEST_EXPORT_STALL_AFTER")
                .map(|v| v.parse().unwrap_or_else(|_| panic!("BARFILL_TEST_EXPORT_STALL_AFTER={v}: expected a count")))
        });
        if let Some(n) = *at
            && GROUPS.fetch_add(1, Ordering::Relaxed) + 1 == n
        {
            eprintln!("export stalled");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
    }

    pub fn dashboard_ticked() {
        static ON: OnceLock<bool> = OnceLock::new();
        static FRAMES: AtomicU64 = AtomicU64::new(0);
        if *ON.get_or_init(|| var("BARFILL_TEST_PANIC_DASHBOARD").is_some())
            && FRAMES.fetch_add(1, Ordering::Relaxed) + 1 == 5
        {
            panic!("BARFILL_TEST_PANIC_DASHBOARD is set: panicking on the dashboard's thread");
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
mod imp {
    pub fn retry_wait_scale() -> Option<f64> {
        None
    }

    pub fn slow_writer() -> Option<std::time::Duration> {
        None
    }

    #[inline(always)]
    pub fn page_handed_over() {}

    pub fn export_row_group_rows() -> Option<usize> {
        None
    }

    #[inline(always)]
    pub fn export_row_group_written() {}

    #[inline(always)]
    pub fn dashboard_ticked() {}
}
