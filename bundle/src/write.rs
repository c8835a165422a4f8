use std::fs;
use std::io;
use std::path::Path;

use crate::{Artifact, MANIFEST_FILE, Manifest, Platform, sha256_hex};

/// A file to write into a bundle.
#[derive(Debug, Clone, Copy)]
pub struct ArtifactFile<'a> {
    /// Path relative to the bundle directory, with `/` separators.
    pub path: &'a str,
    /// The platform it is for; none when every platform uses it.
    pub platform: Option<Platform>,
    pub bytes: &'a [u8],
}

impl<'a> ArtifactFile<'a> {
    /// A file every platform uses (the eBPF object).
    pub fn shared(path: &'a str, bytes: &'a [u8]) -> ArtifactFile<'a> {
        ArtifactFile { path, platform: None, bytes }
    }

    /// A file built for `platform` (a userland library).
    pub fn for_platform(platform: Platform, path: &'a str, bytes: &'a [u8]) -> ArtifactFile<'a> {
        ArtifactFile { path, platform: Some(platform), bytes }
    }
}

/// Writes a bundle into `dir`: each artifact, then `manifest.json` with the
/// artifacts' hashes and platforms filled in.
///
/// The directory is created if needed; artifacts from an earlier bundle in the
/// same directory that are not written again are removed, so a bundle never
/// carries stale files.
pub fn write_bundle(dir: &Path, mut manifest: Manifest, artifacts: &[ArtifactFile]) -> io::Result<()> {
    if dir.exists() {
        clear_previous_bundle(dir)?;
    }
    fs::create_dir_all(dir)?;
    manifest.artifacts.clear();
    for artifact in artifacts {
        let target = dir.join(artifact.path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&target, artifact.bytes)?;
        manifest.artifacts.push(Artifact {
            path: artifact.path.to_owned(),
            sha256: sha256_hex(artifact.bytes),
            platform: artifact.platform,
        });
    }
    // Compact: a device fetches every byte of it (a third of this file is
    // indentation when pretty-printed); `jq . manifest.json` shows it laid out.
    let json = serde_json::to_string(&manifest).map_err(io::Error::other)?;
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
