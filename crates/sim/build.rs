//! Builds the tracer library of `sim record` and leaves it in `OUT_DIR`, where
//! `src/record.rs` embeds it with `include_bytes!`.
//!
//! Why not a cargo dependency: linking the tracer into `sim` would make its `malloc`
//! sim's own, and cargo has no stable way to hand one crate's `cdylib` to another. So
//! this script compiles the tracer's single source file (`crates/tracer/src/lib.rs`,
//! which needs nothing but std) with the same `rustc` cargo uses, as a shared library.
//! `sim record` writes the embedded bytes to a temporary file and preloads it, so a
//! fresh clone needs nothing but `cargo run -p sim -- record -- ls`. Elsewhere than
//! Linux with glibc the embedded library is empty and `sim record` says it cannot run.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let src = manifest.join("../tracer/src/lib.rs");
    println!("cargo:rerun-if-changed={}", src.display());
    let out =
        PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join("libbrkmap_tracer.so");
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let libc_env = env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os != "linux" || libc_env != "gnu" {
        std::fs::write(&out, b"").expect("OUT_DIR is writable");
        return;
    }
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = env::var("TARGET").expect("set by cargo");
    let status = Command::new(&rustc)
        .args(["--crate-name", "brkmap_tracer", "--crate-type", "cdylib"])
        .args(["--edition", "2024", "--target", &target])
        .args([
            "-C",
            "opt-level=2",
            "-C",
            "panic=abort",
            "-C",
            "strip=debuginfo",
        ])
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building the tracer library with {rustc:?} failed ({s})"),
        Err(e) => panic!("cannot run {rustc:?} to build the tracer library: {e}"),
    }
}
