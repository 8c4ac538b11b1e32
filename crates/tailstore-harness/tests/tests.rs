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

/// Held by the timed end-to-end run and by the CPU-heavy property test, so
/// the property's histograms do not take the cores the run's schedule needs.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// [`HEAVY`], also after a test that held it failed.
pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
