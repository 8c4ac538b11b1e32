//! `HAProxy`'s `option httplog` lines (its syslog header removed by the
//! collector layer):
//!
//! ```text
//! 10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu} {} "GET /index.html HTTP/1.1"
//! ```
//!
//! Client, `[accept date]` (`HAProxy`'s local time, without a zone: read as
//! UTC), frontend, `backend/server`, the timers `TR/Tw/Tc/Tr/Ta` (ms; `-1`
//! where a phase was not reached; `Ta` may carry a `+`), status, bytes, two
//! cookies, the termination state, connection counts, queues, then optional
//! `{captured headers}` groups and the quoted request line.
//!
//! Latency: `Ta`, the whole request (or `Tr`, the server's response time,
//! with `--latency upstream`); `-1` is unknown. Series: the request's path;
//! by host, the first captured request header (configure `capture request
//! header Host`); by upstream, the backend. Status `-1` (no response) is 0.

use memchr::memchr;

use crate::num::{self, show};
use crate::request;
use crate::time;
use crate::{LatencySource, LineError, Request, SeriesBy};

/// How to read `HAProxy` lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HaproxyConfig {
    pub(crate) latency: LatencySource,
    pub(crate) series_by: SeriesBy,
}

fn err(reason: String) -> LineError {
    LineError { reason }
}

/// Splits off the next space-delimited token.
fn token<'a>(rest: &mut &'a [u8], what: &str) -> Result<&'a [u8], LineError> {
    let s = rest.trim_ascii_start();
    let end = memchr(b' ', s).unwrap_or(s.len());
    if end == 0 {
        return Err(err(format!("no {what}: not an HAProxy httplog line")));
    }
    *rest = &s[end..];
    Ok(&s[..end])
}

/// `06/Feb/2009:12:14:14.655`, read as UTC.
fn accept_date(s: &[u8]) -> Result<time::Timestamp, LineError> {
    let bad = || err(format!("accept date `{}` is not dd/Mon/yyyy:HH:MM:SS.mmm", show(s)));
    let (whole, millis) = match memchr(b'.', s) {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &b""[..]),
    };
    if whole.len() != 20 {
        return Err(bad());
    }
    let mut buf = [0u8; 26];
    buf[..20].copy_from_slice(whole);
    buf[20..].copy_from_slice(b" +0000");
    let mut t = time::parse_time_local(&buf).map_err(|_| bad())?;
    if !millis.is_empty() {
        if millis.len() > 9 || !millis.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let frac =
            num::decimal_scaled(&[b"0.", millis].concat(), 1_000_000_000).map_err(|_| bad())?;
        t.nanos = u32::try_from(frac).map_err(|_| bad())?;
    }
    Ok(t)
}

/// A timer in ms; `-1` is unknown.
fn timer(t: &[u8], what: &str) -> Result<Option<u64>, LineError> {
    let t = t.strip_prefix(b"+").unwrap_or(t);
    if t == b"-1" {
        return Ok(None);
    }
    num::decimal_scaled(t, num::NS_PER_MS)
        .map(Some)
        .map_err(|e| err(format!("timer {what} `{}` is not milliseconds: {e}", show(t))))
}

/// Parses one `HAProxy` httplog line.
pub(crate) fn parse(cfg: HaproxyConfig, line: &[u8]) -> Result<Request<'_>, LineError> {
    let mut rest = line;
    token(&mut rest, "client address")?;
    let date = token(&mut rest, "accept date")?;
    let date = date
        .strip_prefix(b"[")
        .and_then(|d| d.strip_suffix(b"]"))
        .ok_or_else(|| err(format!("no `[accept date]` after the client: `{}`", show(line))))?;
    let ts = accept_date(date)?;
    token(&mut rest, "frontend")?;
    let backend_server = token(&mut rest, "backend/server")?;
    let timers = token(&mut rest, "timers")?;
    let t: Vec<&[u8]> = timers.split(|&c| c == b'/').collect();
    let [_, _, _, tr, ta] = t.as_slice() else {
        return Err(err(format!(
            "timers `{}` are not TR/Tw/Tc/Tr/Ta: not an HAProxy httplog line",
            show(timers)
        )));
    };
    let latency_ns = match cfg.latency {
        LatencySource::Request => timer(ta, "Ta")?,
        LatencySource::Upstream => timer(tr, "Tr")?,
    };
    let status_tok = token(&mut rest, "status")?;
    let status = if status_tok == b"-1" { 0 } else { num::status(status_tok).map_err(err)? };
    for what in
        ["bytes", "request cookie", "response cookie", "termination state", "connections", "queues"]
    {
        token(&mut rest, what)?;
    }
    // Captured headers, then the quoted request line.
    let mut first_capture: Option<&[u8]> = None;
    let mut r = rest.trim_ascii_start();
    while let Some(body) = r.strip_prefix(b"{") {
        let close = memchr(b'}', body)
            .ok_or_else(|| err("a `{captured headers}` group is not closed".to_owned()))?;
        first_capture.get_or_insert(&body[..close]);
        r = body[close + 1..].trim_ascii_start();
    }
    let req = r
        .strip_prefix(b"\"")
        .map(|q| q.strip_suffix(b"\"").unwrap_or(q))
        .ok_or_else(|| err(format!("no quoted request line at the end: `{}`", show(r))))?;
    let series = match cfg.series_by {
        SeriesBy::Path => num::lossy(request::request_path(req).map_err(err)?),
        SeriesBy::Host => {
            let cap = first_capture.ok_or_else(|| {
                err("no captured request header to name the host (capture request header Host)"
                    .to_owned())
            })?;
            let host = cap.split(|&c| c == b'|').next().unwrap_or_default();
            if host.is_empty() {
                return Err(err("the captured Host header is empty".to_owned()));
            }
            num::lossy(host)
        }
        SeriesBy::Upstream => {
            let backend = backend_server.split(|&c| c == b'/').next().unwrap_or_default();
            num::lossy(backend)
        }
    };
    Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// Whether `line` reads as an `HAProxy` httplog line.
pub(crate) fn looks_like(line: &[u8]) -> bool {
    let cfg = HaproxyConfig { latency: LatencySource::Request, series_by: SeriesBy::Path };
    line.first().is_some_and(|c| c.is_ascii_hexdigit() || *c == b'[' || *c == b':')
        && memchr::memmem::find(line, b" [").is_some_and(|i| i < 48)
        && parse(cfg, line).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "10.0.1.2:33317 [06/Feb/2009:12:14:14.655] http-in static/srv1 10/0/30/69/109 \
                        200 2750 - - ---- 1/1/1/1/0 0/0 {1wt.eu|curl} {} \"GET /index.html?x=1 HTTP/1.1\"";

    fn cfg(latency: LatencySource, series_by: SeriesBy) -> HaproxyConfig {
        HaproxyConfig { latency, series_by }
    }

    #[test]
    fn every_field_from_its_place() {
        let r = parse(cfg(LatencySource::Request, SeriesBy::Path), LINE.as_bytes()).unwrap();
        assert_eq!(
            (r.ts_s, r.ts_nanos, r.series.as_ref(), r.latency_ns, r.status),
            (1_233_922_454, 655_000_000, "/index.html", Some(109_000_000), 200)
        );
        let r = parse(cfg(LatencySource::Upstream, SeriesBy::Host), LINE.as_bytes()).unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("1wt.eu", Some(69_000_000)));
        let r = parse(cfg(LatencySource::Request, SeriesBy::Upstream), LINE.as_bytes()).unwrap();
        assert_eq!(r.series, "static");
        // No captures; an aborted request (Ta -1, status -1) and `+Ta`.
        let aborted =
            "127.0.0.1:4000 [28/May/2024:13:46:45.001] fe be/<NOSRV> -1/-1/-1/-1/+5 -1 0 - - CR-- \
                       0/0/0/0/0 0/0 \"<BADREQ>\"";
        let e = parse(cfg(LatencySource::Request, SeriesBy::Path), aborted.as_bytes()).unwrap_err();
        assert!(e.reason.contains("has no path"), "{e}");
        let timeout =
            "127.0.0.1:4000 [28/May/2024:13:46:45.001] fe be/s1 0/0/1/-1/30001 504 194 - - sH-- \
                       0/0/0/0/0 0/0 \"POST /models/m/predict HTTP/1.1\"";
        let r = parse(cfg(LatencySource::Upstream, SeriesBy::Path), timeout.as_bytes()).unwrap();
        assert_eq!((r.status, r.latency_ns), (504, None));
        let r = parse(cfg(LatencySource::Request, SeriesBy::Path), timeout.as_bytes()).unwrap();
        assert_eq!(r.latency_ns, Some(30_001_000_000));
        assert!(looks_like(LINE.as_bytes()));
        assert!(!looks_like(
            b"10.0.0.1 - - [10/Oct/2024:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\""
        ));
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, want) in [
            ("10.0.1.2:1 06/Feb/2009:12:14:14.655 fe be/s 1/2/3/4/5 200", "no `[accept date]`"),
            ("10.0.1.2:1 [06/Feb/2009:12:14] fe be/s 1/2/3/4/5 200", "is not dd/Mon/yyyy"),
            ("10.0.1.2:1 [06/Feb/2009:12:14:14.655] fe be/s 1/2/3 200", "are not TR/Tw/Tc/Tr/Ta"),
            ("10.0.1.2:1 [06/Feb/2009:12:14:14.655] fe be/s 1/2/3/4/x 200 1 - - ---- 0 0 \"GET / HTTP/1.1\"", "timer Ta"),
            ("10.0.1.2:1 [06/Feb/2009:12:14:14.655] fe be/s 1/2/3/4/5 200 1 - - ---- 0 0 {a", "not closed"),
        ] {
            let e = parse(cfg(LatencySource::Request, SeriesBy::Path), line.as_bytes()).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
    }
}
