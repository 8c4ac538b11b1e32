//! The report in a real browser: Debian's headless `chromium` loads a
//! generated page and must find no console message and no script error,
//! fetch nothing from any network, run the page's script, parse the table
//! the way the library wrote it (hostile series names stay text), and paint
//! a screenshot that is not blank.
//!
//! Ignored by `cargo test --workspace` (a bare clone has no browser);
//! `.ci/run` installs `chromium` and runs this file with `--ignored`. A
//! missing browser fails the test: it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use tailstore::format::fmt_ms_full;
use tailstore::{Options, Selector, Store};
use tailstore_report::Report;

const T0: u64 = 1_764_547_200; // 2025-12-01T00:00:00Z
const NAMES: [&str; 4] = [
    "/models/fraud-v2/predict",
    "<img src=x onerror=alert(1)>",
    "/q\"uote's&amp;",
    "/ctl\u{1b}[31m\u{7}",
];

/// Two hours of traffic on four series (so the page has a "Last 1 h"
/// preset), an error burst and a slow spell on the first.
fn store() -> Store {
    let store = Store::in_memory(Options::default().keep_everything());
    // The process gauges the sampler writes: CPU and a growing memory.
    let (cpu, mem) =
        (store.gauge("process_cpu_percent"), store.gauge("process_resident_memory_bytes"));
    for i in 0..7200u64 {
        #[expect(clippy::cast_precision_loss, reason = "small numbers")]
        let (c, m) = (35.0 + (i % 40) as f64, 600.0e6 + i as f64 * 15_000.0);
        cpu.set_at_unix(T0 + i, c);
        mem.set_at_unix(T0 + i, m);
    }
    for (k, name) in NAMES.iter().enumerate() {
        let s = store.series(name);
        for i in 0..7200u64 {
            let at = UNIX_EPOCH + Duration::from_secs(T0 + i);
            let burst = k == 0 && (3000..3600).contains(&i);
            for j in 0..3u64 {
                let base = if burst { 400 } else { 20 + 30 * k as u64 };
                let ms = base + (i * 31 + j * 17) % (base + 1);
                let status = if burst && j == 0 {
                    503
                } else if (i + j) % 97 == 0 {
                    404
                } else {
                    200
                };
                s.record_at(at, Duration::from_millis(ms), status);
            }
        }
    }
    store
}

fn chromium() -> PathBuf {
    let bin = std::env::var_os("CHROMIUM").map_or_else(|| PathBuf::from("chromium"), PathBuf::from);
    let ok = Command::new(&bin).arg("--version").output().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{}: not found or not working; install Debian's chromium (apt-get install -y chromium), \
         or set CHROMIUM to the binary",
        bin.display()
    );
    bin
}

/// Runs headless chromium on `page` with `args`, bounded in time; returns
/// (stdout, stderr).
fn run(bin: &Path, profile: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new("timeout")
        .arg("120")
        .arg(bin)
        .args(["--headless", "--disable-gpu", "--no-sandbox", "--no-first-run"])
        .args(["--enable-logging=stderr", "--v=0"])
        // Any name lookup fails, so a request to any host would show up as
        // a console error ("Failed to load resource") besides the static
        // check below.
        .arg("--host-resolver-rules=MAP * ~NOTFOUND")
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Console messages and page errors in chromium's log.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("net::ERR_"))
        .collect()
}

#[test]
#[ignore = "needs Debian's chromium; .ci/run installs it and runs this with --ignored"]
fn report_loads_in_headless_chromium() {
    let bin = chromium();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let store = store();
    let mut html = Vec::new();
    let rules = tailstore_rules::Rules::from_yaml(include_str!(
        "../../../examples/rules/model-endpoints.yaml"
    ))
    .unwrap();
    let summary = Report::new(Selector::all())
        .rules(rules, "model-endpoints.yaml")
        .render(&store, &mut html)
        .unwrap();
    assert_eq!(summary.views.len(), 2, "whole range and the last hour");
    std::fs::write(&page, &html).unwrap();
    let html = String::from_utf8(html).unwrap();

    // No network address anywhere a browser would fetch from: every src
    // and href is a fragment of the page itself.
    for attr in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attr) {
            let v = &html[at + attr.len()..];
            assert!(v.starts_with('#'), "{attr}{}", &v[..v.find('"').unwrap_or(v.len())]);
        }
    }
    assert!(!html.contains("http://") && !html.contains("https://") && !html.contains("url("));

    // The DOM after load: the script ran, no error was caught, no console
    // message was written.
    let profile = dir.path().join("profile");
    let (dom, log) = run(&bin, &profile, &page, &["--virtual-time-budget=3000", "--dump-dom"]);
    assert!(dom.contains("data-ready=\"1\""), "the page's script did not run:\n{log}");
    let err = dom.find("data-error=").map(|at| &dom[at..(at + 200).min(dom.len())]);
    assert_eq!(err, None, "the page caught a script error");
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console output");
    // The browser parsed the hostile names as text: one script element,
    // no injected image, one table row per series in each view, and each
    // row's P99 is the query's.
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(!dom.contains("<img"));
    assert_eq!(dom.matches("<tr data-series=").count(), NAMES.len() * summary.views.len());
    // The gauge panels and the alert section, in each view; the error
    // burst fired the guide's error-rate alert.
    for caption in ["CPU usage (%)", "Memory (MiB)", "Alert timeline"] {
        assert_eq!(
            dom.matches(&format!("<figcaption>{caption}</figcaption>")).count(),
            summary.views.len(),
            "{caption}"
        );
    }
    assert!(dom.contains(r#"<tr class="fired"><td>High Error Rate</td>"#));
    assert_eq!(dom.matches("<tr data-slo=").count(), 3 * summary.views.len(), "three SLOs");
    for name in NAMES {
        let v = &summary.views[0];
        let w = store
            .query(Selector::exact(name))
            .between(
                UNIX_EPOCH + Duration::from_secs(v.start_s),
                UNIX_EPOCH + Duration::from_secs(v.end_s),
            )
            .run()
            .unwrap();
        let p99 = fmt_ms_full(w.quantile(0.99).unwrap());
        assert!(dom.contains(&format!("data-p99-ms=\"{p99}\"")), "{name:?}: P99 {p99}");
    }

    // A link to the last-hour view opens it: the script switched the views.
    let (dom, log) = run(
        &bin,
        &profile,
        Path::new(&format!("{}#v1", page.display())),
        &["--virtual-time-budget=3000", "--dump-dom"],
    );
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console output");
    let tag = |id: &str| {
        let at = dom.find(&format!(r#"<section class="view" id="{id}""#)).expect("the view");
        dom[at..at + dom[at..].find('>').unwrap()].to_owned()
    };
    assert!(tag("v0").contains(" hidden"), "{}", tag("v0"));
    assert!(!tag("v1").contains(" hidden"), "{}", tag("v1"));
    assert!(dom.contains(r#"<button type="button" data-view="v1" class="on">"#));

    // A screenshot that is not blank: mostly painted, in many colours.
    let shot = dir.path().join("shot.png");
    let (_, log) = run(
        &bin,
        &profile,
        &page,
        &[
            "--hide-scrollbars",
            "--window-size=1280,1600",
            &format!("--screenshot={}", shot.display()),
        ],
    );
    assert_eq!(console_lines(&log), Vec::<&str>::new(), "console output");
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 1600));
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let px = &buf[..info.buffer_size()];
    let mut non_white = 0usize;
    let mut colours = std::collections::HashSet::new();
    for p in px.chunks_exact(channels) {
        if p[..3].iter().any(|c| *c < 235) {
            non_white += 1;
        }
        colours.insert((p[0] >> 3, p[1] >> 3, p[2] >> 3));
    }
    let total = (info.width * info.height) as usize;
    assert!(non_white * 10 > total, "{non_white} of {total} pixels are not white");
    assert!(colours.len() >= 20, "{} colours: a blank or failed paint", colours.len());
}
