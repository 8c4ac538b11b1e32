//! The route table: series handles by name, read without a lock.
//!
//! Readers load an immutable map through an [`ArcSwap`] (no lock, no
//! allocation) and clone the `Arc` of the handles they find. A name seen
//! for the first time takes the `grow` mutex, copies the map with the new
//! entry and publishes the copy: O(routes) once per route, bounded by the
//! cap.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use http::Method;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tailstore::{Series, Store, OVERFLOW_SERIES};

use crate::{TTFB_PREFIX, UNMATCHED_SERIES};

/// The series of one route: every request in `total`, the response head of
/// streamed bodies in `ttfb` (created on the first streamed response).
pub(crate) struct Handles {
    pub(crate) total: Series,
    ttfb: OnceLock<Series>,
    store: Store,
}

impl Handles {
    fn new(store: &Store, name: &str) -> Handles {
        Handles { total: store.series(name), ttfb: OnceLock::new(), store: store.clone() }
    }

    /// Records one request's time to its response head into the route's
    /// `ttfb:` series.
    pub(crate) fn record_ttfb(&self, latency: Duration, status: u16) {
        self.ttfb
            .get_or_init(|| self.store.series(&format!("{TTFB_PREFIX}{}", self.total.name())))
            .record(latency, status);
    }
}

/// The methods a method prefix names; any other is `OTHER` (methods are
/// client data too: an extension method must not make a series).
const METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::CONNECT,
    Method::OPTIONS,
    Method::TRACE,
    Method::PATCH,
];
const OTHER_METHOD: &str = "OTHER";

/// The slot of `method` in a table keyed by method: 0..=8 for the standard
/// methods, 9 for any other.
pub(crate) fn method_slot(method: &Method) -> usize {
    METHODS.iter().position(|m| m == method).unwrap_or(METHODS.len())
}

fn method_name(slot: usize) -> &'static str {
    METHODS.get(slot).map_or(OTHER_METHOD, Method::as_str)
}

/// One map per method slot (one in all when names have no method prefix).
/// `FxHash`: keys are route templates and name-function answers, at most
/// `max_routes` of them, inserted only through the cap, so a client can
/// neither choose nor flood them.
type Maps = Vec<FxHashMap<Box<str>, Arc<Handles>>>;

pub(crate) struct Routes {
    store: Store,
    method_prefix: bool,
    cap: usize,
    maps: ArcSwap<Maps>,
    grow: Mutex<()>,
    /// Routes in `maps`, kept beside them so the full check needs no sum.
    len: AtomicU64,
    /// Created on first use, so a store shows them only when they hold data.
    overflow: OnceLock<Arc<Handles>>,
    unmatched: Vec<OnceLock<Arc<Handles>>>,
    pub(crate) overflowed: AtomicU64,
}

impl Routes {
    pub(crate) fn new(store: &Store, method_prefix: bool, max_routes: usize) -> Routes {
        let slots = if method_prefix { METHODS.len() + 1 } else { 1 };
        Routes {
            store: store.clone(),
            method_prefix,
            cap: max_routes,
            maps: ArcSwap::from_pointee(vec![FxHashMap::default(); slots]),
            grow: Mutex::new(()),
            len: AtomicU64::new(0),
            overflow: OnceLock::new(),
            unmatched: (0..slots).map(|_| OnceLock::new()).collect(),
            overflowed: AtomicU64::new(0),
        }
    }

    fn slot(&self, method: &Method) -> usize {
        if self.method_prefix {
            method_slot(method)
        } else {
            0
        }
    }

    pub(crate) fn routes(&self) -> usize {
        usize::try_from(self.len.load(Relaxed)).unwrap_or(usize::MAX)
    }

    fn full(&self) -> bool {
        self.cap > 0 && self.routes() >= self.cap
    }

    /// The handles of the requests no route or name function named.
    pub(crate) fn unmatched(&self, method: &Method) -> Arc<Handles> {
        let slot = self.slot(method);
        let Some(cell) = self.unmatched.get(slot) else {
            // `unmatched` has one cell per slot by construction.
            return self.overflow();
        };
        let h = cell.get_or_init(|| {
            let name = if self.method_prefix {
                format!("{} {UNMATCHED_SERIES}", method_name(slot))
            } else {
                UNMATCHED_SERIES.to_string()
            };
            Arc::new(Handles::new(&self.store, &name))
        });
        Arc::clone(h)
    }

    /// The handles of the overflow series, counting the request.
    fn overflow(&self) -> Arc<Handles> {
        self.overflowed.fetch_add(1, Relaxed);
        let h = self.overflow.get_or_init(|| Arc::new(Handles::new(&self.store, OVERFLOW_SERIES)));
        Arc::clone(h)
    }

    /// The handles of route `name` (a route template or a name function's
    /// answer) for `method`: a lock-free lookup once the route is known;
    /// the overflow series' once the table holds `max_routes` routes.
    pub(crate) fn get(&self, method: &Method, name: &str) -> Arc<Handles> {
        let slot = self.slot(method);
        if let Some(h) = self.maps.load().get(slot).and_then(|m| m.get(name)) {
            return Arc::clone(h);
        }
        if self.full() {
            return self.overflow();
        }
        self.insert(slot, name)
    }

    #[cold]
    fn insert(&self, slot: usize, name: &str) -> Arc<Handles> {
        let _grow = self.grow.lock();
        let current = self.maps.load_full();
        if let Some(h) = current.get(slot).and_then(|m| m.get(name)) {
            return Arc::clone(h);
        }
        if self.full() {
            return self.overflow();
        }
        let series_name = if self.method_prefix {
            format!("{} {name}", method_name(slot))
        } else {
            name.to_string()
        };
        let handles = Arc::new(Handles::new(&self.store, &series_name));
        let mut next: Maps = (*current).clone();
        if let Some(m) = next.get_mut(slot) {
            m.insert(Box::from(name), Arc::clone(&handles));
        }
        self.maps.store(Arc::new(next));
        self.len.fetch_add(1, Relaxed);
        handles
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tailstore::Options;

    #[test]
    fn methods_map_to_slots_and_back() {
        for (i, m) in METHODS.iter().enumerate() {
            assert_eq!(method_slot(m), i);
            assert_eq!(method_name(i), m.as_str());
        }
        let ext = Method::from_bytes(b"SCAN").unwrap();
        assert_eq!(method_name(method_slot(&ext)), "OTHER");
    }

    #[test]
    fn a_route_is_created_once_and_the_cap_holds() {
        let store = Store::in_memory(Options::default());
        let r = Routes::new(&store, false, 2);
        let a = r.get(&Method::GET, "/a");
        let a2 = r.get(&Method::POST, "/a");
        assert!(Arc::ptr_eq(&a, &a2), "without a prefix the method does not matter");
        let _b = r.get(&Method::GET, "/b");
        let c = r.get(&Method::GET, "/c");
        assert_eq!(c.total.name(), OVERFLOW_SERIES);
        assert_eq!(r.routes(), 2);
        assert_eq!(r.overflowed.load(Relaxed), 1);
        let p = Routes::new(&store, true, 0);
        assert_eq!(p.get(&Method::POST, "/a").total.name(), "POST /a");
        assert_eq!(p.unmatched(&Method::DELETE).total.name(), "DELETE unmatched");
    }
}
