//! The benchmark's own eBPF object (`bench/ebpf/lib.rs`), built with
//! galettec's eBPF build so that it shares its toolchain and build cache.

use std::path::Path;

use galettec::codegen::GeneratedCrate;
use galettec::ebpf_build::{BuildEnv, BuildTarget};

use crate::BenchError;

const SOURCE: &str = include_str!("../ebpf/lib.rs");

const CARGO_TOML: &str = r#"# Written by galette-bench. Do not edit.
[package]
name = "galette-bench-ebpf"
version = "0.0.0"
# 2021: the aya-ebpf 0.1 macros emit attributes that edition 2024 rejects.
edition = "2021"
rust-version = "1.95"
publish = false

[lib]
crate-type = ["cdylib"]
path = "src/lib.rs"

[dependencies]
aya-ebpf = "=0.1.1"

[profile.release]
panic = "abort"
opt-level = 3
codegen-units = 1
debug = false

[profile.dev]
panic = "abort"

# Its own workspace: the crate is built outside any project.
[workspace]
resolver = "3"
"#;

/// Builds the object (or takes it from the cache) and returns its bytes.
pub fn build(project_root: &Path) -> Result<Vec<u8>, BenchError> {
    let generated = GeneratedCrate { package: "galette-bench-ebpf".into(), cargo_toml: CARGO_TOML.into(), lib_rs: SOURCE.into() };
    let built = BuildEnv::from_env()
        .build(BuildTarget::Bpf, "bench", &generated, &[], &project_root.join("nf-std"))
        .map_err(|err| BenchError::Setup(format!("cannot build the benchmark's eBPF programs: {err}")))?;
    Ok(built.object)
}
