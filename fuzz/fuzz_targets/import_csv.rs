#![no_main]
//! `cargo +nightly fuzz run import_csv`: see `confer::fuzzing::import_csv`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::import_csv(data));
