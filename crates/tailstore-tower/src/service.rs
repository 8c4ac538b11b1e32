//! The service, its response future and the body that records at its end.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use http::{Method, Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tower::Service;

use crate::routes::{Handles, Routes};
use crate::{STATUS_CLIENT_CLOSED, STATUS_SERVER_ERROR};

/// A function that names the requests that carry no route template:
/// `Some(name)` is the series (capped like route templates), `None` sends
/// the request to [`UNMATCHED_SERIES`](crate::UNMATCHED_SERIES).
pub(crate) type NameFn = dyn Fn(&http::request::Parts) -> Option<Cow<'static, str>> + Send + Sync;

/// What every clone of a layer and its services share.
pub(crate) struct Shared {
    pub(crate) routes: Routes,
    pub(crate) name_fn: Option<Arc<NameFn>>,
}

/// The [`Service`] a [`TailstoreLayer`](crate::TailstoreLayer) wraps
/// around `S`: it records every request of `S` into the layer's store.
pub struct TailstoreService<S> {
    pub(crate) inner: S,
    pub(crate) shared: Arc<Shared>,
}

impl<S: Clone> Clone for TailstoreService<S> {
    fn clone(&self) -> Self {
        TailstoreService { inner: self.inner.clone(), shared: Arc::clone(&self.shared) }
    }
}

impl<S: fmt::Debug> fmt::Debug for TailstoreService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailstoreService").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S> TailstoreService<S> {
    /// The route handles of `req`: its `MatchedPath`, else the name
    /// function's answer, else the unmatched series.
    fn handles<B>(&self, req: Request<B>) -> (Arc<Handles>, Request<B>) {
        let routes = &self.shared.routes;
        if let Some(path) = req.extensions().get::<MatchedPath>() {
            return (routes.get(req.method(), path.as_str()), req);
        }
        let Some(f) = &self.shared.name_fn else {
            return (routes.unmatched(req.method()), req);
        };
        let (parts, body) = req.into_parts();
        let handles = match f(&parts) {
            Some(name) => routes.get(&parts.method, &name),
            None => routes.unmatched(&parts.method),
        };
        (handles, Request::from_parts(parts, body))
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for TailstoreService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    ResB: Body,
{
    type Response = Response<RecordBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let start = Instant::now();
        let head = req.method() == Method::HEAD;
        let (handles, req) = self.handles(req);
        ResponseFuture {
            inner: self.inner.call(req),
            pending: Some(Pending { handles, start, status: STATUS_CLIENT_CLOSED }),
            head,
        }
    }
}

/// A request not yet recorded: its route, its start and the status it
/// will be recorded with.
struct Pending {
    handles: Arc<Handles>,
    start: Instant,
    status: u16,
}

impl Pending {
    fn record(self) {
        self.handles.total.record(self.start.elapsed(), self.status);
    }

    fn record_as(mut self, status: u16) {
        self.status = status;
        self.record();
    }
}

/// Whether a response with this status (to this method) has no body on the
/// wire, so the server never polls it (RFC 9110: HEAD, 1xx, 204, 304).
fn bodiless(head: bool, status: StatusCode) -> bool {
    head || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
}

pin_project! {
    /// The response future of a [`TailstoreService`]. Dropped before it
    /// completes (the client went away and the server dropped the
    /// request), it records the request with
    /// [`STATUS_CLIENT_CLOSED`](crate::STATUS_CLIENT_CLOSED).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
        head: bool,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(p) = this.project().pending.take() {
                p.record_as(STATUS_CLIENT_CLOSED);
            }
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: Body,
{
    type Output = Result<Response<RecordBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let Some(mut pending) = this.pending.take() else {
            // Polled after completion: the inner future's contract is
            // broken already; pass its answer on without recording twice.
            return Poll::Ready(result.map(|r| r.map(RecordBody::done)));
        };
        match result {
            Ok(response) => {
                let status = response.status();
                pending.status = status.as_u16();
                let body_ends_now = bodiless(*this.head, status) || response.body().is_end_stream();
                if body_ends_now {
                    pending.record();
                    return Poll::Ready(Ok(response.map(RecordBody::done)));
                }
                if response.body().size_hint().exact().is_none() {
                    pending.handles.record_ttfb(pending.start.elapsed(), pending.status);
                }
                Poll::Ready(Ok(response.map(|inner| RecordBody { inner, pending: Some(pending) })))
            }
            Err(e) => {
                pending.record_as(STATUS_SERVER_ERROR);
                Poll::Ready(Err(e))
            }
        }
    }
}

pin_project! {
    /// The response body of a [`TailstoreService`]: the inner body, which
    /// records the request when its last frame is taken, when it fails
    /// ([`STATUS_SERVER_ERROR`](crate::STATUS_SERVER_ERROR)) or when it is
    /// dropped before its end
    /// ([`STATUS_CLIENT_CLOSED`](crate::STATUS_CLIENT_CLOSED)).
    pub struct RecordBody<B> {
        #[pin]
        inner: B,
        pending: Option<Pending>,
    }

    impl<B> PinnedDrop for RecordBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(p) = this.project().pending.take() {
                p.record_as(STATUS_CLIENT_CLOSED);
            }
        }
    }
}

impl<B> RecordBody<B> {
    fn done(inner: B) -> RecordBody<B> {
        RecordBody { inner, pending: None }
    }
}

impl<B: fmt::Debug> fmt::Debug for RecordBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordBody").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<B: Body> Body for RecordBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            // A server stops polling once `is_end_stream` says so (hyper
            // does), so the end is the last frame taken, not a `None`.
            Some(Ok(_)) if this.inner.is_end_stream() => {
                if let Some(p) = this.pending.take() {
                    p.record();
                }
            }
            Some(Ok(_)) => {}
            Some(Err(_)) => {
                if let Some(p) = this.pending.take() {
                    p.record_as(STATUS_SERVER_ERROR);
                }
            }
            None => {
                if let Some(p) = this.pending.take() {
                    p.record();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
