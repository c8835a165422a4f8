//! The Galette bundle: what `galettec` writes and the `galette` runtime runs.
//!
//! A bundle is a directory holding `manifest.json` and the artifacts it lists
//! (today `xdp/chain.o`, the chain's eBPF object). The types here are the one
//! definition of that format; both sides use them, so they cannot drift apart.
//!
//! Architecture invariant: this crate knows nothing of the compiler or of aya.
//! It describes, writes, reads and verifies; it never loads anything.

mod actions;
mod error_chain;
mod hash;
mod manifest;
mod read;
mod resolve;
mod stats;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
mod write;

pub use actions::{
    ACTION_KIND_BITS, ACTIONS_MAP, ActionKind, CONFIG_GENERATION, CONFIG_MAP, CONFIG_SLOTS, CONFIG_WORKERS, DEVS_MAP,
    MAX_ROLES, MAX_WORKERS, PROGRAMS_MAP, UpcallMetadata, XSK_BASES_MAP, XSKS_CAPACITY, XSKS_MAP, action_code,
    action_slot, action_slots, action_table, decode_action, entry_slot, role_entry_slot, xsk_slot,
};
pub use error_chain::error_chain;
pub use hash::sha256_hex;
pub use manifest::{
    Artifact, FORMAT_VERSION, Instance, MANIFEST_FILE, Manifest, MapEntry, MapKind, Placement, Port, PortAction,
    RoleEntry, XDP_OBJECT, XdpPart, host_platform,
};
pub use read::{Bundle, BundleError};
pub use resolve::{ManifestError, ResolvedManifest, Target};
pub use stats::{STATS_MAP, StatsSlot, slots_per_instance, stats_index};
pub use write::write_bundle;
