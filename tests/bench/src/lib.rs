//! Reference servers the benchmarks compare djambda against, the cold-start meter, and what the
//! TechEmpower "fortunes" test shares between its djambda site and its axum reference.

pub mod fortune;
