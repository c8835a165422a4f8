//! What can go wrong talking to a registry, each said in the user's terms:
//! which registry, repository or URL, what it answered, and what to do.

use std::path::PathBuf;

use crate::Digest;

/// The hint an authentication failure carries when no credentials were
/// found for the registry.
pub const LOGIN_HINT: &str =
    "log in: credentials in ~/.docker/config.json (docker login / skopeo login) or --user USER:PASSWORD";

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error(
        "`{text}` is not a registry reference: {reason} \
         (expected REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. registry.example.com/fleet/chain:v1)"
    )]
    InvalidReference { text: String, reason: String },

    #[error("TLS with registry {registry} failed: {reason}; {hint}")]
    Tls { registry: String, reason: String, hint: String },

    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },

    #[error("registry {registry} refused access to repository {repository} (HTTP 401): {hint}")]
    Unauthorized { registry: String, repository: String, hint: String },

    #[error(
        "registry {registry} denied {action} on repository {repository} (HTTP 403): \
         the account lacks the permission, ask the registry's administrator{detail}"
    )]
    Denied { registry: String, repository: String, action: String, detail: String },

    #[error("{what} not found")]
    NotFound { what: String },

    #[error("{method} {url} failed: HTTP {status}{body_excerpt}")]
    Http { method: String, url: String, status: u16, body_excerpt: String },

    #[error("{method} {url}: {reason}")]
    BadResponse { method: String, url: String, reason: String },

    #[error(
        "{what} has digest {found} but {expected} was expected: it was corrupted or tampered with, so it is refused"
    )]
    DigestMismatch { what: String, expected: Digest, found: Digest },

    #[error("cannot use the CA file {}: {reason} (--ca wants PEM certificates)", path.display())]
    BadCa { path: PathBuf, reason: String },

    #[error("cannot read the registry credentials in {}: {reason}", path.display())]
    BadCredentials { path: PathBuf, reason: String },

    #[error("writing {what}: {source}")]
    Write { what: String, source: std::io::Error },
}
