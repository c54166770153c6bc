#![no_main]
//! `djambda::fuzzing::querydict` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| djambda::fuzzing::querydict(data));
