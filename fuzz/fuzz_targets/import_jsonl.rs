#![no_main]
//! `cargo +nightly fuzz run import_jsonl`: see `confer::fuzzing::import_jsonl`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::import_jsonl(data));
