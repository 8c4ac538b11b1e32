//! The Prometheus protobuf exposition (`io.prometheus.client.MetricFamily`,
//! length-delimited), hand-encoded: the message set is small and fixed
//! (`client_model`'s `metrics.proto`), so no code generation. Histograms
//! carry both the classic buckets and a **native histogram** (sparse
//! exponential buckets) derived from the HDR counts.
//!
//! # Native buckets
//!
//! A native histogram of schema `s` has buckets whose bounds are powers of
//! `2^(2^-s)`: bucket `k` holds the values in `(2^((k-1)·2^-s), 2^(k·2^-s)]`
//! seconds. The schema is chosen from the layout's precision
//! ([`native_schema`]): the finest (at most 8, Prometheus' limit) whose
//! buckets are at least as wide, relatively, as the HDR buckets. At the
//! default 3 significant digits (HDR buckets 1/1024 = 0.098 % wide) that is
//! schema 8: native buckets `2^(1/256) - 1` = 0.271 % wide.
//!
//! Each non-empty HDR bucket's count goes to the native bucket holding the
//! HDR bucket's median value ([`tailstore::Layout::median_equivalent`]); an
//! HDR bucket is never split. Since a native bucket is at least as wide
//! as an HDR bucket, the values of one HDR bucket span at most two native
//! buckets: a sample is counted in its own native bucket or in a
//! neighbour, never further (with the default lowest value of 1 ns, where
//! the narrowest HDR buckets hold one value each). Samples of 0 go to the
//! zero bucket (threshold `2^-128` s, `client_golang`'s default).

use std::io::Write;

use tailstore::Layout;

/// Prometheus' finest native schema.
const MAX_SCHEMA: i8 = 8;
/// Prometheus' coarsest native schema.
const MIN_SCHEMA: i8 = -4;
/// The zero bucket's threshold, seconds: `client_golang`'s default
/// (`2^-128`). A positive threshold also marks the histogram as native for
/// Prometheus even when it holds no sample.
pub(crate) const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// `MetricType` values.
pub(crate) const COUNTER: u64 = 0;
/// `MetricType::GAUGE`.
pub(crate) const GAUGE: u64 = 1;
/// `MetricType::HISTOGRAM`.
pub(crate) const HISTOGRAM: u64 = 4;

/// The native histogram schema for `layout`: the finest schema (at most 8)
/// whose buckets are at least as wide, relatively, as the layout's (`1 /
/// 2^half_mag` of their lowest value): `half_mag - 1`, clamped to
/// Prometheus' `-4 ..= 8`. 8 (0.271 % wide buckets) at 3 or more
/// significant digits.
///
/// ```
/// use tailstore::Layout;
/// assert_eq!(tailstore_prometheus::native_schema(&Layout::default()), 8);
/// ```
#[must_use]
pub fn native_schema(layout: &Layout) -> i8 {
    let s = i64::from(layout.half_mag()) - 1;
    #[expect(clippy::cast_possible_truncation, reason = "clamped to -4 ..= 8")]
    let s = s.clamp(i64::from(MIN_SCHEMA), i64::from(MAX_SCHEMA)) as i8;
    s
}

/// The native bucket of `seconds` (> 0) at `schema`: the `k` with
/// `2^((k-1)·2^-schema) < seconds <= 2^(k·2^-schema)`.
#[must_use]
pub fn native_bucket(seconds: f64, schema: i8) -> i32 {
    let scale = 2f64.powi(i32::from(schema));
    #[expect(
        clippy::cast_possible_truncation,
        reason = "|log2| of a positive finite f64 is below 1100, times at most 256"
    )]
    let mut k = (seconds.log2() * scale).ceil() as i32;
    // log2 may round across a bound: settle on the exact comparison.
    if upper_bound(k, scale) < seconds {
        k += 1;
    } else if upper_bound(k - 1, scale) >= seconds {
        k -= 1;
    }
    k
}

fn upper_bound(k: i32, scale: f64) -> f64 {
    (f64::from(k) / scale).exp2()
}

/// Scratch buffers of a scrape, reused from series to series so that the
/// encoding allocates nothing per bucket.
#[derive(Default)]
pub(crate) struct Encoder {
    family: Vec<u8>,
    metric: Vec<u8>,
    msg: Vec<u8>,
    tmp: Vec<u8>,
    spans: Vec<(i32, u32)>,
    deltas: Vec<i64>,
}

/// One series' histogram, as the protobuf `Histogram` message holds it.
pub(crate) struct HistogramData<'a> {
    pub(crate) count: u64,
    pub(crate) sum_s: f64,
    pub(crate) created_s: u64,
    /// Classic buckets: `(upper bound in seconds, cumulative count)`.
    pub(crate) classic: &'a mut dyn Iterator<Item = (f64, u64)>,
    /// Non-empty HDR buckets `(index, count)`, ascending.
    pub(crate) hdr: &'a [(u32, u64)],
}

impl Encoder {
    /// Starts a family (`MetricFamily` fields 1 to 3).
    pub(crate) fn begin_family(&mut self, name: &str, help: &str, ty: u64) {
        self.family.clear();
        bytes(&mut self.family, 1, name.as_bytes());
        bytes(&mut self.family, 2, help.as_bytes());
        uint(&mut self.family, 3, ty);
    }

    /// Starts a metric (`Metric`) of the current family.
    pub(crate) fn begin_metric(&mut self) {
        self.metric.clear();
    }

    /// Adds a label (`Metric.label`, a `LabelPair`) to the current metric.
    pub(crate) fn label(&mut self, name: &str, value: &str) {
        self.tmp.clear();
        bytes(&mut self.tmp, 1, name.as_bytes());
        bytes(&mut self.tmp, 2, value.as_bytes());
        bytes(&mut self.metric, 1, &self.tmp);
    }

    /// Sets the current metric's counter (`Metric.counter`).
    pub(crate) fn counter(&mut self, value: f64, created_s: u64) {
        self.msg.clear();
        double(&mut self.msg, 1, value);
        timestamp(&mut self.tmp, created_s);
        bytes(&mut self.msg, 3, &self.tmp);
        bytes(&mut self.metric, 3, &self.msg);
    }

    /// Sets the current metric's gauge (`Metric.gauge`).
    pub(crate) fn gauge(&mut self, value: f64) {
        self.msg.clear();
        double(&mut self.msg, 1, value);
        bytes(&mut self.metric, 2, &self.msg);
    }

    /// Sets the current metric's histogram (`Metric.histogram`): classic
    /// buckets and the native histogram of `layout`'s counts.
    pub(crate) fn histogram(&mut self, h: HistogramData<'_>, layout: &Layout) {
        let schema = native_schema(layout);
        let m = &mut self.msg;
        m.clear();
        uint(m, 1, h.count);
        double(m, 2, h.sum_s);
        for (le, c) in h.classic {
            self.tmp.clear();
            uint(&mut self.tmp, 1, c);
            double(&mut self.tmp, 2, le);
            bytes(m, 3, &self.tmp);
        }
        sint(m, 5, i64::from(schema));
        double(m, 6, ZERO_THRESHOLD);
        let zero = native_buckets(h.hdr, layout, schema, &mut self.spans, &mut self.deltas);
        uint(m, 7, zero);
        for &(offset, length) in &self.spans {
            self.tmp.clear();
            sint(&mut self.tmp, 1, i64::from(offset));
            uint(&mut self.tmp, 2, u64::from(length));
            bytes(m, 12, &self.tmp);
        }
        if !self.deltas.is_empty() {
            self.tmp.clear();
            for &d in &self.deltas {
                varint(&mut self.tmp, zigzag(d));
            }
            bytes(m, 13, &self.tmp);
        }
        timestamp(&mut self.tmp, h.created_s);
        bytes(m, 15, &self.tmp);
        bytes(&mut self.metric, 7, m);
    }

    /// Ends the current metric, adding it to the family.
    pub(crate) fn end_metric(&mut self) {
        bytes(&mut self.family, 4, &self.metric);
    }

    /// Writes the family, length-delimited.
    pub(crate) fn end_family(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.tmp.clear();
        varint(&mut self.tmp, len64(&self.family));
        out.write_all(&self.tmp)?;
        out.write_all(&self.family)
    }
}

/// The native buckets of the HDR buckets `hdr`: spans and deltas into
/// `spans` and `deltas` (cleared first); returns the zero bucket's count.
pub(crate) fn native_buckets(
    hdr: &[(u32, u64)],
    layout: &Layout,
    schema: i8,
    spans: &mut Vec<(i32, u32)>,
    deltas: &mut Vec<i64>,
) -> u64 {
    spans.clear();
    deltas.clear();
    let mut zero = 0u64;
    let scale = 2f64.powi(i32::from(schema));
    // The native bucket of the last median, and its bounds (seconds).
    let mut bounds: Option<(i32, f64, f64)> = None;
    // The native bucket being summed, and the last one emitted.
    let mut cur: Option<(i32, u64)> = None;
    let mut last: Option<(i32, u64)> = None;
    let mut emit = |(k, c): (i32, u64), last: &mut Option<(i32, u64)>| {
        match *last {
            Some((pk, _)) if k == pk + 1 => {
                if let Some(s) = spans.last_mut() {
                    s.1 += 1;
                }
            }
            Some((pk, _)) => spans.push((k - pk - 1, 1)),
            None => spans.push((k, 1)),
        }
        let prev = last.map_or(0, |(_, pc)| pc);
        deltas.push(delta(c, prev));
        *last = Some((k, c));
    };
    for &(i, c) in hdr {
        let median_ns = layout.median_equivalent(i);
        if median_ns == 0 {
            zero += c;
            continue;
        }
        #[expect(clippy::cast_precision_loss, reason = "ns below 2^53 are exact; above, 1 ulp")]
        let v = median_ns as f64 / 1e9;
        // Medians ascend: most fall in the bucket of the one before or the
        // next, found by comparisons and one `exp2` instead of a `log2`.
        let k = match bounds {
            Some((k, lo, hi)) if lo < v && v <= hi => k,
            Some((k, _, hi)) if hi < v && v <= upper_bound(k + 1, scale) => {
                bounds = Some((k + 1, hi, upper_bound(k + 1, scale)));
                k + 1
            }
            _ => {
                let k = native_bucket(v, schema);
                bounds = Some((k, upper_bound(k - 1, scale), upper_bound(k, scale)));
                k
            }
        };
        cur = match cur {
            Some((ck, cc)) if ck == k => Some((ck, cc + c)),
            Some(done) => {
                emit(done, &mut last);
                Some((k, c))
            }
            None => Some((k, c)),
        };
    }
    if let Some(done) = cur {
        emit(done, &mut last);
    }
    zero
}

/// `c - prev` as a signed delta (counts are far below 2^63).
fn delta(c: u64, prev: u64) -> i64 {
    let d = i128::from(c) - i128::from(prev);
    #[expect(clippy::cast_possible_truncation, reason = "clamped to the i64 range")]
    let d = d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    d
}

fn len64(b: &[u8]) -> u64 {
    // A usize always fits a u64 on supported targets.
    u64::try_from(b.len()).unwrap_or(u64::MAX)
}

fn varint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        #[expect(clippy::cast_possible_truncation, reason = "the low 7 bits")]
        b.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    #[expect(clippy::cast_possible_truncation, reason = "v < 0x80")]
    b.push(v as u8);
}

fn zigzag(v: i64) -> u64 {
    #[expect(clippy::cast_sign_loss, reason = "zigzag encoding reinterprets the bits")]
    let z = ((v << 1) ^ (v >> 63)) as u64;
    z
}

fn key(b: &mut Vec<u8>, field: u32, wire: u32) {
    varint(b, u64::from((field << 3) | wire));
}

fn uint(b: &mut Vec<u8>, field: u32, v: u64) {
    key(b, field, 0);
    varint(b, v);
}

fn sint(b: &mut Vec<u8>, field: u32, v: i64) {
    key(b, field, 0);
    varint(b, zigzag(v));
}

fn double(b: &mut Vec<u8>, field: u32, v: f64) {
    key(b, field, 1);
    b.extend_from_slice(&v.to_le_bytes());
}

fn bytes(b: &mut Vec<u8>, field: u32, data: &[u8]) {
    key(b, field, 2);
    varint(b, len64(data));
    b.extend_from_slice(data);
}

/// A `google.protobuf.Timestamp` of whole seconds into `b` (cleared first).
fn timestamp(b: &mut Vec<u8>, seconds: u64) {
    b.clear();
    key(b, 1, 0);
    varint(b, seconds);
}

#[cfg(test)]
pub(crate) mod decode {
    //! An independent decoder of the protobuf wire format, for the tests:
    //! a message as its fields in order, each `(number, value)`.

    /// A field's value.
    #[derive(Clone, Debug, PartialEq)]
    pub enum V {
        /// Wire type 0.
        Varint(u64),
        /// Wire type 1.
        Fixed64(u64),
        /// Wire type 2.
        Bytes(Vec<u8>),
    }

    /// Reads a varint at `*pos`.
    pub fn varint(b: &[u8], pos: &mut usize) -> u64 {
        let mut v = 0u64;
        let mut shift = 0;
        loop {
            let byte = b[*pos];
            *pos += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return v;
            }
            shift += 7;
            assert!(shift < 64, "varint too long");
        }
    }

    /// A message's fields.
    pub fn message(b: &[u8]) -> Vec<(u32, V)> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < b.len() {
            let k = varint(b, &mut pos);
            let (field, wire) = (u32::try_from(k >> 3).unwrap(), k & 7);
            let v = match wire {
                0 => V::Varint(varint(b, &mut pos)),
                1 => {
                    let v = u64::from_le_bytes(b[pos..pos + 8].try_into().unwrap());
                    pos += 8;
                    V::Fixed64(v)
                }
                2 => {
                    let n = usize::try_from(varint(b, &mut pos)).unwrap();
                    let v = b[pos..pos + n].to_vec();
                    pos += n;
                    V::Bytes(v)
                }
                w => panic!("unexpected wire type {w}"),
            };
            out.push((field, v));
        }
        out
    }

    /// The length-delimited messages of a stream.
    pub fn delimited(b: &[u8]) -> Vec<Vec<u8>> {
        let mut pos = 0;
        let mut out = Vec::new();
        while pos < b.len() {
            let n = usize::try_from(varint(b, &mut pos)).unwrap();
            out.push(b[pos..pos + n].to_vec());
            pos += n;
        }
        out
    }

    /// The values of `field`.
    pub fn all(m: &[(u32, V)], field: u32) -> Vec<&V> {
        m.iter().filter(|(f, _)| *f == field).map(|(_, v)| v).collect()
    }

    /// The single value of `field`.
    pub fn one(m: &[(u32, V)], field: u32) -> &V {
        let a = all(m, field);
        assert_eq!(a.len(), 1, "field {field} in {m:?}");
        a[0]
    }

    /// `field` as a string.
    pub fn string(m: &[(u32, V)], field: u32) -> String {
        match one(m, field) {
            V::Bytes(b) => String::from_utf8(b.clone()).unwrap(),
            v => panic!("field {field} is {v:?}"),
        }
    }

    /// `field` as a submessage.
    pub fn sub(v: &V) -> Vec<(u32, V)> {
        match v {
            V::Bytes(b) => message(b),
            v => panic!("not a message: {v:?}"),
        }
    }

    /// `field` as an unsigned varint.
    pub fn uint(m: &[(u32, V)], field: u32) -> u64 {
        match one(m, field) {
            V::Varint(v) => *v,
            v => panic!("field {field} is {v:?}"),
        }
    }

    /// `field` as a zigzag varint.
    pub fn sint(m: &[(u32, V)], field: u32) -> i64 {
        unzig(uint(m, field))
    }

    /// Undoes zigzag.
    pub fn unzig(z: u64) -> i64 {
        let h = i64::try_from(z >> 1).unwrap();
        if z & 1 == 0 {
            h
        } else {
            -h - 1
        }
    }

    /// `field` as a double.
    pub fn double(m: &[(u32, V)], field: u32) -> f64 {
        match one(m, field) {
            V::Fixed64(v) => f64::from_bits(*v),
            v => panic!("field {field} is {v:?}"),
        }
    }

    /// A native histogram's positive buckets `(index, count)` and zero
    /// count, from a `Histogram` message's spans and packed deltas.
    pub fn native(h: &[(u32, V)]) -> (Vec<(i32, u64)>, u64) {
        let mut deltas = Vec::new();
        for v in all(h, 13) {
            let V::Bytes(b) = v else { panic!("unpacked deltas") };
            let mut pos = 0;
            while pos < b.len() {
                deltas.push(unzig(varint(b, &mut pos)));
            }
        }
        let mut out = Vec::new();
        let (mut k, mut count, mut d) = (0i32, 0i64, deltas.into_iter());
        for (n, span) in all(h, 12).into_iter().enumerate() {
            let s = sub(span);
            let offset = i32::try_from(sint(&s, 1)).unwrap();
            let length = uint(&s, 2);
            k = if n == 0 { offset } else { k + 1 + offset };
            for j in 0..length {
                if j > 0 {
                    k += 1;
                }
                count += d.next().expect("a delta per bucket");
                out.push((k, u64::try_from(count).expect("counts are non-negative")));
            }
        }
        assert!(d.next().is_none(), "more deltas than buckets");
        (out, uint(h, 7))
    }
}

#[cfg(test)]
#[expect(
    clippy::float_cmp,
    clippy::cast_precision_loss,
    reason = "the values compared are written and read back bit for bit; test latencies are \
              far below 2^53 ns"
)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_zigzag_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 16_383, 16_384, u64::MAX] {
            let mut b = Vec::new();
            varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(decode::varint(&b, &mut pos), v);
            assert_eq!(pos, b.len());
        }
        let mut b = Vec::new();
        varint(&mut b, 300);
        assert_eq!(b, [0xac, 0x02]);
        for v in [0i64, -1, 1, -2, 2, i64::MIN, i64::MAX, -7654] {
            assert_eq!(decode::unzig(zigzag(v)), v);
        }
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
    }

    #[test]
    fn schema_follows_the_layouts_precision() {
        assert_eq!(native_schema(&Layout::default()), 8);
        for digits in 1..=5u8 {
            let l = Layout::new(digits, 1, 3_600_000_000_000).unwrap();
            let s = native_schema(&l);
            // Native buckets at least as wide as the HDR ones, and at most
            // twice as wide unless capped at 8.
            let native = (2f64.powi(-i32::from(s))).exp2() - 1.0;
            let hdr = 1.0 / f64::from(1u32 << l.half_mag());
            assert!(native >= hdr, "digits {digits}: schema {s}");
            assert!(s == 8 || native < 2.0 * hdr, "digits {digits}: schema {s}");
        }
    }

    #[test]
    fn native_bucket_bounds_are_upper_inclusive() {
        assert_eq!(native_bucket(1.0, 0), 0);
        assert_eq!(native_bucket(1.5, 0), 1);
        assert_eq!(native_bucket(2.0, 0), 1);
        assert_eq!(native_bucket(2.000_001, 0), 2);
        assert_eq!(native_bucket(0.5, 0), -1);
        assert_eq!(native_bucket(1.0, 8), 0);
        assert_eq!(native_bucket(2.0, 8), 256);
        assert_eq!(native_bucket(0.25, 3), -16);
        for s in [-4i8, -1, 0, 3, 8] {
            for v in [1e-9, 3.7e-4, 0.05, 0.999, 1.0, 1.001, 42.0, 3600.0] {
                let k = native_bucket(v, s);
                let scale = 2f64.powi(i32::from(s));
                assert!(upper_bound(k - 1, scale) < v && v <= upper_bound(k, scale), "{v} {s}");
            }
        }
    }

    #[test]
    fn spans_and_deltas_of_a_known_histogram() {
        let layout = Layout::default();
        // 1 s, 1.001 s (same native bucket 0.. at schema 8), 2 s, 2 s, 8 s,
        // and two zeros.
        let ns =
            [0u64, 0, 1_000_000_000, 1_001_000_000, 2_000_000_000, 2_000_000_000, 8_000_000_000];
        let mut hdr: Vec<(u32, u64)> = Vec::new();
        for v in ns {
            let i = layout.index(v);
            match hdr.last_mut() {
                Some((j, c)) if *j == i => *c += 1,
                _ => hdr.push((i, 1)),
            }
        }
        let (mut spans, mut deltas) = (Vec::new(), Vec::new());
        let zero = native_buckets(&hdr, &layout, 8, &mut spans, &mut deltas);
        assert_eq!(zero, 2);
        // HDR medians: 1 s's bucket median is just above 1 s (bucket 1),
        // 1.001 s is in native bucket 1 too (2^(1/256) = 1.0027); 2 s's
        // median is just above 2 s (bucket 257); 8 s: bucket 769.
        let k = |ns: u32| {
            let median = layout.median_equivalent(layout.index(u64::from(ns) * 1_000_000));
            native_bucket(f64::from(u32::try_from(median / 1_000).unwrap()) / 1e6, 8)
        };
        assert_eq!((k(1_000), k(2_000), k(8_000)), (1, 257, 769));
        assert_eq!(spans, vec![(1, 1), (255, 1), (511, 1)]);
        assert_eq!(deltas, vec![2, 0, -1]);

        // Adjacent buckets share one span.
        let hdr = [(layout.index(1_000_000_000), 3), (layout.index(1_004_000_000), 5)];
        let zero = native_buckets(&hdr, &layout, 8, &mut spans, &mut deltas);
        assert_eq!(zero, 0);
        assert_eq!(spans, vec![(1, 2)]);
        assert_eq!(deltas, vec![3, 2]);
        let none = native_buckets(&[], &layout, 8, &mut spans, &mut deltas);
        assert_eq!((none, spans.len(), deltas.len()), (0, 0, 0));
    }

    /// A store of known latencies (ns) in one series, plus a gauge.
    fn store_of(latencies_ns: &[u64]) -> tailstore::Store {
        use std::time::{Duration, UNIX_EPOCH};
        let store = tailstore::Store::in_memory(tailstore::Options::default().keep_everything());
        let s = store.series("/models/a\"b");
        for (i, &ns) in latencies_ns.iter().enumerate() {
            let at = UNIX_EPOCH + Duration::from_secs(1_764_547_200 + (i as u64 % 30));
            s.record_at(at, Duration::from_nanos(ns), if i % 10 == 0 { 503 } else { 200 });
        }
        store
    }

    fn scrape(
        store: &tailstore::Store,
        alerts: &[crate::ActiveAlert],
    ) -> Vec<Vec<(u32, decode::V)>> {
        let mut out = Vec::new();
        crate::Exposition::new(crate::Names::tailstore())
            .encode_with_alerts(store, crate::Format::protobuf(), alerts, &mut out)
            .unwrap();
        decode::delimited(&out).iter().map(|m| decode::message(m)).collect()
    }

    #[test]
    fn families_decode_with_their_types_labels_and_values() {
        use decode::{all, double, one, string, sub, uint};
        let lat: Vec<u64> = (0..1_000u64).map(|i| 1_000_000 + i * 997_001).collect();
        let store = store_of(&lat);
        store.gauge("memory.bytes").set(2.5e9);
        let alert = crate::ActiveAlert {
            alertname: "HighP99".into(),
            labels: [("series".to_string(), "/models/x".to_string())].into(),
            firing: true,
        };
        let fams = scrape(&store, &[alert]);
        let names: Vec<String> = fams.iter().map(|f| string(f, 1)).collect();
        assert_eq!(
            names,
            [
                "tailstore_request_duration_seconds",
                "tailstore_requests_total",
                "memory_bytes",
                "ALERTS"
            ]
        );
        let types: Vec<u64> = fams.iter().map(|f| uint(f, 3)).collect();
        assert_eq!(types, [HISTOGRAM, COUNTER, GAUGE, GAUGE]);

        // The histogram: label, count, sum, classic buckets, native buckets.
        let metrics = all(&fams[0], 4);
        assert_eq!(metrics.len(), 1);
        let m = sub(metrics[0]);
        let label = sub(one(&m, 1));
        assert_eq!(
            (string(&label, 1), string(&label, 2)),
            ("series".into(), "/models/a\"b".into())
        );
        let h = sub(one(&m, 7));
        assert_eq!(uint(&h, 1), 1_000);
        let exact_sum: u64 = lat.iter().sum();
        assert!((double(&h, 2) - exact_sum as f64 / 1e9).abs() < 1e-9);
        let classic: Vec<(f64, u64)> = all(&h, 3)
            .into_iter()
            .map(|b| {
                let b = sub(b);
                (double(&b, 2), uint(&b, 1))
            })
            .collect();
        assert_eq!(classic.len(), crate::TAILSTORE_BUCKETS.len());
        for (&(le, c), want) in classic.iter().zip(crate::TAILSTORE_BUCKETS) {
            assert_eq!(le, want);
            // Bounds here fall on no sample's HDR bucket but for rounding:
            // within the bucket's own slack (see the crate's docs).
            let exact = lat.iter().filter(|&&ns| ns as f64 <= le * 1e9).count() as u64;
            assert!(c >= exact && c <= exact + 2, "le {le}: {c} vs {exact}");
        }
        assert_eq!(decode::sint(&h, 5), 8);
        assert_eq!(double(&h, 6), ZERO_THRESHOLD);
        let (native, zero) = decode::native(&h);
        assert_eq!(zero, 0);
        assert_eq!(native.iter().map(|(_, c)| c).sum::<u64>(), 1_000);
        assert!(native.windows(2).all(|w| w[0].0 < w[1].0));
        // created_timestamp: the first retained second.
        assert_eq!(uint(&sub(one(&h, 15)), 1), 1_764_547_200);

        // The counter by status.
        let counters: Vec<(String, f64)> = all(&fams[1], 4)
            .into_iter()
            .map(|m| {
                let m = sub(m);
                let labels = all(&m, 1);
                assert_eq!(labels.len(), 2);
                let status = sub(labels[1]);
                assert_eq!(string(&status, 1), "status");
                (string(&status, 2), double(&sub(one(&m, 3)), 1))
            })
            .collect();
        assert_eq!(counters, [("200".to_string(), 900.0), ("503".to_string(), 100.0)]);

        // The gauge and the alert.
        assert_eq!(double(&sub(one(&sub(one(&fams[2], 4)), 2)), 1), 2.5e9);
        let a = sub(one(&fams[3], 4));
        let labels: Vec<(String, String)> = all(&a, 1)
            .into_iter()
            .map(|l| {
                let l = sub(l);
                (string(&l, 1), string(&l, 2))
            })
            .collect();
        assert_eq!(
            labels,
            [
                ("alertname".to_string(), "HighP99".to_string()),
                ("alertstate".to_string(), "firing".to_string()),
                ("series".to_string(), "/models/x".to_string())
            ]
        );
        assert_eq!(double(&sub(one(&a, 2)), 1), 1.0);

        // An empty store writes nothing.
        let empty = tailstore::Store::in_memory(tailstore::Options::default());
        assert!(scrape(&empty, &[]).is_empty());
    }

    #[test]
    fn ingress_nginx_names_in_protobuf() {
        use decode::{all, one, string, sub, uint};
        let store = store_of(&[5_000_000, 7_000_000]);
        let mut out = Vec::new();
        crate::Exposition::new(crate::Names::ingress_nginx())
            .encode(&store, crate::Format::protobuf(), &mut out)
            .unwrap();
        let fams: Vec<_> = decode::delimited(&out).iter().map(|m| decode::message(m)).collect();
        assert_eq!(string(&fams[0], 1), "nginx_ingress_controller_request_duration_seconds");
        // The guide's counter name, typed counter: protobuf has no `_total` rule.
        assert_eq!(string(&fams[1], 1), "nginx_ingress_controller_requests");
        assert_eq!(uint(&fams[1], 3), COUNTER);
        let m = sub(one(&fams[0], 4));
        assert_eq!(string(&sub(one(&m, 1)), 1), "path");
        let h = sub(one(&m, 7));
        // ingress-nginx's 11 bounds, without `+Inf` (the count says it).
        assert_eq!(all(&h, 3).len(), crate::INGRESS_NGINX_BUCKETS.len());
        assert_eq!(decode::native(&h).0.iter().map(|(_, c)| c).sum::<u64>(), 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// The native buckets hold every sample, and each within one native
        /// bucket of its own: for every bound `k`, the native count up to
        /// `k` is between the samples truly in buckets `<= k - 1` and those
        /// in buckets `<= k + 1`.
        #[test]
        fn native_buckets_hold_each_sample_within_one_bucket(
            lat in proptest::collection::vec(
                proptest::prop_oneof![
                    1 => proptest::strategy::Just(0u64),
                    3 => 1u64..5_000,
                    8 => 5_000u64..3_000_000_000,
                ],
                1..400,
            )
        ) {
            let store = store_of(&lat);
            let fams = scrape(&store, &[]);
            let m = decode::sub(decode::one(&fams[0], 4));
            let h = decode::sub(decode::one(&m, 7));
            let (native, zero) = decode::native(&h);
            let zeros = lat.iter().filter(|&&ns| ns == 0).count() as u64;
            proptest::prop_assert_eq!(zero, zeros);
            proptest::prop_assert_eq!(native.iter().map(|(_, c)| c).sum::<u64>() + zero, lat.len() as u64);
            let truth: Vec<i32> = lat
                .iter()
                .filter(|&&ns| ns > 0)
                .map(|&ns| native_bucket(ns as f64 / 1e9, 8))
                .collect();
            for &(k, _) in &native {
                for b in [k - 1, k, k + 1] {
                    let ours: u64 = native.iter().filter(|(j, _)| *j <= b).map(|(_, c)| c).sum();
                    let below = truth.iter().filter(|&&t| t < b).count() as u64;
                    let upto = truth.iter().filter(|&&t| t <= b + 1).count() as u64;
                    proptest::prop_assert!(below <= ours && ours <= upto, "bound {}: {} not in [{}, {}]", b, ours, below, upto);
                }
            }
        }
    }
}
