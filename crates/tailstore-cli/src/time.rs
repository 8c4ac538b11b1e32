//! Parsing the command line's times (`T`: unix seconds or RFC 3339) and
//! durations (`90s`, `5m`, `1h`, `7d`).

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result};

/// A time: unix seconds (fractional allowed) or RFC 3339, as the traffic
/// parsers read them ([`tailstore_ingest::parse_time`]).
pub fn parse_time(s: &str) -> Result<SystemTime> {
    tailstore_ingest::parse_time(s).map_err(|e| {
        anyhow::anyhow!("time {:?}: expected unix seconds or RFC 3339 ({})", s.trim(), e.reason)
    })
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
    use std::time::UNIX_EPOCH;

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
