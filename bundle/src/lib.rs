//! The Galette bundle: what `galettec` writes and the `galette` runtime runs.
//!
//! A bundle is a directory holding `manifest.json` and the artifacts it lists
//! (the chain's eBPF object `xdp/chain.o`, and a shared library per userland
//! NF and platform under `user/PLATFORM/`). The types here are the one
//! definition of that format; both sides use them, so they cannot drift apart.
//!
//! Architecture invariant: this crate knows nothing of the compiler or of aya.
//! It describes, writes, reads and verifies; it never loads anything.

mod error_chain;
mod hash;
mod manifest;
mod platform;
mod read;
mod resolve;
mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod write;
mod xdp_maps;

pub use error_chain::error_chain;
pub use hash::sha256_hex;
pub use manifest::{
    Artifact, FORMAT_VERSION, Instance, MANIFEST_FILE, Manifest, MapEntry, MapKind, Placement, Port, PortAction,
    RoleEntry, XDP_OBJECT, XdpPart,
};
pub use platform::{Platform, host_platform_name, platform_list};
pub use read::{Bundle, BundleError};
pub use resolve::{ManifestError, ResolvedManifest, Target};
pub use stats::{
    DropReason, STATS_ENTRIES, STATS_MAP, STATS_MIRROR_ENTRY, STATS_XDP_ENTRY, StatsSlot, drop_index,
    slots_per_instance, stats_index, stats_slots,
};
pub use write::{ArtifactFile, write_bundle};
pub use xdp_maps::{
    CONFIG_GENERATION, CONFIG_MAP, CONFIG_SLOTS, CONFIG_WORKERS, DEVS_MAP, MAX_ROLES, MAX_WORKERS, PROGRAMS_MAP,
    UpcallMetadata, XSK_BASES_MAP, XSKS_CAPACITY, XSKS_MAP, xsk_slot,
};
