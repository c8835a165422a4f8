//! The media types and annotations of a Galette bundle in a registry (see
//! "As an OCI artifact" in docs/bundle.md). The `vnd.galette` types are
//! ours; the others are the OCI image specification's.

/// An OCI image manifest: one platform's bundle, or a signature.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// An OCI image index: a bundle for several platforms, one manifest each.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker's manifest types, which some registries answer with.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The config of a bundle's manifest: the bundle's own `manifest.json`, byte
/// for byte, so its digest is the bundle's digest (what `galette status`
/// shows and what the fleet signs).
pub const BUNDLE_MANIFEST: &str = "application/vnd.galette.bundle.manifest.v1+json";
/// The layer of the chain's eBPF object (`xdp/chain.o`), the same for every
/// platform.
pub const XDP_OBJECT: &str = "application/vnd.galette.bundle.xdp.v1+elf";
/// The layer of a userland NF library (`user/PLATFORM/NAME.so`).
pub const LIBRARY: &str = "application/vnd.galette.bundle.library.v1+elf";

/// The config of a signature's manifest: the signature document.
pub const SIGNATURE: &str = "application/vnd.galette.signature.v1+json";

/// Each layer's path in the bundle directory (the OCI annotation for a
/// file's name, which tools such as oras use too).
pub const TITLE: &str = "org.opencontainers.image.title";
/// On a bundle's manifest or index: the bundle's digest (`sha256:` of its
/// manifest.json).
pub const BUNDLE_DIGEST: &str = "dev.galette.bundle.digest";
/// On a bundle's manifest or index: the chain's name.
pub const CHAIN: &str = "dev.galette.chain";
/// On a bundle's manifest: its Galette platform (`aarch64-linux`).
pub const PLATFORM: &str = "dev.galette.platform";

/// The tag a signature of the manifest or index `digest` is pushed under:
/// `sha256-<hex>.sig`, cosign's scheme, which needs nothing of a registry
/// beyond tags (Debian 12's registry has no OCI 1.1 referrers API).
pub fn signature_tag(digest: &crate::Digest) -> String {
    format!("sha256-{}.sig", digest.hex())
}
