#![no_main]
//! `djambda::fuzzing::multipart` under libFuzzer.

libfuzzer_sys::fuzz_target!(|data: &[u8]| djambda::fuzzing::multipart(data));
