//! barfill: backfill Polygon/Massive OHLCV bars into SQLite, measuring where the time goes.
//!
//! The engine (`plan`, `polygon`, `pace`, `retry`, `engine`, `store`) knows nothing of the
//! terminal; it reports through `engine::Event` and takes `engine::Command`. The
//! dashboard (`ui`) and the headless face (`headless`) are two views of the same events,
//! folded by `report::Tally`. `sim` is the Polygon-compatible server inside the binary;
//! `bench` runs the original validation plan on it; `cli` is the command line.

pub mod bar;
pub mod bench;
pub mod calendar;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod export;
pub mod headless;
pub mod heap;
pub mod logging;
pub mod markets;
pub mod pace;
pub mod plan;
pub mod polygon;
pub mod priority;
pub mod report;
pub mod retry;
pub mod secret;
pub mod sim;
pub mod store;
pub mod testhooks;
pub mod timeframe;
pub mod ui;
