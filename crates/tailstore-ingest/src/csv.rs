//! CSV with a header line naming the columns (RFC 4180 quoting: `"a,b"`,
//! `"say ""hi"""`). Cells are split with `memchr`; only the columns the
//! parser needs are looked at, and the walk stops after the last of them.
//!
//! A line whose needed cells hold no `"` takes a fast path (split on commas
//! word-at-a-time, no per-cell state machine, values converted directly);
//! anything else, errors included, goes through the general cell walker.

use memchr::memchr;

use crate::error::Error;
use crate::fields::{self, Escape, Slot, Value};
use crate::num::show;
use crate::scan;
use crate::{LineError, Request, SeriesBy};

/// A needed column.
#[derive(Debug, Clone, Copy)]
struct Col {
    idx: usize,
    name: &'static str,
    rank: u8,
    unit: u64,
}

/// The CSV parser's settings, built from the header line.
#[derive(Debug, Clone)]
pub(crate) struct CsvConfig {
    /// The header line (trimmed), so a repeated header is skipped.
    header: Vec<u8>,
    time: Col,
    series: Col,
    status: Col,
    latency: Option<Col>,
    /// Index of the last needed column.
    last: usize,
}

/// Strips a UTF-8 byte order mark and a trailing `\r`.
fn clean(line: &[u8]) -> &[u8] {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Reads the cell at `*pos`, advancing past it and its comma. Returns `None`
/// at the end of the line.
fn next_cell<'a>(line: &'a [u8], pos: &mut Option<usize>) -> Result<Option<Value<'a>>, String> {
    let Some(start) = *pos else {
        return Ok(None);
    };
    let rest = line.get(start..).unwrap_or_default();
    let lead = rest.iter().take_while(|&&c| c == b' ' || c == b'\t').count();
    if rest.get(lead) == Some(&b'"') {
        let open = start + lead;
        let mut j = open + 1;
        let mut doubled = false;
        loop {
            let Some(k) = memchr(b'"', line.get(j..).unwrap_or_default()) else {
                return Err(format!("quoted cell starting at byte {open} is not closed"));
            };
            j += k;
            if line.get(j + 1) == Some(&b'"') {
                doubled = true;
                j += 2;
                continue;
            }
            break;
        }
        let inner = line.get(open + 1..j).unwrap_or_default();
        let mut after = j + 1;
        while matches!(line.get(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        *pos = match line.get(after) {
            None => None,
            Some(b',') => Some(after + 1),
            Some(_) => {
                return Err(format!("unexpected text after the quoted cell ending at byte {j}"))
            }
        };
        Ok(Some(Value::Text(inner, if doubled { Escape::Csv } else { Escape::None })))
    } else {
        let (cell, next) = match memchr(b',', rest) {
            Some(k) => (rest.get(..k).unwrap_or_default(), Some(start + k + 1)),
            None => (rest, None),
        };
        *pos = next;
        Ok(Some(Value::Text(cell.trim_ascii(), Escape::None)))
    }
}

impl CsvConfig {
    /// Reads the header line and finds the columns.
    pub(crate) fn new(header: &[u8], series_by: SeriesBy) -> Result<CsvConfig, Error> {
        let header = clean(header).trim_ascii();
        let shown = || show(header);
        let (mut time, mut series, mut status, mut latency) = (None, None, None, None);
        let mut pos = Some(0usize);
        let mut idx = 0usize;
        loop {
            let cell = next_cell(header, &mut pos)
                .map_err(|reason| Error::BadHeader { header: shown(), reason })?;
            let Some(Value::Text(name, _)) = cell else {
                break;
            };
            if let Some(f) = fields::classify(name.trim_ascii(), series_by) {
                let (target, unit) = match f.slot {
                    Slot::Time => (&mut time, 0),
                    Slot::Series => (&mut series, 0),
                    Slot::Latency(unit) => (&mut latency, unit),
                    Slot::Status => (&mut status, 0),
                };
                let col = Col { idx, name: f.name, rank: f.rank, unit };
                if target.is_none_or(|old: Col| col.rank < old.rank) {
                    *target = Some(col);
                }
            }
            idx += 1;
        }
        let need = |c: Option<Col>, slot: Slot| {
            c.ok_or_else(|| Error::MissingColumn {
                field: fields::slot_label(slot),
                expected: fields::expected_names(slot, series_by),
                header: shown(),
            })
        };
        let time = need(time, Slot::Time)?;
        let series = need(series, Slot::Series)?;
        let status = need(status, Slot::Status)?;
        let last = [time.idx, series.idx, status.idx, latency.map_or(0, |c: Col| c.idx)]
            .into_iter()
            .max()
            .unwrap_or(0);
        Ok(CsvConfig { header: header.to_vec(), time, series, status, latency, last })
    }

    /// Parses one data line; a repeat of the header line is `Ok(None)`.
    #[inline]
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Result<Option<Request<'a>>, LineError> {
        if line.trim_ascii() == self.header.as_slice() {
            return Ok(None);
        }
        match self.parse_fast(line) {
            Some(req) => Ok(Some(req)),
            None => self.parse_general(line),
        }
    }

    /// The fast path for a well-formed line whose needed cells hold no `"`.
    /// `None` sends the line to [`parse_general`](Self::parse_general): a
    /// quote, too few cells, or any value that is not accepted as is (the
    /// general path then reports the error). When it answers, the answer is
    /// the general path's (see the tests).
    #[inline]
    pub(crate) fn parse_fast<'a>(&self, line: &'a [u8]) -> Option<Request<'a>> {
        let [time, series, status, latency] = self.plain_cells(line)?;
        // The same interpretation as `interpret`, on cells that `next_cell`
        // would have returned as `Value::Text(cell, Escape::None)`.
        if time.is_empty() || status.is_empty() {
            return None;
        }
        let ts = crate::time::parse_any(time).ok()?;
        let series = fields::plain_series(series)?;
        let status = crate::num::status(status).ok()?;
        let latency_ns = match self.latency {
            Some(col) => fields::plain_latency(latency, col.unit)?,
            None => None,
        };
        Some(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
    }

    /// The needed cells (time, series, status, latency) of a line none of
    /// whose cells up to the last needed one contains a `"`, trimmed as
    /// [`next_cell`] trims unquoted cells. `None` for a quote or too few cells.
    #[inline]
    fn plain_cells<'a>(&self, line: &'a [u8]) -> Option<[&'a [u8]; 4]> {
        let mut cells: [&'a [u8]; 4] = [b""; 4];
        let idxs = [self.time.idx, self.series.idx, self.status.idx, self.latency_idx()];
        let mut start = 0usize;
        for idx in 0..=self.last {
            let rest = line.get(start..)?;
            let end = match scan::find2(b',', b'"', rest) {
                Some(k) if rest.get(k) == Some(&b'"') => return None,
                Some(k) => k,
                None if idx == self.last => rest.len(),
                None => return None,
            };
            let cell = rest.get(..end)?;
            for (slot, &want) in cells.iter_mut().zip(&idxs) {
                if want == idx {
                    *slot = cell.trim_ascii();
                }
            }
            start += end + 1;
        }
        Some(cells)
    }

    /// The latency column's index, or one no line reaches.
    fn latency_idx(&self) -> usize {
        self.latency.map_or(usize::MAX, |c| c.idx)
    }

    /// The general path: walks the cells with [`next_cell`] (quotes, `""`).
    #[inline(never)]
    pub(crate) fn parse_general<'a>(
        &self,
        line: &'a [u8],
    ) -> Result<Option<Request<'a>>, LineError> {
        let mut cells: [Option<Value<'a>>; 4] = [None; 4];
        let cols = [Some(self.time), Some(self.series), Some(self.status), self.latency];
        let mut pos = Some(0usize);
        let mut idx = 0usize;
        while idx <= self.last {
            let cell = next_cell(line, &mut pos)
                .map_err(|reason| LineError { reason: format!("malformed CSV: {reason}") })?;
            let Some(cell) = cell else {
                break;
            };
            for (slot, col) in cells.iter_mut().zip(cols) {
                if col.is_some_and(|c| c.idx == idx) {
                    *slot = Some(cell);
                }
            }
            idx += 1;
        }
        self.interpret(cells, idx)
    }

    /// Turns the needed cells (time, series, status, latency) into a request;
    /// `read` is the number of cells read, for the "missing column" message.
    #[inline]
    fn interpret<'a>(
        &self,
        cells: [Option<Value<'a>>; 4],
        read: usize,
    ) -> Result<Option<Request<'a>>, LineError> {
        let [time, series, status, latency] = cells;
        let missing = |col: Col| LineError {
            reason: format!(
                "line has {read} CSV fields, but column `{}` is field {} of the header",
                col.name,
                col.idx + 1
            ),
        };
        let non_empty = |v: Option<Value<'a>>, col: Col| match v {
            None => Err(missing(col)),
            Some(Value::Text(b"", _)) => {
                Err(LineError { reason: format!("field `{}` is empty", col.name) })
            }
            Some(v) => Ok(v),
        };
        let ts = fields::time_of(non_empty(time, self.time)?, self.time.name)?;
        let series =
            fields::series_of(series.ok_or_else(|| missing(self.series))?, self.series.name)?;
        let status = fields::status_of(non_empty(status, self.status)?, self.status.name)?;
        let latency_ns = match self.latency {
            Some(col) => {
                fields::latency_of(latency.ok_or_else(|| missing(col))?, col.name, col.unit)?
            }
            None => None,
        };
        Ok(Some(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status }))
    }
}

/// True if `line` looks like a CSV header this crate understands: it has a
/// comma and at least one known column name.
pub(crate) fn looks_like_header(line: &[u8]) -> bool {
    let line = clean(line);
    if memchr(b',', line).is_none() {
        return false;
    }
    let mut pos = Some(0usize);
    while let Ok(Some(Value::Text(name, _))) = next_cell(line, &mut pos) {
        if fields::is_known_name(name.trim_ascii()) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(header: &str) -> CsvConfig {
        CsvConfig::new(header.as_bytes(), SeriesBy::Path).unwrap()
    }

    #[test]
    fn columns_by_name() {
        let c = cfg("\u{feff}host,ts,endpoint,status,latency_ms,bytes\r");
        let r = c.parse(b"a,1716904005.5,/x?q=1,200,12.5,99").unwrap().unwrap();
        assert_eq!((r.ts_s, r.ts_nanos), (1_716_904_005, 500_000_000));
        assert_eq!(r.series, "/x");
        assert_eq!(r.status, 200);
        assert_eq!(r.latency_ns, Some(12_500_000));
        // The header repeated (concatenated files) is skipped.
        assert_eq!(c.parse(b"host,ts,endpoint,status,latency_ms,bytes"), Ok(None));
    }

    #[test]
    fn quoting_and_unknown_latency() {
        let c = cfg("time,\"path\",status_code,latency_us");
        let r = c.parse(br#"2024-05-28T13:46:45Z, "/a,""b""" , "503","""#).unwrap().unwrap();
        assert_eq!(r.series, "/a,\"b\"");
        assert_eq!(r.status, 503);
        assert_eq!(r.latency_ns, None);
        let r = c.parse(b"2024-05-28T13:46:45Z,/a,200,-").unwrap().unwrap();
        assert_eq!(r.latency_ns, None);
        let c = cfg("time,path,status");
        assert_eq!(c.parse(b"1,/a,200").unwrap().unwrap().latency_ns, None);
    }

    #[test]
    fn header_errors() {
        let e = CsvConfig::new(b"ts,endpoint,latency_ms", SeriesBy::Path).unwrap_err();
        assert!(e.to_string().contains("no status column"), "{e}");
        let e = CsvConfig::new(b"ts,status", SeriesBy::Host).unwrap_err();
        assert!(e.to_string().contains("no series column (expected one of `host`)"), "{e}");
        let e = CsvConfig::new(b"ts,\"path,status", SeriesBy::Path).unwrap_err();
        assert!(e.to_string().contains("not closed"), "{e}");
    }

    #[test]
    fn line_errors() {
        let c = cfg("ts,path,status,latency_ms");
        let cases = [
            ("1,/a", "line has 2 CSV fields, but column `status` is field 3"),
            ("1,/a,200", "column `latency_ms` is field 4"),
            (",/a,200,1", "field `ts` is empty"),
            ("1,/a,,1", "field `status` is empty"),
            ("1,,200,1", "field `path` (series) is empty"),
            ("1,/a,200,-1", "negative latency"),
            ("1,\"/a,200,1", "malformed CSV"),
            ("1,\"/a\"x,200,1", "unexpected text after the quoted cell"),
            ("-1,/a,200,1", "before 1970"),
        ];
        for (line, want) in cases {
            let e = c.parse(line.as_bytes()).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn header_detection() {
        assert!(looks_like_header(b"ts,endpoint,latency_ms,status"));
        assert!(looks_like_header(b"\"Time\" , Path"));
        assert!(!looks_like_header(b"a,b,c"));
        assert!(!looks_like_header(b"status"));
    }
}
