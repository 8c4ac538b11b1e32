//! tailstore-prometheus: a tailstore store as Prometheus metrics, so a
//! fleet's Prometheus, dashboards and alert routes read what each pod's
//! store holds.
//!
//! * [`Exposition`]: encoders with no I/O but the writer given. From a
//!   [`tailstore::Store`] and a selector, the Prometheus text format 0.0.4
//!   or `OpenMetrics` 1.0 text ([`Format`]): per series a latency histogram
//!   (classic buckets derived from the exact HDR counts at configured `le`
//!   bounds, `_bucket`, `_sum`, `_count`) and a request counter by status;
//!   or Prometheus's protobuf format, whose histograms also carry a native
//!   histogram derived from the HDR counts.
//! * [`Names`]: the `tailstore` preset (own names, a `series` label) and the
//!   `ingress-nginx` preset
//!   (`nginx_ingress_controller_request_duration_seconds_bucket{path,le}`,
//!   `_sum`, `_count`, `nginx_ingress_controller_requests{path,status}`,
//!   ingress-nginx's default buckets), under which the monitoring guide's
//!   `PromQL` works unchanged.
//! * `serve` (feature `server`): a small embeddable HTTP/1.1 server of
//!   `GET /metrics`, with content negotiation on `Accept`, and of the
//!   Prometheus HTTP API's read endpoints (`/api/v1/query`,
//!   `/api/v1/query_range`, `/api/v1/series`, `/api/v1/labels`,
//!   `/api/v1/label/<name>/values`, `/api/v1/metadata`,
//!   `/api/v1/status/buildinfo`), so Grafana
//!   uses a pod's store as a Prometheus data source.
//! * [`PromqlApi`] ([`promql`]): the evaluator behind that API, with no
//!   I/O: `PromQL` parsed by the `promql-parser` crate, the monitoring
//!   guide's subset evaluated over the store's exact windows. A range `[5m]`
//!   at `t` is the whole seconds `[t - 5m, t)` (what `tailstore query
//!   --last 5m --at t` answers); `increase()` is the exact count, `rate()`
//!   that count over the window's seconds (no extrapolation);
//!   `histogram_quantile(q, sum(rate(X_bucket[w])) by (le))` is the exact
//!   quantile of the merged HDR histograms, not interpolated between
//!   buckets. Anything outside the subset answers Prometheus's `bad_data`
//!   error naming it. See `docs/PROMQL.md`.
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//! use tailstore::{Options, Store};
//! use tailstore_prometheus::{Exposition, Format, Names};
//!
//! let store = Store::in_memory(Options::default().keep_everything());
//! let s = store.series("/models/fraud-v2/predict");
//! s.record_at(UNIX_EPOCH + Duration::from_secs(1_764_547_200), Duration::from_millis(42), 200);
//! let mut out = Vec::new();
//! let scrape = Exposition::new(Names::tailstore()).encode(&store, Format::openmetrics(), &mut out)?;
//! assert_eq!(scrape.series, 1);
//! let text = String::from_utf8(out).unwrap();
//! assert!(text.contains(
//!     "tailstore_request_duration_seconds_bucket{series=\"/models/fraud-v2/predict\",le=\"0.05\"} 1\n"
//! ));
//! assert!(text.ends_with("# EOF\n"));
//! # Ok::<(), tailstore_prometheus::Error>(())
//! ```
//!
//! # What the counters count
//!
//! Every number is over the store's *retained* data of the series: a scrape
//! queries each series over `[first retained second, end of its data)`, so
//! a scrape's totals are the store's totals (`tailstore query` over the same
//! range gives the same counts). Counters are cumulative and only grow from
//! one scrape to the next (late samples included), until retention drops a
//! series' oldest data: then the counts fall, which Prometheus reads as a
//! counter reset, and `OpenMetrics`' `_created` (the first retained second,
//! unix seconds) moves forward to say since when they count.
//!
//! * `_count` and the `+Inf` bucket count the requests with a latency;
//!   the request counter counts every request by status, status-only
//!   records included (status 0 is "no status", e.g. from an hlog replay).
//! * `_sum` is the exact sum of latencies, in seconds.
//!
//! # Exactness of the buckets
//!
//! A bucket `le` counts, from the exact HDR counts, every sample `<= le`,
//! and also the samples of le's own HDR bucket that lie above `le` (the
//! histogram cannot split a bucket). So the count is between the exact
//! number of samples `<= le` and the number `<= top`, where `top` is the
//! last value of le's HDR bucket: `top - le` is less than one bucket width,
//! at most `le × 2 ×` [`tailstore::Layout::relative_error`] (`le`/1024,
//! 0.098 %, at the default 3 significant digits; exact below 2 048 ns). It
//! is exact when no sample lies in `(le, top]`, in particular when `le` is
//! below the series' exact minimum or at or above its exact maximum. A bound
//! at or above the layout's highest value (1 h by default) also counts the
//! samples clamped to it. Counts of a series never decrease as `le` grows.
//!
//! # Formats
//!
//! * Text 0.0.4 (default): `# HELP`, `# TYPE`, samples; `le` as
//!   `client_golang` writes it (`1`, `0.005`).
//! * `OpenMetrics` 1.0: `# TYPE`, `# UNIT` (histogram), `# HELP`; canonical
//!   `le` (`1.0`); `_created` on the histogram and, in the `tailstore`
//!   preset, on each counter; `# EOF`.
//! * A counter's sample must end in `_total` (`OpenMetrics` requires it,
//!   `promtool check metrics` lints it), and ingress-nginx's
//!   `nginx_ingress_controller_requests` does not: under the `ingress-nginx`
//!   preset that family is typed `untyped` (text) and `unknown`
//!   (`OpenMetrics`, without `_created`), which keeps the name the guide
//!   queries; its values are still cumulative, and `rate()`/`increase()`
//!   read them as they read a counter.
//! * Protobuf (`application/vnd.google.protobuf;
//!   proto=io.prometheus.client.MetricFamily; encoding=delimited`): the same
//!   families as length-delimited `MetricFamily` messages (`client_model`'s
//!   `metrics.proto`, hand-encoded), the counter typed `counter` under both
//!   presets (protobuf has no `_total` rule), and each histogram carrying
//!   both its classic buckets and a **native histogram**, see below.
//!   Prometheus asks for it first when started with
//!   `--enable-feature=native-histograms`; it then ingests the native
//!   histogram only (no `_bucket` series) unless its scrape config keeps
//!   the classic ones (`scrape_classic_histograms: true` from Prometheus
//!   2.45, `always_scrape_classic_histograms` from 3.0), so the guide's
//!   queries over `_bucket` need that option or the text formats.
//! * [`Format::negotiate`] picks one from an `Accept` header.
//!
//! # Native histograms
//!
//! Native bucket `k` of schema `s` holds the latencies in
//! `(2^((k-1)·2^-s), 2^(k·2^-s)]` seconds. The schema is the finest (at
//! most 8, Prometheus's limit) whose buckets are at least as wide,
//! relatively, as the layout's HDR buckets ([`native_schema`]): 8 at the
//! default 3 significant digits, buckets `2^(1/256) - 1` = **0.271 %**
//! wide (the HDR buckets are 0.098 % wide); at 2 digits, schema 6 (1.09 %).
//! Spans and deltas are the standard sparse encoding, built from the
//! non-empty HDR buckets in one pass: each HDR bucket's count goes whole to
//! the native bucket ([`native_bucket`]) of its median value (HDR buckets
//! are not split). A native bucket being at least as wide as an HDR bucket,
//! the values of one HDR bucket span at most two native buckets, so **each
//! sample is counted in its own native bucket or a neighbour** (with the
//! default lowest value, 1 ns; a coarser one puts its first values in wider
//! buckets), and the native buckets' counts sum to `_count`. Latencies of
//! 0 are counted in the zero bucket (threshold `2^-128` s, `client_golang`'s
//! default). Prometheus's `histogram_quantile` over them therefore answers
//! within one native bucket (0.27 %) of tailstore's exact quantile; the
//! real-Prometheus test checks it (0.06 % apart on its data).
//!
//!
//! Label values (series names are user data) are escaped as both formats
//! define (`\\`, `\"`, `\n`); names are valid UTF-8 by construction.
//!
//! # Features
//!
//! * `server`: `serve`, `serve_with`, `serve_reopening` (a read-only store
//!   opened again as scrapes come, to follow a writer), `Server`,
//!   `ServerOptions`; `/metrics` and the API behind one bearer token.
//! * `promtool`: the test group that runs Debian's `promtool check metrics`
//!   (a missing binary fails it).
//! * `real-prometheus`: the test group that starts Debian's Prometheus on
//!   127.0.0.1 scraping a served store, once as is (`OpenMetrics`) and once
//!   with `--enable-feature=native-histograms` (protobuf); a missing binary
//!   fails it.
//!
//! # Panics
//!
//! Nothing here panics on data or on a request.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod encode;
mod error;
mod format;
pub mod grafana;
pub mod promql;
mod protobuf;
#[cfg(feature = "server")]
mod server;

pub use encode::{escape_label_value, metric_name, ActiveAlert, Exposition, Scrape};
pub use error::Error;
pub use format::{Format, Names, INGRESS_NGINX_BUCKETS, TAILSTORE_BUCKETS};
pub use promql::{PromqlApi, PromqlError};
pub use protobuf::{native_bucket, native_schema};
#[cfg(feature = "server")]
pub use server::{serve, serve_reopening, serve_with, AlertSource, Server, ServerOptions};
