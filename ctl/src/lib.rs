//! `galette-ctl` as a library: the fleet commands, which the end-to-end
//! tests of the runtime drive in-process next to real agents.

pub mod fleet;

use std::path::PathBuf;

/// Why a command failed; each names what and where.
#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error(transparent)]
    Signature(#[from] galette_oci::signature::SignatureError),
    #[error(transparent)]
    Push(#[from] galette_oci::push::PushError),
    #[error(transparent)]
    Registry(#[from] galette_oci::OciError),
    #[error("{0}")]
    Bundle(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Pki(#[from] galette_fleet::pki::PkiError),
    #[error("the broker: {0}")]
    Broker(String),
}
