//! The API key: a value that prints as `***` everywhere, so a stray `{:?}` cannot leak it.

use std::fmt;

/// An API key. It prints as `***` everywhere, so a stray `{:?}` cannot leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Replaces every occurrence of the key in `text`, for messages built from
    /// server answers or library errors we do not control.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() { text.to_string() } else { text.replace(&self.0, "***") }
    }
}

/// Keys are printable ASCII; anything else (a pasted non-breaking space, a smart quote)
/// cannot travel in a header and is a typo, not a key.
pub fn check_key_text(key: &str) -> Result<(), String> {
    match key.chars().position(|c| !c.is_ascii_graphic()) {
        None => Ok(()),
        Some(i) => Err(format!(
            "the API key has a character an HTTP header cannot carry at position {} (only printable ASCII)",
            i + 1
        )),
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}
