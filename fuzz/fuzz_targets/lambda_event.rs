#![no_main]
//! `djambda::fuzzing::lambda_event` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| djambda::fuzzing::lambda_event(data));
