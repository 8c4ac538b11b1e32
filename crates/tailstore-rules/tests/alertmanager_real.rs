//! The live evaluator against a real Alertmanager (Debian's
//! `prometheus-alertmanager`), started here on 127.0.0.1 with a free port,
//! a temporary storage directory and a minimal configuration, killed when
//! the test ends. Compiled only with the `real-alertmanager` feature, which
//! `.ci/run` turns on: there, a missing binary fails the test.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tailstore::{Options, Store};
use tailstore_rules::{AlertmanagerOptions, LiveEvaluator, LiveOptions, Rules};

use crate::live::{BURST_RULES, PATIENCE};

const BINARY: &str = "/usr/bin/prometheus-alertmanager";

const CONFIG: &str = "
route:
  receiver: blackhole
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: blackhole
";

/// A running Alertmanager; killed (and reaped) on drop.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Alertmanager {
        assert!(
            std::path::Path::new(BINARY).is_file(),
            "{BINARY} is missing: `apt-get install prometheus-alertmanager` (.ci/run does)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(&config, CONFIG).unwrap();
        let storage = dir.path().join("data");
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let child = Command::new(BINARY)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", storage.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // No cluster listener (it would bind every interface).
            .arg("--cluster.listen-address=")
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut am = Alertmanager { child, url, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = am.child.try_wait().unwrap() {
                panic!("alertmanager exited at start: {status}");
            }
            if ureq::get(&format!("{}/-/ready", am.url)).call().is_ok() {
                return am;
            }
            assert!(Instant::now() < deadline, "alertmanager not ready in 20 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The active alerts named `name` (`GET /api/v2/alerts`).
    fn active(&self, name: &str) -> Vec<Value> {
        let body = ureq::get(&format!("{}/api/v2/alerts", self.url))
            .config()
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let all: Value = serde_json::from_str(&body).unwrap();
        all.as_array()
            .unwrap()
            .iter()
            .filter(|a| a["labels"]["alertname"] == name && a["status"]["state"] == "active")
            .cloned()
            .collect()
    }

    /// Waits (bounded) until the active alerts named `name` are `n`.
    fn wait_active(&self, name: &str, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let a = self.active(name);
            if a.len() == n || Instant::now() > deadline {
                return a;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records an error burst with explicit times an hour ago; the live
/// evaluator's sender makes Alertmanager list the alert while it fires
/// (labels, annotations, `startsAt`) and not after it resolves.
#[test]
fn alertmanager_real_lists_the_alert_while_firing() {
    let am = Alertmanager::start();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    let t0 = now - 3600 - now % 60;
    let store = Store::in_memory(Options::default().keep_everything());
    let rules = Rules::from_yaml(BURST_RULES).unwrap();
    let opts = AlertmanagerOptions::new(am.url.clone())
        .resend_every(Duration::from_millis(500))
        .timeout(Duration::from_secs(5));
    let live =
        LiveEvaluator::start(&store, rules, LiveOptions::default().start_at(t0).alertmanager(opts))
            .unwrap();
    assert!(am.active("High Error Rate").is_empty());

    crate::live::record_minutes(&store, t0, 0..9);
    store.seal_now();
    assert!(live.wait_evaluated(t0 + 8 * 60, PATIENCE));
    let firing = am.wait_active("High Error Rate", 1);
    assert_eq!(firing.len(), 1, "not listed while firing: {firing:?}");
    let a = &firing[0];
    assert_eq!(a["labels"]["series"], "/models/a");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["annotations"]["summary"], "Error rate is 50.00% on /models/a");
    let starts = humantime::parse_rfc3339(a["startsAt"].as_str().unwrap()).unwrap();
    assert_eq!(starts, UNIX_EPOCH + Duration::from_secs(t0 + 8 * 60));
    // Re-sent while firing: still listed a few resends later.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(am.active("High Error Rate").len(), 1);

    crate::live::record_minutes(&store, t0, 9..12);
    store.seal_now();
    assert!(live.wait_evaluated(t0 + 11 * 60, PATIENCE));
    let after = am.wait_active("High Error Rate", 0);
    assert!(after.is_empty(), "still active after resolving: {after:?}");
    let s = live.stats();
    assert!(s.alertmanager_sent >= 2, "{s:?}");
    assert_eq!((s.alertmanager_failed, s.alertmanager_dropped), (0, 0), "{s:?}");
}
