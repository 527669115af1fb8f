#![no_main]
//! `cargo +nightly fuzz run booth_cert`: see `confer::fuzzing::booth_cert`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::booth_cert(data));
