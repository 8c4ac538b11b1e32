#![no_main]
//! cargo +nightly fuzz run decode_hist

libfuzzer_sys::fuzz_target!(|data: &[u8]| tailstore_fuzz::decode_hist(data));
