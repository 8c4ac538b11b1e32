//! The HTTP layer's cost per request: one axum router (a route template,
//! a handler answering "ok") called in process with
//! `tower::ServiceExt::oneshot` and its body read to the end, bare, with
//! `TailstoreLayer` and with `axum-prometheus`'s `PrometheusMetricLayer`
//! (the peer: the `metrics` crate's global recorder, a histogram and a
//! counter per method, status and endpoint), in one criterion group, so
//! each layer's overhead is its figure minus the bare router's. One thread
//! (a current-thread tokio runtime); routers built with `with_state`, as
//! `axum::serve` does.
//!
//! Run: `cargo bench -p tailstore-benches --bench tower`.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use axum::routing::get;
use axum::Router;
use axum_prometheus::PrometheusMetricLayer;
use criterion::{criterion_main, Criterion, Throughput};
use http_body_util::BodyExt;
use tailstore::{Options, Selector, Store};
use tailstore_tower::TailstoreLayer;
use tower::util::MapResponseLayer;
use tower::ServiceExt;

fn routes() -> Router {
    Router::new().route("/models/{name}/predict", get(|| async { "ok" }).post(|| async { "ok" }))
}

/// `iters` requests through `router`, timed.
async fn run(router: &Router, iters: u64) -> Duration {
    let t0 = Instant::now();
    for _ in 0..iters {
        let req =
            Request::get("/models/bert/predict").body(Body::empty()).expect("a valid request");
        let resp = router.clone().oneshot(req).await.expect("infallible");
        let body = resp.into_body().collect().await.expect("a whole body");
        std::hint::black_box(body);
    }
    t0.elapsed()
}

fn layer_overhead(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let store = Store::in_memory(Options::default());
    let bare = routes().with_state(());
    let tailstore = routes().layer(TailstoreLayer::new(&store)).with_state(());
    // `pair` installs the global recorder and spawns its upkeep task.
    let (prom_layer, prom_handle) = {
        let _rt = rt.enter();
        PrometheusMetricLayer::pair()
    };
    let prometheus = routes().layer(prom_layer).with_state(());

    // What axum's `Router::layer` costs by itself: a layer that passes
    // the response through unchanged.
    let pass_through =
        routes().layer(MapResponseLayer::new(|r: axum::response::Response| r)).with_state(());

    // Both layers see the requests (a check that the bench is sound).
    rt.block_on(run(&tailstore, 1));
    rt.block_on(run(&prometheus, 1));
    let w = store.query(Selector::exact("/models/{name}/predict")).last(Duration::from_secs(3600));
    assert_eq!(w.run().expect("an in-memory query").count(), 1, "tailstore recorded nothing");
    assert!(prom_handle.render().contains("/models/{name}/predict"), "axum-prometheus saw nothing");

    let mut g = c.benchmark_group("http_layer");
    g.throughput(Throughput::Elements(1));
    for (name, router) in [
        ("bare_router", &bare),
        ("pass_through_layer", &pass_through),
        ("tailstore_layer", &tailstore),
        ("axum_prometheus", &prometheus),
    ] {
        g.bench_function(name, |b| b.iter_custom(|iters| rt.block_on(run(router, iters))));
    }
    g.finish();
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    layer_overhead(&mut c);
    plain_service(&mut c);
}

/// The layer around a plain tower service (no router, no runtime: the
/// futures are ready at once), named by a function: the layer's own cost.
fn plain_service(c: &mut Criterion) {
    use std::convert::Infallible;
    use std::task::{Context, Poll, Waker};

    use http_body_util::Full;
    use tower::{Layer, Service};

    fn now<F: std::future::Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => unreachable!("every future here is ready at once"),
        }
    }
    fn one<S, B>(svc: &mut S)
    where
        S: Service<Request<()>, Response = axum::http::Response<B>, Error = Infallible>,
        B: http_body::Body + Unpin,
    {
        let resp = now(svc.call(Request::new(()))).expect("infallible");
        let mut body = resp.into_body();
        let mut cx = Context::from_waker(Waker::noop());
        while !body.is_end_stream() {
            match std::pin::Pin::new(&mut body).poll_frame(&mut cx) {
                Poll::Ready(Some(Ok(f))) => drop(std::hint::black_box(f)),
                _ => break,
            }
        }
    }
    let inner = tower::service_fn(|_req: Request<()>| {
        let body = Full::new(bytes::Bytes::from_static(b"ok"));
        std::future::ready(Ok::<_, Infallible>(axum::http::Response::new(body)))
    });
    let store = Store::in_memory(Options::default());
    let layer = TailstoreLayer::new(&store)
        .name_with(|_| Some(std::borrow::Cow::Borrowed("/models/{name}/predict")));
    let mut g = c.benchmark_group("tower_service");
    g.throughput(Throughput::Elements(1));
    let mut bare = inner;
    g.bench_function("bare_service", |b| b.iter(|| one(&mut bare)));
    let mut layered = layer.layer(inner);
    g.bench_function("tailstore_layer", |b| b.iter(|| one(&mut layered)));
    g.finish();
}

criterion_main!(benches);
