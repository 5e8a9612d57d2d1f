//! An options chain as the configuration names it: underlyings, the expirations to list,
//! and optionally strikes and a contract type. Its contracts are the run's tickers, in
//! place of a list or a universe (`--options SPY --expiring 2025-01-01..2025-03-31`).

use crate::calendar::Range;
use crate::markets::ContractType;

/// The chain the configuration asks for, once every layer is in.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// Underlying roots as the reference endpoint takes them (`SPY`; `SPX` for index options).
    pub underlyings: Vec<String>,
    /// Contracts expiring in this range, both ends inclusive.
    pub expiring: Range,
    /// Strikes in `[lo, hi]`, when given.
    pub strikes: Option<(f64, f64)>,
    pub contract_type: Option<ContractType>,
}

/// The chain's settings as the layers set them, before they are checked together.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChainSettings {
    pub options: Vec<String>,
    pub expiring: Option<Range>,
    pub strikes: Option<(f64, f64)>,
    pub contract_type: Option<ContractType>,
}

impl ChainSettings {
    /// The chain, when `options` names underlyings and `expiring` is set.
    pub fn chain(&self) -> Option<Chain> {
        (!self.options.is_empty()).then_some(())?;
        Some(Chain {
            underlyings: self.options.clone(),
            expiring: self.expiring?,
            strikes: self.strikes,
            contract_type: self.contract_type,
        })
    }

    pub fn is_set(&self) -> bool {
        *self != ChainSettings::default()
    }
}
