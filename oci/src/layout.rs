//! A bundle as OCI manifests: what `push` uploads and what `pull` accepts.
//!
//! One manifest per platform: its config is the bundle's `manifest.json`,
//! its layers are the shared eBPF object and that platform's libraries, each
//! titled with its path in the bundle. A bundle of several platforms is an
//! index over those manifests, so a device fetches only its own layers.
//! Every layer's digest is the SHA-256 that `manifest.json` lists for its
//! path, so the bundle's digest (the config's) vouches for all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use galette_bundle::{Bundle, Manifest, Platform};
use serde::{Deserialize, Serialize};

use crate::Digest;
use crate::media_types::{
    BUNDLE_DIGEST, BUNDLE_MANIFEST, CHAIN, LIBRARY, OCI_INDEX, OCI_MANIFEST, PLATFORM, TITLE, XDP_OBJECT,
};

/// What points at a blob or a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<OciPlatform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A platform as OCI names it (`arm64`/`linux`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl OciPlatform {
    pub fn of(platform: Platform) -> OciPlatform {
        let (architecture, variant) = match platform {
            Platform::X86_64Linux => ("amd64", None),
            Platform::Aarch64Linux => ("arm64", Some("v8".to_owned())),
        };
        OciPlatform { architecture: architecture.to_owned(), os: "linux".to_owned(), variant }
    }

    /// The Galette platform it is, if any (the variant does not matter).
    pub fn galette(&self) -> Option<Platform> {
        Platform::ALL.into_iter().find(|platform| {
            let oci = OciPlatform::of(*platform);
            oci.architecture == self.architecture && oci.os == self.os
        })
    }
}

/// An OCI image manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI image index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A manifest or an index, serialised once: the bytes whose digest the
/// registry and the signature name.
#[derive(Debug, Clone)]
pub struct Serialized {
    pub media_type: &'static str,
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Serialized {
    fn of(media_type: &'static str, value: &impl Serialize) -> Serialized {
        let bytes = serde_json::to_vec_pretty(value).expect("manifests serialise");
        let digest = Digest::of(&bytes);
        Serialized { media_type, bytes, digest }
    }

    /// The descriptor that points at it.
    pub fn descriptor(&self, platform: Option<OciPlatform>) -> Descriptor {
        Descriptor {
            media_type: self.media_type.to_owned(),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            platform,
            annotations: BTreeMap::new(),
        }
    }
}

/// A blob to upload: a file of the bundle, or its manifest.json.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub digest: Digest,
    pub path: PathBuf,
    pub size: u64,
}

/// Everything a push uploads, in order: the blobs, each platform's
/// manifest, then the top (the index, or the only manifest), which the tag
/// names.
#[derive(Debug, Clone)]
pub struct PushPlan {
    pub chain: String,
    /// The bundle's digest: its manifest.json's, the config of every
    /// platform's manifest.
    pub bundle_digest: Digest,
    pub blobs: Vec<Blob>,
    pub platform_manifests: Vec<(Platform, Serialized)>,
    /// The index over the platforms' manifests, for a bundle of several.
    pub index: Option<Serialized>,
}

impl PushPlan {
    /// The manifest or index the tag points at.
    pub fn top(&self) -> &Serialized {
        self.index.as_ref().unwrap_or_else(|| &self.platform_manifests[0].1)
    }
}

/// Why a bundle cannot be laid out as OCI, or an OCI artifact is not a
/// bundle this runtime accepts.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("{}: {source}", dir.display())]
    Bundle { dir: PathBuf, source: galette_bundle::BundleError },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("this is not a Galette bundle: its config is `{0}`, not `{BUNDLE_MANIFEST}`")]
    NotABundle(String),
    #[error("the artifact has no bundle for {wanted} (it has {has})")]
    NoPlatform { wanted: Platform, has: String },
    #[error("layer {digest} has no `{TITLE}` annotation naming its file")]
    UntitledLayer { digest: Digest },
    #[error(
        "layer `{path}` ({digest}) is not the file the bundle's manifest.json lists for that path{}",
        .listed.as_ref().map(|listed| format!(" (it lists sha256:{listed})")).unwrap_or_default()
    )]
    LayerNotInBundle { path: String, digest: Digest, listed: Option<String> },
    #[error("the artifact lacks `{0}`, which the bundle needs on this platform")]
    MissingLayer(String),
    #[error("the bundle's manifest.json in the artifact is not valid: {0}")]
    BadBundleManifest(serde_json::Error),
}

/// Lays out the bundle in `dir` for a push: opened (and so verified) for
/// each of its platforms.
pub fn plan_push(dir: &Path) -> Result<PushPlan, LayoutError> {
    let bundle_error = |source| LayoutError::Bundle { dir: dir.to_owned(), source };
    let first =
        Bundle::open_for(dir, *platforms_of(dir)?.first().expect("a bundle lists a platform")).map_err(bundle_error)?;
    let manifest_path = dir.join(galette_bundle::MANIFEST_FILE);
    let config = Blob {
        digest: Digest::parse(&first.digest).expect("bundle digests are sha256"),
        size: file_size(&manifest_path)?,
        path: manifest_path,
    };
    let mut blobs = vec![config.clone()];
    let mut platform_manifests = Vec::new();
    for &platform in &first.manifest.platforms {
        let bundle = Bundle::open_for(dir, platform).map_err(bundle_error)?;
        let mut layers = Vec::new();
        for artifact in bundle.manifest.artifacts.iter().filter(|artifact| artifact.is_for(platform)) {
            let path = dir.join(&artifact.path);
            let blob = Blob {
                digest: Digest::from_sha256_hex(&artifact.sha256).expect("verified artifact hashes are sha256"),
                size: file_size(&path)?,
                path,
            };
            let media_type = if artifact.platform.is_some() { LIBRARY } else { XDP_OBJECT };
            layers.push(Descriptor {
                media_type: media_type.to_owned(),
                digest: blob.digest.clone(),
                size: blob.size,
                platform: None,
                annotations: BTreeMap::from([(TITLE.to_owned(), artifact.path.clone())]),
            });
            if !blobs.contains(&blob) {
                blobs.push(blob);
            }
        }
        let manifest = ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_owned()),
            config: Descriptor {
                media_type: BUNDLE_MANIFEST.to_owned(),
                digest: config.digest.clone(),
                size: config.size,
                platform: None,
                annotations: BTreeMap::new(),
            },
            layers,
            annotations: bundle_annotations(&bundle.manifest, &config.digest, Some(platform)),
        };
        platform_manifests.push((platform, Serialized::of(OCI_MANIFEST, &manifest)));
    }
    let index = (platform_manifests.len() > 1).then(|| {
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.to_owned()),
            manifests: platform_manifests
                .iter()
                .map(|(platform, manifest)| manifest.descriptor(Some(OciPlatform::of(*platform))))
                .collect(),
            annotations: bundle_annotations(&first.manifest, &config.digest, None),
        };
        Serialized::of(OCI_INDEX, &index)
    });
    Ok(PushPlan { chain: first.manifest.chain.clone(), bundle_digest: config.digest, blobs, platform_manifests, index })
}

/// The platforms the bundle in `dir` lists, read before it is verified for
/// one of them.
fn platforms_of(dir: &Path) -> Result<Vec<Platform>, LayoutError> {
    let path = dir.join(galette_bundle::MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|source| LayoutError::Read { path: path.clone(), source })?;
    #[derive(Deserialize)]
    struct PlatformsOnly {
        #[serde(default)]
        platforms: Vec<Platform>,
    }
    // A manifest that does not parse is refused by `Bundle::open_for`, with
    // its own message; any platform gets there.
    let platforms = serde_json::from_slice::<PlatformsOnly>(&bytes).map(|only| only.platforms).unwrap_or_default();
    Ok(if platforms.is_empty() { vec![Platform::X86_64Linux] } else { platforms })
}

fn bundle_annotations(manifest: &Manifest, digest: &Digest, platform: Option<Platform>) -> BTreeMap<String, String> {
    let mut annotations =
        BTreeMap::from([(BUNDLE_DIGEST.to_owned(), digest.to_string()), (CHAIN.to_owned(), manifest.chain.clone())]);
    if let Some(platform) = platform {
        annotations.insert(PLATFORM.to_owned(), platform.name().to_owned());
    }
    annotations
}

fn file_size(path: &Path) -> Result<u64, LayoutError> {
    std::fs::metadata(path).map(|meta| meta.len()).map_err(|source| LayoutError::Read { path: path.to_owned(), source })
}

/// The manifest of `platform` in an index.
pub fn select_platform(index: &ImageIndex, platform: Platform) -> Result<&Descriptor, LayoutError> {
    let galette = |descriptor: &Descriptor| descriptor.platform.as_ref().and_then(OciPlatform::galette);
    index.manifests.iter().find(|descriptor| galette(descriptor) == Some(platform)).ok_or_else(|| {
        let has: Vec<&str> = index.manifests.iter().filter_map(galette).map(Platform::name).collect();
        LayoutError::NoPlatform { wanted: platform, has: if has.is_empty() { "none".into() } else { has.join(", ") } }
    })
}

/// The files of the bundle a platform's manifest carries, each checked
/// against what the bundle's `manifest.json` (the config) lists: `(path in
/// the bundle, digest)`, every file this platform needs and only those.
pub fn bundle_files(
    manifest: &ImageManifest,
    bundle_manifest: &Manifest,
    platform: Platform,
) -> Result<Vec<(String, Digest)>, LayoutError> {
    if manifest.config.media_type != BUNDLE_MANIFEST {
        return Err(LayoutError::NotABundle(manifest.config.media_type.clone()));
    }
    let needed: Vec<_> = bundle_manifest.artifacts.iter().filter(|artifact| artifact.is_for(platform)).collect();
    let mut files = Vec::new();
    for layer in &manifest.layers {
        let path =
            layer.annotations.get(TITLE).ok_or_else(|| LayoutError::UntitledLayer { digest: layer.digest.clone() })?;
        let listed = needed.iter().find(|artifact| artifact.path == *path);
        if listed.is_none_or(|artifact| artifact.sha256 != layer.digest.hex()) {
            return Err(LayoutError::LayerNotInBundle {
                path: path.clone(),
                digest: layer.digest.clone(),
                listed: listed.map(|artifact| artifact.sha256.clone()),
            });
        }
        files.push((path.clone(), layer.digest.clone()));
    }
    if let Some(missing) = needed.iter().find(|artifact| !files.iter().any(|(path, _)| *path == artifact.path)) {
        return Err(LayoutError::MissingLayer(missing.path.clone()));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use galette_bundle::{ArtifactFile, Placement, XDP_OBJECT as OBJECT_PATH, testing, write_bundle};

    use super::*;

    /// A bundle of one userland instance for both platforms.
    fn two_platform_bundle(dir: &Path) {
        let mut manifest = testing::manifest("both", vec![testing::instance("u", Placement::Userland, vec![])]);
        manifest.platforms = Platform::ALL.to_vec();
        let x86 = Platform::X86_64Linux.library_path("u.so");
        let arm = Platform::Aarch64Linux.library_path("u.so");
        let artifacts = [
            ArtifactFile::shared(OBJECT_PATH, b"the object"),
            ArtifactFile::for_platform(Platform::X86_64Linux, &x86, b"x86 library"),
            ArtifactFile::for_platform(Platform::Aarch64Linux, &arm, b"arm library"),
        ];
        write_bundle(dir, manifest, &artifacts).unwrap();
    }

    fn parse_manifest(serialized: &Serialized) -> ImageManifest {
        serde_json::from_slice(&serialized.bytes).unwrap()
    }

    #[test]
    fn a_bundle_of_two_platforms_is_an_index_of_two_manifests_sharing_the_object_and_config() {
        let dir = tempfile::tempdir().unwrap();
        two_platform_bundle(dir.path());
        let plan = plan_push(dir.path()).unwrap();
        assert_eq!(plan.blobs.len(), 4, "manifest.json, the object, two libraries: {:?}", plan.blobs);
        let index: ImageIndex = serde_json::from_slice(&plan.index.as_ref().unwrap().bytes).unwrap();
        assert_eq!(index.manifests.len(), 2);
        assert_eq!(plan.top().digest, plan.index.as_ref().unwrap().digest);
        let bundle = Bundle::open(dir.path()).unwrap();
        assert_eq!(plan.bundle_digest.to_string(), bundle.digest);
        for (platform, serialized) in &plan.platform_manifests {
            assert_eq!(select_platform(&index, *platform).unwrap().digest, serialized.digest);
            let manifest = parse_manifest(serialized);
            assert_eq!(manifest.config.digest, plan.bundle_digest);
            let titles: Vec<&str> = manifest.layers.iter().map(|layer| layer.annotations[TITLE].as_str()).collect();
            assert_eq!(titles, [OBJECT_PATH.to_owned(), platform.library_path("u.so")]);
            let files = bundle_files(&manifest, &bundle.manifest, *platform).unwrap();
            assert_eq!(files.len(), 2);
        }
    }

    #[test]
    fn a_bundle_of_one_platform_is_one_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = testing::manifest("one", vec![testing::instance("x", Placement::Xdp, vec![])]);
        write_bundle(dir.path(), manifest, &[ArtifactFile::shared(OBJECT_PATH, b"object")]).unwrap();
        let plan = plan_push(dir.path()).unwrap();
        assert!(plan.index.is_none());
        assert_eq!(plan.top().media_type, OCI_MANIFEST);
    }

    #[test]
    fn layers_that_are_not_the_bundles_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        two_platform_bundle(dir.path());
        let plan = plan_push(dir.path()).unwrap();
        let bundle = Bundle::open(dir.path()).unwrap();
        let (platform, serialized) = &plan.platform_manifests[0];
        let good = parse_manifest(serialized);

        let mut swapped = good.clone();
        swapped.layers[1].digest = Digest::of(b"another library");
        let error = bundle_files(&swapped, &bundle.manifest, *platform).unwrap_err();
        assert!(matches!(error, LayoutError::LayerNotInBundle { .. }), "{error}");

        let mut short = good.clone();
        short.layers.pop();
        let error = bundle_files(&short, &bundle.manifest, *platform).unwrap_err();
        assert!(matches!(error, LayoutError::MissingLayer(_)), "{error}");

        let other = Platform::ALL.into_iter().find(|p| p != platform).unwrap();
        let error = bundle_files(&good, &bundle.manifest, other).unwrap_err();
        assert!(matches!(error, LayoutError::LayerNotInBundle { .. }), "another platform's library: {error}");

        let mut not_ours = good;
        not_ours.config.media_type = "application/vnd.oci.image.config.v1+json".into();
        assert!(matches!(bundle_files(&not_ours, &bundle.manifest, *platform), Err(LayoutError::NotABundle(_))));
    }
}
