#![no_main]
//! `cargo +nightly fuzz run signaling_codec`: see `confer::fuzzing::signaling_codec`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::signaling_codec(data));
