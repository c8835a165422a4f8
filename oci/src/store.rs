//! The device's content-addressed store (`/var/lib/galette` by default):
//! every blob pulled, under its digest, so a pull fetches only what the
//! device lacks, and the bundles assembled from them.
//!
//! ```text
//! ROOT/blobs/sha256/<hex>     manifests, bundle manifests, objects, libraries
//! ROOT/bundles/<hex>/         a bundle directory, by bundle digest
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Digest, DigestWriter};

/// Where the store is unless `$GALETTE_STORE` or `--store` says otherwise.
pub const DEFAULT_STORE: &str = "/var/lib/galette";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot use the store at {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{what} has digest {found}, not the {expected} it was fetched as; it was discarded")]
    DigestMismatch { what: String, expected: Digest, found: Digest },
}

/// A blob put in the store, and whether it was there already.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub path: PathBuf,
    pub size: u64,
    /// Found in the store (and its digest checked again), not fetched.
    pub cached: bool,
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// The store at `root`, created if needed.
    pub fn open(root: &Path) -> Result<Store, StoreError> {
        let store = Store { root: root.to_owned() };
        for dir in [store.root.join("blobs/sha256"), store.root.join("bundles")] {
            std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io { path: dir, source })?;
        }
        Ok(store)
    }

    /// `$GALETTE_STORE`, else [`DEFAULT_STORE`].
    pub fn default_root() -> PathBuf {
        std::env::var_os("GALETTE_STORE").map_or_else(|| PathBuf::from(DEFAULT_STORE), PathBuf::from)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Where the bundle of digest `bundle` is assembled.
    pub fn bundle_dir(&self, bundle: &Digest) -> PathBuf {
        self.root.join("bundles").join(bundle.hex())
    }

    /// The blob `digest`: from the store when it is there and still has its
    /// digest (a damaged one is dropped), else written by `fetch`, checked,
    /// and only then put in the store. `what` names it in errors.
    pub fn get_or_fetch<E: From<StoreError>>(
        &self,
        digest: &Digest,
        what: &str,
        fetch: impl FnOnce(&mut dyn Write) -> Result<u64, E>,
    ) -> Result<Stored, E> {
        let path = self.blob_path(digest);
        if let Ok(bytes) = std::fs::read(&path) {
            if digest.matches(&bytes) {
                return Ok(Stored { path, size: bytes.len() as u64, cached: true });
            }
            let _ = std::fs::remove_file(&path);
        }
        let io_error = |path: &Path, source| StoreError::Io { path: path.to_owned(), source };
        let partial = path.with_extension(format!("partial.{}", std::process::id()));
        let mut file = std::fs::File::create(&partial).map_err(|source| io_error(&partial, source))?;
        let mut hashing = HashingWriter { inner: &mut file, digest: DigestWriter::default() };
        let result = fetch(&mut hashing);
        let found = hashing.digest.finish();
        let size = match result {
            Ok(size) => size,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
        };
        if found != *digest {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::DigestMismatch { what: what.to_owned(), expected: digest.clone(), found }.into());
        }
        file.sync_all().map_err(|source| io_error(&partial, source))?;
        std::fs::rename(&partial, &path).map_err(|source| io_error(&path, source))?;
        Ok(Stored { path, size, cached: false })
    }
}

/// Hashes what passes through to `inner`.
struct HashingWriter<'a> {
    inner: &'a mut dyn Write,
    digest: DigestWriter,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(bytes)?;
        self.digest.update(&bytes[..written]);
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_fetched_once_checked_and_a_damaged_one_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::of(b"layer");
        let mut fetches = 0;
        let mut fetch = |out: &mut dyn Write| -> Result<u64, StoreError> {
            fetches += 1;
            out.write_all(b"layer").unwrap();
            Ok(5)
        };
        assert!(!store.get_or_fetch(&digest, "layer", &mut fetch).unwrap().cached);
        assert!(store.get_or_fetch(&digest, "layer", &mut fetch).unwrap().cached);
        std::fs::write(store.blob_path(&digest), b"damaged").unwrap();
        assert!(!store.get_or_fetch(&digest, "layer", &mut fetch).unwrap().cached);
        assert_eq!(fetches, 2);
        assert_eq!(std::fs::read(store.blob_path(&digest)).unwrap(), b"layer");
    }

    #[test]
    fn what_does_not_match_its_digest_never_enters_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let digest = Digest::of(b"the real layer");
        let error = store
            .get_or_fetch(&digest, "layer `xdp/chain.o`", |out: &mut dyn Write| -> Result<u64, StoreError> {
                out.write_all(b"a tampered layer").unwrap();
                Ok(16)
            })
            .unwrap_err();
        assert!(matches!(error, StoreError::DigestMismatch { .. }), "{error}");
        assert!(error.to_string().starts_with("layer `xdp/chain.o` has digest sha256:"), "{error}");
        assert!(!store.blob_path(&digest).exists());
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().count(), 0, "no partial file left");
    }
}
