//! `std.ttl`: decrements the IPv4 TTL or the IPv6 hop limit, as a router
//! does before it forwards a packet.
//!
//! Ports:
//!
//! - `forward`: an IPv4 or IPv6 packet whose TTL (hop limit) was 2 or more.
//!   It is now one less; an IPv4 header checksum is updated incrementally
//!   (RFC 1624, by nf-std's `Ipv4::decrement_ttl`), so it stays valid.
//! - `expired`: an IPv4 or IPv6 packet whose TTL (hop limit) was 0 or 1: a
//!   router must not forward it. It leaves unchanged (send it to `drop`, or
//!   to an NF that answers with ICMP "time exceeded").
//! - `other`: anything else: not IP (ARP, LLDP, ...), a runt frame, or an IP
//!   EtherType whose header is cut short or malformed. Unchanged.
//!
//! Maps and configuration: none.
//!
//! Where it runs: anywhere; it is `#![no_std]` and the kernel verifier
//! accepts it, so by default it runs in XDP. VLAN-tagged frames (one tag or a
//! QinQ pair) are handled; IPv4 options are skipped over. The TCP and UDP
//! checksums do not cover the TTL, so they need no update.
//!
//! Cost: parsing Ethernet and the IP header, then one read-modify-write of
//! the header's TTL (and the IPv4 checksum, a few additions): no map, no
//! helper call, no loop.
#![no_std]

use nf_std::Packet;
use nf_std::headers::{Ethernet, Ipv4, Ipv6, ethertype};

/// The ports of `ttl`.
pub enum Action {
    /// IPv4 or IPv6 with a TTL (hop limit) left: decremented, the IPv4 header
    /// checksum updated.
    Forward,
    /// IPv4 or IPv6 whose TTL (hop limit) is 0 or 1: must not be forwarded.
    /// Left unchanged.
    Expired,
    /// Anything else: not IP, or an IP header that is cut short or does not
    /// parse. Left unchanged.
    Other,
}

#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    let Some(eth) = Ethernet::parse(pkt) else { return Action::Other };
    match eth.ethertype() {
        ethertype::IPV4 => ipv4(pkt, eth.payload_offset()),
        ethertype::IPV6 => ipv6(pkt, eth.payload_offset()),
        _ => Action::Other,
    }
}

/// The IPv4 header at `offset`: TTL checked, then decremented with its
/// checksum.
#[inline(always)]
fn ipv4<P: Packet>(pkt: &mut P, offset: usize) -> Action {
    let Some(ip) = Ipv4::parse_at(pkt, offset) else { return Action::Other };
    let Some(ttl) = ip.ttl(pkt) else { return Action::Other };
    if ttl <= 1 {
        return Action::Expired;
    }
    match ip.decrement_ttl(pkt) {
        Some(_) => Action::Forward,
        // Only if the frame changed under the view, which it cannot here.
        None => Action::Other,
    }
}

/// The IPv6 header at `offset`: hop limit checked, then decremented (IPv6
/// has no header checksum).
#[inline(always)]
fn ipv6<P: Packet>(pkt: &mut P, offset: usize) -> Action {
    let Some(ip) = Ipv6::parse_at(pkt, offset) else { return Action::Other };
    let Some(hop_limit) = ip.hop_limit(pkt) else { return Action::Other };
    if hop_limit <= 1 {
        return Action::Expired;
    }
    match ip.decrement_hop_limit(pkt) {
        Some(_) => Action::Forward,
        None => Action::Other,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use nf_std::SlicePacket;
    use nf_std::testing::{PacketBuilder, verify_checksums};
    use std::vec::Vec;

    const A: [u8; 4] = [198, 18, 0, 1];
    const B: [u8; 4] = [198, 18, 0, 2];
    const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const B6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    fn udp4(ttl: u8) -> PacketBuilder {
        PacketBuilder::new().ipv4(A, B).udp(40000, 53).ttl(ttl).payload(b"query")
    }

    fn udp6(hop_limit: u8) -> PacketBuilder {
        PacketBuilder::new().ipv6(A6, B6).udp(40000, 53).ttl(hop_limit).payload(b"query")
    }

    /// The IPv4 TTL or IPv6 hop limit of `frame`, read with nf-std's views.
    fn ttl_of(frame: &mut [u8]) -> u8 {
        let pkt = SlicePacket::new(frame);
        let eth = Ethernet::parse(&pkt).unwrap();
        match eth.ethertype() {
            ethertype::IPV4 => Ipv4::parse_at(&pkt, eth.payload_offset()).unwrap().ttl(&pkt).unwrap(),
            ethertype::IPV6 => Ipv6::parse_at(&pkt, eth.payload_offset()).unwrap().hop_limit(&pkt).unwrap(),
            other => panic!("not IP: {other:#06x}"),
        }
    }

    /// The frame of `builder` built with the TTL (hop limit) `ttl`, its
    /// checksums computed from scratch: what the NF should leave.
    fn expected(builder: &PacketBuilder, ttl: u8) -> Vec<u8> {
        builder.clone().ttl(ttl).build()
    }

    #[test]
    fn ipv4_is_forwarded_with_the_ttl_decremented_and_the_checksum_right() {
        let (action, mut frame) = udp4(64).run(|pkt| packet(pkt));
        assert!(matches!(action, Action::Forward));
        assert_eq!(ttl_of(&mut frame), 63);
        assert_eq!(verify_checksums(&frame), Ok(()));
        assert_eq!(frame, expected(&udp4(64), 63), "nothing but the TTL and the checksum changes");
    }

    #[test]
    fn every_ipv4_ttl_keeps_the_checksum_right() {
        // Identifications and TOS values vary the checksum, so the
        // incremental update meets end-around carries; the frame must equal
        // one whose checksum was computed from scratch, byte for byte.
        for ttl in 2..=255u8 {
            for id in [0u16, 1, 0x00ff, 0x7fff, 0xbeef, 0xfffe, 0xffff] {
                for tos in [0u8, 0xb8, 0xff] {
                    let builder = udp4(ttl).identification(id).tos(tos);
                    let (action, mut frame) = builder.run(|pkt| packet(pkt));
                    assert!(matches!(action, Action::Forward), "TTL {ttl}");
                    assert_eq!(ttl_of(&mut frame), ttl - 1);
                    assert_eq!(verify_checksums(&frame), Ok(()), "TTL {ttl}, id {id:#x}, tos {tos:#x}");
                    assert_eq!(frame, expected(&builder, ttl - 1));
                }
            }
        }
    }

    #[test]
    fn ipv6_is_forwarded_with_the_hop_limit_decremented() {
        for hop_limit in [2u8, 64, 255] {
            let (action, mut frame) = udp6(hop_limit).run(|pkt| packet(pkt));
            assert!(matches!(action, Action::Forward));
            assert_eq!(ttl_of(&mut frame), hop_limit - 1);
            assert_eq!(verify_checksums(&frame), Ok(()), "the UDP checksum does not cover the hop limit");
            assert_eq!(frame, expected(&udp6(hop_limit), hop_limit - 1));
        }
    }

    #[test]
    fn a_ttl_or_hop_limit_of_0_or_1_has_expired_and_is_left_alone() {
        for ttl in [0u8, 1] {
            for builder in [udp4(ttl), udp6(ttl), udp4(ttl).vlan(7), udp6(ttl).qinq(10, 20)] {
                let (action, frame) = builder.run(|pkt| packet(pkt));
                assert!(matches!(action, Action::Expired), "TTL {ttl}");
                assert_eq!(frame, builder.build(), "an expired packet is not modified");
            }
        }
    }

    #[test]
    fn vlan_tags_and_ipv4_options_are_handled() {
        let cases = [
            udp4(9).vlan(42),
            udp4(9).qinq(100, 200),
            udp4(9).ipv4_options(&[0x94, 0x04, 0x00, 0x00]),
            udp4(9).vlan(42).ipv4_options(&[1; 40]),
            udp6(9).vlan(42),
            udp6(9).qinq(100, 200),
        ];
        for builder in cases {
            let (action, mut frame) = builder.run(|pkt| packet(pkt));
            assert!(matches!(action, Action::Forward));
            assert_eq!(ttl_of(&mut frame), 8);
            assert_eq!(verify_checksums(&frame), Ok(()));
            assert_eq!(frame, expected(&builder, 8));
        }
    }

    #[test]
    fn tcp_icmp_and_other_protocols_are_decremented_too() {
        let cases = [
            PacketBuilder::new().ipv4(A, B).tcp(1, 2).ttl(3),
            PacketBuilder::new().ipv4(A, B).icmp_echo(8, 1, 1).ttl(3),
            PacketBuilder::new().ipv4(A, B).ip_protocol(47).payload(&[0; 8]).ttl(3),
            PacketBuilder::new().ipv4(A, B).udp(1, 2).fragment(64, true).ttl(3),
            PacketBuilder::new().ipv6(A6, B6).icmp_echo(128, 1, 1).ttl(3),
            PacketBuilder::new().ipv6(A6, B6).ttl(3),
        ];
        for builder in cases {
            let (action, frame) = builder.run(|pkt| packet(pkt));
            assert!(matches!(action, Action::Forward));
            assert_eq!(verify_checksums(&frame), Ok(()));
            assert_eq!(frame, expected(&builder, 2));
        }
    }

    #[test]
    fn frames_that_are_not_ip_go_to_other_unchanged() {
        let cases = [
            PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]),
            PacketBuilder::new().payload(&[1; 46]),
            PacketBuilder::new().vlan(5).ethertype(ethertype::ARP).payload(&[0; 28]),
            // Three tags: nf-std unwraps two, the third is "another EtherType".
            udp4(64).vlan(1).vlan(2).vlan(3),
        ];
        for builder in cases {
            let (action, frame) = builder.run(|pkt| packet(pkt));
            assert!(matches!(action, Action::Other));
            assert_eq!(frame, builder.build());
        }
    }

    #[test]
    fn cut_short_or_malformed_ip_headers_go_to_other_unchanged() {
        let mut frames = Vec::new();
        // IPv4 and IPv6 headers one byte short.
        let mut cut4 = udp4(64).build();
        cut4.truncate(14 + 19);
        frames.push(cut4);
        let mut cut6 = udp6(64).build();
        cut6.truncate(14 + 39);
        frames.push(cut6);
        // IPv4 with 4 bytes of options, of which only 3 are there.
        let mut cut_options = udp4(64).ipv4_options(&[1, 1, 1, 1]).build();
        cut_options.truncate(14 + 23);
        frames.push(cut_options);
        // A tagged frame cut inside its tag, and just after the EtherType.
        let mut cut_tag = udp4(64).vlan(3).build();
        cut_tag.truncate(16);
        frames.push(cut_tag);
        let mut bare = udp4(64).build();
        bare.truncate(14);
        frames.push(bare);
        // IPv4's EtherType over an IPv6 header, and IPv6's over IPv4.
        frames.push(udp6(64).ethertype(ethertype::IPV4).build());
        frames.push(udp4(64).ethertype(ethertype::IPV6).pad_to(80).build());
        // An IHL below 5.
        let mut short_ihl = udp4(64).build();
        short_ihl[14] = 0x44;
        frames.push(short_ihl);
        // Runts.
        frames.push(std::vec![0u8; 10]);
        frames.push(Vec::new());
        for mut frame in frames {
            let before = frame.clone();
            assert!(matches!(packet(&mut SlicePacket::new(&mut frame)), Action::Other), "{before:02x?}");
            assert_eq!(frame, before);
        }
    }

    #[test]
    fn a_packet_decremented_until_it_expires() {
        let mut frame = udp4(3).build();
        let mut verdicts = Vec::new();
        for _ in 0..3 {
            let action = packet(&mut SlicePacket::new(&mut frame));
            verdicts.push(matches!(action, Action::Forward));
            assert_eq!(verify_checksums(&frame), Ok(()));
        }
        assert_eq!(verdicts, [true, true, false]);
        assert_eq!(ttl_of(&mut frame), 1);
    }
}
