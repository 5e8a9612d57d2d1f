//! The Polygon/Massive REST API as barfill uses it: wire types, the HTTP client and
//! the classification of every outcome. No retry logic lives here.

pub mod check;
pub mod client;
pub mod outcome;
pub mod reference;
pub mod wire;

pub use client::{Client, Page};
pub use outcome::FetchError;
