//! Status codes: the per-interval status breakdown and the error set.

use smallvec::SmallVec;

use crate::error::Error;

/// Number of distinct status codes tracked: `0 ..= 999`.
///
/// HTTP status codes have three digits. Code `0` means "no status" (Envoy's
/// `0` for a downstream disconnect, or a request that never got a response).
/// A code of 1000 or more is not a status: it is recorded as `0`, and the
/// recorder counts it (see `Interval::invalid_status`).
pub const STATUS_CODES: usize = 1000;

/// Map any `u16` to a tracked status code (`>= 1000` becomes `0`).
#[must_use]
#[expect(
    clippy::inline_always,
    reason = "called once per run of samples when the recorder folds them into their second \
              (SecondAcc::add_requests: every sample of disordered traffic); forced inlining is \
              part of the benchmarked record_at cost"
)]
#[inline(always)]
pub fn clamp_status(status: u16) -> (u16, bool) {
    if usize::from(status) < STATUS_CODES {
        (status, false)
    } else {
        (0, true)
    }
}

/// A set of status codes counted as errors, e.g. the default
/// `400|402|403|404|405|406|408|429|5xx`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ErrorSet {
    bits: [u64; STATUS_CODES.div_ceil(64)],
}

impl Default for ErrorSet {
    /// The monitoring guide's set: `400|402|403|404|405|406|408|429|5xx`.
    /// 401 (unauthenticated) is deliberately not an error of the endpoint.
    fn default() -> Self {
        let mut s = ErrorSet::empty();
        for c in [400, 402, 403, 404, 405, 406, 408, 429] {
            s.insert(c);
        }
        for c in 500..600 {
            s.insert(c);
        }
        s
    }
}

impl std::fmt::Debug for ErrorSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries((0u16..).take(STATUS_CODES).filter(|c| self.contains(*c))).finish()
    }
}

impl ErrorSet {
    /// The set with no codes: nothing counts as an error.
    #[must_use]
    pub fn empty() -> ErrorSet {
        ErrorSet { bits: [0; STATUS_CODES.div_ceil(64)] }
    }

    /// Adds one code; codes `>= 1000` are ignored.
    pub fn insert(&mut self, code: u16) {
        let c = usize::from(code);
        if c < STATUS_CODES {
            self.bits[c / 64] |= 1 << (c % 64);
        }
    }

    /// Whether `code` counts as an error.
    #[must_use]
    #[inline]
    pub fn contains(&self, code: u16) -> bool {
        let c = usize::from(code);
        c < STATUS_CODES && self.bits[c / 64] & (1 << (c % 64)) != 0
    }

    /// The codes in the set, ascending.
    pub(crate) fn codes(&self) -> impl Iterator<Item = usize> + '_ {
        self.bits.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                (bits != 0).then(|| {
                    let b = bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    w * 64 + b
                })
            })
        })
    }

    /// Parses `|`- or `,`-separated codes (`404`), classes (`5xx`, `5..`),
    /// and ranges (`500-599`). The empty string is the empty set.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidStatusSet`] when a part is not a code, class or range,
    /// a range is descending, or a code is 1000 or more.
    pub fn parse(spec: &str) -> Result<ErrorSet, Error> {
        let bad = |reason| Error::InvalidStatusSet { spec: spec.to_string(), reason };
        let mut set = ErrorSet::empty();
        for part in spec.split(['|', ',']).map(str::trim).filter(|p| !p.is_empty()) {
            let b = part.as_bytes();
            if b.len() == 3
                && b[0].is_ascii_digit()
                && (b[1..] == *b"xx" || b[1..] == *b"XX" || b[1..] == *b"..")
            {
                let base = u16::from(b[0] - b'0') * 100;
                for c in base..base + 100 {
                    set.insert(c);
                }
            } else if let Some((lo, hi)) = part.split_once('-') {
                let lo: u16 = lo.trim().parse().map_err(|_| bad("range bound is not a number"))?;
                let hi: u16 = hi.trim().parse().map_err(|_| bad("range bound is not a number"))?;
                if lo > hi || usize::from(hi) >= STATUS_CODES {
                    return Err(bad("range must be ascending and within 0-999"));
                }
                for c in lo..=hi {
                    set.insert(c);
                }
            } else {
                let c: u16 = part.parse().map_err(|_| bad("not a status code, class or range"))?;
                if usize::from(c) >= STATUS_CODES {
                    return Err(bad("status codes are 0-999"));
                }
                set.insert(c);
            }
        }
        Ok(set)
    }
}

/// Per-status request counts of one interval or window, sorted by code.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts {
    /// Inline while one code is counted (a quiet series' piece, a second
    /// of `200`s): no allocation.
    entries: SmallVec<[(u16, u64); 1]>,
}

impl StatusCounts {
    /// Builds from `(code, count)` pairs; zero counts are dropped, duplicates summed.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u16, u64)>) -> StatusCounts {
        let mut entries: SmallVec<[(u16, u64); 1]> =
            pairs.into_iter().filter(|p| p.1 > 0).collect();
        entries.sort_unstable_by_key(|p| p.0);
        entries.dedup_by(|later, first| {
            if later.0 == first.0 {
                first.1 = first.1.saturating_add(later.1);
                true
            } else {
                false
            }
        });
        StatusCounts { entries }
    }

    /// The `(code, count)` pairs in ascending code order, no zero counts.
    pub fn iter(&self) -> impl Iterator<Item = (u16, u64)> + '_ {
        self.entries.iter().copied()
    }

    /// Count for one code (0 when absent).
    #[must_use]
    pub fn get(&self, code: u16) -> u64 {
        self.entries.binary_search_by_key(&code, |p| p.0).map_or(0, |i| self.entries[i].1)
    }

    /// Sum of all counts.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.entries.iter().fold(0, |a, p| a.saturating_add(p.1))
    }

    /// Sum of the counts whose code is in `errors`.
    #[must_use]
    pub fn errors(&self, errors: &ErrorSet) -> u64 {
        self.entries.iter().filter(|p| errors.contains(p.0)).fold(0, |a, p| a.saturating_add(p.1))
    }

    /// Number of distinct codes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no request was counted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &StatusCounts) {
        if other.entries.is_empty() {
            return;
        }
        let mut out = Vec::with_capacity(self.entries.len() + other.entries.len());
        let (mut a, mut b) = (self.entries.iter().peekable(), other.entries.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.0 == y.0 => {
                    out.push((x.0, x.1.saturating_add(y.1)));
                    a.next();
                    b.next();
                }
                (Some(x), Some(y)) if x.0 < y.0 => {
                    out.push(**x);
                    a.next();
                }
                (_, Some(y)) => {
                    out.push(**y);
                    b.next();
                }
                (Some(x), None) => {
                    out.push(**x);
                    a.next();
                }
                (None, None) => break,
            }
        }
        self.entries = SmallVec::from_vec(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_error_set_matches_guide() {
        let s = ErrorSet::default();
        for c in [400, 402, 403, 404, 405, 406, 408, 429, 500, 503, 599] {
            assert!(s.contains(c), "{c}");
        }
        for c in [0, 200, 204, 301, 401, 407, 409, 499, 600, 999, 1000] {
            assert!(!s.contains(c), "{c}");
        }
    }

    #[test]
    fn parse_forms() {
        let s = ErrorSet::parse("400|402|403|404|405|406|408|429|5..").unwrap();
        assert_eq!(s, ErrorSet::default());
        let s = ErrorSet::parse("4xx, 503").unwrap();
        assert!(s.contains(401) && s.contains(503) && !s.contains(500));
        let s = ErrorSet::parse("500-502").unwrap();
        assert!(s.contains(501) && !s.contains(503));
        assert_eq!(ErrorSet::parse("").unwrap(), ErrorSet::empty());
        assert!(ErrorSet::parse("5x").is_err());
        assert!(ErrorSet::parse("1000").is_err());
        assert!(ErrorSet::parse("600-500").is_err());
        assert!(ErrorSet::parse("abc").is_err());
    }

    #[test]
    fn status_merge_and_totals() {
        let mut a = StatusCounts::from_pairs([(200, 5), (503, 1), (200, 2)]);
        assert_eq!(a.get(200), 7);
        a.merge(&StatusCounts::from_pairs([(404, 3), (503, 1), (0, 0)]));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(200, 7), (404, 3), (503, 2)]);
        assert_eq!(a.total(), 12);
        assert_eq!(a.errors(&ErrorSet::default()), 5);
    }

    #[test]
    fn clamp() {
        assert_eq!(clamp_status(999), (999, false));
        assert_eq!(clamp_status(1000), (0, true));
        assert_eq!(clamp_status(0), (0, false));
    }
}
