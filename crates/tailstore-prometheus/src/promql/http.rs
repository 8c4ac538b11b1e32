//! The HTTP side of the API with no I/O: endpoint routing over decoded
//! parameters, and the parameters' parsing (times, steps, form encoding).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tailstore::Store;

use super::{bad, PromqlApi, PromqlError, MAX_TIME_S};

/// An answer of the API: the HTTP status and the JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiAnswer {
    /// HTTP status code (200, 400, 404, 422, 500).
    pub status: u16,
    /// The JSON body.
    pub body: String,
}

impl ApiAnswer {
    fn ok(data: &Value, warnings: &[String]) -> ApiAnswer {
        let mut v = json!({"status": "success", "data": data});
        if !warnings.is_empty() {
            v["warnings"] = json!(warnings);
        }
        ApiAnswer { status: 200, body: v.to_string() }
    }

    fn err(e: &PromqlError) -> ApiAnswer {
        ApiAnswer { status: e.http_status(), body: e.to_json().to_string() }
    }
}

/// The endpoints [`PromqlApi::answer`] serves, under `/api/v1/`.
pub const ENDPOINTS: [&str; 7] = [
    "query",
    "query_range",
    "series",
    "labels",
    "label/<name>/values",
    "metadata",
    "status/buildinfo",
];

impl PromqlApi {
    /// Answers the request for `/api/v1/{endpoint}` with the decoded
    /// parameters (query string and form body together, see
    /// [`parse_form`]), `now` being the default evaluation time.
    #[must_use]
    pub fn answer(
        &self,
        store: &Store,
        endpoint: &str,
        params: &[(String, String)],
        now: SystemTime,
    ) -> ApiAnswer {
        match self.answer_inner(store, endpoint, params, now) {
            Ok(Some((data, warnings))) => ApiAnswer::ok(&data, &warnings),
            Ok(None) => ApiAnswer {
                status: 404,
                body: json!({
                    "status": "error",
                    "errorType": "not_found",
                    "error": format!(
                        "/api/v1/{endpoint} is not served by tailstore (it serves /api/v1/{})",
                        ENDPOINTS.join(", /api/v1/")
                    ),
                })
                .to_string(),
            },
            Err(e) => ApiAnswer::err(&e),
        }
    }

    fn answer_inner(
        &self,
        store: &Store,
        endpoint: &str,
        params: &[(String, String)],
        now: SystemTime,
    ) -> Result<Option<(Value, Vec<String>)>, PromqlError> {
        let one = |k: &str| params.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let matches: Vec<String> =
            params.iter().filter(|(n, _)| n == "match[]").map(|(_, v)| v.clone()).collect();
        let time = |k: &str| one(k).map(parse_time).transpose();
        let range = || -> Result<_, PromqlError> { Ok((time("start")?, time("end")?)) };
        let need = |k: &str| one(k).ok_or_else(|| bad(format!("missing parameter {k:?}")));
        Ok(Some(match endpoint {
            "query" => {
                let at = time("time")?.unwrap_or(now);
                self.query(store, need("query")?, at)?
            }
            "query_range" => {
                let start = parse_time(need("start")?)?;
                let end = parse_time(need("end")?)?;
                let step = parse_step(need("step")?)?;
                self.query_range(store, need("query")?, start, end, step)?
            }
            "series" => (self.series(store, &matches, range()?)?, vec![]),
            "labels" => (self.labels(store, &matches, range()?)?, vec![]),
            "status/buildinfo" => (PromqlApi::buildinfo(), vec![]),
            "metadata" => (self.metadata(store, one("metric")), vec![]),
            e => match e.strip_prefix("label/").and_then(|r| r.strip_suffix("/values")) {
                Some(name) => (self.label_values(store, name, &matches, range()?)?, vec![]),
                None => return Ok(None),
            },
        }))
    }
}

/// A time parameter: unix seconds (a fraction allowed) or RFC 3339.
///
/// # Errors
///
/// [`PromqlError::BadData`] naming the value.
pub fn parse_time(s: &str) -> Result<SystemTime, PromqlError> {
    let err = || bad(format!("cannot parse {s:?} to a valid timestamp"));
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !v.is_finite() || !(0.0..=MAX_TIME_S).contains(&v) {
            return Err(err());
        }
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(v));
    }
    parse_rfc3339(s).ok_or_else(err)
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
#[expect(clippy::many_single_char_names, reason = "the date's fields: y, d, h, …")]
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes().all(|c| c.is_ascii_digit()).then(|| t.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        let frac = s.get(start..i)?;
        if frac.is_empty() {
            return None;
        }
        let digits: String = frac.chars().chain(std::iter::repeat('0')).take(9).collect();
        nanos = digits.parse().ok()?;
    }
    let offset_s = match s.get(i..)? {
        "Z" | "z" => 0,
        tz if tz.len() == 6 && (tz.starts_with('+') || tz.starts_with('-')) => {
            let (oh, om) = (num(i + 1..i + 3)?, num(i + 4..i + 6)?);
            if b[i + 3] != b':' {
                return None;
            }
            let o = oh * 3600 + om * 60;
            if tz.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let unix = days * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    let unix = u64::try_from(unix).ok()?;
    Some(UNIX_EPOCH + Duration::new(unix, nanos))
}

/// A `step`: seconds (a fraction allowed) or a duration (`15s`, `1m`).
///
/// # Errors
///
/// [`PromqlError::BadData`] naming the value.
pub fn parse_step(s: &str) -> Result<Duration, PromqlError> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !v.is_finite() || v <= 0.0 {
            return Err(bad(
                "zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        if v > 1e12 {
            return Err(bad(format!("cannot parse {s:?} to a valid duration")));
        }
        return Ok(Duration::from_secs_f64(v));
    }
    promql_parser::util::parse_duration(s)
        .map_err(|e| bad(format!("cannot parse {s:?} to a valid duration: {e}")))
}

/// Decodes `application/x-www-form-urlencoded` text (a query string or a
/// POST body): `&`-separated `name=value`, `+` as space, `%XX` escapes.
/// Bytes that do not decode to UTF-8 are replaced.
#[must_use]
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
                if let Some(v) = hex {
                    out.push(v);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
