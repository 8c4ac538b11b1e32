//! Series selectors: an exact name or a regex over names.

use crate::error::Error;

/// Chooses the series a query reads. A selector that matches several series
/// merges their histograms and counts exactly (like `PromQL` `sum by (le)`).
#[derive(Clone, Debug)]
pub struct Selector(Kind);

#[derive(Clone, Debug)]
enum Kind {
    Exact(String),
    Regex(regex::Regex),
}

impl Selector {
    /// Exactly the series called `name`.
    #[must_use]
    pub fn exact(name: impl Into<String>) -> Selector {
        Selector(Kind::Exact(name.into()))
    }

    /// Every series whose whole name matches `pattern` (anchored at both
    /// ends, like a `PromQL` `=~` matcher).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRegex`] when `pattern` is not a valid regex.
    pub fn regex(pattern: &str) -> Result<Selector, Error> {
        let anchored = format!("^(?:{pattern})$");
        regex::Regex::new(&anchored)
            .map(|r| Selector(Kind::Regex(r)))
            .map_err(|source| Error::InvalidRegex { pattern: pattern.to_string(), source })
    }

    /// Whether `name` is selected.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        match &self.0 {
            Kind::Exact(n) => n == name,
            Kind::Regex(r) => r.is_match(name),
        }
    }

    /// The name, when this selects exactly one series.
    #[must_use]
    pub fn as_exact(&self) -> Option<&str> {
        match &self.0 {
            Kind::Exact(n) => Some(n),
            Kind::Regex(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_is_anchored() {
        let s = Selector::regex("/models/fraud-.*").unwrap();
        assert!(s.matches("/models/fraud-v2/predict"));
        assert!(!s.matches("/api/models/fraud-v2"));
        assert!(Selector::regex("(").is_err());
        let e = Selector::exact("/a");
        assert!(e.matches("/a") && !e.matches("/ab"));
    }
}
