//! Where `galette run`, `reload` and `pull` get a bundle: a directory, or a
//! registry reference (`oci://REGISTRY/REPO:TAG`, or `REGISTRY/REPO:TAG`
//! when no such directory exists), pulled into the store first.

use std::path::{Path, PathBuf};

use galette_bundle::Platform;
use galette_oci::pull::{PullOptions, PullReport, pull};
use galette_oci::store::Store;
use galette_oci::{ClientOptions, Reference, RegistryClient};

use crate::RunError;
use crate::trust::Trust;

/// The prefix that makes an argument a registry reference whatever exists
/// on disk.
pub const OCI_PREFIX: &str = "oci://";

/// A bundle argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleSource {
    Directory(PathBuf),
    Registry(Reference),
}

impl BundleSource {
    /// `oci://REF` is a reference; an existing path is a directory; else
    /// what reads as a reference (its first part names a registry) is one;
    /// anything else is a directory, which opening will say is missing.
    pub fn parse(argument: &Path) -> Result<BundleSource, RunError> {
        let text = argument.to_string_lossy();
        if let Some(reference) = text.strip_prefix(OCI_PREFIX) {
            return Ok(BundleSource::Registry(Reference::parse(reference)?));
        }
        if argument.exists() || !Reference::looks_like_reference(&text) {
            return Ok(BundleSource::Directory(argument.to_owned()));
        }
        Ok(BundleSource::Registry(Reference::parse(&text)?))
    }
}

/// How to reach registries and where to keep what is pulled.
#[derive(Debug, Clone)]
pub struct RegistryAccess {
    pub client: ClientOptions,
    pub store: PathBuf,
}

/// Pulls `reference` into the store (or into `dest`) for this machine, as
/// `trust` requires; prints nothing.
pub fn pull_bundle(
    reference: &Reference,
    access: &RegistryAccess,
    trust: &Trust,
    dest: Option<&Path>,
) -> Result<PullReport, RunError> {
    let platform = Platform::host().ok_or_else(|| {
        RunError::Bundle(galette_bundle::BundleError::UnsupportedMachine(galette_bundle::host_platform_name()))
    })?;
    let store = Store::open(&access.store).map_err(galette_oci::pull::PullError::from)?;
    let mut client = RegistryClient::new(&reference.registry, &access.client)?;
    let options = PullOptions { platform, trusted: trust.key() };
    Ok(pull(reference, &mut client, &store, dest, options)?)
}

/// The directory of the bundle `source` names: itself, or where it was
/// pulled to (a line on stderr says what the pull did).
pub fn bundle_dir(source: &BundleSource, access: &RegistryAccess, trust: &Trust) -> Result<PathBuf, RunError> {
    match source {
        BundleSource::Directory(dir) => Ok(dir.clone()),
        BundleSource::Registry(reference) => {
            let report = pull_bundle(reference, access, trust, None)?;
            eprintln!("galette: {}", describe_pull(&report));
            Ok(report.dir)
        }
    }
}

/// One line about a pull.
pub fn describe_pull(report: &PullReport) -> String {
    let signed = report.signed_by.as_deref().map_or_else(|| "unsigned".to_owned(), |key| format!("signed by {key}"));
    format!(
        "pulled {} ({}, bundle {}, {signed}) into {}: {} blobs fetched ({} bytes), {} from the store",
        report.reference,
        report.top,
        report.bundle_digest,
        report.dir.display(),
        report.blobs_fetched,
        report.bytes_fetched,
        report.blobs_from_store
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_win_over_references_and_oci_prefixes_win_over_directories() {
        let dir = tempfile::tempdir().unwrap();
        let existing = dir.path().join("registry.example:5000");
        std::fs::create_dir(&existing).unwrap();
        assert_eq!(BundleSource::parse(&existing).unwrap(), BundleSource::Directory(existing.clone()));
        let reference = Path::new("registry.example:5000/fleet/security:v1");
        assert!(matches!(BundleSource::parse(reference).unwrap(), BundleSource::Registry(_)));
        let plain = Path::new("macswap.bundle");
        assert_eq!(BundleSource::parse(plain).unwrap(), BundleSource::Directory(plain.to_owned()));
        let forced = Path::new("oci://localhost:5000/macswap:1");
        assert!(
            matches!(BundleSource::parse(forced).unwrap(), BundleSource::Registry(r) if r.registry == "localhost:5000")
        );
    }
}
