#![no_main]
//! cargo +nightly fuzz run decode_chunk

libfuzzer_sys::fuzz_target!(|data: &[u8]| tailstore_fuzz::decode_chunk_target(data));
