//! Which bundles this device runs: any intact one, or, when it is given the
//! fleet's public key (`--trust-key`, `$GALETTE_TRUST_KEY`), only those the
//! fleet signed. The same rule holds for `run`, `reload` (checked again by
//! the running process) and `pull`, for local directories as for bundles
//! from a registry.

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use galette_bundle::Bundle;
use galette_oci::Digest;
use galette_oci::signature::{key_id, read_public_key, verify_bundle_dir};

use crate::RunError;

#[derive(Debug, Clone)]
pub enum Trust {
    /// No key configured: every bundle whose files match its manifest runs,
    /// signed or not (the local workflow).
    AnyBundle,
    /// Only bundles signed by this key run.
    SignedBy(VerifyingKey),
}

impl Trust {
    /// The rule for a device with the public key at `key` (PEM, as
    /// `galette-ctl key init` writes it), or with none.
    pub fn from_key_file(key: Option<&Path>) -> Result<Trust, RunError> {
        match key {
            None => Ok(Trust::AnyBundle),
            Some(path) => Ok(Trust::SignedBy(read_public_key(path)?)),
        }
    }

    pub fn key(&self) -> Option<&VerifyingKey> {
        match self {
            Trust::AnyBundle => None,
            Trust::SignedBy(key) => Some(key),
        }
    }

    /// The key's id, for messages.
    pub fn describe(&self) -> String {
        match self {
            Trust::AnyBundle => "any bundle (no --trust-key)".to_owned(),
            Trust::SignedBy(key) => format!("bundles signed by {}", key_id(key)),
        }
    }

    /// Opens and verifies the bundle at `path` (see [`Bundle::open`]) and,
    /// with a key, its `signature.json`.
    pub fn open(&self, path: &Path) -> Result<Bundle, RunError> {
        let bundle = Bundle::open(path)?;
        if let Trust::SignedBy(key) = self {
            let digest = Digest::parse(&bundle.digest).expect("bundle digests are sha256");
            verify_bundle_dir(path, &digest, key)?;
        }
        Ok(bundle)
    }
}
