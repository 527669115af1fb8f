#![no_main]
//! `cargo +nightly fuzz run registry_answer`: see `confer::fuzzing::registry_answer`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::registry_answer(data));
