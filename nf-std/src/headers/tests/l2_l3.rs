//! Ethernet, VLAN tags, IPv4 and IPv6.

extern crate std;

use std::vec;

use super::*;
use crate::testing::{PacketBuilder, verify_checksums};

// ---- Ethernet and VLAN ----

#[test]
fn ethernet_without_tags() {
    let mut frame = PacketBuilder::new().macs([1, 2, 3, 4, 5, 6], [7, 8, 9, 10, 11, 12]).ipv4(A4, B4).build();
    let pkt = SlicePacket::new(&mut frame);
    let eth = Ethernet::parse(&pkt).unwrap();
    assert_eq!(eth.ethertype(), ethertype::IPV4);
    assert_eq!(eth.payload_offset(), 14);
    assert_eq!(eth.vlan_count(), 0);
    assert_eq!(eth.outer_vlan(), None);
    assert_eq!(eth.src(&pkt), Some([1, 2, 3, 4, 5, 6]));
    assert_eq!(eth.dst(&pkt), Some([7, 8, 9, 10, 11, 12]));
}

#[test]
fn ethernet_with_one_and_two_tags() {
    let mut frame = PacketBuilder::new().vlan(42).ipv6(A6, B6).udp(1, 2).build();
    let pkt = SlicePacket::new(&mut frame);
    let eth = Ethernet::parse(&pkt).unwrap();
    assert_eq!((eth.ethertype(), eth.payload_offset(), eth.vlan_count()), (ethertype::IPV6, 18, 1));
    assert_eq!(eth.outer_vlan(), Some(VlanTag { tpid: ethertype::VLAN, tci: 42 }));
    assert_eq!(eth.innermost_vlan().unwrap().vid(), 42);

    let mut frame = PacketBuilder::new().qinq(100, 200).ipv4(A4, B4).tcp(1, 2).build();
    let pkt = SlicePacket::new(&mut frame);
    let eth = Ethernet::parse(&pkt).unwrap();
    assert_eq!((eth.ethertype(), eth.payload_offset(), eth.vlan_count()), (ethertype::IPV4, 22, 2));
    assert_eq!(eth.outer_vlan().unwrap().tpid, ethertype::QINQ);
    assert_eq!(eth.outer_vlan().unwrap().vid(), 100);
    assert_eq!(eth.inner_vlan().unwrap().vid(), 200);
    assert_eq!(eth.innermost_vlan().unwrap().vid(), 200);
    let l = parse_l3_l4(&pkt).unwrap();
    assert_eq!(l.l3.offset(), 22);
    assert!(matches!(l.l4, L4::Tcp(t) if t.offset() == 42));
}

#[test]
fn vlan_tag_fields() {
    let tag = VlanTag { tpid: ethertype::VLAN, tci: (5 << 13) | 0x1000 | 0xabc };
    assert_eq!((tag.pcp(), tag.dei(), tag.vid()), (5, true, 0xabc));
    let mut frame = PacketBuilder::new().vlan_tag(ethertype::QINQ_LEGACY, tag.tci).ipv4(A4, B4).build();
    let mut pkt = SlicePacket::new(&mut frame);
    let mut eth = Ethernet::parse(&pkt).unwrap();
    assert_eq!(eth.outer_vlan(), Some(VlanTag { tpid: ethertype::QINQ_LEGACY, tci: tag.tci }));
    eth.set_outer_vid(&mut pkt, 7).unwrap();
    assert_eq!(eth.outer_vlan().unwrap().vid(), 7);
    let again = Ethernet::parse(&pkt).unwrap();
    assert_eq!(again, eth);
    assert_eq!(again.outer_vlan().unwrap().pcp(), 5);
}

#[test]
fn a_third_tag_is_left_as_the_ethertype() {
    let mut frame = PacketBuilder::new().qinq(1, 2).vlan(3).ipv4(A4, B4).build();
    let pkt = SlicePacket::new(&mut frame);
    let eth = Ethernet::parse(&pkt).unwrap();
    assert_eq!((eth.ethertype(), eth.payload_offset(), eth.vlan_count()), (ethertype::VLAN, 22, 2));
    assert_eq!(parse_l3_l4(&pkt), None);
}

#[test]
fn non_ip_frames_are_not_layers() {
    let mut frame = PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]).build();
    assert_eq!(Ethernet::parse(&SlicePacket::new(&mut frame)).unwrap().ethertype(), ethertype::ARP);
    assert_eq!(layers(&mut frame), None);
    // An EtherType that disagrees with the version nibble.
    let mut frame = PacketBuilder::new().ethertype(ethertype::IPV6).ipv4(A4, B4).payload(&[0; 40]).build();
    assert_eq!(layers(&mut frame), None);
    let mut frame = PacketBuilder::new().ethertype(ethertype::IPV4).ipv6(A6, B6).build();
    assert_eq!(layers(&mut frame), None);
}

#[test]
fn mac_setters_round_trip() {
    let mut frame = PacketBuilder::new().macs([1; 6], [2; 6]).vlan(9).ipv4(A4, B4).udp(5, 6).build();
    let original = frame.clone();
    let mut pkt = SlicePacket::new(&mut frame);
    let eth = Ethernet::parse(&pkt).unwrap();
    eth.swap_macs(&mut pkt).unwrap();
    assert_eq!((eth.src(&pkt), eth.dst(&pkt)), (Some([2; 6]), Some([1; 6])));
    eth.set_src(&mut pkt, [0xaa; 6]).unwrap();
    eth.set_dst(&mut pkt, [0xbb; 6]).unwrap();
    assert_eq!((eth.src(&pkt), eth.dst(&pkt)), (Some([0xaa; 6]), Some([0xbb; 6])));
    assert_eq!(pkt.as_slice()[12..], original[12..], "nothing past the addresses changed");
}

// ---- IPv4 ----

#[test]
fn ipv4_fields() {
    let mut frame = PacketBuilder::new()
        .ipv4(A4, B4)
        .ttl(17)
        .tos(0xb9)
        .identification(0x1234)
        .dont_fragment()
        .udp(53, 5353)
        .payload(&[1, 2, 3])
        .build();
    let pkt = SlicePacket::new(&mut frame);
    let ip = Ipv4::parse_at(&pkt, 14).unwrap();
    assert_eq!(ip.offset(), 14);
    assert_eq!(ip.header_len(), 20);
    assert_eq!(ip.payload_offset(), 34);
    assert_eq!(ip.protocol(), ip_proto::UDP);
    assert_eq!(ip.src(&pkt), Some(A4));
    assert_eq!(ip.dst(&pkt), Some(B4));
    assert_eq!(u32::from_be_bytes(ip.src(&pkt).unwrap()), 0xc612_0001, "network order");
    assert_eq!(ip.ttl(&pkt), Some(17));
    assert_eq!(ip.tos(&pkt), Some(0xb9));
    assert_eq!(ip.dscp(&pkt), Some(0xb9 >> 2));
    assert_eq!(ip.ecn(&pkt), Some(1));
    assert_eq!(ip.identification(&pkt), Some(0x1234));
    assert_eq!(ip.total_len(&pkt), Some(20 + 8 + 3));
    assert!(ip.dont_fragment() && !ip.more_fragments() && !ip.is_fragment() && ip.has_l4_header());
    assert_eq!(ip.fragment_offset(), 0);
    assert_eq!(ip.checksum_ok(&pkt), Some(true));
    assert_eq!(ip.compute_checksum(&pkt), ip.checksum(&pkt));
    assert_eq!(ip.option_word(&pkt, 0), None);
}

#[test]
fn ipv4_with_options_of_every_length() {
    let mut rng = Rng(11);
    for words in 0..=10usize {
        let options = rng.bytes(words * 4);
        for vlans in 0..=2 {
            let mut b = PacketBuilder::new();
            for v in 0..vlans {
                b = b.vlan(v as u16 + 1);
            }
            let mut frame = b.ipv4(A4, B4).ipv4_options(&options).tcp(1000, 2000).payload(b"xyz").build();
            verify_checksums(&frame).unwrap();
            let pkt = SlicePacket::new(&mut frame);
            let l = parse_l3_l4(&pkt).unwrap();
            let L3::Ipv4(ip) = l.l3 else { panic!() };
            let l3_at = 14 + 4 * vlans;
            assert_eq!(ip.offset(), l3_at);
            assert_eq!(ip.header_len(), 20 + 4 * words);
            assert_eq!(ip.payload_offset(), l3_at + 20 + 4 * words);
            assert_eq!(ip.checksum_ok(&pkt), Some(true), "{words} option words");
            for i in 0..12 {
                let expected = (i < words).then(|| <[u8; 4]>::try_from(&options[i * 4..i * 4 + 4]).unwrap());
                assert_eq!(ip.option_word(&pkt, i), expected);
            }
            let L4::Tcp(tcp) = l.l4 else { panic!("{:?}", l.l4) };
            assert_eq!(tcp.offset(), ip.payload_offset());
            assert_eq!(tcp.ports(&pkt), Some((1000, 2000)));
            assert_eq!(&pkt.as_slice()[tcp.payload_offset()..], b"xyz");
        }
    }
}

#[test]
fn ipv4_refuses_bad_headers() {
    let frame = PacketBuilder::new().ipv4(A4, B4).tcp(1, 2).build();
    // IHL below 5.
    for ihl in 0..5u8 {
        let mut f = frame.clone();
        f[14] = 0x40 | ihl;
        assert_eq!(Ipv4::parse_at(&SlicePacket::new(&mut f), 14), None, "ihl {ihl}");
    }
    // Wrong version.
    let mut f = frame.clone();
    f[14] = 0x65;
    assert_eq!(Ipv4::parse_at(&SlicePacket::new(&mut f), 14), None);
    // IHL says 60 bytes but only 40 (IP + TCP) are there: options cut short.
    let mut f = frame.clone();
    f[14] = 0x4f;
    assert_eq!(f.len(), 14 + 40);
    assert_eq!(Ipv4::parse_at(&SlicePacket::new(&mut f), 14), None);
    f[14] = 0x4a; // exactly 40 bytes of header: fits.
    assert_eq!(Ipv4::parse_at(&SlicePacket::new(&mut f), 14).unwrap().header_len(), 40);
    // Offsets past Packet::MAX_OFFSET are refused even in a huge packet, as
    // XdpPacket refuses them.
    let max = <SlicePacket<'_> as crate::Packet>::MAX_OFFSET;
    let mut big = vec![0x45u8; max + 100];
    assert!(Ipv4::parse_at(&SlicePacket::new(&mut big), max).is_some());
    assert_eq!(Ipv4::parse_at(&SlicePacket::new(&mut big), max + 1), None);
    assert_eq!(Ipv4::parse_at(&SlicePacket::new(&mut big), usize::MAX), None);
    assert_eq!(Tcp::parse_at(&SlicePacket::new(&mut big), max + 1), None);
    assert_eq!(Udp::parse_at(&SlicePacket::new(&mut big), max + 1), None);
    assert_eq!(Icmp::parse_at(&SlicePacket::new(&mut big), max + 1), None);
    let mut big6 = vec![0x65u8; max + 100];
    assert!(Ipv6::parse_at(&SlicePacket::new(&mut big6), max).is_some());
    assert_eq!(Ipv6::parse_at(&SlicePacket::new(&mut big6), max + 1), None);
}

#[test]
fn ipv4_setters_keep_the_checksum_right() {
    let mut frame = PacketBuilder::new().vlan(3).ipv4(A4, B4).ipv4_options(&[1, 1, 1, 0]).udp(7, 8).build();
    let mut pkt = SlicePacket::new(&mut frame);
    let ip = Ipv4::parse_at(&pkt, 18).unwrap();
    ip.set_ttl(&mut pkt, 1).unwrap();
    assert_eq!(ip.ttl(&pkt), Some(1));
    assert_eq!(ip.protocol(), ip_proto::UDP);
    assert_eq!(Ipv4::parse_at(&pkt, 18).unwrap().protocol(), ip_proto::UDP, "protocol byte untouched");
    assert_eq!(ip.checksum_ok(&pkt), Some(true));
    assert_eq!(ip.decrement_ttl(&mut pkt), Some(0));
    assert_eq!(ip.decrement_ttl(&mut pkt), None, "TTL 0 stays 0");
    assert_eq!(ip.ttl(&pkt), Some(0));
    ip.set_tos(&mut pkt, 0xfc).unwrap();
    ip.set_identification(&mut pkt, 0xbeef).unwrap();
    assert_eq!((ip.tos(&pkt), ip.identification(&pkt)), (Some(0xfc), Some(0xbeef)));
    ip.set_src(&mut pkt, [10, 0, 0, 1]).unwrap();
    ip.set_dst(&mut pkt, [10, 0, 0, 2]).unwrap();
    assert_eq!((ip.src(&pkt), ip.dst(&pkt)), (Some([10, 0, 0, 1]), Some([10, 0, 0, 2])));
    assert_eq!(ip.checksum_ok(&pkt), Some(true));
    // The UDP checksum now disagrees (pseudo-header), as documented.
    assert!(verify_checksums(pkt.as_slice()).unwrap_err().contains("UDP"));
    // Writing a wrong checksum and recomputing it.
    ip.set_checksum(&mut pkt, 0x1234).unwrap();
    assert_eq!(ip.checksum_ok(&pkt), Some(false));
    ip.update_checksum(&mut pkt).unwrap();
    assert_eq!(ip.checksum_ok(&pkt), Some(true));
    ip.set_total_len(&mut pkt, 200).unwrap();
    assert_eq!((ip.total_len(&pkt), ip.checksum_ok(&pkt)), (Some(200), Some(true)));
}

#[test]
fn ipv4_fragments() {
    let mut first = PacketBuilder::new().ipv4(A4, B4).fragment(0, true).udp(1, 2).payload(&[0; 16]).build();
    let l = layers(&mut first).unwrap();
    let L3::Ipv4(ip) = l.l3 else { panic!() };
    assert!(ip.is_fragment() && ip.more_fragments() && ip.has_l4_header());
    assert!(matches!(l.l4, L4::Udp(_)));

    let mut later =
        PacketBuilder::new().ipv4(A4, B4).fragment(1480, false).ip_protocol(ip_proto::UDP).payload(&[9; 30]).build();
    let pkt = SlicePacket::new(&mut later);
    let l = parse_l3_l4(&pkt).unwrap();
    let L3::Ipv4(ip) = l.l3 else { panic!() };
    assert!(ip.is_fragment() && !ip.more_fragments() && !ip.has_l4_header());
    assert_eq!(ip.fragment_offset(), 1480);
    assert_eq!(l.l4, L4::Fragment { protocol: ip_proto::UDP });
    let flow = l.flow(&pkt).unwrap();
    assert_eq!((flow.src_port, flow.dst_port, flow.protocol), (0, 0, ip_proto::UDP));
}

// ---- IPv6 ----

#[test]
fn ipv6_fields_and_setters() {
    let mut frame =
        PacketBuilder::new().ipv6(A6, B6).ttl(3).tos(0xa5).flow_label(0xbcdef).tcp(443, 50000).payload(b"hi").build();
    verify_checksums(&frame).unwrap();
    let mut pkt = SlicePacket::new(&mut frame);
    let ip = Ipv6::parse_at(&pkt, 14).unwrap();
    assert_eq!((ip.offset(), ip.header_len(), ip.payload_offset()), (14, 40, 54));
    assert_eq!(ip.next_header(), ip_proto::TCP);
    assert_eq!(ip.src(&pkt), Some(A6));
    assert_eq!(ip.dst(&pkt), Some(B6));
    assert_eq!(ip.hop_limit(&pkt), Some(3));
    assert_eq!(ip.traffic_class(&pkt), Some(0xa5));
    assert_eq!(ip.flow_label(&pkt), Some(0xbcdef));
    assert_eq!(ip.payload_len(&pkt), Some(22));
    assert_eq!(ip.decrement_hop_limit(&mut pkt), Some(2));
    ip.set_traffic_class(&mut pkt, 0x3c).unwrap();
    assert_eq!((ip.traffic_class(&pkt), ip.flow_label(&pkt)), (Some(0x3c), Some(0xbcdef)));
    assert_eq!(Ipv6::parse_at(&pkt, 14), Some(ip), "version still 6");
    ip.set_hop_limit(&mut pkt, 0).unwrap();
    assert_eq!(ip.decrement_hop_limit(&mut pkt), None);
    ip.set_payload_len(&mut pkt, 22).unwrap();
    verify_checksums(pkt.as_slice()).unwrap();
    // Wrong version, and too short.
    let mut f = pkt.as_slice().to_vec();
    f[14] = 0x45;
    assert_eq!(Ipv6::parse_at(&SlicePacket::new(&mut f), 14), None);
    let mut f = pkt.as_slice()[..53].to_vec();
    assert_eq!(Ipv6::parse_at(&SlicePacket::new(&mut f), 14), None);
}

#[test]
fn ipv6_extension_headers_are_other() {
    let mut frame = PacketBuilder::new().ipv6(A6, B6).ip_protocol(ip_proto::HOPOPT).payload(&[0; 8]).build();
    let l = layers(&mut frame).unwrap();
    assert_eq!(l.l4, L4::Other { protocol: ip_proto::HOPOPT, offset: 54 });
    assert_eq!(l.l3.protocol(), ip_proto::HOPOPT);
    assert_eq!(l.l3.version(), 6);
}
