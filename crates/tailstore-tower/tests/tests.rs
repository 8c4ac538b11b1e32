//! Behaviour of the layer: series names, statuses, streamed bodies, client
//! drops, body errors, the cap, concurrency; in process through
//! `tower::ServiceExt::oneshot`, and through a real hyper server on
//! 127.0.0.1 where the client's socket matters.

#[cfg(feature = "wrk")]
mod wrk;

use std::borrow::Cow;
use std::convert::Infallible;
use std::future::{Future, IntoFuture};
use std::io::{Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Path;
use axum::http::{Request, Response, StatusCode};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tailstore::{Options, Selector, Store, WindowStats, OVERFLOW_SERIES};
use tailstore_tower::{
    LayerStats, TailstoreLayer, STATUS_CLIENT_CLOSED, STATUS_SERVER_ERROR, TTFB_PREFIX,
    UNMATCHED_SERIES,
};
use tower::{service_fn, Layer, ServiceExt};

/// A streamed body: `frames` frames of a token each, `delay` apart (the
/// first one too), failing instead of sending frame `fail_at`. No exact
/// length, so it is sent chunked.
struct Tokens {
    frames: u32,
    sent: u32,
    fail_at: Option<u32>,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Tokens {
    fn new(frames: u32, delay: Duration, fail_at: Option<u32>) -> Tokens {
        Tokens { frames, sent: 0, fail_at, delay, sleep: None }
    }
}

impl http_body::Body for Tokens {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.sent == self.frames {
            return Poll::Ready(None);
        }
        let delay = self.delay;
        let sleep = self.sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        if sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.sleep = None;
        if self.fail_at == Some(self.sent) {
            self.sent = self.frames;
            return Poll::Ready(Some(Err(std::io::Error::other("the model crashed"))));
        }
        self.sent += 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"token ")))))
    }
}

fn routes() -> Router {
    Router::new()
        .route("/models/{name}/predict", get(|| async { "ok" }).post(|| async { "ok" }))
        .route(
            "/status/{code}",
            get(|Path(code): Path<u16>| async move {
                StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
            }),
        )
        .route(
            "/stream/{frames}",
            get(|Path(frames): Path<u32>| async move {
                Body::new(Tokens::new(frames, Duration::from_millis(20), None))
            }),
        )
        .route(
            "/fail",
            get(|| async { Body::new(Tokens::new(3, Duration::from_millis(5), Some(2))) }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
}

fn app(store: &Store) -> Router {
    routes().layer(TailstoreLayer::new(store))
}

fn req(method: &str, uri: &str) -> Request<Body> {
    Request::builder().method(method).uri(uri).body(Body::empty()).unwrap()
}

/// Sends one request through `app` and reads its whole body.
async fn send(app: &Router, method: &str, uri: &str) -> StatusCode {
    let resp = app.clone().oneshot(req(method, uri)).await.unwrap();
    let status = resp.status();
    resp.into_body().collect().await.unwrap();
    status
}

fn stats(store: &Store, name: &str) -> WindowStats {
    store.query(Selector::exact(name)).last(Duration::from_secs(3600)).run().unwrap()
}

fn statuses(store: &Store, name: &str) -> Vec<(u16, u64)> {
    stats(store, name).status_counts().iter().collect()
}

#[tokio::test]
async fn status_is_recorded_per_request() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    for code in [200, 201, 404, 503, 503] {
        assert_eq!(send(&app, "GET", &format!("/status/{code}")).await.as_u16(), code);
    }
    assert_eq!(statuses(&store, "/status/{code}"), [(200, 1), (201, 1), (404, 1), (503, 2)]);
    let w = stats(&store, "/status/{code}");
    assert_eq!((w.count(), w.errors()), (5, 3));
}

#[tokio::test]
async fn the_route_template_names_the_series() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    for model in ["bert", "gpt-2", "fraud-v2"] {
        send(&app, "GET", &format!("/models/{model}/predict")).await;
        send(&app, "POST", &format!("/models/{model}/predict?x=1")).await;
    }
    assert_eq!(store.series_names(), ["/models/{name}/predict"]);
    assert_eq!(statuses(&store, "/models/{name}/predict"), [(200, 6)]);
}

#[tokio::test]
async fn method_prefix_names_series_by_method_and_template() {
    let store = Store::in_memory(Options::default());
    let app = routes().layer(TailstoreLayer::new(&store).method_prefix(true));
    send(&app, "GET", "/models/a/predict").await;
    send(&app, "POST", "/models/b/predict").await;
    send(&app, "POST", "/models/c/predict").await;
    send(&app, "GET", "/nope").await;
    assert_eq!(stats(&store, "GET /models/{name}/predict").count(), 1);
    assert_eq!(stats(&store, "POST /models/{name}/predict").count(), 2);
    assert_eq!(statuses(&store, "GET unmatched"), [(404, 1)]);
}

/// A scanner's paths: every one a 404 into `unmatched`, none a series.
#[tokio::test]
async fn raw_paths_never_become_series() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    for i in 0..300 {
        let path = match i % 3 {
            0 => format!("/wp-admin/{i}.php"),
            1 => format!("/.env.{i}"),
            _ => format!("/models/{i}"),
        };
        assert_eq!(send(&app, "GET", &path).await, StatusCode::NOT_FOUND);
    }
    assert_eq!(store.series_names(), [UNMATCHED_SERIES]);
    assert_eq!(statuses(&store, UNMATCHED_SERIES), [(404, 300)]);
}

/// Outside a router there is no `MatchedPath`: the name function names
/// the series, capped; past the cap requests go to the overflow series,
/// and every request is counted exactly once.
#[tokio::test]
async fn the_cap_sends_new_names_to_the_overflow_series() {
    let store = Store::in_memory(Options::default());
    let layer = TailstoreLayer::new(&store).max_routes(5).name_with(|parts| {
        let tenant = parts.headers.get("x-tenant")?.to_str().ok()?;
        Some(Cow::Owned(format!("/tenant/{tenant}")))
    });
    let svc = layer.layer(service_fn(|_req: Request<Body>| async {
        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
    }));
    for _ in 0..2 {
        for t in 0..20 {
            let mut r = req("GET", "/anything");
            if t < 19 {
                r.headers_mut().insert("x-tenant", t.to_string().parse().unwrap());
            }
            let resp = svc.clone().oneshot(r).await.unwrap();
            resp.into_body().collect().await.unwrap();
        }
    }
    // 5 tenants with a series, 14 in the overflow series, 1 unnamed.
    let LayerStats { routes, overflowed, .. } = layer.stats();
    assert_eq!((routes, overflowed), (5, 28));
    for t in 0..5 {
        assert_eq!(stats(&store, &format!("/tenant/{t}")).count(), 2);
    }
    assert!(!store.has_series("/tenant/5"));
    assert_eq!(stats(&store, OVERFLOW_SERIES).count(), 28);
    assert_eq!(stats(&store, UNMATCHED_SERIES).count(), 2);
    let all = store.query(Selector::all()).last(Duration::from_secs(3600)).run().unwrap();
    assert_eq!(all.count(), 40);
}

/// A streamed body: the head into `ttfb:…`, the whole response (after
/// its last frame) into the route's series; total >= time to head.
#[tokio::test]
async fn a_streamed_body_records_head_and_total() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    let t0 = Instant::now();
    let resp = app.clone().oneshot(req("GET", "/stream/4")).await.unwrap();
    let head = t0.elapsed();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let whole = t0.elapsed();
    assert_eq!(&body[..], b"token token token token ");
    let ttfb = stats(&store, &format!("{TTFB_PREFIX}/stream/{{frames}}"));
    let total = stats(&store, "/stream/{frames}");
    assert_eq!((ttfb.count(), total.count()), (1, 1));
    assert_eq!(statuses(&store, "/stream/{frames}"), [(200, 1)]);
    let (ttfb, total) = (ttfb.max().unwrap(), total.max().unwrap());
    // 4 frames 20 ms apart are taken after the head.
    assert!(total >= ttfb + Duration::from_millis(75), "{ttfb:?} {total:?}");
    assert!(ttfb <= head + Duration::from_millis(1), "{ttfb:?} {head:?}");
    assert!(total >= Duration::from_millis(80) && total <= whole, "{total:?} {whole:?}");
    // A whole body (exact length) has no ttfb series.
    send(&app, "GET", "/models/m/predict").await;
    assert!(!store.has_series(&format!("{TTFB_PREFIX}/models/{{name}}/predict")));
}

/// The client goes away while the handler runs: the dropped future
/// records 499 with the time until the drop.
#[tokio::test]
async fn a_dropped_request_is_recorded_as_client_closed() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    let r =
        tokio::time::timeout(Duration::from_millis(50), app.clone().oneshot(req("GET", "/slow")));
    assert!(r.await.is_err(), "the handler sleeps 30 s");
    assert_eq!(statuses(&store, "/slow"), [(STATUS_CLIENT_CLOSED, 1)]);
    let lat = stats(&store, "/slow").max().unwrap();
    assert!(lat >= Duration::from_millis(50) && lat < Duration::from_secs(5), "{lat:?}");
    assert_eq!(stats(&store, "/slow").errors(), 0, "499 is not in the default error set");
}

/// The client goes away in the middle of a stream: the dropped body
/// records 499; its head had gone out with 200.
#[tokio::test]
async fn a_stream_dropped_mid_way_is_recorded_as_client_closed() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    let resp = app.clone().oneshot(req("GET", "/stream/5")).await.unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert_eq!(first.into_data().unwrap(), "token ");
    assert_eq!(stats(&store, "/stream/{frames}").count(), 0, "not ended yet");
    drop(body);
    assert_eq!(statuses(&store, "/stream/{frames}"), [(STATUS_CLIENT_CLOSED, 1)]);
    assert_eq!(statuses(&store, &format!("{TTFB_PREFIX}/stream/{{frames}}")), [(200, 1)]);
}

/// The body fails after its head went out with 200: recorded as 500.
#[tokio::test]
async fn a_body_error_is_recorded_as_a_server_error() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    let resp = app.clone().oneshot(req("GET", "/fail")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.into_body().collect().await.is_err());
    assert_eq!(statuses(&store, "/fail"), [(STATUS_SERVER_ERROR, 1)]);
    assert_eq!(stats(&store, "/fail").errors(), 1);
    assert_eq!(statuses(&store, &format!("{TTFB_PREFIX}/fail")), [(200, 1)]);
}

/// A service error (no response at all) is recorded as 500 too.
#[tokio::test]
async fn a_service_error_is_recorded_as_a_server_error() {
    let store = Store::in_memory(Options::default());
    let layer = TailstoreLayer::new(&store).name_with(|_| Some(Cow::Borrowed("/svc")));
    let svc = layer.layer(service_fn(|_req: Request<Body>| async {
        Err::<Response<Full<Bytes>>, _>(std::io::Error::other("refused"))
    }));
    assert!(svc.oneshot(req("GET", "/")).await.is_err());
    assert_eq!(statuses(&store, "/svc"), [(STATUS_SERVER_ERROR, 1)]);
}

/// Responses without a body on the wire (HEAD, 204) end at their head: a
/// server drops such a body unpolled, which is no client drop.
#[tokio::test]
async fn bodiless_responses_end_at_their_head() {
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    let resp = app.clone().oneshot(req("HEAD", "/models/m/predict")).await.unwrap();
    drop(resp);
    let resp = app.clone().oneshot(req("GET", "/status/204")).await.unwrap();
    drop(resp);
    assert_eq!(statuses(&store, "/models/{name}/predict"), [(200, 1)]);
    assert_eq!(statuses(&store, "/status/{code}"), [(204, 1)]);
}

/// N tasks × M requests on a multi-threaded runtime: exactly N × M
/// recorded, none lost, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_each_counted_once() {
    const TASKS: u64 = 8;
    const EACH: u64 = 500;
    let store = Store::in_memory(Options::default());
    let app = app(&store);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let (method, uri) = match (t + i) % 4 {
                    0 => ("POST", format!("/models/m{t}/predict")),
                    1 => ("GET", format!("/models/m{i}/predict")),
                    2 => ("GET", "/status/503".to_string()),
                    _ => ("GET", format!("/scan/{t}/{i}")),
                };
                send(&app, method, &uri).await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let per_kind = TASKS * EACH / 4;
    assert_eq!(stats(&store, "/models/{name}/predict").count(), 2 * per_kind);
    assert_eq!(statuses(&store, "/status/{code}"), [(503, per_kind)]);
    assert_eq!(statuses(&store, UNMATCHED_SERIES), [(404, per_kind)]);
    let all = store.query(Selector::all()).last(Duration::from_secs(3600)).run().unwrap();
    assert_eq!(all.count(), TASKS * EACH);
}

/// Polls `f` until it holds, for at most 10 s.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Through hyper on 127.0.0.1: a whole response is recorded with its
/// status (hyper stops at `is_end_stream`, with no `None` poll), and a
/// client that closes its socket while the handler runs is recorded as 499.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_a_real_socket_client_drops_are_499() {
    let store = Store::in_memory(Options::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(axum::serve(listener, app(&store)).into_future());
    let client = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let ask = "GET /models/bert/predict HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
        s.write_all(ask.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200") && answer.ends_with("ok"), "{answer}");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        drop(s);
    });
    client.await.unwrap();
    let st = store.clone();
    let seen = tokio::task::spawn_blocking(move || {
        eventually(|| stats(&st, "/slow").count() == 1)
            && eventually(|| stats(&st, "/models/{name}/predict").count() == 1)
    });
    assert!(seen.await.unwrap(), "hyper dropped the request within 10 s");
    server.abort();
    assert_eq!(statuses(&store, "/models/{name}/predict"), [(200, 1)]);
    assert_eq!(statuses(&store, "/slow"), [(STATUS_CLIENT_CLOSED, 1)]);
    let lat = stats(&store, "/slow").max().unwrap();
    // From the layer's call (at most a little after the write) to the drop
    // (after the close, 300 ms after the write): not the handler's 30 s.
    assert!(lat >= Duration::from_millis(100) && lat < Duration::from_secs(10), "{lat:?}");
}
