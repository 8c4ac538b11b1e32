//! Fuzz target bodies, shared with the stable test that replays the corpora
//! (`tests/fuzz_corpus.rs` includes `targets.rs` by path).

mod targets;
pub use targets::*;
