//! The backfill engine: workers, scheduling, pacing and retries, with a control loop
//! that takes `Command`s and reports `Event`s.

pub mod events;

pub use events::{Command, Event, Settings};
pub mod scheduler;
