//! End-to-end behaviour tests of the `tailstore` facade, in one binary.

mod util;

mod bad_input;
mod concurrency;
mod damaged;
mod durable;
mod fuzz_corpus;
mod gauges;
mod oracle;
mod range;
mod semantics;
