//! A custom nginx `log_format` guessed from a line that still holds the
//! usual fields: a `[$time_local]`, a quoted `"$request"`, the `$status`
//! after it and a `$request_time` (a decimal number, quoted or not), in
//! any order, with other fields around them. Each field of the line
//! becomes a variable and the text between fields stays literal, so the
//! guess is a definition the user could have written (and can pass as
//! `--log-format`).

use memchr::memchr;

/// One field of a line and the text before it.
struct Field<'a> {
    /// Literal text before the field (spaces, an opening quote or bracket).
    before: &'a [u8],
    /// The field's bytes, without its quotes or brackets.
    value: &'a [u8],
    /// `Some(close)` for a quoted or bracketed field: its closing byte.
    close: Option<u8>,
}

/// Splits a line into fields at spaces, keeping `"…"` and `[…]` whole.
fn fields(line: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < line.len() {
        let start = i;
        while line.get(i) == Some(&b' ') {
            i += 1;
        }
        let Some(&c) = line.get(i) else { break };
        let (open, close) = match c {
            b'"' => (true, Some(b'"')),
            b'[' => (true, Some(b']')),
            _ => (false, None),
        };
        if open {
            let body = line.get(i + 1..)?;
            let end = memchr(close?, body)?;
            out.push(Field { before: &line[start..=i], value: &body[..end], close });
            i += end + 2;
        } else {
            let end = memchr(b' ', &line[i..]).map_or(line.len(), |e| i + e);
            out.push(Field { before: &line[start..i], value: &line[i..end], close: None });
            i = end;
        }
    }
    Some(out)
}

fn is_decimal(v: &[u8]) -> bool {
    let dots = memchr::memchr_iter(b'.', v).count();
    dots == 1 && v.len() > 2 && v.iter().all(|c| c.is_ascii_digit() || *c == b'.')
}

fn is_request(v: &[u8]) -> bool {
    let Some(sp) = memchr(b' ', v) else { return false };
    v[..sp].iter().all(u8::is_ascii_uppercase) && sp > 0 && v.get(sp + 1) == Some(&b'/')
}

fn is_status(v: &[u8]) -> bool {
    v.len() == 3 && (b'1'..=b'5').contains(&v[0]) && v.iter().all(u8::is_ascii_digit)
}

/// The `log_format` a line's fields suggest, or `None` when the line lacks
/// a time, a request line, a status after it or (with `need_latency`) a
/// latency.
pub(crate) fn guess(line: &[u8], need_latency: bool) -> Option<String> {
    let fields = fields(line)?;
    let mut out = String::new();
    let (mut time, mut request, mut status, mut latency) = (false, false, false, false);
    let (mut referer, mut agent, mut addr, mut bytes) = (false, false, false, false);
    let mut other = 0usize;
    for (k, f) in fields.iter().enumerate() {
        // Literal text holds no `$` (it would read as a variable).
        if f.before.contains(&b'$') {
            return None;
        }
        out.push_str(std::str::from_utf8(f.before).ok()?);
        let name: String = if f.close == Some(b']')
            && !time
            && crate::time::parse_time_local(f.value).is_ok()
        {
            time = true;
            "time_local".into()
        } else if f.close == Some(b'"') && !request && is_request(f.value) {
            request = true;
            "request".into()
        } else if request && !status && is_status(f.value) {
            status = true;
            "status".into()
        } else if !latency && is_decimal(f.value) {
            latency = true;
            "request_time".into()
        } else if k == 0 && f.close.is_none() && !addr {
            addr = true;
            "remote_addr".into()
        } else if status && !bytes && f.close.is_none() && f.value.iter().all(u8::is_ascii_digit) {
            bytes = true;
            "body_bytes_sent".into()
        } else if f.close == Some(b'"') && request && !referer {
            referer = true;
            "http_referer".into()
        } else if f.close == Some(b'"') && request && !agent {
            agent = true;
            "http_user_agent".into()
        } else {
            other += 1;
            format!("field_{other}")
        };
        out.push('$');
        out.push_str(&name);
        if let Some(c) = f.close {
            out.push(char::from(c));
        }
    }
    (time && request && status && (latency || !need_latency)).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_a_definition_that_reads_the_line() {
        let line = b"127.0.0.1 - - [19/Feb/2015:15:50:36 -0500] \"GET /big.pdf HTTP/1.1\" 206 33973115 0.202 \"-\" \"Mozilla/5.0 (X)\"";
        let g = guess(line, true).unwrap();
        assert_eq!(
            g,
            "$remote_addr $field_1 $field_2 [$time_local] \"$request\" $status $body_bytes_sent $request_time \"$http_referer\" \"$http_user_agent\""
        );
        // A quoted latency, fields in another order.
        let line = b"[01/Dec/2025:00:00:01 +0000] host-1 \"POST /models/m/predict HTTP/1.1\" 503 \"0.250\" up=10.0.0.2:80";
        let g = guess(line, true).unwrap();
        assert_eq!(g, "[$time_local] $field_1 \"$request\" $status \"$request_time\" $field_2");
        // Without a latency there is nothing to guess (combined reads it).
        let combined =
            b"1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] \"GET / HTTP/1.1\" 200 5 \"-\" \"c\"";
        assert!(guess(combined, true).is_none());
        assert!(guess(combined, false).is_some_and(|g| g.ends_with("\"$http_user_agent\"")));
        assert!(guess(b"not a log line at all 0.5", false).is_none());
    }
}
