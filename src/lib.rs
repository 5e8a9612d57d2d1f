//! barfill: backfill Polygon/Massive OHLCV bars into SQLite, measuring where the time goes.
//!
//! The engine (`plan`, `polygon`, `pace`, `retry`, `engine`, `store`) knows nothing of the
//! terminal; it reports through `engine::Event` and takes `engine::Command`. The
//! dashboard (`ui`) and the headless face (`headless`) are two views of the same events.

pub mod calendar;
pub mod config;
pub mod timeframe;
pub mod polygon;
pub mod retry;
pub mod pace;
pub mod plan;
pub mod engine;
pub mod report;
pub mod store;
pub mod sim;
