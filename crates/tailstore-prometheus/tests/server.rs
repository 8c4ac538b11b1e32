//! The `/metrics` server on 127.0.0.1: negotiation, errors, token, stop.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tailstore_prometheus::{serve, serve_with, Exposition, Names, ServerOptions};

use crate::util::store;

/// Sends `request` as is and returns the whole answer (the server closes).
fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn get(addr: SocketAddr, path: &str, headers: &str) -> (String, String) {
    let r = raw(addr, &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{headers}\r\n"));
    let (head, body) = r.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

#[test]
fn metrics_negotiates_text_and_openmetrics() {
    let store = store();
    let server = serve(store.clone(), "127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    let (head, text) = get(addr, "/metrics", "");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}", text.len())), "{head}");
    assert!(
        text.contains(
            "tailstore_requests_total{series=\"/models/churn/predict\",status=\"503\"} 12\n"
        ),
        "{text}"
    );
    assert!(text.contains("series=\"/models/\\\"odd\\\"\\\\name\\n\""), "{text}");
    assert!(!text.contains("# EOF"));
    let accept =
        "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
    let (head, om) = get(addr, "/metrics?x=1", accept);
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8"),
        "{head}"
    );
    assert!(om.ends_with("# EOF\n"));
    assert!(om.contains(
        "tailstore_request_duration_seconds_created{series=\"/models/churn/predict\"} 1764547200\n"
    ));
    // The same bytes as the encoder writes.
    let mut direct = Vec::new();
    Exposition::new(Names::tailstore())
        .encode(&store, tailstore_prometheus::Format::openmetrics(), &mut direct)
        .unwrap();
    assert_eq!(om.as_bytes(), direct);
    let head = raw(addr, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK") && head.ends_with("\r\n\r\n"), "{head}");
    assert!(server.requests_served() >= 2);
}

#[test]
fn metrics_negotiates_protobuf_with_native_histograms() {
    let store = store();
    let server = serve(store.clone(), "127.0.0.1:0").unwrap();
    let addr = server.local_addr();
    // Prometheus' scrape header with native histograms on.
    let accept = "Accept: application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                  encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n";
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{accept}\r\n").as_bytes()).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    let body = &answer[split + 4..];
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains(
            "Content-Type: application/vnd.google.protobuf; \
             proto=io.prometheus.client.MetricFamily; encoding=delimited"
        ),
        "{head}"
    );
    // The same bytes as the encoder writes: length-delimited families, the
    // first named after the histogram.
    let mut direct = Vec::new();
    Exposition::new(Names::tailstore())
        .encode(&store, tailstore_prometheus::Format::protobuf(), &mut direct)
        .unwrap();
    assert_eq!(body, direct.as_slice());
    let name = b"tailstore_request_duration_seconds";
    // Length prefix (2 bytes: > 127), then field 1 (tag 0x0a), name's length.
    assert_eq!(&body[2..4], &[0x0a, 34]);
    assert_eq!(&body[4..4 + name.len()], name);
    server.stop();
}

#[test]
fn bad_requests_get_clear_statuses_and_the_server_keeps_serving() {
    let server = serve_with(
        store(),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::ingress_nginx()))
            .auth_token(Some("s3cret".into()))
            .io_timeout(Duration::from_millis(500)),
    )
    .unwrap();
    let addr = server.local_addr();
    let auth = "Authorization: Bearer s3cret\r\n";
    assert!(get(addr, "/nope", auth).0.starts_with("HTTP/1.1 404"));
    assert!(raw(addr, "POST /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(raw(addr, "GET\r\n\r\n").starts_with("HTTP/1.1 400"));
    assert!(raw(addr, "GET /metrics SPDY/3\r\n\r\n").starts_with("HTTP/1.1 505"));
    let (head, _) = get(addr, "/metrics", "");
    assert!(
        head.starts_with("HTTP/1.1 401") && head.contains("WWW-Authenticate: Bearer"),
        "{head}"
    );
    assert!(get(addr, "/metrics", "Authorization: Bearer s3cre\r\n").0.starts_with("HTTP/1.1 401"));
    assert!(get(addr, "/metrics", "Authorization: Basic s3cret\r\n").0.starts_with("HTTP/1.1 401"));
    // A header line in the body is not a header.
    let smuggled =
        "GET /metrics HTTP/1.1\r\nContent-Length: 30\r\n\r\nAuthorization: Bearer s3cret\r\n";
    assert!(raw(addr, smuggled).starts_with("HTTP/1.1 401"));
    let huge = format!("GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(10_000));
    assert!(raw(addr, &huge).starts_with("HTTP/1.1 431"));
    // A client that sends half a request is cut off at the timeout.
    let t = Instant::now();
    assert!(raw(addr, "GET /metrics HTTP/1.1\r\n").starts_with("HTTP/1.1 408"));
    assert!(t.elapsed() < Duration::from_secs(5));
    let (head, body) = get(addr, "/metrics", "authorization: bearer s3cret\r\n");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains(
        "nginx_ingress_controller_requests{path=\"/models/fraud-v2/predict\",status=\"200\"} 582\n"
    ));
}

/// Drop returns promptly, even with an idle connection open, and the port
/// is closed afterwards.
#[test]
fn drop_stops_the_server() {
    let server = serve_with(
        store(),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::tailstore())).io_timeout(Duration::from_secs(1)),
    )
    .unwrap();
    let addr = server.local_addr();
    let _idle = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    drop(server);
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err());
}

/// A reader served with `serve_reopening` follows a writer of the same
/// directory: what the writer flushes shows in the next scrape after
/// `max_age`, and a directory that disappears answers 500 without
/// stopping the server.
#[test]
fn a_reopening_server_follows_the_writer() {
    use std::time::UNIX_EPOCH;
    use tailstore::{Options, Store};
    use tailstore_prometheus::serve_reopening;

    let dir = tempfile::tempdir().unwrap();
    let st = dir.path().join("st");
    let writer = Store::open(&st, Options::default().keep_everything()).unwrap();
    let s = writer.series("/m");
    let t0 = crate::util::T0;
    let record = |from: u64, n: u64| {
        for i in from..from + n {
            let at = UNIX_EPOCH + Duration::from_secs(t0 + i);
            s.record_at(at, Duration::from_millis(5 + i % 20), 200);
        }
        writer.flush().unwrap();
    };
    record(0, 100);
    let path = st.clone();
    let server = serve_reopening(
        move || Store::open_read_only(&path, Options::default().keep_everything()),
        Duration::from_millis(50),
        "127.0.0.1:0",
        ServerOptions::new(Exposition::new(Names::tailstore())),
    )
    .unwrap();
    let addr = server.local_addr();
    let total = |body: &str| -> Option<u64> {
        body.lines()
            .find_map(|l| l.strip_prefix("tailstore_requests_total{series=\"/m\",status=\"200\"} "))
            .map(|v| v.parse().unwrap())
    };
    assert_eq!(total(&get(addr, "/metrics", "").1), Some(100));
    record(100, 50);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(total(&get(addr, "/metrics", "").1), Some(150));
    drop(writer);
    std::fs::remove_dir_all(&st).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let (head, body) = get(addr, "/metrics", "");
    assert!(head.starts_with("HTTP/1.1 500"), "{head}\n{body}");
    assert!(body.contains("reading the store: "), "{body}");
    std::fs::create_dir(&st).unwrap();
    let (head, body) = get(addr, "/metrics", "");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\n{body}");
}
