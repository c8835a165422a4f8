use std::fs;
use std::path::{Path, PathBuf};

use crate::resolve::{ManifestError, ResolvedManifest};
use crate::{
    FORMAT_VERSION, Instance, MANIFEST_FILE, Manifest, Platform, host_platform_name, platform_list, sha256_hex,
};

/// A bundle whose manifest parsed and resolved, and whose every artifact
/// matched its hash.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// The manifest's names as indices, resolved once when it was opened.
    pub resolved: ResolvedManifest,
    /// `sha256:` and the SHA-256 of `manifest.json`, which holds the SHA-256
    /// of every artifact: the bundle's identity, as shown by `galette
    /// status` and compared by reloads.
    pub digest: String,
    /// The platform it was opened for, whose libraries it checked (this
    /// machine's, for a bundle that is to run).
    pub platform: Platform,
}

/// Why a bundle was refused. Each says what is wrong in the user's terms.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{} is not a directory (a bundle is a directory written by galettec)", .0.display())]
    NotADirectory(PathBuf),
    #[error("{} has no {MANIFEST_FILE}; is it a bundle written by galettec?", .0.display())]
    NoManifest(PathBuf),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{} is not a valid manifest: {source}", path.display())]
    BadManifest { path: PathBuf, source: serde_json::Error },
    #[error(
        "bundle format version {found} is not supported (this runtime reads version {FORMAT_VERSION}); recompile the chain with a matching galettec"
    )]
    FormatVersion { found: u32 },
    #[error(
        "bundle `{chain}` was built for {built_for}, not for {wanted}; recompile the chain with `galettec --platform {wanted}` (several at once: `--platform {wanted},{built_for}`)"
    )]
    Platform { chain: String, built_for: String, wanted: Platform },
    #[error("this machine is {0}, a platform Galette does not build for (it builds for {list})", list = platform_list(&Platform::ALL))]
    UnsupportedMachine(String),
    #[error(
        "artifact {path} does not match its sha256 in the manifest (expected {expected}, found {found}); the bundle was modified after it was written"
    )]
    HashMismatch { path: String, expected: String, found: String },
    #[error("artifact path {0:?} in the manifest escapes the bundle directory")]
    UnsafePath(String),
    #[error("the manifest names {0} but lists no artifact for it")]
    MissingArtifact(String),
    #[error("the manifest contradicts itself: {0}")]
    Inconsistent(ManifestError),
}

impl Bundle {
    /// Reads and verifies the bundle in `dir` for this machine: format
    /// version, platform, the manifest's links and bindings (see
    /// [`ResolvedManifest`]), and the SHA-256 of every artifact this machine
    /// would use (other platforms' libraries need not even be there).
    pub fn open(dir: &Path) -> Result<Bundle, BundleError> {
        let platform = Platform::host().ok_or_else(|| BundleError::UnsupportedMachine(host_platform_name()))?;
        Bundle::open_for(dir, platform)
    }

    /// [`Bundle::open`] for a machine of `platform`.
    pub fn open_for(dir: &Path, platform: Platform) -> Result<Bundle, BundleError> {
        if !dir.is_dir() {
            return Err(BundleError::NotADirectory(dir.to_owned()));
        }
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(BundleError::NoManifest(dir.to_owned()));
        }
        let text = read(&manifest_path)?;
        // The version is checked before the rest of the schema so that a
        // bundle from another format version gets that message, not a
        // confusing one about a missing field.
        #[derive(serde::Deserialize)]
        struct VersionOnly {
            format_version: u32,
        }
        let version: VersionOnly = serde_json::from_slice(&text)
            .map_err(|source| BundleError::BadManifest { path: manifest_path.clone(), source })?;
        if version.format_version != FORMAT_VERSION {
            return Err(BundleError::FormatVersion { found: version.format_version });
        }
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|source| BundleError::BadManifest { path: manifest_path, source })?;
        let resolved = ResolvedManifest::resolve(&manifest).map_err(BundleError::Inconsistent)?;
        if !manifest.platforms.contains(&platform) {
            return Err(BundleError::Platform {
                chain: manifest.chain,
                built_for: platform_list(&manifest.platforms),
                wanted: platform,
            });
        }
        let digest = format!("sha256:{}", crate::hash::sha256_hex(&text));
        let bundle = Bundle { dir: dir.to_owned(), manifest, resolved, digest, platform };
        bundle.verify_artifacts()?;
        Ok(bundle)
    }

    /// The bytes of the artifact at `path`, which must be listed in the
    /// manifest. Read again and checked again, so nothing that changed after
    /// [`Bundle::open`] is loaded.
    pub fn artifact(&self, path: &str) -> Result<Vec<u8>, BundleError> {
        let listed = self
            .manifest
            .artifacts
            .iter()
            .find(|artifact| artifact.path == path)
            .ok_or_else(|| BundleError::MissingArtifact(path.to_owned()))?;
        let bytes = read(&self.resolve(&listed.path)?)?;
        let found = sha256_hex(&bytes);
        if found != listed.sha256 {
            return Err(BundleError::HashMismatch {
                path: listed.path.clone(),
                expected: listed.sha256.clone(),
                found,
            });
        }
        Ok(bytes)
    }

    /// The path in the bundle of `instance`'s library for the bundle's
    /// platform, for a userland instance.
    pub fn library_path(&self, instance: &Instance) -> Option<String> {
        instance.library.as_deref().map(|library| self.platform.library_path(library))
    }

    fn verify_artifacts(&self) -> Result<(), BundleError> {
        for artifact in &self.manifest.artifacts {
            if artifact.is_for(self.platform) {
                self.artifact(&artifact.path)?;
            }
        }
        let libraries = self.manifest.instances.iter().filter_map(|instance| self.library_path(instance));
        let xdp = self.manifest.xdp.as_ref().map(|xdp| xdp.object.clone());
        for needed in xdp.into_iter().chain(libraries) {
            if !self.manifest.artifacts.iter().any(|artifact| artifact.path == needed) {
                return Err(BundleError::MissingArtifact(needed));
            }
        }
        Ok(())
    }

    fn resolve(&self, relative: &str) -> Result<PathBuf, BundleError> {
        let path = Path::new(relative);
        let stays_inside = path.components().all(|part| matches!(part, std::path::Component::Normal(_)));
        if !stays_inside {
            return Err(BundleError::UnsafePath(relative.to_owned()));
        }
        Ok(self.dir.join(path))
    }
}

fn read(path: &Path) -> Result<Vec<u8>, BundleError> {
    fs::read(path).map_err(|source| BundleError::Read { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ArtifactFile, Placement, XDP_OBJECT, testing, write_bundle};

    fn sample_manifest() -> Manifest {
        testing::manifest("sample", vec![testing::instance("a", Placement::Xdp, vec![])])
    }

    fn written() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write_bundle(dir.path(), sample_manifest(), &[ArtifactFile::shared(XDP_OBJECT, b"object bytes")]).unwrap();
        dir
    }

    #[test]
    fn a_written_bundle_opens_and_round_trips() {
        let dir = written();
        let bundle = Bundle::open(dir.path()).unwrap();
        assert_eq!(bundle.manifest.chain, "sample");
        assert_eq!(bundle.manifest.artifacts.len(), 1);
        assert_eq!(bundle.artifact(XDP_OBJECT).unwrap(), b"object bytes");
    }

    #[test]
    fn a_modified_artifact_is_refused_by_name() {
        let dir = written();
        fs::write(dir.path().join(XDP_OBJECT), b"tampered").unwrap();
        let err = Bundle::open(dir.path()).unwrap_err();
        assert!(matches!(&err, BundleError::HashMismatch { path, .. } if path == XDP_OBJECT));
        assert!(err.to_string().contains("modified after it was written"));
    }

    #[test]
    fn another_format_version_is_refused() {
        let dir = written();
        let path = dir.path().join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace(&format!("\"format_version\":{FORMAT_VERSION}"), "\"format_version\":99"))
            .unwrap();
        assert!(matches!(Bundle::open(dir.path()), Err(BundleError::FormatVersion { found: 99 })));
    }

    #[test]
    fn a_bundle_without_this_machines_platform_is_refused_naming_those_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let host = Platform::host().unwrap();
        let other = Platform::ALL.into_iter().find(|platform| *platform != host).unwrap();
        let mut manifest = sample_manifest();
        manifest.platforms = vec![other];
        write_bundle(dir.path(), manifest, &[ArtifactFile::shared(XDP_OBJECT, b"object bytes")]).unwrap();
        let error = Bundle::open(dir.path()).unwrap_err();
        assert!(matches!(error, BundleError::Platform { wanted, .. } if wanted == host), "{error}");
        assert_eq!(
            error.to_string(),
            format!(
                "bundle `sample` was built for {other}, not for {host}; recompile the chain with `galettec --platform {host}` (several at once: `--platform {host},{other}`)"
            )
        );
        assert_eq!(Bundle::open_for(dir.path(), other).unwrap().platform, other);
    }

    #[test]
    fn a_bundle_that_lists_no_platform_is_refused_as_such() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = sample_manifest();
        manifest.platforms.clear();
        write_bundle(dir.path(), manifest, &[ArtifactFile::shared(XDP_OBJECT, b"object bytes")]).unwrap();
        let error = Bundle::open(dir.path()).unwrap_err();
        assert_eq!(error.to_string(), "the manifest contradicts itself: the bundle lists no platform");
    }

    /// A chain of one userland instance `u`, built for every platform.
    fn manifest_for_every_platform() -> Manifest {
        let mut manifest = testing::manifest("two", vec![testing::instance("u", Placement::Userland, vec![])]);
        manifest.platforms = Platform::ALL.to_vec();
        manifest
    }

    #[test]
    fn a_device_needs_only_its_own_platforms_libraries() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest_for_every_platform();
        let x86 = Platform::X86_64Linux.library_path("u.so");
        let arm = Platform::Aarch64Linux.library_path("u.so");
        let artifacts = [
            ArtifactFile::shared(XDP_OBJECT, b"object"),
            ArtifactFile::for_platform(Platform::X86_64Linux, &x86, b"x86 library"),
            ArtifactFile::for_platform(Platform::Aarch64Linux, &arm, b"arm library"),
        ];
        write_bundle(dir.path(), manifest, &artifacts).unwrap();
        // What a device of the other platform never fetched may be missing.
        fs::remove_file(dir.path().join(&arm)).unwrap();
        let bundle = Bundle::open_for(dir.path(), Platform::X86_64Linux).unwrap();
        assert_eq!(bundle.library_path(&bundle.manifest.instances[0]).as_deref(), Some(x86.as_str()));
        let error = Bundle::open_for(dir.path(), Platform::Aarch64Linux).unwrap_err();
        assert!(matches!(error, BundleError::Read { .. }), "{error}");
    }

    #[test]
    fn a_library_missing_for_a_listed_platform_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest_for_every_platform();
        let x86 = Platform::X86_64Linux.library_path("u.so");
        let artifacts = [
            ArtifactFile::shared(XDP_OBJECT, b"object"),
            ArtifactFile::for_platform(Platform::X86_64Linux, &x86, b"x86 library"),
        ];
        write_bundle(dir.path(), manifest, &artifacts).unwrap();
        Bundle::open_for(dir.path(), Platform::X86_64Linux).unwrap();
        let error = Bundle::open_for(dir.path(), Platform::Aarch64Linux).unwrap_err();
        assert_eq!(error.to_string(), "the manifest names user/aarch64-linux/u.so but lists no artifact for it");
    }

    #[test]
    fn artifact_paths_cannot_escape_the_bundle() {
        let dir = written();
        let path = dir.path().join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"path\":\"xdp/chain.o\"", "\"path\":\"../x\"")).unwrap();
        assert!(matches!(Bundle::open(dir.path()), Err(BundleError::UnsafePath(_))));
    }

    #[test]
    fn a_manifest_that_contradicts_itself_is_refused() {
        let dir = written();
        let path = dir.path().join(MANIFEST_FILE);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, text.replace("\"target\":\"a\"", "\"target\":\"nobody\"")).unwrap();
        let error = Bundle::open(dir.path()).unwrap_err();
        assert!(matches!(error, BundleError::Inconsistent(ManifestError::UnknownInstance { .. })), "{error}");
        assert_eq!(
            error.to_string(),
            "the manifest contradicts itself: `rx` leads to `nobody`, which is not an instance of the chain"
        );
    }

    #[test]
    fn garbage_and_missing_manifests_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(Bundle::open(dir.path()), Err(BundleError::NoManifest(_))));
        fs::write(dir.path().join(MANIFEST_FILE), "{ not json").unwrap();
        assert!(matches!(Bundle::open(dir.path()), Err(BundleError::BadManifest { .. })));
        assert!(matches!(Bundle::open(&dir.path().join("nope")), Err(BundleError::NotADirectory(_))));
    }

    #[test]
    fn writing_over_a_non_bundle_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("precious.txt"), "keep me").unwrap();
        assert!(write_bundle(dir.path(), sample_manifest(), &[]).is_err());
        assert!(dir.path().join("precious.txt").exists());
    }
}
