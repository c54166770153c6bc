//! Links `manage` as a fixed-address executable on Linux (`-no-pie`, what Go builds by
//! default). A position-independent executable makes the dynamic loader patch every pointer in
//! the binary's data at each start — about 27,000 relocations over 400 KB for this site — which
//! was a quarter of a Lambda cold start's CPU. The code is still compiled position-independent,
//! so only the link changes; shared libraries, stack and heap keep their random addresses.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-bins=-no-pie");
    }
}
