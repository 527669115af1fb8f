#![no_main]
//! `cargo +nightly fuzz run tokens`: see `confer::fuzzing::tokens`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::tokens(data));
