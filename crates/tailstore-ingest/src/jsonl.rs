//! JSON lines: one flat JSON object per line, scanned by hand.
//!
//! The scanner walks the top-level object once. Strings are located with
//! `memchr2` (quote or backslash) and left escaped unless a wanted field needs
//! decoding; numbers are kept as their token text; nested objects and arrays
//! are skipped with a depth counter that respects strings. Nothing is
//! allocated for a well-formed line whose strings have no escapes.

use memchr::memchr2;

use crate::fields::{self, Escape, Slot, Value};
use crate::num::show;
use crate::{LineError, Request, SeriesBy};

/// The JSONL parser's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonConfig {
    pub(crate) series_by: SeriesBy,
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

fn err(reason: String) -> LineError {
    LineError { reason }
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while matches!(self.b.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn unexpected(&self, wanted: &str) -> LineError {
        match self.b.get(self.i) {
            None => err(format!("invalid JSON: line ends where {wanted} was expected")),
            Some(&c) => err(format!(
                "invalid JSON at byte {}: expected {wanted}, found `{}`",
                self.i,
                show(&[c])
            )),
        }
    }

    /// At an opening quote: returns the raw inside and whether it has escapes.
    fn string(&mut self) -> Result<(&'a [u8], bool), LineError> {
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

    fn value(&mut self) -> Result<Value<'a>, LineError> {
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

/// Parses one JSON object line.
pub(crate) fn parse<'a>(cfg: JsonConfig, line: &'a [u8]) -> Result<Request<'a>, LineError> {
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

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn p(line: &str) -> Result<Request<'_>, LineError> {
        parse(JsonConfig { series_by: SeriesBy::Path }, line.as_bytes())
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
            (r#"[1,2]"#, "a JSON object per line"),
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
