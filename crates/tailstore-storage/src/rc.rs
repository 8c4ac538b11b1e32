//! The histogram codec of chunk payloads: an adaptive binary range coder
//! (the LZMA design: 11-bit probabilities, shift-4 adaptation, carry via a
//! cached byte) over a model of the `(gap, count)` sequence of a sparse
//! histogram.
//!
//! The model: each gap (`index - previous index - 1`) and each `count - 1`
//! is binarised as Exp-Golomb (a unary length prefix, then the bits below
//! the leading one), every prefix bit and the first two suffix bits with an
//! adaptive probability. Gaps use one of four context sets chosen by the
//! size class of the previous gap, counts one of four chosen by the
//! previous count: the centre of a latency distribution (gap 0, growing
//! counts) and its tails (long gaps, count 1) get their own statistics.
//! On lognormal traffic this spends ~3.5 bits per non-empty bucket, close to
//! the entropy of the histogram, where varint pairs + zstd spend ~7.
//!
//! The decoder never panics: reads past the end yield zeros and set an
//! overrun flag that makes the whole histogram an error; every loop is
//! bounded by the declared bucket count and by 64-bit lengths.

const PROB_BITS: u32 = 11;
const PROB_ONE: u32 = 1 << PROB_BITS;
const MOVE_BITS: u32 = 4;
const TOP: u32 = 1 << 24;
const HALF: u16 = (PROB_ONE / 2) as u16;

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
    fn bit(&mut self, p: &mut u16, b: bool) {
        let bound = (self.range >> PROB_BITS) * u32::from(*p);
        if b {
            self.low += u64::from(bound);
            self.range -= bound;
            *p -= *p >> MOVE_BITS;
        } else {
            self.range = bound;
            *p += ((PROB_ONE - u32::from(*p)) >> MOVE_BITS) as u16;
        }
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
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
        for _ in 0..5 {
            self.shift_low();
        }
        self.out
    }
}

struct Decoder<'a> {
    data: &'a [u8],
    pos: usize,
    range: u32,
    code: u32,
    overrun: bool,
}

impl<'a> Decoder<'a> {
    fn new(data: &'a [u8]) -> Decoder<'a> {
        let mut d = Decoder { data, pos: 0, range: u32::MAX, code: 0, overrun: false };
        // The encoder's first byte is always 0 (the initial cache).
        if d.next_byte() != 0 {
            d.overrun = true;
        }
        for _ in 0..4 {
            d.code = (d.code << 8) | u32::from(d.next_byte());
        }
        d
    }

    fn next_byte(&mut self) -> u8 {
        match self.data.get(self.pos) {
            Some(b) => {
                self.pos += 1;
                *b
            }
            None => {
                self.overrun = true;
                0
            }
        }
    }

    #[inline]
    fn bit(&mut self, p: &mut u16) -> bool {
        let bound = (self.range >> PROB_BITS) * u32::from(*p);
        let b = if self.code < bound {
            self.range = bound;
            *p += ((PROB_ONE - u32::from(*p)) >> MOVE_BITS) as u16;
            false
        } else {
            self.code -= bound;
            self.range -= bound;
            *p -= *p >> MOVE_BITS;
            true
        };
        while self.range < TOP {
            self.range <<= 8;
            self.code = (self.code << 8) | u32::from(self.next_byte());
        }
        b
    }
}

/// Adaptive Exp-Golomb model of unsigned integers.
#[derive(Clone)]
struct UintModel {
    prefix: [u16; 65],
    suffix: [[u16; 3]; 65],
}

impl UintModel {
    fn new() -> UintModel {
        UintModel { prefix: [HALF; 65], suffix: [[HALF; 3]; 65] }
    }

    fn encode(&mut self, e: &mut Encoder, v: u64) {
        // x >= 1; k = bit length of x (1 ..= 65). A prefix of 64 ones has
        // no terminating zero: 65 is the largest length.
        let x = u128::from(v) + 1;
        let k = (128 - x.leading_zeros()) as usize;
        for i in 0..k - 1 {
            e.bit(&mut self.prefix[i], true);
        }
        if k - 1 < 64 {
            e.bit(&mut self.prefix[k - 1], false);
        }
        // The k - 1 bits below the leading one, most significant first.
        let mut node = 0usize;
        for j in (0..k - 1).rev() {
            let b = (x >> j) & 1 == 1;
            let depth = k - 2 - j;
            if depth < 2 {
                e.bit(&mut self.suffix[k - 1][node], b);
                node = 1 + node * 2 + usize::from(b);
                node = node.min(2);
            } else {
                let mut p = HALF;
                e.bit(&mut p, b);
            }
        }
    }

    fn decode(&mut self, d: &mut Decoder<'_>) -> Option<u64> {
        let mut k = 1usize;
        while k < 65 && d.bit(&mut self.prefix[k - 1]) {
            k += 1;
        }
        let mut x: u128 = 1;
        let mut node = 0usize;
        for depth in 0..k - 1 {
            let b = if depth < 2 {
                let b = d.bit(&mut self.suffix[k - 1][node]);
                node = (1 + node * 2 + usize::from(b)).min(2);
                b
            } else {
                let mut p = HALF;
                d.bit(&mut p)
            };
            x = (x << 1) | u128::from(b);
        }
        u64::try_from(x - 1).ok()
    }
}

fn class(v: u64) -> usize {
    match v {
        0 => 0,
        1..=2 => 1,
        3..=6 => 2,
        _ => 3,
    }
}

/// Range-codes `(index, count)` pairs (ascending indices, counts >= 1).
pub fn encode_hist(pairs: impl Iterator<Item = (u32, u64)>) -> Vec<u8> {
    let mut e = Encoder::new();
    let mut gaps = vec![UintModel::new(); 4];
    let mut counts = vec![UintModel::new(); 4];
    let (mut next, mut prev_gap, mut prev_count) = (0u64, 0u64, 1u64);
    for (i, c) in pairs {
        let gap = u64::from(i) - next;
        gaps[class(prev_gap)].encode(&mut e, gap);
        counts[class(prev_count - 1)].encode(&mut e, c - 1);
        next = u64::from(i) + 1;
        prev_gap = gap;
        prev_count = c;
    }
    e.finish()
}

/// Decodes `buckets` pairs for a layout of `len` buckets; `None` on any
/// inconsistency (index past the layout, count overflow, truncated input).
pub fn decode_hist(bytes: &[u8], buckets: u64, len: usize) -> Option<Vec<(u32, u64)>> {
    // Each bucket costs at least a few bits; this also bounds the allocation.
    if buckets > len as u64 {
        return None;
    }
    let mut d = Decoder::new(bytes);
    let mut gaps = vec![UintModel::new(); 4];
    let mut counts = vec![UintModel::new(); 4];
    let (mut next, mut prev_gap, mut prev_count) = (0u64, 0u64, 1u64);
    let mut out = Vec::with_capacity(buckets as usize);
    for _ in 0..buckets {
        let gap = gaps[class(prev_gap)].decode(&mut d)?;
        let c = counts[class(prev_count - 1)].decode(&mut d)?.checked_add(1)?;
        let idx = next.checked_add(gap).filter(|i| *i < len as u64)?;
        // idx < len <= u32::MAX.
        out.push((idx as u32, c));
        next = idx + 1;
        prev_gap = gap;
        prev_count = c;
        if d.overrun {
            return None;
        }
    }
    (!d.overrun).then_some(out)
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
                pairs.push((idx as u32, 1 + (x >> 20) % 40));
                idx += 1;
            }
            let bytes = encode_hist(pairs.iter().copied());
            assert_eq!(decode_hist(&bytes, n as u64, 1 << 20).unwrap(), pairs, "n {n}");
        }
    }
}
