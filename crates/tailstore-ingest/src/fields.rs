//! Named fields shared by the JSONL and CSV parsers: which keys mean what,
//! and how a field's text becomes a time, series, latency or status.

use std::borrow::Cow;

use crate::error::err;
use crate::num::{self, show, NumError};
use crate::scan::{self, load8};
use crate::time::{self, Timestamp};
use crate::{LineError, SeriesBy};

/// What a named field feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The request time.
    Time,
    /// The series key.
    Series,
    /// The latency, with its unit in nanoseconds.
    Latency(u64),
    /// The HTTP status.
    Status,
}

/// A field name and where it goes. Lower `rank` wins when a record has
/// several names for the same slot (`ts` beats `time`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) slot: Slot,
    pub(crate) rank: u8,
    pub(crate) name: &'static str,
}

const TIME_NAMES: [&str; 3] = ["ts", "timestamp", "time"];
const PATH_NAMES: [&str; 3] = ["endpoint", "path", "series"];
const LATENCY_NAMES: [(&str, u64); 4] = [
    ("latency_ms", num::NS_PER_MS),
    ("latency_us", num::NS_PER_US),
    ("latency_s", num::NS_PER_S),
    ("duration_ms", num::NS_PER_MS),
];
const STATUS_NAMES: [&str; 2] = ["status", "status_code"];

/// The field names for the series key under `series_by`.
pub(crate) fn series_names(series_by: SeriesBy) -> &'static [&'static str] {
    match series_by {
        SeriesBy::Path => &PATH_NAMES,
        SeriesBy::Host => &["host"],
        SeriesBy::Upstream => &["upstream"],
    }
}

/// Human list of the accepted names for a slot, for "missing field" errors.
pub(crate) fn expected_names(slot: Slot, series_by: SeriesBy) -> String {
    let names: Vec<&str> = match slot {
        Slot::Time => TIME_NAMES.to_vec(),
        Slot::Series => series_names(series_by).to_vec(),
        Slot::Latency(_) => LATENCY_NAMES.iter().map(|(n, _)| *n).collect(),
        Slot::Status => STATUS_NAMES.to_vec(),
    };
    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
}

/// The slot's role in messages.
pub(crate) fn slot_label(slot: Slot) -> &'static str {
    match slot {
        Slot::Time => "time",
        Slot::Series => "series",
        Slot::Latency(_) => "latency",
        Slot::Status => "status",
    }
}

/// The first and the last eight bytes of a name of 1 to 16 bytes, each as a
/// little-endian `u64` (a shorter name is zero-padded, and both words are
/// the same). With the length they determine the name.
const fn name_words(name: &[u8]) -> (u64, u64) {
    let mut first = [0u8; 8];
    let mut last = [0u8; 8];
    let n = name.len();
    let mut i = 0;
    while i < 8 && i < n {
        first[i] = name[i];
        last[i] = if n >= 8 { name[n - 8 + i] } else { name[i] };
        i += 1;
    }
    (u64::from_le_bytes(first), u64::from_le_bytes(last))
}

/// ASCII `A`-`Z` to lowercase in the eight bytes of `w` at once.
#[inline(always)]
fn lower8(w: u64) -> u64 {
    const H: u64 = 0x8080_8080_8080_8080;
    const L: u64 = 0x0101_0101_0101_0101;
    // Per byte, on its low seven bits (no carry can cross a byte): the high
    // bit of `x + (0x80 - b'A')` says `x >= b'A'`, that of
    // `x + (0x80 - b'Z' - 1)` says `x > b'Z'`. Bytes with the high bit set
    // are not ASCII letters.
    let x = w & !H;
    let ge_a = x + L * u64::from(0x80 - b'A');
    let gt_z = x + L * u64::from(0x80 - b'Z' - 1);
    w | (((ge_a & !gt_z & !w) & H) >> 2)
}

/// [`name_words`] of `hay[start..end]` (1 to 16 bytes), ASCII-lowercased,
/// read with whole-word loads (a name near the end of `hay` is taken from
/// its last eight bytes and shifted down; only a `hay` shorter than eight
/// bytes is read byte by byte).
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
fn name_words_at(hay: &[u8], start: usize, end: usize) -> Option<(u64, u64)> {
    let len = end.checked_sub(start)?;
    if len >= 8 {
        return Some((lower8(load8(hay, start)?), lower8(load8(hay, end - 8)?)));
    }
    let w = match load8(hay, start) {
        Some(w) => w,
        None => match hay.len().checked_sub(8) {
            // Here `at < start < at + 8`.
            Some(at) => load8(hay, at)? >> (8 * (start - at)),
            None => {
                hay.get(start..end)?.iter().rev().fold(0u64, |acc, &c| (acc << 8) | u64::from(c))
            }
        },
    };
    let w = lower8(w & ((1u64 << (8 * len)) - 1));
    Some((w, w))
}

/// Classifies a field name (exact, ASCII case-insensitive).
pub(crate) fn classify(name: &[u8], series_by: SeriesBy) -> Option<Field> {
    classify_in(name, 0, name.len(), series_by)
}

/// An accepted field name in the lookup table of [`classify_in`].
#[derive(Clone, Copy)]
struct NameEntry {
    words: (u64, u64),
    len: usize,
    field: Field,
    /// Series names count only under this `SeriesBy`.
    only_for: Option<SeriesBy>,
}

/// Every accepted name: its field, and for series names the `SeriesBy`
/// under which it counts (ranks as in [`series_names`]).
const NAME_LIST: [(Field, Option<SeriesBy>); 14] = {
    const fn f(slot: Slot, rank: u8, name: &'static str) -> Field {
        Field { slot, rank, name }
    }
    let (l, s) = (LATENCY_NAMES, STATUS_NAMES);
    [
        (f(Slot::Time, 0, TIME_NAMES[0]), None),
        (f(Slot::Time, 1, TIME_NAMES[1]), None),
        (f(Slot::Time, 2, TIME_NAMES[2]), None),
        (f(Slot::Series, 0, PATH_NAMES[0]), Some(SeriesBy::Path)),
        (f(Slot::Series, 1, PATH_NAMES[1]), Some(SeriesBy::Path)),
        (f(Slot::Series, 2, PATH_NAMES[2]), Some(SeriesBy::Path)),
        (f(Slot::Series, 0, "host"), Some(SeriesBy::Host)),
        (f(Slot::Series, 0, "upstream"), Some(SeriesBy::Upstream)),
        (f(Slot::Latency(l[0].1), 0, l[0].0), None),
        (f(Slot::Latency(l[1].1), 1, l[1].0), None),
        (f(Slot::Latency(l[2].1), 2, l[2].0), None),
        (f(Slot::Latency(l[3].1), 3, l[3].0), None),
        (f(Slot::Status, 0, s[0]), None),
        (f(Slot::Status, 1, s[1]), None),
    ]
};

/// The slot of a name in the 64-entry table: a multiplicative hash of its
/// words and length.
const fn name_hash(words: (u64, u64), len: usize, mult: u64) -> usize {
    let x = words.0 ^ words.1.rotate_left(29) ^ (len as u64);
    (x.wrapping_mul(mult) >> 58) as usize
}

/// The first odd multiplier (from a fixed seed) that sends every name of
/// [`NAME_LIST`] to its own table slot, found at compile time.
const NAME_MULT: u64 = {
    let mut mult: u64 = 0x9E37_79B9_7F4A_7C15;
    loop {
        let mut used = [false; 64];
        let mut ok = true;
        let mut i = 0;
        while i < NAME_LIST.len() {
            let name = NAME_LIST[i].0.name.as_bytes();
            let h = name_hash(name_words(name), name.len(), mult);
            if used[h] {
                ok = false;
            }
            used[h] = true;
            i += 1;
        }
        if ok {
            break mult;
        }
        mult = mult.wrapping_add(0x5851_F42D_4C95_7F2E);
    }
};

/// The names by [`name_hash`] slot (no two share one, by construction).
const NAME_TABLE: [Option<NameEntry>; 64] = {
    let mut table: [Option<NameEntry>; 64] = [None; 64];
    let mut i = 0;
    while i < NAME_LIST.len() {
        let (field, only_for) = NAME_LIST[i];
        let name = field.name.as_bytes();
        let words = name_words(name);
        let entry = NameEntry { words, len: name.len(), field, only_for };
        table[name_hash(words, name.len(), NAME_MULT)] = Some(entry);
        i += 1;
    }
    table
};

/// Classifies the field name `hay[start..end]` (exact, ASCII
/// case-insensitive), as [`classify`] does.
///
/// The name's first and last eight bytes, lowercased (see [`name_words`]),
/// and its length pick one entry of a perfect-hash table, and one
/// comparison confirms it: no byte loops and no chain of comparisons.
/// Every accepted name is at most 11 bytes long and unique across slots,
/// so this answers as the original table walk (`classify_by_table`, kept
/// for the tests) does.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn classify_in(
    hay: &[u8],
    start: usize,
    end: usize,
    series_by: SeriesBy,
) -> Option<Field> {
    let len = end.checked_sub(start)?;
    if len == 0 || len > 11 {
        return None;
    }
    let words = name_words_at(hay, start, end)?;
    let entry = (*NAME_TABLE.get(name_hash(words, len, NAME_MULT))?)?;
    if entry.words != words || entry.len != len {
        return None;
    }
    match entry.only_for {
        Some(by) if by != series_by => None,
        _ => Some(entry.field),
    }
}

/// The original table walk behind [`classify`], kept as the tests' oracle.
#[cfg(test)]
pub(crate) fn classify_by_table(name: &[u8], series_by: SeriesBy) -> Option<Field> {
    let find = |names: &[&'static str]| {
        names.iter().position(|n| n.as_bytes().eq_ignore_ascii_case(name)).map(|i| (i, names[i]))
    };
    let rank = |i: usize| u8::try_from(i).unwrap_or(u8::MAX);
    if let Some((i, n)) = find(&TIME_NAMES) {
        return Some(Field { slot: Slot::Time, rank: rank(i), name: n });
    }
    if let Some((i, n)) = find(series_names(series_by)) {
        return Some(Field { slot: Slot::Series, rank: rank(i), name: n });
    }
    if let Some(i) = LATENCY_NAMES.iter().position(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
    {
        let (n, unit) = LATENCY_NAMES[i];
        return Some(Field { slot: Slot::Latency(unit), rank: rank(i), name: n });
    }
    if let Some((i, n)) = find(&STATUS_NAMES) {
        return Some(Field { slot: Slot::Status, rank: rank(i), name: n });
    }
    None
}

/// True if `name` is one of the names any slot accepts (for format detection).
pub(crate) fn is_known_name(name: &[u8]) -> bool {
    [SeriesBy::Path, SeriesBy::Host, SeriesBy::Upstream]
        .iter()
        .any(|&by| classify(name, by).is_some())
}

/// How a text value was escaped in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Escape {
    /// The bytes are the value.
    None,
    /// JSON backslash escapes.
    Json,
    /// CSV doubled quotes (`""`).
    Csv,
}

/// A field's raw value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// Text (a JSON string or a CSV cell), still escaped as `Escape` says.
    Text(&'a [u8], Escape),
    /// A JSON number token.
    Number(&'a [u8]),
    /// JSON `null`.
    Null,
    /// Something else (boolean, object, array), named for messages.
    Other(&'static str),
}

impl<'a> Value<'a> {
    /// The unescaped text of a `Text` or `Number`; `None` for the rest.
    fn text(&self) -> Option<Cow<'a, [u8]>> {
        match *self {
            Value::Text(raw, Escape::None) | Value::Number(raw) => Some(Cow::Borrowed(raw)),
            Value::Text(raw, Escape::Json) => Some(Cow::Owned(json_unescape(raw).into_bytes())),
            Value::Text(raw, Escape::Csv) => Some(Cow::Owned(csv_unescape(raw))),
            Value::Null | Value::Other(_) => None,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Value::Text(..) => "a string",
            Value::Number(_) => "a number",
            Value::Null => "null",
            Value::Other(k) => k,
        }
    }
}

/// Interprets a time field: unix seconds (number or numeric text) or RFC 3339.
///
/// The common case (plain unix seconds) is inlined; what its fast path
/// accepts has no whitespace to trim and is read the same by
/// `parse_unix_seconds` and `parse_any`, so the general part would agree.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn time_of(v: Value<'_>, key: &str) -> Result<Timestamp, LineError> {
    if let Value::Number(raw) | Value::Text(raw, Escape::None) = v {
        if let Some(ts) = time::unix_seconds_fast(raw) {
            return Ok(ts);
        }
    }
    time_of_general(v, key)
}

/// [`time_of`] for any value (the general part).
#[inline(never)]
pub(crate) fn time_of_general(v: Value<'_>, key: &str) -> Result<Timestamp, LineError> {
    let text =
        v.text().ok_or_else(|| err(format!("field `{key}` is {}, expected a time", v.kind())))?;
    let text = text.trim_ascii();
    let parsed = if matches!(v, Value::Number(_)) {
        time::parse_unix_seconds(text)
    } else {
        time::parse_any(text)
    };
    parsed.map_err(|e| err(format!("field `{key}`: {e}")))
}

/// Interprets a series field. A value starting with `/` is a path and loses
/// its query string. The common case (unescaped text) is inlined.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn series_of<'a>(v: Value<'a>, key: &str) -> Result<Cow<'a, str>, LineError> {
    if let Value::Text(raw, Escape::None) | Value::Number(raw) = v {
        if let Some(s) = plain_series(raw) {
            return Ok(s);
        }
    }
    series_of_general(v, key)
}

/// [`series_of`] for any value (the general part).
#[inline(never)]
pub(crate) fn series_of_general<'a>(v: Value<'a>, key: &str) -> Result<Cow<'a, str>, LineError> {
    let s: Cow<'a, str> = match v {
        Value::Text(raw, Escape::None) | Value::Number(raw) => num::lossy(raw),
        Value::Text(raw, Escape::Json) => Cow::Owned(json_unescape(raw)),
        Value::Text(raw, Escape::Csv) => Cow::Owned(num::lossy(&csv_unescape(raw)).into_owned()),
        Value::Null | Value::Other(_) => {
            return Err(err(format!("field `{key}` is {}, expected a series name", v.kind())))
        }
    };
    if s.is_empty() {
        return Err(err(format!("field `{key}` (series) is empty")));
    }
    Ok(strip_query_cow(s))
}

/// [`series_of`] for an unescaped text value; `None` where it would fail.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn plain_series(raw: &[u8]) -> Option<Cow<'_, str>> {
    if raw.is_empty() {
        return None;
    }
    Some(strip_query_cow(num::lossy(raw)))
}

/// [`latency_of`] for an unescaped text value; `None` where it would fail.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
#[expect(
    clippy::option_option,
    reason = "the outer `None` is every fast path's \"ask the general path\", the inner one \
              `Request::latency_ns`'s unknown latency; csv's fast path passes it on as is"
)]
pub(crate) fn plain_latency(raw: &[u8], unit_ns: u64) -> Option<Option<u64>> {
    let text = raw.trim_ascii();
    if text.is_empty() || text == b"-" {
        return Some(None);
    }
    num::decimal_scaled(text, unit_ns).ok().map(Some)
}

/// Cuts `?query` off a path-like series.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn strip_query_cow(s: Cow<'_, str>) -> Cow<'_, str> {
    if !s.starts_with('/') {
        return s;
    }
    match scan::find2(b'?', b'?', s.as_bytes()) {
        None => s,
        Some(q) => match s {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..q]),
            Cow::Owned(mut o) => {
                o.truncate(q);
                Cow::Owned(o)
            }
        },
    }
}

/// Interprets a latency field in `unit_ns` units. `null`, `-` and empty
/// text are unknown (`None`); negative values are errors. The common case
/// (a plain number: no whitespace to trim, not `-`) is inlined.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn latency_of(v: Value<'_>, key: &str, unit_ns: u64) -> Result<Option<u64>, LineError> {
    if let Value::Number(raw) | Value::Text(raw, Escape::None) = v {
        if let Some(Ok(ns)) = num::decimal_scaled_fast(raw, unit_ns) {
            return Ok(Some(ns));
        }
    }
    latency_of_general(v, key, unit_ns)
}

/// [`latency_of`] for any value (the general part).
#[inline(never)]
pub(crate) fn latency_of_general(
    v: Value<'_>,
    key: &str,
    unit_ns: u64,
) -> Result<Option<u64>, LineError> {
    let Some(text) = v.text() else {
        return match v {
            Value::Null => Ok(None),
            _ => Err(err(format!("field `{key}` is {}, expected a latency", v.kind()))),
        };
    };
    let text = text.trim_ascii();
    if text.is_empty() || text == b"-" {
        return Ok(None);
    }
    match num::decimal_scaled(text, unit_ns) {
        Ok(ns) => Ok(Some(ns)),
        Err(NumError::Negative) => {
            Err(err(format!("field `{key}`: negative latency `{}`", show(text))))
        }
        Err(e) => Err(err(format!("field `{key}`: latency `{}`: {e}", show(text)))),
    }
}

/// Interprets a status field: a number or numeric text; `-` and `null`
/// mean no response (0). The common case (three digits, nothing to trim)
/// is inlined.
#[inline(always)]
#[expect(
    clippy::inline_always,
    reason = "parse_bench with this file's forced inlines relaxed to #[inline]: jsonl 96.7 -> 102.5 ns/line, csv 63.5 -> 67.8, nginx 135 -> 137.6 (rustc 1.95)"
)]
pub(crate) fn status_of(v: Value<'_>, key: &str) -> Result<u16, LineError> {
    if let Value::Number(raw) | Value::Text(raw, Escape::None) = v {
        if let Some(status) = num::three_digits(raw).filter(|s| *s >= 100) {
            return Ok(status);
        }
    }
    status_of_general(v, key)
}

/// [`status_of`] for any value (the general part).
#[inline(never)]
pub(crate) fn status_of_general(v: Value<'_>, key: &str) -> Result<u16, LineError> {
    let Some(text) = v.text() else {
        return match v {
            Value::Null => Ok(0),
            _ => Err(err(format!("field `{key}` is {}, expected a status", v.kind()))),
        };
    };
    num::status(text.trim_ascii()).map_err(|e| err(format!("field `{key}`: {e}")))
}

/// Decodes the inside of a JSON string. Invalid escapes and lone surrogates
/// become U+FFFD; the scanner has already checked the string's extent.
pub(crate) fn json_unescape(raw: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(raw.len());
    let mut i = 0usize;
    while let Some(&c) = raw.get(i) {
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let Some(&e) = raw.get(i + 1) else {
            break;
        };
        i += 2;
        let simple = match e {
            b'"' => Some(b'"'),
            b'\\' => Some(b'\\'),
            b'/' => Some(b'/'),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        if e != b'u' {
            out.extend_from_slice("\u{fffd}".as_bytes());
            continue;
        }
        let hex4 = |at: usize| -> Option<u32> {
            let h = raw.get(at..at + 4)?;
            // from_str_radix alone would accept a leading `+`.
            if !h.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            u32::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
        };
        let ch = match hex4(i) {
            Some(hi @ 0xD800..=0xDBFF) => {
                let lo = if raw.get(i + 4..i + 6) == Some(b"\\u") { hex4(i + 6) } else { None };
                if let Some(lo @ 0xDC00..=0xDFFF) = lo {
                    i += 10;
                    char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                } else {
                    i += 4;
                    None
                }
            }
            Some(cp) => {
                i += 4;
                char::from_u32(cp)
            }
            None => None,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.unwrap_or('\u{fffd}').encode_utf8(&mut buf).as_bytes());
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => num::escape_invalid(e.as_bytes()),
    }
}

/// Decodes CSV doubled quotes.
fn csv_unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0usize;
    while let Some(&c) = raw.get(i) {
        out.push(c);
        i += if c == b'"' && raw.get(i + 1) == Some(&b'"') { 2 } else { 1 };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        let f = classify(b"TS", SeriesBy::Path).unwrap();
        assert_eq!((f.slot, f.rank, f.name), (Slot::Time, 0, "ts"));
        let f = classify(b"latency_us", SeriesBy::Path).unwrap();
        assert_eq!(f.slot, Slot::Latency(1_000));
        assert!(classify(b"host", SeriesBy::Path).is_none());
        assert_eq!(classify(b"host", SeriesBy::Host).unwrap().slot, Slot::Series);
        assert!(classify(b"bytes", SeriesBy::Path).is_none());
    }

    #[test]
    fn json_escapes() {
        assert_eq!(json_unescape(br#"a\"b\\c\/d\n"#), "a\"b\\c/d\n");
        assert_eq!(json_unescape(br"\u00e9\u20ac"), "é€");
        assert_eq!(json_unescape(br"\ud83d\ude00"), "😀");
        assert_eq!(json_unescape(br"\ud83d x"), "\u{fffd} x");
        assert_eq!(json_unescape(br"\uZZZZ"), "\u{fffd}ZZZZ");
        assert_eq!(json_unescape(br"\q"), "\u{fffd}");
        assert_eq!(json_unescape(br"\u+123"), "\u{fffd}+123");
    }

    #[test]
    fn query_strings_are_cut_from_paths_only() {
        assert_eq!(strip_query_cow(Cow::Borrowed("/a/b?x=1")), "/a/b");
        assert_eq!(strip_query_cow(Cow::Owned("/a?".to_owned())), "/a");
        assert_eq!(strip_query_cow(Cow::Borrowed("checkout?v2")), "checkout?v2");
    }

    #[test]
    fn values() {
        assert_eq!(
            latency_of(Value::Number(b"12.5"), "latency_ms", 1_000_000),
            Ok(Some(12_500_000))
        );
        assert_eq!(latency_of(Value::Text(b"7", Escape::None), "x", 1_000), Ok(Some(7_000)));
        assert_eq!(latency_of(Value::Text(b"-", Escape::None), "x", 1), Ok(None));
        assert_eq!(latency_of(Value::Null, "x", 1), Ok(None));
        let e = latency_of(Value::Number(b"-3"), "latency_ms", 1).unwrap_err();
        assert!(e.reason.contains("negative latency"), "{e}");
        assert!(latency_of(Value::Other("a boolean"), "x", 1).is_err());
        assert_eq!(status_of(Value::Text(b"200", Escape::None), "status"), Ok(200));
        assert_eq!(status_of(Value::Null, "status"), Ok(0));
        assert!(status_of(Value::Number(b"200.5"), "status").is_err());
        // 1-99 is not an HTTP status; 0 is "no response".
        assert!(status_of(Value::Number(b"42"), "status").is_err());
        assert!(status_of(Value::Number(b"099"), "status").is_err());
        assert_eq!(status_of(Value::Number(b"0"), "status"), Ok(0));
        assert_eq!(status_of(Value::Number(b"100"), "status"), Ok(100));
        assert_eq!(series_of(Value::Text(br#"/q\"?x"#, Escape::Json), "path").unwrap(), "/q\"");
        assert_eq!(series_of(Value::Text(br#"a""b"#, Escape::Csv), "path").unwrap(), "a\"b");
        assert!(series_of(Value::Text(b"", Escape::None), "path").is_err());
    }
}
