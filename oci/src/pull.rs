//! `galette pull`: a bundle from a registry into the store, fetching only
//! the blobs the store lacks, each checked against its digest, and checked
//! against the fleet's key when the device has one.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use galette_bundle::{Bundle, BundleError, Manifest, Platform};

use crate::layout::{ImageIndex, ImageManifest, LayoutError, bundle_files, select_platform};
use crate::media_types::{
    DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, OCI_INDEX, OCI_MANIFEST, PLATFORM, SIGNATURE, signature_tag,
};
use crate::signature::{SignatureDocument, SignatureError, key_id, write_bundle_signature};
use crate::store::{Store, StoreError};
use crate::{Digest, OciError, Reference, RegistryClient};

/// What a pull did.
#[derive(Debug, Clone)]
pub struct PullReport {
    pub reference: Reference,
    /// The digest of what the reference named: the index, or the manifest.
    pub top: Digest,
    pub bundle_digest: Digest,
    /// The bundle directory.
    pub dir: PathBuf,
    /// The bundle's blobs (its manifest.json and layers) fetched from the
    /// registry, and their bytes; the others came from the store.
    pub blobs_fetched: u64,
    pub bytes_fetched: u64,
    pub blobs_from_store: u64,
    /// The key id of the bundle's signature, if it has one (checked when
    /// the device trusts a key).
    pub signed_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Registry(#[from] OciError),
    /// A blob of the bundle (`what`: its manifest.json or a layer by path)
    /// could not be fetched, or was not what its digest says.
    #[error("{what}: {source}")]
    Blob { what: String, source: OciError },
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the pulled bundle in {}: {source}", dir.display())]
    Bundle { dir: PathBuf, source: BundleError },
    #[error("`{reference}` is a `{media_type}`, not a Galette bundle's manifest or index")]
    NotABundle { reference: String, media_type: String },
    #[error("`{reference}` is not a valid {what}: {reason}")]
    BadJson { reference: String, what: &'static str, reason: String },
    #[error("`{reference}` is a bundle for {has}, not for {wanted}")]
    WrongPlatform { reference: String, has: String, wanted: Platform },
    #[error("cannot assemble the bundle in {}: {source}", path.display())]
    Assemble { path: PathBuf, source: std::io::Error },
}

/// How to pull.
#[derive(Debug, Clone, Copy)]
pub struct PullOptions<'a> {
    /// The platform whose bundle to fetch (this machine's).
    pub platform: Platform,
    /// The fleet's key: when given, only a bundle it signed is accepted.
    pub trusted: Option<&'a VerifyingKey>,
}

/// Pulls `reference` through `client` into `store`, and assembles the
/// bundle in `dest` (by default the store's directory for its digest).
pub fn pull(
    reference: &Reference,
    client: &mut RegistryClient,
    store: &Store,
    dest: Option<&Path>,
    options: PullOptions,
) -> Result<PullReport, PullError> {
    let repository = &reference.repository;
    let named = reference.to_string();
    let top = client.pull_manifest(repository, &reference.reference())?;
    let manifest = match top.media_type.as_str() {
        OCI_INDEX | DOCKER_MANIFEST_LIST => {
            let index: ImageIndex = parse_json(&top.bytes, &named, "image index")?;
            let chosen = select_platform(&index, options.platform)?;
            let pulled = client.pull_manifest(repository, &chosen.digest.to_string())?;
            parse_json::<ImageManifest>(&pulled.bytes, &named, "image manifest")?
        }
        OCI_MANIFEST | DOCKER_MANIFEST => {
            let manifest: ImageManifest = parse_json(&top.bytes, &named, "image manifest")?;
            if let Some(has) = manifest.annotations.get(PLATFORM)
                && has != options.platform.name()
            {
                return Err(PullError::WrongPlatform { reference: named, has: has.clone(), wanted: options.platform });
            }
            manifest
        }
        other => return Err(PullError::NotABundle { reference: named, media_type: other.to_owned() }),
    };
    let bundle_digest = manifest.config.digest.clone();

    // The signature first: nothing of a bundle the device would refuse is
    // fetched.
    let signature = fetch_signature(client, repository, &top.digest)?;
    if let Some(trusted) = options.trusted {
        let document = signature.as_ref().ok_or_else(|| SignatureError::Unsigned {
            what: format!("signature tagged {} in {repository}", signature_tag(&top.digest)),
            trusted: key_id(trusted),
        })?;
        document.verify(trusted, &bundle_digest)?;
    }

    let (mut blobs_from_store, mut blobs_fetched, mut bytes_fetched) = (0, 0, 0);
    let mut fetch = |digest: &Digest, what: &str| -> Result<PathBuf, PullError> {
        let stored = store.get_or_fetch(digest, what, |out| -> Result<u64, PullError> {
            client
                .pull_blob(repository, digest, out)
                .map_err(|source| PullError::Blob { what: what.to_owned(), source })
        })?;
        if stored.cached {
            blobs_from_store += 1;
        } else {
            blobs_fetched += 1;
            bytes_fetched += stored.size;
        }
        Ok(stored.path)
    };
    let config_path = fetch(&bundle_digest, "the bundle's manifest.json")?;
    let config = read(&config_path)?;
    let bundle_manifest: Manifest = serde_json::from_slice(&config).map_err(LayoutError::BadBundleManifest)?;
    let files = bundle_files(&manifest, &bundle_manifest, options.platform)?;
    let mut assembled = vec![(galette_bundle::MANIFEST_FILE.to_owned(), config_path)];
    for (path, digest) in files {
        let stored = fetch(&digest, &format!("layer `{path}`"))?;
        assembled.push((path, stored));
    }

    let dir = dest.map_or_else(|| store.bundle_dir(&bundle_digest), Path::to_owned);
    assemble(&dir, &assembled)?;
    if let Some(document) = &signature {
        write_bundle_signature(&dir, document)?;
    }
    let bundle =
        Bundle::open_for(&dir, options.platform).map_err(|source| PullError::Bundle { dir: dir.clone(), source })?;
    debug_assert_eq!(bundle.digest, bundle_digest.to_string());
    Ok(PullReport {
        reference: reference.clone(),
        top: top.digest,
        bundle_digest,
        dir,
        blobs_fetched,
        bytes_fetched,
        blobs_from_store,
        signed_by: signature.map(|document| document.key_id),
    })
}

/// The signature document tagged after `top`, if there is one.
fn fetch_signature(
    client: &mut RegistryClient,
    repository: &str,
    top: &Digest,
) -> Result<Option<SignatureDocument>, PullError> {
    let tag = signature_tag(top);
    let pulled = match client.pull_manifest(repository, &tag) {
        Ok(pulled) => pulled,
        Err(OciError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    let manifest: ImageManifest = parse_json(&pulled.bytes, &tag, "signature manifest")?;
    if manifest.config.media_type != SIGNATURE {
        return Err(SignatureError::BadDocument(format!("{tag} holds `{}`", manifest.config.media_type)).into());
    }
    let mut bytes = Vec::new();
    client.pull_blob(repository, &manifest.config.digest, &mut bytes)?;
    Ok(Some(SignatureDocument::from_json(&bytes)?))
}

fn parse_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    reference: &str,
    what: &'static str,
) -> Result<T, PullError> {
    serde_json::from_slice(bytes).map_err(|error| PullError::BadJson {
        reference: reference.to_owned(),
        what,
        reason: error.to_string(),
    })
}

fn read(path: &Path) -> Result<Vec<u8>, PullError> {
    std::fs::read(path).map_err(|source| PullError::Assemble { path: path.to_owned(), source })
}

/// Puts `files` (path in the bundle, blob in the store) into `dir`: built
/// next to it and renamed into place, so `dir` is never half a bundle. A
/// previous bundle in `dir` is replaced; anything else there is refused.
fn assemble(dir: &Path, files: &[(String, PathBuf)]) -> Result<(), PullError> {
    let error = |path: &Path| {
        let path = path.to_owned();
        move |source| PullError::Assemble { path, source }
    };
    let parent = dir.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(error(parent))?;
    let name = dir.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let staging = parent.join(format!(".{name}.pulling.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    for (path, blob) in files {
        let target = staging.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(error(dir))?;
        }
        // A hard link costs no space; across file systems, a copy.
        if std::fs::hard_link(blob, &target).is_err() {
            std::fs::copy(blob, &target).map_err(error(&target))?;
        }
    }
    if dir.exists() {
        let is_bundle = dir.join(galette_bundle::MANIFEST_FILE).is_file();
        let is_empty = std::fs::read_dir(dir).map_err(error(dir))?.next().is_none();
        if !is_bundle && !is_empty {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(PullError::Assemble {
                path: dir.to_owned(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "it exists and is not a bundle; refusing to replace it",
                ),
            });
        }
        std::fs::remove_dir_all(dir).map_err(error(dir))?;
    }
    std::fs::rename(&staging, dir).map_err(error(dir))
}
