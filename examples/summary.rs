//! The main job on bundled sample data: replay an nginx access log into an
//! in-memory store and print P50/P95/P99, rate and error ratio per endpoint.
//!
//! ```text
//! cargo run --release --example summary [-- FILE]
//! ```
//!
//! The line parser here handles the bundled log's format only
//! (`$remote_addr [$time_local] "$request" $status $request_length
//! $body_bytes_sent $request_time ...`); general parsers for nginx,
//! ingress-nginx, ALB, JSONL, CSV and HdrHistogram logs belong to the CLI.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tailstore::{Options, Selector, Store};

const MONTHS: [&str; 12] =
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Days from 1970-01-01 to a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `10/Sep/2015:17:57:59 +0000` -> unix time.
fn parse_time_local(s: &str) -> Option<SystemTime> {
    let (d, rest) = s.split_once('/')?;
    let (mon, rest) = rest.split_once('/')?;
    let (y, rest) = rest.split_once(':')?;
    let (hms, tz) = rest.split_once(' ')?;
    let mut it = hms.split(':').map(|x| x.parse::<i64>());
    let (h, mi, se) = (it.next()?.ok()?, it.next()?.ok()?, it.next()?.ok()?);
    let m = MONTHS.iter().position(|x| *x == mon)? as i64 + 1;
    let sign = if tz.starts_with('-') { -1 } else { 1 };
    let tzv: i64 = tz.get(1..)?.parse().ok()?;
    let off = sign * ((tzv / 100) * 3600 + (tzv % 100) * 60);
    let days = days_from_civil(y.parse().ok()?, m, d.parse().ok()?);
    let t = days * 86_400 + h * 3600 + mi * 60 + se - off;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(t).ok()?))
}

/// `(time, endpoint, status, latency)` from one line, or why not.
fn parse(line: &str) -> Result<(SystemTime, String, u16, Duration), &'static str> {
    let (_, rest) = line.split_once(" [").ok_or("no [time]")?;
    let (time, rest) = rest.split_once("] \"").ok_or("no request")?;
    let (request, rest) = rest.split_once("\" ").ok_or("unterminated request")?;
    let path = request.split(' ').nth(1).ok_or("no path")?;
    let path = path.split('?').next().unwrap_or(path);
    // Group thumbnails by size: /t/240x240/... -> /t/240x240
    let endpoint: String = path.split('/').take(3).collect::<Vec<_>>().join("/");
    let mut f = rest.split(' ');
    let status: u16 = f.next().and_then(|s| s.parse().ok()).ok_or("bad status")?;
    let secs: f64 = f.nth(2).and_then(|s| s.parse().ok()).ok_or("bad $request_time")?;
    if !(secs.is_finite() && secs >= 0.0) {
        return Err("negative or non-finite $request_time");
    }
    Ok((
        parse_time_local(time).ok_or("bad $time_local")?,
        endpoint,
        status,
        Duration::from_secs_f64(secs),
    ))
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/gonx-access.log").into()
    });
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let store = Store::in_memory(Options::default().keep_everything());
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut bad = 0;
    for (no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match parse(line) {
            Ok((t, endpoint, status, latency)) => {
                let s = t.duration_since(UNIX_EPOCH)?.as_secs();
                first = first.min(s);
                last = last.max(s);
                store.series(&endpoint).record_at(t, latency, status);
            }
            Err(why) => {
                bad += 1;
                if bad <= 10 {
                    eprintln!("{path}:{}: skipped: {why}", no + 1);
                }
            }
        }
    }
    if first > last {
        return Err(format!("{path}: no parsable lines").into());
    }
    store.seal_now();
    let (a, b) =
        (UNIX_EPOCH + Duration::from_secs(first), UNIX_EPOCH + Duration::from_secs(last + 1));
    println!("{path}: {} s of traffic, {bad} bad lines", last + 1 - first);
    println!(
        "{:<16} {:>7} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8}  top statuses",
        "endpoint", "count", "req/s", "err %", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    let mut names = store.series_names();
    names.push("(all)".into());
    for name in names {
        let sel =
            if name == "(all)" { Selector::regex(".*")? } else { Selector::exact(name.as_str()) };
        let w = store.query(sel).between(a, b).run()?;
        let q = w.quantiles(&[0.5, 0.95, 0.99]);
        let mut st: Vec<(u16, u64)> = w.status_counts().iter().collect();
        st.sort_by_key(|x| std::cmp::Reverse(x.1));
        let top: Vec<String> = st.iter().take(3).map(|(c, n)| format!("{c}:{n}")).collect();
        println!(
            "{:<16} {:>7} {:>8.2} {:>7.2} {:>8} {:>8} {:>8} {:>8}  {}",
            name,
            w.count(),
            w.rate_per_sec(),
            w.error_ratio().unwrap_or(0.0) * 100.0,
            ms(q[0]),
            ms(q[1]),
            ms(q[2]),
            ms(w.max()),
            top.join(" ")
        );
    }
    Ok(())
}
