//! The benchmark's own programs, as binaries of this crate (see `tests/bench/run.sh`):
//!
//! - `axum_ref`: a hand-written axum + Tera server rendering the example site's dashboard, the
//!   reference djambda's runserver throughput is compared against;
//! - `lambda_hello`: a bare lambda_http "hello" function, the reference for cold starts;
//! - `coldstart`: runs a Lambda `bootstrap` under the Runtime API emulator of the `tests` crate and
//!   measures its init time, first invocation, peak RSS and size.
