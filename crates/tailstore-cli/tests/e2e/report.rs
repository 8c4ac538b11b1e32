//! `tailstore report` and `replay --report`: the page's table agrees with
//! `query --json` for the same window and series.

use std::path::Path;

use super::{json_of, run};

/// Every `<tr data-series="…">` row: (name as written, its `data-p99-ms`).
fn table_rows(page: &str) -> Vec<(String, String)> {
    let table = &page[..page.find("</table>").expect("a table")];
    let attr = |row: &str, key: &str| -> String {
        let at = row.find(key).unwrap_or_else(|| panic!("{key} in {row}")) + key.len();
        row[at..row[at..].find('"').map_or(row.len(), |e| at + e)].to_owned()
    };
    table
        .split("<tr data-series=\"")
        .skip(1)
        .map(|row| (row[..row.find('"').unwrap()].to_owned(), attr(row, "data-p99-ms=\"")))
        .collect()
}

fn attr_u64(page: &str, key: &str) -> u64 {
    let at = page.find(key).unwrap_or_else(|| panic!("{key}")) + key.len();
    page[at..at + page[at..].find('"').unwrap()].parse().unwrap()
}

#[test]
fn report_table_p99_equals_query_json() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let st = st.to_str().unwrap();
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    let from_replay = dir.path().join("replay.html");
    let out = run(&[
        "replay",
        "--store",
        st,
        "--report",
        from_replay.to_str().unwrap(),
        log.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("report: ") && stdout.contains("step 5 s"), "{stdout}");

    // The same page from the store, and one of a regex and a range.
    let page_path = dir.path().join("report.html");
    let out = run(&["report", "--store", st, "--out", page_path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert_eq!(page, std::fs::read_to_string(&from_replay).unwrap(), "replay --report = report");

    let (start, end) = (attr_u64(&page, "data-start=\""), attr_u64(&page, "data-end=\""));
    assert_eq!(end - start, 600);
    let rows = table_rows(&page);
    assert_eq!(rows.len(), 5, "{rows:?}");
    for (name, p99) in &rows {
        let v = json_of(&run(&[
            "query",
            "--store",
            st,
            "--series",
            name,
            "--start",
            &start.to_string(),
            "--end",
            &end.to_string(),
            "--json",
        ]));
        assert_eq!(p99, &v["quantiles_ms"]["p99"].to_string(), "{name}");
        assert!(page.contains(&format!(r##"<tr data-series="{name}"><td><a href="#v0-e"##)));
    }

    let part = dir.path().join("part.html");
    let out = run(&[
        "report",
        "--store",
        st,
        "--match",
        "/models/fraud-.*",
        "--start",
        &(start + 120).to_string(),
        "--end",
        &(start + 420).to_string(),
        "--out",
        part.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let part = std::fs::read_to_string(&part).unwrap();
    let rows = table_rows(&part);
    assert_eq!(rows.len(), 2, "{rows:?}");
    for (name, p99) in &rows {
        let v = json_of(&run(&[
            "query",
            "--store",
            st,
            "--series",
            name,
            "--start",
            &(start + 120).to_string(),
            "--end",
            &(start + 420).to_string(),
            "--json",
        ]));
        assert_eq!(p99, &v["quantiles_ms"]["p99"].to_string(), "{name}");
    }
}

#[test]
fn report_mistakes_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let st_s = st.to_str().unwrap();
    let log =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/model-traffic.log.gz");
    // Without --store the replay is in memory and the report is still written.
    let mem = dir.path().join("mem.html");
    let out = run(&["replay", "--json", "--report", mem.to_str().unwrap(), log.to_str().unwrap()]);
    let v = json_of(&out);
    assert_eq!(v["ingested"], 18038);
    assert!(String::from_utf8_lossy(&out.stderr).contains("report: "));
    assert!(std::fs::read_to_string(&mem).unwrap().contains("/models/recsys-v7/predict"));
    assert!(!dir.path().join("mem.html.tmp").exists());
    // A report into a missing directory fails before anything is replayed.
    let out =
        run(&["replay", "--store", st_s, "--report", "/nonexistent/r.html", log.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent"));
    assert!(!st.exists(), "nothing replayed");
    json_of(&run(&["replay", "--store", st_s, "--json", log.to_str().unwrap()]));
    for (args, want) in [
        (vec!["--match", "/nothing.*"], "no series"),
        (vec!["--start", "1764547200", "--end", "1764547200"], "is not after"),
        (vec!["--out", st.join("r.html").to_str().unwrap()], "inside the store"),
    ] {
        let out_file = dir.path().join("x.html");
        let mut all = vec!["report", "--store", st_s];
        all.extend(&args);
        if !args.contains(&"--out") {
            all.extend(["--out", out_file.to_str().unwrap()]);
        }
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(want),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out_file.exists());
    }
}
