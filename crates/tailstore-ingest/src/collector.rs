//! Wrappers that log collection puts around a line, removed before any
//! format reads it: a CRI container-log prefix (`<RFC 3339> stdout F `),
//! `kubectl logs --timestamps` (`<RFC 3339> `), a Docker `json-file`
//! object (`{"log":"…","stream":"stdout","time":"…"}`), and syslog
//! (`<PRI>` and RFC 3164's `Mon DD HH:MM:SS host tag: ` or RFC 5424's
//! `1 TIMESTAMP HOST APP PROCID MSGID SD `). The payload's own time is the
//! request's; the collector's is dropped.

use memchr::memchr;

use crate::fields;
use crate::time;
use crate::LineError;

/// A line with its collector wrapper removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unwrapped<'a> {
    /// The payload, borrowed from the line (the line itself when there was
    /// no wrapper).
    Plain(&'a [u8]),
    /// The payload of a JSON-escaped wrapper (Docker `json-file`), unescaped.
    Owned(String),
}

/// Which wrappers a format's lines may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrappers {
    /// Every wrapper.
    All,
    /// Every wrapper but a bare leading timestamp (`kubectl logs
    /// --timestamps`): Classic ELB lines begin with their own.
    NoBareTime,
}

/// Whether `s` starts with an RFC 3339 timestamp (`2024-05-28T13:46:45Z`,
/// any fraction, `Z` or an offset) followed by a space; returns the length
/// of the timestamp.
fn leading_rfc3339(s: &[u8]) -> Option<usize> {
    // The shape first (cheap: most lines fail at byte 4), then the parser.
    let shaped = s.len() > 20
        && s[..4].iter().all(u8::is_ascii_digit)
        && s[4] == b'-'
        && s[7] == b'-'
        && s[10] == b'T';
    if !shaped {
        return None;
    }
    let end = memchr(b' ', s)?;
    time::parse_rfc3339(&s[..end]).ok().map(|_| end)
}

/// Removes a CRI prefix (`<time> stdout|stderr F `) or a bare timestamp
/// (`<time> `, with `Wrappers::All`).
fn strip_timestamp(line: &[u8], wrappers: Wrappers) -> Result<Option<&[u8]>, LineError> {
    let Some(end) = leading_rfc3339(line) else { return Ok(None) };
    let after = &line[end + 1..];
    if let Some(tag) = after.strip_prefix(b"stdout ").or_else(|| after.strip_prefix(b"stderr ")) {
        return match tag {
            [b'F', b' ', body @ ..] => Ok(Some(body)),
            [b'P', b' ', ..] => Err(LineError {
                reason: "CRI partial record (`P`): the line continues in the next record, which \
                         this line-at-a-time reader does not join"
                    .to_owned(),
            }),
            _ => Ok(None),
        };
    }
    Ok((wrappers == Wrappers::All).then_some(after))
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Removes a syslog header: an optional `<PRI>`, then RFC 5424's
/// `1 TIMESTAMP HOST APP PROCID MSGID SD ` or RFC 3164's
/// `Mon DD HH:MM:SS host tag: `. `None` when the line has neither.
fn strip_syslog(line: &[u8]) -> Option<&[u8]> {
    let mut s = line;
    let mut had_pri = false;
    if let Some(rest) = s.strip_prefix(b"<") {
        let close = memchr(b'>', rest).filter(|&c| (1..=3).contains(&c))?;
        if !rest[..close].iter().all(u8::is_ascii_digit) {
            return None;
        }
        s = &rest[close + 1..];
        had_pri = true;
    }
    if had_pri {
        if let Some(rest) = s.strip_prefix(b"1 ") {
            // TIMESTAMP HOST APP PROCID MSGID, then STRUCTURED-DATA (`-` or
            // `[…]` groups), then the message.
            let mut rest = rest;
            for _ in 0..5 {
                let sp = memchr(b' ', rest)?;
                rest = &rest[sp + 1..];
            }
            if let Some(r) = rest.strip_prefix(b"- ") {
                return Some(r);
            }
            let mut r = rest;
            while r.first() == Some(&b'[') {
                let close = memchr(b']', r)?;
                r = &r[close + 1..];
            }
            return Some(r.strip_prefix(b" ").unwrap_or(r));
        }
    }
    // RFC 3164: `Mmm dd hh:mm:ss host tag: ` (day space-padded).
    let month = s.get(..3)?;
    if !MONTHS.iter().any(|m| m.as_slice() == month) || s.get(3) != Some(&b' ') {
        return None;
    }
    let clock = s.get(7..15)?;
    let shaped = s[4..6].iter().all(|c| c.is_ascii_digit() || *c == b' ')
        && s.get(6) == Some(&b' ')
        && clock[2] == b':'
        && clock[5] == b':'
        && s.get(15) == Some(&b' ');
    if !shaped {
        return None;
    }
    let rest = &s[16..];
    let host_end = memchr(b' ', rest)?;
    let rest = &rest[host_end + 1..];
    // The tag (`nginx:` or `nginx[123]:`) ends at the first `: `.
    let colon = memchr::memmem::find(rest, b": ")?;
    if colon > 48 || rest[..colon].contains(&b' ') {
        return None;
    }
    Some(&rest[colon + 2..])
}

/// What a line holds where a Docker `json-file` record would start.
enum Docker<'a> {
    /// The `log` string (`{"log":"…",`), raw (still JSON-escaped), and
    /// whether it has escapes.
    Record(&'a [u8], bool),
    /// `{"log":"` whose string never closes: a record cut short.
    CutShort,
    /// No Docker record.
    No,
}

/// Reads the `log` string of a Docker `json-file` record.
fn docker_log(line: &[u8]) -> Docker<'_> {
    let Some(rest) = line.strip_prefix(b"{\"log\":\"") else { return Docker::No };
    let mut i = 0;
    let mut escaped = false;
    while let Some(&c) = rest.get(i) {
        match c {
            b'\\' => {
                escaped = true;
                i += 2;
            }
            b'"' => {
                // Another key must follow: `stream` or `time`.
                let after = &rest[i + 1..];
                return if after.starts_with(b",\"") {
                    Docker::Record(&rest[..i], escaped)
                } else {
                    Docker::No
                };
            }
            _ => i += 1,
        }
    }
    Docker::CutShort
}

/// Whether `line` may carry a wrapper (a cheap look at its first bytes;
/// [`unwrap`] decides): `{"log"`, a date (`dddd-`), `<`, or a month name
/// and a space.
#[inline]
pub(crate) fn maybe_wrapped(line: &[u8]) -> bool {
    match line {
        [b'{', b'"', b'l', b'o', b'g', b'"', ..] | [b'<', ..] => true,
        [a, b, c, d, b'-', ..] => [a, b, c, d].iter().all(|x| x.is_ascii_digit()),
        [m, o, n, b' ', ..] => {
            m.is_ascii_uppercase() && o.is_ascii_lowercase() && n.is_ascii_lowercase()
        }
        _ => false,
    }
}

/// Removes the one wrapper `wrappers` allows around `line` (wrappers are
/// not nested in practice: a Docker record holds the payload itself).
///
/// # Errors
///
/// A CRI partial record (`P`), which this line-at-a-time reader cannot join;
/// a Docker `json-file` record cut short (its `log` string not closed).
pub(crate) fn unwrap(line: &[u8], wrappers: Wrappers) -> Result<Unwrapped<'_>, LineError> {
    match line.first() {
        Some(b'{') => match docker_log(line) {
            Docker::Record(raw, true) => {
                let text = fields::json_unescape(raw);
                let text = text.trim_end_matches(['\n', '\r']).to_owned();
                return Ok(Unwrapped::Owned(text));
            }
            Docker::Record(raw, false) => return Ok(Unwrapped::Plain(raw)),
            Docker::CutShort => {
                return Err(LineError {
                    reason: "Docker `json-file` record cut short: its `log` string is not \
                                 closed"
                        .to_owned(),
                })
            }
            Docker::No => {}
        },
        Some(b'0'..=b'9') => {
            if let Some(body) = strip_timestamp(line, wrappers)? {
                return Ok(Unwrapped::Plain(body));
            }
        }
        Some(b'<' | b'A'..=b'Z') => {
            if let Some(body) = strip_syslog(line) {
                return Ok(Unwrapped::Plain(body));
            }
        }
        _ => {}
    }
    Ok(Unwrapped::Plain(line))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str =
        "10.0.0.1 - - [01/Dec/2025:00:00:01 +0000] \"GET /a HTTP/1.1\" 200 5 \"-\" \"c\" 0.012";

    fn plain(line: &str, w: Wrappers) -> String {
        match unwrap(line.as_bytes(), w).unwrap() {
            Unwrapped::Plain(b) => String::from_utf8(b.to_vec()).unwrap(),
            Unwrapped::Owned(s) => s,
        }
    }

    #[test]
    fn every_wrapper_comes_off() {
        let cases = [
            format!("2025-12-01T00:00:02.123456789Z stdout F {NGINX}"),
            format!("2025-12-01T00:00:02Z {NGINX}"),
            format!("2025-12-01T00:00:02.5+01:00 {NGINX}"),
            format!("<190>Dec  1 00:00:02 web-1 nginx: {NGINX}"),
            format!("Dec 11 00:00:02 web-1 nginx[812]: {NGINX}"),
            format!("<165>1 2025-12-01T00:00:02.003Z web-1 nginx 812 ID47 - {NGINX}"),
            format!(
                "<165>1 2025-12-01T00:00:02.003Z web-1 nginx 812 ID47 [exampleSDID@32473 iut=\"3\"] {NGINX}"
            ),
            format!(
                "{{\"log\":\"{}\\n\",\"stream\":\"stdout\",\"time\":\"2025-12-01T00:00:02.1Z\"}}",
                NGINX.replace('"', "\\\"")
            ),
            NGINX.to_owned(),
        ];
        for c in &cases {
            assert_eq!(plain(c, Wrappers::All), NGINX, "{c}");
        }
        // Unescaped Docker payloads borrow the line.
        let docker = "{\"log\":\"plain text\",\"stream\":\"stdout\"}";
        assert_eq!(
            unwrap(docker.as_bytes(), Wrappers::All).unwrap(),
            Unwrapped::Plain(b"plain text")
        );
    }

    #[test]
    fn lines_that_only_look_wrapped_stay_whole() {
        let elb = "2015-05-13T23:39:43.945958Z my-loadbalancer 192.168.131.39:2817 10.0.0.1:80 0.000073 \
                   0.001048 0.000057 200 200 0 29 \"GET http://www.example.com:80/ HTTP/1.1\" \"curl/7.38.0\" - -";
        assert_eq!(plain(elb, Wrappers::NoBareTime), elb);
        for line in [
            "{\"ts\":1,\"path\":\"/a\"}",
            "{\"log\":1,\"x\":2}",
            "2025-12-01,/a,200,12",
            "<notapri>x",
            "Decimal 1 00:00:02 host tag: x",
            "[2019-04-08T16:16:55.931Z] \"GET / HTTP/1.1\" 200",
        ] {
            assert_eq!(plain(line, Wrappers::All), line);
        }
        let e = unwrap(b"2025-12-01T00:00:02Z stdout P part", Wrappers::All).unwrap_err();
        assert!(e.reason.contains("CRI partial record"), "{e}");
        // A Docker record cut short says so (not "no ` - ` after $remote_addr").
        let cut = br#"{"log":"10.0.0.1 - - [01/Dec/2025:00:00:01 +0000] \"GET /a"#;
        let e = unwrap(cut, Wrappers::All).unwrap_err();
        assert!(e.reason.contains("Docker `json-file` record cut short"), "{e}");
        // A closed `log` string without the record's next key is no record.
        assert_eq!(plain("{\"log\":\"x\"}", Wrappers::All), "{\"log\":\"x\"}");
    }
}
