//! `galette-ctl push`: a bundle directory into a registry, as the layout of
//! `layout` says, uploading only the blobs the registry lacks, then signed.

use std::collections::BTreeMap;
use std::path::Path;

use ed25519_dalek::SigningKey;
use galette_bundle::Platform;

use crate::layout::{Descriptor, ImageManifest, LayoutError, plan_push};
use crate::media_types::{BUNDLE_DIGEST, OCI_MANIFEST, SIGNATURE, TITLE, signature_tag};
use crate::signature::{SIGNATURE_FILE, SignatureDocument, SignatureError, read_bundle_signature, sign};
use crate::{Digest, OciError, Reference, RegistryClient};

/// What a push did.
#[derive(Debug, Clone)]
pub struct PushReport {
    pub reference: Reference,
    /// The digest of what the tag names: the index, or the only manifest.
    pub top: Digest,
    pub bundle_digest: Digest,
    pub platforms: Vec<Platform>,
    /// The bundle's blobs (manifest.json and layers) uploaded, their bytes,
    /// and those the registry had already.
    pub blobs_uploaded: u64,
    pub bytes_uploaded: u64,
    pub blobs_already_there: u64,
    /// The key id of the signature pushed with it.
    pub signed_by: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    Registry(#[from] OciError),
    #[error("cannot read {}: {source}", path.display())]
    Read { path: std::path::PathBuf, source: std::io::Error },
    #[error("`{0}` names a digest; a push needs a tag (REGISTRY/REPOSITORY:TAG)")]
    NoTag(Reference),
    #[error(transparent)]
    Signature(#[from] SignatureError),
}

/// Pushes the bundle in `dir` to `reference` (which must have a tag) through
/// `client`, signed with `key` when given.
pub fn push(
    dir: &Path,
    reference: &Reference,
    client: &mut RegistryClient,
    key: Option<&SigningKey>,
) -> Result<PushReport, PushError> {
    let Some(tag) = &reference.tag else { return Err(PushError::NoTag(reference.clone())) };
    if reference.digest.is_some() {
        return Err(PushError::NoTag(reference.clone()));
    }
    let repository = &reference.repository;
    let plan = plan_push(dir)?;
    let before = client.stats();
    for blob in &plan.blobs {
        if !client.blob_exists(repository, &blob.digest)? {
            let bytes =
                std::fs::read(&blob.path).map_err(|source| PushError::Read { path: blob.path.clone(), source })?;
            client.push_blob(repository, &blob.digest, &bytes)?;
        }
    }
    let top = plan.top().clone();
    if plan.index.is_some() {
        for (_, manifest) in &plan.platform_manifests {
            client.push_manifest(repository, &manifest.digest.to_string(), manifest.media_type, &manifest.bytes)?;
        }
    }
    client.push_manifest(repository, tag, top.media_type, &top.bytes)?;
    // The bundle's own blobs; the signature's is not one of them.
    let after = client.stats();
    // Signed here with the key, or as `galette-ctl sign` signed the
    // directory (a signature of another bundle is not carried along).
    let document = match key {
        Some(key) => Some(sign(key, &plan.bundle_digest)),
        None => read_bundle_signature(dir)?.filter(|document| document.bundle_digest == plan.bundle_digest),
    };
    let signed_by = match document {
        Some(document) => Some(push_signature(client, repository, &document, &top.digest)?),
        None => None,
    };
    Ok(PushReport {
        reference: reference.clone(),
        top: top.digest,
        bundle_digest: plan.bundle_digest,
        platforms: plan.platform_manifests.iter().map(|(platform, _)| *platform).collect(),
        blobs_uploaded: after.blobs_uploaded - before.blobs_uploaded,
        bytes_uploaded: after.blob_bytes_uploaded - before.blob_bytes_uploaded,
        blobs_already_there: after.blobs_already_there - before.blobs_already_there,
        signed_by,
    })
}

/// Pushes the signature document as a manifest tagged after `top` (see
/// [`signature_tag`]): its config and only layer.
fn push_signature(
    client: &mut RegistryClient,
    repository: &str,
    document: &SignatureDocument,
    top: &Digest,
) -> Result<String, PushError> {
    let bundle_digest = &document.bundle_digest;
    let bytes = document.to_json();
    let digest = Digest::of(&bytes);
    if !client.blob_exists(repository, &digest)? {
        client.push_blob(repository, &digest, &bytes)?;
    }
    let descriptor = |annotations| Descriptor {
        media_type: SIGNATURE.to_owned(),
        digest: digest.clone(),
        size: bytes.len() as u64,
        platform: None,
        annotations,
    };
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        config: descriptor(BTreeMap::new()),
        layers: vec![descriptor(BTreeMap::from([(TITLE.to_owned(), SIGNATURE_FILE.to_owned())]))],
        annotations: BTreeMap::from([(BUNDLE_DIGEST.to_owned(), bundle_digest.to_string())]),
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifests serialise");
    client.push_manifest(repository, &signature_tag(top), OCI_MANIFEST, &manifest_bytes)?;
    Ok(document.key_id.clone())
}
