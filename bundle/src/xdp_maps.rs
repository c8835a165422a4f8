//! The names and sizes of the maps every chain's XDP object has besides its
//! NFs' own: the program array that joins its segments, the interfaces of
//! its roles, the userland workers' sockets and the run-time settings. The
//! fixed-size ones live in the shared eBPF crate `galette-chain`
//! (`nf-std/chain`), whose constants must agree with these.
//!
//! Where each port leads is compiled into the programs (see
//! `docs/architecture.md`, "Fused segments"): a reload swaps the whole
//! object, so there is no table of actions to fill at run time.

/// Name of the program array holding the program of every segment that is
/// entered by a tail call, indexed by the instance that segment starts with.
pub const PROGRAMS_MAP: &str = "GALETTE_PROGS";

/// Name of the DEVMAP holding, per interface role, the interface it runs on.
pub const DEVS_MAP: &str = "GALETTE_DEVS";

/// The most interface roles a chain can have.
pub const MAX_ROLES: u32 = 16;

/// Name of the XSKMAP holding the userland workers' AF_XDP sockets.
pub const XSKS_MAP: &str = "GALETTE_XSKS";

/// The most userland worker sockets a chain can have.
pub const MAX_WORKERS: u32 = 64;

/// Name of the hash map from an interface's index to its first slot in
/// [`XSKS_MAP`]: an upcall must land in a socket bound to the interface and
/// RX queue the packet came in on (the kernel refuses any other), so each
/// interface has its own [`MAX_WORKERS`] slots, `workers` per queue: the
/// socket of worker `w` on queue `q` is at `xsk_slot(interface, q * workers
/// + w)`.
pub const XSK_BASES_MAP: &str = "GALETTE_XSK_BASES";

/// How many sockets [`XSKS_MAP`] holds: [`MAX_WORKERS`] per interface.
pub const XSKS_CAPACITY: u32 = MAX_ROLES * MAX_WORKERS;

/// The [`XSKS_MAP`] slot `index` (`queue * workers + worker`) of the
/// interface attached `interface`-th (a role's index, or 0 for a chain
/// without roles).
pub const fn xsk_slot(interface: u32, index: u32) -> u32 {
    interface * MAX_WORKERS + index
}

/// Name of the array map of run-time settings the XDP programs read.
pub const CONFIG_MAP: &str = "GALETTE_CONFIG";

/// Slot of [`CONFIG_MAP`] holding how many worker sockets each interface
/// has in [`XSKS_MAP`] (upcalls pick one of that many at random).
pub const CONFIG_WORKERS: u32 = 0;

/// Slot of [`CONFIG_MAP`] holding the object's generation: which load of the
/// chain it is in this runtime, 0 for the first and one more per live
/// reload. Upcalls carry it ([`UpcallMetadata::generation`]), so a worker
/// runs each frame through the userland part of the chain that sent it up.
pub const CONFIG_GENERATION: u32 = 1;

/// How many slots [`CONFIG_MAP`] has.
pub const CONFIG_SLOTS: u32 = 2;

/// The 8 bytes an upcall writes just in front of the frame (XDP metadata),
/// which the userland worker reads to know where the packet goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct UpcallMetadata {
    /// The instance to run next, in userland.
    pub instance: u16,
    /// The generation of the XDP object that sent the packet up (see
    /// [`CONFIG_GENERATION`]).
    pub generation: u16,
    /// The counter slot (`stats_index`) of the port that sent the packet
    /// up, or `u32::MAX` when `rx` led straight to userland: for debugging.
    pub from: u32,
}

const _: () = assert!(core::mem::size_of::<UpcallMetadata>() == 8);
