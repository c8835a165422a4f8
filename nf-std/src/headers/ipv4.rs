use crate::Packet;
use crate::checksum;

use super::{header_at, opaque, read_array, read_pair, read_u16, replace_bytes_in, replace_u16_in, write_u16};

const MIN_HEADER_LEN: usize = 20;
const MAX_HEADER_LEN: usize = 60;
const CHECKSUM: usize = 10;

/// An IPv4 header, options included.
///
/// Addresses are `[u8; 4]` in network order (`[198, 18, 0, 1]` is 198.18.0.1;
/// `u32::from_be_bytes` gives the numeric value). Setters of any field keep the
/// header checksum right (RFC 1624 incremental update).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    offset: usize,
    header_len: usize,
    protocol: u8,
    fragment: u16,
}

impl Ipv4 {
    /// Parses an IPv4 header at `offset` (usually [`Ethernet::payload_offset`](super::Ethernet::payload_offset)).
    ///
    /// `None` unless: `offset <= P::MAX_OFFSET`, the version is 4, the IHL is 5..=15
    /// (a header of 20..=60 bytes) and the whole header, options included, is
    /// inside the packet. The total length and checksum are not checked (see
    /// [`total_len`](Self::total_len), [`checksum_ok`](Self::checksum_ok)).
    #[inline(always)]
    pub fn parse_at<P: Packet>(pkt: &P, offset: usize) -> Option<Ipv4> {
        let (offset, fixed) = header_at::<P, MIN_HEADER_LEN>(pkt, offset)?;
        if fixed[0] >> 4 != 4 {
            return None;
        }
        // Masked, so at most 60 whatever the byte holds; then checked >= 20.
        let header_len = usize::from(fixed[0] & 0x0f) * 4;
        if header_len < MIN_HEADER_LEN {
            return None;
        }
        let protocol = fixed[9];
        let fragment = u16::from_be_bytes([fixed[6], fixed[7]]);
        if header_len > MIN_HEADER_LEN {
            // The options' last 4 bytes must be inside the packet: one
            // constant-size window at a bounded offset.
            pkt.bytes::<4>(opaque(offset + header_len - 4))?;
        }
        Some(Ipv4 { offset, header_len, protocol, fragment })
    }

    /// Where this header starts.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The header length from IHL, in bytes: 20..=60.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        // Already checked at parse time; the mask restates the bound for the
        // verifier, which may not carry it through a struct on the stack.
        self.header_len & 0x3c
    }

    /// Where the payload (the L4 header) starts: `offset() + header_len()`.
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        self.offset + self.header_len()
    }

    /// The protocol of the payload (e.g. [`ip_proto::TCP`](super::ip_proto::TCP)).
    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// The fragment offset in bytes (the 13-bit field times 8).
    #[inline(always)]
    pub fn fragment_offset(&self) -> u16 {
        (self.fragment & 0x1fff) << 3
    }

    /// The "more fragments" flag.
    #[inline(always)]
    pub fn more_fragments(&self) -> bool {
        self.fragment & 0x2000 != 0
    }

    /// The "don't fragment" flag.
    #[inline(always)]
    pub fn dont_fragment(&self) -> bool {
        self.fragment & 0x4000 != 0
    }

    /// Whether this packet is a fragment (first or later) of a larger datagram.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        self.fragment & 0x3fff != 0
    }

    /// Whether the payload starts with the L4 header: not a later fragment.
    #[inline(always)]
    pub fn has_l4_header(&self) -> bool {
        self.fragment & 0x1fff == 0
    }

    /// The type-of-service byte: DSCP (6 bits) and ECN (2 bits).
    #[inline(always)]
    pub fn tos<P: Packet>(&self, pkt: &P) -> Option<u8> {
        Some(read_pair(pkt, self.offset)?[1])
    }

    /// The DSCP (the upper 6 bits of the TOS byte).
    #[inline(always)]
    pub fn dscp<P: Packet>(&self, pkt: &P) -> Option<u8> {
        Some(self.tos(pkt)? >> 2)
    }

    /// The ECN codepoint (the lower 2 bits of the TOS byte).
    #[inline(always)]
    pub fn ecn<P: Packet>(&self, pkt: &P) -> Option<u8> {
        Some(self.tos(pkt)? & 0x03)
    }

    /// The total length of the datagram (header + payload) as the header says.
    #[inline(always)]
    pub fn total_len<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 2)
    }

    /// The identification field.
    #[inline(always)]
    pub fn identification<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 4)
    }

    /// The time to live.
    #[inline(always)]
    pub fn ttl<P: Packet>(&self, pkt: &P) -> Option<u8> {
        // TTL and protocol share the word at 8.
        Some(read_pair(pkt, self.offset + 8)?[0])
    }

    /// The header checksum as it is in the packet.
    #[inline(always)]
    pub fn checksum<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + CHECKSUM)
    }

    /// The source address, network order.
    #[inline(always)]
    pub fn src<P: Packet>(&self, pkt: &P) -> Option<[u8; 4]> {
        read_array(pkt, self.offset + 12)
    }

    /// The destination address, network order.
    #[inline(always)]
    pub fn dst<P: Packet>(&self, pkt: &P) -> Option<[u8; 4]> {
        read_array(pkt, self.offset + 16)
    }

    /// The options (`header_len() - 20` bytes) are at `offset() + 20`; this
    /// returns the `i`-th 4-byte word of them, `None` past their end.
    #[inline(always)]
    pub fn option_word<P: Packet>(&self, pkt: &P, i: usize) -> Option<[u8; 4]> {
        // `opaque`: the verifier refines the count compared here, not the
        // header length the caller keeps (see `compute_checksum`).
        if i >= opaque(self.header_len().saturating_sub(MIN_HEADER_LEN) / 4) {
            return None;
        }
        read_array(pkt, self.offset + MIN_HEADER_LEN + (i & 0xf) * 4)
    }

    /// Sets the TTL, updating the checksum.
    #[inline(always)]
    pub fn set_ttl<P: Packet>(&self, pkt: &mut P, ttl: u8) -> Option<()> {
        // TTL and protocol form the 16-bit word at 8; the checksum follows.
        let w = pkt.bytes_mut::<12>(opaque(self.offset))?;
        let new = u16::from_be_bytes([ttl, w[9]]);
        replace_u16_in(w, 8, new, CHECKSUM, false)
    }

    /// Decrements the TTL as a router does, updating the checksum, and returns
    /// the new TTL. `None` (and nothing changed) if the TTL is already 0.
    #[inline(always)]
    pub fn decrement_ttl<P: Packet>(&self, pkt: &mut P) -> Option<u8> {
        let w = pkt.bytes_mut::<12>(opaque(self.offset))?;
        let ttl = w[8].checked_sub(1)?;
        let new = u16::from_be_bytes([ttl, w[9]]);
        replace_u16_in(w, 8, new, CHECKSUM, false)?;
        Some(ttl)
    }

    /// Sets the TOS byte (DSCP and ECN), updating the checksum.
    #[inline(always)]
    pub fn set_tos<P: Packet>(&self, pkt: &mut P, tos: u8) -> Option<()> {
        let w = pkt.bytes_mut::<12>(opaque(self.offset))?;
        let new = u16::from_be_bytes([w[0], tos]);
        replace_u16_in(w, 0, new, CHECKSUM, false)
    }

    /// Sets the identification field, updating the checksum.
    #[inline(always)]
    pub fn set_identification<P: Packet>(&self, pkt: &mut P, id: u16) -> Option<()> {
        let w = pkt.bytes_mut::<12>(opaque(self.offset))?;
        replace_u16_in(w, 4, id, CHECKSUM, false)
    }

    /// Sets the total length field, updating the checksum.
    #[inline(always)]
    pub fn set_total_len<P: Packet>(&self, pkt: &mut P, len: u16) -> Option<()> {
        let w = pkt.bytes_mut::<12>(opaque(self.offset))?;
        replace_u16_in(w, 2, len, CHECKSUM, false)
    }

    /// Sets the source address, updating the IPv4 header checksum only: the
    /// TCP/UDP checksum covers the address too (see
    /// [`Layers::set_ipv4_src`](super::Layers::set_ipv4_src)).
    #[inline(always)]
    pub fn set_src<P: Packet>(&self, pkt: &mut P, addr: [u8; 4]) -> Option<()> {
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        replace_bytes_in(w, 12, addr, CHECKSUM, false)
    }

    /// Sets the destination address, updating the IPv4 header checksum only
    /// (see [`set_src`](Self::set_src)).
    #[inline(always)]
    pub fn set_dst<P: Packet>(&self, pkt: &mut P, addr: [u8; 4]) -> Option<()> {
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        replace_bytes_in(w, 16, addr, CHECKSUM, false)
    }

    /// Writes `checksum` into the checksum field as it is.
    #[inline(always)]
    pub fn set_checksum<P: Packet>(&self, pkt: &mut P, checksum: u16) -> Option<()> {
        write_u16(pkt, self.offset + CHECKSUM, checksum)
    }

    /// The checksum this header should carry, computed over the whole header
    /// (options included) with the checksum field counted as zero. A fixed
    /// number of constant-size reads (20 bytes, then up to ten 4-byte option
    /// words), so usable in XDP.
    #[inline(always)]
    pub fn compute_checksum<P: Packet>(&self, pkt: &P) -> Option<u16> {
        let fixed = pkt.bytes::<MIN_HEADER_LEN>(opaque(self.offset))?;
        let current = u64::from(u16::from_be_bytes([fixed[10], fixed[11]]));
        let mut acc = checksum::sum(fixed, 0) - current;
        // An opaque copy of the option count: each `i < words` below refines
        // it, and were it the header length itself (LLVM would compare that
        // directly), every later use of the header length would be verified
        // once per option count.
        let words = opaque(self.header_len().saturating_sub(MIN_HEADER_LEN) / 4);
        let mut i = 0;
        while i < (MAX_HEADER_LEN - MIN_HEADER_LEN) / 4 {
            if i < words {
                let word = pkt.bytes::<4>(opaque(self.offset + MIN_HEADER_LEN + i * 4))?;
                acc = checksum::sum(word, acc);
            }
            i += 1;
        }
        Some(!checksum::fold(acc))
    }

    /// Whether the header checksum is right.
    #[inline(always)]
    pub fn checksum_ok<P: Packet>(&self, pkt: &P) -> Option<bool> {
        Some(self.compute_checksum(pkt)? == self.checksum(pkt)?)
    }

    /// Recomputes the header checksum and writes it.
    #[inline(always)]
    pub fn update_checksum<P: Packet>(&self, pkt: &mut P) -> Option<()> {
        let checksum = self.compute_checksum(pkt)?;
        self.set_checksum(pkt, checksum)
    }
}
