#![no_main]
//! cargo +nightly fuzz run open_dir

libfuzzer_sys::fuzz_target!(|data: &[u8]| tailstore_fuzz::open_dir_target(data));
