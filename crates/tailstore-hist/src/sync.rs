//! The atomics the recorder uses, in one place so that a model checker
//! (`cfg(loom)`) can substitute its own.

pub(crate) use std::sync::atomic::AtomicU64;
