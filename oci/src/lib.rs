//! Galette bundles as OCI artifacts, in any registry that speaks the OCI
//! distribution API: the registry client, how a bundle is laid out as
//! manifests and layers, the fleet's signatures over it, and the
//! content-addressed cache a device pulls into. docs/bundle.md ("As an OCI
//! artifact") documents the layout for other tools.

mod auth;
#[cfg(feature = "cli")]
pub mod cli;
mod client;
mod digest;
mod error;
pub mod layout;
pub mod media_types;
pub mod pull;
pub mod push;
mod reference;
pub mod signature;
pub mod store;
mod tls;

pub use client::{ClientOptions, PulledManifest, RegistryClient, TransferStats};
pub use digest::{Digest, DigestWriter};
pub use error::{LOGIN_HINT, OciError};
pub use reference::Reference;
