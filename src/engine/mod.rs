//! The backfill engine: workers, scheduling, pacing and retries, with a control loop
//! that takes `Command`s and reports `Event`s. It knows nothing of terminals.

pub mod autotune;
mod chain;
mod ctx;
mod emitter;
pub mod eta;
pub mod events;
mod fetch;
mod grouped;
mod range;
pub mod resources;
mod run;
pub mod scheduler;
mod splits;
pub mod tally;
#[cfg(test)]
mod tests;
mod tuning;
pub mod universe;
mod worker;

/// Where the label lives is `report`, below the engine; the engine's users name it here.
pub use crate::report::EMBEDDED_SIMULATOR;
pub use events::{Command, Event, Settings};
pub use run::{RunHandle, Source, initial_settings, list_chain, list_universe, plan_for, plan_stored, prepare, start};
pub use tally::{RunEnd, Tally};
