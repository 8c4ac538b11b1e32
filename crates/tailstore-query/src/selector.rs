//! Series selectors: an exact name or a regex over names.

use crate::error::Error;

/// Chooses the series a query reads. A selector that matches several series
/// merges their histograms and counts exactly (like `PromQL` `sum by (le)`).
#[derive(Clone, Debug)]
pub struct Selector(Kind);

#[derive(Clone, Debug)]
enum Kind {
    All,
    Exact(String),
    Regex(regex::Regex),
}

impl Selector {
    /// Exactly the series called `name`.
    #[must_use]
    pub fn exact(name: impl Into<String>) -> Selector {
        Selector(Kind::Exact(name.into()))
    }

    /// Every series, whatever its name holds.
    #[must_use]
    pub fn all() -> Selector {
        Selector(Kind::All)
    }

    /// Every series whose whole name matches `pattern` (anchored at both
    /// ends, like a `PromQL` `=~` matcher). Series names are data: `.`
    /// matches any character, a newline included, so `.*` selects every
    /// series.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidRegex`] when `pattern` is not a valid regex (the
    /// message shows `pattern` as given).
    pub fn regex(pattern: &str) -> Result<Selector, Error> {
        let build = |p: &str| regex::RegexBuilder::new(p).dot_matches_new_line(true).build();
        let invalid = |source| Error::InvalidRegex { pattern: pattern.to_string(), source };
        // Checked alone first, so an error quotes the user's pattern, not
        // the anchoring around it.
        build(pattern).map_err(invalid)?;
        build(&format!("^(?:{pattern})$")).map(|r| Selector(Kind::Regex(r))).map_err(invalid)
    }

    /// Whether `name` is selected.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        match &self.0 {
            Kind::All => true,
            Kind::Exact(n) => n == name,
            Kind::Regex(r) => r.is_match(name),
        }
    }

    /// The name, when this selects exactly one series.
    #[must_use]
    pub fn as_exact(&self) -> Option<&str> {
        match &self.0 {
            Kind::Exact(n) => Some(n),
            Kind::All | Kind::Regex(_) => None,
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

    /// Names are data: a newline inside one is matched like any character.
    #[test]
    fn dot_matches_every_character_of_a_name() {
        let s = Selector::regex(".*").unwrap();
        assert!(s.matches("/a\nb") && s.matches("") && s.matches("/\u{1b}[2J"));
        assert!(Selector::regex("/a.b").unwrap().matches("/a\nb"));
        assert!(Selector::all().matches("/a\nb"));
    }

    /// An invalid pattern's error shows the pattern as the user wrote it.
    #[test]
    fn regex_errors_quote_the_users_pattern() {
        let e = Selector::regex("/models/(fraud").unwrap_err().to_string();
        assert!(e.contains("/models/(fraud"), "{e}");
        assert!(!e.contains("^(?:"), "{e}");
    }
}
