//! The build cache: an eBPF object or NF library is stored under a hash of
//! everything it was built from, so compiling an unchanged chain again does
//! no cargo work.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use galette_bundle::sha256_hex;

use crate::codegen::GeneratedCrate;

/// Bump when what goes into a build changes in a way the inputs below do
/// not show (e.g. new build flags).
const CACHE_FORMAT: &str = "galette-object-v2";

/// The cache key of `generated`, built against the crates in `source_dirs`
/// with `toolchain` (the target, and the versions of the linker and of
/// whatever else the build uses beyond rustc): a SHA-256 over the generated
/// crate, every file of those crates (but their `target/` directories),
/// rustc's version and `toolchain`.
pub fn content_key(generated: &GeneratedCrate, source_dirs: &[PathBuf], toolchain: &str) -> String {
    let mut input: Vec<u8> = Vec::new();
    for part in
        [CACHE_FORMAT, &generated.cargo_toml, &generated.lib_rs, &tool_version(Path::new("rustc"), "-vV"), toolchain]
    {
        input.extend_from_slice(&(part.len() as u64).to_le_bytes());
        input.extend_from_slice(part.as_bytes());
    }
    let mut dirs = source_dirs.to_vec();
    dirs.sort();
    dirs.dedup();
    for dir in dirs {
        for file in crate_files(&dir) {
            let contents = fs::read(&file).unwrap_or_default();
            let name = file.strip_prefix(&dir).unwrap_or(&file).to_string_lossy().into_owned();
            for part in [dir.to_string_lossy().as_bytes(), name.as_bytes(), &contents] {
                input.extend_from_slice(&(part.len() as u64).to_le_bytes());
                input.extend_from_slice(part);
            }
        }
    }
    sha256_hex(&input)
}

/// Where the object for `key` is kept.
pub fn object_path(cache_dir: &Path, key: &str) -> PathBuf {
    cache_dir.join("objects").join(format!("{key}.o"))
}

/// The cached object for `key`, if there is one.
pub fn lookup(cache_dir: &Path, key: &str) -> Option<Vec<u8>> {
    fs::read(object_path(cache_dir, key)).ok()
}

/// Keeps `object` for `key`. Written to a temporary file first, so a reader
/// never sees half an object.
pub fn store(cache_dir: &Path, key: &str, object: &[u8]) -> std::io::Result<()> {
    let path = object_path(cache_dir, key);
    fs::create_dir_all(path.parent().expect("objects/ has a parent"))?;
    let partial = path.with_extension(format!("o.{}.partial", std::process::id()));
    fs::write(&partial, object)?;
    fs::rename(partial, path)
}

/// Every file of a crate directory, sorted, leaving out build output and
/// hidden directories.
fn crate_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = fs::read_dir(&current) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if path.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    pending.push(path);
                }
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// What `tool flag` prints (its version), or nothing if it cannot run.
pub fn tool_version(tool: &Path, flag: &str) -> String {
    Command::new(tool)
        .arg(flag)
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generated(lib_rs: &str) -> GeneratedCrate {
        GeneratedCrate { package: "p".into(), cargo_toml: "[package]".into(), lib_rs: lib_rs.into() }
    }

    #[test]
    fn the_key_changes_with_the_generated_code_and_the_sources() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/lib.rs"), "a").unwrap();
        let dirs = [dir.path().to_owned()];
        let linker = "bpfel-unknown-none bpf-linker 0.13.0";
        let key = content_key(&generated("x"), &dirs, linker);
        assert_eq!(key, content_key(&generated("x"), &dirs, linker), "stable");
        assert_ne!(key, content_key(&generated("y"), &dirs, linker));
        assert_ne!(key, content_key(&generated("x"), &dirs, "aarch64-unknown-linux-gnu gcc 12"), "another target");
        fs::write(dir.path().join("src/lib.rs"), "b").unwrap();
        assert_ne!(key, content_key(&generated("x"), &dirs, linker), "an NF source changed");
        fs::create_dir_all(dir.path().join("target")).unwrap();
        fs::write(dir.path().join("target/junk"), "c").unwrap();
        let with_target = content_key(&generated("x"), &dirs, linker);
        fs::write(dir.path().join("target/junk"), "d").unwrap();
        assert_eq!(with_target, content_key(&generated("x"), &dirs, linker), "build output is ignored");
    }

    #[test]
    fn stored_objects_are_found_by_key() {
        let cache = tempfile::tempdir().unwrap();
        assert_eq!(lookup(cache.path(), "k"), None);
        store(cache.path(), "k", b"object").unwrap();
        assert_eq!(lookup(cache.path(), "k").as_deref(), Some(&b"object"[..]));
    }
}
