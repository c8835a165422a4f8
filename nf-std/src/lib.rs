//! `nf-std`: the API every Galette network function (NF) is written against.
//!
//! An NF is a `#![no_std]` crate with items that `galettec` reads:
//!
//! - `pub enum Action { ... }`: the NF's verdicts. Each variant is a *port* of
//!   the NF in a `.gal` chain (`Allowed` becomes the port `allowed`).
//! - optionally a public struct marked [`#[maps]`](macro@maps) naming the
//!   maps it uses, each bound to a chain map by the chain;
//! - `pub fn packet<P: Packet>(pkt: &mut P) -> Action`, or with maps
//!   `pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action` (with
//!   the struct's name): the per-packet entry point, generic over where the
//!   packet lives.
//!
//! The same source runs in the kernel's XDP fast path (through
//! `xdp::XdpPacket`, which exists only when compiled for the BPF target) and
//! natively in userland or in a host unit test (through [`SlicePacket`]).
//! [`headers`] parses and rewrites Ethernet (with VLANs), IPv4, IPv6, TCP,
//! UDP and ICMP, keeping checksums valid ([`checksum`]). The `std` feature
//! adds helpers for host tests: in-memory maps (`maps::memory_map`) and a
//! packet builder (`testing`); `cargo doc -p nf-std --features std` documents
//! them too.
//!
//! `docs/writing-nfs.md` in the checkout walks through writing an NF,
//! testing it on the host and running it in a chain.
#![no_std]

pub mod abi;
pub mod checksum;
pub mod conntrack;
pub mod headers;
pub mod maps;
mod packet;
mod slice_packet;
#[cfg(any(test, all(feature = "std", not(target_arch = "bpf"))))]
pub mod testing;
mod time;
#[cfg(target_arch = "bpf")]
pub mod xdp;

/// Marks an NF's struct of maps; see [`maps`](mod@maps).
pub use nf_std_macros::maps;
pub use packet::{AdjustError, Packet};
pub use slice_packet::SlicePacket;
pub use time::{now_ns, random_u32};

/// Ethernet header constants shared by NFs.
pub mod ethernet {
    /// Length of an Ethernet II header without VLAN tags.
    pub const HEADER_LEN: usize = 14;
    /// Length of one MAC address.
    pub const ADDR_LEN: usize = 6;
}
