//! The harness crate's behaviour tests (one binary).
//!
//! The `hdr_tools` module runs `HdrHistogram`'s own Java and Python tools
//! (feature `hdr-tools`, turned on by `.ci/run`).

mod closed_loop;
mod data;
mod fixture;
#[cfg(feature = "hdr-tools")]
mod hdr_tools;
mod hgrm;
mod open_loop;
