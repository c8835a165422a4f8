use crate::Packet;

use super::{header_at, opaque, read_array, read_pair, read_u16, replace_u16_in, write_u16};

const HEADER_LEN: usize = 8;
const CHECKSUM: usize = 2;

/// An ICMP (IPv4, protocol 1) or ICMPv6 (IPv6, next header 58) header: both
/// start with type, code, checksum and 4 bytes whose meaning depends on the
/// type (identifier and sequence number for echo messages).
///
/// The ICMPv4 checksum covers the ICMP message only; the ICMPv6 one also
/// covers the IPv6 pseudo-header (see
/// [`pseudo_header_changed`](Self::pseudo_header_changed)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    offset: usize,
}

impl Icmp {
    /// ICMPv4 echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// ICMPv4 destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// ICMPv4 echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// ICMPv4 time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// ICMPv6 destination unreachable.
    pub const V6_DEST_UNREACHABLE: u8 = 1;
    /// ICMPv6 packet too big.
    pub const V6_PACKET_TOO_BIG: u8 = 2;
    /// ICMPv6 time exceeded.
    pub const V6_TIME_EXCEEDED: u8 = 3;
    /// ICMPv6 echo request.
    pub const V6_ECHO_REQUEST: u8 = 128;
    /// ICMPv6 echo reply.
    pub const V6_ECHO_REPLY: u8 = 129;
    /// ICMPv6 neighbor solicitation.
    pub const V6_NEIGHBOR_SOLICITATION: u8 = 135;
    /// ICMPv6 neighbor advertisement.
    pub const V6_NEIGHBOR_ADVERTISEMENT: u8 = 136;

    /// Parses an ICMP or ICMPv6 header at `offset`. `None` unless
    /// `offset <= P::MAX_OFFSET` and its 8 bytes are inside the packet.
    #[inline(always)]
    pub fn parse_at<P: Packet>(pkt: &P, offset: usize) -> Option<Icmp> {
        let (offset, _) = header_at::<P, HEADER_LEN>(pkt, offset)?;
        Some(Icmp { offset })
    }

    /// Where this header starts.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Where the message body starts: `offset() + 8`.
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        self.offset + HEADER_LEN
    }

    /// The message type.
    #[inline(always)]
    pub fn icmp_type<P: Packet>(&self, pkt: &P) -> Option<u8> {
        Some(read_pair(pkt, self.offset)?[0])
    }

    /// The message code.
    #[inline(always)]
    pub fn code<P: Packet>(&self, pkt: &P) -> Option<u8> {
        Some(read_pair(pkt, self.offset)?[1])
    }

    /// The checksum as it is in the packet.
    #[inline(always)]
    pub fn checksum<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + CHECKSUM)
    }

    /// The 4 type-dependent bytes after the checksum ("rest of header").
    #[inline(always)]
    pub fn rest_of_header<P: Packet>(&self, pkt: &P) -> Option<[u8; 4]> {
        read_array(pkt, self.offset + 4)
    }

    /// The identifier of an echo request or reply.
    #[inline(always)]
    pub fn echo_id<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 4)
    }

    /// The sequence number of an echo request or reply.
    #[inline(always)]
    pub fn echo_seq<P: Packet>(&self, pkt: &P) -> Option<u16> {
        read_u16(pkt, self.offset + 6)
    }

    /// Sets type and code (e.g. to turn an echo request into a reply),
    /// updating the checksum.
    #[inline(always)]
    pub fn set_type_code<P: Packet>(&self, pkt: &mut P, icmp_type: u8, code: u8) -> Option<()> {
        let w = pkt.bytes_mut::<HEADER_LEN>(opaque(self.offset))?;
        replace_u16_in(w, 0, u16::from_be_bytes([icmp_type, code]), CHECKSUM, false)
    }

    /// Sets the echo identifier, updating the checksum.
    #[inline(always)]
    pub fn set_echo_id<P: Packet>(&self, pkt: &mut P, id: u16) -> Option<()> {
        let w = pkt.bytes_mut::<HEADER_LEN>(opaque(self.offset))?;
        replace_u16_in(w, 4, id, CHECKSUM, false)
    }

    /// Writes `checksum` into the checksum field as it is.
    #[inline(always)]
    pub fn set_checksum<P: Packet>(&self, pkt: &mut P, checksum: u16) -> Option<()> {
        write_u16(pkt, self.offset + CHECKSUM, checksum)
    }

    /// ICMPv6 only: updates the checksum for a change in the IPv6
    /// pseudo-header (an address going from `old` to `new`). ICMPv4 has no
    /// pseudo-header: do not call it for ICMPv4.
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
