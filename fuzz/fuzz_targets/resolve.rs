#![no_main]
//! `djambda::fuzzing::resolve` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| djambda::fuzzing::resolve(data));
