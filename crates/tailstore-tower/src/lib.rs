//! tailstore-tower: a [`tower`] layer that records every request of an
//! HTTP server (an axum model server, typically) into a tailstore
//! [`Store`]: its latency, its status, by route template.
//!
//! ```
//! use axum::{routing::post, Router};
//! use tailstore::{Options, Store};
//! use tailstore_tower::TailstoreLayer;
//!
//! let store = Store::in_memory(Options::default());
//! let app: Router = Router::new()
//!     .route("/models/{name}/predict", post(|| async { "ok" }))
//!     .layer(TailstoreLayer::new(&store));
//! // axum::serve(listener, app).await?; then query `store` for P50/P95/P99,
//! // rate and error ratio of "/models/{name}/predict".
//! # drop(app);
//! ```
//!
//! # Series
//!
//! A request is recorded into the series named by, in this order:
//!
//! 1. axum's [`MatchedPath`](axum::extract::MatchedPath), the route
//!    template (`/models/{name}/predict`), when the request carries one:
//!    add the layer with `Router::layer`, inside the router, where axum has
//!    matched the route (`route_layer` works too, but then the fallback's
//!    404s are not recorded at all);
//! 2. else the function given to [`TailstoreLayer::name_with`], when it
//!    answers `Some`;
//! 3. else [`UNMATCHED_SERIES`] (`unmatched`): the router's fallback (404s)
//!    and every request nothing named.
//!
//! The raw path never names a series: a scanner's 400 000 probed paths all
//! land in `unmatched`. Route templates and the name function's answers
//! are capped at [`TailstoreLayer::max_routes`] (default
//! [`DEFAULT_MAX_ROUTES`], 1 000) distinct names; past the cap a request
//! records into the facade's overflow series
//! [`OVERFLOW_SERIES`](tailstore::OVERFLOW_SERIES) (`(overflow)`, the one
//! the store itself uses past [`Options::max_series`](tailstore::Options::max_series)),
//! counted in [`LayerStats::overflowed`]. The layer keeps a cap of its own
//! beside the store's (`Options::max_series`, default 10 000, shared by
//! every writer of the store, and counted per lookup of a new name): its
//! table of handles must stay bounded whatever the store's setting, and a
//! request past it must not take the store's name-map lock. The store's cap
//! still applies on top (a store holding `max_series` series gives new
//! names its overflow series too, counted in `StoreStats::overflowed`).
//!
//! Names have no method by default, so they are the paths the monitoring
//! guide, its rules (`series: '/models/.*'`) and nginx logs use;
//! [`TailstoreLayer::method_prefix`] makes them `GET /models/{name}/predict`
//! (and `POST unmatched`; methods outside the nine standard ones are
//! `OTHER`, since the method is client data too).
//!
//! # What is recorded
//!
//! Every request is recorded exactly once into its series, when its
//! response ends, with the latency from the layer's `call` to that end:
//!
//! * the response's last body frame was taken by the server (hyper stops
//!   polling once the body says `is_end_stream`), or the response has no
//!   body on the wire (an empty body, a `HEAD` request, 1xx, 204, 304):
//!   the response's status;
//! * the body failed (a stream yielded an error) or the service itself
//!   returned an error instead of a response: [`STATUS_SERVER_ERROR`] (500),
//!   an error in the store's default error set;
//! * the response future or the body was dropped before the end (the
//!   client closed the connection and the server dropped the request):
//!   [`STATUS_CLIENT_CLOSED`] (499, as nginx logs it), which the default
//!   error set does not count as an error. The latency is the time until
//!   the drop.
//!
//! A *streamed* response (its body has no exact length, so it goes out
//! chunked: token streaming, server-sent events) is also recorded, when its
//! head is ready, into a second series named with [`TTFB_PREFIX`]:
//! `ttfb:/models/{name}/generate` holds the latency to the response head
//! and the head's status. The prefix (not a suffix) keeps anchored
//! selectors like the guide's `/models/.*` on the whole-request series, so
//! rules never count a streamed request twice. Select the heads with
//! `ttfb:/models/.*`.
//!
//! # Cost
//!
//! After a route's first request, a request takes no lock and allocates
//! nothing in the layer: the route table is an immutable map read through
//! an `ArcSwap`, its handles are shared through an `Arc`, and a series
//! records through the store's `Series::record`, which appends to the
//! thread's ring (a thread that fills its ring of 256 before the clock
//! thread drains it folds it under the series' lock: at most once per 256
//! of its requests, the store's amortised cost). `tests/alloc.rs` counts
//! the allocations. Under `Router::layer` axum boxes the wrapped response
//! body once per request (its `IntoResponse` for a `Response<B>` does), as
//! it does for any layer that wraps the body. The layer reads the clock
//! twice per request (`Instant::now` at `call` and at the end). No global
//! recorder is installed: the store is the one given. `docs/BENCHMARKS.md`
//! gives the overhead in ns per request beside `axum-prometheus`.
//!
//! # Panics
//!
//! Nothing here panics on a request.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod routes;
mod service;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tailstore::Store;
use tower::Layer;

pub use service::{RecordBody, ResponseFuture, TailstoreService};

use crate::routes::Routes;
use crate::service::Shared;

/// The status a request is recorded with when the client went away before
/// its response ended (nginx's 499 "client closed request").
pub const STATUS_CLIENT_CLOSED: u16 = 499;

/// The status a request is recorded with when its response body failed
/// after the head went out, or the service returned an error.
pub const STATUS_SERVER_ERROR: u16 = 500;

/// The series of requests that no route template or name function named.
pub const UNMATCHED_SERIES: &str = "unmatched";

/// The prefix of the series that holds streamed responses' time to their
/// response head.
pub const TTFB_PREFIX: &str = "ttfb:";

/// How many distinct route names a layer records by default before new
/// ones go to the overflow series.
pub const DEFAULT_MAX_ROUTES: usize = 1_000;

/// The layer's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerStats {
    /// Distinct route names (templates or name function answers) that have
    /// a series of their own.
    pub routes: usize,
    /// Requests recorded into the overflow series because the layer held
    /// [`TailstoreLayer::max_routes`] routes.
    pub overflowed: u64,
}

/// A [`tower::Layer`] that records every request into a store; see the
/// crate's documentation for the series and statuses.
///
/// Cloning is cheap: clones share the route table, the cap and the
/// counters. Configure it before use: each setter starts a fresh route
/// table and fresh counters.
#[derive(Clone)]
pub struct TailstoreLayer {
    shared: Arc<Shared>,
    store: Store,
    method_prefix: bool,
    max_routes: usize,
    name_fn: Option<Arc<service::NameFn>>,
}

impl fmt::Debug for TailstoreLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailstoreLayer")
            .field("method_prefix", &self.method_prefix)
            .field("max_routes", &self.max_routes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl TailstoreLayer {
    /// A layer recording into `store`: route templates as series names, no
    /// method prefix, at most [`DEFAULT_MAX_ROUTES`] routes.
    #[must_use]
    pub fn new(store: &Store) -> TailstoreLayer {
        let shared = Arc::new(Shared {
            routes: Routes::new(store, false, DEFAULT_MAX_ROUTES),
            name_fn: None,
        });
        TailstoreLayer {
            shared,
            store: store.clone(),
            method_prefix: false,
            max_routes: DEFAULT_MAX_ROUTES,
            name_fn: None,
        }
    }

    /// Rebuilds the shared state with the current settings (a setter
    /// starts a fresh route table and fresh counters).
    fn rebuild(mut self) -> TailstoreLayer {
        self.shared = Arc::new(Shared {
            routes: Routes::new(&self.store, self.method_prefix, self.max_routes),
            name_fn: self.name_fn.clone(),
        });
        self
    }

    /// Names series `METHOD template` (`GET /models/{name}/predict`)
    /// instead of the template alone (default `false`).
    #[must_use]
    pub fn method_prefix(mut self, on: bool) -> TailstoreLayer {
        self.method_prefix = on;
        self.rebuild()
    }

    /// The most distinct route names with a series of their own (default
    /// [`DEFAULT_MAX_ROUTES`]; 0 = no cap). With a method prefix each
    /// method of a route counts.
    #[must_use]
    pub fn max_routes(mut self, max_routes: usize) -> TailstoreLayer {
        self.max_routes = max_routes;
        self.rebuild()
    }

    /// Names the requests that carry no `MatchedPath` (a layer outside an
    /// axum router, a plain tower service): `f` answers the series name
    /// from the request's head, or `None` for [`UNMATCHED_SERIES`]. Answer
    /// from a fixed set of names (route templates, model names), never the
    /// raw path; the answers are capped like templates. A `Cow::Borrowed`
    /// answer allocates nothing.
    #[must_use]
    pub fn name_with<F>(mut self, f: F) -> TailstoreLayer
    where
        F: Fn(&http::request::Parts) -> Option<Cow<'static, str>> + Send + Sync + 'static,
    {
        self.name_fn = Some(Arc::new(f));
        self.rebuild()
    }

    /// The store the layer records into.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The layer's counters (shared by its clones and services).
    #[must_use]
    pub fn stats(&self) -> LayerStats {
        LayerStats {
            routes: self.shared.routes.routes(),
            overflowed: self.shared.routes.overflowed.load(Relaxed),
        }
    }
}

impl<S> Layer<S> for TailstoreLayer {
    type Service = TailstoreService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TailstoreService { inner, shared: Arc::clone(&self.shared) }
    }
}
