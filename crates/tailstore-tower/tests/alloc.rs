//! "No allocation per request after a route's first use", counted: a
//! global allocator that counts this thread's allocations, and requests
//! driven by hand (a no-op waker, no runtime), so nothing but the request's
//! own path runs on the thread between two readings.
//!
//! A binary of its own: the allocator is global to the binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::borrow::Cow;
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::{pin, Pin};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame};
use http_body_util::Full;
use tailstore::{Options, Selector, Store};
use tailstore_tower::TailstoreLayer;
use tower::util::MapResponseLayer;
use tower::{service_fn, Layer, Service};

thread_local! {
    /// Allocations made by this thread (a const-initialised `Cell` with no
    /// destructor: reading it allocates nothing and needs no registration).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // During thread teardown the slot may be gone: such an allocation is
    // not one of a request's.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The system allocator, counting each allocation (and reallocation) of
/// the calling thread.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are this allocator's; the counting
// touches a thread-local `Cell` only and never allocates.
#[expect(unsafe_code, reason = "a counting global allocator needs `unsafe impl GlobalAlloc`")]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: the caller's contract for `alloc_zeroed` is `System`'s.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator, i.e. from `System`, with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: `ptr` came from `System` with `layout`; the caller's
        // contract for `new_size` is `System.realloc`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Polls `f` once: every future here is ready at once (no I/O, no timer).
fn ready_now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("the request's future was not ready at once"),
    }
}

/// Takes every frame of `body`, as a server does: until `is_end_stream`
/// or `None`.
fn drain<B: Body + Unpin>(mut body: B) -> usize {
    let mut frames = 0;
    let mut cx = Context::from_waker(Waker::noop());
    while !body.is_end_stream() {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(_))) => frames += 1,
            Poll::Ready(None) => break,
            Poll::Ready(Some(Err(_))) => panic!("the body failed"),
            Poll::Pending => panic!("the body was not ready at once"),
        }
    }
    frames
}

/// One request through `svc`, its body taken to the end.
fn one<S, B>(svc: &mut S, req: Request<()>) -> usize
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    ready_now(std::future::poll_fn(|cx| svc.poll_ready(cx))).unwrap();
    let resp = ready_now(svc.call(req)).unwrap();
    drain(resp.into_body())
}

/// A streamed body that is always ready: `left` frames, no exact length.
struct Chunks {
    left: u8,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        self.left -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"token ")))))
    }
}

/// A service that allocates nothing: a whole body for `/whole`, a streamed
/// one otherwise.
type Answer = Response<http_body_util::Either<Full<Bytes>, Chunks>>;

fn inner() -> impl Service<
    Request<()>,
    Response = Answer,
    Error = Infallible,
    Future = std::future::Ready<Result<Answer, Infallible>>,
> + Clone {
    service_fn(|req: Request<()>| {
        let body = if req.uri().path() == "/whole" {
            http_body_util::Either::Left(Full::new(Bytes::from_static(b"ok")))
        } else {
            http_body_util::Either::Right(Chunks { left: 3 })
        };
        std::future::ready(Ok(Response::new(body)))
    })
}

fn request(path: &'static str) -> Request<()> {
    let mut r = Request::new(());
    *r.uri_mut() = http::Uri::from_static(path);
    r
}

const WARMUP: u64 = 20_000;
const BATCH: u64 = 100;
const BATCHES: u64 = 100;

/// Allocations of `BATCHES` batches of `BATCH` requests to `path`.
///
/// The store records into a ring per thread (256 slots) that its clock
/// thread drains; a thread that finds its ring full drains it itself,
/// under the series' lock, into per-second accumulators that allocate on
/// first touch: the store's amortised cost, not the layer's. So each
/// batch (fewer requests than the ring holds) starts after a query, which
/// drains every ring: in the batch, recording is only the ring's stores.
fn batches<S, B>(store: &Store, svc: &mut S, path: &'static str) -> (u64, usize)
where
    S: Service<Request<()>, Response = Response<B>, Error = Infallible>,
    B: Body + Unpin,
{
    let (mut allocs, mut frames) = (0, 0);
    for _ in 0..BATCHES {
        store.query(Selector::all()).last(Duration::from_secs(60)).run().unwrap();
        let before = allocations();
        for _ in 0..BATCH {
            frames += one(svc, request(path));
        }
        allocs += allocations() - before;
    }
    (allocs, frames)
}

/// The layer around a plain tower service, named by a function: after the
/// route's first requests, a request (whole or streamed, with its `ttfb:`
/// record) allocates nothing, and neither does the bare service, so the
/// whole path is allocation-free.
#[test]
fn a_request_through_the_layer_allocates_nothing() {
    let store = Store::in_memory(Options::default());
    let layer = TailstoreLayer::new(&store).name_with(|parts| {
        Some(Cow::Borrowed(if parts.uri.path() == "/whole" { "/whole" } else { "/stream" }))
    });
    let mut bare = inner();
    let mut layered = layer.layer(inner());
    for path in ["/whole", "/stream"] {
        for _ in 0..WARMUP {
            one(&mut bare, request(path));
            one(&mut layered, request(path));
        }
        let (allocs, _) = batches(&store, &mut bare, path);
        assert_eq!(allocs, 0, "the bare service allocates on {path}");
        let (allocs, frames) = batches(&store, &mut layered, path);
        assert_eq!(allocs, 0, "the layer allocates on {path}");
        assert!(frames >= usize::try_from(BATCH * BATCHES).unwrap());
    }
    let count = |name: &str| {
        store.query(Selector::exact(name)).last(Duration::from_secs(3600)).run().unwrap().count()
    };
    let n = WARMUP + BATCH * BATCHES;
    assert_eq!((count("/whole"), count("/stream"), count("ttfb:/stream")), (n, n, n));
}

/// Inside an axum router (the route template from `MatchedPath`): beside
/// a pass-through layer (axum wraps any layer's service the same way), the
/// layer adds exactly one allocation per request, and it is axum's:
/// `IntoResponse` for `Response<RecordBody<Body>>` boxes the wrapped body
/// into an `axum::body::Body` (the pass-through's body already is one).
#[test]
fn inside_a_router_the_layer_adds_only_axums_body_box() {
    let store = Store::in_memory(Options::default());
    let routes = || Router::new().route("/models/{name}/predict", get(|| async { "ok" }));
    // `with_state` turns the handlers into routes once, as `axum::serve`
    // does; a router called without it re-applies the layers to a
    // handler on every request.
    let pass_through =
        routes().layer(MapResponseLayer::new(|r: Response<axum::body::Body>| r)).with_state(());
    let layered = routes().layer(TailstoreLayer::new(&store)).with_state(());
    let measure = |router: &Router| {
        let mut svc = router.clone();
        let mut run = |n: u64| {
            let mut allocs = 0;
            for _ in 0..n / BATCH {
                store.query(Selector::all()).last(Duration::from_secs(60)).run().unwrap();
                let reqs: Vec<_> = (0..BATCH)
                    .map(|_| {
                        let body = axum::body::Body::empty();
                        Request::get("/models/bert/predict").body(body).unwrap()
                    })
                    .collect();
                let before = allocations();
                for r in reqs {
                    let ready = std::future::poll_fn(|cx| {
                        Service::<Request<axum::body::Body>>::poll_ready(&mut svc, cx)
                    });
                    ready_now(ready).unwrap();
                    let resp = ready_now(svc.call(r)).unwrap();
                    drain(resp.into_body());
                }
                allocs += allocations() - before;
            }
            allocs
        };
        run(WARMUP);
        run(BATCH * BATCHES)
    };
    let pass_allocs = measure(&pass_through);
    let layered_allocs = measure(&layered);
    assert_eq!(layered_allocs - pass_allocs, BATCH * BATCHES, "{layered_allocs} vs {pass_allocs}");
    let w = store.query(Selector::exact("/models/{name}/predict")).last(Duration::from_secs(3600));
    assert_eq!(w.run().unwrap().count(), WARMUP + BATCH * BATCHES);
}
