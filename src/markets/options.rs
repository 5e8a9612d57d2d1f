//! Option contracts as the API names them: `O:` and an OCC symbol, the root (the
//! underlying, or a root changed by a corporate action, such as `SDS1`), the expiration
//! as YYMMDD, `C` or `P`, and the strike in thousandths over 8 digits. Read from the
//! right, since roots vary in length.

use std::fmt;

use jiff::civil::Date;

use crate::calendar::{self, Day};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractType {
    Call,
    Put,
}

impl ContractType {
    /// The API's spelling (`contract_type=`).
    pub fn name(self) -> &'static str {
        match self {
            ContractType::Call => "call",
            ContractType::Put => "put",
        }
    }

    pub fn parse(s: &str) -> Result<ContractType, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "call" => Ok(ContractType::Call),
            "put" => Ok(ContractType::Put),
            other => Err(format!("unknown contract type '{other}'; expected call or put")),
        }
    }

    fn letter(self) -> char {
        match self {
            ContractType::Call => 'C',
            ContractType::Put => 'P',
        }
    }
}

/// One option contract, from its ticker.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OptionContract {
    pub root: String,
    pub expiration: Day,
    pub kind: ContractType,
    /// The strike in thousandths of a currency unit, as the symbol writes it.
    pub strike_milli: u64,
}

/// The OCC tail: YYMMDD, C or P, 8 digits of strike.
const TAIL: usize = 15;

impl OptionContract {
    /// Reads `O:ROOTYYMMDD[C|P]SSSSSSSS`, or says what is wrong with it.
    pub fn parse(ticker: &str) -> Result<OptionContract, String> {
        let bad = |why: &str| {
            format!(
                "'{ticker}' is not an option ticker: {why} (expected O:, a root, YYMMDD, C or P and the strike in thousandths over 8 digits, e.g. O:SPY251219C00650000)"
            )
        };
        let body = ticker.strip_prefix("O:").ok_or_else(|| bad("it does not start with O:"))?;
        if !body.is_ascii() || body.len() <= TAIL {
            return Err(bad("it is too short"));
        }
        let (root, tail) = body.split_at(body.len() - TAIL);
        if root.len() > 6 || !root.starts_with(|c: char| c.is_ascii_uppercase()) {
            return Err(bad(&format!("the root '{root}' is not 1 to 6 capitals and digits, starting with a letter")));
        }
        if !root.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
            return Err(bad(&format!("the root '{root}' is not 1 to 6 capitals and digits, starting with a letter")));
        }
        let (date, rest) = tail.split_at(6);
        let (kind, strike) = rest.split_at(1);
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(date) {
            return Err(bad(&format!("the expiration '{date}' is not YYMMDD")));
        }
        let number = |s: &str| s.parse::<i16>().expect("digits");
        let expiration = Date::new(2000 + number(&date[..2]), number(&date[2..4]) as i8, number(&date[4..]) as i8)
            .map_err(|_| bad(&format!("the expiration '{date}' is not a date")))?;
        let kind = match kind {
            "C" => ContractType::Call,
            "P" => ContractType::Put,
            other => return Err(bad(&format!("'{other}' where C (call) or P (put) belongs"))),
        };
        if !digits(strike) {
            return Err(bad(&format!("the strike '{strike}' is not 8 digits")));
        }
        let strike_milli: u64 = strike.parse().expect("digits");
        if strike_milli == 0 {
            return Err(bad("the strike is zero"));
        }
        Ok(OptionContract { root: root.to_string(), expiration: calendar::day_of(expiration), kind, strike_milli })
    }

    /// The strike as a price.
    pub fn strike(&self) -> f64 {
        self.strike_milli as f64 / 1000.0
    }

    /// The ticker, `O:SPY251219C00650000`.
    pub fn ticker(&self) -> String {
        let date = calendar::date_of(self.expiration);
        format!(
            "O:{}{:02}{:02}{:02}{}{:08}",
            self.root,
            date.year() % 100,
            date.month(),
            date.day(),
            self.kind.letter(),
            self.strike_milli
        )
    }
}

impl fmt::Display for OptionContract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.ticker())
    }
}
