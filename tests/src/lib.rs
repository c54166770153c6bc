//! Test support shared by the end-to-end tests and the benchmarks: a Lambda Runtime API emulator
//! and helpers to run the built `manage` binary.

pub mod emulator;
pub mod http1;
pub mod process;
