//! `parse_l3_l4`, `Layers`, `FlowTuple`, and running an NF on built frames.

extern crate std;

use super::*;
use crate::testing::{PacketBuilder, verify_checksums};

#[test]
fn flow_tuples() {
    let mut frame = PacketBuilder::new().qinq(1, 2).ipv4(A4, B4).tcp(1111, 22).build();
    let flow = parse_flow(&SlicePacket::new(&mut frame)).unwrap();
    assert_eq!(flow, FlowTuple::v4(A4, B4, ip_proto::TCP, 1111, 22));
    assert_eq!(flow.src_v4(), Some(A4));
    assert_eq!(flow.dst_v4(), Some(B4));
    assert_eq!(&flow.src_ip[4..], &[0; 12]);
    assert_eq!(flow.reversed(), FlowTuple::v4(B4, A4, ip_proto::TCP, 22, 1111));
    assert_eq!(flow.reversed().reversed(), flow);

    let mut frame = PacketBuilder::new().ipv6(A6, B6).udp(546, 547).build();
    let flow = parse_flow(&SlicePacket::new(&mut frame)).unwrap();
    assert_eq!(flow, FlowTuple::v6(A6, B6, ip_proto::UDP, 546, 547));
    assert_eq!(flow.src_v4(), None);
    assert_eq!(flow.ip_version, 6);

    let mut frame = PacketBuilder::new().ipv4(A4, B4).icmp_echo(8, 1, 2).build();
    let flow = parse_flow(&SlicePacket::new(&mut frame)).unwrap();
    assert_eq!(flow, FlowTuple::v4(A4, B4, ip_proto::ICMP, 0, 0));
}

#[test]
fn flow_tuple_layout() {
    assert_eq!(core::mem::size_of::<FlowTuple>(), 40);
    let flow = FlowTuple::v4(A4, B4, 6, 0x0102, 0x0304);
    let bytes = flow.to_bytes();
    // The struct's own bytes (no padding to be uninitialised) equal to_bytes.
    // SAFETY: FlowTuple is repr(C), 40 bytes, all fields plain integers with no padding.
    let raw: [u8; 40] = unsafe { core::mem::transmute(flow) };
    assert_eq!(raw, bytes);
    assert_eq!(&bytes[..4], &A4);
    assert_eq!(&bytes[16..20], &B4);
    assert_eq!(bytes[36..], [6, 4, 0, 0]);
}

#[cfg(feature = "std")]
#[test]
fn flow_tuples_are_map_keys() {
    use crate::maps::{Hash, memory_map};
    let flows = memory_map::<Hash<FlowTuple, u64>>(16);
    for (sport, n) in [(1000u16, 3u64), (1001, 1), (1000, 2)] {
        for _ in 0..n {
            let mut frame = PacketBuilder::new().ipv4(A4, B4).tcp(sport, 80).build();
            let flow = parse_flow(&SlicePacket::new(&mut frame)).unwrap();
            let count = flows.get(&flow).unwrap_or(0);
            flows.insert(&flow, &(count + 1)).unwrap();
        }
    }
    assert_eq!(flows.get(&FlowTuple::v4(A4, B4, ip_proto::TCP, 1000, 80)), Some(5));
    assert_eq!(flows.get(&FlowTuple::v4(A4, B4, ip_proto::TCP, 1001, 80)), Some(1));
    assert_eq!(flows.get(&FlowTuple::v4(B4, A4, ip_proto::TCP, 80, 1000)), None);
}

#[test]
fn nat_through_layers_keeps_every_checksum() {
    for proto in 0..3 {
        let b = PacketBuilder::new().vlan(8).ipv4(A4, B4).ipv4_options(&[7, 3, 4, 0]);
        let b = match proto {
            0 => b.tcp(1, 2),
            1 => b.udp(1, 2),
            _ => b.icmp_echo(8, 1, 1),
        };
        let mut frame = b.payload(b"some payload").build();
        let mut pkt = SlicePacket::new(&mut frame);
        let l = parse_l3_l4(&pkt).unwrap();
        l.set_ipv4_src(&mut pkt, [203, 0, 113, 9]).unwrap();
        l.set_ipv4_dst(&mut pkt, [192, 0, 2, 200]).unwrap();
        verify_checksums(pkt.as_slice()).unwrap();
        let flow = l.flow(&pkt).unwrap();
        assert_eq!((flow.src_v4(), flow.dst_v4()), (Some([203, 0, 113, 9]), Some([192, 0, 2, 200])));
    }
    for proto in 0..3 {
        let b = PacketBuilder::new().ipv6(A6, B6);
        let b = match proto {
            0 => b.tcp(1, 2),
            1 => b.udp(1, 2),
            _ => b.icmp_echo(128, 1, 1),
        };
        let mut frame = b.payload(b"odd").build();
        let mut pkt = SlicePacket::new(&mut frame);
        let l = parse_l3_l4(&pkt).unwrap();
        l.set_ipv6_src(&mut pkt, [0xfe; 16]).unwrap();
        l.set_ipv6_dst(&mut pkt, [0; 16]).unwrap();
        verify_checksums(pkt.as_slice()).unwrap();
        assert_eq!(l.set_ipv4_dst(&mut pkt, A4), None);
    }
}

#[test]
fn padding_after_the_ip_packet_is_ignored() {
    let mut frame = PacketBuilder::new().ipv4(A4, B4).udp(1, 2).pad_to(60).build();
    assert_eq!(frame.len(), 60);
    verify_checksums(&frame).unwrap();
    let pkt = SlicePacket::new(&mut frame);
    let L3::Ipv4(ip) = parse_l3_l4(&pkt).unwrap().l3 else { panic!() };
    assert_eq!(ip.total_len(&pkt), Some(28));
}

#[test]
fn running_an_nf() {
    fn ttl_decrementer<P: crate::Packet>(pkt: &mut P) -> bool {
        let Some(l) = parse_l3_l4(pkt) else { return false };
        match l.l3 {
            L3::Ipv4(ip) => ip.decrement_ttl(pkt).is_some(),
            L3::Ipv6(ip) => ip.decrement_hop_limit(pkt).is_some(),
        }
    }
    let (ok, out) = PacketBuilder::new().ipv4(A4, B4).ttl(2).tcp(1, 2).run(|p| ttl_decrementer(p));
    assert!(ok);
    assert_eq!(out[14 + 8], 1);
    verify_checksums(&out).unwrap();
    let mut frame = PacketBuilder::new().ipv6(A6, B6).ttl(0).build();
    assert!(!crate::testing::run(&mut frame, |p| ttl_decrementer(p)));
}
