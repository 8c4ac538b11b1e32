//! The project's own corpus (`tests/corpus`): one file per log variant and
//! front proxy, written by the project from each format's documentation
//! (see `tests/corpus/SOURCES.md`), each beside an expectation file
//! `<stem>.expect.json` that gives, line by line, what the line must read
//! as: `{"series", "ts_s", "ts_nanos", "latency_ns", "status"}`, `{"error":
//! "<part of the reason>"}`, or `{"skip": true}` (blank and comment lines);
//! for `HdrHistogram` logs `{"start_ns", "length_ns", "tag", "total",
//! "values": [[lowest, highest, count], …]}` per interval line. Where the
//! format logs them, a request line also gives what the other options read:
//! `"host"` (`--series-by host`), `"upstream"` (`--series-by upstream`) and
//! `"upstream_latency_ns"` (`--latency upstream`), each a value or
//! `{"error": …}`; a file gives such a key on every request line or on none.
//!
//! Every file is auto-detected as `detect` sees a file (its first 20
//! non-blank lines, as `tailstore replay` samples it) and must be detected
//! as the expectation's `format`; then every line is parsed and every field
//! compared. A data file without its expectation, an expectation without
//! its data file, a line count that differs, or a variant of the list below
//! without its file fails the test.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tailstore_ingest::{
    detect, Format, HlogReader, LatencySource, Parser, ParserOptions, SeriesBy,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");

/// The variants issue 16 names, one corpus file each (and a file mixing
/// Envoy's text and JSON lines, which its "done when" names).
const REQUIRED: &[&str] = &[
    "envoy-gateway.json",
    "envoy-json.json",
    "envoy-default.log",
    "envoy-details.log",
    "envoy-mixed.log",
    "istio-kubectl-timestamps.log",
    "nginx-cri.log",
    "nginx-docker.log",
    "haproxy-syslog-rfc3164.log",
    "nginx-syslog-rfc5424.log",
    "hdrhistogram-js.hlog",
    "hdrhistogram-c.hlog",
    "hdrhistogram-go.hlog",
    "traefik-clf.log",
    "traefik.json",
    "haproxy-httplog.log",
    "caddy.json",
    "gcp-lb.json",
    "nginx-custom.log",
];

/// The data files of the corpus, sorted (everything but expectations and
/// `SOURCES.md`).
fn data_files() -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(DIR)
        .unwrap_or_else(|e| panic!("corpus directory {DIR} cannot be read: {e}"))
        .map(|e| e.expect("a directory entry of the corpus").path())
        .filter(|p| {
            let n = name(p);
            !n.ends_with(".expect.json") && n != "SOURCES.md"
        })
        .collect();
    out.sort();
    out
}

fn name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// `<dir>/<stem>.expect.json` for a data file.
fn expect_path(data: &Path) -> PathBuf {
    let stem = data.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    Path::new(DIR).join(format!("{stem}.expect.json"))
}

/// The file's lines, without the empty piece after a final newline.
fn lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = bytes.split(|&c| c == b'\n').collect();
    if v.last() == Some(&&b""[..]) {
        v.pop();
    }
    v
}

/// The format `detect` gives for a file, fed as `tailstore replay` feeds it.
fn detected(all: &[&[u8]]) -> Option<Format> {
    let sample: Vec<&[u8]> =
        all.iter().copied().filter(|l| !l.iter().all(u8::is_ascii_whitespace)).take(20).collect();
    detect(&sample)
}

fn u64_of(v: &Value, key: &str, at: &str) -> u64 {
    v[key].as_u64().unwrap_or_else(|| panic!("{at}: expectation has no integer `{key}`: {v}"))
}

fn check_error(at: &str, want: &Value, got: Result<String, String>) {
    let frag = want["error"].as_str().unwrap_or_else(|| panic!("{at}: `error` is no string"));
    assert!(!frag.is_empty(), "{at}: an expected error must name part of its reason");
    match got {
        Err(reason) => assert!(reason.contains(frag), "{at}: reason `{reason}` lacks `{frag}`"),
        Ok(what) => panic!("{at}: expected an error containing `{frag}`, read {what}"),
    }
}

/// The keys of an expectation line that another option reads, with it.
const OPTION_KEYS: [(&str, ParserOptions); 3] = [
    ("host", ParserOptions { latency: LatencySource::Request, series_by: SeriesBy::Host }),
    ("upstream", ParserOptions { latency: LatencySource::Request, series_by: SeriesBy::Upstream }),
    (
        "upstream_latency_ns",
        ParserOptions { latency: LatencySource::Upstream, series_by: SeriesBy::Path },
    ),
];

/// Checks the fields another option reads (`OPTION_KEYS`) where the
/// expectation gives them: on every request line, or on none.
fn check_options(file: &str, format: &Format, all: &[&[u8]], want: &[Value]) {
    let requests: Vec<(usize, &Value)> = want
        .iter()
        .enumerate()
        .filter(|(_, w)| w.get("error").is_none() && w.get("skip").is_none())
        .collect();
    for (key, opts) in OPTION_KEYS {
        let with = requests.iter().filter(|(_, w)| w.get(key).is_some()).count();
        if with == 0 {
            continue;
        }
        assert_eq!(with, requests.len(), "{file}: `{key}` on some request lines only");
        let parser = Parser::new(format, None, opts)
            .unwrap_or_else(|e| panic!("{file}: parser for {format} with {opts:?}: {e}"));
        for (i, w) in &requests {
            let at = format!("{file}:{} ({key})", i + 1);
            let got = parser.parse(all[*i]);
            let exp = &w[key];
            if exp.get("error").is_some() {
                check_error(&at, exp, got.map(|r| format!("{r:?}")).map_err(|e| e.reason));
                continue;
            }
            let r = match got {
                Ok(Some(r)) => r,
                other => panic!("{at}: expected a request, got {other:?}"),
            };
            if key == "upstream_latency_ns" {
                let latency = match exp {
                    Value::Null => None,
                    v => Some(v.as_u64().unwrap_or_else(|| panic!("{at}: bad value {v}"))),
                };
                assert_eq!(r.latency_ns, latency, "{at}");
                assert_eq!(r.series, w["series"].as_str().unwrap_or_default(), "{at}: series");
            } else {
                let name = exp.as_str().unwrap_or_else(|| panic!("{at}: bad value {exp}"));
                assert_eq!(r.series, name, "{at}");
                let latency = w["latency_ns"].as_u64();
                assert_eq!(r.latency_ns, latency, "{at}: latency_ns");
            }
            assert_eq!(u64::from(r.status), u64_of(w, "status", &at), "{at}: status");
        }
    }
}

/// Checks one request-per-line file; returns (requests, errors).
fn check_requests(file: &str, format: &Format, all: &[&[u8]], want: &[Value]) -> (usize, usize) {
    check_options(file, format, all, want);
    let parser = Parser::new(format, None, ParserOptions::default())
        .unwrap_or_else(|e| panic!("{file}: parser for {format}: {e}"));
    let (mut ok, mut bad) = (0, 0);
    for (i, (line, w)) in all.iter().zip(want).enumerate() {
        let at = format!("{file}:{}", i + 1);
        let got = parser.parse(line);
        if w.get("error").is_some() {
            bad += 1;
            check_error(&at, w, got.map(|r| format!("{r:?}")).map_err(|e| e.reason));
        } else if w.get("skip").is_some() {
            assert_eq!(got, Ok(None), "{at}: expected a skipped line");
        } else {
            ok += 1;
            let r = match got {
                Ok(Some(r)) => r,
                other => panic!("{at}: expected a request, got {other:?}"),
            };
            let series = w["series"].as_str().unwrap_or_else(|| panic!("{at}: no `series`"));
            assert_eq!(r.series, series, "{at}: series");
            assert_eq!(r.ts_s, u64_of(w, "ts_s", &at), "{at}: ts_s");
            assert_eq!(u64::from(r.ts_nanos), u64_of(w, "ts_nanos", &at), "{at}: ts_nanos");
            let latency = match &w["latency_ns"] {
                Value::Null => None,
                v => Some(v.as_u64().unwrap_or_else(|| panic!("{at}: bad `latency_ns` {v}"))),
            };
            assert_eq!(r.latency_ns, latency, "{at}: latency_ns");
            assert_eq!(u64::from(r.status), u64_of(w, "status", &at), "{at}: status");
        }
    }
    (ok, bad)
}

/// Checks one `HdrHistogram` log; returns (intervals, errors).
fn check_hlog(file: &str, all: &[&[u8]], want: &[Value]) -> (usize, usize) {
    let mut reader = HlogReader::new();
    let (mut ok, mut bad) = (0, 0);
    for (i, (line, w)) in all.iter().zip(want).enumerate() {
        let at = format!("{file}:{}", i + 1);
        let got = reader.parse_line(line);
        if w.get("error").is_some() {
            bad += 1;
            check_error(&at, w, got.map(|r| format!("{r:?}")).map_err(|e| e.to_string()));
        } else if w.get("skip").is_some() {
            assert_eq!(got, Ok(None), "{at}: expected a skipped line");
        } else {
            ok += 1;
            let iv = match got {
                Ok(Some(iv)) => iv,
                other => panic!("{at}: expected an interval, got {other:?}"),
            };
            assert_eq!(iv.start_ns, u64_of(w, "start_ns", &at), "{at}: start_ns");
            assert_eq!(iv.length_ns, u64_of(w, "length_ns", &at), "{at}: length_ns");
            assert_eq!(iv.tag.as_deref(), w["tag"].as_str(), "{at}: tag");
            assert_eq!(iv.total(), u64_of(w, "total", &at), "{at}: total");
            let values: Vec<[u64; 3]> =
                iv.buckets.iter().map(|b| [b.lowest, b.highest, b.count]).collect();
            let want_values: Vec<[u64; 3]> = serde_json::from_value(w["values"].clone())
                .unwrap_or_else(|e| panic!("{at}: bad `values`: {e}"));
            assert_eq!(values, want_values, "{at}: recorded values");
        }
    }
    (ok, bad)
}

#[test]
fn every_corpus_file_reads_as_its_expectation_says() {
    let files = data_files();
    let names: BTreeSet<String> = files.iter().map(|p| name(p)).collect();
    for required in REQUIRED {
        assert!(names.contains(*required), "corpus file {required} is missing from {DIR}");
    }
    assert!(files.len() >= REQUIRED.len());
    // Every expectation belongs to a data file.
    for entry in std::fs::read_dir(DIR).expect("the corpus directory reads") {
        let p = entry.expect("a directory entry").path();
        let n = name(&p);
        if let Some(stem) = n.strip_suffix(".expect.json") {
            let owners = files.iter().filter(|f| f.file_stem().is_some_and(|s| s == stem)).count();
            assert_eq!(owners, 1, "{n}: expected exactly one data file named {stem}.*");
        }
    }
    let mut checked_lines = 0;
    for path in &files {
        let file = name(path);
        let exp_path = expect_path(path);
        let exp_text = std::fs::read_to_string(&exp_path).unwrap_or_else(|e| {
            panic!("{file}: its expectation {} is missing: {e}", exp_path.display())
        });
        let exp: Value = serde_json::from_str(&exp_text)
            .unwrap_or_else(|e| panic!("{}: not JSON: {e}", exp_path.display()));
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let all = lines(&bytes);
        let want = exp["lines"].as_array().unwrap_or_else(|| panic!("{file}: no `lines` array"));
        assert_eq!(all.len(), want.len(), "{file}: lines in the file vs. in its expectation");
        let format = detected(&all).unwrap_or_else(|| panic!("{file}: no format detected"));
        let want_format = exp["format"].as_str().unwrap_or_else(|| panic!("{file}: no `format`"));
        assert_eq!(format.to_string(), want_format, "{file}: detected format");
        let (ok, bad) = if format == Format::Hlog {
            check_hlog(&file, &all, want)
        } else {
            check_requests(&file, &format, &all, want)
        };
        // Each file holds readable lines and at least one line to reject.
        assert!(ok >= 3, "{file}: only {ok} lines read");
        assert!(bad >= 1, "{file}: no bad line to reject");
        checked_lines += all.len();
    }
    assert!(checked_lines >= 5 * REQUIRED.len(), "only {checked_lines} lines checked");
}
