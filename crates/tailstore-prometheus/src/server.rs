//! The embeddable `/metrics` server: a std `TcpListener`, an accept thread
//! and a bounded pool of workers, each answering one HTTP/1.1 request per
//! connection (`Connection: close`) with timeouts. It also answers the
//! Prometheus HTTP API's read endpoints (`/api/v1/query`, …, see
//! [`crate::promql`]), with GET or a form-encoded POST.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{bounded, Receiver, TrySendError};
use tailstore::Store;

use crate::encode::{ActiveAlert, Exposition};
use crate::error::Error;
use crate::format::{Format, Names};
use crate::promql::{parse_form, PromqlApi};

/// Longest request head (request line and headers) read, bytes; a longer
/// one is answered 431.
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Longest request body read (a form-encoded API query), bytes; a longer
/// one is answered 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Stack of a worker thread, bytes.
const WORKER_STACK: usize = 16 * 1024 * 1024;
/// How often the accept thread looks at the stop flag when idle.
const POLL: Duration = Duration::from_millis(20);
/// How long a closing connection waits for the client's unread input.
const LINGER: Duration = Duration::from_millis(500);

/// What gives a scrape its active alerts (see [`ServerOptions::alerts`]).
pub type AlertSource = Arc<dyn Fn(&Store) -> Vec<ActiveAlert> + Send + Sync>;

/// How a server exposes a store and how it bounds its work.
#[derive(Clone)]
pub struct ServerOptions {
    exposition: Exposition,
    api: PromqlApi,
    threads: usize,
    queue: usize,
    io_timeout: Duration,
    auth_token: Option<String>,
    alerts: Option<AlertSource>,
}

impl std::fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerOptions")
            .field("exposition", &self.exposition)
            .field("threads", &self.threads)
            .field("queue", &self.queue)
            .field("io_timeout", &self.io_timeout)
            .field("auth_token", &self.auth_token.as_ref().map(|_| "…"))
            .field("alerts", &self.alerts.is_some())
            .finish_non_exhaustive()
    }
}

impl ServerOptions {
    /// Serve `exposition` with 2 worker threads, a queue of 16 connections
    /// waiting for a worker (more are answered 503 at once), a 10 s limit
    /// on reading a request and on writing its answer, and no token.
    #[must_use]
    pub fn new(exposition: Exposition) -> ServerOptions {
        ServerOptions {
            api: PromqlApi::new(&exposition),
            exposition,
            threads: 2,
            queue: 16,
            io_timeout: Duration::from_secs(10),
            auth_token: None,
            alerts: None,
        }
    }

    /// Adds the `ALERTS` family to every scrape: `source` gives the alerts
    /// pending or firing as of the served store (e.g. rules evaluated over
    /// its newest data, as `tailstore serve --rules` does).
    #[must_use]
    pub fn alerts(mut self, source: AlertSource) -> ServerOptions {
        self.alerts = Some(source);
        self
    }

    /// Worker threads (at least 1): requests answered at the same time.
    #[must_use]
    pub fn threads(mut self, n: usize) -> ServerOptions {
        self.threads = n.max(1);
        self
    }

    /// Connections that may wait for a worker; more are answered 503.
    #[must_use]
    pub fn queue(mut self, n: usize) -> ServerOptions {
        self.queue = n.max(1);
        self
    }

    /// Time allowed to read a whole request head, and to write an answer.
    #[must_use]
    pub fn io_timeout(mut self, t: Duration) -> ServerOptions {
        self.io_timeout = t.max(Duration::from_millis(1));
        self
    }

    /// Labels the API gives every gauge (see [`PromqlApi::gauge_labels`]),
    /// e.g. `[("pod", "model-fraud-7d9f")]`.
    #[must_use]
    pub fn gauge_labels(mut self, labels: &[(String, String)]) -> ServerOptions {
        self.api = self.api.gauge_labels(labels);
        self
    }

    /// Require `Authorization: Bearer TOKEN` (otherwise 401), on `/metrics`
    /// and the API alike.
    #[must_use]
    pub fn auth_token(mut self, token: Option<String>) -> ServerOptions {
        self.auth_token = token;
        self
    }
}

/// A running `/metrics` server ([`serve`], [`serve_with`]). Dropping it (or
/// [`Server::stop`]) stops accepting, lets the requests under way finish
/// (each bounded by the I/O timeout), and joins every thread.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    served: Arc<AtomicU64>,
    acceptor: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// Serves `GET /metrics` of `store` on `addr` under the `tailstore` names
/// (see [`serve_with`]).
///
/// # Errors
///
/// As [`serve_with`].
pub fn serve(store: Store, addr: impl ToSocketAddrs) -> Result<Server, Error> {
    serve_with(store, addr, ServerOptions::new(Exposition::new(Names::tailstore())))
}

/// Serves `GET /metrics` (and `HEAD`) of `store` on `addr` (port 0 picks a
/// free one: see [`Server::local_addr`]). The format follows the request's
/// `Accept` ([`Format::negotiate`]: text 0.0.4 unless `OpenMetrics` or
/// the protobuf format with native histograms is preferred). Other paths answer 404, other methods 405, a missing or
/// wrong token 401, a request head over 8 KiB 431, a request not read
/// within the I/O timeout 408, a full queue 503, a failed query 500.
///
/// # Errors
///
/// [`Error::Io`] when the address cannot be bound or a thread cannot start.
pub fn serve_with(
    store: Store,
    addr: impl ToSocketAddrs,
    opts: ServerOptions,
) -> Result<Server, Error> {
    start(Source::Fixed(store), addr, opts)
}

/// Like [`serve_with`], over a store that `open` opens again when a scrape
/// comes more than `max_age` after the last opening: a reader of a
/// directory that a writer keeps appending to
/// (`Store::open_read_only`, which loads the history flushed up to the
/// moment it is called) follows the writer this way. `open` is called once
/// here; a later failure answers that scrape 500 and the next scrape tries
/// again.
///
/// # Errors
///
/// [`Error::Store`] when the first `open` fails; otherwise as [`serve_with`].
pub fn serve_reopening<F>(
    open: F,
    max_age: Duration,
    addr: impl ToSocketAddrs,
    opts: ServerOptions,
) -> Result<Server, Error>
where
    F: Fn() -> Result<Store, tailstore::Error> + Send + Sync + 'static,
{
    let first = open()?;
    let cached = Mutex::new((Instant::now(), first));
    start(Source::Reopen { open: Box::new(open), max_age, cached }, addr, opts)
}

fn start(source: Source, addr: impl ToSocketAddrs, opts: ServerOptions) -> Result<Server, Error> {
    let listener = TcpListener::bind(addr).map_err(Error::io("binding the listen address"))?;
    let local = listener.local_addr().map_err(Error::io("reading the bound address"))?;
    // Polled, so the accept thread sees the stop flag without a wake-up
    // connection (which a firewall could refuse).
    listener.set_nonblocking(true).map_err(Error::io("configuring the listener"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let (tx, rx) = bounded::<TcpStream>(opts.queue);
    let shared = Arc::new(Shared { source, opts });
    let mut server =
        Server { addr: local, stop, served: answered, acceptor: None, workers: Vec::new() };
    for i in 0..shared.opts.threads {
        let (jobs, state, count) = (rx.clone(), Arc::clone(&shared), Arc::clone(&server.served));
        let h = std::thread::Builder::new()
            .name(format!("tailstore-metrics-{i}"))
            // Query evaluation recurses over the expression (bounded by
            // `promql::MAX_QUERY_OPERATORS`): a roomy stack, reserved, not
            // committed.
            .stack_size(WORKER_STACK)
            .spawn(move || worker(&jobs, &state, &count))
            .map_err(Error::io("starting a worker thread"))?;
        server.workers.push(h);
    }
    let (stop, timeout) = (Arc::clone(&server.stop), shared.opts.io_timeout);
    let h = std::thread::Builder::new()
        .name("tailstore-metrics-accept".into())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match listener.accept() {
                    Ok((stream, _)) => match tx.try_send(stream) {
                        Ok(()) => {}
                        Err(TrySendError::Full(s)) => busy(s, timeout),
                        Err(TrySendError::Disconnected(_)) => break,
                    },
                    // Idle (WouldBlock), or a transient failure (a
                    // connection reset before accept, out of descriptors):
                    // wait a little rather than spin.
                    Err(_) => std::thread::sleep(POLL),
                }
            }
            // Dropping `tx` here ends the workers once the queue is empty.
        })
        .map_err(Error::io("starting the accept thread"))?;
    server.acceptor = Some(h);
    Ok(server)
}

impl Server {
    /// The address the server listens on (the chosen port when bound to 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far (any status).
    #[must_use]
    pub fn requests_served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// Stops the server and waits for its threads (as drop does).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.acceptor.take() {
            // A panicked thread has nothing left to clean up.
            let _ = h.join();
        }
        for h in self.workers.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Shared {
    source: Source,
    opts: ServerOptions,
}

/// A function that opens the store again (read-only, for a writer's news).
type Opener = Box<dyn Fn() -> Result<Store, tailstore::Error> + Send + Sync>;

/// Where a scrape gets its store.
enum Source {
    /// The one store given.
    Fixed(Store),
    /// Opened again by the first scrape after `max_age`.
    Reopen { open: Opener, max_age: Duration, cached: Mutex<(Instant, Store)> },
}

impl Source {
    fn store(&self) -> Result<Store, Error> {
        match self {
            Source::Fixed(s) => Ok(s.clone()),
            Source::Reopen { open, max_age, cached } => {
                // One scrape reopens at a time; the others wait for it and
                // take its store. A poisoned lock still holds a valid store.
                let mut c = cached.lock().unwrap_or_else(PoisonError::into_inner);
                if c.0.elapsed() >= *max_age {
                    *c = (Instant::now(), open()?);
                }
                Ok(c.1.clone())
            }
        }
    }
}

fn worker(rx: &Receiver<TcpStream>, shared: &Shared, served: &AtomicU64) {
    for stream in rx {
        handle(stream, shared);
        served.fetch_add(1, Ordering::Relaxed);
    }
}

/// Answers 503 to a connection no worker can take; the write is bounded.
fn busy(mut s: TcpStream, timeout: Duration) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_write_timeout(Some(timeout.min(Duration::from_secs(1))));
    let _ = respond(&mut s, "503 Service Unavailable", &[("Retry-After", "1")], "busy\n", false);
}

/// A parsed request head (and a POST's body).
struct Request<'a> {
    method: &'a str,
    path: &'a str,
    head: &'a str,
    query: &'a str,
    body: Vec<u8>,
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then_some(v.trim())
        })
    }
}

enum ReadHead {
    Complete(usize),
    TooLarge,
    TimedOut,
    Closed,
}

/// Reads until the blank line that ends the head, within the deadline.
fn read_head(s: &mut TcpStream, buf: &mut [u8], deadline: Instant) -> ReadHead {
    let mut len = 0;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return ReadHead::TimedOut;
        }
        let _ = s.set_read_timeout(Some(deadline - now));
        let Some(free) = buf.get_mut(len..) else { return ReadHead::TooLarge };
        if free.is_empty() {
            return ReadHead::TooLarge;
        }
        match s.read(free) {
            Ok(0) => return ReadHead::Closed,
            Ok(n) => {
                let from = len.saturating_sub(3);
                len += n;
                if buf.get(from..len).is_some_and(|b| b.windows(4).any(|w| w == b"\r\n\r\n")) {
                    return ReadHead::Complete(len);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return ReadHead::TimedOut
            }
            Err(_) => return ReadHead::Closed,
        }
    }
}

fn handle(mut s: TcpStream, shared: &Shared) {
    let opts = &shared.opts;
    let _ = s.set_nonblocking(false);
    let _ = s.set_nodelay(true);
    let _ = s.set_write_timeout(Some(opts.io_timeout));
    let mut buf = vec![0u8; MAX_HEAD_BYTES];
    let len = match read_head(&mut s, &mut buf, Instant::now() + opts.io_timeout) {
        ReadHead::Complete(n) => n,
        ReadHead::TooLarge => {
            let _ = respond(&mut s, "431 Request Header Fields Too Large", &[], "", false);
            linger(&mut s);
            return;
        }
        ReadHead::TimedOut => {
            let _ = respond(&mut s, "408 Request Timeout", &[], "", false);
            linger(&mut s);
            return;
        }
        ReadHead::Closed => return,
    };
    let head = String::from_utf8_lossy(buf.get(..len).unwrap_or_default());
    // Headers only: what may follow the blank line is a body's start.
    let head = head.split_once("\r\n\r\n").map_or(&*head, |(h, _)| h);
    let mut parts = head.lines().next().unwrap_or("").split(' ');
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    let (Some(method), Some(target), Some(version)) = (method, target, version) else {
        let _ = respond(&mut s, "400 Bad Request", &[], "malformed request line\n", false);
        linger(&mut s);
        return;
    };
    if !version.starts_with("HTTP/1.") {
        let _ = respond(&mut s, "505 HTTP Version Not Supported", &[], "", false);
        linger(&mut s);
        return;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut req = Request { method, path, head, query, body: Vec::new() };
    if method == "POST" && path.starts_with("/api/") {
        // The body's start may have come with the head.
        let after = head.len() + 4;
        let got = buf.get(after..len).unwrap_or_default().to_vec();
        match read_body(&mut s, &req, got, Instant::now() + opts.io_timeout) {
            Ok(b) => req.body = b,
            Err((status, msg)) => {
                let body = api_error_body(msg);
                let _ = respond_json(&mut s, status, &body);
                linger(&mut s);
                return;
            }
        }
    }
    let _ = answer(&mut s, &req, shared);
    linger(&mut s);
}

/// A JSON error body in Prometheus's shape.
fn api_error_body(msg: &str) -> String {
    serde_json::json!({"status": "error", "errorType": "bad_data", "error": msg}).to_string()
}

/// Reads a POST body of `Content-Length` bytes (at most
/// [`MAX_BODY_BYTES`]), `got` being what came with the head.
fn read_body(
    s: &mut TcpStream,
    req: &Request<'_>,
    mut got: Vec<u8>,
    deadline: Instant,
) -> Result<Vec<u8>, (&'static str, &'static str)> {
    let Some(len) = req.header("content-length") else {
        return Err(("411 Length Required", "a POST needs a Content-Length"));
    };
    let Ok(len) = len.parse::<usize>() else {
        return Err(("400 Bad Request", "Content-Length is not a number"));
    };
    if len > MAX_BODY_BYTES {
        return Err(("413 Content Too Large", "the request body is over 64 KiB"));
    }
    got.truncate(len);
    let mut chunk = [0u8; 4096];
    while got.len() < len {
        let now = Instant::now();
        if now >= deadline {
            return Err(("408 Request Timeout", "the request body did not arrive in time"));
        }
        let _ = s.set_read_timeout(Some(deadline - now));
        match s.read(&mut chunk) {
            Ok(0) => return Err(("400 Bad Request", "the request body ended early")),
            Ok(n) => got.extend_from_slice(chunk.get(..n.min(len - got.len())).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => {
                return Err(("408 Request Timeout", "the request body did not arrive in time"))
            }
        }
    }
    Ok(got)
}

/// Ends the answer, then reads (and drops) what the client may still send
/// for a moment: closing a socket with unread input resets the connection,
/// which can make the client lose the answer. Bounded in time and bytes.
fn linger(s: &mut TcpStream) {
    let _ = s.flush();
    let _ = s.shutdown(Shutdown::Write);
    let deadline = Instant::now() + LINGER;
    let mut sink = [0u8; 4096];
    let mut left = 64 * 1024usize;
    while left > 0 {
        let now = Instant::now();
        if now >= deadline || s.set_read_timeout(Some(deadline - now)).is_err() {
            return;
        }
        match s.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
}

fn answer(s: &mut TcpStream, req: &Request<'_>, shared: &Shared) -> std::io::Result<()> {
    let head_only = req.method == "HEAD";
    let api = req.path.strip_prefix("/api/v1/");
    if req.path != "/metrics" && api.is_none() {
        return respond(
            s,
            "404 Not Found",
            &[],
            "only /metrics and /api/v1/ are served here\n",
            head_only,
        );
    }
    if api.is_some() && req.method != "GET" && req.method != "POST" {
        return respond(s, "405 Method Not Allowed", &[("Allow", "GET, POST")], "", false);
    }
    if api.is_none() && req.method != "GET" && !head_only {
        return respond(s, "405 Method Not Allowed", &[("Allow", "GET, HEAD")], "", false);
    }
    if let Some(token) = &shared.opts.auth_token {
        let given = req.header("authorization").and_then(|v| {
            let (scheme, t) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(t.trim())
        });
        if !given.is_some_and(|g| same_token(g.as_bytes(), token.as_bytes())) {
            return respond(
                s,
                "401 Unauthorized",
                &[("WWW-Authenticate", "Bearer")],
                "a bearer token is required\n",
                head_only,
            );
        }
    }
    if let Some(endpoint) = api {
        return answer_api(s, req, endpoint, shared);
    }
    let format = Format::negotiate(req.header("accept"));
    let mut body = Vec::with_capacity(64 * 1024);
    let encoded = shared.source.store().and_then(|st| {
        let alerts = shared.opts.alerts.as_ref().map(|a| a(&st)).unwrap_or_default();
        shared.opts.exposition.encode_with_alerts(&st, format, &alerts, &mut body)
    });
    match encoded {
        Ok(_) => {
            respond_bytes(s, "200 OK", &[("Content-Type", format.content_type())], &body, head_only)
        }
        Err(e) => {
            // The whole chain: "querying the store: cannot read …".
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(c) = src {
                let _ = write!(msg, ": {c}");
                src = c.source();
            }
            msg.push('\n');
            respond(s, "500 Internal Server Error", &[], &msg, head_only)
        }
    }
}

/// Answers `/api/v1/{endpoint}`: parameters from the query string and a
/// form-encoded body, evaluated by [`PromqlApi::answer`].
fn answer_api(
    s: &mut TcpStream,
    req: &Request<'_>,
    endpoint: &str,
    shared: &Shared,
) -> std::io::Result<()> {
    let mut params = parse_form(req.query);
    if !req.body.is_empty() {
        let form = req.header("content-type").is_none_or(|ct| {
            ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded")
        });
        if !form {
            let body = api_error_body("a POST body must be application/x-www-form-urlencoded");
            return respond_json(s, "400 Bad Request", &body);
        }
        params.extend(parse_form(&String::from_utf8_lossy(&req.body)));
    }
    let store = match shared.source.store() {
        Ok(st) => st,
        Err(e) => {
            let body = serde_json::json!({
                "status": "error", "errorType": "internal", "error": chain(&e),
            })
            .to_string();
            return respond_json(s, "500 Internal Server Error", &body);
        }
    };
    let a = shared.opts.api.answer(&store, endpoint, &params, SystemTime::now());
    let status = match a.status {
        200 => "200 OK",
        400 => "400 Bad Request",
        404 => "404 Not Found",
        422 => "422 Unprocessable Entity",
        _ => "500 Internal Server Error",
    };
    respond_json(s, status, &a.body)
}

fn respond_json(s: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    respond_bytes(s, status, &[("Content-Type", "application/json")], body.as_bytes(), false)
}

/// An error with its chain of causes: "reading the store: cannot read …".
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let _ = write!(msg, ": {c}");
        src = c.source();
    }
    msg
}

/// Compares in time independent of where the tokens differ.
fn same_token(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

fn respond(
    s: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &str,
    head_only: bool,
) -> std::io::Result<()> {
    let mut h = headers.to_vec();
    if !body.is_empty() {
        h.push(("Content-Type", "text/plain; charset=utf-8"));
    }
    respond_bytes(s, status, &h, body.as_bytes(), head_only)
}

fn respond_bytes(
    s: &mut TcpStream,
    status: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\n");
    for (k, v) in headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    // Writing to a String cannot fail.
    let _ = write!(head, "Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    s.write_all(head.as_bytes())?;
    if !head_only {
        s.write_all(body)?;
    }
    Ok(())
}
