//! Behaviour tests of tailstore-prometheus: the server on 127.0.0.1
//! (feature `server`) and Debian's `promtool check metrics` on the
//! exposition (feature `promtool`; a missing binary fails it).

#[cfg(feature = "promtool")]
mod promtool;
#[cfg(feature = "server")]
mod server;
mod util;
