use crate::Packet;

use super::{Ethernet, Icmp, Ipv4, Ipv6, Tcp, Udp, ethertype, ip_proto};

/// The network layer of a parsed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    /// IPv4.
    Ipv4(Ipv4),
    /// IPv6 (fixed header only).
    Ipv6(Ipv6),
}

impl L3 {
    /// Where the IP header starts.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        match self {
            L3::Ipv4(ip) => ip.offset(),
            L3::Ipv6(ip) => ip.offset(),
        }
    }

    /// Where the payload starts (after IPv4 options; after the fixed IPv6 header).
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        match self {
            L3::Ipv4(ip) => ip.payload_offset(),
            L3::Ipv6(ip) => ip.payload_offset(),
        }
    }

    /// The IPv4 protocol or the IPv6 next header.
    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        match self {
            L3::Ipv4(ip) => ip.protocol(),
            L3::Ipv6(ip) => ip.next_header(),
        }
    }

    /// 4 or 6.
    #[inline(always)]
    pub fn version(&self) -> u8 {
        match self {
            L3::Ipv4(_) => 4,
            L3::Ipv6(_) => 6,
        }
    }
}

/// The transport layer of a parsed frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    /// TCP.
    Tcp(Tcp),
    /// UDP.
    Udp(Udp),
    /// ICMP over IPv4 or ICMPv6 over IPv6.
    Icmp(Icmp),
    /// Another protocol, or an IPv6 extension header (not walked): its number
    /// and where it starts.
    Other {
        /// The IPv4 protocol or IPv6 next header.
        protocol: u8,
        /// Where its header starts.
        offset: usize,
    },
    /// A later fragment of an IPv4 datagram (fragment offset > 0): no L4
    /// header in this packet.
    Fragment {
        /// The IPv4 protocol.
        protocol: u8,
    },
    /// TCP, UDP or ICMP announced, but its header is cut short by the end of
    /// the packet (or, for TCP, has a data offset below 5).
    Malformed {
        /// The IPv4 protocol or IPv6 next header.
        protocol: u8,
    },
}

impl L4 {
    /// The IP protocol number of this layer.
    #[inline(always)]
    pub fn protocol(&self, l3: &L3) -> u8 {
        match self {
            L4::Tcp(_) => ip_proto::TCP,
            L4::Udp(_) => ip_proto::UDP,
            L4::Icmp(_) => l3.protocol(),
            L4::Other { protocol, .. } | L4::Fragment { protocol } | L4::Malformed { protocol } => *protocol,
        }
    }
}

/// Ethernet, IP and transport views of one frame, from [`parse_l3_l4`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layers {
    /// The Ethernet header and its VLAN tags.
    pub ethernet: Ethernet,
    /// The IP header.
    pub l3: L3,
    /// The transport header, or why there is none.
    pub l4: L4,
}

/// Walks Ethernet (with up to two VLAN tags) → IPv4 or IPv6 → TCP, UDP or
/// ICMP/ICMPv6.
///
/// `None` when the frame is not IPv4 or IPv6 or its Ethernet or IP header is
/// cut short or invalid (see [`Ipv4::parse_at`], [`Ipv6::parse_at`]). A
/// problem above IP is not an error: it is described by [`L4`].
#[inline(always)]
pub fn parse_l3_l4<P: Packet>(pkt: &P) -> Option<Layers> {
    let ethernet = Ethernet::parse(pkt)?;
    let l3 = match ethernet.ethertype() {
        ethertype::IPV4 => L3::Ipv4(Ipv4::parse_at(pkt, ethernet.payload_offset())?),
        ethertype::IPV6 => L3::Ipv6(Ipv6::parse_at(pkt, ethernet.payload_offset())?),
        _ => return None,
    };
    let l4 = parse_l4(pkt, &l3);
    Some(Layers { ethernet, l3, l4 })
}

#[inline(always)]
fn parse_l4<P: Packet>(pkt: &P, l3: &L3) -> L4 {
    let (protocol, offset, icmp) = match l3 {
        L3::Ipv4(ip) => {
            if !ip.has_l4_header() {
                return L4::Fragment { protocol: ip.protocol() };
            }
            (ip.protocol(), ip.payload_offset(), ip_proto::ICMP)
        }
        L3::Ipv6(ip) => (ip.next_header(), ip.payload_offset(), ip_proto::ICMPV6),
    };
    let parsed = match protocol {
        ip_proto::TCP => Tcp::parse_at(pkt, offset).map(L4::Tcp),
        ip_proto::UDP => Udp::parse_at(pkt, offset).map(L4::Udp),
        p if p == icmp => Icmp::parse_at(pkt, offset).map(L4::Icmp),
        _ => return L4::Other { protocol, offset },
    };
    match parsed {
        Some(l4) => l4,
        None => L4::Malformed { protocol },
    }
}

/// Parses the frame and returns its [`FlowTuple`]: `parse_l3_l4` then
/// [`Layers::flow`].
#[inline(always)]
pub fn parse_flow<P: Packet>(pkt: &P) -> Option<FlowTuple> {
    parse_l3_l4(pkt)?.flow(pkt)
}

impl Layers {
    /// The frame's 5-tuple (addresses, protocol, ports; see [`FlowTuple`]).
    #[inline(always)]
    pub fn flow<P: Packet>(&self, pkt: &P) -> Option<FlowTuple> {
        let mut flow = FlowTuple::default();
        match self.l3 {
            L3::Ipv4(ip) => {
                // Source and destination are adjacent: one 8-byte read.
                let addrs = pkt.bytes::<8>(super::opaque(ip.offset() + 12))?;
                flow.src_ip[..4].copy_from_slice(&addrs[..4]);
                flow.dst_ip[..4].copy_from_slice(&addrs[4..]);
                flow.ip_version = 4;
            }
            L3::Ipv6(ip) => {
                let addrs = pkt.bytes::<32>(super::opaque(ip.offset() + 8))?;
                flow.src_ip.copy_from_slice(&addrs[..16]);
                flow.dst_ip.copy_from_slice(&addrs[16..]);
                flow.ip_version = 6;
            }
        }
        flow.protocol = self.l4.protocol(&self.l3);
        let ports = match self.l4 {
            L4::Tcp(tcp) => Some(tcp.ports(pkt)?),
            L4::Udp(udp) => Some(udp.ports(pkt)?),
            _ => None,
        };
        if let Some((src, dst)) = ports {
            flow.src_port = src;
            flow.dst_port = dst;
        }
        Some(flow)
    }

    /// IPv4 only: sets the source address and updates the IPv4 header checksum
    /// and, when the TCP or UDP header is in this packet, its checksum (whose
    /// pseudo-header holds the address). `None` for IPv6 or a short packet.
    #[inline(always)]
    pub fn set_ipv4_src<P: Packet>(&self, pkt: &mut P, addr: [u8; 4]) -> Option<()> {
        let L3::Ipv4(ip) = self.l3 else { return None };
        let old = ip.src(pkt)?;
        ip.set_src(pkt, addr)?;
        self.pseudo_header_changed(pkt, &old, &addr)
    }

    /// IPv4 only: sets the destination address, like [`set_ipv4_src`](Self::set_ipv4_src).
    #[inline(always)]
    pub fn set_ipv4_dst<P: Packet>(&self, pkt: &mut P, addr: [u8; 4]) -> Option<()> {
        let L3::Ipv4(ip) = self.l3 else { return None };
        let old = ip.dst(pkt)?;
        ip.set_dst(pkt, addr)?;
        self.pseudo_header_changed(pkt, &old, &addr)
    }

    /// IPv6 only: sets the source address and updates the TCP, UDP or ICMPv6
    /// checksum for it. `None` for IPv4 or a short packet.
    #[inline(always)]
    pub fn set_ipv6_src<P: Packet>(&self, pkt: &mut P, addr: [u8; 16]) -> Option<()> {
        let L3::Ipv6(ip) = self.l3 else { return None };
        let old = ip.src(pkt)?;
        ip.set_src(pkt, addr)?;
        self.pseudo_header_changed(pkt, &old, &addr)
    }

    /// IPv6 only: sets the destination address, like [`set_ipv6_src`](Self::set_ipv6_src).
    #[inline(always)]
    pub fn set_ipv6_dst<P: Packet>(&self, pkt: &mut P, addr: [u8; 16]) -> Option<()> {
        let L3::Ipv6(ip) = self.l3 else { return None };
        let old = ip.dst(pkt)?;
        ip.set_dst(pkt, addr)?;
        self.pseudo_header_changed(pkt, &old, &addr)
    }

    /// Updates the L4 checksum (TCP, UDP, ICMPv6) for `old` becoming `new` in
    /// the pseudo-header. Nothing to do for ICMPv4 or when no L4 header is here.
    #[inline(always)]
    fn pseudo_header_changed<P: Packet, const N: usize>(
        &self,
        pkt: &mut P,
        old: &[u8; N],
        new: &[u8; N],
    ) -> Option<()> {
        match (self.l4, self.l3) {
            (L4::Tcp(tcp), _) => tcp.pseudo_header_changed(pkt, old, new),
            (L4::Udp(udp), _) => udp.pseudo_header_changed(pkt, old, new),
            (L4::Icmp(icmp), L3::Ipv6(_)) => icmp.pseudo_header_changed(pkt, old, new),
            _ => Some(()),
        }
    }
}

/// A flow's 5-tuple, laid out to be a BPF map key: `#[repr(C)]`, 40 bytes,
/// no padding holes (the two spare bytes are a field, always zero), and
/// [`PlainData`](crate::maps::PlainData), so it is a key of nf-std's maps.
///
/// - `src_ip`/`dst_ip`: network order; an IPv4 address fills the first 4
///   bytes and the other 12 are zero (`ip_version` tells them apart).
/// - `src_port`/`dst_port`: native integers (host byte order, the same in
///   the kernel and in userland on one machine); zero for anything but TCP
///   and UDP (ICMP, other protocols, IPv4 later fragments, malformed headers).
/// - `protocol`: the IPv4 protocol or the IPv6 next header (an extension
///   header's number when one follows the fixed header).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FlowTuple {
    /// The source address, network order (IPv4 in the first 4 bytes).
    pub src_ip: [u8; 16],
    /// The destination address, network order (IPv4 in the first 4 bytes).
    pub dst_ip: [u8; 16],
    /// The TCP/UDP source port, or 0.
    pub src_port: u16,
    /// The TCP/UDP destination port, or 0.
    pub dst_port: u16,
    /// The IP protocol number.
    pub protocol: u8,
    /// 4 or 6.
    pub ip_version: u8,
    /// Always zero: makes the padding explicit so equal flows are equal bytes.
    pub reserved: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<FlowTuple>() == 40);
const _: () = assert!(core::mem::align_of::<FlowTuple>() == 2);

// SAFETY: repr(C), only integers and byte arrays, no padding (asserted above:
// 16 + 16 + 2 + 2 + 1 + 1 + 2 = 40), every bit pattern valid.
unsafe impl crate::maps::PlainData for FlowTuple {}

impl FlowTuple {
    /// An IPv4 flow.
    #[inline(always)]
    pub fn v4(src_ip: [u8; 4], dst_ip: [u8; 4], protocol: u8, src_port: u16, dst_port: u16) -> FlowTuple {
        let mut flow = FlowTuple { protocol, src_port, dst_port, ip_version: 4, ..FlowTuple::default() };
        flow.src_ip[..4].copy_from_slice(&src_ip);
        flow.dst_ip[..4].copy_from_slice(&dst_ip);
        flow
    }

    /// An IPv6 flow.
    #[inline(always)]
    pub fn v6(src_ip: [u8; 16], dst_ip: [u8; 16], protocol: u8, src_port: u16, dst_port: u16) -> FlowTuple {
        FlowTuple { src_ip, dst_ip, src_port, dst_port, protocol, ip_version: 6, reserved: [0; 2] }
    }

    /// The same flow seen from the other end: addresses and ports swapped.
    #[inline(always)]
    pub fn reversed(&self) -> FlowTuple {
        FlowTuple {
            src_ip: self.dst_ip,
            dst_ip: self.src_ip,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }

    /// The IPv4 source address, if this is an IPv4 flow.
    #[inline(always)]
    pub fn src_v4(&self) -> Option<[u8; 4]> {
        if self.ip_version != 4 {
            return None;
        }
        let [a, b, c, d, ..] = self.src_ip;
        Some([a, b, c, d])
    }

    /// The IPv4 destination address, if this is an IPv4 flow.
    #[inline(always)]
    pub fn dst_v4(&self) -> Option<[u8; 4]> {
        if self.ip_version != 4 {
            return None;
        }
        let [a, b, c, d, ..] = self.dst_ip;
        Some([a, b, c, d])
    }

    /// This flow as the bytes a BPF map stores for it (for userland code that
    /// builds keys by hand or compares them).
    #[inline(always)]
    pub fn to_bytes(&self) -> [u8; 40] {
        let mut out = [0u8; 40];
        out[..16].copy_from_slice(&self.src_ip);
        out[16..32].copy_from_slice(&self.dst_ip);
        out[32..34].copy_from_slice(&self.src_port.to_ne_bytes());
        out[34..36].copy_from_slice(&self.dst_port.to_ne_bytes());
        out[36] = self.protocol;
        out[37] = self.ip_version;
        out[38..40].copy_from_slice(&self.reserved);
        out
    }
}
