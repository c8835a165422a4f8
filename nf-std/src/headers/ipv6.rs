use crate::Packet;

use super::{header_at, opaque, read_array, read_pair, read_u16, read_u32, write_array, write_u16};

const HEADER_LEN: usize = 40;

/// The fixed 40-byte IPv6 header. Extension headers are not walked:
/// [`next_header`](Self::next_header) is whatever follows the fixed header
/// (TCP, UDP, ICMPv6, or an extension header such as
/// [`ip_proto::HOPOPT`](super::ip_proto::HOPOPT)), and it starts at
/// [`payload_offset`](Self::payload_offset).
///
/// Addresses are `[u8; 16]` in network order. IPv6 has no header checksum;
/// changing an address changes the TCP/UDP/ICMPv6 pseudo-header, so see
/// [`Layers::set_ipv6_src`](super::Layers::set_ipv6_src).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6 {
    offset: usize,
    next_header: u8,
}

impl Ipv6 {
    /// Parses an IPv6 header at `offset`. `None` unless `offset <= P::MAX_OFFSET`,
    /// the version is 6 and the 40 bytes are inside the packet. The payload
    /// length is not checked against the packet.
    #[inline(always)]
    pub fn parse_at<P: Packet>(pkt: &P, offset: usize) -> Option<Ipv6> {
        let (offset, header) = header_at::<P, HEADER_LEN>(pkt, offset)?;
        if header[0] >> 4 != 6 {
            return None;
        }
        Some(Ipv6 { offset, next_header: header[6] })
    }

    /// Where this header starts.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The header length: always 40.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Where the payload (the next header) starts: `offset() + 40`.
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        self.offset + HEADER_LEN
    }

    /// The next header field: the protocol (or extension header) that follows.
    #[inline(always)]
    pub fn next_header(&self) -> u8 {
        self.next_header
    }

    /// The traffic class (DSCP and ECN).
    #[inline(always)]
    pub fn traffic_class<P: Packet>(&self, pkt: &P) -> Option<u8> {
        let b = pkt.bytes::<2>(opaque(self.offset))?;
        Some((b[0] << 4) | (b[1] >> 4))
    }

    /// The 20-bit flow label.
    #[inline(always)]
    pub fn flow_label<P: Packet>(&self, pkt: &P) -> Option<u32> {
        Some(read_u32(pkt, self.offset)? & 0x000f_ffff)
    }

    /// The payload length (everything after the fixed header).
    #[inline(always)]
    pub fn payload_len<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 4)
    }

    /// The hop limit.
    #[inline(always)]
    pub fn hop_limit<P: Packet>(&self, pkt: &P) -> Option<u8> {
        // Next header and hop limit share the word at 6.
        Some(read_pair(pkt, self.offset + 6)?[1])
    }

    /// The source address, network order.
    #[inline(always)]
    pub fn src<P: Packet>(&self, pkt: &P) -> Option<[u8; 16]> {
        read_array(pkt, self.offset + 8)
    }

    /// The destination address, network order.
    #[inline(always)]
    pub fn dst<P: Packet>(&self, pkt: &P) -> Option<[u8; 16]> {
        read_array(pkt, self.offset + 24)
    }

    /// Sets the hop limit.
    #[inline(always)]
    pub fn set_hop_limit<P: Packet>(&self, pkt: &mut P, hop_limit: u8) -> Option<()> {
        let w = pkt.bytes_mut::<2>(opaque(self.offset + 6))?;
        w[1] = hop_limit;
        Some(())
    }

    /// Decrements the hop limit and returns the new value; `None` (and nothing
    /// changed) if it is already 0.
    #[inline(always)]
    pub fn decrement_hop_limit<P: Packet>(&self, pkt: &mut P) -> Option<u8> {
        let w = pkt.bytes_mut::<2>(opaque(self.offset + 6))?;
        let hop_limit = w[1].checked_sub(1)?;
        w[1] = hop_limit;
        Some(hop_limit)
    }

    /// Sets the traffic class, keeping version and flow label.
    #[inline(always)]
    pub fn set_traffic_class<P: Packet>(&self, pkt: &mut P, class: u8) -> Option<()> {
        let b = pkt.bytes_mut::<2>(opaque(self.offset))?;
        b[0] = 0x60 | (class >> 4);
        b[1] = (class << 4) | (b[1] & 0x0f);
        Some(())
    }

    /// Sets the payload length.
    #[inline(always)]
    pub fn set_payload_len<P: Packet>(&self, pkt: &mut P, len: u16) -> Option<()> {
        write_u16(pkt, self.offset + 4, len)
    }

    /// Sets the source address (the L4 checksum is not touched; see
    /// [`Layers::set_ipv6_src`](super::Layers::set_ipv6_src)).
    #[inline(always)]
    pub fn set_src<P: Packet>(&self, pkt: &mut P, addr: [u8; 16]) -> Option<()> {
        write_array(pkt, self.offset + 8, addr)
    }

    /// Sets the destination address (the L4 checksum is not touched).
    #[inline(always)]
    pub fn set_dst<P: Packet>(&self, pkt: &mut P, addr: [u8; 16]) -> Option<()> {
        write_array(pkt, self.offset + 24, addr)
    }
}
