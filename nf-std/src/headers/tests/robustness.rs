//! Truncated, random and mutated frames are refused, never a panic; random
//! setter sequences keep every checksum valid.

extern crate std;

use std::vec::Vec;

use super::*;
use crate::testing::{PacketBuilder, verify_checksums};

/// Every kind of frame the builder makes.
fn sample_frames() -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    for vlans in 0..=3 {
        for l3 in 0..2 {
            for l4 in 0..5 {
                let mut b = PacketBuilder::new();
                for v in 0..vlans {
                    b = if v == 0 { b.vlan_tag(ethertype::QINQ, 10) } else { b.vlan(v) };
                }
                b = if l3 == 0 { b.ipv4(A4, B4).ipv4_options(&[1, 1, 1, 1, 1, 1, 1, 0]) } else { b.ipv6(A6, B6) };
                b = match l4 {
                    0 => b.tcp(1, 2).tcp_options(&[1, 1, 1, 0]),
                    1 => b.udp(3, 4),
                    2 => b.icmp_echo(8, 5, 6),
                    3 => b.ip_protocol(47),
                    _ => b.fragment(8, false).ip_protocol(ip_proto::TCP),
                };
                frames.push(b.payload(b"0123456789").build());
            }
        }
    }
    frames.push(PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]).build());
    frames
}

/// Calls every accessor and setter of every view the frame yields; none may
/// panic, whatever the frame.
fn exercise(frame: &mut [u8]) {
    let mut pkt = SlicePacket::new(frame);
    if let Some(mut eth) = Ethernet::parse(&pkt) {
        let _ = (eth.src(&pkt), eth.dst(&pkt), eth.vlan_count(), eth.innermost_vlan());
        let _ = eth.swap_macs(&mut pkt);
        let _ = eth.set_outer_vid(&mut pkt, 0xffff);
        for at in [eth.payload_offset(), 0, 1, 13, 14, 18, 22, 54, 1000, 0x3fff, 0x4000, usize::MAX - 3] {
            if let Some(ip) = Ipv4::parse_at(&pkt, at) {
                let _ =
                    (ip.ttl(&pkt), ip.tos(&pkt), ip.total_len(&pkt), ip.checksum_ok(&pkt), ip.src(&pkt), ip.dst(&pkt));
                let _ = (ip.identification(&pkt), ip.option_word(&pkt, 3), ip.option_word(&pkt, usize::MAX));
                let _ = ip.decrement_ttl(&mut pkt);
                let _ = ip.set_src(&mut pkt, [1; 4]);
                let _ = ip.update_checksum(&mut pkt);
            }
            if let Some(ip) = Ipv6::parse_at(&pkt, at) {
                let _ = (ip.src(&pkt), ip.dst(&pkt), ip.flow_label(&pkt), ip.traffic_class(&pkt), ip.payload_len(&pkt));
                let _ = ip.decrement_hop_limit(&mut pkt);
                let _ = ip.set_traffic_class(&mut pkt, 0xff);
            }
            if let Some(t) = Tcp::parse_at(&pkt, at) {
                let _ =
                    (t.ports(&pkt), t.flags(&pkt), t.seq(&pkt), t.ack(&pkt), t.window(&pkt), t.urgent_pointer(&pkt));
                let _ = t.set_flags(&mut pkt, TcpFlags(0xff));
                let _ = t.set_seq(&mut pkt, 1);
                let _ = t.pseudo_header_changed(&mut pkt, &[1, 2], &[3, 4]);
            }
            if let Some(u) = Udp::parse_at(&pkt, at) {
                let _ = (u.ports(&pkt), u.length(&pkt), u.checksum(&pkt));
                let _ = u.set_length(&mut pkt, 0);
                let _ = u.set_src_port(&mut pkt, 0);
            }
            if let Some(i) = Icmp::parse_at(&pkt, at) {
                let _ = (i.icmp_type(&pkt), i.code(&pkt), i.rest_of_header(&pkt), i.echo_seq(&pkt));
                let _ = i.set_type_code(&mut pkt, 0, 0);
            }
        }
    }
    if let Some(l) = parse_l3_l4(&pkt) {
        let _ = l.flow(&pkt);
        let _ = l.set_ipv4_src(&mut pkt, [1; 4]);
        let _ = l.set_ipv6_dst(&mut pkt, [1; 16]);
    }
    let _ = crate::testing::verify_checksums(pkt.as_slice());
}

#[test]
fn every_truncation_is_refused_not_a_panic() {
    for full in sample_frames() {
        let mut whole = full.clone();
        let complete = layers(&mut whole);
        for len in 0..=full.len() {
            let mut prefix = full[..len].to_vec();
            let pkt = SlicePacket::new(&mut prefix);
            let eth = Ethernet::parse(&pkt);
            if len < 14 {
                assert_eq!(eth, None, "len {len}");
            }
            if let Some(eth) = eth {
                assert!(len >= eth.payload_offset());
            }
            let got = parse_l3_l4(&pkt);
            match (complete, got) {
                (None, got) => assert_eq!(got, None),
                (Some(c), None) => {
                    // Only refused while the Ethernet or IP header is incomplete.
                    let ip_end = match c.l3 {
                        L3::Ipv4(ip) => ip.payload_offset(),
                        L3::Ipv6(ip) => ip.payload_offset(),
                    };
                    assert!(len < ip_end, "len {len} of {}: refused with a whole IP header", full.len());
                }
                (Some(c), Some(g)) => {
                    assert_eq!((g.ethernet, g.l3), (c.ethernet, c.l3), "len {len}");
                    let l4_end = match c.l4 {
                        L4::Tcp(t) => t.payload_offset(),
                        L4::Udp(u) => u.payload_offset(),
                        L4::Icmp(i) => i.payload_offset(),
                        _ => 0,
                    };
                    if len >= l4_end {
                        assert_eq!(g.l4, c.l4, "len {len}");
                    } else {
                        assert_eq!(g.l4, L4::Malformed { protocol: c.l4.protocol(&c.l3) }, "len {len}");
                    }
                    assert!(g.flow(&pkt).is_some());
                }
            }
            exercise(&mut prefix);
        }
    }
}

#[test]
fn random_and_mutated_frames_do_not_panic() {
    let mut rng = Rng(0x5eed);
    let frames = sample_frames();
    for round in 0..20_000 {
        let mut frame = if round % 2 == 0 {
            let n = rng.below(160) as usize;
            let mut f = rng.bytes(n);
            // Steer some garbage toward the interesting EtherTypes.
            if n >= 14 && rng.below(2) == 0 {
                let et = [ethertype::IPV4, ethertype::IPV6, ethertype::VLAN, ethertype::QINQ][rng.below(4) as usize];
                f[12..14].copy_from_slice(&et.to_be_bytes());
            }
            f
        } else {
            let mut f = frames[rng.below(frames.len() as u64) as usize].clone();
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(f.len() as u64) as usize;
                f[i] = rng.next() as u8;
            }
            let cut = rng.below(f.len() as u64 + 1) as usize;
            f.truncate(cut);
            f
        };
        exercise(&mut frame);
    }
}

#[test]
fn random_setter_sequences_keep_checksums_valid() {
    let mut rng = Rng(99);
    for _ in 0..3_000 {
        let v6 = rng.below(2) == 1;
        let mut b = PacketBuilder::new();
        for v in 0..rng.below(3) {
            b = b.vlan(v as u16);
        }
        b = if v6 { b.ipv6(rng.array(), rng.array()) } else { b.ipv4(rng.array(), rng.array()) };
        if !v6 {
            let words = rng.below(11) as usize;
            b = b.ipv4_options(&rng.bytes(words * 4)).identification(rng.next() as u16).ttl(rng.next() as u8);
        }
        let l4 = rng.below(3);
        let tcp_option_words = rng.below(11) as usize;
        b = match l4 {
            0 => b
                .tcp(rng.next() as u16, rng.next() as u16)
                .tcp_flags(TcpFlags(rng.next() as u8))
                .seq(rng.next() as u32)
                .tcp_options(&rng.bytes(4 * tcp_option_words)),
            1 => b.udp(rng.next() as u16, rng.next() as u16),
            _ => b.icmp_echo(if v6 { 128 } else { 8 }, rng.next() as u16, rng.next() as u16),
        };
        let n = rng.below(64) as usize;
        let mut frame = b.payload(&rng.bytes(n)).build();
        verify_checksums(&frame).unwrap();
        let mut pkt = SlicePacket::new(&mut frame);
        let l = parse_l3_l4(&pkt).unwrap();
        for _ in 0..6 {
            match (rng.below(5), l.l3, l.l4) {
                (0, L3::Ipv4(ip), _) => {
                    let _ = ip.decrement_ttl(&mut pkt);
                    ip.set_tos(&mut pkt, rng.next() as u8).unwrap();
                }
                (0, L3::Ipv6(_), _) => l.set_ipv6_dst(&mut pkt, rng.array()).unwrap(),
                (1, L3::Ipv4(_), _) => l.set_ipv4_src(&mut pkt, rng.array()).unwrap(),
                (1, L3::Ipv6(_), _) => l.set_ipv6_src(&mut pkt, rng.array()).unwrap(),
                (2, _, L4::Tcp(t)) => {
                    t.set_src_port(&mut pkt, rng.next() as u16).unwrap();
                    t.set_ack(&mut pkt, rng.next() as u32).unwrap();
                }
                (2, _, L4::Udp(u)) => u.set_dst_port(&mut pkt, rng.next() as u16).unwrap(),
                (2, _, L4::Icmp(i)) => i.set_echo_id(&mut pkt, rng.next() as u16).unwrap(),
                (3, _, L4::Tcp(t)) => t.set_flags(&mut pkt, TcpFlags(rng.next() as u8)).unwrap(),
                (3, _, L4::Udp(u)) => u.set_src_port(&mut pkt, rng.next() as u16).unwrap(),
                (3, _, L4::Icmp(i)) => i.set_type_code(&mut pkt, rng.next() as u8, rng.next() as u8).unwrap(),
                (_, L3::Ipv4(_), _) => l.set_ipv4_dst(&mut pkt, rng.array()).unwrap(),
                _ => {}
            }
            verify_checksums(pkt.as_slice()).unwrap();
        }
        assert_eq!(parse_l3_l4(&pkt).map(|x| x.l4), Some(l.l4));
    }
}
