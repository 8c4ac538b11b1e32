//! An ordered map from a second to a piece that costs a few words while it
//! holds a few pieces.
//!
//! A rarely used series (one of a scanner's 200 000 paths, a long tail of
//! quiet endpoints) holds one or two pieces per map; a `BTreeMap` allocates a
//! whole node for them (~456 B for a tier slot, ~1.9 KB for an unsealed
//! second's part). [`PieceMap`] keeps up to eight entries in a sorted `Vec`
//! and moves to a `BTreeMap` past that, so a busy map keeps the tree's
//! logarithmic inserts anywhere in time (late seconds of a replay).

use std::collections::btree_map;
use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};

/// Entries a map keeps in its sorted `Vec` before it moves to a tree.
const SMALL: usize = 8;

/// An ordered map `u64 -> V` (a second to a piece): a sorted `Vec` while it
/// holds up to eight entries, a `BTreeMap` after.
#[derive(Debug)]
pub struct PieceMap<V>(Repr<V>);

#[derive(Debug)]
enum Repr<V> {
    Small(Vec<(u64, V)>),
    Big(BTreeMap<u64, V>),
}

impl<V> Default for PieceMap<V> {
    fn default() -> Self {
        PieceMap(Repr::Small(Vec::new()))
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
    #[must_use]
    pub fn new() -> Self {
        PieceMap::default()
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Small(v) => v.len(),
            Repr::Big(m) => m.len(),
        }
    }

    /// True when the map holds nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at `key`.
    pub fn get_mut(&mut self, key: u64) -> Option<&mut V> {
        match &mut self.0 {
            Repr::Small(v) => match v.binary_search_by_key(&key, |e| e.0) {
                Ok(i) => v.get_mut(i).map(|e| &mut e.1),
                Err(_) => None,
            },
            Repr::Big(m) => m.get_mut(&key),
        }
    }

    /// Puts `value` at `key`, returning what was there.
    pub fn insert(&mut self, key: u64, value: V) -> Option<V> {
        match &mut self.0 {
            Repr::Small(v) => match v.binary_search_by_key(&key, |e| e.0) {
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
                    self.0 = Repr::Big(m);
                    None
                }
            },
            Repr::Big(m) => m.insert(key, value),
        }
    }

    /// Merges `value` into the entry at `key` with `merge`, or puts it there.
    pub fn upsert(&mut self, key: u64, value: V, merge: impl FnOnce(&mut V, V)) {
        match self.get_mut(key) {
            Some(old) => merge(old, value),
            None => {
                self.insert(key, value);
            }
        }
    }

    /// Removes the entry at `key` and returns its value.
    pub fn remove(&mut self, key: u64) -> Option<V> {
        match &mut self.0 {
            Repr::Small(v) => match v.binary_search_by_key(&key, |e| e.0) {
                Ok(i) => Some(v.remove(i).1),
                Err(_) => None,
            },
            Repr::Big(m) => m.remove(&key),
        }
    }

    /// The entries with keys in `range`, ascending.
    pub fn range(&self, range: impl RangeBounds<u64>) -> Iter<'_, V> {
        match &self.0 {
            Repr::Small(v) => {
                let (lo, hi) = bounds(v, &range);
                Iter(IterRepr::Small(v.get(lo..hi).unwrap_or_default().iter()))
            }
            Repr::Big(m) => Iter(IterRepr::Big(m.range(range))),
        }
    }

    /// The entries with keys in `range`, ascending, values mutable.
    pub fn range_mut(&mut self, range: impl RangeBounds<u64>) -> IterMut<'_, V> {
        match &mut self.0 {
            Repr::Small(v) => {
                let (lo, hi) = bounds(v, &range);
                IterMut(IterMutRepr::Small(v.get_mut(lo..hi).unwrap_or_default().iter_mut()))
            }
            Repr::Big(m) => IterMut(IterMutRepr::Big(m.range_mut(range))),
        }
    }

    /// Every entry, ascending.
    #[must_use]
    pub fn iter(&self) -> Iter<'_, V> {
        self.range(..)
    }

    /// The values, ascending by key, taking the map.
    pub fn into_values(self) -> impl Iterator<Item = V> {
        let (small, big) = match self.0 {
            Repr::Small(v) => (Some(v.into_iter().map(|e| e.1)), None),
            Repr::Big(m) => (None, Some(m.into_values())),
        };
        small.into_iter().flatten().chain(big.into_iter().flatten())
    }

    /// The first key.
    #[must_use]
    pub fn first_key(&self) -> Option<u64> {
        self.iter().next().map(|e| *e.0)
    }

    /// The last key.
    #[must_use]
    pub fn last_key(&self) -> Option<u64> {
        self.iter().next_back().map(|e| *e.0)
    }

    /// Removes every entry with a key below `key`.
    pub fn remove_below(&mut self, key: u64) {
        drop(self.take_below(key));
    }

    /// Removes the entries with a key below `key` and returns them as a map;
    /// allocates nothing when either side is empty.
    #[must_use]
    pub fn take_below(&mut self, key: u64) -> PieceMap<V> {
        if self.first_key().is_none_or(|k| k >= key) {
            return PieceMap::new();
        }
        if self.last_key().is_some_and(|k| k < key) {
            return std::mem::take(self);
        }
        match &mut self.0 {
            Repr::Small(v) => {
                let n = v.partition_point(|e| e.0 < key);
                let rest = v.split_off(n);
                PieceMap(Repr::Small(std::mem::replace(v, rest)))
            }
            Repr::Big(m) => {
                let rest = m.split_off(&key);
                PieceMap(Repr::Big(std::mem::replace(m, rest)))
            }
        }
    }

    /// Removes every entry with a key at or above `key`.
    pub fn remove_from(&mut self, key: u64) {
        if self.first_key().is_some_and(|k| k >= key) {
            *self = PieceMap::new();
            return;
        }
        match &mut self.0 {
            Repr::Small(v) => {
                let n = v.partition_point(|e| e.0 < key);
                v.truncate(n);
            }
            Repr::Big(m) => drop(m.split_off(&key)),
        }
    }

    /// Heap bytes of the map's own storage (not of what values point to).
    #[must_use]
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(u64, V)>();
        match &self.0 {
            Repr::Small(v) => v.capacity() * entry,
            // A node holds up to 11 entries and is about 2/3 full.
            Repr::Big(m) => m.len() * entry * 3 / 2,
        }
    }
}

impl<'a, V> IntoIterator for &'a PieceMap<V> {
    type Item = (&'a u64, &'a V);
    type IntoIter = Iter<'a, V>;

    fn into_iter(self) -> Iter<'a, V> {
        self.iter()
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
            PieceMap(Repr::Small(v))
        } else {
            PieceMap(Repr::Big(v.into_iter().collect()))
        }
    }
}

/// Entries of a [`PieceMap`], ascending.
pub struct Iter<'a, V>(IterRepr<'a, V>);

enum IterRepr<'a, V> {
    Small(std::slice::Iter<'a, (u64, V)>),
    Big(btree_map::Range<'a, u64, V>),
}

impl<'a, V> Iterator for Iter<'a, V> {
    type Item = (&'a u64, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Small(it) => it.next().map(|(k, v)| (k, v)),
            IterRepr::Big(it) => it.next(),
        }
    }
}

impl<V> DoubleEndedIterator for Iter<'_, V> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Small(it) => it.next_back().map(|(k, v)| (k, v)),
            IterRepr::Big(it) => it.next_back(),
        }
    }
}

/// Entries of a [`PieceMap`], ascending, values mutable.
pub struct IterMut<'a, V>(IterMutRepr<'a, V>);

enum IterMutRepr<'a, V> {
    Small(std::slice::IterMut<'a, (u64, V)>),
    Big(btree_map::RangeMut<'a, u64, V>),
}

impl<'a, V> Iterator for IterMut<'a, V> {
    type Item = (&'a u64, &'a mut V);

    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterMutRepr::Small(it) => it.next().map(|(k, v)| (&*k, v)),
            IterMutRepr::Big(it) => it.next(),
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
        TakeBelow(u64),
        Remove(u64),
        Bump(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u64..40, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            1 => (0u64..40).prop_map(Op::RemoveBelow),
            1 => (0u64..40).prop_map(Op::RemoveFrom),
            1 => (0u64..40).prop_map(Op::TakeBelow),
            1 => (0u64..40).prop_map(Op::Remove),
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
                    Op::TakeBelow(k) => {
                        let taken: Vec<_> = ours.take_below(k).into_values().collect();
                        let rest = oracle.split_off(&k);
                        let want: Vec<_> = std::mem::replace(&mut oracle, rest).into_values().collect();
                        prop_assert_eq!(taken, want);
                    }
                    Op::Remove(k) => prop_assert_eq!(ours.remove(k), oracle.remove(&k)),
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
        assert!(matches!(m.0, Repr::Big(_)));
        m.remove_below(100);
        assert!(matches!(m.0, Repr::Small(ref v) if v.capacity() == 0), "emptied: nodes freed");
    }
}
