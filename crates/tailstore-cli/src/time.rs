//! Parsing the command line's times (`T`: unix seconds or RFC 3339) and
//! durations (`90s`, `5m`, `1h`, `7d`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn num(s: &str, what: &str, lo: i64, hi: i64) -> Result<i64> {
    let v: i64 = s.parse().with_context(|| format!("{what} {s:?} is not a number"))?;
    if !(lo..=hi).contains(&v) {
        bail!("{what} {v} is outside {lo}..={hi}");
    }
    Ok(v)
}

/// Parses RFC 3339 (`2024-05-28T13:46:45Z`, `…45.123+02:00`, a space for `T`).
fn rfc3339(s: &str) -> Result<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        bail!("not RFC 3339 (expected YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM))");
    }
    let y = num(&s[0..4], "year", 1970, 9999)?;
    let mo = num(&s[5..7], "month", 1, 12)?;
    let d = num(&s[8..10], "day", 1, 31)?;
    let h = num(&s[11..13], "hour", 0, 23)?;
    let mi = num(&s[14..16], "minute", 0, 59)?;
    let se = num(&s[17..19], "second", 0, 60)?;
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            bail!("empty fraction of a second");
        }
        let mut n = 0u64;
        for (i, c) in frac[..digits].bytes().enumerate() {
            if i < 9 {
                n = n * 10 + u64::from(c - b'0');
            }
        }
        for _ in digits..9 {
            n *= 10;
        }
        nanos = u32::try_from(n).context("fraction")?;
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let sign = if o.starts_with('-') { -1 } else { 1 };
            sign * (num(&o[1..3], "offset hours", 0, 23)? * 3600
                + num(&o[4..6], "offset minutes", 0, 59)? * 60)
        }
        o => bail!("bad UTC offset {o:?}"),
    };
    let t = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + se - offset;
    let secs = u64::try_from(t).context("time before 1970")?;
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// A time: unix seconds (fractional allowed) or RFC 3339.
pub fn parse_time(s: &str) -> Result<SystemTime> {
    let s = s.trim();
    if let Ok(v) = s.parse::<f64>() {
        if !(v.is_finite() && v >= 0.0) {
            bail!("time {s:?}: unix seconds must be a non-negative number");
        }
        return Ok(UNIX_EPOCH + Duration::from_secs_f64(v));
    }
    rfc3339(s).with_context(|| format!("time {s:?}: expected unix seconds or RFC 3339"))
}

/// A duration: `90s`, `5m`, `1h`, `7d`, `1h30m`, or plain seconds.
pub fn parse_duration(s: &str) -> Result<Duration> {
    let s = s.trim();
    if let Ok(v) = s.parse::<u64>() {
        return Ok(Duration::from_secs(v));
    }
    humantime::parse_duration(s)
        .with_context(|| format!("duration {s:?}: expected e.g. 90s, 5m, 1h, 7d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unix_s(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    #[test]
    fn times() {
        assert_eq!(unix_s(parse_time("1700000000").unwrap()), 1_700_000_000);
        assert_eq!(unix_s(parse_time("1700000000.9").unwrap()), 1_700_000_000);
        assert_eq!(unix_s(parse_time("2023-11-14T22:13:20Z").unwrap()), 1_700_000_000);
        assert_eq!(unix_s(parse_time("2023-11-15T00:13:20+02:00").unwrap()), 1_700_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20.5Z").unwrap(),
            UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)
        );
        for bad in ["", "-5", "nan", "2023-13-01T00:00:00Z", "2023-11-14 22:13", "yesterday"] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("60").unwrap(), Duration::from_secs(60));
        assert!(parse_duration("5 parsecs").is_err());
    }
}
