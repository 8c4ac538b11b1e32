//! `HdrHistogram` interval logs through the binary: `replay --format hlog`
//! and `export --format hlog|csv`, checked against the `hdrhistogram` crate
//! and `HdrHistogram_py` (`hdrh`) reading the same files.

use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde_json::Value;

use super::{json_of, run, shared};

fn hlog_files() -> Vec<PathBuf> {
    let dir = shared("hdrhistogram");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "hlog"))
        .collect();
    v.sort();
    assert_eq!(v.len(), 8, "the eight shared .hlog samples");
    v
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Relative difference check, `tol` as a fraction.
fn within(got: f64, want: f64, tol: f64, ctx: &str) {
    assert!((got - want).abs() <= want.abs() * tol + 1e-9, "{ctx}: got {got}, want {want}");
}

/// The oracle histogram of a whole file: every bucket's `HdrHistogram`
/// `median_equivalent` (the value replay records) in a 3-digit histogram.
/// V2 lines are decoded by the crate itself; the crate cannot read V0/V1,
/// so those lines come from `tailstore_ingest::HlogReader`, whose decoding
/// the ingest corpus test pins to `HdrHistogram`'s Java test values.
fn oracle(path: &Path) -> Histogram<u64> {
    let bytes = std::fs::read(path).unwrap();
    let mut acc = Histogram::<u64>::new(3).unwrap();
    let mut reader = tailstore_ingest::HlogReader::new();
    for line in bytes.split(|&c| c == b'\n') {
        let Some(iv) = reader.parse_line(line).unwrap() else { continue };
        let mut with_nl = line.to_vec();
        with_nl.push(b'\n');
        let crate_hist = match IntervalLogIterator::new(&with_nl).next() {
            Some(Ok(LogEntry::Interval(h))) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .unwrap();
                Deserializer::new().deserialize::<u64, _>(&mut raw.as_slice()).ok()
            }
            _ => None,
        };
        match crate_hist {
            Some(h) => {
                assert_eq!(h.len(), iv.total());
                for v in h.iter_recorded() {
                    let x = h.median_equivalent(v.value_iterated_to());
                    acc.record_n(x, v.count_at_value()).unwrap();
                }
            }
            None => {
                for b in &iv.buckets {
                    acc.record_n(b.median, b.count).unwrap();
                }
            }
        }
    }
    acc
}

fn replay(store: &Path, extra: &[&str], file: &Path) -> Value {
    let mut args = vec!["replay", "--store", s(store), "--json"];
    args.extend_from_slice(extra);
    args.push(s(file));
    json_of(&run(&args))
}

fn query(store: &Path, sel: &[&str], start: u64, end: u64, qs: &str) -> Value {
    let (a, b) = (start.to_string(), end.to_string());
    let mut args = vec!["query", "--store", s(store), "--start", &a, "--end", &b];
    args.extend_from_slice(sel);
    args.extend_from_slice(&["--quantiles", qs, "--json"]);
    json_of(&run(&args))
}

fn bounds(v: &Value) -> (u64, u64) {
    (v["first_ts"].as_u64().unwrap(), v["last_ts"].as_u64().unwrap() + 1)
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn replay_every_shared_hlog_matches_the_crate() {
    for path in hlog_files() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let dir = tempfile::tempdir().unwrap();
        let st = dir.path().join("st");
        let auto = replay(&dir.path().join("auto"), &[], &path);
        let v = replay(&st, &["--format", "hlog"], &path);
        assert_eq!(auto["ingested"], v["ingested"], "{name}: auto-detected");
        let want = oracle(&path);
        assert_eq!(v["ingested"].as_u64(), Some(want.len()), "{name}");
        assert_eq!(v["rejected"], 0, "{name}");
        let (a, b) = bounds(&v);
        let q = query(&st, &["--match", ".*"], a, b, "0.5,0.99");
        assert_eq!(q["count"].as_u64(), Some(want.len()), "{name}");
        assert_eq!(q["errors"], 0, "{name}: hlog samples are status 0, never errors");
        assert_eq!(q["status"]["0"].as_u64(), Some(want.len()), "{name}");
        for (key, qv) in [("p50", 0.5), ("p99", 0.99)] {
            let got = q["quantiles_ms"][key].as_f64().unwrap();
            #[expect(clippy::cast_precision_loss, reason = "a latency in ns, far below 2^52")]
            let oracle_ms = want.value_at_quantile(qv) as f64 / 1e6;
            within(got, oracle_ms, 0.001, &format!("{name} {key}"));
        }
    }
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn hlog_bad_lines_are_counted_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::fs::read_to_string(shared("hdrhistogram/jHiccup-2.0.7S.logV2.hlog")).unwrap();
    let mut lines: Vec<&str> = src.lines().collect();
    lines[6] = "0.5,1.0,2.0,HIST-not-base64";
    lines[8] = "garbage";
    let f = dir.path().join("bad.hlog");
    std::fs::write(&f, lines.join("\n")).unwrap();
    let out = run(&["replay", "--json", s(&f)]);
    let v = json_of(&out);
    assert_eq!(v["rejected"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.hlog:7: skipped: histogram payload is not base64"), "{err}");
    assert!(err.contains("bad.hlog:9: skipped: not an interval log line"), "{err}");
    let strict = run(&["replay", "--strict", s(&f)]);
    assert_eq!(strict.status.code(), Some(1));
}

/// (tag, start s, count) of one interval read back.
type Row = (Option<String>, u64, u64);

/// Reads an exported log with the crate: a [`Row`] per interval, the merged
/// histogram and the `BaseTime`.
fn read_back(path: &Path) -> (Vec<Row>, Histogram<u64>, Option<u64>) {
    let bytes = std::fs::read(path).unwrap();
    let mut merged = Histogram::<u64>::new(3).unwrap();
    let (mut rows, mut base) = (Vec::new(), None);
    for e in IntervalLogIterator::new(&bytes) {
        match e.unwrap() {
            LogEntry::BaseTime(d) => base = Some(d.as_secs()),
            LogEntry::StartTime(_) => {}
            LogEntry::Interval(h) => {
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(h.encoded_histogram())
                    .unwrap();
                let hist: Histogram<u64> =
                    Deserializer::new().deserialize(&mut raw.as_slice()).unwrap();
                let start = base.unwrap() + h.start_timestamp().as_secs();
                rows.push((h.tag().map(|t| t.to_string()), start, hist.len()));
                merged.add(&hist).unwrap();
            }
        }
    }
    (rows, merged, base)
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn export_hlog_reads_back_with_the_crate_and_python() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let v = replay(&st, &[], &shared("hdrhistogram/jHiccup-2.0.7S.logV3.hlog"));
    let (first_s, end_s) = bounds(&v);
    let out = dir.path().join("out.hlog");
    let exported =
        run(&["export", "--store", s(&st), "--match", ".*", "--format", "hlog", "--out", s(&out)]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let (rows, merged, base) = read_back(&out);
    assert_eq!(base, Some(first_s));
    assert_eq!(merged.len(), v["ingested"].as_u64().unwrap());
    // Per interval: the count tailstore answers for that series and second.
    for (tag, start, count) in rows.iter().step_by(7) {
        let series = tag.as_deref().unwrap();
        let q = query(&st, &["--series", series], *start, start + 1, "0.5");
        assert_eq!(q["count"].as_u64(), Some(*count), "{series} at {start}");
    }
    let tags: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r.0.as_deref().unwrap()).collect();
    assert_eq!(tags.len(), 5);
    let q = query(&st, &["--match", ".*"], first_s, end_s, "0.5,0.99,0.999");
    for (key, qv) in [("p50", 0.5), ("p99", 0.99), ("p99.9", 0.999)] {
        let got = q["quantiles_ms"][key].as_f64().unwrap();
        #[expect(clippy::cast_precision_loss, reason = "a latency in ns, far below 2^52")]
        let crate_ms = merged.value_at_quantile(qv) as f64 / 1e6;
        within(crate_ms, got, 0.001, key);
    }

    // HdrHistogram_py reads the same file.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hlog_read.py");
    let py = Command::new("python3").arg(&script).arg(&out).output().unwrap_or_else(|e| {
        panic!(
            "python3 cannot be run ({e}): this test needs python3 with `pip install hdrhistogram`"
        )
    });
    assert!(
        py.status.success(),
        "python3 {} failed (is the `hdrhistogram` package installed? `pip install hdrhistogram`): {}",
        script.display(),
        String::from_utf8_lossy(&py.stderr)
    );
    let p: Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(p["intervals"].as_u64(), Some(rows.len() as u64));
    let counts: Vec<u64> =
        p["counts"].as_array().unwrap().iter().map(|c| c.as_u64().unwrap()).collect();
    assert_eq!(counts, rows.iter().map(|r| r.2).collect::<Vec<_>>());
    assert_eq!(p["tags"][0].as_str(), rows[0].0.as_deref());
    assert_eq!(p["total"].as_u64(), Some(merged.len()));
    #[expect(clippy::cast_precision_loss, reason = "a unix second, far below 2^52")]
    let first_s_f64 = first_s as f64;
    assert_eq!(p["start_time_sec"].as_f64(), Some(first_s_f64));
    within(
        p["p99"].as_f64().unwrap() / 1e6,
        q["quantiles_ms"]["p99"].as_f64().unwrap(),
        0.001,
        "py p99",
    );
}

/// A small log written with the crate: 5 one-second intervals, 2 series.
fn small_log(path: &Path) {
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let mut w = IntervalLogWriterBuilder::new()
        .with_start_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_547_200))
        .begin_log_with(&mut buf, &mut ser)
        .unwrap();
    for i in 0..5u64 {
        for (tag, scale) in [("a", 1u64), ("b", 7)] {
            let mut h = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
            for k in 1..=(50 + 10 * i) {
                h.record(k * 97_003 * scale + i * 1_000).unwrap();
            }
            let start = std::time::Duration::from_secs(i);
            w.write_histogram(&h, start, std::time::Duration::from_secs(1), Tag::new(tag)).unwrap();
        }
    }
    std::fs::write(path, buf).unwrap();
}

#[test]
fn export_csv_rows_equal_queries() {
    let dir = tempfile::tempdir().unwrap();
    let (st, log) = (dir.path().join("st"), dir.path().join("small.hlog"));
    small_log(&log);
    let v = replay(&st, &[], &log);
    assert_eq!(v["ingested"], 2 * (50 + 60 + 70 + 80 + 90));
    let o = run(&["export", "--store", s(&st), "--match", "a|b", "--format", "csv"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("start,span_s,series,count,errors,error_ratio,min_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,mean_ms")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 10);
    for r in &rows {
        let start: u64 = r[0].parse().unwrap();
        assert_eq!(r[1], "1");
        let q = query(&st, &["--series", r[2]], start, start + 1, "0.5,0.9,0.99,0.999");
        let num = |x: &Value| x.to_string();
        assert_eq!(r[3], num(&q["count"]));
        assert_eq!(r[4], "0");
        assert_eq!(r[5], num(&q["error_ratio"]));
        assert_eq!(r[6], num(&q["min_ms"]));
        for (i, key) in ["p50", "p90", "p99", "p99.9"].iter().enumerate() {
            assert_eq!(r[7 + i], num(&q["quantiles_ms"][key]), "{key}");
        }
        assert_eq!(r[11], num(&q["max_ms"]));
        assert_eq!(r[12], num(&q["mean_ms"]));
    }
    // A missing series and a missing store are clear errors.
    let o = run(&["export", "--store", s(&st), "--series", "zzz", "--format", "csv"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("series \"zzz\" is not in store"));
    let o = run(&["export", "--store", "/nonexistent/st", "--series", "a", "--format", "hlog"]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such directory"));
}

#[test]
#[cfg_attr(
    not(feature = "shared-data"),
    ignore = "needs ../shared/data beside the checkout: run with --features shared-data (.ci/run does)"
)]
fn hlog_round_trip_gives_the_same_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (st1, st2, out) =
        (dir.path().join("st1"), dir.path().join("st2"), dir.path().join("x.hlog"));
    let v1 = replay(&st1, &[], &shared("hdrhistogram/tagged-Log.logV2.hlog"));
    let exported =
        run(&["export", "--store", s(&st1), "--match", ".*", "--format", "hlog", "--out", s(&out)]);
    assert!(exported.status.success(), "{}", String::from_utf8_lossy(&exported.stderr));
    let v2 = replay(&st2, &[], &out);
    assert_eq!(v1["ingested"], v2["ingested"]);
    assert_eq!(v1["series"], v2["series"]);
    assert_eq!(bounds(&v1), bounds(&v2));
    let (first_s, end_s) = bounds(&v1);
    for sel in [["--match", ".*"], ["--series", "A"], ["--series", "tagged-Log.logV2"]] {
        let q1 = query(&st1, &sel, first_s, end_s, "0.5,0.9,0.99,0.999");
        let q2 = query(&st2, &sel, first_s, end_s, "0.5,0.9,0.99,0.999");
        assert_eq!(q1["count"], q2["count"], "{sel:?}");
        assert_eq!(q1["status"], q2["status"], "{sel:?}");
        for key in ["p50", "p90", "p99", "p99.9"] {
            let (x, y) = (
                q1["quantiles_ms"][key].as_f64().unwrap(),
                q2["quantiles_ms"][key].as_f64().unwrap(),
            );
            within(y, x, 0.0005, &format!("{sel:?} {key}"));
        }
        within(q2["max_ms"].as_f64().unwrap(), q1["max_ms"].as_f64().unwrap(), 0.0005, "max");
    }
}

/// The input bomb: a few hundred bytes of hlog describing one interval of
/// 2 000 buckets of 99 999 999 samples each. A bucket's count is recorded in
/// bulk, so the replay finishes at once (recorded one by one it pinned a
/// core for most of an hour) with every sample counted exactly.
#[test]
fn a_tiny_hlog_of_huge_counts_replays_in_bulk_and_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bomb.hlog");
    let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000_000_000, 3).unwrap();
    for k in 0..2_000u64 {
        hist.record_n(1_000 + k * 1_000, 99_999_999).unwrap();
    }
    let mut buf = Vec::new();
    let mut ser = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .with_start_time(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_764_547_200))
        .begin_log_with(&mut buf, &mut ser)
        .unwrap();
    let (start, len) = (std::time::Duration::ZERO, std::time::Duration::from_secs(5));
    writer.write_histogram(&hist, start, len, Tag::new("bomb")).unwrap();
    drop(writer);
    assert!(buf.len() < 20_000, "the file is small: {} bytes", buf.len());
    std::fs::write(&path, &buf).unwrap();
    let st = dir.path().join("st");
    let summary = replay(&st, &["--hlog-unit", "ns"], &path);
    assert_eq!(summary["ingested"], 2_000 * 99_999_999u64, "{summary}");
    let q = query(&st, &["--series", "bomb"], 1_764_547_200, 1_764_547_205, "0.5,1");
    assert_eq!(q["count"], 2_000 * 99_999_999u64, "{q}");
    // Every bucket's samples are dealt over the interval's five seconds
    // (19 999 999 or 20 000 000 each).
    let q = query(&st, &["--series", "bomb"], 1_764_547_200, 1_764_547_201, "0.5");
    let n = q["count"].as_u64().unwrap();
    assert!((2_000 * 19_999_999..=2_000 * 20_000_000).contains(&n), "{q}");
}
