//! The outputs read by `HdrHistogram`'s own tools (feature `hdr-tools`):
//! Java's `outputPercentileDistribution` and `HistogramLogProcessor` from
//! `/usr/share/java/hdrhistogram.jar` (Debian's libhdrhistogram-java), run
//! with `javac`/`java`, and Python's `hdrh`. A missing tool fails the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use tailstore::{Layout, Options, Store};
use tailstore_harness::{
    pieces_per_second, write_hgrm, write_hlog, ClosedLoop, HgrmOptions, Summary,
};

use crate::data::{latencies, Rng, T0_S};
use crate::hgrm::ours;

const JAR: &str = "/usr/share/java/hdrhistogram.jar";

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("{what} cannot be run ({e}): the hdr-tools tests need javac/java 17 and {JAR} (apt-get install libhdrhistogram-java)")
    });
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `tests/java/HgrmCheck.java` compiled into a fresh directory.
fn compile(dir: &Path) -> PathBuf {
    assert!(Path::new(JAR).exists(), "{JAR} is missing: apt-get install libhdrhistogram-java");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java/HgrmCheck.java");
    run(Command::new("javac").args(["-cp", JAR, "-d"]).arg(dir).arg(&src), "javac HgrmCheck.java");
    dir.to_path_buf()
}

/// Java's `outputPercentileDistribution` of `values` (as `value 1` lines).
fn java_hgrm(classes: &Path, layout: Layout, values: &[u64], ticks: u32, ratio: f64) -> String {
    let input = values.iter().fold(String::new(), |mut s, v| {
        s.push_str(&v.to_string());
        s.push_str(" 1\n");
        s
    });
    let input_path = classes.join("values.txt");
    std::fs::write(&input_path, input).unwrap();
    let cp = format!("{JAR}:{}", classes.display());
    run(
        Command::new("java")
            .args(["-cp", &cp, "HgrmCheck", "1"])
            .arg(layout.highest_ns().to_string())
            .arg(layout.digits().to_string())
            .arg(ticks.to_string())
            .arg(ratio.to_string())
            .stdin(Stdio::from(std::fs::File::open(&input_path).unwrap())),
        "java HgrmCheck",
    )
}

/// Random data sets, precisions, ticks and unit ratios: our `.hgrm` is
/// Java's, character for character.
#[test]
fn hgrm_equals_java_output_percentile_distribution() {
    let dir = tempfile::tempdir().unwrap();
    let classes = compile(dir.path());
    let mut r = Rng(0x5eed);
    let cases = [
        (3u8, 5u32, 1e6),
        (3, 5, 1e3),
        (2, 5, 1e6),
        (4, 5, 1e6),
        (1, 5, 1.0),
        (5, 3, 1e6),
        (3, 10, 1e9),
    ];
    for (k, (digits, ticks, ratio)) in cases.into_iter().enumerate() {
        let n = 1 + usize::try_from(r.next() % 20_000).unwrap();
        let mut values = latencies(r.next(), n);
        if k == 4 {
            // Few distinct values: many lines repeat one value.
            for v in &mut values {
                *v %= 5_000;
            }
        }
        let highest = if digits >= 4 { 100_000_000_000 } else { 3_600_000_000_000 };
        let layout = Layout::new(digits, 1, highest).unwrap();
        let opts = HgrmOptions { ticks_per_half_distance: ticks, value_unit_ratio: ratio };
        let got = ours(layout, &values, &opts);
        let java = java_hgrm(&classes, layout, &values, ticks, ratio);
        assert_eq!(
            got, java,
            "case {k}: {n} values, {digits} digits, {ticks} ticks, ratio {ratio}"
        );
    }
}

/// A store with a closed-loop run over 6 seconds: `NAME` (corrected) and
/// `NAME:uncorrected`.
fn run_store() -> Store {
    let store = Store::in_memory(Options::default());
    let c = ClosedLoop::new(&store, "/models/m/predict", Duration::from_millis(10));
    for (i, v) in latencies(7, 3_000).into_iter().enumerate() {
        let at = UNIX_EPOCH + Duration::from_millis(T0_S * 1000 + 2 * i as u64);
        c.record_at(at, Duration::from_nanos(v), 200);
    }
    store
}

/// Our hlog of both series, tagged with their names.
fn write_run_hlog(store: &Store, path: &Path) -> usize {
    let names = ["/models/m/predict", "/models/m/predict:uncorrected"];
    let all: Vec<_> =
        names.iter().map(|n| pieces_per_second(store, n, T0_S, T0_S + 10).unwrap()).collect();
    let mut out = Vec::new();
    let n = write_hlog(&mut out, &all, &store.layout(), true).unwrap();
    std::fs::write(path, out).unwrap();
    n
}

/// The percentile lines and the mean/max/count footer of an `.hgrm`:
/// `HistogramLogProcessor` heads its file with two lines of its own
/// (`#[Overall percentile distribution …]`, `#[StartTime: …]`), and its
/// `Buckets` line differs (it accumulates into an auto-resizing histogram,
/// whose bucket count follows its maximum).
fn body(hgrm: &str) -> Vec<&str> {
    hgrm.lines()
        .filter(|l| !["#[Buckets", "#[Overall", "#[StartTime"].iter().any(|p| l.starts_with(p)))
        .collect()
}

#[test]
fn histogram_log_processor_reads_our_hlog() {
    let store = run_store();
    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("run.hlog");
    assert_eq!(write_run_hlog(&store, &hlog), 12);
    let at = UNIX_EPOCH + Duration::from_secs(T0_S);
    let sum = Summary::query(&store, "/models/m/predict", at, at + Duration::from_secs(5)).unwrap();
    for (tag, stats) in [
        ("/models/m/predict", sum.corrected()),
        ("/models/m/predict:uncorrected", sum.uncorrected()),
    ] {
        let base = dir.path().join(if tag.ends_with("uncorrected") { "u" } else { "c" });
        run(
            Command::new("java")
                .args(["-cp", JAR, "org.HdrHistogram.HistogramLogProcessor", "-i"])
                .arg(&hlog)
                .arg("-o")
                .arg(&base)
                .args(["-tag", tag]),
            "java HistogramLogProcessor",
        );
        let theirs = std::fs::read_to_string(base.with_extension("hgrm")).unwrap();
        assert!(theirs.contains(&format!("#[StartTime: {T0_S}.000 ")), "{theirs}");
        let mut out = Vec::new();
        write_hgrm(&mut out, stats, &HgrmOptions::default()).unwrap();
        let ours = String::from_utf8(out).unwrap();
        assert_eq!(body(&ours), body(&theirs), "{tag}");
        assert!(body(&ours).len() > 20, "{tag}: {ours}");
    }
}

#[test]
fn python_hdrh_reads_our_hlog() {
    let store = run_store();
    let dir = tempfile::tempdir().unwrap();
    let hlog = dir.path().join("run.hlog");
    let n = write_run_hlog(&store, &hlog);
    // The reader the CLI's export test uses (one script for both).
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tailstore-cli/tests/hlog_read.py");
    let out = Command::new("python3").arg(&script).arg(&hlog).output().unwrap_or_else(|e| {
        panic!(
            "python3 cannot be run ({e}): this test needs python3 with `pip install hdrhistogram`"
        )
    });
    assert!(
        out.status.success(),
        "python3 {} failed (is `hdrhistogram` installed?): {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let at = UNIX_EPOCH + Duration::from_secs(T0_S);
    let sum = Summary::query(&store, "/models/m/predict", at, at + Duration::from_secs(5)).unwrap();
    let total = sum.corrected().latency_count() + sum.uncorrected().latency_count();
    assert!(text.contains(&format!("\"intervals\": {n},")), "{text}");
    assert!(text.contains(&format!("\"total\": {total},")), "{text}");
    assert!(text.contains("\"/models/m/predict:uncorrected\""), "{text}");
    assert!(text.contains(&format!("\"start_time_sec\": {T0_S}")), "{text}");
}
