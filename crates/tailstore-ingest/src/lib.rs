//! `tailstore-ingest`: parsers for recorded traffic files, one request per line.
//!
//! A [`Parser`] turns a line into a [`Request`]: the time, a series key, the
//! latency (if the log knows it) and the HTTP status. It is built once per
//! file from a [`Format`] and [`ParserOptions`], is `Send + Sync`, and can be
//! shared by worker threads that call [`Parser::parse`] concurrently.
//! [`detect`] guesses the format from a file's first lines.
//!
//! | [`Format`] | Lines | Latency | Series ([`SeriesBy`]) |
//! |---|---|---|---|
//! | `Jsonl` | one flat JSON object: `ts`/`timestamp`/`time`, `endpoint`/`path`/`series`, `latency_ms`/`latency_us`/`latency_s`/`duration_ms`, `status`/`status_code` | the latency field (absent, `null`, `"-"`: unknown) | path field; `host` / `upstream` field |
//! | `Csv` | a header line naming the same columns, then data lines | the latency column | as JSONL |
//! | `Nginx` | `combined` plus ` $request_time` | `$request_time` or `$upstream_response_time` | `$request` path; `$host` |
//! | `Combined` | nginx's and Apache's plain `combined`, and nginx's sample `main` (plus `"$http_x_forwarded_for"`) | none: every request's latency is unknown | `$request` path |
//! | `IngressNginx` | the ingress-nginx `upstreaminfo` format, current and older layouts | as nginx | `$request` path; `$proxy_upstream_name` |
//! | `Alb` | AWS ALB and Classic ELB access logs | sum of the three processing times, or the target's | URL path; URL host; target group |
//! | `Envoy` | Envoy's default text format and Istio's (1.1-1.7 and 1.8+ layouts), bare or behind a CRI, `ACCESS ` or Docker `json-file` wrapper | `%DURATION%` (ms), or `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%` | request path; `%REQ(:AUTHORITY)%`; Istio `%UPSTREAM_CLUSTER%`, else `%UPSTREAM_HOST%` |
//! | `EnvoyJson` | Envoy/Istio JSON access logs (Istio's key names) | `duration` (ms), or `upstream_service_time` | `path`; `authority`; `upstream_cluster`, else `upstream_host` |
//! | `LogFormat(def)` | any nginx `log_format` definition | as nginx | as nginx |
//! | `Traefik`, `Caddy`, `GcpLb` | those proxies' JSON access logs (see the `proxies` module's table: `StartUTC`/`RequestPath`/`Duration` ns/`DownstreamStatus`; `ts`/`request.uri`/`duration` s/`status`; `timestamp`/`httpRequest.requestUrl`/`httpRequest.latency`/`httpRequest.status`) | the duration field, or Traefik's `OriginDuration` | path; host; Traefik `ServiceName` |
//! | `Haproxy` | `HAProxy` `option httplog` lines (see the `haproxy` module) | `Ta` (ms), or `Tr` | request path; first captured header; backend |
//! | `Hlog` | `HdrHistogram` interval logs, read with [`HlogReader`] (one histogram per line) | the histogram's values, in the log's unit | the line's `Tag=`, else the caller's default |
//!
//! Lines of any format may come wrapped by the way they were collected; the
//! wrapper is removed first, and [`detect`] looks at the payload: a CRI
//! container-log prefix (`<RFC 3339> stdout F `), `kubectl logs --timestamps`
//! (`<RFC 3339> `; not for ALB, whose Classic ELB lines begin with their own
//! time), a Docker `json-file` record (`{"log":"…",…}`), and syslog (`<PRI>`
//! with RFC 5424's header, or RFC 3164's `Mon DD HH:MM:SS host tag: `). The
//! payload's own time is the request's. `HdrHistogram` logs may have white
//! space around their lines (`HdrHistogramJS`) and tags on some lines only.
//!
//! The crate's `tests/corpus` directory holds one file per variant and
//! proxy above, written from each format's documentation (its `SOURCES.md`
//! says which), and beside each the expected reading of every line;
//! `tests/corpus.rs` detects and parses each file and compares every field.
//!
//! ```
//! use tailstore_ingest::{detect, Format, Parser, ParserOptions};
//!
//! let line: &[u8] = b"203.0.113.9 - - [10/Sep/2015:17:57:59 +0000] \"GET /t/x100?w=1 HTTP/1.1\" \
//!     200 7013 \"-\" \"curl/8.0\" 0.138";
//! let format = detect(&[line]).unwrap();
//! assert_eq!(format, Format::Nginx);
//! let parser = Parser::new(&format, None, ParserOptions::default())?;
//! let req = parser.parse(line).unwrap().unwrap();
//! assert_eq!((req.ts_s, req.series.as_ref(), req.status), (1_441_907_879, "/t/x100", 200));
//! assert_eq!(req.latency_ns, Some(138_000_000));
//! # Ok::<(), tailstore_ingest::Error>(())
//! ```
//!
//! # ingress-nginx layouts
//!
//! [`Format::IngressNginx`] first tries the current default `log-format-upstream`
//! (`... [$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr
//! $upstream_response_length $upstream_response_time $upstream_status $req_id`).
//! A line that does not match it is tried against the older controllers'
//! layouts: every combination of `$the_real_ip - [$the_real_ip] -` in place
//! of `$remote_addr -`, no `[$proxy_alternative_upstream_name]`, and no
//! trailing `$req_id`. The first layout whose literal text matches decides.
//! `$upstream_*` values may be `, ` / ` : ` separated lists (retries, internal
//! redirects); the latency from `$upstream_response_time` is their sum.
//!
//! # Envoy and Istio
//!
//! [`Format::Envoy`] reads Envoy's default text format; the field after
//! `%RESPONSE_FLAGS%` tells it from Istio's defaults (a number: Envoy; a
//! quoted field: Istio 1.1-1.7; otherwise Istio 1.8+'s
//! `%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
//! "%UPSTREAM_TRANSPORT_FAILURE_REASON%"`). [`Format::EnvoyJson`] reads
//! Istio's JSON access log (`start_time`, `response_code`, `path`,
//! `authority`, `duration`, `upstream_service_time`, `upstream_cluster`,
//! `upstream_host`; other keys are skipped). In both, the status is
//! `%RESPONSE_CODE%` as logged: 0 when Envoy sent no response (flag `DC`,
//! the client disconnected; `UC`, `UF`, `UH`, `NR`, ... are in the flags,
//! which are not read). `%DURATION%` is the whole request; for a `101`
//! upgrade (websocket) it is the connection's lifetime. An upstream time of
//! `-` or `null` (no upstream answered) is unknown latency. TCP proxy lines
//! (`"- - -"`) and requests Envoy could not parse (method or path `-`, flag
//! `DPE`) have no request path and are rejected.
//!
//! # `HdrHistogram` interval logs
//!
//! [`HlogReader::parse_line`] reads one line of an `.hlog` file (formats
//! 1.01 to 1.3; V0, V1 and V2 histogram encodings, compressed) into an
//! [`HlogInterval`]: the absolute start (the `StartTimestamp` column plus the
//! log's `#[BaseTime]`, or `#[StartTime]` when the timestamps are more than a
//! year smaller than it, as `HdrHistogram`'s own readers decide), the length,
//! the optional `Tag=`, and the recorded buckets (lowest, highest, median
//! value, count). Values keep the log's unit, which the file does not state:
//! jHiccup records nanoseconds, wrk2 and YCSB microseconds. The format
//! carries no status codes. A line that cannot be read is an [`HlogError`]
//! saying why; the following lines still read.
//!
//! # Precision, panics and allocation
//!
//! Numbers are converted exactly in decimal (no floating point): `0.138` s is
//! 138 000 000 ns, and digits beyond nanoseconds are truncated. Times are
//! parsed without a date library; out-of-range fields and instants before 1970
//! are errors. Nothing panics on input: every malformed line is a
//! [`LineError`] that says what was wrong and quotes the text. Parsing a
//! well-formed line does not allocate unless the series key needs unescaping
//! (a JSON `\` escape or CSV `""`) or is not valid UTF-8 (then it is converted
//! lossily).
//!
//! This crate has no optional features.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod alb;
mod collector;
mod csv;
mod envoy;
mod error;
mod fields;
mod haproxy;
mod hlog;
mod infer;
mod jsonl;
mod logformat;
mod num;
mod proxies;
mod request;
mod scan;
mod time;

#[cfg(test)]
mod corpus_tests;
#[cfg(test)]
mod fast_path_tests;

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

pub use error::{Error, LineError};
pub use hlog::{HlogBucket, HlogError, HlogInterval, HlogReader};

/// Parses a time as every parser here reads one: unix seconds (fractional
/// allowed) or RFC 3339 (`2024-05-28T13:46:45Z`, `…45.123+02:00`, a space
/// for the `T`). Times before 1970 are errors.
///
/// # Errors
///
/// A [`LineError`] naming the problem when `s` (trimmed) is neither form,
/// has a field out of range (a month 13, unix seconds past `u64`
/// nanoseconds), or is before 1970.
pub fn parse_time(s: &str) -> Result<std::time::SystemTime, LineError> {
    let t = time::parse_any(s.trim().as_bytes()).map_err(|reason| LineError { reason })?;
    Ok(std::time::UNIX_EPOCH + std::time::Duration::new(t.secs, t.nanos))
}

/// One request parsed from a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Unix seconds (the floor of the timestamp).
    pub ts_s: u64,
    /// The sub-second part of the timestamp, in nanoseconds (`< 1_000_000_000`).
    pub ts_nanos: u32,
    /// The series key: a path without its query string, a host, or an
    /// upstream name, depending on [`SeriesBy`]. Borrowed from the line
    /// unless it had to be unescaped.
    pub series: Cow<'a, str>,
    /// The latency in nanoseconds; `None` when the log does not know it
    /// (`-`, ALB `-1`, a missing field). Such requests still count for
    /// request rate and status ratios.
    pub latency_ns: Option<u64>,
    /// The HTTP status; 0 when the log says `-` (no response).
    pub status: u16,
}

impl Request<'_> {
    /// The same request owning its series name (for a line parsed from a
    /// temporary buffer, such as an unescaped container-log message).
    #[must_use]
    pub fn into_owned(self) -> Request<'static> {
        Request {
            ts_s: self.ts_s,
            ts_nanos: self.ts_nanos,
            series: Cow::Owned(self.series.into_owned()),
            latency_ns: self.latency_ns,
            status: self.status,
        }
    }
}

/// One gauge sample parsed from a line (JSON lines: `{"gauge": NAME,
/// "value": X, "time": T}`), so a replayed history can carry CPU and
/// memory next to requests.
#[derive(Debug, Clone, PartialEq)]
pub struct GaugeSample<'a> {
    /// Unix seconds (the floor of the timestamp).
    pub ts_s: u64,
    /// The sub-second part of the timestamp, in nanoseconds.
    pub ts_nanos: u32,
    /// The gauge's name.
    pub gauge: Cow<'a, str>,
    /// The value (finite).
    pub value: f64,
}

/// A traffic-file format.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// JSON lines: one flat object per line (see the crate docs for field names).
    Jsonl,
    /// CSV with a header line; build the parser with that line.
    Csv,
    /// nginx `combined` format plus ` $request_time` at the end.
    Nginx,
    /// nginx's (and Apache's) plain `combined` format, the most common access
    /// log there is (also nginx's sample `main`: `combined` plus
    /// `"$http_x_forwarded_for"`). It logs no latency: requests count in
    /// rate, errors and statuses, not in latency quantiles.
    Combined,
    /// The Kubernetes ingress-nginx default `log-format-upstream`, with
    /// fallbacks to older controllers' layouts.
    IngressNginx,
    /// AWS Application Load Balancer and Classic ELB access logs.
    Alb,
    /// Envoy's default text access-log format and Istio's text defaults
    /// (see the crate docs), also inside CRI, `ACCESS ` and Docker
    /// `json-file` wrappers.
    Envoy,
    /// Envoy/Istio JSON access logs, one object per line with Istio's key
    /// names (`start_time`, `response_code`, `path`, `duration`, ...).
    EnvoyJson,
    /// An nginx `log_format` definition as written in nginx.conf: the format
    /// string itself, a run of single-quoted strings, or a whole
    /// `log_format name '...' '...';` directive.
    LogFormat(String),
    /// An `HdrHistogram` interval log (`.hlog`): one histogram per line, read
    /// with [`HlogReader`], not with [`Parser`].
    Hlog,
    /// Traefik's access log, JSON (`StartUTC`, `RequestPath`, `Duration` in
    /// ns, `DownstreamStatus`, `ServiceName`) or its common log format
    /// (`combined` plus the request count, `"router"`, `"server URL"` and
    /// the duration as `12ms`); a file may mix both.
    Traefik,
    /// Caddy's JSON access log (`ts`, `request.uri`, `duration` in s, `status`).
    Caddy,
    /// `HAProxy`'s `option httplog` lines (timers `TR/Tw/Tc/Tr/Ta` in ms,
    /// status, captures, the quoted request), bare or through syslog.
    Haproxy,
    /// Google Cloud HTTP(S) load-balancer request logs exported as JSON
    /// (`timestamp`, `httpRequest.requestUrl`, `httpRequest.latency`,
    /// `httpRequest.status`).
    GcpLb,
}

/// A named traffic-file format: the name [`Format`]'s `FromStr` takes and its
/// `Display` writes, the other spellings it takes, and a gloss for lists of
/// formats. [`FORMATS`] holds one for every format but [`Format::LogFormat`]
/// (which carries its definition instead of a name).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatInfo {
    /// The format.
    pub format: Format,
    /// Its name (`ingress-nginx`).
    pub name: &'static str,
    /// Other accepted spellings (`istio` for `envoy`).
    pub aliases: &'static [&'static str],
    /// What the name does not say, for lists of formats (`Envoy/Istio
    /// text`); empty where the name says it all.
    pub help: &'static str,
}

/// Every named format, in the order lists of formats show them.
pub const FORMATS: &[FormatInfo] = &[
    FormatInfo { format: Format::Jsonl, name: "jsonl", aliases: &[], help: "" },
    FormatInfo { format: Format::Csv, name: "csv", aliases: &[], help: "" },
    FormatInfo { format: Format::Nginx, name: "nginx", aliases: &[], help: "" },
    FormatInfo {
        format: Format::Combined,
        name: "combined",
        aliases: &["nginx-combined", "apache-combined"],
        help: "nginx/Apache combined, no latency",
    },
    FormatInfo { format: Format::IngressNginx, name: "ingress-nginx", aliases: &[], help: "" },
    FormatInfo { format: Format::Alb, name: "alb", aliases: &[], help: "" },
    FormatInfo {
        format: Format::Envoy,
        name: "envoy",
        aliases: &["istio"],
        help: "Envoy/Istio text",
    },
    FormatInfo {
        format: Format::EnvoyJson,
        name: "envoy-json",
        aliases: &["istio-json"],
        help: "Envoy/Istio JSON",
    },
    FormatInfo {
        format: Format::Traefik,
        name: "traefik",
        aliases: &["traefik-json"],
        help: "Traefik JSON",
    },
    FormatInfo { format: Format::Caddy, name: "caddy", aliases: &[], help: "Caddy JSON" },
    FormatInfo { format: Format::Haproxy, name: "haproxy", aliases: &[], help: "HAProxy httplog" },
    FormatInfo {
        format: Format::GcpLb,
        name: "gcp-lb",
        aliases: &["gcp", "google-lb"],
        help: "Google Cloud load balancer JSON",
    },
    FormatInfo {
        format: Format::Hlog,
        name: "hlog",
        aliases: &[],
        help: "HdrHistogram interval log",
    },
];

/// The names of [`FORMATS`], comma-separated: `jsonl, csv, nginx, …` (for
/// messages that list the formats).
#[must_use]
pub fn format_names() -> String {
    FORMATS.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
}

impl Format {
    /// This format's row of [`FORMATS`]; `None` for [`Format::LogFormat`].
    fn info(&self) -> Option<&'static FormatInfo> {
        FORMATS.iter().find(|i| i.format == *self)
    }
}

impl std::str::FromStr for Format {
    type Err = Error;

    /// Parses a name or alias of [`FORMATS`] (ASCII case-insensitive,
    /// surrounding white space ignored).
    fn from_str(s: &str) -> Result<Format, Error> {
        let name = s.trim();
        FORMATS
            .iter()
            .find(|i| {
                std::iter::once(&i.name).chain(i.aliases).any(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|i| i.format.clone())
            .ok_or_else(|| Error::UnknownFormat { name: s.to_owned() })
    }
}

impl fmt::Display for Format {
    /// The name [`FromStr`](std::str::FromStr) accepts; `log_format '<def>'`
    /// for [`Format::LogFormat`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self, self.info()) {
            (Format::LogFormat(def), _) => write!(f, "log_format '{def}'"),
            (_, Some(info)) => f.write_str(info.name),
            // Every variant but `LogFormat` has a row in FORMATS; a variant
            // added without one still prints (as its Debug form), never panics.
            (other, None) => write!(f, "{other:?}"),
        }
    }
}

/// Which latency a log line's request gets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LatencySource {
    /// The whole request: nginx `$request_time`; ALB/ELB the sum of the
    /// request, target and response processing times; Envoy `%DURATION%`
    /// (JSON `duration`).
    #[default]
    Request,
    /// The upstream's share: nginx `$upstream_response_time` (summed over
    /// retries); ALB/ELB the target processing time; Envoy
    /// `%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%` (JSON `upstream_service_time`).
    /// JSONL and CSV have a single latency field and ignore this.
    Upstream,
}

/// What names a request's series.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SeriesBy {
    /// The request path without its query string.
    #[default]
    Path,
    /// The upstream: ingress-nginx `$proxy_upstream_name`; ALB target group
    /// ARN (Classic ELB: the `backend:port` field); Istio `%UPSTREAM_CLUSTER%`
    /// (plain Envoy, or a JSON `null` cluster: `%UPSTREAM_HOST%`); JSONL/CSV
    /// `upstream`.
    Upstream,
    /// The host: nginx `$host`, `$http_host` or `$server_name`; ALB/ELB the
    /// request URL's host; Envoy `%REQ(:AUTHORITY)%`; JSONL/CSV `host`.
    Host,
}

/// Options for [`Parser::new`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParserOptions {
    /// Which latency to take.
    pub latency: LatencySource,
    /// What names the series.
    pub series_by: SeriesBy,
}

#[derive(Debug, Clone)]
enum Kind {
    Jsonl(jsonl::JsonConfig),
    Csv(csv::CsvConfig),
    Log(logformat::LogParser),
    Alb(alb::AlbConfig),
    Envoy(envoy::EnvoyConfig),
    EnvoyJson(envoy::EnvoyConfig),
    Proxy(proxies::ProxyConfig),
    /// Traefik: JSON lines, or common-log-format ones (whose parser cannot
    /// be built for options the format has no field for: series by host,
    /// upstream latency; the reason is kept for such lines).
    Traefik(proxies::ProxyConfig, Result<logformat::LogParser, String>),
    Haproxy(haproxy::HaproxyConfig),
}

/// A line parser for one format and set of options.
///
/// Built once per file; `Send + Sync`, so worker threads can share it by
/// reference and call [`parse`](Parser::parse) concurrently.
#[derive(Debug, Clone)]
pub struct Parser {
    kind: Kind,
}

/// Strips a trailing `\r` and a leading UTF-8 byte order mark.
#[inline]
fn clean_line(line: &[u8]) -> &[u8] {
    let line = match line {
        [rest @ .., b'\r'] => rest,
        _ => line,
    };
    match line {
        [0xEF, 0xBB, 0xBF, rest @ ..] => rest,
        _ => line,
    }
}

/// True for whitespace-only lines and lines whose first non-blank byte is `#`.
#[inline]
fn is_blank_or_comment(line: &[u8]) -> bool {
    // Most lines start with their first non-blank byte.
    if let Some(&c) = line.first() {
        if !c.is_ascii_whitespace() {
            return c == b'#';
        }
    }
    match line.iter().find(|c| !c.is_ascii_whitespace()) {
        None => true,
        Some(&c) => c == b'#',
    }
}

impl Parser {
    /// Builds a parser. For [`Format::Csv`], `header` is the CSV header line
    /// (required); other formats ignore it.
    ///
    /// # Errors
    ///
    /// [`Error::MissingHeader`], [`Error::BadHeader`] or [`Error::MissingColumn`]
    /// if the CSV header is missing, malformed, or lacks a time, series or
    /// status column; [`Error::BadLogFormat`] or [`Error::MissingVariable`] if a
    /// log format cannot be compiled or lacks a time, `$status`, latency (per
    /// [`LatencySource`]) or series (per [`SeriesBy`]) variable;
    /// [`Error::NotLineFormat`] for [`Format::Hlog`] (use [`HlogReader`]).
    pub fn new(
        format: &Format,
        header: Option<&[u8]>,
        opts: ParserOptions,
    ) -> Result<Parser, Error> {
        let kind = match format {
            Format::Jsonl => Kind::Jsonl(jsonl::JsonConfig { series_by: opts.series_by }),
            Format::Csv => {
                let header = header.ok_or(Error::MissingHeader)?;
                Kind::Csv(csv::CsvConfig::new(header, opts.series_by)?)
            }
            Format::Nginx => {
                Kind::Log(logformat::LogParser::single(logformat::NGINX_PRESET, opts)?)
            }
            Format::Combined => {
                let layouts = logformat::COMBINED_LAYOUTS.map(str::to_owned);
                Kind::Log(logformat::LogParser::layered(&layouts, opts)?)
            }
            Format::IngressNginx => {
                Kind::Log(logformat::LogParser::layered(&logformat::ingress_layouts(), opts)?)
            }
            Format::Alb => {
                Kind::Alb(alb::AlbConfig { latency: opts.latency, series_by: opts.series_by })
            }
            Format::Envoy => {
                Kind::Envoy(envoy::EnvoyConfig { latency: opts.latency, series_by: opts.series_by })
            }
            Format::EnvoyJson => Kind::EnvoyJson(envoy::EnvoyConfig {
                latency: opts.latency,
                series_by: opts.series_by,
            }),
            Format::LogFormat(def) => Kind::Log(logformat::LogParser::single(def, opts)?),
            Format::Traefik => Kind::Traefik(
                proxies::ProxyConfig {
                    proxy: proxies::Proxy::Traefik,
                    latency: opts.latency,
                    series_by: opts.series_by,
                },
                // The JSON log has fields the common log format lacks
                // (`RequestHost`, `OriginDuration`): options that need
                // them still read a JSON file.
                logformat::LogParser::single(logformat::TRAEFIK_CLF_PRESET, opts)
                    .map_err(|e| e.to_string()),
            ),
            Format::Caddy | Format::GcpLb => {
                let proxy = match format {
                    Format::Caddy => proxies::Proxy::Caddy,
                    _ => proxies::Proxy::GcpLb,
                };
                Kind::Proxy(proxies::ProxyConfig {
                    proxy,
                    latency: opts.latency,
                    series_by: opts.series_by,
                })
            }
            Format::Haproxy => Kind::Haproxy(haproxy::HaproxyConfig {
                latency: opts.latency,
                series_by: opts.series_by,
            }),
            Format::Hlog => return Err(Error::NotLineFormat { format: format.to_string() }),
        };
        Ok(Parser { kind })
    }

    /// Parses one line (without its trailing newline; a trailing `\r` is
    /// tolerated).
    ///
    /// Blank lines and comment lines (`#` first) return `Ok(None)`, as does a
    /// repeat of the CSV header line.
    ///
    /// # Errors
    ///
    /// A line that is not a request of this format (malformed, missing a
    /// field, out-of-range values, or a log line of another kind) returns a
    /// [`LineError`] with the reason.
    pub fn parse<'a>(&self, line: &'a [u8]) -> Result<Option<Request<'a>>, LineError> {
        let line = clean_line(line);
        if is_blank_or_comment(line) {
            return Ok(None);
        }
        if collector::maybe_wrapped(line) {
            return self.parse_wrapped(line);
        }
        self.parse_payload(line)
    }

    /// [`Parser::parse`] of a line that may carry a collector's wrapper.
    #[cold]
    #[inline(never)]
    fn parse_wrapped<'a>(&self, line: &'a [u8]) -> Result<Option<Request<'a>>, LineError> {
        let wrappers = match self.kind {
            Kind::Alb(_) => collector::Wrappers::NoBareTime,
            _ => collector::Wrappers::All,
        };
        match collector::unwrap(line, wrappers)? {
            collector::Unwrapped::Plain(p) if is_blank_or_comment(p) => Ok(None),
            collector::Unwrapped::Plain(payload) => self.parse_payload(payload),
            collector::Unwrapped::Owned(text) if is_blank_or_comment(text.as_bytes()) => Ok(None),
            collector::Unwrapped::Owned(text) => {
                Ok(self.parse_payload(text.as_bytes())?.map(Request::into_owned))
            }
        }
    }

    /// Parses a line's payload (not blank; its collector wrapper removed).
    #[inline]
    fn parse_payload<'a>(&self, line: &'a [u8]) -> Result<Option<Request<'a>>, LineError> {
        match &self.kind {
            Kind::Jsonl(cfg) => jsonl::parse(*cfg, line),
            Kind::Csv(cfg) => cfg.parse(line),
            Kind::Log(p) => p.parse(line).map(Some),
            Kind::Alb(cfg) => alb::parse(*cfg, line).map(Some),
            Kind::Envoy(cfg) => envoy::parse_text(*cfg, line).map(Some),
            Kind::EnvoyJson(cfg) => envoy::parse_json(*cfg, line).map(Some),
            Kind::Proxy(cfg) => proxies::parse(*cfg, line).map(Some),
            Kind::Traefik(cfg, _) if line.first() == Some(&b'{') => {
                proxies::parse(*cfg, line).map(Some)
            }
            Kind::Traefik(_, Ok(clf)) => clf.parse(line).map(Some),
            Kind::Traefik(_, Err(why)) => Err(LineError {
                reason: format!(
                    "a Traefik common-log-format line cannot be read with these options (its \
                     JSON access log can): {why}"
                ),
            }),
            Kind::Haproxy(cfg) => haproxy::parse(*cfg, line).map(Some),
        }
    }

    /// The gauge sample of a line that did not parse as a request: `None`
    /// when the line is no gauge line (no `gauge` key, or a format without
    /// gauge lines: only JSON lines carry them).
    ///
    /// A line holding a `gauge` key that is not a valid gauge line returns
    /// the reason, which says more than the request parser's error.
    #[must_use]
    pub fn parse_gauge<'a>(&self, line: &'a [u8]) -> Option<Result<GaugeSample<'a>, LineError>> {
        match &self.kind {
            Kind::Jsonl(_) => jsonl::parse_gauge(clean_line(line)),
            _ => None,
        }
    }

    /// Whether requests parsed by this parser can carry a latency: `false`
    /// for a log format without one (`combined`, or a `log_format` without
    /// `$request_time`), whose requests all have unknown latency.
    #[must_use]
    pub fn has_latency(&self) -> bool {
        match &self.kind {
            Kind::Log(p) => p.has_latency(),
            _ => true,
        }
    }

    /// True when the format's first line is a header the caller must pass to
    /// [`new`](Parser::new) (CSV).
    #[must_use]
    pub fn needs_header(format: &Format) -> bool {
        matches!(format, Format::Csv)
    }
}

/// A preset parser with default options, built once (for [`detect`]).
fn preset(cell: &'static OnceLock<Option<Parser>>, format: &Format) -> Option<&'static Parser> {
    cell.get_or_init(|| Parser::new(format, None, ParserOptions::default()).ok()).as_ref()
}

/// Detects the format from the first non-empty lines of a file (by content,
/// not file name). Blank and `#` comment lines are ignored.
///
/// In order: an `HdrHistogram` interval log if the first non-blank line is an
/// hlog header comment (`#[Histogram log format`, `#[StartTime:`,
/// `#[BaseTime:`, `#[Logged with`), the `"StartTimestamp"` legend or an
/// interval line with a `HIST…` payload; Envoy if the first line starts
/// with `[<RFC 3339>] "` (after a CRI prefix, `ACCESS ` or inside a Docker
/// `json-file` object's `log`/`message`); Envoy JSON if it is an object with
/// `start_time` and `response_code` keys; JSONL if the first line starts with `{`; CSV if it has a comma
/// and a known column name; ALB if it starts with an ALB request type and an
/// RFC 3339 time, or (Classic ELB) with an RFC 3339 time; ingress-nginx if any
/// line parses with that preset; nginx if any line parses with the nginx
/// preset. Otherwise `None` (for example a custom `log_format`, which the
/// caller must name).
#[must_use]
pub fn detect(lines: &[&[u8]]) -> Option<Format> {
    if hlog::looks_like(lines) {
        return Some(Format::Hlog);
    }
    let lines: Vec<&[u8]> =
        lines.iter().map(|l| clean_line(l)).filter(|l| !is_blank_or_comment(l)).collect();
    // Lines behind a collector's wrapper (CRI, `kubectl logs --timestamps`,
    // Docker `json-file`, syslog): the payload's format, unless it is ALB's
    // (a Classic ELB line starts with its own timestamp).
    let payloads: Vec<Cow<'_, [u8]>> = lines
        .iter()
        .filter_map(|l| match collector::unwrap(l, collector::Wrappers::All) {
            Ok(collector::Unwrapped::Plain(p)) => Some(Cow::Borrowed(p)),
            Ok(collector::Unwrapped::Owned(s)) => Some(Cow::Owned(s.into_bytes())),
            Err(_) => None,
        })
        .collect();
    let wrapped =
        payloads.len() != lines.len() || payloads.iter().zip(&lines).any(|(p, l)| p.as_ref() != *l);
    if wrapped {
        let inner: Vec<&[u8]> = payloads.iter().map(AsRef::as_ref).collect();
        if let Some(f) = detect_payload(&inner).filter(|f| *f != Format::Alb) {
            return Some(f);
        }
    }
    detect_payload(&lines)
}

/// [`detect`] on lines without collector wrappers.
fn detect_payload(lines: &[&[u8]]) -> Option<Format> {
    static INGRESS: OnceLock<Option<Parser>> = OnceLock::new();
    static NGINX: OnceLock<Option<Parser>> = OnceLock::new();
    static COMBINED: OnceLock<Option<Parser>> = OnceLock::new();
    static TRAEFIK: OnceLock<Option<Parser>> = OnceLock::new();
    let first = *lines.first()?;
    // Before JSONL (a wrapped Envoy line is a JSON object) and ALB (a CRI
    // prefix starts with an RFC 3339 time, as Classic ELB lines do).
    if envoy::looks_like_text(first) {
        return Some(Format::Envoy);
    }
    if envoy::looks_like_json(first) {
        return Some(Format::EnvoyJson);
    }
    match proxies::looks_like(first.trim_ascii_start()) {
        Some(proxies::Proxy::Traefik) => return Some(Format::Traefik),
        Some(proxies::Proxy::Caddy) => return Some(Format::Caddy),
        Some(proxies::Proxy::GcpLb) => return Some(Format::GcpLb),
        None => {}
    }
    if first.trim_ascii_start().starts_with(b"{") {
        return Some(Format::Jsonl);
    }
    if csv::looks_like_header(first) {
        return Some(Format::Csv);
    }
    if alb::looks_like(first) {
        return Some(Format::Alb);
    }
    if lines.iter().take(3).any(|l| haproxy::looks_like(l)) {
        return Some(Format::Haproxy);
    }
    let parses = |p: Option<&Parser>| {
        p.is_some_and(|p| lines.iter().any(|l| matches!(p.parse(l), Ok(Some(_)))))
    };
    if parses(preset(&INGRESS, &Format::IngressNginx)) {
        return Some(Format::IngressNginx);
    }
    if parses(preset(&NGINX, &Format::Nginx)) {
        return Some(Format::Nginx);
    }
    if parses(preset(&TRAEFIK, &Format::Traefik)) {
        return Some(Format::Traefik);
    }
    // A custom log_format whose line still holds the usual fields (and a
    // latency): the definition its fields suggest, if it reads at least
    // half of the lines.
    for line in lines.iter().take(5) {
        let Some(def) = infer::guess(line, true) else { continue };
        let format = Format::LogFormat(def);
        let Ok(p) = Parser::new(&format, None, ParserOptions::default()) else { continue };
        let read = lines.iter().filter(|l| matches!(p.parse(l), Ok(Some(_)))).count();
        if read * 2 >= lines.len() {
            return Some(format);
        }
    }
    if parses(preset(&COMBINED, &Format::Combined)) {
        return Some(Format::Combined);
    }
    None
}

/// The nginx `log_format` definition the fields of the first of `lines`
/// that has a time, a quoted request line and a status suggest (each field
/// a variable, named by its shape: `$remote_addr`, `$time_local`,
/// `$request`, `$status`, `$body_bytes_sent`, `$request_time`, then
/// `$field_N`), for a message when [`detect`] finds nothing; `None` when
/// no line has those fields.
#[must_use]
pub fn suggest_log_format(lines: &[&[u8]]) -> Option<String> {
    lines.iter().map(|l| clean_line(l)).find_map(|l| infer::guess(l, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parser(format: &Format) -> Parser {
        Parser::new(format, None, ParserOptions::default()).unwrap()
    }

    #[test]
    fn parser_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<Parser>();
        check::<Request<'static>>();
        check::<LineError>();
        check::<Error>();
    }

    #[test]
    fn format_names() {
        for name in [
            "jsonl",
            "csv",
            "nginx",
            "combined",
            "ingress-nginx",
            "alb",
            "envoy",
            "envoy-json",
            "hlog",
        ] {
            let f: Format = name.parse().unwrap();
            assert_eq!(f.to_string(), name);
            assert!(!Parser::needs_header(&f) || f == Format::Csv);
            let built = Parser::new(&f, Some(b"ts,path,status"), ParserOptions::default());
            assert_eq!(built.is_err(), f == Format::Hlog, "{name}");
        }
        assert_eq!("ALB".parse::<Format>(), Ok(Format::Alb));
        assert_eq!("istio".parse::<Format>(), Ok(Format::Envoy));
        assert_eq!("Istio-JSON".parse::<Format>(), Ok(Format::EnvoyJson));
        let e = "apache".parse::<Format>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown format `apache`: expected one of jsonl, csv, nginx, combined, ingress-nginx, alb, \
             envoy, envoy-json, traefik, caddy, haproxy, gcp-lb, hlog"
        );
        assert!(Parser::needs_header(&Format::Csv));
        assert!(!Parser::needs_header(&Format::LogFormat("$status".into())));
    }

    #[test]
    fn format_table() {
        // Every row reads back through its name and aliases and writes its name.
        for info in FORMATS {
            for name in std::iter::once(&info.name).chain(info.aliases) {
                assert_eq!(name.parse::<Format>().as_ref(), Ok(&info.format), "{name}");
                assert_eq!(name.to_uppercase().parse::<Format>().as_ref(), Ok(&info.format));
            }
            assert_eq!(info.format.to_string(), info.name);
            assert_eq!(info.format.info(), Some(info));
        }
        // No spelling names two formats, and no format has two rows.
        let mut names: Vec<&str> = FORMATS
            .iter()
            .flat_map(|i| std::iter::once(i.name).chain(i.aliases.iter().copied()))
            .collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n);
        for (k, info) in FORMATS.iter().enumerate() {
            assert!(FORMATS[..k].iter().all(|other| other.format != info.format), "{}", info.name);
        }
        assert_eq!(" envoy-json\n".parse::<Format>(), Ok(Format::EnvoyJson));
        assert_eq!(
            crate::format_names(),
            "jsonl, csv, nginx, combined, ingress-nginx, alb, envoy, envoy-json, traefik, caddy, haproxy, gcp-lb, hlog"
        );
        assert_eq!(Format::LogFormat("$status".into()).info(), None);
    }

    #[test]
    fn blank_comment_and_crlf_lines() {
        let p = parser(&Format::Nginx);
        for line in [&b""[..], b"\r", b"   \t", b"# a comment", b"  # indented\r"] {
            assert_eq!(p.parse(line), Ok(None));
        }
        let line = b"1.2.3.4 - - [10/Sep/2015:17:57:59 +0000] \"GET /a?b HTTP/1.1\" 200 1 \"-\" \"-\" 0.005\r";
        let r = p.parse(line).unwrap().unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("/a", Some(5_000_000)));
        let p = parser(&Format::Jsonl);
        let r =
            p.parse(b"\xEF\xBB\xBF{\"ts\":1,\"path\":\"/\",\"status\":200}\r").unwrap().unwrap();
        assert_eq!(r.status, 200);
        let p = parser(&Format::Alb);
        assert!(p
            .parse(b"2015-05-13T23:39:43Z lb 1.2.3.4:1 - -1 -1 -1 503 - 0 0 \"GET http://h:80/ HTTP/1.1\" \"c\" - -\r")
            .unwrap()
            .is_some());
    }

    #[test]
    fn csv_needs_header() {
        let e = Parser::new(&Format::Csv, None, ParserOptions::default()).unwrap_err();
        assert_eq!(e, Error::MissingHeader);
        let p = Parser::new(
            &Format::Csv,
            Some(b"ts,path,status,latency_ms\r"),
            ParserOptions::default(),
        )
        .unwrap();
        let r = p.parse(b"1,/x?y,404,2.5\r").unwrap().unwrap();
        assert_eq!((r.series.as_ref(), r.status, r.latency_ns), ("/x", 404, Some(2_500_000)));
    }

    #[test]
    fn ingress_preset_and_fallbacks() {
        let p = parser(&Format::IngressNginx);
        let modern = b"192.168.64.14 - - [07/Feb/2020:12:02:42 +0000] \"GET /v2/some?x HTTP/1.1\" 200 61 \"-\" \"curl\" 348 0.001 [default-web2-8080] [] 172.17.0.6:8080, 172.17.0.7:8080 61, 100 0.100, 0.004 200, 203 835136ae";
        let r = p.parse(modern).unwrap().unwrap();
        assert_eq!(
            (r.ts_s, r.series.as_ref(), r.status, r.latency_ns),
            (1_581_076_962, "/v2/some", 200, Some(1_000_000))
        );
        let up = ParserOptions { latency: LatencySource::Upstream, series_by: SeriesBy::Upstream };
        let pu = Parser::new(&Format::IngressNginx, None, up).unwrap();
        let r = pu.parse(modern).unwrap().unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns), ("default-web2-8080", Some(104_000_000)));
        // nginx answered itself: everything upstream is `-`, the upstream name empty.
        let own = b"192.168.64.1 - - [07/Feb/2020:11:49:50 +0000] \"PATCHp /products/42 HTTP/1.1\" 400 163 \"-\" \"-\" 0 0.000 [] [] - - - - 4c7d2079";
        let r = pu.parse(own).unwrap().unwrap();
        assert_eq!((r.series.as_ref(), r.latency_ns, r.status), ("-", None, 400));
        // Older layouts: `$the_real_ip`, no alternative upstream, no `$req_id`.
        let old = [
            &b"172.17.0.1 - [172.17.0.1] - - [07/Dec/2018:18:31:33 +0000] \"GET /c?t=1 HTTP/1.1\" 200 261 \"-\" \"M\" 1904 0.011 [proxyname-8080] 172.17.0.1:9000 298 0.012 200 abcdefg"[..],
            b"172.17.0.1 - [172.17.0.1] - - [07/Dec/2018:18:31:33 +0000] \"GET /c?t=1 HTTP/1.1\" 200 261 \"-\" \"M\" 1904 0.011 [proxyname-8080] 172.17.0.1:9000 298 0.012 200",
            b"172.17.0.1 - - [07/Dec/2018:18:31:33 +0000] \"GET /c?t=1 HTTP/1.1\" 200 261 \"-\" \"M\" 1904 0.011 [proxyname-8080] 172.17.0.1:9000, 10.0.0.3:80 298, 0 0.012, 0.013 200, - abcdefg",
        ];
        let want_up = [12_000_000, 12_000_000, 25_000_000];
        for (line, want) in old.iter().zip(want_up) {
            let r = p.parse(line).unwrap().unwrap();
            assert_eq!((r.series.as_ref(), r.latency_ns, r.status), ("/c", Some(11_000_000), 200));
            let r = pu.parse(line).unwrap().unwrap();
            assert_eq!((r.series.as_ref(), r.latency_ns), ("proxyname-8080", Some(want)));
        }
        let e = p
            .parse(b"192.168.64.1 - - [07/Feb/2020:11:49:50 +0000] \"GET / HTTP/1.1\" 200 1")
            .unwrap_err();
        assert!(e.reason.contains("older ingress-nginx layouts did not match either"), "{e}");
    }

    /// Traefik's common log format (its appended request count, router,
    /// server URL and `12ms` duration) is detected; a Traefik file may mix
    /// JSON and text lines.
    #[test]
    fn traefik_common_log_format() {
        let clf =
            "192.168.1.1 - - [10/Oct/2024:13:55:36 +0000] \"POST /models/m/predict?x=1 HTTP/1.1\" \
                   200 2326 \"-\" \"curl/8\" 42 \"api@kubernetes\" \"http://10.42.0.7:8080\" 12ms";
        assert_eq!(detect(&[clf.as_bytes()]), Some(Format::Traefik));
        let p = parser(&Format::Traefik);
        let r = p.parse(clf.as_bytes()).unwrap().unwrap();
        assert_eq!(
            (r.ts_s, r.series.as_ref(), r.status, r.latency_ns),
            (1_728_568_536, "/models/m/predict", 200, Some(12_000_000))
        );
        let up = ParserOptions { series_by: SeriesBy::Upstream, ..ParserOptions::default() };
        let r = Parser::new(&Format::Traefik, None, up)
            .unwrap()
            .parse(clf.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(r.series, "api@kubernetes");
        let json = r#"{"DownstreamStatus":503,"Duration":5000000,"RequestPath":"/j","StartUTC":"2024-10-10T13:55:37Z"}"#;
        let r = p.parse(json.as_bytes()).unwrap().unwrap();
        assert_eq!((r.series.as_ref(), r.status, r.latency_ns), ("/j", 503, Some(5_000_000)));
        let bad = clf.replace("12ms", "12s");
        assert!(p.parse(bad.as_bytes()).unwrap_err().reason.contains("does not end in `ms`"));
        // Options the common log format has no field for still read JSON
        // lines (`RequestHost`, `OriginDuration`); a CLF line says why not.
        for opts in [
            ParserOptions { series_by: SeriesBy::Host, ..ParserOptions::default() },
            ParserOptions { latency: LatencySource::Upstream, ..ParserOptions::default() },
        ] {
            let p = Parser::new(&Format::Traefik, None, opts).unwrap();
            let json = r#"{"DownstreamStatus":200,"Duration":5000000,"OriginDuration":4000000,"RequestHost":"api","RequestPath":"/j","StartUTC":"2024-10-10T13:55:37Z"}"#;
            let r = p.parse(json.as_bytes()).unwrap().unwrap();
            let want = if opts.series_by == SeriesBy::Host {
                ("api", Some(5_000_000))
            } else {
                ("/j", Some(4_000_000))
            };
            assert_eq!((r.series.as_ref(), r.latency_ns), want);
            let e = p.parse(clf.as_bytes()).unwrap_err();
            assert!(e.reason.contains("cannot be read with these options"), "{e}");
        }
    }

    /// Lines behind a collector's wrapper are detected and parsed by their
    /// payload: an Istio log taken with `kubectl logs --timestamps` (once
    /// mistaken for ALB), nginx in Docker `json-file` records, ingress-nginx
    /// through syslog, JSONL behind CRI prefixes. The payload's time wins.
    #[test]
    fn wrapped_lines_are_detected_by_their_payload() {
        let istio = "[2022-09-01T13:15:09.085Z] \"GET /reviews/0 HTTP/1.1\" 503 UF \
            upstream_reset_before_response_started{connection_failure} - \"-\" 0 145 7 - \"-\" \
            \"Mozilla/5.0 (X)\" \"5644\" \"reviews:9080\" \"10.124.2.14:9080\" inbound|9080|| - \
            10.124.2.14:9080 10.124.1.6:48816 outbound_.9080_._.reviews default";
        let nginx = "1.2.3.4 - - [10/Sep/2015:17:57:59 +0000] \"GET /a?x=1 HTTP/1.1\" 404 1 \"-\" \"-\" 0.005";
        let docker = format!(
            "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2030-01-01T00:00:00Z\"}}",
            nginx.replace('"', "\\\"")
        );
        let cases: [(String, Format, (u64, &str, u16)); 4] = [
            (format!("2030-01-01T00:00:00.5Z {istio}"), Format::Envoy, (1_662_038_109, "/reviews/0", 503)),
            (docker, Format::Nginx, (1_441_907_879, "/a", 404)),
            (format!("<190>Sep 10 17:58:00 web-1 nginx: {nginx}"), Format::Nginx, (1_441_907_879, "/a", 404)),
            (
                "2030-01-01T00:00:00Z stdout F {\"ts\":1700000000,\"path\":\"/j\",\"latency_ms\":3,\"status\":201}"
                    .to_owned(),
                Format::Jsonl,
                (1_700_000_000, "/j", 201),
            ),
        ];
        for (line, format, (ts, series, status)) in &cases {
            assert_eq!(detect(&[line.as_bytes()]), Some(format.clone()), "{line}");
            let r = parser(format).parse(line.as_bytes()).unwrap().unwrap();
            assert_eq!((r.ts_s, r.series.as_ref(), r.status), (*ts, *series, *status), "{line}");
        }
    }

    #[test]
    fn detection() {
        let d = |lines: &[&str]| {
            let lines: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
            detect(&lines)
        };
        assert_eq!(d(&["", "{\"ts\":1}"]), Some(Format::Jsonl));
        assert_eq!(d(&["ts,endpoint,latency_ms,status", "1,/a,2,200"]), Some(Format::Csv));
        assert_eq!(
            d(&[
                "# comment",
                "h2 2018-07-02T22:23:00.186641Z app/x 1:1 - 0 0 0 200 200 0 0 \"GET / H\""
            ]),
            Some(Format::Alb)
        );
        assert_eq!(
            d(&["2015-05-13T23:39:43.945958Z my-loadbalancer 1.2.3.4:2817 10.0.0.1:80"]),
            Some(Format::Alb)
        );
        assert_eq!(
            d(&["1.2.3.4 - - [10/Sep/2015:17:57:59 +0000] \"GET /a HTTP/1.1\" 200 1 \"-\" \"-\" 0.005"]),
            Some(Format::Nginx)
        );
        assert_eq!(
            d(&["bad line", "192.168.64.1 - - [07/Feb/2020:11:49:50 +0000] \"PATCHp /products/42 HTTP/1.1\" 400 163 \"-\" \"-\" 0 0.000 [] [] - - - - 4c7d2079"]),
            Some(Format::IngressNginx)
        );
        assert_eq!(
            d(&["127.0.0.1 - frank [13/Jul/2016:10:55:36 +0000] \"GET /a HTTP/1.0\" 200 2326"]),
            None
        );
        // Plain `combined`, the most common access log: no latency.
        let combined = "93.180.71.3 - - [17/May/2015:08:05:32 +0000] \"GET /downloads/product_1 \
                        HTTP/1.1\" 304 0 \"-\" \"Debian APT-HTTP/1.3 (0.8.16~exp12ubuntu10.21)\"";
        assert_eq!(d(&[combined]), Some(Format::Combined));
        let p = parser(&Format::Combined);
        assert!(!p.has_latency());
        assert!(parser(&Format::Nginx).has_latency());
        let r = p.parse(combined.as_bytes()).unwrap().unwrap();
        assert_eq!(
            (r.series.as_ref(), r.status, r.latency_ns),
            ("/downloads/product_1", 304, None)
        );
        assert_eq!(r.ts_s, 1_431_849_932);
        let envoy = "[2019-02-12T18:37:42.921Z] \"GET /httpbin/ip HTTP/1.1\" 200 - 0 43 217 216 \
                     \"172.17.0.5\" \"curl/7.59.0\" \"c62e\" \"httpbin.org\" \"52.87.35.92:80\"";
        assert_eq!(d(&[envoy]), Some(Format::Envoy));
        assert_eq!(d(&[&format!("2022-07-22T12:24:12.3Z stdout F {envoy}")]), Some(Format::Envoy));
        assert_eq!(
            d(&[&format!("{{\"message\":\"ACCESS {}\"}}", envoy.replace('"', "\\\""))]),
            Some(Format::Envoy)
        );
        assert_eq!(
            d(&["{\"duration\":43,\"start_time\":\"2024-05-28T13:47:25.233Z\",\"response_code\":200}"]),
            Some(Format::EnvoyJson)
        );
        assert_eq!(d(&["{\"message\":\"hello\"}"]), Some(Format::Jsonl));
        assert_eq!(d(&["", "# only comments"]), None);
        assert_eq!(d(&[]), None);
    }
}
