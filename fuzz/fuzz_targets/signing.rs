#![no_main]
//! `djambda::fuzzing::signing` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| djambda::fuzzing::signing(data));
