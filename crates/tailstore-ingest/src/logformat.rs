//! nginx `log_format` definitions, compiled once into literal/variable parts
//! and matched against lines with `memmem`.
//!
//! A definition such as `$remote_addr [$time_local] "$request" $status` is cut
//! into a leading literal (`""` here) and a list of variables, each with the
//! literal that follows it (` [`, `] "`, `" `, none). A line matches when it
//! starts with the leading literal and each following literal is found after
//! the previous one; a variable's value is the text in between, and the last
//! variable runs to the end of the line (or, if the definition ends with a
//! literal, the line must end with it). Only the variables the parser needs
//! are interpreted; the others are skipped unchecked.
//!
//! `$upstream_*` values can be lists (`0.100, 0.004`, or `0.010 : 0.020` after
//! an internal redirect). When such a variable is followed by a literal that
//! starts with a space, a space that belongs to a `, ` or ` : ` separator is
//! not taken as the end of the value.

use std::borrow::Cow;
use std::fmt::Write as _;

use memchr::memmem::Finder;

use crate::error::Error;
use crate::num::{self, show, NumError};
use crate::request;
use crate::scan;
use crate::time::{self, Timestamp};
use crate::{LatencySource, LineError, Request, SeriesBy};

/// nginx's (and Apache's) `combined` format, which logs no latency, then
/// the `main` format of nginx's sample configuration (`combined` plus
/// ` "$http_x_forwarded_for"`), tried in that order.
pub(crate) const COMBINED_LAYOUTS: [&str; 2] = [
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \
     \"$http_referer\" \"$http_user_agent\"",
    "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent \
     \"$http_referer\" \"$http_user_agent\" \"$http_x_forwarded_for\"",
];

/// Traefik's common log format: `combined`, then the request count, the
/// router, the server URL and the duration in milliseconds (`12ms`). The
/// `$traefik_*` names are this crate's, for Traefik's appended fields.
pub(crate) const TRAEFIK_CLF_PRESET: &str = "$remote_addr - $remote_user [$time_local] \
     \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \
     $traefik_requests \"$traefik_router\" \"$traefik_server_url\" $traefik_duration";

/// The nginx preset: the `combined` format plus ` $request_time`.
pub(crate) const NGINX_PRESET: &str = "$remote_addr - $remote_user [$time_local] \"$request\" \
     $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_time";

/// The Kubernetes ingress-nginx default `log-format-upstream` (controller 0.2x and
/// later); [`ingress_layouts`] builds it as its first layout (checked by a test).
#[cfg(test)]
pub(crate) const INGRESS_PRESET: &str = "$remote_addr - $remote_user [$time_local] \
     \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \
     $request_length $request_time [$proxy_upstream_name] [$proxy_alternative_upstream_name] \
     $upstream_addr $upstream_response_length $upstream_response_time $upstream_status $req_id";

/// The ingress-nginx layouts tried, in order: the current default first,
/// then older controllers' defaults. They vary in three ways, giving 8
/// combinations:
///
/// * client: `$remote_addr - $remote_user` (current) or the older
///   `$the_real_ip - [$the_real_ip] - $remote_user`;
/// * `[$proxy_alternative_upstream_name]` (canary, added around 0.22) or not;
/// * a trailing `$req_id` or not (older controllers end at `$upstream_status`).
///
/// Every layout with `$req_id` comes before every layout without it: in a
/// layout without it the last variable (`$upstream_status`) runs to the end
/// of the line, so it would also swallow a `$req_id`.
pub(crate) fn ingress_layouts() -> Vec<String> {
    const CLIENT: [&str; 2] =
        ["$remote_addr - $remote_user", "$the_real_ip - [$the_real_ip] - $remote_user"];
    const MIDDLE: &str = " [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \
         \"$http_user_agent\" $request_length $request_time [$proxy_upstream_name]";
    const ALT: [&str; 2] = [" [$proxy_alternative_upstream_name]", ""];
    const UPSTREAM: &str =
        " $upstream_addr $upstream_response_length $upstream_response_time $upstream_status";
    const REQ_ID: [&str; 2] = [" $req_id", ""];
    let mut out = Vec::with_capacity(8);
    for req_id in REQ_ID {
        for alt in ALT {
            for client in CLIENT {
                out.push(format!("{client}{MIDDLE}{alt}{UPSTREAM}{req_id}"));
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    /// `$time_local`: `10/Sep/2015:17:57:59 +0000`.
    Local,
    /// `$time_iso8601`: `2015-09-10T17:57:59+00:00`.
    Iso8601,
    /// `$msec`: `1441907879.123`.
    Msec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LatencyKind {
    /// `$request_time`: seconds.
    Seconds,
    /// `$upstream_response_time`: a list of seconds, summed.
    UpstreamList,
    /// Traefik's `$traefik_duration`: milliseconds written with `ms`.
    TraefikMillis,
    /// No latency variable in the format (the `combined` format): every
    /// request's latency is unknown (it counts in rate, errors and statuses).
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SeriesKind {
    /// `$request`: the path of the request line.
    Request,
    /// `$request_uri` / `$uri`: a path, query string cut off.
    Uri,
    /// `$host`, `$proxy_upstream_name`, ...: the value as is (empty is `-`).
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Skip,
    Time,
    Status,
    Latency,
    Series,
}

/// A literal between variables.
#[derive(Debug, Clone)]
struct Literal {
    text: Vec<u8>,
    finder: Finder<'static>,
    starts_with_space: bool,
    /// For a literal of 1 to 8 bytes: its bytes as a little-endian word
    /// and the mask of the bytes it covers.
    short: Option<(u64, u64)>,
}

impl Literal {
    fn new(text: Vec<u8>) -> Literal {
        let finder = Finder::new(&text).into_owned();
        let starts_with_space = text.first() == Some(&b' ');
        let short = (1..=8).contains(&text.len()).then(|| {
            let mut word = [0u8; 8];
            for (w, &c) in word.iter_mut().zip(&text) {
                *w = c;
            }
            let mask = u64::MAX >> (8 * (8 - text.len()));
            (u64::from_le_bytes(word), mask)
        });
        Literal { text, finder, starts_with_space, short }
    }

    /// The first occurrence of the literal in `hay` (as `memmem`). A short
    /// literal (the usual ` `, `" "`, ` [`) is found by looking for its first
    /// byte word-at-a-time and comparing one masked word at each candidate:
    /// cheaper than a `memmem` search over the few bytes of a log field.
    #[inline]
    fn find(&self, hay: &[u8]) -> Option<usize> {
        let (Some((word, mask)), Some(&first)) = (self.short, self.text.first()) else {
            return self.finder.find(hay);
        };
        let mut from = 0usize;
        loop {
            let pos = from + scan::find2(first, first, hay.get(from..)?)?;
            let hit = match scan::load8(hay, pos) {
                Some(w) => w & mask == word,
                None => hay.get(pos..pos + self.text.len()) == Some(self.text.as_slice()),
            };
            if hit {
                return Some(pos);
            }
            from = pos + 1;
        }
    }
}

/// A variable and the literal after it (`None`: runs to the end of the line).
#[derive(Debug, Clone)]
struct Part {
    name: String,
    role: Role,
    /// `$upstream_*`: the value may be a `, ` or ` : ` separated list.
    list: bool,
    next: Option<Literal>,
}

/// A compiled `log_format`.
#[derive(Debug, Clone)]
pub(crate) struct CompiledFormat {
    prefix: Vec<u8>,
    parts: Vec<Part>,
    time: TimeKind,
    latency: LatencyKind,
    series: SeriesKind,
}

/// Where a line stopped matching a format's literal text.
enum Mismatch<'a> {
    /// The line does not start with the leading literal.
    Prefix,
    /// The literal after `parts[part]` is not in `rest`.
    NoLiteral { part: usize, rest: &'a [u8] },
    /// Text is left after the format's final literal.
    Trailing { rest: &'a [u8] },
}

/// The values of the needed variables in one line.
struct Captures<'a> {
    time: &'a [u8],
    status: &'a [u8],
    latency: &'a [u8],
    series: &'a [u8],
}

enum Token {
    Lit(Vec<u8>),
    Var(String),
}

fn is_name_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Reads one nginx.conf quoted string at `*i` (the quote is `s[*i]`),
/// resolving `\"`, `\'`, `\\`, `\n`, `\r`, `\t`.
fn conf_quoted(s: &[u8], i: &mut usize, out: &mut Vec<u8>) -> Option<()> {
    let quote = *s.get(*i)?;
    *i += 1;
    loop {
        let c = *s.get(*i)?;
        *i += 1;
        if c == quote {
            return Some(());
        }
        if c == b'\\' {
            let escaped = *s.get(*i)?;
            *i += 1;
            let resolved = match escaped {
                b'n' => b'\n',
                b'r' => b'\r',
                b't' => b'\t',
                b'"' | b'\'' | b'\\' => escaped,
                _ => {
                    out.push(b'\\');
                    escaped
                }
            };
            out.push(resolved);
        } else {
            out.push(c);
        }
    }
}

/// Concatenates the nginx.conf string arguments at `*i` (quoted or bare,
/// separated by whitespace, optionally ended by `;`). Returns `None` unless
/// the whole input is consumed.
fn conf_strings(s: &[u8], mut i: usize) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut any = false;
    loop {
        while s.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        match s.get(i) {
            None => break,
            Some(b';') => {
                i += 1;
                while s.get(i).is_some_and(u8::is_ascii_whitespace) {
                    i += 1;
                }
                if i != s.len() {
                    return None;
                }
                break;
            }
            Some(b'\'' | b'"') => conf_quoted(s, &mut i, &mut out)?,
            Some(_) => {
                while let Some(&c) = s.get(i) {
                    if c.is_ascii_whitespace() || c == b';' {
                        break;
                    }
                    out.push(c);
                    i += 1;
                }
            }
        }
        any = true;
    }
    any.then_some(out)
}

/// The format text proper: a `log_format name [escape=..] '...' '...';`
/// directive, or a run of single-quoted strings as in nginx.conf, is
/// unwrapped; anything else is taken literally.
fn unwrap_conf(def: &str) -> Vec<u8> {
    let s = def.trim().as_bytes();
    let skip_ws = |i: &mut usize| {
        while s.get(*i).is_some_and(u8::is_ascii_whitespace) {
            *i += 1;
        }
    };
    let skip_word = |i: &mut usize| {
        while s.get(*i).is_some_and(|c| !c.is_ascii_whitespace()) {
            *i += 1;
        }
    };
    let directive = s.strip_prefix(b"log_format").and_then(|rest| rest.first());
    if directive.is_some_and(u8::is_ascii_whitespace) {
        let mut i = b"log_format".len();
        skip_ws(&mut i);
        skip_word(&mut i); // the format's name
        skip_ws(&mut i);
        if s.get(i..).is_some_and(|r| r.starts_with(b"escape=")) {
            skip_word(&mut i);
        }
        if let Some(out) = conf_strings(s, i) {
            return out;
        }
    } else if s.first() == Some(&b'\'') {
        if let Some(out) = conf_strings(s, 0) {
            return out;
        }
    }
    def.as_bytes().to_vec()
}

fn tokenize(fmt: &[u8]) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut lit = Vec::new();
    let mut i = 0usize;
    while let Some(&c) = fmt.get(i) {
        if c != b'$' {
            lit.push(c);
            i += 1;
            continue;
        }
        // The variable name from `start`: its bytes and where it ends.
        let name_at = |start: usize| {
            let rest = fmt.get(start..).unwrap_or_default();
            let len = rest.iter().take_while(|&&c| is_name_byte(c)).count();
            (rest.get(..len).unwrap_or_default(), start + len)
        };
        let (name, end) = if fmt.get(i + 1) == Some(&b'{') {
            let (name, end) = name_at(i + 2);
            if fmt.get(end) != Some(&b'}') || name.is_empty() {
                return Err(format!("`${{` at byte {i} is not a `${{name}}` variable"));
            }
            (name, end + 1)
        } else {
            name_at(i + 1)
        };
        if name.is_empty() {
            // A lone `$` is literal text.
            lit.push(c);
            i += 1;
            continue;
        }
        if !lit.is_empty() {
            tokens.push(Token::Lit(std::mem::take(&mut lit)));
        }
        if let Some(Token::Var(prev)) = tokens.last() {
            return Err(format!(
                "variables `${prev}` and `${}` have no text between them, so a line cannot be split",
                String::from_utf8_lossy(name)
            ));
        }
        tokens.push(Token::Var(String::from_utf8_lossy(name).into_owned()));
        i = end;
    }
    if !lit.is_empty() {
        tokens.push(Token::Lit(lit));
    }
    Ok(tokens)
}

impl CompiledFormat {
    /// Compiles a `log_format` definition for the given options.
    pub(crate) fn new(
        def: &str,
        latency: LatencySource,
        series_by: SeriesBy,
    ) -> Result<CompiledFormat, Error> {
        let bad = |reason: String| Error::BadLogFormat { format: def.to_owned(), reason };
        let missing = |what: &'static str, expected: &'static str| Error::MissingVariable {
            format: def.to_owned(),
            what,
            expected,
        };
        let tokens = tokenize(&unwrap_conf(def)).map_err(bad)?;
        let mut prefix = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        for tok in tokens {
            match tok {
                Token::Lit(text) => match parts.last_mut() {
                    Some(last) => last.next = Some(Literal::new(text)),
                    None => prefix = text,
                },
                Token::Var(name) => {
                    let list = name.starts_with("upstream_");
                    parts.push(Part { name, role: Role::Skip, list, next: None });
                }
            }
        }
        if parts.is_empty() {
            return Err(bad("it has no `$variable` at all".to_owned()));
        }
        // Gives `role` to the first occurrence of the first of `names` present.
        let mut assign = |role: Role, names: &[&str]| -> Option<usize> {
            for (rank, want) in names.iter().enumerate() {
                if let Some(p) = parts.iter_mut().find(|p| p.name == *want && p.role == Role::Skip)
                {
                    p.role = role;
                    return Some(rank);
                }
            }
            None
        };
        let time = match assign(Role::Time, &["msec", "time_iso8601", "time_local"]) {
            Some(0) => TimeKind::Msec,
            Some(1) => TimeKind::Iso8601,
            Some(_) => TimeKind::Local,
            None => return Err(missing("time", "$time_local, $time_iso8601, $msec")),
        };
        if assign(Role::Status, &["status"]).is_none() {
            return Err(missing("status", "$status"));
        }
        let latency = match latency {
            // A format without `$request_time` (nginx's own `combined`)
            // still gives rate, errors and statuses.
            LatencySource::Request => {
                match assign(Role::Latency, &["request_time", "traefik_duration"]) {
                    Some(0) => LatencyKind::Seconds,
                    Some(_) => LatencyKind::TraefikMillis,
                    None => LatencyKind::Absent,
                }
            }
            LatencySource::Upstream => {
                assign(Role::Latency, &["upstream_response_time"]).ok_or_else(|| {
                    missing("latency", "$upstream_response_time (latency source: upstream)")
                })?;
                LatencyKind::UpstreamList
            }
        };
        let series = match series_by {
            SeriesBy::Path => match assign(Role::Series, &["request", "request_uri", "uri"]) {
                Some(0) => SeriesKind::Request,
                Some(_) => SeriesKind::Uri,
                None => {
                    return Err(missing("series", "$request, $request_uri, $uri (series by path)"))
                }
            },
            SeriesBy::Host => {
                assign(Role::Series, &["host", "http_host", "server_name"]).ok_or_else(|| {
                    missing("series", "$host, $http_host, $server_name (series by host)")
                })?;
                SeriesKind::Name
            }
            SeriesBy::Upstream => {
                assign(Role::Series, &["proxy_upstream_name", "traefik_router"]).ok_or_else(
                    || missing("series", "$proxy_upstream_name (series by upstream)"),
                )?;
                SeriesKind::Name
            }
        };
        Ok(CompiledFormat { prefix, parts, time, latency, series })
    }

    /// Finds `lit` in `hay`, skipping list separators when `is_list` (the
    /// variable before `lit` is a list variable).
    fn find(hay: &[u8], lit: &Literal, is_list: bool) -> Option<usize> {
        let mut from = 0usize;
        loop {
            let pos = from + lit.find(hay.get(from..)?)?;
            let in_separator = is_list
                && lit.starts_with_space
                && ((pos > 0 && hay.get(pos - 1) == Some(&b','))
                    || hay.get(pos..pos + 3) == Some(b" : ")
                    || (pos >= 2 && hay.get(pos - 2..pos) == Some(b" :")));
            if !in_separator {
                return Some(pos);
            }
            from = pos + 1;
        }
    }

    /// Splits a line into the needed variables' values.
    fn captures<'a>(&self, line: &'a [u8]) -> Result<Captures<'a>, Mismatch<'a>> {
        let rest = if self.prefix.is_empty() {
            Some(line)
        } else {
            line.strip_prefix(self.prefix.as_slice())
        };
        let Some(mut rest) = rest else {
            return Err(Mismatch::Prefix);
        };
        let mut caps = Captures { time: b"", status: b"", latency: b"", series: b"" };
        for (idx, part) in self.parts.iter().enumerate() {
            let value = match &part.next {
                None => std::mem::take(&mut rest),
                Some(lit) => {
                    let Some(pos) = Self::find(rest, lit, part.list) else {
                        return Err(Mismatch::NoLiteral { part: idx, rest });
                    };
                    let value = rest.get(..pos).unwrap_or_default();
                    rest = rest.get(pos + lit.text.len()..).unwrap_or_default();
                    value
                }
            };
            match part.role {
                Role::Skip => {}
                Role::Time => caps.time = value,
                Role::Status => caps.status = value,
                Role::Latency => caps.latency = value,
                Role::Series => caps.series = value,
            }
        }
        if !rest.is_empty() {
            return Err(Mismatch::Trailing { rest });
        }
        Ok(caps)
    }

    /// The message for a mismatch (built only for the one reported).
    fn mismatch_error(&self, m: &Mismatch<'_>) -> LineError {
        let what = match *m {
            Mismatch::Prefix => format!("it does not start with `{}`", show(&self.prefix)),
            Mismatch::NoLiteral { part, rest } => match self.parts.get(part) {
                Some(Part { name, next: Some(lit), .. }) => {
                    format!("no `{}` after ${name} in `{}`", show(&lit.text), show(rest))
                }
                _ => format!("the text after variable {part} does not match"),
            },
            Mismatch::Trailing { rest } => {
                format!("unexpected text after its end: `{}`", show(rest))
            }
        };
        LineError { reason: format!("line does not match the log format: {what}") }
    }

    /// Interprets the captured values.
    fn request<'a>(&self, caps: &Captures<'a>) -> Result<Request<'a>, LineError> {
        let err = |reason: String| LineError { reason };
        let ts: Timestamp = match self.time {
            TimeKind::Local => time::parse_time_local(caps.time),
            TimeKind::Iso8601 => time::parse_rfc3339(caps.time),
            TimeKind::Msec => time::parse_unix_seconds(caps.time),
        }
        .map_err(err)?;
        let status = num::status(caps.status).map_err(err)?;
        let latency_ns = match self.latency {
            LatencyKind::Seconds if caps.latency == b"-" => None,
            LatencyKind::Seconds => match num::seconds_ns(caps.latency) {
                Ok(ns) => Some(ns),
                Err(NumError::Negative) => {
                    return Err(err(format!("negative $request_time `{}`", show(caps.latency))))
                }
                Err(e) => {
                    return Err(err(format!(
                        "$request_time `{}` is not seconds: {e}",
                        show(caps.latency)
                    )))
                }
            },
            LatencyKind::UpstreamList => num::upstream_sum_ns(caps.latency).map_err(err)?,
            LatencyKind::TraefikMillis => {
                let ms = caps.latency.strip_suffix(b"ms").ok_or_else(|| {
                    err(format!("Traefik duration `{}` does not end in `ms`", show(caps.latency)))
                })?;
                Some(num::decimal_scaled(ms, num::NS_PER_MS).map_err(|e| {
                    err(format!(
                        "Traefik duration `{}` is not milliseconds: {e}",
                        show(caps.latency)
                    ))
                })?)
            }
            LatencyKind::Absent => None,
        };
        let series: Cow<'a, str> = match self.series {
            SeriesKind::Request => num::lossy(request::request_path(caps.series).map_err(err)?),
            SeriesKind::Uri => match caps.series {
                b"" | b"-" => {
                    return Err(err(format!("request URI is `{}`", show(caps.series))));
                }
                uri => num::lossy(match memchr::memchr(b'?', uri) {
                    Some(q) => uri.get(..q).unwrap_or_default(),
                    None => uri,
                }),
            },
            SeriesKind::Name => match caps.series {
                b"" => Cow::Borrowed("-"),
                name => num::lossy(name),
            },
        };
        Ok(Request { ts_s: ts.secs, ts_nanos: ts.nanos, series, latency_ns, status })
    }
}

/// One or more compiled formats: the first is the format, the others are
/// fallbacks tried when a line does not match it.
#[derive(Debug, Clone)]
pub(crate) struct LogParser {
    formats: Vec<CompiledFormat>,
}

impl LogParser {
    /// A parser for one definition.
    pub(crate) fn single(def: &str, opts: crate::ParserOptions) -> Result<LogParser, Error> {
        Ok(LogParser { formats: vec![CompiledFormat::new(def, opts.latency, opts.series_by)?] })
    }

    /// Whether lines carry a latency (`false`: the format has no latency
    /// variable, such as `combined`).
    pub(crate) fn has_latency(&self) -> bool {
        self.formats.iter().any(|f| f.latency != LatencyKind::Absent)
    }

    /// A parser trying each definition in turn (the first one's errors are reported).
    pub(crate) fn layered(defs: &[String], opts: crate::ParserOptions) -> Result<LogParser, Error> {
        let formats = defs
            .iter()
            .map(|d| CompiledFormat::new(d, opts.latency, opts.series_by))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LogParser { formats })
    }

    /// Parses one line: the first format whose literals all match decides;
    /// its value errors are returned as they are.
    pub(crate) fn parse<'a>(&self, line: &'a [u8]) -> Result<Request<'a>, LineError> {
        let mut first_err = None;
        for f in &self.formats {
            match f.captures(line) {
                Ok(caps) => return f.request(&caps),
                Err(m) => {
                    if first_err.is_none() {
                        first_err = Some(f.mismatch_error(&m));
                    }
                }
            }
        }
        let mut e = first_err.unwrap_or_else(|| LineError { reason: "no log format".to_owned() });
        if self.formats.len() > 1 {
            let _ = write!(
                e.reason,
                " (the {} older ingress-nginx layouts did not match either)",
                self.formats.len() - 1
            );
        }
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ParserOptions;

    fn compile(def: &str) -> CompiledFormat {
        CompiledFormat::new(def, LatencySource::Request, SeriesBy::Path).unwrap()
    }

    fn parse<'a>(f: &CompiledFormat, line: &'a str) -> Result<Request<'a>, LineError> {
        match f.captures(line.as_bytes()) {
            Ok(caps) => f.request(&caps),
            Err(m) => Err(f.mismatch_error(&m)),
        }
    }

    #[test]
    fn short_literal_search_is_memmem() {
        let hays: [&[u8]; 9] = [
            b"",
            b"\"",
            b"GET /a HTTP/1.1\" 200 1 \"-\" \"curl\" 0.1",
            b"\" \"\" \" \"x\" \"",
            b"[default-web2-8080] [] 172.17.0.6:8080, 172.17.0.7:8080 61, 100",
            b"0.100, 0.004 : 0.2 200, 203 835136ae",
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
            b"\xff\xfe\x80 \x80 [ ] ",
            b"- - [10/Sep/2015:17:57:59 +0000] \"",
        ];
        let lits: [&[u8]; 12] = [
            b" ",
            b"\"",
            b"\" ",
            b" \"",
            b"\" \"",
            b" [",
            b"] [",
            b"] \"",
            b", ",
            b" : ",
            b"aab",
            b"abcdefghi",
        ];
        for hay in hays {
            for lit in lits {
                let l = Literal::new(lit.to_vec());
                for from in 0..=hay.len() {
                    let h = &hay[from..];
                    assert_eq!(l.find(h), l.finder.find(h), "{:?} in {:?}", show(lit), show(h));
                }
            }
        }
    }

    #[test]
    fn ingress_layouts_start_with_the_preset() {
        let layouts = ingress_layouts();
        assert_eq!(layouts[0], INGRESS_PRESET);
        assert_eq!(layouts.len(), 8);
        let with_req_id = layouts.iter().take_while(|l| l.ends_with(" $req_id")).count();
        assert_eq!(with_req_id, 4, "layouts with $req_id must all come first");
        for l in &layouts {
            CompiledFormat::new(l, LatencySource::Upstream, SeriesBy::Upstream).unwrap();
        }
    }

    #[test]
    fn tokenizer_and_conf_syntax() {
        let f = compile("${remote_addr}x$status $ [$time_local] $request_time \"$request\"");
        assert_eq!(f.prefix, b"");
        let names: Vec<&str> = f.parts.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["remote_addr", "status", "time_local", "request_time", "request"]);
        assert_eq!(f.parts[1].next.as_ref().unwrap().text, b" $ [");
        assert_eq!(f.parts[4].next.as_ref().unwrap().text, b"\"");
        let conf = "log_format main escape=default '$remote_addr [$time_local] \"$request\" '\n  \
                    '$status $request_time \\'x\\'';";
        let f = compile(conf);
        assert_eq!(f.parts.last().unwrap().next.as_ref().unwrap().text, b" 'x'");
        let f = compile("'$msec \"$request\" ' '$status $request_time'");
        assert_eq!(f.time, TimeKind::Msec);
        assert_eq!(f.parts[1].next.as_ref().unwrap().text, b"\" ");
        // A format that merely starts with a double quote is taken literally.
        let f = compile("\"$request\" $status [$time_local] $request_time");
        assert_eq!(f.prefix, b"\"");
    }

    #[test]
    fn compile_errors() {
        let e = |def: &str, opts: ParserOptions| {
            CompiledFormat::new(def, opts.latency, opts.series_by).unwrap_err().to_string()
        };
        let d = ParserOptions::default();
        assert!(e("$remote_addr $status $request_time", d).contains("no time variable"));
        assert!(e("[$time_local] $request_time", d).contains("no status variable"));
        // No latency variable: requests of unknown latency (nginx `combined`).
        let none =
            CompiledFormat::new("[$time_local] $status \"$request\"", d.latency, d.series_by);
        assert_eq!(none.unwrap().latency, LatencyKind::Absent);
        assert!(e("[$time_local] $status $request_time", d).contains("no series variable"));
        assert!(e("[$time_local] $status$request_time \"$request\"", d).contains("no text between"));
        assert!(e("no variables", d).contains("no `$variable`"));
        assert!(e("${oops", d).contains("not a `${name}` variable"));
        let up = ParserOptions { latency: LatencySource::Upstream, ..d };
        assert!(e(NGINX_PRESET, up).contains("$upstream_response_time"));
        let host = ParserOptions { series_by: SeriesBy::Host, ..d };
        assert!(e(INGRESS_PRESET, host).contains("series by host"));
    }

    #[test]
    fn nginx_preset_lines() {
        let f = compile(NGINX_PRESET);
        let r = parse(
            &f,
            "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] \"GET /apache_pb.gif?x=1 HTTP/1.0\" \
             200 2326 \"http://ex.com/\" \"Mozilla/4.08 [en] (Win98; I ;Nav)\" 0.138",
        )
        .unwrap();
        assert_eq!(r.ts_s, 971_211_336);
        assert_eq!(r.series, "/apache_pb.gif");
        assert_eq!(r.status, 200);
        assert_eq!(r.latency_ns, Some(138_000_000));
        assert!(matches!(r.series, Cow::Borrowed(_)));
        let r = parse(
            &f,
            "::1 - - [10/Oct/2000:13:55:36 +0000] \"GET / HTTP/1.1\" 499 0 \"-\" \"-\" -",
        )
        .unwrap();
        assert_eq!((r.status, r.latency_ns), (499, None));
    }

    #[test]
    fn mismatch_reasons() {
        let f = compile(NGINX_PRESET);
        let cases = [
            (
                "127.0.0.1 - - [13/Jul/2016:10:55:36 +0000] \"GET /a HTTP/1.0\" 200 2326",
                "no ` \"` after $body_bytes_sent in `2326`",
            ),
            (
                "1.2.3.4 - - [13/Jul/2016:10:55:36 +0000] \"-\" 400 0 \"-\" \"-\" 0.000",
                "no request line",
            ),
            (
                "1.2.3.4 - - [13/Jul/2016:10:55:36] \"GET / HTTP/1.1\" 200 0 \"-\" \"-\" 0.001",
                "not an nginx $time_local",
            ),
            (
                "1.2.3.4 - - [13/Jul/2016:10:55:36 +0000] \"GET / HTTP/1.1\" 2x0 0 \"-\" \"-\" 0.1",
                "status `2x0`",
            ),
            (
                "1.2.3.4 - - [13/Jul/2016:10:55:36 +0000] \"GET / HTTP/1.1\" 200 0 \"-\" \"-\" fast",
                "$request_time `fast` is not seconds",
            ),
            (
                "1.2.3.4 - - [13/Jul/2016:10:55:36 +0000] \"GET / HTTP/1.1\" 200 0 \"-\" \"-\" -0.5",
                "negative $request_time",
            ),
        ];
        for (line, want) in cases {
            let e = parse(&f, line).unwrap_err();
            assert!(e.reason.contains(want), "{line}: {e}");
        }
        let f = compile("[$time_local] $status $request_time \"$request\"");
        let e = parse(&f, "10/Oct/2000:13:55:36 +0000] 200 0.1 \"GET / HTTP/1.1\"").unwrap_err();
        assert!(e.reason.contains("does not start with `[`"), "{e}");
        let e =
            parse(&f, "[10/Oct/2000:13:55:36 +0000] 200 0.1 \"GET / HTTP/1.1\" junk").unwrap_err();
        assert!(e.reason.contains("unexpected text after its end: ` junk`"), "{e}");
    }

    #[test]
    fn other_variables() {
        let f = compile("$msec $request_uri $status $request_time");
        let r = parse(&f, "1441907879.123 /a/b?c=d 204 0.5").unwrap();
        assert_eq!((r.ts_s, r.ts_nanos, r.series.as_ref()), (1_441_907_879, 123_000_000, "/a/b"));
        let f = compile("$time_iso8601 $uri $status $request_time");
        let r = parse(&f, "2015-09-10T17:57:59+00:00 /x 200 0.001").unwrap();
        assert_eq!(
            (r.ts_s, r.series.as_ref(), r.latency_ns),
            (1_441_907_879, "/x", Some(1_000_000))
        );
        let f = CompiledFormat::new(
            "$host [$time_local] $status $request_time",
            LatencySource::Request,
            SeriesBy::Host,
        )
        .unwrap();
        let r = parse(&f, "api.example.com [10/Sep/2015:17:57:59 +0000] 200 0.001").unwrap();
        assert_eq!(r.series, "api.example.com");
    }

    #[test]
    fn upstream_lists_in_lines() {
        let f = CompiledFormat::new(
            "[$time_local] \"$request\" $status $upstream_addr $upstream_response_time $upstream_status end",
            LatencySource::Upstream,
            SeriesBy::Path,
        )
        .unwrap();
        let t = "[10/Sep/2015:17:57:59 +0000] \"GET /a HTTP/1.1\" 200";
        let cases = [
            ("10.0.0.1:80 0.010 200", Some(10_000_000)),
            ("10.0.0.1:80, 10.0.0.2:80 0.001, 0.002 502, 200", Some(3_000_000)),
            ("10.0.0.1:80 : 10.0.0.2:80 0.010 : 0.020 200 : 200", Some(30_000_000)),
            ("a, b : c 0.001, 0.002 : 0.004 502, 504 : 200", Some(7_000_000)),
            ("a, b - 502, -", None),
            ("- - -", None),
        ];
        for (tail, want) in cases {
            let line = format!("{t} {tail} end");
            assert_eq!(parse(&f, &line).unwrap().latency_ns, want, "{line}");
        }
    }
}
