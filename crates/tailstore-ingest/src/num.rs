//! Exact decimal parsing: text numbers to integer nanoseconds, status codes,
//! and nginx upstream time lists.
//!
//! No floating point: `0.138` seconds is exactly 138 000 000 ns. Digits past
//! nanosecond resolution are truncated (floor), as are significant digits past
//! the 19th (far below a nanosecond for any real latency or timestamp).

use std::borrow::Cow;
use std::fmt;

/// Nanoseconds per second.
pub(crate) const NS_PER_S: u64 = 1_000_000_000;
/// Nanoseconds per millisecond.
pub(crate) const NS_PER_MS: u64 = 1_000_000;
/// Nanoseconds per microsecond.
pub(crate) const NS_PER_US: u64 = 1_000;

/// Why a number did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NumError {
    /// Nothing to parse.
    Empty,
    /// A minus sign in front of a non-zero value.
    Negative,
    /// Not a decimal number.
    Invalid,
    /// The scaled value does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for NumError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NumError::Empty => "empty number",
            NumError::Negative => "negative value",
            NumError::Invalid => "not a decimal number",
            NumError::Overflow => "value too large",
        })
    }
}

/// Mantissas stop taking digits at this value, so `mantissa < 10^19` and
/// `mantissa * unit_ns < 10^19 * 10^9 < u128::MAX`.
const MANTISSA_CAP: u128 = 1_000_000_000_000_000_000;

/// Powers of ten that fit in a `u64`.
const POW10: [u64; 20] = {
    let mut t = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Parses a non-negative decimal number (`12`, `0.138`, `.5`, `1.1E7`, `+3`)
/// and returns `floor(value * unit_ns)`.
///
/// `-0`, `-0.000` are accepted as zero; any other leading `-` is
/// [`NumError::Negative`]. The whole input must be the number.
///
/// Plain `digits[.digits]` numbers of at most 19 digits (every timestamp and
/// latency in practice) take a 64-bit fast path; everything else (exponents,
/// longer digit strings, errors, overflow) goes to the general parser, whose
/// result the fast path equals exactly (see the tests).
#[inline]
pub(crate) fn decimal_scaled(s: &[u8], unit_ns: u64) -> Result<u64, NumError> {
    match decimal_scaled_fast(s, unit_ns) {
        Some(r) => r,
        None => decimal_scaled_general(s, unit_ns),
    }
}

/// The fast path of [`decimal_scaled`]: `[+-]digits[.digits]` with 1 to 19
/// digits in all and a result that fits in 64 bits. `None` means "ask the
/// general parser" (never a different answer).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn decimal_scaled_fast(s: &[u8], unit_ns: u64) -> Option<Result<u64, NumError>> {
    scale_plain(plain_decimal(s)?, unit_ns)
}

/// [`decimal_scaled_fast`] on an already read number; `None` on overflow.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn scale_plain(d: PlainDecimal, unit_ns: u64) -> Option<Result<u64, NumError>> {
    if d.neg {
        return Some(if d.int == 0 && d.frac == 0 { Ok(0) } else { Err(NumError::Negative) });
    }
    // floor((int * 10^f + frac) * unit / 10^f) = int * unit + floor(frac * unit / 10^f).
    let frac_part = frac_scaled(d.frac, d.frac_digits, unit_ns)?;
    Some(Ok(d.int.checked_mul(unit_ns)?.checked_add(frac_part)?))
}

/// A number of the form `[+-]digits[.digits]` with 1 to 19 digits in all,
/// as [`plain_decimal`] reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlainDecimal {
    /// A leading `-`.
    pub(crate) neg: bool,
    /// The digits before the point.
    pub(crate) int: u64,
    /// The digits after the point, as an integer.
    pub(crate) frac: u64,
    /// How many digits follow the point.
    pub(crate) frac_digits: usize,
}

/// Reads `[+-]digits[.digits]` with 1 to 19 digits in all (`5.` and `.5`
/// included); `None` for anything else. Nineteen digits always fit in a
/// `u64`, and the general parser keeps all of them (no truncation), so
/// results built from this are exact and equal its results.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn plain_decimal(s: &[u8]) -> Option<PlainDecimal> {
    match plain_decimal_prefix(s) {
        (d, n) if n == s.len() => d,
        _ => None,
    }
}

/// Reads the longest prefix of `s` of the form `[+-]digits[.digits]` (the
/// digits may be missing) and returns its length, with the number when it
/// is one [`plain_decimal`] accepts (1 to 19 digits, at most 20 bytes after
/// the sign).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn plain_decimal_prefix(s: &[u8]) -> (Option<PlainDecimal>, usize) {
    let (neg, sign, body) = match s {
        [b'-', rest @ ..] => (true, 1, rest),
        [b'+', rest @ ..] => (false, 1, rest),
        _ => (false, 0, s),
    };
    let (int, int_digits, rest) = leading_digits(body);
    let (frac, frac_digits, used) = match rest {
        [b'.', tail @ ..] => {
            let (frac, n, _) = leading_digits(tail);
            (frac, n, int_digits + 1 + n)
        }
        _ => (0, 0, int_digits),
    };
    // At most 19 digits: the general parser keeps them all in its mantissa
    // (no truncation), and neither `int` nor `frac` has wrapped.
    let digits = int_digits + frac_digits;
    let ok = (1..=19).contains(&digits) && used <= 20;
    (ok.then_some(PlainDecimal { neg, int, frac, frac_digits }), sign + used)
}

/// The value of eight ASCII digits at the start of `s` (the first digit
/// most significant), computed in one `u64`; `None` unless all eight are
/// digits.
#[inline(always)]
fn eight_digits(s: &[u8]) -> Option<u64> {
    const NIBBLE_HI: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    let w = u64::from_le_bytes(<[u8; 8]>::try_from(s.get(..8)?).ok()?);
    // A byte is a digit when its high nibble is 3 and stays 3 after adding
    // 6 (0x30..=0x39). A carry out of a byte only comes from a byte of
    // 0xFA or more, which fails the first test itself.
    let hi = w & NIBBLE_HI;
    let hi6 = (w.wrapping_add(0x0606_0606_0606_0606) & NIBBLE_HI) >> 4;
    if hi | hi6 != 0x3333_3333_3333_3333 {
        return None;
    }
    // Byte k holds digit k (0..=9); fold neighbours: 2, 4 then 8 digits.
    let v = w - 0x3030_3030_3030_3030;
    let v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    let v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    Some((v * 10_000 + (v >> 32)) & 0xFFFF_FFFF)
}

/// The leading ASCII digits of `s`: their value (wrapping past 19 digits),
/// their count, and the rest of `s`.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
fn leading_digits(mut s: &[u8]) -> (u64, usize, &[u8]) {
    let mut v = 0u64;
    let mut n = 0usize;
    while let Some(eight) = eight_digits(s) {
        v = v.wrapping_mul(100_000_000).wrapping_add(eight);
        n += 8;
        s = s.get(8..).unwrap_or_default();
    }
    while let [c, rest @ ..] = s {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        v = v.wrapping_mul(10).wrapping_add(u64::from(d));
        n += 1;
        s = rest;
    }
    (v, n, s)
}

/// `floor(frac * unit / 10^f)` for `frac < 10^f`; `None` on overflow.
/// Units that are powers of ten (all of this crate's) need no division
/// unless `f` exceeds their exponent.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn frac_scaled(frac: u64, f: usize, unit: u64) -> Option<u64> {
    let exp = match unit {
        NS_PER_S => Some(9),
        NS_PER_MS => Some(6),
        NS_PER_US => Some(3),
        1 => Some(0),
        _ => None,
    };
    match exp {
        Some(k) if f <= k => frac.checked_mul(*POW10.get(k - f)?),
        Some(k) => Some(frac / *POW10.get(f - k)?),
        None => {
            // Cancel common factors of ten, then divide what is left.
            let (mut unit, mut f) = (unit, f);
            while f > 0 && unit % 10 == 0 {
                unit /= 10;
                f -= 1;
            }
            Some(frac.checked_mul(unit)? / *POW10.get(f)?)
        }
    }
}

/// The general decimal parser behind [`decimal_scaled`] (any form it accepts).
pub(crate) fn decimal_scaled_general(s: &[u8], unit_ns: u64) -> Result<u64, NumError> {
    let (neg, body) = match s.split_first() {
        None => return Err(NumError::Empty),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, s),
    };
    let mut mantissa: u128 = 0;
    // Decimal exponent applied to the mantissa. Bounded by the input length
    // (at most a few hundred thousand) plus the clamped exponent below, so it
    // cannot overflow an i64.
    let mut exp10: i64 = 0;
    let mut digits = 0usize;
    let mut i = 0usize;
    while let Some(&c) = body.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        if mantissa < MANTISSA_CAP {
            mantissa = mantissa * 10 + u128::from(c - b'0');
        } else {
            exp10 += 1;
        }
        digits += 1;
        i += 1;
    }
    if body.get(i) == Some(&b'.') {
        i += 1;
        while let Some(&c) = body.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            if mantissa < MANTISSA_CAP {
                mantissa = mantissa * 10 + u128::from(c - b'0');
                exp10 -= 1;
            }
            digits += 1;
            i += 1;
        }
    }
    if digits == 0 {
        return Err(if body.is_empty() { NumError::Empty } else { NumError::Invalid });
    }
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        let exp_neg = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let mut e: i64 = 0;
        let start = i;
        while let Some(&c) = body.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            // Clamp: anything past 10^6 is already far outside u64 either way.
            e = (e * 10 + i64::from(c - b'0')).min(1_000_000);
            i += 1;
        }
        if i == start {
            return Err(NumError::Invalid);
        }
        exp10 += if exp_neg { -e } else { e };
    }
    if i != body.len() {
        return Err(NumError::Invalid);
    }
    if mantissa == 0 {
        return Ok(0);
    }
    if neg {
        return Err(NumError::Negative);
    }
    // mantissa < 10^19 and unit_ns < 2^64, so the product fits in u128.
    let mut v = mantissa * u128::from(unit_ns);
    if exp10 >= 0 {
        for _ in 0..exp10 {
            v = v.checked_mul(10).ok_or(NumError::Overflow)?;
            if v > u128::from(u64::MAX) {
                return Err(NumError::Overflow);
            }
        }
    } else {
        for _ in 0..exp10.unsigned_abs() {
            v /= 10;
            if v == 0 {
                break;
            }
        }
    }
    u64::try_from(v).map_err(|_| NumError::Overflow)
}

/// Parses a decimal number of seconds into nanoseconds.
#[inline]
pub(crate) fn seconds_ns(s: &[u8]) -> Result<u64, NumError> {
    decimal_scaled(s, NS_PER_S)
}

/// A status of exactly three ASCII digits (the common case of [`status`]).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn three_digits(s: &[u8]) -> Option<u16> {
    let [a, b, c] = *s else {
        return None;
    };
    let (a, b, c) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'), c.wrapping_sub(b'0'));
    (a <= 9 && b <= 9 && c <= 9).then(|| u16::from(a) * 100 + u16::from(b) * 10 + u16::from(c))
}

/// Parses an HTTP status: `-` or 0 (no response) is 0, otherwise 100 to
/// 999; 1 to 99 is not an HTTP status and is an error.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn status(s: &[u8]) -> Result<u16, String> {
    match three_digits(s) {
        Some(v) if v >= 100 => Ok(v),
        _ => status_general(s),
    }
}

/// [`status`] for any text (the general part).
#[inline(never)]
pub(crate) fn status_general(s: &[u8]) -> Result<u16, String> {
    if s == b"-" {
        return Ok(0);
    }
    if s.is_empty() || s.len() > 3 || !s.iter().all(u8::is_ascii_digit) {
        return Err(format!("status `{}` is not a 1-3 digit number or `-`", show(s)));
    }
    match s.iter().fold(0u16, |acc, &c| acc * 10 + u16::from(c - b'0')) {
        // 0: no response was sent (Envoy's `DC`, nginx's 499 path).
        v @ (0 | 100..) => Ok(v),
        v => Err(format!(
            "status `{}` is {v}, not an HTTP status (100-999; 0 or `-` for no response)",
            show(s)
        )),
    }
}

/// Sums an nginx upstream time list (`0.010`, `0.001, 0.002`, `0.010 : 0.020`,
/// `0.012, -, -`) into nanoseconds. `-` entries are skipped; a list with no
/// number at all (`-`) is `None` (unknown).
pub(crate) fn upstream_sum_ns(s: &[u8]) -> Result<Option<u64>, String> {
    let mut total: Option<u64> = None;
    for piece in s.split(|&c| c == b',' || c == b':') {
        let piece = piece.trim_ascii();
        if piece == b"-" {
            continue;
        }
        let ns = seconds_ns(piece).map_err(|e| {
            format!("upstream time list `{}`: element `{}`: {e}", show(s), show(piece))
        })?;
        let sum = total.unwrap_or(0).checked_add(ns).ok_or_else(|| {
            format!("upstream time list `{}`: sum does not fit in 64-bit nanoseconds", show(s))
        })?;
        total = Some(sum);
    }
    Ok(total)
}

/// The bytes as text, borrowed when they are valid UTF-8 (the usual case,
/// checked with the fast validator); otherwise each byte that is not part
/// of valid UTF-8 is written `\xNN` (see [`escape_invalid`]).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 103.7 ns/line, csv 63.5 -> 69.4, nginx 135 -> 139 (rustc 1.95)"
)]
pub(crate) fn lossy(b: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(b) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(escape_invalid(b)),
    }
}

/// The bytes as text with each byte that is not part of valid UTF-8 written
/// as `\xNN` (lowercase hex), the way nginx writes such bytes in its own
/// access logs. Distinct invalid bytes stay distinct (`/a\xff` and
/// `/a\xfe` are two series, where a lossy conversion made both `/a�`), and
/// a path logged raw and the same path logged by nginx name one series.
pub(crate) fn escape_invalid(b: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(b.len() + 8);
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            // Writing to a String cannot fail.
            let _ = write!(out, "\\x{byte:02x}");
        }
    }
    out
}

/// Renders raw bytes for an error message: lossy UTF-8, cut at 80 chars.
pub(crate) fn show(s: &[u8]) -> String {
    let text = String::from_utf8_lossy(s);
    let mut out: String = text.chars().take(80).collect();
    if text.chars().nth(80).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Invalid bytes in a name are escaped, not merged into U+FFFD.
    #[test]
    fn invalid_utf8_is_escaped_and_stays_distinct() {
        assert_eq!(lossy(b"/a\xff"), "/a\\xff");
        assert_eq!(lossy(b"/a\xfe"), "/a\\xfe");
        assert_eq!(lossy(b"/\xe2\x82"), "/\\xe2\\x82", "a cut multi-byte sequence");
        assert_eq!(lossy("/caf\u{e9}".as_bytes()), "/caf\u{e9}", "valid text is unchanged");
        assert!(matches!(lossy(b"/ok"), Cow::Borrowed("/ok")));
    }

    #[test]
    fn decimals_are_exact() {
        assert_eq!(seconds_ns(b"0.138"), Ok(138_000_000));
        assert_eq!(seconds_ns(b"0.000036"), Ok(36_000));
        assert_eq!(seconds_ns(b"0.00491"), Ok(4_910_000));
        assert_eq!(seconds_ns(b"3.631"), Ok(3_631_000_000));
        assert_eq!(seconds_ns(b"1441907879.123"), Ok(1_441_907_879_123_000_000));
        assert_eq!(seconds_ns(b".5"), Ok(500_000_000));
        assert_eq!(seconds_ns(b"5."), Ok(5_000_000_000));
        assert_eq!(seconds_ns(b"+2"), Ok(2_000_000_000));
        assert_eq!(seconds_ns(b"0.0000000019"), Ok(1), "floor below 1 ns");
        assert_eq!(decimal_scaled(b"12.5", NS_PER_MS), Ok(12_500_000));
        assert_eq!(decimal_scaled(b"250", NS_PER_US), Ok(250_000));
        assert_eq!(decimal_scaled(b"1.1E7", 1), Ok(11_000_000));
        assert_eq!(decimal_scaled(b"15e-1", NS_PER_MS), Ok(1_500_000));
        assert_eq!(decimal_scaled(b"1e-400", NS_PER_S), Ok(0));
        assert_eq!(decimal_scaled(b"0e400", NS_PER_S), Ok(0));
        assert_eq!(decimal_scaled(b"-0.000", NS_PER_S), Ok(0));
        // Long digit strings past the mantissa cap stay close.
        assert_eq!(decimal_scaled(b"123456789012345678901234", 1), Err(NumError::Overflow));
        assert_eq!(decimal_scaled(b"0.1234567890123456789012345", NS_PER_S), Ok(123_456_789));
    }

    #[test]
    fn decimal_errors() {
        assert_eq!(seconds_ns(b""), Err(NumError::Empty));
        assert_eq!(seconds_ns(b"-"), Err(NumError::Empty));
        assert_eq!(seconds_ns(b"-1"), Err(NumError::Negative));
        assert_eq!(seconds_ns(b"-0.5"), Err(NumError::Negative));
        assert_eq!(seconds_ns(b"."), Err(NumError::Invalid));
        assert_eq!(seconds_ns(b"1.2.3"), Err(NumError::Invalid));
        assert_eq!(seconds_ns(b"0x10"), Err(NumError::Invalid));
        assert_eq!(seconds_ns(b"1e"), Err(NumError::Invalid));
        assert_eq!(seconds_ns(b" 1"), Err(NumError::Invalid));
        assert_eq!(seconds_ns(b"NaN"), Err(NumError::Invalid));
        assert_eq!(seconds_ns(b"1e30"), Err(NumError::Overflow));
        assert_eq!(seconds_ns(b"18446744074"), Err(NumError::Overflow));
    }

    #[test]
    fn statuses() {
        assert_eq!(status(b"200"), Ok(200));
        assert_eq!(status(b"-"), Ok(0));
        assert_eq!(status(b"0"), Ok(0));
        assert!(status(b"2000").is_err());
        assert!(status(b"").is_err());
        assert!(status(b"20x").is_err());
    }

    #[test]
    fn upstream_lists_are_summed() {
        assert_eq!(upstream_sum_ns(b"0.001, 0.002"), Ok(Some(3_000_000)));
        assert_eq!(upstream_sum_ns(b"0.010 : 0.020"), Ok(Some(30_000_000)));
        assert_eq!(upstream_sum_ns(b"0.001, 0.002 : 0.004"), Ok(Some(7_000_000)));
        assert_eq!(upstream_sum_ns(b"0.012, -, -"), Ok(Some(12_000_000)));
        assert_eq!(upstream_sum_ns(b"0.100, -"), Ok(Some(100_000_000)));
        assert_eq!(upstream_sum_ns(b"-"), Ok(None));
        assert_eq!(upstream_sum_ns(b"-, -"), Ok(None));
        assert!(upstream_sum_ns(b"0.1, abc").is_err());
        assert!(upstream_sum_ns(b"").is_err());
    }
}
