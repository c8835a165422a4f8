//! Zero-copy views of protocol headers, identical in XDP and natively.
//!
//! Each header type ([`Ethernet`], [`Ipv4`], [`Ipv6`], [`Tcp`], [`Udp`],
//! [`Icmp`]) is a small `Copy` struct made by a `parse`/`parse_at` function
//! that checks the header is there and well formed. It remembers *where* the
//! header is and the few fields that decide where the next header starts
//! (EtherType, IHL, protocol, TCP data offset); every other field is read from
//! (or written to) the packet when asked, through [`Packet::bytes`] and
//! [`Packet::bytes_mut`]. So accessors take the packet and return `Option`:
//! `None` only when the packet no longer holds the bytes (a view applied to a
//! different, shorter packet). Setters return `Option<()>` the same way, so
//! they chain with `?`.
//!
//! Conventions:
//!
//! - Multi-byte numbers (ports, lengths, EtherTypes, checksums) are returned as
//!   native integers (`u16::from_be_bytes` of the wire bytes).
//! - Addresses (MAC, IPv4, IPv6) are returned as byte arrays **in network
//!   order**, exactly as on the wire: `[198, 18, 0, 1]` is 198.18.0.1, and
//!   `u32::from_be_bytes(addr)` gives its numeric value.
//! - Setters of a field covered by a checksum update that checksum
//!   incrementally (RFC 1624), so the header stays valid. Changing an IP
//!   address also changes the TCP/UDP/ICMPv6 pseudo-header: call the L4 view's
//!   `pseudo_header_changed` too (or use [`Layers::set_ipv4_src`] and its
//!   siblings, which do both).
//!
//! Rules kept for the eBPF verifier (see `docs/architecture.md`): every read is
//! a constant-size window; every offset is bounded before use (IPv4 IHL and
//! TCP data offset are masked to 0..=60 and checked to be at least 20, and
//! every `parse_at` refuses an offset above [`Packet::MAX_OFFSET`], natively
//! too, so parsing gives the same answer everywhere); no loop depends on
//! packet data; no panics; everything is `#[inline(always)]`. Two more rules
//! came from the verifier itself (see `opaque` and `read_pair` in this
//! module's source): each accessor's offset is hidden from LLVM so that its
//! bounds check is never merged into an earlier one, a read-modify-write
//! (a field and its checksum) uses one window, and no single byte is read
//! through a 1-byte window at a variable offset.
//!
//! [`parse_l3_l4`] walks Ethernet (and up to two VLAN tags), IPv4 or IPv6, and
//! TCP, UDP or ICMP in one call; [`Layers::flow`] turns the result into a
//! [`FlowTuple`] usable as a map key.

use crate::Packet;

mod ethernet;
mod icmp;
mod ipv4;
mod ipv6;
mod layers;
mod tcp;
mod udp;

pub use ethernet::{Ethernet, VlanTag};
pub use icmp::Icmp;
pub use ipv4::Ipv4;
pub use ipv6::Ipv6;
pub use layers::{FlowTuple, L3, L4, Layers, parse_flow, parse_l3_l4};
pub use tcp::{Tcp, TcpFlags};
pub use udp::Udp;

/// EtherType values.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// An IEEE 802.1Q VLAN tag (customer tag, C-TAG).
    pub const VLAN: u16 = 0x8100;
    /// An IEEE 802.1ad service tag (S-TAG, the outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// The pre-standard QinQ outer tag some switches still send.
    pub const QINQ_LEGACY: u16 = 0x9100;
}

/// IP protocol numbers (IPv4 `protocol`, IPv6 `next_header`).
pub mod ip_proto {
    /// IPv6 hop-by-hop options extension header.
    pub const HOPOPT: u8 = 0;
    /// ICMP (for IPv4).
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 routing extension header.
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 fragment extension header.
    pub const IPV6_FRAG: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 "no next header".
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 destination options extension header.
    pub const IPV6_OPTS: u8 = 60;
}

// Small helpers every view uses.

/// Hides `offset` from the optimiser (in BPF only; natively it is the
/// identity). Every accessor passes the offset of its window through here.
///
/// Why: LLVM sees that an earlier bounds check (say `Icmp::parse_at`'s
/// `data + off + 8 <= data_end`) implies a later one (`data + off + 2 + 2 <=
/// data_end`), drops the later check, and rebuilds the pointer as
/// `data + (off + 2)`. The verifier gives a pointer with a new variable offset
/// a fresh identity and no proven range, and rejects the access ("invalid
/// access to packet ... r=0"). A volatile round trip through the stack keeps
/// the value's bounds for the verifier (it tracks spilled scalars exactly) but
/// makes it opaque to LLVM, so every window keeps its own check, right next to
/// its use.
#[inline(always)]
pub(crate) fn opaque(offset: usize) -> usize {
    #[cfg(target_arch = "bpf")]
    {
        // SAFETY: reads a live, initialised local.
        unsafe { core::ptr::read_volatile(&offset) }
    }
    #[cfg(not(target_arch = "bpf"))]
    {
        offset
    }
}

/// The 2 bytes at `offset`. Single bytes are read through this (a 2-byte
/// window holding them), never through a 1-byte window at a variable offset:
/// LLVM rewrites that window's check `p + 1 > data_end` as `p >= data_end`,
/// and the verifier derives no range from `data_end > p` when `p` has no
/// constant part ("invalid access to packet ... r=0").
/// The first `N` bytes of a header at `offset`, with the offset as the
/// verifier will track it. `None` unless `offset <= P::MAX_OFFSET` and the
/// bytes are inside the packet: where every `parse_at` starts.
#[inline(always)]
pub(crate) fn header_at<P: Packet, const N: usize>(pkt: &P, offset: usize) -> Option<(usize, &[u8; N])> {
    let offset = opaque(offset);
    if offset > P::MAX_OFFSET {
        return None;
    }
    Some((offset, pkt.bytes::<N>(offset)?))
}

/// The source and destination ports at the start of a TCP or UDP header at
/// `offset`: one 4-byte read.
#[inline(always)]
pub(crate) fn read_ports<P: Packet>(pkt: &P, offset: usize) -> Option<(u16, u16)> {
    let b = pkt.bytes::<4>(opaque(offset))?;
    Some((u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]])))
}

#[inline(always)]
pub(crate) fn read_pair<P: Packet>(pkt: &P, offset: usize) -> Option<[u8; 2]> {
    pkt.bytes::<2>(opaque(offset)).copied()
}

#[inline(always)]
pub(crate) fn read_u16<P: Packet>(pkt: &P, offset: usize) -> Option<u16> {
    pkt.bytes::<2>(opaque(offset)).map(|b| u16::from_be_bytes(*b))
}

#[inline(always)]
pub(crate) fn read_u32<P: Packet>(pkt: &P, offset: usize) -> Option<u32> {
    pkt.bytes::<4>(opaque(offset)).map(|b| u32::from_be_bytes(*b))
}

#[inline(always)]
pub(crate) fn read_array<P: Packet, const N: usize>(pkt: &P, offset: usize) -> Option<[u8; N]> {
    pkt.bytes::<N>(opaque(offset)).copied()
}

#[inline(always)]
pub(crate) fn write_array<P: Packet, const N: usize>(pkt: &mut P, offset: usize, value: [u8; N]) -> Option<()> {
    *pkt.bytes_mut::<N>(opaque(offset))? = value;
    Some(())
}

#[inline(always)]
pub(crate) fn write_u16<P: Packet>(pkt: &mut P, offset: usize, value: u16) -> Option<()> {
    write_array(pkt, offset, value.to_be_bytes())
}

// Helpers over one window already fetched: constant indices into it, so a
// read-modify-write (a field and its checksum) needs one bounds check only.

/// The big-endian `u16` at `at` in `w`.
#[inline(always)]
pub(crate) fn get_u16(w: &[u8], at: usize) -> Option<u16> {
    match w.get(at..at.checked_add(2)?) {
        Some(&[hi, lo]) => Some(u16::from_be_bytes([hi, lo])),
        _ => None,
    }
}

/// Writes `value` big-endian at `at` in `w`.
#[inline(always)]
pub(crate) fn put_u16(w: &mut [u8], at: usize, value: u16) -> Option<()> {
    match w.get_mut(at..at.checked_add(2)?) {
        Some([hi, lo]) => {
            [*hi, *lo] = value.to_be_bytes();
            Some(())
        }
        _ => None,
    }
}

/// In the window `w`: replaces the 16-bit word at `at` with `new` and updates
/// the checksum at `checksum_at` for the change (see [`adjusted`] for
/// `keep_zero`).
#[inline(always)]
pub(crate) fn replace_u16_in(w: &mut [u8], at: usize, new: u16, checksum_at: usize, keep_zero: bool) -> Option<()> {
    let old = get_u16(w, at)?;
    let checksum = get_u16(w, checksum_at)?;
    put_u16(w, at, new)?;
    put_u16(w, checksum_at, adjusted(checksum, keep_zero, |c| crate::checksum::update_u16(c, old, new)))
}

/// In the window `w`: replaces the `N` bytes at `at` (`N` even, `at` even in
/// what the checksum covers) with `new` and updates the checksum at
/// `checksum_at`.
#[inline(always)]
pub(crate) fn replace_bytes_in<const N: usize>(
    w: &mut [u8],
    at: usize,
    new: [u8; N],
    checksum_at: usize,
    keep_zero: bool,
) -> Option<()> {
    let field: &mut [u8; N] = w.get_mut(at..at.checked_add(N)?)?.try_into().ok()?;
    let old = *field;
    *field = new;
    let checksum = get_u16(w, checksum_at)?;
    put_u16(w, checksum_at, adjusted(checksum, keep_zero, |c| crate::checksum::update_bytes(c, &old, &new)))
}

/// `update(checksum)`; with `keep_zero` (UDP), a zero checksum ("none") stays
/// zero and a computed zero is written as `0xFFFF`.
#[inline(always)]
pub(crate) fn adjusted(checksum: u16, keep_zero: bool, update: impl FnOnce(u16) -> u16) -> u16 {
    if keep_zero && checksum == 0 {
        return 0;
    }
    let new = update(checksum);
    if keep_zero { crate::checksum::udp_wire(new) } else { new }
}

/// Updates the checksum at `checksum_offset` of the packet for `old` bytes
/// becoming `new` elsewhere in what it covers (a pseudo-header address).
#[inline(always)]
pub(crate) fn checksum_replace<P: Packet, const N: usize>(
    pkt: &mut P,
    checksum_offset: usize,
    old: &[u8; N],
    new: &[u8; N],
    keep_zero: bool,
) -> Option<()> {
    let w = pkt.bytes_mut::<2>(opaque(checksum_offset))?;
    let checksum = u16::from_be_bytes(*w);
    *w = adjusted(checksum, keep_zero, |c| crate::checksum::update_bytes(c, old, new)).to_be_bytes();
    Some(())
}

#[cfg(test)]
mod tests;
