#![no_main]
//! `djambda::fuzzing::form` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| djambda::fuzzing::form(data));
