//! Envoy and Istio access logs: the default text formats and the JSON
//! (`json_format`) logs Istio writes.
//!
//! Text lines are Envoy's default format
//!
//! ```text
//! [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"
//! %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION%
//! %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%"
//! "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"
//! ```
//!
//! or one of Istio's defaults, told apart by the field after the flags: a
//! number is Envoy's `%BYTES_RECEIVED%`; a quoted field is Istio 1.1-1.7's
//! `"%DYNAMIC_METADATA(istio.mixer:status)%"`; anything else is Istio 1.8+'s
//! `%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
//! "%UPSTREAM_TRANSPORT_FAILURE_REASON%"` (Envoy's own current default has
//! these too and ends at `"%UPSTREAM_HOST%"`). Istio appends
//! `%UPSTREAM_CLUSTER%` and addresses after `"%UPSTREAM_HOST%"`; only the
//! cluster is read, and only for series by upstream (the host where the line
//! ends first). A file may mix text and JSON lines: either format reads both. Fields are split by hand (`memchr`), and
//! reading stops at the last field the options need.
//!
//! Wrappers around a text line are removed first: a CRI container-log prefix
//! (`<RFC 3339> stdout F `; a partial `P` record is rejected), Ambassador's
//! `ACCESS ` prefix, and a Docker `json-file` object whose `log` or
//! `message` string holds the line (decoding that string allocates).
//!
//! JSON lines are one flat object with Istio's key names: `start_time`,
//! `response_code`, `path`, `authority`, `duration`, `upstream_service_time`,
//! `upstream_cluster`, `upstream_host` (a CRI prefix is removed too), or
//! Envoy Gateway's (`x-envoy-origin-path`, `:authority`,
//! `x-envoy-upstream-service-time`). Other
//! keys are skipped, nested values included. Numbers may be JSON numbers or
//! numeric strings; `null` is unknown.
//!
//! A line without an HTTP request (a TCP proxy connection, `"- - -"`; a
//! request Envoy could not parse, method or path `-`) is rejected with that
//! reason: it has no series to count in.

use std::borrow::Cow;

use memchr::memchr;

use crate::error::err;
use crate::fields::{self, Escape, Value};
use crate::jsonl::Scanner;
use crate::num::{self, show, NumError};
use crate::request;
use crate::time;
use crate::{LatencySource, LineError, Request, SeriesBy};

/// The Envoy parsers' settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct EnvoyConfig {
    pub(crate) latency: LatencySource,
    pub(crate) series_by: SeriesBy,
}

/// Which default format a text line follows (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Envoy's default: no cluster after the upstream host.
    Envoy,
    /// Istio 1.1-1.7: a quoted Mixer status after the flags.
    Istio11,
    /// Istio 1.8+: details, termination details, quoted failure reason.
    Istio18,
}

/// Reads the space-separated fields of a text line.
struct Cursor<'a> {
    line: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a [u8] {
        self.line.get(self.pos..).unwrap_or_default()
    }

    /// An unquoted field up to the next space (or the end of the line).
    fn token(&mut self, what: &str) -> Result<&'a [u8], LineError> {
        let rest = self.rest();
        if rest.is_empty() {
            return Err(err(format!("line ends before {what}")));
        }
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        let tok = rest.get(..len).unwrap_or_default();
        if tok.is_empty() {
            return Err(err(format!("{what} is empty (two spaces in a row)")));
        }
        self.pos += len + 1;
        Ok(tok)
    }

    /// A double-quoted field. It ends at the first `"` followed by a space
    /// or the end of the line, so a user agent holding a lone `"` still
    /// reads (Envoy does not escape header values).
    fn quoted(&mut self, what: &str) -> Result<&'a [u8], LineError> {
        let rest = self.rest();
        let Some(inner) = rest.strip_prefix(b"\"") else {
            return Err(err(format!("{what} should be double-quoted, found `{}`", show(rest))));
        };
        let mut from = 0usize;
        loop {
            let Some(k) = inner.get(from..).and_then(|s| memchr(b'"', s)) else {
                return Err(err(format!("{what} has no closing quote")));
            };
            let close = from + k;
            match inner.get(close + 1) {
                None | Some(b' ') => {
                    // The opening quote, the inside, the closing quote and a space.
                    self.pos += close + 3;
                    return Ok(inner.get(..close).unwrap_or_default());
                }
                Some(_) => from = close + 1,
            }
        }
    }
}

/// A millisecond field: `-` is unknown.
fn millis(tok: &[u8], what: &str) -> Result<Option<u64>, LineError> {
    if tok == b"-" {
        return Ok(None);
    }
    match num::decimal_scaled(tok, num::NS_PER_MS) {
        Ok(ns) => Ok(Some(ns)),
        Err(NumError::Negative) => Err(err(format!("{what} `{}` is negative", show(tok)))),
        Err(e) => Err(err(format!("{what} `{}` is not milliseconds: {e}", show(tok)))),
    }
}

/// A byte count: digits, or `-` (TCP fields Envoy does not set).
fn check_bytes(tok: &[u8], what: &str) -> Result<(), LineError> {
    if tok == b"-" || tok.iter().all(u8::is_ascii_digit) {
        return Ok(());
    }
    Err(err(format!(
        "{what} `{}` is not a number: not an Envoy or Istio default-format line",
        show(tok)
    )))
}

/// Removes a CRI container-log prefix (`2022-07-22T12:24:12.325744791Z
/// stdout F `); other lines are returned as they are.
fn strip_cri(line: &[u8]) -> Result<&[u8], LineError> {
    if !line.first().is_some_and(u8::is_ascii_digit) {
        return Ok(line);
    }
    let Some(sp) = memchr(b' ', line) else {
        return Ok(line);
    };
    let after = line.get(sp + 1..).unwrap_or_default();
    let Some(tag) = after.strip_prefix(b"stdout ").or_else(|| after.strip_prefix(b"stderr "))
    else {
        return Ok(line);
    };
    match tag {
        [b'F', b' ', body @ ..] => Ok(body),
        [b'P', b' ', ..] => Err(err(
            "CRI partial record (`P`): the Envoy line continues in the next record, which \
             this line-at-a-time parser does not join"
                .to_owned(),
        )),
        _ => Ok(line),
    }
}

/// Parses one Envoy or Istio text line, unwrapping it first (see the
/// module docs).
pub(crate) fn parse_text(cfg: EnvoyConfig, line: &[u8]) -> Result<Request<'_>, LineError> {
    let body = strip_cri(line)?;
    if body.first() == Some(&b'{') {
        // A container record's message, or a JSON access-log line in a file
        // that mixes both (a listener with each format).
        return match parse_wrapped(cfg, body) {
            Err(_) if looks_like_json(body) => parse_json(cfg, body),
            r => r,
        };
    }
    parse_body(cfg, body.strip_prefix(b"ACCESS ").unwrap_or(body))
}

/// The `log` (Docker `json-file`) or `message` (Filebeat) string of a
/// container-log object.
fn wrapped_message(obj: &[u8]) -> Result<Value<'_>, LineError> {
    let mut o = Json::open(obj)?;
    while let Some((key, v)) = o.member()? {
        if key == b"log" || key == b"message" {
            return match v {
                Value::Text(..) => Ok(v),
                _ => Err(err(format!(
                    "container-log field `{}` is not a string",
                    String::from_utf8_lossy(key)
                ))),
            };
        }
    }
    Err(err("JSON line without a `log` or `message` string: not a container-wrapped Envoy text \
         line (Envoy/Istio JSON access logs are --format envoy-json)"
        .to_owned()))
}

fn parse_wrapped<'a>(cfg: EnvoyConfig, obj: &'a [u8]) -> Result<Request<'a>, LineError> {
    let inner = |text: &'a [u8]| {
        let text = text.strip_suffix(b"\n").unwrap_or(text);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        parse_body(cfg, text.strip_prefix(b"ACCESS ").unwrap_or(text))
            .map_err(|e| err(format!("container-log message: {e}")))
    };
    match wrapped_message(obj)? {
        Value::Text(raw, Escape::None) => inner(raw),
        Value::Text(raw, _) => {
            let text = fields::json_unescape(raw);
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            let text = text.strip_prefix("ACCESS ").unwrap_or(text);
            let r = parse_body(cfg, text.as_bytes())
                .map_err(|e| err(format!("container-log message: {e}")))?;
            Ok(r.into_owned())
        }
        _ => Err(err("container-log message is not a string".to_owned())),
    }
}

/// Parses an unwrapped text line.
fn parse_body<'a>(cfg: EnvoyConfig, body: &'a [u8]) -> Result<Request<'a>, LineError> {
    let Some(after_open) = body.strip_prefix(b"[") else {
        return Err(err(format!(
            "line does not start with `[%START_TIME%]`: not an Envoy access-log line: `{}`",
            show(body)
        )));
    };
    let Some(close) = memchr(b']', after_open) else {
        return Err(err("`[%START_TIME%` has no closing `]`".to_owned()));
    };
    let ts = time::parse_rfc3339(after_open.get(..close).unwrap_or_default())
        .map_err(|e| err(format!("START_TIME: {e}")))?;
    if after_open.get(close + 1) != Some(&b' ') {
        return Err(err("no space after `[%START_TIME%]`".to_owned()));
    }
    // `[`, the time, `]` and the space.
    let mut c = Cursor { line: body, pos: close + 3 };
    let req = c.quoted("the request (\"METHOD PATH PROTOCOL\")")?;
    if req == b"- - -" {
        return Err(err(
            "request `- - -`: a TCP proxy connection, not an HTTP request (no path or status)"
                .to_owned(),
        ));
    }
    let target = request::request_target(req).map_err(|e| err(format!("Envoy {e}")))?;
    let status =
        num::status(c.token("RESPONSE_CODE")?).map_err(|e| err(format!("RESPONSE_CODE: {e}")))?;
    c.token("RESPONSE_FLAGS")?;
    let layout = match c.rest().first() {
        Some(b'"') => {
            c.quoted("Istio's Mixer status")?;
            Layout::Istio11
        }
        Some(d) if d.is_ascii_digit() => Layout::Envoy,
        _ => {
            c.token("RESPONSE_CODE_DETAILS")?;
            c.token("CONNECTION_TERMINATION_DETAILS")?;
            c.quoted("UPSTREAM_TRANSPORT_FAILURE_REASON")?;
            Layout::Istio18
        }
    };
    check_bytes(c.token("BYTES_RECEIVED")?, "BYTES_RECEIVED")?;
    check_bytes(c.token("BYTES_SENT")?, "BYTES_SENT")?;
    let duration = millis(c.token("DURATION")?, "DURATION")?;
    let latency_ns = match cfg.latency {
        LatencySource::Request => duration,
        LatencySource::Upstream => {
            millis(c.token("X-ENVOY-UPSTREAM-SERVICE-TIME")?, "X-ENVOY-UPSTREAM-SERVICE-TIME")?
        }
    };
    let series: Cow<'a, str> = match cfg.series_by {
        SeriesBy::Path => {
            let path = request::path_of_target(target).ok_or_else(|| {
                err(format!(
                    "request `{}`: target `{}` is not a path or URL",
                    show(req),
                    show(target)
                ))
            })?;
            num::lossy(path)
        }
        SeriesBy::Host | SeriesBy::Upstream => {
            if cfg.latency == LatencySource::Request {
                c.token("X-ENVOY-UPSTREAM-SERVICE-TIME")?;
            }
            c.quoted("X-FORWARDED-FOR")?;
            c.quoted("USER-AGENT")?;
            c.quoted("X-REQUEST-ID")?;
            let authority = c.quoted(":AUTHORITY")?;
            if cfg.series_by == SeriesBy::Host {
                num::lossy(authority)
            } else {
                let host = c.quoted("UPSTREAM_HOST")?;
                let cluster = match layout {
                    Layout::Envoy => None,
                    // Envoy's own current default ends at UPSTREAM_HOST
                    // (Istio 1.8+'s adds the cluster and more).
                    Layout::Istio18 if c.rest().trim_ascii().is_empty() => None,
                    Layout::Istio11 | Layout::Istio18 => Some(c.token("UPSTREAM_CLUSTER")?),
                };
                num::lossy(cluster.unwrap_or(host))
            }
        }
    };
    if series.is_empty() {
        return Err(err("the series field is empty".to_owned()));
    }
    Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// A flat walk over one JSON object's members (nested values are skipped),
/// with the JSONL parser's scanner.
struct Json<'a> {
    sc: Scanner<'a>,
    first: bool,
}

impl<'a> Json<'a> {
    fn open(b: &'a [u8]) -> Result<Json<'a>, LineError> {
        let mut sc = Scanner { b, i: 0 };
        sc.ws();
        sc.expect(b'{', "`{`")?;
        Ok(Json { sc, first: true })
    }

    /// The next member (raw key, value), or `None` after the closing `}`
    /// (then only whitespace may follow).
    fn member(&mut self) -> Result<Option<(&'a [u8], Value<'a>)>, LineError> {
        let sc = &mut self.sc;
        sc.ws();
        if sc.peek() == Some(b'}') {
            sc.i += 1;
            sc.ws();
            if sc.i != sc.b.len() {
                return Err(sc.unexpected("the end of the line after the object"));
            }
            return Ok(None);
        }
        if !self.first {
            sc.expect(b',', "`,` or `}`")?;
            sc.ws();
        }
        self.first = false;
        let (key, _) = sc.string()?;
        sc.ws();
        sc.expect(b':', "`:`")?;
        sc.ws();
        let v = sc.value()?;
        Ok(Some((key, v)))
    }
}

/// The members of an Envoy/Istio JSON line that a request needs (the first
/// occurrence of each key).
#[derive(Default)]
struct JsonFields<'a> {
    start_time: Option<Value<'a>>,
    response_code: Option<Value<'a>>,
    path: Option<Value<'a>>,
    authority: Option<Value<'a>>,
    duration: Option<Value<'a>>,
    upstream_service_time: Option<Value<'a>>,
    upstream_cluster: Option<Value<'a>>,
    upstream_host: Option<Value<'a>>,
}

impl<'a> JsonFields<'a> {
    fn read(line: &'a [u8]) -> Result<JsonFields<'a>, LineError> {
        let mut f = JsonFields::default();
        let mut o = Json::open(line)?;
        while let Some((key, v)) = o.member()? {
            let slot = match key {
                b"start_time" => &mut f.start_time,
                b"response_code" => &mut f.response_code,
                // Envoy Gateway's default JSON names the path, the
                // authority and the upstream time after their headers.
                b"path" | b"x-envoy-origin-path" | b"x-envoy-original-path" => &mut f.path,
                b"authority" | b":authority" => &mut f.authority,
                b"duration" => &mut f.duration,
                b"upstream_service_time" | b"x-envoy-upstream-service-time" => {
                    &mut f.upstream_service_time
                }
                b"upstream_cluster" => &mut f.upstream_cluster,
                b"upstream_host" => &mut f.upstream_host,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(v);
            }
        }
        Ok(f)
    }
}

fn missing(key: &str) -> LineError {
    err(format!(
        "no `{key}` field: not an Envoy/Istio JSON access log (it needs `start_time`, \
         `response_code` and `path`, `authority` or `upstream_cluster`/`upstream_host`)"
    ))
}

/// A series name; `null` is `-`, as Envoy writes an unset field in text.
fn name_or_dash<'a>(v: Value<'a>, key: &str) -> Result<Cow<'a, str>, LineError> {
    match v {
        Value::Null => Ok(Cow::Borrowed("-")),
        _ => fields::series_of(v, key),
    }
}

/// Parses one Envoy/Istio JSON access-log line.
pub(crate) fn parse_json(cfg: EnvoyConfig, line: &[u8]) -> Result<Request<'_>, LineError> {
    let body = strip_cri(line)?;
    // A text line in a file that mixes both formats.
    if body.first() == Some(&b'[') || body.starts_with(b"ACCESS [") {
        return parse_text(cfg, body);
    }
    let f = JsonFields::read(body)?;
    let ts = fields::time_of(f.start_time.ok_or_else(|| missing("start_time"))?, "start_time")?;
    let status = fields::status_of(
        f.response_code.ok_or_else(|| missing("response_code"))?,
        "response_code",
    )?;
    let latency_ns = match cfg.latency {
        LatencySource::Request => match f.duration {
            Some(v) => fields::latency_of(v, "duration", num::NS_PER_MS)?,
            None => None,
        },
        LatencySource::Upstream => match f.upstream_service_time {
            Some(v) => fields::latency_of(v, "upstream_service_time", num::NS_PER_MS)?,
            None => None,
        },
    };
    // As in text lines, a request without a path is rejected whatever names
    // the series.
    if matches!(f.path, Some(Value::Text(b"-", _) | Value::Null)) {
        return Err(err(
            "field `path` is `-`: Envoy logged no request path (a request it could not parse, \
             or a TCP connection)"
                .to_owned(),
        ));
    }
    let series = match cfg.series_by {
        SeriesBy::Path => fields::series_of(f.path.ok_or_else(|| missing("path"))?, "path")?,
        SeriesBy::Host => {
            name_or_dash(f.authority.ok_or_else(|| missing("authority"))?, "authority")?
        }
        SeriesBy::Upstream => match (f.upstream_cluster, f.upstream_host) {
            (Some(v @ Value::Text(..)), _) => fields::series_of(v, "upstream_cluster")?,
            (_, Some(v)) => name_or_dash(v, "upstream_host")?,
            (Some(v), None) => name_or_dash(v, "upstream_cluster")?,
            (None, None) => return Err(missing("upstream_cluster")),
        },
    };
    Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// True if the line (after the wrappers the text parser removes) starts
/// like an Envoy text line: `[<RFC 3339>] "`.
pub(crate) fn looks_like_text(line: &[u8]) -> bool {
    let Ok(body) = strip_cri(line) else {
        return false;
    };
    if body.first() == Some(&b'{') {
        return match wrapped_message(body) {
            Ok(Value::Text(raw, escape)) => {
                let text = match escape {
                    Escape::None => Cow::Borrowed(raw),
                    _ => Cow::Owned(fields::json_unescape(raw).into_bytes()),
                };
                starts_like_text(&text)
            }
            _ => false,
        };
    }
    starts_like_text(body)
}

fn starts_like_text(body: &[u8]) -> bool {
    let body = body.strip_prefix(b"ACCESS ").unwrap_or(body);
    let Some(after_open) = body.strip_prefix(b"[") else {
        return false;
    };
    let Some(close) = memchr(b']', after_open) else {
        return false;
    };
    time::parse_rfc3339(after_open.get(..close).unwrap_or_default()).is_ok()
        && after_open.get(close + 1..close + 3) == Some(b" \"")
}

/// True if the line is a JSON object (CRI prefix allowed) with the
/// `start_time` and `response_code` keys of Envoy/Istio JSON logs.
pub(crate) fn looks_like_json(line: &[u8]) -> bool {
    let Ok(body) = strip_cri(line) else {
        return false;
    };
    JsonFields::read(body).is_ok_and(|f| f.start_time.is_some() && f.response_code.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENVOY: &str =
        "[2019-04-08T16:16:55.931Z] \"GET /service/1?x=2 HTTP/1.1\" 200 - 0 89 5 4 \
        \"-\" \"curl/7.54.0\" \"c219f6da\" \"localhost:8000\" \"172.27.0.3:80\"";
    const ISTIO18: &str = "[2022-09-01T13:15:09.085Z] \"GET /reviews/0 HTTP/1.1\" 503 UF \
        upstream_reset_before_response_started{connection_failure,delayed_connect_error:_111} - \
        \"-\" 0 145 7 - \"-\" \"Mozilla/5.0 (X)\" \"5644\" \"reviews:9080\" \"10.124.2.14:9080\" \
        inbound|9080|| - 10.124.2.14:9080 10.124.1.6:48816 outbound_.9080_._.reviews default";
    const ISTIO11: &str = "[2019-03-06T09:31:27.354Z] \"GET /status/418 HTTP/1.1\" 418 - \"-\" 0 \
        135 11 10 \"-\" \"curl/7.60.0\" \"d209\" \"httpbin:8000\" \"172.30.146.73:80\" \
        outbound|8000||httpbin.default.svc.cluster.local - 172.21.13.94:8000 172.30.146.82:60290 -";

    fn cfg(latency: LatencySource, series_by: SeriesBy) -> EnvoyConfig {
        EnvoyConfig { latency, series_by }
    }

    fn text(line: &str, c: EnvoyConfig) -> Result<Request<'_>, LineError> {
        parse_text(c, line.as_bytes())
    }

    #[test]
    fn envoy_default_line() {
        let d = cfg(LatencySource::Request, SeriesBy::Path);
        let r = text(ENVOY, d).unwrap();
        assert_eq!((r.ts_s, r.ts_nanos), (1_554_740_215, 931_000_000));
        assert_eq!(
            (r.series.as_ref(), r.status, r.latency_ns),
            ("/service/1", 200, Some(5_000_000))
        );
        let r = text(ENVOY, cfg(LatencySource::Upstream, SeriesBy::Host)).unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("localhost:8000", Some(4_000_000)));
        let r = text(ENVOY, cfg(LatencySource::Request, SeriesBy::Upstream)).unwrap();
        assert_eq!(r.series, "172.27.0.3:80");
    }

    #[test]
    fn istio_layouts() {
        let r = text(ISTIO18, cfg(LatencySource::Request, SeriesBy::Path)).unwrap();
        assert_eq!(
            (r.series.as_ref(), r.status, r.latency_ns),
            ("/reviews/0", 503, Some(7_000_000))
        );
        let r = text(ISTIO18, cfg(LatencySource::Upstream, SeriesBy::Upstream)).unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("inbound|9080||", None));
        let r = text(ISTIO11, cfg(LatencySource::Upstream, SeriesBy::Upstream)).unwrap();
        assert_eq!(
            (r.series.as_ref(), r.status, r.latency_ns),
            ("outbound|8000||httpbin.default.svc.cluster.local", 418, Some(10_000_000))
        );
        let r = text(ISTIO11, cfg(LatencySource::Request, SeriesBy::Host)).unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("httpbin:8000", Some(11_000_000)));
    }

    #[test]
    fn wrappers() {
        let d = cfg(LatencySource::Request, SeriesBy::Path);
        let cri = format!("2022-07-22T12:24:12.325744791Z stdout F {ISTIO18}");
        assert_eq!(text(&cri, d).unwrap().series, "/reviews/0");
        let e = text(&cri.replace(" F ", " P "), d).unwrap_err();
        assert!(e.reason.contains("CRI partial record"), "{e}");
        let access = format!("ACCESS {ENVOY}");
        assert_eq!(text(&access, d).unwrap().latency_ns, Some(5_000_000));
        let docker = format!(
            "{{\"log\":\"ACCESS {}\\n\",\"stream\":\"stdout\",\"k\":{{\"a\":[1]}}}}",
            ENVOY.replace('"', "\\\"")
        );
        let r = text(&docker, d).unwrap();
        assert!(matches!(r.series, Cow::Owned(_)));
        assert_eq!((r.series.as_ref(), r.status), ("/service/1", 200));
        let e = text("{\"stream\":\"stdout\"}", d).unwrap_err();
        assert!(e.reason.contains("without a `log` or `message`"), "{e}");
        assert!(looks_like_text(docker.as_bytes()));
        assert!(looks_like_text(cri.as_bytes()));
        assert!(looks_like_text(access.as_bytes()));
        assert!(!looks_like_text(b"[2019-04-08] \"GET"));
        assert!(!looks_like_text(b"{\"start_time\":\"2022-09-08T12:51:05.656Z\"}"));
    }

    #[test]
    fn rejected_text_lines() {
        let d = cfg(LatencySource::Request, SeriesBy::Path);
        let cases = [
            ("[2019-04-06T06:20:05.972Z] \"- - -\" 0 UF,URX 0 0 0 - \"-\" \"-\" \"-\" \"-\" \"h\"", "TCP proxy"),
            ("[2022-09-01T09:36:33.553Z] \"- - HTTP/1.1\" 400 DPE http1.codec_error - \"-\" 0 11 46 -", "method `-`"),
            ("[2019-13-08T16:16:55.931Z] \"GET / HTTP/1.1\" 200 - 0 89 5 4", "START_TIME"),
            ("[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1\" 2000 - 0 89 5 4", "RESPONSE_CODE"),
            ("[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1\" 200 - 0 89 -5 4", "negative"),
            ("[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1\" 200 - 0 89 5.x 4", "not milliseconds"),
            ("[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1\" 200 - 0 89", "line ends before DURATION"),
            ("[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1\" 200 - a b \"c\" d 1 2", "BYTES_RECEIVED"),
            ("[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1", "no closing quote"),
            ("[2019-04-08T16:16:55.931Z] GET", "double-quoted"),
            ("2019-04-08 hello", "does not start with `[%START_TIME%]`"),
        ];
        for (line, want) in cases {
            let e = text(line, d).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn json_lines() {
        let line = br#"{"authority":"reviews:9080","duration":15,"path":"/reviews/0?a=1","response_code":200,"start_time":"2022-09-08T12:51:05.656Z","upstream_cluster":"inbound|9080||","upstream_host":"10.124.1.5:9080","upstream_service_time":"14","nested":{"x":["}"]}}"#;
        let p = |c: EnvoyConfig| parse_json(c, line).unwrap();
        let r = p(cfg(LatencySource::Request, SeriesBy::Path));
        assert_eq!((r.ts_s, r.ts_nanos), (1_662_641_465, 656_000_000));
        assert_eq!(
            (r.series.as_ref(), r.status, r.latency_ns),
            ("/reviews/0", 200, Some(15_000_000))
        );
        let r = p(cfg(LatencySource::Upstream, SeriesBy::Upstream));
        assert_eq!((r.series.as_ref(), r.latency_ns), ("inbound|9080||", Some(14_000_000)));
        assert_eq!(p(cfg(LatencySource::Request, SeriesBy::Host)).series, "reviews:9080");
        // A null cluster falls back to the upstream host; a null upstream time is unknown.
        let line = br#"{"start_time":"2022-09-08T12:51:05Z","response_code":"503","path":"/a","duration":"3","upstream_cluster":null,"upstream_host":"-","upstream_service_time":null}"#;
        let r = parse_json(cfg(LatencySource::Upstream, SeriesBy::Upstream), line).unwrap();
        assert_eq!((r.series.as_ref(), r.status, r.latency_ns), ("-", 503, None));
        assert!(looks_like_json(line));
        assert!(!looks_like_json(br#"{"ts":1,"path":"/a","status":200}"#));
        // Upstream hosts as URLs, IPv6 and X-Forwarded-For lists in quoted fields.
        for (l, host) in [
            (
                r#"[2024-04-08T16:16:55.931Z] "GET /api/v1 HTTP/2" 200 - via_upstream - "-" 0 89 5 4 "2001:db8::1,10.0.0.1" "curl/8" "c219" "api.example.com" "tcp://10.1.2.3:8080""#,
                "tcp://10.1.2.3:8080",
            ),
            (
                r#"[2024-04-08T16:16:56.931Z] "POST /models/m HTTP/1.1" 503 UF upstream_reset_before_response_started{connection_failure} - "-" 0 91 12 - "[2001:db8::2]:443, 203.0.113.7" "python" "d9" "models" "envoy://internal_client_address/""#,
                "envoy://internal_client_address/",
            ),
        ] {
            let r =
                parse_text(cfg(LatencySource::Request, SeriesBy::Upstream), l.as_bytes()).unwrap();
            assert_eq!(r.series, host);
        }
        // A file mixing JSON and text lines reads both with either format.
        let text = ENVOY.as_bytes();
        let d = cfg(LatencySource::Request, SeriesBy::Path);
        assert_eq!(parse_json(d, text).unwrap(), parse_text(d, text).unwrap());
        assert_eq!(parse_text(d, line).unwrap(), parse_json(d, line).unwrap());
        // Envoy Gateway's default JSON access log (its key names).
        let gw = br#"{":authority":"api.example.com","bytes_received":0,"bytes_sent":19,"connection_termination_details":null,"downstream_local_address":"10.244.0.9:10080","downstream_remote_address":"172.18.0.1:49914","duration":7,"method":"GET","protocol":"HTTP/1.1","requested_server_name":null,"response_code":200,"response_code_details":"via_upstream","response_flags":"-","route_name":"httproute/default/backend/rule/0/match/0/*","start_time":"2024-05-28T13:46:45.123Z","upstream_cluster":"httproute/default/backend/rule/0","upstream_host":"10.244.0.11:3000","upstream_local_address":"10.244.0.9:51540","upstream_transport_failure_reason":null,"user-agent":"curl/8.4.0","x-envoy-origin-path":"/models/m/predict?v=2","x-envoy-upstream-service-time":"5","x-forwarded-for":"172.18.0.1","x-request-id":"9e7a"}"#;
        assert!(looks_like_json(gw));
        let r = parse_json(cfg(LatencySource::Request, SeriesBy::Path), gw).unwrap();
        assert_eq!(
            (r.ts_s, r.series.as_ref(), r.status, r.latency_ns),
            (1_716_904_005, "/models/m/predict", 200, Some(7_000_000))
        );
        let r = parse_json(cfg(LatencySource::Upstream, SeriesBy::Host), gw).unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("api.example.com", Some(5_000_000)));
        let d = cfg(LatencySource::Request, SeriesBy::Path);
        let cases: [(&[u8], &str); 6] = [
            (br#"{"start_time":"2022-09-08T12:51:05Z","response_code":400,"path":"-"}"#, "no request path"),
            (br#"{"response_code":200,"path":"/a"}"#, "no `start_time` field"),
            (br#"{"start_time":"2022-09-08T12:51:05Z","path":"/a"}"#, "no `response_code`"),
            (br#"{"start_time":"2022-09-08T12:51:05Z","response_code":200,"path":"/a","duration":-1}"#, "negative"),
            (br#"{"start_time":"2022-09-08T12:51:05Z","response_code":200 "path":"/a"}"#, "expected `,` or `}`"),
            (br#"{"start_time":"2022-09-08T12:51:05Z"} x"#, "end of the line"),
        ];
        for (line, want) in cases {
            let e = parse_json(d, line).unwrap_err();
            assert!(e.reason.contains(want), "{}: {e}", show(line));
        }
    }
}
