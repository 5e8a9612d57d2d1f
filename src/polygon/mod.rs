//! The Polygon/Massive REST API as barfill uses it: wire types, the HTTP client and
//! the classification of every outcome. No retry logic lives here.

pub mod check;
pub mod client;
pub mod contracts;
#[cfg(test)]
pub mod fake;
pub mod outcome;
pub mod reference;
pub mod scan;
pub mod wire;

pub use client::{Client, Page};
pub use outcome::FetchError;

/// What the engine needs of any answer it pages through: where the next page is, and how
/// many items (bars, tickers, splits) came.
pub trait Answer: Send {
    fn next_url(&self) -> Option<&str>;
    fn items(&self) -> u64;
}

impl Answer for Page {
    fn next_url(&self) -> Option<&str> {
        self.next_url.as_deref()
    }
    fn items(&self) -> u64 {
        self.bars.len() as u64
    }
}

impl Answer for reference::TickersPage {
    fn next_url(&self) -> Option<&str> {
        self.next_url.as_deref()
    }
    fn items(&self) -> u64 {
        self.tickers.len() as u64
    }
}

impl Answer for contracts::ContractsPage {
    fn next_url(&self) -> Option<&str> {
        self.next_url.as_deref()
    }
    fn items(&self) -> u64 {
        self.contracts.len() as u64
    }
}

impl Answer for reference::SplitsPage {
    fn next_url(&self) -> Option<&str> {
        self.next_url.as_deref()
    }
    fn items(&self) -> u64 {
        self.splits.len() as u64
    }
}
