//! The one clock the engine reads: tokio's. In a normal build it is the monotonic clock
//! (`std::time::Instant::now()`); in a test whose runtime has paused time
//! (`#[tokio::test(start_paused = true)]`) it is the runtime's virtual clock, so what
//! the engine measures (waits, request times, the pacer's windows) agrees with the
//! timers it sleeps on, and a test asserts on them without depending on machine speed.
//!
//! This module imports nothing from the crate, so any layer may use it.

use std::time::Instant;

/// Now, on the clock tokio's timers run on.
pub fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Time since `earlier` on the same clock (`Instant::elapsed` reads the real one).
pub fn since(earlier: Instant) -> std::time::Duration {
    now().saturating_duration_since(earlier)
}
