#![no_main]
//! `cargo +nightly fuzz run upload_sniff`: see `confer::fuzzing::upload_sniff`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::upload_sniff(data));
