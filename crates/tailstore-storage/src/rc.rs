//! The histogram codec of chunk payloads: an adaptive binary range coder
//! (the LZMA design: carry via a cached byte, 32-bit range) over a model of
//! the `(gap, count)` sequence of a sparse histogram.
//!
//! The model: each gap (`index - previous index - 1`) and each `count - 1`
//! is binarised as Exp-Golomb (a unary length prefix, then the bits below
//! the leading one), every prefix bit and the first two suffix bits with an
//! adaptive probability. A probability learns at a falling rate: its `n`-th
//! update moves it by `1 / min(n + 2, 24)` of the way to the bit seen, so it
//! is the running frequency of its first bits (little to learn on one
//! second's few hundred buckets) and then tracks the last ~24 (the density
//! changes along the histogram). On lognormal traffic this spends within
//! ~8 % of the entropy of the histogram (see `docs/BENCHMARKS.md`), where
//! varint pairs + zstd spend twice that.
//!
//! Output: the encoder's always-zero first byte is not written, the final
//! code value is the one with the most trailing zero bits in the last range,
//! and the zero bytes the flush ends with are dropped (at most 5); the
//! decoder reads zeros past the end (at most 8).
//! The decoder never panics: every loop is bounded by the declared bucket
//! count and by 65-bit lengths; bad input decodes to an error (index past
//! the layout, count overflow, too many zero bytes) or to numbers that the
//! chunk CRC has already vouched for.

/// Bits of a probability: `p / 2^PROB_BITS` is the probability of a zero.
const PROB_BITS: u32 = 15;
const PROB_ONE: u32 = 1 << PROB_BITS;
/// Probabilities stay in `[PROB_MIN, PROB_ONE - PROB_MIN]`.
const PROB_MIN: u32 = 31;
/// The slowest adaptation rate is `1 / RATE_LIMIT`.
const RATE_LIMIT: u32 = 24;
const TOP: u32 = 1 << 24;
/// Trailing zero bytes of the flush the encoder drops, at most.
const FLUSH_TRIM: usize = 5;
/// Zero bytes the decoder may read past the end before the input is
/// declared truncated: the dropped flush bytes, and the decoder's look-ahead.
const MAX_PAD: usize = 8;

/// One adaptive probability and how many bits it has seen (capped).
#[derive(Clone, Copy)]
struct Prob {
    p: u16,
    n: u8,
}

impl Prob {
    const NEW: Prob = Prob { p: 1 << (PROB_BITS - 1), n: 0 };

    #[inline]
    fn update(&mut self, b: bool) {
        let d = (u32::from(self.n) + 2).min(RATE_LIMIT);
        let p = u32::from(self.p);
        let p = if b { p - p / d } else { p + (PROB_ONE - p) / d };
        // In [PROB_MIN, PROB_ONE - PROB_MIN] < 2^15: fits u16.
        self.p = p.clamp(PROB_MIN, PROB_ONE - PROB_MIN) as u16;
        if u32::from(self.n) + 2 < RATE_LIMIT {
            self.n += 1;
        }
    }
}

struct Encoder {
    low: u64,
    range: u32,
    cache: u8,
    cache_size: u64,
    out: Vec<u8>,
}

impl Encoder {
    fn new() -> Encoder {
        Encoder { low: 0, range: u32::MAX, cache: 0, cache_size: 1, out: Vec::new() }
    }

    #[inline]
    fn bit(&mut self, p: &mut Prob, b: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(p.p);
        if b {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        p.update(b);
        self.normalize();
    }

    /// A bit with probability one half.
    #[inline]
    fn direct(&mut self, b: bool) {
        self.range >>= 1;
        if b {
            self.low += u64::from(self.range);
        }
        self.normalize();
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "low < 2^33 (a 32-bit value plus one bound below 2^32): the carry is 0 or 1"
            )]
            let carry = (self.low >> 32) as u8;
            let mut temp = self.cache;
            loop {
                self.out.push(temp.wrapping_add(carry));
                temp = 0xFF;
                self.cache_size -= 1;
                if self.cache_size == 0 {
                    break;
                }
            }
            self.cache = ((self.low >> 24) & 0xFF) as u8;
        }
        self.cache_size += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    fn finish(mut self) -> Vec<u8> {
        // Any value in [low, low + range) decodes the same: take the one
        // with the most trailing zero bits, so that most flush bytes are 0.
        let hi = self.low + u64::from(self.range) - 1;
        for shift in (0..32).rev() {
            let mask = (1u64 << shift) - 1;
            let v = (self.low + mask) & !mask;
            if v <= hi {
                self.low = v;
                break;
            }
        }
        for _ in 0..5 {
            self.shift_low();
        }
        let mut out = self.out;
        // The first byte is the initial cache, always 0: not stored.
        out.remove(0);
        // Zero bytes at the end of the flush are not stored (the decoder
        // reads zeros past the end). Only the flush's bytes: zeros before it
        // are data, and the decoder's bound on padding must hold.
        for _ in 0..FLUSH_TRIM {
            if out.last() != Some(&0) {
                break;
            }
            out.pop();
        }
        out
    }
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8]) -> Decoder<'a> {
        let mut d = Decoder { data, pos: 0, range: u32::MAX, code: 0 };
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    /// More zero bytes were read past the end than a flush can have dropped.
    fn overrun(&self) -> bool {
        self.pos > self.data.len() + MAX_PAD
    }

    #[inline]
    fn bit(&mut self, p: &mut Prob) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(p.p);
        let b = if self.code < bound {
            self.range = bound;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            true
        };
        p.update(b);
        self.normalize();
        b
    }

    #[inline]
    fn direct(&mut self) -> bool {
        self.range >>= 1;
        let b = self.code >= self.range;
        if b {
            self.code -= self.range;
        }
        self.normalize();
        b
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.next_byte());
        }
    }
}

/// Adaptive Exp-Golomb model of unsigned integers.
#[derive(Clone)]
struct UintModel {
    /// Prefix bit `i` (a one for every length above `i + 1`); a prefix of
    /// 64 ones has no terminating zero, so 64 probabilities.
    prefix: [Prob; 64],
    /// Per length `k` (1 ..= 65), at `k - 1`: the first suffix bit, then the
    /// second after a zero and after a one.
    suffix: [[Prob; 3]; 65],
}

impl UintModel {
    fn new() -> UintModel {
        UintModel { prefix: [Prob::NEW; 64], suffix: [[Prob::NEW; 3]; 65] }
    }

    #[expect(
        clippy::many_single_char_names,
        reason = "x, k, j, b are the terms of the Exp-Golomb binarisation in the module doc"
    )]
    fn encode(&mut self, e: &mut Encoder, v: u64) {
        // x >= 1; k = bit length of x (1 ..= 65). A prefix of 64 ones has
        // no terminating zero: 65 is the largest length.
        let x = u128::from(v) + 1;
        let k = (128 - x.leading_zeros()) as usize;
        for prob in self.prefix.iter_mut().take(k - 1) {
            e.bit(prob, true);
        }
        // None when k - 1 = 64: no terminating zero.
        if let Some(prob) = self.prefix.get_mut(k - 1) {
            e.bit(prob, false);
        }
        #[expect(
            clippy::indexing_slicing,
            reason = "k <= 65, the bit length of u64::MAX + 1: in range of the 65 rows"
        )]
        let row = &mut self.suffix[k - 1];
        // The k - 1 bits below the leading one, most significant first.
        let mut node = 0usize;
        for j in (0..k - 1).rev() {
            let b = (x >> j) & 1 == 1;
            let depth = k - 2 - j;
            if depth < 2 {
                #[expect(
                    clippy::indexing_slicing,
                    reason = "node <= 2 (the min(2) below, or 0): in range of a row of 3"
                )]
                let prob = &mut row[node];
                e.bit(prob, b);
                node = (1 + node * 2 + usize::from(b)).min(2);
            } else {
                e.direct(b);
            }
        }
    }

    fn decode(&mut self, d: &mut Decoder<'_>) -> Option<u64> {
        // One more than the prefix's ones: 1 ..= 65.
        let mut k = 1usize;
        for prob in &mut self.prefix {
            if !d.bit(prob) {
                break;
            }
            k += 1;
        }
        // Always Some: k <= 65, one more than the 64 prefix bits.
        let row = self.suffix.get_mut(k - 1)?;
        let mut x: u128 = 1;
        let mut node = 0usize;
        for depth in 0..k - 1 {
            let b = if depth < 2 {
                #[expect(
                    clippy::indexing_slicing,
                    reason = "node <= 2 (the min(2) below, or 0): in range of a row of 3"
                )]
                let prob = &mut row[node];
                let b = d.bit(prob);
                node = (1 + node * 2 + usize::from(b)).min(2);
                b
            } else {
                d.direct()
            };
            x = (x << 1) | u128::from(b);
        }
        u64::try_from(x - 1).ok()
    }
}

/// Range-codes `(index, count)` pairs (ascending indices, counts >= 1).
pub fn encode_hist(pairs: impl Iterator<Item = (u32, u64)>) -> Vec<u8> {
    let mut e = Encoder::new();
    let mut gaps = UintModel::new();
    let mut counts = UintModel::new();
    let mut next = 0u64;
    for (i, c) in pairs {
        gaps.encode(&mut e, u64::from(i) - next);
        counts.encode(&mut e, c - 1);
        next = u64::from(i) + 1;
    }
    e.finish()
}

/// Decodes `buckets` pairs for a layout of `len` buckets; `None` on any
/// inconsistency (index past the layout, count overflow, truncated input).
pub fn decode_hist(bytes: &[u8], buckets: u64, len: usize) -> Option<Vec<(u32, u64)>> {
    // Each bucket has its own index: this also bounds the allocation.
    let buckets = usize::try_from(buckets).ok().filter(|b| *b <= len)?;
    let mut d = Decoder::new(bytes);
    let mut gaps = UintModel::new();
    let mut counts = UintModel::new();
    let mut next = 0u64;
    let mut out = Vec::with_capacity(buckets);
    for _ in 0..buckets {
        let gap = gaps.decode(&mut d)?;
        let c = counts.decode(&mut d)?.checked_add(1)?;
        let idx = next.checked_add(gap).filter(|i| *i < len as u64)?;
        // idx < len <= u32::MAX (a layout counts its buckets in a u32): always Some.
        out.push((u32::try_from(idx).ok()?, c));
        next = idx + 1;
        if d.overrun() {
            return None;
        }
    }
    (!d.overrun()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_edge_values() {
        let pairs = vec![(0u32, 1u64), (1, u64::MAX), (5, 2), (1_000_000, 1), (u32::MAX - 1, 7)];
        let bytes = encode_hist(pairs.iter().copied());
        assert_eq!(decode_hist(&bytes, pairs.len() as u64, u32::MAX as usize).unwrap(), pairs);
        assert!(decode_hist(&bytes, pairs.len() as u64, 1_000).is_none(), "index beyond layout");
        for cut in 0..bytes.len() {
            // Truncation is an error (or, rarely, decodes to something that
            // is then checked by the caller's totals); never a panic.
            let _ = decode_hist(&bytes[..cut], pairs.len() as u64, u32::MAX as usize);
        }
        assert_eq!(decode_hist(&encode_hist(std::iter::empty()), 0, 10).unwrap(), vec![]);
    }

    #[test]
    fn roundtrip_many_shapes() {
        let mut x = 12345u64;
        for n in [1usize, 2, 10, 700, 5000] {
            let mut pairs = Vec::new();
            let mut idx = 0u64;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                idx += x % 5;
                pairs.push((u32::try_from(idx).unwrap(), 1 + (x >> 20) % 40));
                idx += 1;
            }
            let bytes = encode_hist(pairs.iter().copied());
            assert_eq!(decode_hist(&bytes, n as u64, 1 << 20).unwrap(), pairs, "n {n}");
        }
        // Long runs of very likely bits make zero bytes in the middle and at
        // the end of the data, before the flush: they must be kept.
        for n in [100u32, 5_000, 40_000] {
            let pairs: Vec<(u32, u64)> = (0..n).map(|i| (i, 1)).collect();
            let bytes = encode_hist(pairs.iter().copied());
            assert_eq!(decode_hist(&bytes, n.into(), 1 << 20).unwrap(), pairs, "run of {n}");
        }
    }
}
