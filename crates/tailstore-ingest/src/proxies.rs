//! JSON access logs of other front proxies of model endpoints, one object
//! per line, read by key (other keys are ignored, nested ones skipped):
//!
//! | proxy | time | series: path / host / upstream | latency | status |
//! |---|---|---|---|---|
//! | Traefik (`accessLog.format: json`) | `StartUTC` (else `StartLocal`, `time`) | `RequestPath` / `RequestHost` / `ServiceName` (else `RouterName`; neither: `-`) | `Duration` (ns; `OriginDuration` with `--latency upstream`) | `DownstreamStatus` (0: no response) |
//! | Caddy (`log` of `http.log.access`) | `ts` (unix seconds) | `request.uri` / `request.host` / `request.host` | `duration` (s) | `status` |
//! | Google Cloud HTTP(S) load balancing, exported as JSON | `timestamp` (else `receiveTimestamp`) | `httpRequest.requestUrl`'s path / its host / its host | `httpRequest.latency` (`"0.123s"`) | `httpRequest.status` (absent: 0, no response) |
//!
//! A Caddy entry whose `logger` is not an access log's (`http.log.error`,
//! which also carries the failed request, its duration and status, in the
//! same stream when both logs go to stderr) is rejected, not counted twice.

use std::borrow::Cow;

use crate::fields::{self, Escape, Value};
use crate::jsonl::Scanner;
use crate::num;
use crate::request;
use crate::time::Timestamp;
use crate::{LatencySource, LineError, Request, SeriesBy};

/// Which proxy wrote the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proxy {
    /// Traefik's JSON access log.
    Traefik,
    /// Caddy's access log.
    Caddy,
    /// Google Cloud HTTP(S) load balancing request logs.
    GcpLb,
}

/// How to read one proxy's lines.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ProxyConfig {
    pub(crate) proxy: Proxy,
    pub(crate) latency: LatencySource,
    pub(crate) series_by: SeriesBy,
}

fn err(reason: String) -> LineError {
    LineError { reason }
}

/// The members a request needs, by role (the first occurrence of each).
#[derive(Default)]
struct Found<'a> {
    time: Option<(&'static str, Value<'a>)>,
    path: Option<(&'static str, Value<'a>)>,
    host: Option<(&'static str, Value<'a>)>,
    upstream: Option<(&'static str, Value<'a>)>,
    /// Traefik's `RouterName`, when a line has no `ServiceName`.
    router: Option<(&'static str, Value<'a>)>,
    /// Caddy's `logger`: `http.log.access…` for access-log entries.
    logger: Option<(&'static str, Value<'a>)>,
    latency: Option<(&'static str, Value<'a>)>,
    status: Option<(&'static str, Value<'a>)>,
}

/// The role of member `key` inside the object `outer` (`b""` at the top),
/// and the key's name for messages.
fn role(
    proxy: Proxy,
    latency: LatencySource,
    outer: &[u8],
    key: &[u8],
) -> Option<(&'static str, u8)> {
    // Roles: 0 time, 1 path, 2 host, 3 upstream, 4 latency, 5 status, 6 router,
    // 7 logger.
    let upstream_latency = latency == LatencySource::Upstream;
    Some(match (proxy, outer, key) {
        (Proxy::Traefik, b"", b"StartUTC" | b"StartLocal" | b"time") => ("StartUTC", 0),
        (Proxy::Traefik, b"", b"RequestPath") => ("RequestPath", 1),
        (Proxy::Traefik, b"", b"RequestHost") => ("RequestHost", 2),
        (Proxy::Traefik, b"", b"ServiceName") => ("ServiceName", 3),
        (Proxy::Traefik, b"", b"RouterName") => ("RouterName", 6),
        (Proxy::Traefik, b"", b"Duration") if !upstream_latency => ("Duration", 4),
        (Proxy::Traefik, b"", b"OriginDuration") if upstream_latency => ("OriginDuration", 4),
        (Proxy::Traefik, b"", b"DownstreamStatus") => ("DownstreamStatus", 5),
        (Proxy::Caddy, b"", b"ts") => ("ts", 0),
        (Proxy::Caddy, b"request", b"uri") => ("request.uri", 1),
        (Proxy::Caddy, b"request", b"host") => ("request.host", 2),
        (Proxy::Caddy, b"", b"duration") => ("duration", 4),
        (Proxy::Caddy, b"", b"status") => ("status", 5),
        (Proxy::Caddy, b"", b"logger") => ("logger", 7),
        (Proxy::GcpLb, b"", b"timestamp" | b"receiveTimestamp") => ("timestamp", 0),
        (Proxy::GcpLb, b"httpRequest", b"requestUrl") => ("httpRequest.requestUrl", 1),
        (Proxy::GcpLb, b"httpRequest", b"latency") => ("httpRequest.latency", 4),
        (Proxy::GcpLb, b"httpRequest", b"status") => ("httpRequest.status", 5),
        _ => return None,
    })
}

/// The nested object whose members are read, per proxy.
fn enters(proxy: Proxy, key: &[u8]) -> bool {
    matches!((proxy, key), (Proxy::Caddy, b"request") | (Proxy::GcpLb, b"httpRequest"))
}

/// Walks one object's members, entering the nested objects `enters` names
/// (one level), and files the members `role` knows.
fn walk<'a>(
    sc: &mut Scanner<'a>,
    cfg: ProxyConfig,
    outer: &'a [u8],
    found: &mut Found<'a>,
) -> Result<(), LineError> {
    sc.ws();
    sc.expect(b'{', "`{`")?;
    let mut first = true;
    loop {
        sc.ws();
        if sc.peek() == Some(b'}') {
            sc.i += 1;
            return Ok(());
        }
        if !first {
            sc.expect(b',', "`,` or `}`")?;
            sc.ws();
        }
        first = false;
        let (key, _) = sc.string()?;
        sc.ws();
        sc.expect(b':', "`:`")?;
        sc.ws();
        if outer.is_empty() && sc.peek() == Some(b'{') && enters(cfg.proxy, key) {
            walk(sc, cfg, key, found)?;
            continue;
        }
        let v = sc.value()?;
        if let Some((name, r)) = role(cfg.proxy, cfg.latency, outer, key) {
            let slot = match r {
                0 => &mut found.time,
                1 => &mut found.path,
                2 => &mut found.host,
                3 => &mut found.upstream,
                4 => &mut found.latency,
                5 => &mut found.status,
                6 => &mut found.router,
                _ => &mut found.logger,
            };
            if slot.is_none() {
                *slot = Some((name, v));
            }
        }
    }
}

fn missing(proxy: Proxy, what: &str) -> LineError {
    let name = match proxy {
        Proxy::Traefik => "Traefik",
        Proxy::Caddy => "Caddy",
        Proxy::GcpLb => "Google Cloud load-balancer",
    };
    err(format!("no {what} field: not a {name} JSON access-log line"))
}

/// A text value, unescaped.
fn text<'a>(v: Value<'a>, key: &str) -> Result<Cow<'a, [u8]>, LineError> {
    match v {
        Value::Text(raw, Escape::None) => Ok(Cow::Borrowed(raw)),
        Value::Text(raw, _) => Ok(Cow::Owned(fields::json_unescape(raw).into_bytes())),
        Value::Number(_) => Err(err(format!("field `{key}` is a number, expected a string"))),
        Value::Null => Err(err(format!("field `{key}` is null, expected a string"))),
        Value::Other(kind) => Err(err(format!("field `{key}` is {kind}, expected a string"))),
    }
}

/// A series name from bytes that may borrow the line.
fn name(b: Cow<'_, [u8]>) -> Cow<'_, str> {
    match b {
        Cow::Borrowed(b) => num::lossy(b),
        Cow::Owned(o) => Cow::Owned(num::lossy(&o).into_owned()),
    }
}

/// The path or host of a URL field (Google Cloud's `requestUrl`).
fn url_part<'a>(v: Value<'a>, key: &str, host: bool) -> Result<Cow<'a, str>, LineError> {
    let url = text(v, key)?;
    let part = |u: &[u8]| -> Option<Vec<u8>> {
        let p = if host { request::host_of_url(u) } else { request::path_of_target(u) };
        p.map(<[u8]>::to_vec)
    };
    match url {
        Cow::Borrowed(u) => {
            let p = if host { request::host_of_url(u) } else { request::path_of_target(u) };
            p.map(num::lossy)
                .ok_or_else(|| err(format!("field `{key}` is not a URL: `{}`", num::show(u))))
        }
        Cow::Owned(u) => part(&u)
            .map(|p| Cow::Owned(num::lossy(&p).into_owned()))
            .ok_or_else(|| err(format!("field `{key}` is not a URL: `{}`", num::show(&u)))),
    }
}

/// Google Cloud's `latency`: a duration string (`"0.123456s"`).
fn gcp_latency(v: Value<'_>, key: &str) -> Result<Option<u64>, LineError> {
    if matches!(v, Value::Null) {
        return Ok(None);
    }
    let t = text(v, key)?;
    let secs = t.strip_suffix(b"s").ok_or_else(|| {
        err(format!("field `{key}` `{}` is not a duration like `0.123s`", num::show(&t)))
    })?;
    num::seconds_ns(secs)
        .map(Some)
        .map_err(|e| err(format!("field `{key}` `{}` is not seconds: {e}", num::show(&t))))
}

/// Checks that a Caddy entry's `logger` is an access log's
/// (`http.log.access`, `http.log.access.log0`, …). Caddy's error log
/// (`http.log.error`) also carries `request`, `duration` and `status` for a
/// request that failed, and shares the stream with the access log when both
/// go to stderr: read as a request it would count that request twice.
fn caddy_access_logger(v: Value<'_>, key: &str) -> Result<(), LineError> {
    let logger = text(v, key)?;
    if logger.starts_with(b"http.log.access") {
        return Ok(());
    }
    Err(err(format!(
        "Caddy `{}` entry, not an access-log entry (the access log counts its request)",
        num::show(&logger)
    )))
}

/// Parses one line of `cfg.proxy`'s JSON access log.
pub(crate) fn parse(cfg: ProxyConfig, line: &[u8]) -> Result<Request<'_>, LineError> {
    let mut sc = Scanner { b: line, i: 0 };
    let mut f = Found::default();
    walk(&mut sc, cfg, b"", &mut f)?;
    sc.ws();
    if sc.i != line.len() {
        return Err(sc.unexpected("the end of the line after the object"));
    }
    let proxy = cfg.proxy;
    if let Some((k, v)) = f.logger {
        caddy_access_logger(v, k)?;
    }
    let (tk, tv) = f.time.ok_or_else(|| missing(proxy, "time"))?;
    let ts: Timestamp = fields::time_of_general(tv, tk)?;
    let status = match f.status {
        Some((k, v)) => fields::status_of(v, k)?,
        // Google Cloud omits the status of a request that got no response.
        None if proxy == Proxy::GcpLb => 0,
        None => return Err(missing(proxy, "status")),
    };
    let latency_ns = match (proxy, f.latency) {
        (_, None) => None,
        (Proxy::Traefik, Some((k, v))) => fields::latency_of(v, k, 1)?,
        (Proxy::Caddy, Some((k, v))) => fields::latency_of(v, k, num::NS_PER_S)?,
        (Proxy::GcpLb, Some((k, v))) => gcp_latency(v, k)?,
    };
    let series: Cow<'_, str> = match (cfg.series_by, proxy) {
        (SeriesBy::Path, Proxy::GcpLb) => {
            let (k, v) = f.path.ok_or_else(|| missing(proxy, "httpRequest.requestUrl"))?;
            url_part(v, k, false)?
        }
        (SeriesBy::Host | SeriesBy::Upstream, Proxy::GcpLb) => {
            let (k, v) = f.path.ok_or_else(|| missing(proxy, "httpRequest.requestUrl"))?;
            url_part(v, k, true)?
        }
        (SeriesBy::Path, _) => {
            let (k, v) = f.path.ok_or_else(|| missing(proxy, "request path"))?;
            fields::series_of(v, k)?
        }
        (SeriesBy::Host, _) | (SeriesBy::Upstream, Proxy::Caddy) => {
            let (k, v) = f.host.ok_or_else(|| missing(proxy, "host"))?;
            name(text(v, k)?)
        }
        // Traefik: a request no router matched (its own 404) has neither
        // key; like ingress-nginx's and Envoy's, its upstream is `-`.
        (SeriesBy::Upstream, _) => match f.upstream.or(f.router) {
            Some((k, v)) => name(text(v, k)?),
            None => Cow::Borrowed("-"),
        },
    };
    if series.is_empty() {
        return Err(err("the series field is empty".to_owned()));
    }
    Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// Which proxy wrote a JSON line, by its keys; `None` for other lines.
pub(crate) fn looks_like(line: &[u8]) -> Option<Proxy> {
    if line.first() != Some(&b'{') {
        return None;
    }
    let has = |k: &[u8]| memchr::memmem::find(line, k).is_some();
    if has(b"\"DownstreamStatus\"") && has(b"\"RequestPath\"") {
        return Some(Proxy::Traefik);
    }
    if has(b"\"httpRequest\"") && has(b"\"requestUrl\"") {
        return Some(Proxy::GcpLb);
    }
    if has(b"\"http.log.access")
        || (has(b"\"request\":{") && has(b"\"duration\"") && has(b"\"ts\""))
    {
        return Some(Proxy::Caddy);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(proxy: Proxy, series_by: SeriesBy) -> ProxyConfig {
        ProxyConfig { proxy, latency: LatencySource::Request, series_by }
    }

    const TRAEFIK: &str = r#"{"ClientAddr":"10.42.0.1:51938","ClientHost":"10.42.0.1","DownstreamContentSize":19,"DownstreamStatus":200,"Duration":1514362,"OriginContentSize":19,"OriginDuration":1399210,"OriginStatus":200,"Overhead":115152,"RequestAddr":"api.example.com","RequestHost":"api.example.com","RequestMethod":"POST","RequestPath":"/models/m/predict?v=1","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"http","RetryAttempts":0,"RouterName":"default-api@kubernetes","ServiceName":"default-model-svc-80@kubernetes","StartLocal":"2024-05-28T13:46:45.123456789Z","StartUTC":"2024-05-28T13:46:45.123456789Z","entryPointName":"web","level":"info","msg":"","time":"2024-05-28T13:46:45Z"}"#;
    const CADDY: &str = r#"{"level":"info","ts":1716904005.5241024,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41342","proto":"HTTP/2.0","method":"GET","host":"models.example.com","uri":"/models/m/predict?x=1","headers":{"User-Agent":["curl/7.82.0"],"Accept":["*/*"]},"tls":{"resumed":false,"version":772}},"bytes_read":0,"user_id":"","duration":0.000929675,"size":10900,"status":200,"resp_headers":{"Server":["Caddy"]}}"#;
    const GCP: &str = r#"{"insertId":"1m2k3","jsonPayload":{"@type":"type.googleapis.com/google.cloud.loadbalancing.type.LoadBalancerLogEntry","statusDetails":"response_sent_by_backend"},"httpRequest":{"requestMethod":"POST","requestUrl":"https://models.example.com/models/m/predict?v=2","requestSize":"121","status":503,"responseSize":"67","userAgent":"curl/8","remoteIp":"203.0.113.9","serverIp":"10.0.0.5","latency":"0.123456s"},"resource":{"type":"http_load_balancer","labels":{"backend_service_name":"models"}},"timestamp":"2024-05-28T13:46:45.123456Z","severity":"INFO","receiveTimestamp":"2024-05-28T13:46:46.1Z"}"#;

    #[test]
    fn every_field_read_from_its_own_key() {
        let t = parse(cfg(Proxy::Traefik, SeriesBy::Path), TRAEFIK.as_bytes()).unwrap();
        assert_eq!(
            (t.ts_s, t.ts_nanos, t.series.as_ref(), t.latency_ns, t.status),
            (1_716_904_005, 123_456_789, "/models/m/predict", Some(1_514_362), 200)
        );
        let up = ProxyConfig {
            latency: LatencySource::Upstream,
            ..cfg(Proxy::Traefik, SeriesBy::Upstream)
        };
        let t = parse(up, TRAEFIK.as_bytes()).unwrap();
        assert_eq!(
            (t.series.as_ref(), t.latency_ns),
            ("default-model-svc-80@kubernetes", Some(1_399_210))
        );
        let c = parse(cfg(Proxy::Caddy, SeriesBy::Path), CADDY.as_bytes()).unwrap();
        assert_eq!(
            (c.ts_s, c.series.as_ref(), c.latency_ns, c.status),
            (1_716_904_005, "/models/m/predict", Some(929_675), 200)
        );
        let c = parse(cfg(Proxy::Caddy, SeriesBy::Host), CADDY.as_bytes()).unwrap();
        assert_eq!(c.series, "models.example.com");
        let g = parse(cfg(Proxy::GcpLb, SeriesBy::Path), GCP.as_bytes()).unwrap();
        assert_eq!(
            (g.ts_s, g.ts_nanos, g.series.as_ref(), g.latency_ns, g.status),
            (1_716_904_005, 123_456_000, "/models/m/predict", Some(123_456_000), 503)
        );
        let g = parse(cfg(Proxy::GcpLb, SeriesBy::Host), GCP.as_bytes()).unwrap();
        assert_eq!(g.series, "models.example.com");
        // No router matched: no `ServiceName`, no `RouterName`.
        let unrouted = TRAEFIK
            .replace(r#""RouterName":"default-api@kubernetes","ServiceName":"default-model-svc-80@kubernetes","#, "")
            .replace(r#""DownstreamStatus":200"#, r#""DownstreamStatus":404"#);
        let t = parse(cfg(Proxy::Traefik, SeriesBy::Upstream), unrouted.as_bytes()).unwrap();
        assert_eq!((t.series.as_ref(), t.status), ("-", 404));
        assert_eq!(looks_like(TRAEFIK.as_bytes()), Some(Proxy::Traefik));
        assert_eq!(looks_like(CADDY.as_bytes()), Some(Proxy::Caddy));
        assert_eq!(looks_like(GCP.as_bytes()), Some(Proxy::GcpLb));
        assert_eq!(looks_like(br#"{"ts":1,"path":"/a","status":200}"#), None);
    }

    #[test]
    fn bad_lines_say_why() {
        let cases: [(Proxy, &str, &str); 6] = [
            (
                Proxy::Traefik,
                r#"{"RequestPath":"/a","DownstreamStatus":200}"#,
                "no time field: not a Traefik",
            ),
            (
                Proxy::Traefik,
                r#"{"StartUTC":"2024-05-28T13:46:45Z","RequestPath":"/a"}"#,
                "no status field",
            ),
            (
                Proxy::Caddy,
                r#"{"ts":1716904005,"status":200,"duration":-1,"request":{"uri":"/a"}}"#,
                "negative",
            ),
            (
                Proxy::GcpLb,
                r#"{"timestamp":"2024-05-28T13:46:45Z","httpRequest":{"requestUrl":"https://h/a","latency":"12ms"}}"#,
                "is not seconds",
            ),
            (
                Proxy::GcpLb,
                r#"{"timestamp":"2024-05-28T13:46:45Z","httpRequest":{"status":200}}"#,
                "no httpRequest.requestUrl",
            ),
            (Proxy::Caddy, r#"{"ts":1716904005,"status":200} x"#, "end of the line"),
        ];
        for (proxy, line, want) in cases {
            let e = parse(cfg(proxy, SeriesBy::Path), line.as_bytes()).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
        // Caddy's error log shares the stream and has a request, a duration
        // and a status: it is not a second request.
        let error_entry = r#"{"level":"error","ts":1716904006.25,"logger":"http.log.error","msg":"dial tcp 10.0.0.9:8080: connect: connection refused","request":{"remote_ip":"127.0.0.1","method":"POST","host":"models.example.com","uri":"/models/m/predict"},"duration":0.001818104,"status":502,"err_id":"6pue15j76","err_trace":"reverseproxy.statusError (reverseproxy.go:1269)"}"#;
        let e = parse(cfg(Proxy::Caddy, SeriesBy::Path), error_entry.as_bytes()).unwrap_err();
        assert!(e.reason.contains("Caddy `http.log.error` entry, not an access-log entry"), "{e}");
        let access = error_entry.replace("http.log.error", "http.log.access.log0");
        let r = parse(cfg(Proxy::Caddy, SeriesBy::Path), access.as_bytes()).unwrap();
        assert_eq!((r.status, r.latency_ns), (502, Some(1_818_104)));
        // No response: Google Cloud omits the status.
        let g = parse(
            cfg(Proxy::GcpLb, SeriesBy::Path),
            br#"{"timestamp":"2024-05-28T13:46:45Z","httpRequest":{"requestUrl":"https://h/a","latency":null}}"#,
        )
        .unwrap();
        assert_eq!((g.status, g.latency_ns), (0, None));
    }
}
