//! Bad input gets a typed error (or documented clamping), never a panic.

use std::time::Duration;

use tailstore::{Error, ErrorSet, Layout, Options, Selector, Store};

use crate::util::secs;

#[test]
fn regex_that_does_not_compile() {
    let e = Selector::regex("/models/(fraud").unwrap_err();
    assert!(e.to_string().contains("/models/(fraud"), "{e}");
}

#[test]
fn end_before_start_and_no_window() {
    let store = Store::in_memory(Options::default());
    let e = store.query(Selector::exact("x")).between(secs(10), secs(5)).run().unwrap_err();
    assert!(matches!(e, Error::Query(_)), "{e:?}");
    assert!(e.to_string().contains("ends before it starts"), "{e}");
    let e = store.query(Selector::exact("x")).run().unwrap_err();
    assert!(matches!(e, Error::NoWindow));
    let before = std::time::UNIX_EPOCH - Duration::from_secs(5);
    assert!(store.query(Selector::exact("x")).between(before, secs(5)).run().is_err());
    // An empty (zero-length) window is fine.
    let w = store.query(Selector::exact("x")).between(secs(5), secs(5)).run().unwrap();
    assert_eq!(w.count(), 0);
}

#[test]
fn quantile_outside_unit_interval() {
    let store = Store::in_memory(Options::default());
    let s = store.series("x");
    s.record(Duration::from_millis(1), 200);
    let w = store.query(Selector::exact("x")).last(Duration::from_secs(5)).run().unwrap();
    for q in [-0.1, 1.0001, 99.0, f64::NAN, f64::INFINITY] {
        assert_eq!(w.quantile(q), None, "q {q}");
        assert!(w.try_quantile(q).is_err(), "q {q}");
    }
    assert!(w.try_quantile(0.5).unwrap().is_some());
    assert_eq!(w.quantiles(&[0.5, 2.0]).len(), 2);
}

#[test]
fn invalid_layouts_and_status_sets() {
    assert!(Layout::new(0, 1, 100).is_err());
    assert!(Layout::new(6, 1, 100).is_err());
    assert!(Layout::new(3, 0, 100).is_err());
    assert!(Layout::new(3, 100, 150).is_err());
    let e = ErrorSet::parse("5xx|abc").unwrap_err();
    assert!(e.to_string().contains("abc"), "{e}");
}
