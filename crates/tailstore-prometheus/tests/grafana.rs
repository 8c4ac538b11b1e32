//! The Grafana dashboards against their golden files (`tests/golden/`):
//! any change to a panel, query or position shows in review. Regenerate
//! with `TAILSTORE_UPDATE_GOLDEN=1 cargo test -p tailstore-prometheus --test
//! tests grafana` after checking the change.

use tailstore_prometheus::grafana::{dashboard, DashboardOptions};
use tailstore_prometheus::Names;

#[test]
fn dashboards_match_their_golden_files() {
    for (names, file) in [
        (Names::ingress_nginx(), "grafana-ingress-nginx.json"),
        (Names::tailstore(), "grafana-tailstore.json"),
    ] {
        let got = format!(
            "{:#}\n",
            dashboard(&DashboardOptions { names, ..DashboardOptions::default() })
        );
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(file);
        if std::env::var_os("TAILSTORE_UPDATE_GOLDEN").is_some() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (TAILSTORE_UPDATE_GOLDEN=1 writes it)", path.display())
        });
        // Compared as JSON values: the text's key order follows serde_json's
        // features in the build (`preserve_order`).
        let v: serde_json::Value = serde_json::from_str(&want).unwrap();
        let g: serde_json::Value = serde_json::from_str(&got).unwrap();
        assert!(g == v, "{file} differs from the generated dashboard; regenerate it if intended");
        assert!(v["panels"].as_array().is_some_and(|p| p.len() == 9));
        assert!(v["templating"]["list"].is_array());
    }
}
