//! The Prometheus HTTP API of the server on 127.0.0.1: GET and form POST,
//! the token, limits and bad input (clear errors, and it keeps serving).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, UNIX_EPOCH};

use serde_json::Value;
use tailstore::Selector;
use tailstore_prometheus::{serve_with, Exposition, Names, ServerOptions};

use crate::util::{store, T0};

fn raw(addr: SocketAddr, request: &[u8]) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

fn get(addr: SocketAddr, target: &str, auth: &str) -> (String, Value) {
    let (head, body) =
        raw(addr, format!("GET {target} HTTP/1.1\r\nHost: x\r\n{auth}\r\n").as_bytes());
    let v = serde_json::from_str(&body).unwrap_or(Value::Null);
    (head, v)
}

fn post(addr: SocketAddr, path: &str, form: &str, auth: &str) -> (String, Value) {
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{form}",
        form.len()
    );
    let (head, body) = raw(addr, req.as_bytes());
    (head, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// `application/x-www-form-urlencoded` of one value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn the_api_answers_get_and_post_behind_the_token() {
    let st = store();
    let server = serve_with(
        st.clone(),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::ingress_nginx()))
            .auth_token(Some("s3cret".into()))
            .io_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let addr = server.local_addr();
    let auth = "Authorization: Bearer s3cret\r\n";
    let p99 = "histogram_quantile(0.99, sum(rate(nginx_ingress_controller_request_duration_seconds_bucket{path=~\"/models/.*\"}[5m])) by (le))";
    let t = T0 + 600;
    let want = st
        .query(Selector::regex("/models/.*").unwrap())
        .last(Duration::from_secs(300))
        .ending_at(UNIX_EPOCH + Duration::from_secs(t))
        .run()
        .unwrap()
        .quantile(0.99)
        .unwrap()
        .as_secs_f64();
    let (head, v) = get(addr, &format!("/api/v1/query?query={}&time={t}", enc(p99)), auth);
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("application/json"), "{head}");
    assert_eq!(v["status"], "success");
    assert_eq!(v["data"]["result"][0]["value"][0], serde_json::json!(t));
    let got: f64 = v["data"]["result"][0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
    // POST form (Grafana's and promtool's default), range query.
    let form = format!("query={}&start={}&end={}&step=60", enc(p99), T0 + 300, T0 + 600);
    let (head, v) = post(addr, "/api/v1/query_range", &form, auth);
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {v}");
    assert_eq!(v["data"]["resultType"], "matrix");
    assert_eq!(v["data"]["result"][0]["values"].as_array().unwrap().len(), 6);
    // The metadata endpoints.
    let (_, v) = get(addr, "/api/v1/label/path/values", auth);
    assert_eq!(v["data"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = get(addr, "/api/v1/labels", auth);
    assert_eq!(v["data"], serde_json::json!(["__name__", "le", "path", "status"]));
    let (_, v) = get(
        addr,
        &format!(
            "/api/v1/series?match[]={}",
            enc("nginx_ingress_controller_requests{status=\"404\"}")
        ),
        auth,
    );
    assert_eq!(v["data"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = get(addr, "/api/v1/status/buildinfo", auth);
    assert!(v["data"]["version"].is_string());
    // The token applies to the API.
    let (head, _) = get(addr, "/api/v1/query?query=1", "");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, _) = get(addr, "/api/v1/query?query=1", "Authorization: Bearer wrong!\r\n");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // Bad input: Prometheus's error shape, and the server keeps serving.
    for (target, status, says) in [
        ("/api/v1/query?query=sum(", "400", "parse error"),
        ("/api/v1/query?query=holt_winters(x[5m],0.1,0.1)", "400", "holt_winters"),
        ("/api/v1/query?query=quantile_over_time(0.5,x[5m])", "400", "quantile_over_time"),
        ("/api/v1/query_range?query=1&start=0&end=100000000&step=1", "400", "11,000 points"),
        ("/api/v1/query_range?query=1&start=0&end=10&step=0.0001", "400", "11,000 points"),
        ("/api/v1/query_range?query=1&start=0&end=10&step=0", "400", "positive"),
        ("/api/v1/query?query=1&time=1e300", "400", "timestamp"),
        ("/api/v1/query?query=%ff%fe", "400", "parse error"),
        ("/api/v1/alerts", "404", "not served"),
    ] {
        let (head, v) = get(addr, target, auth);
        assert!(head.starts_with(&format!("HTTP/1.1 {status}")), "{target}: {head}");
        assert_eq!(v["status"], "error", "{target}");
        assert!(v["error"].as_str().unwrap().contains(says), "{target}: {v}");
        if status == "400" {
            assert_eq!(v["errorType"], "bad_data");
        }
    }
    // A deeply nested query: refused before it is parsed, and still serving.
    let deep = format!("query={}", "(".repeat(10_000));
    let (head, v) = post(addr, "/api/v1/query", &deep, auth);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(v["error"].as_str().unwrap().contains("brackets deep"), "{v}");
    // Bodies: too large, not a form, methods.
    let big = format!("query={}", "1".repeat(70_000));
    let (head, v) = post(addr, "/api/v1/query", &big, auth);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(v["error"].as_str().unwrap().contains("64 KiB"));
    let req = format!("POST /api/v1/query HTTP/1.1\r\n{auth}Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}");
    assert!(raw(addr, req.as_bytes()).0.starts_with("HTTP/1.1 400"));
    let req = format!("POST /api/v1/query HTTP/1.1\r\n{auth}\r\n");
    assert!(raw(addr, req.as_bytes()).0.starts_with("HTTP/1.1 411"));
    let req = format!("DELETE /api/v1/series HTTP/1.1\r\n{auth}\r\n");
    assert!(raw(addr, req.as_bytes()).0.starts_with("HTTP/1.1 405"));
    // A body that never comes is cut off at the timeout.
    let req = format!("POST /api/v1/query HTTP/1.1\r\n{auth}Content-Length: 100\r\n\r\nquery=");
    assert!(raw(addr, req.as_bytes()).0.starts_with("HTTP/1.1 408"));
    let (head, v) = post(addr, "/api/v1/query", "query=1%2B1", auth);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        v["data"],
        serde_json::json!({"resultType": "scalar", "result": [v["data"]["result"][0].clone(), "2"]})
    );
}
