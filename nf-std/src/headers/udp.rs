use crate::Packet;

use super::{header_at, opaque, read_ports, read_u16, replace_u16_in, write_u16};

const HEADER_LEN: usize = 8;
const CHECKSUM: usize = 6;

/// A UDP header.
///
/// A checksum of zero means "no checksum" (allowed over IPv4): the setters
/// leave such a checksum at zero, and otherwise update it incrementally,
/// writing a computed zero as `0xFFFF` (RFC 768).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp {
    offset: usize,
}

impl Udp {
    /// Parses a UDP header at `offset`. `None` unless `offset <= P::MAX_OFFSET`
    /// and the 8 bytes are inside the packet. The length field is not checked.
    #[inline(always)]
    pub fn parse_at<P: Packet>(pkt: &P, offset: usize) -> Option<Udp> {
        let (offset, _) = header_at::<P, HEADER_LEN>(pkt, offset)?;
        Some(Udp { offset })
    }

    /// Where this header starts.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Where the payload starts: `offset() + 8`.
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        self.offset + HEADER_LEN
    }

    /// The source port.
    #[inline(always)]
    pub fn src_port<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset)
    }

    /// The destination port.
    #[inline(always)]
    pub fn dst_port<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 2)
    }

    /// Both ports at once, `(source, destination)`: one 4-byte read.
    #[inline(always)]
    pub fn ports<P: Packet>(&self, pkt: &P) -> Option<(u16, u16)> {
        read_ports(pkt, self.offset)
    }

    /// The length field: header and payload, in bytes.
    #[inline(always)]
    pub fn length<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 4)
    }

    /// The checksum as it is in the packet (0: none).
    #[inline(always)]
    pub fn checksum<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + CHECKSUM)
    }

    /// Sets the source port, updating the checksum.
    #[inline(always)]
    pub fn set_src_port<P: Packet>(&self, pkt: &mut P, port: u16) -> Option<()> {
        let w = pkt.bytes_mut::<HEADER_LEN>(opaque(self.offset))?;
        replace_u16_in(w, 0, port, CHECKSUM, true)
    }

    /// Sets the destination port, updating the checksum.
    #[inline(always)]
    pub fn set_dst_port<P: Packet>(&self, pkt: &mut P, port: u16) -> Option<()> {
        let w = pkt.bytes_mut::<HEADER_LEN>(opaque(self.offset))?;
        replace_u16_in(w, 2, port, CHECKSUM, true)
    }

    /// Sets the length field, updating the checksum (the length is counted
    /// twice by the checksum, here and in the pseudo-header; this updates
    /// both).
    #[inline(always)]
    pub fn set_length<P: Packet>(&self, pkt: &mut P, len: u16) -> Option<()> {
        let w = pkt.bytes_mut::<HEADER_LEN>(opaque(self.offset))?;
        let old = super::get_u16(w, 4)?;
        replace_u16_in(w, 4, len, CHECKSUM, true)?;
        // The pseudo-header's copy: the same change to the checksum once more.
        let checksum = super::get_u16(w, CHECKSUM)?;
        let checksum = super::adjusted(checksum, true, |c| crate::checksum::update_u16(c, old, len));
        super::put_u16(w, CHECKSUM, checksum)
    }

    /// Writes `checksum` into the checksum field as it is.
    #[inline(always)]
    pub fn set_checksum<P: Packet>(&self, pkt: &mut P, checksum: u16) -> Option<()> {
        write_u16(pkt, self.offset + CHECKSUM, checksum)
    }

    /// Updates the checksum for a change elsewhere in what it covers, typically
    /// an IP address in the pseudo-header going from `old` to `new`. A zero
    /// checksum stays zero.
    #[inline(always)]
    pub fn pseudo_header_changed<P: Packet, const N: usize>(
        &self,
        pkt: &mut P,
        old: &[u8; N],
        new: &[u8; N],
    ) -> Option<()> {
        super::checksum_replace(pkt, self.offset + CHECKSUM, old, new, true)
    }
}
