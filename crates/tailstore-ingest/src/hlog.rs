//! `HdrHistogram` interval logs (`.hlog`): one histogram per line, not one
//! request per line.
//!
//! Lines are split by the `hdrhistogram` crate's [`IntervalLogIterator`],
//! fed one line at a time so that a bad line is reported with its number and
//! the rest of the file still reads (the iterator itself stops at the first
//! line it cannot parse). Histogram payloads are decoded by the crate's
//! [`Deserializer`] for the V2 encodings (cookies `0x1c849303`/`0x1c849304`
//! with the word-size nibble, i.e. `HISTFAAA…` and `HISTEwAA…`). The crate
//! does not read the two older encodings that jHiccup and YCSB wrote until
//! 2015, so they are decoded here, following the layout `HdrHistogram`'s Java
//! and C readers use:
//!
//! | Encoding | Compression cookie | Header after inflating (big-endian) | Counts |
//! |---|---|---|---|
//! | V0 | `0x1c849309` (nibble ignored) | cookie `0x1c8493_8`+word, digits i32, lowest i64, highest i64, total i64 (32 B) | every slot, fixed width |
//! | V1 | `0x1c849302` | cookie `0x1c849301`+word, payload length i32, normalizing offset i32, digits i32, lowest i64, highest i64, conversion ratio f64 (40 B) | `payload / word` slots, fixed width |
//!
//! Both wrap a zlib stream after an 8-byte header (compression cookie,
//! compressed length). Word sizes 2, 4 and 8 are accepted; a negative count,
//! a count array longer than the histogram, or a non-zero normalizing offset
//! (a shifted histogram, never written to logs) is an error.
//!
//! # Timestamps
//!
//! As in `HdrHistogram`'s `HistogramLogReader` (Java, C, Python): an interval's
//! absolute start is its `StartTimestamp` plus the base time. The base time
//! is `#[BaseTime: …]` when the log has one; otherwise it is decided at the
//! first interval: `#[StartTime: …]` when that interval's timestamp is more
//! than a year before the start time (relative timestamps, as jHiccup
//! writes), else 0 (absolute timestamps, as YCSB writes). Without a
//! `StartTime` the first interval's timestamp is the start time.

use std::io::Read;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

/// A year of seconds: the base-time heuristic's threshold (as `HdrHistogram`'s readers).
const YEAR_S: u64 = 365 * 24 * 3600;

/// V0 compression cookie (without its word-size nibble).
const V0_COMPRESSION: u32 = 0x1c84_9309;
/// V0 encoding cookie.
const V0_ENCODING: u32 = 0x1c84_9308;
/// V1 compression cookie.
const V1_COMPRESSION: u32 = 0x1c84_9302;
/// V1 encoding cookie.
const V1_ENCODING: u32 = 0x1c84_9301;
/// V2 encoding cookie (uncompressed).
const V2_ENCODING: u32 = 0x1c84_9303;
/// V2 compression cookie (DEFLATE).
const V2_COMPRESSION: u32 = 0x1c84_9304;

/// Why one line of an interval log could not be read.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HlogError {
    /// Not a comment, legend, `StartTime`/`BaseTime` header or interval line.
    #[error("not an interval log line (expected `[Tag=T,]start,length,max,base64`): `{text}`")]
    Syntax {
        /// The line, cut to 80 characters.
        text: String,
    },
    /// A timestamp that does not fit in unix nanoseconds (u64).
    #[error("timestamp out of range: {what} {secs} s")]
    Time {
        /// Which timestamp: `start`, `length` or `base time`.
        what: &'static str,
        /// Its value in whole seconds.
        secs: u64,
    },
    /// The payload is not valid base64.
    #[error("histogram payload is not base64: {reason}")]
    Base64 {
        /// The decoder's message.
        reason: String,
    },
    /// The payload starts with a cookie of no known encoding.
    #[error("histogram payload has unknown cookie {cookie:#010x}")]
    Cookie {
        /// The first four bytes, big-endian.
        cookie: u32,
    },
    /// The payload is cut short or its lengths or fields are inconsistent.
    #[error("{encoding} histogram payload is damaged: {reason}")]
    Damaged {
        /// `V0`, `V1` or `V2`.
        encoding: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// One recorded bucket of an interval's histogram, in the log's own value
/// unit (nanoseconds for jHiccup, microseconds for YCSB and wrk2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HlogBucket {
    /// Smallest value of the bucket (what `HdrHistogram`'s `add` re-records).
    pub lowest: u64,
    /// Largest value of the bucket (what `value_at_quantile` reports).
    pub highest: u64,
    /// `HdrHistogram`'s `median_equivalent`: the middle of the bucket.
    pub median: u64,
    /// Samples in the bucket.
    pub count: u64,
}

/// One interval histogram of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HlogInterval {
    /// The `Tag=` of the line, if any.
    pub tag: Option<String>,
    /// Absolute start, unix nanoseconds (see the module docs).
    pub start_ns: u64,
    /// Interval length, nanoseconds.
    pub length_ns: u64,
    /// Significant digits of the histogram as written.
    pub digits: u8,
    /// The recorded (non-empty) buckets, ascending.
    pub buckets: Vec<HlogBucket>,
}

impl HlogInterval {
    /// Total samples of the interval.
    #[must_use]
    pub fn total(&self) -> u64 {
        self.buckets.iter().map(|b| b.count).sum()
    }
}

/// Reads an interval log line by line, keeping the `StartTime`/`BaseTime`
/// state between lines.
#[derive(Debug, Default, Clone)]
pub struct HlogReader {
    /// `#[StartTime: …]`, or the first interval's timestamp, in ns.
    start_ns: Option<u64>,
    /// `#[BaseTime: …]`, or the base decided at the first interval, in ns.
    base_ns: Option<u64>,
    /// The current line plus `\n`, as the iterator wants it.
    buf: Vec<u8>,
}

fn ns_of(d: Duration, what: &'static str) -> Result<u64, HlogError> {
    u64::try_from(d.as_nanos()).map_err(|_| HlogError::Time { what, secs: d.as_secs() })
}

fn cut(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    match s.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.into_owned(),
    }
}

impl HlogReader {
    /// A reader at the start of a file.
    #[must_use]
    pub fn new() -> HlogReader {
        HlogReader::default()
    }

    /// The log's start time in unix ns, once known.
    #[must_use]
    pub fn start_time_ns(&self) -> Option<u64> {
        self.start_ns
    }

    /// Reads one line (without its newline; a trailing `\r` is tolerated).
    ///
    /// Blank lines, comments, the CSV legend and the `StartTime`/`BaseTime`
    /// headers return `Ok(None)`; an interval line returns its histogram.
    ///
    /// # Errors
    ///
    /// [`HlogError`] for a line that is none of those or whose histogram
    /// cannot be decoded; the reader's state is unchanged by such a line.
    pub fn parse_line(&mut self, line: &[u8]) -> Result<Option<HlogInterval>, HlogError> {
        // Other implementations surround lines with white space
        // (HdrHistogramJS ends the payload with spaces or a tab).
        let line = line.trim_ascii();
        if line.is_empty() {
            return Ok(None);
        }
        self.buf.clear();
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        let entry = match IntervalLogIterator::new(&self.buf).next() {
            None => return Ok(None),
            Some(Ok(e)) => e,
            Some(Err(_)) => return Err(HlogError::Syntax { text: cut(line) }),
        };
        let h = match entry {
            LogEntry::StartTime(d) => {
                self.start_ns = Some(ns_of(d, "start time")?);
                return Ok(None);
            }
            LogEntry::BaseTime(d) => {
                self.base_ns = Some(ns_of(d, "base time")?);
                return Ok(None);
            }
            LogEntry::Interval(h) => h,
        };
        let ts_ns = ns_of(h.start_timestamp(), "start")?;
        let length_ns = ns_of(h.duration(), "length")?;
        let hist = decode(h.encoded_histogram())?;
        let start = self.start_ns.unwrap_or(ts_ns);
        let base =
            self.base_ns.unwrap_or(if ts_ns.saturating_add(YEAR_S * 1_000_000_000) < start {
                start
            } else {
                0
            });
        let start_ns =
            ts_ns.checked_add(base).ok_or(HlogError::Time { what: "start", secs: u64::MAX })?;
        self.start_ns = Some(start);
        self.base_ns = Some(base);
        let buckets = hist
            .iter_recorded()
            .map(|v| {
                let x = v.value_iterated_to();
                HlogBucket {
                    lowest: hist.lowest_equivalent(x),
                    highest: hist.highest_equivalent(x),
                    median: hist.median_equivalent(x),
                    count: v.count_at_value(),
                }
            })
            .collect();
        Ok(Some(HlogInterval {
            tag: h.tag().map(|t| t.as_str().to_owned()),
            start_ns,
            length_ns,
            digits: hist.sigfig(),
            buckets,
        }))
    }
}

/// True when the first non-blank line that is not a plain `#` comment looks
/// like an interval log: an `HdrHistogram` header (`#[Histogram log format`,
/// `#[StartTime:`, `#[BaseTime:`), the CSV legend (`"StartTimestamp"`), or
/// an interval line whose payload starts with `HIST` (the base64 of every
/// `HdrHistogram` cookie's first three bytes). Other `#[…]` comments
/// (`#[Logged with …]`, YCSB's `#[Logging for: READ]`) are passed over.
pub(crate) fn looks_like(lines: &[&[u8]]) -> bool {
    const HEADS: [&[u8]; 4] =
        [b"#[Histogram log format", b"#[StartTime:", b"#[BaseTime:", b"\"StartTimestamp\""];
    for line in lines.iter().map(|l| l.trim_ascii()).filter(|l| !l.is_empty()) {
        if HEADS.iter().any(|h| line.starts_with(h)) {
            return true;
        }
        if !line.starts_with(b"#") {
            return is_interval_line(line);
        }
    }
    false
}

/// `[Tag=T,]digits.digits,digits.digits,digits.digits,HIST…`.
fn is_interval_line(line: &[u8]) -> bool {
    let rest = line
        .strip_prefix(b"Tag=")
        .map_or(line, |r| r.iter().position(|&c| c == b',').map_or(r, |i| &r[i + 1..]));
    let fields: Vec<&[u8]> = rest.splitn(4, |&c| c == b',').collect();
    let numeric = |f: &[u8]| !f.is_empty() && f.iter().all(|&x| x.is_ascii_digit() || x == b'.');
    matches!(fields.as_slice(), [a, b, c, hist]
        if numeric(a) && numeric(b) && numeric(c) && hist.starts_with(b"HIST"))
}

#[expect(clippy::big_endian_bytes, reason = "HdrHistogram payloads are big-endian by spec")]
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[expect(clippy::big_endian_bytes, reason = "HdrHistogram payloads are big-endian by spec")]
fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

#[expect(clippy::big_endian_bytes, reason = "HdrHistogram payloads are big-endian by spec")]
fn be_i64(b: &[u8], at: usize) -> Option<i64> {
    Some(i64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes a base64 payload of any of the three encodings.
fn decode(b64: &str) -> Result<Histogram<u64>, HlogError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| HlogError::Base64 { reason: e.to_string() })?;
    let cookie = be_u32(&bytes, 0).ok_or(HlogError::Damaged {
        encoding: "V2",
        reason: format!("{} bytes, shorter than a cookie", bytes.len()),
    })?;
    match cookie & !0xf0 {
        V2_ENCODING | V2_COMPRESSION => Deserializer::new()
            .deserialize::<u64, _>(&mut bytes.as_slice())
            .map_err(|e| HlogError::Damaged { encoding: "V2", reason: format!("{e:?}") }),
        V0_COMPRESSION => decode_legacy(&bytes, false),
        V1_COMPRESSION => decode_legacy(&bytes, true),
        _ => Err(HlogError::Cookie { cookie }),
    }
}

/// Decodes a V0 or V1 payload (see the module docs for the layout).
fn decode_legacy(bytes: &[u8], v1: bool) -> Result<Histogram<u64>, HlogError> {
    let encoding = if v1 { "V1" } else { "V0" };
    let damaged = |reason: String| HlogError::Damaged { encoding, reason };
    let len = be_i32(bytes, 4).ok_or_else(|| damaged("no compressed length".into()))?;
    let data =
        usize::try_from(len).ok().and_then(|n| bytes.get(8..8usize.checked_add(n)?)).ok_or_else(
            || damaged(format!("compressed length {len} but {} bytes follow", bytes.len() - 8)),
        )?;
    let mut inflater = flate2::read::ZlibDecoder::new(data);
    let header_len = if v1 { 40 } else { 32 };
    let mut header = [0u8; 40];
    inflater
        .read_exact(&mut header[..header_len])
        .map_err(|e| damaged(format!("header does not inflate: {e}")))?;
    let header = &header[..header_len];
    let enc = be_u32(header, 0).unwrap_or(0);
    let want = if v1 { V1_ENCODING } else { V0_ENCODING };
    if enc & !0xf0 != want {
        return Err(damaged(format!("encoding cookie {enc:#010x}, expected {want:#010x}")));
    }
    let word = ((enc & 0xf0) >> 4) as usize;
    if !matches!(word, 2 | 4 | 8) {
        return Err(damaged(format!("word size {word}, expected 2, 4 or 8")));
    }
    // Field offsets: V0 digits@4 lowest@8 highest@16; V1 payload@4
    // offset@8 digits@12 lowest@16 highest@24. The header is fully read, so
    // these reads cannot miss.
    let (digits, lowest, highest) = if v1 {
        (be_i32(header, 12), be_i64(header, 16), be_i64(header, 24))
    } else {
        (be_i32(header, 4), be_i64(header, 8), be_i64(header, 16))
    };
    let (digits, lowest, highest) =
        (digits.unwrap_or(0), lowest.unwrap_or(0), highest.unwrap_or(0));
    let bad_params = || damaged(format!("digits {digits}, lowest {lowest}, highest {highest}"));
    let d = u8::try_from(digits).map_err(|_| bad_params())?;
    let lo = u64::try_from(lowest).map_err(|_| bad_params())?;
    let hi = u64::try_from(highest).map_err(|_| bad_params())?;
    let mut hist = Histogram::<u64>::new_with_bounds(lo, hi, d).map_err(|_| bad_params())?;
    let slots = hist.distinct_values();
    let limit = if v1 {
        if be_i32(header, 8) != Some(0) {
            return Err(damaged("non-zero normalizing index offset (shifted histogram)".into()));
        }
        let payload = be_i32(header, 4).unwrap_or(-1);
        let n = usize::try_from(payload).map_err(|_| damaged(format!("payload {payload}")))?;
        if n % word != 0 || n / word > slots {
            return Err(damaged(format!(
                "payload {n} B is not {word}-byte counts for {slots} slots"
            )));
        }
        n / word
    } else {
        slots
    };
    let mut counts = Vec::new();
    // `take` bounds what a hostile stream can make us allocate.
    inflater
        .take((limit * word) as u64)
        .read_to_end(&mut counts)
        .map_err(|e| damaged(format!("counts do not inflate: {e}")))?;
    if counts.len() % word != 0 || (v1 && counts.len() != limit * word) {
        return Err(damaged(format!("{} count bytes, expected {}", counts.len(), limit * word)));
    }
    let geo = Geometry::new(lo, d);
    for (i, c) in counts.chunks_exact(word).enumerate() {
        let c = be_count(c);
        if c == 0 {
            continue;
        }
        let c = u64::try_from(c).map_err(|_| damaged(format!("negative count {c} at slot {i}")))?;
        let v = geo.value_for(i).ok_or_else(|| damaged(format!("slot {i} out of range")))?;
        hist.record_n(v, c).map_err(|_| damaged(format!("value {v} of slot {i} out of range")))?;
    }
    Ok(hist)
}

#[expect(clippy::big_endian_bytes, reason = "HdrHistogram payloads are big-endian by spec")]
/// A fixed-width big-endian signed count of 2, 4 or 8 bytes (0 otherwise).
fn be_count(c: &[u8]) -> i64 {
    if let Ok(word) = <[u8; 2]>::try_from(c) {
        i64::from(i16::from_be_bytes(word))
    } else if let Ok(word) = <[u8; 4]>::try_from(c) {
        i64::from(i32::from_be_bytes(word))
    } else if let Ok(word) = <[u8; 8]>::try_from(c) {
        i64::from_be_bytes(word)
    } else {
        0
    }
}

/// `HdrHistogram`'s counts-array geometry: slot index -> lowest value.
struct Geometry {
    unit_mag: u32,
    half_mag: u32,
}

impl Geometry {
    /// For `lowest >= 1` and `digits <= 5` (checked by `new_with_bounds` before).
    fn new(lowest: u64, digits: u8) -> Geometry {
        // 2 * 10^digits values must be told apart in the first bucket:
        // sub-buckets = next power of two, half of them per later bucket.
        let single_unit = 2 * 10u64.pow(u32::from(digits));
        let sub_mag = 64 - (single_unit - 1).leading_zeros();
        Geometry { unit_mag: lowest.max(1).ilog2(), half_mag: sub_mag - 1 }
    }

    /// The lowest value of slot `i`: slot `(b + 1) * half + s` is sub-bucket
    /// `half + s` of bucket `b`, and slots `0..2 * half` are bucket 0.
    fn value_for(&self, i: usize) -> Option<u64> {
        let i = u64::try_from(i).ok()?;
        let half = 1u64 << self.half_mag;
        let (bucket, sub) = match (i >> self.half_mag).checked_sub(1) {
            None => (0, i),
            Some(b) => (b, (i & (half - 1)) + half),
        };
        let shift = u32::try_from(bucket).ok()?.checked_add(self.unit_mag)?;
        let v = sub.checked_shl(shift)?;
        // A shift that pushes bits out is a slot beyond u64 values.
        (v >> shift == sub).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_the_crate() {
        for (lo, d) in [(1u64, 3u8), (1, 2), (1000, 3), (1, 5), (4, 1)] {
            let g = Geometry::new(lo, d);
            let h = Histogram::<u64>::new_with_bounds(lo, 3_600_000_000_000, d).unwrap();
            let mut last = None;
            for i in 0..h.distinct_values() {
                let v = g.value_for(i).unwrap();
                assert_eq!(h.lowest_equivalent(v), v, "lo {lo} d {d} slot {i}");
                assert_ne!(Some(v), last, "two slots share value {v}");
                assert!(last.is_none_or(|l| l < v));
                last = Some(v);
            }
        }
    }

    #[test]
    fn base_time_heuristic_and_headers() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
        h.record_n(1_000, 3).unwrap();
        h.record(2_000_000).unwrap();
        let mut payload = Vec::new();
        hdrhistogram::serialization::Serializer::serialize(
            &mut hdrhistogram::serialization::V2DeflateSerializer::new(),
            &h,
            &mut payload,
        )
        .unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
        let line = |ts: &str| format!("{ts},1.000,2.000,{b64}");
        // Relative timestamps: more than a year before StartTime.
        let mut r = HlogReader::new();
        assert_eq!(
            r.parse_line(b"#[StartTime: 1441812279.474 (seconds since epoch), x]"),
            Ok(None)
        );
        assert_eq!(r.parse_line(b"\"StartTimestamp\",\"Interval_Length\""), Ok(None));
        let i = r.parse_line(line("0.127").as_bytes()).unwrap().unwrap();
        assert_eq!(i.start_ns, 1_441_812_279_601_000_000);
        assert_eq!((i.total(), i.length_ns, i.digits), (4, 1_000_000_000, 3));
        assert_eq!(
            i.buckets[0],
            HlogBucket { lowest: 1000, highest: 1000, median: 1000, count: 3 }
        );
        // Absolute timestamps (even a little before StartTime, like raphael.hlog).
        let mut r = HlogReader::new();
        r.parse_line(b"#[StartTime: 1629447481.658 (seconds since epoch), x]").unwrap();
        let i = r.parse_line(line("1629447418.475").as_bytes()).unwrap().unwrap();
        assert_eq!(i.start_ns, 1_629_447_418_475_000_000);
        // An explicit BaseTime wins; a tag is kept.
        let mut r = HlogReader::new();
        r.parse_line(b"#[StartTime: 1000.000 (seconds since epoch)]").unwrap();
        r.parse_line(b"#[BaseTime: 2000.500 (seconds since epoch)]").unwrap();
        let i = r.parse_line(format!("Tag=a/b,{}\r", line("3.000")).as_bytes()).unwrap().unwrap();
        assert_eq!((i.start_ns, i.tag.as_deref()), (2_003_500_000_000, Some("a/b")));
        // No header at all: the first timestamp is absolute.
        let mut r = HlogReader::new();
        let i = r.parse_line(line("12.500").as_bytes()).unwrap().unwrap();
        assert_eq!(i.start_ns, 12_500_000_000);
        // White space around lines, as HdrHistogramJS writes them; tags on
        // some lines only.
        let mut r = HlogReader::new();
        r.parse_line(b"  #[StartTime: 1000.000 (seconds since epoch)]\t").unwrap();
        let i = r.parse_line(format!(" {} \t ", line("1000.000")).as_bytes()).unwrap().unwrap();
        assert_eq!((i.start_ns, i.total(), i.tag.as_deref()), (1_000_000_000_000, 4, None));
        let i = r.parse_line(format!("Tag=x,{}  ", line("1001.000")).as_bytes()).unwrap().unwrap();
        assert_eq!((i.start_ns, i.tag.as_deref()), (1_001_000_000_000, Some("x")));
        assert!(looks_like(&[format!("{}   ", line("1.000")).as_bytes()]));
    }

    #[test]
    fn bad_lines_say_why() {
        let mut r = HlogReader::new();
        for (line, want) in [
            (&b"1.0,2.0"[..], "not an interval log line"),
            (b"garbage", "not an interval log line"),
            (b"0.1,1.0,2.0,HIST!!!!", "not base64"),
            (b"0.1,1.0,2.0,AAAAAAAA", "unknown cookie 0x00000000"),
            (b"0.1,1.0,2.0,HISTiQAAAEV42pNp", "V0 histogram payload is damaged"),
            (b"0.1,1.0,2.0,HISTIgAAAFd42pNp", "V1 histogram payload is damaged"),
            (b"0.1,1.0,2.0,HISTFAAAAEV42pNp", "V2 histogram payload is damaged"),
        ] {
            let e = r.parse_line(line).unwrap_err().to_string();
            assert!(e.contains(want), "{}: {e}", String::from_utf8_lossy(line));
        }
        assert_eq!(r.parse_line(b"  "), Ok(None));
        assert_eq!(r.parse_line(b"# plain comment"), Ok(None));
    }

    #[test]
    fn detection_shapes() {
        assert!(looks_like(&[b"#[Logged with jHiccup version 2.0.1]", b"#[StartTime: 1.0 (x)]"]));
        assert!(looks_like(&[b"#[Logging for: READ]", b"#[Histogram log format version 1.1]"]));
        assert!(!looks_like(&[b"#[Logged with jHiccup version 2.0.1]", b"1.2.3.4 - -"]));
        assert!(looks_like(&[b"", b"\"StartTimestamp\",\"EndTimestamp\""]));
        assert!(looks_like(&[b"Tag=A,0.127,1.007,2.769,HISTFAAAAEV4"]));
        assert!(looks_like(&[b"0.127,1.007,2.769,HISTFAAAAEV4"]));
        assert!(!looks_like(&[b"# comment"]));
        assert!(!looks_like(&[b"ts,endpoint,latency_ms,status"]));
        assert!(!looks_like(&[]));
    }
}
