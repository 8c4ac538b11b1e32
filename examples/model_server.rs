//! A model server that monitors itself with tailstore: an axum server whose
//! every request `TailstoreLayer` records into a store, with the guide's
//! alert rules evaluated live, the process sampler, a Prometheus `/metrics`
//! and the HTML dashboard at `/report`.
//!
//! ```text
//! cargo run --release -p tailstore-tower --example model_server -- --listen 127.0.0.1:8080 [--store DIR]
//! ```
//!
//! The first line of stdout is `listening on http://ADDR` (`--listen
//! 127.0.0.1:0` picks a free port); alert events go to stderr. On a
//! graceful stop (Ctrl-C, SIGTERM or `POST /admin/shutdown`) the server
//! finishes the requests in flight, closes the store (a `--store` directory
//! is flushed) and prints `requests N` (its own count) as its last line.
//!
//! Routes:
//!
//! * `GET|POST /models/{name}/predict`: a fake model. Each request draws
//!   from a seeded generator (`--seed`, default 1; the n-th request to
//!   arrive gets the same draws on every run): a lognormal delay (median
//!   `--median-ms`, default 20 ms; `--sigma`, default 0.5, of the log), then
//!   200 with a JSON score; about 1 % answer 503 after the delay (the model
//!   failed) and about 2 % answer 400 at once (bad input). A POST body is
//!   read (at most 1 MiB) and ignored.
//! * `GET|POST /models/{name}/generate?tokens=N`: token streaming, as an
//!   LLM endpoint does: the same fake model's delay (and failures) before
//!   the response head, then N tokens (default 16, at most 1 024), one every
//!   `--token-ms` (default 5 ms), sent chunked. The layer records the head
//!   into `ttfb:/models/{name}/generate` and the whole stream into
//!   `/models/{name}/generate`.
//! * `GET /metrics`: the store in the Prometheus text format or
//!   `OpenMetrics`, as `Accept` asks (`tailstore-prometheus`; `--names
//!   ingress-nginx` for ingress-nginx's names).
//! * `GET /report`: the store's HTML dashboard (`tailstore-report`).
//!
//! Admin routes (for tests and the benchmark harness):
//!
//! * `GET /admin/count`: `{"requests": N}`, the predict requests the server
//!   counted itself, each when its handler started: a plain counter to
//!   compare with what tailstore recorded.
//! * `POST /admin/stall?ms=N`: a global pause, like a GC pause: every
//!   predict request that arrives in the next N ms (at most 60 000) waits
//!   until the pause ends before its model runs. Answers 204 at once; a
//!   second stall extends the pause to the later end.
//! * `POST /admin/shutdown`: the graceful stop above; answers 204.
//!
//! Every request, these included, is recorded under its route template
//! (`/models/{name}/predict`, `/metrics`, …; anything else in
//! `unmatched`), so the rules' `series: '/models/.*'` see the predictions.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;
use clap::Parser;
use serde::Deserialize;
use tailstore::{Options, Selector, Store};
use tailstore_prometheus::{ActiveAlert, Exposition, Format, Names};
use tailstore_report::Report;
use tailstore_rules::{AlertState, LiveEvaluator, LiveOptions, Rules};
use tailstore_tower::TailstoreLayer;
use tokio::sync::Notify;

/// The guide's rules, built in so the example runs from any directory.
const RULES: &str = include_str!("rules/model-endpoints.yaml");
const MAX_STALL_MS: u64 = 60_000;
const MAX_INPUT_BYTES: usize = 1 << 20;

#[derive(Parser, Debug)]
#[command(about = "A fake model server monitored by tailstore")]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// A durable store in this directory (default: in memory).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Seed of the fake model's draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Median of the fake model's lognormal delay, in ms.
    #[arg(long, default_value_t = 20.0)]
    median_ms: f64,
    /// Standard deviation of the log of the delay.
    #[arg(long, default_value_t = 0.5)]
    sigma: f64,
    /// Time between two streamed tokens of `/generate`, in ms.
    #[arg(long, default_value_t = 5.0)]
    token_ms: f64,
    /// Metric names of `/metrics`: tailstore or ingress-nginx.
    #[arg(long, default_value = "tailstore")]
    names: String,
    /// Alert rules to evaluate live (default: the guide's,
    /// examples/rules/model-endpoints.yaml).
    #[arg(long)]
    rules: Option<PathBuf>,
}

struct App {
    store: Store,
    /// The live rules' pending and firing alerts, as `/metrics` shows them
    /// (`ALERTS`), refreshed by the evaluator's events.
    alerts: Arc<parking_lot::Mutex<Vec<ActiveAlert>>>,
    names: Names,
    seed: u64,
    median_ms: f64,
    sigma: f64,
    /// Predict requests whose handler started.
    requests: AtomicU64,
    /// Generate requests whose handler started.
    generated: AtomicU64,
    /// Time between two streamed tokens.
    token_every: Duration,
    /// Time zero of `stall_until_ns`.
    epoch: Instant,
    /// End of the current stall, ns after `epoch` (0: none yet).
    stall_until_ns: AtomicU64,
    shutdown: Notify,
}

/// `SplitMix64`: the n-th request's draws, a pure function of (seed, n).
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A uniform draw in (0, 1) from 53 random bits.
fn unit(bits: u64) -> f64 {
    #[expect(clippy::cast_precision_loss, reason = "53 bits are exact in an f64")]
    let v = ((bits >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    v
}

/// What the fake model does with one request.
enum Outcome {
    Ok { delay: Duration, score: f64 },
    Failed { delay: Duration },
    BadInput,
}

impl App {
    fn draw(&self, n: u64) -> Outcome {
        let r =
            |k: u64| unit(splitmix64(self.seed ^ splitmix64(n.wrapping_mul(4).wrapping_add(k))));
        let (u1, u2, u3, u4) = (r(0), r(1), r(2), r(3));
        if u3 < 0.02 {
            return Outcome::BadInput;
        }
        // Box-Muller: a standard normal from two uniforms.
        let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        let ms = (self.median_ms * (self.sigma * z).exp()).clamp(0.0, 60_000.0);
        let delay = Duration::from_secs_f64(ms / 1000.0);
        if u3 < 0.03 {
            Outcome::Failed { delay }
        } else {
            Outcome::Ok { delay, score: u4 }
        }
    }

    fn now_ns(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], value.to_string()).into_response()
}

async fn predict(State(app): State<Arc<App>>, Path(name): Path<String>, body: Body) -> Response {
    let n = app.requests.fetch_add(1, Relaxed);
    if axum::body::to_bytes(body, MAX_INPUT_BYTES).await.is_err() {
        return json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": "input too large"}),
        );
    }
    let until = app.stall_until_ns.load(Relaxed);
    let now = app.now_ns();
    if now < until {
        tokio::time::sleep(Duration::from_nanos(until - now)).await;
    }
    match app.draw(n) {
        Outcome::BadInput => {
            json(StatusCode::BAD_REQUEST, &serde_json::json!({"error": "invalid input"}))
        }
        Outcome::Failed { delay } => {
            tokio::time::sleep(delay).await;
            json(StatusCode::SERVICE_UNAVAILABLE, &serde_json::json!({"error": "model failed"}))
        }
        Outcome::Ok { delay, score } => {
            tokio::time::sleep(delay).await;
            json(StatusCode::OK, &serde_json::json!({"model": name, "score": score}))
        }
    }
}

#[derive(Deserialize)]
struct Generate {
    tokens: Option<u32>,
}

/// A streamed answer: `left` tokens, one every `every`.
struct Tokens {
    left: u32,
    every: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for Tokens {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.left -= 1;
        let next = tokio::time::Instant::now() + self.every;
        self.sleep.as_mut().reset(next);
        Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"token ")))))
    }

    fn is_end_stream(&self) -> bool {
        self.left == 0
    }
}

/// Token streaming, as an LLM endpoint does: the head after the prompt's
/// prefill (the fake model's delay), then `tokens` tokens (default 16, at
/// most 1 024) one every `--token-ms`, sent chunked. The layer records
/// the head into `ttfb:/models/{name}/generate` and the whole stream into
/// `/models/{name}/generate`.
async fn generate(State(app): State<Arc<App>>, Query(q): Query<Generate>, body: Body) -> Response {
    let n = app.generated.fetch_add(1, Relaxed);
    if axum::body::to_bytes(body, MAX_INPUT_BYTES).await.is_err() {
        return json(
            StatusCode::PAYLOAD_TOO_LARGE,
            &serde_json::json!({"error": "input too large"}),
        );
    }
    // Draws of their own: predict's n-th request keeps its draws.
    let (delay, failed) = match app.draw(n ^ (1 << 63)) {
        Outcome::BadInput => {
            return json(StatusCode::BAD_REQUEST, &serde_json::json!({"error": "invalid input"}))
        }
        Outcome::Failed { delay } => (delay, true),
        Outcome::Ok { delay, .. } => (delay, false),
    };
    tokio::time::sleep(delay).await;
    if failed {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({"error": "model failed"}),
        );
    }
    let every = app.token_every;
    let tokens = Tokens {
        left: q.tokens.unwrap_or(16).min(1024),
        every,
        sleep: Box::pin(tokio::time::sleep(every)),
    };
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], Body::new(tokens)).into_response()
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::negotiate(accept);
    let (store, names) = (app.store.clone(), app.names);
    let alerts = app.alerts.lock().clone();
    let encoded = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        Exposition::new(names).encode_with_alerts(&store, format, &alerts, &mut out).map(|_| out)
    })
    .await;
    match encoded {
        Ok(Ok(out)) => ([(header::CONTENT_TYPE, format.content_type())], out).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn report(State(app): State<Arc<App>>) -> Response {
    let store = app.store.clone();
    let rendered = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        Report::new(Selector::all()).title("model server").render(&store, &mut out).map(|_| out)
    })
    .await;
    let html = [(header::CONTENT_TYPE, "text/html; charset=utf-8")];
    match rendered {
        Ok(Ok(out)) => (html, out).into_response(),
        Ok(Err(
            e @ (tailstore_report::Error::NoSeries | tailstore_report::Error::EmptyRange { .. }),
        )) => (StatusCode::SERVICE_UNAVAILABLE, format!("no data yet: {e}\n")).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn count(State(app): State<Arc<App>>) -> Response {
    json(StatusCode::OK, &serde_json::json!({"requests": app.requests.load(Relaxed)}))
}

#[derive(Deserialize)]
struct Stall {
    ms: u64,
}

async fn stall(State(app): State<Arc<App>>, Query(q): Query<Stall>) -> StatusCode {
    let ms = q.ms.min(MAX_STALL_MS);
    let until = app.now_ns().saturating_add(ms.saturating_mul(1_000_000));
    app.stall_until_ns.fetch_max(until, Relaxed);
    StatusCode::NO_CONTENT
}

async fn shutdown(State(app): State<Arc<App>>) -> StatusCode {
    app.shutdown.notify_one();
    StatusCode::NO_CONTENT
}

async fn stop_signal(app: Arc<App>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
        () = app.shutdown.notified() => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let store = match &args.store {
        Some(dir) => Store::open(dir, Options::default())?,
        None => Store::in_memory(Options::default()),
    };
    store.sample_process(Duration::from_secs(1));
    let rules = match &args.rules {
        Some(path) => {
            Rules::from_yaml_named(&std::fs::read_to_string(path)?, &path.display().to_string())?
        }
        None => Rules::from_yaml_named(RULES, "examples/rules/model-endpoints.yaml")?,
    };
    let alerts: Arc<parking_lot::Mutex<Vec<ActiveAlert>>> = Arc::default();
    let active = alerts.clone();
    let live = LiveEvaluator::start(
        &store,
        rules,
        LiveOptions::default().on_event(move |e| {
            // The instance's state after the event: pending or firing
            // replaces its entry, inactive removes it.
            let mut list = active.lock();
            list.retain(|a| a.alertname != e.rule || a.labels != e.labels);
            if e.state != AlertState::Inactive {
                list.push(ActiveAlert {
                    alertname: e.rule.clone(),
                    labels: e.labels.clone(),
                    firing: e.state == AlertState::Firing,
                });
                list.sort_by(|a, b| (&a.alertname, &a.labels).cmp(&(&b.alertname, &b.labels)));
            }
            drop(list);
            eprintln!(
                "alert {} {:?} {:?} value={:?} {}",
                e.rule,
                e.transition,
                e.labels,
                e.value,
                e.annotations.get("summary").map_or("", String::as_str)
            );
        }),
    )?;
    let app = Arc::new(App {
        store: store.clone(),
        alerts,
        names: Names::parse(&args.names)?,
        seed: args.seed,
        median_ms: args.median_ms,
        sigma: args.sigma,
        requests: AtomicU64::new(0),
        generated: AtomicU64::new(0),
        token_every: Duration::from_secs_f64(args.token_ms.max(0.0) / 1000.0),
        epoch: Instant::now(),
        stall_until_ns: AtomicU64::new(0),
        shutdown: Notify::new(),
    });
    let router = Router::new()
        .route("/models/{name}/predict", get(predict).post(predict))
        .route("/models/{name}/generate", get(generate).post(generate))
        .route("/metrics", get(metrics))
        .route("/report", get(report))
        .route("/admin/count", get(count))
        .route("/admin/stall", post(stall))
        .route("/admin/shutdown", post(shutdown))
        .layer(TailstoreLayer::new(&store))
        .with_state(Arc::clone(&app));
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, router).with_graceful_shutdown(stop_signal(Arc::clone(&app))).await?;
    drop(live);
    let requests = app.requests.load(Relaxed);
    drop(app);
    store.close()?;
    println!("requests {requests}");
    Ok(())
}
