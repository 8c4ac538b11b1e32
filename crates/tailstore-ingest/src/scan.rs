//! Byte searches tuned for the short spans of a log line (a CSV cell, a JSON
//! key): the first bytes are checked eight at a time in a `u64` (no call,
//! no dispatch), and only a longer span is handed to `memchr`.

use memchr::memchr2;

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// How far the word-at-a-time loop goes before `memchr2` takes over.
const SHORT: usize = 32;

/// The high bit of each byte of `v` that is zero. Bits above the lowest
/// zero byte may be false positives, so only the lowest set bit is used.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: csv 63.5 -> 70.3 ns/line, nginx 135 -> 138.5, jsonl 96.7 -> 97.7 (rustc 1.95)"
)]
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(LO) & !v & HI
}

/// The eight bytes of `hay` from `at` (little-endian), if there are eight.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: csv 63.5 -> 70.3 ns/line, nginx 135 -> 138.5, jsonl 96.7 -> 97.7 (rustc 1.95)"
)]
pub(crate) fn load8(hay: &[u8], at: usize) -> Option<u64> {
    let w = <[u8; 8]>::try_from(hay.get(at..at + 8)?).ok()?;
    Some(u64::from_le_bytes(w))
}

/// The index of the first `a` or `b` in `hay` (same answer as `memchr2`).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: csv 63.5 -> 70.3 ns/line, nginx 135 -> 138.5, jsonl 96.7 -> 97.7 (rustc 1.95)"
)]
pub(crate) fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let (pa, pb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = 0usize;
    while i < SHORT {
        let Some(word) = hay.get(i..i + 8).and_then(|w| <[u8; 8]>::try_from(w).ok()) else {
            break;
        };
        let w = u64::from_le_bytes(word);
        let hits = zero_bytes(w ^ pa) | zero_bytes(w ^ pb);
        if hits != 0 {
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let rest = hay.get(i..).unwrap_or_default();
    if rest.len() < 8 {
        rest.iter().position(|&c| c == a || c == b).map(|k| i + k)
    } else {
        memchr2(a, b, rest).map(|k| i + k)
    }
}

/// The index of the first `"` in `hay` when no `\\` comes before it (the
/// end of a JSON string without escapes); `None` for a backslash first or
/// no quote at all. As `find2(b'"', b'\\', hay)` followed by a look at the
/// byte found, without the second look.
#[inline(always)]
pub(crate) fn unescaped_quote(hay: &[u8]) -> Option<usize> {
    const QUOTES: u64 = LO * b'"' as u64;
    const BACKSLASHES: u64 = LO * b'\\' as u64;
    let mut i = 0usize;
    while i < SHORT {
        let Some(w) = load8(hay, i) else {
            break;
        };
        let quote = zero_bytes(w ^ QUOTES);
        let any = quote | zero_bytes(w ^ BACKSLASHES);
        if any != 0 {
            // The lowest flagged byte is a true match; it is a quote when
            // the quote mask flags it (its lowest flag, so a true one).
            let lowest = any & any.wrapping_neg();
            return (quote & lowest != 0).then(|| i + (lowest.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    let k = i + find2(b'"', b'\\', hay.get(i..)?)?;
    (hay.get(k) == Some(&b'"')).then_some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find2_agrees_with_memchr2() {
        let mut hay = Vec::new();
        for len in 0..80 {
            for at in 0..=len {
                for (x, y) in [(b',', b'"'), (b'"', b'\\')] {
                    hay.clear();
                    hay.resize(len, b'a');
                    // High bytes and neighbours of the needles must not match.
                    for (k, c) in hay.iter_mut().enumerate() {
                        *c = [b'a', 0x80, 0xff, x.wrapping_add(1), x.wrapping_sub(1), 0][k % 6];
                    }
                    if let Some(c) = hay.get_mut(at) {
                        *c = if at % 2 == 0 { x } else { y };
                    }
                    if let Some(c) = hay.get_mut(at + 3) {
                        *c = y;
                    }
                    assert_eq!(find2(x, y, &hay), memchr2(x, y, &hay), "{hay:?}");
                    let end = memchr2(b'"', b'\\', &hay).filter(|&k| hay[k] == b'"');
                    assert_eq!(unescaped_quote(&hay), end, "{hay:?}");
                }
            }
        }
    }
}
