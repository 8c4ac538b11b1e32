//! An ordered map from piece start to piece that costs a few words while it
//! holds a few pieces.
//!
//! A level of a rarely used series (one of a scanner's 200 000 paths, a
//! long tail of quiet endpoints) holds one or two pieces; a `BTreeMap`
//! allocates a whole node for them (~456 B for a tier slot, three levels per
//! series). [`PieceMap`] keeps up to [`SMALL`] entries in a sorted `Vec` and
//! moves to a `BTreeMap` past that, so a busy level keeps the tree's
//! logarithmic inserts anywhere in time (late seconds of a replay).

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// Entries a map keeps in its sorted `Vec` before it moves to a tree.
const SMALL: usize = 8;

/// An ordered map `u64 -> V`: a sorted `Vec` while small, a `BTreeMap` after.
#[derive(Debug)]
pub(crate) enum PieceMap<V> {
    Small(Vec<(u64, V)>),
    Big(BTreeMap<u64, V>),
}

impl<V> Default for PieceMap<V> {
    fn default() -> Self {
        PieceMap::Small(Vec::new())
    }
}

/// The index range of a sorted `Vec` that `range` selects.
fn bounds<V>(v: &[(u64, V)], range: &impl RangeBounds<u64>) -> (usize, usize) {
    let lo = match range.start_bound() {
        Bound::Included(&a) => v.partition_point(|e| e.0 < a),
        Bound::Excluded(&a) => v.partition_point(|e| e.0 <= a),
        Bound::Unbounded => 0,
    };
    let hi = match range.end_bound() {
        Bound::Included(&b) => v.partition_point(|e| e.0 <= b),
        Bound::Excluded(&b) => v.partition_point(|e| e.0 < b),
        Bound::Unbounded => v.len(),
    };
    (lo, hi.max(lo))
}

impl<V> PieceMap<V> {
    /// An empty map (allocates nothing).
    pub(crate) fn new() -> Self {
        PieceMap::default()
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        match self {
            PieceMap::Small(v) => v.len(),
            PieceMap::Big(m) => m.len(),
        }
    }

    /// True when the map holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `key`.
    pub(crate) fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        match self {
            PieceMap::Small(v) => match v.binary_search_by_key(&key, |e| e.0) {
                Ok(i) => v.get_mut(i).map(|e| &mut e.1),
                Err(_) => None,
            },
            PieceMap::Big(m) => m.get_mut(&key),
        }
    }

    /// Puts `value` at `key`, returning what was there.
    pub(crate) fn insert(&mut self, key: u64, value: V) -> Option<V> {
        match self {
            PieceMap::Small(v) => match v.binary_search_by_key(&key, |e| e.0) {
                Ok(i) => v.get_mut(i).map(|e| std::mem::replace(&mut e.1, value)),
                Err(i) if v.len() < SMALL => {
                    if v.capacity() == v.len() {
                        // Grow one entry at a time: a small map stays exact.
                        v.reserve_exact(1);
                    }
                    v.insert(i, (key, value));
                    None
                }
                Err(_) => {
                    let mut m: BTreeMap<u64, V> = std::mem::take(v).into_iter().collect();
                    m.insert(key, value);
                    *self = PieceMap::Big(m);
                    None
                }
            },
            PieceMap::Big(m) => m.insert(key, value),
        }
    }

    /// The entries with keys in `range`, ascending.
    pub(crate) fn range(&self, range: impl RangeBounds<u64>) -> Iter<'_, V> {
        match self {
            PieceMap::Small(v) => {
                let (lo, hi) = bounds(v, &range);
                Iter::Small(v.get(lo..hi).unwrap_or_default().iter())
            }
            PieceMap::Big(m) => Iter::Big(m.range(range)),
        }
    }

    /// The entries with keys in `range`, ascending, values mutable.
    pub(crate) fn range_mut(&mut self, range: impl RangeBounds<u64>) -> IterMut<'_, V> {
        match self {
            PieceMap::Small(v) => {
                let (lo, hi) = bounds(v, &range);
                IterMut::Small(v.get_mut(lo..hi).unwrap_or_default().iter_mut())
            }
            PieceMap::Big(m) => IterMut::Big(m.range_mut(range)),
        }
    }

    /// Every entry, ascending.
    pub(crate) fn iter(&self) -> Iter<'_, V> {
        self.range(..)
    }

    /// The first key.
    pub(crate) fn first_key(&self) -> Option<u64> {
        self.iter().next().map(|e| *e.0)
    }

    /// The last key.
    pub(crate) fn last_key(&self) -> Option<u64> {
        self.iter().next_back().map(|e| *e.0)
    }

    /// Removes every entry with a key below `key`.
    pub(crate) fn remove_below(&mut self, key: u64) {
        match self {
            PieceMap::Small(v) => {
                let n = v.partition_point(|e| e.0 < key);
                v.drain(..n);
            }
            PieceMap::Big(m) => {
                if m.last_key_value().is_some_and(|(&k, _)| k >= key) {
                    *m = m.split_off(&key);
                } else {
                    // Nothing stays: give the nodes back.
                    *self = PieceMap::new();
                }
            }
        }
    }

    /// Removes every entry with a key at or above `key`.
    pub(crate) fn remove_from(&mut self, key: u64) {
        match self {
            PieceMap::Small(v) => {
                let n = v.partition_point(|e| e.0 < key);
                v.truncate(n);
            }
            PieceMap::Big(m) => {
                if m.first_key_value().is_some_and(|(&k, _)| k < key) {
                    drop(m.split_off(&key));
                } else {
                    *self = PieceMap::new();
                }
            }
        }
    }

    /// Heap bytes of the map's own storage (not of what values point to).
    pub(crate) fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u64, V)>();
        match self {
            PieceMap::Small(v) => v.capacity() * entry,
            // A node holds up to 11 entries and is about 2/3 full.
            PieceMap::Big(m) => m.len() * entry * 3 / 2,
        }
    }
}

impl<V> FromIterator<(u64, V)> for PieceMap<V> {
    /// Builds from entries ascending by key, each key once.
    fn from_iter<I: IntoIterator<Item = (u64, V)>>(iter: I) -> Self {
        let v: Vec<(u64, V)> = iter.into_iter().collect();
        debug_assert!(v.windows(2).all(|w| w[0].0 < w[1].0), "keys ascend");
        if v.len() <= SMALL {
            let mut v = v;
            v.shrink_to_fit();
            PieceMap::Small(v)
        } else {
            PieceMap::Big(v.into_iter().collect())
        }
    }
}

/// Entries of a [`PieceMap`], ascending.
pub(crate) enum Iter<'a, V> {
    Small(std::slice::Iter<'a, (u64, V)>),
    Big(btree_map::Range<'a, u64, V>),
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a u64, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(it) => it.next().map(|(k, v)| (k, v)),
            Iter::Big(it) => it.next(),
        }
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Small(it) => it.next_back().map(|(k, v)| (k, v)),
            Iter::Big(it) => it.next_back(),
        }
    }
}

/// Entries of a [`PieceMap`], ascending, values mutable.
pub(crate) enum IterMut<'a, V> {
    Small(std::slice::IterMut<'a, (u64, V)>),
    Big(btree_map::RangeMut<'a, u64, V>),
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a u64, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            IterMut::Small(it) => it.next().map(|(k, v)| (&*k, v)),
            IterMut::Big(it) => it.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u32),
        RemoveBelow(u64),
        RemoveFrom(u64),
        Bump(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..40, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => (0u64..40).prop_map(Op::RemoveBelow),
            1 => (0u64..40).prop_map(Op::RemoveFrom),
            2 => (0u64..40).prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// Every operation and every range read agrees with a `BTreeMap`,
        /// through both representations and the moves between them.
        #[test]
        fn behaves_as_a_btreemap(ops in proptest::collection::vec(op(), 0..120), a in 0u64..45, b in 0u64..45) {
            let mut ours: PieceMap<u32> = PieceMap::new();
            let mut oracle: BTreeMap<u64, u32> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(ours.insert(k, v), oracle.insert(k, v)),
                    Op::RemoveBelow(k) => {
                        ours.remove_below(k);
                        oracle = oracle.split_off(&k);
                    }
                    Op::RemoveFrom(k) => {
                        ours.remove_from(k);
                        oracle.split_off(&k);
                    }
                    Op::Bump(k) => {
                        if let Some(v) = ours.get_mut(k) {
                            *v = v.wrapping_add(1);
                        }
                        if let Some(v) = oracle.get_mut(&k) {
                            *v = v.wrapping_add(1);
                        }
                    }
                }
                prop_assert_eq!(ours.len(), oracle.len());
                prop_assert_eq!(ours.is_empty(), oracle.is_empty());
                prop_assert_eq!(ours.first_key(), oracle.keys().next().copied());
                prop_assert_eq!(ours.last_key(), oracle.keys().next_back().copied());
            }
            let (a, b) = (a.min(b), a.max(b));
            let got: Vec<_> = ours.range(a..b).map(|(k, v)| (*k, *v)).collect();
            let want: Vec<_> = oracle.range(a..b).map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(got, want);
            let got: Vec<_> = ours.range(a..).rev().map(|(k, v)| (*k, *v)).collect();
            let want: Vec<_> = oracle.range(a..).rev().map(|(k, v)| (*k, *v)).collect();
            prop_assert_eq!(got, want);
            for (_, v) in ours.range_mut(..=a) {
                *v = 0;
            }
            for (_, v) in oracle.range_mut(..=a) {
                *v = 0;
            }
            let got: Vec<_> = ours.iter().map(|(k, v)| (*k, *v)).collect();
            let want: Vec<_> = oracle.into_iter().collect();
            prop_assert_eq!(&got, &want);
            let rebuilt: PieceMap<u32> = want.iter().copied().collect();
            prop_assert_eq!(rebuilt.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), got);
        }
    }

    #[test]
    fn a_small_map_holds_its_entries_only() {
        let mut m: PieceMap<u64> = PieceMap::new();
        assert_eq!(m.heap_bytes(), 0);
        m.insert(5, 1);
        assert_eq!(m.heap_bytes(), 16, "one entry, no spare capacity");
        for k in 0..20 {
            m.insert(k, k);
        }
        assert!(matches!(m, PieceMap::Big(_)));
        m.remove_below(100);
        assert!(matches!(m, PieceMap::Small(ref v) if v.capacity() == 0), "emptied: nodes freed");
    }
}
