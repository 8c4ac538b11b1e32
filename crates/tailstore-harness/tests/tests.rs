//! The harness crate's behaviour tests (one binary).
