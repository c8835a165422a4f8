use crate::Packet;

use super::{header_at, opaque, read_ports, read_u16, read_u32, replace_bytes_in, replace_u16_in, write_u16};

const MIN_HEADER_LEN: usize = 20;
const CHECKSUM: usize = 16;

/// The TCP flags byte (byte 13 of the header). Combine with `|`, test with
/// [`contains`](Self::contains) or the named methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    /// No more data from the sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers (connection setup).
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment number is valid.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer is valid.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);

    /// Whether every flag of `other` is set.
    #[inline(always)]
    pub fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// FIN is set.
    #[inline(always)]
    pub fn fin(self) -> bool {
        self.contains(Self::FIN)
    }

    /// SYN is set.
    #[inline(always)]
    pub fn syn(self) -> bool {
        self.contains(Self::SYN)
    }

    /// RST is set.
    #[inline(always)]
    pub fn rst(self) -> bool {
        self.contains(Self::RST)
    }

    /// PSH is set.
    #[inline(always)]
    pub fn psh(self) -> bool {
        self.contains(Self::PSH)
    }

    /// ACK is set.
    #[inline(always)]
    pub fn ack(self) -> bool {
        self.contains(Self::ACK)
    }

    /// URG is set.
    #[inline(always)]
    pub fn urg(self) -> bool {
        self.contains(Self::URG)
    }
}

impl core::ops::BitOr for TcpFlags {
    type Output = TcpFlags;

    #[inline(always)]
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

/// A TCP header, options included.
///
/// The checksum covers the IP pseudo-header: setters here update it
/// incrementally for the field they change; after changing an IP address call
/// [`pseudo_header_changed`](Self::pseudo_header_changed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcp {
    offset: usize,
    header_len: usize,
}

impl Tcp {
    /// Parses a TCP header at `offset` (usually the IP header's
    /// `payload_offset()`). `None` unless `offset <= P::MAX_OFFSET`, the data
    /// offset is 5..=15 (a header of 20..=60 bytes) and the whole header,
    /// options included, is inside the packet.
    #[inline(always)]
    pub fn parse_at<P: Packet>(pkt: &P, offset: usize) -> Option<Tcp> {
        let (offset, fixed) = header_at::<P, MIN_HEADER_LEN>(pkt, offset)?;
        // Masked, so at most 60; then checked >= 20.
        let header_len = usize::from(fixed[12] >> 4) * 4;
        if header_len < MIN_HEADER_LEN {
            return None;
        }
        if header_len > MIN_HEADER_LEN {
            pkt.bytes::<4>(opaque(offset + header_len - 4))?;
        }
        Some(Tcp { offset, header_len })
    }

    /// Where this header starts.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The header length from the data offset field: 20..=60.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        self.header_len & 0x3c
    }

    /// Where the payload starts: `offset() + header_len()`.
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        self.offset + self.header_len()
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

    /// The sequence number.
    #[inline(always)]
    pub fn seq<P: Packet>(&self, pkt: &P) -> Option<u32> {
        read_u32(pkt, self.offset + 4)
    }

    /// The acknowledgment number.
    #[inline(always)]
    pub fn ack<P: Packet>(&self, pkt: &P) -> Option<u32> {
        read_u32(pkt, self.offset + 8)
    }

    /// The flags (FIN, SYN, RST, PSH, ACK, URG, ECE, CWR).
    #[inline(always)]
    pub fn flags<P: Packet>(&self, pkt: &P) -> Option<TcpFlags> {
        // Data offset and flags share the word at 12.
        Some(TcpFlags(super::read_pair(pkt, self.offset + 12)?[1]))
    }

    /// The receive window.
    #[inline(always)]
    pub fn window<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 14)
    }

    /// The checksum as it is in the packet.
    #[inline(always)]
    pub fn checksum<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + CHECKSUM)
    }

    /// The urgent pointer.
    #[inline(always)]
    pub fn urgent_pointer<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 18)
    }

    /// Sets the source port, updating the checksum.
    #[inline(always)]
    pub fn set_src_port<P: Packet>(&self, pkt: &mut P, port: u16) -> Option<()> {
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        replace_u16_in(w, 0, port, CHECKSUM, false)
    }

    /// Sets the destination port, updating the checksum.
    #[inline(always)]
    pub fn set_dst_port<P: Packet>(&self, pkt: &mut P, port: u16) -> Option<()> {
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        replace_u16_in(w, 2, port, CHECKSUM, false)
    }

    /// Sets the flags byte, updating the checksum.
    #[inline(always)]
    pub fn set_flags<P: Packet>(&self, pkt: &mut P, flags: TcpFlags) -> Option<()> {
        // Data offset and flags form the 16-bit word at 12.
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        let new = u16::from_be_bytes([w[12], flags.0]);
        replace_u16_in(w, 12, new, CHECKSUM, false)
    }

    /// Sets the sequence number, updating the checksum.
    #[inline(always)]
    pub fn set_seq<P: Packet>(&self, pkt: &mut P, seq: u32) -> Option<()> {
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        replace_bytes_in(w, 4, seq.to_be_bytes(), CHECKSUM, false)
    }

    /// Sets the acknowledgment number, updating the checksum.
    #[inline(always)]
    pub fn set_ack<P: Packet>(&self, pkt: &mut P, ack: u32) -> Option<()> {
        let w = pkt.bytes_mut::<MIN_HEADER_LEN>(opaque(self.offset))?;
        replace_bytes_in(w, 8, ack.to_be_bytes(), CHECKSUM, false)
    }

    /// Writes `checksum` into the checksum field as it is.
    #[inline(always)]
    pub fn set_checksum<P: Packet>(&self, pkt: &mut P, checksum: u16) -> Option<()> {
        write_u16(pkt, self.offset + CHECKSUM, checksum)
    }

    /// Updates the checksum for a change elsewhere in what it covers, typically
    /// an IP address in the pseudo-header going from `old` to `new` (4 bytes
    /// for IPv4, 16 for IPv6).
    #[inline(always)]
    pub fn pseudo_header_changed<P: Packet, const N: usize>(
        &self,
        pkt: &mut P,
        old: &[u8; N],
        new: &[u8; N],
    ) -> Option<()> {
        super::checksum_replace(pkt, self.offset + CHECKSUM, old, new, false)
    }
}
