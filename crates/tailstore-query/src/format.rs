//! Number formatters that every output shares (tables, CSV and JSON now; an
//! HTML report or a Prometheus exposition later), so that one number reads
//! the same wherever it is shown. Pure functions, no I/O.
//!
//! Latencies come as [`Duration`]s (what [`WindowStats`](crate::WindowStats)
//! returns) and are shown in milliseconds: with fixed decimals in tables
//! ([`fmt_ms`]), and at full precision in machine-read outputs ([`ms_f64`]
//! for JSON, [`fmt_ms_full`] for text such as CSV cells, which writes the
//! same digits JSON does).

use std::time::Duration;

/// A latency in milliseconds, from its exact nanoseconds (`ns / 10^6`, one
/// rounding): the number JSON carries.
///
/// ```
/// # use std::time::Duration;
/// assert_eq!(tailstore_query::ms_f64(Duration::from_nanos(150_011_903)), 150.011903);
/// ```
#[must_use]
#[expect(
    clippy::cast_precision_loss,
    reason = "latencies are far below 2^53 ns (104 days), so the f64 is exact; as_secs_f64() * 1e3 would round twice and change the JSON the CLI has always written"
)]
pub fn ms_f64(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e6
}

/// A latency in milliseconds with `decimals` fixed decimals, for tables:
/// `12.3`; `-` when there is none (a window without latencies).
///
/// The value is `d.as_secs_f64() * 1e3`, as tables have always computed it;
/// at an exact tie (2.05 ms to one decimal) it may round the other way from
/// [`ms_f64`]'s value (2.1, where `{:.1}` of [`ms_f64`] gives 2.0).
///
/// ```
/// # use std::time::Duration;
/// use tailstore_query::fmt_ms;
/// assert_eq!(fmt_ms(Some(Duration::from_micros(30_040)), 1), "30.0");
/// assert_eq!(fmt_ms(None, 1), "-");
/// ```
#[must_use]
pub fn fmt_ms(d: Option<Duration>, decimals: usize) -> String {
    d.map_or_else(|| "-".to_owned(), |d| format!("{:.decimals$}", d.as_secs_f64() * 1e3))
}

/// A latency in milliseconds at full precision: [`ms_f64`] written as JSON
/// writes it ([`fmt_float`]), for text outputs that must agree with JSON.
///
/// ```
/// # use std::time::Duration;
/// use tailstore_query::fmt_ms_full;
/// assert_eq!(fmt_ms_full(Duration::from_nanos(41_009_151)), "41.009151");
/// assert_eq!(fmt_ms_full(Duration::from_millis(2)), "2.0");
/// ```
#[must_use]
pub fn fmt_ms_full(d: Duration) -> String {
    fmt_float(ms_f64(d))
}

/// A ratio (`0.0129`) as a percentage with `decimals` fixed decimals
/// (`1.29`), without the `%` sign.
///
/// ```
/// assert_eq!(tailstore_query::fmt_percent(0.0129, 2), "1.29");
/// ```
#[must_use]
pub fn fmt_percent(ratio: f64, decimals: usize) -> String {
    format!("{:.decimals$}", ratio * 100.0)
}

/// A rate per second with `decimals` fixed decimals, without the unit.
///
/// ```
/// assert_eq!(tailstore_query::fmt_rate(13.9866, 2), "13.99");
/// ```
#[must_use]
pub fn fmt_rate(per_s: f64, decimals: usize) -> String {
    format!("{per_s:.decimals$}")
}

/// `x` as the CLI's JSON writer (`serde_json`) writes a number, so that a
/// text output agrees with JSON to the digit: the shortest digits that
/// read back as `x`, in plain notation from 1e-5 to below 1e16 with a `.0`
/// on whole numbers (`0.00001`, `2.0`, `150.011903`), in exponent notation
/// outside it (`1e-6`, `3.5e-7`, `1e+16`). `NaN` and the infinities, which
/// JSON cannot hold, are written as Rust writes them. (`tailstore-cli`'s
/// tests compare it with `serde_json` over many values.)
///
/// ```
/// use tailstore_query::fmt_float;
/// assert_eq!(fmt_float(0.0196078431372549), "0.0196078431372549");
/// assert_eq!(fmt_float(1.0), "1.0");
/// assert_eq!(fmt_float(0.000001), "1e-6");
/// ```
#[must_use]
pub fn fmt_float(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x:.1}");
    }
    let (digits, exp) = shortest_digits(x.abs());
    let sign = if x < 0.0 { "-" } else { "" };
    if !(-5..=15).contains(&exp) {
        let (first, rest) = digits.split_at(1);
        let dot = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { "-" } else { "+" };
        return format!("{sign}{first}{dot}{rest}e{exp_sign}{}", exp.unsigned_abs());
    }
    // -5 <= exp <= 15, so the digits before the point are 0..=16.
    let int_len = usize::try_from(exp + 1).unwrap_or(0);
    if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        format!("{sign}0.{zeros}{digits}")
    } else if int_len >= digits.len() {
        format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
    } else {
        let (int, frac) = digits.split_at(int_len);
        format!("{sign}{int}.{frac}")
    }
}

/// The shortest digits that read back as `x` (finite, positive) and the
/// decimal exponent of the first: `("15", -1)` for 0.15.
///
/// Where two shortest candidates are exactly as near (`x` is
/// 662936471232937.25: .2 or .3), `{:e}` takes the upper and `serde_json`
/// the even one; this takes the even one.
fn shortest_digits(x: f64) -> (String, i32) {
    let split = |sci: &str| -> (String, i32) {
        let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
        (mantissa.chars().filter(char::is_ascii_digit).collect(), exp.parse().unwrap_or(0))
    };
    let (digits, exp) = split(&format!("{x:e}"));
    let n = digits.len();
    let Some(last) = digits.bytes().last().filter(|d| d % 2 == 1) else {
        return (digits, exp);
    };
    // The even candidate below; an odd last digit was not carried into.
    let below = format!("{}{}", &digits[..n - 1], char::from(last - 1));
    // A tie: `x` is exactly `below` then a 5. One more digit, rounded, must
    // show it; 767 digits are every digit an f64 has.
    if split(&format!("{x:.n$e}")).0 == below.clone() + "5" {
        let (exact, _) = split(&format!("{x:.766e}"));
        if exact.starts_with(&below)
            && exact[n..].starts_with('5')
            && exact[n + 1..].bytes().all(|b| b == b'0')
        {
            return (below, exp);
        }
    }
    (digits, exp)
}

/// The name of a quantile in keys and headers: `p` and the percentile with
/// trailing zeros dropped (0.5: `p50`, 0.999: `p99.9`).
///
/// The percentile is `q`'s shortest decimal form with the point moved two
/// places (text, not `q * 100.0`, which is inexact), so distinct quantiles
/// always have distinct keys (0.99999991 and 0.99999992 too).
///
/// ```
/// assert_eq!(tailstore_query::quantile_key(0.999), "p99.9");
/// ```
#[must_use]
pub fn quantile_key(q: f64) -> String {
    // Rust prints an f64 as the shortest decimal that reads back to it,
    // never with an exponent.
    let text = format!("{q}");
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let frac = format!("{frac:0<2}");
    let (moved, rest) = frac.split_at(2);
    let whole = format!("{int}{moved}");
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    if rest.is_empty() {
        format!("p{whole}")
    } else {
        format!("p{whole}.{rest}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[expect(
        clippy::float_cmp,
        reason = "ms_f64 is one correctly rounded division: its result is exactly these literals"
    )]
    fn milliseconds() {
        let ns = Duration::from_nanos;
        assert_eq!(ms_f64(ns(0)), 0.0);
        assert_eq!(ms_f64(ns(1_500_000)), 1.5);
        assert_eq!(fmt_ms(Some(ns(0)), 1), "0.0");
        assert_eq!(fmt_ms(Some(ns(1_852_000_000)), 1), "1852.0");
        assert_eq!(fmt_ms(Some(ns(914_099_999)), 1), "914.1");
        assert_eq!(fmt_ms(Some(ns(30_000_000)), 3), "30.000");
        assert_eq!(fmt_ms(None, 1), "-");
        // Ties round as `as_secs_f64() * 1e3` falls, not as the exact decimal.
        assert_eq!(fmt_ms(Some(ns(2_050_000)), 1), "2.1");
        assert_eq!(fmt_ms(Some(ns(2_450_000)), 1), "2.4");
        assert_eq!(format!("{:.1}", ms_f64(ns(2_050_000))), "2.0");
        assert_eq!(fmt_ms_full(ns(0)), "0.0");
        assert_eq!(fmt_ms_full(ns(1)), "1e-6");
        assert_eq!(fmt_ms_full(ns(10)), "0.00001");
        assert_eq!(fmt_ms_full(ns(969_388)), "0.969388");
        assert_eq!(fmt_ms_full(ns(1_852_000_000)), "1852.0");
        assert_eq!(fmt_ms_full(ns(9_374_269_439)), "9374.269439");
    }

    #[test]
    fn percent_and_rate() {
        assert_eq!(fmt_percent(0.0, 2), "0.00");
        assert_eq!(fmt_percent(0.012_9, 2), "1.29");
        assert_eq!(fmt_percent(1.0, 3), "100.000");
        assert_eq!(fmt_percent(1.0 / 3.0, 3), "33.333");
        assert_eq!(fmt_rate(0.0, 2), "0.00");
        assert_eq!(fmt_rate(6.4766, 2), "6.48");
        assert_eq!(fmt_rate(30.063_333, 3), "30.063");
    }

    #[test]
    fn floats_as_json_writes_them() {
        // Expected texts are serde_json's output for the same values.
        for (x, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (0.019_607_843_137_254_9, "0.0196078431372549"),
            (0.000_01, "0.00001"),
            (0.000_012_5, "0.0000125"),
            (0.000_001, "1e-6"),
            (0.000_003_5, "3.5e-6"),
            (1.0 / 3e5, "3.3333333333333333e-6"),
            (5e-324, "5e-324"),
            (1e15, "1000000000000000.0"),
            (1_234_567_890_123_456.0, "1234567890123456.0"),
            (1e16, "1e+16"),
            (12_345_678_901_234_567.0, "1.2345678901234568e+16"),
            (f64::MAX, "1.7976931348623157e+308"),
            (150.011_903, "150.011903"),
            // Ties between two shortest candidates go to the even digit.
            (662_936_471_232_937.0 + 0.25, "662936471232937.2"),
            (662_936_471_232_937.0 + 0.75, "662936471232937.8"),
            (1_658_206_780_088_562.0 + 0.25, "1658206780088562.2"),
            (0.5 + 1.0 / 131_072.0, "0.5000076293945312"),
            (562_949_953_421_312.4, "562949953421312.4"),
        ] {
            assert_eq!(fmt_float(x), want, "{x:e}");
        }
        assert_eq!(fmt_float(f64::NAN), "NaN");
        assert_eq!(fmt_float(f64::INFINITY), "inf");
        assert_eq!(fmt_float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn keys() {
        assert_eq!(quantile_key(0.5), "p50");
        assert_eq!(quantile_key(0.95), "p95");
        assert_eq!(quantile_key(0.99), "p99");
        assert_eq!(quantile_key(0.999), "p99.9");
        assert_eq!(quantile_key(0.9999), "p99.99");
        assert_eq!(quantile_key(0.0), "p0");
        assert_eq!(quantile_key(1.0), "p100");
        assert_eq!(quantile_key(0.0001), "p0.01");
        assert_eq!(quantile_key(0.29), "p29", "not 28.999999999999996");
        assert_ne!(quantile_key(0.999_999_91), quantile_key(0.999_999_92));
        assert_eq!(quantile_key(0.999_999_91), "p99.999991");
    }
}
