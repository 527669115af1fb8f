#![no_main]
//! `cargo +nightly fuzz run sdp_offer`: see `confer::fuzzing::sdp_offer`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| confer::fuzzing::sdp_offer(data));
