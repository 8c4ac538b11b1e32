//! `.hgrm`: `HdrHistogram`'s percentile distribution text, as Java's
//! `AbstractHistogram.outputPercentileDistribution` prints it.

use std::io::Write;

use tailstore::{Layout, WindowStats};

/// Options of the `.hgrm` output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HgrmOptions {
    /// Percentile reporting ticks per half distance to 100 % (Java's
    /// `percentileTicksPerHalfDistance`; `HdrHistogram`'s tools use 5).
    pub ticks_per_half_distance: u32,
    /// Values (ns) are divided by this before printing (Java's
    /// `outputValueUnitScalingRatio`): 1e6 prints milliseconds, 1e3
    /// microseconds, 1 nanoseconds.
    pub value_unit_ratio: f64,
}

impl Default for HgrmOptions {
    /// 5 ticks per half distance, values in milliseconds (1e6): what
    /// `HistogramLogProcessor` writes by default.
    fn default() -> Self {
        HgrmOptions { ticks_per_half_distance: 5, value_unit_ratio: 1e6 }
    }
}

/// Writes the `.hgrm` of a window's latencies (see [`write_hgrm_buckets`]).
///
/// # Errors
///
/// The writer's error.
pub fn write_hgrm(
    out: &mut dyn Write,
    stats: &WindowStats,
    opts: &HgrmOptions,
) -> std::io::Result<()> {
    let acc = stats.accumulator();
    let buckets: Vec<(u32, u64)> = acc.to_sparse().iter().collect();
    write_hgrm_buckets(out, &acc.layout(), &buckets, opts)
}

/// Writes the `.hgrm` of a histogram given as `(bucket index, count)`
/// pairs of `layout`, in ascending index order, exactly as Java's
/// `outputPercentileDistribution(out, ticks, ratio)` prints a `Histogram`
/// with the same buckets: a Java histogram of `layout.digits()`
/// significant digits, lowest discernible value `2^unit` (1 with the
/// default layouts) and highest trackable value `layout.highest_ns()`.
///
/// As Java computes them, the values printed are each bucket's highest
/// equivalent value, the mean and standard deviation are those of the
/// buckets' middle values (`lowest + width / 2`), not the exact ones the
/// store keeps, and the maximum is the highest value of the top bucket.
/// Numbers are formatted as Java's `Formatter` does (`%12.{digits}f`:
/// the shortest decimal of the double, rounded half up).
///
/// # Errors
///
/// The writer's error.
pub fn write_hgrm_buckets(
    out: &mut dyn Write,
    layout: &Layout,
    buckets: &[(u32, u64)],
    opts: &HgrmOptions,
) -> std::io::Result<()> {
    let digits = usize::from(layout.digits());
    let ratio = opts.value_unit_ratio;
    let ticks = i64::from(opts.ticks_per_half_distance.max(1));
    let total: u64 = buckets.iter().map(|&(_, c)| c).fold(0u64, u64::saturating_add);
    let highest_eq = |idx: u32| layout.lowest_equivalent(idx) + (layout.width(idx) - 1);
    write!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    if total > 0 {
        // Java's PercentileIterator: a line each time the cumulative share
        // reaches the next tick level, then one more line at 100 %.
        let mut level = 0.0f64;
        let mut cum = 0u64;
        let mut top = 0.0f64;
        let mut ended = false;
        'buckets: for &(idx, count) in buckets.iter().filter(|&&(_, c)| c > 0) {
            cum = cum.saturating_add(count);
            let value = as_f64(highest_eq(idx)) / ratio;
            top = value;
            loop {
                let share = 100.0 * as_f64(cum) / as_f64(total);
                if share < level {
                    break;
                }
                line(out, value, level / 100.0, cum, digits, false)?;
                level = next_level(level, ticks);
                if cum >= total {
                    line(out, value, 1.0, cum, digits, true)?;
                    ended = true;
                    break 'buckets;
                }
            }
        }
        if !ended {
            // Only when the ticks ran out before the last sample (a share that
            // rounds to 100 % in f64 with samples left: more than 2^53 of
            // them), where Java's iterator fails; the 100 % line still ends it.
            line(out, top, 1.0, cum, digits, true)?;
        }
    }
    let (mean, sd) = mean_and_deviation(layout, buckets, total);
    let max = buckets.iter().rev().find(|&&(_, c)| c > 0).map_or(0, |&(idx, _)| highest_eq(idx));
    writeln!(
        out,
        "#[Mean    = {:>12}, StdDeviation   = {:>12}]",
        java_fixed(mean / ratio, digits),
        java_fixed(sd / ratio, digits)
    )?;
    writeln!(
        out,
        "#[Max     = {:>12}, Total count    = {:>12}]",
        java_fixed(as_f64(max) / ratio, digits),
        total
    )?;
    // Java's bucketCount: the counts array holds (bucketCount + 1) halves.
    let halves = layout.len() >> layout.half_mag();
    writeln!(
        out,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        halves.saturating_sub(1),
        2usize << layout.half_mag()
    )
}

/// One percentile line: `%12.{d}f %2.12f %10d %14.2f` (the last line, at
/// 100 %, without its infinite last column).
fn line(
    out: &mut dyn Write,
    value: f64,
    fraction: f64,
    cum: u64,
    digits: usize,
    last: bool,
) -> std::io::Result<()> {
    write!(out, "{:>12} {:>2} {:>10}", java_fixed(value, digits), java_fixed(fraction, 12), cum)?;
    if !last {
        write!(out, " {:>14}", java_fixed(1.0 / (1.0 - fraction), 2))?;
    }
    writeln!(out)
}

/// The next tick level after `level` (percent), as Java's
/// `PercentileIterator.incrementIterationLevel` computes it: `ticks` equal
/// steps in each half distance to 100 %.
fn next_level(level: f64, ticks: i64) -> f64 {
    #[expect(
        clippy::cast_possible_truncation,
        reason = "Java's `(long)` cast of a small non-negative logarithm (truncation is the point)"
    )]
    let halvings = ((100.0 / (100.0 - level)).ln() / 2f64.ln()) as i64;
    // 2^(halvings + 1) as Java's (long) Math.pow computes it. The exponent
    // passes 62 only once the level is within 100 / 2^61 % of 100, which
    // takes a histogram of more than 2^61 samples: capped there, and a step
    // too small to move the level ends the ticks (no line but the 100 %
    // one follows), so the loop always ends.
    let exp = u32::try_from(halvings.saturating_add(1)).unwrap_or(0).min(62);
    let steps = ticks.saturating_mul(1i64 << exp);
    let next = level + 100.0 / as_f64_i(steps);
    if next > level {
        next
    } else {
        100.0
    }
}

/// Java's `getMean` and `getStdDeviation`: over each bucket's middle value
/// `lowest + (width >> 1)`, summed in ascending order.
fn mean_and_deviation(layout: &Layout, buckets: &[(u32, u64)], total: u64) -> (f64, f64) {
    if total == 0 {
        return (0.0, 0.0);
    }
    let median = |idx: u32| as_f64(layout.lowest_equivalent(idx) + (layout.width(idx) >> 1));
    let mut sum = 0.0f64;
    for &(idx, c) in buckets {
        sum += median(idx) * as_f64(c);
    }
    let mean = sum / as_f64(total);
    let mut dev = 0.0f64;
    for &(idx, c) in buckets {
        let d = median(idx) - mean;
        dev += d * d * as_f64(c);
    }
    (mean, (dev / as_f64(total)).sqrt())
}

#[expect(
    clippy::cast_precision_loss,
    reason = "Java converts the same long to double with the same rounding"
)]
fn as_f64(v: u64) -> f64 {
    v as f64
}

#[expect(
    clippy::cast_precision_loss,
    reason = "Java converts the same long to double with the same rounding"
)]
fn as_f64_i(v: i64) -> f64 {
    v as f64
}

/// `value` with `prec` decimals as Java's `Formatter` writes `%.{prec}f`:
/// the shortest decimal that reads back as the double (Rust's `{:e}` and
/// Java's `Double.toString` digits), rounded half up at the last place kept.
/// `Infinity` and `NaN` as Java spells them.
#[must_use]
pub fn java_fixed(value: f64, prec: usize) -> String {
    if value.is_nan() {
        return "NaN".to_owned();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity".to_owned() } else { "-Infinity".to_owned() };
    }
    let neg = value.is_sign_negative();
    let sci = format!("{:e}", value.abs());
    // "d.ddde±x": the digits and the decimal exponent of the first digit.
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
    // value = 0.d0 d1 d2 … × 10^point
    let point = exp + 1;
    let prec_i = i64::try_from(prec).unwrap_or(i64::MAX);
    let keep = point.saturating_add(prec_i);
    // The kept digits, as a number of 10^-prec units.
    let mut kept: Vec<u8> = Vec::new();
    if keep > 0 {
        let keep_u = usize::try_from(keep).unwrap_or(usize::MAX);
        kept.extend(digits.iter().take(keep_u));
        kept.resize(keep_u.max(kept.len()), 0);
        if digits.get(keep_u).is_some_and(|&d| d >= 5) {
            round_up(&mut kept);
        }
    } else if keep == 0 && digits.first().is_some_and(|&d| d >= 5) {
        kept.push(1);
    }
    // At least one integer digit.
    while kept.len() < prec + 1 {
        kept.insert(0, 0);
    }
    let int_len = kept.len() - prec;
    let mut s = String::with_capacity(kept.len() + 2);
    // Java keeps the sign of a negative number that rounds to zero.
    if neg && value != 0.0 {
        s.push('-');
    }
    for (i, d) in kept.iter().enumerate() {
        if i == int_len {
            s.push('.');
        }
        s.push(char::from(b'0' + d));
    }
    s
}

/// Adds one unit in the last place of a decimal digit string.
fn round_up(kept: &mut Vec<u8>) {
    for d in kept.iter_mut().rev() {
        if *d == 9 {
            *d = 0;
        } else {
            *d += 1;
            return;
        }
    }
    kept.insert(0, 1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_fixed_rounds_the_shortest_decimal_half_up() {
        assert_eq!(java_fixed(0.0625, 3), "0.063"); // Rust's {:.3} gives 0.062
        assert_eq!(java_fixed(1.2345, 3), "1.235"); // the double is 1.23449999…
        assert_eq!(java_fixed(0.0, 3), "0.000");
        assert_eq!(java_fixed(0.0004, 3), "0.000");
        assert_eq!(java_fixed(0.0005, 3), "0.001");
        assert_eq!(java_fixed(9.9996, 3), "10.000");
        assert_eq!(java_fixed(123_456.789, 2), "123456.79");
        assert_eq!(java_fixed(1e20, 1), "100000000000000000000.0");
        assert_eq!(java_fixed(0.1, 12), "0.100000000000");
        assert_eq!(java_fixed(1.0 / (1.0 - 0.9), 2), "10.00");
        assert_eq!(java_fixed(5.0, 0), "5");
        assert_eq!(java_fixed(0.5, 0), "1");
        assert_eq!(java_fixed(f64::INFINITY, 2), "Infinity");
    }

    #[test]
    fn tick_levels_halve_each_half_distance() {
        let mut l = 0.0;
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.push(l);
            l = next_level(l, 5);
        }
        assert_eq!(seen, [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0, 75.0, 77.5]);
    }

    #[test]
    fn enormous_counts_end_and_never_panic() {
        // The first bucket's share rounds to 100 % in f64 while samples remain:
        // the ticks run out and the output still ends with the 100 % line.
        let layout = Layout::default();
        let buckets = [(layout.index(1_000), u64::MAX - 2), (layout.index(2_000_000), 1)];
        let mut out = Vec::new();
        write_hgrm_buckets(&mut out, &layout, &buckets, &HgrmOptions::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().count() < 2_000, "{} lines", text.lines().count());
        assert!(text.contains(&format!("2.001 1.000000000000 {}\n", u64::MAX - 1)), "{text}");
        assert!(text.contains(&format!("Total count    = {}]", u64::MAX - 1)), "{text}");
    }

    #[test]
    fn empty_histogram_prints_the_header_and_zero_footer() {
        let layout = Layout::default();
        let mut out = Vec::new();
        write_hgrm_buckets(&mut out, &layout, &[], &HgrmOptions::default()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "       Value     Percentile TotalCount 1/(1-Percentile)\n\n\
             #[Mean    =        0.000, StdDeviation   =        0.000]\n\
             #[Max     =        0.000, Total count    =            0]\n\
             #[Buckets =           32, SubBuckets     =         2048]\n"
        );
    }
}
