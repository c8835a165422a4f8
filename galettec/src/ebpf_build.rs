//! Building a generated eBPF crate with cargo and bpf-linker.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::{env, fs, io};

use crate::build_cache;
use crate::codegen::GeneratedCrate;

/// The BPF target the chain's XDP part is built for.
pub const BPF_TARGET: &str = "bpfel-unknown-none";

/// A built eBPF object.
#[derive(Debug)]
pub struct Built {
    pub object: Vec<u8>,
    /// Whether it came from the build cache, without running cargo.
    pub cached: bool,
}

/// Where builds happen.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    /// Holds the generated crates and the shared BPF target directory, so a
    /// second build of the same chain (or of any chain) starts warm.
    pub cache_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{tool} was not found; it is needed to build eBPF")]
    MissingTool { tool: &'static str, help: &'static str },
    #[error("cannot write the generated crate in {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot run cargo: {0}")]
    Spawn(io::Error),
    #[error("the eBPF build of chain `{chain}` failed:\n{errors}")]
    Compile { chain: String, errors: String },
    #[error("the eBPF build succeeded but {} is missing or not an eBPF object", path.display())]
    BadObject { path: PathBuf },
}

impl BuildError {
    /// What the user can do about it, when there is something.
    pub fn help(&self) -> Option<&'static str> {
        match self {
            BuildError::MissingTool { help, .. } => Some(help),
            _ => None,
        }
    }
}

impl BuildEnv {
    /// `$GALETTE_CACHE_DIR`, else `$XDG_CACHE_HOME/galette`, else
    /// `~/.cache/galette`, else a directory under the system's temp dir.
    pub fn from_env() -> BuildEnv {
        let cache_dir = env::var_os("GALETTE_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| env::var_os("XDG_CACHE_HOME").map(|dir| PathBuf::from(dir).join("galette")))
            .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache").join("galette")))
            .unwrap_or_else(|| env::temp_dir().join("galette-cache"));
        BuildEnv { cache_dir }
    }

    /// Builds `generated` for the BPF target, or takes its object from the
    /// cache when nothing it is built from (the generated crate, the crates in
    /// `source_dirs`, the toolchain) has changed.
    pub fn build(&self, chain: &str, generated: &GeneratedCrate, source_dirs: &[PathBuf]) -> Result<Built, BuildError> {
        let cargo_bin = cargo_bin_dir();
        let path_var = search_path(&cargo_bin);
        let bpf_linker = find_tool("bpf-linker", &path_var).ok_or(BuildError::MissingTool {
            tool: "bpf-linker",
            help: "run `cargo xtask setup`, which builds bpf-linker against rustc's own LLVM",
        })?;
        let key = build_cache::content_key(generated, source_dirs, &bpf_linker);
        if let Some(object) = build_cache::lookup(&self.cache_dir, &key).filter(|object| is_bpf_elf(object)) {
            return Ok(Built { object, cached: true });
        }
        let object = self.run_cargo(chain, generated, &path_var)?;
        // A cache that cannot be written only costs the next build time.
        let _ = build_cache::store(&self.cache_dir, &key, &object);
        Ok(Built { object, cached: false })
    }

    fn run_cargo(&self, chain: &str, generated: &GeneratedCrate, path_var: &std::ffi::OsStr) -> Result<Vec<u8>, BuildError> {
        if !rust_src_installed() {
            return Err(BuildError::MissingTool {
                tool: "the rust-src component",
                help: "run `cargo xtask setup` (or `rustup component add rust-src`)",
            });
        }

        let crate_dir = self.cache_dir.join("chains").join(&generated.package);
        write_if_changed(&crate_dir.join("Cargo.toml"), &generated.cargo_toml)?;
        write_if_changed(&crate_dir.join("src").join("lib.rs"), &generated.lib_rs)?;
        let target_dir = self.cache_dir.join("target-bpf");

        let output = Command::new(cargo_program())
            .args(["build", "--release", "-Z", "build-std=core", "--target", BPF_TARGET])
            .args(["--message-format", "short", "--manifest-path"])
            .arg(crate_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            // Lets stable cargo accept -Z build-std; scoped to this build only.
            .env("RUSTC_BOOTSTRAP", "1")
            .env("PATH", path_var)
            // Settings meant for an outer build (e.g. when run from a test)
            // must not leak into the eBPF one.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .output()
            .map_err(BuildError::Spawn)?;
        if !output.status.success() {
            return Err(BuildError::Compile { chain: chain.to_owned(), errors: compiler_errors(&output.stderr) });
        }

        let object = target_dir.join(BPF_TARGET).join("release").join(generated.object_file_name());
        let bytes = fs::read(&object).map_err(|_| BuildError::BadObject { path: object.clone() })?;
        if !is_bpf_elf(&bytes) {
            return Err(BuildError::BadObject { path: object });
        }
        Ok(bytes)
    }
}

/// The lines of cargo's output worth showing: errors and what follows them,
/// without the progress noise.
fn compiler_errors(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let relevant: Vec<&str> = text
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("Compiling") || line.starts_with("Updating") || line.starts_with("Locking") || line.starts_with("Adding") || line.starts_with("Downloaded") || line.starts_with("Downloading"))
        })
        .collect();
    let tail = relevant.len().saturating_sub(60);
    relevant[tail..].join("\n")
}

/// ELF, 64-bit, little-endian, machine EM_BPF (247).
fn is_bpf_elf(bytes: &[u8]) -> bool {
    bytes.len() > 20 && bytes.starts_with(b"\x7fELF") && u16::from_le_bytes([bytes[18], bytes[19]]) == 247
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), BuildError> {
    let write_error = |source| BuildError::Write { path: path.to_owned(), source };
    if fs::read_to_string(path).is_ok_and(|existing| existing == text) {
        return Ok(()); // Keeps cargo's fingerprint, so nothing is rebuilt.
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(write_error)?;
    }
    fs::write(path, text).map_err(write_error)
}

fn cargo_program() -> PathBuf {
    env::var_os("CARGO").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("cargo"))
}

/// `~/.cargo/bin`, where `cargo install` put bpf-linker.
fn cargo_bin_dir() -> Option<PathBuf> {
    env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .map(|home| home.join("bin"))
}

/// PATH with cargo's bin directory added, so bpf-linker is found even when the
/// user's shell does not list it.
fn search_path(cargo_bin: &Option<PathBuf>) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH").map(|p| env::split_paths(&p).collect()).unwrap_or_default();
    if let Some(dir) = cargo_bin
        && !dirs.contains(dir)
    {
        dirs.push(dir.clone());
    }
    env::join_paths(dirs).unwrap_or_default()
}

fn find_tool(name: &str, path_var: &std::ffi::OsStr) -> Option<PathBuf> {
    env::split_paths(path_var).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

fn rust_src_installed() -> bool {
    let Ok(output) = Command::new("rustc").args(["--print", "sysroot"]).output() else { return false };
    let sysroot = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    Path::new(&sysroot).join("lib/rustlib/src/rust/library/core").is_dir()
}
