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
    for names in [Names::tailstore(), Names::ingress_nginx()] {
        let mut text = Vec::new();
        Exposition::new(names).encode(&store, Format::text(), &mut text).unwrap();
        let (ok, msg) = check(&text);
        assert!(ok, "{}: {msg}\n{}", names.name(), String::from_utf8_lossy(&text));
        // Lint findings are printed even on success; there must be none.
        assert!(msg.trim().is_empty(), "{}: {msg}", names.name());
    }
}
