//! Bytes, not time: what one series' recorder holds after heavy recording at
//! one second, from one and from two threads, next to one dense
//! hdrhistogram of the same range and precision. A plain `main` (criterion
//! measures time); it prints lines like `memory: 2 threads: N bytes per series`.
//!
//! Run: `cargo bench -p tailstore-benches --bench memory`.

use tailstore::{Options, Store};
use tailstore_benches::{hdr_dense_bytes, latencies_ns, BASE_SECOND};
use tailstore_hist::Layout;

/// Samples each thread records.
const PER_THREAD: usize = 1_000_000;

/// Records `PER_THREAD` lognormal samples from each of `threads` threads into
/// one series at one fixed second; returns the series' recorder bytes.
fn recorder_bytes(threads: u64) -> usize {
    let store = Store::in_memory(Options::default());
    let s = store.series("bench");
    let inputs: Vec<Vec<u64>> = (0..threads).map(|t| latencies_ns(PER_THREAD, 100 + t)).collect();
    std::thread::scope(|sc| {
        for vals in &inputs {
            let s = s.clone();
            sc.spawn(move || {
                for &v in vals {
                    s.record_at_unix(BASE_SECOND, v, 200);
                }
            });
        }
    });
    s.recorder_bytes()
}

fn main() {
    // `cargo bench` passes `--bench` (and any filter); there is nothing to select.
    let one = recorder_bytes(1);
    println!("memory: 1 thread: {one} bytes per series ({PER_THREAD} samples, one second)");
    let two = recorder_bytes(2);
    println!("memory: 2 threads: {two} bytes per series ({PER_THREAD} samples each, one second)");
    println!(
        "memory: hdrhistogram dense (1 us ..= 1 h, 3 digits): {} bytes per histogram",
        hdr_dense_bytes()
    );
    println!(
        "memory: tailstore dense layout (1 us ..= 1 h, 3 digits): {} bytes per Vec<u64> of layout.len()",
        Layout::default().len() * std::mem::size_of::<u64>()
    );
}
