//! Debian's `promtool check metrics` (package `prometheus`) on every
//! preset's text 0.0.4 output. A missing binary fails these tests.

use std::io::Write;
use std::process::{Command, Stdio};

use tailstore_prometheus::{Exposition, Format, Names};

use crate::util::store;

const PROMTOOL: &str = "/usr/bin/promtool";

fn check(text: &[u8]) -> (bool, String) {
    let mut child = Command::new(PROMTOOL)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{PROMTOOL} is required (apt-get install prometheus): {e}"));
    child.stdin.take().unwrap().write_all(text).unwrap();
    let out = child.wait_with_output().unwrap();
    let msg =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), msg)
}

#[test]
fn promtool_accepts_every_preset() {
    let store = store();
    // Gauges too (the process sampler's names, and one to sanitize).
    for (name, v) in [("process_resident_memory_bytes", 8.5e8), ("gpu memory-used", 1.5e9)] {
        store.gauge(name).set_at_unix(crate::util::T0 + 5, v);
    }
    for names in [Names::tailstore(), Names::ingress_nginx()] {
        let mut text = Vec::new();
        let alerts = [tailstore_prometheus::ActiveAlert {
            alertname: "High Error Rate".into(),
            labels: [("severity".to_string(), "critical".to_string())].into_iter().collect(),
            firing: true,
        }];
        Exposition::new(names)
            .encode_with_alerts(&store, Format::text(), &alerts, &mut text)
            .unwrap();
        let (ok, msg) = check(&text);
        assert!(ok, "{}: {msg}\n{}", names.name(), String::from_utf8_lossy(&text));
        // Lint findings are printed even on success; there must be none.
        assert!(msg.trim().is_empty(), "{}: {msg}", names.name());
    }
}

/// Backfill: `Exposition::backfill`'s `OpenMetrics` history becomes
/// Prometheus blocks (`promtool tsdb create-blocks-from openmetrics`), and
/// the blocks hold the store's counts: the newest point of a status counter
/// is the store's total for that status.
#[test]
fn backfill_becomes_blocks_holding_the_stores_counts() {
    let store = store();
    for (names, counter, label) in [
        (Names::tailstore(), "tailstore_requests_total", "series"),
        (Names::ingress_nginx(), "nginx_ingress_controller_requests", "path"),
    ] {
        let mut text = Vec::new();
        let scrape = Exposition::new(names).backfill(&store, (0, u64::MAX), 60, &mut text).unwrap();
        assert_eq!(scrape.series, 3);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("history.om");
        std::fs::write(&file, &text).unwrap();
        let blocks = dir.path().join("blocks");
        let out = Command::new(PROMTOOL)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(&file)
            .arg(&blocks)
            .output()
            .unwrap_or_else(|e| panic!("{PROMTOOL} is required (apt-get install prometheus): {e}"));
        assert!(
            out.status.success(),
            "{}: {}{}",
            names.name(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // `tsdb dump` opens the directory as a Prometheus data directory.
        std::fs::create_dir_all(blocks.join("wal")).unwrap();
        let dump = Command::new(PROMTOOL).args(["tsdb", "dump"]).arg(&blocks).output().unwrap();
        assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
        let dump = String::from_utf8_lossy(&dump.stdout);
        // `{__name__="…", label="…", status="…"} value timestamp_ms`: the newest.
        let newest = |status: &str| -> u64 {
            dump.lines()
                .filter(|l| {
                    l.contains(&format!("__name__=\"{counter}\""))
                        && l.contains(&format!("{label}=\"/models/fraud-v2/predict\""))
                        && l.contains(&format!("status=\"{status}\""))
                })
                .filter_map(|l| {
                    let mut it = l.rsplit(' ');
                    let ts: u64 = it.next()?.parse().ok()?;
                    let v: f64 = it.next()?.parse().ok()?;
                    Some((ts, v))
                })
                .max_by_key(|(ts, _)| *ts)
                .map_or_else(
                    || panic!("no {counter} {status} in the dump:\n{dump}"),
                    |(_, v)| {
                        #[expect(
                            clippy::cast_possible_truncation,
                            clippy::cast_sign_loss,
                            reason = "small whole counts"
                        )]
                        let n = v as u64;
                        n
                    },
                )
        };
        assert_eq!((newest("200"), newest("503"), newest("404")), (582, 12, 6), "{}", names.name());
    }
}
