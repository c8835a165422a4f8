//! The fleet's signatures over bundles: an ed25519 key pair (PKCS#8 and
//! SPKI PEM files, which openssl reads too), and a signature document over a
//! bundle's digest. The digest is that of the bundle's manifest.json, which
//! holds the SHA-256 of every file of every platform, so one signature
//! vouches for the whole bundle wherever it travels: next to the bundle in
//! a registry, and as `signature.json` in a bundle directory.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::Digest;

/// The signature document's file name in a bundle directory.
pub const SIGNATURE_FILE: &str = "signature.json";

/// The version of the signature document and the domain of what is signed.
const FORMAT: &str = "galette-signature-v1";

/// A signature document: who signed which bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureDocument {
    pub format: String,
    /// The signed bundle's digest (`sha256:` of its manifest.json).
    pub bundle_digest: Digest,
    /// The signing key's id (see [`key_id`]), so a refusal can say which key
    /// signed.
    pub key_id: String,
    /// The ed25519 signature of `galette-signature-v1:` followed by the
    /// bundle digest, in base64.
    pub signature: String,
}

/// Why a key or a signature was refused. Each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{} already exists; refusing to overwrite a key (remove it first if you mean to)", .0.display())]
    KeyExists(PathBuf),
    #[error("{} is not an ed25519 private key in PKCS#8 PEM ({reason})", path.display())]
    BadPrivateKey { path: PathBuf, reason: String },
    #[error("{} is not an ed25519 public key in PEM ({reason})", path.display())]
    BadPublicKey { path: PathBuf, reason: String },
    #[error("{} should be readable by its owner only (mode {mode:o}); chmod 600 it", path.display())]
    KeyTooOpen { path: PathBuf, mode: u32 },
    #[error("the bundle is not signed (no {what}); this device accepts only bundles signed by key {trusted}")]
    Unsigned { what: String, trusted: String },
    #[error("the signature is not a Galette signature document: {0}")]
    BadDocument(String),
    #[error("the bundle is signed by key {signer}, not by the key this device trusts ({trusted})")]
    OtherKey { signer: String, trusted: String },
    #[error("the signature does not verify with key {trusted}: the bundle or its signature was changed")]
    BadSignature { trusted: String },
    #[error("the signature is for bundle {signed}, not for this bundle ({actual})")]
    OtherBundle { signed: Digest, actual: Digest },
}

/// A key's id: the first 16 hex digits of the SHA-256 of its public key's
/// DER, after `ed25519:`.
pub fn key_id(key: &VerifyingKey) -> String {
    let der = key.to_public_key_der().expect("an ed25519 key encodes");
    format!("ed25519:{}", &Digest::of(der.as_bytes()).hex()[..16])
}

/// Writes a new key pair: `private` (mode 0600, created only if absent) and
/// `public` (0644). Returns the key's id.
pub fn generate_key_pair(private: &Path, public: &Path) -> Result<String, SignatureError> {
    let mut seed = [0u8; 32];
    // SAFETY: getrandom writes at most `seed.len()` bytes into `seed`.
    let filled = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    if filled != seed.len() as isize {
        return Err(SignatureError::Write { path: private.to_owned(), source: std::io::Error::last_os_error() });
    }
    let key = SigningKey::from_bytes(&seed);
    // PKCS#8 v1 (the private key alone), which every tool reads; the v2
    // form ed25519-dalek writes by default (with the public key) is refused
    // by OpenSSL 3.
    let pem = ed25519_dalek::pkcs8::KeypairBytes { secret_key: key.to_bytes(), public_key: None }
        .to_pkcs8_pem(Default::default())
        .expect("an ed25519 key encodes");
    let public_pem = key.verifying_key().to_public_key_pem(Default::default()).expect("an ed25519 key encodes");
    // Neither is written unless both can be: a lone private key would make
    // every later attempt refuse.
    if public.exists() {
        return Err(SignatureError::KeyExists(public.to_owned()));
    }
    write_new(private, pem.as_bytes(), 0o600)?;
    write_new(public, public_pem.as_bytes(), 0o644)?;
    Ok(key_id(&key.verifying_key()))
}

/// Creates `path` with `mode`, refusing to replace anything.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), SignatureError> {
    let write_error = |source| SignatureError::Write { path: path.to_owned(), source };
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path).map_err(|error| {
        if error.kind() == std::io::ErrorKind::AlreadyExists {
            SignatureError::KeyExists(path.to_owned())
        } else {
            write_error(error)
        }
    })?;
    file.write_all(bytes).map_err(write_error)
}

/// Reads a private key written by [`generate_key_pair`]; refused when
/// others may read it.
pub fn read_private_key(path: &Path) -> Result<SigningKey, SignatureError> {
    use std::os::unix::fs::PermissionsExt;
    let read_error = |source| SignatureError::Read { path: path.to_owned(), source };
    let mode = std::fs::metadata(path).map_err(read_error)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SignatureError::KeyTooOpen { path: path.to_owned(), mode });
    }
    let text = std::fs::read_to_string(path).map_err(read_error)?;
    SigningKey::from_pkcs8_pem(&text)
        .map_err(|error| SignatureError::BadPrivateKey { path: path.to_owned(), reason: error.to_string() })
}

/// Reads a public key written by [`generate_key_pair`].
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, SignatureError> {
    let text =
        std::fs::read_to_string(path).map_err(|source| SignatureError::Read { path: path.to_owned(), source })?;
    VerifyingKey::from_public_key_pem(&text)
        .map_err(|error| SignatureError::BadPublicKey { path: path.to_owned(), reason: error.to_string() })
}

fn signed_message(bundle_digest: &Digest) -> Vec<u8> {
    format!("{FORMAT}:{bundle_digest}").into_bytes()
}

/// Signs `bundle_digest` with `key`.
pub fn sign(key: &SigningKey, bundle_digest: &Digest) -> SignatureDocument {
    let signature = key.sign(&signed_message(bundle_digest));
    SignatureDocument {
        format: FORMAT.to_owned(),
        bundle_digest: bundle_digest.clone(),
        key_id: key_id(&key.verifying_key()),
        signature: BASE64.encode(signature.to_bytes()),
    }
}

impl SignatureDocument {
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a signature serialises");
        bytes.push(b'\n');
        bytes
    }

    pub fn from_json(bytes: &[u8]) -> Result<SignatureDocument, SignatureError> {
        let document: SignatureDocument =
            serde_json::from_slice(bytes).map_err(|error| SignatureError::BadDocument(error.to_string()))?;
        if document.format != FORMAT {
            return Err(SignatureError::BadDocument(format!("format `{}`, not `{FORMAT}`", document.format)));
        }
        Ok(document)
    }

    /// Checks that this is `trusted`'s signature of `bundle_digest`.
    pub fn verify(&self, trusted: &VerifyingKey, bundle_digest: &Digest) -> Result<(), SignatureError> {
        let trusted_id = key_id(trusted);
        if self.bundle_digest != *bundle_digest {
            return Err(SignatureError::OtherBundle {
                signed: self.bundle_digest.clone(),
                actual: bundle_digest.clone(),
            });
        }
        if self.key_id != trusted_id {
            return Err(SignatureError::OtherKey { signer: self.key_id.clone(), trusted: trusted_id });
        }
        let bad = || SignatureError::BadSignature { trusted: trusted_id.clone() };
        let bytes = BASE64.decode(&self.signature).map_err(|_| bad())?;
        let signature = Signature::from_slice(&bytes).map_err(|_| bad())?;
        trusted.verify(&signed_message(bundle_digest), &signature).map_err(|_| bad())
    }
}

/// Checks the bundle in `dir`, whose digest is `bundle_digest`, against the
/// `signature.json` next to its manifest: signed by `trusted`.
pub fn verify_bundle_dir(dir: &Path, bundle_digest: &Digest, trusted: &VerifyingKey) -> Result<(), SignatureError> {
    let path = dir.join(SIGNATURE_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(SignatureError::Unsigned { what: format!("{}", path.display()), trusted: key_id(trusted) });
        }
        Err(source) => return Err(SignatureError::Read { path, source }),
    };
    SignatureDocument::from_json(&bytes)?.verify(trusted, bundle_digest)
}

/// The `signature.json` of the bundle in `dir`, if it has one.
pub fn read_bundle_signature(dir: &Path) -> Result<Option<SignatureDocument>, SignatureError> {
    let path = dir.join(SIGNATURE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => SignatureDocument::from_json(&bytes).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(SignatureError::Read { path, source }),
    }
}

/// Writes `document` as the `signature.json` of the bundle in `dir`.
pub fn write_bundle_signature(dir: &Path, document: &SignatureDocument) -> Result<(), SignatureError> {
    let path = dir.join(SIGNATURE_FILE);
    std::fs::write(&path, document.to_json()).map_err(|source| SignatureError::Write { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_pair(dir: &Path, name: &str) -> (SigningKey, VerifyingKey) {
        let (private, public) = (dir.join(format!("{name}.key")), dir.join(format!("{name}.pub")));
        generate_key_pair(&private, &public).unwrap();
        (read_private_key(&private).unwrap(), read_public_key(&public).unwrap())
    }

    #[test]
    fn a_signature_verifies_with_its_key_only_and_for_its_bundle_only() {
        let dir = tempfile::tempdir().unwrap();
        let (fleet, fleet_public) = key_pair(dir.path(), "fleet");
        let (_, other_public) = key_pair(dir.path(), "other");
        let bundle = Digest::of(b"manifest.json");
        let document = SignatureDocument::from_json(&sign(&fleet, &bundle).to_json()).unwrap();
        document.verify(&fleet_public, &bundle).unwrap();
        assert!(matches!(document.verify(&other_public, &bundle), Err(SignatureError::OtherKey { .. })));
        let other_bundle = Digest::of(b"another manifest.json");
        assert!(matches!(document.verify(&fleet_public, &other_bundle), Err(SignatureError::OtherBundle { .. })));

        // A forged document: right key id and digest, wrong signature bytes.
        let mut forged = document.clone();
        forged.signature = sign(&fleet, &other_bundle).signature;
        let error = forged.verify(&fleet_public, &bundle).unwrap_err();
        assert!(matches!(error, SignatureError::BadSignature { .. }), "{error}");
    }

    #[test]
    fn keys_are_private_and_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = (dir.path().join("k.key"), dir.path().join("k.pub"));
        let id = generate_key_pair(&private, &public).unwrap();
        assert!(id.starts_with("ed25519:") && id.len() == "ed25519:".len() + 16, "{id}");
        assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(generate_key_pair(&private, &public), Err(SignatureError::KeyExists(_))));
        // A lone public key: no private key is written next to it.
        let lone = dir.path().join("lone.key");
        assert!(matches!(generate_key_pair(&lone, &public), Err(SignatureError::KeyExists(_))));
        assert!(!lone.exists());
        assert_eq!(key_id(&read_public_key(&public).unwrap()), id);
        std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_private_key(&private), Err(SignatureError::KeyTooOpen { .. })));
        assert!(matches!(read_public_key(&private), Err(SignatureError::BadPublicKey { .. })));
    }

    #[test]
    fn a_bundle_directory_without_a_signature_is_unsigned() {
        let dir = tempfile::tempdir().unwrap();
        let (fleet, fleet_public) = key_pair(dir.path(), "fleet");
        let bundle = Digest::of(b"m");
        let error = verify_bundle_dir(dir.path(), &bundle, &fleet_public).unwrap_err();
        assert!(matches!(error, SignatureError::Unsigned { .. }), "{error}");
        write_bundle_signature(dir.path(), &sign(&fleet, &bundle)).unwrap();
        verify_bundle_dir(dir.path(), &bundle, &fleet_public).unwrap();
    }
}
