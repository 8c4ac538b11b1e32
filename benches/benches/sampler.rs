//! The process sampler's own cost (a plain `main` that prints): a store
//! samples itself every 10 ms for 5 s; the sampler thread's CPU time (its
//! `/proc/self/task/<tid>/schedstat`, nanoseconds on a CPU) over the samples
//! it took (the count of `process_threads` values) is the cost of one
//! sample, and that cost once a second is the share of a core at the
//! default 1 s interval.
//!
//! Run: `cargo bench -p tailstore-benches --bench sampler`.

use std::time::Duration;

use tailstore::{Options, Selector, Store};

/// Nanoseconds on a CPU of the thread named `name` (as the kernel keeps it).
fn thread_cpu_ns(name: &str) -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let path = task.ok()?.path();
        let comm = std::fs::read_to_string(path.join("comm")).ok()?;
        if comm.trim() == name {
            let sched = std::fs::read_to_string(path.join("schedstat")).ok()?;
            return sched.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

fn main() {
    let store = Store::in_memory(Options::default());
    // Rounded up to 10 ms by the store.
    let _ = store.sample_process(Duration::from_millis(10));
    std::thread::sleep(Duration::from_secs(5));
    let Some(ns) = thread_cpu_ns("tailstore-sampl") else {
        println!("sampler: no /proc/self/task (not Linux?)");
        return;
    };
    let st = store
        .gauge_query(Selector::exact("process_threads"))
        .last(Duration::from_secs(60))
        .run()
        .expect("a window");
    let samples = st.count().max(1);
    #[expect(clippy::cast_precision_loss, reason = "nanoseconds of a few seconds")]
    let per = ns as f64 / samples as f64;
    println!(
        "sampler: {samples} samples, {:.1} us of CPU per sample: {:.4} % of a core at 1 s",
        per / 1e3,
        per / 1e9 * 100.0
    );
}
