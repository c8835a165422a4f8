//! The benchmark's own eBPF object (`bench/ebpf/lib.rs`), built with
//! galettec's eBPF build so that it shares its toolchain and build cache.

use std::path::Path;

use galettec::cargo_manifest::{CrateTarget, cdylib_manifest};
use galettec::codegen::GeneratedCrate;
use galettec::ebpf_build::{BuildEnv, BuildTarget};

use crate::BenchError;

const SOURCE: &str = include_str!("../ebpf/lib.rs");

/// Builds the object (or takes it from the cache) and returns its bytes.
pub fn build(project_root: &Path) -> Result<Vec<u8>, BenchError> {
    let package = "galette-bench-ebpf";
    let generated = GeneratedCrate {
        package: package.into(),
        cargo_toml: cdylib_manifest(package, &[], CrateTarget::Bpf),
        lib_rs: SOURCE.into(),
    };
    let built = BuildEnv::from_env()
        .build(BuildTarget::Bpf, "bench", &generated, &[], &project_root.join("nf-std"))
        .map_err(|err| BenchError::Setup(format!("cannot build the benchmark's eBPF programs: {err}")))?;
    Ok(built.object)
}
