use std::fs;
use std::io;
use std::path::Path;

use crate::{Artifact, MANIFEST_FILE, Manifest, sha256_hex};

/// Writes a bundle into `dir`: each `(relative path, bytes)` artifact, then
/// `manifest.json` with the artifacts' hashes filled in.
///
/// The directory is created if needed; artifacts from an earlier bundle in the
/// same directory that are not written again are removed, so a bundle never
/// carries stale files.
pub fn write_bundle(dir: &Path, mut manifest: Manifest, artifacts: &[(&str, &[u8])]) -> io::Result<()> {
    if dir.exists() {
        clear_previous_bundle(dir)?;
    }
    fs::create_dir_all(dir)?;
    manifest.artifacts.clear();
    for (path, bytes) in artifacts {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, bytes)?;
        manifest.artifacts.push(Artifact { path: (*path).to_owned(), sha256: sha256_hex(bytes) });
    }
    let json = serde_json::to_string_pretty(&manifest).map_err(io::Error::other)?;
    fs::write(dir.join(MANIFEST_FILE), json + "\n")
}

/// Removes what an earlier bundle left in `dir`, refusing to touch a directory
/// that does not look like a bundle (so `-o ~` cannot wipe a home directory).
fn clear_previous_bundle(dir: &Path) -> io::Result<()> {
    let is_empty = fs::read_dir(dir)?.next().is_none();
    if is_empty {
        return Ok(());
    }
    if !dir.join(MANIFEST_FILE).is_file() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a bundle (no {MANIFEST_FILE}); refusing to overwrite it", dir.display()),
        ));
    }
    fs::remove_dir_all(dir)
}
