//! Building a generated crate with cargo: the chain's eBPF object with
//! bpf-linker, and userland NF libraries for each platform (cross-linked
//! with [`galette_cross`] for another machine's).

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::{env, fs, io};

use galette_bundle::Platform;
use galette_cross::{CrossError, CrossToolchain};

use crate::build_cache;
use crate::codegen::GeneratedCrate;

/// The BPF target the chain's XDP part is built for.
pub const BPF_TARGET: &str = "bpfel-unknown-none";

/// What a generated crate is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildTarget {
    /// The chain's XDP part: an eBPF object.
    Bpf,
    /// A userland NF: a shared library for a platform.
    Userland(Platform),
}

impl BuildTarget {
    fn rust_target(self) -> &'static str {
        match self {
            BuildTarget::Bpf => BPF_TARGET,
            BuildTarget::Userland(platform) => platform.rust_target(),
        }
    }

    /// Where cargo builds: one directory for all userland platforms (each
    /// gets its own subdirectory there from `--target`).
    fn target_dir(self) -> &'static str {
        match self {
            BuildTarget::Bpf => "target-bpf",
            BuildTarget::Userland(_) => "target-host",
        }
    }

    fn output_dir(self, target_dir: &Path) -> PathBuf {
        target_dir.join(self.rust_target()).join("release")
    }

    /// Whether `bytes` are an ELF file of the right machine.
    fn accepts(self, bytes: &[u8]) -> bool {
        let machine = match self {
            BuildTarget::Bpf => 247, // EM_BPF
            BuildTarget::Userland(platform) => platform.elf_machine(),
        };
        bytes.len() > 20 && bytes.starts_with(b"\x7fELF") && u16::from_le_bytes([bytes[18], bytes[19]]) == machine
    }

    /// In error messages: "does not compile for ...".
    fn describe(self) -> String {
        match self {
            BuildTarget::Bpf => "XDP".to_owned(),
            BuildTarget::Userland(platform) => format!("userland ({platform})"),
        }
    }
}

/// A built object: an eBPF object or a shared library.
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
    /// Whether to show a progress line on stderr while cargo builds.
    pub progress: bool,
}

/// An NF crate a chain builds, and the instances that use it: a compile error
/// in it is reported as that NF's.
#[derive(Debug, Clone)]
pub struct NfCrate {
    pub dir: PathBuf,
    /// The source as written in the chain (`std.macswap`).
    pub source_name: String,
    pub instances: Vec<String>,
}

/// What cargo's JSON messages said: how far the build got, and the errors
/// of each package.
#[derive(Default)]
struct CargoMessages {
    compiled: usize,
    /// (package id, rendered error), in the order reported.
    errors: Vec<(String, String)>,
}

impl CargoMessages {
    fn read(&mut self, line: &str, progress_for: Option<&str>) {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else { return };
        match message["reason"].as_str() {
            Some("compiler-artifact") => {
                self.compiled += 1;
                if let Some(chain) = progress_for {
                    let name = message["target"]["name"].as_str().unwrap_or("?");
                    eprint!("\r    Building {chain}: {} crates compiled, last {name:<30}", self.compiled);
                }
            }
            Some("compiler-message") if message["message"]["level"] == "error" => {
                let package = message["package_id"].as_str().unwrap_or_default().to_owned();
                let rendered = message["message"]["rendered"].as_str().unwrap_or_default().trim_end().to_owned();
                self.errors.push((package, rendered));
            }
            _ => {}
        }
    }

    /// The error to report: the first NF crate with compile errors, as that
    /// NF's error; otherwise every compiler error, or cargo's own message.
    fn into_error(self, chain: &str, target: BuildTarget, stderr: &str, nf_crates: &[NfCrate]) -> BuildError {
        for nf in nf_crates {
            let errors: Vec<&str> = self
                .errors
                .iter()
                .filter(|(package, _)| package_dir(package).is_some_and(|dir| dir == nf.dir))
                .map(|(_, rendered)| rendered.as_str())
                .collect();
            if !errors.is_empty() {
                return BuildError::NfCompile {
                    target: target.describe(),
                    source_name: nf.source_name.clone(),
                    instances: nf.instances.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", "),
                    errors: errors.join("\n\n"),
                };
            }
        }
        let errors = if self.errors.is_empty() {
            cargo_errors(stderr)
        } else {
            self.errors.into_iter().map(|(_, rendered)| rendered).collect::<Vec<_>>().join("\n\n")
        };
        BuildError::Compile { chain: chain.to_owned(), errors }
    }
}

/// The directory of a path package from its cargo package id
/// (`path+file:///work/nf#0.1.0`, or the older `name 0.1.0 (path+file:///work/nf)`).
fn package_dir(package_id: &str) -> Option<PathBuf> {
    let start = package_id.find("path+file://")? + "path+file://".len();
    let rest = &package_id[start..];
    let end = rest.find(['#', ')']).unwrap_or(rest.len());
    Some(PathBuf::from(&rest[..end]))
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{tool} was not found; it is needed to build eBPF")]
    MissingTool { tool: &'static str, help: &'static str },
    #[error("cannot write the generated crate in {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
    #[error("cannot run cargo: {0}")]
    Spawn(io::Error),
    #[error("the build of chain `{chain}` failed:\n{errors}")]
    Compile { chain: String, errors: String },
    #[error("the NF {source_name} (used by {instances}) does not compile for {target}:\n{errors}")]
    NfCompile { source_name: String, instances: String, target: String, errors: String },
    #[error("the build succeeded but {} is missing or not an object for its target", path.display())]
    BadObject { path: PathBuf },
    #[error("cannot build userland NFs for {platform}: {source}")]
    Cross { platform: Platform, source: CrossError },
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
        BuildEnv { cache_dir, progress: false }
    }

    /// Builds `generated` for `target`, or takes its object from the cache
    /// when nothing it is built from (the generated crate, the NF crates,
    /// nf-std in `nf_std_dir`, the toolchain, the target) has changed.
    pub fn build(
        &self,
        target: BuildTarget,
        chain: &str,
        generated: &GeneratedCrate,
        nf_crates: &[NfCrate],
        nf_std_dir: &Path,
    ) -> Result<Built, BuildError> {
        let mut source_dirs: Vec<PathBuf> = nf_crates.iter().map(|nf| nf.dir.clone()).collect();
        source_dirs.push(nf_std_dir.to_owned());
        let cargo_bin = cargo_bin_dir();
        let path_var = search_path(&cargo_bin);
        let (linker, cross) = match target {
            BuildTarget::Bpf => {
                let linker = find_tool("bpf-linker", &path_var).ok_or(BuildError::MissingTool {
                    tool: "bpf-linker",
                    help: "run `cargo xtask setup`, which builds bpf-linker against rustc's own LLVM",
                })?;
                (linker, None)
            }
            BuildTarget::Userland(platform) => match CrossToolchain::for_platform(platform) {
                // This machine's platform links with the system's linker, like any crate.
                Ok(None) => (PathBuf::from("cc"), None),
                Ok(Some(cross)) => (PathBuf::from(cross.tool("gcc")), Some(cross)),
                Err(source) => return Err(BuildError::Cross { platform, source }),
            },
        };
        let mut toolchain = format!("{}\n{}", target.rust_target(), build_cache::tool_version(&linker, "--version"));
        if let Some(cross) = &cross {
            // Which Debian 11 packages the sysroot holds.
            toolchain += &fs::read_to_string(cross.sysroot.join(galette_cross::SYSROOT_STAMP)).unwrap_or_default();
        }
        let key = build_cache::content_key(generated, &source_dirs, &toolchain);
        if let Some(object) = build_cache::lookup(&self.cache_dir, &key).filter(|object| target.accepts(object)) {
            return Ok(Built { object, cached: true });
        }
        let object = self.run_cargo(target, cross.as_ref(), chain, generated, &path_var, nf_crates)?;
        // A cache that cannot be written only costs the next build time.
        let _ = build_cache::store(&self.cache_dir, &key, &object);
        Ok(Built { object, cached: false })
    }

    fn run_cargo(
        &self,
        target: BuildTarget,
        cross: Option<&CrossToolchain>,
        chain: &str,
        generated: &GeneratedCrate,
        path_var: &std::ffi::OsStr,
        nf_crates: &[NfCrate],
    ) -> Result<Vec<u8>, BuildError> {
        // Both targets build the standard library from source: `core` for
        // eBPF, and for userland a `std` without its backtrace printer
        // (gimli, addr2line), a third of a small NF's library.
        if !rust_src_installed() {
            return Err(BuildError::MissingTool {
                tool: "the rust-src component",
                help: "run `cargo xtask setup` (or `rustup component add rust-src`)",
            });
        }

        let crate_dir = self.cache_dir.join("chains").join(&generated.package);
        write_if_changed(&crate_dir.join("Cargo.toml"), &generated.cargo_toml)?;
        write_if_changed(&crate_dir.join("src").join("lib.rs"), &generated.lib_rs)?;
        let target_dir = self.cache_dir.join(target.target_dir());

        let mut command = Command::new(cargo_program());
        command.args(["build", "--release", "--target", target.rust_target()]);
        match target {
            BuildTarget::Bpf => command.args(["-Z", "build-std=core"]),
            BuildTarget::Userland(_) => command.args([
                "-Z",
                "build-std=std,panic_unwind",
                "-Z",
                "build-std-features=panic-unwind,optimize_for_size",
            ]),
        };
        // Lets stable cargo accept -Z build-std; scoped to this build only.
        command.env("RUSTC_BOOTSTRAP", "1");
        let mut child = command
            .args(["--message-format", "json", "--manifest-path"])
            .arg(crate_dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir)
            .env("PATH", path_var)
            // Settings meant for an outer build (e.g. when run from a test)
            // must not leak into the eBPF one.
            .env_remove("RUSTFLAGS")
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("CARGO_TARGET_DIR")
            .env_remove("CARGO_BUILD_TARGET")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .envs(cross.map(CrossToolchain::cargo_env).unwrap_or_default())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(BuildError::Spawn)?;
        // cargo's own messages (stderr) are read on a thread, so neither pipe
        // can fill up and stall the build.
        let stderr = child.stderr.take().expect("piped");
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::BufReader::new(stderr), &mut text);
            text
        });
        let mut messages = CargoMessages::default();
        for line in std::io::BufReader::new(child.stdout.take().expect("piped")).lines().map_while(Result::ok) {
            messages.read(&line, self.progress.then(|| format!("{} for `{chain}`", target.describe())).as_deref());
        }
        let status = child.wait().map_err(BuildError::Spawn)?;
        let stderr = stderr_reader.join().unwrap_or_default();
        if self.progress && messages.compiled > 0 {
            eprintln!();
        }
        if !status.success() {
            return Err(messages.into_error(chain, target, &stderr, nf_crates));
        }

        let object = target.output_dir(&target_dir).join(generated.object_file_name());
        let bytes = fs::read(&object).map_err(|_| BuildError::BadObject { path: object.clone() })?;
        if !target.accepts(&bytes) {
            return Err(BuildError::BadObject { path: object });
        }
        Ok(bytes)
    }
}

/// The lines of cargo's own output worth showing (e.g. a dependency that
/// cannot be resolved), without the progress noise.
fn cargo_errors(text: &str) -> String {
    let relevant: Vec<&str> = text
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !(line.starts_with("Compiling")
                || line.starts_with("Updating")
                || line.starts_with("Locking")
                || line.starts_with("Adding")
                || line.starts_with("Downloaded")
                || line.starts_with("Downloading"))
        })
        .collect();
    let tail = relevant.len().saturating_sub(60);
    relevant[tail..].join("\n")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_ids_name_their_directory() {
        assert_eq!(package_dir("path+file:///work/nfs/acl#0.1.0"), Some(PathBuf::from("/work/nfs/acl")));
        assert_eq!(package_dir("path+file:///work/nfs/acl#acl@0.1.0"), Some(PathBuf::from("/work/nfs/acl")));
        assert_eq!(package_dir("acl 0.1.0 (path+file:///work/nfs/acl)"), Some(PathBuf::from("/work/nfs/acl")));
        assert_eq!(package_dir("registry+https://x#aya-ebpf@0.1.1"), None);
    }

    #[test]
    fn an_error_in_an_nf_crate_is_that_nfs_error() {
        let mut messages = CargoMessages::default();
        let error = r#"{"reason":"compiler-message","package_id":"path+file:///nfs/acl#0.1.0","message":{"level":"error","rendered":"error[E0425]: cannot find value `x`"}}"#;
        messages.read(error, None);
        messages.read(r#"{"reason":"compiler-artifact","target":{"name":"core"}}"#, None);
        assert_eq!(messages.compiled, 1);
        let nf =
            NfCrate { dir: "/nfs/acl".into(), source_name: "std.acl".into(), instances: vec!["a".into(), "b".into()] };
        let error = messages.into_error("c", BuildTarget::Bpf, "", &[nf]);
        assert_eq!(
            error.to_string(),
            "the NF std.acl (used by `a`, `b`) does not compile for XDP:\nerror[E0425]: cannot find value `x`"
        );
    }
}
