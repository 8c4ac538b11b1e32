//! Timestamp parsing without a date library: RFC 3339, nginx `$time_local`,
//! and decimal unix seconds, all into (unix seconds, nanoseconds).
//!
//! Calendar arithmetic is Howard Hinnant's `days_from_civil` on the
//! proleptic Gregorian calendar. Every field is range-checked, and instants
//! before 1970-01-01T00:00:00Z are rejected (the store keys on unsigned
//! seconds).

use crate::num::{self, show};

/// An instant at or after the unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub(crate) secs: u64,
    /// Nanoseconds within the second, `< 1_000_000_000`.
    pub(crate) nanos: u32,
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
///
/// Valid for any `y` in `i64` range / 400 that callers pass (here 0..=9999).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count from 1970-01-01 (inverse of
/// [`days_from_civil`]); used as the tests' oracle.
#[cfg(test)]
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = if m <= 2 { y + 1 } else { y };
    // d is in [1, 31] and m in [1, 12] by the bounds noted above.
    (y, u32::try_from(m).unwrap_or(0), u32::try_from(d).unwrap_or(0))
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Broken-down civil time plus a UTC offset, before validation.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Seconds east of UTC.
    offset_s: i64,
}

impl Civil {
    fn to_timestamp(&self, text: &[u8]) -> Result<Timestamp, String> {
        let bad = |what: &str| format!("time `{}`: {what}", show(text));
        if !(1..=12).contains(&self.month) {
            return Err(bad(&format!("month {} is not in 1-12", self.month)));
        }
        let dim = days_in_month(self.year, self.month);
        if self.day < 1 || self.day > dim {
            return Err(bad(&format!(
                "day {} is not in 1-{dim} for {:04}-{:02}",
                self.day, self.year, self.month
            )));
        }
        if self.hour > 23 {
            return Err(bad(&format!("hour {} is not in 0-23", self.hour)));
        }
        if self.minute > 59 {
            return Err(bad(&format!("minute {} is not in 0-59", self.minute)));
        }
        // 60 is a leap second; like timegm it lands on the next second.
        if self.second > 60 {
            return Err(bad(&format!("second {} is not in 0-60", self.second)));
        }
        // year <= 9999 (4 digits), so this is at most ~2.5e11: no overflow.
        let secs = days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3_600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - self.offset_s;
        let secs = u64::try_from(secs).map_err(|_| bad("before 1970-01-01T00:00:00Z"))?;
        // One bound for every form of time: unix seconds are read as
        // nanoseconds in 64 bits, so the same instant is the latest here.
        let fits =
            secs.checked_mul(num::NS_PER_S).and_then(|ns| ns.checked_add(u64::from(self.nanos)));
        if fits.is_none() {
            return Err(bad(LATEST));
        }
        Ok(Timestamp { secs, nanos: self.nanos })
    }
}

/// Why a time after the latest one accepted is refused, in any form.
const LATEST: &str = "after 2554-07-21T23:34:33.709551615Z, the latest time accepted \
                      (nanoseconds since 1970 in 64 bits)";

/// Reads exactly `n` ASCII digits at `*i`.
fn digits(s: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let chunk = s.get(*i..*i + n)?;
    let mut v = 0u32;
    for &c in chunk {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    *i += n;
    Some(v)
}

fn expect(s: &[u8], i: &mut usize, c: u8) -> Option<()> {
    if s.get(*i) == Some(&c) {
        *i += 1;
        Some(())
    } else {
        None
    }
}

/// Reads `.ddd…` (one or more digits) at `*i` as nanoseconds; digits past
/// the ninth are truncated. Returns 0 if there is no fraction.
fn fraction(s: &[u8], i: &mut usize) -> Option<u32> {
    if s.get(*i) != Some(&b'.') && s.get(*i) != Some(&b',') {
        return Some(0);
    }
    *i += 1;
    let start = *i;
    let mut nanos = 0u32;
    while let Some(&c) = s.get(*i) {
        if !c.is_ascii_digit() {
            break;
        }
        if *i - start < 9 {
            nanos = nanos * 10 + u32::from(c - b'0');
        }
        *i += 1;
    }
    let n = *i - start;
    if n == 0 {
        return None;
    }
    for _ in n..9 {
        nanos *= 10;
    }
    Some(nanos)
}

/// Parses `±HH:MM`, `±HHMM` or `±HH` at `*i` into seconds east of UTC.
fn numeric_offset(s: &[u8], i: &mut usize) -> Option<i64> {
    let sign = match s.get(*i)? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    *i += 1;
    let h = digits(s, i, 2)?;
    let m = if *i == s.len() {
        0
    } else {
        if s.get(*i) == Some(&b':') {
            *i += 1;
        }
        digits(s, i, 2)?
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (i64::from(h) * 3_600 + i64::from(m) * 60))
}

/// Parses an RFC 3339 / ISO 8601 timestamp: `2024-05-28T13:46:45.123Z`,
/// `2015-09-10T17:57:59+00:00`, `…+0200`. Also accepted: `t`/space for the
/// `T`, `z` for `Z`, and no offset at all (taken as UTC).
pub(crate) fn parse_rfc3339(s: &[u8]) -> Result<Timestamp, String> {
    let malformed = || {
        format!("time `{}` is not an RFC 3339 timestamp (like 2024-05-28T13:46:45.123Z)", show(s))
    };
    let mut i = 0usize;
    let civil = (|| {
        let year = digits(s, &mut i, 4)?;
        expect(s, &mut i, b'-')?;
        let month = digits(s, &mut i, 2)?;
        expect(s, &mut i, b'-')?;
        let day = digits(s, &mut i, 2)?;
        match s.get(i)? {
            b'T' | b't' | b' ' => i += 1,
            _ => return None,
        }
        let hour = digits(s, &mut i, 2)?;
        expect(s, &mut i, b':')?;
        let minute = digits(s, &mut i, 2)?;
        expect(s, &mut i, b':')?;
        let second = digits(s, &mut i, 2)?;
        let nanos = fraction(s, &mut i)?;
        let offset_s = match s.get(i) {
            None => 0,
            Some(b'Z' | b'z') => {
                i += 1;
                0
            }
            Some(_) => numeric_offset(s, &mut i)?,
        };
        if i != s.len() {
            return None;
        }
        Some(Civil { year: i64::from(year), month, day, hour, minute, second, nanos, offset_s })
    })()
    .ok_or_else(malformed)?;
    civil.to_timestamp(s)
}

fn month_from_abbrev(m: &[u8]) -> Option<u32> {
    const NAMES: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let lower = [
        m.first()?.to_ascii_lowercase(),
        m.get(1)?.to_ascii_lowercase(),
        m.get(2)?.to_ascii_lowercase(),
    ];
    let idx = NAMES.iter().position(|n| **n == lower)?;
    // idx < 12.
    u32::try_from(idx + 1).ok()
}

/// Parses nginx `$time_local`: `10/Sep/2015:17:57:59 +0000`.
pub(crate) fn parse_time_local(s: &[u8]) -> Result<Timestamp, String> {
    let mut i = 0usize;
    let civil = (|| {
        let day = digits(s, &mut i, 2)?;
        expect(s, &mut i, b'/')?;
        let month = month_from_abbrev(s.get(i..i + 3)?)?;
        i += 3;
        expect(s, &mut i, b'/')?;
        let year = digits(s, &mut i, 4)?;
        expect(s, &mut i, b':')?;
        let hour = digits(s, &mut i, 2)?;
        expect(s, &mut i, b':')?;
        let minute = digits(s, &mut i, 2)?;
        expect(s, &mut i, b':')?;
        let second = digits(s, &mut i, 2)?;
        let nanos = fraction(s, &mut i)?;
        expect(s, &mut i, b' ')?;
        let offset_s = numeric_offset(s, &mut i)?;
        if i != s.len() {
            return None;
        }
        Some(Civil { year: i64::from(year), month, day, hour, minute, second, nanos, offset_s })
    })()
    .ok_or_else(|| {
        format!("time `{}` is not an nginx $time_local (like 10/Sep/2015:17:57:59 +0000)", show(s))
    })?;
    civil.to_timestamp(s)
}

/// Plain unix seconds (`1441907879`, `1441907879.123`, see
/// [`num::plain_decimal`]) as [`parse_unix_seconds`] reads them; `None` for
/// anything else (including the errors: negative, too large).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 100.0 ns/line, csv 63.5 -> 65.9 (rustc 1.95)"
)]
pub(crate) fn unix_seconds_fast(s: &[u8]) -> Option<Timestamp> {
    unix_seconds_plain(num::plain_decimal(s)?)
}

/// [`unix_seconds_fast`] on an already read number.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 100.0 ns/line, csv 63.5 -> 65.9 (rustc 1.95)"
)]
pub(crate) fn unix_seconds_plain(d: num::PlainDecimal) -> Option<Timestamp> {
    if d.neg {
        // `-0` is the epoch; any other negative time is an error.
        return (d.int == 0 && d.frac == 0).then_some(Timestamp { secs: 0, nanos: 0 });
    }
    // `frac < 10^frac_digits`, so this is below 10^9.
    let nanos = num::frac_scaled(d.frac, d.frac_digits, num::NS_PER_S)?;
    // The general path fails when the total in nanoseconds overflows.
    d.int.checked_mul(num::NS_PER_S)?.checked_add(nanos)?;
    Some(Timestamp { secs: d.int, nanos: u32::try_from(nanos).ok()? })
}

/// Parses decimal unix seconds (`1441907879`, `1441907879.123`).
#[inline]
pub(crate) fn parse_unix_seconds(s: &[u8]) -> Result<Timestamp, String> {
    if let Some(ts) = unix_seconds_fast(s) {
        return Ok(ts);
    }
    match num::seconds_ns(s) {
        Ok(ns) => Ok(Timestamp {
            secs: ns / num::NS_PER_S,
            // The remainder is < 10^9, which fits in u32.
            nanos: u32::try_from(ns % num::NS_PER_S).unwrap_or(0),
        }),
        Err(num::NumError::Negative) => {
            Err(format!("time `{}`: before 1970-01-01T00:00:00Z", show(s)))
        }
        Err(num::NumError::Overflow) => Err(format!("time `{}`: {LATEST}", show(s))),
        Err(e) => Err(format!("time `{}` is not unix seconds: {e}", show(s))),
    }
}

/// Parses unix seconds when `s` looks numeric, RFC 3339 otherwise.
#[inline]
pub(crate) fn parse_any(s: &[u8]) -> Result<Timestamp, String> {
    // What the fast path accepts (`[+-]digits[.digits]`) always looks
    // numeric below, so taking it first changes nothing.
    if s.get(4) != Some(&b'-') {
        if let Some(ts) = unix_seconds_fast(s) {
            return Ok(ts);
        }
    }
    // A date has a `-` after its 4-digit year; unix seconds never do.
    let looks_numeric = s.get(4) != Some(&b'-')
        && s.iter().all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'));
    if looks_numeric {
        parse_unix_seconds(s)
    } else {
        parse_rfc3339(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(
        clippy::unnecessary_wraps,
        reason = "the expected value of the parsers under test, which return this `Result`"
    )]
    fn ts(secs: u64, nanos: u32) -> Result<Timestamp, String> {
        Ok(Timestamp { secs, nanos })
    }

    #[test]
    fn civil_roundtrip_against_oracle() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        // Walk day by day from 1970 to 2100 and compare with a naive counter.
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        for z in 0..(131 * 366) {
            assert_eq!(days_from_civil(y, m, d), z);
            assert_eq!(civil_from_days(z), (y, m, d));
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn rfc3339_forms() {
        assert_eq!(parse_rfc3339(b"1970-01-01T00:00:00Z"), ts(0, 0));
        assert_eq!(parse_rfc3339(b"2024-05-28T13:46:45.123Z"), ts(1_716_904_005, 123_000_000));
        assert_eq!(parse_rfc3339(b"2018-07-02T22:23:00.186641Z"), ts(1_530_570_180, 186_641_000));
        assert_eq!(parse_rfc3339(b"2015-09-10T17:57:59+00:00"), ts(1_441_907_879, 0));
        assert_eq!(parse_rfc3339(b"2015-09-10T19:57:59+02:00"), ts(1_441_907_879, 0));
        assert_eq!(parse_rfc3339(b"2015-09-10T12:57:59-0500"), ts(1_441_907_879, 0));
        assert_eq!(parse_rfc3339(b"2015-09-10 17:57:59"), ts(1_441_907_879, 0));
        assert_eq!(
            parse_rfc3339(b"2022-07-22T12:24:12.325744791123Z"),
            ts(1_658_492_652, 325_744_791)
        );
        assert_eq!(parse_rfc3339(b"2016-12-31T23:59:60Z"), ts(1_483_228_800, 0));
        assert_eq!(parse_rfc3339(b"2024-02-29T00:00:00Z"), ts(1_709_164_800, 0));
    }

    #[test]
    fn rfc3339_rejects_nonsense() {
        for bad in [
            &b"2024-13-01T00:00:00Z"[..],
            b"2024-00-01T00:00:00Z",
            b"2023-02-29T00:00:00Z",
            b"2024-04-31T00:00:00Z",
            b"2024-01-01T24:00:00Z",
            b"2024-01-01T00:60:00Z",
            b"2024-01-01T00:00:61Z",
            b"2024-01-01T00:00:00+24:00",
            b"2024-01-01T00:00:00.Z",
            b"2024-01-01T00:00:00Zjunk",
            b"2024-01-01",
            b"24-01-01T00:00:00Z",
            b"",
            b"1969-12-31T23:59:59Z",
            b"1970-01-01T00:30:00+01:00",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{}", show(bad));
        }
        let e = parse_rfc3339(b"1969-12-31T23:59:59Z").unwrap_err();
        assert!(e.contains("before 1970"), "{e}");
        let e = parse_rfc3339(b"2023-02-29T00:00:00Z").unwrap_err();
        assert!(e.contains("day 29 is not in 1-28"), "{e}");
    }

    #[test]
    fn time_local_forms() {
        assert_eq!(parse_time_local(b"10/Sep/2015:17:57:59 +0000"), ts(1_441_907_879, 0));
        assert_eq!(parse_time_local(b"19/Feb/2015:15:50:36 -0500"), ts(1_424_379_036, 0));
        assert_eq!(parse_time_local(b"10/Sep/2015:21:27:59 +0330"), ts(1_441_907_879, 0));
        assert!(parse_time_local(b"10/Sep/2015:17:57:59").is_err());
        assert!(parse_time_local(b"10/Sec/2015:17:57:59 +0000").is_err());
        assert!(parse_time_local(b"31/Sep/2015:17:57:59 +0000").is_err());
        assert!(parse_time_local(b"10/Sep/1969:17:57:59 +0000").is_err());
    }

    #[test]
    fn unix_seconds() {
        assert_eq!(parse_unix_seconds(b"1441907879.123"), ts(1_441_907_879, 123_000_000));
        // One latest time for every form (nanoseconds since 1970 in 64 bits).
        assert_eq!(parse_unix_seconds(b"18446744073.5"), ts(18_446_744_073, 500_000_000));
        assert_eq!(parse_any(b"2554-07-21T23:34:33.709551615Z"), ts(18_446_744_073, 709_551_615));
        for late in
            [&b"253402300799"[..], b"9999-12-31T23:59:59Z", b"2554-07-21T23:34:33.709551616Z"]
        {
            let e = parse_any(late).unwrap_err();
            assert!(e.contains("the latest time accepted"), "{e}");
        }
        assert_eq!(parse_unix_seconds(b"0"), ts(0, 0));
        assert!(parse_unix_seconds(b"-5").unwrap_err().contains("before 1970"));
        assert!(parse_unix_seconds(b"abc").is_err());
        assert_eq!(parse_any(b"1441907879.5"), ts(1_441_907_879, 500_000_000));
        assert_eq!(parse_any(b"2015-09-10T17:57:59Z"), ts(1_441_907_879, 0));
    }
}
