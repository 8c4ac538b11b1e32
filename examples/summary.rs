//! The main job on bundled sample data: replay an nginx access log into an
//! in-memory store and print P50/P95/P99, rate and error ratio per endpoint.
//!
//! ```text
//! cargo run --release --example summary [-- FILE]
//! ```
//!
//! Lines are parsed by `tailstore-ingest` from the log's nginx `log_format`
//! (the parser the CLI's `replay` uses, here on one thread); the library
//! records and answers.

use std::time::{Duration, UNIX_EPOCH};

use tailstore::format::{fmt_ms, fmt_percent, fmt_rate};
use tailstore::{Options, Selector, Store};
use tailstore_ingest::{Format, Parser, ParserOptions};

/// The bundled log's `log_format` (gonx's example server).
const LOG_FORMAT: &str = "$remote_addr [$time_local] \"$request\" $status $request_length \
    $body_bytes_sent $request_time \"$t_size\" $read_time $gen_time";

/// Groups thumbnails by size: `/t/240x240/...` -> `/t/240x240`.
fn endpoint(path: &str) -> String {
    path.split('/').take(3).collect::<Vec<_>>().join("/")
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data/gonx-access.log").into()
    });
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let store = Store::in_memory(Options::default().keep_everything());
    let parser =
        Parser::new(&Format::LogFormat(LOG_FORMAT.into()), None, ParserOptions::default())?;
    let (mut first, mut last) = (u64::MAX, 0u64);
    let mut bad = 0;
    for (no, line) in text.lines().enumerate() {
        match parser.parse(line.as_bytes()) {
            Ok(Some(r)) => {
                first = first.min(r.ts_s);
                last = last.max(r.ts_s);
                let s = store.series(&endpoint(&r.series));
                match r.latency_ns {
                    Some(ns) => s.record_at_unix(r.ts_s, ns, r.status),
                    None => s.record_status_at_unix(r.ts_s, r.status),
                }
            }
            Ok(None) => {} // blank line
            Err(e) => {
                bad += 1;
                if bad <= 10 {
                    eprintln!("{path}:{}: skipped: {}", no + 1, e.reason);
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
            "{:<16} {:>7} {:>8} {:>7} {:>8} {:>8} {:>8} {:>8}  {}",
            name,
            w.count(),
            fmt_rate(w.rate_per_sec(), 2),
            fmt_percent(w.error_ratio().unwrap_or(0.0), 2),
            fmt_ms(q[0], 1),
            fmt_ms(q[1], 1),
            fmt_ms(q[2], 1),
            fmt_ms(w.max(), 1),
            top.join(" ")
        );
    }
    Ok(())
}
