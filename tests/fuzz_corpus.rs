//! The fuzz targets' seed corpora, replayed on stable as ordinary tests so CI
//! exercises every decoder path the corpora reach (fuzzing itself needs
//! nightly: `cd fuzz && cargo +nightly fuzz run decode_hist`).

#[path = "../fuzz/src/targets.rs"]
mod targets;

fn replay(target: &str, body: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        body(&data);
        n += 1;
    }
    assert!(n >= 5, "corpus {} has only {n} inputs", dir.display());
}

#[test]
fn decode_hist_corpus() {
    replay("decode_hist", targets::decode_hist);
}

#[test]
fn decode_chunk_corpus() {
    replay("decode_chunk", targets::decode_chunk_target);
}

#[test]
fn open_dir_corpus() {
    replay("open_dir", targets::open_dir_target);
}
