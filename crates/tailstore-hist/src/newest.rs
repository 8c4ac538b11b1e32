//! Data time for retention: the newest seconds that hold samples, so that
//! a handful of stray samples far ahead of the rest cannot delete data.
//!
//! Retention follows data time. If data time were simply the newest sample,
//! one mis-dated line (a year ahead of six hours of history, say) would move
//! it a year and retention would remove everything stored. So for
//! retention a store takes the [`SUPPORT`]-th newest *distinct* second that
//! holds a sample ([`NewestSeconds::supported`]): up to `SUPPORT - 1` stray
//! seconds, however far ahead, move nothing; live traffic (a sample every
//! second) moves retention `SUPPORT - 1` seconds later than it would have.
//! The set of the newest distinct seconds of a set of samples does not
//! depend on the order they came in, which keeps replays deterministic.

/// Distinct seconds that must hold samples before data time, for
/// retention, reaches the oldest of them.
pub const SUPPORT: usize = 16;

/// The (up to) [`SUPPORT`] newest distinct seconds met, ascending.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewestSeconds {
    seconds: [u64; SUPPORT],
    len: usize,
}

impl NewestSeconds {
    /// An empty set.
    #[must_use]
    pub fn new() -> NewestSeconds {
        NewestSeconds::default()
    }

    /// The held seconds, ascending.
    #[must_use]
    pub fn as_slice(&self) -> &[u64] {
        self.seconds.get(..self.len).unwrap_or(&[])
    }

    /// Whether no second is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The lowest second that [`NewestSeconds::insert`] could still add:
    /// 0 until the set is full, then one past its oldest second.
    #[must_use]
    pub fn entry(&self) -> u64 {
        if self.len < SUPPORT {
            0
        } else {
            self.seconds[0].saturating_add(1)
        }
    }

    /// Adds `second` if it is one of the newest distinct seconds met
    /// (dropping the oldest held when full). Returns whether the set changed.
    pub fn insert(&mut self, second: u64) -> bool {
        let held = self.as_slice();
        let pos = held.partition_point(|&s| s < second);
        if held.get(pos) == Some(&second) {
            return false;
        }
        if self.len < SUPPORT {
            self.seconds.copy_within(pos..self.len, pos + 1);
            self.seconds[pos] = second;
            self.len += 1;
        } else if pos == 0 {
            return false;
        } else {
            // Full: the oldest goes; `second` takes the place before `pos`.
            self.seconds.copy_within(1..pos, 0);
            self.seconds[pos - 1] = second;
        }
        true
    }

    /// Adds every second of `other`. Returns whether the set changed.
    pub fn merge(&mut self, other: &NewestSeconds) -> bool {
        let mut changed = false;
        for &s in other.as_slice() {
            changed |= self.insert(s);
        }
        changed
    }

    /// Data time for retention: the [`SUPPORT`]-th newest distinct second,
    /// or the oldest held while fewer have been met (retention then keeps
    /// more, never less); `None` when empty.
    #[must_use]
    pub fn supported(&self) -> Option<u64> {
        self.as_slice().first().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against an oracle: the `SUPPORT` largest of the distinct seconds,
    /// in any insertion order.
    #[test]
    fn holds_the_newest_distinct_seconds_in_any_order() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for round in 0..200 {
            let n = round % 60;
            let mut all = Vec::new();
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                all.push(x % 40);
            }
            let mut set = NewestSeconds::new();
            for &s in &all {
                let before = set.clone();
                let changed = set.insert(s);
                assert_eq!(changed, before != set);
            }
            let mut oracle = all.clone();
            oracle.sort_unstable();
            oracle.dedup();
            let oracle = &oracle[oracle.len().saturating_sub(SUPPORT)..];
            assert_eq!(set.as_slice(), oracle, "{all:?}");
            assert_eq!(set.supported(), oracle.first().copied());
            // Merging halves gives the same set.
            let (mut a, mut b) = (NewestSeconds::new(), NewestSeconds::new());
            for (i, &s) in all.iter().enumerate() {
                if i % 2 == 0 {
                    a.insert(s)
                } else {
                    b.insert(s)
                };
            }
            a.merge(&b);
            assert_eq!(a, set);
        }
    }

    /// Fewer than `SUPPORT` stray seconds far ahead do not move it.
    #[test]
    fn stray_seconds_do_not_move_it() {
        let mut set = NewestSeconds::new();
        for s in 1_000..1_100 {
            set.insert(s);
        }
        assert_eq!(set.supported(), Some(1_100 - SUPPORT as u64));
        for k in 0..(SUPPORT as u64 - 1) {
            set.insert(1_000_000_000 + k);
        }
        assert_eq!(set.supported(), Some(1_099));
        assert_eq!(set.entry(), 1_100);
        set.insert(2_000_000_000);
        assert_eq!(set.supported(), Some(1_000_000_000), "a 16th distinct second moves it");
    }
}
