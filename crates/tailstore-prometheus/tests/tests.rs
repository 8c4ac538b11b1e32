//! Behaviour tests of tailstore-prometheus: the Grafana dashboard against
//! its golden file, the server on 127.0.0.1
//! (feature `server`) and Debian's `promtool check metrics` on the
//! exposition (feature `promtool`), and a real Prometheus scraping a served store
//! (feature `real-prometheus`); in both groups a missing binary fails.

#[cfg(feature = "server")]
mod api;
mod grafana;
#[cfg(feature = "real-prometheus")]
mod prometheus_real;
#[cfg(feature = "promtool")]
mod promtool;
#[cfg(feature = "server")]
mod server;
mod util;
