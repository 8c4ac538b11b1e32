//! AWS load balancer access logs: ALB (`type time elb client:port
//! target:port request_processing_time target_processing_time
//! response_processing_time elb_status_code target_status_code received_bytes
//! sent_bytes "request" "user_agent" ssl_cipher ssl_protocol target_group_arn
//! ...`) and Classic ELB (the same without the leading `type`, with
//! `backend:port` and `backend_processing_time`).
//!
//! Only the fields up to the request are read (up to the target group ARN
//! when series are by upstream), so the 25-30+ trailing fields that AWS has
//! added over the years do not matter. NLB lines (`tls 2.0 ...`) and ALB
//! connection-log lines (`time client_ip client_port listener_port ...`) are
//! rejected with a reason: they carry no HTTP request.

use std::borrow::Cow;

use memchr::memchr;

use crate::error::err;
use crate::num::{self, show, NumError};
use crate::request;
use crate::time;
use crate::{LatencySource, LineError, Request, SeriesBy};

/// The ALB parser's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlbConfig {
    pub(crate) latency: LatencySource,
    pub(crate) series_by: SeriesBy,
}

/// ALB request types (the first field of an ALB line).
pub(crate) const ALB_TYPES: [&[u8]; 6] = [b"http", b"https", b"h2", b"ws", b"wss", b"grpcs"];

/// Reads space-separated fields.
struct Fields<'a> {
    line: &'a [u8],
    pos: usize,
    /// 1-based number of the next field, for messages.
    n: usize,
}

impl<'a> Fields<'a> {
    fn token(&mut self, what: &str) -> Result<&'a [u8], LineError> {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Err(err(format!("line ends before field {} ({what})", self.n)));
        }
        let len = memchr(b' ', rest).unwrap_or(rest.len());
        let tok = rest.get(..len).unwrap_or_default();
        if tok.is_empty() {
            return Err(err(format!("field {} ({what}) is empty (two spaces in a row)", self.n)));
        }
        self.pos += len + 1;
        self.n += 1;
        Ok(tok)
    }

    fn quoted(&mut self, what: &str) -> Result<&'a [u8], LineError> {
        let rest = self.line.get(self.pos..).unwrap_or_default();
        let Some(inner) = rest.strip_prefix(b"\"") else {
            return Err(err(format!(
                "field {} ({what}) should be double-quoted, found `{}`",
                self.n,
                show(rest)
            )));
        };
        let Some(close) = memchr(b'"', inner) else {
            return Err(err(format!("field {} ({what}) has no closing quote", self.n)));
        };
        // Skip the quotes and one following space (absent at the end of the line, and
        // absent in one AWS doc sample: `"-" "-"1 2018-...`).
        self.pos += close + 2;
        if self.line.get(self.pos) == Some(&b' ') {
            self.pos += 1;
        }
        self.n += 1;
        Ok(inner.get(..close).unwrap_or_default())
    }
}

/// A processing time: seconds, or `-1` when the request never got that far.
fn processing_time(tok: &[u8], name: &str) -> Result<Option<u64>, LineError> {
    if tok == b"-1" {
        return Ok(None);
    }
    match num::seconds_ns(tok) {
        Ok(ns) => Ok(Some(ns)),
        Err(NumError::Negative) => {
            Err(err(format!("{name} `{}` is negative (only -1 is allowed)", show(tok))))
        }
        Err(e) => Err(err(format!("{name} `{}` is not seconds: {e}", show(tok)))),
    }
}

/// Parses one ALB or Classic ELB access-log line.
pub(crate) fn parse<'a>(cfg: AlbConfig, line: &'a [u8]) -> Result<Request<'a>, LineError> {
    let mut f = Fields { line, pos: 0, n: 1 };
    let first = f.token("type or time")?;
    if first == b"tls" {
        return Err(err(
            "NLB TLS access-log line (`tls ...`): it has no HTTP request, so it is not an \
             ALB/ELB request line"
                .to_owned(),
        ));
    }
    let is_alb = ALB_TYPES.contains(&first);
    let (time_tok, elb_label) =
        if is_alb { (f.token("time")?, "ALB") } else { (first, "Classic ELB") };
    let ts = time::parse_rfc3339(time_tok).map_err(|e| {
        if is_alb {
            err(format!("ALB line: {e}"))
        } else {
            err(format!(
                "first field `{}` is neither an ALB request type (http, https, h2, ws, wss, \
                 grpcs) nor a Classic ELB timestamp",
                show(first)
            ))
        }
    })?;
    f.token("elb")?;
    let client = f.token("client:port")?;
    if memchr(b':', client).is_none() {
        return Err(err(format!(
            "field {} `{}` is not client:port: this looks like an ALB connection-log line \
             (time client_ip client_port ...), which has no HTTP request",
            f.n - 1,
            show(client)
        )));
    }
    let target = f.token("target:port")?;
    let req_t = processing_time(f.token("request_processing_time")?, "request_processing_time")?;
    let target_t = processing_time(f.token("target_processing_time")?, "target_processing_time")?;
    let resp_t = processing_time(f.token("response_processing_time")?, "response_processing_time")?;
    let status_tok = f.token("elb_status_code")?;
    let status = num::status(status_tok).map_err(|e| err(format!("elb_status_code: {e}")))?;
    f.token("target_status_code")?;
    f.token("received_bytes")?;
    f.token("sent_bytes")?;
    let req = f.quoted("request")?;
    let target_url = request::request_target(req).map_err(|e| err(format!("{elb_label} {e}")))?;
    let series: Cow<'a, str> = match cfg.series_by {
        SeriesBy::Path => {
            let path = request::path_of_target(target_url)
                .ok_or_else(|| err(format!("request URL `{}` has no path", show(target_url))))?;
            num::lossy(path)
        }
        SeriesBy::Host => {
            let host = request::host_of_url(target_url)
                .ok_or_else(|| err(format!("request URL `{}` has no host", show(target_url))))?;
            num::lossy(host)
        }
        SeriesBy::Upstream if is_alb => {
            f.quoted("user_agent")?;
            f.token("ssl_cipher")?;
            f.token("ssl_protocol")?;
            num::lossy(f.token("target_group_arn")?)
        }
        SeriesBy::Upstream => num::lossy(target),
    };
    let latency_ns = match cfg.latency {
        LatencySource::Request => match (req_t, target_t, resp_t) {
            // Each term is < 2^64 ns, so the u128 sum cannot overflow.
            (Some(a), Some(b), Some(c)) => {
                let sum = u128::from(a) + u128::from(b) + u128::from(c);
                Some(u64::try_from(sum).map_err(|_| {
                    err("sum of the three processing times does not fit in 64-bit ns".to_owned())
                })?)
            }
            _ => None,
        },
        LatencySource::Upstream => target_t,
    };
    Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
}

/// True if the line starts like an ALB (`http 2018-...Z`) or Classic ELB
/// (`2015-...Z elb client:port`) access-log line.
pub(crate) fn looks_like(line: &[u8]) -> bool {
    let mut it = line.split(|&c| c == b' ');
    let Some(first) = it.next() else {
        return false;
    };
    if ALB_TYPES.contains(&first) {
        return it.next().is_some_and(|t| time::parse_rfc3339(t).is_ok());
    }
    time::parse_rfc3339(first).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALB: &str = "https 2018-07-02T22:23:00.186641Z app/my-loadbalancer/50dc6c495c0c9188 \
        192.168.131.39:2817 10.0.0.1:80 0.086 0.048 0.037 200 200 0 57 \
        \"GET https://www.example.com:443/p/q?x=1 HTTP/1.1\" \"curl/7.46.0\" \
        ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 \
        arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/my-targets/73e2d6bc24d8a067 \
        \"Root=1-58337281-1d84f3d73c47ec4e58577259\" \"www.example.com\" \"arn:aws:acm:...\" 1 \
        2018-07-02T22:22:48.364000Z \"authenticate,forward\" \"-\" \"-\" \"10.0.0.1:80\" \"200\" \
        \"-\" \"-\" TID_1234abcd5678ef90";

    fn p(line: &str) -> Result<Request<'_>, LineError> {
        parse(
            AlbConfig { latency: LatencySource::Request, series_by: SeriesBy::Path },
            line.as_bytes(),
        )
    }

    #[test]
    fn alb_line() {
        let r = p(ALB).unwrap();
        assert_eq!((r.ts_s, r.ts_nanos), (1_530_570_180, 186_641_000));
        assert_eq!(r.series, "/p/q");
        assert_eq!(r.status, 200);
        assert_eq!(r.latency_ns, Some(171_000_000));
        let cfg = AlbConfig { latency: LatencySource::Upstream, series_by: SeriesBy::Upstream };
        let r = parse(cfg, ALB.as_bytes()).unwrap();
        assert_eq!(r.latency_ns, Some(48_000_000));
        assert!(r.series.ends_with("targetgroup/my-targets/73e2d6bc24d8a067"), "{}", r.series);
        let cfg = AlbConfig { latency: LatencySource::Request, series_by: SeriesBy::Host };
        assert_eq!(parse(cfg, ALB.as_bytes()).unwrap().series, "www.example.com");
    }

    #[test]
    fn classic_elb_and_unknown_latency() {
        let r = p("2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 - -1 -1 -1 \
                   503 - 0 0 \"GET http://www.example.com:80/ HTTP/1.1\" \"curl/7.38.0\" - -")
        .unwrap();
        assert_eq!((r.status, r.latency_ns, r.series.as_ref()), (503, None, "/"));
        let r = p("2015-05-13T23:39:43.945958Z my-lb 1.2.3.4:2817 10.0.0.1:80 0.000073 0.001048 \
                   0.000057 200 200 0 29 \"GET http://www.example.com:80/a HTTP/1.1\" \"c\" - -")
        .unwrap();
        assert_eq!(r.latency_ns, Some(1_178_000));
        let cfg = AlbConfig { latency: LatencySource::Request, series_by: SeriesBy::Upstream };
        let r = parse(
            cfg,
            b"2015-05-13T23:39:43Z lb 1.2.3.4:1 10.0.0.1:80 0 0 0 200 200 0 0 \"GET / HTTP/1.1\"",
        )
        .unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("10.0.0.1:80", Some(0)));
    }

    #[test]
    fn rejected_lines() {
        let cases = [
            (
                "tls 2.0 2018-12-20T02:59:40 net/my-network-loadbalancer/c6e77e28c25b2234 x",
                "NLB TLS",
            ),
            (
                "2024-10-04T17:05:15.514108Z 192.168.131.39 36280 443 TLSv1.2 ECDHE 4.036 \"CN=x\"",
                "ALB connection-log line",
            ),
            (
                "http 2018-11-30T22:23:00.186641Z app/lb/50dc 1.2.3.4:2817 - -1 -1 -1 400 - 0 0 \
                 \"- - -\" \"-\" - - - \"-\"",
                "method `-`",
            ),
            (
                "http 2018-13-30T22:23:00Z app/lb/x 1.2.3.4:1 - 0 0 0 200 200 0 0 \"GET / H\"",
                "month 13",
            ),
            ("hello world", "neither an ALB request type"),
            ("http 2018-11-30T22:23:00Z app/lb/x 1.2.3.4:1 - 0 0", "line ends before field 8"),
            (
                "http 2018-11-30T22:23:00Z app/lb/x 1.2.3.4:1 - 0 -2 0 200 200 0 0 \"GET / H\"",
                "negative",
            ),
            (
                "http 2018-11-30T22:23:00Z app/lb/x 1.2.3.4:1 - 0 0 0 2000 200 0 0 \"GET / H\"",
                "elb_status_code",
            ),
            (
                "http 2018-11-30T22:23:00Z app/lb/x 1.2.3.4:1 - 0 0 0 200 200 0 0 GET",
                "double-quoted",
            ),
            (
                "http 2018-11-30T22:23:00Z app/lb/x 1.2.3.4:1 - 0 0 0 200 200 0 0 \"GET /",
                "closing quote",
            ),
            ("http 2018-11-30T22:23:00Z app/lb/x  1.2.3.4:1", "empty"),
        ];
        for (line, want) in cases {
            let e = p(line).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
        // A dash status (TCP listener) is 0, but such a line has no request either.
        let e = p("2015-05-13T23:39:43.945958Z lb 1.2.3.4:2817 10.0.0.1:80 0.001069 0.000028 \
                   0.000041 - - 82 305 \"- - - \" \"-\" - -")
        .unwrap_err();
        assert!(e.reason.contains("method `-`"), "{e}");
    }

    #[test]
    fn detection() {
        assert!(looks_like(ALB.as_bytes()));
        assert!(looks_like(b"2015-05-13T23:39:43.945958Z my-loadbalancer 1.2.3.4:2817"));
        assert!(!looks_like(b"http is a protocol"));
        assert!(!looks_like(b"tls 2.0 2018-12-20T02:59:40"));
    }
}
