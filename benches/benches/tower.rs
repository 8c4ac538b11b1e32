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

    let routers = [
        ("bare_router", &bare),
        ("pass_through_layer", &pass_through),
        ("tailstore_layer", &tailstore),
        ("axum_prometheus", &prometheus),
    ];
    let mut g = c.benchmark_group("http_layer");
    g.throughput(Throughput::Elements(1));
    for (name, router) in routers {
        g.bench_function(name, |b| b.iter_custom(|iters| rt.block_on(run(router, iters))));
    }
    g.finish();
    interleaved(&rt, &routers);
}

/// The same four routers in rounds, round-robin (so a machine whose load
/// drifts during the run slows all four alike), printed as medians of
/// ns per request and each layer's overhead over the bare router.
fn interleaved(rt: &tokio::runtime::Runtime, routers: &[(&str, &Router)]) {
    const ROUNDS: usize = 21;
    const PER_ROUND: u32 = 20_000;
    let mut ns: Vec<Vec<f64>> = vec![Vec::with_capacity(ROUNDS); routers.len()];
    for _ in 0..ROUNDS {
        for (i, (_, router)) in routers.iter().enumerate() {
            let d = rt.block_on(run(router, u64::from(PER_ROUND)));
            ns[i].push(d.as_secs_f64() * 1e9 / f64::from(PER_ROUND));
        }
    }
    let medians: Vec<f64> = ns
        .iter_mut()
        .map(|v| {
            v.sort_by(f64::total_cmp);
            v[ROUNDS / 2]
        })
        .collect();
    println!("interleaved: {ROUNDS} rounds of {PER_ROUND} requests per router, medians");
    for ((name, _), m) in routers.iter().zip(&medians) {
        println!(
            "  {name:<20} {m:>8.0} ns/request  (+{:>6.0} ns over bare_router)",
            m - medians[0]
        );
    }
}

fn benches() {
    let mut c = Criterion::default().configure_from_args();
    layer_overhead(&mut c);
    plain_service(&mut c);
}

const PLAIN_ROUNDS: usize = 21;
const PLAIN_PER_ROUND: u32 = 200_000;

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

    // Interleaved rounds, as for the routers.
    let round = |f: &mut dyn FnMut()| {
        let t0 = Instant::now();
        for _ in 0..PLAIN_PER_ROUND {
            f();
        }
        t0.elapsed().as_secs_f64() * 1e9 / f64::from(PLAIN_PER_ROUND)
    };
    let (mut b_ns, mut l_ns) = (Vec::new(), Vec::new());
    for _ in 0..PLAIN_ROUNDS {
        b_ns.push(round(&mut || one(&mut bare)));
        l_ns.push(round(&mut || one(&mut layered)));
    }
    b_ns.sort_by(f64::total_cmp);
    l_ns.sort_by(f64::total_cmp);
    let (b, l) = (b_ns[PLAIN_ROUNDS / 2], l_ns[PLAIN_ROUNDS / 2]);
    println!("interleaved: {PLAIN_ROUNDS} rounds of {PLAIN_PER_ROUND} calls, medians");
    println!("  bare_service     {b:>8.1} ns/request");
    println!("  tailstore_layer  {l:>8.1} ns/request  (+{:.1} ns)", l - b);
}

criterion_main!(benches);
