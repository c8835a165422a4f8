//! `nf-std`: the API every Galette network function (NF) is written against.
//!
//! An NF is a `#![no_std]` crate with two items that `galettec` reads:
//!
//! - `pub enum Action { ... }`: the NF's verdicts. Each variant is a *port* of
//!   the NF in a `.gal` chain (`Allowed` becomes the port `allowed`).
//! - `pub fn packet<P: Packet>(pkt: &mut P) -> Action`: the per-packet entry
//!   point, generic over where the packet lives.
//!
//! The same source runs in the kernel's XDP fast path (through [`xdp::XdpPacket`],
//! only when compiled for the BPF target) and natively in userland or in a
//! host unit test (through [`SlicePacket`]).
#![no_std]

mod packet;
mod slice_packet;
#[cfg(target_arch = "bpf")]
pub mod xdp;

pub use packet::Packet;
pub use slice_packet::SlicePacket;

/// Ethernet header constants shared by NFs.
pub mod ethernet {
    /// Length of an Ethernet II header without VLAN tags.
    pub const HEADER_LEN: usize = 14;
    /// Length of one MAC address.
    pub const ADDR_LEN: usize = 6;
}
