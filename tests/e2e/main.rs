//! End-to-end tests: the example site through the in-process test client, the built `manage`
//! binary as a dev server over real TCP, and the same binary as a Lambda function under the
//! Runtime API emulator fed AWS's own sample events.

mod bootstrap;
mod client;
mod db;
mod lambda;
mod migrate;
mod runserver;

/// The debug `manage` binary Cargo built for this test run.
pub fn manage_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_manage"))
}
