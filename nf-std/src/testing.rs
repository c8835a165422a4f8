//! Helpers for NF authors' host tests (feature `std`): build frames with
//! [`PacketBuilder`], run an NF on them with [`run`] or [`PacketBuilder::run`],
//! and check what it left with [`verify_checksums`].
//!
//! ```
//! use nf_std::testing::PacketBuilder;
//! use nf_std::headers::{TcpFlags, parse_l3_l4, L4};
//! use nf_std::SlicePacket;
//!
//! let mut frame = PacketBuilder::new()
//!     .vlan(42)
//!     .ipv4([198, 18, 0, 1], [198, 18, 0, 2])
//!     .tcp(40000, 80)
//!     .tcp_flags(TcpFlags::SYN)
//!     .payload(b"hello")
//!     .build();
//! let pkt = SlicePacket::new(&mut frame);
//! let layers = parse_l3_l4(&pkt).unwrap();
//! assert!(matches!(layers.l4, L4::Tcp(_)));
//! ```
//!
//! This module is only compiled natively with the `std` feature (and in
//! nf-std's own unit tests). It brings in `std` with an `extern crate std;` of
//! its own, so the rest of the crate stays `#![no_std]`. Test-only code: it
//! panics on impossible requests rather than returning errors.

extern crate std;

use std::format;
use std::string::String;
use std::vec::Vec;

use crate::SlicePacket;
use crate::checksum;
use crate::headers::{L3, L4, TcpFlags, VlanTag, ethertype, ip_proto, parse_l3_l4};

#[derive(Clone, Debug)]
enum L3Spec {
    None,
    Ipv4 { src: [u8; 4], dst: [u8; 4] },
    Ipv6 { src: [u8; 16], dst: [u8; 16] },
}

#[derive(Clone, Debug)]
enum L4Spec {
    None,
    Tcp { src: u16, dst: u16 },
    Udp { src: u16, dst: u16 },
    Icmp { icmp_type: u8, code: u8, rest: [u8; 4] },
    Raw { protocol: u8 },
}

/// Builds Ethernet frames (optionally VLAN-tagged) carrying IPv4 or IPv6 and
/// TCP, UDP or ICMP, with a payload and correct IPv4, TCP, UDP, ICMP and
/// ICMPv6 checksums. Every method consumes and returns the builder; `build`
/// borrows it, so one builder can make many frames.
///
/// Defaults: destination MAC `02:00:00:00:00:02`, source `02:00:00:00:00:01`,
/// no VLAN tag, no IP layer (EtherType `0x88B5`, local experimental), TTL 64,
/// TCP window 65535 with no flags set, empty payload, no padding.
///
/// Building panics on impossible requests (more than 40 bytes of IPv4 or TCP
/// options, a frame longer than 65535 bytes): it is test code.
#[derive(Clone, Debug)]
pub struct PacketBuilder {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    vlans: Vec<VlanTag>,
    ethertype: Option<u16>,
    l3: L3Spec,
    ttl: u8,
    tos: u8,
    identification: u16,
    fragment: u16,
    ipv4_options: Vec<u8>,
    flow_label: u32,
    l4: L4Spec,
    tcp_flags: TcpFlags,
    seq: u32,
    ack: u32,
    window: u16,
    tcp_options: Vec<u8>,
    udp_checksum: bool,
    payload: Vec<u8>,
    pad_to: usize,
}

impl Default for PacketBuilder {
    fn default() -> Self {
        PacketBuilder::new()
    }
}

impl PacketBuilder {
    /// A builder with the defaults above.
    pub fn new() -> Self {
        PacketBuilder {
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_mac: [2, 0, 0, 0, 0, 1],
            vlans: Vec::new(),
            ethertype: None,
            l3: L3Spec::None,
            ttl: 64,
            tos: 0,
            identification: 0,
            fragment: 0,
            ipv4_options: Vec::new(),
            flow_label: 0,
            l4: L4Spec::None,
            tcp_flags: TcpFlags(0),
            seq: 0,
            ack: 0,
            window: 0xffff,
            tcp_options: Vec::new(),
            udp_checksum: true,
            payload: Vec::new(),
            pad_to: 0,
        }
    }

    /// Sets the source and destination MAC addresses.
    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.src_mac = src;
        self.dst_mac = dst;
        self
    }

    /// Adds an 802.1Q tag (TPID 0x8100) with VLAN id `vid` (PCP and DEI 0).
    /// Tags are written in the order they are added, outermost first.
    pub fn vlan(self, vid: u16) -> Self {
        self.vlan_tag(ethertype::VLAN, vid & 0x0fff)
    }

    /// Adds a QinQ pair: an 802.1ad S-TAG (0x88A8) with `outer_vid`, then an
    /// 802.1Q C-TAG with `inner_vid`.
    pub fn qinq(self, outer_vid: u16, inner_vid: u16) -> Self {
        self.vlan_tag(ethertype::QINQ, outer_vid & 0x0fff).vlan(inner_vid)
    }

    /// Adds a tag with any TPID and TCI.
    pub fn vlan_tag(mut self, tpid: u16, tci: u16) -> Self {
        self.vlans.push(VlanTag { tpid, tci });
        self
    }

    /// Forces the EtherType after the tags (e.g. ARP for a frame with no IP
    /// layer, or a wrong one on purpose).
    pub fn ethertype(mut self, ethertype: u16) -> Self {
        self.ethertype = Some(ethertype);
        self
    }

    /// Carries IPv4 from `src` to `dst` (addresses in network order).
    pub fn ipv4(mut self, src: [u8; 4], dst: [u8; 4]) -> Self {
        self.l3 = L3Spec::Ipv4 { src, dst };
        self
    }

    /// Carries IPv6 from `src` to `dst`.
    pub fn ipv6(mut self, src: [u8; 16], dst: [u8; 16]) -> Self {
        self.l3 = L3Spec::Ipv6 { src, dst };
        self
    }

    /// The IPv4 TTL or the IPv6 hop limit.
    pub fn ttl(mut self, ttl: u8) -> Self {
        self.ttl = ttl;
        self
    }

    /// The IPv4 TOS byte or the IPv6 traffic class.
    pub fn tos(mut self, tos: u8) -> Self {
        self.tos = tos;
        self
    }

    /// The IPv4 identification field.
    pub fn identification(mut self, id: u16) -> Self {
        self.identification = id;
        self
    }

    /// Sets the IPv4 "don't fragment" flag.
    pub fn dont_fragment(mut self) -> Self {
        self.fragment |= 0x4000;
        self
    }

    /// Makes the IPv4 packet a fragment at `offset` bytes (rounded down to a
    /// multiple of 8), with or without "more fragments". The builder still
    /// writes whatever L4 header was asked for: for a later fragment, leave
    /// the L4 layer out and put the bytes in the payload.
    pub fn fragment(mut self, offset: u16, more_fragments: bool) -> Self {
        self.fragment = (self.fragment & 0x4000) | ((offset >> 3) & 0x1fff) | if more_fragments { 0x2000 } else { 0 };
        self
    }

    /// IPv4 options (padded with zero bytes, "end of options", to a multiple of 4).
    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        self.ipv4_options = options.to_vec();
        self
    }

    /// The IPv6 flow label (20 bits).
    pub fn flow_label(mut self, label: u32) -> Self {
        self.flow_label = label & 0x000f_ffff;
        self
    }

    /// Carries TCP from port `src` to port `dst`.
    pub fn tcp(mut self, src: u16, dst: u16) -> Self {
        self.l4 = L4Spec::Tcp { src, dst };
        self
    }

    /// TCP flags, e.g. `TcpFlags::SYN | TcpFlags::ACK`.
    pub fn tcp_flags(mut self, flags: TcpFlags) -> Self {
        self.tcp_flags = flags;
        self
    }

    /// The TCP sequence number.
    pub fn seq(mut self, seq: u32) -> Self {
        self.seq = seq;
        self
    }

    /// The TCP acknowledgment number.
    pub fn ack_number(mut self, ack: u32) -> Self {
        self.ack = ack;
        self
    }

    /// The TCP window.
    pub fn window(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    /// TCP options (padded with zero bytes to a multiple of 4).
    pub fn tcp_options(mut self, options: &[u8]) -> Self {
        self.tcp_options = options.to_vec();
        self
    }

    /// Carries UDP from port `src` to port `dst`.
    pub fn udp(mut self, src: u16, dst: u16) -> Self {
        self.l4 = L4Spec::Udp { src, dst };
        self
    }

    /// Sends UDP with a zero checksum ("none"; valid over IPv4 only).
    pub fn no_udp_checksum(mut self) -> Self {
        self.udp_checksum = false;
        self
    }

    /// Carries an ICMP message (ICMPv6 over IPv6) of `icmp_type` and `code`,
    /// its 4 type-dependent bytes zero.
    pub fn icmp(mut self, icmp_type: u8, code: u8) -> Self {
        self.l4 = L4Spec::Icmp { icmp_type, code, rest: [0; 4] };
        self
    }

    /// An ICMP echo message of `icmp_type` (8 or 0 for IPv4, 128 or 129 for
    /// IPv6) with identifier `id` and sequence number `seq`.
    pub fn icmp_echo(mut self, icmp_type: u8, id: u16, seq: u16) -> Self {
        let [a, b] = id.to_be_bytes();
        let [c, d] = seq.to_be_bytes();
        self.l4 = L4Spec::Icmp { icmp_type, code: 0, rest: [a, b, c, d] };
        self
    }

    /// Any other IP protocol number: the payload is its whole content.
    pub fn ip_protocol(mut self, protocol: u8) -> Self {
        self.l4 = L4Spec::Raw { protocol };
        self
    }

    /// The bytes after the L4 header (after the IP header with no L4 layer,
    /// after the Ethernet header with no IP layer).
    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    /// Pads the frame with zero bytes to at least `len` bytes (60 is
    /// Ethernet's minimum without FCS). IP lengths do not count the padding.
    pub fn pad_to(mut self, len: usize) -> Self {
        self.pad_to = len;
        self
    }

    /// The frame.
    pub fn build(&self) -> Vec<u8> {
        let mut frame = Vec::with_capacity(128 + self.payload.len());
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        for tag in &self.vlans {
            frame.extend_from_slice(&tag.tpid.to_be_bytes());
            frame.extend_from_slice(&tag.tci.to_be_bytes());
        }
        let default_ethertype = match self.l3 {
            L3Spec::None => 0x88b5,
            L3Spec::Ipv4 { .. } => ethertype::IPV4,
            L3Spec::Ipv6 { .. } => ethertype::IPV6,
        };
        frame.extend_from_slice(&self.ethertype.unwrap_or(default_ethertype).to_be_bytes());

        let (protocol, mut segment, checksum_at) = self.l4_segment(matches!(self.l3, L3Spec::Ipv6 { .. }));
        match self.l3 {
            L3Spec::None => frame.extend_from_slice(&self.payload),
            L3Spec::Ipv4 { src, dst } => {
                if let Some(at) = checksum_at {
                    let c = if protocol == ip_proto::ICMP {
                        checksum::checksum(&segment)
                    } else {
                        checksum::l4_checksum_v4(src, dst, protocol, &segment, at).expect("segment too long")
                    };
                    write_l4_checksum(&mut segment, at, protocol, c);
                }
                let options = padded(&self.ipv4_options, "IPv4 options");
                let header_len = 20 + options.len();
                let total_len = u16::try_from(header_len + segment.len()).expect("IPv4 packet too long");
                let mut header = Vec::with_capacity(header_len);
                header.push(0x40 | (header_len / 4) as u8);
                header.push(self.tos);
                header.extend_from_slice(&total_len.to_be_bytes());
                header.extend_from_slice(&self.identification.to_be_bytes());
                header.extend_from_slice(&self.fragment.to_be_bytes());
                header.push(self.ttl);
                header.push(protocol);
                header.extend_from_slice(&[0, 0]);
                header.extend_from_slice(&src);
                header.extend_from_slice(&dst);
                header.extend_from_slice(&options);
                let c = checksum::ipv4_header_checksum(&header);
                header[10..12].copy_from_slice(&c.to_be_bytes());
                frame.extend_from_slice(&header);
                frame.extend_from_slice(&segment);
            }
            L3Spec::Ipv6 { src, dst } => {
                if let Some(at) = checksum_at {
                    let c = checksum::l4_checksum_v6(src, dst, protocol, &segment, at).expect("segment too long");
                    write_l4_checksum(&mut segment, at, protocol, c);
                }
                let payload_len = u16::try_from(segment.len()).expect("IPv6 payload too long");
                let first = (6u32 << 28) | (u32::from(self.tos) << 20) | self.flow_label;
                frame.extend_from_slice(&first.to_be_bytes());
                frame.extend_from_slice(&payload_len.to_be_bytes());
                frame.push(protocol);
                frame.push(self.ttl);
                frame.extend_from_slice(&src);
                frame.extend_from_slice(&dst);
                frame.extend_from_slice(&segment);
            }
        }
        if frame.len() < self.pad_to {
            frame.resize(self.pad_to, 0);
        }
        frame
    }

    /// Builds the frame, runs `nf` on it and returns its verdict and the frame
    /// as the NF left it: `let (action, out) = builder.run(|p| my_nf::packet(p));`.
    pub fn run<A>(&self, nf: impl FnOnce(&mut SlicePacket<'_>) -> A) -> (A, Vec<u8>) {
        let mut frame = self.build();
        let action = run(&mut frame, nf);
        (action, frame)
    }

    /// The L4 header and payload with a zero checksum, its protocol number
    /// (ICMP as 1 over IPv4, 58 over IPv6) and where its checksum goes.
    fn l4_segment(&self, v6: bool) -> (u8, Vec<u8>, Option<usize>) {
        let mut seg = Vec::new();
        let (protocol, checksum_at) = match self.l4 {
            L4Spec::None => (ip_proto::IPV6_NONXT, None),
            L4Spec::Raw { protocol } => (protocol, None),
            L4Spec::Tcp { src, dst } => {
                let options = padded(&self.tcp_options, "TCP options");
                seg.extend_from_slice(&src.to_be_bytes());
                seg.extend_from_slice(&dst.to_be_bytes());
                seg.extend_from_slice(&self.seq.to_be_bytes());
                seg.extend_from_slice(&self.ack.to_be_bytes());
                seg.push((((20 + options.len()) / 4) as u8) << 4);
                seg.push(self.tcp_flags.0);
                seg.extend_from_slice(&self.window.to_be_bytes());
                seg.extend_from_slice(&[0, 0, 0, 0]);
                seg.extend_from_slice(&options);
                (ip_proto::TCP, Some(16))
            }
            L4Spec::Udp { src, dst } => {
                let len = u16::try_from(8 + self.payload.len()).expect("UDP datagram too long");
                seg.extend_from_slice(&src.to_be_bytes());
                seg.extend_from_slice(&dst.to_be_bytes());
                seg.extend_from_slice(&len.to_be_bytes());
                seg.extend_from_slice(&[0, 0]);
                (ip_proto::UDP, self.udp_checksum.then_some(6))
            }
            L4Spec::Icmp { icmp_type, code, rest } => {
                seg.extend_from_slice(&[icmp_type, code, 0, 0]);
                seg.extend_from_slice(&rest);
                (if v6 { ip_proto::ICMPV6 } else { ip_proto::ICMP }, Some(2))
            }
        };
        seg.extend_from_slice(&self.payload);
        (protocol, seg, checksum_at)
    }
}

fn write_l4_checksum(segment: &mut [u8], at: usize, protocol: u8, c: u16) {
    let c = if protocol == ip_proto::UDP { checksum::udp_wire(c) } else { c };
    segment[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

fn padded(options: &[u8], what: &str) -> Vec<u8> {
    assert!(options.len() <= 40, "{what}: {} bytes, at most 40 fit", options.len());
    let mut out = options.to_vec();
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    out
}

/// Runs `nf` on `frame` through a [`SlicePacket`], as userland would, and
/// returns its verdict: `let action = run(&mut frame, |p| my_nf::packet(p));`.
pub fn run<A>(frame: &mut [u8], nf: impl FnOnce(&mut SlicePacket<'_>) -> A) -> A {
    let mut pkt = SlicePacket::new(frame);
    nf(&mut pkt)
}

/// Checks every checksum of an IPv4 or IPv6 frame: the IPv4 header checksum,
/// and the TCP, UDP (unless zero over IPv4), ICMP or ICMPv6 checksum over the
/// segment the IP length fields delimit. `Ok(())` for frames that are not IP
/// or whose L4 header is absent (a later fragment, another protocol); an
/// error message naming the first wrong checksum (or a length that does not
/// fit the frame) otherwise.
pub fn verify_checksums(frame: &[u8]) -> Result<(), String> {
    let mut copy = frame.to_vec();
    let pkt = SlicePacket::new(&mut copy);
    let Some(layers) = parse_l3_l4(&pkt) else { return Ok(()) };
    let (segment, expect): (&[u8], _) = match layers.l3 {
        L3::Ipv4(ip) => {
            let header = frame.get(ip.offset()..ip.payload_offset()).ok_or("IPv4 header out of frame")?;
            if checksum::checksum(header) != 0 {
                return Err(format!(
                    "IPv4 header checksum {:#06x}, should be {:#06x}",
                    ip.checksum(&pkt).unwrap_or(0),
                    checksum::ipv4_header_checksum(header)
                ));
            }
            let total = usize::from(ip.total_len(&pkt).unwrap_or(0));
            let end = ip.offset() + total;
            let segment = frame
                .get(ip.payload_offset()..end)
                .ok_or_else(|| format!("IPv4 total length {total} does not fit the frame"))?;
            let (src, dst) = (ip.src(&pkt).unwrap_or_default(), ip.dst(&pkt).unwrap_or_default());
            let pseudo = |proto: u8| checksum::pseudo_header_sum_v4(src, dst, proto, segment.len() as u16);
            (
                segment,
                match layers.l4 {
                    L4::Tcp(_) => Some(("TCP", pseudo(ip_proto::TCP))),
                    L4::Udp(udp) if udp.checksum(&pkt) == Some(0) => None,
                    L4::Udp(_) => Some(("UDP", pseudo(ip_proto::UDP))),
                    L4::Icmp(_) => Some(("ICMP", 0)),
                    _ => None,
                },
            )
        }
        L3::Ipv6(ip) => {
            let len = usize::from(ip.payload_len(&pkt).unwrap_or(0));
            let segment = frame
                .get(ip.payload_offset()..ip.payload_offset() + len)
                .ok_or_else(|| format!("IPv6 payload length {len} does not fit the frame"))?;
            let (src, dst) = (ip.src(&pkt).unwrap_or_default(), ip.dst(&pkt).unwrap_or_default());
            let pseudo = |proto: u8| checksum::pseudo_header_sum_v6(src, dst, proto, segment.len() as u32);
            (
                segment,
                match layers.l4 {
                    L4::Tcp(_) => Some(("TCP", pseudo(ip_proto::TCP))),
                    L4::Udp(_) => Some(("UDP", pseudo(ip_proto::UDP))),
                    L4::Icmp(_) => Some(("ICMPv6", pseudo(ip_proto::ICMPV6))),
                    _ => None,
                },
            )
        }
    };
    if let Some((what, pseudo)) = expect {
        let folded = checksum::fold(checksum::sum(segment, pseudo));
        if folded != 0xffff {
            return Err(format!("{what} checksum wrong: the segment sums to {folded:#06x}, not 0xffff"));
        }
    }
    Ok(())
}
