//! Rendering window statistics: the `--json` contract and the human table.

use serde_json::{json, Map, Value};
use tailstore::format::{ms_f64, quantile_key};
use tailstore::WindowStats;

/// The fields of one window, in the contract's order:
/// `start, end, count, errors, error_ratio, rate_per_s, quantiles_ms, min_ms,
/// max_ms, mean_ms, status, clamped, damaged_s` (latencies in ms, `null`
/// where the window is empty; `clamped`: latencies above the histogram's
/// range, counted in its top bucket, with min, max and mean still exact;
/// `damaged_s`: seconds of the window that no intact stored piece covers,
/// left out of every other field, 0 when the answer is whole).
pub fn window_json(w: &WindowStats, qs: &[f64]) -> Map<String, Value> {
    let (start, end) = w.bounds_s();
    let mut m = Map::new();
    m.insert("start".into(), json!(start));
    m.insert("end".into(), json!(end));
    m.insert("count".into(), json!(w.count()));
    m.insert("errors".into(), json!(w.errors()));
    m.insert("error_ratio".into(), json!(w.error_ratio()));
    m.insert("rate_per_s".into(), json!(w.rate_per_sec()));
    let mut qm = Map::new();
    for (q, v) in qs.iter().zip(w.quantiles(qs)) {
        qm.insert(quantile_key(*q), json!(v.map(ms_f64)));
    }
    m.insert("quantiles_ms".into(), Value::Object(qm));
    m.insert("min_ms".into(), json!(w.min().map(ms_f64)));
    m.insert("max_ms".into(), json!(w.max().map(ms_f64)));
    m.insert("mean_ms".into(), json!(w.mean().map(ms_f64)));
    let mut st = Map::new();
    for (code, n) in w.status_counts().iter() {
        st.insert(code.to_string(), json!(n));
    }
    m.insert("status".into(), Value::Object(st));
    m.insert("clamped".into(), json!(w.clamped()));
    m.insert("damaged_s".into(), json!(w.damaged_s()));
    m
}

/// The most frequent statuses, `200:901 404:99`.
pub fn top_statuses(w: &WindowStats, n: usize) -> String {
    let mut st: Vec<(u16, u64)> = w.status_counts().iter().collect();
    st.sort_by_key(|e| std::cmp::Reverse(e.1));
    st.iter().take(n).map(|(c, k)| format!("{c}:{k}")).collect::<Vec<_>>().join(" ")
}

/// A name from log data as a table shows it: control characters (a
/// newline, an escape sequence that would clear the terminal) are written
/// as escapes (`\n`, `\u{1b}`), everything else as is. JSON output needs
/// none of this: its encoder escapes them.
pub fn shown(name: &str) -> std::borrow::Cow<'_, str> {
    if name.chars().any(char::is_control) {
        let mut out = String::with_capacity(name.len() + 8);
        for c in name.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
        std::borrow::Cow::Owned(out)
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tailstore::format::{fmt_float, fmt_ms_full, ms_f64};

    /// CSV cells are written with `fmt_float`, JSON numbers by `serde_json`:
    /// oracle, the two agree on latencies, ratios and arbitrary doubles.
    #[test]
    #[expect(
        clippy::cast_precision_loss,
        reason = "the u64 cast holds at most 53 bits, which an f64 holds exactly"
    )]
    fn text_numbers_match_json() {
        let mut ns = 1u64;
        while ns < 1 << 53 {
            for d in [ns, ns + 1, ns / 2 * 3, ns + ns / 7 + 13].map(Duration::from_nanos) {
                assert_eq!(fmt_ms_full(d), json!(ms_f64(d)).to_string(), "{d:?}");
            }
            ns += ns / 4 + 1;
        }
        for n in 1..2_000u32 {
            for k in (0..=n).step_by(usize::try_from(n / 64).unwrap_or(1).max(1)) {
                let r = f64::from(k) / f64::from(n);
                assert_eq!(fmt_float(r), json!(r).to_string(), "{k}/{n}");
            }
        }
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..200_000 {
            let x = f64::from_bits(next());
            if x.is_finite() {
                assert_eq!(fmt_float(x), json!(x).to_string(), "{x:e}");
            }
        }
        // Short binary fractions: the values whose decimal digits can end
        // exactly between two shortest candidates (662936471232937.25).
        for t in 1..=64 {
            for _ in 0..2_000 {
                let x = f64::from(u32::try_from(next() >> 32).unwrap_or(1) | 1) / 2f64.powi(t);
                let y = (next() >> (11 + t.min(40))) as f64 + 0.25;
                for v in [x, y, x * 1e9, y * 3.0] {
                    assert_eq!(fmt_float(v), json!(v).to_string(), "{v:e}");
                }
            }
        }
    }
}
