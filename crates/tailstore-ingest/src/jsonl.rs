//! JSON lines: one flat JSON object per line, scanned by hand.
//!
//! The scanner walks the top-level object once. Strings are located with
//! `memchr2` (quote or backslash) and left escaped unless a wanted field needs
//! decoding; numbers are kept as their token text; nested objects and arrays
//! are skipped with a depth counter that respects strings. Nothing is
//! allocated for a well-formed line whose strings have no escapes.
//!
//! In front of that scanner, [`parse_fast`] takes the common flat line (no
//! nesting, no escapes): keys are matched with one table lookup, plain
//! numbers are read while their extent is found, and the wanted fields are
//! converted as they are taken. It gives up on anything else, and the
//! scanner ([`parse_general`]) decides.

use std::borrow::Cow;

use memchr::memchr2;

use crate::error::err;
use crate::fields::{self, Escape, Slot, Value};
use crate::num::{self, show};
use crate::scan;
use crate::time::Timestamp;
use crate::{GaugeSample, LineError, Request, SeriesBy};

/// The JSONL parser's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonConfig {
    pub(crate) series_by: SeriesBy,
}

/// A cursor over JSON text: the scanner of [`parse_general`], also walking
/// the Envoy/Istio JSON objects (`envoy.rs`).
pub(crate) struct Scanner<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) i: usize,
}

impl<'a> Scanner<'a> {
    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    pub(crate) fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    pub(crate) fn unexpected(&self, wanted: &str) -> LineError {
        match self.b.get(self.i) {
            None => err(format!("invalid JSON: line ends where {wanted} was expected")),
            Some(&c) => err(format!(
                "invalid JSON at byte {}: expected {wanted}, found `{}`",
                self.i,
                show(&[c])
            )),
        }
    }

    /// Steps over the byte `c`, or reports that `wanted` was expected.
    pub(crate) fn expect(&mut self, c: u8, wanted: &str) -> Result<(), LineError> {
        if self.peek() != Some(c) {
            return Err(self.unexpected(wanted));
        }
        self.i += 1;
        Ok(())
    }

    /// At an opening quote: returns the raw inside and whether it has escapes.
    pub(crate) fn string(&mut self) -> Result<(&'a [u8], bool), LineError> {
        if self.b.get(self.i) != Some(&b'"') {
            return Err(self.unexpected("a string"));
        }
        let start = self.i + 1;
        let mut j = start;
        let mut escaped = false;
        loop {
            let rest = self.b.get(j..).unwrap_or_default();
            match memchr2(b'"', b'\\', rest) {
                None => {
                    return Err(err(format!(
                        "invalid JSON: string starting at byte {} is not closed",
                        self.i
                    )))
                }
                Some(k) => {
                    j += k;
                    if self.b.get(j) == Some(&b'"') {
                        let raw = self.b.get(start..j).unwrap_or_default();
                        self.i = j + 1;
                        return Ok((raw, escaped));
                    }
                    // A backslash: skip it and the escaped byte.
                    escaped = true;
                    j += 2;
                }
            }
        }
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), LineError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.unexpected("a JSON value"))
        }
    }

    /// Skips a nested object or array starting at `self.i`.
    fn skip_composite(&mut self) -> Result<(), LineError> {
        let start = self.i;
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.i) {
            match c {
                b'"' => {
                    self.string()?;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(err(format!("invalid JSON: object or array starting at byte {start} is not closed")))
    }

    pub(crate) fn value(&mut self) -> Result<Value<'a>, LineError> {
        match self.b.get(self.i) {
            Some(b'"') => {
                let (raw, escaped) = self.string()?;
                Ok(Value::Text(raw, if escaped { Escape::Json } else { Escape::None }))
            }
            Some(b'{' | b'[') => {
                let kind = if self.b.get(self.i) == Some(&b'{') { "an object" } else { "an array" };
                self.skip_composite()?;
                Ok(Value::Other(kind))
            }
            Some(b't') => self.literal(b"true").map(|()| Value::Other("a boolean")),
            Some(b'f') => self.literal(b"false").map(|()| Value::Other("a boolean")),
            Some(b'n') => self.literal(b"null").map(|()| Value::Null),
            Some(c) if c.is_ascii_digit() || *c == b'-' => {
                let start = self.i;
                while matches!(
                    self.b.get(self.i),
                    Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                ) {
                    self.i += 1;
                }
                Ok(Value::Number(self.b.get(start..self.i).unwrap_or_default()))
            }
            _ => Err(self.unexpected("a JSON value")),
        }
    }
}

/// The best-ranked value seen so far for one slot.
#[derive(Clone, Copy)]
struct Pick<'a> {
    rank: u8,
    name: &'static str,
    unit: u64,
    value: Value<'a>,
}

fn keep<'a>(slot: &mut Option<Pick<'a>>, new: Pick<'a>) {
    if slot.is_none_or(|old| new.rank < old.rank) {
        *slot = Some(new);
    }
}

/// Parses one JSON object line: [`parse_fast`] when it answers, else
/// [`parse_general`].
#[inline]
pub(crate) fn parse(cfg: JsonConfig, line: &[u8]) -> Result<Option<Request<'_>>, LineError> {
    match parse_fast(cfg, line) {
        Some(req) => Ok(Some(req)),
        None => parse_general(cfg, line).map(Some),
    }
}

/// The first index at or after `i` that is not JSON whitespace.
#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// At the byte after an opening quote: the end (closing quote) of a string
/// without backslashes; `None` for an escape or an unclosed string.
#[inline]
fn plain_string_end(b: &[u8], start: usize) -> Option<usize> {
    Some(start + scan::unescaped_quote(b.get(start..)?)?)
}

/// True when a pick of rank `new` replaces `old` (as [`keep`] decides: a
/// lower rank wins, the first of equal ranks stays).
#[inline]
fn takes<T>(old: Option<&(u8, T)>, new: u8) -> bool {
    old.is_none_or(|(rank, _)| new < *rank)
}

/// The fast path for a flat object (no nesting) whose keys and string values
/// have no backslash escapes, and whose wanted fields all convert. It walks
/// the line exactly as [`parse_general`] does and picks the same fields (by
/// rank), converting each pick as it is taken, but gives up (`None`, so the
/// general path decides and reports any error) at the first thing it does
/// not handle or that does not convert. When it answers, the answer is the
/// general path's (see the tests).
#[inline]
#[expect(
    clippy::too_many_lines,
    reason = "the hot path (parse_bench jsonl): one walk over the line, step for step as \
              `parse_general` walks it, with the four picks in locals; kept in one piece so \
              the two read side by side"
)]
pub(crate) fn parse_fast<'a>(cfg: JsonConfig, b: &'a [u8]) -> Option<Request<'a>> {
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    let mut time: Option<(u8, Timestamp)> = None;
    let mut series: Option<(u8, Cow<'a, str>)> = None;
    let mut latency: Option<(u8, Option<u64>)> = None;
    let mut status: Option<(u8, u16)> = None;
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        i += 1;
    } else {
        loop {
            if b.get(i) != Some(&b'"') {
                return None;
            }
            let key_start = i + 1;
            let key_end = plain_string_end(b, key_start)?;
            let field = fields::classify_in(b, key_start, key_end, cfg.series_by);
            i = key_end + 1;
            if b.get(i) != Some(&b':') {
                i = skip_ws(b, i);
                if b.get(i) != Some(&b':') {
                    return None;
                }
            }
            i = skip_ws(b, i + 1);
            let (value, dec) = match *b.get(i)? {
                b'"' => {
                    let end = plain_string_end(b, i + 1)?;
                    let raw = b.get(i + 1..end)?;
                    i = end + 1;
                    (Value::Text(raw, Escape::None), None)
                }
                c if c.is_ascii_digit() || c == b'-' => {
                    // The token is the run of number bytes, as in
                    // `Scanner::value`; a plain decimal at its start is
                    // read on the way and kept if it is the whole token.
                    let start = i;
                    let (mut dec, n) = num::plain_decimal_prefix(b.get(i..)?);
                    i += n;
                    while matches!(b.get(i), Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')) {
                        i += 1;
                        dec = None;
                    }
                    (Value::Number(b.get(start..i)?), dec)
                }
                b'n' if b.get(i..i + 4) == Some(b"null") => {
                    i += 4;
                    (Value::Null, None)
                }
                b't' if b.get(i..i + 4) == Some(b"true") => {
                    i += 4;
                    (Value::Other("a boolean"), None)
                }
                b'f' if b.get(i..i + 5) == Some(b"false") => {
                    i += 5;
                    (Value::Other("a boolean"), None)
                }
                _ => return None,
            };
            // A taken pick is converted now: as `time_of` and friends would
            // convert it (a plain decimal through their own fast paths).
            if let Some(f) = field {
                match f.slot {
                    Slot::Time if takes(time.as_ref(), f.rank) => {
                        let ts = match dec {
                            Some(d) => crate::time::unix_seconds_plain(d)?,
                            None => fields::time_of(value, f.name).ok()?,
                        };
                        time = Some((f.rank, ts));
                    }
                    Slot::Series if takes(series.as_ref(), f.rank) => {
                        series = Some((f.rank, fields::series_of(value, f.name).ok()?));
                    }
                    Slot::Latency(unit) if takes(latency.as_ref(), f.rank) => {
                        let ns = match dec {
                            Some(d) => Some(num::scale_plain(d, unit)?.ok()?),
                            None => fields::latency_of(value, f.name, unit).ok()?,
                        };
                        latency = Some((f.rank, ns));
                    }
                    Slot::Status if takes(status.as_ref(), f.rank) => {
                        status = Some((f.rank, fields::status_of(value, f.name).ok()?));
                    }
                    _ => {}
                }
            }
            if b.get(i) != Some(&b',') && b.get(i) != Some(&b'}') {
                i = skip_ws(b, i);
            }
            match b.get(i) {
                Some(b',') => i = skip_ws(b, i + 1),
                Some(b'}') => {
                    i += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    if skip_ws(b, i) != b.len() {
        return None;
    }
    let (_, ts) = time?;
    let (_, series) = series?;
    let (_, status) = status?;
    let latency_ns = latency.and_then(|(_, ns)| ns);
    Some(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// The general path: any line, with an error that says what is wrong.
#[inline(never)]
pub(crate) fn parse_general(cfg: JsonConfig, line: &[u8]) -> Result<Request<'_>, LineError> {
    let mut sc = Scanner { b: line, i: 0 };
    sc.ws();
    if sc.b.get(sc.i) != Some(&b'{') {
        return Err(sc.unexpected("`{` (a JSON object per line)"));
    }
    sc.i += 1;
    let (mut time, mut series, mut latency, mut status) = (None, None, None, None);
    sc.ws();
    if sc.b.get(sc.i) == Some(&b'}') {
        sc.i += 1;
    } else {
        loop {
            sc.ws();
            let (key, key_escaped) = sc.string()?;
            sc.ws();
            if sc.b.get(sc.i) != Some(&b':') {
                return Err(sc.unexpected("`:` after an object key"));
            }
            sc.i += 1;
            sc.ws();
            let value = sc.value()?;
            let field = if key_escaped {
                fields::classify(fields::json_unescape(key).as_bytes(), cfg.series_by)
            } else {
                fields::classify(key, cfg.series_by)
            };
            if let Some(f) = field {
                let (target, unit) = match f.slot {
                    Slot::Time => (&mut time, 0),
                    Slot::Series => (&mut series, 0),
                    Slot::Latency(unit) => (&mut latency, unit),
                    Slot::Status => (&mut status, 0),
                };
                keep(target, Pick { rank: f.rank, name: f.name, unit, value });
            }
            sc.ws();
            match sc.b.get(sc.i) {
                Some(b',') => sc.i += 1,
                Some(b'}') => {
                    sc.i += 1;
                    break;
                }
                _ => return Err(sc.unexpected("`,` or `}`")),
            }
        }
    }
    sc.ws();
    if sc.i != sc.b.len() {
        return Err(err(format!(
            "invalid JSON: unexpected data after the object at byte {}: `{}`",
            sc.i,
            show(sc.b.get(sc.i..).unwrap_or_default())
        )));
    }
    let missing = |slot: Slot| {
        err(format!(
            "missing {} field (expected one of {})",
            fields::slot_label(slot),
            fields::expected_names(slot, cfg.series_by)
        ))
    };
    let time = time.ok_or_else(|| missing(Slot::Time))?;
    let series = series.ok_or_else(|| missing(Slot::Series))?;
    let status = status.ok_or_else(|| missing(Slot::Status))?;
    let ts = fields::time_of(time.value, time.name)?;
    let series = fields::series_of(series.value, series.name)?;
    let status = fields::status_of(status.value, status.name)?;
    let latency_ns = match latency {
        None => None,
        Some(p) => fields::latency_of(p.value, p.name, p.unit)?,
    };
    Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// A gauge sample of a JSON line: `{"gauge": NAME, "value": X, <time>}`
/// (any time key requests take: `time`, `ts`, `timestamp`, …). `None` when
/// the line has no `gauge` key (it is a request line, or not JSON), so
/// request lines pay nothing for it: replay tries it only on a line that
/// did not parse as a request.
pub(crate) fn parse_gauge(line: &[u8]) -> Option<Result<GaugeSample<'_>, LineError>> {
    memchr::memmem::find(line, b"\"gauge\"")?;
    let mut sc = Scanner { b: line, i: 0 };
    let mut picked: (Option<Value<'_>>, Option<Value<'_>>, Option<(&'static str, Value<'_>)>) =
        (None, None, None);
    let walk = (|| -> Result<(), LineError> {
        sc.ws();
        sc.expect(b'{', "`{` (a JSON object per line)")?;
        sc.ws();
        if sc.peek() == Some(b'}') {
            return Ok(());
        }
        loop {
            sc.ws();
            let (key, _) = sc.string()?;
            sc.ws();
            sc.expect(b':', "`:` after an object key")?;
            sc.ws();
            let value = sc.value()?;
            match key {
                b"gauge" => picked.0 = Some(value),
                b"value" => picked.1 = Some(value),
                _ => {
                    if let Some(f) = fields::classify(key, SeriesBy::Path) {
                        if f.slot == Slot::Time && picked.2.is_none() {
                            picked.2 = Some((f.name, value));
                        }
                    }
                }
            }
            sc.ws();
            match sc.peek() {
                Some(b',') => sc.i += 1,
                Some(b'}') => return Ok(()),
                _ => return Err(sc.unexpected("`,` or `}`")),
            }
        }
    })();
    if let Err(e) = walk {
        return Some(Err(e));
    }
    let (Some(name), value, time) = picked else { return None };
    Some((|| {
        let name = fields::series_of(name, "gauge")?;
        let value = match value {
            Some(Value::Number(raw)) => std::str::from_utf8(raw)
                .ok()
                .and_then(|t| t.parse::<f64>().ok())
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    err(format!("gauge value `{}` is not a finite number", show(raw)))
                })?,
            Some(v) => {
                return Err(err(format!("gauge `value` must be a JSON number, found {v:?}")));
            }
            None => return Err(err("gauge line without a `value` field".to_string())),
        };
        let (key, t) = time.ok_or_else(|| {
            err(format!(
                "gauge line without a time field (expected one of {})",
                fields::expected_names(Slot::Time, SeriesBy::Path)
            ))
        })?;
        let ts = fields::time_of(t, key)?;
        Ok(GaugeSample { ts_s: ts.secs, ts_nanos: ts.nanos, gauge: name, value })
    })())
}

#[cfg(test)]
mod gauge_tests {
    use super::*;

    #[test]
    fn gauge_lines_parse_and_bad_ones_say_why() {
        let g = parse_gauge(br#"{"time": 1764547200.5, "gauge": "memory_mb", "value": 812.25}"#)
            .unwrap()
            .unwrap();
        assert_eq!(
            (g.ts_s, g.ts_nanos, &*g.gauge, g.value),
            (1_764_547_200, 500_000_000, "memory_mb", 812.25)
        );
        let g = parse_gauge(
            br#"{"gauge":"cpu","ts":"2025-12-01T00:00:00Z","value":-3e2,"x":{"y":[1]}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!((g.ts_s, g.value), (1_764_547_200, -300.0));
        // A request line is not a gauge line.
        assert!(parse_gauge(br#"{"time": 1, "path": "/a", "status": 200}"#).is_none());
        for (line, why) in [
            (&br#"{"time": 1, "gauge": "m"}"#[..], "without a `value`"),
            (br#"{"time": 1, "gauge": "m", "value": "3"}"#, "must be a JSON number"),
            (br#"{"time": 1, "gauge": "m", "value": 1e999}"#, "not a finite number"),
            (br#"{"gauge": "m", "value": 3}"#, "without a time field"),
            (br#"{"gauge": "m", "value": 3"#, "`,` or `}`"),
        ] {
            let e = parse_gauge(line).unwrap().unwrap_err();
            assert!(e.reason.contains(why), "{}: {}", String::from_utf8_lossy(line), e.reason);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn p(line: &str) -> Result<Request<'_>, LineError> {
        parse(JsonConfig { series_by: SeriesBy::Path }, line.as_bytes())
            .map(|r| r.expect("a JSON line is a request"))
    }

    #[test]
    fn flat_object() {
        let r = p(r#"{"ts":1716904005.25,"endpoint":"/api/x?y=1","latency_ms":12.5,"status":200}"#)
            .unwrap();
        assert_eq!(r.ts_s, 1_716_904_005);
        assert_eq!(r.ts_nanos, 250_000_000);
        assert_eq!(r.series, "/api/x");
        assert!(matches!(r.series, Cow::Borrowed(_)));
        assert_eq!(r.latency_ns, Some(12_500_000));
        assert_eq!(r.status, 200);
    }

    #[test]
    fn nested_values_escapes_and_strings() {
        let r = p(r#" { "meta": {"a": [1, {"b": "}]\""}], "c": null}, "time" : "2024-05-28T13:46:45.123Z",
            "path": "/caf\u00e9", "ok": true, "latency_us": "250", "status_code": "503", "n": -1.5e3 } "#)
        .unwrap();
        assert_eq!((r.ts_s, r.ts_nanos), (1_716_904_005, 123_000_000));
        assert_eq!(r.series, "/café");
        assert_eq!(r.latency_ns, Some(250_000));
        assert_eq!(r.status, 503);
    }

    #[test]
    fn rank_picks_preferred_names() {
        let r = p(r#"{"time":1,"ts":2,"series":"s","endpoint":"e","status_code":404,"status":200,"duration_ms":9,"latency_s":1}"#)
            .unwrap();
        assert_eq!((r.ts_s, r.series.as_ref(), r.status), (2, "e", 200));
        assert_eq!(r.latency_ns, Some(1_000_000_000));
    }

    #[test]
    fn unknown_latency() {
        for line in [
            r#"{"ts":1,"path":"/","status":200}"#,
            r#"{"ts":1,"path":"/","status":200,"latency_ms":null}"#,
            r#"{"ts":1,"path":"/","status":200,"latency_ms":"-"}"#,
        ] {
            assert_eq!(p(line).unwrap().latency_ns, None, "{line}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            (r#"{"path":"/","status":200}"#, "missing time field"),
            (r#"{"ts":1,"status":200}"#, "missing series field"),
            (r#"{"ts":1,"path":"/"}"#, "missing status field"),
            (r#"{"ts":1,"path":"/","status":200,"latency_ms":-4}"#, "negative latency"),
            (r#"{"ts":1,"path":"/","status":"ok"}"#, "status `ok`"),
            (r#"{"ts":"yesterday","path":"/","status":200}"#, "not an RFC 3339"),
            (r#"{"ts":1,"path":"/","status":200"#, "line ends"),
            (r#"{"ts":1,"path":"/,"status":200}"#, "expected `,` or `}`"),
            (r#"{"ts":1,"path":"/x"#, "not closed"),
            (r#"{"ts":1} trailing"#, "unexpected data after the object"),
            (r"[1,2]", "a JSON object per line"),
            (r#"{"ts":1,"path":{"a":1},"status":200}"#, "is an object"),
            (r#"{"ts":1,"path":"/","status":200,"x":{"#, "not closed"),
            (r#"{"ts":tru}"#, "expected a JSON value"),
        ];
        for (line, want) in cases {
            let e = p(line).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
    }
}
