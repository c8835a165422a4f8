//! TCP, UDP, ICMP and ICMPv6.

extern crate std;

use super::*;
use crate::testing::{PacketBuilder, verify_checksums};

// ---- TCP ----

#[test]
fn tcp_fields_and_setters() {
    let mut frame = PacketBuilder::new()
        .ipv4(A4, B4)
        .tcp(12345, 80)
        .tcp_flags(TcpFlags::SYN | TcpFlags::ACK)
        .seq(0xdead_beef)
        .ack_number(0x0102_0304)
        .window(1000)
        .tcp_options(&[2, 4, 0x05, 0xb4, 1, 1, 4, 2])
        .payload(b"GET /")
        .build();
    verify_checksums(&frame).unwrap();
    let mut pkt = SlicePacket::new(&mut frame);
    let l = parse_l3_l4(&pkt).unwrap();
    let L4::Tcp(tcp) = l.l4 else { panic!() };
    assert_eq!((tcp.offset(), tcp.header_len(), tcp.payload_offset()), (34, 28, 62));
    assert_eq!(tcp.src_port(&pkt), Some(12345));
    assert_eq!(tcp.dst_port(&pkt), Some(80));
    assert_eq!(tcp.seq(&pkt), Some(0xdead_beef));
    assert_eq!(tcp.ack(&pkt), Some(0x0102_0304));
    assert_eq!(tcp.window(&pkt), Some(1000));
    assert_eq!(tcp.urgent_pointer(&pkt), Some(0));
    let flags = tcp.flags(&pkt).unwrap();
    assert!(flags.syn() && flags.ack() && !flags.fin() && !flags.rst() && !flags.psh() && !flags.urg());
    assert!(flags.contains(TcpFlags::SYN | TcpFlags::ACK));
    assert!(!flags.contains(TcpFlags::SYN | TcpFlags::FIN));

    tcp.set_src_port(&mut pkt, 1).unwrap();
    tcp.set_dst_port(&mut pkt, 65535).unwrap();
    tcp.set_flags(&mut pkt, TcpFlags::RST).unwrap();
    tcp.set_seq(&mut pkt, 7).unwrap();
    tcp.set_ack(&mut pkt, u32::MAX).unwrap();
    assert_eq!(tcp.ports(&pkt), Some((1, 65535)));
    assert_eq!(tcp.flags(&pkt), Some(TcpFlags::RST));
    assert_eq!((tcp.seq(&pkt), tcp.ack(&pkt)), (Some(7), Some(u32::MAX)));
    assert_eq!(Tcp::parse_at(&pkt, 34), Some(tcp), "data offset untouched by set_flags");
    verify_checksums(pkt.as_slice()).unwrap();
    tcp.set_checksum(&mut pkt, 0).unwrap();
    assert!(verify_checksums(pkt.as_slice()).is_err());
}

#[test]
fn tcp_with_a_bad_data_offset_is_malformed() {
    let mut frame = PacketBuilder::new().ipv4(A4, B4).tcp(1, 2).build();
    frame[34 + 12] = 0x40; // data offset 4
    assert_eq!(layers(&mut frame).unwrap().l4, L4::Malformed { protocol: ip_proto::TCP });
    frame[34 + 12] = 0x60; // 24 bytes, but only 20 in the frame
    assert_eq!(layers(&mut frame).unwrap().l4, L4::Malformed { protocol: ip_proto::TCP });
    frame[34 + 12] = 0x50;
    assert!(matches!(layers(&mut frame).unwrap().l4, L4::Tcp(_)));
}

// ---- UDP ----

#[test]
fn udp_fields_and_setters() {
    for v6 in [false, true] {
        let b = if v6 { PacketBuilder::new().ipv6(A6, B6) } else { PacketBuilder::new().ipv4(A4, B4) };
        let mut frame = b.udp(5353, 53).payload(&[0xff; 11]).build();
        verify_checksums(&frame).unwrap();
        let mut pkt = SlicePacket::new(&mut frame);
        let L4::Udp(udp) = parse_l3_l4(&pkt).unwrap().l4 else { panic!() };
        assert_eq!(udp.ports(&pkt), Some((5353, 53)));
        assert_eq!((udp.src_port(&pkt), udp.dst_port(&pkt)), (Some(5353), Some(53)));
        assert_eq!(udp.length(&pkt), Some(19));
        assert_eq!(udp.payload_offset(), udp.offset() + 8);
        assert_ne!(udp.checksum(&pkt), Some(0));
        udp.set_src_port(&mut pkt, 0).unwrap();
        udp.set_dst_port(&mut pkt, 0xffff).unwrap();
        assert_eq!(udp.ports(&pkt), Some((0, 0xffff)));
        verify_checksums(pkt.as_slice()).unwrap();
    }
}

#[test]
fn udp_without_checksum_stays_without() {
    let mut frame = PacketBuilder::new().ipv4(A4, B4).udp(1, 2).no_udp_checksum().payload(&[1, 2, 3]).build();
    let mut pkt = SlicePacket::new(&mut frame);
    let l = parse_l3_l4(&pkt).unwrap();
    let L4::Udp(udp) = l.l4 else { panic!() };
    assert_eq!(udp.checksum(&pkt), Some(0));
    udp.set_dst_port(&mut pkt, 9).unwrap();
    l.set_ipv4_src(&mut pkt, [1, 2, 3, 4]).unwrap();
    assert_eq!(udp.checksum(&pkt), Some(0));
    verify_checksums(pkt.as_slice()).unwrap();
}

#[test]
fn udp_length_setter_counts_the_pseudo_header_too() {
    for v6 in [false, true] {
        let b = if v6 { PacketBuilder::new().ipv6(A6, B6) } else { PacketBuilder::new().ipv4(A4, B4) };
        let mut frame = b.udp(1, 2).payload(&[7; 20]).build();
        let mut pkt = SlicePacket::new(&mut frame);
        let l = parse_l3_l4(&pkt).unwrap();
        let L4::Udp(udp) = l.l4 else { panic!() };
        // Truncate the datagram to 8 + 10 bytes: UDP length and IP length change.
        udp.set_length(&mut pkt, 18).unwrap();
        match l.l3 {
            L3::Ipv4(ip) => ip.set_total_len(&mut pkt, 20 + 18).unwrap(),
            L3::Ipv6(ip) => ip.set_payload_len(&mut pkt, 18).unwrap(),
        }
        // Drop the 10 bytes past the new end; their part of the sum goes too
        // (removing bytes sums like turning them into zeros).
        let mut f = pkt.as_slice().to_vec();
        let cut = udp.offset() + 18;
        f.truncate(cut);
        let mut p = SlicePacket::new(&mut f);
        let c = udp.checksum(&p).unwrap();
        let removed = [7u8; 10];
        let fixed = crate::checksum::update_bytes(c, &removed, &[0; 10]);
        udp.set_checksum(&mut p, fixed).unwrap();
        verify_checksums(p.as_slice()).unwrap();
    }
}

// ---- ICMP ----

#[test]
fn icmp_v4_and_v6() {
    let mut frame = PacketBuilder::new().ipv4(A4, B4).icmp_echo(Icmp::ECHO_REQUEST, 0x4242, 7).payload(b"ping").build();
    verify_checksums(&frame).unwrap();
    let mut pkt = SlicePacket::new(&mut frame);
    let l = parse_l3_l4(&pkt).unwrap();
    let L4::Icmp(icmp) = l.l4 else { panic!() };
    assert_eq!(l.l4.protocol(&l.l3), ip_proto::ICMP);
    assert_eq!((icmp.icmp_type(&pkt), icmp.code(&pkt)), (Some(8), Some(0)));
    assert_eq!((icmp.echo_id(&pkt), icmp.echo_seq(&pkt)), (Some(0x4242), Some(7)));
    assert_eq!(icmp.rest_of_header(&pkt), Some([0x42, 0x42, 0, 7]));
    icmp.set_type_code(&mut pkt, Icmp::ECHO_REPLY, 0).unwrap();
    icmp.set_echo_id(&mut pkt, 1).unwrap();
    assert_eq!(icmp.icmp_type(&pkt), Some(0));
    verify_checksums(pkt.as_slice()).unwrap();
    // ICMPv4 has no pseudo-header: changing addresses leaves it valid.
    l.set_ipv4_dst(&mut pkt, [9, 9, 9, 9]).unwrap();
    verify_checksums(pkt.as_slice()).unwrap();

    let mut frame =
        PacketBuilder::new().vlan(5).ipv6(A6, B6).icmp(Icmp::V6_NEIGHBOR_SOLICITATION, 0).payload(&[0; 20]).build();
    verify_checksums(&frame).unwrap();
    let mut pkt = SlicePacket::new(&mut frame);
    let l = parse_l3_l4(&pkt).unwrap();
    let L4::Icmp(icmp) = l.l4 else { panic!() };
    assert_eq!(l.l4.protocol(&l.l3), ip_proto::ICMPV6);
    assert_eq!(icmp.icmp_type(&pkt), Some(135));
    l.set_ipv6_src(&mut pkt, B6).unwrap();
    l.set_ipv6_dst(&mut pkt, A6).unwrap();
    verify_checksums(pkt.as_slice()).unwrap();
    assert_eq!(l.set_ipv4_src(&mut pkt, A4), None, "not IPv4");
}

#[test]
fn icmp_numbers_in_the_wrong_ip_version_are_other() {
    let mut frame = PacketBuilder::new().ipv4(A4, B4).ip_protocol(ip_proto::ICMPV6).payload(&[0; 8]).build();
    assert_eq!(layers(&mut frame).unwrap().l4, L4::Other { protocol: ip_proto::ICMPV6, offset: 34 });
    let mut frame = PacketBuilder::new().ipv6(A6, B6).ip_protocol(ip_proto::ICMP).payload(&[0; 8]).build();
    assert_eq!(layers(&mut frame).unwrap().l4, L4::Other { protocol: ip_proto::ICMP, offset: 54 });
}
